public import NinePWire
import NinePTransport
#if canImport(Glibc)
import Glibc
#endif
import NIOCore

/// One way a 9P frame can be malformed (the list in NinePWire's
/// `WireError.Kind`), as the bytes a misbehaving client would send.
public enum MalformedFrame: String, CaseIterable, Sendable {
    /// size[4] below 7: the stream cannot be resynchronised.
    case sizeBelowMinimum
    /// size[4] above the negotiated msize: likewise.
    case sizeAboveMsize
    /// A type byte that names no message.
    case unknownType
    /// Terror, which <fcall.h> declares illegal.
    case terror
    /// An R-message sent to a server.
    case rMessage
    /// A string whose length runs past the end of the frame.
    case stringPastEnd
    /// A name that is not UTF-8.
    case invalidUTF8
    /// A Twrite whose count runs past the end of the frame.
    case countPastEnd
    /// A fixed field cut off by the end of the frame.
    case fieldPastEnd
    /// A Twalk of 17 names.
    case walkSeventeenNames
    /// A Twstat whose stat sizes disagree.
    case badStatLength
    /// Bytes left over after a whole Tclunk.
    case trailingGarbage
    // 9P2000.L and 9P2000.u bodies. In a dialect that does not carry the
    // message, the frame is just as malformed ("not in this dialect").
    /// A Tlcreate whose name runs past the end of the frame.
    case dotLStringPastEnd
    /// A Tgetattr whose request_mask[8] is cut off after 4 bytes.
    case dotLFieldPastEnd
    /// A Tmkdir whose name is not UTF-8.
    case dotLInvalidUTF8
    /// Bytes left over after a whole Treaddir.
    case dotLTrailingGarbage
    /// A Tcreate whose 9P2000.u extension string runs past the end.
    case dotUExtensionPastEnd

    /// Whether a server must close the connection (the frame's extent is
    /// unknown) rather than answer Rerror and read on.
    public var closesConnection: Bool { self == .sizeBelowMinimum || self == .sizeAboveMsize }

    /// The bytes of this case, tagged `tag`, for a connection of `msize`.
    public func bytes(tag: Tag, msize: UInt32) -> [UInt8] {
        let t = tag.rawValue
        switch self {
        case .sizeBelowMinimum:
            return le(UInt32(3)) + [MessageType.tclunk.rawValue] + le(t)
        case .sizeAboveMsize:
            return le(msize + 1) + [MessageType.tclunk.rawValue] + le(t) + le(UInt32(0))
        case .unknownType:
            return Self.frame(99, tag: tag, [1, 2, 3])
        case .terror:
            return Self.frame(MessageType.terror.rawValue, tag: tag, le(UInt16(0)))
        case .rMessage:
            return Self.frame(MessageType.rwalk.rawValue, tag: tag, le(UInt16(0)))
        case .stringPastEnd:
            return Self.frame(MessageType.tattach.rawValue, tag: tag, le(UInt32(5)) + le(UInt32.max) + le(UInt16(200)) + Array("abc".utf8))
        case .invalidUTF8:
            return Self.frame(MessageType.twalk.rawValue, tag: tag, le(UInt32(0)) + le(UInt32(9)) + le(UInt16(1)) + le(UInt16(2)) + [0xFF, 0xFE])
        case .countPastEnd:
            return Self.frame(MessageType.twrite.rawValue, tag: tag, le(UInt32(0)) + le(UInt64(0)) + le(UInt32(100)) + [UInt8](repeating: 7, count: 10))
        case .fieldPastEnd:
            return Self.frame(MessageType.tread.rawValue, tag: tag, le(UInt32(0)) + le(UInt64(0)) + [0x10, 0])
        case .walkSeventeenNames:
            let names = (0..<17).flatMap { _ in le(UInt16(1)) + [UInt8(ascii: "a")] }
            return Self.frame(MessageType.twalk.rawValue, tag: tag, le(UInt32(0)) + le(UInt32(9)) + le(UInt16(17)) + names)
        case .badStatLength:
            var stat = ByteBuffer()
            stat.writeStat(Stat.dontTouch)
            // n[2] claims one byte more than the stat's own size[2] accounts for.
            let body = le(UInt32(0)) + le(UInt16(stat.readableBytes + 1)) + Array(stat.readableBytesView) + [0]
            return Self.frame(MessageType.twstat.rawValue, tag: tag, body)
        case .trailingGarbage:
            return Self.frame(MessageType.tclunk.rawValue, tag: tag, le(UInt32(0)) + [0xDE, 0xAD, 0xBE])
        case .dotLStringPastEnd:
            // fid[4] name[s] flags[4] mode[4] gid[4], name claiming 300 bytes.
            return Self.frame(MessageType.tlcreate.rawValue, tag: tag, le(UInt32(0)) + le(UInt16(300)) + Array("short".utf8))
        case .dotLFieldPastEnd:
            return Self.frame(MessageType.tgetattr.rawValue, tag: tag, le(UInt32(0)) + le(UInt32(0x7ff)))
        case .dotLInvalidUTF8:
            // dfid[4] name[s] mode[4] gid[4]
            return Self.frame(
                MessageType.tmkdir.rawValue, tag: tag, le(UInt32(0)) + le(UInt16(2)) + [0xC3, 0x28] + le(UInt32(0o755)) + le(UInt32(0)))
        case .dotLTrailingGarbage:
            // fid[4] offset[8] count[4], then junk.
            return Self.frame(
                MessageType.treaddir.rawValue, tag: tag, le(UInt32(0)) + le(UInt64(0)) + le(UInt32(100)) + [0xDE, 0xAD])
        case .dotUExtensionPastEnd:
            // fid[4] name[s] perm[4] mode[1] extension[s], the extension claiming 500 bytes.
            return Self.frame(
                MessageType.tcreate.rawValue, tag: tag,
                le(UInt32(0)) + le(UInt16(1)) + [UInt8(ascii: "f")] + le(UInt32(0o644)) + [0] + le(UInt16(500)) + [1, 2])
        }
    }

    /// size[4] type[1] tag[2] body, with a correct size.
    public static func frame(_ type: UInt8, tag: Tag, _ body: [UInt8]) -> [UInt8] {
        le(UInt32(7 + body.count)) + [type] + le(tag.rawValue) + body
    }

    /// A random frame with a correct size field (7 up to `msize`): a type
    /// that is mostly a real request, sometimes an R-message or any byte;
    /// a body of random bytes whose first field is often a small fid.
    public static func random(tag: Tag, msize: UInt32, using rng: inout some RandomNumberGenerator) -> [UInt8] {
        let requests = MessageType.allCases.filter(\.isRequest)
        let replies = MessageType.allCases.filter { !$0.isRequest } + [.terror]
        let type: UInt8
        switch Int.random(in: 0..<100, using: &rng) {
        case 0..<65: type = requests.randomElement(using: &rng)!.rawValue
        case 65..<80: type = replies.randomElement(using: &rng)!.rawValue
        default: type = UInt8.random(in: 0...255, using: &rng)
        }
        let limit = Int(msize) - 7
        let length: Int
        switch Int.random(in: 0..<100, using: &rng) {
        case 0..<70: length = Int.random(in: 0...min(40, limit), using: &rng)
        case 70..<95: length = Int.random(in: 0...min(600, limit), using: &rng)
        default: length = Int.random(in: 0...limit, using: &rng)
        }
        var body = (0..<length).map { _ in UInt8.random(in: 0...255, using: &rng) }
        if body.count >= 4 && Bool.random(using: &rng) {
            body.replaceSubrange(0..<4, with: le(UInt32.random(in: 0...3, using: &rng)))
        }
        return frame(type, tag: tag, body)
    }
}

/// Little-endian bytes of an integer.
private func le<T: FixedWidthInteger>(_ v: T) -> [UInt8] {
    withUnsafeBytes(of: v.littleEndian) { Array($0) }
}

/// Sends every `MalformedFrame`, then thousands of random frames, then
/// random raw bytes, to a live server, and checks what comes back: each
/// frame with a sane size is answered (Rerror, or a normal reply when a
/// random frame happens to be well formed) and the connection goes on;
/// each frame without one closes the connection. Meanwhile `probe`, a
/// connection opened before the barrage, must keep serving Tstat.
///
/// The "bad" connection is attached (fid 0, so that random frames reach the
/// FileServer and not only the service loop's checks) and is replaced
/// whenever the server closes it. Random input comes from `SplitMix64(seed:)`,
/// so a run can be replayed.
public struct BadInputBarrage: Sendable {
    /// Opens a new connection to the server under test.
    public var connect: @Sendable () async throws -> RawNinePClient
    /// Seeds every random choice; print it, so that a failure can be replayed.
    public var seed: UInt64
    /// The msize each bad connection negotiates (random frames stay within it).
    public var msize: UInt32 = 8192 + NineP.ioHeaderSize
    /// How many random frames follow the malformed cases.
    public var randomFrames = 10_000
    /// How many chunks of raw bytes end the barrage, each on a new connection.
    public var rawChunks = 100
    /// Tstat on the probe connection after this many random frames.
    public var probeInterval = 100
    /// The user the bad connections attach as: the one running the test,
    /// whom a server that checks the transport's identity expects.
    public var uname = LocalUser.name(of: geteuid())
    /// The dialect the bad connections negotiate (the server must speak
    /// it): random and malformed frames are then read as its bodies, and
    /// errors come back as its error message (Rerror or Rlerror).
    public var dialect: ProtocolVersion = .ninep2000

    public init(seed: UInt64, connect: @escaping @Sendable () async throws -> RawNinePClient) {
        self.seed = seed
        self.connect = connect
    }

    /// What the barrage saw.
    public struct Report: Sendable, CustomStringConvertible {
        public var seed: UInt64
        /// Frames sent: every malformed case and every random frame.
        public var frames = 0
        /// Frames answered with an error: Rerror, or Rlerror under 9P2000.L.
        public var rerrors = 0
        /// Random frames that were well formed by chance and answered normally.
        public var otherReplies = 0
        /// Times the server closed the bad connection.
        public var closes = 0
        /// Chunks of random raw bytes, each on its own connection, and their total size.
        public var rawChunks = 0
        public var rawBytes = 0
        /// Rerrors answered to frames found inside the raw bytes.
        public var rawRerrors = 0
        /// Tstat requests the probe connection served.
        public var probes = 0
        /// Broken expectations; empty when the server behaved.
        public var failures: [String] = []

        public var description: String {
            "bad input (seed \(seed)): \(frames) frames: \(rerrors) Rerror, \(otherReplies) other replies, "
                + "\(rawChunks) raw chunks (\(rawBytes) bytes, \(rawRerrors) Rerror inside), \(closes) closes; "
                + "other connection served \(probes) requests; \(failures.isEmpty ? "no failures" : "\(failures.count) failures")"
        }
    }

    /// Runs the barrage. `probe` is connected, versioned and has `probeFid`
    /// attached.
    public func run(probe: RawNinePClient, probeFid: Fid = Fid(0)) async throws -> Report {
        var report = Report(seed: seed)
        var rng = SplitMix64(seed: seed)
        var bad: RawNinePClient? = nil

        func probeOnce(_ after: String) async throws {
            let reply = try await probe.call(.tstat(Tstat(fid: probeFid)))
            guard case .rstat = reply else {
                throw ConformanceFailure("bad input", "the other connection answered Tstat with \(reply) after \(after)")
            }
            report.probes += 1
        }
        func badConnection() async throws -> RawNinePClient {
            if let bad { return bad }
            let c = try await connect()
            try await negotiate(c)
            bad = c
            return c
        }

        try await probeOnce("nothing")
        for (i, kind) in MalformedFrame.allCases.enumerated() {
            let c = try await badConnection()
            let tag = Tag(UInt16(100 + i))
            try await c.sendRaw(kind.bytes(tag: tag, msize: msize))
            report.frames += 1
            if kind.closesConnection {
                if await c.waitForClose() {
                    report.closes += 1
                } else {
                    report.failures.append("\(kind): the connection stayed open")
                    await c.close()
                }
                bad = nil
            } else {
                switch await outcome(c, tag) {
                case .reply(let m) where m.isError: report.rerrors += 1
                case .reply(let m): report.failures.append("\(kind): answered \(m), expected an error")
                case .closed:
                    report.failures.append("\(kind): the connection was closed, expected Rerror")
                    bad = nil
                case .noAnswer:
                    report.failures.append("\(kind): no answer")
                    await c.close()
                    bad = nil
                }
            }
            try await probeOnce(kind.rawValue)
        }

        for i in 0..<randomFrames {
            let c = try await badConnection()
            let tag = Tag(UInt16(1 + i % 60_000))
            let frame = MalformedFrame.random(tag: tag, msize: msize, using: &rng)
            try await c.sendRaw(frame)
            report.frames += 1
            switch await outcome(c, tag) {
            case .reply(let m) where m.isError: report.rerrors += 1
            case .reply: report.otherReplies += 1
            case .closed:
                report.closes += 1
                bad = nil
            case .noAnswer:
                report.failures.append("random frame \(i) \(frame.prefix(32)): no answer")
                await c.close()
                bad = nil
            }
            if (i + 1) % probeInterval == 0 { try await probeOnce("\(i + 1) random frames") }
        }
        if let c = bad { await c.close() }
        try await probeOnce("the random frames")

        for i in 0..<rawChunks {
            let c = try await connect()
            try await negotiate(c)
            let before = try await c.transcript.count
            let chunk = rawChunk(i, using: &rng)
            let length = chunk.count
            // Zeros end whatever frame the chunk left open and then read as
            // size 0, which no server can skip: the connection must close.
            let tail = [UInt8](repeating: 0, count: Int(msize) + 8)
            try? await c.sendRaw(chunk)
            try? await c.sendRaw(tail)
            report.rawChunks += 1
            report.rawBytes += length
            if await c.waitForClose() {
                report.closes += 1
            } else {
                report.failures.append("raw chunk \(i) (\(length) bytes): the connection stayed open after \(tail.count) zero bytes")
                await c.close()
            }
            let replies = (try? await c.transcript.dropFirst(before)) ?? []
            report.rawRerrors += replies.filter(\.message.isError).count
            if (i + 1) % 5 == 0 { try await probeOnce("\(i + 1) raw chunks") }
        }
        try await probeOnce("the raw bytes")
        return report
    }

    /// Tversion in `dialect` (which the server must grant) and Tattach of fid 0.
    private func negotiate(_ c: RawNinePClient) async throws {
        let v = try await c.version(msize: msize, version: dialect.rawValue)
        guard v.version == dialect.rawValue else {
            throw ConformanceFailure("bad input", "Tversion \(dialect.rawValue) answered '\(v.version)'")
        }
        _ = try await c.attach(fid: Fid(0), uname: uname)
    }

    /// Raw bytes, three kinds in turn: pure noise; well-framed random
    /// frames followed by noise; and random frames with a few bytes flipped
    /// (sizes included), which lose the framing somewhere inside.
    private func rawChunk(_ i: Int, using rng: inout SplitMix64) -> [UInt8] {
        func noise(_ n: Int) -> [UInt8] { (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) } }
        var frames: [UInt8] = []
        if i % 3 != 0 {
            for n in 0..<Int.random(in: 1...20, using: &rng) {
                frames += MalformedFrame.random(tag: Tag(UInt16(n + 1)), msize: min(msize, 1024), using: &rng)
            }
        }
        switch i % 3 {
        case 0:
            return noise(Int.random(in: 1...4096, using: &rng))
        case 1:
            return frames + noise(Int.random(in: 1...512, using: &rng))
        default:
            for _ in 0..<Int.random(in: 1...8, using: &rng) {
                frames[Int.random(in: 0..<frames.count, using: &rng)] ^= UInt8.random(in: 1...255, using: &rng)
            }
            return frames
        }
    }

    private enum Outcome {
        case reply(Message)
        case closed
        case noAnswer
    }

    private func outcome(_ c: RawNinePClient, _ tag: Tag) async -> Outcome {
        do {
            return .reply(try await c.reply(tag: tag).message)
        } catch RawNinePClientError.closed {
            return .closed
        } catch {
            return .noAnswer
        }
    }
}

extension Message {
    /// Rerror or Rlerror.
    var isError: Bool {
        switch self {
        case .rerror, .rlerror: true
        case .tversion, .rversion, .tauth, .rauth, .tattach, .rattach, .tflush, .rflush, .twalk, .rwalk, .topen, .ropen,
            .tcreate, .rcreate, .tread, .rread, .twrite, .rwrite, .tclunk, .rclunk, .tremove, .rremove, .tstat, .rstat,
            .twstat, .rwstat, .tstatfs, .rstatfs, .tlopen, .rlopen, .tlcreate, .rlcreate, .tsymlink, .rsymlink, .tmknod,
            .rmknod, .trename, .rrename, .treadlink, .rreadlink, .tgetattr, .rgetattr, .tsetattr, .rsetattr, .txattrwalk,
            .rxattrwalk, .txattrcreate, .rxattrcreate, .treaddir, .rreaddir, .tfsync, .rfsync, .tlock, .rlock, .tgetlock,
            .rgetlock, .tlink, .rlink, .tmkdir, .rmkdir, .trenameat, .rrenameat, .tunlinkat, .runlinkat:
            false
        }
    }
}
