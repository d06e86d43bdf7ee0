import CFuse
import Glibc
public import Logging
import Synchronization

/// A FUSE filesystem mounted with libfuse's low-level API and served by
/// `FuseOperations`.
///
/// `init` checks the environment, creates the libfuse session and mounts:
/// once it returns the mount is in /proc/mounts. `run()` then serves
/// requests until the filesystem is unmounted from outside
/// (`fusermount3 -u`) or `stop()` is called, unmounts, and returns.
///
/// Threads: `run()` blocks its caller, which serves requests together with
/// `FuseSessionOptions.workerThreads - 1` threads it starts and joins before
/// returning; with `FuseSessionOptions.eventLoop` set, that loop reads the
/// device and runs every callback, and the caller only waits (and then
/// unmounts and calls `destroy`, off the loop). `stop()`, the notifications and the replies may be called from
/// any thread. Call `run()` on a thread of your own (a `Thread`, not a Swift
/// concurrency task: it blocks for the life of the mount).
///
/// Deadlocks:
/// - The process serving a mount must not touch its own mountpoint from the
///   thread that reads requests (the event loop, or a worker thread), nor
///   wait in an operation for something that needs the mount: the kernel
///   waits for that thread's answer.
/// - `notifyInvalEntry` waits for the directory's lock, which the kernel
///   holds while a lookup, create, mkdir, unlink or rename in that directory
///   awaits its answer: never make such an answer wait for a notification.
/// - Answering a reply waits for that request's interrupt handler if one is
///   running on another thread, so an interrupt handler must not wait for a
///   lock held by code that answers the same request.
/// - Unmounting waits for replies being written (a read-write lock), never
///   for replies not yet sent.
public final class FuseSession: Sendable {
    /// The mountpoint as mounted: absolute, without symlinks.
    public let mountpoint: String
    let core: SessionCore
    private let hasRun = Atomic<Bool>(false)

    /// Checks the device, fusermount3 and the mountpoint, creates the libfuse
    /// session with `options` and mounts it on `mountpoint`.
    ///
    /// The session keeps `operations` alive until the last reply is gone; an
    /// operations object that needs the session (for notifications) should
    /// hold it weakly.
    public convenience init(
        mountpoint: String, options: FuseSessionOptions, operations: some FuseOperations,
        logger: Logger = Logger(label: "FuseLowLevel")
    ) throws(FuseError) {
        try self.init(
            mountpoint: mountpoint, options: options, operations: operations, logger: logger, preflight: Preflight())
    }

    init(
        mountpoint: String, options: FuseSessionOptions, operations: any FuseOperations, logger: Logger,
        preflight: Preflight
    ) throws(FuseError) {
        let path = try preflight.check(mountpoint: mountpoint)
        let core = try SessionCore(options: options, operations: operations, logger: logger, mountpoint: path)
        try core.mount(at: path, mountInfoPath: preflight.mountInfoPath)
        self.mountpoint = path
        self.core = core
    }

    /// The descriptor of a FUSE device already mounted by someone else when
    /// `mountpoint` is `/dev/fd/N` (mount.fuse3's `drop_privileges`, which
    /// mounts itself and runs the file system unprivileged on the open
    /// device); libfuse then serves that device and never unmounts it.
    public static func passedDevice(in mountpoint: String) -> Int32? {
        guard mountpoint.hasPrefix("/dev/fd/"), let fd = Int32(mountpoint.dropFirst("/dev/fd/".count)), fd >= 0 else {
            return nil
        }
        return fd
    }

    deinit {
        // Never ran, or ran already: either way no worker is left.
        core.closeChannel()
    }

    /// What was negotiated at INIT; nil until the kernel's first request was served.
    public var connection: FuseConnectionInfo? { core.connection.withLock { $0 } }

    /// Serves requests until the filesystem is unmounted or `stop()` is
    /// called, then unmounts, calls `FuseOperations.destroy` (if INIT
    /// happened) and returns. Callable once.
    ///
    /// Throws `.deviceReadFailed` if reading the device failed (the
    /// filesystem is unmounted all the same) and `.alreadyRunning` on a second call.
    public func run() throws(FuseError) {
        guard !hasRun.exchange(true, ordering: .acquiringAndReleasing) else { throw .alreadyRunning }
        let failure = core.serve()
        core.closeChannel()
        if connection != nil { core.operations.destroy() }
        if let failure { throw .deviceReadFailed(errno: failure) }
    }

    /// Makes `run()` stop serving, unmount and return, promptly: requests in
    /// flight are not waited for, and their late replies are dropped. Safe
    /// from any thread, before, during or after `run()`, any number of times.
    public func stop() {
        core.requestStop()
    }

    /// Tells the kernel to drop its cached attributes of `ino` and its cached
    /// data from `offset` for `length` bytes (0: to the end; a negative
    /// offset drops only the attributes).
    /// Throws `.notifyFailed(ENOENT)` if the kernel has nothing cached for `ino`.
    public func notifyInvalInode(ino: UInt64, offset: Int64 = 0, length: Int64 = 0) throws(FuseError) {
        try core.notify { fuse_lowlevel_notify_inval_inode($0, ino, off_t(offset), off_t(length)) }
    }

    /// Tells the kernel to forget its cached entry `name` in directory `parent`.
    /// Throws `.notifyFailed(ENOENT)` if it had none.
    public func notifyInvalEntry(parent: UInt64, name: String) throws(FuseError) {
        try core.notify { session in
            name.withCString { fuse_lowlevel_notify_inval_entry(session, parent, $0, strlen($0)) }
        }
    }
}
