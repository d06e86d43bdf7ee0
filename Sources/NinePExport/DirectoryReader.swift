import Glibc
import NIOCore
import NinePWire

/// Directory reads of an open directory fid: packed directory entries, read
/// with readdir(3) from a duplicate of the fid's descriptor.
///
/// read(5): "For directories, read returns an integral number of directory
/// entries exactly as in stat ... the offset must be zero or the offset
/// returned by the previous read of the directory." Offset 0 rewinds; any
/// other offset must be where the previous read ended ("bad offset"). An
/// entry that does not fit is kept and returned first by the next read; a
/// count too small for even one entry is an error rather than a false end
/// of directory.
///
/// Private to the export: to be replaced by NinePServer's `dirRead` helper
/// once that lands. Unchecked Sendable: it belongs to an `OpenFile` and is
/// used only inside its `ExportFid`'s lock, one worker thread at a time.
final class DirectoryReader: @unchecked Sendable {
    private let stream: OpaquePointer
    /// The 9P offset at which the next read continues.
    private var offset: UInt64 = 0
    /// An entry read from the stream that did not fit in the last reply.
    private var pending: Stat?

    /// Reads the directory open on `fd` (which stays the caller's).
    init(duplicating fd: Int32) throws(NinePError) {
        let copy = try Host.duplicate(fd)
        guard let stream = fdopendir(copy) else {
            let e = errno
            close(copy)
            throw NinePError(errno: e)
        }
        self.stream = stream
    }

    deinit { closedir(stream) }

    /// Packs whole entries, at most `count` bytes, starting at `offset`.
    /// `entry` makes the directory entry for a name in this directory, or
    /// nil to leave it out (it vanished, or cannot be shown).
    func read(
        offset requested: UInt64, count: Int, entry: (_ dirfd: Int32, _ name: String) -> Stat?
    ) throws(NinePError) -> ByteBuffer {
        if requested == 0 {
            rewinddir(stream)
            offset = 0
            pending = nil
        } else if requested != offset {
            throw .badOffset
        }
        var out = ByteBufferAllocator().buffer(capacity: min(count, 64 * 1024))
        while true {
            let next: Stat
            if let kept = pending {
                next = kept
                pending = nil
            } else if let read = try nextEntry(entry) {
                next = read
            } else {
                break
            }
            if out.readableBytes + next.wireSize > count {
                pending = next
                if out.readableBytes == 0 { throw .countTooSmall }
                break
            }
            out.writeStat(next)
        }
        offset += UInt64(out.readableBytes)
        return out
    }

    /// The next showable entry, skipping "." and "..", names that are not
    /// UTF-8 (9P names are), and entries `entry` leaves out.
    private func nextEntry(_ entry: (Int32, String) -> Stat?) throws(NinePError) -> Stat? {
        let dirfd = Glibc.dirfd(stream)
        while true {
            errno = 0
            guard let dirent = readdir(stream) else {
                if errno != 0 { throw NinePError(errno: errno) }
                return nil
            }
            let decoded = withUnsafeBytes(of: &dirent.pointee.d_name) { raw in
                String(validating: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            guard let name = decoded, name != ".", name != ".." else { continue }
            if let stat = entry(dirfd, name) { return stat }
        }
    }
}
