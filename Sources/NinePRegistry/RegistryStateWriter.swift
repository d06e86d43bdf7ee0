import Dispatch
import Synchronization

/// Writes the registry's state file on a serial queue of its own, so that a
/// slow disk holds up no event loop, and gathers the saves that pile up
/// meanwhile into one write (group commit).
///
/// The registry hands over each new state, serialized under its tree lock,
/// so saves come in the order of the changes; the queue always writes the
/// latest state handed over, so the file never goes back to an older one.
/// Each save's `then` runs once a write that includes that state is done
/// (or failed, which `complain` hears of): the registry answers a change
/// only once it is on disk, as it did when it wrote under the lock, while
/// requests that change nothing are answered meanwhile.
///
/// Who calls: `save` from any thread (the registry calls it with its tree
/// lock held); `write` and every `then` run on the writer's queue; `flush`
/// from any thread but that queue. Deadlocks: `then` must not wait for the
/// writer (it runs on its queue).
final class RegistryStateWriter: Sendable {
    /// Writes `text` to `path` atomically; returns the error text, if any.
    typealias Write = @Sendable (_ text: String, _ path: String) -> String?

    private struct Pending {
        /// The latest state not yet being written.
        var text: String?
        /// The saves `text` stands for, to tell once it is written.
        var waiters: [@Sendable () -> Void] = []
        /// A drain is scheduled or running on the queue.
        var draining = false
    }

    let path: String
    private let write: Write
    private let complain: @Sendable (String) -> Void
    private let pending = Mutex(Pending())
    private let queue = DispatchQueue(label: "ninep.srv.state-writer")

    init(path: String, write: @escaping Write = RegistryStateFile.write, complain: @escaping @Sendable (String) -> Void) {
        self.path = path
        self.write = write
        self.complain = complain
    }

    /// Queues `text` as the state to write, replacing any state not yet
    /// being written; `then` runs once it is written.
    func save(_ text: String, then: @escaping @Sendable () -> Void = {}) {
        let start = pending.withLock { p -> Bool in
            p.text = text
            p.waiters.append(then)
            defer { p.draining = true }
            return !p.draining
        }
        if start { queue.async { self.drain() } }
    }

    /// Returns once every state saved before the call is written.
    func flush() {
        queue.sync {}
    }

    /// Runs `then` on the writer's queue once every state saved before the
    /// call is written: a drain already scheduled runs first, and one that
    /// is running writes the latest state before it returns.
    func afterWrites(_ then: @escaping @Sendable () -> Void) {
        queue.async(execute: then)
    }

    private func drain() {
        while true {
            let next = pending.withLock { p -> (String, [@Sendable () -> Void])? in
                guard let text = p.text else {
                    p.draining = false
                    return nil
                }
                defer {
                    p.text = nil
                    p.waiters = []
                }
                return (text, p.waiters)
            }
            guard let (text, waiters) = next else { return }
            if let problem = write(text, path) { complain(problem) }
            for waiter in waiters { waiter() }
        }
    }
}
