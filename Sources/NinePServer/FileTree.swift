public import NIOCore
public import NinePWire
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Permission to ask of a file: the bits of intro(5)'s rwx triplets
/// (lib9p's AREAD, AWRITE, AEXEC).
public struct Access: OptionSet, Hashable, Sendable {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let read = Access(rawValue: 4)
    public static let write = Access(rawValue: 2)
    public static let exec = Access(rawValue: 1)

    /// open(5): what opening with `mode` requires: OREAD read, OWRITE
    /// write, ORDWR both, OEXEC execute; OTRUNC adds write.
    public init(openMode mode: OpenMode) {
        switch mode.access {
        case .read: self = .read
        case .write: self = .write
        case .readWrite: self = [.read, .write]
        default: self = .exec
        }
        if mode.truncate { insert(.write) }
    }
}

/// Who belongs to and leads which group. lib9p's hasperm knows no group
/// files: a user is a member (and the leader) of the group with the same
/// name, which is the default here.
public struct GroupPolicy: Sendable {
    /// Whether `user` is a member of `group`.
    public var isMember: @Sendable (_ user: String, _ group: String) -> Bool
    /// Whether `user` leads `group` (stat(5): may change mode, mtime and gid).
    public var isLeader: @Sendable (_ user: String, _ group: String) -> Bool

    public init(
        isMember: @escaping @Sendable (String, String) -> Bool = { $0 == $1 },
        isLeader: @escaping @Sendable (String, String) -> Bool = { $0 == $1 }
    ) {
        self.isMember = isMember
        self.isLeader = isLeader
    }
}

/// An in-memory file hierarchy (lib9p's Tree, 9p-file(3)): directories and
/// files with Plan 9 metadata and, for files, contents held in memory.
/// Serve one with a `FileTreeServer` (e.g. `RamFS`).
///
/// Thread safety: every `File` guards its own state with a lock; structural
/// changes lock the parent, then the child, never the other way round.
public final class FileTree: Sendable {
    /// The root directory, named "/".
    public let root: File
    let context: TreeContext

    /// - Parameters:
    ///   - owner: uid of the root (and the default gid).
    ///   - group: gid of the root; files created in a directory take its gid.
    ///   - permissions: the root's permission bits.
    ///   - groups: membership and leadership of groups.
    ///   - maxFileSize: writes and truncations beyond this answer "file too large".
    ///   - clock: seconds since the epoch, for atime and mtime (injectable for tests).
    public init(
        owner: String, group: String? = nil, permissions: UInt32 = 0o775,
        groups: GroupPolicy = GroupPolicy(), maxFileSize: UInt64 = 1 << 30,
        clock: @escaping @Sendable () -> UInt32 = FileTree.systemClock
    ) {
        let context = TreeContext(groups: groups, maxFileSize: min(maxFileSize, UInt64(Int.max)), clock: clock)
        self.context = context
        let now = clock()
        let stat = Stat(
            qid: Qid(type: .dir, path: context.newPath()), mode: FileMode(permissions: permissions, flags: .dir),
            atime: now, mtime: now, name: "/", uid: owner, gid: group ?? owner, muid: owner)
        self.root = File(stat: stat, parent: nil, context: context)
    }

    /// Seconds since the epoch from the system clock.
    public static let systemClock: @Sendable () -> UInt32 = { UInt32(truncatingIfNeeded: time(nil)) }

    /// The file at a slash-separated path from the root, or nil.
    public func lookup(_ path: String) -> File? {
        var file = root
        for name in path.split(separator: "/") {
            guard let next = file.walk(String(name)) else { return nil }
            file = next
        }
        return file
    }
}

/// What the files of one tree share.
final class TreeContext: Sendable {
    let groups: GroupPolicy
    let maxFileSize: UInt64
    let clock: @Sendable () -> UInt32
    private let paths = Atomic<UInt64>(0)

    init(groups: GroupPolicy, maxFileSize: UInt64, clock: @escaping @Sendable () -> UInt32) {
        self.groups = groups
        self.maxFileSize = maxFileSize
        self.clock = clock
    }

    /// intro(5): the qid path is "an integer unique among all files in the hierarchy".
    func newPath() -> UInt64 { paths.wrappingAdd(1, ordering: .relaxed).oldValue }
}

/// A file or directory of a `FileTree` (lib9p's File).
///
/// Thread safety: any thread; state is behind the file's lock.
public final class File: Sendable {
    /// The directory holding this file; nil for the root (and once the
    /// directory is gone). Never changes: wstat renames only within a directory.
    public weak let parent: File?
    /// Whether this is a directory (fixed at creation: stat(5) forbids changing DMDIR).
    public let isDirectory: Bool
    let context: TreeContext

    private struct State {
        var stat: Stat
        var children: [String: File] = [:]
        var order: [File] = []
        var data: [UInt8] = []
        var removed = false
        var exclusiveOpen = false
        var aux: (any Sendable)?
        var backing: (any FileBacking)?
    }
    private let state: Mutex<State>

    init(stat: Stat, parent: File?, context: TreeContext) {
        self.parent = parent
        self.isDirectory = stat.mode.isDirectory
        self.context = context
        self.state = Mutex(State(stat: stat))
    }

    /// The directory entry: qid, mode, times, length, names.
    public var stat: Stat { state.withLock { $0.stat } }
    public var qid: Qid { state.withLock { $0.stat.qid } }
    public var name: String { state.withLock { $0.stat.name } }
    /// Whether the file has been removed from its directory.
    public var isRemoved: Bool { state.withLock { $0.removed } }

    /// The server's own state for this file (lib9p's File aux).
    public var aux: (any Sendable)? {
        get { state.withLock { $0.aux } }
        set { state.withLock { $0.aux = newValue } }
    }

    /// What serves the file's contents when the tree does not hold them (a
    /// synthetic file, e.g. `File2Chan`); nil for an ordinary file. Set at
    /// creation; cleared when the file is removed.
    public var backing: (any FileBacking)? { state.withLock { $0.backing } }

    /// The entries of a directory, in creation order (empty for a file).
    public var children: [File] { state.withLock { $0.order } }

    /// The entry `name` of this directory, or nil.
    public func child(named name: String) -> File? { state.withLock { $0.children[name] } }

    /// One step of a walk: ".." goes to the parent (the root's is itself),
    /// anything else to the entry of that name. Permission is not checked.
    public func walk(_ name: String) -> File? {
        guard isDirectory else { return nil }
        if name == ".." { return parent ?? self }
        if name == "." { return self }
        return child(named: name)
    }

    /// lib9p's hasperm: whether `uid` may access the file as asked, from the
    /// other bits, plus the owner bits if uid owns it, plus the group bits if
    /// uid is a member of its group.
    public func hasPermission(_ uid: String, _ access: Access) -> Bool {
        let d = stat
        let want = access.rawValue
        var allowed = d.mode.rawValue & 7
        if want & allowed == want { return true }
        if d.uid == uid {
            allowed |= (d.mode.rawValue >> 6) & 7
            if want & allowed == want { return true }
        }
        if context.groups.isMember(uid, d.gid) {
            allowed |= (d.mode.rawValue >> 3) & 7
            if want & allowed == want { return true }
        }
        return false
    }

    /// open(5): "the permissions of the new file are perm & (~0666 |
    /// (dir.perm & 0666)) for a file, perm & (~0777 | (dir.perm & 0777))
    /// for a directory" — a new file cannot grant what its directory denies.
    public func permissionsForNewEntry(_ perm: FileMode) -> FileMode {
        let dirPerm = stat.mode.rawValue
        let mask: UInt32 = perm.isDirectory ? 0o777 : 0o666
        return FileMode(rawValue: perm.rawValue & (~mask | (dirPerm & mask)))
    }

    /// Makes a new entry in this directory (lib9p's createfile), owned by
    /// `uid`, with this directory's gid and exactly `perm` (apply
    /// `permissionsForNewEntry` first for open(5)'s rule).
    /// Throws "file already exists", "not a directory", or "file does not
    /// exist" if this directory has been removed. A `backing` makes the new
    /// file synthetic: its opens, reads, writes and closes go to it.
    public func create(
        named name: String, uid: String, perm: FileMode, aux: (any Sendable)? = nil,
        backing: (any FileBacking)? = nil
    ) throws(NinePError) -> File {
        guard isDirectory else { throw .notDirectory }
        guard !name.isEmpty, name != ".", name != "..", !name.utf8.contains(UInt8(ascii: "/")) else { throw .badName }
        let now = context.clock()
        let type: QidType = perm.isDirectory ? .dir : perm.qidType
        let result = state.withLock { s -> Result<File, NinePError> in
            if s.removed { return .failure(.doesNotExist) }
            if s.children[name] != nil { return .failure(.exists) }
            let stat = Stat(
                qid: Qid(type: type, path: context.newPath()), mode: perm, atime: now, mtime: now,
                name: name, uid: uid, gid: s.stat.gid, muid: uid)
            let file = File(stat: stat, parent: self, context: context)
            if let aux { file.aux = aux }
            if let backing { file.state.withLock { $0.backing = backing } }
            s.children[name] = file
            s.order.append(file)
            s.stat.mtime = now
            s.stat.qid.version &+= 1
            return .success(file)
        }
        return try result.get()
    }

    /// Removes the file from its directory (lib9p's removefile). A
    /// directory must be empty. The File lives on for fids that still hold
    /// it; `isRemoved` is then true.
    public func remove() throws(NinePError) {
        guard let parent else { throw isRemoved ? .doesNotExist : .removeRoot }
        let now = context.clock()
        let result = parent.state.withLock { p -> NinePError? in
            let own = state.withLock { s -> NinePError? in
                if s.removed { return .doesNotExist }
                if !s.children.isEmpty { return .notEmpty }
                s.removed = true
                s.backing = nil
                return nil
            }
            if let own { return own }
            let name = stat.name
            p.children.removeValue(forKey: name)
            p.order.removeAll { $0 === self }
            p.stat.mtime = now
            p.stat.qid.version &+= 1
            return nil
        }
        if let result { throw result }
    }

    /// Renames the file within its directory. Throws "file already exists"
    /// if the name is taken.
    public func rename(to newName: String) throws(NinePError) {
        guard !newName.isEmpty, newName != ".", newName != "..", !newName.utf8.contains(UInt8(ascii: "/")) else {
            throw .badName
        }
        guard let parent else { throw .permissionDenied }
        let result = parent.state.withLock { p -> NinePError? in
            let old = stat.name
            if old == newName { return nil }
            if p.children[old] !== self { return .doesNotExist }
            if p.children[newName] != nil { return .exists }
            state.withLock { $0.stat.name = newName }
            p.children.removeValue(forKey: old)
            p.children[newName] = self
            return nil
        }
        if let result { throw result }
    }

    /// Changes metadata under the file's lock. The DMDIR bit and qid.type's
    /// directory bit are kept whatever `body` does.
    public func updateStat(_ body: (inout Stat) -> Void) {
        state.withLock { s in
            body(&s.stat)
            let dir: FileMode = isDirectory ? .dir : []
            s.stat.mode = FileMode(rawValue: (s.stat.mode.rawValue & ~FileMode.dir.rawValue) | dir.rawValue)
            s.stat.qid.type = s.stat.mode.qidType
        }
    }

    // MARK: Contents

    /// The file's length in bytes (0 for a directory).
    public var length: UInt64 { state.withLock { $0.stat.length } }

    /// Up to `count` bytes from `offset` (none past the end); updates atime.
    public func read(offset: UInt64, count: UInt32) -> ByteBuffer {
        let now = context.clock()
        return state.withLock { s in
            s.stat.atime = now
            let range = readRange(offset: offset, count: count, length: s.data.count)
            return ByteBuffer(bytes: s.data[range])
        }
    }

    /// Writes `data` at `offset` (at the end for an append-only file),
    /// zero-filling any gap; bumps qid.vers, sets mtime, muid and length.
    /// Returns the byte count written.
    public func write(_ data: ByteBuffer, at offset: UInt64, by uid: String) throws(NinePError) -> UInt32 {
        guard !isDirectory else { throw .isDirectory }
        let now = context.clock()
        let limit = context.maxFileSize
        let result = state.withLock { s -> Result<UInt32, NinePError> in
            let start = s.stat.mode.contains(.append) ? UInt64(s.data.count) : offset
            let (end, overflow) = start.addingReportingOverflow(UInt64(data.readableBytes))
            if overflow || end > limit { return .failure(.fileTooLarge) }
            let begin = Int(start)
            if begin > s.data.count { s.data.append(contentsOf: repeatElement(0, count: begin - s.data.count)) }
            let overlap = min(data.readableBytes, s.data.count - begin)
            data.withUnsafeReadableBytes { bytes in
                s.data.replaceSubrange(begin..<(begin + overlap), with: bytes.prefix(overlap))
                s.data.append(contentsOf: bytes.dropFirst(overlap))
            }
            s.stat.length = UInt64(s.data.count)
            s.stat.mtime = now
            s.stat.muid = uid
            s.stat.qid.version &+= 1
            return .success(UInt32(data.readableBytes))
        }
        return try result.get()
    }

    /// Sets the length, cutting or zero-extending the contents.
    public func truncate(to length: UInt64, by uid: String) throws(NinePError) {
        guard !isDirectory else { throw length == 0 ? NinePError.isDirectory : .wstatDirectoryLength }
        guard length <= context.maxFileSize else { throw .fileTooLarge }
        let now = context.clock()
        state.withLock { s in
            let n = Int(length)
            if n < s.data.count {
                s.data.removeSubrange(n...)
            } else {
                s.data.append(contentsOf: repeatElement(0, count: n - s.data.count))
            }
            s.stat.length = length
            s.stat.mtime = now
            s.stat.muid = uid
            s.stat.qid.version &+= 1
        }
    }

    /// DMEXCL bookkeeping: claims the file for one open fid; false if
    /// another fid has it open. Files without DMEXCL always succeed.
    func claimExclusive() -> Bool {
        state.withLock { s in
            guard s.stat.mode.contains(.exclusive) else { return true }
            if s.exclusiveOpen { return false }
            s.exclusiveOpen = true
            return true
        }
    }

    /// Releases the claim of `claimExclusive`.
    func releaseExclusive() {
        state.withLock { $0.exclusiveOpen = false }
    }
}
