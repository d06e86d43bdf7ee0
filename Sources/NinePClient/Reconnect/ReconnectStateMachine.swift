public import NinePWire
import NIOCore

/// The reconnect policy: a pure state machine that turns what happened to the
/// connection (`ReconnectEvent`) into what to do about it (`ReconnectAction`),
/// after Inferno's styxpersist(2).
///
/// It sits between the client and the wire and sees every T-message
/// (`requestSubmitted`) and R-message (`replyReceived`), so it can keep the
/// `FidRegistry` and the outstanding requests. When the connection drops, it
/// blocks the client, redials with backoff, resumes the session (Tversion,
/// re-attach, re-walk, reopen, qid check: see `RecoveryRun`), replays the
/// idempotent requests that were in flight, fails the others with
/// `ReconnectError.mayHaveHappened`, and lets the blocked requests through.
///
/// No I/O, no tasks, no clock reads: time comes in with each event as
/// `now` (a `ContinuousClock.Instant` in production, a mock instant in tests)
/// and timers go out as `.scheduleTimer`. Jitter comes from the random
/// source given to `init`.
///
/// Who calls: one executor (an actor or a channel handler on one event
/// loop) owns the machine, feeds it every event in the order they happened,
/// and carries out the returned actions in order. It must deliver only
/// replies read from the current connection: once it has reported
/// `connectionLost`, replies still buffered from that connection are dropped.
///
/// Decisions:
/// - Fids keep their numbers across a reconnect (nothing to remap in the client
///   or the mount): each is re-walked from a temporary root fid straight to its
///   own number, which is free on a fresh connection.
/// - Recovery chooses its own tags and fids. Tags: any (from 0 up, NOTAG for
///   Tversion), because recovery runs while all client traffic is held and
///   the new connection carries nothing else. Root fids: from 0xFFFFFFFE
///   down, skipping every number in the registry. All are answered or
///   clunked before client traffic resumes, so none can collide with the
///   client's later choices.
/// - Requests submitted while the connection is down wait in `blockedRequests`,
///   except that requests on a dead fid are answered at once (a clunk
///   locally with Rclunk), a clunk before recovery has begun is answered
///   locally and its fid left out of the recovery, and a Tflush is always answered at once, so that an
///   interrupted request returns promptly while the server is away: the old
///   request is dropped if it was never sent or is idempotent (it counts as
///   never sent), or failed with `mayHaveHappened` first if it was not.
///   Tflushes in flight at the disconnect are answered the same way there and then.
/// - Requests larger than the msize in force (lowered by a reconnected
///   server) are cut to fit: a read asks for less, a write sends a prefix and
///   its Rwrite reports the shorter count, which callers treat as a short write.
/// - Reconnecting is for a session that was up: a connection lost before
///   the first Rattach (a server that refuses the version, sends garbage or
///   hangs up) ends the session, as does a loss with reconnecting disabled.
///   The machine then stays down: requests fail at once with the same
///   error, except Tclunk (answered Rclunk: the fid is gone either way) and
///   Tflush (answered Rflush).
/// - A redial whose new connection refuses the resuming Tversion or a
///   re-attach, or breaks before recovery ends, is a failed attempt like a
///   refused dial: closed, logged, and retried after the backoff delay.
/// - `ReconnectPolicy.requestTimeout` bounds how long requests wait, not
///   how long the machine tries (a soft mount): when the outage has lasted
///   that long, the waiting requests fail with `ReconnectError.timedOut`, and
///   so do new ones until the server is back; redialling goes on.
public struct ReconnectStateMachine<Instant: InstantProtocol & Sendable>: Sendable where Instant.Duration == Duration {
    /// Where the machine is, for status displays and tests.
    public enum Phase: Hashable, Sendable {
        /// Client traffic flows.
        case connected
        /// Waiting for the backoff timer before the next redial.
        case waitingToRedial
        /// A redial is in progress.
        case dialing
        /// Connected again and restoring the session.
        case recovering
        /// Given up or disabled: the session is over.
        case down
    }

    private enum State: Sendable {
        case connected
        case waitingToRedial
        case dialing
        case recovering(RecoveryRun, lastProgress: Instant)
        case down(ReconnectError)
    }

    /// The policy this machine follows.
    public let policy: ReconnectPolicy
    /// What is known about every fid.
    public private(set) var registry: FidRegistry
    /// Client requests sent and not yet answered, in send order.
    public private(set) var outstanding = OutstandingRequests()
    /// Client requests submitted while the connection was down, in order.
    public private(set) var blockedRequests: [Fcall] = []
    private var state = State.connected
    private var random: any RandomNumberGenerator & Sendable
    /// When the current outage began.
    private var lostAt: Instant?
    /// Redials made in the current outage.
    private var retries = 0
    /// When the last outage ended (recovery finished), and when it began:
    /// a protocol error soon after a reconnect continues that outage.
    private var recoveredAt: Instant?
    private var previousLostAt: Instant?
    /// Whether the session was ever established (an Rattach arrived):
    /// only then is a lost connection worth redialling.
    public private(set) var isEstablished = false
    /// Set while the current outage has outlasted `policy.requestTimeout`:
    /// requests fail at once with this error instead of waiting.
    private var timedOut: ReconnectError?

    /// A machine for a connection that is up and about to carry the client's
    /// first message (normally Tversion).
    ///
    /// - Parameters:
    ///   - registry: what is already known, if the machine takes over a live session.
    ///   - random: the source of backoff jitter.
    public init(
        policy: ReconnectPolicy, registry: FidRegistry = FidRegistry(),
        random: some RandomNumberGenerator & Sendable = SystemRandomNumberGenerator()
    ) {
        self.policy = policy
        self.registry = registry
        self.random = random
        // Taking over a live session: it was established.
        self.isEstablished = !registry.fids.isEmpty
    }

    public var phase: Phase {
        switch state {
        case .connected: .connected
        case .waitingToRedial: .waitingToRedial
        case .dialing: .dialing
        case .recovering: .recovering
        case .down: .down
        }
    }

    private var server: String { policy.server }

    private var liveFidCount: Int { registry.entries.values.filter { !$0.isDead }.count }

    /// Takes one event and returns what to do, in order.
    public mutating func handle(_ event: ReconnectEvent, now: Instant) -> [ReconnectAction] {
        switch event {
        case .requestSubmitted(let call): submit(call)
        case .replyReceived(let reply): receive(reply, now: now)
        case .connectionLost(let reason): lose(reason, now: now)
        case .keepAliveTimeout: lose(.keepAliveTimeout, now: now)
        case .dialSucceeded: dialed(now: now)
        case .dialFailed(let error): dialFailed(error, now: now)
        case .timerFired(let timer): timerFired(timer, now: now)
        }
    }

    // MARK: Client traffic

    private mutating func submit(_ call: Fcall) -> [ReconnectAction] {
        switch state {
        case .connected:
            return submitConnected(call)
        case .down(let error):
            return answerWhileDown(call, error)
        case .waitingToRedial, .dialing, .recovering:
            if let timedOut, failsFast(call) { return failFast(call, timedOut) }
            if case .tflush(let flush) = call.message {
                var actions: [ReconnectAction] = []
                if let index = blockedRequests.firstIndex(where: { $0.tag == flush.oldtag }) {
                    blockedRequests.remove(at: index)
                } else {
                    actions = cancelInFlight(flush.oldtag)
                }
                return actions + [.deliver(Fcall(tag: call.tag, .rflush(Rflush())))]
            }
            if let local = answerForDeadFid(call) { return local }
            if case .tclunk(let t) = call.message, phase != .recovering {
                // The server forgot the fid with the connection, and no
                // recovery message names it yet: the clunk is answered here
                // and the fid is not restored (an unmount while the server
                // is down does not wait for it to return).
                registry.recordClunk(fid: t.fid)
                return [.deliver(Fcall(tag: call.tag, .rclunk(Rclunk())))]
            }
            blockedRequests.append(call)
            return []
        }
    }

    private mutating func submitConnected(_ call: Fcall) -> [ReconnectAction] {
        if case .tflush(let flush) = call.message, !outstanding.contains(flush.oldtag) {
            // Step 10: a flush of a tag that is no longer outstanding is answered here.
            return [.deliver(Fcall(tag: call.tag, .rflush(Rflush())))]
        }
        if let local = answerForDeadFid(call) { return local }
        let fitted = fitToMessageSize(call)
        outstanding.add(fitted)
        return [.send(fitted)]
    }

    /// Step 7: a dead fid answers ESTALE-like errors; its clunk is answered
    /// locally; a remove fails but frees the fid, as remove(5) says.
    private mutating func answerForDeadFid(_ call: Fcall) -> [ReconnectAction]? {
        guard let fid = call.message.fid, let entry = registry[fid], entry.isDead else { return nil }
        switch call.message {
        case .tattach:
            return nil  // names a new fid; the server has no such fid any more
        case .tclunk:
            registry.recordClunk(fid: fid)
            return [.deliver(Fcall(tag: call.tag, .rclunk(Rclunk())))]
        case .tremove:
            registry.recordRemove(fid: fid)
            return [.fail(call.tag, .staleFid(path: entry.pathDescription))]
        default:
            return [.fail(call.tag, .staleFid(path: entry.pathDescription))]
        }
    }

    /// The client gave up on an in-flight request while the connection was
    /// down. Idempotent: drop it (it counts as never sent). Not: it may
    /// have happened, so say so before the Rflush.
    private mutating func cancelInFlight(_ tag: Tag) -> [ReconnectAction] {
        guard let request = outstanding.remove(tag) else { return [] }
        guard case .mayHaveHappened(let operation) = InFlightTreatment(request.message, registry: registry) else { return [] }
        if case .tremove(let t) = request.message { registry.recordRemove(fid: t.fid) }
        return [.fail(tag, .mayHaveHappened(operation: operation))]
    }

    /// Cuts a read or write to the msize in force.
    private func fitToMessageSize(_ call: Fcall) -> Fcall {
        guard let msize = registry.messageSize, msize > NineP.ioHeaderSize else { return call }
        let limit = msize - NineP.ioHeaderSize
        switch call.message {
        case .tread(var t) where t.count > limit:
            t.count = limit
            return Fcall(tag: call.tag, .tread(t))
        case .twrite(var t) where t.data.readableBytes > Int(limit):
            t.data = t.data.getSlice(at: t.data.readerIndex, length: Int(limit)) ?? t.data
            return Fcall(tag: call.tag, .twrite(t))
        default:
            return call
        }
    }

    private mutating func answerWhileDown(_ call: Fcall, _ error: ReconnectError) -> [ReconnectAction] {
        switch call.message {
        case .tflush:
            return [.deliver(Fcall(tag: call.tag, .rflush(Rflush())))]
        case .tclunk(let t):
            registry.recordClunk(fid: t.fid)
            return [.deliver(Fcall(tag: call.tag, .rclunk(Rclunk())))]
        default:
            return [.fail(call.tag, error)]
        }
    }

    // MARK: Replies

    private mutating func receive(_ reply: Fcall, now: Instant) -> [ReconnectAction] {
        switch state {
        case .connected:
            guard let request = outstanding.remove(reply.tag) else {
                return [.log(.warning, "\(server): dropped a reply to tag \(reply.tag), which is not outstanding: \(reply)")]
            }
            switch (request.message, reply.message) {
            case (.tflush(let flush), .rflush):
                outstanding.remove(flush.oldtag)  // flush(5): the old tag is free, no reply will come
            case (.tversion, .rversion(let r)) where r.version != ProtocolVersion.unknown:
                _ = outstanding.removeAll()  // version(5): "all outstanding I/O on the connection is aborted"
            default:
                break
            }
            if case .rattach = reply.message { isEstablished = true }
            registry.observe(request: request.message, reply: reply.message)
            return [.deliver(reply)]
        case .recovering(var run, _):
            // Take the run out of `state` first: a copy still held there
            // would make each reply copy every table of the run (quadratic
            // in the number of fids restored).
            state = .dialing
            let actions = run.receive(reply, registry: &registry)
            state = .recovering(run, lastProgress: now)
            switch run.outcome {
            case nil: return actions
            case .finished: return actions + complete(run, now: now)
            case .refused(let why): return actions + attemptFailed(why)
            }
        case .waitingToRedial, .dialing, .down:
            return [.log(.debug, "\(server): dropped a reply from a lost connection: \(reply)")]
        }
    }

    // MARK: Connection

    private mutating func lose(_ reason: DisconnectReason, now: Instant) -> [ReconnectAction] {
        switch state {
        case .connected:
            guard policy.isEnabled else {
                let error = ReconnectError.disabled(server: server)
                return [
                    .closeConnection,
                    .log(.notice, "\(server): connection lost (\(reason)); reconnecting is disabled: failing \(outstanding.count) requests"),
                ] + enterDown(error)
            }
            guard isEstablished else {
                // Nothing to resume: the caller hears why, at once (so the log need not say it loudly).
                let error = ReconnectError.lostBeforeAttach(server: server, reason: reason)
                return [.closeConnection, .log(.info, "\(error)")] + enterDown(error)
            }
            if isFlapping(reason, now: now) {
                // The server answered the resumed session with something
                // that cannot be decoded: the same outage goes on, backoff
                // and give-up deadline included, rather than a tight loop
                // of reconnect, replay, protocol error.
                lostAt = previousLostAt ?? now
            } else {
                lostAt = now
                retries = 0
            }
            // A fid with a Tremove in flight is gone for the client whatever
            // the server did (remove(5) clunks it even on failure): it is not
            // restored, and anything else sent on it fails as stale. Marked
            // quietly: this is no news for the mount.
            for call in outstanding.inSendOrder {
                if case .tremove(let t) = call.message { registry.markDead(t.fid) }
            }
            var actions: [ReconnectAction] = [
                .closeConnection,
                .blockRequests,
                .log(.notice, "\(server): connection lost (\(reason)); \(outstanding.count) requests in flight, \(liveFidCount) fids to restore"),
            ]
            for call in outstanding.inSendOrder {
                guard case .tflush(let flush) = call.message, outstanding.remove(call.tag) != nil else { continue }
                actions += cancelInFlight(flush.oldtag)
                actions.append(.deliver(Fcall(tag: call.tag, .rflush(Rflush()))))
            }
            if let limit = policy.requestTimeout, let lostAt {
                let deadline = lostAt.advanced(by: limit)
                if now < deadline {
                    actions.append(.scheduleTimer(.requestTimeout, after: now.duration(to: deadline)))
                } else {
                    // A flapping server continues an outage already past its bound.
                    actions += timeOutRequests(limit)
                }
            }
            return actions + redial()
        case .recovering:
            return attemptFailed("the new connection was lost during recovery (\(reason))")
        case .waitingToRedial, .dialing, .down:
            return [.log(.debug, "\(server): connection loss (\(reason)) while not connected, ignored")]
        }
    }

    /// Whether a loss of the connection continues the previous outage: a
    /// protocol error within `backoff.maximumDelay` of the end of a recovery.
    private func isFlapping(_ reason: DisconnectReason, now: Instant) -> Bool {
        guard case .protocolError = reason, let recoveredAt else { return false }
        return recoveredAt.duration(to: now) < policy.backoff.maximumDelay
    }

    /// Step 2: dial now (first retry) or after the backoff delay.
    private mutating func redial() -> [ReconnectAction] {
        retries += 1
        let delay = retries <= 1 ? Duration.zero : policy.backoff.delay(beforeRetry: retries, unit: drawUnit())
        guard delay > .zero else {
            state = .dialing
            return [.log(.notice, "\(server): redialling (attempt \(retries))"), .dial]
        }
        state = .waitingToRedial
        return [
            .log(.notice, "\(server): redialling in \(delay.reconnectSecondsText) (attempt \(retries))"),
            .scheduleTimer(.backoff, after: delay),
        ]
    }

    private mutating func dialFailed(_ error: String, now: Instant) -> [ReconnectAction] {
        guard case .dialing = state else {
            return [.log(.debug, "\(server): dial failure (\(error)) while not dialling, ignored")]
        }
        return [.log(.notice, "\(server): redial attempt \(retries) failed: \(error)")] + redial()
    }

    /// A new connection that would not resume the session: closed, and
    /// another attempt after the backoff delay. Never "reconnected".
    private mutating func attemptFailed(_ why: String) -> [ReconnectAction] {
        [
            .closeConnection,
            .cancelTimer(.recoveryStall),
            .log(.notice, "\(server): redial attempt \(retries) failed: \(why)"),
        ] + redial()
    }

    /// The outage has lasted `limit`: the waiting requests fail, and new
    /// ones will fail at once until the server is back (a soft mount).
    private mutating func timeOutRequests(_ limit: Duration) -> [ReconnectAction] {
        let error = ReconnectError.timedOut(server: server, after: limit)
        timedOut = error
        var failed: [ReconnectAction] = []
        for call in outstanding.removeAll() {
            if failsFast(call) { failed += failFast(call, error) } else { outstanding.add(call) }
        }
        let blocked = blockedRequests
        blockedRequests = []
        for call in blocked {
            if failsFast(call) { failed += failFast(call, error) } else { blockedRequests.append(call) }
        }
        let count = failed.count
        return [
            .log(.notice, "\(server): away for \(limit.reconnectSecondsText): failing \(count) waiting requests, and new ones until it is back; still redialling")
        ] + failed
    }

    /// Whether `call` fails at once while timed out: all but a Tflush,
    /// and a Tclunk or Tremove during a recovery, which waits for it (the
    /// fid it names may be being restored right now).
    private func failsFast(_ call: Fcall) -> Bool {
        if case .tflush = call.message { return false }
        if case .tclunk = call.message { return phase != .recovering }
        if case .tremove = call.message { return phase != .recovering }
        return true
    }

    /// Answers `call` with the timeout (a clunk locally, with Rclunk; a
    /// remove fails but frees its fid, as remove(5) says).
    private mutating func failFast(_ call: Fcall, _ error: ReconnectError) -> [ReconnectAction] {
        if case .tremove(let t) = call.message { registry.recordRemove(fid: t.fid) }
        return answerWhileDown(call, error)
    }

    /// Steps 3 to 7 start here.
    private mutating func dialed(now: Instant) -> [ReconnectAction] {
        guard case .dialing = state else {
            if case .down = state { return [.log(.notice, "\(server): connected after giving up; closing"), .closeConnection] }
            return [.log(.warning, "\(server): dial success while not dialling, ignored")]
        }
        let live = liveFidCount
        var run = RecoveryRun(server: server, window: policy.recoveryWindow)
        var actions: [ReconnectAction] = [
            .log(.notice, "\(server): connected (attempt \(retries)); restoring \(live) fids")
        ]
        actions += run.start(registry: &registry)
        if run.isFinished { return actions + complete(run, now: now) }
        state = .recovering(run, lastProgress: now)
        if let timeout = policy.recoveryReplyTimeout {
            actions.append(.scheduleTimer(.recoveryStall, after: timeout))
        }
        return actions
    }

    /// Steps 8 and 9, then the blocked requests go through.
    private mutating func complete(_ run: RecoveryRun, now: Instant) -> [ReconnectAction] {
        let took = lostAt.map { $0.duration(to: now) } ?? .zero
        state = .connected
        recoveredAt = now
        previousLostAt = lostAt
        lostAt = nil
        timedOut = nil
        var requests: [ReconnectAction] = []
        var replayed = 0
        var failed = 0
        for call in outstanding.removeAll() {
            if case .tflush(let flush) = call.message, !outstanding.contains(flush.oldtag) {
                requests.append(.deliver(Fcall(tag: call.tag, .rflush(Rflush()))))
                continue
            }
            switch InFlightTreatment(call.message, registry: registry) {
            case .mayHaveHappened(let operation):
                if case .tremove(let t) = call.message { registry.recordRemove(fid: t.fid) }
                failed += 1
                requests.append(.fail(call.tag, .mayHaveHappened(operation: operation)))
            case .replay:
                if let local = answerForDeadFid(call) {
                    requests += local
                    continue
                }
                let fitted = fitToMessageSize(call)
                outstanding.add(fitted)
                replayed += 1
                requests.append(.replay(fitted))
            }
        }
        let queued = blockedRequests
        blockedRequests = []
        for call in queued {
            requests += submitConnected(call)
        }
        var actions: [ReconnectAction] = [.cancelTimer(.recoveryStall)]
        if policy.requestTimeout != nil { actions.append(.cancelTimer(.requestTimeout)) }
        actions.append(.log(.notice, "\(server): reconnected in \(took.reconnectSecondsText): \(run.restoredCount) fids restored, \(run.deadCount) stale, \(run.invalidatedCount) changed; \(replayed) requests replayed, \(failed) failed as possibly done, \(queued.count) released"))
        return actions + requests + [.resumeRequests]
    }

    /// Fails everything with `error` and stays down.
    private mutating func enterDown(_ error: ReconnectError) -> [ReconnectAction] {
        state = .down(error)
        lostAt = nil
        var actions: [ReconnectAction] = []
        for call in outstanding.removeAll() + blockedRequests {
            actions += answerWhileDown(call, error)
        }
        blockedRequests = []
        return actions + [.giveUp(error)]
    }

    // MARK: Timers

    private mutating func timerFired(_ timer: ReconnectTimer, now: Instant) -> [ReconnectAction] {
        switch (timer, state) {
        case (.backoff, .waitingToRedial):
            state = .dialing
            return [.dial]
        case (.requestTimeout, .waitingToRedial), (.requestTimeout, .dialing), (.requestTimeout, .recovering):
            guard let lostAt, let limit = policy.requestTimeout, timedOut == nil else { return [] }
            let deadline = lostAt.advanced(by: limit)
            guard deadline <= now else { return [.scheduleTimer(.requestTimeout, after: now.duration(to: deadline))] }
            return timeOutRequests(limit)
        case (.recoveryStall, .recovering(_, let lastProgress)):
            guard let timeout = policy.recoveryReplyTimeout else { return [] }
            let deadline = lastProgress.advanced(by: timeout)
            guard deadline <= now else { return [.scheduleTimer(.recoveryStall, after: now.duration(to: deadline))] }
            return lose(.recoveryStalled, now: now)
        default:
            return [.log(.debug, "\(server): stale \(timer) timer ignored")]
        }
    }

    /// A uniform draw in [0, 1) from the top 53 bits of the random source.
    private mutating func drawUnit() -> Double {
        Double(random.next() >> 11) * 0x1p-53
    }
}
