import Foundation
import Glibc
import NIOCore
import NIOPosix
import NinePExport
import NinePServer
import NinePWire
import Synchronization
import Testing

/// An Rerror as a Swift error, so tests can `#expect(throws:)` a 9P error.
struct ServerError: Error, Equatable, CustomStringConvertible {
    let ename: String
    init(_ ename: String) { self.ename = ename }
    init(_ error: NinePError) { self.ename = error.ename }
    var description: String { ename }
}

/// Resumes a continuation once: with the server's answer or at the deadline.
private final class ReplySlot: Sendable {
    private let state = Mutex<(continuation: CheckedContinuation<Message, Never>?, reply: Message?)>((nil, nil))

    func install(_ c: CheckedContinuation<Message, Never>) {
        let early = state.withLock { s -> Message? in
            if let r = s.reply { return r }
            s.continuation = c
            return nil
        }
        if let early { c.resume(returning: early) }
    }

    func resume(_ reply: Message) {
        let c = state.withLock { s -> CheckedContinuation<Message, Never>? in
            guard s.reply == nil else { return nil }
            s.reply = reply
            defer { s.continuation = nil }
            return s.continuation
        }
        c?.resume(returning: reply)
    }
}

/// A temporary directory tree exported by an `ExportFileServer`, driven
/// request by request as the service loop would.
final class Harness: Sendable {
    /// The host path of the exported directory.
    let root: String
    /// A host directory beside the export, holding "secret": nothing may reach it.
    let outside: String
    let server: ExportFileServer
    private let nextFid = Atomic<UInt32>(1)

    init(root: String, outside: String, server: ExportFileServer) {
        self.root = root
        self.outside = outside
        self.server = server
    }

    /// Hands a request to the server the way the loop does and waits (with
    /// a deadline) for its answer.
    func send(_ m: Message, fid: ServerFid? = nil, newfid: ServerFid? = nil) async -> Message {
        let slot = ReplySlot()
        let request = Request(tag: Tag(1), ifcall: m, fid: fid, newfid: newfid) { slot.resume($0) }
        return await Harness.answer(request, slot: slot) { Harness.dispatch(request, to: self.server) }
    }

    /// Waits for the answer in `slot` after running `start`, or until the deadline.
    private static func answer(_ r: Request, slot: ReplySlot, start: () -> Void) async -> Message {
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                try? await Task.sleep(for: .seconds(30))
                slot.resume(.rerror(Rerror(ename: "test deadline: no answer to \(r.ifcall.type)")))
            }
            let reply = await withCheckedContinuation { c in
                slot.install(c)
                start()
            }
            group.cancelAll()
            return reply
        }
    }

    /// A request whose answer can be awaited later; for tests that look at
    /// what happens before the answer.
    /// `observe` sees the answer first, on the thread that gives it.
    static func pending(
        _ m: Message, fid: ServerFid?, observe: @escaping @Sendable (Message) -> Void = { _ in }
    ) -> (Request, () async -> Message) {
        let slot = ReplySlot()
        let request = Request(tag: Tag(2), ifcall: m, fid: fid) {
            observe($0)
            slot.resume($0)
        }
        return (request, { await answer(request, slot: slot) {} })
    }

    static func dispatch(_ r: Request, to server: ExportFileServer) {
        switch r.ifcall {
        case .tattach: server.attach(r)
        case .twalk: server.walk(r)
        case .topen: server.open(r)
        case .tcreate: server.create(r)
        case .tread: server.read(r)
        case .twrite: server.write(r)
        case .tremove: server.remove(r)
        case .tstat: server.stat(r)
        case .twstat: server.wstat(r)
        case .tflush: server.flush(r)
        default: r.respond(error: .botch)
        }
    }

    func newFid() -> ServerFid {
        ServerFid(fid: Fid(nextFid.add(1, ordering: .relaxed).newValue), uname: "tester")
    }

    // MARK: One call per transaction; an Rerror is thrown as ServerError.

    @discardableResult
    func attach(_ aname: String = "") async throws -> (fid: ServerFid, qid: Qid) {
        let fid = newFid()
        let reply = await send(.tattach(Tattach(fid: fid.fid, uname: "tester", aname: aname)), fid: fid)
        guard case .rattach(let r) = reply else { throw unexpected(reply) }
        fid.qid = r.qid
        return (fid, r.qid)
    }

    /// Walks into a new fid (or `newfid`); returns the qids, fewer for a short walk.
    func walk(_ fid: ServerFid, _ names: [String], into newfid: ServerFid? = nil) async throws -> (fid: ServerFid, qids: [Qid]) {
        let target = newfid ?? newFid()
        let reply = await send(.twalk(Twalk(fid: fid.fid, newfid: target.fid, wname: names)), fid: fid, newfid: target)
        guard case .rwalk(let r) = reply else { throw unexpected(reply) }
        if r.wqid.count == names.count, let last = r.wqid.last { target.qid = last }
        return (target, r.wqid)
    }

    /// A fresh fid walked from the root by `path` ("a/b/c"); must walk fully.
    func fid(_ path: String) async throws -> ServerFid {
        let (root, _) = try await attach()
        let names = path.split(separator: "/").map(String.init)
        let (fid, qids) = try await walk(root, names)
        guard qids.count == names.count else { throw ServerError("short walk to \(path)") }
        return fid
    }

    @discardableResult
    func open(_ fid: ServerFid, _ mode: OpenMode) async throws -> Qid {
        let reply = await send(.topen(Topen(fid: fid.fid, mode: mode)), fid: fid)
        guard case .ropen(let r) = reply else { throw unexpected(reply) }
        fid.openMode = mode
        fid.qid = r.qid
        return r.qid
    }

    @discardableResult
    func create(_ fid: ServerFid, _ name: String, perm: FileMode, mode: OpenMode) async throws -> Qid {
        let reply = await send(.tcreate(Tcreate(fid: fid.fid, name: name, perm: perm, mode: mode)), fid: fid)
        guard case .rcreate(let r) = reply else { throw unexpected(reply) }
        fid.openMode = mode
        fid.qid = r.qid
        return r.qid
    }

    func read(_ fid: ServerFid, offset: UInt64 = 0, count: UInt32 = 8192) async throws -> [UInt8] {
        let reply = await send(.tread(Tread(fid: fid.fid, offset: offset, count: count)), fid: fid)
        guard case .rread(let r) = reply else { throw unexpected(reply) }
        return Array(r.data.readableBytesView)
    }

    func readString(_ fid: ServerFid, offset: UInt64 = 0, count: UInt32 = 8192) async throws -> String {
        String(decoding: try await read(fid, offset: offset, count: count), as: UTF8.self)
    }

    @discardableResult
    func write(_ fid: ServerFid, _ text: String, offset: UInt64 = 0) async throws -> UInt32 {
        let reply = await send(.twrite(Twrite(fid: fid.fid, offset: offset, data: ByteBuffer(string: text))), fid: fid)
        guard case .rwrite(let r) = reply else { throw unexpected(reply) }
        return r.count
    }

    func stat(_ fid: ServerFid) async throws -> Stat {
        let reply = await send(.tstat(Tstat(fid: fid.fid)), fid: fid)
        guard case .rstat(let r) = reply else { throw unexpected(reply) }
        return r.stat
    }

    /// Twstat of "don't touch" values changed by `change`.
    func wstat(_ fid: ServerFid, _ change: (inout Stat) -> Void = { _ in }) async throws {
        var d = Stat.dontTouch
        change(&d)
        try await wstat(fid, full: d)
    }

    func wstat(_ fid: ServerFid, full d: Stat) async throws {
        let reply = await send(.twstat(Twstat(fid: fid.fid, stat: d)), fid: fid)
        guard case .rwstat = reply else { throw unexpected(reply) }
    }

    /// Tremove; the fid is clunked whatever the outcome, as the loop does.
    func remove(_ fid: ServerFid) async throws {
        let reply = await send(.tremove(Tremove(fid: fid.fid)), fid: fid)
        server.destroyFid(fid)
        guard case .rremove = reply else { throw unexpected(reply) }
    }

    /// Tclunk as the loop does it.
    func clunk(_ fid: ServerFid) { server.destroyFid(fid) }

    private func unexpected(_ reply: Message) -> ServerError {
        if case .rerror(let e) = reply { return ServerError(e.ename) }
        return ServerError("unexpected reply \(reply)")
    }

    // MARK: Host side

    func host(_ relative: String) -> String { root + "/" + relative }

    func makeFile(_ relative: String, _ contents: String = "", mode: mode_t = 0o644) throws {
        let path = host(relative)
        guard FileManager.default.createFile(atPath: path, contents: Data(contents.utf8)) else {
            throw ServerError("cannot create \(path)")
        }
        chmod(path, mode)
    }

    func makeDirectory(_ relative: String, mode: mode_t = 0o755) throws {
        let path = host(relative)
        guard mkdir(path, mode) == 0 else { throw ServerError("mkdir \(path): errno \(errno)") }
        chmod(path, mode)
    }

    func makeSymlink(_ relative: String, to target: String) throws {
        guard symlink(target, host(relative)) == 0 else { throw ServerError("symlink \(relative): errno \(errno)") }
    }

    /// lstat of a path below the root.
    func hostStatus(_ relative: String) -> stat? {
        var st = Glibc.stat()
        return lstat(host(relative), &st) == 0 ? st : nil
    }

    func contents(_ path: String) -> String? {
        FileManager.default.contents(atPath: path).map { String(decoding: $0, as: UTF8.self) }
    }
}

/// Runs `body` against a fresh export of a temporary directory (beside an
/// "outside" directory holding a secret), then removes both.
func withExport(
    readOnly: Bool = false, threadPool: NIOThreadPool = .singleton, metadataOnLoop: Bool? = nil,
    _ body: (Harness) async throws -> Void
) async throws {
    let base = FileManager.default.temporaryDirectory.appendingPathComponent("ninep-export-\(UUID().uuidString)").path
    let root = base + "/root/tree"
    let outside = base + "/outside"
    try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: base) }
    try Data("secret".utf8).write(to: URL(fileURLWithPath: outside + "/secret"))
    let server = try ExportFileServer(
        root: root, readOnly: readOnly, threadPool: threadPool, metadataOnLoop: metadataOnLoop)
    try await body(Harness(root: root, outside: outside, server: server))
}

/// The directory entries in a directory read reply.
func entries(_ bytes: [UInt8]) throws -> [Stat] {
    var buffer = ByteBuffer(bytes: bytes)
    var out: [Stat] = []
    while buffer.readableBytes > 0 { out.append(try buffer.readStat()) }
    return out
}
