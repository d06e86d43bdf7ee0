import Glibc
public import NIOCore
public import NinePWire

// lib9p's readstr, readbuf and dirread9p (9p(3)). Unlike lib9p's, these
// answer the request: they are the last thing a read implementation does.
// Any thread.

/// Answers a Tread from `s`: the bytes of its UTF-8 from the request's
/// offset, at most count of them (none past the end).
public func readStr(_ r: Request, _ s: String) {
    guard case .tread(let t) = r.ifcall else { return r.respond(error: .botch) }
    let utf8 = s.utf8
    guard t.offset < UInt64(utf8.count) else { return r.respond(.rread(Rread(data: ByteBuffer()))) }
    let start = utf8.index(utf8.startIndex, offsetBy: Int(t.offset))
    let end = utf8.index(start, offsetBy: Int(t.count), limitedBy: utf8.endIndex) ?? utf8.endIndex
    r.respond(.rread(Rread(data: ByteBuffer(bytes: utf8[start..<end]))))
}

/// Answers a Tread from `data` (its readable bytes), honouring offset and
/// count. The reply shares `data`'s storage; nothing is copied.
public func readBuf(_ r: Request, _ data: ByteBuffer) {
    guard case .tread(let t) = r.ifcall else { return r.respond(error: .botch) }
    let range = readRange(offset: t.offset, count: t.count, length: data.readableBytes)
    let slice = data.getSlice(at: data.readerIndex + range.lowerBound, length: range.count) ?? ByteBuffer()
    r.respond(.rread(Rread(data: slice)))
}

/// Answers a Tread from `bytes`, honouring offset and count.
public func readBuf(_ r: Request, _ bytes: [UInt8]) {
    guard case .tread(let t) = r.ifcall else { return r.respond(error: .botch) }
    let range = readRange(offset: t.offset, count: t.count, length: bytes.count)
    r.respond(.rread(Rread(data: ByteBuffer(bytes: bytes[range]))))
}

/// The part of a `length`-byte file a read of `count` at `offset` returns.
func readRange(offset: UInt64, count: UInt32, length: Int) -> Range<Int> {
    guard offset < UInt64(length) else { return length..<length }
    let start = Int(offset)
    return start..<(start + min(Int(count), length - start))
}

/// lib9p's dirread9p: answers a Tread of a directory with as many whole
/// entries as fit in count, asking `generator` for entry n (0, 1, …) until
/// it returns nil (end of directory) or throws (the error is the answer).
///
/// read(5): a directory read starts at offset 0 (which restarts the listing)
/// or at the offset where the previous read ended; any other offset is
/// answered "bad offset". The position is kept in `r.fid.directoryPosition`.
/// A read that ends the directory returns zero bytes. If the next entry alone
/// is larger than count, the read is answered with an error rather than
/// zero bytes, which would look like the end.
///
/// The generator is called on the answering thread, with increasing n
/// starting at the entry the previous read stopped before.
public func dirRead(_ r: Request, _ generator: (Int) throws(NinePError) -> Stat?) {
    guard case .tread(let t) = r.ifcall, let fid = r.fid else { return r.respond(error: .botch) }
    var (position, index) = fid.directoryPosition
    if t.offset == 0 {
        index = 0
    } else if t.offset != position {
        return r.respond(error: .badOffset)
    }
    var data = ByteBufferAllocator().buffer(capacity: min(Int(t.count), 8192))
    do throws(NinePError) {
        while let entry = try generator(index) {
            guard data.readableBytes + entry.wireSize(for: r.version) <= Int(t.count) else {
                if data.readableBytes == 0 { return r.respond(error: .directoryEntryTooLarge) }
                break
            }
            data.writeStat(entry, version: r.version)
            index += 1
        }
    } catch {
        return r.respond(error: error)
    }
    fid.directoryPosition = (t.offset + UInt64(data.readableBytes), index)
    r.respond(.rread(Rread(data: data)))
}

/// Answers a Treaddir (9P2000.L) with as many of `entries` as fit in its
/// count, in order. Each entry's `offset` is the cookie a client presents
/// to resume after it; where the listing starts for the request's offset is
/// the caller's choice (`readDir(_:_:)` chooses by index). If the first
/// entry alone does not fit, the answer is EINVAL rather than an empty
/// Rreaddir, which would read as the end of the directory.
public func readDir(_ r: Request, entries: some Sequence<DirEntry>) {
    guard case .treaddir(let t) = r.ifcall else { return r.respond(error: .botch) }
    var data = ByteBufferAllocator().buffer(capacity: min(Int(t.count), 8192))
    for entry in entries {
        guard data.readableBytes + entry.wireSize <= Int(t.count) else {
            if data.readableBytes == 0 { return r.respond(error: NinePError(NinePError.directoryEntryTooLarge.ename, errno: EINVAL)) }
            break
        }
        data.writeDirEntry(entry)
    }
    r.respond(.rreaddir(Rreaddir(data: data)))
}

/// Answers a Treaddir by position: `generator` gives entry n (0, 1, …),
/// or nil past the last, or throws (the error is the answer). Entry n goes
/// out with offset n + 1 (whatever offset the generator set), so a client
/// may resume from any offset it was given, at any time and on any fid of
/// the directory: offset k starts at entry k. A server whose listing can
/// change between reads keeps its entries' positions stable (a removed
/// entry leaves a hole the generator skips, say) or accepts that a resumed
/// listing may skip or repeat a name, as readdir(3) allows.
public func readDir(_ r: Request, _ generator: (Int) throws(NinePError) -> DirEntry?) {
    guard case .treaddir(let t) = r.ifcall else { return r.respond(error: .botch) }
    guard t.offset < UInt64(Int.max) else { return readDir(r, entries: []) }
    var entries: [DirEntry] = []
    var size = 0
    var index = Int(t.offset)
    do throws(NinePError) {
        while size < Int(t.count), var entry = try generator(index) {
            index += 1
            entry.offset = UInt64(index)
            size += entry.wireSize
            entries.append(entry)
        }
    } catch {
        return r.respond(error: error)
    }
    readDir(r, entries: entries)
}
