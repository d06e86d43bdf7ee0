import Glibc
import MountInfo

/// Checks made before libfuse is called, so that the common mistakes come
/// back as a `FuseError` that says what to do instead of a line on stderr.
struct Preflight {
    var devicePath = "/dev/fuse"
    var isRoot = geteuid() == 0
    /// Where libfuse looks for fusermount3 when not root.
    var searchPath = Preflight.defaultSearchPath()
    var mountInfoPath = "/proc/self/mountinfo"

    /// Returns the mountpoint as an absolute path without symlinks.
    func check(mountpoint: String) throws(FuseError) -> String {
        if let fd = FuseSession.passedDevice(in: mountpoint) {
            guard fcntl(fd, F_GETFD) != -1 else { throw .mountpointInaccessible(path: mountpoint, errno: EBADF) }
            return mountpoint
        }
        try checkDevice()
        if !isRoot { try checkFusermount() }
        return try checkMountpoint(mountpoint)
    }

    func checkDevice() throws(FuseError) {
        var st = stat()
        guard stat(devicePath, &st) == 0 else {
            if errno == ENOENT { throw .deviceMissing(path: devicePath) }
            throw .deviceNotAccessible(path: devicePath, errno: errno)
        }
        guard access(devicePath, R_OK | W_OK) == 0 else {
            throw .deviceNotAccessible(path: devicePath, errno: errno)
        }
    }

    func checkFusermount() throws(FuseError) {
        let found = searchPath.contains { access($0 + "/fusermount3", X_OK) == 0 }
        if !found { throw .fusermountMissing(searched: searchPath) }
    }

    func checkMountpoint(_ path: String) throws(FuseError) -> String {
        var st = stat()
        guard stat(path, &st) == 0 else {
            switch errno {
            case ENOENT, ENOTDIR: throw .mountpointMissing(path: path)
            case ENOTCONN: throw .mountpointBusy(path: path)  // a FUSE mount whose server is gone
            case let code: throw .mountpointInaccessible(path: path, errno: code)
            }
        }
        guard st.st_mode & S_IFMT == S_IFDIR else { throw .mountpointNotADirectory(path: path) }
        guard let resolved = realpath(path, nil) else {
            throw .mountpointInaccessible(path: path, errno: errno)
        }
        let absolute = String(cString: resolved)
        free(resolved)
        if mountPoints().contains(absolute) { throw .mountpointBusy(path: absolute) }
        return absolute
    }

    /// The mount points of this mount namespace, from the fifth field of mountinfo.
    func mountPoints() -> Set<String> {
        Set(mountEntries().map(\.mountPoint))
    }

    /// The device number of the FUSE filesystem mounted last on `path`
    /// (mounts stack: the last line is the one on top), which names its
    /// backing device info in /sys/class/bdi.
    func fuseDevice(mountedOn path: String) -> String? {
        mountEntries().last { $0.mountPoint == path && ($0.fsType == "fuse" || $0.fsType.hasPrefix("fuse.")) }?.device
    }

    func mountEntries() -> [MountInfo.Entry] {
        MountInfo.entries(path: mountInfoPath)
    }

    static func defaultSearchPath() -> [String] {
        let path = getenv("PATH").map { String(cString: $0) } ?? ""
        var dirs = path.split(separator: ":").map(String.init)
        for dir in ["/usr/bin", "/bin", "/usr/local/bin"] where !dirs.contains(dir) { dirs.append(dir) }
        return dirs
    }
}
