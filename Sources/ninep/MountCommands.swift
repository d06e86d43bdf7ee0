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
              direct_io            no page cache: every read and write goes to the server
              writeback            let the kernel gather writes (writeback cache)
              attr_timeout=SECS    how long attributes are cached (default 1)
              entry_timeout=SECS   how long names are cached (default 1)
              negative_timeout=SECS
                                   how long "no such file" may be trusted (default 1):
                                   by the kernel for a name it looked up, and by the
                                   mount for every name missing from a directory it
                                   made or listed, so that filling a directory costs
                                   no lookup round trips; a file another client makes
                                   may stay unseen this long. 0 asks the server every time
              allow_other          let other users use the mount
              default_permissions  let the kernel check permissions from the modes
              ro                   mount read-only
              read_ahead_kb=KIB    the kernel's readahead window (default 4096, as root;
                                   otherwise the kernel's 128 stays)
              fsname=NAME          the name shown in /proc/mounts and df
              threads=N            read FUSE requests on N threads of their own
                                   (default: on the 9P connection's event loop,
                                   which saves a thread hand-off per request)

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
            -D traces the replay message by message.

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
        "While the server is away, fail blocked requests with EIO after this long (default: wait for it forever, like a hard NFS mount; Ctrl-C still interrupts).",
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
        let ready = readyFD.map(ReadyPipe.init)
        // Not for the children we start (exec! commands).
        if let readyFD { _ = fcntl(readyFD, F_SETFD, FD_CLOEXEC) }
        var parsed = try! MountOptions(parsing: mountOptions)
        if parsed.fsName == nil { parsed.fsName = address }
        do {
            try preflight(mountpoint: mountpoint)
            var configuration = NinePClient.Configuration(messageSize: options.msize)
            if options.debug { configuration.trace = Logger(label: "ninep.9p") }
            configuration.tls = try options.tls.clientSettings(mountOptions: parsed)
            configuration.logger = logger
            configuration.reconnect = noReconnect ? nil : ReconnectPolicy(
                server: address, giveUpAfter: reconnectTimeout.map { Duration.milliseconds(Int64($0 * 1000)) })
            configuration.keepAliveInterval = keepAlive.map { Duration.milliseconds(Int64($0 * 1000)) }
            let client = try await NinePClient.connect(
                to: address, group: MultiThreadedEventLoopGroup.singleton, configuration: configuration)
            let root: Fid
            do {
                root = try await client.attach(uname: options.user(tls: configuration.tls), aname: options.aname)
            } catch {
                await client.close()
                throw error
            }
            let mount = NinePMount(client: client, root: root, options: parsed, logger: logger)
            let session: FuseSession
            do {
                session = try mount.mount(at: mountpoint)
            } catch {
                mount.release()
                await client.close()
                throw error
            }
            ready?.succeed()
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
        var args = CommandLine.arguments
        args[0] = "/proc/self/exe"
        // The child gets the pipe as descriptor 3 and nothing else of ours.
        if let i = args.firstIndex(of: "mount") { args.insert(contentsOf: ["--ready-fd", "3"], at: i + 1) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, fds[1], 3)
        spawnActionsCloseFrom(&actions, 4)
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
        var report: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while !report.contains(UInt8(ascii: "\n")) {
            let n = chunk.withUnsafeMutableBytes { read(fds[0], $0.baseAddress!, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            report += chunk[0..<n]
        }
        close(fds[0])
        let text = String(decoding: report, as: UTF8.self)
        if text.hasPrefix("ok") { return 0 }
        var status: Int32 = 0
        waitpid(pid, &status, 0)
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

/// The child's end of the readiness pipe.
struct ReadyPipe {
    let fd: Int32
    func succeed() { send("ok\n") }
    func fail(_ message: String) { send("error: \(message)\n") }
    private func send(_ text: String) {
        var bytes = Array(text.utf8)
        _ = bytes.withUnsafeMutableBytes { write(fd, $0.baseAddress!, $0.count) }
        close(fd)
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
