public import NinePWire
import Synchronization

/// A fid as the server sees it (lib9p's Fid, 9p-fid(3)).
///
/// The loop sets `qid` and `openMode` from the replies it sends (Rattach,
/// Rwalk, Ropen, Rcreate); the FileServer keeps its own state in `aux`.
/// Every property is guarded by a lock, so any thread may read or write it.
///
/// Lifetime: the loop counts one reference for the connection's fid table
/// and one for each outstanding request naming the fid; `destroyFid` is
/// called when the fid has been clunked (or removed, or the session ended)
/// and the last such request has been answered.
public final class ServerFid: Sendable {
    /// The fid number chosen by the client.
    public let fid: Fid
    /// The user the attach acts as (inherited by walks): the attach uname,
    /// or the user `AttachPolicy` decided on (`--squash`, an n_uname).
    public let uname: String

    private struct State {
        var qid: Qid
        var openMode: OpenMode?
        var aux: (any Sendable)?
        var dirOffset: UInt64 = 0
        var dirIndex: Int = 0
        var openFlags: LinuxOpenFlags?
        var xattr: XattrRole?
    }

    /// What a fid made by Txattrwalk or Txattrcreate is for (9P2000.L). Such
    /// a fid may only be read (the first), written (the second) and clunked.
    public enum XattrRole: Hashable, Sendable {
        /// Made by Txattrwalk: the value of `name` ("" for the list of
        /// names), `size` bytes long, is read from it.
        case reading(name: String, size: UInt64)
        /// Made by Txattrcreate: a value of `size` bytes for `name` is
        /// written to it, and set (`flags`: setxattr(2)'s) when it is clunked.
        case writing(name: String, size: UInt64, flags: UInt32)
    }
    private let state: Mutex<State>

    /// References held by the service loop (table + outstanding requests).
    /// Touched only on the connection's event loop.
    nonisolated(unsafe) var loopReferences = 0

    /// Creates a fid. The service loop does this; tests and `walkAndClone`
    /// (for a scratch copy) may too.
    public init(fid: Fid, uname: String, qid: Qid = Qid(path: 0)) {
        self.fid = fid
        self.uname = uname
        self.state = Mutex(State(qid: qid))
    }

    /// The file's qid: from attach, walk, open or create.
    public var qid: Qid {
        get { state.withLock { $0.qid } }
        set { state.withLock { $0.qid = newValue } }
    }

    /// The mode it was opened with, or nil while not open.
    public var openMode: OpenMode? {
        get { state.withLock { $0.openMode } }
        set { state.withLock { $0.openMode = newValue } }
    }

    /// The Linux flags of the Tlopen or Tlcreate that opened it (9P2000.L);
    /// `openMode` then holds their access mode. Set by the loop.
    public internal(set) var openFlags: LinuxOpenFlags? {
        get { state.withLock { $0.openFlags } }
        set { state.withLock { $0.openFlags = newValue } }
    }

    /// Set by the loop when Txattrwalk made this fid or Txattrcreate turned
    /// it into an xattr fid; nil for every other fid.
    public internal(set) var xattr: XattrRole? {
        get { state.withLock { $0.xattr } }
        set { state.withLock { $0.xattr = newValue } }
    }

    /// Whether the fid has been opened (or created, or is an auth fid).
    public var isOpen: Bool { openMode != nil }

    /// The FileServer's own state for this fid (lib9p's fid->aux).
    public var aux: (any Sendable)? {
        get { state.withLock { $0.aux } }
        set { state.withLock { $0.aux = newValue } }
    }

    /// Typed access to `aux`.
    public func aux<T>(as: T.Type) -> T? { aux as? T }

    /// Directory read position, kept by `dirRead` (lib9p's diroffset/dirindex):
    /// the offset the next directory read must present, and the index of the
    /// entry that starts there.
    public var directoryPosition: (offset: UInt64, index: Int) {
        get { state.withLock { ($0.dirOffset, $0.dirIndex) } }
        set { state.withLock { $0.dirOffset = newValue.offset; $0.dirIndex = newValue.index } }
    }

    /// Records where the next directory read must start, keeping the entry
    /// index that `dirRead` stored. The loop calls this after each Rread of a
    /// directory (lib9p's rread).
    func advanceDirectory(to offset: UInt64) {
        state.withLock { $0.dirOffset = offset }
    }

    /// Records an Ropen or Rcreate (lib9p's ropen/rcreate): the fid is open
    /// with `mode` on the file `qid`, a directory listing starting afresh.
    func opened(_ mode: OpenMode, qid: Qid, flags: LinuxOpenFlags? = nil) {
        state.withLock {
            $0.qid = qid
            $0.openMode = mode
            $0.openFlags = flags
            $0.dirOffset = 0
            $0.dirIndex = 0
        }
    }
}
