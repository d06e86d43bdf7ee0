import Foundation
import Glibc
public import NinePTransport
import Synchronization

/// Why a `NinePProcess` could not be started, waited for or stopped.
public struct NinePProcessError: Error, CustomStringConvertible, Sendable {
    /// What was being done, with the command line.
    public var what: String
    /// Standard error of the process so far (the tail), when there is one.
    public var standardError: String

    public init(_ what: String, standardError: String = "") {
        self.what = what
        self.standardError = standardError
    }

    public var description: String {
        standardError.isEmpty ? what : "\(what); its standard error ends:\n\(standardError.suffix(4000))"
    }
}

/// The built `ninep` command run as a child process, for tests that need
/// the real binary: conformance against `ninep export` and `ninep ramfs`,
/// malformed input against a live server, and mount tests.
///
/// ```swift
/// let server = try await NinePProcess.serve(["export", dir], socketDirectory: tmp)
/// defer { server.stopNow() }
/// let client = try await RawNinePClient.connect(to: server.address)
/// …
/// try await server.stop()       // SIGTERM, then waits for the exit
/// ```
///
/// The child gets /dev/null as standard input and output and a pipe as
/// standard error, which a thread of its own reads to the end (so a chatty
/// server never blocks on a full pipe); `standardError` is everything read
/// so far. Every signal is at its default action in the child (the test
/// runner may ignore SIGTERM or SIGPIPE; the server must not inherit that).
///
/// Threads: one reaper thread waits for the child, one reader thread drains
/// its standard error; both update the locked state and resume waiters.
/// A signal is never sent once the child has been reaped, so it cannot hit a
/// reused pid.
public final class NinePProcess: Sendable {
    /// The child's process id.
    public let pid: Int32
    /// The command line, for messages.
    public let commandLine: String
    /// The address the server said it serves on (`serve` only).
    public let address: NinePAddress?

    private let shared: Shared

    /// The state the threads and waiters share (a class, so that the
    /// process `serve` returns shares it with the one it started).
    private final class Shared: Sendable {
        let state = Mutex(State())
    }

    private struct State {
        var standardError: [UInt8] = []
        var standardErrorClosed = false
        /// The raw wait status once reaped.
        var exitStatus: Int32?
        var waiters: [UInt64: Waiter] = [:]
        var nextWaiter: UInt64 = 0
        /// Waits whose deadline passed before they were registered.
        var expired: Set<UInt64> = []
    }

    private struct Waiter {
        /// Whether what the waiter waits for has happened.
        let ready: @Sendable (String, Int32?) -> Bool
        let continuation: CheckedContinuation<Void, Never>
    }

    private init(pid: Int32, commandLine: String, address: NinePAddress?, shared: Shared) {
        self.pid = pid
        self.commandLine = commandLine
        self.address = address
        self.shared = shared
    }

    // MARK: Finding the binary

    /// The `ninep` executable built beside the running test bundle: the
    /// directory of `CommandLine.arguments[0]` (or of `Bundle.main`) and its
    /// parents are searched for an executable named `name`.
    /// `NINEP_BINARY` in the environment overrides the search.
    ///
    /// - Throws: `NinePProcessError` saying where it looked and that
    ///   `swift build --build-tests` builds the binary.
    public static func executable(named name: String = "ninep") throws -> String {
        if let forced = ProcessInfo.processInfo.environment["NINEP_BINARY"], !forced.isEmpty {
            guard access(forced, X_OK) == 0 else { throw NinePProcessError("NINEP_BINARY=\(forced) is not executable") }
            return forced
        }
        var searched: [String] = []
        let starts = [CommandLine.arguments.first ?? "", Bundle.main.bundlePath, Bundle.main.executablePath ?? ""]
        for start in starts where !start.isEmpty {
            var dir = URL(fileURLWithPath: start).standardizedFileURL.deletingLastPathComponent()
            while dir.path != "/" && !dir.path.isEmpty {
                let candidate = dir.appendingPathComponent(name).path
                searched.append(dir.path)
                var st = stat()
                if stat(candidate, &st) == 0, st.st_mode & S_IFMT == S_IFREG, access(candidate, X_OK) == 0 {
                    return candidate
                }
                dir = dir.deletingLastPathComponent()
            }
        }
        throw NinePProcessError(
            "no '\(name)' executable beside the test bundle (looked in \(Set(searched).sorted().joined(separator: ", "))); "
                + "build it with 'swift build --build-tests' or set NINEP_BINARY")
    }

    // MARK: Starting

    /// Starts `executable` with `arguments` (not through a shell).
    public static func start(_ arguments: [String], executable: String? = nil) throws -> NinePProcess {
        try start(arguments, executable: executable, address: nil)
    }

    /// Starts a server subcommand (`["export", dir]`, `["ramfs"]`…) with
    /// `--listen unix!<socketDirectory>/9p.sock`, or `--listen` as given in
    /// `listen` (e.g. "tcp!127.0.0.1!0"), and waits until it prints
    /// "ninep: serving … on ADDR" on standard error; `address` is ADDR, with
    /// the real port when port 0 was asked for.
    ///
    /// - Throws: `NinePProcessError` with the process's standard error if it
    ///   exits or says nothing within `timeout`; the process is then stopped.
    public static func serve(
        _ arguments: [String], socketDirectory: String? = nil, listen: String? = nil,
        executable: String? = nil, timeout: Duration = .seconds(30)
    ) async throws -> NinePProcess {
        let listenString: String
        if let listen {
            listenString = listen
        } else if let socketDirectory {
            listenString = "unix!\(socketDirectory)/9p.sock"
        } else {
            throw NinePProcessError("NinePProcess.serve needs a socketDirectory or a listen address")
        }
        let subcommand = Array(arguments.prefix(1))
        let rest = Array(arguments.dropFirst())
        let started = try start(subcommand + ["--listen", listenString] + rest, executable: executable, address: nil)
        let marker = "ninep: serving "
        let said = await started.waitForStandardError(timeout: timeout) { text in
            text.split(separator: "\n").contains { $0.hasPrefix(marker) && $0.contains(" on ") }
        }
        let text = started.standardError
        guard said,
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix(marker) && $0.contains(" on ") }),
              let on = line.range(of: " on ", options: .backwards)
        else {
            started.stopNow()
            throw NinePProcessError("\(started.commandLine) did not say it was serving within \(timeout)", standardError: text)
        }
        let bound = String(line[on.upperBound...])
        let address: NinePAddress
        do {
            address = try NinePAddress(dialString: bound)
        } catch {
            started.stopNow()
            throw NinePProcessError("\(started.commandLine) serves on '\(bound)', which does not parse: \(error)", standardError: text)
        }
        return NinePProcess(pid: started.pid, commandLine: started.commandLine, address: address, shared: started.shared)
    }

    /// The connect deadline (seconds) every spawned command gets unless the
    /// environment sets `NINEP_CONNECT_TIMEOUT` already: generous, so that
    /// only tests of the deadline itself (which pass `--connect-timeout` or
    /// `-o connect_timeout=`, overriding it) depend on one, and a loaded
    /// machine's slow dial is not mistaken for a server that never answered.
    public static let connectTimeoutForTests = 120

    /// Our environment, with `NINEP_CONNECT_TIMEOUT` defaulted to
    /// `connectTimeoutForTests`.
    static func environment() -> [String] {
        var entries: [String] = []
        var index = 0
        while let entry = environ[index] {
            entries.append(String(cString: entry))
            index += 1
        }
        if !entries.contains(where: { $0.hasPrefix("NINEP_CONNECT_TIMEOUT=") }) {
            entries.append("NINEP_CONNECT_TIMEOUT=\(connectTimeoutForTests)")
        }
        return entries
    }

    private static func start(_ arguments: [String], executable: String?, address: NinePAddress?) throws -> NinePProcess {
        let path = try executable ?? Self.executable()
        let commandLine = ([path] + arguments).joined(separator: " ")
        var pipeFDs: [Int32] = [-1, -1]
        guard pipe(&pipeFDs) == 0 else { throw NinePProcessError("pipe for \(commandLine): \(Posix.errnoText())") }
        _ = fcntl(pipeFDs[0], F_SETFD, FD_CLOEXEC)

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, pipeFDs[1], 2)
        posix_spawn_file_actions_addclose(&actions, pipeFDs[1])
        // Nothing else of ours: an inherited descriptor on a mount keeps it busy.
        spawnActionsCloseFrom(&actions, 3)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        spawnAttributesWithDefaultSignals(&attributes)

        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let envp = Self.environment().map { strdup($0) } + [nil]
        defer { envp.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, path, &actions, &attributes, argv, envp)
        Glibc.close(pipeFDs[1])
        guard rc == 0 else {
            Glibc.close(pipeFDs[0])
            throw NinePProcessError("cannot run \(commandLine): \(Posix.errnoText(rc))")
        }
        let process = NinePProcess(pid: pid, commandLine: commandLine, address: address, shared: Shared())
        process.startThreads(standardError: pipeFDs[0])
        return process
    }

    private func startThreads(standardError fd: Int32) {
        let reader = Thread { [self] in
            var chunk = [UInt8](repeating: 0, count: 16 * 1024)
            while true {
                let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress!, $0.count) }
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                update { $0.standardError.append(contentsOf: chunk[0..<n]) }
            }
            Glibc.close(fd)
            update { $0.standardErrorClosed = true }
        }
        reader.name = "ninep stderr \(pid)"
        reader.start()
        let reaper = Thread { [self] in
            // Wait without reaping first, so that a signal sent meanwhile
            // (under the lock) never reaches a reused pid.
            var info = siginfo_t()
            while waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT) != 0 && errno == EINTR {}
            update { s in
                var status: Int32 = 0
                while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
                s.exitStatus = status
            }
        }
        reaper.name = "ninep reaper \(pid)"
        reaper.start()
    }

    /// Changes the state and resumes the waiters whose condition now holds
    /// (all of them once the process has exited and its standard error is
    /// closed: nothing more can happen).
    private func update(_ change: (inout State) -> Void) {
        let resumed = shared.state.withLock { s -> [CheckedContinuation<Void, Never>] in
            change(&s)
            guard !s.waiters.isEmpty else { return [] }
            let finished = s.exitStatus != nil && s.standardErrorClosed
            let text = String(decoding: s.standardError, as: UTF8.self)
            var ready: [CheckedContinuation<Void, Never>] = []
            for (id, w) in s.waiters where finished || w.ready(text, s.exitStatus) {
                ready.append(w.continuation)
                s.waiters.removeValue(forKey: id)
            }
            return ready
        }
        for c in resumed { c.resume() }
    }

    // MARK: Watching

    /// Everything the process has written to standard error so far.
    public var standardError: String {
        shared.state.withLock { String(decoding: $0.standardError, as: UTF8.self) }
    }

    /// Whether the process has not exited yet.
    public var isRunning: Bool { shared.state.withLock { $0.exitStatus == nil } }

    /// Whether the standard error pipe has been read to its end: neither
    /// the process nor any child it left behind still holds it.
    public var standardErrorIsClosed: Bool { shared.state.withLock { $0.standardErrorClosed } }

    /// The raw wait status once the process has exited.
    public var exitStatus: Int32? { shared.state.withLock { $0.exitStatus } }

    /// Waits until `condition(standardError)` holds, or the process has
    /// exited and closed its standard error, or `timeout` passes; returns
    /// whether the condition holds.
    public func waitForStandardError(
        timeout: Duration, _ condition: @escaping @Sendable (String) -> Bool
    ) async -> Bool {
        await wait(timeout: timeout) { text, _ in condition(text) }
        return condition(standardError)
    }

    /// Waits up to `timeout` for the process to exit; returns its raw wait
    /// status, or nil if it is still running. Once it has exited, also
    /// waits (up to 5 s more) until its standard error is read to the end,
    /// so that `standardError` holds all it wrote; a child it left behind
    /// holding that pipe only delays the return.
    public func waitForExit(timeout: Duration) async -> Int32? {
        await wait(timeout: timeout) { _, status in status != nil }
        guard let status = exitStatus else { return nil }
        await wait(timeout: .seconds(5)) { _, _ in false }  // returns once the pipe is closed
        return status
    }

    /// Returns once `ready` holds (checked now and at every change of the
    /// state), the process is over, or `timeout` has passed.
    private func wait(timeout: Duration, _ ready: @escaping @Sendable (String, Int32?) -> Bool) async {
        let id = shared.state.withLock { s -> UInt64 in
            s.nextWaiter += 1
            return s.nextWaiter
        }
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                    let now = self.shared.state.withLock { s -> Bool in
                        let finished = s.exitStatus != nil && s.standardErrorClosed
                        if finished || s.expired.remove(id) != nil { return true }
                        if ready(String(decoding: s.standardError, as: UTF8.self), s.exitStatus) { return true }
                        s.waiters[id] = Waiter(ready: ready, continuation: c)
                        return false
                    }
                    if now { c.resume() }
                }
            }
            group.addTask {
                // The deadline: a bound on the wait, not a synchronisation.
                try? await Task.sleep(for: timeout)
                let c = self.shared.state.withLock { s -> CheckedContinuation<Void, Never>? in
                    guard let w = s.waiters.removeValue(forKey: id) else {
                        s.expired.insert(id)
                        return nil
                    }
                    return w.continuation
                }
                c?.resume()
            }
            await group.next()
            group.cancelAll()
        }
        shared.state.withLock { _ = $0.expired.remove(id) }
    }

    // MARK: Stopping

    /// Sends `signal` unless the process has been reaped.
    public func signal(_ signal: Int32) {
        shared.state.withLock { s in
            if s.exitStatus == nil { _ = kill(pid, signal) }
        }
    }

    /// SIGTERM, then waits up to `timeout` for the exit (SIGKILL after it).
    /// Returns the raw wait status.
    ///
    /// - Throws: `NinePProcessError` if the process had to be killed.
    @discardableResult
    public func stop(timeout: Duration = .seconds(10)) async throws -> Int32 {
        signal(SIGTERM)
        if let status = await waitForExit(timeout: timeout) { return status }
        signal(SIGKILL)
        _ = await waitForExit(timeout: .seconds(10))
        throw NinePProcessError("\(commandLine) did not exit within \(timeout) of SIGTERM; killed", standardError: standardError)
    }

    /// SIGKILL without waiting, for cleanup paths (`defer`). The reaper
    /// thread collects the process.
    public func stopNow() {
        signal(SIGKILL)
    }

    /// "exited with status 0" or "killed by signal 15".
    public static func describe(status: Int32) -> String {
        let signal = status & 0x7f
        if signal == 0 { return "exited with status \((status >> 8) & 0xff)" }
        return "killed by signal \(signal)"
    }
}
