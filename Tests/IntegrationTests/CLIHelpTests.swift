import NinePTesting
import Testing

/// Every subcommand prints its manual: this also catches option clashes,
/// which swift-argument-parser reports only when the command is parsed.
@Suite("ninep --help")
struct CLIHelpTests {
    static let commands = [
        [], ["export"], ["ramfs"], ["file2chan"], ["srv"], ["srv", "ls"], ["srv", "rm"], ["srv", "clone"], ["post"],
        ["mount"], ["unmount"], ["cert"], ["ls"], ["stat"], ["read"], ["write"], ["create"], ["mkdir"], ["rm"], ["mv"],
    ]

    @Test(arguments: commands)
    func help(_ command: [String]) async throws {
        let executable = try NinePProcess.executable()
        let (status, output) = try await runBlocking { try Posix.run([executable] + command + ["--help"]) }
        #expect(status == 0, "ninep \(command.joined(separator: " ")) --help: \(output)")
        #expect(output.contains("OVERVIEW:") && output.contains("USAGE:"), "\(output.prefix(500))")
    }
}
