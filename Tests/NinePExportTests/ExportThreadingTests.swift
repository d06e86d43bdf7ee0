import Dispatch
import Foundation
import NIOPosix
import NinePExport
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
