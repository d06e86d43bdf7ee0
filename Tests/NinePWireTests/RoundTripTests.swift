import NIOCore
import NinePWire
import Testing

/// Round trip (STYLE rule 4): decode(encode(m)) == m for varied values of
/// every message, and the frame is consumed exactly.
@Suite struct RoundTripTests {
    @Test("decode(encode(m)) == m", arguments: allSamples)
    func roundTrip(_ sample: Sample) throws {
        let fcall = sample.fcall
        var buffer = encoded(fcall, sample.version)
        let size = buffer.readableBytes
        #expect(fcall.encodedSize(version: sample.version) == size)
        #expect(buffer.getInteger(at: 0, endianness: .little, as: UInt32.self) == UInt32(size))
        let decoded = try #require(try lenient(sample.version).decode(buffer: &buffer))
        #expect(decoded == fcall)
        #expect(buffer.readableBytes == 0)
    }

    @Test("a message passes the decoder of its own direction", arguments: allSamples)
    func direction(_ sample: Sample) throws {
        let direction: MessageDirection = sample.fcall.message.isRequest ? .requests : .replies
        var buffer = encoded(sample.fcall, sample.version)
        let decoder = FcallDecoder(maxMessageSize: 8 << 20, version: sample.version, direction: direction)
        #expect(try decoder.decode(buffer: &buffer) == sample.fcall)
    }

    @Test("the varied values include the edge cases")
    func edgeCasesArePresent() {
        let messages = variedFcalls.map(\.message)
        #expect(messages.contains { if case .twalk(let m) = $0 { m.wname.count == 16 } else { false } })
        #expect(messages.contains { if case .twalk(let m) = $0 { m.wname.isEmpty } else { false } })
        #expect(messages.contains { if case .rwalk(let m) = $0 { m.wqid.count == 16 } else { false } })
        #expect(messages.contains { if case .rread(let m) = $0 { m.data.readableBytes == 0 } else { false } })
        #expect(messages.contains { if case .rread(let m) = $0 { m.data.readableBytes >= 1 << 20 } else { false } })
        #expect(messages.contains { if case .twrite(let m) = $0 { m.data.readableBytes == 0 } else { false } })
        #expect(messages.contains { if case .twrite(let m) = $0 { m.data.readableBytes >= 1 << 20 } else { false } })
        #expect(Set(allSamples.map(\.fcall.message.type)) == Set(MessageType.allCases).subtracting([.terror]))
    }

    @Test("Rread and Twrite of a full msize payload fit msize exactly; one byte more is refused")
    func ioHeaderSizeBoundary() throws {
        let msize: UInt32 = 8192
        let decoder = FcallDecoder(maxMessageSize: msize, direction: .any)
        // Twrite's header is size[4] type[1] tag[2] fid[4] offset[8] count[4] = 23.
        let fits = Fcall(tag: Tag(1), .twrite(Twrite(fid: Fid(1), offset: 0, data: pattern(Int(msize) - 23))))
        var buffer = encoded(fits)
        #expect(buffer.readableBytes == Int(msize))
        #expect(try decoder.decode(buffer: &buffer) == fits)

        let tooBig = Fcall(tag: Tag(1), .twrite(Twrite(fid: Fid(1), offset: 0, data: pattern(Int(msize) - 22))))
        expectMalformed(encoded(tooBig), .sizeTooLarge(msize + 1, limit: msize), tag: nil, decoder: decoder)
        // NineP.ioHeaderSize leaves room for this header.
        #expect(NineP.ioHeaderSize >= 23)
    }

    @Test("strings are kept byte for byte, NUL and combining marks included")
    func stringsAreNotNormalised() throws {
        // "é" precomposed and decomposed are different names on the wire.
        for name in ["\u{e9}", "e\u{301}", "a\u{0}b", "\u{feff}bom", "\u{10ffff}"] {
            let fcall = Fcall(tag: Tag(1), .tcreate(Tcreate(fid: Fid(1), name: name, perm: [], mode: .read)))
            var buffer = encoded(fcall)
            let decoded = try #require(try lenient.decode(buffer: &buffer))
            guard case .tcreate(let m) = decoded.message else { Issue.record("not a Tcreate"); continue }
            #expect(Array(m.name.utf8) == Array(name.utf8))
        }
    }

    @Test("a string longer than s[2] can say is cut after the last whole scalar that fits")
    func overlongString() throws {
        let cases: [(String, expected: String)] = [
            (String(repeating: "a", count: 70_000), String(repeating: "a", count: 65_535)),
            (String(repeating: "é", count: 40_000), String(repeating: "é", count: 32_767)),
            (String(repeating: "a", count: 65_534) + "日本", String(repeating: "a", count: 65_534)),
            (String(repeating: "a", count: 65_532) + "日本", String(repeating: "a", count: 65_532) + "日"),
            (String(repeating: "a", count: 65_535), String(repeating: "a", count: 65_535)),
        ]
        for (long, expected) in cases {
            let fcall = Fcall(tag: Tag(1), .rerror(Rerror(ename: long)))
            var buffer = encoded(fcall)
            #expect(fcall.encodedSize(version: .ninep2000) == buffer.readableBytes)
            let decoded = try #require(try lenient.decode(buffer: &buffer))
            #expect(decoded == Fcall(tag: Tag(1), .rerror(Rerror(ename: expected))))

            let walk = Fcall(tag: Tag(2), .twalk(Twalk(fid: Fid(1), newfid: Fid(2), wname: ["a", long, "b"])))
            var walkBuffer = encoded(walk)
            #expect(walk.encodedSize(version: .ninep2000) == walkBuffer.readableBytes)
            #expect(try lenient.decode(buffer: &walkBuffer) == Fcall(tag: Tag(2), .twalk(Twalk(fid: Fid(1), newfid: Fid(2), wname: ["a", expected, "b"]))))
        }
    }
}
