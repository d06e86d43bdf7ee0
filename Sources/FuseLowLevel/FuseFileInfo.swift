import CFuse

/// An open file as libfuse describes it (`struct fuse_file_info`).
///
/// The kernel fills `flags`, `writepage`, `flush`, `flockRelease` and
/// `lockOwner`; open, opendir and create fill `fh` and the caching hints and
/// the kernel hands `fh` back on every later operation on that handle.
public struct FuseFileInfo: Sendable, Hashable {
    /// `open(2)` flags (`O_RDONLY`, `O_TRUNC`, ...). Set in open, create and release.
    public var flags: Int32
    /// The filesystem's handle for this open file, chosen by open/opendir/create.
    public var fh: UInt64
    /// Open reply: bypass the page cache, so every read and write reaches the filesystem.
    public var directIO: Bool
    /// Open reply: keep data cached from earlier opens.
    public var keepCache: Bool
    /// Open reply: the file is not seekable.
    public var nonseekable: Bool
    /// Opendir reply: let the kernel cache this directory's entries.
    public var cacheReaddir: Bool
    /// Open reply: no flush is needed on close.
    public var noFlush: Bool
    /// Write: the write comes from the page cache (writeback), not directly from a process.
    public var writepage: Bool
    /// Release: this release also flushes.
    public var flush: Bool
    /// Release: flock locks of `lockOwner` should be dropped.
    public var flockRelease: Bool
    /// Lock owner id, set in flush and in release with `flockRelease`.
    public var lockOwner: UInt64

    public init(
        flags: Int32 = 0, fh: UInt64 = 0, directIO: Bool = false, keepCache: Bool = false,
        nonseekable: Bool = false, cacheReaddir: Bool = false, noFlush: Bool = false
    ) {
        self.flags = flags
        self.fh = fh
        self.directIO = directIO
        self.keepCache = keepCache
        self.nonseekable = nonseekable
        self.cacheReaddir = cacheReaddir
        self.noFlush = noFlush
        self.writepage = false
        self.flush = false
        self.flockRelease = false
        self.lockOwner = 0
    }

    init(_ fi: fuse_file_info) {
        self.init(
            flags: fi.flags, fh: fi.fh, directIO: fi.direct_io != 0, keepCache: fi.keep_cache != 0,
            nonseekable: fi.nonseekable != 0, cacheReaddir: fi.cache_readdir != 0, noFlush: fi.noflush != 0)
        writepage = fi.writepage != 0
        flush = fi.flush != 0
        flockRelease = fi.flock_release != 0
        lockOwner = fi.lock_owner
    }

    init?(_ fi: UnsafeMutablePointer<fuse_file_info>?) {
        guard let fi else { return nil }
        self.init(fi.pointee)
    }

    var cValue: fuse_file_info {
        var fi = fuse_file_info()
        fi.flags = flags
        fi.fh = fh
        fi.direct_io = directIO ? 1 : 0
        fi.keep_cache = keepCache ? 1 : 0
        fi.nonseekable = nonseekable ? 1 : 0
        fi.cache_readdir = cacheReaddir ? 1 : 0
        fi.noflush = noFlush ? 1 : 0
        fi.lock_owner = lockOwner
        return fi
    }
}
