import Glibc

/// The attributes of an inode: a Swift mirror of the `struct stat` fields FUSE uses.
public struct FuseAttr: Sendable, Hashable {
    /// Inode number; the kernel shows it as `st_ino`.
    public var ino: UInt64
    /// File type and permission bits, as `st_mode` (`S_IFREG | 0o644`, ...).
    public var mode: UInt32
    public var nlink: UInt64
    public var uid: UInt32
    public var gid: UInt32
    /// Device number of a character or block special file.
    public var rdev: UInt64
    /// Size in bytes.
    public var size: UInt64
    /// Preferred I/O size.
    public var blksize: Int64
    /// Number of 512-byte blocks allocated.
    public var blocks: UInt64
    public var atime: FuseTimespec
    public var mtime: FuseTimespec
    public var ctime: FuseTimespec

    public init(
        ino: UInt64, mode: UInt32, nlink: UInt64 = 1, uid: UInt32 = 0, gid: UInt32 = 0,
        rdev: UInt64 = 0, size: UInt64 = 0, blksize: Int64 = 4096, blocks: UInt64? = nil,
        atime: FuseTimespec = .zero, mtime: FuseTimespec = .zero, ctime: FuseTimespec = .zero
    ) {
        self.ino = ino
        self.mode = mode
        self.nlink = nlink
        self.uid = uid
        self.gid = gid
        self.rdev = rdev
        self.size = size
        self.blksize = blksize
        self.blocks = blocks ?? (size + 511) / 512
        self.atime = atime
        self.mtime = mtime
        self.ctime = ctime
    }

    /// The type bits of `mode` (`S_IFDIR`, `S_IFREG`, ...).
    public var fileType: UInt32 { mode & UInt32(S_IFMT) }
    public var isDirectory: Bool { fileType == UInt32(S_IFDIR) }

    init(_ st: stat) {
        self.init(
            ino: UInt64(st.st_ino), mode: st.st_mode, nlink: UInt64(st.st_nlink),
            uid: st.st_uid, gid: st.st_gid, rdev: UInt64(st.st_rdev),
            size: UInt64(clamping: st.st_size), blksize: Int64(st.st_blksize),
            blocks: UInt64(clamping: st.st_blocks),
            atime: FuseTimespec(st.st_atim), mtime: FuseTimespec(st.st_mtim), ctime: FuseTimespec(st.st_ctim))
    }

    var statValue: stat {
        var st = stat()
        st.st_ino = UInt(ino)
        st.st_mode = mode
        st.st_nlink = UInt(nlink)
        st.st_uid = uid
        st.st_gid = gid
        st.st_rdev = UInt(rdev)
        st.st_size = Int(clamping: size)
        st.st_blksize = Int(blksize)
        st.st_blocks = Int(clamping: blocks)
        st.st_atim = atime.timespecValue
        st.st_mtim = mtime.timespecValue
        st.st_ctim = ctime.timespecValue
        return st
    }
}
