import CFuse

/// The answer to readdir or readdirplus being built: entries packed with
/// `fuse_add_direntry` / `fuse_add_direntry_plus` into at most the kernel's
/// `size` bytes. Make one with `reply.makeBuffer()`, add entries until `add`
/// returns false, then `reply.send(buffer)`.
///
/// Each entry carries `nextOffset`, the cookie the kernel passes back as the
/// `offset` of the next readdir to continue after that entry. Cookies must be
/// nonzero (0 means "from the start") and stay valid while the directory is
/// open, even when the caller's buffer was full and the kernel asks again
/// from the middle of what it was sent.
public struct FuseDirectoryBuffer<Kind: FuseDirectoryReplyKind>: @unchecked Sendable {
    // Only passed on to fuse_add_direntry*, which do not use it in libfuse 3.14.
    private let request: OpaquePointer?
    private var storage: [UInt8]
    /// Bytes filled so far.
    public private(set) var used = 0
    /// Entries added so far.
    public private(set) var count = 0

    init(request: OpaquePointer?, capacity: Int) {
        self.request = request
        self.storage = [UInt8](repeating: 0, count: max(0, capacity))
    }

    /// The kernel's size limit.
    public var capacity: Int { storage.count }
    public var isEmpty: Bool { count == 0 }

    func withBytes<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        storage.withUnsafeBytes { body(UnsafeRawBufferPointer(rebasing: $0[..<used])) }
    }

    /// Packs one entry with `pack(buffer, room, name)`, which returns the
    /// space the entry needs and writes it only if it fits.
    private mutating func append(
        name: String, _ pack: (UnsafeMutablePointer<CChar>, Int, UnsafePointer<CChar>) -> Int
    ) -> Bool {
        let room = storage.count - used
        guard room > 0 else { return false }
        let offset = used
        let needed = storage.withUnsafeMutableBytes { raw in
            name.withCString { pack((raw.baseAddress! + offset).assumingMemoryBound(to: CChar.self), room, $0) }
        }
        guard needed <= room else { return false }
        used += needed
        count += 1
        return true
    }
}

extension FuseDirectoryBuffer where Kind == FuseReplyKinds.Directory {
    /// Adds an entry if it fits and returns whether it did. Only `attr.ino`
    /// and the file type bits of `attr.mode` are sent.
    public mutating func add(name: String, attr: FuseAttr, nextOffset: Int64) -> Bool {
        var st = attr.statValue
        let request = request
        return append(name: name) { fuse_add_direntry(request, $0, $1, $2, &st, off_t(nextOffset)) }
    }
}

extension FuseDirectoryBuffer where Kind == FuseReplyKinds.DirectoryPlus {
    /// Adds an entry with its attributes if it fits and returns whether it did.
    ///
    /// The kernel counts every added entry with a nonzero `entry.ino` as a
    /// lookup, except `.` and `..`, even when the caller's buffer cannot take
    /// it: count them, forget will give them back.
    public mutating func add(name: String, entry: FuseEntry, nextOffset: Int64) -> Bool {
        var param = entry.cValue
        let request = request
        return append(name: name) { fuse_add_direntry_plus(request, $0, $1, $2, &param, off_t(nextOffset)) }
    }
}
