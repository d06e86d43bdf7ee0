public import NIOCore
public import NIOPosix
public import NinePWire
public import NinePTransport
import Synchronization

/// Why a `RawNinePClient` call failed.
public enum RawNinePClientError: Error, Hashable, Sendable, CustomStringConvertible {
    /// No reply with this tag arrived before the deadline.
    case timeout(Tag)
    /// The connection closed (or was closed) before the reply arrived.
    case closed
    /// A reply of the wrong kind, e.g. Rerror where Rwalk was expected.
    case unexpected(Message)

    public var description: String {
        switch self {
        case .timeout(let tag): "no reply for tag \(tag) before the deadline"
        case .closed: "the 9P connection closed"
        case .unexpected(let m): "unexpected reply: \(m)"
        }
    }
}

/// A deliberately dumb 9P client for tests and conformance suites: it
/// sends exactly the `Fcall`s it is given (explicit tags, any order, even
/// invalid ones, or raw bytes) and hands back replies by tag.
///
/// Replies are queued per tag as they arrive, so a test may send many
/// requests and collect the replies in any order; `transcript` keeps every
/// reply in arrival order, to check ordering (e.g. Rflush after the reply it
/// flushed). Every wait has a deadline (`timeout`, `defaultTimeout` unless given).
///
/// Thread safety: any thread; the state lives on the channel's event loop.
public final class RawNinePClient: Sendable {
    /// The client's channel.
    public let channel: any Channel
    /// How long a wait for a reply may take before it fails.
    public let timeout: TimeAmount

    /// The deadline of a wait when none is given: a bound that tells "answered"
    /// from "never answered", not a measure of speed. The test runner starts
    /// hundreds of tests at once on a machine that may have two cores, so a
    /// correct server can take many seconds to be scheduled; 60 s is far above
    /// that and still ends a hang.
    public static let defaultTimeout: TimeAmount = .seconds(60)
    private let handler: NIOLoopBound<RawClientHandler>
    private let tags = Atomic<UInt16>(0x8000)

    private init(channel: any Channel, handler: RawClientHandler, timeout: TimeAmount) {
        self.channel = channel
        self.timeout = timeout
        self.handler = NIOLoopBound(handler, eventLoop: channel.eventLoop)
    }

    /// Adds the client's handlers to a fresh channel and wraps it. Call on
    /// the channel's event loop (in a bootstrap's channelInitializer).
    static func configure(_ channel: any Channel, timeout: TimeAmount) throws -> RawNinePClient {
        let framing = FcallChannelHandler(maxMessageSize: UInt32.max, direction: .replies)
        let handler = RawClientHandler(framing: framing, eventLoop: channel.eventLoop)
        try channel.pipeline.syncOperations.addHandler(framing)
        try channel.pipeline.syncOperations.addHandler(handler)
        return RawNinePClient(channel: channel, handler: handler, timeout: timeout)
    }

    private static func connecting(
        group: any EventLoopGroup, timeout: TimeAmount,
        _ connect: (ClientBootstrap) -> EventLoopFuture<any Channel>
    ) async throws -> RawNinePClient {
        let made = Mutex<RawNinePClient?>(nil)
        let bootstrap = ClientBootstrap(group: group).channelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                let client = try configure(channel, timeout: timeout)
                made.withLock { $0 = client }
            }
        }
        _ = try await connect(bootstrap).get()
        return made.withLock { $0 }!
    }

    /// Connects to a TCP or unix socket address.
    public static func connect(
        to address: SocketAddress, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        timeout: TimeAmount = RawNinePClient.defaultTimeout
    ) async throws -> RawNinePClient {
        try await connecting(group: group, timeout: timeout) { $0.connect(to: address) }
    }

    /// Connects to a unix-domain socket.
    public static func connect(
        unixPath: String, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        timeout: TimeAmount = RawNinePClient.defaultTimeout
    ) async throws -> RawNinePClient {
        try await connecting(group: group, timeout: timeout) { $0.connect(unixDomainSocketPath: unixPath) }
    }

    /// Connects to a `tcp!host!port` or `unix!/path` address (as a server
    /// prints it). Other kinds of address are refused: a raw client needs a
    /// socket.
    public static func connect(
        to address: NinePAddress, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        timeout: TimeAmount = RawNinePClient.defaultTimeout
    ) async throws -> RawNinePClient {
        switch address {
        case .unix(let path):
            return try await connect(unixPath: path, group: group, timeout: timeout)
        case .tcp(let host, let port):
            return try await connecting(group: group, timeout: timeout) { $0.connect(host: host, port: port) }
        case .exec, .srv, .tls:
            throw ConformanceFailure("connect", "a raw client cannot dial \(address); give it a tcp! or unix! address")
        }
    }

    /// Speaks over an already-connected socket descriptor, taking ownership of it.
    public static func connect(
        descriptor: CInt, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        timeout: TimeAmount = RawNinePClient.defaultTimeout
    ) async throws -> RawNinePClient {
        try await connecting(group: group, timeout: timeout) { $0.withConnectedSocket(descriptor) }
    }

    // MARK: Sending

    /// A fresh tag from a counter starting at 32,768 (wrapping, skipping
    /// NOTAG), so that tests choosing their own tags below that never
    /// collide with it.
    public func nextTag() -> Tag {
        while true {
            let t = tags.wrappingAdd(1, ordering: .relaxed).oldValue
            if t != Tag.notag.rawValue { return Tag(t) }
        }
    }

    /// Sends one message without waiting for its reply.
    public func send(_ fcall: Fcall) async throws {
        try await send([fcall])
    }

    /// Sends messages back to back with one flush (pipelined), without
    /// waiting for replies.
    public func send(_ fcalls: [Fcall]) async throws {
        let handler = self.handler
        try await channel.eventLoop.flatSubmit {
            handler.value.write(fcalls)
        }.get()
    }

    /// Writes bytes as they are, bypassing the framing (malformed input tests).
    public func sendRaw(_ bytes: [UInt8]) async throws {
        let handler = self.handler
        try await channel.eventLoop.flatSubmit {
            handler.value.writeRaw(bytes)
        }.get()
    }

    // MARK: Receiving

    /// The next reply carrying `tag` (one already received is returned at
    /// once). Fails with `.timeout` after `timeout`, `.closed` if the
    /// connection ends first.
    public func reply(tag: Tag) async throws -> Fcall {
        let handler = self.handler
        let timeout = self.timeout
        return try await channel.eventLoop.flatSubmit {
            handler.value.reply(tag: tag, timeout: timeout)
        }.get()
    }

    /// Sends `message` with `tag` and returns the reply's message.
    public func call(_ message: Message, tag: Tag? = nil) async throws -> Message {
        let tag = tag ?? nextTag()
        try await send(Fcall(tag: tag, message))
        return try await reply(tag: tag).message
    }

    /// Every reply received so far, in arrival order.
    public var transcript: [Fcall] {
        get async throws {
            let handler = self.handler
            return try await channel.eventLoop.submit { handler.value.transcript }.get()
        }
    }

    /// Whether a reply with `tag` has arrived and not been taken by `reply(tag:)`.
    public func hasQueuedReply(tag: Tag) async throws -> Bool {
        let handler = self.handler
        return try await channel.eventLoop.submit { handler.value.queued[tag]?.isEmpty == false }.get()
    }

    /// Sends `count` requests, `make(i, tag)` building the i-th, keeping at
    /// most `window` outstanding on tags 0..<window, and waits for every
    /// reply. For load tests: replies are counted, not stored or recorded in
    /// the transcript.
    public func pipeline(
        count: Int, window: Int, make: @escaping @Sendable (Int, Tag) -> Message
    ) async throws -> PipelineResult {
        precondition(window > 0 && window < Int(UInt16.max), "window must fit in the tag space")
        let handler = self.handler
        return try await channel.eventLoop.flatSubmit {
            handler.value.startPipeline(count: count, window: window, make: make)
        }.get()
    }

    /// What `pipeline` saw.
    public struct PipelineResult: Sendable {
        /// Replies received (== count).
        public var replies: Int
        /// How many of them were Rerror.
        public var errors: Int
        /// The first Rerror's text, if any.
        public var firstError: String?
    }

    // MARK: Session helpers

    /// Tversion with NOTAG; returns the Rversion. Frames are read and
    /// written in the dialect the server answered from then on.
    public func version(msize: UInt32 = NineP.defaultMessageSize, version: String = NineP.version2000) async throws -> Rversion {
        let reply = try await call(.tversion(Tversion(msize: msize, version: version)), tag: .notag)
        guard case .rversion(let v) = reply else { throw RawNinePClientError.unexpected(reply) }
        if let dialect = ProtocolVersion(rawValue: v.version) {
            try await channel.eventLoop.submit { [handler] in handler.value.framing.setProtocolVersion(dialect) }.get()
        }
        return v
    }

    /// Tattach without authentication; returns the root qid.
    public func attach(fid: Fid, uname: String = "glenda", aname: String = "") async throws -> Qid {
        let reply = try await call(.tattach(Tattach(fid: fid, afid: .nofid, uname: uname, aname: aname)))
        guard case .rattach(let a) = reply else { throw RawNinePClientError.unexpected(reply) }
        return a.qid
    }

    /// Closes the connection.
    public func close() async {
        try? await channel.close()
    }

    /// Completes when the connection has closed (from either side).
    public var closeFuture: EventLoopFuture<Void> { channel.closeFuture }

    /// Waits up to `timeout` (the client's own by default) for the
    /// connection to close; returns whether it did.
    public func waitForClose(timeout: TimeAmount? = nil) async -> Bool {
        let loop = channel.eventLoop
        let channel = self.channel
        let wait = self.timeout
        return (try? await loop.flatSubmit { () -> EventLoopFuture<Bool> in
            // Both callbacks run on the loop, so the first one wins alone.
            let promise = loop.makePromise(of: Bool.self)
            let answered = NIOLoopBoundBox(false, eventLoop: loop)
            @Sendable func answer(_ closed: Bool) {
                guard !answered.value else { return }
                answered.value = true
                promise.succeed(closed)
            }
            let deadline = loop.scheduleTask(in: timeout ?? wait) { answer(false) }
            channel.closeFuture.whenComplete { _ in
                deadline.cancel()
                answer(true)
            }
            return promise.futureResult
        }.get()) ?? false
    }
}

/// The client's state, on its event loop.
final class RawClientHandler: ChannelInboundHandler {
    typealias InboundIn = Fcall
    typealias OutboundOut = Fcall

    let framing: FcallChannelHandler
    private var context: ChannelHandlerContext?
    private var closed = false
    private(set) var transcript: [Fcall] = []
    private(set) var queued: [Tag: [Fcall]] = [:]
    private var waiters: [Tag: [Waiter]] = [:]
    private var job: PipelineJob?

    private struct Waiter {
        let id: Int
        let promise: EventLoopPromise<Fcall>
        let deadline: Scheduled<Void>
    }
    private var nextWaiterID = 0

    private struct PipelineJob {
        let count: Int
        let make: @Sendable (Int, Tag) -> Message
        var sent: Int
        var result: RawNinePClient.PipelineResult
        let promise: EventLoopPromise<RawNinePClient.PipelineResult>
    }

    private let eventLoop: any EventLoop

    init(framing: FcallChannelHandler, eventLoop: any EventLoop) {
        self.framing = framing
        self.eventLoop = eventLoop
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let fcall = unwrapInboundIn(data)
        if var job {
            job.result.replies += 1
            if case .rerror(let e) = fcall.message {
                job.result.errors += 1
                if job.result.firstError == nil { job.result.firstError = e.ename }
            }
            if job.sent < job.count {
                context.write(wrapOutboundOut(Fcall(tag: fcall.tag, job.make(job.sent, fcall.tag))), promise: nil)
                job.sent += 1
            }
            if job.result.replies == job.count {
                self.job = nil
                job.promise.succeed(job.result)
            } else {
                self.job = job
            }
            return
        }
        transcript.append(fcall)
        if var list = waiters[fcall.tag], !list.isEmpty {
            let waiter = list.removeFirst()
            waiters[fcall.tag] = list.isEmpty ? nil : list
            waiter.deadline.cancel()
            waiter.promise.succeed(fcall)
        } else {
            queued[fcall.tag, default: []].append(fcall)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if job != nil { context.flush() }
        context.fireChannelReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        closed = true
        let all = waiters.values.flatMap { $0 }
        waiters.removeAll()
        for w in all {
            w.deadline.cancel()
            w.promise.fail(RawNinePClientError.closed)
        }
        if let job {
            self.job = nil
            job.promise.fail(RawNinePClientError.closed)
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A malformed reply or an I/O error: the test sees the connection close.
        context.close(promise: nil)
    }

    func write(_ fcalls: [Fcall]) -> EventLoopFuture<Void> {
        guard let context, !closed else { return failed() }
        for f in fcalls { context.write(wrapOutboundOut(f), promise: nil) }
        context.flush()
        return eventLoop.makeSucceededVoidFuture()
    }

    func writeRaw(_ bytes: [UInt8]) -> EventLoopFuture<Void> {
        guard let context, !closed else { return failed() }
        do {
            let framingContext = try context.pipeline.syncOperations.context(handler: framing)
            let buffer = context.channel.allocator.buffer(bytes: bytes)
            return framingContext.writeAndFlush(NIOAny(buffer))
        } catch {
            return context.eventLoop.makeFailedFuture(error)
        }
    }

    func reply(tag: Tag, timeout: TimeAmount) -> EventLoopFuture<Fcall> {
        guard let context else { return failed() }
        if var list = queued[tag], !list.isEmpty {
            let first = list.removeFirst()
            queued[tag] = list.isEmpty ? nil : list
            return context.eventLoop.makeSucceededFuture(first)
        }
        guard !closed else { return failed() }
        let promise = context.eventLoop.makePromise(of: Fcall.self)
        nextWaiterID += 1
        let id = nextWaiterID
        let loopSelf = NIOLoopBound(self, eventLoop: context.eventLoop)
        let deadline = context.eventLoop.scheduleTask(in: timeout) {
            loopSelf.value.expire(tag: tag, id: id)
        }
        waiters[tag, default: []].append(Waiter(id: id, promise: promise, deadline: deadline))
        return promise.futureResult
    }

    private func expire(tag: Tag, id: Int) {
        guard var list = waiters[tag], let i = list.firstIndex(where: { $0.id == id }) else { return }
        let waiter = list.remove(at: i)
        waiters[tag] = list.isEmpty ? nil : list
        waiter.promise.fail(RawNinePClientError.timeout(tag))
    }

    func startPipeline(
        count: Int, window: Int, make: @escaping @Sendable (Int, Tag) -> Message
    ) -> EventLoopFuture<RawNinePClient.PipelineResult> {
        guard let context, !closed else { return failed() }
        let promise = context.eventLoop.makePromise(of: RawNinePClient.PipelineResult.self)
        guard count > 0 else {
            promise.succeed(RawNinePClient.PipelineResult(replies: 0, errors: 0))
            return promise.futureResult
        }
        var job = PipelineJob(count: count, make: make, sent: 0, result: .init(replies: 0, errors: 0), promise: promise)
        for t in 0..<min(window, count) {
            let tag = Tag(UInt16(t))
            context.write(wrapOutboundOut(Fcall(tag: tag, make(t, tag))), promise: nil)
            job.sent += 1
        }
        self.job = job
        context.flush()
        return promise.futureResult
    }

    private func failed<T>() -> EventLoopFuture<T> {
        eventLoop.makeFailedFuture(RawNinePClientError.closed)
    }
}

@available(*, unavailable)
extension RawClientHandler: Sendable {}
