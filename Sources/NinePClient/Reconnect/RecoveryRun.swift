import NinePWire

/// Steps 3 to 7 of a reconnect, on a freshly dialled connection: Tversion,
/// re-attach each root, re-walk each fid, reopen the open ones, check qids.
///
/// Tags and fids: recovery runs while every client request is held back and
/// the new connection has nothing else in flight, so every tag is free; it
/// numbers its tags from 0 (Tversion uses NOTAG). Each fid is restored under
/// its own number (Twalk rootfid → fid, then fid → fid per 16 names), so the
/// client's fids and the mount's handles stay valid with no remapping. The
/// temporary root fids are taken from the top of the fid space downwards,
/// skipping every number the registry knows, and are clunked — and every
/// reply awaited — before the run reports `finished`, so no recovery tag or
/// fid is still in use when client traffic resumes.
///
/// Fids are restored `window` at a time; a fid holds its slot until its last
/// message (walk, open, or the clunk of a fid found dead) is answered, which
/// bounds the tags in use.
struct RecoveryRun: Sendable {
    enum Outcome: Hashable, Sendable {
        case finished
        /// The new connection would not resume the session: its Tversion
        /// or a Tattach was refused. Says why; the attempt failed, and the
        /// machine closes it and redials later.
        case refused(String)
    }

    private enum Pending: Hashable, Sendable {
        case version
        case attach(FidRegistry.Root)
        /// Walking names `from..<to` of the fid's path.
        case walk(Fid, from: Int, to: Int)
        case open(Fid)
        case clunkDead(Fid)
        case clunkRoot(Fid)
    }

    private enum Phase: Hashable, Sendable {
        case version, attach, restore, release, done
    }

    let server: String
    let window: Int
    private(set) var outcome: Outcome?
    private(set) var restoredCount = 0
    private(set) var deadCount = 0
    private(set) var invalidatedCount = 0
    private var phase = Phase.version
    private var pending: [Tag: Pending] = [:]
    private var nextTag: UInt16 = 0
    private var roots: [FidRegistry.Root] = []
    private var rootCursor = 0
    private var rootFids: [FidRegistry.Root: Fid] = [:]
    private var rootQids: [FidRegistry.Root: Qid] = [:]
    private var fids: [Fid] = []
    private var fidCursor = 0
    private var fidsInProgress = 0

    /// Whether the run has an outcome.
    var isFinished: Bool { outcome != nil }

    init(server: String, window: Int) {
        self.server = server
        self.window = min(max(window, 1), 30_000)
    }

    /// Starts the run: kills what cannot be restored (auth and xattr fids) and sends
    /// Tversion, or finishes at once when no session was ever negotiated.
    /// Fids already dead are left alone.
    mutating func start(registry: inout FidRegistry) -> [ReconnectAction] {
        var actions: [ReconnectAction] = []
        for fid in registry.fids {
            guard let entry = registry[fid], !entry.isDead else { continue }
            if entry.isAuthFid {
                fidsInProgress += 1  // the slot kill() releases
                kill(fid, registry: &registry, reason: "an authentication fid cannot be resumed", clunk: false, &actions)
            } else if entry.isXattrFid {
                fidsInProgress += 1
                kill(fid, registry: &registry, reason: "an extended-attribute fid cannot be resumed", clunk: false, &actions)
            } else {
                fids.append(fid)
            }
        }
        guard let version = registry.version, let msize = registry.messageSize else {
            // No Tversion ever succeeded, so there is no session to resume;
            // a fid without one (a client that skipped Tversion) cannot come back.
            for fid in fids {
                fidsInProgress += 1
                kill(fid, registry: &registry, reason: "no session was negotiated", clunk: false, &actions)
            }
            phase = .done
            outcome = .finished
            return actions
        }
        pending[.notag] = .version
        actions.append(.send(Fcall(tag: .notag, .tversion(Tversion(msize: msize, version: version)))))
        return actions
    }

    /// Takes the reply to one of the run's messages.
    mutating func receive(_ reply: Fcall, registry: inout FidRegistry) -> [ReconnectAction] {
        guard let what = pending.removeValue(forKey: reply.tag) else {
            return [.log(.warning, "\(server): ignoring reply with unknown tag during recovery: \(reply)")]
        }
        var actions: [ReconnectAction] = []
        switch what {
        case .version:
            receiveVersion(reply.message, registry: &registry, &actions)
        case .attach(let root):
            guard case .rattach(let r) = reply.message else {
                phase = .done
                outcome = .refused("re-attach of \(root) answered '\(Self.text(reply.message))'")
                return actions
            }
            rootQids[root] = r.qid
        case .walk(let fid, let from, let to):
            receiveWalk(fid, from: from, to: to, reply.message, registry: &registry, &actions)
        case .open(let fid):
            receiveOpen(fid, reply.message, registry: &registry, &actions)
        case .clunkDead(let fid):
            fidsInProgress -= 1
            if case .rerror(let e) = reply.message {
                actions.append(.log(.debug, "\(server): clunk of stale fid \(fid): \(e.ename)"))
            }
        case .clunkRoot(let fid):
            if case .rerror(let e) = reply.message {
                actions.append(.log(.debug, "\(server): clunk of recovery root fid \(fid): \(e.ename)"))
            }
        }
        advance(registry: &registry, &actions)
        return actions
    }

    // MARK: Steps

    private mutating func receiveVersion(_ reply: Message, registry: inout FidRegistry, _ actions: inout [ReconnectAction]) {
        guard case .rversion(let r) = reply, r.version == registry.version, let saved = registry.messageSize else {
            let answer: String =
                switch reply {
                case .rversion(let r): r.version
                default: Self.text(reply)
                }
            phase = .done
            outcome = .refused("Tversion answered '\(answer)'")
            return
        }
        guard r.msize > NineP.ioHeaderSize else {
            phase = .done
            outcome = .refused("Tversion answered '\(r.version)' with msize \(r.msize)")
            return
        }
        if r.msize < saved {
            registry.recordMessageSize(r.msize)
            actions.append(.setMessageSize(r.msize))
            actions.append(.log(.notice, "\(server): granted msize \(r.msize) instead of \(saved); I/O will be split to fit"))
        }
        roots = Set(fids.compactMap { registry[$0]?.root }).sorted()
        var candidate = Fid.nofid.rawValue
        for root in roots {
            repeat { candidate -= 1 } while registry[Fid(candidate)] != nil
            rootFids[root] = Fid(candidate)
        }
        phase = .attach
    }

    private mutating func receiveWalk(
        _ fid: Fid, from: Int, to: Int, _ reply: Message, registry: inout FidRegistry, _ actions: inout [ReconnectAction]
    ) {
        guard let entry = registry[fid] else { return release(fid) }
        let fidExists = from > 0  // later chunks walk fid to itself; a failed one leaves it where it was
        switch reply {
        case .rwalk(let r) where r.wqid.count == to - from:
            if to < entry.path.count {
                return sendWalk(fid, from: to, entry: entry, &actions)
            }
            guard let qid = r.wqid.last ?? rootQids[entry.root] else { return release(fid) }
            if qid.path != entry.qid.path || qid.type != entry.qid.type {
                kill(fid, registry: &registry, reason: "replaced: was \(entry.qid), now \(qid)", clunk: true, &actions)
            } else if let mode = entry.reopenMode {
                let tag = allocateTag()
                pending[tag] = .open(fid)
                actions.append(.send(Fcall(tag: tag, .topen(Topen(fid: fid, mode: mode)))))
            } else {
                restored(fid, qid: qid, iounit: nil, registry: &registry, &actions)
            }
        case .rwalk(let r) where r.wqid.count < to - from:
            let missing = entry.path[from + r.wqid.count]
            kill(fid, registry: &registry, reason: "'\(missing)' no longer exists", clunk: fidExists, &actions)
        default:
            kill(fid, registry: &registry, reason: "walk: \(Self.text(reply))", clunk: fidExists, &actions)
        }
    }

    private mutating func receiveOpen(_ fid: Fid, _ reply: Message, registry: inout FidRegistry, _ actions: inout [ReconnectAction]) {
        guard let entry = registry[fid] else { return release(fid) }
        switch reply {
        case .ropen(let r) where r.qid.path == entry.qid.path && r.qid.type == entry.qid.type:
            restored(fid, qid: r.qid, iounit: r.iounit, registry: &registry, &actions)
        case .ropen(let r):
            kill(fid, registry: &registry, reason: "reopened a different file: was \(entry.qid), now \(r.qid)", clunk: true, &actions)
        default:
            // DMEXCL files land here with "file in use" when the server still
            // holds the old connection's open.
            let exclusive = entry.qid.type.contains(.exclusive) ? " (exclusive-use file)" : ""
            let mode = entry.reopenMode.map { "\($0)" } ?? "?"
            kill(fid, registry: &registry, reason: "reopen \(mode)\(exclusive): \(Self.text(reply))", clunk: true, &actions)
        }
    }

    /// Sends whatever the phase allows and moves to the next phase when one is done.
    private mutating func advance(registry: inout FidRegistry, _ actions: inout [ReconnectAction]) {
        while true {
            switch phase {
            case .version, .done:
                return
            case .attach:
                while rootCursor < roots.count && pending.count < window {
                    let root = roots[rootCursor]
                    rootCursor += 1
                    let tag = allocateTag()
                    pending[tag] = .attach(root)
                    actions.append(.send(Fcall(tag: tag, .tattach(Tattach(fid: rootFids[root]!, uname: root.uname, aname: root.aname)))))
                }
                guard rootCursor == roots.count && pending.isEmpty else { return }
                phase = .restore
            case .restore:
                while fidCursor < fids.count && fidsInProgress < window {
                    let fid = fids[fidCursor]
                    fidCursor += 1
                    fidsInProgress += 1
                    guard let entry = registry[fid] else {
                        release(fid)
                        continue
                    }
                    if rootQids[entry.root] == nil {
                        kill(fid, registry: &registry, reason: "re-attach of \(entry.root) failed", clunk: false, &actions)
                    } else {
                        sendWalk(fid, from: 0, entry: entry, &actions)
                    }
                }
                guard fidCursor == fids.count && fidsInProgress == 0 else { return }
                phase = .release
                for root in rootQids.keys.sorted() {
                    let tag = allocateTag()
                    pending[tag] = .clunkRoot(rootFids[root]!)
                    actions.append(.send(Fcall(tag: tag, .tclunk(Tclunk(fid: rootFids[root]!)))))
                }
            case .release:
                guard pending.isEmpty else { return }
                phase = .done
                outcome = .finished
                registry.forgetClientChanges()
            }
        }
    }

    // MARK: Helpers

    /// walk(5): at most 16 names per Twalk. The first chunk clones the root
    /// fid into `fid`; later chunks walk `fid` in place.
    private mutating func sendWalk(_ fid: Fid, from: Int, entry: FidRegistry.Entry, _ actions: inout [ReconnectAction]) {
        let to = min(from + NineP.maxWalkElements, entry.path.count)
        let source = from == 0 ? rootFids[entry.root]! : fid
        let tag = allocateTag()
        pending[tag] = .walk(fid, from: from, to: to)
        actions.append(.send(Fcall(tag: tag, .twalk(Twalk(fid: source, newfid: fid, wname: Array(entry.path[from..<to]))))))
    }

    private mutating func restored(_ fid: Fid, qid: Qid, iounit: UInt32?, registry: inout FidRegistry, _ actions: inout [ReconnectAction]) {
        if let old = registry[fid]?.qid, old.version != qid.version, !registry.mayHaveChangedItself(qid) {
            invalidatedCount += 1
            actions.append(.invalidate(fid, old: old, new: qid))
            actions.append(.log(.info, "\(server): '\(registry[fid]!.pathDescription)' changed while the server was away (qid.vers \(old.version) → \(qid.version))"))
        }
        registry.recordRestored(fid, qid: qid, iounit: iounit)
        restoredCount += 1
        release(fid)
    }

    /// Marks `fid` dead. With `clunk`, the fid exists on the new connection
    /// and is clunked first; its slot is released when that is answered.
    private mutating func kill(
        _ fid: Fid, registry: inout FidRegistry, reason: String, clunk: Bool, _ actions: inout [ReconnectAction]
    ) {
        let path = registry[fid]?.pathDescription ?? "fid \(fid)"
        registry.markDead(fid)
        deadCount += 1
        actions.append(.markFidDead(fid, .staleFid(path: path)))
        actions.append(.log(.info, "\(server): fid \(fid) '\(path)' is stale: \(reason)"))
        if clunk {
            let tag = allocateTag()
            pending[tag] = .clunkDead(fid)
            actions.append(.send(Fcall(tag: tag, .tclunk(Tclunk(fid: fid)))))
        } else {
            release(fid)
        }
    }

    private mutating func release(_ fid: Fid) {
        fidsInProgress -= 1
    }

    /// The next tag not in use by the run (never NOTAG). The window keeps
    /// the tags in use far below 65535, so the search always ends.
    private mutating func allocateTag() -> Tag {
        while true {
            let tag = Tag(nextTag)
            nextTag = nextTag == Tag.notag.rawValue - 1 ? 0 : nextTag + 1
            if tag != .notag && pending[tag] == nil { return tag }
        }
    }

    private static func text(_ reply: Message) -> String {
        if case .rerror(let e) = reply { return e.ename }
        return "unexpected \(reply.type)"
    }
}
