import NinePServer
import NinePTesting
import Testing

/// The FileServer conformance suite against RamFS, in this process and as
/// the `ninep ramfs` command.
@Suite("Conformance: RamFS", .timeLimit(.minutes(5)))
struct ConformanceRamFSTests {
    static let checks = FileServerConformance.checks(for: .ramFS)

    @Test("every check applies to RamFS but the symlink ones")
    func coverage() {
        let skipped = Set(FileServerConformance.Check.allCases).subtracting(Self.checks)
        #expect(skipped == [.confinementSymlinkToOutsideDirectory, .confinementSymlinkToOutsideFile, .confinementSymlinkSwappedIn])
    }

    @Test("RamFS in process, over a unix socket", arguments: checks)
    func inProcess(_ check: FileServerConformance.Check) async throws {
        try await LocalServer.with(RamFS()) { address in
            try await FileServerConformance(address: address, capabilities: .ramFS).run(check)
        }
    }

    @Test("ninep ramfs, the process", arguments: checks)
    func process(_ check: FileServerConformance.Check) async throws {
        try await NinePProcess.withServer(["ramfs"]) { server in
            try await FileServerConformance(address: try #require(server.address), capabilities: .ramFS).run(check)
        }
    }
}
