import NIOCore
import NinePWire
import Testing

/// The 9P tag, not Swift Testing's test tag.
typealias Tag = NinePWire.Tag

/// Bytes from hex digits; whitespace between fields is ignored.
func bytes(_ hex: String) -> ByteBuffer {
    let digits = hex.filter { !$0.isWhitespace }
    precondition(digits.count % 2 == 0, "odd number of hex digits in \(hex)")
    var buffer = ByteBuffer()
    var index = digits.startIndex
    while index < digits.endIndex {
        let next = digits.index(index, offsetBy: 2)
        buffer.writeInteger(UInt8(digits[index..<next], radix: 16)!)
        index = next
    }
    return buffer
}

func hex(_ buffer: ByteBuffer) -> String {
    buffer.readableBytesView.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
}

func encoded(_ fcall: Fcall, _ version: ProtocolVersion = .ninep2000) -> ByteBuffer {
    var buffer = ByteBuffer()
    fcall.encode(into: &buffer, version: version)
    return buffer
}

/// A decoder of `version` that takes every message in both directions, up to 8 MiB.
func lenient(_ version: ProtocolVersion) -> FcallDecoder {
    FcallDecoder(maxMessageSize: 8 << 20, version: version, direction: .any)
}

func data(_ text: String) -> ByteBuffer { ByteBuffer(string: text) }

/// A buffer of `count` bytes of a repeating, position-dependent pattern.
func pattern(_ count: Int) -> ByteBuffer {
    var buffer = ByteBuffer()
    buffer.reserveCapacity(count)
    for i in 0..<count { buffer.writeInteger(UInt8(truncatingIfNeeded: i &* 31 &+ 7)) }
    return buffer
}

/// A decoder that takes every message in both directions, up to 8 MiB.
let lenient = FcallDecoder(maxMessageSize: 8 << 20, direction: .any)

/// A frame of one dialect: written out by hand from intro(5) and the
/// message's manual page (or protocol.md, or the 9p2000.u draft), or
/// captured from a real peer (the list says which).
struct Golden: Sendable, CustomTestStringConvertible {
    var name: String
    var fcall: Fcall
    var wire: ByteBuffer
    var version: ProtocolVersion
    var testDescription: String { name }

    init(_ name: String, _ fcall: Fcall, _ hex: String, version: ProtocolVersion = .ninep2000) {
        self.name = name
        self.fcall = fcall
        self.wire = bytes(hex)
        self.version = version
    }
}

/// A message and the dialect it is encoded in, for the tests that run over
/// varied values of every dialect.
struct Sample: Sendable, CustomTestStringConvertible {
    var fcall: Fcall
    var version: ProtocolVersion
    var testDescription: String { "\(version.rawValue) \(fcall.message.type)" }
}

// Shared values of the golden frames.
let qidAuth = Qid(type: .auth, version: 0, path: 0x0102_0304_0506_0708)
let qidRoot = Qid(type: .dir, version: 7, path: 1)
let qidUsr = Qid(type: .dir, version: 0, path: 0x10)
let qidGlenda = Qid(type: .dir, version: 0, path: 0x11)

/// Rstat's entry: non-ASCII name and muid, as stat(5) strings are UTF-8.
let statCafe = Stat(
    type: 0, dev: 0, qid: Qid(type: .file, version: 1, path: 0x2c), mode: FileMode(rawValue: 0o644),
    atime: 1_600_000_000, mtime: 1_700_000_000, length: 6,
    name: "café", uid: "glenda", gid: "sys", muid: "日本")

/// Twstat's entry: "don't touch" everywhere but a new name and permissions.
let statRename: Stat = {
    var s = Stat.dontTouch
    s.name = "naïve"
    s.mode = FileMode(rawValue: 0o600)
    return s
}()

/// Every 9P2000 message, field by field. Comments name the fields; sizes
/// were added up by hand.
let goldens: [Golden] = [
    Golden("Tversion", Fcall(tag: .notag, .tversion(Tversion(msize: 8216, version: "9P2000"))), """
        13000000 64 ffff     size 19, Tversion, NOTAG
        18200000             msize 8216
        0600 395032303030    version[s] "9P2000"
        """.hexFields),
    Golden("Rversion", Fcall(tag: .notag, .rversion(Rversion(msize: 8192, version: "9P2000"))), """
        13000000 65 ffff
        00200000
        0600 395032303030
        """.hexFields),
    Golden("Tauth", Fcall(tag: Tag(1), .tauth(Tauth(afid: Fid(0x10), uname: "glenda", aname: ""))), """
        15000000 66 0100     size 21
        10000000             afid 16
        0600 676c656e6461    uname "glenda"
        0000                 aname ""
        """.hexFields),
    Golden("Rauth", Fcall(tag: Tag(1), .rauth(Rauth(aqid: qidAuth))), """
        14000000 67 0100
        08 00000000 0807060504030201    aqid: QTAUTH, vers 0, path
        """.hexFields),
    Golden("Tattach", Fcall(tag: Tag(2), .tattach(Tattach(fid: Fid(0), afid: .nofid, uname: "glenda", aname: "/usr/glenda"))), """
        24000000 68 0200                     size 36
        00000000 ffffffff                    fid 0, afid NOFID
        0600 676c656e6461                    uname "glenda"
        0b00 2f7573722f676c656e6461          aname "/usr/glenda"
        """.hexFields),
    Golden("Rattach", Fcall(tag: Tag(2), .rattach(Rattach(qid: qidRoot))), """
        14000000 69 0200
        80 07000000 0100000000000000         qid: QTDIR, vers 7, path 1
        """.hexFields),
    Golden("Rerror", Fcall(tag: Tag(3), .rerror(Rerror(ename: "file does not exist"))), """
        1c000000 6b 0300                                  size 28
        1300 66696c6520646f6573206e6f74206578697374       ename[s], 19 bytes
        """.hexFields),
    Golden("Tflush", Fcall(tag: Tag(4), .tflush(Tflush(oldtag: Tag(3)))), """
        09000000 6c 0400 0300                oldtag 3
        """.hexFields),
    Golden("Rflush", Fcall(tag: Tag(4), .rflush(Rflush())), """
        07000000 6d 0400
        """.hexFields),
    Golden("Twalk", Fcall(tag: Tag(3), .twalk(Twalk(fid: Fid(0), newfid: Fid(1), wname: ["usr", "glenda"]))), """
        1e000000 6e 0300                     size 30
        00000000 01000000                    fid 0, newfid 1
        0200                                 nwname 2
        0300 757372 0600 676c656e6461        "usr", "glenda"
        """.hexFields),
    Golden("Twalk clone", Fcall(tag: Tag(13), .twalk(Twalk(fid: Fid(0), newfid: Fid(1), wname: []))), """
        11000000 6e 0d00 00000000 01000000 0000     nwname 0
        """.hexFields),
    Golden("Rwalk", Fcall(tag: Tag(3), .rwalk(Rwalk(wqid: [qidUsr, qidGlenda]))), """
        23000000 6f 0300                     size 35
        0200                                 nwqid 2
        80 00000000 1000000000000000
        80 00000000 1100000000000000
        """.hexFields),
    Golden("Rwalk clone", Fcall(tag: Tag(13), .rwalk(Rwalk(wqid: []))), """
        09000000 6f 0d00 0000
        """.hexFields),
    Golden("Topen", Fcall(tag: Tag(5), .topen(Topen(fid: Fid(1), mode: OpenMode.readWrite.with(truncate: true)))), """
        0c000000 70 0500 01000000 12         mode ORDWR|OTRUNC
        """.hexFields),
    Golden("Ropen", Fcall(tag: Tag(5), .ropen(Ropen(qid: Qid(type: .file, version: 3, path: 0x2a), iounit: 8192))), """
        18000000 71 0500
        00 03000000 2a00000000000000         qid
        00200000                             iounit 8192
        """.hexFields),
    Golden("Tcreate", Fcall(tag: Tag(6), .tcreate(Tcreate(fid: Fid(1), name: "notes", perm: FileMode(rawValue: 0o644), mode: .write))), """
        17000000 72 0600 01000000            size 23, fid 1
        0500 6e6f746573                      name "notes"
        a4010000                             perm 0644
        01                                   mode OWRITE
        """.hexFields),
    Golden("Rcreate", Fcall(tag: Tag(6), .rcreate(Rcreate(qid: Qid(type: .file, version: 0, path: 0x2b), iounit: 0))), """
        18000000 73 0600
        00 00000000 2b00000000000000 00000000
        """.hexFields),
    Golden("Tread", Fcall(tag: Tag(7), .tread(Tread(fid: Fid(1), offset: 0x1000, count: 4096))), """
        17000000 74 0700 01000000
        0010000000000000                     offset 4096
        00100000                             count 4096
        """.hexFields),
    Golden("Rread", Fcall(tag: Tag(7), .rread(Rread(data: data("hello\n")))), """
        11000000 75 0700 06000000 68656c6c6f0a
        """.hexFields),
    Golden("Twrite", Fcall(tag: Tag(8), .twrite(Twrite(fid: Fid(1), offset: 6, data: data("world")))), """
        1c000000 76 0800 01000000
        0600000000000000                     offset 6
        05000000 776f726c64                  count 5, "world"
        """.hexFields),
    Golden("Rwrite", Fcall(tag: Tag(8), .rwrite(Rwrite(count: 5))), """
        0b000000 77 0800 05000000
        """.hexFields),
    Golden("Tclunk", Fcall(tag: Tag(9), .tclunk(Tclunk(fid: Fid(1)))), """
        0b000000 78 0900 01000000
        """.hexFields),
    Golden("Rclunk", Fcall(tag: Tag(9), .rclunk(Rclunk())), """
        07000000 79 0900
        """.hexFields),
    Golden("Tremove", Fcall(tag: Tag(10), .tremove(Tremove(fid: Fid(2)))), """
        0b000000 7a 0a00 02000000
        """.hexFields),
    Golden("Rremove", Fcall(tag: Tag(10), .rremove(Rremove())), """
        07000000 7b 0a00
        """.hexFields),
    Golden("Tstat", Fcall(tag: Tag(11), .tstat(Tstat(fid: Fid(1)))), """
        0b000000 7c 0b00 01000000
        """.hexFields),
    Golden("Rstat", Fcall(tag: Tag(11), .rstat(Rstat(stat: statCafe))), """
        4e000000 7d 0b00                     size 78
        4500                                 n[2] 69
        4300                                 stat size[2] 67
        0000 00000000                        type, dev
        00 01000000 2c00000000000000         qid
        a4010000                             mode 0644
        00105e5f 00f15365                    atime 1600000000, mtime 1700000000
        0600000000000000                     length 6
        0500 636166c3a9                      name "café"
        0600 676c656e6461                    uid "glenda"
        0300 737973                          gid "sys"
        0600 e697a5e69cac                    muid "日本"
        """.hexFields),
    Golden("Twstat", Fcall(tag: Tag(12), .twstat(Twstat(fid: Fid(1), stat: statRename))), """
        44000000 7e 0c00 01000000            size 68, fid 1
        3700 3500                            n[2] 55, stat size[2] 53
        ffff ffffffff                        type, dev: don't touch
        ff ffffffff ffffffffffffffff         qid: don't touch
        80010000                             mode 0600
        ffffffff ffffffff ffffffffffffffff   atime, mtime, length: don't touch
        0600 6e61c3af7665                    name "naïve"
        0000 0000 0000                       uid, gid, muid ""
        """.hexFields),
    Golden("Rwstat", Fcall(tag: Tag(12), .rwstat(Rwstat())), """
        07000000 7f 0c00
        """.hexFields),
]

extension String {
    /// The hex fields of a golden listing: on each line, the leading groups
    /// of hex digits, up to the first word that is not hex (the comment).
    var hexFields: String {
        split(separator: "\n").map { line in
            line.split(separator: " ").prefix { word in word.allSatisfy(\.isHexDigit) }.joined(separator: " ")
        }.joined(separator: " ")
    }
}

/// More values for every message: zeros, maxima, empty strings, 16 walk
/// elements, empty and 1 MiB data.
let variedFcalls: [Fcall] = {
    let maxQid = Qid(type: QidType(rawValue: 0xff), version: .max, path: .max)
    let sixteen = (1...16).map { "elem\($0)" }
    let megabyte = Int(NineP.defaultMessageSize - NineP.ioHeaderSize)
    var list: [Fcall] = [
        Fcall(tag: Tag(0), .tversion(Tversion(msize: 0, version: ""))),
        Fcall(tag: .notag, .tversion(Tversion(msize: .max, version: "9P2000.L"))),
        Fcall(tag: Tag(0), .rversion(Rversion(msize: .max, version: "unknown"))),
        Fcall(tag: .notag, .tauth(Tauth(afid: .nofid, uname: "", aname: ""))),
        Fcall(tag: Tag(0), .tauth(Tauth(afid: Fid(0), uname: "Grüße", aname: "main/archive"))),
        Fcall(tag: .notag, .rauth(Rauth(aqid: maxQid))),
        Fcall(tag: Tag(0xfffe), .tattach(Tattach(fid: .nofid, afid: Fid(0), uname: "", aname: ""))),
        Fcall(tag: Tag(0), .rattach(Rattach(qid: Qid(path: 0)))),
        Fcall(tag: Tag(1), .rerror(Rerror(ename: ""))),
        Fcall(tag: Tag(1), .rerror(Rerror(ename: String(repeating: "é", count: 200)))),
        Fcall(tag: Tag(0), .tflush(Tflush(oldtag: .notag))),
        Fcall(tag: .notag, .rflush(Rflush())),
        Fcall(tag: Tag(2), .twalk(Twalk(fid: .nofid, newfid: .nofid, wname: sixteen))),
        Fcall(tag: Tag(2), .twalk(Twalk(fid: Fid(1), newfid: Fid(1), wname: ["", "..", "ü"]))),
        Fcall(tag: Tag(2), .rwalk(Rwalk(wqid: (0..<16).map { Qid(type: .dir, version: UInt32($0), path: UInt64($0) << 40) }))),
        Fcall(tag: Tag(2), .rwalk(Rwalk(wqid: [maxQid]))),
        Fcall(tag: Tag(3), .topen(Topen(fid: Fid(0), mode: .read))),
        Fcall(tag: Tag(3), .topen(Topen(fid: .nofid, mode: OpenMode(rawValue: 0xff)))),
        Fcall(tag: Tag(3), .ropen(Ropen(qid: maxQid, iounit: .max))),
        Fcall(tag: Tag(4), .tcreate(Tcreate(fid: Fid(9), name: "", perm: FileMode(rawValue: .max), mode: .exec))),
        Fcall(tag: Tag(4), .tcreate(Tcreate(
            fid: Fid(9), name: "новый каталог", perm: FileMode(permissions: 0o755, flags: .dir),
            mode: OpenMode.read.with(removeOnClose: true)))),
        Fcall(tag: Tag(4), .rcreate(Rcreate(qid: maxQid, iounit: 1))),
        Fcall(tag: Tag(5), .tread(Tread(fid: Fid(0), offset: 0, count: 0))),
        Fcall(tag: Tag(5), .tread(Tread(fid: .nofid, offset: .max, count: .max))),
        Fcall(tag: Tag(5), .rread(Rread(data: ByteBuffer()))),
        Fcall(tag: Tag(5), .rread(Rread(data: pattern(megabyte)))),
        Fcall(tag: Tag(6), .twrite(Twrite(fid: Fid(0), offset: 0, data: ByteBuffer()))),
        Fcall(tag: Tag(6), .twrite(Twrite(fid: .nofid, offset: .max, data: pattern(megabyte)))),
        Fcall(tag: Tag(6), .rwrite(Rwrite(count: 0))),
        Fcall(tag: Tag(6), .rwrite(Rwrite(count: .max))),
        Fcall(tag: Tag(7), .tclunk(Tclunk(fid: .nofid))),
        Fcall(tag: .notag, .rclunk(Rclunk())),
        Fcall(tag: Tag(7), .tremove(Tremove(fid: Fid(0)))),
        Fcall(tag: .notag, .rremove(Rremove())),
        Fcall(tag: Tag(8), .tstat(Tstat(fid: .nofid))),
        Fcall(tag: Tag(8), .rstat(Rstat(stat: Stat(qid: Qid(path: 0), mode: [], name: "")))),
        Fcall(tag: Tag(8), .rstat(Rstat(stat: Stat(
            type: .max, dev: .max, qid: maxQid, mode: FileMode(rawValue: .max), atime: .max, mtime: .max,
            length: .max, name: String(repeating: "x", count: 255), uid: "ユーザー", gid: "группа", muid: "🙂")))),
        Fcall(tag: Tag(9), .twstat(Twstat(fid: Fid(0), stat: .dontTouch))),
        Fcall(tag: .notag, .rwstat(Rwstat())),
    ]
    list += goldens.map(\.fcall)
    return list
}()

/// Whether a message is small enough to drip-feed one byte at a time.
func isSmall(_ sample: Sample) -> Bool { sample.fcall.encodedSize(version: sample.version) <= 64 * 1024 }

/// The golden frames of all three dialects.
let allGoldens: [Golden] = goldens + goldensU + goldensL

/// Varied values of every message of every dialect, each in its dialect.
let allSamples: [Sample] =
    variedFcalls.map { Sample(fcall: $0, version: .ninep2000) }
    + (variedFcallsU + goldensU.map(\.fcall)).map { Sample(fcall: $0, version: .ninep2000u) }
    + (variedFcallsL + goldensL.map(\.fcall)).map { Sample(fcall: $0, version: .ninep2000L) }

/// Asserts that `decode` rejects `wire` with `kind`, leaves the buffer
/// untouched, and reports the tag and frame size iff the size was sane.
@discardableResult
func expectMalformed(
    _ wire: ByteBuffer, _ kind: WireError.Kind, tag: Tag?, decoder: FcallDecoder = lenient,
    sourceLocation: SourceLocation = #_sourceLocation
) -> WireError? {
    var buffer = wire
    let error = #expect(throws: WireError.self, sourceLocation: sourceLocation) {
        try decoder.decode(buffer: &buffer)
    }
    #expect(buffer == wire, "a rejected frame must consume nothing", sourceLocation: sourceLocation)
    #expect(buffer.readerIndex == wire.readerIndex, sourceLocation: sourceLocation)
    guard let error else { return nil }
    #expect(error.kind == kind, sourceLocation: sourceLocation)
    #expect(error.tag == tag, sourceLocation: sourceLocation)
    if tag != nil {
        let size = wire.getInteger(at: wire.readerIndex, endianness: .little, as: UInt32.self).map(Int.init)
        #expect(error.frameSize == size, sourceLocation: sourceLocation)
        #expect(error.type == wire.getInteger(at: wire.readerIndex + 4, as: UInt8.self), sourceLocation: sourceLocation)
    } else {
        #expect(error.frameSize == nil, sourceLocation: sourceLocation)
    }
    #expect(error.description.hasPrefix("malformed 9P message"), sourceLocation: sourceLocation)
    return error
}
