import Glibc
import NinePWire
import Synchronization

/// Turns host file status into 9P directory entries and qids.
///
/// qid.path: the inode number, with the top 16 bits XORed with a hash of
/// the device relative to the export root's device. Files on the root's
/// file system therefore get exactly their inode number, files on file
/// systems mounted below the root are kept apart by the hash, and nothing
/// depends on memory: the same file has the same qid after a server restart
/// (as long as the host keeps its device numbers), which the reconnecting
/// client relies on. Two files on different devices collide only if their
/// inode numbers differ just in the top 16 bits and the hashes match.
///
/// qid.vers: the change time (ctime, seconds and nanoseconds) folded into
/// 32 bits, so it moves whenever the data or metadata change.
///
/// Symbolic links are shown as plain read-only files (mode 0444) whose
/// contents are the link's target; 9P2000 has no symbolic links and the
/// export never follows one. Devices, pipes and sockets are shown as plain
/// files that cannot be opened. DMAPPEND and DMEXCL are never reported:
/// Linux has no such mode bits.
struct HostStatus: Sendable {
    /// st_dev of the export root.
    let rootDevice: UInt64
    let names: IdentityNames

    func qid(_ st: stat) -> Qid {
        let kind = HostNode.Kind(mode: st.st_mode)
        let deviceBits = Self.mix(UInt64(st.st_dev) ^ rootDevice) & 0xFFFF_0000_0000_0000
        let ctime = UInt64(bitPattern: Int64(st.st_ctim.tv_sec)) &* 0x9E37_79B9_7F4A_7C15
            ^ UInt64(bitPattern: Int64(st.st_ctim.tv_nsec))
        return Qid(
            type: kind == .directory ? .dir : .file,
            version: UInt32(truncatingIfNeeded: ctime ^ (ctime >> 32)),
            path: UInt64(st.st_ino) ^ deviceBits)
    }

    /// The directory entry for `st`, named `name` ("/" for a root).
    func entry(_ st: stat, name: String) -> Stat {
        let kind = HostNode.Kind(mode: st.st_mode)
        let mode: FileMode
        switch kind {
        case .directory: mode = FileMode(permissions: UInt32(st.st_mode), flags: .dir)
        case .symlink: mode = FileMode(permissions: 0o444)
        case .regular, .special: mode = FileMode(permissions: UInt32(st.st_mode))
        }
        let uid = names.user(st.st_uid)
        return Stat(
            qid: qid(st), mode: mode,
            atime: Self.seconds(st.st_atim), mtime: Self.seconds(st.st_mtim),
            length: kind == .regular || kind == .symlink ? UInt64(max(0, st.st_size)) : 0,
            name: name, uid: uid, gid: names.group(st.st_gid), muid: uid)
    }

    /// A 9P time: seconds since the epoch, clamped to 32 bits.
    static func seconds(_ t: timespec) -> UInt32 { UInt32(clamping: t.tv_sec) }

    /// MurmurHash3's 64-bit finaliser: a bijection with mix(0) == 0.
    static func mix(_ x: UInt64) -> UInt64 {
        var z = x
        z ^= z >> 33
        z &*= 0xFF51_AFD7_ED55_8CCD
        z ^= z >> 33
        z &*= 0xC4CE_B9FE_1A85_EC53
        z ^= z >> 33
        return z
    }
}

/// User and group names from the host's databases (getpwuid_r,
/// getgrgid_r, getgrnam_r), cached for the life of the server; ids without a
/// name are shown as decimal numbers. Called on worker threads only (the
/// lookups may read files or ask NSS over the network); the caches are
/// lock-guarded.
final class IdentityNames: Sendable {
    private let users = Mutex<[UInt32: String]>([:])
    private let groups = Mutex<[UInt32: String]>([:])

    func user(_ uid: uid_t) -> String {
        Self.cached(uid, in: users) {
            Self.lookup(passwd(), { getpwuid_r(uid, $0, $1, $2, $3) }) { $0.pw_name.map { String(cString: $0) } }
        }
    }

    func group(_ gid: gid_t) -> String {
        Self.cached(gid, in: groups) {
            Self.lookup(Glibc.group(), { getgrgid_r(gid, $0, $1, $2, $3) }) { $0.gr_name.map { String(cString: $0) } }
        }
    }

    /// The group named `name`, or a decimal group id; nil if unknown.
    func groupID(named name: String) -> gid_t? {
        Self.lookup(Glibc.group(), { getgrnam_r(name, $0, $1, $2, $3) }) { $0.gr_gid } ?? gid_t(name)
    }

    private static func cached(_ id: UInt32, in cache: borrowing Mutex<[UInt32: String]>, _ find: () -> String?) -> String {
        if let name = cache.withLock({ $0[id] }) { return name }
        let name = find() ?? String(id)
        cache.withLock { $0[id] = name }
        return name
    }

    /// Runs a reentrant NSS lookup (getpwuid_r and kin) with a buffer that
    /// grows on ERANGE, and takes what `extract` wants from the entry while
    /// its strings are still valid.
    private static func lookup<Entry, T>(
        _ empty: Entry,
        _ call: (UnsafeMutablePointer<Entry>, UnsafeMutablePointer<CChar>, Int, UnsafeMutablePointer<UnsafeMutablePointer<Entry>?>) -> Int32,
        extract: (Entry) -> T?
    ) -> T? {
        var size = 1024
        while size <= 1 << 20 {
            let found: T?? = withUnsafeTemporaryAllocation(of: CChar.self, capacity: size) { buf in
                var entry = empty
                var result: UnsafeMutablePointer<Entry>?
                let rc = call(&entry, buf.baseAddress!, size, &result)
                if rc == ERANGE { return nil }
                return .some(rc == 0 && result != nil ? extract(entry) : nil)
            }
            if let found { return found }
            size *= 4
        }
        return nil
    }
}
