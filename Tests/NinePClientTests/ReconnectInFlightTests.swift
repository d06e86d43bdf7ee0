import NIOCore
import NinePWire
import Testing
@testable import NinePClient

/// Steps 8 to 10 and dead fids: what happens to each request that was in
/// flight or blocked, and to requests on fids that did not come back.
@Suite("Reconnect state machine: requests")
struct ReconnectInFlightTests {
    /// fid 1: dir/file open ORDWR; fid 2: log (append-only) open OWRITE;
    /// fid 3: dir, not open; fid 4: dir/file, not open.
    func session() -> ReconnectHarness {
        var h = ReconnectHarness()
        h.establish(open: [
            (Fid(1), ["dir", "file"], .readWrite), (Fid(2), ["log"], .write),
            (Fid(3), ["dir"], nil), (Fid(4), ["dir", "file"], nil),
        ])
        h.clearRecord()
        return h
    }

    enum Expected: Sendable {
        case replayed
        case mayHaveHappened(String)
    }

    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var message: Message
        var expected: Expected
        var testDescription: String { name }
    }

    static var renaming: Stat {
        var s = Stat.dontTouch
        s.name = "renamed"
        return s
    }

    static var chmod: Stat {
        var s = Stat.dontTouch
        s.mode = FileMode(permissions: 0o600)
        return s
    }

    static let cases: [Case] = [
        Case(name: "walk", message: .twalk(Twalk(fid: Fid(3), newfid: Fid(6), wname: ["file"])), expected: .replayed),
        Case(name: "open", message: .topen(Topen(fid: Fid(4), mode: .read)), expected: .replayed),
        Case(name: "read", message: .tread(Tread(fid: Fid(1), offset: 2, count: 4)), expected: .replayed),
        Case(name: "stat", message: .tstat(Tstat(fid: Fid(1))), expected: .replayed),
        Case(name: "clunk", message: .tclunk(Tclunk(fid: Fid(4))), expected: .replayed),
        Case(name: "write at an offset", message: .twrite(Twrite(fid: Fid(1), offset: 2, data: ByteBuffer(string: "AB"))), expected: .replayed),
        Case(name: "wstat without rename", message: .twstat(Twstat(fid: Fid(1), stat: chmod)), expected: .replayed),
        Case(name: "create", message: .tcreate(Tcreate(fid: Fid(3), name: "new", perm: FileMode(permissions: 0o644), mode: .write)),
             expected: .mayHaveHappened("create of 'dir/new'")),
        Case(name: "remove", message: .tremove(Tremove(fid: Fid(4))), expected: .mayHaveHappened("remove of 'dir/file'")),
        Case(name: "rename", message: .twstat(Twstat(fid: Fid(1), stat: renaming)), expected: .mayHaveHappened("rename of 'dir/file' to 'renamed'")),
        Case(name: "append-only write", message: .twrite(Twrite(fid: Fid(2), offset: 0, data: ByteBuffer(string: "entry"))),
             expected: .mayHaveHappened("append-only write to 'log'")),
    ]

    @Test(arguments: cases, [false, true])
    func anInFlightRequestIsReplayedOrFailed(_ c: Case, serverDidIt: Bool) {
        var h = session()
        let tag = h.submit(c.message)
        h.crash(processQueued: serverDidIt)
        let before = h.server.processed.count
        h.reconnect()
        let afterRecovery = h.server.processed.dropFirst(before).map(\.tag)
        switch c.expected {
        case .replayed:
            #expect(h.replayed == [Fcall(tag: tag, c.message)])
            #expect(afterRecovery.filter { $0 == tag }.count == 1, "sent exactly once on the new connection")
            #expect(h.answerCount(tag) == 1)
            #expect(h.outcome(tag)?.isError == false, "\(String(describing: h.outcome(tag)))")
        case .mayHaveHappened(let operation):
            #expect(h.replayed.isEmpty)
            #expect(!afterRecovery.contains(tag), "never resent")
            #expect(h.outcome(tag) == .failed(.mayHaveHappened(operation: operation)))
            #expect(h.answerCount(tag) == 1)
        }
    }

    @Test func theMayHaveHappenedErrorSaysSo() {
        #expect(ReconnectError.mayHaveHappened(operation: "create of 'x'").description
            == "connection lost during create of 'x': it may or may not have happened")
    }

    @Test func aFidWithARemoveInFlightIsNotRestoredAndIsGoneAfterwards() {
        var h = session()
        let remove = h.submit(.tremove(Tremove(fid: Fid(4))))
        h.crash(processQueued: false)
        let stat = h.submit(.tstat(Tstat(fid: Fid(4))))
        #expect(h.outcome(stat) == .failed(.staleFid(path: "dir/file")), "the client already let go of it")
        h.reconnect()
        #expect(!h.sent.contains { if case .twalk(let w) = $0.message { w.newfid == Fid(4) } else { false } })
        #expect(h.machine.registry[Fid(4)] == nil)
        #expect(h.server.fids[Fid(4)] == nil)
        #expect(h.outcome(remove) == .failed(.mayHaveHappened(operation: "remove of 'dir/file'")))
        #expect(!h.deadFids.contains(Fid(4)), "no news for the mount: it is being removed")
    }

    @Test func requestsKeepTheirOrderReplaysFirstThenTheBlocked() {
        var h = session()
        let a = h.submit(.tread(Tread(fid: Fid(1), offset: 0, count: 1)))
        let b = h.submit(.tcreate(Tcreate(fid: Fid(3), name: "x", perm: FileMode(permissions: 0o644), mode: .write)))
        let c = h.submit(.tstat(Tstat(fid: Fid(1))))
        h.crash()
        let d = h.submit(.tread(Tread(fid: Fid(1), offset: 1, count: 1)))
        let e = h.submit(.tcreate(Tcreate(fid: Fid(3), name: "y", perm: FileMode(permissions: 0o644), mode: .write)))
        h.clearRecord()
        h.reconnect()
        let order: [NinePWire.Tag] = h.actions.compactMap {
            switch $0 {
            case .replay(let call), .send(let call): [a, c, d, e].contains(call.tag) ? call.tag : nil
            case .fail(let tag, _): tag
            default: nil
            }
        }
        #expect(order == [a, b, c, d, e])
        #expect(h.outcome(e)?.isError == false, "a create that was never sent is simply sent")
        #expect(h.server.files["dir/y"] != nil && h.server.files["dir/x"] == nil)
    }

    // MARK: Dead fids

    @Test func aDeadFidAnswersStaleItsClunkIsLocalAndOthersCarryOn() {
        var h = session()
        let read = h.submit(.tread(Tread(fid: Fid(1), offset: 0, count: 10)))
        let clunk = h.submit(.tclunk(Tclunk(fid: Fid(4))))
        let other = h.submit(.tread(Tread(fid: Fid(2), offset: 0, count: 10)))
        h.server.replace("dir/file")
        h.crash()
        h.reconnect()
        #expect(Set(h.deadFids) == [Fid(1), Fid(4)])
        #expect(h.outcome(read) == .failed(.staleFid(path: "dir/file")))
        #expect(h.outcome(clunk) == .reply(.rclunk(Rclunk())), "the clunk of a dead fid is answered locally")
        #expect(h.outcome(other)?.isError == true, "fid 2 is write-only: the server's own error comes through")
        #expect(h.replayed.map(\.tag) == [other])

        h.clearRecord()
        #expect(h.request(.tstat(Tstat(fid: Fid(1)))) == .failed(.staleFid(path: "dir/file")))
        #expect(h.request(.twalk(Twalk(fid: Fid(1), newfid: Fid(8), wname: [])))  == .failed(.staleFid(path: "dir/file")))
        #expect(h.request(.tclunk(Tclunk(fid: Fid(1)))) == .reply(.rclunk(Rclunk())))
        #expect(h.sent.isEmpty, "nothing about a dead fid goes to the server")
        #expect(h.machine.registry[Fid(1)] == nil && h.machine.registry[Fid(4)] == nil)
        #expect(h.request(.twalk(Twalk(fid: Fid(0), newfid: Fid(1), wname: ["dir"])))?.isError == false, "the number is free again")
    }

    @Test func removingADeadFidFailsButFreesIt() {
        var h = session()
        h.server.replace("dir/file")
        h.crash()
        h.reconnect()
        #expect(h.request(.tremove(Tremove(fid: Fid(4)))) == .failed(.staleFid(path: "dir/file")))
        #expect(h.machine.registry[Fid(4)] == nil)
    }

    @Test func anAttachMayReuseADeadFidsNumber() {
        var h = session()
        h.server.replace("dir/file")
        h.crash()
        h.reconnect()
        #expect(h.request(.tattach(Tattach(fid: Fid(4), uname: "glenda", aname: ""))) == .reply(.rattach(Rattach(qid: h.server.qid("")!))))
        #expect(h.machine.registry[Fid(4)]?.isDead == false)
    }

    // MARK: Flush

    @Test func aFlushOfATagThatIsNotOutstandingIsAnsweredLocally() {
        var h = session()
        let flush = h.submit(.tflush(Tflush(oldtag: Tag(999))))
        #expect(h.outcome(flush) == .reply(.rflush(Rflush())))
        #expect(h.sent.isEmpty)
    }

    @Test func aFlushWhileConnectedGoesToTheServerAndFreesTheOldTag() {
        var h = session()
        let read = h.submit(.tread(Tread(fid: Fid(1), offset: 0, count: 1)))
        let flush = h.submit(.tflush(Tflush(oldtag: read)))
        #expect(h.sent.map(\.tag) == [read, flush])
        _ = h.server.takeReply(to: flush)  // the server aborted the read
        h.server.outbox.removeAll()
        h.handle(.replyReceived(Fcall(tag: flush, .rflush(Rflush()))))
        #expect(h.outcome(flush) == .reply(.rflush(Rflush())))
        #expect(h.machine.outstanding.isEmpty)
    }

    @Test func aFlushOfABlockedRequestDropsItAtOnce() {
        var h = session()
        h.crash()
        let read = h.submit(.tread(Tread(fid: Fid(1), offset: 0, count: 1)))
        let flush = h.submit(.tflush(Tflush(oldtag: read)))
        #expect(h.answers.map(\.tag) == [flush], "answered while the server is still away")
        #expect(h.machine.blockedRequests.isEmpty)
        h.reconnect()
        #expect(h.answerCount(read) == 0)
        #expect(!h.sent.contains { $0.tag == read })
    }

    @Test func aFlushOfAnIdempotentInFlightRequestDropsItAtOnce() {
        var h = session()
        let read = h.submit(.tread(Tread(fid: Fid(1), offset: 0, count: 1)))
        h.crash()
        let flush = h.submit(.tflush(Tflush(oldtag: read)))
        #expect(h.answers.map(\.tag) == [flush])
        h.reconnect()
        #expect(h.answerCount(read) == 0 && h.replayed.isEmpty)
    }

    @Test func aFlushOfANonIdempotentInFlightRequestFailsItFirst() {
        var h = session()
        let create = h.submit(.tcreate(Tcreate(fid: Fid(3), name: "new", perm: FileMode(permissions: 0o644), mode: .write)))
        h.crash()
        let flush = h.submit(.tflush(Tflush(oldtag: create)))
        #expect(h.answers.map(\.tag) == [create, flush])
        #expect(h.outcome(create) == .failed(.mayHaveHappened(operation: "create of 'dir/new'")))
        h.reconnect()
        #expect(h.answerCount(create) == 1)
    }

    @Test func flushesInFlightAtTheDisconnectAreAnsweredThere() {
        var h = session()
        let read = h.submit(.tread(Tread(fid: Fid(1), offset: 0, count: 1)))
        let flush = h.submit(.tflush(Tflush(oldtag: read)))
        let remove = h.submit(.tremove(Tremove(fid: Fid(4))))
        let flushRemove = h.submit(.tflush(Tflush(oldtag: remove)))
        h.crash()
        #expect(h.answers.map(\.tag) == [flush, remove, flushRemove])
        #expect(h.machine.registry[Fid(4)] == nil, "remove(5): the fid is gone even if the remove failed")
        h.reconnect()
        #expect(h.replayed.isEmpty)
        #expect(h.answerCount(read) == 0)
    }

    @Test func aFlushOfATagFailedByRecoveryIsAnsweredLocally() {
        var h = session()
        let create = h.submit(.tcreate(Tcreate(fid: Fid(3), name: "new", perm: FileMode(permissions: 0o644), mode: .write)))
        h.crash()
        h.reconnect()
        h.clearRecord()
        let flush = h.submit(.tflush(Tflush(oldtag: create)))
        #expect(h.outcome(flush) == .reply(.rflush(Rflush())))
        #expect(h.sent.isEmpty)
    }
}
