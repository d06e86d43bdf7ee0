public import NIOCore
public import NinePWire

/// Frames 9P on a byte stream: inbound bytes become `Fcall`s, outbound
/// `Fcall`s become bytes (Rread, Twrite and Rreaddir data is written
/// without a copy), both in the dialect negotiated so far (9P2000 until
/// `setProtocolVersion` says otherwise, as msize until `setMaxMessageSize`).
///
/// A frame whose body is malformed but whose size is sane is skipped and
/// reported with `fireErrorCaught(WireError)` (it carries the tag, so the
/// next handler may answer Rerror and carry on). A bad size field cannot be
/// resynchronised: it is reported and everything after it is discarded; the
/// next handler is expected to close the connection.
///
/// Flushes are gathered, here for every 9P connection (client, server,
/// reconnecting client): a flush asked for while the channel is reading a
/// batch is done once at `channelReadComplete`, after the handlers behind
/// this one answered what they read; any other flush is done once at the
/// end of the current pass of the event loop. So the messages written
/// meanwhile (a pipelined Twalk and Tstat, a burst of answers from worker
/// threads) leave in one system call and wake the peer once. A message
/// nobody waits for (the Tclunk of a closed file) can be sent with
/// `FlushLazily` instead of a flush: it leaves with the next flush, or
/// after `FlushLazily.delay` at the latest. A close flushes first.
///
/// Who calls: the channel's event loop only, as for every ChannelHandler.
public final class FcallChannelHandler: ChannelDuplexHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = Fcall
    public typealias OutboundIn = Fcall
    public typealias OutboundOut = ByteBuffer

    /// A user outbound event: flush soon, but not necessarily now (see the type).
    public struct FlushLazily: Sendable {
        /// The longest a lazily sent message waits for company.
        public static let delay = TimeAmount.milliseconds(1)
        public init() {}
    }

    private var decoder: FcallDecoder
    private var cumulation: ByteBuffer?
    private var poisoned = false
    /// Reading a batch: flushes wait for `channelReadComplete`.
    private var reading = false
    /// Something was written (or a flush asked for) and not flushed since.
    private var unflushed = false
    /// A flush is queued on the event loop.
    private var flushQueued = false
    /// A lazy flush is due.
    private var lazyFlush: Scheduled<Void>?

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

    /// The dialect of every frame read or written from now on: the one
    /// Tversion negotiated (a client may set the one it offers before
    /// sending Tversion, so that an Rlerror answer decodes). Call on the event loop.
    public func setProtocolVersion(_ version: ProtocolVersion) {
        decoder.version = version
    }

    public var protocolVersion: ProtocolVersion { decoder.version }

    /// Bytes received that do not yet make a whole message: the part of a
    /// message still arriving (at most one frame of `maxMessageSize`, which
    /// bounds what a peer that stalls mid-message can make us hold).
    public var bufferedBytes: Int { cumulation?.readableBytes ?? 0 }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        reading = true
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

    public func channelReadComplete(context: ChannelHandlerContext) {
        context.fireChannelReadComplete()
        reading = false
        if unflushed && !flushQueued { flushNow(context) }
    }

    public func flush(context: ChannelHandlerContext) {
        // Owed even if nothing passed through here (bytes written below this handler).
        unflushed = true
        guard !reading, !flushQueued else { return }
        flushQueued = true
        context.eventLoop.assumeIsolated().execute { [self] in
            flushQueued = false
            if unflushed { flushNow(context) }
        }
    }

    public func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        guard event is FlushLazily else {
            return context.triggerUserOutboundEvent(event, promise: promise)
        }
        promise?.succeed(())
        guard unflushed, lazyFlush == nil else { return }
        lazyFlush = context.eventLoop.assumeIsolated().scheduleTask(in: FlushLazily.delay) { [self] in
            lazyFlush = nil
            if unflushed { flushNow(context) }
        }
    }

    public func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        if unflushed { flushNow(context) }
        context.close(mode: mode, promise: promise)
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        lazyFlush?.cancel()
        lazyFlush = nil
    }

    private func flushNow(_ context: ChannelHandlerContext) {
        unflushed = false
        lazyFlush?.cancel()
        lazyFlush = nil
        context.flush()
    }

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        unflushed = true
        let fcall = unwrapOutboundIn(data)
        var head = context.channel.allocator.buffer(capacity: 64)
        if let payload = fcall.encodeHead(into: &head, version: decoder.version) {
            context.write(wrapOutboundOut(head), promise: nil)
            context.write(wrapOutboundOut(payload), promise: promise)
        } else {
            context.write(wrapOutboundOut(head), promise: promise)
        }
    }
}

@available(*, unavailable)
extension FcallChannelHandler: Sendable {}

extension ChannelOutboundInvoker {
    /// Flushes; with `lazily`, lets what was written wait for the next
    /// flush instead (`FcallChannelHandler.FlushLazily`).
    public func flush(lazily: Bool) {
        if lazily {
            triggerUserOutboundEvent(FcallChannelHandler.FlushLazily(), promise: nil)
        } else {
            flush()
        }
    }
}
