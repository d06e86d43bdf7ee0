public import NinePWire
import Synchronization

/// One outstanding 9P transaction (lib9p's Req, 9p-fid(3)).
///
/// A request is answered exactly once with `respond(_:)` or
/// `respond(error:)`, from any thread, possibly long after the FileServer
/// method returned. A second answer is a programming error: it is ignored and
/// reported through `Request.misuseHandler`. A request that is dropped
/// without an answer is answered "request dropped by server" when it is
/// deinitialised, so a client never waits forever.
///
/// Cancellation: a Tflush for this request calls `cancel()`; a FileServer
/// doing slow work registers `onCancel` and answers `NinePError.interrupted`.
public final class Request: Sendable {
    /// The tag the client chose.
    public let tag: Tag
    /// The T-message as received (r->ifcall).
    public let ifcall: Message
    /// The fid the message names (for Tattach and Tauth the new fid or afid;
    /// for Twalk the source fid).
    public let fid: ServerFid?
    /// For Twalk, the destination fid (identical to `fid` when fid == newfid).
    public let newfid: ServerFid?
    /// For Tflush, the request being flushed, if it is still outstanding.
    public let oldRequest: Request?
    /// The connection's negotiated msize.
    public let messageSize: UInt32

    private struct State {
        var answered = false
        var cancelled = false
        var onCancel: (@Sendable () -> Void)?
        var responder: (@Sendable (Message) -> Void)?
        var aux: (any Sendable)?
    }
    private let state: Mutex<State>

    /// Called when a request is answered twice or never. Defaults to a
    /// printed warning; tests replace it to assert.
    nonisolated(unsafe) public static var misuseHandler: @Sendable (String) -> Void = { message in
        print("ninep: server bug: \(message)")
    }

    /// Creates a request. The service loop does this; tests may too.
    /// - Parameter responder: receives the answer, exactly once.
    public init(
        tag: Tag, ifcall: Message, fid: ServerFid? = nil, newfid: ServerFid? = nil,
        oldRequest: Request? = nil, messageSize: UInt32 = NineP.defaultMessageSize,
        responder: @escaping @Sendable (Message) -> Void
    ) {
        self.tag = tag
        self.ifcall = ifcall
        self.fid = fid
        self.newfid = newfid
        self.oldRequest = oldRequest
        self.messageSize = messageSize
        self.state = Mutex(State(responder: responder))
    }

    deinit {
        let pending = state.withLock { s -> (@Sendable (Message) -> Void)? in
            guard !s.answered else { return nil }
            s.answered = true
            return s.responder
        }
        if let pending {
            Request.misuseHandler("\(ifcall.type) tag \(tag) was dropped without an answer")
            pending(.rerror(Rerror(ename: "request dropped by server")))
        }
    }

    /// Answers the request. Call exactly once; the request must not be
    /// touched afterwards.
    public func respond(_ reply: Message) {
        let responder = state.withLock { s -> (@Sendable (Message) -> Void)? in
            guard !s.answered else { return nil }
            s.answered = true
            s.onCancel = nil
            return s.responder
        }
        guard let responder else {
            Request.misuseHandler("\(ifcall.type) tag \(tag) answered twice (second answer: \(reply))")
            return
        }
        responder(reply)
    }

    /// Answers with Rerror.
    public func respond(error: NinePError) {
        respond(.rerror(Rerror(ename: error.ename)))
    }

    /// Answers with Rerror carrying `ename` verbatim.
    public func respond(error ename: String) {
        respond(.rerror(Rerror(ename: ename)))
    }

    /// Whether the request has been answered.
    public var isAnswered: Bool { state.withLock { $0.answered } }

    /// Whether a Tflush asked for this request to be cancelled.
    public var isCancelled: Bool { state.withLock { $0.cancelled } }

    /// Registers what to do when a flush cancels this request (typically:
    /// stop the work and `respond(error: .interrupted)`). Runs at once if
    /// the request was already cancelled.
    public func onCancel(_ handler: @escaping @Sendable () -> Void) {
        let runNow = state.withLock { s -> Bool in
            if s.cancelled { return !s.answered }
            s.onCancel = handler
            return false
        }
        if runNow { handler() }
    }

    /// Marks the request cancelled and runs its cancellation handler.
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
