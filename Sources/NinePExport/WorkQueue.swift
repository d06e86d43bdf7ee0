import NIOCore
import NIOPosix
import Synchronization

/// The export's blocking work, run on an `NIOThreadPool` with as few thread
/// wake-ups as the work allows.
///
/// Submitting straight to the pool costs a condition-variable signal (a
/// futex wake and a context switch) per request, which at tens of thousands
/// of small requests a second is most of the server's time. Here requests
/// go into one FIFO queue, and pool items ("workers") drain it. The rule:
/// while requests are queued, at least one worker is free (started, or
/// between two requests) to take them. So a request starts a worker only if
/// every worker is busy, and a worker that takes a request while more are
/// queued and no other worker is free starts one more before it runs its
/// own. A burst of pipelined requests is then taken by the one or two
/// workers already awake, and a request that blocks (a slow disk, a hung
/// NFS server) never holds up the ones queued behind it — up to
/// `maxWorkers`, and in practice up to the pool's threads.
///
/// Who calls: `submit` from any thread (the event loops); the work runs on
/// pool threads, in submission order as far as workers take it, several at
/// once when several workers run. Deadlocks: the queue's lock is a leaf,
/// never held while work runs.
final class WorkQueue: Sendable {
    /// One item of work; `active` is false when the pool has been shut down
    /// and the work must only answer that it cannot be done.
    typealias Work = @Sendable (_ active: Bool) -> Void

    private struct State {
        var items = CircularBuffer<Work>()
        /// Workers submitted to the pool and not yet finished.
        var workers = 0
        /// Of those, the ones running an item.
        var busy = 0

        /// Counts a new worker (the caller starts it) if every worker is
        /// busy and the limit allows one more.
        mutating func claimWorkerIfNoneFree(max: Int) -> Bool {
            guard workers == busy, workers < max else { return false }
            workers += 1
            return true
        }
    }

    private let pool: NIOThreadPool
    private let maxWorkers: Int
    private let state = Mutex(State())

    /// - Parameters:
    ///   - pool: where workers run; must be started (a stopped pool runs
    ///     every item with `active == false`).
    ///   - maxWorkers: the most workers at once.
    init(pool: NIOThreadPool, maxWorkers: Int = 64) {
        self.pool = pool
        self.maxWorkers = max(1, maxWorkers)
    }

    /// Queues `work`; it runs on a pool thread.
    func submit(_ work: @escaping Work) {
        let start = state.withLock { s -> Bool in
            s.items.append(work)
            return s.claimWorkerIfNoneFree(max: maxWorkers)
        }
        if start { startWorker() }
    }

    private func startWorker() {
        pool.submit { [self] poolState in
            if case .active = poolState { drain(active: true) } else { drain(active: false) }
        }
    }

    /// A worker: runs items until the queue is empty.
    private func drain(active: Bool) {
        var wasBusy = false
        while true {
            let (next, start) = state.withLock { s -> (Work?, Bool) in
                if wasBusy { s.busy -= 1 }
                guard let work = s.items.popFirst() else {
                    s.workers -= 1
                    return (nil, false)
                }
                s.busy += 1
                // This item may block: whatever is still queued needs a free worker.
                return (work, !s.items.isEmpty && s.claimWorkerIfNoneFree(max: maxWorkers))
            }
            guard let next else { return }
            if start { startWorker() }
            wasBusy = true
            next(active)
        }
    }
}
