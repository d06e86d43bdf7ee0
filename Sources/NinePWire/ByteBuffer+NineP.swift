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
    /// the leading size must cover exactly the fields that follow.
    public mutating func readStat() throws(WireError) -> Stat {
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
            guard body.readableBytes == 0 else { throw WireError(.badStatLength) }
            return Stat(
                type: type, dev: dev, qid: qid, mode: FileMode(rawValue: mode), atime: atime,
                mtime: mtime, length: length, name: name, uid: uid, gid: gid, muid: muid)
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

    /// Writes one directory entry with its leading size[2].
    @discardableResult
    public mutating func writeStat(_ d: Stat) -> Int {
        let total = d.wireSize
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
        return total
    }

    /// stat(5): Rstat and Twstat carry "stat[n]": n[2] followed by the entry,
    /// whose own size[2] must be n − 2.
    mutating func readWrappedStat() throws(WireError) -> Stat {
        let n = try readLE(UInt16.self)
        guard readableBytes >= Int(n),
              let inner = getInteger(at: readerIndex, endianness: .little, as: UInt16.self),
              Int(inner) + 2 == Int(n)
        else { throw WireError(.badStatLength) }
        return try readStat()
    }

    mutating func writeWrappedStat(_ d: Stat) {
        writeInteger(UInt16(truncatingIfNeeded: d.wireSize), endianness: .little)
        writeStat(d)
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
