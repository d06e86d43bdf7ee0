import NIOCore
import NinePWire
import Testing

/// Golden bytes (STYLE rule 4): each frame of `goldens` was written by hand
/// from intro(5) and stat(5), those of `goldensU` and `goldensL` by hand from
/// the 9p2000.u draft and protocol.md or captured from diod (DialectGoldens.swift);
/// the codec must agree with each both ways, in its dialect.
@Suite struct GoldenBytesTests {
    @Test("decodes to the expected Fcall", arguments: allGoldens)
    func decodes(_ golden: Golden) throws {
        var buffer = golden.wire
        let fcall = try #require(try lenient(golden.version).decode(buffer: &buffer))
        #expect(fcall == golden.fcall)
        #expect(buffer.readableBytes == 0)
    }

    @Test("encodes to the same bytes", arguments: allGoldens)
    func encodes(_ golden: Golden) {
        let wire = encoded(golden.fcall, golden.version)
        #expect(hex(wire) == hex(golden.wire))
        #expect(golden.fcall.encodedSize(version: golden.version) == golden.wire.readableBytes)
    }

    @Test("size[4] counts the whole frame, itself included", arguments: allGoldens)
    func sizeFieldCountsItself(_ golden: Golden) {
        let size = golden.wire.getInteger(at: 0, endianness: .little, as: UInt32.self)
        #expect(size.map(Int.init) == golden.wire.readableBytes)
        #expect(golden.wire.getInteger(at: 4, as: UInt8.self) == golden.fcall.message.type.rawValue)
    }

    @Test("every message type of a dialect but Terror has a golden frame in that dialect")
    func everyTypeIsCovered() {
        for version in ProtocolVersion.allCases {
            let covered = Set(allGoldens.filter { $0.version == version }.map(\.fcall.message.type))
            let changed: Set<MessageType> = [.tauth, .tattach, .rerror, .tcreate, .rstat, .twstat]
            let expected = version == .ninep2000u
                ? changed
                : Set(MessageType.allCases.filter { version.carries($0) }).subtracting([.terror])
            #expect(covered == expected, "\(version)")
        }
    }

    @Test("type bytes are numbered as in <fcall.h> and Linux's 9p.h")
    func typeNumbers() {
        #expect(MessageType.tversion.rawValue == 100)
        #expect(MessageType.terror.rawValue == 106)
        #expect(MessageType.rerror.rawValue == 107)
        #expect(MessageType.rwstat.rawValue == 127)
        let dotL: [(MessageType, UInt8)] = [
            (.rlerror, 7), (.tstatfs, 8), (.tlopen, 12), (.tlcreate, 14), (.tsymlink, 16), (.tmknod, 18),
            (.trename, 20), (.treadlink, 22), (.tgetattr, 24), (.tsetattr, 26), (.txattrwalk, 30),
            (.txattrcreate, 32), (.treaddir, 40), (.tfsync, 50), (.tlock, 52), (.tgetlock, 54), (.tlink, 70),
            (.tmkdir, 72), (.trenameat, 74), (.tunlinkat, 76),
        ]
        for (type, number) in dotL {
            #expect(type.rawValue == number, "\(type)")
            if type != .rlerror { #expect(MessageType(rawValue: number + 1)?.rawValue == number + 1, "R of \(type)") }
        }
        #expect(MessageType(rawValue: 6) == nil)
        #expect(MessageType.allCases.count == 28 + 39)
        #expect(MessageType.allCases.allSatisfy { $0.isRequest == ($0.rawValue % 2 == 0) })
    }

    @Test("encodeHead leaves Rread, Twrite and Rreaddir data out, and size[4] still counts it")
    func encodeHeadSplitsBulkData() throws {
        for golden in allGoldens {
            var head = ByteBuffer()
            var payload = golden.fcall.encodeHead(into: &head, version: golden.version)
            switch golden.fcall.message {
            case .rread(let m):
                #expect(payload == m.data)
            case .twrite(let m):
                #expect(payload == m.data)
            case .rreaddir(let m):
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
    allGoldens.first { $0.name == name }!
}
