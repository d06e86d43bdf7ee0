import NIOCore
import NinePServer
import NinePTesting
import NinePWire
import Synchronization
import Testing

/// Swift Testing has its own `Tag`; these tests mean 9P's.
typealias Tag = NinePWire.Tag

/// A small synthetic FileServer that records what reaches it, can hold
/// reads until the test releases them, and answers interrupted on flush.
///
///     /            dir   path 0
///     /file        file  path 1  "hello, world"
///     /dir         dir   path 2
///     /dir/inner   file  path 3  (removable)
///     /slow        file  path 4  reads are held until released
///     /cancel      file  path 5  reads answer "interrupted" when flushed
///     /big         dir   path 6  2,000 files big/e0000… (paths 1000…)
final class TestFS: FileServer {
    struct Node: Sendable {
        var name: String
        var isDirectory: Bool
        var children: [String: UInt64] = [:]
        var contents: String = ""
    }

    static let bigCount = 2_000
    static let nodes: [UInt64: Node] = [
        0: Node(name: "/", isDirectory: true, children: ["file": 1, "dir": 2, "slow": 4, "cancel": 5, "big": 6]),
        1: Node(name: "file", isDirectory: false, contents: "hello, world"),
        2: Node(name: "dir", isDirectory: true, children: ["inner": 3]),
        3: Node(name: "inner", isDirectory: false, contents: "inner"),
        4: Node(name: "slow", isDirectory: false),
        5: Node(name: "cancel", isDirectory: false),
        6: Node(name: "big", isDirectory: true),
    ]

    let seen = Mutex<[MessageType]>([])
    let destroyed = Mutex<[Fid]>([])
    let destroyedRequests = Atomic<Int>(0)
    let ends = Atomic<Int>(0)
    private let created = Atomic<UInt64>(100)

    /// Held reads not yet taken by `nextHeld`, and tests waiting for one.
    private let held = Mutex<(queue: [Request], waiters: [CheckedContinuation<Request, Never>])>(([], []))

    /// The next read the server is holding (waits until one arrives; the
    /// suites' time limits bound the wait).
    func nextHeld() async -> Request {
        await withCheckedContinuation { continuation in
            let ready = held.withLock { h -> Request? in
                if h.queue.isEmpty {
                    h.waiters.append(continuation)
                    return nil
                }
                return h.queue.removeFirst()
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }

    private func hold(_ r: Request) {
        let waiter = held.withLock { h -> CheckedContinuation<Request, Never>? in
            if h.waiters.isEmpty {
                h.queue.append(r)
                return nil
            }
            return h.waiters.removeFirst()
        }
        waiter?.resume(returning: r)
    }

    static func node(_ path: UInt64) -> Node? {
        if let n = nodes[path] { return n }
        if path >= 1000 && path < 1000 + UInt64(bigCount) {
            return Node(name: bigName(Int(path - 1000)), isDirectory: false, contents: "entry \(path)")
        }
        return nil
    }

    static func bigName(_ i: Int) -> String {
        let digits = String(i)
        return "e" + String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }

    static func qid(_ path: UInt64) -> Qid {
        Qid(type: node(path)?.isDirectory == true ? .dir : .file, path: path)
    }

    static func stat(_ path: UInt64) -> Stat {
        let n = node(path)!
        return Stat(
            qid: qid(path), mode: FileMode(permissions: n.isDirectory ? 0o755 : 0o644, flags: n.isDirectory ? .dir : []),
            length: UInt64(n.contents.utf8.count), name: n.name, uid: "glenda", gid: "glenda", muid: "glenda")
    }

    private func note(_ r: Request) { seen.withLock { $0.append(r.ifcall.type) } }
    var seenCount: Int { seen.withLock { $0.count } }

    func attach(_ r: Request) {
        note(r)
        r.fid!.aux = UInt64(0)
        r.respond(.rattach(Rattach(qid: Self.qid(0))))
    }

    func walk(_ r: Request) {
        note(r)
        walkAndClone(r)
    }

    func walk1(_ fid: ServerFid, name: String) throws(NinePError) -> Qid {
        guard let path = fid.aux(as: UInt64.self), let node = Self.node(path), node.isDirectory else { throw .notFound }
        let child: UInt64?
        if path == 6 {
            child = name.hasPrefix("e") ? Int(name.dropFirst()).map { 1000 + UInt64($0) } : nil
        } else {
            child = name == ".." ? 0 : node.children[name]
        }
        guard let child, Self.node(child) != nil else { throw .notFound }
        fid.aux = child
        return Self.qid(child)
    }

    func open(_ r: Request) {
        note(r)
        r.respond(.ropen(Ropen(qid: r.fid!.qid, iounit: 0)))
    }

    func create(_ r: Request) {
        note(r)
        let path = created.wrappingAdd(1, ordering: .relaxed).oldValue
        r.fid!.aux = path
        r.respond(.rcreate(Rcreate(qid: Qid(path: path))))
    }

    func read(_ r: Request) {
        note(r)
        let path = r.fid!.aux(as: UInt64.self)!
        switch path {
        case 4:
            hold(r)
        case 5:
            r.onCancel { r.respond(error: .interrupted) }
            hold(r)
        case 0, 2, 6:
            let children: [UInt64] =
                path == 6
                ? (0..<Self.bigCount).map { 1000 + UInt64($0) }
                : Self.nodes[path]!.children.values.sorted()
            dirRead(r) { i in i < children.count ? Self.stat(children[i]) : nil }
        default:
            readStr(r, Self.node(path)?.contents ?? "")
        }
    }

    func write(_ r: Request) {
        note(r)
        guard case .twrite(let t) = r.ifcall else { return r.respond(error: .botch) }
        r.respond(.rwrite(Rwrite(count: UInt32(t.data.readableBytes))))
    }

    func remove(_ r: Request) {
        note(r)
        if r.fid!.aux(as: UInt64.self) == 3 { return r.respond(.rremove(Rremove())) }
        r.respond(error: .noRemove)
    }

    func stat(_ r: Request) {
        note(r)
        guard let path = r.fid?.aux(as: UInt64.self) else { return r.respond(.rstat(Rstat(stat: Self.stat(0)))) }
        r.respond(.rstat(Rstat(stat: Self.node(path) == nil ? Self.stat(0) : Self.stat(path))))
    }

    func wstat(_ r: Request) {
        note(r)
        r.respond(.rwstat(Rwstat()))
    }

    func flush(_ r: Request) {
        note(r)
        r.oldRequest?.cancel()
        r.respond(.rflush(Rflush()))
    }

    func destroyFid(_ fid: ServerFid) { destroyed.withLock { $0.append(fid.fid) } }
    func destroyRequest(_ r: Request) { destroyedRequests.wrappingAdd(1, ordering: .relaxed) }
    func end() { ends.wrappingAdd(1, ordering: .relaxed) }
}

/// Starts `fs` on an in-memory pair, negotiates a version and (optionally)
/// attaches fid 0.
func session(
    _ fs: any FileServer, options: ServerOptions = ServerOptions(), msize: UInt32 = 65_536,
    attach: Bool = true, uname: String = "glenda"
) async throws -> InMemoryServerConnection {
    let pair = try await InMemoryServerConnection.start(fs, options: options)
    _ = try await pair.client.version(msize: msize)
    if attach { _ = try await pair.client.attach(fid: Fid(0), uname: uname) }
    return pair
}

extension RawNinePClient {
    /// Walks fid 0 to `name` into `fid` and opens it.
    func walkOpen(_ fid: UInt32, _ name: String, _ mode: OpenMode = .read) async throws {
        let walked = try await walk(0, fid, name)
        guard walked.qids?.count == 1 else { throw RawNinePClientError.unexpected(walked) }
        let opened = try await open(fid, mode)
        guard case .ropen = opened else { throw RawNinePClientError.unexpected(opened) }
    }

    /// Sends a read of `fid` on `tag` that `fs` will hold, and returns the held request.
    func heldRead(_ fs: TestFS, fid: UInt32 = 1, tag: Tag) async throws -> Request {
        try await send(Fcall(tag: tag, .tread(Tread(fid: Fid(fid), offset: 0, count: 10))))
        return await fs.nextHeld()
    }

    /// The Rerror text of `message`'s reply, or nil if it succeeded.
    func error(of message: Message, tag: Tag? = nil) async throws -> String? {
        if case .rerror(let e) = try await call(message, tag: tag) { return e.ename }
        return nil
    }

    func walk(_ fid: UInt32, _ newfid: UInt32, _ names: String...) async throws -> Message {
        try await call(.twalk(Twalk(fid: Fid(fid), newfid: Fid(newfid), wname: names)))
    }

    func open(_ fid: UInt32, _ mode: OpenMode) async throws -> Message {
        try await call(.topen(Topen(fid: Fid(fid), mode: mode)))
    }

    func read(_ fid: UInt32, offset: UInt64 = 0, count: UInt32 = 8192) async throws -> Message {
        try await call(.tread(Tread(fid: Fid(fid), offset: offset, count: count)))
    }

    func stat(_ fid: UInt32) async throws -> Message {
        try await call(.tstat(Tstat(fid: Fid(fid))))
    }

    func clunk(_ fid: UInt32) async throws -> Message {
        try await call(.tclunk(Tclunk(fid: Fid(fid))))
    }
}

extension Message {
    var ename: String? {
        if case .rerror(let e) = self { return e.ename }
        return nil
    }

    var readData: [UInt8]? {
        if case .rread(let r) = self { return Array(r.data.readableBytesView) }
        return nil
    }

    var qids: [Qid]? {
        if case .rwalk(let w) = self { return w.wqid }
        return nil
    }

    var statValue: Stat? {
        if case .rstat(let s) = self { return s.stat }
        return nil
    }
}

/// Decodes the directory entries of an Rread.
func entries(_ data: [UInt8]) throws -> [Stat] {
    var buffer = ByteBuffer(bytes: data)
    var out: [Stat] = []
    while buffer.readableBytes > 0 { out.append(try buffer.readStat()) }
    return out
}

/// Answers a request made outside a loop into a box the test reads.
final class ReplyBox: Sendable {
    let value = Mutex<Message?>(nil)
    var message: Message? { value.withLock { $0 } }
    var responder: @Sendable (Message) -> Void { { m in self.value.withLock { $0 = m } } }
}
