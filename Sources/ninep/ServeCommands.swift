import ArgumentParser
import Glibc
import Logging
import NIOCore
import NIOPosix
import NinePClient
import NinePExport
import NinePRegistry
import NinePFuse
import NinePKit
import NinePServer
import NinePTransport
import NinePWire
import ServiceLifecycle

/// Serves one FileServer until SIGINT or SIGTERM (listening), or until the
/// peer hangs up (standard input and output).
///
/// Who calls: `run()` is the ServiceGroup's task; the listener's children
/// run on the event loops of `MultiThreadedEventLoopGroup.singleton`.
struct FileServerService: Service {
    let fileServer: any FileServer
    let options: ServeOptions
    let what: String
    let logger: Logger
    /// For file2chan: the file that `--post` posts, rather than the tree.
    var postFile: String? = nil
    /// Whom to let attach (`ninep export`: users of this host only).
    var attachPolicy = AttachPolicy()

    /// The server's options; raises the descriptor limit and fits the
    /// connection and fid caps to it (`DescriptorPlan`), and has large
    /// buffers given back to the system when freed. Call once.
    func serverOptions() -> ServerOptions {
        ProcessLimits.returnLargeAllocations()
        let plan = DescriptorPlan(descriptorLimit: ProcessLimits.raiseDescriptorLimit(), maxConnections: options.maxConnections)
        if let lowered = plan.lowered { logger.warning("\(lowered)") }
        var o = ServerOptions()
        o.maxFids = options.maxFids
        o.maxOutstandingRequests = options.maxRequests
        o.maxMessageSize = options.maxMsize
        o.limits = ServerLimits(
            maxConnections: plan.maxConnections, maxConnectionsPerPeer: options.maxConnectionsPerPeer,
            maxFids: plan.maxFids, connectionReplyBudget: options.replyBudget,
            serverReplyBudget: options.serverReplyBudget)
        o.idleTimeout = options.idleTimeout > 0 ? .nanoseconds(Int64(options.idleTimeout * 1e9)) : nil
        o.stallTimeout = options.stallTimeout > 0 ? .nanoseconds(Int64(options.stallTimeout * 1e9)) : nil
        o.trace = options.debug
        o.logger = logger
        o.tls = options.tls.serverSettings(logger: logger)
        o.attachPolicy = attachPolicy
        o.dialects = options.dialect.isEmpty ? nil : Set(options.dialect)
        return o
    }

    /// How `--post` posts: in the srv registry, the whole tree or (with
    /// `postFile`, for file2chan) its one file.
    var poster: RegistryPoster { RegistryPoster(file: postFile, uname: defaultUserName()) }

    /// Sockets passed in by a service manager (systemd's socket
    /// activation), served when there is no `--listen`.
    var inherited: [InheritedSocket] = []

    func run() async throws {
        let serverOptions = serverOptions()
        let listen = try options.listen.map { try NinePAddress(listenString: $0) }
        let activated = listen == nil ? inherited.filter(\.isListening) : []
        if options.handOver, let name = options.post, let path = handOverPath(listen, name: name) {
            try await serveHandedOver(path: path, name: name, serverOptions: serverOptions)
        } else if listen != nil || options.post != nil || !activated.isEmpty {
            var listeners: [ServerListener] = []
            if let listen {
                listeners.append(try await NinePServer.listen(fileServer, on: listen, options: serverOptions))
            }
            for socket in activated {
                listeners.append(try await NinePServer.listen(fileServer, adopting: socket, options: serverOptions))
            }
            var bound = listeners.map(\.address)
            var posted: (any PostedService)?
            if let name = options.post {
                if let first = listeners.first {
                    posted = try await poster.post(name: name, address: first.address, serving: first)
                    listeners.removeFirst()
                } else {
                    // --post alone: listen on NS/NAME (plan9port's convention) and post that.
                    let p = try await poster.post(name: name, fileServer: fileServer, options: serverOptions)
                    posted = p
                    bound = [p.address]
                }
                FileHandleStderr.write("ninep: posted as \(name) in the srv registry\n")
            }
            // Scripts and tests read the bound address (for port 0) from the end of this line.
            for address in bound { FileHandleStderr.write("ninep: serving \(what) on \(address)\n") }
            try? await gracefulShutdown()
            logger.notice("shutting down")
            await posted?.withdraw()
            for listener in listeners { await listener.close() }
        } else {
            // One session: a connection accepted for us (inetd, systemd's
            // Accept=yes), else standard input and output.
            let fd = inherited.first?.descriptor
            let connection = try await NinePServer.serve(
                fileServer, inputDescriptor: fd ?? 0, outputDescriptor: fd ?? 1, options: serverOptions)
            await withTaskCancellationOrGracefulShutdownHandler {
                try? await connection.ended.get()
            } onCancelOrGracefulShutdown: {
                connection.channel.close(promise: nil)
            }
        }
    }
}

extension FileServerService {
    /// The socket --hand-over gives the registry: --listen's unix path,
    /// else NS/NAME; nil for a TCP --listen (posted as an address instead).
    func handOverPath(_ listen: NinePAddress?, name: String) -> String? {
        switch listen {
        case nil: SrvPost.socketPath(for: name)
        case .unix(let path)?: path
        default: nil
        }
    }

    /// --hand-over: binds the unix socket here, gives the registry a copy
    /// to hold (SCM_RIGHTS) under `name`, and serves on our copy. On a clean
    /// exit the entry is removed (if it is still ours) and the socket file too.
    func serveHandedOver(path: String, name: String, serverOptions: ServerOptions) async throws {
        try SrvNamespace.ensureDirectory(SrvNamespace.directory)
        try NinePListener.removeStaleSocket(atPath: path)
        let fd = try ListenerHandOver.listeningSocket(at: path)
        do {
            try ListenerHandOver.post(name: name, listener: fd)
        } catch {
            close(fd)
            unlink(path)
            throw error
        }
        let fs = fileServer
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { child in
                child.eventLoop.makeCompletedFuture { _ = try NinePServer.configure(child, fileServer: fs, options: serverOptions) }
            }
            .withBoundSocket(fd).get()
        FileHandleStderr.write("ninep: posted as \(name) in the srv registry, which holds the socket\n")
        FileHandleStderr.write("ninep: serving \(what) on unix!\(path)\n")
        try? await gracefulShutdown()
        logger.notice("shutting down")
        var client: NinePClient?
        do {
            let c = try await NinePClient.connect(to: SrvNamespace.registryAddress(), group: MultiThreadedEventLoopGroup.singleton)
            client = c
            try await SrvPost.remove(c, root: try await c.attach(uname: defaultUserName()), name: name, ifAddress: "unix!\(path)")
        } catch {
            logger.warning("cannot remove srv entry \(name): \(error)")
        }
        await client?.close()
        try? await channel.close()
        unlink(path)
    }
}

/// Runs a FileServer as a service with SIGINT/SIGTERM handling.
func runServer(
    _ fileServer: any FileServer, options: ServeOptions, what: String, postFile: String? = nil,
    attachPolicy: AttachPolicy = AttachPolicy()
) async throws {
    bootstrapLogging(debug: options.debug)
    let inherited: [InheritedSocket]
    do {
        inherited = try SocketActivation.inherited()
    } catch {
        fail("\(error)")
    }
    if options.listen == nil && options.post == nil && inherited.isEmpty && isatty(0) == 1 {
        fail("""
            standard input is a terminal: ninep \(what.hasPrefix("ramfs") ? "ramfs" : "export") serves 9P on \
            standard input and output when run by a client, e.g.
              ninep ls 'exec!ninep export DIR' /
            or listen for connections with --listen, e.g. --listen unix!/tmp/9p.sock or --listen tls!*!564
            """)
    }
    let logger = Logger(label: "ninep")
    if let warning = options.trustWarning { FileHandleStderr.write(warning) }
    await runUntilSignalled(
        FileServerService(
            fileServer: fileServer, options: options, what: what, logger: logger, postFile: postFile,
            attachPolicy: attachPolicy, inherited: inherited),
        logger: logger)
}

/// Runs `service` in a ServiceGroup that SIGINT and SIGTERM shut down
/// gracefully; a failure is printed and exits 1.
func runUntilSignalled(_ service: some Service, logger: Logger) async {
    let group = ServiceGroup(configuration: .init(
        services: [.init(service: service, successTerminationBehavior: .gracefullyShutdownGroup)],
        gracefulShutdownSignals: [.sigterm, .sigint],
        logger: logger))
    do {
        try await group.run()
    } catch {
        fail("\(error)")
    }
}

struct Export: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve a local directory over 9P2000.",
        discussion: """
            Clients see DIR as the root of the tree: nothing they name, through '..' or \
            symbolic links, reaches outside it. Symbolic links appear as small read-only files \
            holding their target and are never followed. Qids come from the files' device, inode and change \
            time, so a restarted export is recognised as the same tree by clients that reconnect.

            Without --listen, one session is served on standard input and output, as \
            Inferno's export(fd) and u9fs under inetd do:
              ninep ls 'exec!ninep export /srv/share' /
              ninep mount 'exec!ssh host ninep export /home/me' /mnt/me

            Started by systemd with sockets of its own (socket activation: LISTEN_FDS, \
            the units ninep-export@.socket and ninep-export@.service), and no --listen, \
            it serves those sockets, TCP or unix; with Accept=yes, the one connection \
            passed. Under systemd (INVOCATION_ID, JOURNAL_STREAM) log lines carry the \
            journal's <N> priorities and no time stamps.

            SIGINT or SIGTERM stops listening and exits 0.

            Who the client is, and as whom it works: the transport says who connected: \
            the peer's uid on a unix socket (SO_PEERCRED), the owner of the other end of a \
            loopback TCP connection (the kernel's socket table, as identd tells it), this \
            process's own user on standard input and output (the client's exec! started it \
            as itself), the common name of a TLS client certificate under --client-ca (the \
            user of that name, or the one --user-map gives). The attach name (and the \
            9P2000.u/.L n_uname) must be that user, or the attach is refused with an error \
            naming both. Where the transport vouches for no one (TLS without --client-ca, \
            plain TCP with --insecure) the attach name is taken on trust.

            Run as root, each request is performed with the file-system credentials of \
            the user who attached (fsuid, fsgid and supplementary groups, on the thread \
            that makes the system calls, for that request only): the host's permission \
            checks decide, and files a user creates are theirs. Run as an ordinary user, \
            every request uses this process's credentials, and only this user may attach. \
            --squash USER makes every client USER instead (no attach name is checked). \
            --readonly refuses every change, whoever asks.
            """)

    @OptionGroup var options: ServeOptions
    @Flag(help: "Refuse every change (create, write, remove, wstat) with 'file system read only'.")
    var readonly = false
    @Option(help: ArgumentHelp(
        "Every client acts as USER, whatever it attaches as (run as an ordinary user, USER must be that user).",
        valueName: "user"))
    var squash: String?
    @Option(help: ArgumentHelp(
        "Map TLS client certificate names to local users: lines 'NAME USER' ('#' starts a comment); other names are user names.",
        valueName: "file"))
    var userMap: String?
    @Argument(help: "The directory to export.") var directory: String

    func run() async throws {
        let access: ExportAccess
        do {
            access = try ExportAccess(squash: squash, userMap: userMap)
        } catch {
            fail("\(error)")
        }
        let fs: ExportFileServer
        do {
            fs = try ExportFileServer(root: directory, readOnly: readonly, users: access.users)
        } catch {
            fail("\(error)")
        }
        try await runServer(
            fs, options: options, what: readonly ? "\(directory) (read-only)" : directory,
            attachPolicy: access.policy)
    }
}

struct Ramfs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve an empty in-memory file tree over 9P2000, 9P2000.u and 9P2000.L (like lib9p's ramfs).",
        discussion: """
            Everything written to it lives in memory and is gone when it exits. Without \
            --listen or --mount, one session is served on standard input and output.

            With --mount MNT the tree is served and mounted on MNT by this one process \
            (lib9p's postmountsrv); it stays in the foreground, and unmounting MNT \
            (`ninep unmount MNT`) or SIGINT/SIGTERM tears it down and exits 0:
              ninep ramfs --mount /mnt/ram &
              echo hello > /mnt/ram/greeting
              ninep unmount /mnt/ram
            """)

    @OptionGroup var options: ServeOptions
    @OptionGroup var mounting: MountServeOptions

    func validate() throws {
        if mounting.mount != nil && options.handOver {
            throw ValidationError("--hand-over does not go with --mount: with --mount, --post NAME posts on NS/NAME and holds the entry")
        }
    }

    func run() async throws {
        if mounting.mount != nil {
            try await runServeMount(RamFS(), options: options, mounting: mounting, post: options.post, what: "ramfs")
        } else {
            try await runServer(RamFS(), options: options, what: "ramfs")
        }
    }
}

/// `--mount` for the servers that can mount themselves (`ramfs`, `file2chan`).
struct MountServeOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "Mount the served tree on MNT in this same process (lib9p's postmountsrv); unmounting MNT ends the server.",
        valueName: "mnt"))
    var mount: String?

    @Option(name: .customShort("o"), help: ArgumentHelp("FUSE mount options for --mount (see `ninep mount --help`).", valueName: "opts"))
    var mountOptions: [String] = []
}

/// Serves `fs` with `serveMount` (mount, post, listen in one process) until
/// it is unmounted or SIGINT/SIGTERM, then exits 0. Prints "ninep: serving
/// … on ADDR", "ninep: posted … as NAME" and "ninep: mounted … on MNT" on
/// standard error as each is ready; tests and scripts wait for them.
func runServeMount(
    _ fs: any FileServer, options: ServeOptions, mounting: MountServeOptions, post: String?, what: String,
    postFile: String? = nil, directIO: Bool = false
) async throws {
    bootstrapLogging(debug: options.debug)
    let logger = Logger(label: "ninep")
    if let warning = options.trustWarning { FileHandleStderr.write(warning) }
    var parsed: MountOptions
    do {
        parsed = try MountOptions(parsing: mounting.mountOptions)
    } catch {
        fail("\(error)")
    }
    if directIO { parsed.directIO = true }
    if parsed.fsName == nil { parsed.fsName = "ninep:\(what.split(separator: " ").first ?? "")" }
    var settings = ServeMountOptions(uname: defaultUserName())
    settings.server = FileServerService(fileServer: fs, options: options, what: what, logger: logger).serverOptions()
    settings.mount = parsed
    settings.logger = logger
    settings.poster = RegistryPoster(file: postFile, uname: defaultUserName())
    settings.ready = { ready in
        if let address = ready.listening { FileHandleStderr.write("ninep: serving \(what) on \(address)\n") }
        if let name = ready.posted { FileHandleStderr.write("ninep: posted as \(name) in the srv registry\n") }
        if let mnt = ready.mountpoint { FileHandleStderr.write("ninep: mounted \(what) on \(mnt)\n") }
    }
    let listen: NinePAddress?
    do {
        listen = try options.listen.map { try NinePAddress(listenString: $0) }
    } catch {
        fail("\(error)")
    }
    let service = ServeMountService(
        fileServer: fs, post: post, mountpoint: mounting.mount, listen: listen, settings: settings)
    await runUntilSignalled(service, logger: logger)
}

/// `serveMount` as a Service: graceful shutdown cancels it (unmounting).
struct ServeMountService: Service {
    let fileServer: any FileServer
    let post: String?
    let mountpoint: String?
    let listen: NinePAddress?
    let settings: ServeMountOptions

    func run() async throws {
        try await cancelWhenGracefulShutdown {
            try await serveMount(fileServer, post: post, mountpoint: mountpoint, listen: listen, options: settings)
        }
    }
}
