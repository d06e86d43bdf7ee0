import FuseLowLevel
import Glibc
import NinePWire
import Synchronization

/// Turns 9P directory entries (stat(5)) into the `struct stat` FUSE wants.
///
/// - ino: the qid.path (0 becomes `UInt64.max`: programs treat ino 0 as
///   "no file"); stable for the life of the mount, like the qid.
/// - mode: the nine permission bits, with `S_IFDIR` for DMDIR and
///   `S_IFREG` for everything else (9P2000 has no other file types).
/// - nlink: 2 for directories, 1 for files (9P2000 does not count links).
/// - uid/gid: the owner and group NAMES looked up locally (`IdentityMap`).
/// - times: atime and mtime (whole seconds); ctime is the mtime.
/// - blocks: the size in 512-byte blocks, rounded up; blksize: the iounit
///   when known, else 64 KiB.
struct AttributeMapper: Sendable {
    let identities: IdentityMap
    static let defaultBlockSize: Int64 = 64 * 1024

    static func ino(_ qid: Qid) -> UInt64 {
        qid.path == 0 ? .max : qid.path
    }

    static func fileType(_ qid: Qid) -> UInt32 {
        qid.isDirectory ? UInt32(S_IFDIR) : UInt32(S_IFREG)
    }

    func attr(_ stat: Stat, iounit: UInt32 = 0) -> FuseAttr {
        let isDirectory = stat.mode.isDirectory || stat.qid.isDirectory
        let mode = (isDirectory ? UInt32(S_IFDIR) : UInt32(S_IFREG)) | stat.mode.permissions
        let mtime = FuseTimespec(seconds: Int64(stat.mtime))
        return FuseAttr(
            ino: Self.ino(stat.qid), mode: mode, nlink: isDirectory ? 2 : 1,
            uid: identities.uid(named: stat.uid), gid: identities.gid(named: stat.gid),
            size: isDirectory ? 0 : stat.length,
            blksize: iounit > 0 ? Int64(iounit) : Self.defaultBlockSize,
            atime: FuseTimespec(seconds: Int64(stat.atime)), mtime: mtime, ctime: mtime)
    }

    /// The attributes of `.` or `..` in a listing: only the inode number and type count.
    static func placeholder(for qid: Qid) -> FuseAttr {
        FuseAttr(ino: ino(qid), mode: fileType(qid))
    }
}

/// User and group names of 9P stats mapped to local ids with
/// getpwnam_r/getgrnam_r, cached for the life of the mount. A name that is
/// a decimal number is taken as the id; an unknown name maps to the
/// mounting user's uid or gid. Callable from any thread; the lookups run
/// outside the cache lock (they may consult NSS over the network).
final class IdentityMap: Sendable {
    private let users = Mutex<[String: UInt32]>([:])
    private let groups = Mutex<[String: UInt32]>([:])
    let fallbackUID: UInt32
    let fallbackGID: UInt32

    init(fallbackUID: UInt32 = getuid(), fallbackGID: UInt32 = getgid()) {
        self.fallbackUID = fallbackUID
        self.fallbackGID = fallbackGID
    }

    func uid(named name: String) -> UInt32 {
        Self.cached(name, in: users, fallback: fallbackUID) {
            Self.lookup(passwd(), { getpwnam_r(name, $0, $1, $2, $3) }) { $0.pw_uid }
        }
    }

    func gid(named name: String) -> UInt32 {
        Self.cached(name, in: groups, fallback: fallbackGID) {
            Self.lookup(group(), { getgrnam_r(name, $0, $1, $2, $3) }) { $0.gr_gid }
        }
    }

    private static func cached(
        _ name: String, in cache: borrowing Mutex<[String: UInt32]>, fallback: UInt32, _ find: () -> UInt32?
    ) -> UInt32 {
        if name.isEmpty { return fallback }
        if let id = cache.withLock({ $0[name] }) { return id }
        let id = UInt32(name) ?? find() ?? fallback
        cache.withLock { $0[name] = id }
        return id
    }

    /// A reentrant NSS lookup with a buffer that grows on ERANGE.
    private static func lookup<Entry>(
        _ empty: Entry,
        _ call: (UnsafeMutablePointer<Entry>, UnsafeMutablePointer<CChar>, Int, UnsafeMutablePointer<UnsafeMutablePointer<Entry>?>) -> Int32,
        extract: (Entry) -> UInt32
    ) -> UInt32? {
        var size = 1024
        while size <= 1 << 20 {
            let found: UInt32?? = withUnsafeTemporaryAllocation(of: CChar.self, capacity: size) { buffer in
                var entry = empty
                var result: UnsafeMutablePointer<Entry>?
                let rc = call(&entry, buffer.baseAddress!, size, &result)
                if rc == ERANGE { return nil }
                return .some(rc == 0 && result != nil ? extract(entry) : nil)
            }
            if let found { return found }
            size *= 4
        }
        return nil
    }
}
