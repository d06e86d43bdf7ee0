public import Logging
public import NIOCore
public import NinePTransport
public import NinePWire
import Synchronization

/// A multiplexed 9P2000 client over one connection.
///
/// Many requests may be in flight at once, one per tag (0…0xFFFE by
/// default); when every tag is taken, new requests wait for one rather than
/// fail. Two layers:
///
/// - the low-level path, `send(_:completion:)` / `cancel(_:)`: no Task per
///   call, the completion runs on the connection's event loop. The FUSE
///   bridge and the async API are built on it.
/// - the async API: `attach`, `walk`, `open`, `read`, `write`, `readdir`…,
///   which tracks fids, splits I/O by iounit and msize, and throws
///   `NinePClientError` naming the operation, the path and the server.
///
/// Cancellation (Swift Task cancellation, or `cancel(_:)`) of a request in
/// flight sends Tflush(oldtag). If the server's reply to the original request
/// arrives before the Rflush, the request is **not** cancelled: its reply is
/// delivered, because the operation happened (flush(5)); only if the Rflush
/// comes first does the call fail with `CancellationError`. Either way the old
/// tag is reused only after the Rflush. Clunk and remove are never flushed:
/// they run to completion so the fid table stays true.
///
/// Fids handed out by `attach`, `walk` and the path helpers are reused only
/// after the server has released them (Rclunk, or any reply to Tremove).
///
/// A lost connection fails every pending call with
/// `NinePClientError.Kind.connectionLost`, and every later one too.
///
/// Thread safety: every method may be called from any thread or task.
public final class NinePClient: Sendable {
    /// How to talk to the server.
    public struct Configuration: Sendable {
        /// The msize offered in Tversion: 1 MiB of data plus IOHDRSZ by default.
        public var messageSize: UInt32
        /// The version offered in Tversion.
        public var version: String
        /// How many requests may be in flight (tags in use), at most 65535.
        public var maxOutstandingRequests: Int
        /// If set, every T- and R-message is logged to it at `.debug`, one
        /// line each, like lib9p's chatty9p (the CLI's `-D`).
        public var trace: Logger?
        /// The server's name in error messages; defaults to the dialled address.
        public var serverName: String?
        /// nil: a lost connection fails every pending and later request.
        /// Set: `connect(to:)` survives the server going away and coming back
        /// (`ReconnectStateMachine`): requests wait, fids are restored under
        /// their own numbers, idempotent requests in flight are replayed and
        /// the others fail with `ReconnectError.mayHaveHappened`. Ignored by
        /// `connect(channel:)`, which has nothing to redial.
        public var reconnect: ReconnectPolicy?
        /// With `reconnect`: how often to probe an idle connection (a Tflush
        /// of a tag nobody uses, answered Rflush by any server and changing
        /// nothing); no answer by the next probe counts as a lost connection.
        /// nil (the default): no probe; a dead peer is noticed by the OS.
        public var keepAliveInterval: Duration?
        /// With `reconnect`: where disconnects, redials, reconnects and
        /// give-ups are logged at `.notice`.
        public var logger: Logger
        /// With `reconnect`: called on the event loop for each fid whose file
        /// changed (qid.vers) while the server was away, so caches can drop it.
        public var onInvalidate: (@Sendable (Fid) -> Void)?
        /// For `tls!` addresses: how to check the server and which
        /// certificate to show, at the first dial and every redial (nil:
        /// `NinePTLSClientSettings.environment()`).
        public var tls: NinePTLSClientSettings?
        /// How long `connect(to:attachingAs:aname:group:configuration:)` may
        /// take to dial (a TLS handshake included), negotiate the version
        /// and attach; nil: no limit. The first connection only:
        /// reconnecting has its own timers.
        public var connectTimeout: Duration?

        public init(
            messageSize: UInt32 = NineP.defaultMessageSize,
            version: String = NineP.version2000,
            maxOutstandingRequests: Int = 0xFFFF,
            trace: Logger? = nil,
            serverName: String? = nil,
            reconnect: ReconnectPolicy? = nil,
            keepAliveInterval: Duration? = nil,
            logger: Logger = Logger(label: "ninep.client"),
            onInvalidate: (@Sendable (Fid) -> Void)? = nil,
            tls: NinePTLSClientSettings? = nil,
            connectTimeout: Duration? = nil
        ) {
            self.connectTimeout = connectTimeout
            self.messageSize = messageSize
            self.version = version
            self.maxOutstandingRequests = maxOutstandingRequests
            self.trace = trace
            self.serverName = serverName
            self.reconnect = reconnect
            self.keepAliveInterval = keepAliveInterval
            self.logger = logger
            self.onInvalidate = onInvalidate
            self.tls = tls
        }
    }

    let transport: any FcallTransport
    let connection: NinePConnection?
    /// With reconnecting on: who hears of files changed while away.
    let fileChanges: FileChangeListeners?
    let fids = FidTable()
    private let nextRequestID = Atomic<UInt64>(1)
    private let attachedRoot = Mutex<Fid?>(nil)

    /// The server, as named in errors ("tcp!localhost!564").
    public let server: String
    /// The negotiated msize: no message in either direction is larger.
    public let msize: UInt32
    /// The negotiated protocol version ("9P2000").
    public let version: String

    /// The event loop on which low-level completions run.
    public var eventLoop: any EventLoop { transport.eventLoop }

    /// The first fid returned by `attach`: where path helpers start.
    public var root: Fid? { attachedRoot.withLock { $0 } }

    init(
        transport: any FcallTransport, connection: NinePConnection?, server: String, msize: UInt32, version: String,
        fileChanges: FileChangeListeners? = nil
    ) {
        self.transport = transport
        self.connection = connection
        self.fileChanges = fileChanges
        self.server = server
        self.msize = msize
        self.version = version
    }

    // MARK: Connecting

    /// Dials `dialString` (see `NinePAddress`) and negotiates the version.
    public static func connect(
        to dialString: String, group: any EventLoopGroup, configuration: Configuration = Configuration()
    ) async throws -> NinePClient {
        try await connect(to: NinePAddress(dialString: dialString), group: group, configuration: configuration)
    }

    /// Dials `address` and negotiates the version. The client owns the
    /// connection (and, for `exec!`, the child process) and closes it in `close()`.
    public static func connect(
        to address: NinePAddress, group: any EventLoopGroup, configuration: Configuration = Configuration()
    ) async throws -> NinePClient {
        try await connect(to: address, group: group, configuration: configuration, deadline: nil)
    }

    /// `connect(to:group:configuration:)`, telling `deadline` of the
    /// channel as soon as it opens (so that an expiry during a TLS
    /// handshake closes it) and of the connection once dialled; a `srv!`
    /// address is resolved by `resolver` when given (else by the installed one).
    static func connect(
        to address: NinePAddress, group: any EventLoopGroup, configuration: Configuration, deadline: ConnectDeadline?,
        resolver: (any ServiceResolver)? = nil
    ) async throws -> NinePClient {
        var opened: NinePChannelInitializer?
        if let deadline {
            opened = { channel in
                deadline.opened(channel)
                return channel.eventLoop.makeSucceededVoidFuture()
            }
        }
        let connection = try await NinePConnection.dial(
            address, group: group, maxMessageSize: configuration.messageSize, tls: configuration.tls, resolver: resolver,
            configure: opened)
        deadline?.dialed(connection)
        var configuration = configuration
        configuration.serverName = configuration.serverName ?? address.description
        if let policy = configuration.reconnect {
            return try await startReconnecting(on: connection, policy: policy, configuration: configuration, deadline: deadline)
        }
        do {
            return try await start(on: connection.channel, connection: connection, configuration: configuration, deadline: deadline)
        } catch var error as NinePClientError {
            await connection.close()
            // An exec! command that died says more than "connection lost".
            if case .connectionLost(let reason) = error.kind, let exit = try? await connection.processExit?.get() {
                error.kind = .connectionLost(reason: "\(reason); the command \(exit)")
            }
            throw error
        } catch {
            await connection.close()
            throw error
        }
    }

    /// The client over a `ReconnectExecutor` that has adopted `connection`.
    private static func startReconnecting(
        on connection: NinePConnection, policy: ReconnectPolicy, configuration: Configuration, deadline: ConnectDeadline?
    ) async throws -> NinePClient {
        let server = configuration.serverName ?? connection.address.description
        let loop = connection.channel.eventLoop
        let transport: ReconnectingFcallTransport
        let fileChanges: FileChangeListeners
        do {
            (transport, fileChanges) = try await loop.submit {
                let executor = ReconnectExecutor(
                    connection: connection, policy: policy, configuration: configuration, server: server,
                    logger: configuration.logger)
                let bound = NIOLoopBound(executor, eventLoop: loop)
                try executor.adoptFirstConnection(bound)
                return (ReconnectingFcallTransport(executor: bound, loop: loop), executor.fileChanges)
            }.get()
        } catch {
            await connection.close()
            throw error
        }
        do {
            let (msize, version) = try await negotiateVersion(
                transport, configuration: configuration, server: server, deadline: deadline)
            return NinePClient(
                transport: transport, connection: nil, server: server, msize: msize, version: version,
                fileChanges: fileChanges)
        } catch {
            try? await transport.close().get()
            throw error
        }
    }

    /// Speaks 9P on `channel`, whose pipeline must start with an
    /// `FcallChannelHandler` (as every `NinePTransport` channel does), and
    /// negotiates the version. The client owns the channel from now on:
    /// it closes it in `close()` or if negotiation fails.
    public static func connect(channel: any Channel, configuration: Configuration = Configuration()) async throws -> NinePClient {
        do {
            return try await start(on: channel, connection: nil, configuration: configuration)
        } catch {
            try? await channel.close()
            throw error
        }
    }

    private static func start(
        on channel: any Channel, connection: NinePConnection?, configuration: Configuration, deadline: ConnectDeadline? = nil
    ) async throws -> NinePClient {
        let server = configuration.serverName ?? channel.remoteAddress.map { "\($0)" } ?? "9P server"
        do {
            return try await negotiate(
                on: channel, connection: connection, configuration: configuration, server: server, deadline: deadline)
        } catch let error as NinePClientError {
            throw error
        } catch where !channel.isActive {
            // The peer hung up while the client was being put in place (a
            // closed channel, or its handlers already gone).
            throw NinePClientError(.connectionLost(reason: "the server closed the connection"), operation: "version", server: server)
        }
    }

    private static func negotiate(
        on channel: any Channel, connection: NinePConnection?, configuration: Configuration, server: String,
        deadline: ConnectDeadline?
    ) async throws -> NinePClient {
        let handler = try await channel.eventLoop.submit {
            let handler = ClientChannelHandler(
                limit: configuration.maxOutstandingRequests, messageSize: configuration.messageSize,
                server: server, trace: configuration.trace)
            try channel.pipeline.syncOperations.addHandler(handler)
            return NIOLoopBound(handler, eventLoop: channel.eventLoop)
        }.get()
        let transport = ChannelFcallTransport(channel: channel, handler: handler)
        let (msize, version) = try await negotiateVersion(
            transport, configuration: configuration, server: server, deadline: deadline)
        return NinePClient(transport: transport, connection: connection, server: server, msize: msize, version: version)
    }

    /// The smallest msize accepted, as Plan 9's devmnt: room for a stat.
    static let minimumMessageSize: UInt32 = 256

    /// version(5): "The client suggests a maximum message size, msize ... the
    /// server responds with its own maximum, msize, which must be less than or
    /// equal to the client's value."
    ///
    /// `deadline` hears of the answer on the event loop, as it arrives: so
    /// that it names the request awaited next even when the task that
    /// resumes here is slow to run (a busy machine).
    static func negotiateVersion(
        _ transport: any FcallTransport, configuration: Configuration, server: String, deadline: ConnectDeadline? = nil
    ) async throws -> (UInt32, String) {
        let offered = configuration.messageSize
        let fail = { (kind: NinePClientError.Kind) in NinePClientError(kind, operation: "version", server: server) }
        // Said of the server itself: "tcp!h!564: refused version 9P2000: …".
        let refused = { (answer: String) in
            NinePClientError(.versionRefused(offered: configuration.version, answer: answer), server: server)
        }
        guard offered >= minimumMessageSize else { throw fail(.badVersion("msize \(offered) is below \(minimumMessageSize)")) }
        try await transport.setMessageSize(offered).get()
        let reply: Message
        do {
            reply = try await withCheckedThrowingContinuation { continuation in
                transport.start(.tversion(Tversion(msize: offered, version: configuration.version)), id: 0, lazily: false) {
                    if case .success(.rversion) = $0 { deadline?.advance(to: "Tattach") }
                    continuation.resume(with: $0)
                }
            }
        } catch let error as NinePError {
            throw refused("Rerror '\(error.ename)'")
        } catch var error as NinePClientError {
            if let errno = error.linuxErrno {
                throw refused(
                    "Rlerror \(NinePClientError.Kind.errnoText(errno)); Rlerror is 9P2000.L's error reply, "
                        + "so this is probably a 9P2000.L-only server (such as diod), and ninep speaks 9P2000")
            }
            error.operation = "version"
            throw error
        }
        guard case .rversion(let r) = reply else { throw fail(.protocolError("Tversion answered by \(reply.type.name)")) }
        if r.version == ProtocolVersion.unknown { throw refused("it answered \"unknown\"") }
        // The server may strip a ".suffix" from the version offered.
        guard r.version == configuration.version || configuration.version.hasPrefix(r.version + ".") else {
            throw fail(.badVersion("server answered version '\(r.version)' to '\(configuration.version)'"))
        }
        guard r.msize <= offered else { throw fail(.badVersion("server raised msize from \(offered) to \(r.msize)")) }
        guard r.msize >= minimumMessageSize else {
            throw fail(.badVersion("server's msize \(r.msize) is below \(minimumMessageSize)"))
        }
        try await transport.setMessageSize(r.msize).get()
        return (r.msize, r.version)
    }

    /// Closes the connection (and reaps an `exec!` child). Pending calls fail
    /// with `.connectionLost`. Closing twice is harmless.
    public func close() async {
        try? await transport.close().get()
        await connection?.close()
    }

    // MARK: Low-level path

    /// Sends one T-message (any but Tversion and Tflush, which fail) and calls `completion`
    /// on the event loop with the R-message, or with `NinePError` (Rerror,
    /// verbatim), `NinePClientError` or `CancellationError`.
    ///
    /// No Task and no continuation: one closure per call. The client does
    /// not track fids on this path: allocate them with `allocateFid()` and
    /// release them with `releaseFid(_:)` once the server has let go of them.
    ///
    /// With `lazily`, the request may wait up to
    /// `FcallChannelHandler.FlushLazily.delay` to leave in one write with
    /// the next ones, so that it costs the server no wake-up of its own:
    /// for requests nobody waits on, such as the Tclunk of a closed file.
    @discardableResult
    public func send(_ message: Message, lazily: Bool = false, completion: @escaping NinePReplyHandler) -> RequestHandle {
        let id = nextRequestID.wrappingAdd(1, ordering: .relaxed).oldValue
        switch message {
        case .tversion, .tflush:
            // The client owns these: version once at connect, flush through `cancel`.
            let error = NinePClientError(.protocolError("\(message.type.name) cannot be sent directly"), server: server)
            eventLoop.execute { completion(.failure(error)) }
        default:
            transport.start(message, id: id, lazily: lazily, completion: completion)
        }
        return RequestHandle(id: id)
    }

    /// Cancels a request made with `send`: unsent, it completes with
    /// `CancellationError`; in flight, Tflush is sent and the completion
    /// receives either the reply (if it beat the Rflush) or `CancellationError`.
    public func cancel(_ handle: RequestHandle) {
        transport.cancel(id: handle.id)
    }

    /// `send` as an async call, cancelled with its Task (see the type's
    /// comment for what cancellation means). Rerror throws `NinePError`.
    public func call(_ message: Message) async throws -> Message {
        try Task.checkCancellation()
        let pending = PendingCall()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let started = pending.start {
                    send(message) { continuation.resume(with: $0) }
                }
                if !started { continuation.resume(throwing: CancellationError()) }
            }
        } onCancel: {
            pending.cancel { cancel($0) }
        }
    }

    /// `send` as an async call that is never flushed: for Tclunk and
    /// Tremove, whose outcome the fid table must know.
    func callToCompletion(_ message: Message) async throws -> Message {
        try await withCheckedThrowingContinuation { continuation in
            send(message) { continuation.resume(with: $0) }
        }
    }

    /// A fid number for the low-level path, unused on this connection.
    public func allocateFid() throws -> Fid {
        try fids.allocate()
    }

    /// Returns a fid from `allocateFid()` to the pool: call it only once
    /// the server no longer knows the fid (after Rclunk, a reply to Tremove,
    /// or a failed Twalk/Tattach that would have created it).
    public func releaseFid(_ fid: Fid) {
        fids.release(fid)
    }

    /// Calls `listener` on the event loop for each fid whose file changed
    /// (qid.vers moved, not by this client's own writes) while a
    /// reconnecting client was away, with the file's qid now: so that
    /// caches of it can be dropped. Never called without `Configuration.reconnect`.
    /// The listener must not block: it runs on the event loop.
    public func onFileChanged(_ listener: @escaping @Sendable (Fid, Qid) -> Void) {
        fileChanges?.add(listener)
    }

    /// Calls `listener` on the event loop each time a reconnecting client
    /// loses its connection, before it redials: whatever was learnt of the
    /// server may no longer hold when it answers again. Never called
    /// without `Configuration.reconnect`. The listener must not block.
    public func onConnectionLost(_ listener: @escaping @Sendable () -> Void) {
        fileChanges?.addConnectionLost(listener)
    }

    // MARK: Accessors

    /// How many requests a reconnecting client holds until its connection
    /// is back (nil without `Configuration.reconnect`): for tests that must
    /// know a request was made while the server was away.
    func blockedRequestCount() async -> Int? {
        guard let reconnecting = transport as? ReconnectingFcallTransport else { return nil }
        return try? await reconnecting.blockedRequestCount().get()
    }

    /// The iounit the server gave when `fid` was opened (0: none given).
    public func iounit(of fid: Fid) -> UInt32 {
        fids.info(fid)?.iounit ?? 0
    }

    /// The qid of a fid this client handed out.
    public func qid(of fid: Fid) -> Qid? {
        fids.info(fid)?.qid
    }

    /// The path by which a fid was reached ("/a/b"), as used in errors.
    public func path(of fid: Fid) -> String? {
        fids.info(fid)?.path
    }

    /// The largest count one Tread or Twrite on `fid` may carry: the
    /// iounit if the server set one, and never more than msize − IOHDRSZ.
    /// (With reconnecting on, the msize may fall when a server comes back
    /// with a smaller one; the limit follows it.)
    public func maximumIOCount(for fid: Fid) -> Int {
        let limit = Int(min(msize, transport.messageSizeInForce ?? msize)) - Int(NineP.ioHeaderSize)
        if let unit = fids.info(fid)?.iounit, unit > 0 { return min(Int(unit), limit) }
        return limit
    }

    func setRoot(_ fid: Fid) {
        attachedRoot.withLock { root in
            if root == nil { root = fid }
        }
    }

    func clearRoot(_ fid: Fid) {
        attachedRoot.withLock { root in
            if root == fid { root = nil }
        }
    }
}

/// Orders an async call's start and its cancellation: a cancel that comes
/// first stops the send; one that comes after reaches the transport after it.
///
/// Deadlocks: `start` holds the mutex while `send` runs, and on the event
/// loop `send` may complete at once (resuming the continuation); nothing it
/// runs takes this mutex again. `cancel` calls the transport outside it.
private final class PendingCall: Sendable {
    private enum State {
        case idle
        case started(RequestHandle)
        case cancelled
    }

    private let state = Mutex(State.idle)

    /// Runs `send` unless already cancelled; false if cancelled.
    func start(_ send: () -> RequestHandle) -> Bool {
        state.withLock { state in
            guard case .idle = state else { return false }
            state = .started(send())
            return true
        }
    }

    func cancel(_ body: (RequestHandle) -> Void) {
        let handle: RequestHandle? = state.withLock { state in
            switch state {
            case .started(let handle): return handle
            case .idle: state = .cancelled
            case .cancelled: break
            }
            return nil
        }
        if let handle { body(handle) }
    }
}
