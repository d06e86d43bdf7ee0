import NIOCore
import NinePWire
import Synchronization

/// One conversation of a `FileServerConformance` check: a raw client after
/// Tversion and Tattach, with one call per transaction that checks the
/// reply's kind and throws a `ConformanceFailure` naming the check, the
/// request and what came back instead.
///
/// Fid 0 is the root; fids from 100 up are handed out by `newFid()`.
/// Thread safety: any task (the fid counter is atomic).
final class ConformanceSession: ConformanceConversation {
    let client: RawNinePClient
    /// The check's name, the first part of every failure.
    let check: String
    /// The msize the server granted.
    let msize: UInt32
    /// The qid Rattach gave for the root.
    let rootQid: Qid
    let root = Fid(0)
    let uname: String
    private let fids = Atomic<UInt32>(100)

    init(client: RawNinePClient, check: String, msize: UInt32, rootQid: Qid, uname: String) {
        self.client = client
        self.check = check
        self.msize = msize
        self.rootQid = rootQid
        self.uname = uname
    }

    /// Connects, negotiates `msize` and attaches fid 0 as `uname`.
    static func open(
        check: String, msize: UInt32, uname: String, connect: () async throws -> RawNinePClient
    ) async throws -> ConformanceSession {
        let client = try await connect()
        do {
            let v = try await client.version(msize: msize)
            guard v.version == NineP.version2000 else {
                throw ConformanceFailure(check, "Tversion 9P2000 answered version '\(v.version)'")
            }
            let reply = try await client.call(.tattach(Tattach(fid: Fid(0), uname: uname, aname: "")))
            guard case .rattach(let a) = reply else { throw ConformanceFailure(check, "Tattach answered \(reply)") }
            return ConformanceSession(client: client, check: check, msize: v.msize, rootQid: a.qid, uname: uname)
        } catch {
            await client.close()
            throw error
        }
    }

    /// The largest count a read or write may carry: msize − IOHDRSZ.
    var iounit: UInt32 { msize - NineP.ioHeaderSize }

    func newFid() -> Fid { Fid(fids.add(1, ordering: .relaxed).newValue) }

    // MARK: Expectations

    /// Sends `m`, which must succeed (any reply but Rerror).
    @discardableResult
    func success(_ m: Message, _ what: String) async throws -> Message {
        let reply = try await call(m)
        if case .rerror(let e) = reply { throw failure("\(what): \(m) answered Rerror '\(e.ename)'") }
        return reply
    }

    /// Sends `m`, which must be refused with Rerror; returns the error text.
    @discardableResult
    func refusal(_ m: Message, _ what: String) async throws -> String {
        let reply = try await call(m)
        guard case .rerror(let e) = reply else { throw failure("\(what): \(m) answered \(reply), expected Rerror") }
        try expect(!e.ename.isEmpty, "\(what): \(m) answered an Rerror with an empty ename")
        return e.ename
    }

    // MARK: Transactions

    /// Twalk from `fid` into `newfid` (a fresh fid by default); returns the
    /// fid and the qids (fewer than the names for a short walk).
    func walk(_ fid: Fid, _ names: [String], into newfid: Fid? = nil) async throws -> (fid: Fid, qids: [Qid]) {
        let target = newfid ?? newFid()
        let m = Message.twalk(Twalk(fid: fid, newfid: target, wname: names))
        let reply = try await success(m, "walk \(names)")
        guard case .rwalk(let w) = reply else { throw failure("\(m) answered \(reply)") }
        try expect(w.wqid.count <= names.count, "\(m) answered \(w.wqid.count) qids")
        return (target, w.wqid)
    }

    /// A fid walked all the way along `names` from `fid`.
    func walkAll(_ fid: Fid, _ names: [String]) async throws -> Fid {
        let (target, qids) = try await walk(fid, names)
        try expect(qids.count == names.count, "walk \(names): only \(qids.count) of \(names.count) names walked")
        return target
    }

    /// A fid walked along a slash-separated path from the root.
    func fid(_ path: String) async throws -> Fid {
        try await walkAll(root, path.split(separator: "/").map(String.init))
    }

    /// A new fid for the same file as `fid` (a walk of no names).
    func clone(_ fid: Fid) async throws -> Fid { try await walkAll(fid, []) }

    @discardableResult
    func open(_ fid: Fid, _ mode: OpenMode) async throws -> Ropen {
        let m = Message.topen(Topen(fid: fid, mode: mode))
        let reply = try await success(m, "open \(mode)")
        guard case .ropen(let o) = reply else { throw failure("\(m) answered \(reply)") }
        return o
    }

    /// Tcreate in the directory `dir`; the fid becomes the new file, open.
    @discardableResult
    func create(_ dir: Fid, _ name: String, perm: FileMode, mode: OpenMode) async throws -> Qid {
        let m = Message.tcreate(Tcreate(fid: dir, name: name, perm: perm, mode: mode))
        let reply = try await success(m, "create '\(name)'")
        guard case .rcreate(let c) = reply else { throw failure("\(m) answered \(reply)") }
        return c.qid
    }

    func read(_ fid: Fid, offset: UInt64 = 0, count: UInt32? = nil) async throws -> [UInt8] {
        let m = Message.tread(Tread(fid: fid, offset: offset, count: count ?? iounit))
        let reply = try await success(m, "read")
        guard case .rread(let r) = reply else { throw failure("\(m) answered \(reply)") }
        try expect(r.data.readableBytes <= Int(count ?? iounit), "\(m) answered \(r.data.readableBytes) bytes")
        return Array(r.data.readableBytesView)
    }

    /// Reads from `offset` to the end of the file, iounit bytes at a time.
    func readAll(_ fid: Fid, from offset: UInt64 = 0) async throws -> [UInt8] {
        var out: [UInt8] = []
        while true {
            let chunk = try await read(fid, offset: offset + UInt64(out.count))
            if chunk.isEmpty { return out }
            out += chunk
        }
    }

    @discardableResult
    func write(_ fid: Fid, _ bytes: [UInt8], at offset: UInt64 = 0) async throws -> UInt32 {
        let m = Message.twrite(Twrite(fid: fid, offset: offset, data: ByteBuffer(bytes: bytes)))
        let reply = try await success(m, "write")
        guard case .rwrite(let w) = reply else { throw failure("\(m) answered \(reply)") }
        try expect(w.count == UInt32(bytes.count), "\(m) wrote \(w.count) of \(bytes.count) bytes")
        return w.count
    }

    func stat(_ fid: Fid) async throws -> Stat {
        let m = Message.tstat(Tstat(fid: fid))
        let reply = try await success(m, "stat")
        guard case .rstat(let s) = reply else { throw failure("\(m) answered \(reply)") }
        return s.stat
    }

    /// A Twstat of "don't touch" values changed by `change`.
    func wstatMessage(_ fid: Fid, _ change: (inout Stat) -> Void) -> Message {
        var d = Stat.dontTouch
        change(&d)
        return .twstat(Twstat(fid: fid, stat: d))
    }

    func wstat(_ fid: Fid, _ what: String, _ change: (inout Stat) -> Void) async throws {
        let m = wstatMessage(fid, change)
        let reply = try await success(m, what)
        guard case .rwstat = reply else { throw failure("\(m) answered \(reply)") }
    }

    func clunk(_ fid: Fid) async throws {
        let m = Message.tclunk(Tclunk(fid: fid))
        let reply = try await success(m, "clunk")
        guard case .rclunk = reply else { throw failure("\(m) answered \(reply)") }
    }

    func remove(_ fid: Fid) async throws {
        let m = Message.tremove(Tremove(fid: fid))
        let reply = try await success(m, "remove")
        guard case .rremove = reply else { throw failure("\(m) answered \(reply)") }
    }

    /// Whether the fid number is unused: a Tstat of it must be refused.
    func expectUnused(_ fid: Fid, _ what: String) async throws {
        _ = try await refusal(.tstat(Tstat(fid: fid)), "\(what): fid \(fid) should not be in use")
    }

    // MARK: Composites

    /// Every entry of the directory `dir` (not opened; a clone is opened,
    /// read `count` bytes at a time, and clunked). Each Rread must hold
    /// whole entries; offsets follow read(5).
    func list(_ dir: Fid, count: UInt32? = nil) async throws -> [Stat] {
        let fid = try await clone(dir)
        try await open(fid, .read)
        var entries: [Stat] = []
        var offset: UInt64 = 0
        while true {
            let data = try await read(fid, offset: offset, count: count ?? iounit)
            if data.isEmpty { break }
            entries += try decodeEntries(data, "directory read at offset \(offset)")
            offset += UInt64(data.count)
        }
        try await clunk(fid)
        return entries
    }

    /// The directory entries packed in one Rread; a partial or malformed
    /// entry is a failure.
    func decodeEntries(_ data: [UInt8], _ what: String) throws -> [Stat] {
        var buffer = ByteBuffer(bytes: data)
        var out: [Stat] = []
        while buffer.readableBytes > 0 {
            do {
                out.append(try buffer.readStat())
            } catch {
                throw failure("\(what): \(data.count) bytes do not hold whole directory entries (\(error))")
            }
        }
        return out
    }

    /// Creates a file `name` in `dir` holding `contents` and clunks it.
    @discardableResult
    func makeFile(_ dir: Fid, _ name: String, _ contents: [UInt8] = [], perm: UInt32 = 0o644) async throws -> Qid {
        let fid = try await clone(dir)
        let qid = try await create(fid, name, perm: FileMode(permissions: perm), mode: .write)
        var offset = 0
        while offset < contents.count {
            let end = min(contents.count, offset + Int(iounit))
            try await write(fid, Array(contents[offset..<end]), at: UInt64(offset))
            offset = end
        }
        try await clunk(fid)
        return qid
    }

    /// Creates a directory `name` in `dir` and returns a fid on it (not open).
    func makeDirectory(_ dir: Fid, _ name: String, perm: UInt32 = 0o755) async throws -> Fid {
        let fid = try await clone(dir)
        try await create(fid, name, perm: FileMode(permissions: perm, flags: .dir), mode: .read)
        try await clunk(fid)
        return try await walkAll(dir, [name])
    }

    /// Whether `name` can be walked to from `dir`.
    func exists(_ dir: Fid, _ name: String) async throws -> Bool {
        let target = newFid()
        let reply = try await call(.twalk(Twalk(fid: dir, newfid: target, wname: [name])))
        switch reply {
        case .rwalk(let w) where w.wqid.count == 1:
            try await clunk(target)
            return true
        case .rwalk(let w):
            throw failure("walk of one name answered \(w.wqid.count) qids")
        default:
            return false
        }
    }

    /// The contents of the file `name` in `dir`.
    func contents(_ dir: Fid, _ name: String) async throws -> [UInt8] {
        let fid = try await walkAll(dir, [name])
        try await open(fid, .read)
        let data = try await readAll(fid)
        try await clunk(fid)
        return data
    }

    /// Removes the file or directory `fid` names and everything below it;
    /// the fid is gone afterwards.
    func removeTree(_ fid: Fid) async throws {
        let st = try await stat(fid)
        if st.mode.isDirectory {
            for entry in try await list(fid) {
                try await removeTree(try await walkAll(fid, [entry.name]))
            }
        }
        try await remove(fid)
    }

}

extension Qid {
    /// Whether two qids name the same file: same path and type. The version
    /// is left out, since it moves whenever the file changes.
    func same(_ other: Qid) -> Bool { path == other.path && type == other.type }
}

extension Array where Element == Qid {
    func same(_ other: [Qid]) -> Bool { count == other.count && zip(self, other).allSatisfy { $0.same($1) } }
}
