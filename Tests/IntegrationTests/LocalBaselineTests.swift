import Glibc
import NinePTesting
import Testing

/// The mount suites run first on a local directory: this proves the suites
/// themselves, so a failure on a mount is the mount's.
@Suite("POSIX suite on a local directory")
struct LocalBaselineTests {
    @Test(arguments: PosixSuite.Check.allCases)
    func posixCheck(_ check: PosixSuite.Check) async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        var suite = PosixSuite(root: dir.path, backing: dir.path)
        suite.largeDirectoryEntries = 2_000
        try await runBlocking { [suite] in try suite.run(check) }
    }

    @Test func fsxOracleOnLocalDirectory() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = dir.path
        let report = try await runBlocking { try FsxOracle(directory: path, seed: 0x9F5).run(operations: 3_000) }
        print(report)
        #expect(report.mismatches.isEmpty, "\(report.mismatches)")
        #expect(report.counts["write", default: 0] > 500)
        #expect(report.counts["mmapread", default: 0] > 100)
    }
}
