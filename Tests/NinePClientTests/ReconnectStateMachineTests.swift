import NIOCore
import NinePWire
import Testing
@testable import NinePClient

/// The connection-level paths: block, redial with backoff, give up, disabled,
/// a second loss during recovery, stalls and keep-alives, logging.
@Suite("Reconnect state machine: connection")
struct ReconnectStateMachineTests {
    static let fileFid = Fid(1)
    static let readFile = Message.tread(Tread(fid: fileFid, offset: 0, count: 100))

    /// A session with fid 1 open ORDWR on dir/file.
    func session(_ policy: ReconnectPolicy = ReconnectPolicy(server: "tcp!fs!564"), random: [Double] = [0.5]) -> ReconnectHarness {
        var h = ReconnectHarness(policy: policy, random: random)
        h.establish(open: [(Self.fileFid, ["dir", "file"], .readWrite)])
        h.clearRecord()
        return h
    }

    @Test func trafficPassesThroughWhileConnected() {
        var h = ReconnectHarness()
        h.establish(open: [(Self.fileFid, ["dir", "file"], .readWrite)])
        #expect(h.machine.phase == .connected)
        #expect(h.machine.registry[Self.fileFid]?.path == ["dir", "file"])
        #expect(h.machine.registry[Self.fileFid]?.openMode == .readWrite)
        #expect(h.machine.registry.messageSize == 8192)
        h.clearRecord()
        let tag = h.submit(Self.readFile)
        #expect(h.actions == [.send(Fcall(tag: tag, Self.readFile))])
        #expect(h.machine.outstanding.count == 1)
        h.pump()
        #expect(h.outcome(tag) == .reply(.rread(Rread(data: ByteBuffer(string: "0123456789")))))
        #expect(h.machine.outstanding.isEmpty)
    }

    @Test func aLostConnectionBlocksRequestsAndRedialsAtOnce() {
        var h = session()
        let inFlight = h.submit(Self.readFile)
        h.clearRecord()
        h.crash()
        #expect(Array(h.actions.prefix(2)) == [.closeConnection, .blockRequests])
        #expect(h.actions.last == .dial)
        #expect(h.dials == 1)
        #expect(h.answers.isEmpty, "in-flight requests wait; they do not fail")
        #expect(h.machine.phase == .dialing)

        let blocked = h.submit(.tstat(Tstat(fid: Self.fileFid)))
        #expect(h.machine.blockedRequests.map(\.tag) == [blocked])
        #expect(h.sent.isEmpty, "nothing is sent while the connection is down")

        h.reconnect()
        #expect(h.machine.phase == .connected)
        #expect(h.replayed.map(\.tag) == [inFlight])
        #expect(h.outcome(inFlight) == .reply(.rread(Rread(data: ByteBuffer(string: "0123456789")))))
        guard case .reply(.rstat(let r)) = h.outcome(blocked) else {
            Issue.record("blocked stat got \(String(describing: h.outcome(blocked)))")
            return
        }
        #expect(r.stat.name == "file")
        let resumed = h.actions.firstIndex(of: .resumeRequests)
        let replayed = h.actions.firstIndex { if case .replay = $0 { true } else { false } }
        #expect(resumed != nil && replayed != nil && replayed! < resumed!)
        #expect(h.machine.blockedRequests.isEmpty && h.machine.outstanding.isEmpty)
    }

    @Test func aClunkWhileDownIsAnsweredHereAndItsFidIsNotRestored() {
        var h = session()
        h.crash()
        #expect(h.machine.phase == .dialing)
        let clunk = h.submit(.tclunk(Tclunk(fid: Self.fileFid)))
        #expect(h.outcome(clunk) == .reply(.rclunk(Rclunk())), "answered at once, not blocked")
        #expect(h.machine.blockedRequests.isEmpty)
        #expect(h.machine.registry[Self.fileFid] == nil)

        h.reconnect()
        #expect(h.machine.phase == .connected)
        let namesFile = h.sent.contains { call in
            switch call.message {
            case .twalk(let t): t.newfid == Self.fileFid || t.wname.contains("file")
            case .topen(let t): t.fid == Self.fileFid
            default: false
            }
        }
        #expect(!namesFile, "the clunked fid was restored: \(h.sent)")
        #expect(h.answerCount(clunk) == 1)
    }

    @Test func dialFailuresBackOffThenSucceed() {
        var h = session(random: [0.5])
        _ = h.submit(Self.readFile)
        h.crash()
        var delays: [Duration] = []
        for attempt in 1...5 {
            #expect(h.machine.phase == .dialing)
            h.handle(.dialFailed("connection refused"))
            guard let at = h.timers[.backoff] else {
                Issue.record("no backoff timer after failure \(attempt)")
                return
            }
            delays.append(h.now.duration(to: at))
            #expect(h.machine.phase == .waitingToRedial)
            h.fire(.backoff)
        }
        #expect(delays == [.seconds(1), .seconds(1.5), .seconds(2.25), .seconds(3.375), .seconds(5.0625)])
        #expect(h.dials == 6)
        h.reconnect()
        #expect(h.machine.phase == .connected)
        #expect(h.answers.count == 1 && h.answers[0].outcome.isError == false)
        let notices = h.logs(.notice)
        #expect(notices.filter { $0.contains("redial attempt") && $0.contains("connection refused") }.count == 5)
        #expect(notices.contains { $0.contains("reconnected in 13.2 s") })
    }

    @Test func jitterComesFromTheInjectedSource() {
        var h = session(random: [0, 0.999_999_9])
        h.crash()
        h.handle(.dialFailed("refused"))
        let first = h.now.duration(to: h.timers[.backoff]!)
        h.fire(.backoff)
        h.handle(.dialFailed("refused"))
        let second = h.now.duration(to: h.timers[.backoff]!)
        #expect(first == .seconds(0.75))
        #expect(abs(second.reconnectSeconds - 1.875) < 1e-6)
    }

    @Test func backoffIsCappedAtThirtySeconds() {
        var h = session()
        h.crash()
        var last = Duration.zero
        for _ in 0..<20 {
            h.handle(.dialFailed("no route to host"))
            last = h.now.duration(to: h.timers[.backoff]!)
            #expect(last <= .seconds(30))
            h.fire(.backoff)
        }
        #expect(last == .seconds(30))
    }

    /// A soft mount: the request timeout fails what waits, and what comes
    /// later, but redialling goes on and the session comes back.
    @Test func requestTimeoutFailsWaitingRequestsButKeepsRedialling() {
        var policy = ReconnectPolicy(server: "tcp!fs!564")
        policy.requestTimeout = .seconds(10)
        var h = session(policy)
        let inFlight = h.submit(Self.readFile)
        h.crash()
        #expect(h.timers[.requestTimeout] == h.now.advanced(by: .seconds(10)))
        h.handle(.dialFailed("refused"))
        h.fire(.backoff)
        let blocked = h.submit(.tstat(Tstat(fid: Self.fileFid)))
        #expect(h.outcome(blocked) == nil, "before the timeout, requests wait")
        h.handle(.dialFailed("refused"))
        h.fire(.requestTimeout)
        let error = ReconnectError.timedOut(server: "tcp!fs!564", after: .seconds(10))
        #expect(h.outcome(inFlight) == .failed(error))
        #expect(h.outcome(blocked) == .failed(error))
        #expect(!h.actions.contains { if case .giveUp = $0 { true } else { false } }, "the session is not over")
        #expect(h.machine.phase == .waitingToRedial)
        #expect(error.description == "i/o error: tcp!fs!564 has been away for more than 10.0 s (the reconnect timeout); still redialling")
        #expect(h.logs(.notice).contains { $0.contains("still redialling") })

        // While the server stays away, new requests fail at once, clunks and flushes are answered.
        let later = h.submit(Self.readFile)
        #expect(h.outcome(later) == .failed(error))
        let flush = h.submit(.tflush(Tflush(oldtag: later)))
        #expect(h.outcome(flush) == .reply(.rflush(Rflush())))

        // Redialling goes on with backoff, for as long as it takes.
        let dials = h.dials
        for _ in 0..<30 {
            h.fire(.backoff)
            h.handle(.dialFailed("refused"))
        }
        #expect(h.dials == dials + 30)
        #expect(h.machine.phase == .waitingToRedial)

        // The server returns: the session resumes and requests pass again.
        h.fire(.backoff)
        h.reconnect()
        #expect(h.machine.phase == .connected)
        #expect(h.machine.registry[Self.fileFid]?.isDead == false, "the open file survived the outage")
        let again = h.submit(Self.readFile)
        h.pump()
        #expect(h.outcome(again) == .reply(.rread(Rread(data: ByteBuffer(string: "0123456789")))))

        // A second outage waits again before failing.
        h.crash()
        let waiting = h.submit(Self.readFile)
        #expect(h.outcome(waiting) == nil, "a new outage starts a new wait")
        #expect(h.timers[.requestTimeout] == h.now.advanced(by: .seconds(10)))
    }

    @Test func anEarlyRequestTimeoutIsRearmedAndASuccessfulReconnectCancelsIt() {
        var policy = ReconnectPolicy(server: "tcp!fs!564")
        policy.requestTimeout = .seconds(10)
        var h = session(policy)
        h.crash()
        h.now = h.now.advanced(by: .seconds(4))
        h.handle(.timerFired(.requestTimeout))
        #expect(h.machine.phase == .dialing)
        #expect(h.actions.last == .scheduleTimer(.requestTimeout, after: .seconds(6)))
        h.reconnect()
        #expect(h.timers[.requestTimeout] == nil)
        #expect(h.machine.phase == .connected)
        h.now = h.now.advanced(by: .seconds(60))
        h.handle(.timerFired(.requestTimeout))
        #expect(h.machine.phase == .connected, "a stale timeout timer is ignored")
    }

    /// Reconnecting is for a session that was up: before the first Rattach,
    /// a lost connection ends it, with the reason, and nothing is redialled.
    @Test(arguments: [
        (DisconnectReason.linuxError(errno: 22), "Rlerror errno 22"),
        (DisconnectReason.protocolError("unknown message type 200"), "unknown message type 200"),
        (DisconnectReason.endOfFile, "server closed the connection"),
    ])
    func aConnectionLostBeforeTheFirstAttachIsNotRedialled(reason: DisconnectReason, text: String) {
        var h = ReconnectHarness()
        let version = h.submit(.tversion(Tversion(msize: 8192, version: "9P2000")))
        #expect(!h.machine.isEstablished)
        h.crash(reason: reason)
        let error = ReconnectError.lostBeforeAttach(server: "tcp!fs!564", reason: reason)
        #expect(h.outcome(version) == .failed(error))
        #expect(h.dials == 0)
        #expect(h.machine.phase == .down)
        #expect(error.description.contains(text))
        #expect(!h.logs(.notice).contains { $0.contains("reconnected") })
        let later = h.submit(.tattach(Tattach(fid: Fid(0), uname: "glenda", aname: "")))
        #expect(h.outcome(later) == .failed(error))
    }

    /// During a reconnect, a new connection that refuses the resuming
    /// Tversion or the re-attach, or hangs up during recovery, is a failed
    /// attempt: closed, logged as failed, retried after the backoff delay,
    /// never "reconnected"; the requests go on waiting.
    @Test(arguments: [
        ("version", "Tversion answered 'unknown'"),
        ("attach", "re-attach of"),
        ("hang up", "lost during recovery"),
    ])
    func aRedialThatCannotResumeIsAFailedAttempt(refusal: String, logged: String) {
        var h = session(random: [0.5])
        let inFlight = h.submit(Self.readFile)
        h.crash()
        h.handle(.dialFailed("refused"))  // attempt 1 fails: the next waits for the backoff
        h.fire(.backoff)
        h.connectionOpen = true
        h.clearRecord()
        h.handle(.dialSucceeded)
        // This server answers in its own way: the model's replies are dropped.
        h.server.crash(processQueued: false)
        let version = h.sent.first { if case .tversion = $0.message { true } else { false } }!
        switch refusal {
        case "version":
            h.handle(.replyReceived(Fcall(tag: version.tag, .rversion(Rversion(msize: 8192, version: "unknown")))))
        case "attach":
            h.handle(.replyReceived(Fcall(tag: version.tag, .rversion(Rversion(msize: 8192, version: "9P2000")))))
            h.server.crash(processQueued: false)
            let attach = h.sent.first { if case .tattach = $0.message { true } else { false } }!
            h.handle(.replyReceived(Fcall(tag: attach.tag, .rerror(Rerror(ename: "no such tree")))))
        default:
            h.handle(.connectionLost(.endOfFile))
        }
        h.server.crash(processQueued: false)
        #expect(h.actions.contains(.closeConnection))
        #expect(h.logs(.notice).contains { $0.contains("attempt 2 failed") && $0.contains(logged) })
        #expect(!h.logs(.notice).contains { $0.contains("reconnected") })
        #expect(h.machine.phase == .waitingToRedial, "retried after the backoff delay")
        #expect(h.timers[.backoff] != nil)
        #expect(h.outcome(inFlight) == nil, "requests go on waiting")
        #expect(h.machine.registry[Self.fileFid]?.isDead == false, "no fid is lost to a failed attempt")
        h.fire(.backoff)
        h.reconnect()
        #expect(h.machine.phase == .connected)
        #expect(h.outcome(inFlight) == .reply(.rread(Rread(data: ByteBuffer(string: "0123456789")))))
    }

    @Test func disabledPolicyFailsEverythingAtOnce() {
        var h = session(.disabled(server: "unix!/tmp/fs"))
        let a = h.submit(Self.readFile)
        let b = h.submit(.tstat(Tstat(fid: Self.fileFid)))
        h.crash()
        let error = ReconnectError.disabled(server: "unix!/tmp/fs")
        #expect(h.outcome(a) == .failed(error) && h.outcome(b) == .failed(error))
        #expect(h.answers.map(\.tag) == [a, b], "failed in send order")
        #expect(h.dials == 0)
        #expect(!h.actions.contains(.blockRequests))
        #expect(h.actions.last == .giveUp(error))
        #expect(h.machine.phase == .down)
        #expect(error.description.contains("reconnecting is disabled"))
    }

    @Test func aSecondLossDuringRecoveryStartsOverCleanly() {
        var h = session()
        let inFlight = h.submit(Self.readFile)
        h.crash()
        h.connectionOpen = true
        h.handle(.dialSucceeded)
        // Answer Tversion and the attach, then lose the connection mid-walk.
        for _ in 0..<2 { h.handle(.replyReceived(h.server.takeReply()!)) }
        #expect(h.machine.phase == .recovering)
        h.clearRecord()
        h.crash()
        #expect(h.actions.first == .closeConnection)
        #expect(h.actions.contains(.cancelTimer(.recoveryStall)))
        #expect(h.timers[.backoff] == h.now.advanced(by: .seconds(1)), "the retry after a failed recovery waits")
        #expect(h.machine.phase == .waitingToRedial)
        // A reply from the dead connection is not the machine's business any more.
        h.handle(.replyReceived(Fcall(tag: Tag(2), .rwalk(Rwalk(wqid: [])))))
        #expect(h.machine.phase == .waitingToRedial)
        h.fire(.backoff)
        h.reconnect()
        #expect(h.machine.phase == .connected)
        let messages = h.sent.map(\.message.type)
        #expect(messages.first == .tversion, "recovery starts again from Tversion")
        #expect(h.replayed.map(\.tag) == [inFlight])
        #expect(h.answerCount(inFlight) == 1)
        #expect(Set(h.server.fids.keys) == [Fid(0), Self.fileFid])
        #expect(h.server.fids[Self.fileFid]?.open == .readWrite)
    }

    @Test func aServerThatStopsAnsweringDuringRecoveryIsRedialled() {
        var h = session()
        h.crash()
        h.connectionOpen = true
        h.handle(.dialSucceeded)
        #expect(h.timers[.recoveryStall] == h.now.advanced(by: .seconds(30)))
        h.now = h.now.advanced(by: .seconds(10))
        h.handle(.replyReceived(h.server.takeReply()!))  // Rversion: progress at t=10
        h.fire(.recoveryStall)  // t=30
        #expect(h.actions.last == .scheduleTimer(.recoveryStall, after: .seconds(10)))
        #expect(h.machine.phase == .recovering, "progress since the timer was set postpones it")
        #expect(h.timers[.recoveryStall] != nil)
        h.fire(.recoveryStall)
        #expect(h.machine.phase == .waitingToRedial)
        #expect(h.logs(.notice).contains { $0.contains("no answer during recovery") })
        #expect(!h.connectionOpen)
    }

    @Test func keepAliveTimeoutClosesAndReconnects() {
        var h = session()
        h.handle(.keepAliveTimeout)
        #expect(Array(h.actions.prefix(2)) == [.closeConnection, .blockRequests])
        #expect(h.logs(.notice).first?.contains("no answer to keep-alive") == true)
        #expect(h.machine.phase == .dialing)
        h.handle(.keepAliveTimeout)
        #expect(h.dials == 1, "a second report while dialling changes nothing")
    }

    @Test func everyStepIsLoggedAtNoticeLevel() {
        var policy = ReconnectPolicy(server: "tcp!fs!564")
        policy.requestTimeout = .seconds(100)
        var h = session(policy)
        h.server.replace("dir/file")
        h.crash(reason: .reset("connection reset by peer"))
        h.handle(.dialFailed("connection refused"))
        h.fire(.backoff)
        h.reconnect()
        let notices = h.logs(.notice)
        #expect(notices == [
            "tcp!fs!564: connection lost (connection reset by peer); 0 requests in flight, 2 fids to restore",
            "tcp!fs!564: redialling (attempt 1)",
            "tcp!fs!564: redial attempt 1 failed: connection refused",
            "tcp!fs!564: redialling in 1.0 s (attempt 2)",
            "tcp!fs!564: connected (attempt 2); restoring 2 fids",
            "tcp!fs!564: reconnected in 1.0 s: 1 fids restored, 1 stale, 0 changed; 0 requests replayed, 0 failed as possibly done, 0 released",
        ])
        #expect(h.logs(.info).contains { $0.contains("fid 1 'dir/file' is stale: replaced") })
    }

    @Test func stragglersAreIgnored() {
        var h = session()
        h.handle(.replyReceived(Fcall(tag: Tag(77), .rclunk(Rclunk()))))
        #expect(h.logs(.warning).count == 1 && h.answers.isEmpty)
        h.handle(.dialSucceeded)
        h.handle(.dialFailed("x"))
        h.handle(.timerFired(.backoff))
        h.handle(.timerFired(.recoveryStall))
        #expect(h.machine.phase == .connected && h.dials == 0 && h.answers.isEmpty)
    }
}
