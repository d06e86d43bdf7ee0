public import NIOCore
public import NIOPosix
public import NinePTransport
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Entry points that put a `FileServer` on the wire: on a channel you
/// already have, on a pair of descriptors (stdin/stdout), or on a listening
/// TCP or unix-domain socket.
///
/// ```swift
/// let listener = try await NinePServer.listen(RamFS(), unixPath: "/tmp/ramfs.sock")
/// ```
public enum NinePServer {
    /// Adds the server's handlers (back-pressure, 9P framing, the service
    /// loop) to `channel`'s pipeline and returns the connection.
    ///
    /// Call on the channel's event loop before it reads anything: in a
    /// bootstrap's `channelInitializer` / `childChannelInitializer`.
    public static func configure(
        _ channel: any Channel, fileServer fs: any FileServer, options: ServerOptions = ServerOptions()
    ) throws -> ServerConnection {
        channel.eventLoop.preconditionInEventLoop()
        let handler = NinePServerHandler(fileServer: fs, options: options)
        let framing = FcallChannelHandler(maxMessageSize: options.maxMessageSize, direction: .requests)
        let sync = channel.pipeline.syncOperations
        try sync.addHandler(BackPressureHandler())
        try sync.addHandler(framing)
        try sync.addHandler(handler)
        return ServerConnection(id: handler.connectionID, channel: channel, ended: handler.endFuture)
    }

    /// Serves an already-connected channel (a socketpair end, an accepted
    /// socket). Bytes the channel read before this call are lost, so prefer
    /// `configure` in the bootstrap's initializer when you create the channel.
    public static func serve(
        _ fs: any FileServer, on channel: any Channel, options: ServerOptions = ServerOptions()
    ) async throws -> ServerConnection {
        try await channel.eventLoop.submit {
            try configure(channel, fileServer: fs, options: options)
        }.get()
    }

    /// Serves one session on a pair of descriptors, e.g. 0 and 1 for
    /// stdin/stdout (`ninep … -s`), or one descriptor twice for a socket.
    /// Takes ownership of the descriptors: they are closed when the session
    /// ends (EOF on input ends it). The peer's identity is what
    /// `NinePPeerIdentity.ofInheritedDescriptor` says of the input.
    public static func serve(
        _ fs: any FileServer, inputDescriptor: CInt, outputDescriptor: CInt,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        options: ServerOptions = ServerOptions()
    ) async throws -> ServerConnection {
        let made = Mutex<ServerConnection?>(nil)
        // Who is at the other end (the attach is checked against it).
        let identity = NinePPeerIdentity.ofInheritedDescriptor(inputDescriptor)
        let bootstrap = NIOPipeBootstrap(group: group).channelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                try NinePPeerIdentity.record(identity, in: channel)
                let connection = try configure(channel, fileServer: fs, options: options)
                made.withLock { $0 = connection }
            }
        }
        let what = "descriptors \(inputDescriptor)/\(outputDescriptor)"
        do {
            if inputDescriptor == outputDescriptor {
                _ = try await bootstrap.takingOwnershipOfDescriptor(inputOutput: inputDescriptor).get()
            } else {
                _ = try await bootstrap.takingOwnershipOfDescriptors(input: inputDescriptor, output: outputDescriptor).get()
            }
        } catch {
            throw NinePServerError(what: "cannot serve 9P on \(what)", underlying: error)
        }
        guard let connection = made.withLock({ $0 }) else {
            throw NinePServerError(what: "cannot serve 9P on \(what)", underlying: nil)
        }
        return connection
    }

    /// Listens on a unix-domain socket at `unixPath`. A stale socket file
    /// (nothing accepting on it) is replaced; a live one is refused. The file
    /// is removed again by `close()`.
    public static func listen(
        _ fs: any FileServer, unixPath: String,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        options: ServerOptions = ServerOptions()
    ) async throws -> ServerListener {
        try await listen(fs, on: .unix(path: unixPath), group: group, options: options)
    }

    /// Listens on a `NinePAddress` (`tcp!*!564`, `unix!/path`, `host:0`…)
    /// and serves every connection with `fs`. The listener's `address` is
    /// the bound address as a dial string (with the real port for port 0).
    public static func listen(
        _ fs: any FileServer, on address: NinePAddress,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        options: ServerOptions = ServerOptions()
    ) async throws -> ServerListener {
        try await serving(fs, options: options) { initializer in
            try await NinePListener.listen(
                address, group: group, maxMessageSize: options.maxMessageSize, tls: options.tls, logger: options.logger,
                childInitializer: initializer)
        }
    }

    /// Serves every connection accepted on a listening socket bound by
    /// someone else (systemd's socket activation, see `SocketActivation`).
    /// The listener's `address` is where that socket is bound; closing it
    /// closes the descriptor and leaves a unix socket's file to its owner.
    public static func listen(
        _ fs: any FileServer, adopting socket: InheritedSocket,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        options: ServerOptions = ServerOptions()
    ) async throws -> ServerListener {
        try await serving(fs, options: options) { initializer in
            try await NinePListener.listen(
                adopting: socket, group: group, maxMessageSize: options.maxMessageSize, logger: options.logger,
                childInitializer: initializer)
        }
    }

    /// A ServerListener serving `fs` on every connection the listener
    /// `listen` makes (with the initializer given to it) accepts.
    private static func serving(
        _ fs: any FileServer, options: ServerOptions,
        listen: (@escaping NinePChannelInitializer) async throws -> NinePListener
    ) async throws -> ServerListener {
        let registry = ConnectionRegistry()
        let listener = try await listen { channel in
            let check = options.peerCheck?(channel) ?? channel.eventLoop.makeSucceededFuture(nil)
            return check.flatMapThrowing { refusal in
                if let refusal = admit(channel, refusal: refusal, options: options) {
                    return try channel.pipeline.syncOperations.addHandler(RefusingHandler(reason: refusal))
                }
                registry.add(try configureFramed(channel, fileServer: fs, options: options))
            }
        }
        return ServerListener(channel: listener.channel, registry: registry, address: listener.address)
    }

    /// Serves one session of `fs` in this process over a socket pair and
    /// returns the client's end (its pipeline starts with the 9P framing,
    /// ready for `NinePClient.connect(channel:)`) with the served connection.
    /// lib9p's postmountsrv pipe: what `serveMount` mounts.
    public static func serveInProcess(
        _ fs: any FileServer, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        options: ServerOptions = ServerOptions()
    ) async throws -> (client: any Channel, connection: ServerConnection) {
        let made = Mutex<ServerConnection?>(nil)
        let pair = try await ConnectionPair.make(group: group, maxMessageSize: options.maxMessageSize, configureServer: { channel in
            channel.eventLoop.makeCompletedFuture {
                let connection = try configureFramed(channel, fileServer: fs, options: options)
                made.withLock { $0 = connection }
            }
        })
        guard let connection = made.withLock({ $0 }) else {
            await pair.close()
            throw NinePServerError(what: "cannot serve 9P in this process", underlying: nil)
        }
        return (pair.client, connection)
    }

    /// Counts an accepted channel against the connection caps, unless
    /// `peerCheck` refused it already; returns the reason to refuse it,
    /// logged (at most once a second, with a count of the rest), or nil
    /// with the count released again when the channel closes.
    private static func admit(_ channel: any Channel, refusal: String?, options: ServerOptions) -> String? {
        let shown = NinePServerHandler.describe(channel.remoteAddress)
        let refuse = { (reason: String) -> String in
            if let unlogged = options.limits.refusalToLog() {
                let more = unlogged > 0 ? " (\(unlogged) more refused since the last line)" : ""
                options.logger.notice("refused connection from \(shown): \(reason)\(more)")
            }
            return reason
        }
        if let reason = refusal { return refuse(reason) }
        let peer = peerKey(of: channel.remoteAddress)
        switch options.limits.admit(peer: peer) {
        case .refuse(let reason):
            return refuse(reason)
        case .admit:
            let limits = options.limits
            channel.closeFuture.whenComplete { _ in limits.release(peer: peer) }
            return nil
        }
    }

    /// The peer a connection counts against in `ConnectionAdmission`: the
    /// IP address without the port; `unix` for unix-domain sockets.
    public static func peerKey(of address: SocketAddress?) -> String {
        switch address {
        case .v4, .v6: address!.ipAddress ?? "?"
        case .unixDomainSocket: "unix"
        case nil: "-"
        }
    }

    /// `configure` for a channel whose pipeline already frames 9P (made by
    /// NinePListener or ConnectionPair): back-pressure goes in front of the
    /// framing and the service loop after it. On the channel's event loop.
    private static func configureFramed(
        _ channel: any Channel, fileServer fs: any FileServer, options: ServerOptions
    ) throws -> ServerConnection {
        let sync = channel.pipeline.syncOperations
        try sync.addHandler(BackPressureHandler(), position: .first)
        let handler = NinePServerHandler(fileServer: fs, options: options)
        try sync.addHandler(handler)
        return ServerConnection(id: handler.connectionID, channel: channel, ended: handler.endFuture)
    }
}

/// A failure to start serving, saying where.
public struct NinePServerError: Error, CustomStringConvertible, @unchecked Sendable {
    /// What was attempted, with the address or descriptors.
    public var what: String
    /// The underlying system error, if any.
    public var underlying: (any Error)?

    public var description: String {
        guard let underlying else { return what }
        return "\(what): \(underlying)"
    }
}

/// One served 9P connection.
///
/// Thread safety: immutable; any thread.
public final class ServerConnection: Sendable {
    /// The id in trace lines and log metadata.
    public let id: Int
    /// The connection's channel.
    public let channel: any Channel
    /// Succeeds once the session has ended: every fid destroyed and
    /// `FileServer.end()` called. (Waits for requests the FileServer still
    /// holds, which are cancelled when the connection closes.)
    public let ended: EventLoopFuture<Void>

    init(id: Int, channel: any Channel, ended: EventLoopFuture<Void>) {
        self.id = id
        self.channel = channel
        self.ended = ended
    }

    /// Completes when the channel has closed.
    public var closeFuture: EventLoopFuture<Void> { channel.closeFuture }

    /// How many fids the client holds on this connection now: a leak shows
    /// here. Throws if the connection has closed.
    public func liveFidCount() async throws -> Int {
        let channel = self.channel
        return try await channel.eventLoop.submit {
            try channel.pipeline.syncOperations.handler(type: NinePServerHandler.self).liveFidCount
        }.get()
    }

    /// What the transport vouches for about the client: the common name of
    /// its TLS certificate (with `--client-ca`), or the credentials of a
    /// unix-socket peer; nil otherwise or once the connection has closed.
    public func peerIdentity() async -> NinePPeerIdentity? {
        let channel = self.channel
        return try? await channel.eventLoop.submit { NinePPeerIdentity.of(channel) }.get()
    }

    /// Closes the connection (a no-op if it is already closed).
    public func close() async {
        try? await channel.close()
    }
}

/// The live connections of a listener. Thread safety: behind a lock.
final class ConnectionRegistry: Sendable {
    private struct State {
        var connections: [Int: ServerConnection] = [:]
        var closed = false
    }
    private let state = Mutex(State())

    func add(_ connection: ServerConnection) {
        let accepted = state.withLock { s -> Bool in
            guard !s.closed else { return false }
            s.connections[connection.id] = connection
            return true
        }
        guard accepted else {
            connection.channel.close(promise: nil)
            return
        }
        connection.channel.closeFuture.whenComplete { [self] _ in
            state.withLock { _ = $0.connections.removeValue(forKey: connection.id) }
        }
    }

    var count: Int { state.withLock { $0.connections.count } }

    var all: [ServerConnection] { state.withLock { Array($0.connections.values) } }

    /// Refuses further connections and returns the live ones.
    func closeAll() -> [ServerConnection] {
        state.withLock { s in
            s.closed = true
            return Array(s.connections.values)
        }
    }
}

/// A listening socket serving 9P.
///
/// Thread safety: any thread.
public final class ServerListener: Sendable {
    /// The listening channel.
    public let channel: any Channel
    private let registry: ConnectionRegistry

    /// The bound address as a dial string (with the real port for port 0).
    public let address: NinePAddress

    init(channel: any Channel, registry: ConnectionRegistry, address: NinePAddress) {
        self.channel = channel
        self.registry = registry
        self.address = address
    }

    /// The bound address (with the port the system chose for port 0).
    public var localAddress: SocketAddress? { channel.localAddress }

    /// How many connections are being served now.
    public var connectionCount: Int { registry.count }

    /// The connections being served now.
    public var connections: [ServerConnection] { registry.all }

    /// Stops listening (a unix socket's file goes with it, see
    /// `NinePListener`) and closes every connection. Safe to call more than once.
    public func close() async {
        try? await channel.close()
        try? await channel.closeFuture.get()
        for connection in registry.closeAll() {
            await connection.close()
        }
    }
}
