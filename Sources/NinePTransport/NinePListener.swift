#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
public import NIOCore
import NIOPosix
public import NinePWire
public import Logging

/// A listening TCP or Unix-domain socket whose accepted connections carry 9P.
///
/// Each accepted channel gets an `FcallChannelHandler(direction: .requests)`
/// and then the `childInitializer` given to `listen`. Accepted TCP sockets
/// set TCP_NODELAY; accepted unix-domain sockets get a large send buffer
/// (`unixSocketBufferSize`) so that a whole Rread of msize fits in it.
///
/// A Unix socket file left behind by a dead server is removed before binding;
/// one that a live server still accepts on is not ("address in use"). The
/// file is unlinked when the listener closes, if it is still ours.
///
/// When accept(2) fails for want of descriptors, the listener backs off and
/// logs (`ListenerBackoffHandler`) instead of spinning.
///
/// Thread safety: immutable; `close()` may be called from anywhere.
public final class NinePListener: Sendable {
    /// The server channel (accepting connections).
    public let channel: any Channel
    /// The address as asked for (port 0 stays 0 here).
    public let requestedAddress: NinePAddress
    /// The bound socket address: for TCP it carries the real port.
    public let localAddress: SocketAddress
    /// The bound address as a dial string a client can use: `tcp!127.0.0.1!40123`.
    public let address: NinePAddress

    init(channel: any Channel, requestedAddress: NinePAddress, localAddress: SocketAddress) {
        self.channel = channel
        self.requestedAddress = requestedAddress
        self.localAddress = localAddress
        switch requestedAddress {
        case .tcp(let host, _):
            self.address = .tcp(host: localAddress.ipAddress ?? host, port: localAddress.port ?? 0)
        case .tls(let host, _):
            self.address = .tls(host: localAddress.ipAddress ?? host, port: localAddress.port ?? 0)
        default:
            self.address = requestedAddress
        }
    }

    /// Completes when the listener has stopped accepting (and its socket file is gone).
    public var closeFuture: EventLoopFuture<Void> { channel.closeFuture }

    /// Stops accepting. Connections already accepted stay open. Closing twice is harmless.
    public func close() async {
        channel.close(promise: nil)
        try? await channel.closeFuture.get()
    }

    /// Listens on a listen string (`tcp!*!564`, `unix!/tmp/ns/sock`, `:0`…).
    public static func listen(
        _ listenString: String,
        group: any EventLoopGroup,
        maxMessageSize: UInt32 = NineP.defaultMessageSize,
        tls: NinePTLSServerSettings? = nil,
        logger: Logger = Logger(label: "ninep.listener"),
        childInitializer: @escaping NinePChannelInitializer
    ) async throws -> NinePListener {
        try await listen(
            NinePAddress(listenString: listenString), group: group,
            maxMessageSize: maxMessageSize, tls: tls, logger: logger, childInitializer: childInitializer)
    }

    /// Binds `address` and accepts connections until closed.
    ///
    /// - Parameters:
    ///   - maxMessageSize: the framing limit of each connection until its
    ///     server negotiates msize (and calls `setMaxMessageSize`).
    ///   - tls: for `tls!` addresses, the certificate to show and whom to let
    ///     in (default: `NinePTLSServerSettings.environment()`); the files
    ///     are read once, here. Each accepted connection makes its TLS
    ///     handshake before any 9P; one that fails is logged and closed.
    ///   - logger: where accept failures are logged.
    ///   - childInitializer: runs on each accepted channel's event loop, after
    ///     the framing handler is installed.
    /// - Throws: `NinePTransportError` ("cannot listen tcp!*!564: address
    ///   already in use"); `exec!` cannot be listened on.
    public static func listen(
        _ address: NinePAddress,
        group: any EventLoopGroup,
        maxMessageSize: UInt32 = NineP.defaultMessageSize,
        tls: NinePTLSServerSettings? = nil,
        logger: Logger = Logger(label: "ninep.listener"),
        childInitializer: @escaping NinePChannelInitializer
    ) async throws -> NinePListener {
        do {
            let bootstrap = try bootstrap(
                for: address, group: group, maxMessageSize: maxMessageSize, tls: tls, logger: logger,
                childInitializer: childInitializer)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .serverChannelOption(.backlog, value: 256)
            switch address {
            case .tcp(let host, let port):
                let channel = try await bootstrap.bind(host: host, port: port).get()
                return try NinePListener(channel: channel, requestedAddress: address, localAddress: bound(channel))
            case .tls(let host, let port):
                let channel = try await bootstrap.bind(host: host, port: port).get()
                return try NinePListener(channel: channel, requestedAddress: address, localAddress: bound(channel))
            case .unix(let path):
                try removeStaleSocket(at: path, address: address)
                let channel = try await bootstrap.bind(unixDomainSocketPath: path).get()
                let identity = fileIdentity(path)
                channel.closeFuture.whenComplete { _ in
                    // Unlink only the file we bound: another server may have replaced it.
                    if let identity, fileIdentity(path) == identity { unlink(path) }
                }
                return try NinePListener(channel: channel, requestedAddress: address, localAddress: bound(channel))
            case .exec:
                throw NinePTransportError(.listen, address: address.description, reason: "exec! addresses can only be dialled")
            case .srv:
                throw NinePTransportError(
                    .listen, address: address.description,
                    reason: "srv! names can only be dialled; listen on an address and post it (--post NAME)")
            }
        } catch let error as NinePTransportError {
            throw error
        } catch {
            throw NinePTransportError(.listen, address: address.description, reason: osReason(error))
        }
    }

    /// Accepts connections on a listening socket bound by someone else
    /// (systemd's socket activation, see `SocketActivation`), set up as
    /// `listen` sets up its own. The listener owns the descriptor from now
    /// on; a unix socket's file belongs to whoever bound it and is left in place.
    ///
    /// - Throws: `NinePTransportError` when the descriptor cannot be served.
    public static func listen(
        adopting socket: InheritedSocket,
        group: any EventLoopGroup,
        maxMessageSize: UInt32 = NineP.defaultMessageSize,
        logger: Logger = Logger(label: "ninep.listener"),
        childInitializer: @escaping NinePChannelInitializer
    ) async throws -> NinePListener {
        do {
            let channel = try await bootstrap(
                for: socket.address, group: group, maxMessageSize: maxMessageSize, logger: logger,
                childInitializer: childInitializer
            ).withBoundSocket(socket.descriptor).get()
            return try NinePListener(channel: channel, requestedAddress: socket.address, localAddress: bound(channel))
        } catch {
            throw NinePTransportError(.listen, address: "\(socket.address) (descriptor \(socket.descriptor))", reason: osReason(error))
        }
    }

    /// A server bootstrap whose accepted connections frame 9P, with the
    /// socket options their kind wants: TCP_NODELAY for TCP, a send buffer
    /// that holds a whole message for unix sockets. A unix peer's
    /// credentials are kept for `NinePPeerIdentity.of`; a `tls!` connection
    /// makes its handshake (with `tls`, default
    /// `NinePTLSServerSettings.environment()`, read here) before any 9P.
    private static func bootstrap(
        for address: NinePAddress, group: any EventLoopGroup, maxMessageSize: UInt32,
        tls: NinePTLSServerSettings? = nil, logger: Logger, childInitializer: @escaping NinePChannelInitializer
    ) throws -> ServerBootstrap {
        let shown = address.description
        let framing = framingInitializer(direction: .requests, maxMessageSize: maxMessageSize, then: childInitializer)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ListenerBackoffHandler(logger: logger, address: shown))
                }
            }
            .childChannelOption(.recvAllocator, value: receiveAllocator(maxMessageSize: maxMessageSize))
        switch address {
        case .tcp:
            return bootstrap.childChannelOption(.tcpOption(.tcp_nodelay), value: 1).childChannelInitializer { channel in
                // A loopback peer is a user of this host: NinePPeerIdentity.of(channel).
                PeerIdentityHandler.addLoopbackOwner(to: channel).flatMap { framing(channel) }
            }
        case .tls:
            guard let settings = tls ?? NinePTLSServerSettings.environment() else {
                throw NinePTransportError(
                    .listen, address: shown,
                    reason: "TLS needs the server's certificate and key: give --cert FILE --key FILE (or set NINEP_CERT and NINEP_KEY)")
            }
            let session = try TLSSession.Server(settings: settings)
            let gated = framingInitializer(direction: .requests, maxMessageSize: maxMessageSize) { channel in
                do {
                    try channel.pipeline.syncOperations.addHandler(TLSRefusalGate())
                } catch {
                    return channel.eventLoop.makeFailedFuture(error)
                }
                return childInitializer(channel)
            }
            return bootstrap.childChannelOption(.tcpOption(.tcp_nodelay), value: 1).childChannelInitializer { channel in
                do {
                    try TLSSession.addServerHandlers(session, to: channel)
                } catch {
                    return channel.eventLoop.makeFailedFuture(error)
                }
                return gated(channel)
            }
        case .unix:
            return bootstrap.childChannelOption(.socketOption(.so_sndbuf), value: unixSocketBufferSize).childChannelInitializer { channel in
                // Who connected, as the kernel saw it: NinePPeerIdentity.of(channel).
                PeerIdentityHandler.addUnixCredentials(to: channel).flatMap { framing(channel) }
            }
        case .exec, .srv:
            return bootstrap.childChannelInitializer(framing)
        }
    }

    private static func bound(_ channel: any Channel) throws -> SocketAddress {
        guard let local = channel.localAddress else {
            channel.close(promise: nil)
            throw ChannelError.ioOnClosedChannel
        }
        return local
    }

    /// Removes a socket file at `path` that nothing accepts on; throws if a
    /// server is listening there or the file is not a socket.
    public static func removeStaleSocket(atPath path: String) throws {
        try removeStaleSocket(at: path, address: .unix(path: path))
    }

    /// Removes a socket file that nothing accepts on; refuses to touch a live
    /// socket or a file that is not a socket.
    static func removeStaleSocket(at path: String, address: NinePAddress) throws {
        let fail = { (reason: String) in NinePTransportError(.listen, address: address.description, reason: reason) }
        var info = stat()
        guard lstat(path, &info) == 0 else {
            if errno == ENOENT { return }
            throw fail(errnoText(errno))
        }
        guard info.st_mode & S_IFMT == S_IFSOCK else { throw fail("'\(path)' exists and is not a socket") }
        let probe = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard probe >= 0 else { throw fail(errnoText(errno)) }
        defer { closeDescriptor(probe) }
        let target = try SocketAddress(unixDomainSocketPath: path)
        let rc = target.withSockAddr { connect(probe, $0, socklen_t($1)) }
        let code = errno
        if rc == 0 || code == EAGAIN || code == EINPROGRESS {
            throw fail("address already in use: a server is listening on '\(path)'")
        }
        guard code == ECONNREFUSED else { throw fail(errnoText(code)) }
        guard unlink(path) == 0 || errno == ENOENT else { throw fail("cannot remove stale socket '\(path)': \(errnoText(errno))") }
    }
}

/// The (device, inode) pair naming a file, or nil if it does not exist.
private func fileIdentity(_ path: String) -> [UInt64]? {
    var info = stat()
    guard lstat(path, &info) == 0 else { return nil }
    return [UInt64(info.st_dev), UInt64(info.st_ino)]
}

/// SO_SNDBUF for unix-domain stream sockets. On them the sender's buffer
/// bounds what is queued for the reader (the default, about 208 KiB, holds a
/// fifth of a 1 MiB Rread or Twrite), so a large message costs several
/// wake-ups of both ends. The kernel caps this at net.core.wmem_max. TCP is
/// left to the kernel's autotuning, which setting SO_SNDBUF would disable.
let unixSocketBufferSize: SocketOptionValue = 4 << 20

/// The receive buffers of a 9P connection: small while messages are (a
/// Tstat, an Rwalk), growing to a whole message of `maxMessageSize` when
/// reads fill them. NIO's default stops at 64 KiB, so a 1 MiB Twrite or
/// Rread would arrive in sixteen reads and wake-ups or more, and be copied
/// together piece by piece.
func receiveAllocator(maxMessageSize: UInt32) -> AdaptiveRecvByteBufferAllocator {
    AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 2048, maximum: max(65536, Int(maxMessageSize) + 4096))
}
