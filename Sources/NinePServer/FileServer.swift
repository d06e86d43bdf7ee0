public import NinePWire

/// A 9P file server in the manner of lib9p's `Srv` (9p(3)): one requirement
/// per transaction, each given a `Request` that it must answer exactly once,
/// possibly later and from any thread or task, with `Request.respond`.
///
/// Who calls: the connection's event loop calls every requirement. They must
/// not block: a server that does blocking work (disk I/O, waiting on a
/// program) hands the request to other threads and responds from there.
/// The service loop has already rejected protocol errors (unknown or
/// duplicate fids and tags, walks of open fids, reads of fids opened for
/// writing, counts above msize − IOHDRSZ and so on), so a FileServer never
/// sees them.
public protocol FileServer: AnyObject, Sendable {
    /// Attach `r.fid` (new) to the root named by `r.ifcall`'s aname for its
    /// uname; respond `.rattach` with the root's qid. Required.
    func attach(_ r: Request)

    /// Set up `r.fid` (the new afid) for authentication.
    /// Default: responds "authentication not required".
    func auth(_ r: Request)

    /// Walk `r.fid` by `r.ifcall`'s names into `r.newfid` (which is `r.fid`
    /// itself when fid == newfid); respond `.rwalk` with one qid per name
    /// walked. A short walk is answered with fewer qids, and the loop turns
    /// a failed first step into the Rerror 9P demands. When fid == newfid,
    /// fid must be left unchanged unless every name was walked. The loop
    /// sets newfid's qid from the reply and only keeps newfid if the whole
    /// walk succeeded.
    /// Default: `walkAndClone(r)`, driving `walk1` and `clone`.
    func walk(_ r: Request)

    /// Walk `fid` one step to `name`, updating whatever the server keeps in
    /// `fid.aux`, and return the new qid, or throw a `NinePError`.
    /// Default: throws "file not found". Implement this or `walk`.
    func walk1(_ fid: ServerFid, name: String) throws(NinePError) -> Qid

    /// `newfid` was created from `oldfid` by a walk: copy or share the
    /// server's state. Default: shares `oldfid.aux`.
    func clone(_ oldfid: ServerFid, _ newfid: ServerFid) throws(NinePError)

    /// Open `r.fid` with the mode in `r.ifcall`. The loop has checked the
    /// fid is not open, and that a directory is opened OREAD (plus ORCLOSE)
    /// only; it records the mode and the qid of the Ropen. Default: responds
    /// `.ropen` with the fid's qid and iounit 0.
    func open(_ r: Request)

    /// Create a file in the directory `r.fid` and open it; respond `.rcreate`
    /// with its qid (the loop then makes `r.fid` the new file, open with the
    /// mode asked). The loop has rejected names "", ".", ".." and names
    /// holding "/", and a directory created with a mode other than OREAD.
    /// Default: responds "create prohibited".
    func create(_ r: Request)

    /// Answer `.rread`. Required. For directories, `dirRead(r, …)` helps.
    func read(_ r: Request)

    /// Answer `.rwrite`. Default: responds "write prohibited".
    func write(_ r: Request)

    /// Remove the file of `r.fid` (the loop clunks the fid whatever the
    /// outcome). Default: responds "remove prohibited".
    ///
    /// ORCLOSE: when a fid opened with ORCLOSE is clunked, or the session
    /// ends or is reset while it is open, the loop calls `remove` with a
    /// Tremove for that fid (same tag as the Tclunk, NOTAG otherwise). The
    /// client gets Rclunk once it is answered, whatever the outcome; the fid
    /// is destroyed after it. Permission to remove is the FileServer's to
    /// check, at open time (open(5) requires write permission in the parent).
    func remove(_ r: Request)

    /// Answer `.rstat`. Required.
    func stat(_ r: Request)

    /// Apply `r.ifcall`'s Twstat. Default: responds "wstat prohibited".
    func wstat(_ r: Request)

    /// `r.oldRequest` should be cancelled or hurried along; a cancelled old
    /// request answers "interrupted". The loop sends Rflush only after the old
    /// request's reply. Default: `r.oldRequest?.cancel()` (which runs the old
    /// request's cancellation handler, if it set one) and responds `.rflush`.
    func flush(_ r: Request)

    /// The fid was clunked (or removed) and no request refers to it any more:
    /// release what `fid.aux` holds. Default: does nothing.
    func destroyFid(_ fid: ServerFid)

    /// The request has been answered and is finished. Default: does nothing.
    func destroyRequest(_ r: Request)

    /// The connection has ended (EOF, error, or a malformed frame that
    /// cannot be skipped); every fid has been destroyed. Default: does nothing.
    func end()

    /// The dialects this server can be spoken to in. Tversion settles on the
    /// best one both sides speak (9P2000.L, then 9P2000.u, then 9P2000).
    /// Under 9P2000.u the loop encodes stat entries and directory reads made
    /// by `dirRead` with the .u fields (a server sets `Stat.extension` and the
    /// numeric ids, or leaves their "none" defaults) and answers errors with
    /// their errno (`NinePError.linuxErrno`). Who calls: the loop, once per
    /// Tversion. Default: `[.ninep2000]`, so a FileServer written for 9P2000
    /// keeps working unchanged.
    var dialects: Set<ProtocolVersion> { get }

    // MARK: 9P2000.L (diod protocol.md). Called only under 9P2000.L; the
    // defaults are in FileServer+DotL.swift, each said below. Errors are
    // `NinePError`s with their Linux errno (`NinePError(errno:)`), answered
    // as Rlerror. The loop has checked, before any of these is called, that
    // every fid named is known and settled, and the checks listed with each.

    /// Tstatfs: answer `.rstatfs` with the file system's statfs(2) figures.
    /// Default: ENOSYS, on which Linux's v9fs falls back to figures of its
    /// own (simple_statfs).
    func statfs(_ r: Request)

    /// Tlopen: open `r.fid` with the Linux flags in `r.ifcall`; answer
    /// `.rlopen`. The loop has checked the fid is not open and not an xattr
    /// fid, and that a directory is opened for reading only; it records the
    /// flags (`ServerFid.openFlags`) and the access as `openMode`.
    /// Default: `open(_:)` with the 9P2000 mode of the flags
    /// (`OpenMode(linux:)`), its Ropen answered as Rlopen.
    func lopen(_ r: Request)

    /// Tlcreate: create `name` in the directory `r.fid` and open it with the
    /// flags; answer `.rlcreate`. The fid then stands for the new file, open.
    /// The loop has checked the fid is an unopened directory and the name is
    /// a name (not "", ".", "..", nor holding "/").
    /// Default: `create(_:)` with perm `mode & 0o777` and the 9P2000 mode of
    /// the flags, its Rcreate answered as Rlcreate.
    func lcreate(_ r: Request)

    /// Tsymlink: make a symbolic link `name` → `symtgt` in the directory
    /// `r.fid`; answer `.rsymlink` with its qid. The loop has checked the
    /// fid is a directory and the name. Default: EPERM.
    func symlink(_ r: Request)

    /// Tmknod: make a device, FIFO or socket `name` in the directory
    /// `r.fid` (Tmknod's dfid); answer `.rmknod`. The loop has checked the
    /// fid is a directory and the name. Default: EPERM.
    func mknod(_ r: Request)

    /// Trename: move the file of `r.fid` to `name` in the directory
    /// `r.newfid` (Trename's dfid); answer `.rrename`. The loop has checked
    /// that dfid is a known directory and the name. Default: EOPNOTSUPP
    /// (v9fs tries Trenameat first and Trename after it).
    func rename(_ r: Request)

    /// Treadlink: answer `.rreadlink` with the target of the symbolic link
    /// `r.fid`. Default: EINVAL, readlink(2)'s answer for a file that is
    /// not a link (a server without links has none).
    func readlink(_ r: Request)

    /// Tgetattr: answer `.rgetattr` with at least the attributes asked for
    /// (`LinuxAttributes.valid` says which are filled in). Default: `stat(_:)`,
    /// its entry translated by `LinuxAttributes(stat:)`.
    func getattr(_ r: Request)

    /// Tsetattr: change what `valid` selects; answer `.rsetattr`.
    /// Default: `wstat(_:)` with the mode's permission bits, the size and
    /// the times (ATIME/MTIME without *_SET meaning now) as a Twstat;
    /// uid or gid changes answer EPERM, a change of ctime alone succeeds.
    func setattr(_ r: Request)

    /// Txattrwalk: make `r.newfid` an xattr fid for reading the attribute
    /// `name` of `r.fid` (or, for "", the list of names, each ending in NUL);
    /// answer `.rxattrwalk` with its size. The loop then lets that fid be
    /// read (`read(_:)`, offsets below the size), and clunked, nothing else
    /// (`ServerFid.xattr`). Default: EOPNOTSUPP, which Linux reports as
    /// "extended attributes not supported".
    func xattrwalk(_ r: Request)

    /// Txattrcreate: turn `r.fid` into an xattr fid that will set (or, with
    /// size 0, remove) the attribute `name`; answer `.rxattrcreate`. The loop
    /// then lets that fid be written (`write(_:)`, within the declared size)
    /// and clunked, nothing else; at Tclunk it calls `commitXattr(_:)`.
    /// Default: EOPNOTSUPP.
    func xattrcreate(_ r: Request)

    /// The Tclunk of a fid made by Txattrcreate: set the attribute from what
    /// was written (protocol.md: "The actual setxattr operation happens when
    /// the fid is clunked"); answer `.rclunk`, or the error setxattr gave.
    /// The fid is clunked whatever the answer; a session that ends (or is
    /// reset by Tversion) before the Tclunk sets nothing: the fid only goes
    /// to `destroyFid`. Default: EOPNOTSUPP.
    func commitXattr(_ r: Request)

    /// Treaddir: answer `.rreaddir` with the entries from `offset` (0, or an
    /// offset this server returned in an entry, which the client may present
    /// at any later time) that fit in count. The loop has checked the fid is
    /// a directory opened for reading and count fits in msize. `readDir(_:_:)`
    /// helps. Default: EOPNOTSUPP.
    func readdir(_ r: Request)

    /// Tfsync: commit the file of `r.fid` (open) to stable storage
    /// (`datasync` ≠ 0: its data only); answer `.rfsync`. Default: answers
    /// Rfsync at once, right for a server that holds nothing unwritten.
    func fsync(_ r: Request)

    /// Tlock: take or release a POSIX byte-range lock on the open fid,
    /// never waiting (answer BLOCKED, and the client retries); answer `.rlock`.
    /// Default: ENOLCK ("No locks available").
    func lock(_ r: Request)

    /// Tgetlock: answer `.rgetlock` with a lock that would conflict with the
    /// one described, or the request itself with type UNLCK if none does.
    /// Default: UNLCK (the default `lock` holds no locks).
    func getlock(_ r: Request)

    /// Tlink: make a hard link `name` in the directory `r.fid` (Tlink's
    /// dfid) to the file of `r.newfid` (Tlink's fid); answer `.rlink`. The loop has checked
    /// dfid is a directory and the name. Default: EPERM.
    func link(_ r: Request)

    /// Tmkdir: make the directory `name` in the directory `r.fid` (Tmkdir's
    /// dfid); answer `.rmkdir` with its qid. The fid is unchanged. The loop
    /// has checked the fid is a directory and the name. Default: EPERM.
    func mkdir(_ r: Request)

    /// Trenameat: rename `oldname` in the directory `r.fid` (olddirfid) to
    /// `newname` in the directory `r.newfid` (newdirfid); answer
    /// `.rrenameat`. The loop has checked both are directories and both
    /// names. Default: EOPNOTSUPP, on which v9fs falls back to Trename.
    func renameat(_ r: Request)

    /// Tunlinkat: remove `name` from the directory `r.fid`
    /// (`Tunlinkat.removeDirectory` in flags: a directory, else anything but
    /// one); answer `.runlinkat`. The loop has checked the fid is a
    /// directory and the name. Default: EOPNOTSUPP, on which v9fs falls back
    /// to walking to the file and Tremove.
    func unlinkat(_ r: Request)
}

extension FileServer {
    public func auth(_ r: Request) { r.respond(error: .authNotRequired) }
    public func walk(_ r: Request) { walkAndClone(r) }
    public func walk1(_ fid: ServerFid, name: String) throws(NinePError) -> Qid { throw .notFound }
    public func clone(_ oldfid: ServerFid, _ newfid: ServerFid) throws(NinePError) { newfid.aux = oldfid.aux }
    public func open(_ r: Request) {
        guard let fid = r.fid else { return r.respond(error: .unknownFid) }
        r.respond(.ropen(Ropen(qid: fid.qid, iounit: 0)))
    }
    public func create(_ r: Request) { r.respond(error: .noCreate) }
    public func write(_ r: Request) { r.respond(error: .noWrite) }
    public func remove(_ r: Request) { r.respond(error: .noRemove) }
    public func wstat(_ r: Request) { r.respond(error: .noWstat) }
    public func flush(_ r: Request) {
        r.oldRequest?.cancel()
        r.respond(.rflush(Rflush()))
    }
    public func destroyFid(_ fid: ServerFid) {}
    public func destroyRequest(_ r: Request) {}
    public func end() {}
    public var dialects: Set<ProtocolVersion> { [.ninep2000] }

    /// lib9p's walkandclone: answers a Twalk by calling `clone` (when newfid
    /// differs from fid) and then `walk1` once per name, then responds with
    /// the qids walked. A failed first step answers the error; a later
    /// failure answers the shorter list (the loop then discards newfid).
    ///
    /// When fid == newfid, 9P requires fid to be unchanged unless the whole
    /// walk succeeds, so the walk runs on a scratch `ServerFid` made by
    /// `clone(fid, scratch)`; on success fid takes the scratch's qid and
    /// aux, and the scratch is handed to `destroyFid` holding whichever state
    /// is no longer used (fid's old aux on success, the clone's otherwise).
    ///
    /// Safe to call from any thread: a server whose walk1 blocks calls this
    /// from its own worker.
    public func walkAndClone(_ r: Request) {
        guard case .twalk(let t) = r.ifcall, let fid = r.fid, let newfid = r.newfid else {
            return r.respond(error: .botch)
        }
        let inPlace = newfid === fid
        if inPlace && t.wname.isEmpty { return r.respond(.rwalk(Rwalk(wqid: []))) }
        let target = inPlace ? ServerFid(fid: fid.fid, uname: fid.uname, qid: fid.qid) : newfid
        target.qid = fid.qid
        do throws(NinePError) {
            try clone(fid, target)
        } catch {
            return r.respond(error: error)
        }
        var qids: [Qid] = []
        qids.reserveCapacity(t.wname.count)
        var failure: NinePError?
        for name in t.wname {
            do throws(NinePError) {
                let q = try walk1(target, name: name)
                target.qid = q
                qids.append(q)
            } catch {
                failure = error
                break
            }
        }
        if inPlace {
            if qids.count == t.wname.count {
                let previous = fid.aux
                fid.aux = target.aux
                fid.qid = target.qid
                target.aux = previous
            }
            destroyFid(target)
        }
        if let failure, qids.isEmpty { return r.respond(error: failure) }
        r.respond(.rwalk(Rwalk(wqid: qids)))
    }
}
