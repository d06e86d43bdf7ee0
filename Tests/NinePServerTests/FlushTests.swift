import NIOCore
import NinePServer
import NinePTesting
import NinePWire
import Testing

/// 9p(3): "the library will delay sending the Rflush message until the
/// response to r->oldreq has been sent."
@Suite("Flush", .timeLimit(.minutes(5)))
struct FlushTests {
    /// A session with fid 1 open on `name` and one read of it outstanding on `tag`.
    private func holdRead(_ name: String, tag: Tag) async throws -> (InMemoryServerConnection, Request) {
        let fs = TestFS()
        let pair = try await session(fs)
        try await pair.client.walkOpen(1, name)
        return (pair, try await pair.client.heldRead(fs, tag: tag))
    }

    @Test func flushOfUnknownTagIsAnsweredAtOnce() async throws {
        let pair = try await session(TestFS())
        defer { Task { await pair.close() } }
        #expect(try await pair.client.call(.tflush(Tflush(oldtag: Tag(77))), tag: Tag(1)) == .rflush(Rflush()))
    }

    @Test func flushOfItselfIsAnsweredAtOnce() async throws {
        let pair = try await session(TestFS())
        defer { Task { await pair.close() } }
        #expect(try await pair.client.call(.tflush(Tflush(oldtag: Tag(4))), tag: Tag(4)) == .rflush(Rflush()))
    }

    @Test func rflushWaitsForTheOldReply() async throws {
        let (pair, slow) = try await holdRead("slow", tag: Tag(10))
        defer { Task { await pair.close() } }
        let c = pair.client
        try await c.send(Fcall(tag: Tag(11), .tflush(Tflush(oldtag: Tag(10)))))
        // A later request is answered while the flush waits.
        #expect(try await c.stat(0).statValue != nil)
        #expect(try await !c.hasQueuedReply(tag: Tag(11)))
        #expect(slow.isCancelled)
        slow.respond(.rread(Rread(data: ByteBuffer(string: "data"))))
        #expect(try await c.reply(tag: Tag(11)).message == .rflush(Rflush()))
        let order = try await c.transcript.map(\.tag).filter { $0 == Tag(10) || $0 == Tag(11) }
        #expect(order == [Tag(10), Tag(11)])
    }

    @Test func severalFlushesOfOneTagAreAnsweredInOrder() async throws {
        let (pair, slow) = try await holdRead("slow", tag: Tag(10))
        defer { Task { await pair.close() } }
        let c = pair.client
        try await c.send([11, 12, 13].map { Fcall(tag: Tag($0), .tflush(Tflush(oldtag: Tag(10)))) })
        #expect(try await c.stat(0).statValue != nil)
        slow.respond(error: .interrupted)
        _ = try await c.reply(tag: Tag(13))
        let order = try await c.transcript.map(\.tag.rawValue).filter { (10...13).contains($0) }
        #expect(order == [10, 11, 12, 13])
        #expect(try await c.transcript.first { $0.tag == Tag(10) }?.message.ename == "interrupted")
    }

    @Test func cancellableRequestAnswersInterruptedThenRflush() async throws {
        let (pair, _) = try await holdRead("cancel", tag: Tag(20))
        defer { Task { await pair.close() } }
        let c = pair.client
        #expect(try await c.call(.tflush(Tflush(oldtag: Tag(20))), tag: Tag(21)) == .rflush(Rflush()))
        let replies = try await c.transcript.filter { $0.tag == Tag(20) || $0.tag == Tag(21) }
        #expect(replies.map(\.tag) == [Tag(20), Tag(21)])
        #expect(replies.first?.message.ename == "interrupted")
        // Both tags are free again.
        _ = try await c.reply(tag: Tag(20))
        #expect(try await c.call(.tstat(Tstat(fid: Fid(0))), tag: Tag(20)).statValue != nil)
    }

    @Test func flushOfAHeldFlushWaitsForBoth() async throws {
        let (pair, slow) = try await holdRead("slow", tag: Tag(10))
        defer { Task { await pair.close() } }
        let c = pair.client
        try await c.send(Fcall(tag: Tag(11), .tflush(Tflush(oldtag: Tag(10)))))
        try await c.send(Fcall(tag: Tag(12), .tflush(Tflush(oldtag: Tag(11)))))
        #expect(try await c.stat(0).statValue != nil)
        #expect(try await !c.hasQueuedReply(tag: Tag(12)))
        slow.respond(error: .interrupted)
        _ = try await c.reply(tag: Tag(12))
        let order = try await c.transcript.map(\.tag.rawValue).filter { (10...12).contains($0) }
        #expect(order == [10, 11, 12])
    }

    @Test func flushedRequestAnsweredFromAnotherThread() async throws {
        let (pair, slow) = try await holdRead("slow", tag: Tag(30))
        defer { Task { await pair.close() } }
        let c = pair.client
        try await c.send(Fcall(tag: Tag(31), .tflush(Tflush(oldtag: Tag(30)))))
        #expect(try await c.stat(0).statValue != nil)
        Task.detached { slow.respond(error: .interrupted) }
        #expect(try await c.reply(tag: Tag(31)).message == .rflush(Rflush()))
        let order = try await c.transcript.map(\.tag.rawValue).filter { $0 == 30 || $0 == 31 }
        #expect(order == [30, 31])
    }
}
