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

    /// The mount points of this mount namespace, from the fifth field of mountinfo.
    func mountPoints() -> Set<String> {
        guard let file = fopen(mountInfoPath, "r") else { return [] }
        defer { fclose(file) }
        var points = Set<String>()
        var line: UnsafeMutablePointer<CChar>?
        var capacity = 0
        defer { free(line) }
        while getline(&line, &capacity, file) > 0, let line {
            let fields = String(cString: line).split(separator: " ")
            if fields.count > 4 { points.insert(Self.unescape(fields[4])) }
        }
        return points
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
