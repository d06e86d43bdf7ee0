import ArgumentParser
import Dispatch
import FuseLowLevel
import Glibc
import Logging
import NIOCore
import NIOPosix
import NinePClient
import NinePFuse
import NinePKit
import NinePWire
import NinePTransport
import Foundation

struct Mount: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Mount a 9P2000 tree on a local directory through FUSE.",
        discussion: """
            ADDR is any dial string (tcp!host!port, host:port, unix!/path, exec!command), or a service posted in the srv registry (srv!NAME or plain NAME). \
            The command returns once the mount is ready and serves it in the background, \
            as sshfs does; with -f it stays in the foreground. Unmount with \
            `ninep unmount MOUNTPOINT` (or fusermount3 -u); SIGINT or SIGTERM to the \
            serving process unmounts cleanly, and when the mount is unmounted from \
            outside the process exits 0.

            MOUNT OPTIONS (-o, comma-separated)
              ca=FILE, pin=sha256:HEX, cert=FILE, key=FILE
                                   for tls! servers, as --ca, --pin, --cert, --key
              direct_io            no caching at all: no page cache (every read and write
                                   goes to the server), and the three timeouts below
                                   default to 0, so every lookup and stat asks the
                                   server too: a file another client makes or changes
                                   is seen at once (an explicit timeout still applies)
              writeback            let the kernel gather writes (writeback cache)
              attr_timeout=SECS    how long attributes are cached (default 1; 0 with direct_io)
              entry_timeout=SECS   how long names are cached (default 1; 0 with direct_io)
              negative_timeout=SECS
                                   how long "no such file" may be trusted (default 1;
                                   0 with direct_io): by the kernel for a name it looked
                                   up, and by the mount for every name missing from a
                                   directory it made or listed, so that filling a
                                   directory costs no lookup round trips; a file another
                                   client makes may stay unseen this long. 0 asks the
                                   server every time
              allow_other          let other users use the mount
              default_permissions  let the kernel check permissions from the modes
              ro                   mount read-only
              read_ahead_kb=KIB    the kernel's readahead window (default 4096, as root;
                                   otherwise the kernel's 128 stays)
              fsname=NAME          the name shown in /proc/mounts and df
              threads=N            read FUSE requests on N threads of their own
                                   (default: on the 9P connection's event loop,
                                   which saves a thread hand-off per request)
              noexec, nosuid, nodev, noatime, sync, dirsync (and exec, suid, dev, async)
                                   mount(8)'s flags, passed to the kernel
              connect_timeout=SECS as --connect-timeout: how long the first
                                   connection may take (default $NINEP_CONNECT_TIMEOUT, else 5)

            MOUNT(8) AND /ETC/FSTAB
              mount(8) runs 'ninep SOURCE MOUNTPOINT -o OPTIONS' for a line of type
              fuse.ninep (through fuse3's mount.fuse3). There every option above is
              also an -o option, with _ for - (aname=, uname=, msize=, srvspec=,
              connect_timeout=, reconnect_timeout=, keep_alive=, no_reconnect), and mount(8)'s own
              (defaults, auto, noauto, nofail, _netdev, user, users, x-systemd.*,
              comment=) are ignored:
                unix!/run/ninep/export-photos.sock /mnt/photos fuse.ninep _netdev,ro,reconnect_timeout=60 0 0
              umount MOUNTPOINT unmounts it; the serving process then exits 0.

            CONNECTING
              The first connection must be dialled, agree on the version and answer \
            the attach within --connect-timeout seconds (default $NINEP_CONNECT_TIMEOUT, else 5), or the command fails \
            with what the server answered (a server that answers Rlerror speaks only \
            9P2000.L, which ninep does not yet speak). Reconnecting is only for a mount \
            that was up. If this command is killed or gives up before the mount is \
            ready, its serving process exits too.

            CHANGES MADE BY OTHER CLIENTS
              See "What the mount promises about other clients' changes" in the README: \
            names and attributes may be up to the timeouts above old, a file's contents \
            are checked at every open (close-to-open), listings are read afresh at every \
            opendir; with direct_io every lookup, stat and read asks the server.

            RECONNECTING
              If the server goes away (crash, restart, network cut), the mount waits and \
            redials it (an exec! command is run again): first at once, then after 1 s, \
            growing ×1.5 up to 30 s, each ±25%. Open files, working directories and \
            handles survive: every fid is walked again and reopened (never truncated). \
            Reads, stats and writes at an offset that were in flight are resent; a \
            create, remove, rename or append that was in flight fails with EIO ("may or \
            may not have happened") and is not resent. A file removed or replaced while \
            the server was away gives ESTALE to whoever holds it. Blocked programs can \
            still be interrupted (Ctrl-C). Every disconnect, retry and reconnect is logged; \
            -D traces the replay message by message. A redial whose new connection \
            refuses the version or the attach is a failed attempt, retried after the delay.

              By default the mount is hard: requests wait for the server as long as it \
            takes. --reconnect-timeout SECS makes it soft, as NFS's soft option: once the \
            server has been away that long, the waiting requests fail with EIO, and so \
            does every new one at once while it stays away; the mount keeps redialling \
            and carries on as before when the server returns.

            EXAMPLES
              ninep mount unix!/tmp/share.9p /mnt/share
              ninep mount -o direct_io tcp!fileserver!564 /n/fs
              ninep mount --ca ca.pem --cert alice.pem --key alice.key tls!fileserver /n/fs
              ninep mount 'exec!ssh host ninep export /home/me' /n/me
            """)

    @OptionGroup var options: ClientOptions
    @Flag(name: .customShort("f"), help: "Stay in the foreground.") var foreground = false
    @Option(name: .customShort("o"), help: ArgumentHelp("Mount options (see below).", valueName: "opts"))
    var mountOptions: [String] = []
    @Option(help: ArgumentHelp(
        "A soft mount: once the server has been away this long, fail waiting and new requests with EIO until it is back; the mount keeps redialling and resumes when it returns (default: requests wait forever, like a hard NFS mount; Ctrl-C still interrupts).",
        valueName: "seconds"))
    var reconnectTimeout: Double?
    @Flag(help: "Do not reconnect: when the connection is lost, every request fails with EIO.")
    var noReconnect = false
    @Option(help: ArgumentHelp(
        "Probe an idle connection this often and count it lost if a probe goes unanswered until the next (default: off; the OS reports dead peers).",
        valueName: "seconds"))
    var keepAlive: Double?
    @Option(help: .hidden) var readyFD: Int32?
    @Argument(help: "The server's dial string.") var address: String
    @Argument(help: "The directory to mount on.") var mountpoint: String

    /// The first connection's deadline: `-o connect_timeout=` or `--connect-timeout`.
    var connectTimeout: Duration {
        let seconds = (try? MountOptions(parsing: mountOptions))?.connectTimeout ?? options.connectTimeout
        return .milliseconds(Int64(seconds * 1000))
    }

    func validate() throws {
        if noReconnect && reconnectTimeout != nil {
            throw ValidationError("--reconnect-timeout makes no sense with --no-reconnect")
        }
        for (name, value) in [("--reconnect-timeout", reconnectTimeout), ("--keep-alive", keepAlive)] {
            if let value, !(value > 0 && value < 1e9) { throw ValidationError("\(name) needs a positive number of seconds") }
        }
        do {
            _ = try MountOptions(parsing: mountOptions)
        } catch {
            throw ValidationError("\(error)")
        }
    }

    func run() async throws {
        if !foreground && readyFD == nil {
            // Background: run ourselves again in the foreground, detached,
            // and wait until it says the mount is ready (or why it is not).
            Glibc.exit(daemonize())
        }
        bootstrapLogging(debug: options.debug)
        options.prepareDialling()
        let logger = Logger(label: "ninep.mount")
        // Not for the children we start (exec! commands).
        if let readyFD { _ = fcntl(readyFD, F_SETFD, FD_CLOEXEC) }
        // A serving child never outlives a parent that gave up before the
        // mount was ready (killed, Ctrl-C, or its own deadline).
        var ready: ReadyPipe?
        if let readyFD {
            guard let pipe = ReadyPipe(followingParentThrough: readyFD) else { Glibc.exit(1) }
            ready = pipe
        }
        var parsed = try! MountOptions(parsing: mountOptions)
        if parsed.fsName == nil { parsed.fsName = address }
        do {
            try preflight(mountpoint: mountpoint)
            var configuration = NinePClient.Configuration(messageSize: options.msize)
            if options.debug { configuration.trace = Logger(label: "ninep.9p") }
            configuration.tls = try options.tls.clientSettings(mountOptions: parsed)
            configuration.logger = logger
            configuration.reconnect = noReconnect ? nil : ReconnectPolicy(
                server: address, requestTimeout: reconnectTimeout.map { Duration.milliseconds(Int64($0 * 1000)) })
            configuration.keepAliveInterval = keepAlive.map { Duration.milliseconds(Int64($0 * 1000)) }
            configuration.connectTimeout = connectTimeout
            let (client, root) = try await NinePClient.connect(
                to: NinePAddress(dialString: address), attachingAs: options.user(tls: configuration.tls),
                aname: options.aname, group: MultiThreadedEventLoopGroup.singleton, configuration: configuration)
            let mount = NinePMount(client: client, root: root, options: parsed, logger: logger)
            let session: FuseSession
            do {
                session = try mount.mount(at: mountpoint)
            } catch {
                mount.release()
                await client.close()
                throw error
            }
            if let ready, !ready.succeed() {
                // The parent gave up (killed, or its deadline passed) before
                // hearing that the mount is ready: nobody will use it.
                logger.notice("the parent process is gone before the mount was ready: unmounting")
                session.stop()
                try? await runSession(session)
                await client.close()
                Glibc.exit(1)
            }
            if ready != nil && !options.debug {
                // Detached: nobody reads our stderr any more.
                let devnull = open("/dev/null", O_WRONLY)
                if devnull >= 0 { dup2(devnull, 2); close(devnull) }
            }
            logger.notice("mounted \(address) on \(mountpoint)")
            try await serve(session, logger: logger)
            await client.close()
            logger.notice("unmounted \(mountpoint)")
        } catch {
            if let ready { ready.fail("\(error)"); Glibc.exit(1) }
            fail("\(error)")
        }
    }

    /// Starts `ninep mount -f --ready-fd N …` detached from the terminal and
    /// waits for it to report. Returns the exit status for this process.
    func daemonize() -> Int32 {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { fail("cannot create a pipe: \(String(cString: strerror(errno)))") }
        var args = ["/proc/self/exe"] + Ninep.commandArguments
        // The child gets the pipe as descriptor 3 and nothing else of ours
        // but a FUSE device passed as the mountpoint (/dev/fd/N), as 4.
        if let i = args.firstIndex(of: "mount") { args.insert(contentsOf: ["--ready-fd", "3"], at: i + 1) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, fds[1], 3)
        if let device = FuseSession.passedDevice(in: mountpoint) {
            // From above the descriptors the actions write to: the device
            // may be 3 itself, which the pipe takes first.
            let above = fcntl(device, F_DUPFD_CLOEXEC, 10)
            guard above >= 0 else { fail("cannot pass on \(mountpoint): \(String(cString: strerror(errno)))") }
            posix_spawn_file_actions_adddup2(&actions, above, 4)
            args = args.map { $0 == mountpoint ? "/dev/fd/4" : $0 }
        }
        spawnActionsCloseFrom(&actions, 5)
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        if !options.debug {
            posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        }
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        posix_spawnattr_setflags(&attr, 0x80 /* POSIX_SPAWN_SETSID, glibc 2.26 */)
        let exe = realpathOfSelf()
        var pid: pid_t = 0
        let cArgs = args.map { strdup($0) } + [nil]
        defer { cArgs.forEach { free($0) } }
        let rc = posix_spawn(&pid, exe, &actions, &attr, cArgs, environ)
        close(fds[1])
        guard rc == 0 else { fail("cannot start the mount process: \(String(cString: strerror(rc)))") }
        // The child writes one line, "ok" or "error: message", then keeps
        // serving. Read up to the newline: processes the child starts (an
        // exec! command) must not be able to hold the pipe open.
        // The child's own deadline covers the connection; this one, later,
        // covers a child that cannot even report (a stuck mount syscall).
        let patience = Int(connectTimeout.components.seconds) + 15
        let giveUpAt = DispatchTime.now().uptimeNanoseconds + UInt64(patience) * 1_000_000_000
        var timedOut = false
        var report: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while !report.contains(UInt8(ascii: "\n")) {
            let now = DispatchTime.now().uptimeNanoseconds
            guard now < giveUpAt else {
                timedOut = true
                break
            }
            var pfd = pollfd(fd: fds[0], events: Int16(POLLIN), revents: 0)
            let ready = poll(&pfd, 1, Int32(min((giveUpAt - now) / 1_000_000, 1_000_000)))
            if ready < 0 && errno == EINTR { continue }
            if ready == 0 { continue }
            let n = chunk.withUnsafeMutableBytes { read(fds[0], $0.baseAddress!, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            report += chunk[0..<n]
        }
        close(fds[0])
        let text = String(decoding: report, as: UTF8.self)
        if text.hasPrefix("ok") { return 0 }
        var status: Int32 = 0
        if timedOut {
            // Gone quietly, unmounted, and not holding our caller's stderr.
            kill(pid, SIGTERM)
            if !waitForExit(pid, &status, within: 2) {
                kill(pid, SIGKILL)
                while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            }
            FileHandleStderr.write(
                "ninep: the mount process did not report within \(patience) s (connect timeout \(connectTimeout.reconnectText)); stopped it\n")
            return 1
        }
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        if text.hasPrefix("error: ") {
            FileHandleStderr.write("ninep: " + text.dropFirst(7))
        } else {
            FileHandleStderr.write("ninep: the mount process exited before the mount was ready (status \(status))\n")
        }
        return 1
    }
}

/// Runs the FUSE session on a thread of its own until it is unmounted from
/// outside (fusermount3 -u) or SIGINT/SIGTERM stops it; either way the
/// mount is gone when this returns.
func serve(_ session: FuseSession, logger: Logger) async throws {
    signal(SIGINT, SIG_IGN)
    signal(SIGTERM, SIG_IGN)
    let sources = [SIGINT, SIGTERM].map { signo in
        let source = DispatchSource.makeSignalSource(signal: signo, queue: .global())
        source.setEventHandler {
            logger.notice("signal \(signo): unmounting")
            session.stop()
        }
        source.resume()
        return source
    }
    defer { sources.forEach { $0.cancel() } }
    try await runSession(session)
}

/// Checks what would otherwise fail obscurely inside libfuse.
func preflight(mountpoint: String) throws {
    if FuseSession.passedDevice(in: mountpoint) != nil { return }
    var st = stat()
    if lstat(mountpoint, &st) != 0 {
        let reason = errno == ENOENT ? "does not exist (create it with mkdir)" : String(cString: strerror(errno))
        throw MountError("mountpoint \(mountpoint) \(reason)")
    }
    if st.st_mode & S_IFMT != S_IFDIR {
        throw MountError("mountpoint \(mountpoint) is not a directory")
    }
}

/// A mount failure with its message.
struct MountError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Waits up to `seconds` for `pid` to exit; true if it did (status in `status`).
func waitForExit(_ pid: pid_t, _ status: inout Int32, within seconds: Int) -> Bool {
    for _ in 0..<(seconds * 100) {
        let reaped = waitpid(pid, &status, WNOHANG)
        if reaped == pid || (reaped < 0 && errno == ECHILD) { return true }
        usleep(10_000)
    }
    return false
}

/// The child's end of the readiness pipe; the parent holds the only read end.
struct ReadyPipe {
    let fd: Int32
    private let parentDeath: ParentDeathSignal

    /// Until the mount is ready, the child dies with its parent (SIGTERM
    /// when the parent exits, at its default action). Nil if the parent is
    /// gone already.
    init?(followingParentThrough fd: Int32) {
        self.fd = fd
        signal(SIGTERM, SIG_DFL)
        parentDeath = ParentDeathSignal(SIGTERM)
        guard parentIsWaiting() else { return nil }
    }

    /// Stops following the parent, then reports the mount ready: the
    /// parent exits once it reads this, and that exit must not take the
    /// child with it. False if the parent gave up first.
    func succeed() -> Bool {
        parentDeath.release()
        guard parentIsWaiting() else {
            close(fd)
            return false
        }
        return send("ok\n")
    }

    func fail(_ message: String) { _ = send("error: \(message)\n") }

    /// A pipe whose read end is closed polls as POLLERR: the parent exited.
    private func parentIsWaiting() -> Bool {
        var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        return poll(&pfd, 1, 0) >= 0 && pfd.revents & Int16(POLLERR) == 0
    }

    private func send(_ text: String) -> Bool {
        var bytes = Array(text.utf8)
        let n = bytes.withUnsafeMutableBytes { write(fd, $0.baseAddress!, $0.count) }
        close(fd)
        return n == bytes.count
    }
}

/// The kernel's parent-death signal for this process (prctl
/// PR_SET_PDEATHSIG), from `init` until `release()`, held by a thread of
/// its own.
///
/// Why a thread: Linux keeps the setting per thread (it is set and cleared
/// for the calling thread only, and the signal goes to the process when the
/// parent exits while any thread has it set; a thread that exits takes its
/// setting along). Async code resumes on whichever thread the pool gives
/// it: set on one and cleared on another, it would stay set, and the
/// parent's normal exit after the mount is ready would kill the serving
/// process; or it would vanish with an idle pool thread, and a parent
/// killed before the mount was ready would leave the child behind.
final class ParentDeathSignal: Sendable {
    private let releasing = DispatchSemaphore(value: 0)
    private let cleared = DispatchSemaphore(value: 0)

    /// Sets `signal` and returns once it is set.
    init(_ signal: Int32) {
        let set = DispatchSemaphore(value: 0)
        let thread = Thread { [releasing, cleared] in
            setParentDeathSignal(signal)
            set.signal()
            releasing.wait()
            setParentDeathSignal(0)
            cleared.signal()
        }
        thread.start()
        set.wait()
    }

    /// Clears the signal and returns once it is cleared: from then on the
    /// parent may exit. Call it once.
    func release() {
        releasing.signal()
        cleared.wait()
    }
}

extension Duration {
    /// "5.0 s".
    var reconnectText: String {
        let (seconds, attoseconds) = components
        return String(format: "%.1f s", Double(seconds) + Double(attoseconds) * 1e-18)
    }
}

/// The path of the running executable.
func realpathOfSelf() -> String {
    var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
    let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    return n > 0 ? String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) : CommandLine.arguments[0]
}

struct Unmount: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Unmount a ninep mount (the serving process then exits).")

    @Argument(help: "The mountpoint.") var mountpoint: String

    func run() async throws {
        let (status, output) = runProgram(["fusermount3", "-u", mountpoint])
        if status != 0 {
            let text = output.trimmingSpaces()
            fail(text.isEmpty ? "cannot unmount \(mountpoint) (fusermount3 exit \(status))" : text.replacingFusermountPrefix())
        }
    }
}

/// Runs a program, returning its exit status and its combined output
/// (127 and the reason when it cannot be started).
func runProgram(_ argv: [String]) -> (Int32, String) {
    do {
        return try runCapturingOutput(argv)
    } catch {
        return (127, error.description)
    }
}

extension String {
    func trimmingSpaces() -> String {
        var s = Substring(self)
        while s.first?.isWhitespace == true { s.removeFirst() }
        while s.last?.isWhitespace == true { s.removeLast() }
        return String(s)
    }

    func replacingFusermountPrefix() -> String {
        hasPrefix("fusermount3: ") ? String(dropFirst("fusermount3: ".count)) : self
    }
}
