import NIOCore
import NinePServer
import NinePTesting
import NinePWire
import Testing

/// The limits carried out by the service loop and the listener, in this
/// process: the reply budget parks requests and resumes them as replies
/// drain; the connection caps refuse with a reason; idle and stalled
/// connections are closed.
@Suite("Connection limits", .timeLimit(.minutes(2)))
struct ConnectionLimitTests {
    /// Reads of 10 bytes cost 34 (count + IOHDRSZ): a budget of 100 holds two.
    @Test func requestsBeyondTheReplyBudgetWaitUntilRepliesAreWritten() async throws {
        let fs = TestFS()
        let limits = ServerLimits(connectionReplyBudget: 100, serverReplyBudget: 100)
        let pair = try await session(fs, options: ServerOptions(limits: limits))
        defer { Task { await pair.close() } }
        let c = pair.client
        try await c.walkOpen(1, "slow")
        let first = try await c.heldRead(fs, tag: Tag(1))
        let second = try await c.heldRead(fs, tag: Tag(2))
        #expect(limits.replyBytesHeld == 68)
        // The third read does not fit: it and the Tstat behind it wait.
        try await c.send(Fcall(tag: Tag(3), .tread(Tread(fid: Fid(1), offset: 0, count: 10))))
        try await c.send(Fcall(tag: Tag(4), .tstat(Tstat(fid: Fid(0)))))
        // A Tflush goes ahead of them (of a request not yet taken up: answered at once).
        try await c.send(Fcall(tag: Tag(5), .tflush(Tflush(oldtag: Tag(99)))))
        #expect(try await c.reply(tag: Tag(5)).message == .rflush(Rflush()))
        #expect(try await !c.hasQueuedReply(tag: Tag(4)))
        // When the first reply has been written, the third read is taken up, then the Tstat.
        first.respond(.rread(Rread(data: ByteBuffer(string: "one"))))
        #expect(try await c.reply(tag: Tag(1)).message == .rread(Rread(data: ByteBuffer(string: "one"))))
        let third = await fs.nextHeld()
        #expect(third.tag == Tag(3))
        guard case .rstat = try await c.reply(tag: Tag(4)).message else { Issue.record("Tstat not answered"); return }
        // A parked read flushed before it is taken up is dropped: Rflush, and no Rread ever.
        try await c.send(Fcall(tag: Tag(6), .tread(Tread(fid: Fid(1), offset: 0, count: 10))))
        try await c.send(Fcall(tag: Tag(7), .tflush(Tflush(oldtag: Tag(6)))))
        #expect(try await c.reply(tag: Tag(7)).message == .rflush(Rflush()))
        second.respond(error: .interrupted)
        third.respond(error: .interrupted)
        _ = try await c.reply(tag: Tag(2))
        _ = try await c.reply(tag: Tag(3))
        #expect(await eventually(.seconds(10)) { limits.replyBytesHeld == 0 })
        #expect(try await c.stat(0).statValue != nil)
        #expect(try await !c.hasQueuedReply(tag: Tag(6)))
    }

    @Test func connectionsBeyondTheCapAreToldWhy() async throws {
        let dir = try TemporaryDirectory(prefix: "ninep-cap")
        defer { dir.remove() }
        let limits = ServerLimits(maxConnections: 2)
        let listener = try await NinePServer.listen(RamFS(), unixPath: dir.path + "/9p", options: ServerOptions(limits: limits))
        defer { Task { await listener.close() } }
        let a = try await RawNinePClient.connect(unixPath: dir.path + "/9p")
        let b = try await RawNinePClient.connect(unixPath: dir.path + "/9p")
        _ = try await a.version()
        _ = try await b.version()
        let c = try await RawNinePClient.connect(unixPath: dir.path + "/9p")
        await #expect(throws: RawNinePClientError.unexpected(.rerror(Rerror(ename: "server busy: too many connections (limit 2)")))) {
            _ = try await c.version()
        }
        #expect(await c.waitForClose(timeout: .seconds(30)))
        await a.close()
        #expect(await eventually(.seconds(10)) { limits.connectionCount == 1 })
        let d = try await RawNinePClient.connect(unixPath: dir.path + "/9p")
        _ = try await d.version()
        await b.close()
        await d.close()
    }

    @Test func idleConnectionsAreClosed() async throws {
        let dir = try TemporaryDirectory(prefix: "ninep-idle")
        defer { dir.remove() }
        let options = ServerOptions(idleTimeout: .milliseconds(300), stallTimeout: nil)
        let listener = try await NinePServer.listen(RamFS(), unixPath: dir.path + "/9p", options: options)
        defer { Task { await listener.close() } }
        let idle = try await RawNinePClient.connect(unixPath: dir.path + "/9p")
        #expect(await idle.waitForClose(timeout: .seconds(30)))
    }

    @Test func aConnectionStalledMidMessageIsClosed() async throws {
        let dir = try TemporaryDirectory(prefix: "ninep-stall")
        defer { dir.remove() }
        let options = ServerOptions(idleTimeout: nil, stallTimeout: .milliseconds(200))
        let listener = try await NinePServer.listen(RamFS(), unixPath: dir.path + "/9p", options: options)
        defer { Task { await listener.close() } }
        let stalled = try await RawNinePClient.connect(unixPath: dir.path + "/9p")
        _ = try await stalled.version()
        _ = try await stalled.attach(fid: Fid(0))
        try await stalled.sendRaw([64, 0, 0])  // three bytes of a message, then nothing
        #expect(await stalled.waitForClose(timeout: .seconds(30)))
    }
}
