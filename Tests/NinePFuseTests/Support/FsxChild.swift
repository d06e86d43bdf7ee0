import Foundation
import Glibc
import NinePTesting
import Testing

/// Runs the `FsxOracle` on a mount from a child process: a copy of this
/// test binary that runs only `FsxWorkerTests`, told what to do through
/// the environment.
///
/// Why a child: fsx maps the files it tests. A page fault or munmap on a
/// FUSE file holds the process's mmap lock while it waits for the FUSE
/// server; if the server lives in the same process (as in these tests),
/// its threads need that lock to grow or release memory, and both wait
/// for ever. A real mount's clients are other processes.
enum FsxChild {
    struct Report: Sendable {
        var operations: Int
        var counts: [String: Int]
        var mismatches: [String]
        func count(_ operation: String) -> Int { counts[operation, default: 0] }
    }

    static func run(directory: String, seed: UInt64, operations: Int, seconds: Double = 1200) throws -> Report {
        let scratch = try TemporaryDirectory(prefix: "ninep-fsx")
        defer { scratch.remove() }
        let reportPath = scratch.path + "/report.json"
        let logPath = scratch.path + "/log"
        let child = try SpawnedProcess(
            ["/proc/self/exe", "--testing-library", "swift-testing", "--filter", "FsxWorkerTests"],
            environment: [
                "NINEP_FSX_DIRECTORY": directory, "NINEP_FSX_SEED": "\(seed)",
                "NINEP_FSX_OPERATIONS": "\(operations)", "NINEP_FSX_REPORT": reportPath,
            ],
            output: logPath)
        guard let status = child.waitForExit(seconds: seconds) else {
            kill(child.pid, SIGKILL)
            _ = child.waitForExit(seconds: 10)
            throw ConformanceFailure("fsx child", "did not finish within \(seconds) s; log:\n\(tail(logPath))")
        }
        guard status == 0, let data = FileManager.default.contents(atPath: reportPath),
            let json = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        else {
            throw ConformanceFailure("fsx child", "exit status \(status), no report; log:\n\(tail(logPath))")
        }
        let report = Report(
            operations: json["operations"] as? Int ?? 0, counts: json["counts"] as? [String: Int] ?? [:],
            mismatches: json["mismatches"] as? [String] ?? [])
        print("fsx seed \(seed) on \(directory): \(report.operations) ops \(report.counts.sorted { $0.key < $1.key }), \(report.mismatches.count) mismatches")
        return report
    }

    private static func tail(_ path: String) -> String {
        String((try? String(contentsOfFile: path, encoding: .utf8))?.suffix(3000) ?? "")
    }
}

/// The child's side of `FsxChild`. Run by hand (no environment), it runs a
/// short oracle on a local directory instead, which also keeps the worker
/// itself tested.
@Suite("fsx worker")
struct FsxWorkerTests {
    @Test func fsxWorker() throws {
        let environment = ProcessInfo.processInfo.environment
        guard let directory = environment["NINEP_FSX_DIRECTORY"], let reportPath = environment["NINEP_FSX_REPORT"] else {
            let local = try TemporaryDirectory(prefix: "ninep-fsx-local")
            defer { local.remove() }
            let report = try FsxOracle(directory: local.path, seed: 42).run(operations: 500)
            #expect(report.mismatches.isEmpty, "\(report.mismatches)")
            return
        }
        let seed = environment["NINEP_FSX_SEED"].flatMap { UInt64($0) } ?? 1
        let operations = environment["NINEP_FSX_OPERATIONS"].flatMap { Int($0) } ?? 1_000
        let report = try FsxOracle(directory: directory, seed: seed).run(operations: operations)
        print(report)
        let json: [String: Any] = ["operations": report.operations, "counts": report.counts, "mismatches": report.mismatches]
        try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: reportPath))
    }
}
