import Logging
import NIOCore
import NinePTransport
import NinePWire

/// The client's end of a 9P channel: matches replies to requests by tag,
/// sends Tflush for cancelled requests, fails everything when the channel goes.
///
/// Sits after `FcallChannelHandler` in the pipeline. All its state (the
/// `RequestTable`, the msize) is touched on the channel's event loop only;
/// other threads reach it through `ChannelFcallTransport`, which hops.
/// Completions are called on the event loop, after the table is updated, so
/// a completion may start new requests.
///
/// Flushing: every T-message is flushed as it is written, except a lazy
/// one; `FcallChannelHandler` gathers the flushes (one per read batch or
/// pass of the event loop).
final class ClientChannelHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = Fcall
    typealias OutboundOut = Fcall

    private var table: RequestTable<NinePReplyHandler>
    private var context: ChannelHandlerContext?
    /// The negotiated msize; requests that would exceed it fail before sending.
    var messageSize: UInt32
    /// Why the channel is closing, when we know better than "closed".
    private var closeReason: String?
    private let server: String
    private let trace: Logger?

    init(limit: Int, messageSize: UInt32, server: String, trace: Logger?) {
        self.table = RequestTable(limit: limit)
        self.messageSize = messageSize
        self.server = server
        self.trace = trace
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if !context.channel.isActive { failAll("the connection is closed") }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        failAll("the client was removed from the channel")
        self.context = nil
    }

    // MARK: Requests (event loop only)

    func submit(_ message: Message, id: UInt64, lazily: Bool = false, completion: @escaping NinePReplyHandler) {
        if let tooBig = oversize(message, messageSize: messageSize) {
            completion(.failure(NinePClientError(tooBig, operation: message.type.name, server: server)))
            return
        }
        switch table.submit(id: id, message: message, completion: completion) {
        case .write(let fcall): write(fcall, lazily: lazily)
        case .queued: break
        case .failed(let error): completion(.failure(error))
        }
    }

    /// Requests in flight (flushes included) and waiting for a tag.
    var requestCounts: (inFlight: Int, waiting: Int) { (table.inFlight, table.waitingCount) }

    func cancel(id: UInt64) {
        switch table.cancel(id: id) {
        case .unsent(let completion): completion(.failure(CancellationError()))
        case .write(let fcall): write(fcall)
        case .nothing: break
        }
    }

    private func write(_ fcall: Fcall, lazily: Bool = false) {
        guard let context else { return }
        trace?.debug("→ \(fcall)")
        context.write(wrapOutboundOut(fcall), promise: nil)
        context.flush(lazily: lazily)
    }

    // MARK: Replies

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let fcall = unwrapInboundIn(data)
        trace?.debug("← \(fcall)")
        // Rerror and Rlerror are failures; every other reply is the answer.
        let result: Result<Message, any Error> = fcall.message.replyError.map { .failure($0) } ?? .success(fcall.message)
        deliver(tag: fcall.tag, result)
    }

    private func deliver(tag: Tag, _ result: Result<Message, any Error>) {
        let received = table.receive(tag: tag)
        // Freed tags go to waiting requests before completions can start new ones.
        while let next = table.nextWrite() { write(next) }
        switch received {
        case .deliver(let completion): completion(result)
        case .flushed(let completion?): completion(.failure(CancellationError()))
        case .flushed(nil): break
        case .unexpected: trace?.warning("reply with unexpected tag \(tag) ignored")
        }
    }


    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let wire = error as? WireError, let tag = wire.tag, wire.frameSize != nil {
            // One unreadable reply: its request fails, the rest carry on.
            trace?.warning("\(wire)")
            deliver(tag: tag, .failure(NinePClientError(Self.kind(of: wire), server: server)))
            return
        }
        closeReason = closeReason ?? (error is WireError ? "protocol error: \(error)" : NinePTransportError.reason(for: error))
        context.close(promise: nil)
    }

    /// What an unreadable reply means for its request: a 9P2000.L Rlerror
    /// is the server's refusal, anything else a protocol error.
    static func kind(of wire: WireError) -> NinePClientError.Kind {
        if case .linuxError(let errno) = wire.kind { return .linuxError(errno: errno) }
        return .protocolError(wire.description)
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(closeReason ?? "the server closed the connection")
        context.fireChannelInactive()
    }

    /// Records why the client itself is closing the channel.
    func closing(because reason: String) {
        closeReason = closeReason ?? reason
    }

    private func failAll(_ reason: String) {
        let error = NinePClientError(.connectionLost(reason: reason), server: server)
        for completion in table.close(with: error) { completion(.failure(error)) }
    }
}

/// `FcallTransport` over one channel whose pipeline ends in a `ClientChannelHandler`.
///
/// Thread safety: immutable; every call hops to the channel's event loop
/// unless already on it. Ordering: a call made on the loop acts at once;
/// one made elsewhere is queued behind earlier calls in `execute` order.
struct ChannelFcallTransport: FcallTransport {
    let channel: any Channel
    let handler: NIOLoopBound<ClientChannelHandler>

    var eventLoop: any EventLoop { channel.eventLoop }

    func start(_ message: Message, id: UInt64, lazily: Bool, completion: @escaping NinePReplyHandler) {
        if eventLoop.inEventLoop {
            handler.value.submit(message, id: id, lazily: lazily, completion: completion)
        } else {
            eventLoop.execute { [handler] in handler.value.submit(message, id: id, lazily: lazily, completion: completion) }
        }
    }

    func cancel(id: UInt64) {
        if eventLoop.inEventLoop {
            handler.value.cancel(id: id)
        } else {
            eventLoop.execute { [handler] in handler.value.cancel(id: id) }
        }
    }

    func setMessageSize(_ msize: UInt32) -> EventLoopFuture<Void> {
        eventLoop.submit { [handler, channel] in
            handler.value.messageSize = msize
            // A channel already closed (the server sent garbage behind its
            // Rversion) has no framing handler left: the next request then
            // fails with why it closed, which says more than "not found".
            try? channel.pipeline.syncOperations.handler(type: FcallChannelHandler.self).setMaxMessageSize(msize)
        }
    }

    /// For tests and diagnostics: see `ClientChannelHandler.requestCounts`.
    func requestCounts() -> EventLoopFuture<(inFlight: Int, waiting: Int)> {
        eventLoop.submit { [handler] in handler.value.requestCounts }
    }

    func close() -> EventLoopFuture<Void> {
        eventLoop.flatSubmit { [handler, channel] in
            handler.value.closing(because: "closed by the client")
            channel.close(promise: nil)
            return channel.closeFuture
        }
    }
}

/// The cheap size checks made before a request goes out: only Twrite carries
/// bulk data out, and only Tread asks for bulk data back.
func oversize(_ message: Message, messageSize: UInt32) -> NinePClientError.Kind? {
    let limit = Int(messageSize) - Int(NineP.ioHeaderSize)
    switch message {
    case .twrite(let m) where m.data.readableBytes > limit:
        return .messageTooLarge(size: m.data.readableBytes + Int(NineP.ioHeaderSize), msize: messageSize)
    case .tread(let m) where Int(m.count) > limit:
        return .messageTooLarge(size: Int(m.count) + Int(NineP.ioHeaderSize), msize: messageSize)
    case .treaddir(let m) where Int(m.count) > limit:
        return .messageTooLarge(size: Int(m.count) + Int(NineP.ioHeaderSize), msize: messageSize)
    case .twalk(let m) where m.wname.count > NineP.maxWalkElements:
        return .protocolError("Twalk of \(m.wname.count) names exceeds the maximum of 16")
    case .twrite, .tread, .treaddir, .twalk:
        return nil
    // No other message carries a count or list the msize bounds.
    case .tversion, .rversion, .tauth, .rauth, .tattach, .rattach, .rerror, .tflush, .rflush, .rwalk, .topen,
        .ropen, .tcreate, .rcreate, .rread, .rwrite, .tclunk, .rclunk, .tremove, .rremove, .tstat, .rstat,
        .twstat, .rwstat, .rlerror, .tstatfs, .rstatfs, .tlopen, .rlopen, .tlcreate, .rlcreate, .tsymlink,
        .rsymlink, .tmknod, .rmknod, .trename, .rrename, .treadlink, .rreadlink, .tgetattr, .rgetattr, .tsetattr,
        .rsetattr, .txattrwalk, .rxattrwalk, .txattrcreate, .rxattrcreate, .rreaddir, .tfsync, .rfsync, .tlock,
        .rlock, .tgetlock, .rgetlock, .tlink, .rlink, .tmkdir, .rmkdir, .trenameat, .rrenameat, .tunlinkat,
        .runlinkat:
        return nil
    }
}

extension MessageType {
    /// "Twalk", "Rread": the name used in traces and errors.
    var name: String {
        let raw = String(describing: self)
        return raw.prefix(1).uppercased() + raw.dropFirst()
    }
}
