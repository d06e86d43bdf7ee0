import NinePExport
import NinePTesting
import Testing

/// The FileServer conformance suite against an export of a temporary
/// directory, in this process and as the `ninep export` command.
@Suite("Conformance: export", .timeLimit(.minutes(5)))
struct ConformanceExportTests {
    /// Every check but the one about permissions by uname (an export acts
    /// with its process's credentials, whoever attaches).
    static let checks = FileServerConformance.Check.allCases.filter { $0.requirement != .unamePermissions }

    @Test("every check applies to the export but the uname-permission one")
    func coverage() {
        #expect(Set(FileServerConformance.Check.allCases).subtracting(Self.checks) == [.permissionsFollowUname])
    }

    @Test("ExportFileServer in process, over a unix socket", arguments: checks)
    func inProcess(_ check: FileServerConformance.Check) async throws {
        let tree = try TemporaryDirectory(prefix: "ninep-export")
        defer { tree.remove() }
        try await LocalServer.with(try ExportFileServer(root: tree.path)) { address in
            try await FileServerConformance(address: address, capabilities: .hostExport(backingDirectory: tree.path)).run(check)
        }
    }

    @Test("ninep export, the process", arguments: checks)
    func process(_ check: FileServerConformance.Check) async throws {
        let tree = try TemporaryDirectory(prefix: "ninep-export")
        defer { tree.remove() }
        try await NinePProcess.withServer(["export", tree.path]) { server in
            try await FileServerConformance(address: try #require(server.address), capabilities: .hostExport(backingDirectory: tree.path)).run(check)
        }
    }
}
