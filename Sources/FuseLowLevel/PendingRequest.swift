import CFuse
import Glibc
import Synchronization

/// One request libfuse handed us and that has not been answered yet: the
/// `fuse_req_t`, whether it was answered, and its interrupt registration.
///
/// Who touches what: `answer` and `onInterrupt` run on any thread; the
/// interrupt callback runs where the kernel's INTERRUPT was read (the
/// session's event loop or a worker thread), with libfuse's per-request
/// lock held. `state` guards the rest.
///
/// Lock order: `state` → libfuse's request lock only while registering the
/// interrupt callback, which happens once and before libfuse can call it;
/// libfuse's request lock → `state` in the callback. The two never wait on
/// each other: while `onInterrupt` holds `state`, the callback is either not
/// yet registered or runs on this very thread (see `registeringThread`).
final class PendingRequest: @unchecked Sendable {
    let request: OpaquePointer
    let core: SessionCore
    let operation: StaticString

    private struct State {
        var answered = false
        /// Answered EINTR by `answerInterrupted`, while the work goes on:
        /// the work's own answer later is expected, and dropped quietly.
        var answeredEarly = false
        var interrupted = false
        /// libfuse holds a retained pointer to `self` as the callback's data.
        var registered = false
        var handler: (@Sendable () -> Void)?
    }

    private let state = Mutex(State())
    /// The thread inside `fuse_req_interrupt_func` registering the callback,
    /// which calls the callback at once if the request was already interrupted.
    private let registeringThread = Atomic<UInt>(0)
    private let interruptedWhileRegistering = Atomic<Bool>(false)
    /// The thread running the user's interrupt handler, holding libfuse's request lock.
    private let handlerThread = Atomic<UInt>(0)

    init(request: OpaquePointer, core: SessionCore, operation: StaticString) {
        self.request = request
        self.core = core
        self.operation = operation
    }

    var isAnswered: Bool { state.withLock { $0.answered } }

    var isInterrupted: Bool {
        state.withLock { state in
            if state.interrupted { return true }
            if state.answered { return false }  // the fuse_req is gone
            return fuse_req_interrupted(request) != 0
        }
    }

    /// Answers EINTR now, for an interrupted request whose work goes on
    /// (a 9P request waiting for its Rflush): the later answer of that work
    /// is dropped without a complaint. Does nothing if already answered.
    func answerInterrupted() {
        let first = state.withLock { state -> Bool in
            guard !state.answered else { return false }
            state.answeredEarly = true
            return true
        }
        if first { answer("EINTR (interrupted)") { fuse_reply_err($0, EINTR) } }
    }

    /// Sends the reply with `send` unless one was sent already, in which
    /// case it reports the bug and does nothing (or, after
    /// `answerInterrupted`, just does nothing). Returns whether the kernel
    /// took the answer: false if it was not sent, if the kernel had given
    /// up on the request, or if the filesystem is unmounted.
    @discardableResult
    func answer(_ what: String, _ send: (OpaquePointer) -> Int32) -> Bool {
        let (first, early, registered, handler) = state.withLock { state -> (Bool, Bool, Bool, (@Sendable () -> Void)?) in
            guard !state.answered else { return (false, state.answeredEarly && state.answered, false, nil) }
            state.answered = true
            defer {
                state.registered = false
                state.handler = nil
            }
            return (true, false, state.registered, state.handler)
        }
        // The handler may hold the last reference to the reply: release it here, outside the lock.
        withExtendedLifetime(handler) {}
        guard first else {
            if !early { core.reportMisuse("\(operation): \(what) after the request was already answered") }
            return false
        }
        if registered {
            // Unregistering takes libfuse's request lock, so it waits until a
            // callback running on another thread has returned; after it, libfuse
            // will not use our pointer again. Inside the handler that lock is
            // ours already, and the reply below unregisters the callback anyway.
            if handlerThread.load(ordering: .acquiring) != pthread_self() {
                fuse_req_interrupt_func(request, nil, nil)
            }
            Unmanaged.passUnretained(self).release()
        }
        let sent = core.withChannel { _ in send(request) }
        if sent == nil {
            fuse_reply_none(request)  // unmounted: nothing to write to, only free the request
            return false
        } else if let rc = sent, rc != 0 {
            // ENOENT: the kernel gave up on the request (interrupted and answered already).
            core.logger.debug("FUSE \(operation) reply not delivered: \(FuseError.text(-rc))")
            return false
        }
        return true
    }

    /// The reply handle went away: answer EIO if nobody answered.
    func abandon() {
        guard !isAnswered else { return }
        core.reportMisuse("\(operation) request dropped without a reply; answering EIO")
        answer("EIO for a dropped reply") { fuse_reply_err($0, EIO) }
    }

    func onInterrupt(_ handler: @escaping @Sendable () -> Void) {
        let runNow = state.withLock { state -> Bool in
            if state.answered { return false }
            if state.interrupted { return true }
            state.handler = handler
            if state.registered { return false }
            state.registered = true
            registeringThread.store(pthread_self(), ordering: .releasing)
            fuse_req_interrupt_func(request, { _, data in
                guard let data else { return }
                Unmanaged<PendingRequest>.fromOpaque(data).takeUnretainedValue().interruptArrived()
            }, Unmanaged.passRetained(self).toOpaque())
            registeringThread.store(0, ordering: .releasing)
            guard interruptedWhileRegistering.load(ordering: .acquiring) else { return false }
            state.interrupted = true
            state.handler = nil
            return true
        }
        // Outside both locks, so the handler may answer.
        if runNow { handler() }
    }

    /// libfuse's interrupt callback: the kernel sent INTERRUPT for this request.
    private func interruptArrived() {
        if registeringThread.load(ordering: .acquiring) == pthread_self() {
            // Called from inside our own registration, which holds `state`
            // and runs the handler once it has let go of the locks.
            interruptedWhileRegistering.store(true, ordering: .releasing)
            return
        }
        let handler = state.withLock { state -> (@Sendable () -> Void)? in
            guard !state.answered, !state.interrupted else { return nil }
            state.interrupted = true
            defer { state.handler = nil }
            return state.handler
        }
        guard let handler else { return }
        handlerThread.store(pthread_self(), ordering: .releasing)
        handler()
        handlerThread.store(0, ordering: .releasing)
    }
}
