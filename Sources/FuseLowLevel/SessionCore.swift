import CFuse
import Glibc
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// The part of a session that libfuse's callbacks and outstanding replies
/// share: the `fuse_session`, the operations, the device lock.
///
/// Who touches what:
/// - `session` is set once in `init`, before libfuse can call back, and never
///   changes; libfuse itself serialises what it does with it.
/// - `channelOpen` is guarded by `channel`: replies and notifications hold the
///   read lock while they write to the device; `closeChannel` (the `run()`
///   thread, or `FuseSession.deinit`) holds the write lock while it unmounts.
/// - `connection` is written by the INIT callback (on the event loop or a
///   worker thread, wherever requests are read) and read from anywhere.
/// - Requests are read on `options.eventLoop` when set; otherwise the worker
///   loop runs on `run()`'s thread and the threads it starts.
///
/// Every `FuseReply` keeps its core alive, so a late reply never finds a
/// freed `fuse_session`; the core destroys the session when the last reply
/// and the `FuseSession` are gone.
final class SessionCore: @unchecked Sendable {
    let operations: any FuseOperations
    let options: FuseSessionOptions
    let logger: Logger
    let connection = Mutex<FuseConnectionInfo?>(nil)
    /// Replies sent twice or dropped unanswered, for tests and diagnostics.
    let misuseCount = Atomic<Int>(0)

    private(set) var session: OpaquePointer?
    private let channel = ReadWriteLock()
    private var channelOpen = false
    /// `stop()` writes a byte to `wake.write`; every worker polls `wake.read`
    /// next to the device, so all of them leave their poll at once.
    private let wake: (read: Int32, write: Int32)
    private let failure = Atomic<Int32>(0)
    /// The mount's device number ("0:52"), naming its backing device info
    /// in /sys/class/bdi; set by `mount(at:mountInfoPath:)` before any worker runs.
    private var device: String?
    /// The channel reading the device when serving from an event loop
    /// (`FuseSessionOptions.eventLoop`); nil otherwise, and once stopped.
    private let loopReader = Mutex<(any Channel)?>(nil)
    /// The request the loop reader is handing to libfuse, for `bytes` to
    /// slice; nil otherwise. Touched only by the loop reader, on its loop.
    private var currentRequest: ByteBuffer?
    /// Set by `requestStop()`, so that a loop reader registered after it closes at once.
    private let stopRequested = Atomic<Bool>(false)

    init(options: FuseSessionOptions, operations: any FuseOperations, logger: Logger, mountpoint: String) throws(FuseError) {
        self.options = options
        self.operations = operations
        self.logger = logger
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { throw .mountFailed(path: mountpoint, errno: errno) }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        _ = fcntl(fds[1], F_SETFL, fcntl(fds[1], F_GETFL) | O_NONBLOCK)
        wake = (fds[0], fds[1])

        let arguments = options.arguments
        var ops = LowLevelOps.table()
        let userdata = Unmanaged.passUnretained(self).toOpaque()
        session = Self.withCArguments(arguments) { args in
            fuse_session_new(args, &ops, MemoryLayout<fuse_lowlevel_ops>.size, userdata)
        }
        guard session != nil else { throw .sessionCreationFailed(arguments: arguments) }
    }

    deinit {
        closeChannel()
        if let session { fuse_session_destroy(session) }
        close(wake.read)
        close(wake.write)
    }

    static func from(_ userdata: UnsafeMutableRawPointer) -> SessionCore {
        Unmanaged<SessionCore>.fromOpaque(userdata).takeUnretainedValue()
    }

    /// Hands `arguments` to `body` as a `struct fuse_args`, freeing whatever libfuse allocated.
    private static func withCArguments<R>(_ arguments: [String], _ body: (UnsafeMutablePointer<fuse_args>) -> R) -> R {
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) }
        defer { for arg in argv { free(arg) } }
        argv.append(nil)
        return argv.withUnsafeMutableBufferPointer { argvBuffer in
            var args = fuse_args(argc: Int32(arguments.count), argv: argvBuffer.baseAddress, allocated: 0)
            defer { fuse_opt_free_args(&args) }
            return body(&args)
        }
    }

    // MARK: Mounting

    func mount(at path: String, mountInfoPath: String) throws(FuseError) {
        errno = 0
        guard fuse_session_mount(session, path) == 0 else {
            let code = errno
            throw code == EBUSY ? .mountpointBusy(path: path) : .mountFailed(path: path, errno: code == 0 ? EIO : code)
        }
        channel.withWriteLock { channelOpen = true }
        if options.readAheadKiB != nil {
            device = Preflight(mountInfoPath: mountInfoPath).fuseDevice(mountedOn: path)
        }
        // Nonblocking, so a worker woken with nothing to read (another took
        // the request) goes back to poll instead of sleeping in read(2).
        let fd = fuse_session_fd(session)
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
    }

    /// Runs `body` with the session while the device is open; nil once unmounted.
    func withChannel<R>(_ body: (OpaquePointer) -> R) -> R? {
        channel.withReadLock { channelOpen ? body(session!) : nil }
    }

    /// Unmounts and closes the device, once. Waits for replies being written.
    func closeChannel() {
        channel.withWriteLock {
            guard channelOpen else { return }
            channelOpen = false
            fuse_session_unmount(session)
        }
    }

    func notify(_ body: (OpaquePointer) -> Int32) throws(FuseError) {
        guard let rc = withChannel(body) else { throw .notConnected }
        if rc != 0 { throw .notifyFailed(errno: -rc) }
    }

    // MARK: The loop

    /// Serves requests on this thread and `options.workerThreads - 1` more
    /// until the filesystem is unmounted or `requestStop()` is called.
    /// Returns the errno that stopped the loop, if it was an error.
    ///
    /// This is `fuse_session_loop_mt` with one change: each worker polls the
    /// device together with the wake pipe. libfuse's own loop only notices
    /// `fuse_session_exit` when a request or a signal arrives, so stopping it
    /// from another thread would need a signal sent to its threads.
    func serve() -> Int32? {
        if let loop = options.eventLoop { return serve(on: loop) }
        var threads: [pthread_t] = []
        for index in 1..<max(1, options.workerThreads) {
            guard let thread = WorkerThread.start({ [self] in workerLoop() }) else {
                logger.warning("could not start FUSE worker thread \(index); serving with \(index)")
                break
            }
            threads.append(thread)
        }
        workerLoop()
        threads.forEach(WorkerThread.join)
        let code = failure.load(ordering: .acquiring)
        return code == 0 ? nil : code
    }

    private func workerLoop() {
        guard let session else { return }
        var buffer = fuse_buf()
        defer { free(buffer.mem) }
        var fds = [
            pollfd(fd: fuse_session_fd(session), events: Int16(POLLIN), revents: 0),
            pollfd(fd: wake.read, events: Int16(POLLIN), revents: 0),
        ]
        while fuse_session_exited(session) == 0 {
            fds[0].revents = 0
            fds[1].revents = 0
            if poll(&fds, 2, -1) < 0 {
                if errno == EINTR { continue }
                failure.store(errno, ordering: .releasing)
                break
            }
            if fds[1].revents != 0 { break }
            // Returns 0 when the kernel said ENODEV: unmounted from outside
            // (fusermount3 -u) or aborted; libfuse then marks the session exited.
            let received = fuse_session_receive_buf(session, &buffer)
            if received == -EAGAIN || received == -EINTR { continue }
            // ECONNABORTED: the kernel shut the connection down while this
            // thread was taking a request off its queue, as an unmount does
            // when it races a read (most often with background requests
            // queued, such as the RELEASEs of many files closed just
            // before). The end of the session, like ENODEV, not a failure.
            if received == -ECONNABORTED {
                fuse_session_exit(session)
                break
            }
            if received < 0 {
                failure.store(-received, ordering: .releasing)
                break
            }
            if received == 0 { break }
            fuse_session_process_buf(session, &buffer)
        }
        requestStop()  // so the siblings leave too
    }

    /// Makes every worker leave its loop. Safe from any thread, any number of times.
    func requestStop() {
        stopRequested.store(true, ordering: .sequentiallyConsistent)
        if let session { fuse_session_exit(session) }
        var byte: UInt8 = 1
        _ = write(wake.write, &byte, 1)
        loopReader.withLock { $0 }?.close(promise: nil)
    }

    // MARK: Serving from an event loop

    /// Reads the device on `loop` (a NIO pipe channel on a duplicate of the
    /// descriptor, each read one request) and processes every request
    /// there; this thread only waits for the channel to close: on unmount
    /// (ENODEV, ECONNABORTED), on `requestStop()`, or on a read error,
    /// whose errno it returns.
    private func serve(on loop: any EventLoop) -> Int32? {
        guard let session else { return nil }
        let fd = dup(fuse_session_fd(session))
        guard fd >= 0 else { return errno }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        let reader = LoopDeviceReader(core: self)
        let channel: any Channel
        do {
            // The kernel refuses reads into less room than the largest
            // write request (max_write and its headers) takes.
            let room = max(options.clampedMaxWrite, 8192) + 4096
            channel = try NIOPipeBootstrap(group: loop)
                .channelOption(.recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: room))
                .channelOption(.maxMessagesPerRead, value: 16)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(reader) }
                }
                .takingOwnershipOfDescriptor(input: fd)
                .wait()
        } catch {
            logger.error("cannot read the FUSE device on the event loop: \(error)")
            return EIO
        }
        loopReader.withLock { $0 = channel }
        if stopRequested.load(ordering: .sequentiallyConsistent) { channel.close(promise: nil) }
        try? channel.closeFuture.wait()
        loopReader.withLock { $0 = nil }
        let code = failure.load(ordering: .acquiring)
        return code == 0 ? nil : code
    }

    /// One request as read from the device, on the loop.
    /// libfuse only reads the request (a write's data is handed on as a
    /// const pointer), so the channel's buffer is lent as it is: asking for
    /// mutable bytes would copy it, the whole receive buffer, every time.
    fileprivate func process(_ request: ByteBuffer) {
        guard let session else { return }
        currentRequest = request
        defer { currentRequest = nil }
        request.withUnsafeReadableBytes { bytes in
            var buffer = fuse_buf()
            buffer.size = bytes.count
            buffer.mem = UnsafeMutableRawPointer(mutating: bytes.baseAddress)
            buffer.fd = -1
            fuse_session_process_buf(session, &buffer)
        }
    }

    /// `count` bytes at `pointer`, inside the request being processed, as a
    /// buffer: a slice of the request's own buffer when the loop reader is
    /// processing it (nothing copied), otherwise a copy.
    func bytes(_ pointer: UnsafePointer<CChar>?, count: Int) -> ByteBuffer {
        let source = UnsafeRawBufferPointer(start: pointer, count: count)
        if let request = currentRequest, let pointer {
            let offset = request.withUnsafeReadableBytes { base -> Int? in
                guard let start = base.baseAddress else { return nil }
                let offset = UnsafeRawPointer(pointer) - start
                return offset >= 0 && offset + count <= base.count ? offset : nil
            }
            if let offset, let slice = request.getSlice(at: request.readerIndex + offset, length: count) {
                return slice
            }
        }
        var copy = ByteBufferAllocator().buffer(capacity: count)
        copy.writeBytes(source)
        return copy
    }

    /// The end of the device as the loop reader saw it: nil for an unmount.
    fileprivate func deviceEnded(_ error: (any Error)?) {
        guard let error else { return }
        let code = (error as? IOError)?.errnoCode ?? EIO
        // ENODEV: unmounted from outside or aborted; ECONNABORTED: the
        // unmount raced a read (see `workerLoop`). Neither is a failure.
        if code != ENODEV && code != ECONNABORTED && !stopRequested.load(ordering: .sequentiallyConsistent) {
            failure.store(code, ordering: .releasing)
        }
        if let session { fuse_session_exit(session) }
    }

    // MARK: INIT

    /// Called by libfuse's INIT handling, where requests are read, before any other request.
    func negotiate(_ conn: UnsafeMutablePointer<fuse_conn_info>) {
        conn.pointee.max_write = min(conn.pointee.max_write, UInt32(options.clampedMaxWrite))
        // libfuse 3.14 refuses INIT unless this equals the -o max_read= it was given.
        conn.pointee.max_read = UInt32(options.clampedMaxRead)
        conn.pointee.max_readahead = min(conn.pointee.max_readahead, UInt32(clamping: options.maxReadahead))
        // The kernel takes the smaller of the window and the INIT reply's
        // max_readahead: a window set now must be answered in full.
        if let kib = setReadAhead() { conn.pointee.max_readahead = UInt32(clamping: kib * 1024) }
        if let background = options.maxBackground {
            conn.pointee.max_background = UInt32(clamping: background)
        }
        var want = FuseCapabilities(rawValue: conn.pointee.want)
        func choose(_ flag: FuseCapabilities, _ on: Bool) {
            if on { want.insert(flag) } else { want.remove(flag) }
        }
        choose(.asyncRead, options.asyncRead)
        choose(.parallelDirops, options.parallelDirops)
        choose(.readdirplus, options.readdirPlus != .never)
        choose(.readdirplusAuto, options.readdirPlus == .auto)
        choose(.writebackCache, options.writebackCache)
        // The kernel then clears setuid/setgid bits itself, with a setattr.
        want.remove(.handleKillpriv)
        // Requests are copied into the worker's buffer and replies come from
        // memory, so splicing would only add pipe system calls.
        want.subtract([.spliceRead, .spliceWrite, .spliceMove])
        want.formIntersection(FuseCapabilities(rawValue: conn.pointee.capable))
        conn.pointee.want = want.rawValue

        let info = FuseConnectionInfo(conn.pointee)
        connection.withLock { $0 = info }
        logger.debug(
            "FUSE INIT",
            metadata: [
                "protocol": "\(info.protocolMajor).\(info.protocolMinor)", "max_write": "\(info.maxWrite)",
                "max_read": "\(info.maxRead)", "max_readahead": "\(info.maxReadahead)", "want": "\(info.want)",
            ])
        operations.initialize(connection: info)
    }

    /// Writes `options.readAheadKiB` to the mount's read_ahead_kb (see
    /// `FuseSessionOptions.readAheadKiB`) and returns it, or nil if it was
    /// not asked for or could not be set. Runs in INIT: the mount exists,
    /// and no other request is answered before INIT's.
    private func setReadAhead() -> Int? {
        guard let kib = options.readAheadKiB.map({ max(0, $0) }) else { return nil }
        guard let device else {
            logger.debug("readahead window left as it is: the mount's device is not in mountinfo")
            return nil
        }
        let path = "/sys/class/bdi/\(device)/read_ahead_kb"
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        let code: Int32
        if fd < 0 {
            code = errno
        } else {
            let text = "\(kib)\n"
            code = text.withCString { write(fd, $0, strlen($0)) } < 0 ? errno : 0
            close(fd)
        }
        guard code == 0 else {
            logger.debug("readahead window left as it is: \(path): \(String(cString: strerror(code)))")
            return nil
        }
        logger.debug("readahead window set", metadata: ["read_ahead_kb": "\(kib)", "bdi": "\(device)"])
        return kib
    }

    // MARK: Bugs

    /// A reply was sent twice or dropped: log it, count it, and stop in debug builds if asked to.
    func reportMisuse(_ message: String) {
        misuseCount.add(1, ordering: .relaxed)
        logger.critical("FUSE reply bug: \(message)")
        if options.assertOnReplyMisuse {
            assertionFailure("FUSE reply bug: \(message)")
        }
    }
}

/// The handler of the channel that reads the FUSE device on an event loop:
/// hands each request to libfuse, and closes on the first read error.
private final class LoopDeviceReader: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer

    /// Unchecked Sendable: created on the serving thread, then used only on the loop.
    private let core: SessionCore

    init(core: SessionCore) { self.core = core }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        core.process(unwrapInboundIn(data))
        if let session = core.session, fuse_session_exited(session) != 0 { context.close(promise: nil) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        core.deviceEnded(error)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        core.deviceEnded(nil)
        context.fireChannelInactive()
    }
}
