public import NIOCore
public import NinePWire

/// Frames 9P on a byte stream: inbound bytes become `Fcall`s, outbound
/// `Fcall`s become bytes (Rread and Twrite data is written without a copy).
///
/// A frame whose body is malformed but whose size is sane is skipped and
/// reported with `fireErrorCaught(WireError)` (it carries the tag, so the
/// next handler may answer Rerror and carry on). A bad size field cannot be
/// resynchronised: it is reported and everything after it is discarded; the
/// next handler is expected to close the connection.
///
/// Who calls: the channel's event loop only, as for every ChannelHandler.
public final class FcallChannelHandler: ChannelDuplexHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = Fcall
    public typealias OutboundIn = Fcall
    public typealias OutboundOut = ByteBuffer

    private var decoder: FcallDecoder
    private var cumulation: ByteBuffer?
    private var poisoned = false

    /// - Parameters:
    ///   - maxMessageSize: frames above this are refused until `setMaxMessageSize` changes it.
    ///   - direction: which messages are accepted (a server reads `.requests`).
    public init(maxMessageSize: UInt32 = NineP.defaultMessageSize, direction: MessageDirection = .any) {
        self.decoder = FcallDecoder(maxMessageSize: maxMessageSize, direction: direction)
    }

    /// The negotiated msize, once Tversion is done. Call on the event loop.
    public func setMaxMessageSize(_ size: UInt32) {
        decoder.maxMessageSize = size
    }

    public var maxMessageSize: UInt32 { decoder.maxMessageSize }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !poisoned else { return }
        var incoming = unwrapInboundIn(data)
        if cumulation == nil || cumulation!.readableBytes == 0 {
            cumulation = incoming
        } else {
            cumulation!.writeBuffer(&incoming)
        }
        while var buffer = cumulation {
            cumulation = nil  // keep the buffer uniquely referenced while decoding
            do {
                guard let fcall = try decoder.decode(buffer: &buffer) else {
                    cumulation = buffer
                    break
                }
                cumulation = buffer
                context.fireChannelRead(wrapInboundOut(fcall))
            } catch {
                if let frame = error.frameSize, error.tag != nil {
                    buffer.moveReaderIndex(forwardBy: frame)
                    cumulation = buffer
                    context.fireErrorCaught(error)
                } else {
                    poisoned = true
                    cumulation = nil
                    context.fireErrorCaught(error)
                    return
                }
            }
        }
        // Do not let a consumed prefix pin memory forever.
        if let c = cumulation, c.readableBytes == 0 { cumulation = nil }
        else if cumulation != nil, cumulation!.readerIndex > 1 << 20 { cumulation!.discardReadBytes() }
    }

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let fcall = unwrapOutboundIn(data)
        var head = context.channel.allocator.buffer(capacity: 64)
        if let payload = fcall.encodeHead(into: &head) {
            context.write(wrapOutboundOut(head), promise: nil)
            context.write(wrapOutboundOut(payload), promise: promise)
        } else {
            context.write(wrapOutboundOut(head), promise: promise)
        }
    }
}

@available(*, unavailable)
extension FcallChannelHandler: Sendable {}
