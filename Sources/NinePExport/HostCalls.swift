import Glibc
import NinePWire

// Linux constants the Glibc module does not export (they sit behind
// _GNU_SOURCE). The values are those of the generic Linux ABI, shared by
// x86_64 and arm64.
#if !os(Linux)
#error("NinePExport uses Linux-only system calls (O_PATH, /proc/self/fd)")
#endif

/// Host system-call helpers for the export. Everything here blocks and runs
/// only on the export's worker threads.
enum Host {
    /// open(2): "O_PATH: Obtain a file descriptor that can be used for two
    /// purposes: to indicate a location in the filesystem tree and to perform
    /// operations that act purely at the file descriptor level."
    static let openPath: Int32 = 0o1000_0000
    /// openat(2): AT_EMPTY_PATH operates on the file the descriptor names.
    static let atEmptyPath: Int32 = 0x1000
    /// utimensat(2): leave this timestamp unchanged.
    static let utimeOmit = (1 << 30) - 2

    /// The magic link naming the file open on `fd`. Opening or changing the
    /// file through it reaches exactly that inode, whatever its name is now;
    /// never used for symbolic links, so nothing is followed.
    static func procPath(_ fd: Int32) -> String { "/proc/self/fd/\(fd)" }

    /// Runs a system call, retrying on EINTR, and turns −1 into a
    /// `NinePError` from errno. Not for close(2), which must not be retried.
    @inline(__always)
    static func call<T: BinaryInteger>(_ body: () -> T) throws(NinePError) -> T {
        while true {
            let result = body()
            if result >= 0 { return result }
            let e = errno
            if e != EINTR { throw NinePError(errno: e) }
        }
    }

    /// fstatat(2) with AT_EMPTY_PATH: the status of the file open on `fd`
    /// (an O_PATH descriptor of a symbolic link reports the link itself).
    static func status(of fd: Int32) throws(NinePError) -> stat {
        var st = stat()
        _ = try call { fstatat(fd, "", &st, atEmptyPath) }
        return st
    }

    /// fstatat(2) of `name` in the directory `dirfd`, not following a final
    /// symbolic link.
    static func status(of name: String, in dirfd: Int32) throws(NinePError) -> stat {
        var st = stat()
        _ = try call { fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) }
        return st
    }

    /// A close-on-exec duplicate of `fd`.
    static func duplicate(_ fd: Int32) throws(NinePError) -> Int32 {
        try call { fcntl(fd, F_DUPFD_CLOEXEC, 0) }
    }
}

extension NinePError {
    /// The Plan 9 error text for a host errno, so that clients (and our
    /// FUSE bridge's errno table) recognise it; errnos without a Plan 9
    /// counterpart carry the host's strerror text, which clients relay.
    init(errno e: Int32) {
        switch e {
        case ENOENT: self = .doesNotExist
        case EACCES, EPERM: self = .permissionDenied
        case EEXIST: self = .exists
        case ENOTDIR: self = .notDirectory
        case EISDIR: self = .isDirectory
        case ENOTEMPTY: self = .notEmpty
        case EROFS: self = .readOnly
        case EINTR: self = .interrupted
        default: self = NinePError(String(cString: strerror(e)))
        }
    }

    // Errors of the export with no kernel or lib9p constant.
    static let countTooSmall = NinePError("i/o count too small")
    static let changeDirectoryBit = NinePError("wstat -- attempt to change DMDIR bit")
    static let changeType = NinePError("wstat -- attempt to change type")
    static let changeDevice = NinePError("wstat -- attempt to change dev")
    static let changeQid = NinePError("wstat -- attempt to change qid")
    static let changeMuid = NinePError("wstat -- attempt to change muid")
    static let unknownGroup = NinePError("unknown group")
    static let unsupportedMode = NinePError(
        "append-only, exclusive-use and special files cannot be made on this host export")
    static let specialFile = NinePError("cannot open a device, pipe or socket through the export")
    static let symlinkUnchangeable = NinePError("symbolic links can only be renamed or removed")
}
