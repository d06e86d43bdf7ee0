import NIOCore
import NinePWire

/// Answers a connection the server will not serve and closes it: the
/// client's first message (its Tversion) is answered with an Rerror
/// carrying the reason, then the write side is shut and whatever else the
/// client sends is discarded until it hangs up. A client that sends nothing
/// is closed after `linger`.
///
/// Who calls: the channel's event loop; placed after the 9P framing.
final class RefusingHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = Fcall
    typealias OutboundOut = Fcall

    /// How long a refused connection is kept open for its first message:
    /// long enough for a client on a loaded machine to send its Tversion
    /// (at 2 s, clients in a busy test run saw the close first).
    static let linger = TimeAmount.seconds(10)

    private let reason: String
    private var answered = false

    init(reason: String) {
        self.reason = reason
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let channel = context.channel
        context.eventLoop.scheduleTask(in: Self.linger) { channel.close(promise: nil) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        answer(context, tag: unwrapInboundIn(data).tag)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        answer(context, tag: (error as? WireError)?.tag ?? .notag)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .some(.inputClosed) = event as? ChannelEvent { context.close(promise: nil) }
    }

    private func answer(_ context: ChannelHandlerContext, tag: Tag) {
        guard !answered else { return }
        answered = true
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(Fcall(tag: tag, .rerror(Rerror(ename: reason))))).whenComplete { _ in
            channel.close(mode: .output, promise: nil)
        }
    }
}
