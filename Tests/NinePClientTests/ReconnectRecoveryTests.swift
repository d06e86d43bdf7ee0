import NIOCore
import NinePWire
import Testing
@testable import NinePClient

/// Steps 3 to 7: Tversion, re-attach, re-walk, reopen, qid check.
@Suite("Reconnect state machine: recovery")
struct ReconnectRecoveryTests {
    static let deepPath = (0..<40).map { "d\($0)" }
    static let firstRootFid = Fid(0xFFFF_FFFE)

    /// The recovery messages sent after the loss, without tags.
    func recoveryMessages(_ h: ReconnectHarness) -> [Message] { h.sent.map(\.message) }

    @Test func resumesTheSessionInOrderWithTheSameFidNumbers() {
        var h = ReconnectHarness()
        h.establish(open: [(Fid(1), ["dir", "file"], .readWrite), (Fid(2), ["dir"], nil)])
        h.clearRecord()
        h.crash()
        h.reconnect()
        let root = Self.firstRootFid
        #expect(recoveryMessages(h) == [
            .tversion(Tversion(msize: 8192, version: "9P2000")),
            .tattach(Tattach(fid: root, uname: "glenda", aname: "")),
            .twalk(Twalk(fid: root, newfid: Fid(0), wname: [])),
            .twalk(Twalk(fid: root, newfid: Fid(1), wname: ["dir", "file"])),
            .twalk(Twalk(fid: root, newfid: Fid(2), wname: ["dir"])),
            .topen(Topen(fid: Fid(1), mode: .readWrite)),
            .tclunk(Tclunk(fid: root)),
        ])
        #expect(h.sent.first?.tag == .notag)
        #expect(Set(h.sent.dropFirst().map(\.tag)).count == h.sent.count - 1, "recovery tags are distinct")
        #expect(Set(h.server.fids.keys) == [Fid(0), Fid(1), Fid(2)], "the temporary root fid is gone")
        #expect(h.server.fids[Fid(1)]?.path == "dir/file" && h.server.fids[Fid(1)]?.open == .readWrite)
        #expect(h.deadFids.isEmpty)
    }

    @Test func aSmallerMsizeIsRecordedAndIOIsCutToFit() {
        var h = ReconnectHarness()
        h.establish(open: [(Fid(1), ["dir", "file"], .readWrite)])
        let read = h.submit(.tread(Tread(fid: Fid(1), offset: 0, count: 8000)))
        let write = h.submit(.twrite(Twrite(fid: Fid(1), offset: 0, data: ByteBuffer(repeating: 0x61, count: 5000))))
        h.server.maxMessageSize = 1024
        h.clearRecord()
        h.crash()
        h.reconnect()
        #expect(h.actions.contains(.setMessageSize(1024)))
        #expect(h.machine.registry.messageSize == 1024)
        let replays = h.replayed
        #expect(replays.count == 2)
        #expect(replays.first { $0.tag == read }?.message == .tread(Tread(fid: Fid(1), offset: 0, count: 1000)))
        if case .twrite(let w)? = replays.first(where: { $0.tag == write })?.message {
            #expect(w.data.readableBytes == 1000)
        } else {
            Issue.record("write not replayed")
        }
        #expect(h.outcome(write) == .reply(.rwrite(Rwrite(count: 1000))), "a short write, not a failure")
        h.clearRecord()
        let later = h.submit(.tread(Tread(fid: Fid(1), offset: 0, count: 4096)))
        #expect(h.sent == [Fcall(tag: later, .tread(Tread(fid: Fid(1), offset: 0, count: 1000)))])
        #expect(h.logs(.notice).isEmpty)
    }

    /// A server that comes back refusing the session (another version, an
    /// Rerror to Tversion, a failed re-attach) is a failed attempt: closed
    /// and retried later; nothing fails and no fid dies while it refuses,
    /// and once it accepts, the session resumes.
    @Test(arguments: ["unknown", "9P2000.L", "Rerror", "attach"])
    func aRefusingServerIsAFailedAttemptUntilItAccepts(refusal: String) {
        var h = ReconnectHarness()
        h.establish(open: [(Fid(1), ["dir", "file"], .read)])
        _ = h.request(.tattach(Tattach(fid: Fid(10), uname: "glenda", aname: "other")))
        let inFlight = h.submit(.tread(Tread(fid: Fid(1), offset: 0, count: 10)))
        switch refusal {
        case "attach": h.server.attachErrors["other"] = "no such tree"
        case "Rerror": h.server.versionAnswer = nil
        default: h.server.versionAnswer = refusal
        }
        h.crash()
        let blocked = h.submit(.tstat(Tstat(fid: Fid(1))))
        h.clearRecord()
        if refusal == "Rerror" {
            h.connectionOpen = true
            h.handle(.dialSucceeded)
            h.server.crash(processQueued: false)
            h.handle(.replyReceived(Fcall(tag: .notag, .rerror(Rerror(ename: "go away")))))
        } else {
            h.reconnect()
        }
        let expected = ["unknown": "Tversion answered 'unknown'", "9P2000.L": "Tversion answered '9P2000.L'",
                        "Rerror": "Tversion answered 'go away'", "attach": "re-attach of glenda@'other' answered 'no such tree'"]
        #expect(h.logs(.notice).contains { $0.contains("attempt 1 failed: \(expected[refusal]!)") }, "\(h.logs(.notice))")
        #expect(!h.logs(.notice).contains { $0.contains("reconnected") })
        #expect(!h.connectionOpen)
        #expect(h.machine.phase == .waitingToRedial)
        #expect(h.outcome(inFlight) == nil && h.outcome(blocked) == nil, "requests wait through a failed attempt")
        #expect(h.deadFids.isEmpty)

        h.server.versionAnswer = nil
        h.server.attachErrors = [:]
        h.server.crash(processQueued: false)
        h.fire(.backoff)
        h.reconnect()
        #expect(h.machine.phase == .connected)
        #expect(h.logs(.notice).contains { $0.contains("reconnected") })
        #expect(h.outcome(inFlight).map { if case .reply(.rread) = $0 { true } else { false } } == true)
        #expect(h.outcome(blocked).map { if case .reply(.rstat) = $0 { true } else { false } } == true)
        #expect(Set(h.server.fids.keys).isSuperset(of: [Fid(0), Fid(1), Fid(10)]))
    }

    @Test func aFortyNamePathIsRewalkedInChunksOfSixteen() {
        var h = ReconnectHarness()
        h.establish(open: [(Fid(5), Self.deepPath, nil)])
        h.clearRecord()
        h.crash()
        h.reconnect()
        let walks = h.sent.compactMap { if case .twalk(let w) = $0.message, w.newfid == Fid(5) { w } else { nil } }
        #expect(walks.map(\.wname.count) == [16, 16, 8])
        #expect(walks.map(\.fid) == [Self.firstRootFid, Fid(5), Fid(5)])
        #expect(walks.flatMap(\.wname) == Self.deepPath)
        #expect(h.server.fids[Fid(5)]?.path == Self.deepPath.joined(separator: "/"))
        #expect(h.deadFids.isEmpty)
    }

    @Test func aPartialRewalkKillsTheFidAndClunksWhatWasLeftOnTheServer() {
        var h = ReconnectHarness()
        h.establish(open: [(Fid(5), Self.deepPath, nil), (Fid(6), ["dir", "file"], nil)])
        // d0/…/d19 and everything below it vanish; so does dir.
        for path in h.server.files.keys where path.hasPrefix(Self.deepPath.prefix(20).joined(separator: "/")) || path.hasPrefix("dir") {
            h.server.files[path] = nil
        }
        h.clearRecord()
        h.crash()
        h.reconnect()
        #expect(Set(h.deadFids) == [Fid(5), Fid(6)])
        // Fid 5 got past its first chunk, so it exists on the server and is clunked;
        // fid 6 failed its first walk, so there was nothing to clunk.
        let clunked = h.sent.compactMap { if case .tclunk(let c) = $0.message { c.fid } else { nil } }
        #expect(clunked.contains(Fid(5)) && !clunked.contains(Fid(6)))
        #expect(Set(h.server.fids.keys) == [Fid(0)])
        #expect(h.logs(.info).contains { $0.contains("'d19' no longer exists") })
        #expect(h.machine.phase == .connected)
    }

    @Test func aFailedReopenKillsTheFid() {
        var h = ReconnectHarness()
        h.establish(open: [(Fid(1), ["dir", "file"], .readWrite), (Fid(2), ["log"], .write)])
        h.server.openErrors["dir/file"] = "permission denied"
        h.clearRecord()
        h.crash()
        h.reconnect()
        #expect(h.deadFids == [Fid(1)])
        #expect(Set(h.server.fids.keys) == [Fid(0), Fid(2)], "the walked-but-unopened fid was clunked")
        #expect(h.logs(.info).contains { $0.contains("reopen ORDWR: permission denied") })
    }

    @Test func anExclusiveFileStillHeldElsewhereCannotBeReopened() {
        var h = ReconnectHarness()
        h.establish(open: [(Fid(3), ["excl"], .write)])
        h.clearRecord()
        h.crash()
        // Another client opened it while we were away.
        h.server.heldElsewhere.insert("excl")
        h.reconnect()
        #expect(h.deadFids == [Fid(3)])
        #expect(h.logs(.info).contains { $0.contains("(exclusive-use file): file in use") })
        let stale = h.request(.twrite(Twrite(fid: Fid(3), offset: 0, data: ByteBuffer(string: "x"))))
        #expect(stale == .failed(.staleFid(path: "excl")))
    }

    @Test func reopenDropsOTRUNCAndKeepsORCLOSE() {
        var h = ReconnectHarness()
        let mode = OpenMode.readWrite.with(truncate: true, removeOnClose: true)
        h.establish(open: [(Fid(1), ["dir", "file"], mode)])
        _ = h.request(.twrite(Twrite(fid: Fid(1), offset: 0, data: ByteBuffer(string: "kept"))))
        h.clearRecord()
        h.crash()
        h.reconnect()
        #expect(h.sent.contains { $0.message == .topen(Topen(fid: Fid(1), mode: OpenMode.readWrite.with(removeOnClose: true))) })
        #expect(h.server.files["dir/file"]?.data == Array("kept".utf8), "a reopen never truncates again")
        _ = h.request(.tclunk(Tclunk(fid: Fid(1))))
        #expect(h.server.files["dir/file"] == nil, "ORCLOSE still removes the file on clunk")
    }

    @Test func aReplacedFileKillsItsFidAndOthersCarryOn() {
        var h = ReconnectHarness()
        h.establish(open: [(Fid(1), ["dir", "file"], .read), (Fid(2), ["log"], .write)])
        h.server.replace("dir/file")
        h.clearRecord()
        h.crash()
        h.reconnect()
        #expect(h.actions.contains(.markFidDead(Fid(1), .staleFid(path: "dir/file"))))
        #expect(h.deadFids == [Fid(1)])
        #expect(Set(h.server.fids.keys) == [Fid(0), Fid(2)], "the walked replacement was clunked, not opened")
        #expect(!h.sent.contains { $0.message == .topen(Topen(fid: Fid(1), mode: .read)) })
        #expect(h.request(.tread(Tread(fid: Fid(1), offset: 0, count: 1))) == .failed(.staleFid(path: "dir/file")))
        #expect(h.request(.tstat(Tstat(fid: Fid(2)))).map { !$0.isError } == true)
        #expect(ReconnectError.staleFid(path: "dir/file").description == "stale file 'dir/file': removed or replaced while the server was away")
    }

    @Test func aChangedQidTypeKillsTheFid() {
        var h = ReconnectHarness()
        h.establish(open: [(Fid(3), ["excl"], nil)])
        h.server.files["excl"]!.qid.type = .file
        h.clearRecord()
        h.crash()
        h.reconnect()
        #expect(h.deadFids == [Fid(3)])
    }

    @Test func aChangedQidVersionInvalidatesButKeepsTheFid() {
        var h = ReconnectHarness()
        h.establish(open: [(Fid(1), ["dir", "file"], .read), (Fid(2), ["dir"], nil)])
        let old = h.machine.registry[Fid(1)]!.qid
        h.server.touch("dir/file")
        h.clearRecord()
        h.crash()
        h.reconnect()
        let new = h.server.qid("dir/file")!
        #expect(h.actions.contains(.invalidate(Fid(1), old: old, new: new)))
        #expect(h.machine.registry[Fid(1)]?.qid == new)
        #expect(h.deadFids.isEmpty)
        #expect(h.request(.tread(Tread(fid: Fid(1), offset: 0, count: 100))) == .reply(.rread(Rread(data: ByteBuffer(string: "0123456789!")))))
        #expect(h.logs(.notice).last?.contains("3 fids restored, 0 stale, 1 changed") == true)
    }

    /// The client's own writes move qid.vers too (Rwrite does not say to
    /// what): a file only this client changed is not invalidated, through
    /// the fid that wrote nor through another fid of the same file.
    @Test func theClientsOwnWritesDoNotInvalidate() {
        var h = ReconnectHarness()
        h.establish(open: [(Fid(1), ["dir", "file"], .readWrite), (Fid(2), ["dir", "file"], .read)])
        #expect(h.request(.twrite(Twrite(fid: Fid(1), offset: 0, data: ByteBuffer(string: "abc")))) == .reply(.rwrite(Rwrite(count: 3))))
        #expect(h.machine.registry.changedByClient == [h.server.qid("dir/file")!.path])
        h.clearRecord()
        h.crash()
        h.reconnect()
        #expect(!h.actions.contains { if case .invalidate = $0 { true } else { false } }, "\(h.actions)")
        #expect(h.machine.registry[Fid(2)]?.qid == h.server.qid("dir/file"))
        #expect(h.machine.registry.changedByClient.isEmpty)
        // Once restored, a change by someone else is news again.
        h.server.touch("dir/file")
        h.clearRecord()
        h.crash()
        h.reconnect()
        #expect(h.actions.filter { if case .invalidate = $0 { true } else { false } }.count == 2)
    }

    /// A Tstat after the client's writes tells the version they led to:
    /// every fid of the file learns it, and a later change by someone else
    /// while away is invalidated.
    @Test func aStatAfterOwnWritesMakesLaterChangesNewsAgain() {
        var h = ReconnectHarness()
        h.establish(open: [(Fid(1), ["dir", "file"], .readWrite), (Fid(2), ["dir", "file"], .read)])
        _ = h.request(.twrite(Twrite(fid: Fid(1), offset: 0, data: ByteBuffer(string: "abc"))))
        _ = h.request(.tstat(Tstat(fid: Fid(1))))
        #expect(h.machine.registry.changedByClient.isEmpty)
        #expect(h.machine.registry[Fid(2)]?.qid == h.server.qid("dir/file"))
        h.server.touch("dir/file")
        h.clearRecord()
        h.crash()
        h.reconnect()
        let new = h.server.qid("dir/file")!
        #expect(h.actions.contains { if case .invalidate(Fid(1), _, new) = $0 { true } else { false } })
        #expect(h.actions.contains { if case .invalidate(Fid(2), _, new) = $0 { true } else { false } })
    }

    @Test func rootFidsAvoidTheClientsNumbers() {
        var h = ReconnectHarness()
        h.establish()
        _ = h.request(.twalk(Twalk(fid: Fid(0), newfid: Self.firstRootFid, wname: ["dir"])))
        _ = h.request(.tattach(Tattach(fid: Fid(20), uname: "other", aname: "")))
        h.clearRecord()
        h.crash()
        h.reconnect()
        let attaches = h.sent.compactMap { if case .tattach(let a) = $0.message { a } else { nil } }
        #expect(attaches.map(\.fid) == [Fid(0xFFFF_FFFD), Fid(0xFFFF_FFFC)])
        #expect(attaches.map(\.uname) == ["glenda", "other"])
        #expect(Set(h.server.fids.keys) == [Fid(0), Fid(20), Self.firstRootFid])
        #expect(h.server.fids[Self.firstRootFid]?.path == "dir")
    }

    @Test func aThousandOpenFidsComeBackWithinTheWindow() {
        var policy = ReconnectPolicy(server: "tcp!fs!564")
        policy.recoveryWindow = 8
        var h = ReconnectHarness(policy: policy)
        h.establish()
        for i in 1...1000 {
            _ = h.request(.twalk(Twalk(fid: Fid(0), newfid: Fid(UInt32(i)), wname: i % 2 == 0 ? ["dir", "file"] : ["log"])))
            _ = h.request(.topen(Topen(fid: Fid(UInt32(i)), mode: i % 2 == 0 ? .read : .write)))
        }
        h.server.replace("dir/file")  // half of them die, and are clunked
        h.clearRecord()
        h.crash()
        h.connectionOpen = true
        h.handle(.dialSucceeded)
        var peak = 0
        while true {
            peak = max(peak, h.server.inbox.count + h.server.outbox.count)
            guard let reply = h.server.takeReply() else { break }
            h.handle(.replyReceived(reply))
        }
        #expect(peak <= 8)
        #expect(h.machine.phase == .connected)
        #expect(h.deadFids.count == 500)
        #expect(h.server.fids.count == 501)
        #expect(h.logs(.notice).last?.contains("501 fids restored, 500 stale") == true)
    }

    @Test func authFidsDieAndNoSessionMeansNothingToRestore() {
        // A machine that takes over a live session (fids in its registry) resumes it.

        var registry = FidRegistry()
        registry.recordVersion(msize: 8192, version: "9P2000")
        registry.recordAuth(afid: Fid(9), uname: "glenda", aname: "", qid: Qid(type: .auth, path: 9))
        var machine = ReconnectStateMachine<MockInstant>(policy: ReconnectPolicy(server: "s"), registry: registry, random: ScriptedRandom([0.5]))
        _ = machine.handle(.connectionLost(.endOfFile), now: .origin)
        let actions = machine.handle(.dialSucceeded, now: .origin)
        #expect(actions.contains(.markFidDead(Fid(9), .staleFid(path: "/"))))
        #expect(!actions.contains { if case .send(let c) = $0 { c.message.type == .tauth } else { false } })

        var versionless = FidRegistry()
        versionless.recordAttach(fid: Fid(0), uname: "glenda", aname: "", qid: Qid(type: .dir, path: 0))
        var orphan = ReconnectStateMachine<MockInstant>(policy: ReconnectPolicy(server: "s"), registry: versionless, random: ScriptedRandom([0.5]))
        _ = orphan.handle(.connectionLost(.endOfFile), now: .origin)
        let resumed = orphan.handle(.dialSucceeded, now: .origin)
        #expect(resumed.contains(.markFidDead(Fid(0), .staleFid(path: "/"))))
        #expect(resumed.last == .resumeRequests && orphan.phase == .connected)
    }

    @Test func aRenamedDirectoryIsRewalkedByItsNewName() {
        var h = ReconnectHarness()
        h.establish(open: [(Fid(1), ["dir"], nil), (Fid(2), ["dir", "file"], .read)])
        var rename = Stat.dontTouch
        rename.name = "moved"
        #expect(h.request(.twstat(Twstat(fid: Fid(1), stat: rename))) == .reply(.rwstat(Rwstat())))
        h.clearRecord()
        h.crash()
        h.reconnect()
        #expect(h.sent.contains { $0.message == .twalk(Twalk(fid: Self.firstRootFid, newfid: Fid(2), wname: ["moved", "file"])) })
        #expect(h.deadFids.isEmpty)
        #expect(h.server.fids[Fid(2)]?.path == "moved/file")
    }

    @Test func unexpectedRepliesDuringRecoveryDoNotDerailIt() {
        var h = ReconnectHarness()
        h.establish(open: [(Fid(1), ["dir", "file"], .read)])
        h.clearRecord()
        h.crash()
        h.connectionOpen = true
        h.handle(.dialSucceeded)
        h.handle(.replyReceived(Fcall(tag: Tag(500), .rclunk(Rclunk()))))
        #expect(h.logs(.warning).count == 1)
        h.pump()
        #expect(h.machine.phase == .connected && h.deadFids.isEmpty)
    }
}
