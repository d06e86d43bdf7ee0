import NIOCore
import NinePWire

/// Answers a connection the server will not serve and closes it: an
/// Rerror with tag NOTAG carrying the reason (a client's Tversion goes with
/// NOTAG, so it reads this as the answer to it), then the write side is shut
/// and whatever the client sends is discarded until it hangs up, or for
/// `linger` at most, so that the reason is not lost to a reset.
///
/// Who calls: the channel's event loop; placed after the 9P framing.
final class RefusingHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = Fcall
    typealias OutboundOut = Fcall

    /// How long a refused connection may keep sending before it is closed.
    static let linger = TimeAmount.seconds(2)

    private let reason: String
    private var refused = false

    init(reason: String) {
        self.reason = reason
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { refuse(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        refuse(context)
        context.fireChannelActive()
    }

    private func refuse(_ context: ChannelHandlerContext) {
        guard !refused else { return }
        refused = true
        let reply = Fcall(tag: .notag, .rerror(Rerror(ename: reason)))
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(reply)).whenComplete { _ in
            channel.close(mode: .output, promise: nil)
        }
        context.eventLoop.scheduleTask(in: Self.linger) { channel.close(promise: nil) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .some(.inputClosed) = event as? ChannelEvent { context.close(promise: nil) }
    }
}
