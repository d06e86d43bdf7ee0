import Glibc
public import NIOCore

/// A filesystem served through libfuse's low-level API: one requirement per
/// request Linux sends. Inodes are named by node ids (`UInt64`); the root
/// is `FuseInode.root`.
///
/// Who calls: with `FuseSessionOptions.eventLoop` set (as `ninep mount`
/// sets it by default), that event loop reads the FUSE device and calls
/// every request method, one at a time; otherwise the session's worker
/// threads (`FuseSessionOptions.workerThreads`) do, several at once, one
/// request per call. `initialize` comes first, alone; `destroy` comes last,
/// on the thread that called `FuseSession.run()`, after the filesystem was
/// unmounted and no other call is running.
///
/// Answering: every request method gets a `reply` to answer exactly once,
/// now or later, from any thread. Return promptly and answer later rather
/// than block: a blocked event loop (or worker) serves nothing else, the
/// 9P connection on that loop included, and the kernel holds some locks
/// (the directory's, for lookup and create) until the answer.
///
/// Defaults: every method has a default that answers `ENOSYS`, which the
/// kernel either passes to the caller or takes as "not supported, do not ask
/// again" (flush, fsync, access, open/opendir on recent kernels, create,
/// which then falls back to mknod + open). `forget` defaults to doing nothing.
///
/// Interrupts: when the calling process gets a signal, the kernel interrupts
/// its request; see `FuseReply.onInterrupt` and `FuseReply.isInterrupted`.
///
/// Lookup counts: each entry answered by lookup, mknod, mkdir, symlink, link,
/// create and readdirplus (except `.` and `..`) adds one to its inode's count;
/// forget and forgetMulti subtract. At 0 the kernel no longer knows the node id.
public protocol FuseOperations: Sendable {
    /// The kernel and the session agreed on `connection`; the first call.
    /// Default: does nothing.
    func initialize(connection: FuseConnectionInfo)

    /// The session is over: the filesystem was unmounted and no further call
    /// comes. Default: does nothing.
    func destroy()

    /// Finds `name` in directory `parent`. Answer an entry, or `ENOENT`
    /// (or a negative entry to let the kernel cache the absence).
    /// Default: answers `ENOSYS`.
    func lookup(_ context: FuseRequestContext, parent: UInt64, name: String, reply: FuseEntryReply)

    /// The kernel dropped `lookups` references to `ino`. No answer, and it
    /// must not do I/O: it runs on the loop or a worker, and the kernel does not wait.
    /// Default: does nothing.
    func forget(ino: UInt64, lookups: UInt64)

    /// Several forgets at once (BATCH_FORGET). No answer, no I/O.
    /// Default: calls `forget` for each item.
    func forgetMulti(_ items: [FuseForget])

    /// Attributes of `ino`; `fileInfo` is set when the caller has it open (fstat).
    /// Default: answers `ENOSYS`.
    func getattr(_ context: FuseRequestContext, ino: UInt64, fileInfo: FuseFileInfo?, reply: FuseAttrReply)

    /// Changes the attributes named in `fields` to the values in `attr`
    /// (chmod, chown, truncate, utimens) and answers the resulting attributes.
    /// Default: answers `ENOSYS`.
    func setattr(
        _ context: FuseRequestContext, ino: UInt64, attr: FuseAttr, fields: SetattrFields,
        fileInfo: FuseFileInfo?, reply: FuseAttrReply)

    /// The target of symlink `ino`. Default: answers `ENOSYS`.
    func readlink(_ context: FuseRequestContext, ino: UInt64, reply: FuseReadlinkReply)

    /// Creates a file node (regular, device, fifo, socket) with `mode`, umask applied.
    /// Default: answers `ENOSYS`.
    func mknod(
        _ context: FuseRequestContext, parent: UInt64, name: String, mode: UInt32, rdev: UInt64,
        reply: FuseEntryReply)

    /// Creates a directory; `mode` has the umask applied and lacks `S_IFDIR`.
    /// Default: answers `ENOSYS`.
    func mkdir(_ context: FuseRequestContext, parent: UInt64, name: String, mode: UInt32, reply: FuseEntryReply)

    /// Removes a non-directory. Default: answers `ENOSYS`.
    func unlink(_ context: FuseRequestContext, parent: UInt64, name: String, reply: FuseStatusReply)

    /// Removes an empty directory. Default: answers `ENOSYS`.
    func rmdir(_ context: FuseRequestContext, parent: UInt64, name: String, reply: FuseStatusReply)

    /// Creates symlink `name` in `parent` pointing at `target`. Default: answers `ENOSYS`.
    func symlink(_ context: FuseRequestContext, target: String, parent: UInt64, name: String, reply: FuseEntryReply)

    /// Renames `parent/name` to `newParent/newName` (renameat2 `flags`).
    /// Default: answers `ENOSYS`.
    func rename(
        _ context: FuseRequestContext, parent: UInt64, name: String, newParent: UInt64, newName: String,
        flags: RenameFlags, reply: FuseStatusReply)

    /// Makes a hard link to `ino` at `newParent/newName`. Default: answers `ENOSYS`.
    func link(_ context: FuseRequestContext, ino: UInt64, newParent: UInt64, newName: String, reply: FuseEntryReply)

    /// Opens file `ino` with `fileInfo.flags`; answer a handle in `fh` and
    /// caching hints. Default: answers `ENOSYS`.
    func open(_ context: FuseRequestContext, ino: UInt64, fileInfo: FuseFileInfo, reply: FuseOpenReply)

    /// Reads at most `size` bytes at `offset`. Default: answers `ENOSYS`.
    func read(
        _ context: FuseRequestContext, ino: UInt64, size: Int, offset: Int64, fileInfo: FuseFileInfo,
        reply: FuseDataReply)

    /// Writes `data` at `offset` and answers how many bytes were written.
    /// `data` is the callee's to keep, slice or send on as it is: served
    /// from an event loop it is a slice of the buffer the request was read
    /// into (no copy); from worker threads, a copy.
    /// Default: answers `ENOSYS`.
    func write(
        _ context: FuseRequestContext, ino: UInt64, data: ByteBuffer, offset: Int64,
        fileInfo: FuseFileInfo, reply: FuseWriteReply)

    /// A file descriptor of the handle was closed (once per close(2)).
    /// Default: answers `ENOSYS` (the kernel stops sending flush).
    func flush(_ context: FuseRequestContext, ino: UInt64, fileInfo: FuseFileInfo, reply: FuseStatusReply)

    /// The last reference to the handle is gone; the kernel ignores the answer.
    /// Default: answers `ENOSYS`.
    func release(_ context: FuseRequestContext, ino: UInt64, fileInfo: FuseFileInfo, reply: FuseStatusReply)

    /// Makes the file's data (and metadata unless `dataOnly`) durable.
    /// Default: answers `ENOSYS` (the kernel stops sending fsync and reports success).
    func fsync(
        _ context: FuseRequestContext, ino: UInt64, dataOnly: Bool, fileInfo: FuseFileInfo,
        reply: FuseStatusReply)

    /// Opens directory `ino` for reading; answer a handle in `fh`.
    /// Default: answers `ENOSYS`.
    func opendir(_ context: FuseRequestContext, ino: UInt64, fileInfo: FuseFileInfo, reply: FuseOpenReply)

    /// Lists entries starting after cookie `offset` (0: from the start) into
    /// `reply.makeBuffer()`. Default: answers `ENOSYS`.
    func readdir(
        _ context: FuseRequestContext, ino: UInt64, size: Int, offset: Int64, fileInfo: FuseFileInfo,
        reply: FuseDirectoryReply)

    /// Like readdir, with each entry's attributes; sent only if
    /// `FuseSessionOptions.readdirPlus` allows. Default: answers `ENOSYS`.
    func readdirplus(
        _ context: FuseRequestContext, ino: UInt64, size: Int, offset: Int64, fileInfo: FuseFileInfo,
        reply: FuseDirectoryPlusReply)

    /// The directory handle is closed. Default: answers `ENOSYS`.
    func releasedir(_ context: FuseRequestContext, ino: UInt64, fileInfo: FuseFileInfo, reply: FuseStatusReply)

    /// fsync on a directory. Default: answers `ENOSYS`.
    func fsyncdir(
        _ context: FuseRequestContext, ino: UInt64, dataOnly: Bool, fileInfo: FuseFileInfo,
        reply: FuseStatusReply)

    /// Filesystem statistics (df). Default: answers `ENOSYS`.
    func statfs(_ context: FuseRequestContext, ino: UInt64, reply: FuseStatfsReply)

    /// access(2) with `mask` (`R_OK`, `W_OK`, `X_OK`, `F_OK`); not sent with
    /// `-o default_permissions`. Default: answers `ENOSYS` (the kernel stops
    /// asking and allows).
    func access(_ context: FuseRequestContext, ino: UInt64, mask: Int32, reply: FuseStatusReply)

    /// Creates and opens a regular file. Default: answers `ENOSYS` (the
    /// kernel falls back to mknod and open).
    func create(
        _ context: FuseRequestContext, parent: UInt64, name: String, mode: UInt32, fileInfo: FuseFileInfo,
        reply: FuseCreateReply)
}

extension FuseOperations {
    public func initialize(connection: FuseConnectionInfo) {}

    public func destroy() {}

    public func lookup(_ context: FuseRequestContext, parent: UInt64, name: String, reply: FuseEntryReply) {
        reply.error(ENOSYS)
    }

    public func forget(ino: UInt64, lookups: UInt64) {}

    public func forgetMulti(_ items: [FuseForget]) {
        for item in items { forget(ino: item.ino, lookups: item.lookups) }
    }

    public func getattr(_ context: FuseRequestContext, ino: UInt64, fileInfo: FuseFileInfo?, reply: FuseAttrReply) {
        reply.error(ENOSYS)
    }

    public func setattr(
        _ context: FuseRequestContext, ino: UInt64, attr: FuseAttr, fields: SetattrFields,
        fileInfo: FuseFileInfo?, reply: FuseAttrReply
    ) {
        reply.error(ENOSYS)
    }

    public func readlink(_ context: FuseRequestContext, ino: UInt64, reply: FuseReadlinkReply) {
        reply.error(ENOSYS)
    }

    public func mknod(
        _ context: FuseRequestContext, parent: UInt64, name: String, mode: UInt32, rdev: UInt64,
        reply: FuseEntryReply
    ) {
        reply.error(ENOSYS)
    }

    public func mkdir(_ context: FuseRequestContext, parent: UInt64, name: String, mode: UInt32, reply: FuseEntryReply) {
        reply.error(ENOSYS)
    }

    public func unlink(_ context: FuseRequestContext, parent: UInt64, name: String, reply: FuseStatusReply) {
        reply.error(ENOSYS)
    }

    public func rmdir(_ context: FuseRequestContext, parent: UInt64, name: String, reply: FuseStatusReply) {
        reply.error(ENOSYS)
    }

    public func symlink(
        _ context: FuseRequestContext, target: String, parent: UInt64, name: String, reply: FuseEntryReply
    ) {
        reply.error(ENOSYS)
    }

    public func rename(
        _ context: FuseRequestContext, parent: UInt64, name: String, newParent: UInt64, newName: String,
        flags: RenameFlags, reply: FuseStatusReply
    ) {
        reply.error(ENOSYS)
    }

    public func link(
        _ context: FuseRequestContext, ino: UInt64, newParent: UInt64, newName: String, reply: FuseEntryReply
    ) {
        reply.error(ENOSYS)
    }

    public func open(_ context: FuseRequestContext, ino: UInt64, fileInfo: FuseFileInfo, reply: FuseOpenReply) {
        reply.error(ENOSYS)
    }

    public func read(
        _ context: FuseRequestContext, ino: UInt64, size: Int, offset: Int64, fileInfo: FuseFileInfo,
        reply: FuseDataReply
    ) {
        reply.error(ENOSYS)
    }

    public func write(
        _ context: FuseRequestContext, ino: UInt64, data: ByteBuffer, offset: Int64,
        fileInfo: FuseFileInfo, reply: FuseWriteReply
    ) {
        reply.error(ENOSYS)
    }

    public func flush(_ context: FuseRequestContext, ino: UInt64, fileInfo: FuseFileInfo, reply: FuseStatusReply) {
        reply.error(ENOSYS)
    }

    public func release(_ context: FuseRequestContext, ino: UInt64, fileInfo: FuseFileInfo, reply: FuseStatusReply) {
        reply.error(ENOSYS)
    }

    public func fsync(
        _ context: FuseRequestContext, ino: UInt64, dataOnly: Bool, fileInfo: FuseFileInfo,
        reply: FuseStatusReply
    ) {
        reply.error(ENOSYS)
    }

    public func opendir(_ context: FuseRequestContext, ino: UInt64, fileInfo: FuseFileInfo, reply: FuseOpenReply) {
        reply.error(ENOSYS)
    }

    public func readdir(
        _ context: FuseRequestContext, ino: UInt64, size: Int, offset: Int64, fileInfo: FuseFileInfo,
        reply: FuseDirectoryReply
    ) {
        reply.error(ENOSYS)
    }

    public func readdirplus(
        _ context: FuseRequestContext, ino: UInt64, size: Int, offset: Int64, fileInfo: FuseFileInfo,
        reply: FuseDirectoryPlusReply
    ) {
        reply.error(ENOSYS)
    }

    public func releasedir(
        _ context: FuseRequestContext, ino: UInt64, fileInfo: FuseFileInfo, reply: FuseStatusReply
    ) {
        reply.error(ENOSYS)
    }

    public func fsyncdir(
        _ context: FuseRequestContext, ino: UInt64, dataOnly: Bool, fileInfo: FuseFileInfo,
        reply: FuseStatusReply
    ) {
        reply.error(ENOSYS)
    }

    public func statfs(_ context: FuseRequestContext, ino: UInt64, reply: FuseStatfsReply) {
        reply.error(ENOSYS)
    }

    public func access(_ context: FuseRequestContext, ino: UInt64, mask: Int32, reply: FuseStatusReply) {
        reply.error(ENOSYS)
    }

    public func create(
        _ context: FuseRequestContext, parent: UInt64, name: String, mode: UInt32, fileInfo: FuseFileInfo,
        reply: FuseCreateReply
    ) {
        reply.error(ENOSYS)
    }
}
