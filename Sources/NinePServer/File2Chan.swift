public import NIOCore
public import NinePWire
import Synchronization

/// A synthetic file whose reads and writes are answered by the program,
/// after Inferno's sys-file2chan(2): the program iterates `reads` and
/// `writes` and answers each through its reply; `closes` says when an open
/// of the file ends (Inferno's read and write with a nil rc/wc).
///
/// ```swift
/// let fs = RamFS()
/// let clock = try File2Chan(in: fs.tree.root, named: "time", owner: "me")
/// Task {
///     for await read in clock.reads {
///         read.reply.respond(snapshot(for: read.fid).dropFirst(Int(read.offset)))
///     }
/// }
/// let listener = try await NinePServer.listen(fs, on: address)
/// ```
///
/// - Every open of the file has its own `OpenFid`, which appears in that
///   open's reads, writes and close. Inferno re-uses fids; an `OpenFid` also
///   carries a serial number unique among the opens of this file, so two
///   connections using the same fid number never mix.
/// - The client's Tread or Twrite is not answered until the program
///   replies; a reply carries data (a read, cut to `count`), a count (a
///   write) or an error string that reaches the client verbatim.
/// - A Tflush of a pending request cancels it: the reply's `isCancelled`
///   becomes true and its `onCancel` handler runs, the client is answered
///   "interrupted" (EINTR through FUSE), and the program's later answer is
///   ignored. The end of the session cancels pending requests the same way.
/// - The program may be slow: nothing waits for it but the client's own
///   request, so other files, fids and connections go on.
/// - A reply dropped unanswered answers "file2chan: NAME: request dropped by
///   the program"; once the streams are finished (`remove()`, or nobody is
///   iterating them any more) requests answer "file2chan: NAME: no server".
///
/// Thread safety: any thread. Events are yielded from the connection's
/// event loop; replies may be sent from any thread or task.
public final class File2Chan: Sendable {
    /// One open of the file: the client's fid number and a serial unique
    /// among the opens of this file.
    public struct OpenFid: Hashable, Sendable, CustomStringConvertible {
        /// The fid the client opened the file with.
        public let fid: Fid
        /// Unique among the opens of this file (counts from 1).
        public let serial: UInt64
        public var description: String { "fid \(fid.rawValue) (open \(serial))" }
    }

    /// A Tread: `count` bytes wanted from `offset` of open `fid`.
    public struct Read: Sendable {
        public let offset: UInt64
        public let count: UInt32
        public let fid: OpenFid
        /// Answer with bytes (at most `count` are sent) or an error string.
        public let reply: File2ChanReply<ByteBuffer>
    }

    /// A Twrite: `data` written at `offset` of open `fid`.
    public struct Write: Sendable {
        public let offset: UInt64
        public let data: ByteBuffer
        public let fid: OpenFid
        /// Answer with the count written or an error string.
        public let reply: File2ChanReply<Int>
    }

    /// The file in the tree.
    public let file: File
    /// The reads of every open, in arrival order per connection.
    public let reads: AsyncStream<Read>
    /// The writes of every open, in arrival order per connection.
    public let writes: AsyncStream<Write>
    /// An open has ended (its fid was clunked or its session ended). Its
    /// pending requests, if any, have been or are being cancelled.
    public let closes: AsyncStream<OpenFid>
    private let core: File2ChanCore

    /// Creates the file `name` in `directory` (a directory of a tree served
    /// by a `FileTreeServer`), owned by `owner` with `permissions`.
    /// Throws "file already exists" and the other errors of `File.create`.
    public init(
        in directory: File, named name: String, owner: String, permissions: UInt32 = 0o666
    ) throws(NinePError) {
        let (reads, readSink) = AsyncStream.makeStream(of: Read.self)
        let (writes, writeSink) = AsyncStream.makeStream(of: Write.self)
        let (closes, closeSink) = AsyncStream.makeStream(of: OpenFid.self)
        let core = File2ChanCore(name: name, reads: readSink, writes: writeSink, closes: closeSink)
        self.file = try directory.create(
            named: name, uid: owner, perm: FileMode(permissions: permissions & 0o777), backing: core)
        self.reads = reads
        self.writes = writes
        self.closes = closes
        self.core = core
    }

    /// Removes the file from its directory (if it is still there) and
    /// finishes the three streams. Opens that remain answer "no server".
    public func remove() {
        try? file.remove()
        core.finish()
    }
}

/// The answer to one `File2Chan` read (`Answer` = ByteBuffer) or write
/// (`Answer` = Int, the count). Answer once; later answers, and answers
/// after a cancellation, are ignored.
///
/// Thread safety: any thread.
public final class File2ChanReply<Answer: Sendable>: Sendable {
    private let request: Request
    private let message: @Sendable (Answer) -> Message
    private let name: String
    private struct State {
        var answered = false
        var cancelled = false
        var onCancel: (@Sendable () -> Void)?
    }
    private let state = Mutex(State())

    init(_ request: Request, name: String, message: @escaping @Sendable (Answer) -> Message) {
        self.request = request
        self.name = name
        self.message = message
    }

    deinit {
        if claim() { request.respond(error: "file2chan: \(name): request dropped by the program") }
    }

    /// Answers the client. Ignored after a cancellation or an earlier answer.
    public func respond(_ answer: Answer) {
        if claim() { request.respond(message(answer)) }
    }

    /// Answers the client with `error`, verbatim (Inferno's error string).
    public func respond(error: String) {
        if claim() { request.respond(error: error) }
    }

    /// Whether the client flushed the request (or its session ended).
    public var isCancelled: Bool { state.withLock { $0.cancelled } }

    /// Whether the request has been answered or cancelled.
    public var isFinished: Bool { state.withLock { $0.answered } }

    /// Runs `handler` when the request is cancelled: at once, on the calling
    /// thread, if it already was; otherwise on the thread of the flush (the
    /// connection's event loop), so it must not block. One handler; a later
    /// registration replaces it.
    public func onCancel(_ handler: @escaping @Sendable () -> Void) {
        let now = state.withLock { s -> Bool in
            if s.cancelled { return true }
            s.onCancel = handler
            return false
        }
        if now { handler() }
    }

    /// The flush: marks the reply cancelled, tells the program, answers
    /// "interrupted". Called by the request's cancellation.
    func cancel() {
        let handler = state.withLock { s -> (@Sendable () -> Void)?? in
            guard !s.answered else { return nil }
            s.answered = true
            s.cancelled = true
            defer { s.onCancel = nil }
            return .some(s.onCancel)
        }
        guard let handler else { return }
        request.respond(error: .interrupted)
        handler?()
    }

    private func claim() -> Bool {
        state.withLock { s in
            if s.answered { return false }
            s.answered = true
            s.onCancel = nil
            return true
        }
    }
}

/// The `FileBacking` of a `File2Chan`: turns requests into stream events.
///
/// Who calls: the FileTreeServer, on connection event loops; `opens` is
/// behind a lock.
final class File2ChanCore: FileBacking {
    let name: String
    private let readSink: AsyncStream<File2Chan.Read>.Continuation
    private let writeSink: AsyncStream<File2Chan.Write>.Continuation
    private let closeSink: AsyncStream<File2Chan.OpenFid>.Continuation
    private struct State {
        var serial: UInt64 = 0
        var opens: [ObjectIdentifier: File2Chan.OpenFid] = [:]
    }
    private let state = Mutex(State())

    init(
        name: String, reads: AsyncStream<File2Chan.Read>.Continuation,
        writes: AsyncStream<File2Chan.Write>.Continuation, closes: AsyncStream<File2Chan.OpenFid>.Continuation
    ) {
        self.name = name
        self.readSink = reads
        self.writeSink = writes
        self.closeSink = closes
    }

    func finish() {
        readSink.finish()
        writeSink.finish()
        closeSink.finish()
    }

    func opened(_ fid: ServerFid) {
        state.withLock { s in
            s.serial += 1
            s.opens[ObjectIdentifier(fid)] = File2Chan.OpenFid(fid: fid.fid, serial: s.serial)
        }
    }

    func closed(_ fid: ServerFid) {
        guard let open = state.withLock({ $0.opens.removeValue(forKey: ObjectIdentifier(fid)) }) else { return }
        closeSink.yield(open)
    }

    func read(_ r: Request, fid: ServerFid, offset: UInt64, count: UInt32) {
        guard let open = openFid(fid) else { return r.respond(error: .botch) }
        let reply = File2ChanReply<ByteBuffer>(r, name: name) { data in
            .rread(Rread(data: data.getSlice(at: data.readerIndex, length: min(data.readableBytes, Int(count))) ?? data))
        }
        guard watch(r, reply) else { return }
        if case .terminated = readSink.yield(File2Chan.Read(offset: offset, count: count, fid: open, reply: reply)) {
            reply.respond(error: noServer)
        }
    }

    func write(_ r: Request, fid: ServerFid, offset: UInt64, data: ByteBuffer) {
        guard let open = openFid(fid) else { return r.respond(error: .botch) }
        let reply = File2ChanReply<Int>(r, name: name) { n in
            .rwrite(Rwrite(count: UInt32(clamping: max(0, min(n, data.readableBytes)))))
        }
        guard watch(r, reply) else { return }
        if case .terminated = writeSink.yield(File2Chan.Write(offset: offset, data: data, fid: open, reply: reply)) {
            reply.respond(error: noServer)
        }
    }

    private var noServer: String { "file2chan: \(name): no server" }

    private func openFid(_ fid: ServerFid) -> File2Chan.OpenFid? {
        state.withLock { $0.opens[ObjectIdentifier(fid)] }
    }

    /// Routes a flush of `r` to `reply` before the program can see it.
    /// Weakly: a reply the program drops must deinitialise (and answer).
    /// Returns false if `r` was already cancelled (and is now answered).
    private func watch<A>(_ r: Request, _ reply: File2ChanReply<A>) -> Bool {
        r.onCancel { [weak reply] in reply?.cancel() }
        return !reply.isFinished
    }
}
