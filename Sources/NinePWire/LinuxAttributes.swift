/// A file's attributes as Rgetattr carries them: Linux's `struct
/// p9_stat_dotl`, "intended to follow pretty closely the fields returned by
/// the stat(2) system call" (protocol.md), with nanosecond times.
///
/// protocol.md: "st_dev is omitted; st_ino is contained in the path
/// component of qid; times are nanosecond resolution; btime, gen and
/// data_version fields are reserved for future use". `valid` says which
/// fields hold values.
public struct LinuxAttributes: Hashable, Sendable {
    public var valid: GetattrMask
    public var qid: Qid
    /// st_mode: the file type (S_IFMT bits) and permissions.
    public var mode: UInt32
    public var uid: UInt32
    public var gid: UInt32
    public var nlink: UInt64
    public var rdev: UInt64
    public var size: UInt64
    public var blksize: UInt64
    /// Number of 512-byte blocks allocated.
    public var blocks: UInt64
    public var atimeSec: UInt64
    public var atimeNsec: UInt64
    public var mtimeSec: UInt64
    public var mtimeNsec: UInt64
    public var ctimeSec: UInt64
    public var ctimeNsec: UInt64
    public var btimeSec: UInt64
    public var btimeNsec: UInt64
    public var gen: UInt64
    public var dataVersion: UInt64

    public init(
        valid: GetattrMask, qid: Qid, mode: UInt32 = 0, uid: UInt32 = 0, gid: UInt32 = 0, nlink: UInt64 = 0,
        rdev: UInt64 = 0, size: UInt64 = 0, blksize: UInt64 = 0, blocks: UInt64 = 0,
        atimeSec: UInt64 = 0, atimeNsec: UInt64 = 0, mtimeSec: UInt64 = 0, mtimeNsec: UInt64 = 0,
        ctimeSec: UInt64 = 0, ctimeNsec: UInt64 = 0, btimeSec: UInt64 = 0, btimeNsec: UInt64 = 0,
        gen: UInt64 = 0, dataVersion: UInt64 = 0
    ) {
        self.valid = valid; self.qid = qid; self.mode = mode; self.uid = uid; self.gid = gid
        self.nlink = nlink; self.rdev = rdev; self.size = size; self.blksize = blksize; self.blocks = blocks
        self.atimeSec = atimeSec; self.atimeNsec = atimeNsec; self.mtimeSec = mtimeSec; self.mtimeNsec = mtimeNsec
        self.ctimeSec = ctimeSec; self.ctimeNsec = ctimeNsec; self.btimeSec = btimeSec; self.btimeNsec = btimeNsec
        self.gen = gen; self.dataVersion = dataVersion
    }

    /// The encoded length: valid[8] qid[13] mode[4] uid[4] gid[4] and fifteen [8] fields.
    public static let wireSize = 8 + Qid.wireSize + 4 + 4 + 4 + 15 * 8
}

/// One entry of an Rreaddir.
///
/// protocol.md: "Directory entries are represented as variable-length
/// records: qid[13] offset[8] type[1] name[s]". `offset` is where a client
/// resumes (the next Treaddir's offset); `type` is the dirent d_type (DT_DIR …).
public struct DirEntry: Hashable, Sendable {
    public var qid: Qid
    public var offset: UInt64
    public var type: UInt8
    public var name: String
    public init(qid: Qid, offset: UInt64, type: UInt8, name: String) {
        self.qid = qid; self.offset = offset; self.type = type; self.name = name
    }

    /// The encoded length of this entry.
    public var wireSize: Int { Qid.wireSize + 8 + 1 + 2 + name.ninePByteCount }
}
