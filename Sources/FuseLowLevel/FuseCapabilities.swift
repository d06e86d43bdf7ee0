import CFuse

/// Features of the FUSE connection (`FUSE_CAP_*`): what the kernel offers
/// (`capable`) and what the session asked for (`want`).
public struct FuseCapabilities: OptionSet, Sendable, Hashable, CustomStringConvertible {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// Reads may be sent in parallel and out of order (readahead in the background).
    public static let asyncRead = FuseCapabilities(FUSE_CAP_ASYNC_READ)
    public static let posixLocks = FuseCapabilities(FUSE_CAP_POSIX_LOCKS)
    /// open(O_TRUNC) truncates in open instead of a separate setattr.
    public static let atomicOTrunc = FuseCapabilities(FUSE_CAP_ATOMIC_O_TRUNC)
    public static let exportSupport = FuseCapabilities(FUSE_CAP_EXPORT_SUPPORT)
    /// The kernel does not apply the umask; the filesystem does.
    public static let dontMask = FuseCapabilities(FUSE_CAP_DONT_MASK)
    public static let spliceWrite = FuseCapabilities(FUSE_CAP_SPLICE_WRITE)
    public static let spliceMove = FuseCapabilities(FUSE_CAP_SPLICE_MOVE)
    public static let spliceRead = FuseCapabilities(FUSE_CAP_SPLICE_READ)
    public static let flockLocks = FuseCapabilities(FUSE_CAP_FLOCK_LOCKS)
    public static let ioctlDir = FuseCapabilities(FUSE_CAP_IOCTL_DIR)
    /// The kernel drops cached data when getattr reports a new mtime or size.
    public static let autoInvalData = FuseCapabilities(FUSE_CAP_AUTO_INVAL_DATA)
    /// The kernel may send readdirplus.
    public static let readdirplus = FuseCapabilities(FUSE_CAP_READDIRPLUS)
    /// The kernel chooses between readdir and readdirplus by how the listing is used.
    public static let readdirplusAuto = FuseCapabilities(FUSE_CAP_READDIRPLUS_AUTO)
    public static let asyncDIO = FuseCapabilities(FUSE_CAP_ASYNC_DIO)
    /// Writes are cached in the page cache and written back later.
    public static let writebackCache = FuseCapabilities(FUSE_CAP_WRITEBACK_CACHE)
    public static let noOpenSupport = FuseCapabilities(FUSE_CAP_NO_OPEN_SUPPORT)
    /// Lookups and readdirs in one directory may run in parallel.
    public static let parallelDirops = FuseCapabilities(FUSE_CAP_PARALLEL_DIROPS)
    public static let posixACL = FuseCapabilities(FUSE_CAP_POSIX_ACL)
    /// The filesystem clears setuid/setgid bits itself on write and chown.
    public static let handleKillpriv = FuseCapabilities(FUSE_CAP_HANDLE_KILLPRIV)
    public static let cacheSymlinks = FuseCapabilities(FUSE_CAP_CACHE_SYMLINKS)
    public static let noOpendirSupport = FuseCapabilities(FUSE_CAP_NO_OPENDIR_SUPPORT)
    public static let explicitInvalData = FuseCapabilities(FUSE_CAP_EXPLICIT_INVAL_DATA)
    public static let expireOnly = FuseCapabilities(FUSE_CAP_EXPIRE_ONLY)

    private init(_ flag: Int32) { self.init(rawValue: UInt32(flag)) }

    private static let names: [(FuseCapabilities, String)] = [
        (.asyncRead, "async_read"), (.posixLocks, "posix_locks"), (.atomicOTrunc, "atomic_o_trunc"),
        (.exportSupport, "export_support"), (.dontMask, "dont_mask"), (.spliceWrite, "splice_write"),
        (.spliceMove, "splice_move"), (.spliceRead, "splice_read"), (.flockLocks, "flock_locks"),
        (.ioctlDir, "ioctl_dir"), (.autoInvalData, "auto_inval_data"), (.readdirplus, "readdirplus"),
        (.readdirplusAuto, "readdirplus_auto"), (.asyncDIO, "async_dio"), (.writebackCache, "writeback_cache"),
        (.noOpenSupport, "no_open_support"), (.parallelDirops, "parallel_dirops"), (.posixACL, "posix_acl"),
        (.handleKillpriv, "handle_killpriv"), (.cacheSymlinks, "cache_symlinks"),
        (.noOpendirSupport, "no_opendir_support"), (.explicitInvalData, "explicit_inval_data"),
        (.expireOnly, "expire_only"),
    ]

    /// The libfuse names of the set flags, e.g. `async_read,readdirplus`.
    public var description: String {
        var rest = self
        var parts: [String] = []
        for (flag, name) in Self.names where contains(flag) {
            parts.append(name)
            rest.remove(flag)
        }
        if !rest.isEmpty { parts.append("0x" + String(rest.rawValue, radix: 16)) }
        return parts.joined(separator: ",")
    }
}
