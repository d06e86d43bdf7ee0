import NIOCore
import NIOEmbedded
import NinePTransport
import NinePWire
import Testing

/// `FcallChannelHandler` gathers flushes: whatever is written in one pass
/// of the event loop, or while a batch is read, leaves in one flush; a lazy
/// message waits for the next flush or `FlushLazily.delay`; a close flushes.
@Suite("FcallChannelHandler: gathered flushes")
struct FlushGatheringTests {
    /// A channel with the framing handler, and the frames it put on the wire.
    final class Wire {
        let channel = EmbeddedChannel()
        init() throws {
            try channel.pipeline.syncOperations.addHandler(FcallChannelHandler(direction: .any))
        }

        /// Tags of the messages flushed to the wire so far (each written as
        /// one buffer, or a head and a payload).
        func flushedTags() throws -> [UInt16] {
            var tags: [UInt16] = []
            while var buffer = try channel.readOutbound(as: ByteBuffer.self) {
                guard buffer.readableBytes >= 7 else { continue }
                tags.append(buffer.getInteger(at: buffer.readerIndex + 5, endianness: .little, as: UInt16.self)!)
                _ = buffer.readBytes(length: buffer.readableBytes)
            }
            return tags
        }

        func send(_ tag: UInt16, flush: Bool = true) {
            channel.write(Fcall(tag: Tag(tag), .tclunk(Tclunk(fid: Fid(UInt32(tag))))), promise: nil)
            if flush { channel.flush() }
        }
    }

    @Test func flushesInOnePassLeaveTogetherAtItsEnd() throws {
        let wire = try Wire()
        wire.send(1)
        wire.send(2)
        #expect(try wire.flushedTags() == [])
        wire.channel.embeddedEventLoop.run()
        #expect(try wire.flushedTags() == [1, 2])
        wire.send(3)
        wire.channel.embeddedEventLoop.run()
        #expect(try wire.flushedTags() == [3])
    }

    @Test func answersWrittenWhileReadingLeaveAtReadComplete() throws {
        let wire = try Wire()
        var request = ByteBuffer()
        _ = Fcall(tag: Tag(9), .tclunk(Tclunk(fid: Fid(9)))).encodeHead(into: &request, version: .ninep2000)
        try wire.channel.writeInbound(request)  // channelRead and channelReadComplete
        wire.send(4)  // outside the batch again: gathered to the end of the pass
        #expect(try wire.flushedTags() == [])
        wire.channel.embeddedEventLoop.run()
        #expect(try wire.flushedTags() == [4])
        // Inside a batch: fire the read alone, write, then complete it.
        wire.channel.pipeline.fireChannelRead(request)
        wire.send(5)
        wire.channel.embeddedEventLoop.run()
        #expect(try wire.flushedTags() == [])
        wire.channel.pipeline.fireChannelReadComplete()
        #expect(try wire.flushedTags() == [5])
    }

    @Test func aLazyMessageWaitsForCompanyOrTheDelay() throws {
        let wire = try Wire()
        wire.send(1, flush: false)
        wire.channel.pipeline.triggerUserOutboundEvent(FcallChannelHandler.FlushLazily(), promise: nil)
        wire.channel.embeddedEventLoop.run()
        #expect(try wire.flushedTags() == [])
        wire.send(2)  // company: both leave at the end of the pass
        wire.channel.embeddedEventLoop.run()
        #expect(try wire.flushedTags() == [1, 2])
        wire.send(3, flush: false)
        wire.channel.pipeline.triggerUserOutboundEvent(FcallChannelHandler.FlushLazily(), promise: nil)
        wire.channel.embeddedEventLoop.advanceTime(by: FcallChannelHandler.FlushLazily.delay - .nanoseconds(1))
        #expect(try wire.flushedTags() == [])
        wire.channel.embeddedEventLoop.advanceTime(by: .nanoseconds(1))
        #expect(try wire.flushedTags() == [3])
    }

    @Test func aCloseFlushesWhatWasWritten() throws {
        let wire = try Wire()
        wire.send(7)
        wire.send(8, flush: false)
        wire.channel.pipeline.triggerUserOutboundEvent(FcallChannelHandler.FlushLazily(), promise: nil)
        _ = try? wire.channel.close().wait()
        #expect(try wire.flushedTags() == [7, 8])
    }
}
