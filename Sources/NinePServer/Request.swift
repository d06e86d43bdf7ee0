public import NinePWire
import Synchronization

/// Where a request's answer goes. The service loop implements it; a request
/// made by a test carries a closure instead.
protocol RequestSink: AnyObject, Sendable {
    /// Receives the one answer of `request`, on any thread.
    func deliver(_ reply: Message, for request: Request)
    /// `request` is being deinitialised unanswered (only possible once the
    /// connection has let go of it).
    func dropped(tag: Tag, type: MessageType)
}

/// Adapts the closure of `Request.init` to `RequestSink`.
private final class ClosureSink: RequestSink {
    let responder: @Sendable (Message) -> Void
    init(_ responder: @escaping @Sendable (Message) -> Void) { self.responder = responder }
    func deliver(_ reply: Message, for request: Request) { responder(reply) }
    func dropped(tag: Tag, type: MessageType) {
        responder(.rerror(Rerror(ename: "request dropped by server")))
    }
}

/// One outstanding 9P transaction (lib9p's Req, 9p-fid(3)).
///
/// A request is answered exactly once with `respond(_:)` or
/// `respond(error:)`, from any thread, possibly long after the FileServer
/// method returned. A second answer is a programming error: it is ignored and
/// reported through `Request.misuseHandler`. The service loop keeps every
/// request it hands out until it is answered; a request made with the public
/// initialiser (tests) that is dropped unanswered answers "request dropped by
/// server" when it is deinitialised, so a caller never waits forever.
///
/// Cancellation: a Tflush for this request calls `cancel()` (the default
/// `FileServer.flush`); a FileServer doing slow work registers `onCancel` and
/// answers `NinePError.interrupted`. When the connection ends or a Tversion
/// resets the session, every outstanding request is cancelled the same way
/// and its answer is then discarded.
///
/// Thread safety: every property may be read from any thread; mutable state
/// is behind a lock.
public final class Request: Sendable {
    /// Why the loop made this request; the loop reads it when the answer comes.
    enum Purpose: Sendable {
        /// A client's T-message, answered with its R-message.
        case client
        /// The Tremove the loop makes when a fid opened ORCLOSE is clunked:
        /// the client gets Rclunk whatever the outcome.
        case removeOnClunk
        /// The Tremove the loop makes for an ORCLOSE fid when the session
        /// ends or is reset: nobody gets an answer.
        case implicitRemove
    }

    /// The tag the client chose.
    public let tag: Tag
    /// The T-message as received (r->ifcall).
    public let ifcall: Message
    /// The fid the message names (for Tattach and Tauth the new fid or afid;
    /// for Twalk the source fid).
    public let fid: ServerFid?
    /// The second fid a message names: for Twalk and Txattrwalk the new fid
    /// (for Twalk identical to `fid` when fid == newfid); for Trename its
    /// dfid; for Tlink its fid (the file linked to; `fid` is the directory
    /// dfid); for Trenameat its newdirfid (`fid` is olddirfid).
    public let newfid: ServerFid?
    /// For Tattach, the authentication fid named by afid, or nil for NOFID.
    public let afid: ServerFid?
    /// For Tflush, the request being flushed, if it is still outstanding.
    public let oldRequest: Request?
    /// The connection's negotiated msize.
    public let messageSize: UInt32
    /// The connection's negotiated dialect: the layout of stat entries and
    /// directory reads in the answer (`dirRead` follows it).
    public let version: ProtocolVersion

    let purpose: Purpose
    private let sink: any RequestSink

    private struct State {
        var answered = false
        var cancelled = false
        var onCancel: (@Sendable () -> Void)?
        var aux: (any Sendable)?
    }
    private let state: Mutex<State>

    /// Called when a request is answered twice or never. Defaults to a
    /// printed warning; tests replace it to assert. Set it before serving.
    nonisolated(unsafe) public static var misuseHandler: @Sendable (String) -> Void = { message in
        print("ninep: server bug: \(message)")
    }

    /// Creates a request outside a service loop (tests, or a FileServer that
    /// forwards work to another FileServer).
    /// - Parameter responder: receives the answer, exactly once, on the
    ///   thread that answers.
    public convenience init(
        tag: Tag, ifcall: Message, fid: ServerFid? = nil, newfid: ServerFid? = nil,
        afid: ServerFid? = nil, oldRequest: Request? = nil,
        messageSize: UInt32 = NineP.defaultMessageSize, version: ProtocolVersion = .ninep2000,
        responder: @escaping @Sendable (Message) -> Void
    ) {
        self.init(
            tag: tag, ifcall: ifcall, fid: fid, newfid: newfid, afid: afid, oldRequest: oldRequest,
            messageSize: messageSize, version: version, purpose: .client, sink: ClosureSink(responder))
    }

    init(
        tag: Tag, ifcall: Message, fid: ServerFid?, newfid: ServerFid?, afid: ServerFid?,
        oldRequest: Request?, messageSize: UInt32, version: ProtocolVersion, purpose: Purpose, sink: any RequestSink
    ) {
        self.tag = tag
        self.ifcall = ifcall
        self.fid = fid
        self.newfid = newfid
        self.afid = afid
        self.oldRequest = oldRequest
        self.messageSize = messageSize
        self.version = version
        self.purpose = purpose
        self.sink = sink
        self.state = Mutex(State())
    }

    deinit {
        let unanswered = state.withLock { s -> Bool in
            guard !s.answered else { return false }
            s.answered = true
            return true
        }
        if unanswered {
            Request.misuseHandler("\(ifcall.type) tag \(tag) was dropped without an answer")
            sink.dropped(tag: tag, type: ifcall.type)
        }
    }

    /// Answers the request. Call exactly once; the request must not be
    /// touched afterwards. Any thread.
    public func respond(_ reply: Message) {
        let first = state.withLock { s -> Bool in
            guard !s.answered else { return false }
            s.answered = true
            s.onCancel = nil
            return true
        }
        guard first else {
            Request.misuseHandler("\(ifcall.type) tag \(tag) answered twice (second answer: \(reply))")
            return
        }
        sink.deliver(reply, for: self)
    }

    /// Answers with the error: the loop words it as the dialect wants
    /// (Rerror, Rerror with errno, or Rlerror; see `NinePError.reply(in:)`).
    public func respond(error: NinePError) {
        respond(.rerror(Rerror(ename: error.ename, errno: error.errno.map { UInt32(bitPattern: $0) } ?? 0)))
    }

    /// Answers with Rerror carrying `ename` verbatim.
    public func respond(error ename: String) {
        respond(.rerror(Rerror(ename: ename)))
    }

    /// Whether the request has been answered.
    public var isAnswered: Bool { state.withLock { $0.answered } }

    /// Whether a Tflush (or the end of the session) asked for this request
    /// to be cancelled.
    public var isCancelled: Bool { state.withLock { $0.cancelled } }

    /// Registers what to do when a flush cancels this request (typically:
    /// stop the work and `respond(error: .interrupted)`). Runs at once, on
    /// the calling thread, if the request was already cancelled; otherwise on
    /// the thread that calls `cancel()` (for a Tflush, the connection's event
    /// loop). A later registration replaces an earlier one.
    public func onCancel(_ handler: @escaping @Sendable () -> Void) {
        let runNow = state.withLock { s -> Bool in
            if s.cancelled { return !s.answered }
            s.onCancel = handler
            return false
        }
        if runNow { handler() }
    }

    /// Marks the request cancelled and runs its cancellation handler (once).
    public func cancel() {
        let handler = state.withLock { s -> (@Sendable () -> Void)? in
            s.cancelled = true
            let h = s.onCancel
            s.onCancel = nil
            return s.answered ? nil : h
        }
        handler?()
    }

    /// The FileServer's own per-request state (r->aux).
    public var aux: (any Sendable)? {
        get { state.withLock { $0.aux } }
        set { state.withLock { $0.aux = newValue } }
    }
}
