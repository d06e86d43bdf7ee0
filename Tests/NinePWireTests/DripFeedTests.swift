import NIOCore
import NinePWire
import Testing

/// Drip-feed (STYLE rule 4, after NIO's ByteToMessageDecoderVerifier): a
/// stream may stop anywhere, and every strict prefix of a frame is "need
/// more", never an error and never a partial read.
@Suite struct DripFeedTests {
    @Test("every strict prefix decodes to nil and consumes nothing", arguments: allSamples.filter(isSmall))
    func everyPrefixNeedsMore(_ sample: Sample) throws {
        let wire = encoded(sample.fcall, sample.version)
        for length in 0..<wire.readableBytes {
            var prefix = wire.getSlice(at: 0, length: length)!
            #expect(try lenient(sample.version).decode(buffer: &prefix) == nil, "prefix of \(length) bytes")
            #expect(prefix.readableBytes == length)
        }
    }

    @Test("large frames: prefixes around the header and the end need more")
    func largePrefixesNeedMore() throws {
        for sample in allSamples where !isSmall(sample) {
            let wire = encoded(sample.fcall, sample.version)
            let n = wire.readableBytes
            for length in Array(0..<64) + Array((n - 64)..<n) + [n / 2] {
                var prefix = wire.getSlice(at: 0, length: length)!
                #expect(try lenient(sample.version).decode(buffer: &prefix) == nil, "prefix of \(length) bytes")
                #expect(prefix.readableBytes == length)
            }
        }
    }

    @Test("fed one byte at a time, a frame yields exactly one message", arguments: allSamples.filter(isSmall))
    func byteByByte(_ sample: Sample) throws {
        let wire = encoded(sample.fcall, sample.version)
        var stream = ByteBuffer()
        var decoded: [Fcall] = []
        for byte in wire.readableBytesView {
            stream.writeInteger(byte)
            if let f = try lenient(sample.version).decode(buffer: &stream) { decoded.append(f) }
        }
        #expect(decoded == [sample.fcall])
        #expect(stream.readableBytes == 0)
    }

    @Test("two frames back to back in one buffer decode in order", arguments: zip(variedFcalls, variedFcalls.dropFirst() + variedFcalls.prefix(1)).map { [$0, $1] })
    func backToBack(_ pair: [Fcall]) throws {
        var buffer = encoded(pair[0])
        let firstSize = buffer.readableBytes
        var second = encoded(pair[1])
        buffer.writeBuffer(&second)
        #expect(try lenient.decode(buffer: &buffer) == pair[0])
        #expect(buffer.readerIndex == firstSize)
        #expect(try lenient.decode(buffer: &buffer) == pair[1])
        #expect(try lenient.decode(buffer: &buffer) == nil)
        #expect(buffer.readableBytes == 0)
    }

    @Test("a stream of every golden frame of a dialect, cut into uneven chunks, decodes in order",
          arguments: ProtocolVersion.allCases)
    func chunkedStream(_ version: ProtocolVersion) throws {
        let goldens = allGoldens.filter { $0.version == version }
        let lenient = lenient(version)
        var whole = ByteBuffer()
        for golden in goldens { whole.writeImmutableBuffer(golden.wire) }
        for chunkSize in [1, 2, 3, 5, 7, 11, 64, 1000] {
            var stream = ByteBuffer()
            var decoded: [Fcall] = []
            var offset = 0
            while offset < whole.readableBytes {
                let n = min(chunkSize, whole.readableBytes - offset)
                stream.writeImmutableBuffer(whole.getSlice(at: offset, length: n)!)
                offset += n
                while let f = try lenient.decode(buffer: &stream) { decoded.append(f) }
            }
            #expect(decoded == goldens.map(\.fcall), "chunks of \(chunkSize)")
            #expect(stream.readableBytes == 0)
        }
    }

    @Test("a frame that starts mid-buffer is decoded from the reader index")
    func nonZeroReaderIndex() throws {
        var buffer = ByteBuffer(bytes: [0xde, 0xad, 0xbe])
        buffer.moveReaderIndex(forwardBy: 3)
        var frame = golden("Twalk").wire
        buffer.writeBuffer(&frame)
        #expect(try lenient.decode(buffer: &buffer) == golden("Twalk").fcall)
        #expect(buffer.readableBytes == 0)
    }
}
