import FuseLowLevel
import Glibc
import NIOCore
import NinePWire
import Synchronization

// open, read, write, flush, release, fsync: the requests on open files.

extension Bridge {
    /// open(5)'s mode for open(2) flags: the access mode, OTRUNC for
    /// O_TRUNC. With the writeback cache the kernel may read pages of a file
    /// opened write-only, so that becomes ORDWR.
    func openMode(flags: Int32, truncate: Bool) -> OpenMode {
        let access: OpenMode
        switch flags & O_ACCMODE {
        case O_WRONLY: access = options.writebackCache ? .readWrite : .write
        case O_RDWR: access = .readWrite
        default: access = .read
        }
        return access.with(truncate: truncate)
    }

    /// Whether writes on a handle opened with `flags` go at the file's end.
    /// 9P2000 has no append mode for open, so the bridge places each write
    /// itself. With the writeback cache the kernel owns the file size and
    /// places them (as libfuse's passthrough does).
    func appends(flags: Int32) -> Bool {
        flags & O_APPEND != 0 && !options.writebackCache
    }

    /// The open reply: direct I/O if asked for, or for a file whose qid has
    /// QTTMP (Plan 9's DMTMP, "not backed up": a synthetic file such as a
    /// file2chan file in the srv registry, whose length of 0 says nothing of
    /// what a read returns, so the page cache must not answer for it); the
    /// page cache kept while qid.vers is what it was at the previous open;
    /// and no FLUSH on close unless the writeback cache has data to push
    /// (nothing is buffered here).
    func fileInfo(handle: UInt64, keepCache: Bool, qid: Qid) -> FuseFileInfo {
        let direct = options.directIO || qid.type.contains(.tmp)
        return FuseFileInfo(
            fh: handle, directIO: direct, keepCache: keepCache && !direct, noFlush: !options.writebackCache)
    }

    /// Walks a new fid to the file (from its directory) and opens it.
    func open(_ context: FuseRequestContext, ino: UInt64, fileInfo info: FuseFileInfo, reply: FuseOpenReply) {
        let exchange = Exchange(client, reply)
        let mode = openMode(flags: info.flags, truncate: info.flags & O_TRUNC != 0)
        let append = appends(flags: info.flags)
        cloneFid(ino, exchange) { [self] cloned in
            guard case .success(let fid) = cloned else { return fail(reply, cloned.failure!, "open", node: ino) }
            open(fid, mode, exchange) { [self] result in
                switch result {
                case .failure(let failure):
                    clunk(fid)
                    fail(reply, failure, "open", node: ino)
                case .success(let r):
                    let handle = NodeTable.Handle(fid: fid, node: ino, mode: mode, iounit: r.iounit, append: append)
                    let (fh, keep) = state.withLock { state in
                        (state.table.open(handle), state.table.opened(ino, version: r.qid.version))
                    }
                    guard let fh else {
                        clunk(fid)
                        return reply.error(EIO)
                    }
                    if !reply.open(fileInfo(handle: fh, keepCache: keep, qid: r.qid)) { handleNotTaken(fh) }
                }
            }
        }
    }

    /// The largest Tread/Twrite payload for a handle.
    func ioUnit(_ handle: NodeTable.Handle) -> Int {
        handle.iounit > 0 ? min(Int(handle.iounit), maxIO) : maxIO
    }

    func handle(_ fh: UInt64) -> NodeTable.Handle? {
        state.withLock { $0.table.handles[fh] }
    }

    /// One Tread, or several in parallel when `size` exceeds the iounit;
    /// the answer stops at the first short read.
    func read(
        _ context: FuseRequestContext, ino: UInt64, size: Int, offset: Int64, fileInfo: FuseFileInfo,
        reply: FuseDataReply
    ) {
        guard let handle = handle(fileInfo.fh) else { return reply.error(EBADF) }
        guard offset >= 0 else { return reply.error(EINVAL) }
        let exchange = Exchange(client, reply)
        let unit = ioUnit(handle)
        if size <= unit {
            return read(handle.fid, offset: UInt64(offset), count: size, exchange) { [self] result in
                switch result {
                case .success(let data): data.withUnsafeReadableBytes { reply.data($0) }
                case .failure(let failure): fail(reply, failure, "read", node: ino)
                }
            }
        }
        let chunks = Self.split(size, unit: unit)
        let gather = Gather<ByteBuffer>(count: chunks.count)
        for (index, chunk) in chunks.enumerated() {
            read(handle.fid, offset: UInt64(offset) + UInt64(chunk.start), count: chunk.count, exchange) { [self] result in
                guard let results = gather.set(index, result) else { return }
                var combined = allocator.buffer(capacity: size)
                for (i, result) in results.enumerated() {
                    guard case .success(var data) = result else {
                        if i == 0 { return fail(reply, result.failure!, "read", node: ino) }
                        break
                    }
                    let short = data.readableBytes < chunks[i].count
                    combined.writeBuffer(&data)
                    if short { break }
                }
                combined.withUnsafeReadableBytes { reply.data($0) }
            }
        }
    }

    /// Copies the kernel's bytes (valid only during this call) and sends one
    /// Twrite, or several in parallel beyond the iounit. On an O_APPEND
    /// handle a Tstat first finds the file's end on the server; the data
    /// goes there, or at the kernel's offset (its idea of the end) if that
    /// is further: another client may have appended meanwhile, and some
    /// servers report a length that lags behind their own buffered writes.
    func write(
        _ context: FuseRequestContext, ino: UInt64, data: ByteBuffer, offset: Int64,
        fileInfo: FuseFileInfo, reply: FuseWriteReply
    ) {
        guard let handle = handle(fileInfo.fh) else { return reply.error(EBADF) }
        guard offset >= 0 else { return reply.error(EINVAL) }
        let exchange = Exchange(client, reply)
        let payload = data
        guard handle.append else {
            return write(handle, at: UInt64(offset), payload, exchange, reply, ino: ino)
        }
        stat(handle.fid, exchange) { [self] result in
            switch result {
            case .failure(let failure): fail(reply, failure, "write", node: ino)
            case .success(let st): write(handle, at: max(st.length, UInt64(offset)), payload, exchange, reply, ino: ino)
            }
        }
    }

    private func write(
        _ handle: NodeTable.Handle, at offset: UInt64, _ data: ByteBuffer, _ exchange: Exchange,
        _ reply: FuseWriteReply, ino: UInt64
    ) {
        let unit = ioUnit(handle)
        let size = data.readableBytes
        if size <= unit {
            return write(handle.fid, offset: offset, data: data, exchange) { [self] result in
                switch result {
                case .success(let count): reply.written(count)
                case .failure(let failure): fail(reply, failure, "write", node: ino)
                }
            }
        }
        let chunks = Self.split(size, unit: unit)
        let gather = Gather<Int>(count: chunks.count)
        for (index, chunk) in chunks.enumerated() {
            let slice = data.getSlice(at: data.readerIndex + chunk.start, length: chunk.count)!
            write(handle.fid, offset: offset + UInt64(chunk.start), data: slice, exchange) { [self] result in
                guard let results = gather.set(index, result) else { return }
                var total = 0
                for (i, result) in results.enumerated() {
                    guard case .success(let count) = result else {
                        if i == 0 { return fail(reply, result.failure!, "write", node: ino) }
                        break
                    }
                    total += count
                    if count < chunks[i].count { break }
                }
                reply.written(total)
            }
        }
    }

    /// Nothing is buffered between the kernel and the server.
    func flush(_ context: FuseRequestContext, ino: UInt64, fileInfo: FuseFileInfo, reply: FuseStatusReply) {
        reply.ok()
    }

    /// Clunks the handle's fid and answers at once: the kernel waits for
    /// no RELEASE, and the Tclunk, which nothing waits for either, leaves
    /// with the next requests (the next file's create) rather than on its
    /// own, sparing the server a wake-up per file closed. Requests after it
    /// on this connection still reach the server after it.
    func release(_ context: FuseRequestContext, ino: UInt64, fileInfo: FuseFileInfo, reply: FuseStatusReply) {
        closeHandle(fileInfo.fh, reply)
    }

    /// The kernel did not take an open's answer (interrupted and answered
    /// EINTR already): it will never release the handle, so close it here.
    func handleNotTaken(_ fh: UInt64) {
        let handle = state.withLock { state -> NodeTable.Handle? in
            state.listingWaiters[fh] = nil
            return state.table.close(fh)
        }
        if let handle { clunk(handle.fid, lazily: true) }
    }

    func closeHandle(_ fh: UInt64, _ reply: FuseStatusReply) {
        let handle = state.withLock { state -> NodeTable.Handle? in
            state.listingWaiters[fh] = nil
            return state.table.close(fh)
        }
        guard let handle else { return reply.ok() }
        clunk(handle.fid, lazily: true)
        reply.ok()
    }

    /// stat(5): a Twstat with every field "don't touch" asks the server to
    /// commit the file to stable storage.
    func fsync(
        _ context: FuseRequestContext, ino: UInt64, dataOnly: Bool, fileInfo: FuseFileInfo, reply: FuseStatusReply
    ) {
        synchronize(ino, fileInfo, reply, "fsync")
    }

    func synchronize(_ ino: UInt64, _ fileInfo: FuseFileInfo, _ reply: FuseStatusReply, _ operation: String) {
        let exchange = Exchange(client, reply)
        withFid(ino, fileInfo, exchange) { [self] fid, _, finish in
            guard case .success(let fid) = fid else { return fail(reply, fid.failure!, operation, node: ino) }
            wstat(fid, Stat.dontTouch, exchange) { [self] result in
                finish()
                switch result {
                case .success: reply.ok()
                case .failure(let failure): fail(reply, failure, operation, node: ino)
                }
            }
        }
    }

    /// `size` bytes cut into pieces of at most `unit`.
    static func split(_ size: Int, unit: Int) -> [(start: Int, count: Int)] {
        stride(from: 0, to: size, by: unit).map { ($0, min(unit, size - $0)) }
    }
}

/// Collects the results of transactions sent in parallel; the last one in
/// hands all of them, in order, to whoever set it. Any thread.
final class Gather<Value: Sendable>: Sendable {
    private struct State {
        var results: [Result<Value, Failure>?]
        var remaining: Int
    }

    private let state: Mutex<State>

    init(count: Int) {
        state = Mutex(State(results: Array(repeating: nil, count: count), remaining: count))
    }

    /// Records result `index`; returns every result once all are in.
    func set(_ index: Int, _ result: Result<Value, Failure>) -> [Result<Value, Failure>]? {
        state.withLock { state in
            state.results[index] = result
            state.remaining -= 1
            return state.remaining == 0 ? state.results.map { $0! } : nil
        }
    }
}
