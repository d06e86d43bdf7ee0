/// The flags of Tlopen and Tlcreate: Linux open(2) flags as 9P2000.L carries
/// them on the wire, whatever the client's architecture.
///
/// 9p.h: "/* 9p2000.L open flags */ #define P9_DOTL_RDONLY 00000000 …
/// P9_DOTL_SYNC 04000000" (octal): the values of open(2) on x86 Linux,
/// which a server on another architecture maps to its own.
public struct LinuxOpenFlags: OptionSet, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt32
    @inlinable public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// P9_DOTL_RDONLY 00000000: no bits; the access mode is `rawValue & 3`.
    public static let readOnly: LinuxOpenFlags = []
    /// P9_DOTL_WRONLY 00000001
    public static let writeOnly = LinuxOpenFlags(rawValue: 0o1)
    /// P9_DOTL_RDWR 00000002
    public static let readWrite = LinuxOpenFlags(rawValue: 0o2)
    /// P9_DOTL_NOACCESS 00000003
    public static let noAccess = LinuxOpenFlags(rawValue: 0o3)
    /// P9_DOTL_CREATE 00000100
    public static let create = LinuxOpenFlags(rawValue: 0o100)
    /// P9_DOTL_EXCL 00000200
    public static let exclusive = LinuxOpenFlags(rawValue: 0o200)
    /// P9_DOTL_NOCTTY 00000400
    public static let noControllingTTY = LinuxOpenFlags(rawValue: 0o400)
    /// P9_DOTL_TRUNC 00001000
    public static let truncate = LinuxOpenFlags(rawValue: 0o1000)
    /// P9_DOTL_APPEND 00002000
    public static let append = LinuxOpenFlags(rawValue: 0o2000)
    /// P9_DOTL_NONBLOCK 00004000
    public static let nonBlocking = LinuxOpenFlags(rawValue: 0o4000)
    /// P9_DOTL_DSYNC 00010000
    public static let dataSync = LinuxOpenFlags(rawValue: 0o10000)
    /// P9_DOTL_FASYNC 00020000
    public static let async = LinuxOpenFlags(rawValue: 0o20000)
    /// P9_DOTL_DIRECT 00040000
    public static let direct = LinuxOpenFlags(rawValue: 0o40000)
    /// P9_DOTL_LARGEFILE 00100000
    public static let largeFile = LinuxOpenFlags(rawValue: 0o100000)
    /// P9_DOTL_DIRECTORY 00200000
    public static let directory = LinuxOpenFlags(rawValue: 0o200000)
    /// P9_DOTL_NOFOLLOW 00400000
    public static let noFollow = LinuxOpenFlags(rawValue: 0o400000)
    /// P9_DOTL_NOATIME 01000000
    public static let noAccessTime = LinuxOpenFlags(rawValue: 0o1000000)
    /// P9_DOTL_CLOEXEC 02000000
    public static let closeOnExec = LinuxOpenFlags(rawValue: 0o2000000)
    /// P9_DOTL_SYNC 04000000
    public static let sync = LinuxOpenFlags(rawValue: 0o4000000)

    /// The access mode: one of readOnly, writeOnly, readWrite, noAccess.
    public var access: LinuxOpenFlags { LinuxOpenFlags(rawValue: rawValue & 3) }
    /// Whether the access mode permits reading (O_RDONLY, O_RDWR).
    public var allowsRead: Bool { access == .readOnly || access == .readWrite }
    /// Whether the access mode permits writing (O_WRONLY, O_RDWR).
    public var allowsWrite: Bool { access == .writeOnly || access == .readWrite }

    public var description: String { "0" + String(rawValue, radix: 8) }
}

/// Tgetattr's request_mask and Rgetattr's valid: which attributes are asked
/// for, and which the answer holds.
///
/// protocol.md: "request_mask is a bitmask indicating which fields are
/// requested. valid is a bitmask indicating which fields are valid in the response."
public struct GetattrMask: OptionSet, Hashable, Sendable {
    public var rawValue: UInt64
    @inlinable public init(rawValue: UInt64) { self.rawValue = rawValue }

    /// "#define P9_GETATTR_MODE 0x00000001ULL"
    public static let mode = GetattrMask(rawValue: 0x1)
    /// "#define P9_GETATTR_NLINK 0x00000002ULL"
    public static let nlink = GetattrMask(rawValue: 0x2)
    /// "#define P9_GETATTR_UID 0x00000004ULL"
    public static let uid = GetattrMask(rawValue: 0x4)
    /// "#define P9_GETATTR_GID 0x00000008ULL"
    public static let gid = GetattrMask(rawValue: 0x8)
    /// "#define P9_GETATTR_RDEV 0x00000010ULL"
    public static let rdev = GetattrMask(rawValue: 0x10)
    /// "#define P9_GETATTR_ATIME 0x00000020ULL"
    public static let atime = GetattrMask(rawValue: 0x20)
    /// "#define P9_GETATTR_MTIME 0x00000040ULL"
    public static let mtime = GetattrMask(rawValue: 0x40)
    /// "#define P9_GETATTR_CTIME 0x00000080ULL"
    public static let ctime = GetattrMask(rawValue: 0x80)
    /// "#define P9_GETATTR_INO 0x00000100ULL"
    public static let ino = GetattrMask(rawValue: 0x100)
    /// "#define P9_GETATTR_SIZE 0x00000200ULL"
    public static let size = GetattrMask(rawValue: 0x200)
    /// "#define P9_GETATTR_BLOCKS 0x00000400ULL"
    public static let blocks = GetattrMask(rawValue: 0x400)
    /// "#define P9_GETATTR_BTIME 0x00000800ULL"
    public static let btime = GetattrMask(rawValue: 0x800)
    /// "#define P9_GETATTR_GEN 0x00001000ULL"
    public static let gen = GetattrMask(rawValue: 0x1000)
    /// "#define P9_GETATTR_DATA_VERSION 0x00002000ULL"
    public static let dataVersion = GetattrMask(rawValue: 0x2000)
    /// "#define P9_GETATTR_BASIC 0x000007ffULL /* Mask for fields up to BLOCKS */"
    public static let basic = GetattrMask(rawValue: 0x7ff)
    /// "#define P9_GETATTR_ALL 0x00003fffULL /* Mask for All fields above */"
    public static let all = GetattrMask(rawValue: 0x3fff)
}

/// Tsetattr's valid: which attributes to set.
///
/// protocol.md: "If a time bit is set without the corresponding SET bit, the
/// current system time on the server is used instead of the value sent in the request."
public struct SetattrMask: OptionSet, Hashable, Sendable {
    public var rawValue: UInt32
    @inlinable public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// "#define P9_SETATTR_MODE 0x00000001UL"
    public static let mode = SetattrMask(rawValue: 0x1)
    /// "#define P9_SETATTR_UID 0x00000002UL"
    public static let uid = SetattrMask(rawValue: 0x2)
    /// "#define P9_SETATTR_GID 0x00000004UL"
    public static let gid = SetattrMask(rawValue: 0x4)
    /// "#define P9_SETATTR_SIZE 0x00000008UL"
    public static let size = SetattrMask(rawValue: 0x8)
    /// "#define P9_SETATTR_ATIME 0x00000010UL"
    public static let atime = SetattrMask(rawValue: 0x10)
    /// "#define P9_SETATTR_MTIME 0x00000020UL"
    public static let mtime = SetattrMask(rawValue: 0x20)
    /// "#define P9_SETATTR_CTIME 0x00000040UL"
    public static let ctime = SetattrMask(rawValue: 0x40)
    /// "#define P9_SETATTR_ATIME_SET 0x00000080UL"
    public static let atimeSet = SetattrMask(rawValue: 0x80)
    /// "#define P9_SETATTR_MTIME_SET 0x00000100UL"
    public static let mtimeSet = SetattrMask(rawValue: 0x100)
}

extension OpenMode {
    /// The 9P2000 open mode nearest to Linux open flags: the access mode and
    /// O_TRUNC (O_NOACCESS, which 9P2000 cannot say, becomes OREAD).
    public init(_ flags: LinuxOpenFlags) {
        let access: OpenMode = switch flags.access {
        case .writeOnly: .write
        case .readWrite: .readWrite
        default: .read
        }
        self = access.with(truncate: flags.contains(.truncate))
    }
}
