#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Logging
import NIOCore

/// Stops a listener from spinning when accept(2) fails for want of
/// resources. On EMFILE, ENFILE, ENOBUFS or ENOMEM NIO reports the error
/// and stays registered for the listening socket, which is still readable
/// (the connection waits in the backlog), so it would try again at once,
/// forever; NIO's own AcceptBackoffHandler does not help on this path, as
/// no new read passes through the pipeline. Here accepting is switched off
/// (autoRead, which takes the socket out of the event loop's interest) for
/// a while, twice as long each time up to `maximumDelay`, and logged once
/// per episode; a successful accept ends the episode. Connections already
/// accepted are not touched; clients wait in the backlog meanwhile.
///
/// Who calls: the server channel's event loop.
final class ListenerBackoffHandler: ChannelInboundHandler {
    typealias InboundIn = any Channel
    typealias InboundOut = any Channel

    static let initialDelay = TimeAmount.milliseconds(10)
    static let maximumDelay = TimeAmount.seconds(1)

    private let logger: Logger
    private let address: String
    /// The current wait, while accept keeps failing.
    private var delay: TimeAmount?
    /// Failures in this episode.
    private var failures = 0
    private var resume: Scheduled<Void>?

    init(logger: Logger, address: String) {
        self.logger = logger
        self.address = address
    }

    /// Whether accept failed for want of descriptors or memory (worth waiting out).
    static func isExhaustion(_ error: any Error) -> Bool {
        guard let io = error as? IOError else { return false }
        return [EMFILE, ENFILE, ENOBUFS, ENOMEM].contains(io.errnoCode)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if delay != nil {
            logger.notice("\(address): accepting again after \(failures) failed attempts")
            delay = nil
            failures = 0
        }
        context.fireChannelRead(data)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard Self.isExhaustion(error) else { return context.fireErrorCaught(error) }
        failures += 1
        let next: TimeAmount
        if let d = delay {
            next = min(d * 2, Self.maximumDelay)
        } else {
            next = Self.initialDelay
            logger.warning("\(address): cannot accept connections: \(error); backing off (up to \(Self.maximumDelay.nanoseconds / 1_000_000) ms between tries)")
        }
        delay = next
        guard resume == nil else { return }
        let channel = context.channel
        try? channel.syncOptions?.setOption(.autoRead, value: false)
        resume = context.eventLoop.assumeIsolated().scheduleTask(in: next) { [self] in
            resume = nil
            try? channel.syncOptions?.setOption(.autoRead, value: true)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        resume?.cancel()
        resume = nil
    }
}

@available(*, unavailable)
extension ListenerBackoffHandler: Sendable {}
