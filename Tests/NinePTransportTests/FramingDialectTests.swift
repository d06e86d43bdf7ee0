import NIOCore
import NIOEmbedded
import NinePTransport
import NinePWire
import Testing

/// `FcallChannelHandler` reads and writes in the dialect it was told, as it
/// enforces the msize it was told: 9P2000 until `setProtocolVersion`.
@Suite("FcallChannelHandler: the negotiated dialect")
struct FramingDialectTests {
    static func channel() throws -> (EmbeddedChannel, FcallChannelHandler) {
        let channel = EmbeddedChannel()
        let framing = FcallChannelHandler(direction: .any)
        try channel.pipeline.syncOperations.addHandler(framing)
        return (channel, framing)
    }

    static func written(_ channel: EmbeddedChannel) throws -> ByteBuffer {
        channel.embeddedEventLoop.run()
        var all = ByteBuffer()
        while var part = try channel.readOutbound(as: ByteBuffer.self) { all.writeBuffer(&part) }
        return all
    }

    @Test func encodesInTheDialectSet() throws {
        let (channel, framing) = try Self.channel()
        let attach = Fcall(tag: Tag(1), .tattach(Tattach(fid: Fid(0), uname: "", aname: "/srv", nUname: 1000)))
        #expect(framing.protocolVersion == .ninep2000)
        channel.writeAndFlush(attach, promise: nil)
        var expected = ByteBuffer()
        attach.encode(into: &expected, version: .ninep2000)
        #expect(try Self.written(channel) == expected)

        framing.setProtocolVersion(.ninep2000L)
        channel.writeAndFlush(attach, promise: nil)
        var dotL = ByteBuffer()
        attach.encode(into: &dotL, version: .ninep2000L)
        #expect(try Self.written(channel) == dotL)
        #expect(dotL.readableBytes == expected.readableBytes + 4, "n_uname[4] travels under .L")
        _ = try channel.finish()
    }

    @Test func decodesInTheDialectSetAndRefusesOthersFrameByFrame() throws {
        let (channel, framing) = try Self.channel()
        var rlerror = ByteBuffer()
        Fcall(tag: Tag(3), .rlerror(Rlerror(ecode: 2))).encode(into: &rlerror, version: .ninep2000L)

        // Under 9P2000 an Rlerror is a whole frame of another dialect: reported
        // (recognised, with its errno), skipped.
        var caught: WireError?
        do { try channel.writeInbound(rlerror) } catch let error as WireError { caught = error }
        #expect(caught?.kind == .linuxError(errno: 2))
        #expect(caught?.tag == Tag(3))
        #expect(try channel.readInbound(as: Fcall.self) == nil)

        framing.setProtocolVersion(.ninep2000L)
        try channel.writeInbound(rlerror)
        #expect(try channel.readInbound(as: Fcall.self) == Fcall(tag: Tag(3), .rlerror(Rlerror(ecode: 2))))

        // The same framing now refuses a 9P2000 Rerror, and keeps going.
        var both = ByteBuffer()
        Fcall(tag: Tag(4), .rerror(Rerror(ename: "no"))).encode(into: &both, version: .ninep2000)
        both.writeImmutableBuffer(rlerror)
        caught = nil
        do { try channel.writeInbound(both) } catch let error as WireError { caught = error }
        #expect(caught?.kind == .notInDialect(.rerror, .ninep2000L))
        #expect(try channel.readInbound(as: Fcall.self) == Fcall(tag: Tag(3), .rlerror(Rlerror(ecode: 2))))
        _ = try channel.finish()
    }
}
