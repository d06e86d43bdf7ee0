import Foundation
import Glibc
import NinePTesting
import Testing

/// `ninep ls` and `ninep mount`, the real binary, against servers that go
/// wrong at the start of the session (`MisbehavingServer`): each command
/// fails with a clear message within its deadline, and leaves nothing
/// behind: no serving child (looked up by its command line, checked gone
/// by PID), no mount, nobody holding the caller's standard error.
/// Bounds tell "on time" from "never"; none is a speed target.
@Suite("First connection of ninep ls and ninep mount", .enabled(if: fuseOrWarn()), .timeLimit(.minutes(5)))
struct FirstConnectionCLITests {
    static let cases: [(MisbehavingServer.Behaviour, String)] = [
        (.rlerrorToVersion(errno: 22), "refused version 9P2000: Rlerror errno 22 (Invalid argument)"),
        // Tversion instead only if the machine is so busy that the Rversion came after the deadline (see `expected`).
        (.silentAfterVersion, "no answer to Tattach within 2.0 s"),
        (.garbageAfterVersion, "protocol error"),
    ]

    /// The expected message, given what the command printed. A deadline
    /// that ran out before the client had the Rversion (a very busy
    /// machine) names the Tversion instead of the Tattach; either request
    /// counts only if the server read it (`agreesWithClient`), else the
    /// expected text stays the Tattach one and the check fails.
    static func expected(_ message: String, in standardError: String, _ server: MisbehavingServer) async -> String {
        guard message.contains("no answer to Tattach") else { return message }
        let awaited = standardError.contains("no answer to Tversion") ? "Tversion" : "Tattach"
        guard await server.agreesWithClient(awaiting: awaited) else { return message }
        return message.replacingOccurrences(of: "Tattach", with: awaited)
    }

    /// The pids of processes whose command line contains every one of `words`.
    static func processes(containing words: [String]) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { entry -> Int32? in
            guard let pid = Int32(entry), pid != getpid(),
                  let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return nil }
            let arguments = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            return words.allSatisfy({ word in arguments.contains { $0.contains(word) } }) ? pid : nil
        }
    }

    /// Whether `pid` is gone (or a zombie nobody has reaped yet: it runs no more).
    static func isGone(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return true }
        return stat[stat.index(close, offsetBy: 2)] == "Z"
    }

    @Test(arguments: 0..<3)
    func lsFailsWithinItsDeadline(index: Int) async throws {
        let (behaviour, message) = Self.cases[index]
        let server = try await MisbehavingServer.start(behaviour)
        let ls = try NinePProcess.start(["ls", "--connect-timeout", "2", server.address])
        defer { ls.stopNow() }
        let status = await ls.waitForExit(timeout: .seconds(60))
        #expect(status.map(NinePProcess.describe) == "exited with status 1", "ninep ls: \(status.map(NinePProcess.describe) ?? "still running after 60 s")")
        let expected = await Self.expected(message, in: ls.standardError, server)
        #expect(ls.standardError.contains(server.address) && ls.standardError.contains(expected), "\(ls.standardError)")
        #expect(server.connections == 1)
        await server.close()
    }

    @Test(arguments: 0..<3)
    func mountFailsWithinItsDeadlineAndLeavesNothingBehind(index: Int) async throws {
        let (behaviour, message) = Self.cases[index]
        let server = try await MisbehavingServer.start(behaviour)
        let scratch = try TemporaryDirectory(prefix: "ninep-firstmount")
        defer { scratch.remove() }
        let mountpoint = scratch.path + "/mnt"
        #expect(mkdir(mountpoint, 0o755) == 0)
        let mount = try NinePProcess.start(["mount", "-o", "connect_timeout=2", server.address, mountpoint])
        defer {
            if MountFixture.isMounted(mountpoint) { _ = try? Posix.run(["fusermount3", "-u", "-z", mountpoint]) }
            mount.stopNow()
        }
        let status = await mount.waitForExit(timeout: .seconds(60))
        #expect(status.map(NinePProcess.describe) == "exited with status 1", "ninep mount: \(status.map(NinePProcess.describe) ?? "still running after 60 s")")
        let expected = await Self.expected(message, in: mount.standardError, server)
        #expect(mount.standardError.contains(server.address) && mount.standardError.contains(expected), "\(mount.standardError)")
        #expect(mount.standardErrorIsClosed, "something still holds the caller's standard error")
        let children = Self.processes(containing: ["--ready-fd", mountpoint])
        let gone = await eventually(.seconds(10)) { children.allSatisfy(Self.isGone) && Self.processes(containing: ["--ready-fd", mountpoint]).isEmpty }
        #expect(gone, "serving children left behind: \(children)")
        #expect(!MountFixture.isMounted(mountpoint))
        #expect(server.connections == 1, "the first connection is not redialled")
        await server.close()
    }

    /// The parent killed while its serving child waits for a server that
    /// does not answer: the child exits too, and lets go of stderr.
    @Test func aServingChildDiesWithItsParent() async throws {
        let server = try await MisbehavingServer.start(.silentAfterVersion)
        let scratch = try TemporaryDirectory(prefix: "ninep-orphan")
        defer { scratch.remove() }
        let mountpoint = scratch.path + "/mnt"
        #expect(mkdir(mountpoint, 0o755) == 0)
        let mount = try NinePProcess.start(["mount", "--connect-timeout", "600", server.address, mountpoint])
        defer { mount.stopNow() }
        // The child is up once the server has its connection.
        let connected = await eventually(.seconds(30)) { server.connections > 0 }
        try #require(connected, "the serving child never dialled: \(mount.standardError)")
        let children = Self.processes(containing: ["--ready-fd", mountpoint])
        try #require(children.count == 1, "serving children: \(children)")
        mount.signal(SIGKILL)
        _ = await mount.waitForExit(timeout: .seconds(30))
        let gone = await eventually(.seconds(20)) { Self.isGone(children[0]) }
        #expect(gone, "the serving child \(children[0]) outlived its parent")
        #expect(mount.standardErrorIsClosed, "something still holds the caller's standard error")
        await server.close()
    }
}
