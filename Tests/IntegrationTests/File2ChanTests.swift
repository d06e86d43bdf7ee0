import Foundation
import Glibc
import NinePTesting
import Testing

/// `ninep file2chan --mount` and `ninep ramfs --mount` as real processes,
/// used by real `cat` and `sh` children (never by this process: it must
/// not block in a mount it does not serve, and the server is another process).
@Suite("ninep file2chan and --mount", .enabled(if: fuseOrWarn()), .timeLimit(.minutes(2)))
struct File2ChanTests {
    /// A `ninep file2chan --mount` of FILE "f" with `arguments`, in a scratch directory.
    final class Served: Sendable {
        let scratch: TemporaryDirectory
        let mountpoint: String
        let server: NinePProcess
        var file: String { mountpoint + "/f" }
        var dir: String { scratch.path }

        init(_ arguments: [String]) async throws {
            let scratch = try TemporaryDirectory(prefix: "ninep-f2c")
            let mountpoint = scratch.path + "/mnt"
            guard mkdir(mountpoint, 0o755) == 0 else { throw ConformanceFailure("mkdir", mountpoint) }
            let server = try NinePProcess.start(["file2chan", "--mount", mountpoint, "f"] + arguments.map {
                $0.replacingOccurrences(of: "$DIR", with: scratch.path)
            })
            self.scratch = scratch
            self.mountpoint = mountpoint
            self.server = server
            try await waitUntilMounted(server, mountpoint)
        }

        /// Unmounts and checks the server exits 0.
        func stop() async throws {
            defer { cleanup() }
            try await MountFixture.unmount(mountpoint)
            let status = await server.waitForExit(timeout: .seconds(30))
            #expect(status == 0, "\(server.standardError)")
        }

        func cleanup() {
            if MountFixture.isMounted(mountpoint) { _ = try? Posix.run(["fusermount3", "-u", "-z", mountpoint]) }
            server.stopNow()
            scratch.remove()
        }
    }

    @Test func catBlocksUntilTheProgramAnswers() async throws {
        let s = try await Served(["--read", "echo started > $DIR/started; cat $DIR/answer"])
        defer { s.cleanup() }
        #expect(mkfifo(s.dir + "/answer", 0o600) == 0)
        let cat = try NinePProcess.start(["-c", "cat \(s.file) > \(s.dir)/out"], executable: "/bin/sh")
        defer { cat.stopNow() }
        try await waitForFile(s.dir + "/started")
        #expect(cat.isRunning, "cat returned before the program answered")
        // Opening the fifo waits for the read command's cat: it is running.
        try Posix.writeFile(s.dir + "/answer", Array("the answer\n".utf8))
        #expect(await cat.waitForExit(timeout: .seconds(30)) == 0)
        #expect(try String(decoding: Posix.readFile(s.dir + "/out"), as: UTF8.self) == "the answer\n")
        try await s.stop()
    }

    @Test func echoDeliversOffsetZeroAndTheData() async throws {
        let s = try await Served([
            "--read", "true", "--write", "cat >> $DIR/written; echo $NINEP_OFFSET >> $DIR/offsets",
        ])
        defer { s.cleanup() }
        let (status, output) = try Posix.run(["/bin/sh", "-c", "echo hi > \(s.file)"])
        #expect(status == 0, "\(output)")
        #expect(try String(decoding: Posix.readFile(s.dir + "/written"), as: UTF8.self) == "hi\n")
        #expect(try String(decoding: Posix.readFile(s.dir + "/offsets"), as: UTF8.self) == "0\n")
        try await s.stop()
    }

    @Test func twoOpensGetDistinctFidsAndEachCloseArrives() async throws {
        let s = try await Served([
            "--read", "echo $NINEP_FID $NINEP_OPEN", "--close", "echo $NINEP_FID $NINEP_OPEN >> $DIR/closes",
        ])
        defer { s.cleanup() }
        let script = "exec 3< \(s.file) 4< \(s.file); cat <&3 > \(s.dir)/a; cat <&4 > \(s.dir)/b"
        let (status, output) = try Posix.run(["/bin/sh", "-c", script])
        #expect(status == 0, "\(output)")
        let a = try String(decoding: Posix.readFile(s.dir + "/a"), as: UTF8.self)
        let b = try String(decoding: Posix.readFile(s.dir + "/b"), as: UTF8.self)
        #expect(!a.isEmpty && a != b)
        #expect(a.split(separator: " ").first != b.split(separator: " ").first, "the fids must differ: \(a) \(b)")
        let closes = try await waitForFile(s.dir + "/closes") { $0.split(separator: "\n").count >= 2 }
        #expect(Set(closes.split(separator: "\n").map(String.init)) == Set([a, b].map { $0.trimmingCharacters(in: .newlines) }))
        try await s.stop()
    }

    @Test func anErrorReplyReachesCatAsAnError() async throws {
        let s = try await Served(["--read", "echo 'no gizmo here' >&2; exit 1", "--listen", "unix!$DIR/9p.sock"])
        defer { s.cleanup() }
        let (status, output) = try Posix.run(["/bin/cat", s.file])
        #expect(status != 0, "cat succeeded: \(output)")
        // Over 9P the text arrives verbatim.
        let ninep = try NinePProcess.executable()
        let (readStatus, readOutput) = try Posix.run([ninep, "read", "unix!\(s.dir)/9p.sock", "f"])
        #expect(readStatus != 0)
        #expect(readOutput.contains("no gizmo here"), "\(readOutput)")
        try await s.stop()
    }

    @Test func ctrlCOnABlockedCatCancelsTheProgramsRequest() async throws {
        let s = try await Served(["--read", "echo $$ > $DIR/pid.tmp; mv $DIR/pid.tmp $DIR/pid; exec sleep 300"])
        defer { s.cleanup() }
        let cat = try NinePProcess.start([s.file], executable: "/bin/cat")
        defer { cat.stopNow() }
        let pidText = try await waitForFile(s.dir + "/pid")
        let pid = try #require(Int32(pidText.trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(kill(pid, 0) == 0, "the read command is not running")
        cat.signal(SIGINT)
        #expect(await cat.waitForExit(timeout: .seconds(30)) != nil)
        // The flush reaches the program, which stops the command.
        let gone = await eventually(.seconds(30)) { kill(pid, 0) != 0 && errno == ESRCH }
        #expect(gone, "the read command (pid \(pid)) was not cancelled")
        try await s.stop()
    }

    /// What `cat` cannot show, since Ctrl-C kills it: its blocked read(2)
    /// fails with EINTR. A reader that catches SIGINT sees that.
    @Test func ctrlCOnABlockedReadGivesEINTRAndCancelsTheProgramsRequest() async throws {
        let s = try await Served(["--read", "echo $$ > $DIR/pid.tmp; mv $DIR/pid.tmp $DIR/pid; exec sleep 300"])
        defer { s.cleanup() }
        try await expectInterruptedRead(s.file, pidFile: s.dir + "/pid")
        try await s.stop()
    }

    @Test func ramfsMountServesAndUnmountEndsTheProcess() async throws {
        let scratch = try TemporaryDirectory(prefix: "ninep-ramfs-mount")
        defer { scratch.remove() }
        let mountpoint = scratch.path + "/mnt"
        #expect(mkdir(mountpoint, 0o755) == 0)
        let server = try NinePProcess.start(["ramfs", "--mount", mountpoint])
        defer {
            if MountFixture.isMounted(mountpoint) { _ = try? Posix.run(["fusermount3", "-u", "-z", mountpoint]) }
            server.stopNow()
        }
        try await waitUntilMounted(server, mountpoint)
        let text = try Posix.runOK(["/bin/sh", "-c", "echo hello > \(mountpoint)/greeting && cat \(mountpoint)/greeting"])
        #expect(text == "hello\n")
        try await MountFixture.unmount(mountpoint)
        #expect(await server.waitForExit(timeout: .seconds(30)) == 0, "\(server.standardError)")
        #expect(!MountFixture.isMounted(mountpoint))
    }
}

/// Reads `path` in a child that catches SIGINT (perl installs its handlers
/// without SA_RESTART, so read(2) is not restarted), waits until the
/// program's command has started (it writes its pid to `pidFile`), sends
/// the child SIGINT, and expects its read to fail with EINTR and the
/// command to be stopped: the program saw its request cancelled.
func expectInterruptedRead(_ path: String, pidFile: String) async throws {
    unlink(pidFile)
    let reader = try NinePProcess.start([
        "-e", #"$SIG{INT} = sub {}; open(F, "<", $ARGV[0]) or die "open: $!\n"; $n = sysread(F, $b, 4096); "#
            + #"print STDERR (defined $n ? "read $n bytes\n" : "read: $!\n");"#,
        path,
    ], executable: "/usr/bin/perl")
    defer { reader.stopNow() }
    let pidText = try await waitForFile(pidFile)
    let pid = try #require(Int32(pidText.trimmingCharacters(in: .whitespacesAndNewlines)))
    #expect(reader.isRunning, "the read returned before the program answered: \(reader.standardError)")
    reader.signal(SIGINT)
    #expect(await reader.waitForExit(timeout: .seconds(30)) == 0, "\(reader.standardError)")
    #expect(reader.standardError == "read: Interrupted system call\n")
    #expect(await eventually(.seconds(30)) { kill(pid, 0) != 0 && errno == ESRCH }, "the read command (pid \(pid)) was not cancelled")
}

/// Waits for "ninep: mounted" from `server` and the mount in /proc/mounts.
private func waitUntilMounted(_ server: NinePProcess, _ mountpoint: String) async throws {
    let said = await server.waitForStandardError(timeout: .seconds(30)) { $0.contains("ninep: mounted ") }
    guard said, MountFixture.isMounted(mountpoint) else {
        server.stopNow()
        throw NinePProcessError("\(server.commandLine) did not mount", standardError: server.standardError)
    }
}

/// Waits (with a deadline) until `path` exists and its text satisfies `accept`; returns the text.
@discardableResult
func waitForFile(_ path: String, accept: @escaping (String) -> Bool = { !$0.isEmpty }) async throws -> String {
    var text = ""
    let ok = await eventually(.seconds(30)) {
        guard let bytes = try? Posix.readFile(path) else { return false }
        text = String(decoding: bytes, as: UTF8.self)
        return accept(text)
    }
    guard ok else { throw ConformanceFailure("wait", "\(path) never appeared (or stayed \(text.debugDescription))") }
    return text
}
