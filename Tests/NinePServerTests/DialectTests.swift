import Glibc
import NIOCore
import NinePServer
import NinePTesting
import NinePWire
import Testing

/// Tversion settles on the best dialect both sides speak, and errors are
/// answered in that dialect's words: Rerror, Rerror with errno, Rlerror.
@Suite("Service loop: dialects and typed errors", .timeLimit(.minutes(5)))
struct DialectTests {
    /// TestFS, willing to be spoken to in 9P2000.u as well.
    final class UnixFS: FileServer {
        let inner = TestFS()
        var dialects: Set<ProtocolVersion> { [.ninep2000, .ninep2000u] }
        func attach(_ r: Request) { inner.attach(r) }
        func walk(_ r: Request) { inner.walk(r) }
        func open(_ r: Request) { inner.open(r) }
        func read(_ r: Request) { inner.read(r) }
        func stat(_ r: Request) {
            guard case .tstat = r.ifcall, let fid = r.fid else { return r.respond(error: .botch) }
            var s = TestFS.stat(fid.qid.path)
            s.nUid = 1000
            s.nGid = 100
            r.respond(.rstat(Rstat(stat: s)))
        }
        func remove(_ r: Request) { r.respond(error: NinePError("no removing here", errno: EPERM)) }
    }

    @Test func tversionPicksTheBestDialectBothSpeak() async throws {
        let pair = try await InMemoryServerConnection.start(UnixFS())
        defer { Task { await pair.close() } }
        let c = pair.client
        #expect(try await c.version(msize: 8192, version: "9P2000.L").version == "9P2000", ".L is not spoken: 9P2000")
        #expect(try await c.version(msize: 8192, version: "9P2000").version == "9P2000")
        #expect(try await c.version(msize: 8192, version: "9P2000.u").version == "9P2000.u")
        #expect(try await c.version(msize: 8192, version: "9P1999").version == "unknown")
    }

    @Test func aFileServerWrittenFor9P2000IsSpokenTo9P2000() async throws {
        let pair = try await InMemoryServerConnection.start(TestFS())
        defer { Task { await pair.close() } }
        #expect(try await pair.client.version(msize: 8192, version: "9P2000.u").version == "9P2000")
    }

    @Test func dotUErrorsCarryTheErrnoGivenOrTheTextsErrno() async throws {
        let pair = try await InMemoryServerConnection.start(UnixFS())
        defer { Task { await pair.close() } }
        let c = pair.client
        #expect(try await c.version(msize: 8192, version: "9P2000.u").version == "9P2000.u")
        _ = try await c.attach(fid: Fid(0))
        // The loop's own refusal: "unknown fid" maps to ESTALE through the shared table.
        #expect(try await c.call(.tstat(Tstat(fid: Fid(9)))) == .rerror(Rerror(ename: "unknown fid", errno: UInt32(ESTALE))))
        // A walk that fails at its first name: "file not found", ENOENT.
        #expect(try await c.call(.twalk(Twalk(fid: Fid(0), newfid: Fid(1), wname: ["nope"])))
            == .rerror(Rerror(ename: "file not found", errno: UInt32(ENOENT))))
        // The FileServer's own errno is kept.
        _ = try await c.call(.twalk(Twalk(fid: Fid(0), newfid: Fid(2), wname: ["file"])))
        #expect(try await c.call(.tremove(Tremove(fid: Fid(2)))) == .rerror(Rerror(ename: "no removing here", errno: UInt32(EPERM))))
        // Stat entries carry the .u fields.
        guard case .rstat(let s) = try await c.call(.tstat(Tstat(fid: Fid(0)))) else { throw RawNinePClientError.closed }
        #expect(s.stat.nUid == 1000 && s.stat.nGid == 100 && s.stat.nMuid == NineP.nonuname)
    }

    @Test func dotUDirectoryReadsAreDotUEntries() async throws {
        let pair = try await InMemoryServerConnection.start(UnixFS())
        defer { Task { await pair.close() } }
        let c = pair.client
        _ = try await c.version(msize: 8192, version: "9P2000.u")
        _ = try await c.attach(fid: Fid(0))
        let walked = try await c.call(.twalk(Twalk(fid: Fid(0), newfid: Fid(1), wname: ["dir"])))
        #expect(walked.type == .rwalk, "\(walked)")
        let opened = try await c.call(.topen(Topen(fid: Fid(1), mode: .read)))
        #expect(opened.type == .ropen, "\(opened)")
        let reply = try await c.call(.tread(Tread(fid: Fid(1), offset: 0, count: 4096)))
        guard case .rread(let r) = reply else { throw RawNinePClientError.unexpected(reply) }
        var data = r.data
        let entry = try data.readStat(version: .ninep2000u)
        #expect(entry.name == "inner" && data.readableBytes == 0)
    }

    @Test func under9P2000ErrorsAreTextOnly() async throws {
        let pair = try await session(UnixFS())
        defer { Task { await pair.close() } }
        #expect(try await pair.client.call(.tstat(Tstat(fid: Fid(9)))) == .rerror(Rerror(ename: "unknown fid")))
    }

    @Test func theErrorWordingOfEachDialect() {
        let e = NinePError("file does not exist")
        #expect(e.reply(in: .ninep2000) == .rerror(Rerror(ename: "file does not exist")))
        #expect(e.reply(in: .ninep2000u) == .rerror(Rerror(ename: "file does not exist", errno: UInt32(ENOENT))))
        #expect(e.reply(in: .ninep2000L) == .rlerror(Rlerror(ecode: UInt32(ENOENT))))
        #expect(NinePError("weird", errno: EXDEV).reply(in: .ninep2000L) == .rlerror(Rlerror(ecode: UInt32(EXDEV))))
        #expect(NinePError("nothing the table knows").linuxErrno == EIO)
    }
}
