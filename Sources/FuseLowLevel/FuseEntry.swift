import CFuse

/// A directory entry as the kernel caches it: the answer to lookup, mknod,
/// mkdir, symlink, link and create, and one record of readdirplus.
///
/// Every entry with a nonzero `ino` handed to the kernel adds one to that
/// inode's lookup count, which the kernel later gives back through forget.
public struct FuseEntry: Sendable, Hashable {
    /// The node id; 0 makes a negative entry (the name does not exist),
    /// cached for `entryTimeout`.
    public var ino: UInt64
    /// Together with `ino` unique over the filesystem's lifetime if inode
    /// numbers are reused.
    public var generation: UInt64
    public var attr: FuseAttr
    /// Seconds the kernel may cache `attr`.
    public var attrTimeout: Double
    /// Seconds the kernel may cache the name → ino binding.
    public var entryTimeout: Double

    public init(ino: UInt64, generation: UInt64 = 0, attr: FuseAttr, attrTimeout: Double = 1, entryTimeout: Double = 1) {
        self.ino = ino
        self.generation = generation
        self.attr = attr
        self.attrTimeout = attrTimeout
        self.entryTimeout = entryTimeout
    }

    /// A negative entry: the name does not exist, and the kernel may remember that for `timeout` seconds.
    public static func negative(timeout: Double) -> FuseEntry {
        FuseEntry(ino: 0, attr: FuseAttr(ino: 0, mode: 0), attrTimeout: 0, entryTimeout: timeout)
    }

    var cValue: fuse_entry_param {
        var e = fuse_entry_param()
        e.ino = ino
        e.generation = generation
        e.attr = attr.statValue
        e.attr_timeout = attrTimeout
        e.entry_timeout = entryTimeout
        return e
    }
}

/// Well-known node ids.
public enum FuseInode {
    /// The node id of the filesystem's root directory (`FUSE_ROOT_ID`).
    public static let root: UInt64 = 1
}
