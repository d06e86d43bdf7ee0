import NIOCore
import NinePWire
import Testing
@testable import NinePClient

/// A scripted session of T/R pairs, cut before and after every single
/// message. At each cut the server crashes (having carried out what reached
/// it, or not), maybe comes back with a file replaced or removed, and the
/// machine reconnects. Every request in flight at the cut must end exactly
/// one way: replayed (once), failed as possibly done (never resent), failed
/// as stale (its fid died), or answered locally (clunk of a dead fid,
/// flush). Fids must be restored exactly where the registry says, with no
/// leaked fid on the server.
@Suite("Reconnect fault injection")
struct ReconnectFaultInjectionTests {
    struct Step {
        var call: Fcall
        /// The operation text if the request is not idempotent.
        var notIdempotent: String?
    }

    enum WireEvent {
        case request(Int)
        case reply(Int)
    }

    enum Restart: String, CaseIterable, Sendable {
        case same
        case fileReplaced
        case logRemoved
    }

    static let steps: [Step] = {
        func t(_ tag: UInt16, _ m: Message, _ notIdempotent: String? = nil) -> Step {
            Step(call: Fcall(tag: tag == 0 ? .notag : NinePWire.Tag(tag), m), notIdempotent: notIdempotent)
        }
        var rename = Stat.dontTouch
        rename.name = "renamed"
        var chmod = Stat.dontTouch
        chmod.mode = FileMode(permissions: 0o640)
        return [
            t(0, .tversion(Tversion(msize: 8192, version: "9P2000"))),
            t(1, .tattach(Tattach(fid: Fid(0), uname: "glenda", aname: ""))),
            t(2, .twalk(Twalk(fid: Fid(0), newfid: Fid(1), wname: ["dir"]))),
            t(3, .twalk(Twalk(fid: Fid(1), newfid: Fid(2), wname: ["file"]))),
            t(4, .topen(Topen(fid: Fid(2), mode: OpenMode.readWrite.with(truncate: true)))),
            t(5, .twrite(Twrite(fid: Fid(2), offset: 0, data: ByteBuffer(string: "hello")))),
            t(6, .tread(Tread(fid: Fid(2), offset: 0, count: 100))),
            t(7, .twalk(Twalk(fid: Fid(0), newfid: Fid(3), wname: ["dir"]))),
            t(8, .tcreate(Tcreate(fid: Fid(3), name: "new", perm: FileMode(permissions: 0o644), mode: .readWrite)), "create of 'dir/new'"),
            t(9, .twrite(Twrite(fid: Fid(3), offset: 0, data: ByteBuffer(string: "abc")))),
            t(10, .twalk(Twalk(fid: Fid(0), newfid: Fid(4), wname: ["log"]))),
            t(11, .topen(Topen(fid: Fid(4), mode: .write))),
            t(12, .twrite(Twrite(fid: Fid(4), offset: 0, data: ByteBuffer(string: "entry"))), "append-only write to 'log'"),
            t(13, .tstat(Tstat(fid: Fid(2)))),
            t(14, .twstat(Twstat(fid: Fid(3), stat: rename)), "rename of 'dir/new' to 'renamed'"),
            t(15, .twstat(Twstat(fid: Fid(2), stat: chmod))),
            t(16, .twalk(Twalk(fid: Fid(0), newfid: Fid(5), wname: ["dir", "renamed"]))),
            t(17, .tremove(Tremove(fid: Fid(5))), "remove of 'dir/renamed'"),
            t(18, .tread(Tread(fid: Fid(2), offset: 0, count: 10))),
            t(19, .tflush(Tflush(oldtag: NinePWire.Tag(18)))),
            t(20, .tclunk(Tclunk(fid: Fid(1)))),
            t(21, .tclunk(Tclunk(fid: Fid(2)))),
        ]
    }()

    /// Mostly one request then its reply; 5/6, 12/13 and 18/19 are pipelined.
    static let script: [WireEvent] = {
        var events: [WireEvent] = []
        var i = 0
        while i < steps.count {
            if [5, 12, 18].contains(i) {
                events += [.request(i), .request(i + 1), .reply(i), .reply(i + 1)]
                i += 2
            } else {
                events += [.request(i), .reply(i)]
                i += 1
            }
        }
        return events
    }()

    static let cuts = Array(0...script.count)

    @Test func theScriptIsWhatTheTableSays() {
        #expect(Self.script.count == 44)
        #expect(Self.cuts.count == 45)
        // Uncut, the session runs clean: every request gets a non-error reply
        // except the flushed read, which gets none or its reply.
        var h = ReconnectHarness()
        for event in Self.script { Self.play(event, &h) }
        for (i, step) in Self.steps.enumerated() where i != 18 {
            #expect(h.outcome(step.call.tag)?.isError == false, "step \(i): \(String(describing: h.outcome(step.call.tag)))")
        }
        #expect(h.machine.registry.fids == [Fid(0), Fid(3), Fid(4)])
        #expect(h.server.files["log"]?.data == Array("entry".utf8))
    }

    static func play(_ event: WireEvent, _ h: inout ReconnectHarness) {
        switch event {
        case .request(let i):
            h.handle(.requestSubmitted(steps[i].call))
        case .reply(let i):
            if let reply = h.server.takeReply(to: steps[i].call.tag) {
                h.handle(.replyReceived(reply))
            }
        }
    }

    /// A server whose reply to one request cannot be decoded, again after
    /// every reconnect (the executor reports each as a protocol error and
    /// closes the connection): the first redial is immediate, the next ones
    /// back off as in one long outage, and the request timeout counts from
    /// the first loss, so the loop of reconnect, replay and protocol error
    /// fails the read instead of spinning (and goes on redialling, slowly).
    @Test func aMalformedReplyAfterEveryReconnectBacksOffAndTimesOut() {
        var backoff = Backoff()
        backoff.jitter = 0
        let policy = ReconnectPolicy(server: "tcp!fs!564", backoff: backoff, requestTimeout: .seconds(20))
        var h = ReconnectHarness(policy: policy)
        h.establish(open: [(Fid(1), ["dir", "file"], .read)])
        let read = h.submit(.tread(Tread(fid: Fid(1), offset: 0, count: 10)))
        let malformed = DisconnectReason.protocolError("Rread: count exceeds the message")

        /// The server answers until it gets to the read, whose reply is garbage.
        func answerUntilTheRead(_ h: inout ReconnectHarness) -> Bool {
            while h.connectionOpen, let reply = h.server.takeReply() {
                if reply.tag == read {
                    h.crash(processQueued: true, reason: malformed)
                    return true
                }
                h.handle(.replyReceived(reply))
            }
            return false
        }

        #expect(answerUntilTheRead(&h))
        #expect(h.dials == 1, "the first redial after a protocol error is immediate")
        var delays: [Duration] = []
        var reconnects = 0
        while h.outcome(read) == nil && reconnects < 50 {
            if h.machine.phase == .waitingToRedial {
                let before = h.now
                h.fire(.backoff)
                delays.append(before.duration(to: h.now))
                // The timeout may come before the backoff does.
                if let timeout = h.timers[.requestTimeout], timeout <= h.now { h.fire(.requestTimeout) }
                continue
            }
            #expect(h.machine.phase == .dialing)
            h.connectionOpen = true
            h.handle(.dialSucceeded)
            reconnects += 1
            #expect(answerUntilTheRead(&h), "reconnect \(reconnects): the read was not replayed")
            if h.machine.phase == .waitingToRedial, let timeout = h.timers[.requestTimeout], let next = h.timers[.backoff], timeout <= next {
                h.fire(.requestTimeout)
            }
        }
        #expect(h.machine.phase == .waitingToRedial, "still redialling after the timeout")
        #expect(reconnects >= 3 && reconnects < 10, "\(reconnects) reconnects")
        #expect(delays.count >= 2 && zip(delays, delays.dropFirst()).allSatisfy { $0 < $1 }, "delays \(delays)")
        #expect(h.now.offset <= .seconds(20) + .milliseconds(1), "timed out at \(h.now)")
        guard case .failed(.timedOut) = h.outcome(read) else {
            Issue.record("the read ended \(String(describing: h.outcome(read)))")
            return
        }
    }

    @Test(arguments: cuts, Restart.allCases)
    func cutTheConnection(at cut: Int, restart: Restart) {
        for serverDidIt in [false, true] {
            run(cut: cut, restart: restart, serverProcessedQueuedRequests: serverDidIt)
        }
    }

    func run(cut: Int, restart: Restart, serverProcessedQueuedRequests processed: Bool) {
        let context = "cut \(cut) \(restart) processed=\(processed)"
        var h = ReconnectHarness()
        for event in Self.script.prefix(cut) { Self.play(event, &h) }

        // What is in flight: sent and not answered.
        var sent = Set<Int>()
        var answered = Set<Int>()
        for event in Self.script.prefix(cut) {
            switch event {
            case .request(let i): sent.insert(i)
            case .reply(let i): answered.insert(i)
            }
        }
        let inFlight = sent.subtracting(answered).sorted()
        let flushedByInFlightFlush: Set<Int> = Set(inFlight.compactMap { i in
            guard case .tflush(let f) = Self.steps[i].call.message else { return nil }
            return Self.steps.firstIndex { $0.call.tag == f.oldtag }.flatMap { inFlight.contains($0) ? $0 : nil }
        })
        #expect(Set(h.machine.outstanding.inSendOrder.map(\.tag)) == Set(inFlight.map { Self.steps[$0].call.tag }), "\(context)")

        h.clearRecord()
        if !h.machine.isEstablished {
            // Cut before the first Rattach: no session to resume. It ends
            // at once, every request in flight failing with the reason.
            h.crash(processQueued: processed)
            #expect(h.machine.phase == .down && h.dials == 0, "\(context)")
            let error = ReconnectError.lostBeforeAttach(server: "tcp!fs!564", reason: .endOfFile)
            for i in inFlight { #expect(h.outcome(Self.steps[i].call.tag) == .failed(error), "\(context): step \(i)") }
            return
        }
        let processedBefore = h.server.processed.count
        h.crash(processQueued: processed)
        let processedByOldServer = Array(h.server.processed.dropFirst(processedBefore))
        switch restart {
        case .same: break
        case .fileReplaced: h.server.replace("dir/file")
        case .logRemoved: h.server.files["log"] = nil
        }
        #expect(h.machine.phase == .dialing, "\(context)")
        for answer in h.answers {
            #expect(answer.outcome == .reply(.rflush(Rflush())), "\(context): only in-flight flushes are answered at the disconnect")
        }

        // What the registry expects to restore, and the oracle for which fids die.
        let snapshot = h.machine.registry
        var expectedDead = Set<Fid>()
        for fid in snapshot.fids {
            guard let entry = snapshot[fid], !entry.isDead else { continue }
            let path = entry.path.joined(separator: "/")
            if let qid = h.server.qid(path), qid.path == entry.qid.path, qid.type == entry.qid.type { continue }
            expectedDead.insert(fid)
        }

        // A request submitted while the server is away waits and then goes through.
        let probeTag = NinePWire.Tag(100)
        let attachSent = sent.contains(1)
        if attachSent {
            h.handle(.requestSubmitted(Fcall(tag: probeTag, .tstat(Tstat(fid: Fid(0))))))
            #expect(h.machine.blockedRequests.map(\.tag) == [probeTag], "\(context)")
        }
        h.handle(.dialFailed("connection refused"))
        h.fire(.backoff)
        let processedAfter = h.server.processed.count
        h.reconnect()
        let newServer = Array(h.server.processed.dropFirst(processedAfter))
        #expect(h.machine.phase == .connected, "\(context)")
        #expect(Set(h.deadFids) == expectedDead, "\(context): dead \(h.deadFids) expected \(expectedDead)")
        if attachSent {
            #expect(h.outcome(probeTag)?.isError == false, "\(context): blocked stat got \(String(describing: h.outcome(probeTag)))")
        }

        for i in inFlight {
            let step = Self.steps[i]
            let call = step.call
            let label = "\(context) step \(i) \(call)"
            let sentAgain = newServer.filter { $0 == call }.count
            let replays = h.replayed.filter { $0 == call }.count
            let doneByOldServer = processedByOldServer.contains(call)
            #expect(doneByOldServer == processed, "\(label)")
            if case .tflush = call.message {
                #expect(h.outcome(call.tag) == .reply(.rflush(Rflush())), "\(label)")
                #expect(sentAgain == 0, "\(label)")
                continue
            }
            if flushedByInFlightFlush.contains(i) {
                #expect(h.answerCount(call.tag) == 0 && sentAgain == 0, "\(label): flushed, so dropped")
                continue
            }
            #expect(h.answerCount(call.tag) == 1, "\(label): answered exactly once")
            if let operation = step.notIdempotent {
                #expect(h.outcome(call.tag) == .failed(.mayHaveHappened(operation: operation)), "\(label)")
                #expect(sentAgain == 0 && replays == 0, "\(label): never resent")
                continue
            }
            if case .tattach = call.message {} else if let fid = call.message.fid, expectedDead.contains(fid) || snapshot[fid]?.isDead == true {
                let expected: ClientOutcome =
                    if case .tclunk = call.message { .reply(.rclunk(Rclunk())) } else {
                        .failed(.staleFid(path: snapshot[fid]!.pathDescription))
                    }
                #expect(h.outcome(call.tag) == expected, "\(label)")
                #expect(sentAgain == 0, "\(label)")
                continue
            }
            #expect(replays == 1 && sentAgain == 1, "\(label): replayed once")
            guard case .reply(let reply)? = h.outcome(call.tag) else {
                Issue.record("\(label): replay not answered by the server: \(String(describing: h.outcome(call.tag)))")
                continue
            }
            if restart == .same {
                #expect(reply.type != .rerror, "\(label): \(reply)")
            }
        }

        // Every fid the registry holds live is on the server, where it says,
        // open as it says; nothing else is (no leaked root or dead fid).
        let live = h.machine.registry.fids.filter { h.machine.registry[$0]?.isDead == false }
        #expect(Set(h.server.fids.keys) == Set(live), "\(context): server \(h.server.fids.keys.sorted()) registry \(live)")
        for fid in live {
            let entry = h.machine.registry[fid]!
            #expect(h.server.fids[fid]?.path == entry.path.joined(separator: "/"), "\(context) fid \(fid)")
            #expect(h.server.fids[fid]?.open?.access == entry.openMode?.access, "\(context) fid \(fid)")
        }
        #expect(!h.sent.contains { if case .topen(let o) = $0.message { o.mode.truncate } else { false } }, "\(context): a reopen never truncates")
        // No recovery message is still waiting, and no request either.
        #expect(h.server.inbox.isEmpty && h.server.outbox.isEmpty, "\(context)")
        #expect(h.machine.outstanding.isEmpty && h.machine.blockedRequests.isEmpty, "\(context)")
    }
}
