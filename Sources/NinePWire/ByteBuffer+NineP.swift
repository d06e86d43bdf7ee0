public import NIOCore

// Wire primitives, named after intro(5): "Each message consists of a sequence
// of bytes. Two-, four-, and eight-byte fields hold unsigned integers
// represented in little-endian order (least significant byte first)."
//
// The readers throw WireError on overrun and never trap; callers that read a
// whole frame first (see FcallDecoder) never see "need more" here.

extension ByteBuffer {
    @inlinable
    mutating func readLE<T: FixedWidthInteger>(_: T.Type) throws(WireError) -> T {
        guard let v = readInteger(endianness: .little, as: T.self) else { throw WireError(.countOverrun) }
        return v
    }

    /// intro(5): "Data items of larger or variable lengths are represented by
    /// a two-byte field specifying a count, n, followed by n bytes of data.
    /// Text strings are represented this way, with the text itself stored as a
    /// UTF-8 encoded sequence of Unicode characters."
    public mutating func read9PString() throws(WireError) -> String {
        guard let n = readInteger(endianness: .little, as: UInt16.self) else { throw WireError(.stringOverrun) }
        guard readableBytes >= Int(n) else { throw WireError(.stringOverrun) }
        if n == 0 { return "" }
        let bytes = readableBytesView.prefix(Int(n))
        guard let s = String(validating: bytes, as: UTF8.self) else { throw WireError(.invalidUTF8) }
        moveReaderIndex(forwardBy: Int(n))
        return s
    }

    /// Writes s[2]: the UTF-8 byte count, then the bytes. A string longer
    /// than the 65535 bytes a count[2] can say is cut after the last whole
    /// Unicode scalar that fits, so that the frame stays well formed.
    @discardableResult
    public mutating func write9PString(_ s: String) -> Int {
        let n = s.ninePByteCount
        writeInteger(UInt16(n), endianness: .little)
        if n == s.utf8.count { writeString(s) } else { writeBytes(s.utf8.prefix(n)) }
        return 2 + n
    }

    /// intro(5): qid[13] is "type[1] vers[4] path[8]".
    public mutating func readQid() throws(WireError) -> Qid {
        guard readableBytes >= Qid.wireSize else { throw WireError(.countOverrun) }
        let type = try readLE(UInt8.self)
        let vers = try readLE(UInt32.self)
        let path = try readLE(UInt64.self)
        return Qid(type: QidType(rawValue: type), version: vers, path: path)
    }

    public mutating func writeQid(_ q: Qid) {
        writeInteger(q.type.rawValue)
        writeInteger(q.version, endianness: .little)
        writeInteger(q.path, endianness: .little)
    }

    /// Reads one directory entry, stat(5): "size[2] type[2] dev[4] qid[13]
    /// mode[4] atime[4] mtime[4] length[8] name[s] uid[s] gid[s] muid[s]";
    /// 9P2000.u appends "extension[s] n_uid[4] n_gid[4] n_muid[4]". The
    /// leading size must cover exactly the fields that follow.
    public mutating func readStat(version: ProtocolVersion = .ninep2000) throws(WireError) -> Stat {
        guard let size = readInteger(endianness: .little, as: UInt16.self) else { throw WireError(.badStatLength) }
        guard var body = readSlice(length: Int(size)) else { throw WireError(.badStatLength) }
        do throws(WireError) {
            let type = try body.readLE(UInt16.self)
            let dev = try body.readLE(UInt32.self)
            let qid = try body.readQid()
            let mode = try body.readLE(UInt32.self)
            let atime = try body.readLE(UInt32.self)
            let mtime = try body.readLE(UInt32.self)
            let length = try body.readLE(UInt64.self)
            let name = try body.read9PString()
            let uid = try body.read9PString()
            let gid = try body.read9PString()
            let muid = try body.read9PString()
            var stat = Stat(
                type: type, dev: dev, qid: qid, mode: FileMode(rawValue: mode), atime: atime,
                mtime: mtime, length: length, name: name, uid: uid, gid: gid, muid: muid)
            if version.hasStatExtension {
                stat.extension = try body.read9PString()
                stat.nUid = try body.readLE(UInt32.self)
                stat.nGid = try body.readLE(UInt32.self)
                stat.nMuid = try body.readLE(UInt32.self)
            }
            guard body.readableBytes == 0 else { throw WireError(.badStatLength) }
            return stat
        } catch {
            if case .invalidUTF8 = error.kind { throw error }
            throw WireError(.badStatLength)
        }
    }

    /// The name of one directory entry (with its leading size[2]), the rest
    /// skipped: for a listing of names only. The entry must be as long as
    /// its size says and the name must fit in it, as in `readStat()`.
    public mutating func readStatName() throws(WireError) -> String {
        guard let size = readInteger(endianness: .little, as: UInt16.self) else { throw WireError(.badStatLength) }
        guard var body = readSlice(length: Int(size)) else { throw WireError(.badStatLength) }
        // type[2] dev[4] qid[13] mode[4] atime[4] mtime[4] length[8]
        guard body.readableBytes >= Stat.fixedPrefixSize + 2 else { throw WireError(.badStatLength) }
        body.moveReaderIndex(forwardBy: Stat.fixedPrefixSize)
        do throws(WireError) {
            return try body.read9PString()
        } catch {
            if case .invalidUTF8 = error.kind { throw error }
            throw WireError(.badStatLength)
        }
    }

    /// Writes one directory entry with its leading size[2], in `version`'s
    /// layout (see `readStat(version:)`).
    @discardableResult
    public mutating func writeStat(_ d: Stat, version: ProtocolVersion = .ninep2000) -> Int {
        let total = d.wireSize(for: version)
        writeInteger(UInt16(truncatingIfNeeded: total - 2), endianness: .little)
        writeInteger(d.type, endianness: .little)
        writeInteger(d.dev, endianness: .little)
        writeQid(d.qid)
        writeInteger(d.mode.rawValue, endianness: .little)
        writeInteger(d.atime, endianness: .little)
        writeInteger(d.mtime, endianness: .little)
        writeInteger(d.length, endianness: .little)
        write9PString(d.name)
        write9PString(d.uid)
        write9PString(d.gid)
        write9PString(d.muid)
        if version.hasStatExtension {
            write9PString(d.extension)
            writeInteger(d.nUid, endianness: .little)
            writeInteger(d.nGid, endianness: .little)
            writeInteger(d.nMuid, endianness: .little)
        }
        return total
    }

    /// stat(5): Rstat and Twstat carry "stat[n]": n[2] followed by the entry,
    /// whose own size[2] must be n − 2.
    mutating func readWrappedStat(version: ProtocolVersion) throws(WireError) -> Stat {
        let n = try readLE(UInt16.self)
        guard readableBytes >= Int(n),
              let inner = getInteger(at: readerIndex, endianness: .little, as: UInt16.self),
              Int(inner) + 2 == Int(n)
        else { throw WireError(.badStatLength) }
        return try readStat(version: version)
    }

    mutating func writeWrappedStat(_ d: Stat, version: ProtocolVersion) {
        writeInteger(UInt16(truncatingIfNeeded: d.wireSize(for: version)), endianness: .little)
        writeStat(d, version: version)
    }

    /// Reads one Rreaddir entry, protocol.md: "qid[13] offset[8] type[1] name[s]".
    public mutating func readDirEntry() throws(WireError) -> DirEntry {
        let qid = try readQid()
        let offset = try readLE(UInt64.self)
        let type = try readLE(UInt8.self)
        let name = try read9PString()
        return DirEntry(qid: qid, offset: offset, type: type, name: name)
    }

    /// Writes one Rreaddir entry and returns its length.
    @discardableResult
    public mutating func writeDirEntry(_ e: DirEntry) -> Int {
        writeQid(e.qid)
        writeInteger(e.offset, endianness: .little)
        writeInteger(e.type)
        return Qid.wireSize + 9 + write9PString(e.name)
    }

    /// Rgetattr's body, protocol.md: "valid[8] qid[13] mode[4] uid[4] gid[4]
    /// nlink[8] rdev[8] size[8] blksize[8] blocks[8] atime_sec[8]
    /// atime_nsec[8] mtime_sec[8] mtime_nsec[8] ctime_sec[8] ctime_nsec[8]
    /// btime_sec[8] btime_nsec[8] gen[8] data_version[8]".
    public mutating func readLinuxAttributes() throws(WireError) -> LinuxAttributes {
        guard readableBytes >= LinuxAttributes.wireSize else { throw WireError(.countOverrun) }
        return LinuxAttributes(
            valid: GetattrMask(rawValue: try readLE(UInt64.self)), qid: try readQid(),
            mode: try readLE(UInt32.self), uid: try readLE(UInt32.self), gid: try readLE(UInt32.self),
            nlink: try readLE(UInt64.self), rdev: try readLE(UInt64.self), size: try readLE(UInt64.self),
            blksize: try readLE(UInt64.self), blocks: try readLE(UInt64.self),
            atimeSec: try readLE(UInt64.self), atimeNsec: try readLE(UInt64.self),
            mtimeSec: try readLE(UInt64.self), mtimeNsec: try readLE(UInt64.self),
            ctimeSec: try readLE(UInt64.self), ctimeNsec: try readLE(UInt64.self),
            btimeSec: try readLE(UInt64.self), btimeNsec: try readLE(UInt64.self),
            gen: try readLE(UInt64.self), dataVersion: try readLE(UInt64.self))
    }

    public mutating func writeLinuxAttributes(_ a: LinuxAttributes) {
        writeInteger(a.valid.rawValue, endianness: .little)
        writeQid(a.qid)
        writeInteger(a.mode, endianness: .little)
        writeInteger(a.uid, endianness: .little)
        writeInteger(a.gid, endianness: .little)
        writeInteger(a.nlink, endianness: .little)
        writeInteger(a.rdev, endianness: .little)
        writeInteger(a.size, endianness: .little)
        writeInteger(a.blksize, endianness: .little)
        writeInteger(a.blocks, endianness: .little)
        writeInteger(a.atimeSec, endianness: .little)
        writeInteger(a.atimeNsec, endianness: .little)
        writeInteger(a.mtimeSec, endianness: .little)
        writeInteger(a.mtimeNsec, endianness: .little)
        writeInteger(a.ctimeSec, endianness: .little)
        writeInteger(a.ctimeNsec, endianness: .little)
        writeInteger(a.btimeSec, endianness: .little)
        writeInteger(a.btimeNsec, endianness: .little)
        writeInteger(a.gen, endianness: .little)
        writeInteger(a.dataVersion, endianness: .little)
    }
}

extension String {
    /// How many of this string's UTF-8 bytes `write9PString` writes: all of
    /// them, or at most 65535 ending on a Unicode scalar boundary.
    var ninePByteCount: Int {
        let utf8 = self.utf8
        let limit = Int(UInt16.max)
        guard utf8.count > limit else { return utf8.count }
        var n = limit
        // Back off while the first byte left out continues the last scalar kept (10xxxxxx).
        while n > 0, utf8[utf8.index(utf8.startIndex, offsetBy: n)] & 0xC0 == 0x80 { n -= 1 }
        return n
    }
}
