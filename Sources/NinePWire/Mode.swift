/// The mode byte of Topen and Tcreate.
///
/// open(5): "The mode field determines the type of I/O: 0 (called OREAD in
/// <libc.h>), 1 (OWRITE), 2 (ORDWR), and 3 (OEXEC) mean read access, write
/// access, read and write access, and execute access ... if mode has the
/// OTRUNC (0x10) bit set, the file is to be truncated ... and ORCLOSE
/// (0x40) ... the file is to be removed when the fid is clunked."
public struct OpenMode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt8
    @inlinable public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let read = OpenMode(rawValue: 0)
    public static let write = OpenMode(rawValue: 1)
    public static let readWrite = OpenMode(rawValue: 2)
    public static let exec = OpenMode(rawValue: 3)

    public static let truncateBit: UInt8 = 0x10
    public static let removeOnCloseBit: UInt8 = 0x40

    /// The access part: one of read, write, readWrite, exec.
    public var access: OpenMode { OpenMode(rawValue: rawValue & 3) }
    public var truncate: Bool { rawValue & Self.truncateBit != 0 }
    public var removeOnClose: Bool { rawValue & Self.removeOnCloseBit != 0 }

    /// Whether the access permits reading (OREAD, ORDWR, OEXEC).
    public var allowsRead: Bool { access != .write }
    /// Whether the access permits writing (OWRITE, ORDWR).
    public var allowsWrite: Bool { access == .write || access == .readWrite }

    public func with(truncate: Bool = false, removeOnClose: Bool = false) -> OpenMode {
        var raw = rawValue & 3
        if truncate { raw |= Self.truncateBit }
        if removeOnClose { raw |= Self.removeOnCloseBit }
        return OpenMode(rawValue: raw)
    }

    public var description: String {
        var s = ["OREAD", "OWRITE", "ORDWR", "OEXEC"][Int(rawValue & 3)]
        if truncate { s += "|OTRUNC" }
        if removeOnClose { s += "|ORCLOSE" }
        let other = rawValue & ~(3 | Self.truncateBit | Self.removeOnCloseBit)
        if other != 0 { s += "|0x" + String(other, radix: 16) }
        return s
    }
}

/// The 32-bit mode word of a Dir: permission bits plus DM* flags.
///
/// stat(5): "The mode contains permission bits as described in intro(5) and
/// the following: 0x80000000 (DMDIR, this file is a directory), 0x40000000
/// (DMAPPEND, append only), 0x20000000 (DMEXCL, exclusive use), 0x04000000
/// (DMTMP, temporary); these are echoed in Qid.type."
public struct FileMode: OptionSet, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt32
    @inlinable public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let dir = FileMode(rawValue: 0x8000_0000)
    public static let append = FileMode(rawValue: 0x4000_0000)
    public static let exclusive = FileMode(rawValue: 0x2000_0000)
    public static let mount = FileMode(rawValue: 0x1000_0000)
    public static let auth = FileMode(rawValue: 0x0800_0000)
    public static let tmp = FileMode(rawValue: 0x0400_0000)
    // 9P2000.u extensions, 9p.h: "P9_DMSYMLINK = 0x02000000, P9_DMLINK =
    // 0x01000000, P9_DMDEVICE = 0x00800000, P9_DMNAMEDPIPE = 0x00200000,
    // P9_DMSOCKET = 0x00100000, P9_DMSETUID = 0x00080000, P9_DMSETGID =
    // 0x00040000, P9_DMSETVTX = 0x00010000".
    /// 9P2000.u DMSYMLINK: a symbolic link; the stat's extension is its target.
    public static let symlink = FileMode(rawValue: 0x0200_0000)
    /// 9P2000.u DMLINK: a hard link (Tcreate's extension names the target's fid).
    public static let link = FileMode(rawValue: 0x0100_0000)
    /// 9P2000.u DMDEVICE: a device; the extension is "b major minor" or "c major minor".
    public static let device = FileMode(rawValue: 0x0080_0000)
    /// 9P2000.u DMNAMEDPIPE: a FIFO.
    public static let namedPipe = FileMode(rawValue: 0x0020_0000)
    /// 9P2000.u DMSOCKET: a unix-domain socket.
    public static let socket = FileMode(rawValue: 0x0010_0000)
    /// 9P2000.u DMSETUID.
    public static let setuid = FileMode(rawValue: 0x0008_0000)
    /// 9P2000.u DMSETGID.
    public static let setgid = FileMode(rawValue: 0x0004_0000)
    /// 9P2000.u DMSETVTX: the sticky bit.
    public static let setvtx = FileMode(rawValue: 0x0001_0000)

    public static let ownerRead = FileMode(rawValue: 0o400)
    public static let ownerWrite = FileMode(rawValue: 0o200)
    public static let ownerExec = FileMode(rawValue: 0o100)

    /// The nine permission bits rwxrwxrwx.
    public var permissions: UInt32 { rawValue & 0o777 }

    @inlinable
    public init(permissions: UInt32, flags: FileMode = []) {
        self.rawValue = (permissions & 0o777) | flags.rawValue
    }

    /// The qid type these mode bits echo: the top 8 bits.
    public var qidType: QidType { QidType(rawValue: UInt8(truncatingIfNeeded: rawValue >> 24)) }

    public var isDirectory: Bool { contains(.dir) }

    /// Like ls -l: d-rwxr-xr-x, with a and l for DMAPPEND and DMEXCL.
    public var description: String {
        var s = contains(.dir) ? "d" : contains(.append) ? "a" : contains(.exclusive) ? "l" : "-"
        let p = permissions
        for shift in stride(from: 6, through: 0, by: -3) {
            let bits = (p >> UInt32(shift)) & 7
            s += bits & 4 != 0 ? "r" : "-"
            s += bits & 2 != 0 ? "w" : "-"
            s += bits & 1 != 0 ? "x" : "-"
        }
        return s
    }
}
