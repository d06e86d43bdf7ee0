import NinePServer
import NinePTesting
import NinePWire
import Testing

/// The 9P2000.L conformance suite against RamFS, in this process and as
/// the `ninep ramfs` command.
@Suite("Conformance .L: RamFS", .timeLimit(.minutes(5)))
struct DotLConformanceRamFSTests {
    static let checks = DotLConformance.checks(for: .ramFS)

    @Test("RamFS lacks hard links, xattrs, locks and moves across directories, and nothing else")
    func coverage() {
        let skipped = Set(DotLConformance.Check.allCases).subtracting(Self.checks)
        #expect(skipped == [.hardLink, .xattrSetGetList, .locks, .renameAcrossDirectories])
    }

    @Test("RamFS in process, over a unix socket", arguments: checks)
    func inProcess(_ check: DotLConformance.Check) async throws {
        try await LocalServer.with(RamFS()) { address in
            try await DotLConformance(address: address, capabilities: .ramFS).run(check)
        }
    }

    @Test("ninep ramfs --dialect 9P2000 answers a 9P2000.L offer with 9P2000")
    func dialectOption() async throws {
        try await NinePProcess.withServer(["ramfs", "--dialect", "9P2000"]) { server in
            let c = try await RawNinePClient.connect(to: try #require(server.address))
            #expect(try await c.version(msize: 8192, version: "9P2000.L").version == "9P2000")
            await c.close()
        }
    }

    @Test("ninep ramfs, the process", arguments: checks)
    func process(_ check: DotLConformance.Check) async throws {
        try await NinePProcess.withServer(["ramfs"]) { server in
            try await DotLConformance(address: try #require(server.address), capabilities: .ramFS).run(check)
        }
    }
}
