import Glibc
import NIOCore
import NinePWire
import Synchronization

/// One conversation of a `DotLConformance` check: a raw client after
/// Tversion "9P2000.L" and Tattach, with one call per transaction that
/// checks the reply's kind and throws a `ConformanceFailure` naming the
/// check, the request and what came back instead.
///
/// Fid 0 is the root; fids from 100 up are handed out by `newFid()`.
/// Thread safety: any task (the fid counter is atomic).
final class DotLSession: ConformanceConversation {
    let client: RawNinePClient
    let check: String
    let msize: UInt32
    let rootQid: Qid
    let root = Fid(0)
    private let fids = Atomic<UInt32>(100)

    init(client: RawNinePClient, check: String, msize: UInt32, rootQid: Qid) {
        self.client = client
        self.check = check
        self.msize = msize
        self.rootQid = rootQid
    }

    /// Connects, negotiates 9P2000.L with `msize` and attaches fid 0.
    static func open(
        check: String, msize: UInt32, uname: String, nUname: UInt32, aname: String,
        connect: () async throws -> RawNinePClient
    ) async throws -> DotLSession {
        let client = try await connect()
        do {
            let v = try await client.version(msize: msize, version: ProtocolVersion.ninep2000L.rawValue)
            guard v.version == ProtocolVersion.ninep2000L.rawValue else {
                throw ConformanceFailure(check, "Tversion 9P2000.L answered version '\(v.version)'")
            }
            let reply = try await client.call(.tattach(Tattach(fid: Fid(0), uname: uname, aname: aname, nUname: nUname)))
            guard case .rattach(let a) = reply else { throw ConformanceFailure(check, "Tattach answered \(reply)") }
            return DotLSession(client: client, check: check, msize: v.msize, rootQid: a.qid)
        } catch {
            await client.close()
            throw error
        }
    }

    var iounit: UInt32 { msize - NineP.ioHeaderSize }

    func newFid() -> Fid { Fid(fids.add(1, ordering: .relaxed).newValue) }

    /// Sends `m`, which must succeed (any reply but Rlerror; Rerror does
    /// not exist in 9P2000.L and is a failure too).
    @discardableResult
    func success(_ m: Message, _ what: String) async throws -> Message {
        let reply = try await call(m)
        switch reply {
        case .rlerror(let e): throw failure("\(what): \(m) answered Rlerror \(NinePErrno.name(of: Int32(bitPattern: e.ecode)))")
        case .rerror(let e): throw failure("\(what): \(m) answered Rerror '\(e.ename)', which 9P2000.L does not use")
        default: return reply
        }
    }

    /// Sends `m`, which must be refused with Rlerror; returns the errno.
    /// With `errno`, the answer must be that one (or one of `or`).
    @discardableResult
    func refusal(_ m: Message, _ what: String, errno: Int32? = nil, or others: [Int32] = []) async throws -> Int32 {
        let reply = try await call(m)
        guard case .rlerror(let e) = reply else { throw failure("\(what): \(m) answered \(reply), expected Rlerror") }
        let code = Int32(bitPattern: e.ecode)
        try expect(code != 0, "\(what): \(m) answered Rlerror 0")
        if let errno {
            let allowed = [errno] + others
            try expect(
                allowed.contains(code),
                "\(what): \(m) answered \(NinePErrno.name(of: code)), expected \(allowed.map(NinePErrno.name(of:)).joined(separator: " or "))")
        }
        return code
    }

    // MARK: Transactions

    func walk(_ fid: Fid, _ names: [String]) async throws -> Fid {
        let target = newFid()
        let m = Message.twalk(Twalk(fid: fid, newfid: target, wname: names))
        guard case .rwalk(let w) = try await success(m, "walk \(names)") else { throw failure("\(m): not Rwalk") }
        try expect(w.wqid.count == names.count, "walk \(names): \(w.wqid.count) of \(names.count) names walked")
        return target
    }

    func clone(_ fid: Fid) async throws -> Fid { try await walk(fid, []) }

    @discardableResult
    func lopen(_ fid: Fid, _ flags: LinuxOpenFlags) async throws -> Rlopen {
        let m = Message.tlopen(Tlopen(fid: fid, flags: flags))
        guard case .rlopen(let o) = try await success(m, "lopen \(flags)") else { throw failure("\(m): not Rlopen") }
        return o
    }

    /// Tlcreate in the directory `dir`, which becomes the new file, open.
    @discardableResult
    func lcreate(_ dir: Fid, _ name: String, flags: LinuxOpenFlags = .readWrite, mode: UInt32 = 0o644) async throws -> Qid {
        let m = Message.tlcreate(Tlcreate(fid: dir, name: name, flags: flags, mode: mode, gid: getgid()))
        guard case .rlcreate(let c) = try await success(m, "lcreate '\(name)'") else { throw failure("\(m): not Rlcreate") }
        return c.qid
    }

    @discardableResult
    func mkdir(_ dir: Fid, _ name: String, mode: UInt32 = 0o755) async throws -> Qid {
        let m = Message.tmkdir(Tmkdir(dfid: dir, name: name, mode: mode, gid: getgid()))
        guard case .rmkdir(let r) = try await success(m, "mkdir '\(name)'") else { throw failure("\(m): not Rmkdir") }
        return r.qid
    }

    func getattr(_ fid: Fid, _ mask: GetattrMask = .basic) async throws -> LinuxAttributes {
        let m = Message.tgetattr(Tgetattr(fid: fid, requestMask: mask))
        guard case .rgetattr(let g) = try await success(m, "getattr") else { throw failure("\(m): not Rgetattr") }
        return g.attributes
    }

    func setattr(_ t: Tsetattr, _ what: String) async throws {
        let m = Message.tsetattr(t)
        guard case .rsetattr = try await success(m, what) else { throw failure("\(m): not Rsetattr") }
    }

    func read(_ fid: Fid, offset: UInt64 = 0, count: UInt32? = nil) async throws -> [UInt8] {
        let m = Message.tread(Tread(fid: fid, offset: offset, count: count ?? iounit))
        guard case .rread(let r) = try await success(m, "read") else { throw failure("\(m): not Rread") }
        return Array(r.data.readableBytesView)
    }

    func write(_ fid: Fid, _ bytes: [UInt8], at offset: UInt64 = 0) async throws {
        let m = Message.twrite(Twrite(fid: fid, offset: offset, data: ByteBuffer(bytes: bytes)))
        guard case .rwrite(let w) = try await success(m, "write") else { throw failure("\(m): not Rwrite") }
        try expect(w.count == UInt32(bytes.count), "\(m) wrote \(w.count) of \(bytes.count) bytes")
    }

    func clunk(_ fid: Fid) async throws {
        let m = Message.tclunk(Tclunk(fid: fid))
        guard case .rclunk = try await success(m, "clunk") else { throw failure("\(m): not Rclunk") }
    }

    /// One Treaddir: the entries, each checked to be whole.
    func readdir(_ fid: Fid, offset: UInt64, count: UInt32? = nil) async throws -> [DirEntry] {
        let m = Message.treaddir(Treaddir(fid: fid, offset: offset, count: count ?? iounit))
        guard case .rreaddir(let r) = try await success(m, "readdir at \(offset)") else { throw failure("\(m): not Rreaddir") }
        try expect(r.data.readableBytes <= Int(count ?? iounit), "\(m) answered \(r.data.readableBytes) bytes")
        var data = r.data
        var out: [DirEntry] = []
        while data.readableBytes > 0 {
            do {
                out.append(try data.readDirEntry())
            } catch {
                throw failure("\(m): the answer does not hold whole entries (\(error))")
            }
        }
        return out
    }

    /// Every entry of the directory `dir` (a clone is opened, listed
    /// `count` bytes at a time from the offsets the entries give, and clunked).
    func list(_ dir: Fid, count: UInt32? = nil) async throws -> [DirEntry] {
        let fid = try await clone(dir)
        try await lopen(fid, [.readOnly, .directory])
        var all: [DirEntry] = []
        var offset: UInt64 = 0
        var presented: Set<UInt64> = [0]
        while true {
            let entries = try await readdir(fid, offset: offset, count: count)
            guard let last = entries.last else { break }
            all += entries
            offset = last.offset
            // An offset given twice would list the same entries forever.
            try expect(presented.insert(offset).inserted, "readdir: the offset \(offset) came back again after \(all.count) entries")
        }
        try await clunk(fid)
        return all
    }

    /// The names in `dir`, without "." and "..".
    func names(_ dir: Fid) async throws -> [String] {
        try await list(dir).map(\.name).filter { $0 != "." && $0 != ".." }
    }

    /// Makes the file `name` in `dir` holding `contents`.
    @discardableResult
    func makeFile(_ dir: Fid, _ name: String, _ contents: [UInt8] = [], mode: UInt32 = 0o644) async throws -> Qid {
        let fid = try await clone(dir)
        let qid = try await lcreate(fid, name, mode: mode)
        if !contents.isEmpty { try await write(fid, contents) }
        try await clunk(fid)
        return qid
    }

    /// The contents of `name` in `dir`.
    func contents(_ dir: Fid, _ name: String) async throws -> [UInt8] {
        let fid = try await walk(dir, [name])
        try await lopen(fid, .readOnly)
        var out: [UInt8] = []
        while true {
            let chunk = try await read(fid, offset: UInt64(out.count))
            if chunk.isEmpty { break }
            out += chunk
        }
        try await clunk(fid)
        return out
    }

    /// Removes everything below the directory `dir` and then `name` in
    /// `parent`, with Tunlinkat.
    func removeTree(_ parent: Fid, _ name: String) async throws {
        let fid = try await walk(parent, [name])
        let attributes = try await getattr(fid)
        let isDirectory = attributes.mode & UInt32(S_IFMT) == UInt32(S_IFDIR)
        if isDirectory {
            for entry in try await names(fid) { try await removeTree(fid, entry) }
        }
        try await clunk(fid)
        let m = Message.tunlinkat(Tunlinkat(dirfd: parent, name: name, flags: isDirectory ? Tunlinkat.removeDirectory : 0))
        _ = try await success(m, "unlinkat '\(name)'")
    }

    /// Whether `name` can be walked to from `dir`.
    func exists(_ dir: Fid, _ name: String) async throws -> Bool {
        let target = newFid()
        switch try await call(.twalk(Twalk(fid: dir, newfid: target, wname: [name]))) {
        case .rwalk(let w) where w.wqid.count == 1:
            try await clunk(target)
            return true
        default:
            return false
        }
    }

}
