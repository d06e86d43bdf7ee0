import Foundation
import Glibc
import NinePTesting
import Synchronization
import Testing

/// `ninep mount` surviving its `ninep export` going away: both real
/// processes, the server killed with SIGKILL and started again on the same
/// unix socket (or, for the chaos test, a `CuttingProxy` in between that
/// drops the connection). Mounts use direct_io so that every read really
/// goes to the server rather than the page cache (except the chaos test:
/// fsx maps files, which direct_io forbids).
@Suite("ninep mount reconnects", .enabled(if: fuseOrWarn()), .serialized, .timeLimit(.minutes(5)))
struct ReconnectTests {
    /// An export, a mount of it (optionally through a proxy), and a way to
    /// kill and restart the export on the same socket.
    final class Rig: Sendable {
        let exported: TemporaryDirectory
        let scratch: TemporaryDirectory
        let mountpoint: String
        let mount: NinePProcess
        let proxy: CuttingProxy?
        /// What the export is started with (besides --listen and the directory).
        let serverArguments: [String]
        /// Where the export listens, the same again after a restart: its
        /// unix socket, or the TCP or TLS port it was given first.
        let serverAddress: String
        private let server: Mutex<NinePProcess?>

        private init(
            exported: TemporaryDirectory, scratch: TemporaryDirectory, mount: NinePProcess, proxy: CuttingProxy?,
            server: NinePProcess, serverArguments: [String]
        ) {
            self.exported = exported
            self.scratch = scratch
            self.mountpoint = scratch.path + "/mnt"
            self.mount = mount
            self.proxy = proxy
            self.serverArguments = serverArguments
            self.serverAddress = "\(server.address!)"
            self.server = Mutex(server)
        }

        /// NINEP_TEST_LOG_DIR=DIR: mounts run with -D and leave their
        /// standard error in DIR/mount-PID.log, for chasing a failure that
        /// shows only under load.
        static let logDirectory = ProcessInfo.processInfo.environment["NINEP_TEST_LOG_DIR"]

        /// - Parameters:
        ///   - listen: the export's --listen (default: a unix socket in the scratch directory).
        ///   - serverArguments: more arguments for the export (TLS certificates, say).
        static func start(
            mountArguments: [String] = [], throughProxy: Bool = false, directIO: Bool = true,
            listen: String? = nil, serverArguments: [String] = []
        ) async throws -> Rig {
            let exported = try TemporaryDirectory(prefix: "ninep-exported")
            let scratch = try TemporaryDirectory(prefix: "ninep-reconnect")
            let mountpoint = scratch.path + "/mnt"
            _ = Glibc.mkdir(mountpoint, 0o755)
            let server = try await NinePProcess.serve(
                ["export"] + serverArguments + [exported.path], socketDirectory: scratch.path, listen: listen)
            var address = "\(server.address!)"
            var proxy: CuttingProxy?
            if throughProxy {
                proxy = try await CuttingProxy.start(unixPath: scratch.path + "/proxy.sock", upstreamPath: scratch.path + "/9p.sock")
                address = proxy!.address
            }
            let trace = logDirectory != nil && !mountArguments.contains("-D") ? ["-D"] : []
            let mount = try NinePProcess.start(
                ["mount", "-f"] + trace + (directIO ? ["-o", "direct_io"] : []) + mountArguments + [address, mountpoint])
            let rig = Rig(
                exported: exported, scratch: scratch, mount: mount, proxy: proxy, server: server, serverArguments: serverArguments)
            let ready = await mount.waitForStandardError(timeout: .seconds(30)) { $0.contains("mounted ") }
            guard ready, MountFixture.isMounted(mountpoint) else {
                let text = mount.standardError
                rig.cleanup()
                throw NinePProcessError("\(mount.commandLine) did not mount", standardError: text)
            }
            return rig
        }

        /// SIGKILL to the export, and wait until it is gone.
        func killServer() async {
            guard let s = server.withLock({ p in defer { p = nil }; return p }) else { return }
            s.signal(SIGKILL)
            _ = await s.waitForExit(timeout: .seconds(10))
        }

        /// Sends `signal` to the export (SIGSTOP, SIGCONT…).
        func signalServer(_ signal: Int32) {
            server.withLock { $0?.signal(signal) }
        }

        /// A new export of the same directory on the same socket or port.
        func restartServer() async throws {
            let s = try await NinePProcess.serve(["export"] + serverArguments + [exported.path], listen: serverAddress)
            server.withLock { $0 = s }
        }

        /// Unmounts and checks that the mount exits 0.
        func stop() async throws {
            defer { cleanup() }
            try await MountFixture.unmount(mountpoint)
            let exit = await mount.waitForExit(timeout: .seconds(30))
            #expect(exit == 0, "\(mount.standardError)")
            // Only now: with the proxy gone first, the unmount's clunks
            // would wait for a server that cannot be reached.
            await proxy?.close()
        }

        func cleanup() {
            if let directory = Self.logDirectory {
                try? mount.standardError.write(toFile: "\(directory)/mount-\(mount.pid).log", atomically: false, encoding: .utf8)
            }
            if MountFixture.isMounted(mountpoint) {
                _ = try? Posix.run(["fusermount3", "-u", "-z", mountpoint])
            }
            mount.stopNow()
            server.withLock { $0?.stopNow() }
            exported.remove()
            scratch.remove()
        }
    }

    /// Runs a blocking system call on a thread of its own, so the test can
    /// restart the server while it waits.
    static func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Thread { continuation.resume(with: Result { try body() }) }.start()
        }
    }

    static func pattern(_ seed: Int, count: Int) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ seed &* 7) }
    }

    @Test func killedAndRestartedServerLosesNothingForAnOpenFile() async throws {
        let rig = try await Rig.start()
        defer { rig.cleanup() }
        let path = rig.mountpoint + "/open"
        let fd = try Posix.open(path, O_RDWR | O_CREAT | O_CLOEXEC)
        var model = [UInt8](repeating: 0, count: 256 * 1024)
        func write(_ seed: Int, at offset: Int) async throws {
            let bytes = Self.pattern(seed, count: 8192)
            try await Self.blocking { try Posix.pwrite(fd, bytes, at: offset, path: path) }
            model.replaceSubrange(offset..<offset + bytes.count, with: bytes)
        }
        for i in 0..<16 { try await write(i, at: i * 16384) }
        await rig.killServer()
        // Between the kill and the restart: a write and a read that wait.
        let late = Self.pattern(100, count: 8192)
        let expected = Array(model[16384..<16384 + 8192])
        let pending = Task { try await Self.blocking { try Posix.pwrite(fd, late, at: 4096, path: path) } }
        let reading = Task { try await Self.blocking { try Posix.pread(fd, count: 8192, at: 16384, path: path) } }
        try await rig.restartServer()
        try await pending.value
        let read = try await reading.value
        // The read may see the late write or not (they race), never anything else.
        var withLate = model
        withLate.replaceSubrange(4096..<4096 + 8192, with: late)
        #expect(read == expected || read == Array(withLate[16384..<16384 + 8192]))
        model = withLate
        for i in 16..<32 { try await write(i, at: i * 7000 + 7) }
        let size = model.lastIndex(where: { $0 != 0 }).map { $0 + 1 } ?? 0
        let onHost = try Posix.readFile(rig.exported.path + "/open")
        #expect(onHost.count >= size && Array(onHost.prefix(size)) == Array(model.prefix(size)))
        let total = model.count
        let throughMount = try await Self.blocking { try Posix.pread(fd, count: total, at: 0, path: path) }
        #expect(Array(throughMount.prefix(size)) == Array(model.prefix(size)))
        Posix.close(fd)
        try await rig.stop()
    }

    @Test func aReaderBlockedFiveSecondsResumes() async throws {
        let rig = try await Rig.start()
        defer { rig.cleanup() }
        try Posix.writeFile(rig.exported.path + "/f", Array("still here".utf8))
        let path = rig.mountpoint + "/f"
        let fd = try Posix.open(path, O_RDONLY | O_CLOEXEC)
        await rig.killServer()
        let answered = Mutex<ContinuousClock.Instant?>(nil)
        let reader = Task {
            try await Self.blocking {
                defer { answered.withLock { $0 = .now } }
                return try Posix.pread(fd, count: 100, at: 0, path: path)
            }
        }
        try await Task.sleep(for: .seconds(5))  // the scenario: five seconds without a server
        // The read waited for the server: neither answered nor failed.
        #expect(answered.withLock { $0 } == nil, "the read returned while the server was down")
        let restarted = ContinuousClock.now
        try await rig.restartServer()
        #expect(String(decoding: try await reader.value, as: UTF8.self) == "still here")
        #expect(answered.withLock { $0 }.map { $0 >= restarted } == true, "the read was answered before the server came back")
        Posix.close(fd)
        try await rig.stop()
    }

    @Test func aFileRemovedWhileDownIsStaleForItsHolder() async throws {
        let rig = try await Rig.start()
        defer { rig.cleanup() }
        try Posix.writeFile(rig.exported.path + "/keep", Array("keep".utf8))
        try Posix.writeFile(rig.exported.path + "/gone", Array("gone".utf8))
        let keep = try Posix.open(rig.mountpoint + "/keep", O_RDONLY | O_CLOEXEC)
        let gone = try Posix.open(rig.mountpoint + "/gone", O_RDONLY | O_CLOEXEC)
        await rig.killServer()
        _ = unlink(rig.exported.path + "/gone")
        try await rig.restartServer()
        let kept = try await Self.blocking { try Posix.pread(keep, count: 10, at: 0, path: "keep") }
        #expect(String(decoding: kept, as: UTF8.self) == "keep")
        var buffer = [UInt8](repeating: 0, count: 10)
        let n = pread(gone, &buffer, 10, 0)
        let code = errno
        #expect(n == -1 && code == ESTALE, "read of the removed file: \(n), \(Posix.errnoText(code))")
        Posix.close(keep)
        Posix.close(gone)
        try await rig.stop()
    }

    /// Also an unmount racing the kernel's RELEASEs of the 1,000 files
    /// closed just before: a FUSE worker's read may then get ECONNABORTED,
    /// which is the end of the session, not a failure (the mount exits 0).
    @Test func aThousandOpenFilesAreRestored() async throws {
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        if limit.rlim_cur < 1200 {
            limit.rlim_cur = min(limit.rlim_max, 4096)
            setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        }
        let rig = try await Rig.start()
        defer { rig.cleanup() }
        for i in 0..<1000 { try Posix.writeFile(rig.exported.path + "/f\(i)", Array("\(i)".utf8)) }
        var fds: [Int32] = []
        for i in 0..<1000 { fds.append(try Posix.open(rig.mountpoint + "/f\(i)", O_RDONLY | O_CLOEXEC)) }
        await rig.killServer()
        try await rig.restartServer()
        let restarted = ContinuousClock.now
        let first = try await Self.blocking { [fds] in try Posix.pread(fds[0], count: 10, at: 0, path: "f0") }
        let elapsed = ContinuousClock.now - restarted
        #expect(first == Array("0".utf8))
        for (i, fd) in fds.enumerated() {
            #expect(try Posix.pread(fd, count: 10, at: 0, path: "f\(i)") == Array("\(i)".utf8))
        }
        print("mount: 1,000 open files restored, first read answered \(elapsed) after the server was back")
        fds.forEach(Posix.close)
        try await rig.stop()
    }

    /// fsx opens its files with O_CREAT: a cut with that Tcreate in flight
    /// (likelier under load, when the first round is slow) used to fail the
    /// open(2) with EIO; see `openWithOCreatSettlesACreateCutInFlight`.
    @Test func chaosThroughACuttingProxyLosesNothing() async throws {
        let rig = try await Rig.start(throughProxy: true, directIO: false)  // fsx maps files
        defer { rig.cleanup() }
        let proxy = try #require(rig.proxy)
        let seed = UInt64.random(in: 1...UInt64(UInt32.max))
        print("fsx through a cutting proxy: seed \(seed)")
        let done = Atomic<Bool>(false)
        let cutter = Task {
            while proxy.cuts < 20 || !done.load(ordering: .relaxed) {
                if done.load(ordering: .relaxed) && proxy.cuts >= 20 { break }
                try await Task.sleep(for: .milliseconds(Int.random(in: 100...300)))  // the chaos cadence
                proxy.cut()
                if proxy.cuts >= 20 && done.load(ordering: .relaxed) { break }
            }
        }
        let directory = rig.mountpoint
        var rounds = 0
        var mismatches: [String] = []
        while proxy.cuts < 20 && rounds < 200 {
            let round = rounds
            let report = try await Self.blocking {
                try FsxOracle(directory: directory, seed: seed &+ UInt64(round)).run(operations: 500)
            }
            mismatches += report.mismatches
            rounds += 1
        }
        done.store(true, ordering: .relaxed)
        try await cutter.value
        #expect(proxy.cuts >= 20)
        #expect(mismatches.isEmpty, "seed \(seed): \(mismatches.prefix(10))")
        try await rig.stop()
    }

    /// The connection drops right after a Tcreate reached the server, its
    /// answer lost. open(2) with O_CREAT and without O_EXCL means "create
    /// or open", so the mount asks again and opens what is there; with
    /// O_EXCL the outcome cannot be known and open(2) fails with EIO (the
    /// file is not made twice either way).
    @Test func openWithOCreatSettlesACreateCutInFlight() async throws {
        let rig = try await Rig.start(throughProxy: true)
        defer { rig.cleanup() }
        let proxy = try #require(rig.proxy)
        let mountpoint = rig.mountpoint
        proxy.cutAfter(.tcreate)
        let made = try await runBlocking { () -> [UInt8] in
            let fd = try Posix.open(mountpoint + "/new", O_RDWR | O_CREAT | O_CLOEXEC)
            defer { Posix.close(fd) }
            try Posix.pwrite(fd, Array("made once".utf8), at: 0, path: "new")
            return try Posix.pread(fd, count: 64, at: 0, path: "new")
        }
        #expect(proxy.cuts == 1)
        #expect(made == Array("made once".utf8))
        #expect(try Posix.readFile(rig.exported.path + "/new") == Array("made once".utf8))
        proxy.cutAfter(.tcreate)
        let (fd, code) = try await runBlocking { () -> (Int32, Int32) in
            let fd = Glibc.open(mountpoint + "/exclusive", O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            let code = errno
            if fd >= 0 { Glibc.close(fd) }
            return (fd, code)
        }
        #expect(proxy.cuts == 2)
        #expect(fd == -1 && code == EIO, "open O_EXCL across the cut: \(fd), \(Posix.errnoText(code))")
        try await rig.stop()
    }

    /// A file open and read through the mount (so its pages are cached)
    /// changes on the export while the server is down: same length, same
    /// mtime, so only its qid.vers (the export's ctime) tells. After the
    /// reconnect, a read through the same descriptor shows the new bytes.
    @Test func aFileChangedWhileDownIsRereadAfterTheReconnect() async throws {
        let rig = try await Rig.start(directIO: false)  // the page cache is the point
        defer { rig.cleanup() }
        let host = rig.exported.path + "/cached"
        try Posix.writeFile(host, Array("old contents".utf8))
        let path = rig.mountpoint + "/cached"
        let fd = try Posix.open(path, O_RDONLY | O_CLOEXEC)
        #expect(try Posix.pread(fd, count: 64, at: 0, path: path) == Array("old contents".utf8))
        let before = try Posix.stat(host)
        await rig.killServer()
        try Posix.writeFile(host, Array("new contents".utf8))
        var times = [before.st_atim, before.st_mtim]
        try Posix.check("utimensat", host, utimensat(AT_FDCWD, host, &times, 0))
        try await rig.restartServer()
        let reconnected = await rig.mount.waitForStandardError(timeout: .seconds(30)) { $0.contains("reconnected in") }
        try #require(reconnected, "no reconnect: \(rig.mount.standardError)")
        var seen: [UInt8] = []
        let fresh = await eventually(.seconds(10)) {
            seen = (try? Posix.pread(fd, count: 64, at: 0, path: path)) ?? []
            return seen == Array("new contents".utf8)
        }
        #expect(fresh, "still read '\(String(decoding: seen, as: UTF8.self))' after the reconnect")
        Posix.close(fd)
        try await rig.stop()
    }

    /// What the mount knew of a directory's names (it made the directory,
    /// so every other name was missing) does not outlive the connection:
    /// a file made while the server was down is found after the reconnect,
    /// though the negative timeout is an hour.
    @Test func namesKnownMissingAreForgottenWhenTheConnectionDrops() async throws {
        let rig = try await Rig.start(mountArguments: ["-o", "negative_timeout=3600"])
        defer { rig.cleanup() }
        // (No lookup of d/later before the outage: the kernel would keep
        // that answer for the hour itself.)
        try Posix.check("mkdir", "d", Glibc.mkdir(rig.mountpoint + "/d", 0o755))
        await rig.killServer()
        try Posix.writeFile(rig.exported.path + "/d/later", Array("made while down".utf8))
        try await rig.restartServer()
        let reconnected = await rig.mount.waitForStandardError(timeout: .seconds(30)) { $0.contains("reconnected in") }
        try #require(reconnected, "no reconnect: \(rig.mount.standardError)")
        #expect(access(rig.mountpoint + "/d/later", F_OK) == 0, "a file made while the server was down stayed unseen")
        try await rig.stop()
    }

    /// Ctrl-C on a `cat` blocked while the server is down. The directory
    /// `d` was made through the mount, so its node has no fid yet and the
    /// lookup of `d/f` waits for the bridge's own walk to `d`, which the
    /// reconnecting client holds: the interrupt must reach that wait. The
    /// mount answers EINTR (its -D log says so), cat dies of its SIGINT
    /// while the server is still down, and the mount works once it is back.
    @Test func ctrlCOnACatBlockedWhileTheServerIsDownInterruptsIt() async throws {
        // negative_timeout=0: the lookup of d/f must reach the bridge's
        // walk, not be answered from the names the mount knows in d.
        let rig = try await Rig.start(mountArguments: ["-D", "-o", "entry_timeout=60,attr_timeout=60,negative_timeout=0"])
        defer { rig.cleanup() }
        try Posix.check("mkdir", "d", Glibc.mkdir(rig.mountpoint + "/d", 0o755))
        try Posix.writeFile(rig.exported.path + "/d/f", Array("after the outage".utf8))
        await rig.killServer()
        let cat = try NinePProcess.start([rig.mountpoint + "/d/f"], executable: "/bin/cat")
        defer { cat.stopNow() }
        let blocked = await eventually(.seconds(20)) { Self.isWaitingOnFuse(cat.pid) }
        try #require(blocked, "cat never blocked in the mount")
        cat.signal(SIGINT)
        // The server stays down until cat is gone: without the interrupt
        // reaching the wait, cat would still be blocked when this gives up.
        let status = await cat.waitForExit(timeout: .seconds(30))
        #expect(status.map { $0 & 0x7f } == SIGINT, "cat: \(status.map(NinePProcess.describe) ?? "still blocked after 30 s")")
        let answered = await rig.mount.waitForStandardError(timeout: .seconds(10)) { $0.contains("→ EINTR") }
        #expect(answered, "the mount never answered the interrupted request with EINTR")
        try await rig.restartServer()
        let content = try await runBlocking { [mountpoint = rig.mountpoint] in try Posix.readFile(mountpoint + "/d/f") }
        #expect(String(decoding: content, as: UTF8.self) == "after the outage")
        try await rig.stop()
    }

    /// Whether process `pid` sleeps in the kernel waiting for a FUSE answer.
    static func isWaitingOnFuse(_ pid: Int32) -> Bool {
        guard let bytes = try? Posix.readFile("/proc/\(pid)/wchan") else { return false }
        let wchan = String(decoding: bytes, as: UTF8.self)
        return wchan.contains("request_wait_answer") || wchan.contains("fuse")
    }

    @Test func reconnectTimeoutGivesEIOOnTime() async throws {
        let rig = try await Rig.start(mountArguments: ["--reconnect-timeout", "1"])
        defer { rig.cleanup() }
        try Posix.writeFile(rig.exported.path + "/f", Array("x".utf8))
        let fd = try Posix.open(rig.mountpoint + "/f", O_RDONLY | O_CLOEXEC)
        await rig.killServer()
        let start = ContinuousClock.now
        let (n, code) = try await Self.blocking { () -> (Int, Int32) in
            var buffer = [UInt8](repeating: 0, count: 10)
            let n = pread(fd, &buffer, 10, 0)
            return (n, errno)
        }
        let waited = ContinuousClock.now - start
        #expect(n == -1 && code == EIO, "\(Posix.errnoText(code))")
        // Not before the timeout; the upper bound tells "on time" from "never"
        // on a loaded machine and is not a speed target.
        #expect(waited >= .milliseconds(900) && waited < .seconds(15), "EIO after \(waited)")
        Posix.close(fd)
        try await rig.stop()
    }
}
