import Dispatch
import FuseLowLevel
import Glibc
import NIOCore
import Synchronization

/// A small in-memory filesystem on `FuseOperations`, mounted for real by the tests.
///
/// The tree it starts with:
///
///     hello.txt    "Hello, world!\n"
///     big/         5,000 empty files f00000 … f04999
///     late.txt     every answer sent later from a Dispatch queue
///     gate         direct I/O; reads are held until `gateWidth` are waiting, then all answered
///     block        direct I/O; a read is answered only when interrupted (EINTR)
///     direct.bin   direct I/O, 1 MiB + 1 of a pattern, for whole-MiB reads
///     dropped      lookup drops its reply (the library answers EIO)
///     twice        lookup answers ENOENT twice (the second is a logged bug)
///
/// Everything else is an ordinary writable file and directory table.
/// symlink, link, mknod and readlink are left to the ENOSYS defaults.
final class MemoryFileSystem: FuseOperations {
    enum Special: Sendable { case late, gate, block, direct }

    struct Node {
        var attr: FuseAttr
        var parent: UInt64
        var data: [UInt8] = []
        var children: [String: UInt64] = [:]
        var special: Special?
    }

    struct State {
        var nodes: [UInt64: Node] = [:]
        var nextIno: UInt64 = FuseInode.root + 1
        var nextHandle: UInt64 = 1
        /// Children sorted by name, per directory, made on first listing and dropped on change.
        var sorted: [UInt64: [(String, UInt64)]] = [:]
        /// Held gate reads: their replies and offsets.
        var gate: [(FuseDataReply, Int64, Int)] = []
        var mostGated = 0
        /// Reads of `block`, kept so a test can answer them itself.
        var blocked: [FuseDataReply] = []
    }

    /// What the filesystem saw, for the tests to check.
    struct Record {
        var connection: FuseConnectionInfo?
        var destroyed = false
        var writeSizes: [Int] = []
        var readSizes: [Int] = []
        var readdirCalls = 0
        var readdirplusCalls = 0
        var lateAnswers = 0
        var interruptsSeen = 0
        /// `isInterrupted` as the interrupt handler saw it.
        var interruptedFlagInHandler = false
        var forgotten: UInt64 = 0
        /// The threads (pthread_self) that ran lookup and read callbacks.
        var callbackThreads: Set<UInt> = []
    }

    static let bigCount = 5_000
    static let hello = Array("Hello, world!\n".utf8)

    let state = Mutex(State())
    let record = Mutex(Record())
    /// Reads held at the gate before all are answered.
    let gateWidth: Int
    /// Signalled when a read of `block` arrived and waits for its interrupt.
    let blockedReadArrived = DispatchSemaphore(value: 0)
    /// Signalled after `twice` was answered the second time: the caller may
    /// have its ENOENT before that.
    let answeredTwice = DispatchSemaphore(value: 0)

    init(gateWidth: Int = 8) {
        self.gateWidth = gateWidth
        let root = FuseInode.root
        var state = State()
        state.nodes[root] = Node(attr: Self.attr(ino: root, mode: S_IFDIR | 0o755), parent: root)
        Self.add(&state, "hello.txt", parent: root, mode: S_IFREG | 0o644, data: Self.hello)
        let big = Self.add(&state, "big", parent: root, mode: S_IFDIR | 0o755)
        for index in 0..<Self.bigCount {
            Self.add(&state, "f" + String(100_000 + index).dropFirst(), parent: big, mode: S_IFREG | 0o644)
        }
        Self.add(&state, "late.txt", parent: root, mode: S_IFREG | 0o644, data: Array("late hello\n".utf8), special: .late)
        Self.add(&state, "gate", parent: root, mode: S_IFREG | 0o644, data: Self.pattern(4096), special: .gate)
        Self.add(&state, "block", parent: root, mode: S_IFREG | 0o644, data: Self.hello, special: .block)
        Self.add(&state, "direct.bin", parent: root, mode: S_IFREG | 0o644, data: Self.pattern(1 << 20 + 1), special: .direct)
        self.state.withLock { $0 = state }
    }

    /// Bytes 0, 1, …, 250, 0, 1, …: a pattern whose offsets show.
    static func pattern(_ count: Int) -> [UInt8] {
        (0..<count).map { UInt8($0 % 251) }
    }

    private static func attr(ino: UInt64, mode: UInt32, size: Int = 0) -> FuseAttr {
        let now = FuseTimespec.now()
        return FuseAttr(
            ino: ino, mode: mode, nlink: mode & S_IFMT == S_IFDIR ? 2 : 1, uid: getuid(), gid: getgid(),
            size: UInt64(size), atime: now, mtime: now, ctime: now)
    }

    @discardableResult
    private static func add(
        _ state: inout State, _ name: String, parent: UInt64, mode: UInt32, data: [UInt8] = [], special: Special? = nil
    ) -> UInt64 {
        let ino = state.nextIno
        state.nextIno += 1
        state.nodes[ino] = Node(attr: attr(ino: ino, mode: mode, size: data.count), parent: parent, data: data, special: special)
        state.nodes[parent]!.children[name] = ino
        state.sorted[parent] = nil
        return ino
    }

    private func entry(_ attr: FuseAttr) -> FuseEntry {
        FuseEntry(ino: attr.ino, attr: attr, attrTimeout: 0, entryTimeout: 0)
    }

    /// Answers on a Dispatch queue after the operation returned, for `late.txt`.
    private func later(_ special: Special?, _ answer: @escaping @Sendable () -> Void) {
        guard special == .late else { return answer() }
        record.withLock { $0.lateAnswers += 1 }
        DispatchQueue.global().async(execute: answer)
    }

    // MARK: Session

    func initialize(connection: FuseConnectionInfo) {
        record.withLock { $0.connection = connection }
    }

    func destroy() {
        record.withLock { $0.destroyed = true }
    }

    func forget(ino: UInt64, lookups: UInt64) {
        record.withLock { $0.forgotten += lookups }
    }

    // MARK: Names

    func lookup(_ context: FuseRequestContext, parent: UInt64, name: String, reply: FuseEntryReply) {
        record.withLock { _ = $0.callbackThreads.insert(UInt(pthread_self())) }
        if parent == FuseInode.root && name == "dropped" { return }
        if parent == FuseInode.root && name == "twice" {
            reply.error(ENOENT)
            reply.error(ENOENT)
            answeredTwice.signal()
            return
        }
        let found = state.withLock { state in
            state.nodes[parent]?.children[name].flatMap { state.nodes[$0] }
        }
        guard let found else { return reply.error(ENOENT) }
        later(found.special) { reply.entry(self.entry(found.attr)) }
    }

    func getattr(_ context: FuseRequestContext, ino: UInt64, fileInfo: FuseFileInfo?, reply: FuseAttrReply) {
        guard let node = state.withLock({ $0.nodes[ino] }) else { return reply.error(ENOENT) }
        later(node.special) { reply.attr(node.attr, timeout: 0) }
    }

    func setattr(
        _ context: FuseRequestContext, ino: UInt64, attr: FuseAttr, fields: SetattrFields, fileInfo: FuseFileInfo?,
        reply: FuseAttrReply
    ) {
        let result = state.withLock { state -> FuseAttr? in
            guard var node = state.nodes[ino] else { return nil }
            if fields.contains(.mode) { node.attr.mode = node.attr.fileType | (attr.mode & 0o7777) }
            if fields.contains(.uid) { node.attr.uid = attr.uid }
            if fields.contains(.gid) { node.attr.gid = attr.gid }
            if fields.contains(.size) { Self.resize(&node, to: Int(attr.size)) }
            if fields.contains(.atime) { node.attr.atime = attr.atime }
            if fields.contains(.mtime) { node.attr.mtime = attr.mtime }
            if fields.contains(.atimeNow) { node.attr.atime = .now() }
            if fields.contains(.mtimeNow) { node.attr.mtime = .now() }
            node.attr.ctime = .now()
            state.nodes[ino] = node
            return node.attr
        }
        guard let result else { return reply.error(ENOENT) }
        reply.attr(result, timeout: 0)
    }

    private static func resize(_ node: inout Node, to size: Int) {
        if size < node.data.count {
            node.data.removeLast(node.data.count - size)
        } else {
            node.data += [UInt8](repeating: 0, count: size - node.data.count)
        }
        node.attr.size = UInt64(size)
        node.attr.blocks = UInt64((size + 511) / 512)
    }

    func mkdir(_ context: FuseRequestContext, parent: UInt64, name: String, mode: UInt32, reply: FuseEntryReply) {
        make(parent: parent, name: name, mode: mode & 0o7777 | S_IFDIR) { result in
            switch result {
            case .success(let attr): reply.entry(self.entry(attr))
            case .failure(let code): reply.error(code.rawValue)
            }
        }
    }

    func create(
        _ context: FuseRequestContext, parent: UInt64, name: String, mode: UInt32, fileInfo: FuseFileInfo,
        reply: FuseCreateReply
    ) {
        make(parent: parent, name: name, mode: mode & 0o7777 | S_IFREG) { result in
            switch result {
            case .success(let attr): reply.create(self.entry(attr), FuseFileInfo(fh: self.handle()))
            case .failure(let code): reply.error(code.rawValue)
            }
        }
    }

    struct Errno: Error { let rawValue: Int32 }

    private func make(parent: UInt64, name: String, mode: UInt32, _ done: (Result<FuseAttr, Errno>) -> Void) {
        let result = state.withLock { state -> Result<FuseAttr, Errno> in
            guard let dir = state.nodes[parent], dir.attr.isDirectory else { return .failure(Errno(rawValue: ENOENT)) }
            guard dir.children[name] == nil else { return .failure(Errno(rawValue: EEXIST)) }
            let ino = Self.add(&state, name, parent: parent, mode: mode)
            return .success(state.nodes[ino]!.attr)
        }
        done(result)
    }

    private func handle() -> UInt64 {
        state.withLock { state in
            defer { state.nextHandle += 1 }
            return state.nextHandle
        }
    }

    func unlink(_ context: FuseRequestContext, parent: UInt64, name: String, reply: FuseStatusReply) {
        remove(parent: parent, name: name, directory: false, reply: reply)
    }

    func rmdir(_ context: FuseRequestContext, parent: UInt64, name: String, reply: FuseStatusReply) {
        remove(parent: parent, name: name, directory: true, reply: reply)
    }

    private func remove(parent: UInt64, name: String, directory: Bool, reply: FuseStatusReply) {
        let code = state.withLock { state -> Int32 in
            guard let ino = state.nodes[parent]?.children[name], let node = state.nodes[ino] else { return ENOENT }
            if node.attr.isDirectory != directory { return directory ? ENOTDIR : EISDIR }
            if directory && !node.children.isEmpty { return ENOTEMPTY }
            state.nodes[parent]!.children[name] = nil
            state.nodes[ino] = nil
            state.sorted[parent] = nil
            return 0
        }
        code == 0 ? reply.ok() : reply.error(code)
    }

    func rename(
        _ context: FuseRequestContext, parent: UInt64, name: String, newParent: UInt64, newName: String,
        flags: RenameFlags, reply: FuseStatusReply
    ) {
        let code = state.withLock { state -> Int32 in
            guard flags.subtracting(.noReplace).isEmpty else { return EINVAL }
            guard let ino = state.nodes[parent]?.children[name] else { return ENOENT }
            guard let target = state.nodes[newParent], target.attr.isDirectory else { return ENOENT }
            if let existing = target.children[newName] {
                if flags.contains(.noReplace) { return EEXIST }
                if state.nodes[existing]?.children.isEmpty == false { return ENOTEMPTY }
                state.nodes[existing] = nil
            }
            state.nodes[parent]!.children[name] = nil
            state.nodes[newParent]!.children[newName] = ino
            state.nodes[ino]!.parent = newParent
            state.sorted[parent] = nil
            state.sorted[newParent] = nil
            return 0
        }
        code == 0 ? reply.ok() : reply.error(code)
    }

    // MARK: Files

    func open(_ context: FuseRequestContext, ino: UInt64, fileInfo: FuseFileInfo, reply: FuseOpenReply) {
        let special = state.withLock { state -> Special?? in
            guard state.nodes[ino] != nil else { return nil }
            // FUSE_CAP_ATOMIC_O_TRUNC: truncation comes with open, not as a setattr.
            if fileInfo.flags & O_TRUNC != 0 { Self.resize(&state.nodes[ino]!, to: 0) }
            return .some(state.nodes[ino]!.special)
        }
        guard let special else { return reply.error(ENOENT) }
        let direct = special == .gate || special == .block || special == .direct
        let info = FuseFileInfo(fh: handle(), directIO: direct)
        later(special) { reply.open(info) }
    }

    func read(
        _ context: FuseRequestContext, ino: UInt64, size: Int, offset: Int64, fileInfo: FuseFileInfo,
        reply: FuseDataReply
    ) {
        record.withLock {
            $0.readSizes.append(size)
            $0.callbackThreads.insert(UInt(pthread_self()))
        }
        guard let node = state.withLock({ $0.nodes[ino] }) else { return reply.error(ENOENT) }
        switch node.special {
        case .block:
            state.withLock { $0.blocked.append(reply) }
            reply.onInterrupt {
                self.record.withLock {
                    $0.interruptsSeen += 1
                    $0.interruptedFlagInHandler = reply.isInterrupted
                }
                reply.error(EINTR)
            }
            blockedReadArrived.signal()
        case .gate:
            let released = state.withLock { state -> [(FuseDataReply, Int64, Int)] in
                state.gate.append((reply, offset, size))
                state.mostGated = max(state.mostGated, state.gate.count)
                guard state.gate.count >= gateWidth else { return [] }
                defer { state.gate = [] }
                return state.gate
            }
            for (waiting, offset, size) in released {
                DispatchQueue.global().async { waiting.data(Self.slice(node.data, offset, size)) }
            }
        default:
            later(node.special) { reply.data(Self.slice(node.data, offset, size)) }
        }
    }

    private static func slice(_ data: [UInt8], _ offset: Int64, _ size: Int) -> ArraySlice<UInt8> {
        let start = min(Int(offset), data.count)
        return data[start..<min(start + size, data.count)]
    }

    func write(
        _ context: FuseRequestContext, ino: UInt64, data buffer: ByteBuffer, offset: Int64,
        fileInfo: FuseFileInfo, reply: FuseWriteReply
    ) {
        let data = buffer.readableBytesView
        record.withLock { $0.writeSizes.append(data.count) }
        let written = state.withLock { state -> Bool in
            guard var node = state.nodes[ino] else { return false }
            state.nodes[ino] = nil  // avoid copying the bytes on write
            let end = Int(offset) + data.count
            if end > node.data.count { Self.resize(&node, to: end) }
            node.data.replaceSubrange(Int(offset)..<end, with: data)
            node.attr.mtime = .now()
            state.nodes[ino] = node
            return true
        }
        written ? reply.written(data.count) : reply.error(ENOENT)
    }

    func flush(_ context: FuseRequestContext, ino: UInt64, fileInfo: FuseFileInfo, reply: FuseStatusReply) {
        reply.ok()
    }

    func release(_ context: FuseRequestContext, ino: UInt64, fileInfo: FuseFileInfo, reply: FuseStatusReply) {
        reply.ok()
    }

    func fsync(
        _ context: FuseRequestContext, ino: UInt64, dataOnly: Bool, fileInfo: FuseFileInfo, reply: FuseStatusReply
    ) {
        reply.ok()
    }

    // MARK: Directories

    func opendir(_ context: FuseRequestContext, ino: UInt64, fileInfo: FuseFileInfo, reply: FuseOpenReply) {
        reply.open(FuseFileInfo(fh: handle()))
    }

    func releasedir(_ context: FuseRequestContext, ino: UInt64, fileInfo: FuseFileInfo, reply: FuseStatusReply) {
        reply.ok()
    }

    /// Up to `limit` entries from index `offset` of `.`, `..` and the
    /// children by name; the cookie of entry i is i + 1.
    private func listing(_ ino: UInt64, from offset: Int64, limit: Int) -> [(String, FuseAttr)]? {
        state.withLock { state in
            guard let dir = state.nodes[ino], dir.attr.isDirectory else { return nil }
            let sorted = state.sorted[ino] ?? dir.children.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
            state.sorted[ino] = sorted
            let all = [(".", ino), ("..", dir.parent)] + sorted
            return all.dropFirst(Int(offset)).prefix(limit).compactMap { name, child in
                state.nodes[child].map { (name, $0.attr) }
            }
        }
    }

    func readdir(
        _ context: FuseRequestContext, ino: UInt64, size: Int, offset: Int64, fileInfo: FuseFileInfo,
        reply: FuseDirectoryReply
    ) {
        record.withLock { $0.readdirCalls += 1 }
        list(ino, from: offset, into: reply) { $0.add(name: $1, attr: $2, nextOffset: $3) }
    }

    func readdirplus(
        _ context: FuseRequestContext, ino: UInt64, size: Int, offset: Int64, fileInfo: FuseFileInfo,
        reply: FuseDirectoryPlusReply
    ) {
        record.withLock { $0.readdirplusCalls += 1 }
        list(ino, from: offset, into: reply) { $0.add(name: $1, entry: self.entry($2), nextOffset: $3) }
    }

    /// Fills the reply's buffer from cookie `offset` with `add` until it is full.
    private func list<Kind>(
        _ ino: UInt64, from offset: Int64, into reply: FuseReply<Kind>,
        add: (inout FuseDirectoryBuffer<Kind>, String, FuseAttr, Int64) -> Bool
    ) {
        // An entry takes at least 32 bytes, so `size / 32` entries are enough.
        guard let entries = listing(ino, from: offset, limit: reply.size / 32) else { return reply.error(ENOTDIR) }
        var buffer = reply.makeBuffer()
        for (index, (name, attr)) in entries.enumerated() {
            guard add(&buffer, name, attr, offset + Int64(index) + 1) else { break }
        }
        reply.send(buffer)
    }

    func statfs(_ context: FuseRequestContext, ino: UInt64, reply: FuseStatfsReply) {
        let files = state.withLock { UInt64($0.nodes.count) }
        reply.statfs(FuseStatvfs(blockSize: 4096, blocks: 1_000, blocksFree: 600, files: files, filesFree: 1_000))
    }
}
