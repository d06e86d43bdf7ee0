import Foundation
import Glibc
import NinePTesting
import Testing

/// A mount of a real `ninep export` whose server stops answering: stopped
/// with SIGSTOP (the connection stays up, nothing is answered), or killed
/// and started again later than the mount's --reconnect-timeout.
@Suite("ninep mount with a stopped or returning server", .enabled(if: fuseOrWarn()), .serialized, .timeLimit(.minutes(5)))
struct StoppedServerTests {
    /// How long a program may take to end after SIGINT: the event is EINTR
    /// against hanging for as long as the server is stopped, so the bound
    /// is generous (a loaded machine may take seconds to schedule the
    /// exit), well below "never".
    static let interruptBound = Duration.seconds(20)

    /// Waits until the mount has sent more requests traced with `text`
    /// than `before` (the one `process` is blocked on), then sends SIGINT
    /// to `process` and checks that it dies of it within the bound.
    static func expectEndsOnSIGINT(
        _ process: NinePProcess, blockedOn text: String, since before: Int, _ rig: ReconnectTests.Rig
    ) async throws {
        let sent = await eventually(.seconds(30)) { traced(rig, text) > before }
        try #require(sent, "the \(text) request never reached the connection")
        #expect(process.isRunning, "\(process.commandLine) ended before the interrupt: \(process.standardError)")
        let start = ContinuousClock.now
        process.signal(SIGINT)
        let status = await process.waitForExit(timeout: .seconds(60))
        let took = ContinuousClock.now - start
        #expect(status.map { $0 & 0x7f } == SIGINT, "\(process.commandLine): \(status.map(NinePProcess.describe) ?? "still blocked after 60 s")")
        #expect(took < interruptBound, "\(process.commandLine) took \(took) to end after SIGINT")
    }

    /// Counts the lines of the mount's -D trace that contain `text`.
    static func traced(_ rig: ReconnectTests.Rig, _ text: String) -> Int {
        rig.mount.standardError.split(separator: "\n").filter { $0.contains("→") && $0.contains(text) }.count
    }

    /// Ctrl-C ends a lookup and a read blocked on a stopped server at once
    /// (EINTR; the kernel's request is answered without waiting for the
    /// Rflush, whose tag the mount keeps until the server answers), and the
    /// mount works again once the server is continued.
    @Test func aLookupAndAReadBlockedOnAStoppedServerEndOnSIGINT() async throws {
        // Attributes cached for long: cat's fstat must not be the request
        // that blocks (on a loaded machine the default 1 s may run out).
        let rig = try await ReconnectTests.Rig.start(mountArguments: ["-D", "-o", "attr_timeout=3600"])
        defer {
            rig.signalServer(SIGCONT)
            rig.cleanup()
        }
        try "some bytes\n".write(toFile: rig.exported.path + "/file", atomically: false, encoding: .utf8)
        let fifo = rig.scratch.path + "/go"
        #expect(mkfifo(fifo, 0o600) == 0)
        // Opens the file while the server runs, then waits for the gate and reads it (direct_io: the read goes to the server).
        let reader = try NinePProcess.start(
            ["-c", "exec 3<\"$1\" && echo opened >&2 && read -r go < \"$2\" && exec cat <&3", "sh", rig.mountpoint + "/file", fifo],
            executable: "/bin/sh")
        defer { reader.stopNow() }
        let opened = await reader.waitForStandardError(timeout: .seconds(30)) { $0.contains("opened") }
        try #require(opened, "the reader could not open the file: \(reader.standardError)")

        rig.signalServer(SIGSTOP)

        // A lookup of a name the mount has never seen.
        let lookups = Self.traced(rig, "newname")
        let ls = try NinePProcess.start([rig.mountpoint + "/newname"], executable: "/bin/ls")
        defer { ls.stopNow() }
        try await Self.expectEndsOnSIGINT(ls, blockedOn: "newname", since: lookups, rig)

        // A read of the open file.
        let reads = Self.traced(rig, "Tread")
        let gate = open(fifo, O_WRONLY)
        #expect(gate >= 0)
        _ = write(gate, "go\n", 3)
        close(gate)
        try await Self.expectEndsOnSIGINT(reader, blockedOn: "Tread", since: reads, rig)
        #expect(Self.traced(rig, "Tflush") >= 1, "the interrupted requests were flushed")

        // The server continues: it answers the flushes, and the mount carries on.
        rig.signalServer(SIGCONT)
        let back = await eventually(.seconds(30)) {
            (try? String(contentsOfFile: rig.mountpoint + "/file", encoding: .utf8)) == "some bytes\n"
        }
        #expect(back, "the mount did not work again after SIGCONT")
        try await rig.stop()
    }

    /// --reconnect-timeout is a soft-mount bound: with the server away
    /// longer than it, requests fail (EIO) instead of waiting, and once the
    /// server is back on the same address the mount answers again.
    @Test func aSoftMountFailsWhileTheServerIsAwayAndComesBack() async throws {
        let rig = try await ReconnectTests.Rig.start(mountArguments: ["--reconnect-timeout", "1"])
        defer { rig.cleanup() }
        try "before\n".write(toFile: rig.exported.path + "/file", atomically: false, encoding: .utf8)
        #expect(try String(contentsOfFile: rig.mountpoint + "/file", encoding: .utf8) == "before\n")
        await rig.killServer()

        // A read while the server is away: fails with EIO once the timeout has passed, rather than waiting.
        let cat = try NinePProcess.start([rig.mountpoint + "/file"], executable: "/bin/cat")
        defer { cat.stopNow() }
        let status = await cat.waitForExit(timeout: .seconds(60))
        #expect(status.map(NinePProcess.describe) == "exited with status 1", "cat: \(status.map(NinePProcess.describe) ?? "still waiting after 60 s")")
        #expect(cat.standardError.contains("Input/output error"), "\(cat.standardError)")
        let logged = await rig.mount.waitForStandardError(timeout: .seconds(30)) { $0.contains("still redialling") }
        #expect(logged, "the mount did not say it goes on redialling: \(rig.mount.standardError)")

        // The server returns, later than the timeout: the mount carries on.
        try "after\n".write(toFile: rig.exported.path + "/file", atomically: false, encoding: .utf8)
        try await rig.restartServer()
        let back = await eventually(.seconds(60)) {
            (try? String(contentsOfFile: rig.mountpoint + "/file", encoding: .utf8)) == "after\n"
        }
        #expect(back, "the mount never came back: \(rig.mount.standardError.suffix(2000))")
        #expect(rig.mount.standardError.contains("reconnected"))
        try await rig.stop()
    }
}
