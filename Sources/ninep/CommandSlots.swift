import Synchronization

/// A cap on commands running at once: `run` waits for a slot (first come,
/// first served) and holds it while its body runs. What does not get a slot
/// waits in the queue; a waiter whose task is cancelled leaves it and
/// throws `CancellationError`.
///
/// Thread safety: any task; the state is behind a leaf lock.
final class CommandSlots: Sendable {
    private struct State {
        var free: Int
        var nextID = 0
        var queue: [(id: Int, continuation: CheckedContinuation<Void, any Error>)] = []
    }
    private let state: Mutex<State>
    /// The most commands running at once.
    let limit: Int

    init(limit: Int) {
        self.limit = max(1, limit)
        self.state = Mutex(State(free: max(1, limit)))
    }

    /// Runs `body` once a slot is free.
    func run<T: Sendable>(_ body: () async -> T) async throws -> T {
        try await acquire()
        defer { release() }
        return await body()
    }

    /// Commands running now.
    var running: Int { state.withLock { limit - $0.free } }

    private func acquire() async throws {
        let id = state.withLock { s -> Int in
            s.nextID += 1
            return s.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
                enum Outcome { case go, cancelled, queued }
                let outcome = state.withLock { s -> Outcome in
                    // Cancelled before queueing: onCancel found nothing to remove.
                    if Task.isCancelled { return .cancelled }
                    if s.free > 0 && s.queue.isEmpty {
                        s.free -= 1
                        return .go
                    }
                    s.queue.append((id, c))
                    return .queued
                }
                switch outcome {
                case .go: c.resume()
                case .cancelled: c.resume(throwing: CancellationError())
                case .queued: break
                }
            }
        } onCancel: {
            let waiter = state.withLock { s -> CheckedContinuation<Void, any Error>? in
                guard let i = s.queue.firstIndex(where: { $0.id == id }) else { return nil }
                return s.queue.remove(at: i).continuation
            }
            waiter?.resume(throwing: CancellationError())
        }
    }

    private func release() {
        let next = state.withLock { s -> CheckedContinuation<Void, any Error>? in
            if s.queue.isEmpty {
                s.free += 1
                return nil
            }
            return s.queue.removeFirst().continuation
        }
        next?.resume()
    }
}
