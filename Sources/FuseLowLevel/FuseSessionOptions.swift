public import NIOCore

/// How a `FuseSession` mounts and what it negotiates with the kernel at INIT.
public struct FuseSessionOptions: Sendable {
    /// When the kernel may use readdirplus instead of readdir.
    public enum ReaddirPlus: Sendable, Hashable {
        /// Never: only `readdir` is called.
        case never
        /// For every listing (`FUSE_CAP_READDIRPLUS`).
        case always
        /// When the kernel expects the attributes to be used, e.g. `ls -l`
        /// (`FUSE_CAP_READDIRPLUS` and `FUSE_CAP_READDIRPLUS_AUTO`).
        case auto
    }

    /// The largest read and write libfuse 3.14 can receive: its buffer holds
    /// `FUSE_MAX_MAX_PAGES` (256) pages of payload.
    public static let maxTransferSize = 1 << 20

    /// Shown as the source in /proc/mounts (`-o fsname=`).
    public var fsName: String
    /// Shown as `fuse.<subtype>` in /proc/mounts (`-o subtype=`).
    public var subtype: String?
    /// Let users other than the mounting one use the filesystem (`-o allow_other`).
    public var allowOther = false
    /// Let the kernel check permissions from the mode bits (`-o default_permissions`).
    public var defaultPermissions = false
    /// Mount read-only (`-o ro`).
    public var readOnly = false
    /// Largest write request, at most `maxTransferSize`.
    public var maxWrite = FuseSessionOptions.maxTransferSize
    /// Largest read request, at most `maxTransferSize`; passed both as `-o max_read=`
    /// and in `conn->max_read`, as libfuse 3.14 requires.
    public var maxRead = FuseSessionOptions.maxTransferSize
    /// Largest readahead; the kernel's offer (normally 128 KiB) can only be lowered.
    public var maxReadahead = FuseSessionOptions.maxTransferSize
    /// The kernel's readahead window for this mount, in KiB, set once INIT
    /// is done; nil leaves the kernel's (128 KiB). Buffered sequential reads
    /// reach the filesystem as requests of the window's size (up to
    /// `maxRead`), so a window of `maxRead` cuts their number eightfold.
    /// INIT can only lower the window; raising it means writing the mount's
    /// /sys/class/bdi/<device>/read_ahead_kb, which only root may: for
    /// others it stays, and the refusal is logged at debug level.
    public var readAheadKiB: Int?
    /// Most background requests at once; nil keeps the kernel default (12).
    public var maxBackground: Int?
    /// Readdirplus policy. The default is `.never` because the
    /// `FuseOperations.readdirplus` default answers ENOSYS.
    public var readdirPlus = ReaddirPlus.never
    /// Cache writes in the kernel and write them back later (`FUSE_CAP_WRITEBACK_CACHE`).
    /// Off unless asked for: the filesystem then sees writes late, merged,
    /// with `writepage` set and without the writer's credentials.
    public var writebackCache = false
    /// Let the kernel send reads in parallel (`FUSE_CAP_ASYNC_READ`).
    public var asyncRead = true
    /// Let lookups and readdirs of one directory run in parallel (`FUSE_CAP_PARALLEL_DIROPS`).
    public var parallelDirops = true
    /// Threads reading the FUSE device. Callbacks answer later instead of
    /// blocking, so a few threads keep any number of requests outstanding.
    /// Not used when `eventLoop` is set.
    public var workerThreads = 4
    /// Read the FUSE device on this event loop instead of worker threads:
    /// every callback then runs on the loop. For operations that answer
    /// from that same loop (a network client's), this saves a thread
    /// hand-off, and the wake-up it costs, on every request. Callbacks must
    /// then never block: not even briefly on something the loop must do.
    public var eventLoop: (any EventLoop)?
    /// More `-o` mount options, passed to `fuse_session_new` as they are.
    public var extraMountOptions: [String] = []
    /// libfuse prints every request and reply to stderr (`-d`).
    public var debug = false
    /// In debug builds, stop in `assertionFailure` when a reply is sent twice or
    /// dropped unanswered. Either way the bug is logged and counted.
    public var assertOnReplyMisuse = true

    public init(fsName: String, subtype: String? = nil) {
        self.fsName = fsName
        self.subtype = subtype
    }

    var clampedMaxWrite: Int { min(max(maxWrite, 4096), Self.maxTransferSize) }
    var clampedMaxRead: Int { min(max(maxRead, 4096), Self.maxTransferSize) }

    /// The argument vector for `fuse_session_new`; argv[0] is a program name libfuse skips.
    var arguments: [String] {
        var mount = ["fsname=" + Self.escape(fsName), "max_read=\(clampedMaxRead)"]
        if let subtype { mount.append("subtype=" + Self.escape(subtype)) }
        if allowOther { mount.append("allow_other") }
        if defaultPermissions { mount.append("default_permissions") }
        if readOnly { mount.append("ro") }
        var args = ["ninep"]
        for option in mount + extraMountOptions { args += ["-o", option] }
        if debug { args.append("-d") }
        return args
    }

    /// fuse_opt splits `-o` values at commas; a backslash keeps one literal.
    static func escape(_ value: String) -> String {
        var out = ""
        for ch in value {
            if ch == "," || ch == "\\" { out.append("\\") }
            out.append(ch)
        }
        return out
    }
}
