import Glibc
import NIOCore
import NinePServer
import NinePTesting
import NinePWire
import Synchronization
import Testing

/// The service loop under 9P2000.L: FileServer's defaults, xattr fids
/// (readable, writable within their size, committed at clunk), and the
/// dialects a server is limited to.
@Suite("Service loop: 9P2000.L", .timeLimit(.minutes(5)))
struct DotLLoopTests {
    /// TestFS spoken to in 9P2000.L with FileServer's .L defaults, plus
    /// xattrs kept in memory: a Txattrwalk fid reads `attributes[name]`,
    /// a Txattrcreate fid gathers its writes in `fid.aux` until committed.
    final class DotLFS: FileServer {
        let inner = TestFS()
        let attributes = Mutex<[String: [UInt8]]>(["user.seed": Array("seed".utf8)])
        let seen = Mutex<[MessageType]>([])
        var dialects: Set<ProtocolVersion> { [.ninep2000L] }

        final class Pending: @unchecked Sendable {
            // Guarded by the loop: writes to one fid are answered in order before its clunk.
            var bytes: [UInt8] = []
        }

        func attach(_ r: Request) { inner.attach(r) }
        func walk(_ r: Request) { inner.walk(r) }
        func open(_ r: Request) { inner.open(r) }
        func stat(_ r: Request) { inner.stat(r) }
        func read(_ r: Request) {
            seen.withLock { $0.append(r.ifcall.type) }
            if case .reading(let name, _) = r.fid?.xattr {
                return readBuf(r, attributes.withLock { $0[name] } ?? [])
            }
            inner.read(r)
        }
        func write(_ r: Request) {
            seen.withLock { $0.append(r.ifcall.type) }
            guard case .twrite(let t) = r.ifcall, let pending = r.fid?.aux(as: Pending.self) else { return inner.write(r) }
            let end = Int(t.offset) + t.data.readableBytes
            if pending.bytes.count < end { pending.bytes += Array(repeating: 0, count: end - pending.bytes.count) }
            pending.bytes.replaceSubrange(Int(t.offset)..<end, with: t.data.readableBytesView)
            r.respond(.rwrite(Rwrite(count: UInt32(t.data.readableBytes))))
        }
        func xattrwalk(_ r: Request) {
            guard case .txattrwalk(let t) = r.ifcall else { return r.respond(error: .botch) }
            guard let value = attributes.withLock({ $0[t.name] }) else { return r.respond(error: NinePError(errno: ENODATA)) }
            r.respond(.rxattrwalk(Rxattrwalk(size: UInt64(value.count))))
        }
        func xattrcreate(_ r: Request) {
            r.fid?.aux = Pending()
            r.respond(.rxattrcreate(Rxattrcreate()))
        }
        func commitXattr(_ r: Request) {
            guard case .writing(let name, let size, _) = r.fid?.xattr, let pending = r.fid?.aux(as: Pending.self) else {
                return r.respond(error: .botch)
            }
            guard pending.bytes.count == Int(size) else { return r.respond(error: NinePError(errno: EINVAL)) }
            attributes.withLock { $0[name] = pending.bytes }
            r.respond(.rclunk(Rclunk()))
        }
    }

    static func dotL(_ fs: any FileServer, options: ServerOptions = ServerOptions()) async throws -> InMemoryServerConnection {
        let pair = try await InMemoryServerConnection.start(fs, options: options)
        #expect(try await pair.client.version(msize: 8192, version: "9P2000.L").version == "9P2000.L")
        _ = try await pair.client.attach(fid: Fid(0))
        return pair
    }

    static func errno(_ m: Message) -> Int32? {
        guard case .rlerror(let e) = m else { return nil }
        return Int32(bitPattern: e.ecode)
    }

    @Test func defaultsServeA9P2000FileServerOverDotL() async throws {
        let pair = try await Self.dotL(DotLFS())
        defer { Task { await pair.close() } }
        let c = pair.client
        _ = try await c.call(.twalk(Twalk(fid: Fid(0), newfid: Fid(1), wname: ["file"])))
        // getattr through stat.
        guard case .rgetattr(let g) = try await c.call(.tgetattr(Tgetattr(fid: Fid(1), requestMask: .basic))) else {
            Issue.record("Tgetattr was not answered with Rgetattr")
            return
        }
        #expect(g.attributes.mode & UInt32(S_IFMT) == UInt32(S_IFREG))
        #expect(g.attributes.size == TestFS.stat(1).length)
        #expect(!g.attributes.valid.contains(.uid), "9P2000 names owners by string: no uid")
        // lopen through open; then the read is the file's.
        #expect(try await c.call(.tlopen(Tlopen(fid: Fid(1), flags: .readOnly))).type == .rlopen)
        guard case .rread(let d) = try await c.call(.tread(Tread(fid: Fid(1), offset: 0, count: 100))) else {
            Issue.record("Tread after Tlopen failed")
            return
        }
        #expect(String(buffer: d.data) == "hello, world")
        // What v9fs falls back from, and what the defaults refuse.
        #expect(Self.errno(try await c.call(.tstatfs(Tstatfs(fid: Fid(0))))) == ENOSYS)
        #expect(Self.errno(try await c.call(.trenameat(Trenameat(olddirfid: Fid(0), oldname: "a", newdirfid: Fid(0), newname: "b")))) == EOPNOTSUPP)
        #expect(Self.errno(try await c.call(.tunlinkat(Tunlinkat(dirfd: Fid(0), name: "file")))) == EOPNOTSUPP)
        #expect(Self.errno(try await c.call(.tmkdir(Tmkdir(dfid: Fid(0), name: "d", mode: 0o755, gid: 0)))) == EPERM)
        #expect(Self.errno(try await c.call(.treadlink(Treadlink(fid: Fid(1))))) == EINVAL)
        #expect(Self.errno(try await c.call(.tlock(Tlock(fid: Fid(1), type: .readLock, start: 0, length: 0, procId: 1, clientId: "t")))) == ENOLCK)
        #expect(try await c.call(.tfsync(Tfsync(fid: Fid(1)))) == .rfsync(Rfsync()))
        // The loop's own refusals carry their errno too: an unknown fid is ESTALE.
        #expect(Self.errno(try await c.call(.tgetattr(Tgetattr(fid: Fid(7), requestMask: .basic)))) == ESTALE)
    }

    @Test func xattrFidsAreReadWrittenWithinTheirSizeAndCommittedAtClunk() async throws {
        let fs = DotLFS()
        let pair = try await Self.dotL(fs)
        defer { Task { await pair.close() } }
        let c = pair.client
        _ = try await c.call(.twalk(Twalk(fid: Fid(0), newfid: Fid(1), wname: ["file"])))
        // Read an attribute through a Txattrwalk fid.
        #expect(try await c.call(.txattrwalk(Txattrwalk(fid: Fid(1), newfid: Fid(2), name: "user.seed"))) == .rxattrwalk(Rxattrwalk(size: 4)))
        #expect(try await c.call(.tread(Tread(fid: Fid(2), offset: 0, count: 10))) == .rread(Rread(data: ByteBuffer(string: "seed"))))
        #expect(Self.errno(try await c.call(.tgetattr(Tgetattr(fid: Fid(2), requestMask: .basic)))) == EBADF)
        #expect(Self.errno(try await c.call(.twrite(Twrite(fid: Fid(2), offset: 0, data: ByteBuffer(string: "x"))))) == EBADF)
        #expect(try await c.call(.tclunk(Tclunk(fid: Fid(2)))) == .rclunk(Rclunk()))
        // A refused Txattrwalk leaves newfid unused.
        #expect(Self.errno(try await c.call(.txattrwalk(Txattrwalk(fid: Fid(1), newfid: Fid(3), name: "user.none")))) == ENODATA)
        #expect(Self.errno(try await c.call(.tclunk(Tclunk(fid: Fid(3))))) == ESTALE)
        // Set one: writes within the declared size, committed at clunk.
        _ = try await c.call(.twalk(Twalk(fid: Fid(1), newfid: Fid(4), wname: [])))
        #expect(try await c.call(.txattrcreate(Txattrcreate(fid: Fid(4), name: "user.new", attrSize: 5))) == .rxattrcreate(Rxattrcreate()))
        let before = fs.seen.withLock { $0.count }
        #expect(Self.errno(try await c.call(.twrite(Twrite(fid: Fid(4), offset: 3, data: ByteBuffer(string: "xyz"))))) == EINVAL)
        #expect(fs.seen.withLock { $0.count } == before, "a write past the declared size reached the FileServer")
        #expect(Self.errno(try await c.call(.tread(Tread(fid: Fid(4), offset: 0, count: 5)))) == EBADF)
        #expect(Self.errno(try await c.call(.twalk(Twalk(fid: Fid(4), newfid: Fid(5), wname: [])))) != nil)
        #expect(try await c.call(.twrite(Twrite(fid: Fid(4), offset: 0, data: ByteBuffer(string: "hello")))) == .rwrite(Rwrite(count: 5)))
        #expect(fs.attributes.withLock { $0["user.new"] } == nil, "set before the clunk")
        #expect(try await c.call(.tclunk(Tclunk(fid: Fid(4)))) == .rclunk(Rclunk()))
        #expect(fs.attributes.withLock { $0["user.new"] } == Array("hello".utf8))
        // A failed commit answers its error, and the fid is clunked all the same.
        _ = try await c.call(.twalk(Twalk(fid: Fid(1), newfid: Fid(6), wname: [])))
        _ = try await c.call(.txattrcreate(Txattrcreate(fid: Fid(6), name: "user.short", attrSize: 5)))
        _ = try await c.call(.twrite(Twrite(fid: Fid(6), offset: 0, data: ByteBuffer(string: "hi"))))
        #expect(Self.errno(try await c.call(.tclunk(Tclunk(fid: Fid(6))))) == EINVAL)
        #expect(Self.errno(try await c.call(.tclunk(Tclunk(fid: Fid(6))))) == ESTALE)
    }

    @Test func serverOptionsLimitTheDialects() async throws {
        let pair = try await InMemoryServerConnection.start(RamFS(), options: ServerOptions(dialects: [.ninep2000, .ninep2000u]))
        defer { Task { await pair.close() } }
        #expect(try await pair.client.version(msize: 8192, version: "9P2000.L").version == "9P2000")
        #expect(try await pair.client.version(msize: 8192, version: "9P2000.u").version == "9P2000.u")
        let limited = try await InMemoryServerConnection.start(RamFS(dialects: [.ninep2000L]))
        defer { Task { await limited.close() } }
        #expect(try await limited.client.version(msize: 8192, version: "9P2000").version == "unknown")
        #expect(try await limited.client.version(msize: 8192, version: "9P2000.L").version == "9P2000.L")
    }

    @Test func ramFSMakesDotUSymlinksThatDotLReads() async throws {
        let fs = RamFS()
        let u = try await InMemoryServerConnection.start(fs)
        defer { Task { await u.close() } }
        #expect(try await u.client.version(msize: 8192, version: "9P2000.u").version == "9P2000.u")
        _ = try await u.client.attach(fid: Fid(0))
        _ = try await u.client.call(.twalk(Twalk(fid: Fid(0), newfid: Fid(1), wname: [])))
        let created = try await u.client.call(
            .tcreate(Tcreate(fid: Fid(1), name: "link", perm: FileMode(permissions: 0o777, flags: .symlink), mode: .read, extension: "target/path")))
        guard case .rcreate(let c) = created else {
            Issue.record("Tcreate of a symlink answered \(created)")
            return
        }
        #expect(c.qid.type.contains(.symlink))
        let l = try await InMemoryServerConnection.start(fs)
        defer { Task { await l.close() } }
        #expect(try await l.client.version(msize: 8192, version: "9P2000.L").version == "9P2000.L")
        _ = try await l.client.attach(fid: Fid(0))
        _ = try await l.client.call(.twalk(Twalk(fid: Fid(0), newfid: Fid(1), wname: ["link"])))
        #expect(try await l.client.call(.treadlink(Treadlink(fid: Fid(1)))) == .rreadlink(Rreadlink(target: "target/path")))
    }

    @Test func readDirResumesAtTheOffsetGiven() {
        let names = (0..<10).map { "n\($0)" }
        func entries(offset: UInt64, count: UInt32) -> [DirEntry] {
            let answer = Mutex<Message?>(nil)
            let r = Request(tag: Tag(1), ifcall: .treaddir(Treaddir(fid: Fid(1), offset: offset, count: count))) { m in
                answer.withLock { $0 = m }
            }
            readDir(r) { n in n < names.count ? DirEntry(qid: Qid(path: UInt64(n)), offset: 999, type: 8, name: names[n]) : nil }
            guard case .rreaddir(let d)? = answer.withLock({ $0 }) else { return [] }
            var data = d.data
            var out: [DirEntry] = []
            while data.readableBytes > 0, let e = try? data.readDirEntry() { out.append(e) }
            return out
        }
        let all = entries(offset: 0, count: 4096)
        #expect(all.map(\.name) == names)
        #expect(all.map(\.offset) == (1...10).map(UInt64.init), "entry n carries offset n + 1")
        #expect(entries(offset: 7, count: 4096).map(\.name) == ["n7", "n8", "n9"])
        #expect(entries(offset: 10, count: 4096).isEmpty)
        #expect(entries(offset: 2, count: 50).map(\.name) == ["n2"], "only whole entries that fit")
    }
}
