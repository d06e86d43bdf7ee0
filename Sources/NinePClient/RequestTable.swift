import NIOCore
import NinePWire

/// The client's tag space as a pure state machine: which tags are in flight,
/// which requests wait for a free tag, and where each Tflush stands.
///
/// It does no I/O and calls no completion: each mutating method returns what
/// the caller must do (write a frame, complete a request). The owner (the
/// channel handler) touches it on its event loop only.
///
/// Id lifetimes (STYLE rule 8): a tag is free again only after its R-message,
/// or, if the request was flushed, after the Rflush. flush(5): "When the
/// client sends a Tflush, it must wait to receive the corresponding Rflush
/// before reusing oldtag for subsequent messages. If a response to the
/// flushed request is received before the Rflush, the client must honor the
/// response as if it had not been flushed, since the completed request may
/// signify a state change."
struct RequestTable<Completion> {
    /// Where a cancelled request's Tflush stands.
    enum FlushState {
        case idle
        /// Cancelled while every tag was in use: a Tflush waits for a tag.
        case queued
        /// The Tflush went out with this tag.
        case sent(Tag)
    }

    enum Entry {
        /// A request awaiting its reply.
        case request(id: UInt64, completion: Completion, flush: FlushState)
        /// A flushed request whose reply came first: the reply was delivered,
        /// the tag is held until the Rflush.
        case answered
        /// A Tflush awaiting its Rflush.
        case flush(oldtag: Tag)
    }

    struct Waiting {
        var id: UInt64
        var message: Message
        var completion: Completion
    }

    /// The result of `submit`.
    enum Submitted {
        /// Write this frame now.
        case write(Fcall)
        /// Every tag is in use; the request goes out when one is freed (see `nextWrite`).
        case queued
        /// The table is closed; complete the request with this error.
        case failed(any Error)
    }

    /// The result of `receive`.
    enum Received {
        /// The reply of a request: hand it to this completion.
        case deliver(Completion)
        /// The Rflush of a request whose reply never came: it was cancelled.
        /// nil when the reply had already been delivered.
        case flushed(Completion?)
        /// A tag that is not in flight (or a second reply): ignore it.
        case unexpected
    }

    /// The result of `cancel`.
    enum Cancelled {
        /// The request had not been sent; complete it as cancelled.
        case unsent(Completion)
        /// Write this Tflush.
        case write(Fcall)
        /// A Tflush will go out when a tag is free, or nothing to do.
        case nothing
    }

    private(set) var entries: [UInt16: Entry] = [:]
    private var freeTags: [UInt16] = []
    private var neverUsed: Int = 0
    /// Tags 0 ..< limit are used; NOTAG (0xFFFF) only for Tversion.
    let limit: Int
    private var waiting = CircularBuffer<Waiting>()
    private var flushQueue = CircularBuffer<Tag>()
    private(set) var closedBy: (any Error)?

    /// - Parameter limit: how many requests may be in flight, 1...65535.
    init(limit: Int = 0xFFFF) {
        self.limit = max(1, min(limit, 0xFFFF))
        entries.reserveCapacity(64)
    }

    /// Requests in flight, flushes included.
    var inFlight: Int { entries.count }
    /// Requests waiting for a tag.
    var waitingCount: Int { waiting.count }

    private var hasFreeTag: Bool { !freeTags.isEmpty || neverUsed < limit }

    private mutating func allocateTag() -> Tag? {
        if let tag = freeTags.popLast() { return Tag(tag) }
        guard neverUsed < limit else { return nil }
        defer { neverUsed += 1 }
        return Tag(UInt16(neverUsed))
    }

    private mutating func free(_ tag: Tag) {
        entries[tag.rawValue] = nil
        if tag != .notag { freeTags.append(tag.rawValue) }
    }

    /// Starts a request: it gets a tag now, or waits for one. Tversion
    /// always goes out with NOTAG (version(5)).
    mutating func submit(id: UInt64, message: Message, completion: Completion) -> Submitted {
        if let closedBy { return .failed(closedBy) }
        if case .tversion = message {
            guard entries.isEmpty, waiting.isEmpty else {
                return .failed(NinePClientError(.protocolError("Tversion while other requests are outstanding")))
            }
            entries[Tag.notag.rawValue] = .request(id: id, completion: completion, flush: .idle)
            return .write(Fcall(tag: .notag, message))
        }
        guard waiting.isEmpty, let tag = allocateTag() else {
            waiting.append(Waiting(id: id, message: message, completion: completion))
            return .queued
        }
        entries[tag.rawValue] = .request(id: id, completion: completion, flush: .idle)
        return .write(Fcall(tag: tag, message))
    }

    /// A reply (or an unreadable reply) arrived for `tag`.
    mutating func receive(tag: Tag) -> Received {
        switch entries[tag.rawValue] {
        case nil, .answered:
            return .unexpected
        case .request(_, let completion, let flush)?:
            switch flush {
            case .idle:
                free(tag)
            case .queued:
                // The answer makes the pending Tflush pointless: drop it.
                if let index = flushQueue.firstIndex(of: tag) { flushQueue.remove(at: index) }
                free(tag)
            case .sent:
                entries[tag.rawValue] = .answered
            }
            return .deliver(completion)
        case .flush(let oldtag)?:
            free(tag)
            switch entries[oldtag.rawValue] {
            case .request(_, let completion, _)?:
                free(oldtag)
                return .flushed(completion)
            case .answered?:
                free(oldtag)
                return .flushed(nil)
            case .flush?, nil:
                return .flushed(nil)
            }
        }
    }

    /// Cancels request `id`: unsent, it is dropped; in flight, it is flushed
    /// (once; cancelling again does nothing); answered, nothing happens.
    mutating func cancel(id: UInt64) -> Cancelled {
        if let index = waiting.firstIndex(where: { $0.id == id }) {
            let entry = waiting.remove(at: index)
            return .unsent(entry.completion)
        }
        guard let (raw, completion) = entries.lazy.compactMap({ key, entry -> (UInt16, Completion)? in
            if case .request(id, let completion, .idle) = entry { return (key, completion) }
            return nil
        }).first else { return .nothing }
        let oldtag = Tag(raw)
        // Tversion cannot be flushed (it has no tag to name); its reply will come.
        guard oldtag != .notag else { return .nothing }
        guard let tag = allocateTag() else {
            entries[raw] = .request(id: id, completion: completion, flush: .queued)
            flushQueue.append(oldtag)
            return .nothing
        }
        entries[raw] = .request(id: id, completion: completion, flush: .sent(tag))
        entries[tag.rawValue] = .flush(oldtag: oldtag)
        return .write(Fcall(tag: tag, .tflush(Tflush(oldtag: oldtag))))
    }

    /// After tags were freed: the next frame that can now go out (a queued
    /// Tflush first, then the oldest waiting request), or nil.
    mutating func nextWrite() -> Fcall? {
        guard closedBy == nil, hasFreeTag else { return nil }
        while let oldtag = flushQueue.first {
            flushQueue.removeFirst()
            guard case .request(let id, let completion, .queued)? = entries[oldtag.rawValue] else { continue }
            let tag = allocateTag()!
            entries[oldtag.rawValue] = .request(id: id, completion: completion, flush: .sent(tag))
            entries[tag.rawValue] = .flush(oldtag: oldtag)
            return Fcall(tag: tag, .tflush(Tflush(oldtag: oldtag)))
        }
        guard !waiting.isEmpty else { return nil }
        let next = waiting.removeFirst()
        let tag = allocateTag()!
        entries[tag.rawValue] = .request(id: next.id, completion: next.completion, flush: .idle)
        return Fcall(tag: tag, next.message)
    }

    /// The connection is gone: every request not yet answered fails with
    /// `error`, and so does every later `submit`. Returns their completions.
    mutating func close(with error: any Error) -> [Completion] {
        guard closedBy == nil else { return [] }
        closedBy = error
        var failed: [Completion] = []
        for entry in entries.values {
            if case .request(_, let completion, _) = entry { failed.append(completion) }
        }
        failed.append(contentsOf: waiting.map(\.completion))
        entries.removeAll()
        waiting.removeAll()
        flushQueue.removeAll()
        freeTags.removeAll()
        return failed
    }
}
