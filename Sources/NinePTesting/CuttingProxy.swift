public import NIOCore
import NIOPosix
public import NinePWire
import Synchronization

/// A byte forwarder between 9P clients and a server that cuts connections on
/// demand, for reconnect tests: `cut()` drops every connection through it
/// (as a server crash or a network reset would), and `cutAfter(_:)` drops
/// the next connection that carries a given T-message right after handing
/// that message to the server, whose reply is then thrown away (the client
/// never learns whether it happened).
///
/// It listens on a unix socket (`address` is its dial string) and dials the
/// upstream `SocketAddress` afresh for every client connection; when the
/// upstream is down the client's connection is closed at once.
///
/// Thread safety: every method may be called from any thread. The handlers
/// run on the accepted channel's event loop; `Mutex` guards the shared state.
public final class CuttingProxy: Sendable {
    /// "unix!/tmp/…/proxy.sock": what clients dial.
    public let address: String
    private let listener: any Channel
    private let state = Mutex(State())

    private struct State {
        var open: [ObjectIdentifier: any Channel] = [:]
        var cuts = 0
        var cutAfter: MessageType?
    }

    /// Connections cut so far (by `cut()` or `cutAfter(_:)`).
    public var cuts: Int { state.withLock { $0.cuts } }

    /// Listens on `unixPath`, forwarding to `upstream`, on the loops of
    /// `group` (NIO's shared loops when nil).
    public static func start(
        unixPath: String, upstream: SocketAddress, group: (any EventLoopGroup)? = nil
    ) async throws -> CuttingProxy {
        let box = ProxyBox()
        let channel = try await ServerBootstrap(group: group ?? MultiThreadedEventLoopGroup.singleton)
            .childChannelOption(.autoRead, value: true)
            .childChannelInitializer { inbound in
                ClientBootstrap(group: inbound.eventLoop)
                    .connect(to: upstream)
                    .flatMapThrowing { outbound in
                        guard let proxy = box.proxy.withLock({ $0 }) else { throw ChannelError.ioOnClosedChannel }
                        try proxy.glue(inbound, outbound)
                    }
            }
            .bind(unixDomainSocketPath: unixPath, cleanupExistingSocketFile: true).get()
        let proxy = CuttingProxy(listener: channel, address: "unix!\(unixPath)")
        box.proxy.withLock { $0 = proxy }
        return proxy
    }

    /// Listens on `unixPath`, forwarding to the unix socket at `upstreamPath`.
    public static func start(unixPath: String, upstreamPath: String) async throws -> CuttingProxy {
        try await start(unixPath: unixPath, upstream: SocketAddress(unixDomainSocketPath: upstreamPath))
    }

    private init(listener: any Channel, address: String) {
        self.listener = listener
        self.address = address
    }

    private func glue(_ inbound: any Channel, _ outbound: any Channel) throws {
        let toServer = ForwardHandler(partner: outbound, scanner: FrameScanner(), proxy: self, side: inbound)
        let toClient = ForwardHandler(partner: inbound, scanner: nil, proxy: self, side: inbound)
        try inbound.pipeline.syncOperations.addHandler(toServer)
        try outbound.pipeline.syncOperations.addHandler(toClient)
        state.withLock { $0.open[ObjectIdentifier(inbound)] = inbound }
        inbound.closeFuture.whenComplete { [self] _ in
            outbound.close(promise: nil)
            state.withLock { _ = $0.open.removeValue(forKey: ObjectIdentifier(inbound)) }
        }
        outbound.closeFuture.whenComplete { _ in inbound.close(promise: nil) }
    }

    /// Cuts every connection now; returns how many there were.
    @discardableResult
    public func cut() -> Int {
        let channels = state.withLock { state in
            let all = Array(state.open.values)
            state.open = [:]
            state.cuts += all.count
            return all
        }
        for channel in channels { channel.close(promise: nil) }
        return channels.count
    }

    /// Arms a one-shot cut: the next T-message of `type` reaches the server,
    /// then its client's connection is dropped and the reply discarded.
    public func cutAfter(_ type: MessageType) {
        state.withLock { $0.cutAfter = type }
    }

    /// True (and disarms) if a frame of `type` should trigger the armed cut.
    fileprivate func shouldCut(after type: MessageType) -> Bool {
        state.withLock { state in
            guard state.cutAfter == type else { return false }
            state.cutAfter = nil
            state.cuts += 1
            return true
        }
    }

    /// Stops listening and cuts every connection.
    public func close() async {
        try? await listener.close()
        cut()
    }
}

private final class ProxyBox: Sendable {
    let proxy = Mutex<CuttingProxy?>(nil)
}

/// Finds 9P frame boundaries in a byte stream: size[4] type[1] …
private struct FrameScanner {
    private var header: [UInt8] = []
    private var remaining = 0

    /// The frames that end within `bytes`: their type and the offset just past them.
    mutating func scan(_ bytes: ByteBuffer) -> [(MessageType?, Int)] {
        var ends: [(MessageType?, Int)] = []
        var type: MessageType?
        var index = 0
        let view = bytes.readableBytesView
        while index < view.count {
            if remaining == 0 {
                header.append(view[view.startIndex + index])
                index += 1
                if header.count == 5 {
                    let size = Int(header[0]) | Int(header[1]) << 8 | Int(header[2]) << 16 | Int(header[3]) << 24
                    type = MessageType(rawValue: header[4])
                    header = []
                    remaining = max(size - 5, 0)
                    if remaining == 0 { ends.append((type, index)) }
                }
            } else {
                let take = min(remaining, view.count - index)
                remaining -= take
                index += take
                if remaining == 0 { ends.append((type, index)) }
            }
        }
        return ends
    }
}

private final class ForwardHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let partner: any Channel
    private var scanner: FrameScanner?
    private unowned let proxy: CuttingProxy
    private let side: any Channel
    private var discarding = false

    init(partner: any Channel, scanner: FrameScanner?, proxy: CuttingProxy, side: any Channel) {
        self.partner = partner
        self.scanner = scanner
        self.proxy = proxy
        self.side = side
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        guard !discarding else { return }
        if scanner != nil {
            for (type, end) in scanner!.scan(bytes) {
                guard let type, proxy.shouldCut(after: type) else { continue }
                let head = bytes.readSlice(length: end)!
                discarding = true
                // Hand the message over, then drop the client: the reply
                // will find no one (the upstream closes with it).
                partner.writeAndFlush(head, promise: nil)
                context.close(promise: nil)
                return
            }
        }
        partner.writeAndFlush(bytes, promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !discarding { partner.close(promise: nil) }
        context.fireChannelInactive()
    }
}
