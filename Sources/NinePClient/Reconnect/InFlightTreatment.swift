import NinePWire

/// What recovery does with a request that was in flight when the connection
/// dropped (steps 8 and 9 of a reconnect).
enum InFlightTreatment: Hashable, Sendable {
    /// Safe to send again: walk, open, read, stat, clunk, a wstat that does
    /// not rename, a write to a file that is not append-only, version,
    /// attach, auth, flush.
    case replay
    /// Not safe: the server may already have done it. Fail with
    /// `ReconnectError.mayHaveHappened(operation:)` and never resend.
    case mayHaveHappened(operation: String)

    /// Classifies `message` using what `registry` knows of its fid.
    ///
    /// A write is non-idempotent when its fid's qid has QTAPPEND (the echo of
    /// DMAPPEND): the offset is ignored and a second copy would be appended.
    /// Every other write names its offset and writing the same bytes there
    /// again leaves the same file. Of 9P2000.L's requests, those that make,
    /// rename or remove a name (Tlcreate, Tsymlink, Tmknod, Tmkdir, Tlink,
    /// Trename, Trenameat, Tunlinkat), a lock (whose state the server lost)
    /// and an xattr set (Txattrcreate) may have happened; reads of state
    /// (Tgetattr, Treaddir, Treadlink, Tstatfs, Txattrwalk, Tgetlock), Tlopen,
    /// Tsetattr (it sets absolute values) and Tfsync are safe to send again.
    init(_ message: Message, registry: FidRegistry) {
        func path(_ fid: Fid) -> String { registry[fid]?.pathDescription ?? "fid \(fid)" }
        func below(_ fid: Fid, _ name: String) -> String {
            registry[fid].map { ($0.path + [name]).joined(separator: "/") } ?? name
        }
        switch message {
        case .tcreate(let t):
            self = .mayHaveHappened(operation: "create of '\(below(t.fid, t.name))'")
        case .tlcreate(let t):
            self = .mayHaveHappened(operation: "create of '\(below(t.fid, t.name))'")
        case .tmkdir(let t):
            self = .mayHaveHappened(operation: "mkdir of '\(below(t.dfid, t.name))'")
        case .tsymlink(let t):
            self = .mayHaveHappened(operation: "symlink of '\(below(t.fid, t.name))'")
        case .tmknod(let t):
            self = .mayHaveHappened(operation: "mknod of '\(below(t.dfid, t.name))'")
        case .tlink(let t):
            self = .mayHaveHappened(operation: "link of '\(below(t.dfid, t.name))' to '\(path(t.fid))'")
        case .tremove(let t):
            self = .mayHaveHappened(operation: "remove of '\(path(t.fid))'")
        case .tunlinkat(let t):
            self = .mayHaveHappened(operation: "unlink of '\(below(t.dirfd, t.name))'")
        case .twstat(let t) where t.stat.changesName:
            self = .mayHaveHappened(operation: "rename of '\(path(t.fid))' to '\(t.stat.name)'")
        case .trename(let t):
            self = .mayHaveHappened(operation: "rename of '\(path(t.fid))' to '\(below(t.dfid, t.name))'")
        case .trenameat(let t):
            self = .mayHaveHappened(
                operation: "rename of '\(below(t.olddirfid, t.oldname))' to '\(below(t.newdirfid, t.newname))'")
        case .twrite(let t) where registry[t.fid]?.qid.type.contains(.append) == true:
            self = .mayHaveHappened(operation: "append-only write to '\(path(t.fid))'")
        case .tlock(let t):
            self = .mayHaveHappened(operation: "lock of '\(path(t.fid))'")
        case .txattrcreate(let t):
            self = .mayHaveHappened(operation: "set of attribute '\(t.name)' of '\(path(t.fid))'")
        case .tversion, .tauth, .tattach, .tflush, .twalk, .topen, .tread, .twrite, .tclunk, .tstat, .twstat,
            .tstatfs, .tlopen, .treadlink, .tgetattr, .tsetattr, .txattrwalk, .treaddir, .tfsync, .tgetlock:
            self = .replay
        // Replies are never in flight from the client; nothing to decide.
        case .rversion, .rauth, .rattach, .rerror, .rflush, .rwalk, .ropen, .rcreate, .rread, .rwrite, .rclunk,
            .rremove, .rstat, .rwstat, .rlerror, .rstatfs, .rlopen, .rlcreate, .rsymlink, .rmknod, .rrename,
            .rreadlink, .rgetattr, .rsetattr, .rxattrwalk, .rxattrcreate, .rreaddir, .rfsync, .rlock, .rgetlock,
            .rlink, .rmkdir, .rrenameat, .runlinkat:
            self = .replay
        }
    }
}
