public import Glibc
public import NinePWire

// Getattr helpers: Rgetattr's attributes from a 9P2000(.u) stat entry or
// from a host stat(2), and the Linux file type of each.

extension LinuxAttributes {
    /// The attributes a Tgetattr answers for a file known by its 9P stat
    /// entry: the file type from the mode's DM bits (and a 9P2000.u
    /// device's extension, "c 1 3"), the permission and set-id bits, size,
    /// atime and mtime (ctime is mtime: 9P2000 keeps no ctime); uid and gid
    /// when 9P2000.u's numeric ids are set (else they are left out of
    /// `valid`); one link, two for a directory; blocks of 512 bytes.
    public init(stat d: Stat) {
        var valid: GetattrMask = [.mode, .nlink, .rdev, .atime, .mtime, .ctime, .ino, .size, .blocks]
        if d.nUid != NineP.nonuname { valid.insert(.uid) }
        if d.nGid != NineP.nonuname { valid.insert(.gid) }
        var rdev: UInt64 = 0
        if d.mode.contains(.device) {
            let parts = d.extension.split(separator: " ")
            if parts.count == 3, let major = UInt32(parts[1]), let minor = UInt32(parts[2]) {
                rdev = Self.device(major: major, minor: minor)
            }
        }
        self.init(
            valid: valid, qid: d.qid, mode: Self.mode(of: d), uid: valid.contains(.uid) ? d.nUid : 0,
            gid: valid.contains(.gid) ? d.nGid : 0, nlink: d.mode.isDirectory ? 2 : 1, rdev: rdev, size: d.length,
            blksize: 4096, blocks: (d.length + 511) / 512, atimeSec: UInt64(d.atime), mtimeSec: UInt64(d.mtime),
            ctimeSec: UInt64(d.mtime))
    }

    /// The attributes of a host file from its stat(2) (lstat(2) for a link
    /// itself): every basic field, times with nanoseconds. `qid` is the
    /// server's (the export makes its path from st_dev and st_ino).
    public init(host s: Glibc.stat, qid: Qid) {
        self.init(
            valid: .basic, qid: qid, mode: s.st_mode, uid: s.st_uid, gid: s.st_gid, nlink: UInt64(s.st_nlink),
            rdev: UInt64(s.st_rdev), size: UInt64(max(s.st_size, 0)), blksize: UInt64(max(s.st_blksize, 0)),
            blocks: UInt64(max(s.st_blocks, 0)),
            atimeSec: UInt64(bitPattern: Int64(s.st_atim.tv_sec)), atimeNsec: UInt64(s.st_atim.tv_nsec),
            mtimeSec: UInt64(bitPattern: Int64(s.st_mtim.tv_sec)), mtimeNsec: UInt64(s.st_mtim.tv_nsec),
            ctimeSec: UInt64(bitPattern: Int64(s.st_ctim.tv_sec)), ctimeNsec: UInt64(s.st_ctim.tv_nsec))
    }

    /// st_mode for a 9P stat entry: S_IF* from the DM bits, then the
    /// permission and set-id bits.
    static func mode(of d: Stat) -> UInt32 {
        let m = d.mode
        let type: UInt32 =
            if m.isDirectory { UInt32(S_IFDIR) }
            else if m.contains(.symlink) { UInt32(S_IFLNK) }
            else if m.contains(.namedPipe) { UInt32(S_IFIFO) }
            else if m.contains(.socket) { UInt32(S_IFSOCK) }
            else if m.contains(.device) { d.extension.hasPrefix("b") ? UInt32(S_IFBLK) : UInt32(S_IFCHR) }
            else { UInt32(S_IFREG) }
        var bits = m.permissions
        if m.contains(.setuid) { bits |= UInt32(S_ISUID) }
        if m.contains(.setgid) { bits |= UInt32(S_ISGID) }
        if m.contains(.setvtx) { bits |= UInt32(S_ISVTX) }
        return type | bits
    }

    /// Linux's dev_t encoding (glibc's makedev): major and minor split
    /// into the high and low bits of 64.
    public static func device(major: UInt32, minor: UInt32) -> UInt64 {
        let ma = UInt64(major), mi = UInt64(minor)
        return ((ma & 0xffff_f000) << 32) | ((ma & 0xfff) << 8) | ((mi & 0xffff_ff00) << 12) | (mi & 0xff)
    }
}

extension DirEntry {
    /// The dirent d_type (DT_DIR, DT_REG, DT_LNK …) of a file of st_mode
    /// `mode`: its S_IFMT bits shifted down, as Linux's IFTODT.
    public static func type(ofMode mode: UInt32) -> UInt8 {
        UInt8(truncatingIfNeeded: (mode & UInt32(S_IFMT)) >> 12)
    }

    /// The d_type of a file known by its qid only: directory, symbolic
    /// link, or regular file.
    public static func type(of qid: Qid) -> UInt8 {
        if qid.isDirectory { return UInt8(DT_DIR) }
        if qid.type.contains(.symlink) { return UInt8(DT_LNK) }
        return UInt8(DT_REG)
    }
}

extension QidType {
    /// The qid type of a file of st_mode `mode`: DIR, SYMLINK, or none.
    public init(linuxMode mode: UInt32) {
        switch mode & UInt32(S_IFMT) {
        case UInt32(S_IFDIR): self = .dir
        case UInt32(S_IFLNK): self = .symlink
        default: self = .file
        }
    }
}
