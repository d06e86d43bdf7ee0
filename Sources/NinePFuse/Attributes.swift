import FuseLowLevel
import Glibc
import NinePWire
import Synchronization
import Dispatch

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

/// Finds the local id of a user or group name (NSS: /etc/passwd, LDAP,
/// SSSD…). It may block for as long as a name service takes to answer:
/// `IdentityMap` calls it on threads of its own, never on an event loop.
public protocol IdentityResolver: Sendable {
    /// The uid of user `name`, or nil if there is no such user.
    func userID(named name: String) -> UInt32?
    /// The gid of group `name`, or nil if there is no such group.
    func groupID(named name: String) -> UInt32?
}

/// The system's name service: getpwnam_r and getgrnam_r.
public struct SystemIdentityResolver: IdentityResolver {
    public init() {}

    public func userID(named name: String) -> UInt32? {
        Self.lookup(passwd(), { getpwnam_r(name, $0, $1, $2, $3) }) { $0.pw_uid }
    }

    public func groupID(named name: String) -> UInt32? {
        Self.lookup(group(), { getgrnam_r(name, $0, $1, $2, $3) }) { $0.gr_gid }
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

/// User and group names of 9P stats mapped to local ids, cached for the
/// life of the mount. A name that is a decimal number is taken as the id;
/// an unknown name maps to the mounting user's uid or gid.
///
/// Names are resolved off the event loop, as the kernel's NFS idmapper
/// does with its upcalls: a request whose stat names someone not yet in
/// the cache waits (`whenKnown`) while the `IdentityResolver` runs on a
/// few serial queues of its own, and every other request goes on meanwhile; each name
/// is asked once, however many requests wait for it. `uid(named:)` and
/// `gid(named:)` only read the cache, so they never block.
///
/// Thread safety: any thread. `whenKnown`'s `then` runs on the caller's
/// thread when every name is cached, else on a resolver's queue.
final class IdentityMap: Sendable {
    private enum Kind: Hashable, Sendable { case user, group }
    private struct Key: Hashable, Sendable {
        let kind: Kind
        let name: String
    }

    private struct State {
        var ids: [Key: UInt32] = [:]
        /// Names being resolved, and what waits for each.
        var resolving: [Key: [@Sendable () -> Void]] = [:]
    }

    private let state = Mutex(State())
    private let resolver: any IdentityResolver
    /// Serial queues, so each runs on a thread of its own (GCD's
    /// overcommitting pool): a concurrent queue would share the
    /// non-overcommitting pool that Swift concurrency runs on, and a
    /// stalled name service would hold its few threads. A name always goes
    /// to the same queue; a slow name holds up the names behind it there.
    private let queues = (0..<4).map { DispatchQueue(label: "ninep.identities.\($0)") }
    let fallbackUID: UInt32
    let fallbackGID: UInt32

    init(resolver: any IdentityResolver = SystemIdentityResolver(), fallbackUID: UInt32 = getuid(), fallbackGID: UInt32 = getgid()) {
        self.resolver = resolver
        self.fallbackUID = fallbackUID
        self.fallbackGID = fallbackGID
    }

    /// The cached uid of `name`; the fallback for a name not (yet) resolved.
    func uid(named name: String) -> UInt32 {
        id(Key(kind: .user, name: name)) ?? fallbackUID
    }

    /// The cached gid of `name`; the fallback for a name not (yet) resolved.
    func gid(named name: String) -> UInt32 {
        id(Key(kind: .group, name: name)) ?? fallbackGID
    }

    private func id(_ key: Key) -> UInt32? {
        if let number = UInt32(key.name) { return number }
        return state.withLock { $0.ids[key] }
    }

    /// Calls `then` once the owner and group of every stat are in the
    /// cache: at once if they are (the usual case), else after the resolver
    /// answered for those that were not.
    func whenKnown(_ stats: some Sequence<Stat>, then: @escaping @Sendable () -> Void) {
        var wanted: Set<Key> = []
        for st in stats {
            wanted.insert(Key(kind: .user, name: st.uid))
            wanted.insert(Key(kind: .group, name: st.gid))
        }
        wanted = wanted.filter { !$0.name.isEmpty && UInt32($0.name) == nil }
        let toResolve = state.withLock { state -> [Key]? in
            let missing = wanted.filter { state.ids[$0] == nil }
            guard !missing.isEmpty else { return nil }
            let countdown = Countdown(missing.count, then)
            var start: [Key] = []
            for key in missing {
                if state.resolving[key] == nil {
                    state.resolving[key] = []
                    start.append(key)
                }
                state.resolving[key]!.append { countdown.arrived() }
            }
            return start
        }
        guard let toResolve else { return then() }
        for key in toResolve {
            queues[abs(key.name.hashValue % queues.count)].async { [self] in
                let found: UInt32?
                switch key.kind {
                case .user: found = resolver.userID(named: key.name)
                case .group: found = resolver.groupID(named: key.name)
                }
                let id = found ?? (key.kind == .user ? fallbackUID : fallbackGID)
                let waiters = state.withLock { state in
                    state.ids[key] = id
                    return state.resolving.removeValue(forKey: key) ?? []
                }
                for waiter in waiters { waiter() }
            }
        }
    }
}

/// Runs `then` once `arrived` has been called `count` times, from any thread.
private final class Countdown: Sendable {
    private let left: Atomic<Int>
    private let then: @Sendable () -> Void

    init(_ count: Int, _ then: @escaping @Sendable () -> Void) {
        left = Atomic(count)
        self.then = then
    }

    func arrived() {
        if left.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 { then() }
    }
}
