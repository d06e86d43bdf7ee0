import Glibc

/// Why a FUSE session could not be mounted, run or notified.
///
/// Each description names the path or option involved and says what to do,
/// so the CLI can print it as is.
public enum FuseError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The FUSE device does not exist: the `fuse` kernel module is not loaded,
    /// or a container was started without the device.
    case deviceMissing(path: String)
    /// The FUSE device exists but this process may not open it for reading and writing.
    case deviceNotAccessible(path: String, errno: Int32)
    /// Not running as root and `fusermount3` (package `fuse3`) is not installed,
    /// so libfuse could not mount.
    case fusermountMissing(searched: [String])
    /// The mountpoint does not exist.
    case mountpointMissing(path: String)
    /// The mountpoint exists but is not a directory.
    case mountpointNotADirectory(path: String)
    /// Something is already mounted on the mountpoint, or a dead FUSE mount
    /// ("Transport endpoint is not connected") is still there.
    case mountpointBusy(path: String)
    /// The mountpoint could not be examined (permissions, I/O error).
    case mountpointInaccessible(path: String, errno: Int32)
    /// `fuse_session_new` rejected the arguments; libfuse printed the reason on stderr.
    case sessionCreationFailed(arguments: [String])
    /// `fuse_session_mount` failed for another reason.
    case mountFailed(path: String, errno: Int32)
    /// `run()` was called a second time.
    case alreadyRunning
    /// Reading the FUSE device failed; the loop stopped and the filesystem was unmounted.
    case deviceReadFailed(errno: Int32)
    /// A notification was sent after the filesystem was unmounted.
    case notConnected
    /// The kernel refused an invalidation notice. `ENOENT` means it had
    /// nothing cached for that inode or entry, which callers may ignore.
    case notifyFailed(errno: Int32)

    public var description: String {
        switch self {
        case .deviceMissing(let path):
            return "\(path) does not exist: load the fuse kernel module (modprobe fuse) or give the container the device (--device /dev/fuse)"
        case .deviceNotAccessible(let path, let code):
            return "cannot open \(path) for reading and writing (\(Self.text(code))): run as root or make the device readable and writable"
        case .fusermountMissing(let searched):
            return "fusermount3 not found in \(searched.joined(separator: ":")): install the fuse3 package, or run as root"
        case .mountpointMissing(let path):
            return "mountpoint \(path) does not exist: create the directory first"
        case .mountpointNotADirectory(let path):
            return "mountpoint \(path) is not a directory"
        case .mountpointBusy(let path):
            return "mountpoint \(path) is already mounted: unmount it first (fusermount3 -u \(path))"
        case .mountpointInaccessible(let path, let code):
            return "cannot examine mountpoint \(path): \(Self.text(code))"
        case .sessionCreationFailed(let arguments):
            return "libfuse rejected the options \(arguments.dropFirst().joined(separator: " ")) (see its message above)"
        case .mountFailed(let path, let code):
            return "mounting on \(path) failed: \(Self.text(code))"
        case .alreadyRunning:
            return "the FUSE session is already running or has finished; make a new session to mount again"
        case .deviceReadFailed(let code):
            return "reading the FUSE device failed: \(Self.text(code)); the filesystem was unmounted"
        case .notConnected:
            return "the filesystem is no longer mounted"
        case .notifyFailed(let code):
            return "the kernel refused the invalidation: \(Self.text(code))"
        }
    }

    static func text(_ code: Int32) -> String {
        String(cString: strerror(code)) + " (errno \(code))"
    }
}
