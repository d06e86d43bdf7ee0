import Dispatch
import NIOPosix
@testable import NinePExport
import Synchronization
import Testing

@Suite("Export: the work queue", .timeLimit(.minutes(3)))
struct WorkQueueTests {
    @Test func aBlockedItemDoesNotHoldUpTheNextOne() async throws {
        let pool = NIOThreadPool(numberOfThreads: 2)
        pool.start()
        let queue = WorkQueue(pool: pool)
        let gate = DispatchSemaphore(value: 0)
        let (events, continuation) = AsyncStream.makeStream(of: String.self)
        queue.submit { _ in
            gate.wait()
            continuation.yield("slow")
        }
        queue.submit { _ in continuation.yield("fast") }
        var iterator = events.makeAsyncIterator()
        // The first item holds its worker; the second starts another.
        #expect(await iterator.next() == "fast")
        gate.signal()
        #expect(await iterator.next() == "slow")
        try await pool.shutdownGracefully()
    }

    @Test func everyItemOfABurstRunsOnceInOrderOnOneWorker() async throws {
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        let queue = WorkQueue(pool: pool)
        let seen = Mutex<[Int]>([])
        let total = 10_000
        let (done, continuation) = AsyncStream.makeStream(of: Void.self)
        for i in 0..<total {
            queue.submit { active in
                #expect(active)
                let count = seen.withLock { $0.append(i); return $0.count }
                if count == total { continuation.yield() }
            }
        }
        var iterator = done.makeAsyncIterator()
        _ = await iterator.next()
        #expect(seen.withLock { $0 } == Array(0..<total))
        try await pool.shutdownGracefully()
    }

    @Test func aStoppedPoolRunsItemsAsInactive() async throws {
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        try await pool.shutdownGracefully()
        let queue = WorkQueue(pool: pool)
        let active: Bool = await withCheckedContinuation { continuation in
            queue.submit { continuation.resume(returning: $0) }
        }
        #expect(!active)
    }
}
