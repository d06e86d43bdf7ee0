import Glibc

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

    /// One line of mountinfo: the device number ("0:52"), where it is
    /// mounted and the filesystem type ("fuse.9p").
    struct MountEntry: Hashable {
        var device: String
        var mountPoint: String
        var fsType: String
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

    /// proc(5): "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root
    /// rw,errors=continue": the device is the third field, the mount point
    /// the fifth, the type follows the lone "-" that ends the optional fields.
    func mountEntries() -> [MountEntry] {
        guard let file = fopen(mountInfoPath, "r") else { return [] }
        defer { fclose(file) }
        var entries: [MountEntry] = []
        var line: UnsafeMutablePointer<CChar>?
        var capacity = 0
        defer { free(line) }
        while getline(&line, &capacity, file) > 0, let line {
            if let entry = Self.parse(mountInfoLine: String(cString: line)) { entries.append(entry) }
        }
        return entries
    }

    static func parse(mountInfoLine line: String) -> MountEntry? {
        let fields = line.split(whereSeparator: { $0 == " " || $0 == "\n" })
        guard fields.count > 4 else { return nil }
        var fsType = ""
        if let separator = fields.dropFirst(6).firstIndex(of: "-"), separator + 1 < fields.count {
            fsType = Self.unescape(fields[separator + 1])
        }
        return MountEntry(device: String(fields[2]), mountPoint: Self.unescape(fields[4]), fsType: fsType)
    }

    /// mountinfo writes space, tab, newline and backslash as octal escapes (`\040`).
    static func unescape(_ field: Substring) -> String {
        var bytes: [UInt8] = []
        var utf8 = Array(field.utf8)[...]
        while let byte = utf8.popFirst() {
            if byte == UInt8(ascii: "\\"), utf8.count >= 3,
                let value = UInt8(String(decoding: utf8.prefix(3), as: UTF8.self), radix: 8)
            {
                bytes.append(value)
                utf8 = utf8.dropFirst(3)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func defaultSearchPath() -> [String] {
        let path = getenv("PATH").map { String(cString: $0) } ?? ""
        var dirs = path.split(separator: ":").map(String.init)
        for dir in ["/usr/bin", "/bin", "/usr/local/bin"] where !dirs.contains(dir) { dirs.append(dir) }
        return dirs
    }
}
