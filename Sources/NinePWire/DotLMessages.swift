public import NIOCore

// One value type per 9P2000.L message. Layouts are quoted from diod's
// protocol.md (chaos/diod), numbers from Linux's include/net/9p/9p.h; field
// names follow protocol.md. 9P2000.L also uses Tversion, Tflush, Twalk,
// Tread, Twrite, Tclunk, Tremove and 9P2000.u's Tauth and Tattach.

/// protocol.md: "size[4] Rlerror tag[2] ecode[4] ... ecode is a numerical Linux errno."
public struct Rlerror: Hashable, Sendable {
    public var ecode: UInt32
    public init(ecode: UInt32) { self.ecode = ecode }
}

/// protocol.md: "size[4] Tstatfs tag[2] fid[4]"
public struct Tstatfs: Hashable, Sendable {
    public var fid: Fid
    public init(fid: Fid) { self.fid = fid }
}
/// protocol.md: "size[4] Rstatfs tag[2] type[4] bsize[4] blocks[8] bfree[8]
/// bavail[8] files[8] ffree[8] fsid[8] namelen[4]", the fields of statfs(2).
public struct Rstatfs: Hashable, Sendable {
    public var type: UInt32
    public var bsize: UInt32
    public var blocks: UInt64
    public var bfree: UInt64
    public var bavail: UInt64
    public var files: UInt64
    public var ffree: UInt64
    public var fsid: UInt64
    public var namelen: UInt32
    public init(
        type: UInt32 = 0, bsize: UInt32, blocks: UInt64, bfree: UInt64, bavail: UInt64,
        files: UInt64, ffree: UInt64, fsid: UInt64 = 0, namelen: UInt32 = 255
    ) {
        self.type = type; self.bsize = bsize; self.blocks = blocks; self.bfree = bfree; self.bavail = bavail
        self.files = files; self.ffree = ffree; self.fsid = fsid; self.namelen = namelen
    }
}

/// protocol.md: "size[4] Tlopen tag[2] fid[4] flags[4] ... flags contains
/// Linux open(2) flags bits".
public struct Tlopen: Hashable, Sendable {
    public var fid: Fid
    public var flags: LinuxOpenFlags
    public init(fid: Fid, flags: LinuxOpenFlags) { self.fid = fid; self.flags = flags }
}
/// protocol.md: "size[4] Rlopen tag[2] qid[13] iounit[4]"
public struct Rlopen: Hashable, Sendable {
    public var qid: Qid
    public var iounit: UInt32
    public init(qid: Qid, iounit: UInt32 = 0) { self.qid = qid; self.iounit = iounit }
}

/// protocol.md: "size[4] Tlcreate tag[2] fid[4] name[s] flags[4] mode[4]
/// gid[4] ... fid initially represents the parent directory of the new file.
/// After the call it represents the new file."
public struct Tlcreate: Hashable, Sendable {
    public var fid: Fid
    public var name: String
    public var flags: LinuxOpenFlags
    /// "Linux creat(2) mode bits".
    public var mode: UInt32
    /// "the effective gid of the caller".
    public var gid: UInt32
    public init(fid: Fid, name: String, flags: LinuxOpenFlags, mode: UInt32, gid: UInt32) {
        self.fid = fid; self.name = name; self.flags = flags; self.mode = mode; self.gid = gid
    }
}
/// protocol.md: "size[4] Rlcreate tag[2] qid[13] iounit[4]"
public struct Rlcreate: Hashable, Sendable {
    public var qid: Qid
    public var iounit: UInt32
    public init(qid: Qid, iounit: UInt32 = 0) { self.qid = qid; self.iounit = iounit }
}

/// protocol.md: "size[4] Tsymlink tag[2] fid[4] name[s] symtgt[s] gid[4]"
public struct Tsymlink: Hashable, Sendable {
    /// The directory the link is made in.
    public var fid: Fid
    public var name: String
    public var symtgt: String
    public var gid: UInt32
    public init(fid: Fid, name: String, symtgt: String, gid: UInt32) {
        self.fid = fid; self.name = name; self.symtgt = symtgt; self.gid = gid
    }
}
/// protocol.md: "size[4] Rsymlink tag[2] qid[13]"
public struct Rsymlink: Hashable, Sendable {
    public var qid: Qid
    public init(qid: Qid) { self.qid = qid }
}

/// protocol.md: "size[4] Tmknod tag[2] dfid[4] name[s] mode[4] major[4] minor[4] gid[4]"
public struct Tmknod: Hashable, Sendable {
    public var dfid: Fid
    public var name: String
    /// "Linux mknod(2) mode bits": the file type (S_IFIFO, S_IFCHR …) and permissions.
    public var mode: UInt32
    public var major: UInt32
    public var minor: UInt32
    public var gid: UInt32
    public init(dfid: Fid, name: String, mode: UInt32, major: UInt32 = 0, minor: UInt32 = 0, gid: UInt32) {
        self.dfid = dfid; self.name = name; self.mode = mode; self.major = major; self.minor = minor; self.gid = gid
    }
}
/// protocol.md: "size[4] Rmknod tag[2] qid[13]"
public struct Rmknod: Hashable, Sendable {
    public var qid: Qid
    public init(qid: Qid) { self.qid = qid }
}

/// protocol.md: "size[4] Trename tag[2] fid[4] dfid[4] name[s] ... renames a
/// file system object referenced by fid, to name in the directory referenced by dfid."
public struct Trename: Hashable, Sendable {
    public var fid: Fid
    public var dfid: Fid
    public var name: String
    public init(fid: Fid, dfid: Fid, name: String) { self.fid = fid; self.dfid = dfid; self.name = name }
}
/// protocol.md: "size[4] Rrename tag[2]"
public struct Rrename: Hashable, Sendable { public init() {} }

/// protocol.md: "size[4] Treadlink tag[2] fid[4]"
public struct Treadlink: Hashable, Sendable {
    public var fid: Fid
    public init(fid: Fid) { self.fid = fid }
}
/// protocol.md: "size[4] Rreadlink tag[2] target[s]"
public struct Rreadlink: Hashable, Sendable {
    public var target: String
    public init(target: String) { self.target = target }
}

/// protocol.md: "size[4] Tgetattr tag[2] fid[4] request_mask[8]"
public struct Tgetattr: Hashable, Sendable {
    public var fid: Fid
    public var requestMask: GetattrMask
    public init(fid: Fid, requestMask: GetattrMask) { self.fid = fid; self.requestMask = requestMask }
}
/// protocol.md: "size[4] Rgetattr tag[2] valid[8] qid[13] mode[4] uid[4]
/// gid[4] nlink[8] rdev[8] size[8] blksize[8] blocks[8] atime_sec[8]
/// atime_nsec[8] mtime_sec[8] mtime_nsec[8] ctime_sec[8] ctime_nsec[8]
/// btime_sec[8] btime_nsec[8] gen[8] data_version[8]"
public struct Rgetattr: Hashable, Sendable {
    public var attributes: LinuxAttributes
    public init(attributes: LinuxAttributes) { self.attributes = attributes }
}

/// protocol.md: "size[4] Tsetattr tag[2] fid[4] valid[4] mode[4] uid[4]
/// gid[4] size[8] atime_sec[8] atime_nsec[8] mtime_sec[8] mtime_nsec[8]"
public struct Tsetattr: Hashable, Sendable {
    public var fid: Fid
    /// "a bitmask selecting which fields to set".
    public var valid: SetattrMask
    public var mode: UInt32
    public var uid: UInt32
    public var gid: UInt32
    public var size: UInt64
    public var atimeSec: UInt64
    public var atimeNsec: UInt64
    public var mtimeSec: UInt64
    public var mtimeNsec: UInt64
    public init(
        fid: Fid, valid: SetattrMask, mode: UInt32 = 0, uid: UInt32 = 0, gid: UInt32 = 0, size: UInt64 = 0,
        atimeSec: UInt64 = 0, atimeNsec: UInt64 = 0, mtimeSec: UInt64 = 0, mtimeNsec: UInt64 = 0
    ) {
        self.fid = fid; self.valid = valid; self.mode = mode; self.uid = uid; self.gid = gid; self.size = size
        self.atimeSec = atimeSec; self.atimeNsec = atimeNsec; self.mtimeSec = mtimeSec; self.mtimeNsec = mtimeNsec
    }
}
/// protocol.md: "size[4] Rsetattr tag[2]"
public struct Rsetattr: Hashable, Sendable { public init() {} }

/// protocol.md: "size[4] Txattrwalk tag[2] fid[4] newfid[4] name[s] ...
/// If name is NULL newfid can be used to get the list of extended attributes".
public struct Txattrwalk: Hashable, Sendable {
    public var fid: Fid
    public var newfid: Fid
    /// The attribute to read, or "" for the list of names.
    public var name: String
    public init(fid: Fid, newfid: Fid, name: String) { self.fid = fid; self.newfid = newfid; self.name = name }
}
/// protocol.md: "size[4] Rxattrwalk tag[2] size[8]"
public struct Rxattrwalk: Hashable, Sendable {
    public var size: UInt64
    public init(size: UInt64) { self.size = size }
}

/// protocol.md: "size[4] Txattrcreate tag[2] fid[4] name[s] attr_size[8]
/// flags[4] ... The actual setxattr operation happens when the fid is clunked."
public struct Txattrcreate: Hashable, Sendable {
    public var fid: Fid
    public var name: String
    public var attrSize: UInt64
    /// setxattr(2)'s XATTR_CREATE (1) and XATTR_REPLACE (2).
    public var flags: UInt32
    public init(fid: Fid, name: String, attrSize: UInt64, flags: UInt32 = 0) {
        self.fid = fid; self.name = name; self.attrSize = attrSize; self.flags = flags
    }
    /// setxattr(2): "XATTR_CREATE specifies a pure create".
    public static let create: UInt32 = 1
    /// setxattr(2): "XATTR_REPLACE specifies a pure replace operation".
    public static let replace: UInt32 = 2
}
/// protocol.md: "size[4] Rxattrcreate tag[2]"
public struct Rxattrcreate: Hashable, Sendable { public init() {} }

/// protocol.md: "size[4] Treaddir tag[2] fid[4] offset[8] count[4] ...
/// offset is zero on the first call ... On subsequent calls, offset is the
/// offset returned in the last directory entry of the previous call."
public struct Treaddir: Hashable, Sendable {
    public var fid: Fid
    public var offset: UInt64
    public var count: UInt32
    public init(fid: Fid, offset: UInt64, count: UInt32) { self.fid = fid; self.offset = offset; self.count = count }
}
/// protocol.md: "size[4] Rreaddir tag[2] count[4] data[count]": `DirEntry`s
/// back to back (`ByteBuffer.readDirEntry()`).
public struct Rreaddir: Hashable, Sendable {
    public var data: ByteBuffer
    public init(data: ByteBuffer) { self.data = data }
}

/// protocol.md: "size[4] Tfsync tag[2] fid[4] datasync[4]"
public struct Tfsync: Hashable, Sendable {
    public var fid: Fid
    /// Nonzero: fdatasync(2) rather than fsync(2).
    public var datasync: UInt32
    public init(fid: Fid, datasync: UInt32 = 0) { self.fid = fid; self.datasync = datasync }
}
/// protocol.md: "size[4] Rfsync tag[2]"
public struct Rfsync: Hashable, Sendable { public init() {} }

/// protocol.md: "size[4] Tlock tag[2] fid[4] type[1] flags[4] start[8]
/// length[8] proc_id[4] client_id[s] ... semantics similar to Linux fcntl(F_SETLK)".
public struct Tlock: Hashable, Sendable {
    public var fid: Fid
    public var type: LockType
    public var flags: LockFlags
    public var start: UInt64
    /// 0 means "to the end of the file", as for fcntl(2).
    public var length: UInt64
    public var procId: UInt32
    /// "set to the nodename by the Linux v9fs client".
    public var clientId: String
    public init(
        fid: Fid, type: LockType, flags: LockFlags = [], start: UInt64, length: UInt64, procId: UInt32, clientId: String
    ) {
        self.fid = fid; self.type = type; self.flags = flags; self.start = start; self.length = length
        self.procId = procId; self.clientId = clientId
    }
}
/// protocol.md: "size[4] Rlock tag[2] status[1]"
public struct Rlock: Hashable, Sendable {
    public var status: LockStatus
    public init(status: LockStatus) { self.status = status }
}

/// protocol.md: "size[4] Tgetlock tag[2] fid[4] type[1] start[8] length[8]
/// proc_id[4] client_id[s] ... semantics similar to Linux fcntl(F_GETLK)".
public struct Tgetlock: Hashable, Sendable {
    public var fid: Fid
    public var type: LockType
    public var start: UInt64
    public var length: UInt64
    public var procId: UInt32
    public var clientId: String
    public init(fid: Fid, type: LockType, start: UInt64, length: UInt64, procId: UInt32, clientId: String) {
        self.fid = fid; self.type = type; self.start = start; self.length = length; self.procId = procId
        self.clientId = clientId
    }
}
/// protocol.md: "size[4] Rgetlock tag[2] type[1] start[8] length[8]
/// proc_id[4] client_id[s]": the conflicting lock, or type UNLCK if none.
public struct Rgetlock: Hashable, Sendable {
    public var type: LockType
    public var start: UInt64
    public var length: UInt64
    public var procId: UInt32
    public var clientId: String
    public init(type: LockType, start: UInt64, length: UInt64, procId: UInt32, clientId: String) {
        self.type = type; self.start = start; self.length = length; self.procId = procId; self.clientId = clientId
    }
}

/// protocol.md: "size[4] Tlink tag[2] dfid[4] fid[4] name[s] ... creates a
/// hard link name in directory dfid. The link target is referenced by fid."
public struct Tlink: Hashable, Sendable {
    public var dfid: Fid
    public var fid: Fid
    public var name: String
    public init(dfid: Fid, fid: Fid, name: String) { self.dfid = dfid; self.fid = fid; self.name = name }
}
/// protocol.md: "size[4] Rlink tag[2]"
public struct Rlink: Hashable, Sendable { public init() {} }

/// protocol.md: "size[4] Tmkdir tag[2] dfid[4] name[s] mode[4] gid[4]"
public struct Tmkdir: Hashable, Sendable {
    public var dfid: Fid
    public var name: String
    /// "Linux mkdir(2) mode bits".
    public var mode: UInt32
    public var gid: UInt32
    public init(dfid: Fid, name: String, mode: UInt32, gid: UInt32) {
        self.dfid = dfid; self.name = name; self.mode = mode; self.gid = gid
    }
}
/// protocol.md: "size[4] Rmkdir tag[2] qid[13]"
public struct Rmkdir: Hashable, Sendable {
    public var qid: Qid
    public init(qid: Qid) { self.qid = qid }
}

/// protocol.md: "size[4] Trenameat tag[2] olddirfid[4] oldname[s]
/// newdirfid[4] newname[s] ... If the server returns ENOTSUPP, the client
/// should fall back to the rename operation."
public struct Trenameat: Hashable, Sendable {
    public var olddirfid: Fid
    public var oldname: String
    public var newdirfid: Fid
    public var newname: String
    public init(olddirfid: Fid, oldname: String, newdirfid: Fid, newname: String) {
        self.olddirfid = olddirfid; self.oldname = oldname; self.newdirfid = newdirfid; self.newname = newname
    }
}
/// protocol.md: "size[4] Rrenameat tag[2]"
public struct Rrenameat: Hashable, Sendable { public init() {} }

/// protocol.md: "size[4] Tunlinkat tag[2] dirfd[4] name[s] flags[4] ... If
/// the server returns ENOTSUPP, the client should fall back to the remove operation."
public struct Tunlinkat: Hashable, Sendable {
    public var dirfd: Fid
    public var name: String
    /// 0, or `Tunlinkat.removeDirectory` to remove a directory.
    public var flags: UInt32
    public init(dirfd: Fid, name: String, flags: UInt32 = 0) { self.dirfd = dirfd; self.name = name; self.flags = flags }

    /// 9p.h: "#define P9_DOTL_AT_REMOVEDIR 0x200".
    public static let removeDirectory: UInt32 = 0x200
}
/// protocol.md: "size[4] Runlinkat tag[2]"
public struct Runlinkat: Hashable, Sendable { public init() {} }
