import Dispatch
import NIOCore
import NinePServer
import NinePTesting
import NinePWire
import Synchronization
import Testing

@Suite("Service loop", .timeLimit(.minutes(5)))
struct ServiceLoopTests {
    // MARK: Version

    @Test func versionNegotiatesMsizeAndDialect() async throws {
        let pair = try await InMemoryServerConnection.start(TestFS())
        defer { Task { await pair.close() } }
        let c = pair.client
        #expect(try await c.version(msize: 1 << 30).msize == ServerOptions.defaultMaxMessageSize)
        #expect(try await c.version(msize: 8192) == Rversion(msize: 8192, version: "9P2000"))
        #expect(try await c.version(msize: 8192, version: "9P2000.u").version == "9P2000")
        #expect(try await c.version(msize: 8192, version: "9P2000.L").version == "9P2000")
        #expect(try await c.version(msize: 8192, version: "9P1999").version == "unknown")
        #expect(try await c.error(of: .tversion(Tversion(msize: 100, version: "9P2000")), tag: .notag) == "msize too small")
    }

    @Test func everythingBeforeVersionIsRejected() async throws {
        let fs = TestFS()
        let pair = try await InMemoryServerConnection.start(fs)
        defer { Task { await pair.close() } }
        let c = pair.client
        let e = try await c.error(of: .tattach(Tattach(fid: Fid(0), uname: "glenda", aname: "")))
        #expect(e == NinePError.versionRequired.ename)
        #expect(try await c.stat(0).ename == NinePError.versionRequired.ename)
        // An unknown version leaves the connection unversioned.
        #expect(try await c.version(version: "bogus").version == "unknown")
        #expect(try await c.stat(0).ename == NinePError.versionRequired.ename)
        #expect(fs.seenCount == 0)
        _ = try await c.version()
        #expect(try await c.attach(fid: Fid(0)) == TestFS.qid(0))
    }

    @Test func versionClunksFidsAndAbortsOutstandingRequests() async throws {
        let fs = TestFS()
        let pair = try await session(fs)
        defer { Task { await pair.close() } }
        let c = pair.client
        try await c.walkOpen(1, "slow")
        #expect(try await c.walk(0, 2, "file").qids?.count == 1)
        let slow = try await c.heldRead(fs, tag: Tag(50))

        _ = try await c.version()
        #expect(slow.isCancelled)
        // Fids 0 and 2 are gone at once; fid 1 waits for its outstanding read.
        #expect(Set(fs.destroyed.withLock { $0 }) == [Fid(0), Fid(2)])
        #expect(try await c.stat(0).ename == "unknown fid")
        slow.respond(.rread(Rread(data: ByteBuffer(string: "late"))))
        // The aborted read's answer is discarded, and its tag is free again.
        #expect(try await c.attach(fid: Fid(0)) == TestFS.qid(0))
        #expect(try await c.stat(0).statValue?.name == "/")
        #expect(try await c.call(.tstat(Tstat(fid: Fid(0))), tag: Tag(50)).statValue != nil)
        #expect(try await c.transcript.filter { $0.tag == Tag(50) }.count == 1)
        #expect(Set(fs.destroyed.withLock { $0 }) == [Fid(0), Fid(1), Fid(2)])
    }

    // MARK: Every message

    @Test func everyMessage() async throws {
        let fs = TestFS()
        let pair = try await session(fs)
        defer { Task { await pair.close() } }
        let c = pair.client
        #expect(try await c.error(of: .tauth(Tauth(afid: Fid(9), uname: "glenda", aname: ""))) == "authentication not required")
        #expect(try await c.walk(0, 1, "dir", "inner").qids == [TestFS.qid(2), TestFS.qid(3)])
        #expect(try await c.open(1, .readWrite) == .ropen(Ropen(qid: TestFS.qid(3), iounit: 0)))
        #expect(try await c.read(1).readData == Array("inner".utf8))
        #expect(try await c.read(1, offset: 2, count: 2).readData == Array("ne".utf8))
        let w = try await c.call(.twrite(Twrite(fid: Fid(1), offset: 0, data: ByteBuffer(string: "abc"))))
        #expect(w == .rwrite(Rwrite(count: 3)))
        #expect(try await c.stat(1).statValue?.name == "inner")
        var d = Stat.dontTouch
        d.name = "renamed"
        #expect(try await c.call(.twstat(Twstat(fid: Fid(1), stat: d))) == .rwstat(Rwstat()))
        #expect(try await c.call(.tremove(Tremove(fid: Fid(1)))) == .rremove(Rremove()))
        #expect(try await c.stat(1).ename == "unknown fid")
        #expect(try await c.walk(0, 2, "dir").qids?.count == 1)
        let created = try await c.call(.tcreate(Tcreate(fid: Fid(2), name: "new", perm: FileMode(permissions: 0o644), mode: .write)))
        guard case .rcreate(let rc) = created else { Issue.record("create: \(created)"); return }
        // The fid now is the new file, open for writing.
        #expect(try await c.read(2).ename == NinePError.openForWrite.ename)
        #expect(try await c.walk(2, 3).ename == NinePError.walkOpenFid.ename)
        #expect(rc.qid.path >= 100)
        #expect(try await c.clunk(2) == .rclunk(Rclunk()))
        #expect(try await c.clunk(2).ename == "unknown fid")
        #expect(try await c.call(.tflush(Tflush(oldtag: Tag(999)))) == .rflush(Rflush()))
    }

    @Test func directoryReadsThroughTheLoop() async throws {
        let pair = try await session(TestFS())
        defer { Task { await pair.close() } }
        let c = pair.client
        #expect(try await c.open(0, .read).ename == nil)
        let all = try entries(try #require(await c.read(0).readData))
        #expect(all.map(\.name).sorted() == ["big", "cancel", "dir", "file", "slow"])
        // read(5): a directory offset must be 0 or where the last read ended.
        #expect(try await c.read(0, offset: 7).ename == "bad offset")
        #expect(try await c.read(0, offset: 0).readData != nil)
    }

    // MARK: Rejections

    @Test func protocolErrorsNeverReachTheFileServer() async throws {
        let fs = TestFS()
        let pair = try await session(fs)
        defer { Task { await pair.close() } }
        let c = pair.client
        #expect(try await c.walk(0, 1, "file").qids?.count == 1)
        #expect(try await c.walk(0, 2, "file").qids?.count == 1)
        #expect(try await c.open(2, .write).ename == nil)
        #expect(try await c.walk(0, 3, "file").qids?.count == 1)
        #expect(try await c.open(3, .read).ename == nil)
        let before = fs.seenCount

        func expectError(_ m: Message, _ e: NinePError, sourceLocation: SourceLocation = #_sourceLocation) async throws {
            let got = try await c.error(of: m)
            #expect(got == e.ename, "\(m)", sourceLocation: sourceLocation)
        }
        try await expectError(.tattach(Tattach(fid: Fid(0), uname: "glenda", aname: "")), .duplicateFid)
        try await expectError(.tattach(Tattach(fid: Fid(7), afid: Fid(77), uname: "glenda", aname: "")), .unknownFid)
        try await expectError(.tattach(Tattach(fid: .nofid, uname: "glenda", aname: "")), .nofidReserved)
        try await expectError(.tauth(Tauth(afid: Fid(1), uname: "glenda", aname: "")), .duplicateFid)
        try await expectError(.tstat(Tstat(fid: Fid(42))), .unknownFid)
        try await expectError(.twalk(Twalk(fid: Fid(0), newfid: Fid(1), wname: [])), .duplicateFid)
        try await expectError(.twalk(Twalk(fid: Fid(3), newfid: Fid(4), wname: [])), .walkOpenFid)
        try await expectError(.twalk(Twalk(fid: Fid(1), newfid: Fid(4), wname: ["x"])), .walkNonDirectory)
        try await expectError(.topen(Topen(fid: Fid(3), mode: .read)), .fidOpen)
        try await expectError(.topen(Topen(fid: Fid(0), mode: .write)), .isDirectory)
        try await expectError(.topen(Topen(fid: Fid(0), mode: OpenMode.read.with(truncate: true))), .isDirectory)
        try await expectError(.tread(Tread(fid: Fid(2), offset: 0, count: 1)), .openForWrite)
        try await expectError(.twrite(Twrite(fid: Fid(3), offset: 0, data: ByteBuffer(string: "x"))), .openForRead)
        try await expectError(.tread(Tread(fid: Fid(1), offset: 0, count: 1)), .fidNotOpen)
        try await expectError(.twrite(Twrite(fid: Fid(1), offset: 0, data: ByteBuffer(string: "x"))), .fidNotOpen)
        try await expectError(.tread(Tread(fid: Fid(3), offset: 0, count: 65_536 - 24 + 1)), .badCount)
        try await expectError(.tcreate(Tcreate(fid: Fid(1), name: "x", perm: FileMode(permissions: 0o644), mode: .read)), .createNonDirectory)
        try await expectError(.tcreate(Tcreate(fid: Fid(3), name: "x", perm: FileMode(permissions: 0o644), mode: .read)), .fidOpen)
        try await expectError(.tcreate(Tcreate(fid: Fid(0), name: "a/b", perm: FileMode(permissions: 0o644), mode: .read)), .badName)
        try await expectError(.tcreate(Tcreate(fid: Fid(0), name: "..", perm: FileMode(permissions: 0o644), mode: .read)), .exists)
        try await expectError(.tcreate(Tcreate(fid: Fid(0), name: "d", perm: FileMode(permissions: 0o755, flags: .dir), mode: .write)), .isDirectory)
        try await expectError(.tclunk(Tclunk(fid: Fid(42))), .unknownFid)
        try await expectError(.tremove(Tremove(fid: Fid(42))), .unknownFid)
        var d = Stat.dontTouch
        d.qid.path = 5
        try await expectError(.twstat(Twstat(fid: Fid(1), stat: d)), .wstatQid)
        d = Stat.dontTouch
        d.type = 1
        try await expectError(.twstat(Twstat(fid: Fid(1), stat: d)), .wstatType)
        d = Stat.dontTouch
        d.dev = 1
        try await expectError(.twstat(Twstat(fid: Fid(1), stat: d)), .wstatDev)
        d = Stat.dontTouch
        d.muid = "bob"
        try await expectError(.twstat(Twstat(fid: Fid(1), stat: d)), .wstatMuid)
        d = Stat.dontTouch
        d.mode = FileMode(permissions: 0o755, flags: .dir)
        try await expectError(.twstat(Twstat(fid: Fid(1), stat: d)), .wstatDirBit)
        #expect(fs.seenCount == before)
    }

    @Test func duplicateTagIsRejectedWhileInUse() async throws {
        let fs = TestFS()
        let pair = try await session(fs)
        defer { Task { await pair.close() } }
        let c = pair.client
        try await c.walkOpen(1, "slow")
        let slow = try await c.heldRead(fs, tag: Tag(5))
        try await c.send(Fcall(tag: Tag(5), .tstat(Tstat(fid: Fid(0)))))
        #expect(try await c.reply(tag: Tag(5)).message.ename == "duplicate tag")
        slow.respond(.rread(Rread(data: ByteBuffer(string: "ok"))))
        #expect(try await c.reply(tag: Tag(5)).message.readData == Array("ok".utf8))
        // Free again once answered.
        #expect(try await c.call(.tstat(Tstat(fid: Fid(0))), tag: Tag(5)).statValue != nil)
    }

    @Test func tooManyWalkNamesIsAnsweredAndTheConnectionGoesOn() async throws {
        let pair = try await session(TestFS())
        defer { Task { await pair.close() } }
        let c = pair.client
        // Twalk tag 9 fid 0 newfid 1 nwname 17, each name "a".
        var body: [UInt8] = [110, 9, 0, 0, 0, 0, 0, 1, 0, 0, 0, 17, 0]
        for _ in 0..<17 { body += [1, 0, UInt8(ascii: "a")] }
        let size = UInt32(body.count + 4)
        try await c.sendRaw(withUnsafeBytes(of: size.littleEndian, Array.init) + body)
        #expect(try await c.reply(tag: Tag(9)).message.ename?.contains("16") == true)
        #expect(try await c.stat(0).statValue?.name == "/")
    }

    // MARK: Walk

    @Test func walkSemantics() async throws {
        let fs = TestFS()
        let pair = try await session(fs)
        defer { Task { await pair.close() } }
        let c = pair.client
        // Failed first element: Rerror, newfid not made.
        #expect(try await c.walk(0, 1, "nope").ename == "file not found")
        #expect(try await c.stat(1).ename == "unknown fid")
        // Partial walk: the qids walked, newfid not made.
        #expect(try await c.walk(0, 1, "dir", "nope", "x").qids == [TestFS.qid(2)])
        #expect(try await c.stat(1).ename == "unknown fid")
        // nwname 0 clones.
        #expect(try await c.walk(0, 1).qids == [])
        #expect(try await c.stat(1).statValue?.qid == TestFS.qid(0))
        // fid == newfid: a short walk leaves the fid where it was.
        #expect(try await c.walk(1, 1, "dir", "nope").qids == [TestFS.qid(2)])
        #expect(try await c.stat(1).statValue?.qid == TestFS.qid(0))
        #expect(try await c.walk(1, 1, "nope").ename == "file not found")
        #expect(try await c.stat(1).statValue?.qid == TestFS.qid(0))
        // ... and a full one moves it.
        #expect(try await c.walk(1, 1, "dir", "inner").qids?.count == 2)
        #expect(try await c.stat(1).statValue?.qid == TestFS.qid(3))
        // Every scratch fid walkAndClone made was destroyed, the real ones not.
        #expect(fs.destroyed.withLock { $0 }.allSatisfy { $0 == Fid(1) })
    }

    @Test func walkAndCloneInPlaceKeepsStateOnShortWalk() {
        let fs = TestFS()
        let fid = ServerFid(fid: Fid(3), uname: "glenda", qid: TestFS.qid(0))
        fid.aux = UInt64(0)
        let box = ReplyBox()
        let r = Request(
            tag: Tag(1), ifcall: .twalk(Twalk(fid: Fid(3), newfid: Fid(3), wname: ["dir", "missing"])),
            fid: fid, newfid: fid, responder: box.responder)
        fs.walkAndClone(r)
        #expect(box.message == .rwalk(Rwalk(wqid: [TestFS.qid(2)])))
        #expect(fid.aux(as: UInt64.self) == 0)
        #expect(fid.qid == TestFS.qid(0))
    }

    // MARK: Clunk, remove, end

    @Test func removeClunksEvenOnError() async throws {
        let fs = TestFS()
        let pair = try await session(fs)
        defer { Task { await pair.close() } }
        let c = pair.client
        #expect(try await c.walk(0, 1, "file").qids?.count == 1)
        #expect(try await c.call(.tremove(Tremove(fid: Fid(1)))).ename == "remove prohibited")
        #expect(try await c.stat(1).ename == "unknown fid")
        #expect(fs.destroyed.withLock { $0 } == [Fid(1)])
        // The fid number is free for reuse.
        #expect(try await c.walk(0, 1, "file").qids?.count == 1)
    }

    @Test func connectionEndDestroysEveryFidThenCallsEnd() async throws {
        let fs = TestFS()
        let pair = try await session(fs)
        let c = pair.client
        #expect(try await c.walk(0, 1, "file").qids?.count == 1)
        #expect(try await c.walk(0, 2, "dir").qids?.count == 1)
        #expect(try await c.open(2, .read).ename == nil)
        await c.close()
        try await pair.server.ended.get()
        #expect(Set(fs.destroyed.withLock { $0 }) == [Fid(0), Fid(1), Fid(2)])
        #expect(fs.ends.load(ordering: .relaxed) == 1)
        #expect(fs.destroyedRequests.load(ordering: .relaxed) == fs.seenCount)
    }

    @Test func endWaitsForAHeldRequestWhichIsCancelled() async throws {
        let fs = TestFS()
        let pair = try await session(fs)
        let c = pair.client
        try await c.walkOpen(1, "slow")
        let slow = try await c.heldRead(fs, tag: Tag(3))
        await c.close()
        try await pair.server.closeFuture.get()
        // Fid 1 is still named by the held read.
        #expect(!fs.destroyed.withLock { $0 }.contains(Fid(1)))
        #expect(fs.ends.load(ordering: .relaxed) == 0)
        try await pair.server.channel.eventLoop.submit {}.get()
        #expect(slow.isCancelled)
        slow.respond(error: .interrupted)
        try await pair.server.ended.get()
        #expect(fs.destroyed.withLock { $0 }.contains(Fid(1)))
        #expect(fs.ends.load(ordering: .relaxed) == 1)
    }

    @Test func answersFromOtherThreadsAndWrongAnswersAreHandled() async throws {
        final class Misbehaving: FileServer {
            func attach(_ r: Request) {
                Task.detached { r.respond(.rattach(Rattach(qid: Qid(type: .dir, path: 0)))) }
            }
            func read(_ r: Request) { r.respond(error: .botch) }
            // Answers Tstat with the wrong message type.
            func stat(_ r: Request) { r.respond(.rclunk(Rclunk())) }
        }
        let pair = try await session(Misbehaving())
        defer { Task { await pair.close() } }
        #expect(try await pair.client.stat(0).ename == NinePError.botch.ename)
    }

    /// Answers from another thread are carried to the loop in batches; each
    /// must still reach its own tag, in the order they were given.
    @Test func aBurstOfAnswersFromAnotherThreadArrivesWholeAndInOrder() async throws {
        final class Burst: FileServer {
            let count: Int
            let held = Mutex<[Request]>([])
            init(count: Int) { self.count = count }
            func attach(_ r: Request) { r.respond(.rattach(Rattach(qid: Qid(type: .dir, path: 0)))) }
            func read(_ r: Request) { r.respond(error: .botch) }
            func stat(_ r: Request) {
                let all = held.withLock { held -> [Request]? in
                    held.append(r)
                    return held.count == count ? held : nil
                }
                guard let all else { return }
                // The last request to arrive is answered first.
                DispatchQueue.global().async {
                    for request in all.reversed() { request.respond(error: "answer to tag \(request.tag.rawValue)") }
                }
            }
        }
        let count = 200
        let pair = try await session(Burst(count: count))
        defer { Task { await pair.close() } }
        let tags = (1...count).map { Tag(UInt16($0)) }
        try await pair.client.send(tags.map { Fcall(tag: $0, .tstat(Tstat(fid: Fid(0)))) })
        for tag in tags {
            #expect(try await pair.client.reply(tag: tag).message.ename == "answer to tag \(tag.rawValue)")
        }
        let answered = try await pair.client.transcript.filter { $0.tag != .notag && $0.tag.rawValue <= count }
        #expect(answered.map(\.tag) == tags.reversed())
    }
}
