#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
public import NIOCore
import NIOPosix
public import NinePWire

/// Called on a new channel's event loop after the framing handler is in its
/// pipeline, to add the handlers that speak 9P (a client or a server loop).
public typealias NinePChannelInitializer = @Sendable (any Channel) -> EventLoopFuture<Void>

/// A dialled 9P connection: a `Channel` that reads and writes `Fcall`s.
///
/// The channel's pipeline starts with an `FcallChannelHandler`; for `exec!`
/// addresses the connection also owns the child process, which is reaped
/// (and, if it lingers after the pipes close, terminated) when the channel
/// closes, however it closes.
///
/// Thread safety: immutable; `close()` may be called from anywhere.
public final class NinePConnection: Sendable {
    /// The channel carrying `Fcall`s. Write `Fcall`s to it; read them from a
    /// handler added after the framing handler.
    public let channel: any Channel
    /// The address that was dialled.
    public let address: NinePAddress
    /// For `exec!` addresses, the pid of the `/bin/sh` running the command.
    public var processID: Int32? { child?.pid }

    let child: ChildProcess?

    init(channel: any Channel, address: NinePAddress, child: ChildProcess?) {
        self.channel = channel
        self.address = address
        self.child = child
        if let child {
            // However the channel closes, the child must not outlive it.
            channel.closeFuture.whenComplete { _ in child.terminate() }
        }
    }

    /// Completes when the channel is closed and, for `exec!`, the child reaped.
    public var closeFuture: EventLoopFuture<Void> {
        guard let child else { return channel.closeFuture }
        return channel.closeFuture.flatMap { child.exit.map { _ in } }
    }

    /// For `exec!`: completes with a description of how the child ended
    /// ("exited with status 0"); nil for sockets.
    public var processExit: EventLoopFuture<String>? {
        child?.exit.map { ChildProcess.describe(status: $0) }
    }

    /// Closes the channel and waits for `closeFuture`. Closing twice is harmless.
    public func close() async {
        channel.close(promise: nil)
        try? await closeFuture.get()
    }

    /// Dials a dial string; see `NinePAddress` for the forms.
    ///
    /// - Throws: `NinePAddressError` for a bad string, `NinePTransportError`
    ///   naming the address and the OS reason when the dial fails.
    public static func dial(
        _ dialString: String,
        group: any EventLoopGroup,
        direction: MessageDirection = .replies,
        maxMessageSize: UInt32 = NineP.defaultMessageSize,
        tls: NinePTLSClientSettings? = nil,
        resolver: (any ServiceResolver)? = nil,
        configure: NinePChannelInitializer? = nil
    ) async throws -> NinePConnection {
        try await dial(
            NinePAddress(dialString: dialString), group: group, direction: direction,
            maxMessageSize: maxMessageSize, tls: tls, resolver: resolver, configure: configure)
    }

    /// Connects to `address` and installs `FcallChannelHandler(direction:)`,
    /// then `configure` (which runs before any byte is read).
    ///
    /// TCP connections set TCP_NODELAY: 9P is request/response and small
    /// messages must not wait for Nagle. Unix-domain connections get a
    /// large send buffer (`unixSocketBufferSize`) so that a whole Twrite of
    /// msize fits in it. `exec!` runs `/bin/sh -c command`
    /// with its stdin and stdout as pipes; its stderr is ours.
    ///
    /// `tls!host!port` makes a TLS 1.3 connection checked with `tls`
    /// (default: `NinePTLSClientSettings.environment()`) and returns once
    /// the handshake is over; every dial, a reconnect's too, makes a new
    /// handshake.
    ///
    /// `srv!name` is resolved by `resolver`, else by the process's installed
    /// one (`ServiceResolution`), and the address it gives is dialled; the
    /// connection's `address` stays `srv!name`.
    ///
    /// - Throws: `NinePTransportError` ("cannot dial tcp!127.0.0.1!1:
    ///   connection refused"; "cannot dial srv!x: no service named x is
    ///   posted", the resolver's error as it threw it; "cannot dial
    ///   tls!h!564: the server's key is sha256:…, expected sha256:… (--pin)").
    public static func dial(
        _ address: NinePAddress,
        group: any EventLoopGroup,
        direction: MessageDirection = .replies,
        maxMessageSize: UInt32 = NineP.defaultMessageSize,
        tls: NinePTLSClientSettings? = nil,
        resolver: (any ServiceResolver)? = nil,
        configure: NinePChannelInitializer? = nil
    ) async throws -> NinePConnection {
        let initializer = framingInitializer(direction: direction, maxMessageSize: maxMessageSize, then: configure)
        do {
            switch address {
            case .tcp(let host, let port):
                let channel = try await ClientBootstrap(group: group)
                    .channelOption(.tcpOption(.tcp_nodelay), value: 1)
                    .channelInitializer(initializer)
                    .connect(host: host, port: port).get()
                return NinePConnection(channel: channel, address: address, child: nil)
            case .tls(let host, let port):
                let session = try TLSSession.Client(settings: tls ?? NinePTLSClientSettings.environment(), host: host)
                let loop = group.next()
                let handshake = loop.makePromise(of: Void.self)
                let channel: any Channel
                do {
                    channel = try await ClientBootstrap(group: loop)
                        .channelOption(.tcpOption(.tcp_nodelay), value: 1)
                        .channelInitializer { channel in
                            do {
                                try TLSSession.addClientHandlers(session, to: channel, handshake: handshake)
                            } catch {
                                return channel.eventLoop.makeFailedFuture(error)
                            }
                            return initializer(channel)
                        }
                        .connect(host: host, port: port).get()
                } catch {
                    handshake.fail(error)
                    throw error
                }
                do {
                    try await handshake.futureResult.get()
                } catch {
                    channel.close(promise: nil)
                    throw error
                }
                return NinePConnection(channel: channel, address: address, child: nil)
            case .unix(let path):
                let channel = try await ClientBootstrap(group: group)
                    .channelOption(.socketOption(.so_sndbuf), value: unixSocketBufferSize)
                    .channelInitializer(initializer)
                    .connect(unixDomainSocketPath: path).get()
                return NinePConnection(channel: channel, address: address, child: nil)
            case .exec(let command):
                let loop = group.next()
                let (child, pipes) = try ChildProcess.spawn(command: command, eventLoop: loop)
                let channel: any Channel
                do {
                    channel = try await NinePStandardIO.pipeChannel(
                        input: pipes.fromChild, output: pipes.toChild, group: loop, direction: direction,
                        maxMessageSize: maxMessageSize, configure: configure)
                } catch {
                    closeDescriptor(pipes.fromChild)
                    closeDescriptor(pipes.toChild)
                    child.terminate()
                    throw error
                }
                return NinePConnection(channel: channel, address: address, child: child)
            case .srv(let name):
                let target = try await ServiceResolution.resolve(name, with: resolver, group: group)
                do {
                    let connection = try await dial(
                        target, group: group, direction: direction, maxMessageSize: maxMessageSize, tls: tls,
                        resolver: resolver, configure: configure)
                    return NinePConnection(channel: connection.channel, address: address, child: connection.child)
                } catch let error as NinePTransportError {
                    throw NinePTransportError(.dial, address: address.description, reason: "\(target): \(error.reason)")
                }
            }
        } catch let error as NinePTransportError {
            throw error
        } catch {
            throw NinePTransportError(.dial, address: address.description, reason: osReason(error))
        }
    }
}

/// The channel initializer shared by every kind of connection: the framing
/// handler first, then the caller's handlers. Runs on the channel's event loop.
func framingInitializer(
    direction: MessageDirection, maxMessageSize: UInt32, then configure: NinePChannelInitializer?
) -> NinePChannelInitializer {
    { channel in
        do {
            try channel.pipeline.syncOperations.addHandler(
                FcallChannelHandler(maxMessageSize: maxMessageSize, direction: direction))
        } catch {
            return channel.eventLoop.makeFailedFuture(error)
        }
        return configure?(channel) ?? channel.eventLoop.makeSucceededVoidFuture()
    }
}
