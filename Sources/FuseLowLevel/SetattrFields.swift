import CFuse

/// Which fields of the attributes a setattr request changes (`FUSE_SET_ATTR_*`).
public struct SetattrFields: OptionSet, Sendable, Hashable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let mode = SetattrFields(rawValue: UInt32(FUSE_SET_ATTR_MODE))
    public static let uid = SetattrFields(rawValue: UInt32(FUSE_SET_ATTR_UID))
    public static let gid = SetattrFields(rawValue: UInt32(FUSE_SET_ATTR_GID))
    /// Truncate or extend to `attr.size`.
    public static let size = SetattrFields(rawValue: UInt32(FUSE_SET_ATTR_SIZE))
    /// Set the access time to `attr.atime`.
    public static let atime = SetattrFields(rawValue: UInt32(FUSE_SET_ATTR_ATIME))
    /// Set the modification time to `attr.mtime`.
    public static let mtime = SetattrFields(rawValue: UInt32(FUSE_SET_ATTR_MTIME))
    /// Set the access time to the filesystem's current time (`attr.atime` is not meaningful).
    public static let atimeNow = SetattrFields(rawValue: UInt32(FUSE_SET_ATTR_ATIME_NOW))
    /// Set the modification time to the filesystem's current time.
    public static let mtimeNow = SetattrFields(rawValue: UInt32(FUSE_SET_ATTR_MTIME_NOW))
    /// Set the change time to `attr.ctime`.
    public static let ctime = SetattrFields(rawValue: UInt32(FUSE_SET_ATTR_CTIME))
}

/// Flags of renameat2(2) passed to rename.
public struct RenameFlags: OptionSet, Sendable, Hashable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    // Values from <linux/fs.h>; Glibc does not export them to Swift.
    /// Fail with `EEXIST` if the new name exists (`RENAME_NOREPLACE`).
    public static let noReplace = RenameFlags(rawValue: 1 << 0)
    /// Atomically swap the two names (`RENAME_EXCHANGE`).
    public static let exchange = RenameFlags(rawValue: 1 << 1)
    /// Leave a whiteout at the old name (`RENAME_WHITEOUT`).
    public static let whiteout = RenameFlags(rawValue: 1 << 2)
}

/// One entry of a batch forget: drop `lookups` from the lookup count of `ino`.
public struct FuseForget: Sendable, Hashable {
    public var ino: UInt64
    public var lookups: UInt64

    public init(ino: UInt64, lookups: UInt64) {
        self.ino = ino
        self.lookups = lookups
    }
}
