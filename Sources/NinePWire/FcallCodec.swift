public import NIOCore

/// Which messages a reader accepts: a server reads requests, a client replies.
public enum MessageDirection: Sendable {
    case requests
    case replies
    case any
}

/// Decodes 9P frames: intro(5): "size[4] ... the total length of the
/// message, including the size field itself", then type[1] tag[2] and the body.
///
/// Short input returns nil and consumes nothing; malformed input throws a
/// `WireError` and consumes nothing. Frames above `maxMessageSize` (the
/// negotiated msize) are refused as soon as their size field is seen.
public struct FcallDecoder: Sendable {
    public var maxMessageSize: UInt32
    public var version: ProtocolVersion
    public var direction: MessageDirection

    public init(maxMessageSize: UInt32 = NineP.defaultMessageSize, version: ProtocolVersion = .ninep2000, direction: MessageDirection = .any) {
        self.maxMessageSize = maxMessageSize
        self.version = version
        self.direction = direction
    }

    /// The length of the frame at the front of `buffer`, if its size field is
    /// there and sane. Does not consume.
    public func frameLength(in buffer: ByteBuffer) throws(WireError) -> Int? {
        guard let size = buffer.getInteger(at: buffer.readerIndex, endianness: .little, as: UInt32.self) else { return nil }
        guard size >= NineP.minimumMessageSize else { throw WireError(.sizeTooSmall(size)) }
        guard size <= maxMessageSize else { throw WireError(.sizeTooLarge(size, limit: maxMessageSize)) }
        return Int(size)
    }

    /// Decodes one frame, or returns nil if `buffer` does not yet hold a whole one.
    public func decode(buffer: inout ByteBuffer) throws(WireError) -> Fcall? {
        guard let size = try frameLength(in: buffer), buffer.readableBytes >= size else { return nil }
        var frame = buffer.getSlice(at: buffer.readerIndex + 4, length: size - 4)!
        let type = frame.readInteger(as: UInt8.self)!
        let tag = Tag(frame.readInteger(endianness: .little, as: UInt16.self)!)
        let message: Message
        do throws(WireError) {
            message = try Self.decodeBody(type: type, from: &frame, direction: direction)
            if frame.readableBytes != 0 { throw WireError(.trailingGarbage(frame.readableBytes)) }
        } catch {
            throw WireError(error.kind, type: type, tag: tag, frameSize: size)
        }
        buffer.moveReaderIndex(forwardBy: size)
        return Fcall(tag: tag, message)
    }

    /// The type byte of 9P2000.L's Rlerror (Linux include/net/9p/9p.h, P9_RLERROR).
    static let rlerrorType: UInt8 = 7

    static func decodeBody(type raw: UInt8, from b: inout ByteBuffer, direction: MessageDirection) throws(WireError) -> Message {
        guard let type = MessageType(rawValue: raw) else {
            // 9P2000.L's Rlerror: "size[4] Rlerror tag[2] ecode[4]", type 7.
            if raw == Self.rlerrorType, direction != .requests, b.readableBytes == 4, let ecode = b.readInteger(endianness: .little, as: UInt32.self) {
                throw WireError(.linuxError(errno: ecode))
            }
            throw WireError(.unknownType(raw))
        }
        switch (direction, type.isRequest) {
        case (.requests, false), (.replies, true): throw WireError(.unexpectedType(type))
        default: break
        }
        switch type {
        case .tversion: return .tversion(Tversion(msize: try b.readLE(UInt32.self), version: try b.read9PString()))
        case .rversion: return .rversion(Rversion(msize: try b.readLE(UInt32.self), version: try b.read9PString()))
        case .tauth:
            return .tauth(Tauth(afid: Fid(try b.readLE(UInt32.self)), uname: try b.read9PString(), aname: try b.read9PString()))
        case .rauth: return .rauth(Rauth(aqid: try b.readQid()))
        case .tattach:
            return .tattach(Tattach(
                fid: Fid(try b.readLE(UInt32.self)), afid: Fid(try b.readLE(UInt32.self)),
                uname: try b.read9PString(), aname: try b.read9PString()))
        case .rattach: return .rattach(Rattach(qid: try b.readQid()))
        case .terror: throw WireError(.unexpectedType(.terror))
        case .rerror: return .rerror(Rerror(ename: try b.read9PString()))
        case .tflush: return .tflush(Tflush(oldtag: Tag(try b.readLE(UInt16.self))))
        case .rflush: return .rflush(Rflush())
        case .twalk:
            let fid = Fid(try b.readLE(UInt32.self))
            let newfid = Fid(try b.readLE(UInt32.self))
            let n = Int(try b.readLE(UInt16.self))
            guard n <= NineP.maxWalkElements else { throw WireError(.tooManyWalkElements(n)) }
            var names: [String] = []
            names.reserveCapacity(n)
            for _ in 0..<n { names.append(try b.read9PString()) }
            return .twalk(Twalk(fid: fid, newfid: newfid, wname: names))
        case .rwalk:
            let n = Int(try b.readLE(UInt16.self))
            guard n <= NineP.maxWalkElements else { throw WireError(.tooManyWalkElements(n)) }
            var qids: [Qid] = []
            qids.reserveCapacity(n)
            for _ in 0..<n { qids.append(try b.readQid()) }
            return .rwalk(Rwalk(wqid: qids))
        case .topen: return .topen(Topen(fid: Fid(try b.readLE(UInt32.self)), mode: OpenMode(rawValue: try b.readLE(UInt8.self))))
        case .ropen: return .ropen(Ropen(qid: try b.readQid(), iounit: try b.readLE(UInt32.self)))
        case .tcreate:
            return .tcreate(Tcreate(
                fid: Fid(try b.readLE(UInt32.self)), name: try b.read9PString(),
                perm: FileMode(rawValue: try b.readLE(UInt32.self)), mode: OpenMode(rawValue: try b.readLE(UInt8.self))))
        case .rcreate: return .rcreate(Rcreate(qid: try b.readQid(), iounit: try b.readLE(UInt32.self)))
        case .tread:
            return .tread(Tread(fid: Fid(try b.readLE(UInt32.self)), offset: try b.readLE(UInt64.self), count: try b.readLE(UInt32.self)))
        case .rread:
            let count = try b.readLE(UInt32.self)
            guard let data = b.readSlice(length: Int(count)) else { throw WireError(.countOverrun) }
            return .rread(Rread(data: data))
        case .twrite:
            let fid = Fid(try b.readLE(UInt32.self))
            let offset = try b.readLE(UInt64.self)
            let count = try b.readLE(UInt32.self)
            guard let data = b.readSlice(length: Int(count)) else { throw WireError(.countOverrun) }
            return .twrite(Twrite(fid: fid, offset: offset, data: data))
        case .rwrite: return .rwrite(Rwrite(count: try b.readLE(UInt32.self)))
        case .tclunk: return .tclunk(Tclunk(fid: Fid(try b.readLE(UInt32.self))))
        case .rclunk: return .rclunk(Rclunk())
        case .tremove: return .tremove(Tremove(fid: Fid(try b.readLE(UInt32.self))))
        case .rremove: return .rremove(Rremove())
        case .tstat: return .tstat(Tstat(fid: Fid(try b.readLE(UInt32.self))))
        case .rstat: return .rstat(Rstat(stat: try b.readWrappedStat()))
        case .twstat: return .twstat(Twstat(fid: Fid(try b.readLE(UInt32.self)), stat: try b.readWrappedStat()))
        case .rwstat: return .rwstat(Rwstat())
        }
    }
}

extension Fcall {
    /// Encodes the whole frame into `buffer`.
    public func encode(into buffer: inout ByteBuffer) {
        if var payload = encodeHead(into: &buffer) {
            buffer.writeBuffer(&payload)
        }
    }

    /// Encodes everything but the bulk data of Rread and Twrite, which it
    /// returns so that a transport can write it without copying; size[4]
    /// already counts it. Returns nil for every other message.
    public func encodeHead(into b: inout ByteBuffer) -> ByteBuffer? {
        let start = b.writerIndex
        b.writeInteger(UInt32(0), endianness: .little)  // size, patched below
        b.writeInteger(message.type.rawValue)
        b.writeInteger(tag.rawValue, endianness: .little)
        var payload: ByteBuffer? = nil
        switch message {
        case .tversion(let m):
            b.writeInteger(m.msize, endianness: .little)
            b.write9PString(m.version)
        case .rversion(let m):
            b.writeInteger(m.msize, endianness: .little)
            b.write9PString(m.version)
        case .tauth(let m):
            b.writeInteger(m.afid.rawValue, endianness: .little)
            b.write9PString(m.uname)
            b.write9PString(m.aname)
        case .rauth(let m): b.writeQid(m.aqid)
        case .tattach(let m):
            b.writeInteger(m.fid.rawValue, endianness: .little)
            b.writeInteger(m.afid.rawValue, endianness: .little)
            b.write9PString(m.uname)
            b.write9PString(m.aname)
        case .rattach(let m): b.writeQid(m.qid)
        case .rerror(let m): b.write9PString(m.ename)
        case .tflush(let m): b.writeInteger(m.oldtag.rawValue, endianness: .little)
        case .rflush, .rclunk, .rremove, .rwstat: break
        case .twalk(let m):
            b.writeInteger(m.fid.rawValue, endianness: .little)
            b.writeInteger(m.newfid.rawValue, endianness: .little)
            b.writeInteger(UInt16(truncatingIfNeeded: m.wname.count), endianness: .little)
            for name in m.wname { b.write9PString(name) }
        case .rwalk(let m):
            b.writeInteger(UInt16(truncatingIfNeeded: m.wqid.count), endianness: .little)
            for q in m.wqid { b.writeQid(q) }
        case .topen(let m):
            b.writeInteger(m.fid.rawValue, endianness: .little)
            b.writeInteger(m.mode.rawValue)
        case .ropen(let m):
            b.writeQid(m.qid)
            b.writeInteger(m.iounit, endianness: .little)
        case .tcreate(let m):
            b.writeInteger(m.fid.rawValue, endianness: .little)
            b.write9PString(m.name)
            b.writeInteger(m.perm.rawValue, endianness: .little)
            b.writeInteger(m.mode.rawValue)
        case .rcreate(let m):
            b.writeQid(m.qid)
            b.writeInteger(m.iounit, endianness: .little)
        case .tread(let m):
            b.writeInteger(m.fid.rawValue, endianness: .little)
            b.writeInteger(m.offset, endianness: .little)
            b.writeInteger(m.count, endianness: .little)
        case .rread(let m):
            b.writeInteger(UInt32(truncatingIfNeeded: m.data.readableBytes), endianness: .little)
            payload = m.data
        case .twrite(let m):
            b.writeInteger(m.fid.rawValue, endianness: .little)
            b.writeInteger(m.offset, endianness: .little)
            b.writeInteger(UInt32(truncatingIfNeeded: m.data.readableBytes), endianness: .little)
            payload = m.data
        case .rwrite(let m): b.writeInteger(m.count, endianness: .little)
        case .tclunk(let m): b.writeInteger(m.fid.rawValue, endianness: .little)
        case .tremove(let m): b.writeInteger(m.fid.rawValue, endianness: .little)
        case .tstat(let m): b.writeInteger(m.fid.rawValue, endianness: .little)
        case .rstat(let m): b.writeWrappedStat(m.stat)
        case .twstat(let m):
            b.writeInteger(m.fid.rawValue, endianness: .little)
            b.writeWrappedStat(m.stat)
        }
        let size = b.writerIndex - start + (payload?.readableBytes ?? 0)
        b.setInteger(UInt32(truncatingIfNeeded: size), at: start, endianness: .little)
        return payload
    }

    /// The encoded length of this frame.
    public var encodedSize: Int {
        var scratch = ByteBufferAllocator().buffer(capacity: 64)
        let payload = encodeHead(into: &scratch)
        return scratch.readableBytes + (payload?.readableBytes ?? 0)
    }
}
