#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import NIOCore
import NIOPosix
import Synchronization

/// A command run by `/bin/sh -c` for an `exec!` address, with its stdin and
/// stdout connected to pipes the caller owns. Its stderr is ours.
///
/// The child is always reaped: a dedicated thread waits for it from the
/// moment it starts. `terminate()` (called when the connection closes) gives
/// it a moment to exit on end-of-file, then sends SIGTERM, then SIGKILL.
///
/// Who touches what: `state` is guarded by its mutex; the waiting thread and
/// the event loop's scheduled signals both take it, so a signal is never
/// sent to a pid that has been reaped (and so perhaps reused).
final class ChildProcess: Sendable {
    let pid: pid_t
    let command: String
    /// Completes with the raw wait status once the child is reaped.
    let exit: EventLoopFuture<CInt>

    private let state: Mutex<State>
    private struct State {
        var reaped = false
        var terminating = false
    }

    /// How long a child has to exit by itself once its stdin is closed.
    static let gracePeriod = TimeAmount.milliseconds(500)
    /// How long after SIGTERM before SIGKILL.
    static let killPeriod = TimeAmount.seconds(2)

    private init(pid: pid_t, command: String, exit: EventLoopFuture<CInt>) {
        self.pid = pid
        self.command = command
        self.exit = exit
        self.state = Mutex(State())
    }

    /// The pipe ends the parent keeps: it reads the child's stdout from
    /// `fromChild` and writes the child's stdin to `toChild`. Both are close-on-exec.
    struct Pipes {
        var fromChild: CInt
        var toChild: CInt
    }

    /// Starts `/bin/sh -c command`. Throws `NinePTransportError` with the OS reason.
    static func spawn(command: String, eventLoop: any EventLoop) throws -> (ChildProcess, Pipes) {
        let address = "exec!\(command)"
        func failure(_ what: String, _ code: CInt) -> NinePTransportError {
            NinePTransportError(.dial, address: address, reason: "\(what): \(errnoText(code))")
        }
        var stdinPipe: [CInt] = [-1, -1]
        var stdoutPipe: [CInt] = [-1, -1]
        // Glibc's pipe2 is not visible to Swift; set close-on-exec right after.
        guard pipe(&stdinPipe) == 0 else { throw failure("pipe", errno) }
        guard pipe(&stdoutPipe) == 0 else {
            let code = errno
            close(stdinPipe[0]); close(stdinPipe[1])
            throw failure("pipe", code)
        }
        for fd in stdinPipe + stdoutPipe { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        var keep = false
        defer {
            // The child's ends are always ours to close; the parent's only on failure.
            close(stdinPipe[0]); close(stdoutPipe[1])
            if !keep { close(stdinPipe[1]); close(stdoutPipe[0]) }
        }
        // dup2 onto the same number would leave close-on-exec set, so the
        // child's ends must not be 0 or 1 (possible if our stdin is closed).
        func liftAboveStandardStreams(_ fd: inout CInt) throws {
            guard fd <= 2 else { return }
            let moved = fcntl(fd, F_DUPFD_CLOEXEC, 3)
            guard moved >= 0 else { throw failure("fcntl", errno) }
            close(fd)
            fd = moved
        }
        try liftAboveStandardStreams(&stdinPipe[0])
        try liftAboveStandardStreams(&stdoutPipe[1])

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, stdinPipe[0], 0)
        posix_spawn_file_actions_adddup2(&actions, stdoutPipe[1], 1)
        // Nothing else of ours: an inherited descriptor on a mount keeps it busy.
        spawnActionsCloseFrom(&actions, 3)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        spawnAttributesWithDefaultSignals(&attributes)

        let argv: [UnsafeMutablePointer<CChar>?] = [strdup("/bin/sh"), strdup("-c"), strdup(command), nil]
        defer { for arg in argv { free(arg) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, "/bin/sh", &actions, &attributes, argv, environ)
        guard rc == 0 else { throw failure("cannot run /bin/sh", rc) }
        keep = true

        let promise = eventLoop.makePromise(of: CInt.self)
        let child = ChildProcess(pid: pid, command: command, exit: promise.futureResult)
        child.startReaper(promise)
        return (child, Pipes(fromChild: stdoutPipe[0], toChild: stdinPipe[1]))
    }

    /// Waits for the child on a thread of its own: the child may live as long
    /// as the connection, so it must not hold a shared pool's thread.
    private func startReaper(_ promise: EventLoopPromise<CInt>) {
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        let pid = self.pid
        pool.submit { [self] _ in
            // Wait without reaping first, so that `signal` never races with pid reuse.
            var info = siginfo_t()
            while waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT) != 0 && errno == EINTR {}
            var status: CInt = 0
            // Deadlocks: the lock is held across waitpid, which cannot block
            // here: waitid has seen the child exit, so it is a zombie.
            state.withLock { state in
                while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
                state.reaped = true
            }
            promise.succeed(status)
            pool.shutdownGracefully { _ in }
        }
    }

    /// Sends `signal` unless the child has been reaped.
    private func send(_ signal: CInt) {
        state.withLock { state in
            if !state.reaped { _ = kill(pid, signal) }
        }
    }

    /// Ends the child: the caller has closed its pipes; after the grace
    /// period SIGTERM, after the kill period SIGKILL. Idempotent.
    func terminate() {
        let first = state.withLock { state in
            defer { state.terminating = true }
            return !state.terminating && !state.reaped
        }
        guard first else { return }
        let loop = exit.eventLoop
        let term = loop.scheduleTask(in: Self.gracePeriod) { self.send(SIGTERM) }
        let killer = loop.scheduleTask(in: Self.gracePeriod + Self.killPeriod) { self.send(SIGKILL) }
        exit.whenComplete { _ in
            term.cancel()
            killer.cancel()
        }
    }

    /// "exited with status 127" or "killed by signal 9", for error messages.
    static func describe(status: CInt) -> String {
        let signal = status & 0x7f
        if signal == 0 { return "exited with status \((status >> 8) & 0xff)" }
        return "killed by signal \(signal)"
    }
}
