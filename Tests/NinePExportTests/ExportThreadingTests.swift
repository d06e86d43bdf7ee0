import Dispatch
import Foundation
import NIOCore
import NIOPosix
@testable import NinePExport
import NinePServer
import NinePWire
import Synchronization
import Testing

@Suite("Export: blocking work stays off the caller's thread")
struct ExportThreadingTests {
    /// A one-thread pool whose only thread is held until `release`.
    private static func blockedPool() -> (pool: NIOThreadPool, release: @Sendable () -> Void) {
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        let gate = DispatchSemaphore(value: 0)
        pool.submit { _ in gate.wait() }
        return (pool, { gate.signal() })
    }

    @Test func requestsReturnAtOnceAndAnswerFromTheWorker() async throws {
        let (pool, release) = Self.blockedPool()
        try await withExport(threadPool: pool) { h in
            try h.makeFile("f", "x")
            let fid = h.newFid()
            let caller = pthread_self()
            let answeredOn = Mutex<pthread_t?>(nil)
            let (request, answer) = Harness.pending(.tattach(Tattach(fid: fid.fid, uname: "u", aname: "")), fid: fid) { _ in
                answeredOn.withLock { $0 = pthread_self() }
            }
            // The pool is blocked, so the call can only return if it does no
            // work itself.
            h.server.attach(request)
            #expect(!request.isAnswered)
            release()
            guard case .rattach = await answer() else {
                Issue.record("attach was not answered")
                return
            }
            let thread = try #require(answeredOn.withLock { $0 })
            #expect(pthread_equal(thread, caller) == 0)
        }
        try await pool.shutdownGracefully()
    }

    @Test func aFlushedRequestThatHasNotStartedIsInterrupted() async throws {
        let (pool, release) = Self.blockedPool()
        try await withExport(threadPool: pool) { h in
            let (request, answer) = Harness.pending(.tattach(Tattach(fid: Fid(9), uname: "u", aname: "")), fid: h.newFid())
            h.server.attach(request)
            let flush = Request(tag: Tag(4), ifcall: .tflush(Tflush(oldtag: request.tag)), oldRequest: request) { reply in
                #expect(reply == .rflush(Rflush()))
            }
            h.server.flush(flush)
            release()
            #expect(await answer() == .rerror(Rerror(ename: NinePError.interrupted.ename)))
        }
        try await pool.shutdownGracefully()
    }

    /// A one-thread pool, started, and a way to hold its thread until `release`.
    private static func pool() -> (pool: NIOThreadPool, block: @Sendable () -> Void, release: @Sendable () -> Void) {
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        let gate = DispatchSemaphore(value: 0)
        return (pool, { pool.submit { _ in gate.wait() } }, { gate.signal() })
    }

    /// A request on `fid` (and `newfid`) whose answer nobody waits for.
    private static func request(_ m: Message, fid: ServerFid?, newfid: ServerFid? = nil) -> Request {
        Request(tag: Tag(3), ifcall: m, fid: fid, newfid: newfid) { _ in }
    }

    /// On a local file system, walk, stat, create, open and the release of
    /// a fid are answered on the calling thread (the event loop), even while
    /// every pool thread is busy; a read still waits for the pool.
    @Test func cheapMetadataIsAnsweredOnTheLoopWhileThePoolIsBusy() async throws {
        let (pool, block, release) = Self.pool()
        try await withExport(threadPool: pool, metadataOnLoop: true) { h in
            try h.makeFile("f", "contents")
            let root = try await h.attach().fid
            block()
            let file = h.newFid()
            let walk = Self.request(.twalk(Twalk(fid: root.fid, newfid: file.fid, wname: ["f"])), fid: root, newfid: file)
            h.server.walk(walk)
            #expect(walk.isAnswered)
            let stat = Self.request(.tstat(Tstat(fid: file.fid)), fid: file)
            h.server.stat(stat)
            #expect(stat.isAnswered)
            let open = Self.request(.topen(Topen(fid: file.fid, mode: .read)), fid: file)
            h.server.open(open)
            #expect(open.isAnswered)
            let directory = h.newFid()
            h.server.walk(Self.request(.twalk(Twalk(fid: root.fid, newfid: directory.fid, wname: [])), fid: root, newfid: directory))
            let create = Self.request(
                .tcreate(Tcreate(fid: directory.fid, name: "new", perm: FileMode(rawValue: 0o644), mode: .write)), fid: directory)
            h.server.create(create)
            #expect(create.isAnswered)
            #expect(h.hostStatus("new") != nil)
            h.clunk(directory)
            let (read, answer) = Harness.pending(.tread(Tread(fid: file.fid, offset: 0, count: 100)), fid: file)
            h.server.read(read)
            #expect(!read.isAnswered)
            release()
            #expect(await answer() == .rread(Rread(data: ByteBuffer(string: "contents"))))
        }
        try await pool.shutdownGracefully()
    }

    /// Without it (a network or FUSE file system), a stat waits for the pool.
    @Test func withoutMetadataOnLoopAStatWaitsForThePool() async throws {
        let (pool, block, release) = Self.pool()
        try await withExport(threadPool: pool, metadataOnLoop: false) { h in
            let root = try await h.attach().fid
            block()
            let (stat, answer) = Harness.pending(.tstat(Tstat(fid: root.fid)), fid: root)
            h.server.stat(stat)
            #expect(!stat.isAnswered)
            release()
            guard case .rstat = await answer() else {
                Issue.record("stat was not answered")
                return
            }
        }
        try await pool.shutdownGracefully()
    }

    /// The automatic choice: by the type of the root's file system in
    /// /proc/self/mountinfo.
    @Test func localFileSystemsAreTheOnesFromMountinfo() throws {
        let fixture = FileManager.default.temporaryDirectory.appendingPathComponent("mountinfo-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: fixture) }
        let lines = [
            "22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw",
            "30 22 0:26 / /dev/shm rw,nosuid,nodev shared:4 - tmpfs tmpfs rw",
            "41 22 0:38 / /mnt/nfs rw,relatime - nfs4 server:/export rw,vers=4.2",
            "52 22 0:52 / /mnt/9 rw,nosuid,nodev - fuse.9p 9p:unix!/tmp/s rw,user_id=0",
        ]
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: fixture))
        func device(_ major: UInt64, _ minor: UInt64) -> UInt64 {  // gnu_dev_makedev
            ((major & 0xfff) << 8) | ((major & ~0xfff) << 32) | (minor & 0xff) | ((minor & ~0xff) << 12)
        }
        #expect(LocalFileSystems.type(of: device(254, 0), mountInfoPath: fixture) == "ext4")
        #expect(LocalFileSystems.contains(device: device(254, 0), mountInfoPath: fixture))
        #expect(LocalFileSystems.contains(device: device(0, 26), mountInfoPath: fixture))
        #expect(!LocalFileSystems.contains(device: device(0, 38), mountInfoPath: fixture))
        #expect(!LocalFileSystems.contains(device: device(0, 52), mountInfoPath: fixture))
        #expect(!LocalFileSystems.contains(device: device(0, 99), mountInfoPath: fixture))
        #expect(!LocalFileSystems.contains(device: device(0, 26), mountInfoPath: fixture + ".missing"))
        // And for real: procfs is not local work in this sense.
        #expect(try ExportFileServer(root: "/proc/self").metadataOnLoop == false)
    }

    @Test func aStoppedPoolAnswersWithAnError() async throws {
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        try await pool.shutdownGracefully()
        try await withExport(threadPool: pool) { h in
            let reply = await h.send(.tattach(Tattach(fid: Fid(1), uname: "u", aname: "")), fid: h.newFid())
            #expect(reply == .rerror(Rerror(ename: "export of \(h.root) is shutting down")))
        }
    }
}
