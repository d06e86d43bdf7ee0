public import NinePWire

/// What a client must remember about each live fid to rebuild it on a new
/// connection: its attach root, the names walked from that root, its open
/// mode and its qid. Plus the negotiated version and msize.
///
/// Updated only from completed T/R pairs (`observe(request:reply:)` or the
/// `record…` functions it calls), never from requests alone: a fid changes
/// when the server says so. A pure value; its owner (the state machine, and
/// through it the executor's event loop) is the only one that touches it.
public struct FidRegistry: Hashable, Sendable {
    /// The (uname, aname) of an attach: one tree as seen by one user.
    public struct Root: Hashable, Sendable, Comparable, CustomStringConvertible {
        public var uname: String
        public var aname: String
        public init(uname: String, aname: String) { self.uname = uname; self.aname = aname }
        public static func < (a: Root, b: Root) -> Bool { (a.uname, a.aname) < (b.uname, b.aname) }
        public var description: String { "\(uname)@'\(aname)'" }
    }

    /// One fid's state.
    public struct Entry: Hashable, Sendable {
        /// The attach this fid descends from.
        public var root: Root
        /// Whether the attach carried an afid. Re-attach does not re-run
        /// authentication; a server that insists refuses the attach and the
        /// fids of that root die.
        public var authenticated: Bool
        /// An auth fid (from Tauth): its conversation cannot be replayed, so it
        /// dies on reconnect.
        public var isAuthFid: Bool
        /// A 9P2000.L extended-attribute fid (from Txattrwalk or
        /// Txattrcreate): the value read or being written lives in the
        /// server's fid, so it dies on reconnect too.
        public var isXattrFid: Bool = false
        /// The names walked from the root, with ".." already applied.
        public var path: [String]
        /// The mode of the Topen/Tcreate that opened it; nil if not open.
        public var openMode: OpenMode?
        /// The iounit of that open.
        public var iounit: UInt32
        /// The qid the server last gave for this fid.
        public var qid: Qid
        /// Dead fids answer ESTALE-like errors locally until clunked.
        public var isDead: Bool

        /// The mode a reopen uses: the saved one without OTRUNC, so a reopen
        /// never truncates again. ORCLOSE is kept: the server forgot it when
        /// it restarted, and without it the file would be left behind when
        /// the client clunks.
        public var reopenMode: OpenMode? {
            openMode.map { OpenMode(rawValue: $0.rawValue & ~OpenMode.truncateBit) }
        }

        /// The path for messages: "dir/file", or "/" for the root.
        public var pathDescription: String { path.isEmpty ? "/" : path.joined(separator: "/") }
    }

    /// The version string of the last successful Tversion; nil before it.
    public private(set) var version: String?
    /// The msize in force: from the last Tversion, lowered if a reconnected
    /// server granted less.
    public private(set) var messageSize: UInt32?
    /// Every live fid, dead ones included until the client clunks them.
    public private(set) var entries: [Fid: Entry] = [:]
    /// The files (qid.path) this client changed (write, wstat, open with
    /// OTRUNC) since the server last told their qid: their qid.vers in
    /// `entries` is behind for a reason of the client's own, so a newer one
    /// at reconnect is no sign of someone else's change. (qid.vers cannot be
    /// predicted: servers bump it or derive it from times.)
    public private(set) var changedByClient: Set<UInt64> = []

    public init() {}

    public subscript(fid: Fid) -> Entry? { entries[fid] }

    /// The fids in numeric order: recovery restores them in this order so
    /// that runs are reproducible.
    public var fids: [Fid] { entries.keys.sorted() }

    // MARK: Updates from T/R pairs

    /// Applies a completed request and its reply. Rerror changes nothing,
    /// except for Tclunk and Tremove, which free the fid whatever the answer
    /// (clunk(5), remove(5)).
    public mutating func observe(request: Message, reply: Message) {
        switch request {
        case .tversion:
            guard case .rversion(let r) = reply else { return }
            recordVersion(msize: r.msize, version: r.version)
        case .tauth(let t):
            guard case .rauth(let r) = reply else { return }
            recordAuth(afid: t.afid, uname: t.uname, aname: t.aname, qid: r.aqid)
        case .tattach(let t):
            guard case .rattach(let r) = reply else { return }
            recordAttach(fid: t.fid, afid: t.afid, uname: t.uname, aname: t.aname, qid: r.qid)
        case .twalk(let t):
            guard case .rwalk(let r) = reply else { return }
            recordWalk(fid: t.fid, newfid: t.newfid, names: t.wname, qids: r.wqid)
        case .topen(let t):
            guard case .ropen(let r) = reply else { return }
            recordOpen(fid: t.fid, mode: t.mode, qid: r.qid, iounit: r.iounit)
        case .tlopen(let t):
            guard case .rlopen(let r) = reply else { return }
            recordOpen(fid: t.fid, mode: OpenMode(t.flags), qid: r.qid, iounit: r.iounit)
        case .tcreate(let t):
            guard case .rcreate(let r) = reply else { return }
            recordCreate(fid: t.fid, name: t.name, mode: t.mode, qid: r.qid, iounit: r.iounit)
        case .tlcreate(let t):
            guard case .rlcreate(let r) = reply else { return }
            recordCreate(fid: t.fid, name: t.name, mode: OpenMode(t.flags), qid: r.qid, iounit: r.iounit)
        case .twstat(let t):
            guard case .rwstat = reply else { return }
            recordChange(fid: t.fid)
            if t.stat.changesName { recordWstatRename(fid: t.fid, newName: t.stat.name) }
        case .tsetattr(let t):
            guard case .rsetattr = reply else { return }
            recordChange(fid: t.fid)
        case .twrite(let t):
            guard case .rwrite = reply else { return }
            recordChange(fid: t.fid)
        case .tstat(let t):
            guard case .rstat(let r) = reply else { return }
            recordStat(fid: t.fid, qid: r.stat.qid)
        case .tgetattr(let t):
            guard case .rgetattr(let r) = reply else { return }
            recordStat(fid: t.fid, qid: r.attributes.qid)
        case .tclunk(let t):
            recordClunk(fid: t.fid)
        case .tremove(let t):
            recordRemove(fid: t.fid)
        case .txattrwalk(let t):
            guard case .rxattrwalk = reply else { return }
            recordXattrFid(fid: t.fid, newfid: t.newfid)
        case .txattrcreate(let t):
            guard case .rxattrcreate = reply else { return }
            recordXattrFid(fid: t.fid, newfid: t.fid)
        case .trename(let t):
            guard case .rrename = reply, let directory = entries[t.dfid], let entry = entries[t.fid] else { return }
            recordChange(fid: t.dfid)
            recordMove(from: entry.path, to: directory.path + [t.name], aname: entry.root.aname)
        case .trenameat(let t):
            guard case .rrenameat = reply, let from = entries[t.olddirfid], let to = entries[t.newdirfid] else { return }
            recordChange(fid: t.olddirfid)
            recordChange(fid: t.newdirfid)
            recordMove(from: from.path + [t.oldname], to: to.path + [t.newname], aname: from.root.aname)
        case .tlink(let t):
            guard case .rlink = reply else { return }
            recordChange(fid: t.dfid)
        case .tsymlink(let t):
            guard case .rsymlink = reply else { return }
            recordChange(fid: t.fid)
        case .tmknod(let t):
            guard case .rmknod = reply else { return }
            recordChange(fid: t.dfid)
        case .tmkdir(let t):
            guard case .rmkdir = reply else { return }
            recordChange(fid: t.dfid)
        case .tunlinkat(let t):
            guard case .runlinkat = reply else { return }
            recordChange(fid: t.dirfd)
        // These change no fid: the fid they name stays as it was.
        case .tflush, .tread, .tstatfs, .treadlink, .treaddir, .tfsync, .tlock, .tgetlock:
            return
        case .rversion, .rauth, .rattach, .rerror, .rflush, .rwalk, .ropen, .rcreate, .rread, .rwrite, .rclunk,
            .rremove, .rstat, .rwstat, .rlerror, .rstatfs, .rlopen, .rlcreate, .rsymlink, .rmknod, .rrename,
            .rreadlink, .rgetattr, .rsetattr, .rxattrwalk, .rxattrcreate, .rreaddir, .rfsync, .rlock, .rgetlock,
            .rlink, .rmkdir, .rrenameat, .runlinkat:
            return
        }
    }

    /// Txattrwalk made `newfid` (or Txattrcreate made `fid`) an
    /// extended-attribute fid of `fid`'s file: it cannot be walked to again.
    public mutating func recordXattrFid(fid: Fid, newfid: Fid) {
        guard var entry = entries[fid] else { return }
        entry.isXattrFid = true
        entry.openMode = nil
        entries[newfid] = entry
    }

    /// version(5): a successful Tversion starts a new session: "all
    /// outstanding I/O on the connection is aborted; all active fids are
    /// freed". "unknown" is a refusal and changes nothing.
    public mutating func recordVersion(msize: UInt32, version: String) {
        guard version != ProtocolVersion.unknown else { return }
        self.version = version
        self.messageSize = msize
        entries.removeAll()
        changedByClient.removeAll()
    }

    /// A reconnected server granted a smaller msize.
    public mutating func recordMessageSize(_ msize: UInt32) {
        messageSize = msize
    }

    /// Tauth made `afid` an auth fid.
    public mutating func recordAuth(afid: Fid, uname: String, aname: String, qid: Qid) {
        entries[afid] = Entry(
            root: Root(uname: uname, aname: aname), authenticated: false, isAuthFid: true,
            path: [], openMode: nil, iounit: 0, qid: qid, isDead: false)
    }

    /// Tattach made `fid` the root of (uname, aname).
    public mutating func recordAttach(fid: Fid, afid: Fid = .nofid, uname: String, aname: String, qid: Qid) {
        entries[fid] = Entry(
            root: Root(uname: uname, aname: aname), authenticated: afid != .nofid, isAuthFid: false,
            path: [], openMode: nil, iounit: 0, qid: qid, isDead: false)
    }

    /// walk(5): a full walk moves `newfid` (a clone of `fid` when they
    /// differ) along `names`; ".." pops a name (at the root it stays, as
    /// walk(5) says of the root's parent). "If nwqid < nwname ... newfid will
    /// be unaffected": a partial walk changes nothing.
    ///
    /// - Returns: whether the registry changed.
    @discardableResult
    public mutating func recordWalk(fid: Fid, newfid: Fid, names: [String], qids: [Qid]) -> Bool {
        guard var entry = entries[fid], qids.count == names.count else { return false }
        for name in names {
            if name == ".." {
                _ = entry.path.popLast()
            } else {
                entry.path.append(name)
            }
        }
        if let last = qids.last { entry.qid = last }
        entry.openMode = nil
        entry.iounit = 0
        entries[newfid] = entry
        return true
    }

    /// Topen opened `fid`.
    public mutating func recordOpen(fid: Fid, mode: OpenMode, qid: Qid, iounit: UInt32) {
        guard entries[fid] != nil else { return }
        if mode.truncate { changedByClient.insert(qid.path) }
        entries[fid]!.openMode = mode
        entries[fid]!.qid = qid
        entries[fid]!.iounit = iounit
    }

    /// open(5): after Tcreate "the fid will represent the newly created
    /// file", open with `mode`.
    public mutating func recordCreate(fid: Fid, name: String, mode: OpenMode, qid: Qid, iounit: UInt32) {
        guard let directory = entries[fid] else { return }
        changedByClient.insert(directory.qid.path)
        entries[fid]!.path.append(name)
        recordOpen(fid: fid, mode: mode, qid: qid, iounit: iounit)
    }

    /// A Twstat renamed `fid`'s file: its last name becomes `newName`, and
    /// every fid of the same tree (aname) below the old path follows, so that
    /// a renamed directory's children are still re-walked to the right place.
    public mutating func recordWstatRename(fid: Fid, newName: String) {
        guard let entry = entries[fid], !entry.path.isEmpty else { return }
        recordMove(from: entry.path, to: Array(entry.path.dropLast()) + [newName], aname: entry.root.aname)
    }

    /// A rename moved the file at `oldPath` of tree `aname` to `newPath`
    /// (9P2000.L's Trename and Trenameat may cross directories): every fid
    /// at or below the old path follows.
    public mutating func recordMove(from oldPath: [String], to newPath: [String], aname: String) {
        guard !oldPath.isEmpty else { return }
        for (other, var e) in entries where e.root.aname == aname && e.path.starts(with: oldPath) {
            e.path = newPath + e.path.dropFirst(oldPath.count)
            entries[other] = e
        }
    }

    /// clunk(5): "the fid is no longer valid", even on Rerror.
    public mutating func recordClunk(fid: Fid) {
        entries[fid] = nil
    }

    /// remove(5): the fid is clunked "even if the remove fails".
    public mutating func recordRemove(fid: Fid) {
        entries[fid] = nil
    }

    /// A write or wstat through `fid` succeeded: its file changed at the
    /// client's hands.
    public mutating func recordChange(fid: Fid) {
        guard let entry = entries[fid] else { return }
        changedByClient.insert(entry.qid.path)
    }

    /// Tstat told `fid`'s current qid. After the client's own changes, every
    /// fid of that file learns the new qid.vers (which includes them) and
    /// the file counts as unchanged by the client again.
    public mutating func recordStat(fid: Fid, qid: Qid) {
        guard let entry = entries[fid], entry.qid.path == qid.path, entry.qid.type == qid.type else { return }
        guard changedByClient.remove(qid.path) != nil else {
            entries[fid]!.qid = qid
            return
        }
        for (other, e) in entries where e.qid.path == qid.path && e.qid.type == qid.type {
            entries[other]!.qid.version = qid.version
        }
    }

    /// Whether a qid.vers that moved while the server was away may be the
    /// client's own doing (see `changedByClient`).
    public func mayHaveChangedItself(_ qid: Qid) -> Bool {
        changedByClient.contains(qid.path)
    }

    /// Recovery restored every fid: the qids in `entries` are the server's
    /// again, so nothing counts as changed by the client any more.
    public mutating func forgetClientChanges() {
        changedByClient.removeAll()
    }

    // MARK: Updates from recovery

    /// The fid could not be restored: it answers ESTALE-like errors until clunked.
    public mutating func markDead(_ fid: Fid) {
        entries[fid]?.isDead = true
    }

    /// The fid was restored with this qid (same path and type; the version may differ).
    public mutating func recordRestored(_ fid: Fid, qid: Qid, iounit: UInt32?) {
        guard entries[fid] != nil else { return }
        entries[fid]!.qid = qid
        if let iounit { entries[fid]!.iounit = iounit }
    }
}
