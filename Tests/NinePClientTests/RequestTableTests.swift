@testable import NinePClient
import NinePWire
import Testing

/// The tag state machine on its own: completions are plain strings here.
@Suite struct RequestTableTests {
    typealias Table = RequestTable<String>

    func tag(_ submitted: Table.Submitted) -> NinePWire.Tag? {
        if case .write(let fcall) = submitted { return fcall.tag }
        return nil
    }

    let stat = Message.tstat(Tstat(fid: Fid(1)))

    @Test func aFlushWaitsForATagAndIsDroppedIfTheReplyComesFirst() {
        var table = Table(limit: 2)
        let a = tag(table.submit(id: 1, message: stat, completion: "a"))
        let b = tag(table.submit(id: 2, message: stat, completion: "b"))
        #expect(a != nil && b != nil)
        guard case .queued = table.submit(id: 3, message: stat, completion: "c") else { Issue.record("not queued"); return }

        // Every tag is taken: the Tflush for request 1 must wait.
        guard case .nothing = table.cancel(id: 1) else { Issue.record("flush sent without a tag"); return }
        // Request 1's reply arrives first: delivered, and its pending flush dropped.
        guard case .deliver("a") = table.receive(tag: a!) else { Issue.record("not delivered"); return }
        // The freed tag goes to the waiting request, not to a pointless Tflush.
        #expect(table.nextWrite() == Fcall(tag: a!, stat))
        #expect(table.nextWrite() == nil)
        #expect(table.inFlight == 2 && table.waitingCount == 0)
    }

    @Test func aQueuedFlushGoesOutBeforeWaitingRequests() {
        var table = Table(limit: 2)
        let a = tag(table.submit(id: 1, message: stat, completion: "a"))!
        let b = tag(table.submit(id: 2, message: stat, completion: "b"))!
        _ = table.submit(id: 3, message: stat, completion: "c")
        _ = table.cancel(id: 1)
        guard case .deliver("b") = table.receive(tag: b) else { Issue.record("not delivered"); return }
        #expect(table.nextWrite() == Fcall(tag: b, .tflush(Tflush(oldtag: a))))
        #expect(table.nextWrite() == nil, "request 3 still waits")
        // Rflush first: request 1 is cancelled; both tags come free; request 3 goes out.
        guard case .flushed("a"?) = table.receive(tag: b) else { Issue.record("not flushed"); return }
        #expect(table.nextWrite()?.message == stat, "request 3 goes out")
        #expect(table.inFlight == 1)
    }

    @Test func cancellingTwiceOrAfterTheReplyDoesNothing() {
        var table = Table()
        let a = tag(table.submit(id: 1, message: stat, completion: "a"))!
        guard case .write(let flush) = table.cancel(id: 1) else { Issue.record("no Tflush"); return }
        guard case .nothing = table.cancel(id: 1) else { Issue.record("second Tflush"); return }
        guard case .deliver("a") = table.receive(tag: a) else { Issue.record("not delivered"); return }
        guard case .unexpected = table.receive(tag: a) else { Issue.record("second reply accepted"); return }
        guard case .flushed(nil) = table.receive(tag: flush.tag) else { Issue.record("Rflush not matched"); return }
        guard case .nothing = table.cancel(id: 1) else { Issue.record("cancel after completion acted"); return }
        #expect(table.inFlight == 0)
    }

    @Test func closingFailsEverythingOnceAndRefusesNewRequests() {
        var table = Table(limit: 1)
        _ = table.submit(id: 1, message: stat, completion: "a")
        _ = table.submit(id: 2, message: stat, completion: "b")
        #expect(table.close(with: CancellationError()).sorted() == ["a", "b"])
        #expect(table.close(with: CancellationError()).isEmpty)
        guard case .failed = table.submit(id: 3, message: stat, completion: "c") else { Issue.record("accepted after close"); return }
    }

    @Test func tversionUsesNotagAndOnlyAlone() {
        var table = Table()
        let version = Message.tversion(Tversion(msize: 8192, version: "9P2000"))
        #expect(tag(table.submit(id: 1, message: version, completion: "v")) == .notag)
        guard case .failed = table.submit(id: 2, message: version, completion: "w") else { Issue.record("second Tversion"); return }
        guard case .deliver("v") = table.receive(tag: .notag) else { Issue.record("Rversion not matched"); return }
        #expect(tag(table.submit(id: 3, message: stat, completion: "s")) == NinePWire.Tag(0), "NOTAG is never handed out")
    }
}
