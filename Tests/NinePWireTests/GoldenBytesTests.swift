import NIOCore
import NinePWire
import Testing

/// Golden bytes (STYLE rule 4): each frame of `goldens` was written by hand
/// from intro(5) and stat(5); the codec must agree with it both ways.
@Suite struct GoldenBytesTests {
    @Test("decodes to the expected Fcall", arguments: goldens)
    func decodes(_ golden: Golden) throws {
        var buffer = golden.wire
        let fcall = try #require(try lenient.decode(buffer: &buffer))
        #expect(fcall == golden.fcall)
        #expect(buffer.readableBytes == 0)
    }

    @Test("encodes to the same bytes", arguments: goldens)
    func encodes(_ golden: Golden) {
        let wire = encoded(golden.fcall)
        #expect(hex(wire) == hex(golden.wire))
        #expect(golden.fcall.encodedSize == golden.wire.readableBytes)
    }

    @Test("size[4] counts the whole frame, itself included", arguments: goldens)
    func sizeFieldCountsItself(_ golden: Golden) {
        let size = golden.wire.getInteger(at: 0, endianness: .little, as: UInt32.self)
        #expect(size.map(Int.init) == golden.wire.readableBytes)
        #expect(golden.wire.getInteger(at: 4, as: UInt8.self) == golden.fcall.message.type.rawValue)
    }

    @Test("every message type but Terror has a golden frame")
    func everyTypeIsCovered() {
        let covered = Set(goldens.map(\.fcall.message.type))
        let all = Set(MessageType.allCases).subtracting([.terror])
        #expect(covered == all)
    }

    @Test("type bytes are numbered as in <fcall.h>")
    func typeNumbers() {
        #expect(MessageType.tversion.rawValue == 100)
        #expect(MessageType.terror.rawValue == 106)
        #expect(MessageType.rerror.rawValue == 107)
        #expect(MessageType.rwstat.rawValue == 127)
        #expect(MessageType.allCases.count == 28)
        #expect(MessageType.allCases.allSatisfy { $0.isRequest == ($0.rawValue % 2 == 0) })
    }

    @Test("encodeHead leaves Rread and Twrite data out, and size[4] still counts it")
    func encodeHeadSplitsBulkData() throws {
        for golden in goldens {
            var head = ByteBuffer()
            var payload = golden.fcall.encodeHead(into: &head)
            switch golden.fcall.message {
            case .rread(let m):
                #expect(payload == m.data)
            case .twrite(let m):
                #expect(payload == m.data)
            default:
                #expect(payload == nil)
            }
            if payload != nil { head.writeBuffer(&payload!) }
            #expect(head == golden.wire, "\(golden.name)")
        }
    }

    @Test("the stat primitives read and write a bare directory entry")
    func bareStat() throws {
        // The entry inside the Rstat golden, without n[2]: what a directory read returns.
        var entry = golden("Rstat").wire
        entry.moveReaderIndex(forwardBy: 4 + 1 + 2 + 2)
        var copy = entry
        #expect(try copy.readStat() == statCafe)
        #expect(copy.readableBytes == 0)
        var written = ByteBuffer()
        #expect(written.writeStat(statCafe) == statCafe.wireSize)
        #expect(written == entry)
        #expect(statCafe.wireSize == 69)
    }

    /// A listing read for names only: each entry's name, the rest skipped;
    /// an entry shorter than its fixed fields or than its size says fails.
    @Test("readStatName reads one entry's name and moves past the entry")
    func statNameOnly() throws {
        var entry = golden("Rstat").wire
        entry.moveReaderIndex(forwardBy: 4 + 1 + 2 + 2)
        var two = entry
        two.writeImmutableBuffer(entry)
        #expect(try two.readStatName() == statCafe.name)
        #expect(try two.readStatName() == statCafe.name)
        #expect(two.readableBytes == 0)
        let cut = entry.getSlice(at: entry.readerIndex, length: entry.readableBytes - 1)!
        #expect(throws: WireError.self) { var entry = cut; _ = try entry.readStatName() }
        var short = ByteBuffer()
        short.writeInteger(UInt16(Stat.fixedPrefixSize), endianness: .little)
        short.writeRepeatingByte(0, count: Stat.fixedPrefixSize)
        #expect(throws: WireError.self) { var entry = short; _ = try entry.readStatName() }
        var nameTooLong = ByteBuffer()
        nameTooLong.writeInteger(UInt16(Stat.fixedPrefixSize + 2 + 1), endianness: .little)
        nameTooLong.writeRepeatingByte(0, count: Stat.fixedPrefixSize)
        nameTooLong.writeInteger(UInt16(5), endianness: .little)
        nameTooLong.writeString("a")
        #expect(throws: WireError.self) { var entry = nameTooLong; _ = try entry.readStatName() }
    }

    @Test("qid[13] and s[2] primitives")
    func qidAndString() throws {
        var buffer = ByteBuffer()
        buffer.writeQid(qidAuth)
        #expect(hex(buffer) == "08" + "00000000" + "0807060504030201")
        #expect(try buffer.readQid() == qidAuth)
        #expect(buffer.write9PString("日本") == 8)
        #expect(hex(buffer) == "0600e697a5e69cac")
        #expect(try buffer.read9PString() == "日本")
        #expect(buffer.readableBytes == 0)
    }
}

func golden(_ name: String) -> Golden {
    goldens.first { $0.name == name }!
}
