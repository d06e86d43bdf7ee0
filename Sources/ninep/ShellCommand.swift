import Foundation
import Glibc
import NinePTransport
import Synchronization

/// One run of a user's command by `/bin/sh -c`, with `input` on its stdin,
/// its stdout and stderr collected, in a process group of its own so that
/// cancelling it (SIGTERM to the group) stops what it started too.
///
/// Who touches what: the run happens on a thread of its own (the command
/// may take any time; the cooperative pool must not wait for it); `pid` is
/// behind a lock shared with the cancellation handler, and is cleared once
/// the child is reaped, so a signal never reaches a reused pid.
struct ShellCommand: Sendable {
    let command: String
    let environment: [String: String]

    /// What a finished run produced.
    struct Output: Sendable {
        var status: Int32
        var standardOutput: [UInt8]
        var standardError: [UInt8]

        /// nil on success; otherwise the error string for the client:
        /// stderr's last line, else the exit status.
        var failure: String? {
            let text = String(decoding: standardError, as: UTF8.self).trimmingSpaces()
            if status == 0 && text.isEmpty { return nil }
            let line = text.split(separator: "\n").last.map(String.init) ?? ""
            if !line.isEmpty { return line }
            return (status & 0x7f) != 0 ? "killed by signal \(status & 0x7f)" : "exit status \((status >> 8) & 0xff)"
        }
    }

    /// Runs the command to completion, or until the task is cancelled
    /// (then the process group gets SIGTERM and this returns what it had).
    func run(input: [UInt8] = []) async throws -> Output {
        let pid = ChildPID()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Output, any Error>) in
                let thread = Thread { continuation.resume(with: Result { try runBlocking(input: input, pid: pid) }) }
                thread.start()
            }
        } onCancel: {
            pid.value.withLock { p in if let p { _ = kill(-p, SIGTERM) } }
        }
    }

    private func runBlocking(input: [UInt8], pid: ChildPID) throws -> Output {
        let shared = pid
        var inPipe: [Int32] = [0, 0], outPipe: [Int32] = [0, 0], errPipe: [Int32] = [0, 0]
        guard pipe(&inPipe) == 0, pipe(&outPipe) == 0, pipe(&errPipe) == 0 else {
            throw ShellError(description: "cannot create a pipe: \(String(cString: strerror(errno)))")
        }
        // Not for other commands started meanwhile (they would hold our pipes open).
        for fd in [inPipe, outPipe, errPipe].joined() { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, inPipe[0], 0)
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        spawnAttributesWithDefaultSignals(&attr, flags: Int32(POSIX_SPAWN_SETPGROUP))
        posix_spawnattr_setpgroup(&attr, 0)
        var env = ProcessInfo.processInfo.environment
        env.merge(environment) { $1 }
        let cEnv = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        let argv: [String] = ["/bin/sh", "-c", command]
        let cArgs = argv.map { strdup($0) } + [nil]
        defer { (cEnv + cArgs).forEach { free($0) } }
        var child: pid_t = 0
        let rc = shared.value.withLock { p -> Int32 in
            let rc = posix_spawn(&child, "/bin/sh", &actions, &attr, cArgs, cEnv)
            if rc == 0 { p = child }
            return rc
        }
        [inPipe[0], outPipe[1], errPipe[1]].forEach { close($0) }
        guard rc == 0 else {
            [inPipe[1], outPipe[0], errPipe[0]].forEach { close($0) }
            throw ShellError(description: "cannot run /bin/sh: \(String(cString: strerror(rc)))")
        }
        // stdin from one more thread, so a command that writes before it
        // reads cannot deadlock against us.
        let stdinFD = inPipe[1]
        let writer = Thread {
            var done = 0
            while done < input.count {
                let n = input.withUnsafeBytes { write(stdinFD, $0.baseAddress! + done, $0.count - done) }
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                done += n
            }
            close(stdinFD)
        }
        writer.start()
        let (out, err) = drain(outPipe[0], errPipe[0])
        var status: Int32 = 0
        while waitpid(child, &status, 0) < 0 && errno == EINTR {}
        shared.value.withLock { $0 = nil }
        return Output(status: status, standardOutput: out, standardError: err)
    }

    /// Reads both pipes to end of file with poll(2), then closes them.
    private func drain(_ out: Int32, _ err: Int32) -> ([UInt8], [UInt8]) {
        var collected: [[UInt8]] = [[], []]
        var fds = [pollfd(fd: out, events: Int16(POLLIN), revents: 0), pollfd(fd: err, events: Int16(POLLIN), revents: 0)]
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while fds.contains(where: { $0.fd >= 0 }) {
            if poll(&fds, nfds_t(fds.count), -1) < 0 {
                if errno == EINTR { continue }
                break
            }
            for i in fds.indices where fds[i].fd >= 0 && fds[i].revents != 0 {
                let n = chunk.withUnsafeMutableBytes { read(fds[i].fd, $0.baseAddress!, $0.count) }
                if n < 0 && errno == EINTR { continue }
                if n <= 0 {
                    close(fds[i].fd)
                    fds[i].fd = -1
                } else {
                    collected[i] += chunk[0..<n]
                }
            }
        }
        return (collected[0], collected[1])
    }
}

/// The pid of a running child, nil once reaped.
final class ChildPID: Sendable {
    let value = Mutex<pid_t?>(nil)
}

/// A failure to start a command.
struct ShellError: Error, CustomStringConvertible {
    let description: String
}
