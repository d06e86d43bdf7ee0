import Foundation

/// Runs blocking work (system calls on a mount, child processes, long
/// loops) on a thread of its own and waits for it without holding a thread
/// of Swift's cooperative pool.
///
/// Why: the test runner's async tests share a cooperative pool with one
/// thread per core. A test that blocks those threads for long (a POSIX
/// suite on a mount, a 1 GiB copy) starves every other async test running in
/// parallel until their time limits expire.
public func runBlocking<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread {
            continuation.resume(with: Result { try work() })
        }
        thread.name = "ninep-blocking"
        thread.start()
    }
}
