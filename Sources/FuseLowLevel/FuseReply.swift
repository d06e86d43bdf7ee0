import CFuse
import Glibc

/// What a `FuseReply` answers; decides which answering methods it has.
public protocol FuseReplyKind {}

/// Reply kinds whose answer is a buffer of directory entries.
public protocol FuseDirectoryReplyKind: FuseReplyKind {}

/// The reply kinds, one per shape of answer the kernel expects.
public enum FuseReplyKinds {
    /// Success or an errno: unlink, rmdir, rename, flush, release, fsync, releasedir, fsyncdir, access.
    public enum Status: FuseReplyKind {}
    /// A `FuseEntry`: lookup, mknod, mkdir, symlink, link.
    public enum Entry: FuseReplyKind {}
    /// Attributes: getattr, setattr.
    public enum Attr: FuseReplyKind {}
    /// A symlink target: readlink.
    public enum Readlink: FuseReplyKind {}
    /// A file handle and caching hints: open, opendir.
    public enum Open: FuseReplyKind {}
    /// An entry and an open handle: create.
    public enum Create: FuseReplyKind {}
    /// Bytes read: read.
    public enum Data: FuseReplyKind {}
    /// A count of bytes written: write.
    public enum Write: FuseReplyKind {}
    /// Filesystem statistics: statfs.
    public enum Statfs: FuseReplyKind {}
    /// Directory entries: readdir.
    public enum Directory: FuseDirectoryReplyKind {}
    /// Directory entries with attributes: readdirplus.
    public enum DirectoryPlus: FuseDirectoryReplyKind {}
}

public typealias FuseStatusReply = FuseReply<FuseReplyKinds.Status>
public typealias FuseEntryReply = FuseReply<FuseReplyKinds.Entry>
public typealias FuseAttrReply = FuseReply<FuseReplyKinds.Attr>
public typealias FuseReadlinkReply = FuseReply<FuseReplyKinds.Readlink>
public typealias FuseOpenReply = FuseReply<FuseReplyKinds.Open>
public typealias FuseCreateReply = FuseReply<FuseReplyKinds.Create>
public typealias FuseDataReply = FuseReply<FuseReplyKinds.Data>
public typealias FuseWriteReply = FuseReply<FuseReplyKinds.Write>
public typealias FuseStatfsReply = FuseReply<FuseReplyKinds.Statfs>
public typealias FuseDirectoryReply = FuseReply<FuseReplyKinds.Directory>
public typealias FuseDirectoryPlusReply = FuseReply<FuseReplyKinds.DirectoryPlus>

/// The handle that answers one FUSE request, exactly once.
///
/// Answer now, inside the operation, or later from any thread: the worker
/// that delivered the request does not wait for the answer. Swift closures
/// cannot capture non-copyable values, so "once" is enforced at run time:
/// the first answering call sends the reply; any later one sends nothing,
/// logs a bug and, in debug builds, stops in `assertionFailure` (see
/// `FuseSessionOptions.assertOnReplyMisuse`). A reply dropped without an
/// answer answers `EIO` from its `deinit` and logs a bug the same way.
///
/// After the filesystem was unmounted, answering only frees the request.
public final class FuseReply<Kind: FuseReplyKind>: Sendable {
    let pending: PendingRequest
    /// The kernel's size limit for read and readdir answers; 0 for other kinds.
    let limit: Int

    init(_ pending: PendingRequest, limit: Int = 0) {
        self.pending = pending
        self.limit = limit
    }

    deinit {
        pending.abandon()
    }

    /// Whether an answer was sent.
    public var isAnswered: Bool { pending.isAnswered }

    /// Whether the kernel asked to interrupt this request: the calling process
    /// got a signal. The request should then be answered soon, e.g. with `EINTR`.
    public var isInterrupted: Bool { pending.isInterrupted }

    /// Calls `handler` once if the kernel interrupts this request before it
    /// is answered, at once if that happened already. The handler runs where
    /// the session reads requests (its event loop or a worker thread), or on
    /// the caller's thread if already interrupted, and may
    /// answer the reply itself. A later call replaces an earlier handler.
    ///
    /// A handler that captures this reply keeps it alive until it is
    /// answered: answer it in the handler, or elsewhere, but answer it.
    public func onInterrupt(_ handler: @escaping @Sendable () -> Void) {
        pending.onInterrupt(handler)
    }

    /// Answers with an error: `errno` is a positive code such as `ENOENT`.
    public func error(_ errno: Int32) {
        guard errno > 0 else {
            pending.core.reportMisuse("\(pending.operation): error(\(errno)) is not an error code; answering EIO")
            answer("error") { fuse_reply_err($0, EIO) }
            return
        }
        answer("error(\(errno))") { fuse_reply_err($0, errno) }
    }

    /// `onInterrupt(handler)`, and then `answerInterrupted()`: for work that
    /// goes on after an interrupt (see there) but whose caller must not wait.
    public func onInterruptAnsweringAtOnce(_ handler: @escaping @Sendable () -> Void) {
        let pending = self.pending
        pending.onInterrupt { [weak pending] in
            handler()
            pending?.answerInterrupted()
        }
    }

    /// Answers `EINTR` at once for an interrupted request whose work cannot
    /// be stopped at once (a 9P request must wait for its Rflush before its
    /// tag is free): the caller gets its EINTR now, and the work's own
    /// answer, when it comes, is dropped without a complaint. The answering
    /// methods that would give the kernel a reference (`entry`, `create`,
    /// `open`) then return false, so that the filesystem undoes it. Does
    /// nothing if the request was answered already.
    public func answerInterrupted() {
        pending.answerInterrupted()
    }

    @discardableResult
    func answer(_ what: String, _ send: (OpaquePointer) -> Int32) -> Bool {
        pending.answer(what, send)
    }
}

extension FuseReply where Kind == FuseReplyKinds.Status {
    /// Answers success.
    public func ok() {
        answer("ok") { fuse_reply_err($0, 0) }
    }
}

extension FuseReply where Kind == FuseReplyKinds.Entry {
    /// Answers with an entry; a nonzero `entry.ino` adds one to its lookup
    /// count. Returns false if the kernel did not take it (it gave up on the
    /// request, or it was answered `answerInterrupted`): the count is then
    /// unchanged, and the filesystem must not count the lookup.
    @discardableResult
    public func entry(_ entry: FuseEntry) -> Bool {
        var param = entry.cValue
        return answer("entry") { fuse_reply_entry($0, &param) }
    }
}

extension FuseReply where Kind == FuseReplyKinds.Attr {
    /// Answers with attributes the kernel may cache for `timeout` seconds.
    public func attr(_ attr: FuseAttr, timeout: Double) {
        var st = attr.statValue
        answer("attr") { fuse_reply_attr($0, &st, timeout) }
    }
}

extension FuseReply where Kind == FuseReplyKinds.Readlink {
    /// Answers with the symlink's target.
    public func target(_ target: String) {
        answer("target") { request in target.withCString { fuse_reply_readlink(request, $0) } }
    }
}

extension FuseReply where Kind == FuseReplyKinds.Open {
    /// Answers with the handle (`info.fh`) and caching hints for the opened
    /// file or directory. Returns false if the kernel did not take it (see
    /// `entry(_:)`): the handle will never be released, so free it.
    @discardableResult
    public func open(_ info: FuseFileInfo) -> Bool {
        var fi = info.cValue
        return answer("open") { fuse_reply_open($0, &fi) }
    }
}

extension FuseReply where Kind == FuseReplyKinds.Create {
    /// Answers with the new entry and its open handle; adds one to the
    /// entry's lookup count. Returns false if the kernel did not take it
    /// (see `entry(_:)`): no lookup to count, and the handle will never be released.
    @discardableResult
    public func create(_ entry: FuseEntry, _ info: FuseFileInfo) -> Bool {
        var param = entry.cValue
        var fi = info.cValue
        return answer("create") { fuse_reply_create($0, &param, &fi) }
    }
}

extension FuseReply where Kind == FuseReplyKinds.Data {
    /// The most bytes the kernel asked for.
    public var size: Int { limit }

    /// Answers with the bytes read; fewer than `size` means end of file
    /// (unless the file is `directIO`). More than `size` is a bug and is cut.
    public func data(_ bytes: UnsafeRawBufferPointer) {
        var count = bytes.count
        if count > limit {
            pending.core.reportMisuse("\(pending.operation): \(count) bytes answered for \(limit) asked; sending \(limit)")
            count = limit
        }
        answer("data") { fuse_reply_buf($0, bytes.baseAddress?.assumingMemoryBound(to: CChar.self), count) }
    }

    /// Answers with the bytes read.
    public func data(_ bytes: some Collection<UInt8>) {
        let sent: Void? = bytes.withContiguousStorageIfAvailable { data(UnsafeRawBufferPointer($0)) }
        if sent == nil {
            Array(bytes).withUnsafeBytes { data($0) }
        }
    }
}

extension FuseReply where Kind == FuseReplyKinds.Write {
    /// Answers with the number of bytes written.
    public func written(_ count: Int) {
        answer("written") { fuse_reply_write($0, count) }
    }
}

extension FuseReply where Kind == FuseReplyKinds.Statfs {
    /// Answers with the filesystem's statistics.
    public func statfs(_ stats: FuseStatvfs) {
        var sv = stats.cValue
        answer("statfs") { fuse_reply_statfs($0, &sv) }
    }
}

extension FuseReply where Kind: FuseDirectoryReplyKind {
    /// The most bytes of entries the kernel asked for.
    public var size: Int { limit }

    /// An empty buffer of `size` bytes to fill with entries.
    public func makeBuffer() -> FuseDirectoryBuffer<Kind> {
        FuseDirectoryBuffer(request: pending.request, capacity: limit)
    }

    /// Answers with the entries in `buffer`; an empty buffer means the end of the directory.
    public func send(_ buffer: FuseDirectoryBuffer<Kind>) {
        buffer.withBytes { bytes in
            _ = answer("entries") { fuse_reply_buf($0, bytes.baseAddress?.assumingMemoryBound(to: CChar.self), bytes.count) }
        }
    }
}
