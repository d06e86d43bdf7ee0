import Logging
import NIOCore
import NinePTransport
import NinePWire
import Synchronization

/// The thin layer under `ReconnectStateMachine` (STYLE rule 5): it owns the
/// current connection and carries the machine's actions out on it — writes,
/// deliveries, redials with `NinePConnection.dial` (an `exec!` address runs
/// its command again), timers on the event loop, and the log.
///
/// It keeps the client's tag space (`RequestTable`, so flush works as on a
/// plain channel) and turns every frame the table wants written into
/// `requestSubmitted`; the machine decides whether it goes out, waits, or is
/// answered locally.
///
/// Who touches what: everything here runs on `loop`, the loop of the first
/// connection; every redial is made on that same loop, so all channels and
/// timers share it and nothing hops. Replies and closes from a connection
/// the executor has already reported lost (or closed) carry an old
/// `generation` and are dropped, as the machine requires.
///
/// Re-entrancy: completions may start new requests synchronously; actions
/// are queued and run in order by one drain loop, so the machine's state is
/// never touched from inside one of its own actions.
final class ReconnectExecutor {
    /// The tag kept for the keep-alive probe, outside the client's tag space.
    static let keepAliveTag = Tag(0xFFFD)
    /// The tag the probe flushes: never used by anyone, so the server answers Rflush at once.
    static let keepAliveOldTag = Tag(0xFFFE)

    let loop: any EventLoop
    let address: NinePAddress
    let server: String
    private var machine: ReconnectStateMachine<ContinuousClock.Instant>
    private var table: RequestTable<NinePReplyHandler>
    private var connection: NinePConnection?
    /// Numbers connections; a handler reports with the number it was made for.
    private var generation: UInt64 = 0
    private var dialInProgress = false
    /// A flush is queued on the loop for what `write` wrote.
    /// Requests submitted lazily and not yet written (see `write`).
    private var lazyTags: Set<Tag> = []
    private var timers: [ReconnectTimer: Scheduled<Void>] = [:]
    private var queue = CircularBuffer<ReconnectAction>()
    private var draining = false
    private var closed = false
    /// The msize offered at connect time: the size check on client requests.
    private var messageSize: UInt32
    /// The msize in force (lowered by a reconnected server), readable from any thread.
    let messageSizeInForce: Atomic<UInt32>
    private let dialMessageSize: UInt32
    /// How redials of a `tls!` address check the server (nil: the environment).
    private let tls: NinePTLSClientSettings?
    private let logger: Logger
    private let trace: Logger?
    private let keepAliveInterval: Duration?
    private var keepAliveTask: RepeatedTask?
    private var keepAliveSentAt: ContinuousClock.Instant?
    let fileChanges: FileChangeListeners

    init(
        connection: NinePConnection, policy: ReconnectPolicy, configuration: NinePClient.Configuration,
        server: String, logger: Logger
    ) {
        self.loop = connection.channel.eventLoop
        self.address = connection.address
        self.server = server
        var policy = policy
        policy.recoveryWindow = min(policy.recoveryWindow, configuration.maxOutstandingRequests)
        self.machine = ReconnectStateMachine(policy: policy)
        self.table = RequestTable(limit: min(configuration.maxOutstandingRequests, Int(Self.keepAliveTag.rawValue)))
        self.messageSize = configuration.messageSize
        self.messageSizeInForce = Atomic(configuration.messageSize)
        self.dialMessageSize = configuration.messageSize
        self.tls = configuration.tls
        self.logger = logger
        self.trace = configuration.trace
        self.keepAliveInterval = configuration.keepAliveInterval
        self.fileChanges = FileChangeListeners(configuration.onInvalidate)
        self.connection = connection
    }

    /// Installs the reply handler on the first connection. Loop only.
    func adoptFirstConnection(_ bound: NIOLoopBound<ReconnectExecutor>) throws {
        guard let connection else { return }
        try install(on: connection.channel, generation: generation, bound)
        startKeepAlive(bound)
        if !connection.channel.isActive { connectionEnded(generation: generation, reason: .endOfFile) }
    }

    private func install(on channel: any Channel, generation: UInt64, _ bound: NIOLoopBound<ReconnectExecutor>) throws {
        try channel.pipeline.syncOperations.addHandler(ReconnectChannelHandler(generation: generation, executor: bound))
    }

    // MARK: Client requests (loop only)

    func submit(_ message: Message, id: UInt64, lazily: Bool = false, completion: @escaping NinePReplyHandler) {
        if let tooBig = oversize(message, messageSize: messageSize) {
            completion(.failure(NinePClientError(tooBig, operation: message.type.name, server: server)))
            return
        }
        switch table.submit(id: id, message: message, completion: completion) {
        case .write(let fcall):
            if lazily { lazyTags.insert(fcall.tag) }
            feed(.requestSubmitted(fcall))
        case .queued: break
        case .failed(let error): completion(.failure(error))
        }
    }

    func cancel(id: UInt64) {
        switch table.cancel(id: id) {
        case .unsent(let completion): completion(.failure(CancellationError()))
        case .write(let fcall): feed(.requestSubmitted(fcall))
        case .nothing: break
        }
    }

    func setMessageSize(_ msize: UInt32) {
        messageSize = msize
        applyMessageSize(msize)
    }

    /// Requests held while the connection is down, for tests to wait on.
    var blockedRequestCount: Int { machine.blockedRequests.count }

    private func applyMessageSize(_ msize: UInt32) {
        messageSizeInForce.store(msize, ordering: .relaxed)
        guard let channel = connection?.channel else { return }
        try? channel.pipeline.syncOperations.handler(type: FcallChannelHandler.self).setMaxMessageSize(msize)
    }

    /// Ends the session: pending requests fail, timers stop, the connection closes.
    func close() -> EventLoopFuture<Void> {
        closed = true
        keepAliveTask?.cancel()
        for timer in timers.values { timer.cancel() }
        timers = [:]
        let error = NinePClientError(.connectionLost(reason: "closed by the client"), server: server)
        for completion in table.close(with: error) { completion(.failure(error)) }
        guard let connection else { return loop.makeSucceededVoidFuture() }
        self.connection = nil
        generation += 1
        connection.channel.close(promise: nil)
        return connection.closeFuture
    }

    // MARK: Connection events (loop only)

    func received(_ fcall: Fcall, generation: UInt64) {
        guard generation == self.generation, connection != nil else { return }
        if fcall.tag == Self.keepAliveTag {
            keepAliveSentAt = nil
            return
        }
        trace?.debug("← \(fcall)")
        feed(.replyReceived(fcall))
    }

    func connectionEnded(generation: UInt64, reason: DisconnectReason) {
        guard generation == self.generation, connection != nil, !closed else { return }
        // From here on, anything still buffered on that connection is stale.
        self.generation += 1
        connection = nil
        feed(.connectionLost(reason))
    }

    // MARK: The machine

    private func feed(_ event: ReconnectEvent) {
        guard !closed else { return }
        queue.append(contentsOf: machine.handle(event, now: .now))
        guard !draining else { return }
        draining = true
        defer { draining = false }
        while let action = queue.popFirst() { perform(action) }
    }

    private func perform(_ action: ReconnectAction) {
        switch action {
        case .send(let fcall):
            trace?.debug("→ \(fcall)")
            write(fcall, lazily: lazyTags.remove(fcall.tag) != nil)
        case .replay(let fcall):
            trace?.debug("replay → \(fcall)")
            write(fcall)
        case .deliver(let fcall):
            deliver(tag: fcall.tag, fcall.message.replyError.map { .failure($0) } ?? .success(fcall.message))
        case .fail(let tag, let error):
            deliver(tag: tag, .failure(NinePClientError(reconnect: error, server: server)))
        case .blockRequests:
            keepAliveSentAt = nil
            fileChanges.connectionLost()
        case .resumeRequests:
            break
        case .closeConnection:
            if let connection {
                self.connection = nil
                generation += 1
                connection.channel.close(promise: nil)
            }
        case .dial:
            dial()
        case .scheduleTimer(let timer, let delay):
            timers[timer]?.cancel()
            let bound = NIOLoopBound(self, eventLoop: loop)
            timers[timer] = loop.scheduleTask(in: .nanoseconds(delay.nanosecondsClamped)) {
                bound.value.timers[timer] = nil
                bound.value.feed(.timerFired(timer))
            }
        case .cancelTimer(let timer):
            timers.removeValue(forKey: timer)?.cancel()
        case .setMessageSize(let msize):
            applyMessageSize(msize)
        case .markFidDead(let fid, let error):
            trace?.debug("fid \(fid) is dead: \(error)")
        case .invalidate(let fid, let old, let new):
            trace?.debug("fid \(fid) changed while away: \(old) → \(new)")
            fileChanges.changed(fid, new)
        case .giveUp:
            keepAliveTask?.cancel()
            for timer in timers.values { timer.cancel() }
            timers = [:]
        case .log(let level, let text):
            logger.log(level: level, "\(text)")
        }
    }

    /// Writes and flushes, or for a lazy request lets it wait for company;
    /// `FcallChannelHandler` gathers the flushes, so what is written in one
    /// pass of the loop (a pipelined Twalk and Tstat, a recovery's burst)
    /// leaves in one system call and wakes the server once.
    private func write(_ fcall: Fcall, lazily: Bool = false) {
        guard let channel = connection?.channel else { return }
        channel.write(fcall, promise: nil)
        channel.flush(lazily: lazily)
    }

    private func deliver(tag: Tag, _ result: Result<Message, any Error>) {
        lazyTags.remove(tag)
        let received = table.receive(tag: tag)
        while let next = table.nextWrite() { feed(.requestSubmitted(next)) }
        switch received {
        case .deliver(let completion): completion(result)
        case .flushed(let completion?): completion(.failure(CancellationError()))
        case .flushed(nil): break
        case .unexpected: trace?.warning("reply with unexpected tag \(tag) ignored")
        }
    }

    private func dial() {
        guard !dialInProgress, !closed else { return }
        dialInProgress = true
        let attempt = generation + 1
        let bound = NIOLoopBound(self, eventLoop: loop)
        let promise = loop.makePromise(of: NinePConnection.self)
        let (address, loop, size, tls) = (address, loop, dialMessageSize, tls)
        promise.completeWithTask {
            try await NinePConnection.dial(address, group: loop, maxMessageSize: size, tls: tls) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ReconnectChannelHandler(generation: attempt, executor: bound))
                }
            }
        }
        promise.futureResult.hop(to: loop).whenComplete { result in
            bound.value.dialed(result, generation: attempt)
        }
    }

    private func dialed(_ result: Result<NinePConnection, any Error>, generation attempt: UInt64) {
        dialInProgress = false
        switch result {
        case .success(let connection):
            guard !closed, machine.phase == .dialing else {
                connection.channel.close(promise: nil)
                return
            }
            generation = attempt
            self.connection = connection
            applyMessageSize(messageSizeInForce.load(ordering: .relaxed))
            feed(.dialSucceeded)
            if !connection.channel.isActive { connectionEnded(generation: attempt, reason: .endOfFile) }
        case .failure(let error):
            feed(.dialFailed("\(error)"))
        }
    }

    // MARK: Keep-alive

    /// Every `keepAliveInterval` while connected: a Tflush of a tag nobody
    /// uses, which any server answers with Rflush and which changes nothing.
    /// No answer by the next tick counts as a lost connection.
    private func startKeepAlive(_ bound: NIOLoopBound<ReconnectExecutor>) {
        guard let interval = keepAliveInterval, interval > .zero else { return }
        let amount = TimeAmount.nanoseconds(interval.nanosecondsClamped)
        keepAliveTask = loop.scheduleRepeatedTask(initialDelay: amount, delay: amount) { _ in
            bound.value.keepAliveTick()
        }
    }

    private func keepAliveTick() {
        guard !closed, connection != nil, machine.phase == .connected else {
            keepAliveSentAt = nil
            return
        }
        if keepAliveSentAt != nil {
            keepAliveSentAt = nil
            logger.notice("\(server): no answer to keep-alive")
            feed(.keepAliveTimeout)
            return
        }
        keepAliveSentAt = .now
        write(Fcall(tag: Self.keepAliveTag, .tflush(Tflush(oldtag: Self.keepAliveOldTag))))
    }
}

/// The last handler of a reconnecting client's channel: hands replies and the
/// end of the connection to the executor, stamped with the connection's number.
final class ReconnectChannelHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = Fcall

    private let generation: UInt64
    private let executor: NIOLoopBound<ReconnectExecutor>
    private var reason: DisconnectReason?

    init(generation: UInt64, executor: NIOLoopBound<ReconnectExecutor>) {
        self.generation = generation
        self.executor = executor
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        executor.value.received(unwrapInboundIn(data), generation: generation)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if reason == nil {
            switch error {
            case let wire as WireError:
                if case .linuxError(let errno) = wire.kind { reason = .linuxError(errno: errno) } else { reason = .protocolError("\(wire)") }
            default:
                reason = .reset(NinePTransportError.reason(for: error))
            }
        }
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        executor.value.connectionEnded(generation: generation, reason: reason ?? .endOfFile)
        context.fireChannelInactive()
    }
}

/// `FcallTransport` over a `ReconnectExecutor`: every call hops to its loop
/// unless already on it, in `execute` order.
struct ReconnectingFcallTransport: FcallTransport {
    let executor: NIOLoopBound<ReconnectExecutor>
    let loop: any EventLoop

    var eventLoop: any EventLoop { loop }

    private func run(_ body: @escaping @Sendable (ReconnectExecutor) -> Void) {
        if loop.inEventLoop {
            body(executor.value)
        } else {
            loop.execute { [executor] in body(executor.value) }
        }
    }

    func start(_ message: Message, id: UInt64, lazily: Bool, completion: @escaping NinePReplyHandler) {
        run { $0.submit(message, id: id, lazily: lazily, completion: completion) }
    }

    func cancel(id: UInt64) {
        run { $0.cancel(id: id) }
    }

    func setMessageSize(_ msize: UInt32) -> EventLoopFuture<Void> {
        loop.submit { [executor] in executor.value.setMessageSize(msize) }
    }

    func close() -> EventLoopFuture<Void> {
        loop.flatSubmit { [executor] in executor.value.close() }
    }

    /// How many requests wait for the connection to come back.
    func blockedRequestCount() -> EventLoopFuture<Int> {
        loop.submit { [executor] in executor.value.blockedRequestCount }
    }
}

extension Duration {
    /// Nanoseconds, saturating at Int64's range: for NIO's `TimeAmount`.
    var nanosecondsClamped: Int64 {
        let (seconds, attoseconds) = components
        let (product, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return seconds < 0 ? .min : .max }
        let (sum, overflow2) = product.addingReportingOverflow(attoseconds / 1_000_000_000)
        return overflow2 ? .max : sum
    }
}
