import NIOCore
import NinePWire
import Testing

/// Garbage and oversize input (STYLE rules 3 and 4): every malformed frame
/// throws the right `WireError.Kind`, names its tag and size when size[4] was
/// sane, and consumes nothing.
@Suite struct MalformedInputTests {
    @Test("size[4] below 7 is refused", arguments: 0..<7)
    func sizeTooSmall(_ size: Int) {
        var wire = ByteBuffer()
        wire.writeInteger(UInt32(size), endianness: .little)
        expectMalformed(wire, .sizeTooSmall(UInt32(size)), tag: nil)
        // More bytes after it change nothing.
        wire.writeBytes([0x78, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00])
        expectMalformed(wire, .sizeTooSmall(UInt32(size)), tag: nil)
    }

    @Test("size[4] above msize is refused as soon as its four bytes arrive")
    func sizeTooLarge() throws {
        let decoder = FcallDecoder(maxMessageSize: 8192, direction: .any)
        for size: UInt32 in [8193, 0x10000, .max] {
            var wire = ByteBuffer()
            wire.writeInteger(size, endianness: .little)
            for length in 0..<4 {
                var prefix = wire.getSlice(at: 0, length: length)!
                #expect(try decoder.decode(buffer: &prefix) == nil, "three bytes cannot tell")
            }
            expectMalformed(wire, .sizeTooLarge(size, limit: 8192), tag: nil, decoder: decoder)
            #expect(throws: WireError.self) { try decoder.frameLength(in: wire) }
        }
        // Exactly msize is fine: it asks for the rest of the frame.
        var atLimit = ByteBuffer(bytes: [0x00, 0x20, 0x00, 0x00, 0x78, 0x01, 0x00])
        #expect(try decoder.decode(buffer: &atLimit) == nil)
        #expect(try decoder.frameLength(in: atLimit) == 8192)
    }

    @Test("unknown type bytes are refused with the tag, in every dialect",
          arguments: ([UInt8](0..<100) + [128, 200, 255]).filter { MessageType(rawValue: $0) == nil })
    func unknownType(_ type: UInt8) {
        var wire = ByteBuffer()
        wire.writeInteger(UInt32(11), endianness: .little)
        wire.writeInteger(type)
        wire.writeInteger(UInt16(0x0102), endianness: .little)
        wire.writeInteger(UInt32(1), endianness: .little)
        for version in ProtocolVersion.allCases {
            expectMalformed(wire, .unknownType(type), tag: Tag(0x0102), decoder: lenient(version))
        }
    }

    @Test("a message the dialect does not have is refused with its tag, as a whole frame", arguments: allGoldens)
    func notInDialect(_ golden: Golden) {
        let type = golden.fcall.message.type
        for version in ProtocolVersion.allCases where !version.carries(type) {
            // An Rlerror is recognised even so (see `rlerror()`).
            if case .rlerror(let r) = golden.fcall.message {
                expectMalformed(golden.wire, .linuxError(errno: r.ecode), tag: golden.fcall.tag, decoder: lenient(version))
                continue
            }
            let error = expectMalformed(golden.wire, .notInDialect(type, version), tag: golden.fcall.tag, decoder: lenient(version))
            #expect(error?.description.contains("is not a message of \(version.rawValue)") == true)
        }
    }

    @Test("which dialect has which message")
    func dialectMembership() {
        for type in [MessageType.topen, .ropen, .tcreate, .rcreate, .tstat, .rstat, .twstat, .rwstat, .rerror] {
            #expect(ProtocolVersion.ninep2000.carries(type) && ProtocolVersion.ninep2000u.carries(type))
            #expect(!ProtocolVersion.ninep2000L.carries(type), "\(type) is not in 9P2000.L")
        }
        for type in MessageType.allCases where type.rawValue < 100 {
            #expect(ProtocolVersion.ninep2000L.carries(type))
            #expect(!ProtocolVersion.ninep2000.carries(type) && !ProtocolVersion.ninep2000u.carries(type), "\(type)")
        }
        for type in [MessageType.tversion, .tauth, .tattach, .tflush, .twalk, .tread, .twrite, .tclunk, .tremove] {
            #expect(ProtocolVersion.allCases.allSatisfy { $0.carries(type) }, "\(type) is in every dialect")
        }
    }

    @Test("9P2000.u's fields are not read under 9P2000, so a .u frame there is trailing garbage")
    func dotUFieldsUnder2000() {
        expectMalformed(golden("U Rerror").wire, .trailingGarbage(4), tag: Tag(3))
        expectMalformed(golden("U Tattach").wire, .trailingGarbage(4), tag: Tag(2))
        expectMalformed(golden("U Tcreate symlink").wire, .trailingGarbage(8), tag: Tag(6))
        expectMalformed(golden("U Rstat").wire, .badStatLength, tag: Tag(11))
        // And a 9P2000 frame is short of them under 9P2000.u.
        expectMalformed(golden("Rerror").wire, .countOverrun, tag: Tag(3), decoder: lenient(.ninep2000u))
        expectMalformed(golden("Tattach").wire, .countOverrun, tag: Tag(2), decoder: lenient(.ninep2000L))
        expectMalformed(golden("Rstat").wire, .badStatLength, tag: Tag(11), decoder: lenient(.ninep2000u))
    }

    @Test("9P2000.L bodies cut short", arguments: [
        Cut(testDescription: "Rlerror ecode[4]", wire: "09000000 07 0100 0200", tag: Tag(1)),
        Cut(testDescription: "Tgetattr request_mask[8]", wire: "0f000000 18 0100 01000000 ff070000", tag: Tag(1)),
        Cut(testDescription: "Rgetattr one byte short", wire: "9f000000 19 0100" + String(repeating: "00", count: 152), tag: Tag(1)),
        Cut(testDescription: "Rstatfs namelen[4]", wire: "41000000 09 0100" + String(repeating: "00", count: 58), tag: Tag(1)),
        Cut(testDescription: "Tlock type[1]", wire: "0b000000 34 0100 03000000", tag: Tag(1)),
        Cut(testDescription: "Rlock status[1]", wire: "07000000 35 0100", tag: Tag(1)),
        Cut(testDescription: "Tsetattr mtime_nsec[8]", wire: "3f000000 1a 0100" + String(repeating: "00", count: 56), tag: Tag(1)),
        Cut(testDescription: "Rxattrwalk size[8]", wire: "0b000000 1f 0100 03000000", tag: Tag(1)),
    ])
    func dotLFixedFieldOverrun(_ cut: Cut) {
        expectMalformed(bytes(cut.wire), .countOverrun, tag: cut.tag, decoder: lenient(.ninep2000L))
    }

    @Test("9P2000.L strings and counts past the end of the frame")
    func dotLOverruns() {
        let dotL = lenient(.ninep2000L)
        // Rreaddir count 200, 3 bytes of data.
        expectMalformed(bytes("0e000000 29 0100 c8000000 010203"), .countOverrun, tag: Tag(1), decoder: dotL)
        // Treadlink's answer whose target claims 9 bytes but carries 3.
        expectMalformed(bytes("0c000000 17 0100 0900 686568"), .stringOverrun, tag: Tag(1), decoder: dotL)
        // Tsymlink without symtgt.
        expectMalformed(bytes("0e000000 10 0100 00000000 0100 73"), .stringOverrun, tag: Tag(1), decoder: dotL)
        // Tlock's client_id not UTF-8.
        expectMalformed(
            bytes("28000000 34 0100 03000000 01 00000000 0000000000000000 0000000000000000 92100000 0200 c328"),
            .invalidUTF8, tag: Tag(1), decoder: dotL)
    }

    /// 9P2000.L's Rlerror (size[4] 7 tag[2] ecode[4]), which diod answers
    /// to a 9P2000 Tversion, is told apart by a 9P2000 reader of replies, so
    /// a client can say what the server meant; a server sees an R-message
    /// it does not take, and a 9P2000.L reader an Rlerror.
    @Test("an Rlerror is recognised in replies, with its errno")
    func rlerror() throws {
        var wire = ByteBuffer()
        wire.writeInteger(UInt32(11), endianness: .little)
        wire.writeInteger(UInt8(7))
        wire.writeInteger(Tag.notag.rawValue, endianness: .little)
        wire.writeInteger(UInt32(5), endianness: .little)
        for direction: MessageDirection in [.replies, .any] {
            var copy = wire
            #expect(throws: WireError(.linuxError(errno: 5), type: 7, tag: .notag, frameSize: 11)) {
                try FcallDecoder(direction: direction).decode(buffer: &copy)
            }
        }
        var copy = wire
        #expect(throws: WireError(.unexpectedType(.rlerror), type: 7, tag: .notag, frameSize: 11)) {
            try FcallDecoder(direction: .requests).decode(buffer: &copy)
        }
        for version in [ProtocolVersion.ninep2000u, .ninep2000] {
            var copy = wire
            #expect(throws: WireError(.linuxError(errno: 5), type: 7, tag: .notag, frameSize: 11)) {
                try FcallDecoder(version: version, direction: .replies).decode(buffer: &copy)
            }
        }
        var dotL = wire
        #expect(try FcallDecoder(version: .ninep2000L, direction: .replies).decode(buffer: &dotL)
            == Fcall(tag: .notag, .rlerror(Rlerror(ecode: 5))))
        #expect("\(WireError(.linuxError(errno: 5)))" == "malformed 9P message: Rlerror (a 9P2000.L reply) with errno 5")
    }

    @Test("Terror does not exist: refused in every direction")
    func terror() {
        for direction: MessageDirection in [.any, .requests, .replies] {
            let decoder = FcallDecoder(direction: direction)
            expectMalformed(bytes("07000000 6a 0100"), .unexpectedType(.terror), tag: Tag(1), decoder: decoder)
            expectMalformed(bytes("09000000 6a 0100 0000"), .unexpectedType(.terror), tag: Tag(1), decoder: decoder)
        }
    }

    @Test("a server refuses R-messages and a client T-messages", arguments: allGoldens)
    func wrongDirection(_ golden: Golden) {
        let type = golden.fcall.message.type
        let wrong: MessageDirection = type.isRequest ? .replies : .requests
        expectMalformed(
            golden.wire, .unexpectedType(type), tag: golden.fcall.tag,
            decoder: FcallDecoder(version: golden.version, direction: wrong))
    }

    @Test("a string running past the end of the frame")
    func stringOverrun() {
        // Tversion whose version[s] claims 16 bytes but carries 6.
        expectMalformed(bytes("13000000 64 ffff 00200000 1000 395032303030"), .stringOverrun, tag: .notag)
        // Tattach whose aname[s] has no length at all.
        expectMalformed(bytes("17000000 68 0200 00000000 ffffffff 0600 676c656e6461"), .stringOverrun, tag: Tag(2))
        // Twalk whose second name runs out.
        expectMalformed(bytes("1b000000 6e 0300 00000000 01000000 0200 0300 757372 0600 676c65"), .stringOverrun, tag: Tag(3))
        // Rerror with a one-byte length field.
        expectMalformed(bytes("08000000 6b 0300 13"), .stringOverrun, tag: Tag(3))
    }

    @Test("strings that are not UTF-8", arguments: [
        "ff", "c328", "e28228", "c0af", "eda080", "f4908080", "80", "636166c3",
    ])
    func invalidUTF8(_ bad: String) {
        let body = bytes(bad)
        var wire = ByteBuffer()
        let size = 7 + 2 + body.readableBytes
        wire.writeInteger(UInt32(size), endianness: .little)
        wire.writeInteger(MessageType.rerror.rawValue)
        wire.writeInteger(UInt16(5), endianness: .little)
        wire.writeInteger(UInt16(body.readableBytes), endianness: .little)
        wire.writeImmutableBuffer(body)
        expectMalformed(wire, .invalidUTF8, tag: Tag(5))
    }

    @Test("invalid UTF-8 inside a stat is reported as such")
    func invalidUTF8InStat() {
        var wire = golden("Rstat").wire
        // Break the second byte of "é" in name "café".
        let nameOffset = hex(wire).range(of: "636166c3a9")!.lowerBound.utf16Offset(in: hex(wire)) / 2
        wire.setInteger(UInt8(0x28), at: nameOffset + 4)
        expectMalformed(wire, .invalidUTF8, tag: Tag(11))
    }

    @Test("Rread and Twrite counts past the end of the frame")
    func countOverrun() {
        // Rread count 10, 6 bytes of data.
        expectMalformed(bytes("11000000 75 0700 0a000000 68656c6c6f0a"), .countOverrun, tag: Tag(7))
        // Twrite count 0xffffffff.
        expectMalformed(bytes("1c000000 76 0800 01000000 0600000000000000 ffffffff 776f726c64"), .countOverrun, tag: Tag(8))
        // Rread with no room for count[4].
        expectMalformed(bytes("09000000 75 0700 0600"), .countOverrun, tag: Tag(7))
    }

    struct Cut: Sendable, CustomTestStringConvertible {
        var testDescription: String
        var wire: String
        var tag: Tag
    }

    @Test("fixed fields cut short", arguments: [
        Cut(testDescription: "Tclunk fid[4]", wire: "09000000 78 0900 0100", tag: Tag(9)),
        Cut(testDescription: "Tflush oldtag[2]", wire: "08000000 6c 0400 03", tag: Tag(4)),
        Cut(testDescription: "Topen mode[1]", wire: "0b000000 70 0500 01000000", tag: Tag(5)),
        Cut(testDescription: "Tread count[4]", wire: "15000000 74 0700 01000000 0010000000000000 0010", tag: Tag(7)),
        Cut(testDescription: "Rattach qid[13]", wire: "13000000 69 0200 80 07000000 01000000000000", tag: Tag(2)),
        Cut(testDescription: "Rwalk second qid", wire: "19000000 6f 0300 0200 80 00000000 1000000000000000 80 0000", tag: Tag(3)),
        Cut(testDescription: "Tversion msize[4]", wire: "09000000 64 ffff 0020", tag: .notag),
    ])
    func fixedFieldOverrun(_ cut: Cut) {
        expectMalformed(bytes(cut.wire), .countOverrun, tag: cut.tag)
    }

    @Test("17 walk names or qids are one too many")
    func tooManyWalkElements() {
        var twalk = ByteBuffer()
        let twalkSize: UInt32 = 7 + 4 + 4 + 2 + 17 * 3
        twalk.writeInteger(twalkSize, endianness: .little)
        twalk.writeBytes([MessageType.twalk.rawValue, 0x03, 0x00])
        twalk.writeInteger(UInt32(0), endianness: .little)
        twalk.writeInteger(UInt32(1), endianness: .little)
        twalk.writeInteger(UInt16(17), endianness: .little)
        for _ in 0..<17 { twalk.writeBytes([0x01, 0x00, 0x61]) }
        expectMalformed(twalk, .tooManyWalkElements(17), tag: Tag(3))

        var rwalk = ByteBuffer()
        let rwalkSize: UInt32 = 7 + 2 + 17 * 13
        rwalk.writeInteger(rwalkSize, endianness: .little)
        rwalk.writeBytes([MessageType.rwalk.rawValue, 0x03, 0x00])
        rwalk.writeInteger(UInt16(17), endianness: .little)
        for i in 0..<17 { rwalk.writeQid(Qid(type: .dir, path: UInt64(i))) }
        expectMalformed(rwalk, .tooManyWalkElements(17), tag: Tag(3))

        // nwname 0xffff with no names behind it: refused before any read.
        expectMalformed(bytes("11000000 6e 0300 00000000 01000000 ffff"), .tooManyWalkElements(0xffff), tag: Tag(3))
    }

    @Test("stat: inner size disagreeing with n[2]")
    func statWrongInnerSize() {
        // Rstat golden with the entry's size[2] 66 instead of 67.
        var wire = golden("Rstat").wire
        wire.setInteger(UInt16(66), at: 9, endianness: .little)
        expectMalformed(wire, .badStatLength, tag: Tag(11))
        wire.setInteger(UInt16(68), at: 9, endianness: .little)
        expectMalformed(wire, .badStatLength, tag: Tag(11))
    }

    @Test("stat: n[2] disagreeing with the entry")
    func statWrongN() {
        var wire = golden("Twstat").wire
        // n[2] sits after size[4] type[1] tag[2] fid[4].
        for n: UInt16 in [0, 1, 54, 56, 0xffff] {
            wire.setInteger(n, at: 11, endianness: .little)
            expectMalformed(wire, .badStatLength, tag: Tag(12))
        }
    }

    @Test("stat: sizes agree but the frame ends inside the entry")
    func statTruncated() {
        let whole = golden("Rstat").wire
        for cut in [1, 2, 10, 40, 60] {
            var wire = whole.getSlice(at: 0, length: whole.readableBytes - cut)!
            wire.setInteger(UInt32(wire.readableBytes), at: 0, endianness: .little)
            expectMalformed(wire, .badStatLength, tag: Tag(11))
        }
        // Only n[2] is there.
        expectMalformed(bytes("09000000 7d 0b00 4500"), .badStatLength, tag: Tag(11))
        // Not even n[2].
        expectMalformed(bytes("08000000 7d 0b00 45"), .countOverrun, tag: Tag(11))
    }

    @Test("stat: a string inside the entry runs past the entry's own size")
    func statStringOverrun() {
        // Rstat golden with muid's length 7 instead of 6: the entry ends first.
        var wire = golden("Rstat").wire
        wire.setInteger(UInt16(7), at: wire.readableBytes - 8, endianness: .little)
        expectMalformed(wire, .badStatLength, tag: Tag(11))
    }

    @Test("stat: bytes left inside the entry after muid")
    func statTrailingBytes() {
        // Grow n[2], size[2] and size[4] by one and add a byte after muid.
        var wire = golden("Rstat").wire
        wire.writeInteger(UInt8(0))
        wire.setInteger(UInt32(wire.readableBytes), at: 0, endianness: .little)
        wire.setInteger(UInt16(70), at: 7, endianness: .little)
        wire.setInteger(UInt16(68), at: 9, endianness: .little)
        expectMalformed(wire, .badStatLength, tag: Tag(11))
    }

    @Test("trailing garbage after a valid body", arguments: allGoldens)
    func trailingGarbage(_ golden: Golden) {
        for extra in [1, 2, 13] {
            var wire = golden.wire
            wire.writeRepeatingByte(0x5a, count: extra)
            wire.setInteger(UInt32(wire.readableBytes), at: 0, endianness: .little)
            // Rreaddir's data runs to count[4], not to the frame's end: extra bytes are garbage too.
            expectMalformed(wire, .trailingGarbage(extra), tag: golden.fcall.tag, decoder: lenient(golden.version))
        }
    }

    @Test("a malformed frame can be skipped by its frameSize and the next one read")
    func skipAndResume() throws {
        var stream = bytes("0c000000 78 0900 01000000 ff")  // Tclunk with one byte of garbage
        stream.writeImmutableBuffer(golden("Tclunk").wire)
        let error = try #require(expectMalformed(stream, .trailingGarbage(1), tag: Tag(9)))
        stream.moveReaderIndex(forwardBy: try #require(error.frameSize))
        #expect(try lenient.decode(buffer: &stream) == golden("Tclunk").fcall)
    }

    @Test("WireError descriptions say what is wrong and which tag")
    func descriptions() {
        #expect(WireError(.sizeTooLarge(9000, limit: 8192)).description == "malformed 9P message: message size 9000 exceeds msize 8192")
        #expect(WireError(.tooManyWalkElements(17), tag: Tag(3)).description
            == "malformed 9P message (tag 3): 17 walk elements exceed the maximum of 16")
        #expect(WireError(.unexpectedType(.terror), tag: .notag).description
            == "malformed 9P message (tag NOTAG): unexpected message type terror")
        #expect(WireError(.notInDialect(.tlopen, .ninep2000), tag: Tag(1)).description
            == "malformed 9P message (tag 1): tlopen is not a message of 9P2000")
    }
}
