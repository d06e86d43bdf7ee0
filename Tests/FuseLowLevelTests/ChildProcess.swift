import Dispatch
import Foundation
import Glibc
import Synchronization

/// A child process started with posix_spawn and every signal at its default
/// action. Foundation's `Process` passes on ignored signals, and under
/// `swift test` SIGINT may be ignored, which would make a SIGINT'd child
/// carry on instead of dying.
final class ChildProcess: Sendable {
    let pid: pid_t
    private let exited = DispatchSemaphore(value: 0)
    private let status = Atomic<Int32>(0)

    init(_ path: String, _ arguments: [String]) throws {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var all = sigset_t()
        sigfillset(&all)
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        // Nothing else of ours: an inherited descriptor on a mount keeps it busy.
        closeFrom3(&actions)

        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, path, &actions, &attributes, argv, environ)
        guard rc == 0 else { throw POSIXError(POSIXErrorCode(rawValue: rc) ?? .EIO) }
        self.pid = pid
        let waiter = Thread { [self] in
            var raw: Int32 = 0
            while waitpid(self.pid, &raw, 0) < 0 && errno == EINTR {}
            status.store(raw, ordering: .releasing)
            exited.signal()
        }
        waiter.start()
    }

    func signal(_ number: Int32) {
        kill(pid, number)
    }

    /// The raw wait status once the child ended, or nil on timeout.
    func wait(seconds: Double) -> Int32? {
        guard exited.wait(timeout: .now() + seconds) == .success else { return nil }
        exited.signal()
        return status.load(ordering: .acquiring)
    }

    /// The signal that ended the child, from a raw wait status (WTERMSIG), or nil if it exited.
    static func terminatingSignal(_ status: Int32) -> Int32? {
        let signal = status & 0x7f
        return signal != 0 && signal != 0x7f ? signal : nil
    }
}

/// The child closes every descriptor from 3 up (glibc's
/// posix_spawn_file_actions_addclosefrom_np, looked up at run time since the
/// Glibc module does not export it): an inherited descriptor on another
/// test's mount would keep that mount busy.
private func closeFrom3(_ actions: inout posix_spawn_file_actions_t) {
    typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") else { return }
    _ = unsafeBitCast(symbol, to: AddCloseFrom.self)(&actions, 3)
}
