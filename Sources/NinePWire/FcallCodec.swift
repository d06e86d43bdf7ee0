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
/// Bodies are read in `version`'s layout, and a message that `version` does
/// not have is `WireError.Kind.notInDialect` (a whole frame, so a reader can
/// answer its tag and carry on).
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
            message = try Self.decodeBody(type: type, from: &frame, direction: direction, version: version)
            if frame.readableBytes != 0 { throw WireError(.trailingGarbage(frame.readableBytes)) }
        } catch {
            throw WireError(error.kind, type: type, tag: tag, frameSize: size)
        }
        buffer.moveReaderIndex(forwardBy: size)
        return Fcall(tag: tag, message)
    }

    static func decodeBody(
        type raw: UInt8, from b: inout ByteBuffer, direction: MessageDirection, version: ProtocolVersion
    ) throws(WireError) -> Message {
        guard let type = MessageType(rawValue: raw) else { throw WireError(.unknownType(raw)) }
        switch (direction, type.isRequest) {
        case (.requests, false), (.replies, true): throw WireError(.unexpectedType(type))
        case (.requests, true), (.replies, false), (.any, _): break
        }
        guard version.carries(type) else {
            // A 9P2000 or .u reader still recognises 9P2000.L's Rlerror
            // ("size[4] Rlerror tag[2] ecode[4]"), so that a client can say
            // what a .L-only server (such as diod) answered its Tversion.
            if type == .rlerror, direction != .requests, b.readableBytes == 4,
               let ecode = b.readInteger(endianness: .little, as: UInt32.self) {
                throw WireError(.linuxError(errno: ecode))
            }
            throw WireError(.notInDialect(type, version))
        }
        switch type {
        case .tversion: return .tversion(Tversion(msize: try b.readLE(UInt32.self), version: try b.read9PString()))
        case .rversion: return .rversion(Rversion(msize: try b.readLE(UInt32.self), version: try b.read9PString()))
        case .tauth:
            return .tauth(Tauth(
                afid: Fid(try b.readLE(UInt32.self)), uname: try b.read9PString(), aname: try b.read9PString(),
                nUname: try b.readNumericUname(version)))
        case .rauth: return .rauth(Rauth(aqid: try b.readQid()))
        case .tattach:
            return .tattach(Tattach(
                fid: Fid(try b.readLE(UInt32.self)), afid: Fid(try b.readLE(UInt32.self)),
                uname: try b.read9PString(), aname: try b.read9PString(), nUname: try b.readNumericUname(version)))
        case .rattach: return .rattach(Rattach(qid: try b.readQid()))
        case .terror: throw WireError(.unexpectedType(.terror))
        case .rerror:
            let ename = try b.read9PString()
            return .rerror(Rerror(ename: ename, errno: version.hasStatExtension ? try b.readLE(UInt32.self) : 0))
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
                perm: FileMode(rawValue: try b.readLE(UInt32.self)), mode: OpenMode(rawValue: try b.readLE(UInt8.self)),
                extension: version.hasStatExtension ? try b.read9PString() : ""))
        case .rcreate: return .rcreate(Rcreate(qid: try b.readQid(), iounit: try b.readLE(UInt32.self)))
        case .tread:
            return .tread(Tread(fid: Fid(try b.readLE(UInt32.self)), offset: try b.readLE(UInt64.self), count: try b.readLE(UInt32.self)))
        case .rread: return .rread(Rread(data: try b.readCountedData()))
        case .twrite:
            let fid = Fid(try b.readLE(UInt32.self))
            let offset = try b.readLE(UInt64.self)
            return .twrite(Twrite(fid: fid, offset: offset, data: try b.readCountedData()))
        case .rwrite: return .rwrite(Rwrite(count: try b.readLE(UInt32.self)))
        case .tclunk: return .tclunk(Tclunk(fid: Fid(try b.readLE(UInt32.self))))
        case .rclunk: return .rclunk(Rclunk())
        case .tremove: return .tremove(Tremove(fid: Fid(try b.readLE(UInt32.self))))
        case .rremove: return .rremove(Rremove())
        case .tstat: return .tstat(Tstat(fid: Fid(try b.readLE(UInt32.self))))
        case .rstat: return .rstat(Rstat(stat: try b.readWrappedStat(version: version)))
        case .twstat:
            return .twstat(Twstat(fid: Fid(try b.readLE(UInt32.self)), stat: try b.readWrappedStat(version: version)))
        case .rwstat: return .rwstat(Rwstat())
        case .rlerror, .tstatfs, .rstatfs, .tlopen, .rlopen, .tlcreate, .rlcreate, .tsymlink, .rsymlink,
            .tmknod, .rmknod, .trename, .rrename, .treadlink, .rreadlink, .tgetattr, .rgetattr, .tsetattr,
            .rsetattr, .txattrwalk, .rxattrwalk, .txattrcreate, .rxattrcreate, .treaddir, .rreaddir,
            .tfsync, .rfsync, .tlock, .rlock, .tgetlock, .rgetlock, .tlink, .rlink, .tmkdir, .rmkdir,
            .trenameat, .rrenameat, .tunlinkat, .runlinkat:
            return try decodeDotLBody(type: type, from: &b)
        }
    }

    /// The bodies of 9P2000.L's own messages (layouts in DotLMessages.swift).
    static func decodeDotLBody(type: MessageType, from b: inout ByteBuffer) throws(WireError) -> Message {
        func fid() throws(WireError) -> Fid { Fid(try b.readLE(UInt32.self)) }
        func u32() throws(WireError) -> UInt32 { try b.readLE(UInt32.self) }
        func u64() throws(WireError) -> UInt64 { try b.readLE(UInt64.self) }
        func str() throws(WireError) -> String { try b.read9PString() }
        func qid() throws(WireError) -> Qid { try b.readQid() }
        func u8() throws(WireError) -> UInt8 { try b.readLE(UInt8.self) }
        switch type {
        case .rlerror: return .rlerror(Rlerror(ecode: try u32()))
        case .tstatfs: return .tstatfs(Tstatfs(fid: try fid()))
        case .rstatfs:
            return .rstatfs(Rstatfs(
                type: try u32(), bsize: try u32(), blocks: try u64(), bfree: try u64(), bavail: try u64(),
                files: try u64(), ffree: try u64(), fsid: try u64(), namelen: try u32()))
        case .tlopen: return .tlopen(Tlopen(fid: try fid(), flags: LinuxOpenFlags(rawValue: try u32())))
        case .rlopen: return .rlopen(Rlopen(qid: try qid(), iounit: try u32()))
        case .tlcreate:
            return .tlcreate(Tlcreate(
                fid: try fid(), name: try str(), flags: LinuxOpenFlags(rawValue: try u32()), mode: try u32(), gid: try u32()))
        case .rlcreate: return .rlcreate(Rlcreate(qid: try qid(), iounit: try u32()))
        case .tsymlink: return .tsymlink(Tsymlink(fid: try fid(), name: try str(), symtgt: try str(), gid: try u32()))
        case .rsymlink: return .rsymlink(Rsymlink(qid: try qid()))
        case .tmknod:
            return .tmknod(Tmknod(
                dfid: try fid(), name: try str(), mode: try u32(), major: try u32(), minor: try u32(), gid: try u32()))
        case .rmknod: return .rmknod(Rmknod(qid: try qid()))
        case .trename: return .trename(Trename(fid: try fid(), dfid: try fid(), name: try str()))
        case .rrename: return .rrename(Rrename())
        case .treadlink: return .treadlink(Treadlink(fid: try fid()))
        case .rreadlink: return .rreadlink(Rreadlink(target: try str()))
        case .tgetattr: return .tgetattr(Tgetattr(fid: try fid(), requestMask: GetattrMask(rawValue: try u64())))
        case .rgetattr: return .rgetattr(Rgetattr(attributes: try b.readLinuxAttributes()))
        case .tsetattr:
            return .tsetattr(Tsetattr(
                fid: try fid(), valid: SetattrMask(rawValue: try u32()), mode: try u32(), uid: try u32(), gid: try u32(),
                size: try u64(), atimeSec: try u64(), atimeNsec: try u64(), mtimeSec: try u64(), mtimeNsec: try u64()))
        case .rsetattr: return .rsetattr(Rsetattr())
        case .txattrwalk: return .txattrwalk(Txattrwalk(fid: try fid(), newfid: try fid(), name: try str()))
        case .rxattrwalk: return .rxattrwalk(Rxattrwalk(size: try u64()))
        case .txattrcreate:
            return .txattrcreate(Txattrcreate(fid: try fid(), name: try str(), attrSize: try u64(), flags: try u32()))
        case .rxattrcreate: return .rxattrcreate(Rxattrcreate())
        case .treaddir: return .treaddir(Treaddir(fid: try fid(), offset: try u64(), count: try u32()))
        case .rreaddir: return .rreaddir(Rreaddir(data: try b.readCountedData()))
        case .tfsync: return .tfsync(Tfsync(fid: try fid(), datasync: try u32()))
        case .rfsync: return .rfsync(Rfsync())
        case .tlock:
            return .tlock(Tlock(
                fid: try fid(), type: LockType(rawValue: try u8()), flags: LockFlags(rawValue: try u32()),
                start: try u64(), length: try u64(), procId: try u32(), clientId: try str()))
        case .rlock: return .rlock(Rlock(status: LockStatus(rawValue: try u8())))
        case .tgetlock:
            return .tgetlock(Tgetlock(
                fid: try fid(), type: LockType(rawValue: try u8()), start: try u64(), length: try u64(),
                procId: try u32(), clientId: try str()))
        case .rgetlock:
            return .rgetlock(Rgetlock(
                type: LockType(rawValue: try u8()), start: try u64(), length: try u64(),
                procId: try u32(), clientId: try str()))
        case .tlink: return .tlink(Tlink(dfid: try fid(), fid: try fid(), name: try str()))
        case .rlink: return .rlink(Rlink())
        case .tmkdir: return .tmkdir(Tmkdir(dfid: try fid(), name: try str(), mode: try u32(), gid: try u32()))
        case .rmkdir: return .rmkdir(Rmkdir(qid: try qid()))
        case .trenameat:
            return .trenameat(Trenameat(olddirfid: try fid(), oldname: try str(), newdirfid: try fid(), newname: try str()))
        case .rrenameat: return .rrenameat(Rrenameat())
        case .tunlinkat: return .tunlinkat(Tunlinkat(dirfd: try fid(), name: try str(), flags: try u32()))
        case .runlinkat: return .runlinkat(Runlinkat())
        case .tversion, .rversion, .tauth, .rauth, .tattach, .rattach, .terror, .rerror, .tflush, .rflush,
            .twalk, .rwalk, .topen, .ropen, .tcreate, .rcreate, .tread, .rread, .twrite, .rwrite, .tclunk,
            .rclunk, .tremove, .rremove, .tstat, .rstat, .twstat, .rwstat:
            throw WireError(.unexpectedType(type))
        }
    }
}

extension ByteBuffer {
    /// read(5): "count[4] data[count]", as Rread, Twrite and 9P2000.L's
    /// Rreaddir carry it: a slice of this buffer, not a copy.
    mutating func readCountedData() throws(WireError) -> ByteBuffer {
        let count = try readLE(UInt32.self)
        guard let data = readSlice(length: Int(count)) else { throw WireError(.countOverrun) }
        return data
    }

    /// 9P2000.u and 9P2000.L's "n_uname[4]" at the end of Tauth and Tattach;
    /// `NineP.nonuname` in 9P2000, which does not carry it.
    mutating func readNumericUname(_ version: ProtocolVersion) throws(WireError) -> UInt32 {
        version.hasNumericUname ? try readLE(UInt32.self) : NineP.nonuname
    }
}

extension Fcall {
    /// Encodes the whole frame into `buffer`, in `version`'s layout.
    ///
    /// The dialect decides which optional fields travel (9P2000.u's errno,
    /// n_uname, extension and numeric ids; n_uname in 9P2000.L too). A
    /// message the dialect does not have is encoded all the same; the peer
    /// refuses it (`ProtocolVersion.carries(_:)`).
    public func encode(into buffer: inout ByteBuffer, version: ProtocolVersion) {
        if var payload = encodeHead(into: &buffer, version: version) {
            buffer.writeBuffer(&payload)
        }
    }

    /// Encodes everything but the bulk data of Rread, Twrite and Rreaddir,
    /// which it returns so that a transport can write it without copying;
    /// size[4] already counts it. Returns nil for every other message.
    public func encodeHead(into b: inout ByteBuffer, version: ProtocolVersion) -> ByteBuffer? {
        let start = b.writerIndex
        b.writeInteger(UInt32(0), endianness: .little)  // size, patched below
        b.writeInteger(message.type.rawValue)
        b.writeInteger(tag.rawValue, endianness: .little)
        var payload: ByteBuffer? = nil
        func fid(_ f: Fid) { b.writeInteger(f.rawValue, endianness: .little) }
        func u8(_ v: UInt8) { b.writeInteger(v) }
        func u32(_ v: UInt32) { b.writeInteger(v, endianness: .little) }
        func u64(_ v: UInt64) { b.writeInteger(v, endianness: .little) }
        func str(_ s: String) { b.write9PString(s) }
        func qid(_ q: Qid) { b.writeQid(q) }
        switch message {
        case .tversion(let m):
            u32(m.msize)
            str(m.version)
        case .rversion(let m):
            u32(m.msize)
            str(m.version)
        case .tauth(let m):
            fid(m.afid)
            str(m.uname)
            str(m.aname)
            if version.hasNumericUname { u32(m.nUname) }
        case .rauth(let m): qid(m.aqid)
        case .tattach(let m):
            fid(m.fid)
            fid(m.afid)
            str(m.uname)
            str(m.aname)
            if version.hasNumericUname { u32(m.nUname) }
        case .rattach(let m): qid(m.qid)
        case .rerror(let m):
            str(m.ename)
            if version.hasStatExtension { u32(m.errno) }
        case .tflush(let m): b.writeInteger(m.oldtag.rawValue, endianness: .little)
        case .rflush, .rclunk, .rremove, .rwstat, .rrename, .rsetattr, .rxattrcreate, .rfsync, .rlink, .rrenameat,
            .runlinkat:
            break
        case .twalk(let m):
            fid(m.fid)
            fid(m.newfid)
            b.writeInteger(UInt16(truncatingIfNeeded: m.wname.count), endianness: .little)
            for name in m.wname { str(name) }
        case .rwalk(let m):
            b.writeInteger(UInt16(truncatingIfNeeded: m.wqid.count), endianness: .little)
            for q in m.wqid { qid(q) }
        case .topen(let m):
            fid(m.fid)
            u8(m.mode.rawValue)
        case .ropen(let m):
            qid(m.qid)
            u32(m.iounit)
        case .tcreate(let m):
            fid(m.fid)
            str(m.name)
            u32(m.perm.rawValue)
            u8(m.mode.rawValue)
            if version.hasStatExtension { str(m.extension) }
        case .rcreate(let m):
            qid(m.qid)
            u32(m.iounit)
        case .tread(let m):
            fid(m.fid)
            u64(m.offset)
            u32(m.count)
        case .rread(let m):
            u32(UInt32(truncatingIfNeeded: m.data.readableBytes))
            payload = m.data
        case .twrite(let m):
            fid(m.fid)
            u64(m.offset)
            u32(UInt32(truncatingIfNeeded: m.data.readableBytes))
            payload = m.data
        case .rwrite(let m): u32(m.count)
        case .tclunk(let m): fid(m.fid)
        case .tremove(let m): fid(m.fid)
        case .tstat(let m): fid(m.fid)
        case .rstat(let m): b.writeWrappedStat(m.stat, version: version)
        case .twstat(let m):
            fid(m.fid)
            b.writeWrappedStat(m.stat, version: version)
        case .rlerror(let m): u32(m.ecode)
        case .tstatfs(let m): fid(m.fid)
        case .rstatfs(let m):
            u32(m.type)
            u32(m.bsize)
            u64(m.blocks)
            u64(m.bfree)
            u64(m.bavail)
            u64(m.files)
            u64(m.ffree)
            u64(m.fsid)
            u32(m.namelen)
        case .tlopen(let m):
            fid(m.fid)
            u32(m.flags.rawValue)
        case .rlopen(let m):
            qid(m.qid)
            u32(m.iounit)
        case .tlcreate(let m):
            fid(m.fid)
            str(m.name)
            u32(m.flags.rawValue)
            u32(m.mode)
            u32(m.gid)
        case .rlcreate(let m):
            qid(m.qid)
            u32(m.iounit)
        case .tsymlink(let m):
            fid(m.fid)
            str(m.name)
            str(m.symtgt)
            u32(m.gid)
        case .rsymlink(let m): qid(m.qid)
        case .tmknod(let m):
            fid(m.dfid)
            str(m.name)
            u32(m.mode)
            u32(m.major)
            u32(m.minor)
            u32(m.gid)
        case .rmknod(let m): qid(m.qid)
        case .trename(let m):
            fid(m.fid)
            fid(m.dfid)
            str(m.name)
        case .treadlink(let m): fid(m.fid)
        case .rreadlink(let m): str(m.target)
        case .tgetattr(let m):
            fid(m.fid)
            u64(m.requestMask.rawValue)
        case .rgetattr(let m): b.writeLinuxAttributes(m.attributes)
        case .tsetattr(let m):
            fid(m.fid)
            u32(m.valid.rawValue)
            u32(m.mode)
            u32(m.uid)
            u32(m.gid)
            u64(m.size)
            u64(m.atimeSec)
            u64(m.atimeNsec)
            u64(m.mtimeSec)
            u64(m.mtimeNsec)
        case .txattrwalk(let m):
            fid(m.fid)
            fid(m.newfid)
            str(m.name)
        case .rxattrwalk(let m): u64(m.size)
        case .txattrcreate(let m):
            fid(m.fid)
            str(m.name)
            u64(m.attrSize)
            u32(m.flags)
        case .treaddir(let m):
            fid(m.fid)
            u64(m.offset)
            u32(m.count)
        case .rreaddir(let m):
            u32(UInt32(truncatingIfNeeded: m.data.readableBytes))
            payload = m.data
        case .tfsync(let m):
            fid(m.fid)
            u32(m.datasync)
        case .tlock(let m):
            fid(m.fid)
            u8(m.type.rawValue)
            u32(m.flags.rawValue)
            u64(m.start)
            u64(m.length)
            u32(m.procId)
            str(m.clientId)
        case .rlock(let m): u8(m.status.rawValue)
        case .tgetlock(let m):
            fid(m.fid)
            u8(m.type.rawValue)
            u64(m.start)
            u64(m.length)
            u32(m.procId)
            str(m.clientId)
        case .rgetlock(let m):
            u8(m.type.rawValue)
            u64(m.start)
            u64(m.length)
            u32(m.procId)
            str(m.clientId)
        case .tlink(let m):
            fid(m.dfid)
            fid(m.fid)
            str(m.name)
        case .tmkdir(let m):
            fid(m.dfid)
            str(m.name)
            u32(m.mode)
            u32(m.gid)
        case .rmkdir(let m): qid(m.qid)
        case .trenameat(let m):
            fid(m.olddirfid)
            str(m.oldname)
            fid(m.newdirfid)
            str(m.newname)
        case .tunlinkat(let m):
            fid(m.dirfd)
            str(m.name)
            u32(m.flags)
        }
        let size = b.writerIndex - start + (payload?.readableBytes ?? 0)
        b.setInteger(UInt32(truncatingIfNeeded: size), at: start, endianness: .little)
        return payload
    }

    /// The encoded length of this frame in `version`.
    public func encodedSize(version: ProtocolVersion) -> Int {
        var scratch = ByteBufferAllocator().buffer(capacity: 64)
        let payload = encodeHead(into: &scratch, version: version)
        return scratch.readableBytes + (payload?.readableBytes ?? 0)
    }
}
