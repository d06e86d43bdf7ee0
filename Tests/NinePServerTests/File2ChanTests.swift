import NIOCore
import NinePServer
import NinePTesting
import NinePWire
import Synchronization
import Testing

/// sys-file2chan(2) semantics over the wire: a RamFS holding a `File2Chan`
/// file, driven by a raw client.
@Suite("File2Chan", .timeLimit(.minutes(3)))
struct File2ChanTests {
    /// A RamFS with a file2chan file "chan" at its root, and a session on it.
    private func setUp() async throws -> (File2Chan, InMemoryServerConnection) {
        let fs = RamFS(owner: "glenda")
        let chan = try File2Chan(in: fs.tree.root, named: "chan", owner: "glenda")
        return (chan, try await session(fs))
    }

    @Test func readBlocksUntilTheProgramRepliesAndIsCutToCount() async throws {
        let (chan, pair) = try await setUp()
        defer { Task { await pair.close() } }
        let c = pair.client
        try await c.walkOpen(1, "chan")
        var reads = chan.reads.makeAsyncIterator()
        try await c.send(Fcall(tag: Tag(5), .tread(Tread(fid: Fid(1), offset: 9, count: 3))))
        let read = try #require(await reads.next())
        #expect(read.offset == 9)
        #expect(read.count == 3)
        #expect(read.fid.fid == Fid(1))
        // The program has not answered: neither has the server.
        #expect(try await !c.hasQueuedReply(tag: Tag(5)))
        read.reply.respond(ByteBuffer(string: "hello"))
        #expect(try await c.reply(tag: Tag(5)).message.readData == Array("hel".utf8))
    }

    @Test func writeDeliversOffsetAndDataAndAnswersTheCount() async throws {
        let (chan, pair) = try await setUp()
        defer { Task { await pair.close() } }
        let c = pair.client
        try await c.walkOpen(1, "chan", .write)
        var writes = chan.writes.makeAsyncIterator()
        try await c.send(Fcall(tag: Tag(6), .twrite(Twrite(fid: Fid(1), offset: 0, data: ByteBuffer(string: "hi\n")))))
        let write = try #require(await writes.next())
        #expect(write.offset == 0)
        #expect(String(buffer: write.data) == "hi\n")
        #expect(write.fid.fid == Fid(1))
        write.reply.respond(3)
        #expect(try await c.reply(tag: Tag(6)).message == .rwrite(Rwrite(count: 3)))
    }

    @Test func anErrorReplyReachesTheClientVerbatim() async throws {
        let (chan, pair) = try await setUp()
        defer { Task { await pair.close() } }
        let c = pair.client
        try await c.walkOpen(1, "chan", .readWrite)
        var reads = chan.reads.makeAsyncIterator()
        var writes = chan.writes.makeAsyncIterator()
        try await c.send(Fcall(tag: Tag(7), .tread(Tread(fid: Fid(1), offset: 0, count: 10))))
        try #require(await reads.next()).reply.respond(error: "gizmo: out of sprockets")
        #expect(try await c.reply(tag: Tag(7)).message.ename == "gizmo: out of sprockets")
        try await c.send(Fcall(tag: Tag(8), .twrite(Twrite(fid: Fid(1), offset: 0, data: ByteBuffer(string: "x")))))
        try #require(await writes.next()).reply.respond(error: "read-only gizmo")
        #expect(try await c.reply(tag: Tag(8)).message.ename == "read-only gizmo")
    }

    @Test func everyOpenHasItsOwnFidAndEachCloseArrives() async throws {
        let (chan, pair) = try await setUp()
        defer { Task { await pair.close() } }
        let c = pair.client
        try await c.walkOpen(1, "chan")
        try await c.walkOpen(2, "chan")
        var reads = chan.reads.makeAsyncIterator()
        var closes = chan.closes.makeAsyncIterator()
        var seen: [File2Chan.OpenFid] = []
        for (tag, fid) in [(20, 1), (21, 2)] as [(UInt16, UInt32)] {
            try await c.send(Fcall(tag: Tag(tag), .tread(Tread(fid: Fid(fid), offset: 0, count: 10))))
            let read = try #require(await reads.next())
            read.reply.respond(ByteBuffer(string: "\(read.fid.fid.rawValue)"))
            #expect(try await c.reply(tag: Tag(tag)).message.readData == Array("\(fid)".utf8))
            seen.append(read.fid)
        }
        #expect(seen.map(\.fid) == [Fid(1), Fid(2)])
        #expect(seen[0] != seen[1])
        _ = try await c.clunk(2)
        #expect(await closes.next() == seen[1])
        _ = try await c.clunk(1)
        #expect(await closes.next() == seen[0])
        // A walked but never opened fid is no open: its clunk says nothing.
        #expect(try await c.walk(0, 3, "chan").qids?.count == 1)
        _ = try await c.clunk(3)
        try await c.walkOpen(4, "chan")
        _ = try await c.clunk(4)
        #expect(await closes.next()?.fid == Fid(4))
    }

    @Test func aFlushCancelsThePendingRequestAndTheClientGetsInterrupted() async throws {
        let (chan, pair) = try await setUp()
        defer { Task { await pair.close() } }
        let c = pair.client
        try await c.walkOpen(1, "chan")
        var reads = chan.reads.makeAsyncIterator()
        try await c.send(Fcall(tag: Tag(30), .tread(Tread(fid: Fid(1), offset: 0, count: 10))))
        let read = try #require(await reads.next())
        let (seen, seenSink) = AsyncStream.makeStream(of: Bool.self)
        read.reply.onCancel { seenSink.yield(true); seenSink.finish() }
        try await c.send(Fcall(tag: Tag(31), .tflush(Tflush(oldtag: Tag(30)))))
        #expect(try await c.reply(tag: Tag(30)).message.ename == "interrupted")
        #expect(try await c.reply(tag: Tag(31)).message == .rflush(Rflush()))
        var cancelled = seen.makeAsyncIterator()
        #expect(await cancelled.next() == true)
        #expect(read.reply.isCancelled)
        // The program's late answer goes nowhere; the session goes on.
        read.reply.respond(ByteBuffer(string: "late"))
        try await c.send(Fcall(tag: Tag(32), .tread(Tread(fid: Fid(1), offset: 0, count: 10))))
        try #require(await reads.next()).reply.respond(ByteBuffer(string: "next"))
        #expect(try await c.reply(tag: Tag(32)).message.readData == Array("next".utf8))
    }

    @Test func aSlowProgramStallsNothingElse() async throws {
        let (chan, pair) = try await setUp()
        defer { Task { await pair.close() } }
        let c = pair.client
        try await c.walkOpen(1, "chan")
        var reads = chan.reads.makeAsyncIterator()
        try await c.send(Fcall(tag: Tag(40), .tread(Tread(fid: Fid(1), offset: 0, count: 10))))
        let pending = try #require(await reads.next())
        // While the read waits: another file of the tree, and a second open.
        #expect(try await c.walk(0, 5).qids == [])
        let created = try await c.call(.tcreate(Tcreate(fid: Fid(5), name: "plain", perm: FileMode(permissions: 0o644), mode: .readWrite)))
        #expect(created.ename == nil)
        #expect(try await c.stat(5).statValue?.name == "plain")
        try await c.walkOpen(2, "chan")
        try await c.send(Fcall(tag: Tag(41), .tread(Tread(fid: Fid(2), offset: 0, count: 10))))
        let second = try #require(await reads.next())
        second.reply.respond(ByteBuffer(string: "quick"))
        #expect(try await c.reply(tag: Tag(41)).message.readData == Array("quick".utf8))
        #expect(try await !c.hasQueuedReply(tag: Tag(40)))
        pending.reply.respond(ByteBuffer(string: "slow"))
        #expect(try await c.reply(tag: Tag(40)).message.readData == Array("slow".utf8))
    }

    @Test func aDroppedReplyAnswersAndARemovedFileHasNoServer() async throws {
        let (chan, pair) = try await setUp()
        defer { Task { await pair.close() } }
        let c = pair.client
        try await c.walkOpen(1, "chan")
        var reads = chan.reads.makeAsyncIterator()
        try await c.send(Fcall(tag: Tag(50), .tread(Tread(fid: Fid(1), offset: 0, count: 10))))
        _ = await reads.next()
        #expect(try await c.reply(tag: Tag(50)).message.ename == "file2chan: chan: request dropped by the program")
        chan.remove()
        #expect(try await c.read(1).ename == "file2chan: chan: no server")
        #expect(try await c.walk(0, 2, "chan").ename == NinePError.notFound.ename)
    }

    @Test func theFileIsNamedOwnedAndRefusesADuplicate() async throws {
        let fs = RamFS(owner: "glenda")
        let chan = try File2Chan(in: fs.tree.root, named: "chan", owner: "glenda", permissions: 0o640)
        #expect(chan.file.stat.uid == "glenda")
        #expect(chan.file.stat.mode.permissions == 0o640)
        #expect(throws: NinePError.exists) { try File2Chan(in: fs.tree.root, named: "chan", owner: "glenda") }
        #expect(throws: NinePError.notDirectory) { try File2Chan(in: chan.file, named: "x", owner: "glenda") }
    }
}
