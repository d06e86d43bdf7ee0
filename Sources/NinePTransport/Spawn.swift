#if canImport(Glibc)
public import Glibc

/// Adds glibc's `posix_spawn_file_actions_addclosefrom_np` (glibc 2.34+) to
/// `actions`: the child closes every descriptor from `lowest` up. The Glibc
/// module does not export it, so it is looked up at run time; on an older
/// glibc this does nothing.
///
/// Why: a child that inherits a descriptor on a FUSE mount keeps that mount
/// busy, and one that inherits a socket keeps a peer from seeing EOF.
public func spawnActionsCloseFrom(_ actions: inout posix_spawn_file_actions_t, _ lowest: Int32) {
    guard let addCloseFrom else { return }
    _ = addCloseFrom(&actions, lowest)
}

private let addCloseFrom: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32)? = {
    guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") else {
        return nil
    }
    return unsafeBitCast(symbol, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32).self)
}()
#endif

#if canImport(Glibc)
/// prctl(PR_SET_PDEATHSIG, signal) for the calling thread: the kernel
/// sends `signal` to this process when its parent exits while this thread
/// lives and has it set (0 turns it off). The setting belongs to the thread,
/// not the process: clear it on the thread that set it, which async code
/// cannot promise (see `ParentDeathSignal` in `ninep`). Returns false if it
/// could not be set. prctl is variadic in C, which Swift cannot call, so it
/// is looked up at run time with its Linux argument list.
@discardableResult
public func setParentDeathSignal(_ signal: Int32) -> Bool {
    guard let prctl else { return false }
    return prctl(1 /* PR_SET_PDEATHSIG */, UInt(signal), 0, 0, 0) == 0
}

private let prctl: (@convention(c) (Int32, UInt, UInt, UInt, UInt) -> Int32)? = {
    guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "prctl") else { return nil }
    return unsafeBitCast(symbol, to: (@convention(c) (Int32, UInt, UInt, UInt, UInt) -> Int32).self)
}()
#endif

#if canImport(Glibc)
/// Sets `attributes` so that the child starts with every signal at its
/// default action and none blocked (POSIX_SPAWN_SETSIGDEF and
/// SETSIGMASK), adding `flags` (e.g. POSIX_SPAWN_SETPGROUP).
///
/// Why: a child inherits ignored signals and the signal mask across exec.
/// NIO ignores SIGPIPE here, signal handling through dispatch sources
/// ignores SIGINT and SIGTERM, and under `swift test` SIGINT may be
/// ignored: without this a child would carry on after those signals.
public func spawnAttributesWithDefaultSignals(_ attributes: inout posix_spawnattr_t, flags: Int32 = 0) {
    var every = sigset_t()
    sigfillset(&every)
    var none = sigset_t()
    sigemptyset(&none)
    posix_spawnattr_setsigdefault(&attributes, &every)
    posix_spawnattr_setsigmask(&attributes, &none)
    posix_spawnattr_setflags(&attributes, Int16(Int32(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK) | flags))
}

/// A program that could not be started.
public struct SpawnError: Error, CustomStringConvertible, Sendable {
    /// "cp: No such file or directory".
    public var description: String
}

/// Runs `argv` (found on PATH), with standard output and error together in
/// one pipe and nothing else of ours inherited, and waits for it.
///
/// - Returns: its exit status (128 + N if signal N ended it) and output.
/// - Throws: `SpawnError` if it cannot be started.
public func runCapturingOutput(_ argv: [String]) throws(SpawnError) -> (status: Int32, output: String) {
    var fds: [Int32] = [0, 0]
    guard pipe(&fds) == 0 else { throw SpawnError(description: "pipe: \(String(cString: strerror(errno)))") }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
    posix_spawn_file_actions_adddup2(&actions, fds[1], 2)
    posix_spawn_file_actions_addclose(&actions, fds[0])
    // Nothing else of ours: an inherited descriptor on a mount keeps it busy.
    spawnActionsCloseFrom(&actions, 3)
    var pid: pid_t = 0
    let cArgs = argv.map { strdup($0) } + [nil]
    defer { cArgs.forEach { free($0) } }
    let rc = posix_spawnp(&pid, argv[0], &actions, nil, cArgs, environ)
    close(fds[1])
    guard rc == 0 else {
        close(fds[0])
        throw SpawnError(description: "\(argv[0]): \(String(cString: strerror(rc)))")
    }
    var output: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fds[0], $0.baseAddress!, $0.count) }
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { break }
        output += chunk[0..<n]
    }
    close(fds[0])
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    let exit = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    return (exit, String(decoding: output, as: UTF8.self))
}
#endif
