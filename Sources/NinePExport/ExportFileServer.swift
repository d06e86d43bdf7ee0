import Glibc
public import Logging
import NIOCore
public import NIOPosix
public import NinePServer
import NinePWire
import Synchronization

/// A `FileServer` that exports a host directory over 9P2000, confined to it
/// (sys-export(2): "Names presented by the client are interpreted relative to
/// directory dir, which is thus exported").
///
/// Mapping: walk opens each name with O_PATH|O_NOFOLLOW relative to the
/// previous one and answers ".." from the nodes it came through, so nothing
/// the client names leads outside the root (see `HostNode`). Symbolic links
/// are never followed: they appear as plain read-only files whose contents
/// are the link target, can be read, renamed and removed, and cannot be
/// walked through. Devices, pipes and sockets are listed but cannot be
/// opened. DMAPPEND and DMEXCL are not supported (Linux has no such mode
/// bits): they are never reported and cannot be set. Qids come from
/// (st_dev, st_ino) and ctime and survive a server restart (`HostStatus`).
/// Every access is made with the file-system credentials `users` names
/// (`ThreadCredentials`): the server's own, or, for an export run as root,
/// those of the user each fid was attached as, set on the thread that runs
/// the request's system calls for just that request.
///
/// Threads: the service loop calls every requirement on its event loop;
/// each one queues the request for `threadPool` (see `WorkQueue`), and
/// the system calls and the `respond` happen on a pool thread. Requests on one fid are serialised
/// by that fid's lock; requests on different fids run in parallel. The
/// exception (`metadataOnLoop`): on a local file system, a walk, stat,
/// create, open without truncation and the release of a fid ask only for
/// a few microseconds of metadata work, less than the hand-off to the pool
/// and back costs, so they run on the event loop itself, unless releases
/// are still queued (they keep their order behind those).
/// `destroyFid` queues the fid's release (closing descriptors, ORCLOSE
/// removal); every request dispatched afterwards first waits for queued
/// releases to finish, so a client that clunked an ORCLOSE fid never sees
/// the file again.
///
/// One server may be shared by any number of connections.
///
/// Deadlocks: the locks are each fid's (held across that fid's system
/// calls), `releasing` (held while released fids are closed, taking their
/// fid locks), and leaf locks (the release queue, the name caches). A request
/// settles releases before it takes its fid's lock, and a released fid has no
/// request left to hold its lock, so the order releasing → fid never
/// inverts. No lock is ever taken on the event loop except the leaf queue.
public final class ExportFileServer: FileServer {
    /// The exported directory as given to `init`.
    public let rootPath: String
    /// Whether every mutating operation is refused with "file system read only".
    public let isReadOnly: Bool
    /// Whether cheap metadata requests on the exported file system run on
    /// the event loop instead of the pool (see the type's comment).
    public let metadataOnLoop: Bool

    let queue: WorkQueue
    /// As whom requests run; every request goes through it in `perform`.
    let credentials: ThreadCredentials
    let logger: Logger
    let root: HostNode
    let status: HostStatus

    /// Released fids waiting to be closed on a worker (the event loop puts
    /// them here in `destroyFid`); `releasing` is held while a batch is
    /// closed, so that `settleReleases` returns only when every release
    /// queued before it has finished.
    private let releaseQueue = Mutex<[(fid: ExportFid, uname: String)]>([])
    private let releasing = Mutex<Void>(())
    private let outstandingReleases = Atomic<Int>(0)

    /// Exports the directory at `path`.
    ///
    /// Opens the directory (an O_PATH descriptor kept for the life of the
    /// server) on the calling thread.
    /// - Parameters:
    ///   - path: the directory to export; symbolic links in this path are
    ///     followed (it is the operator's choice), nothing below it is.
    ///   - readOnly: refuse create, write, remove, wstat (other than a sync
    ///     request) and opens for writing, truncation or ORCLOSE with
    ///     "file system read only".
    ///   - threadPool: where the blocking system calls run; must be started,
    ///     and outlive the server's use. Defaults to NIO's shared blocking pool.
    ///   - logger: failures nobody can be told about (ORCLOSE removals), and
    ///     at debug level every error answered.
    ///   - metadataOnLoop: run cheap metadata requests on the event loop;
    ///     nil decides from the type of the file system `path` is on: yes for
    ///     local disk and memory file systems (`LocalFileSystems`), no for
    ///     network, FUSE and unknown ones, where a stat may wait on a server.
    ///   - users: as whom requests run (`ExportUsers`); the server's own
    ///     credentials by default.
    /// - Throws: `ExportSetupError` if the directory cannot be opened or
    ///   /proc/self/fd is not available.
    public init(
        root path: String, readOnly: Bool = false, threadPool: NIOThreadPool = .singleton,
        logger: Logger = Logger(label: "ninep.export"), metadataOnLoop: Bool? = nil, users: ExportUsers = .server
    ) throws(ExportSetupError) {
        self.rootPath = path
        self.isReadOnly = readOnly
        self.queue = WorkQueue(pool: threadPool)
        self.credentials = ThreadCredentials(users)
        self.logger = logger
        let fd = Glibc.open(path, Host.openPath | O_DIRECTORY | O_CLOEXEC)
        if fd < 0 {
            let e = errno
            throw ExportSetupError(path: path, reason: e == ENOTDIR ? "not a directory" : String(cString: strerror(e)))
        }
        let node: HostNode
        do throws(NinePError) {
            node = try HostNode.root(adopting: fd, name: "/")
        } catch {
            throw ExportSetupError(path: path, reason: error.ename)
        }
        // Opening files through their O_PATH descriptors needs /proc.
        let probe = Glibc.open(Host.procPath(node.fd), Host.openPath | O_DIRECTORY | O_CLOEXEC)
        guard probe >= 0 else {
            throw ExportSetupError(path: path, reason: "/proc/self/fd is not available (is /proc mounted?)")
        }
        close(probe)
        self.root = node
        let st: stat
        do throws(NinePError) { st = try node.status() } catch {
            throw ExportSetupError(path: path, reason: error.ename)
        }
        self.status = HostStatus(rootDevice: UInt64(st.st_dev), names: IdentityNames())
        self.metadataOnLoop = metadataOnLoop ?? LocalFileSystems.contains(device: UInt64(st.st_dev))
    }

    // MARK: Dispatch

    /// Runs `work` on the pool and answers `r` with its result. The work
    /// starts by finishing queued releases, and is skipped ("interrupted")
    /// if a Tflush got there first. `cheap` work (metadata of `r.fid`'s
    /// file) runs on the calling event loop instead, when `runsOnLoop` allows.
    /// Either way `work` runs with the credentials of `r.fid`'s user, on
    /// the thread that runs it, and no longer.
    func perform(_ r: Request, cheap: Bool = false, _ work: @escaping @Sendable () throws(NinePError) -> Message) {
        let body: WorkQueue.Work = { [self] active in
            guard active else {
                return r.respond(error: NinePError("export of \(rootPath) is shutting down"))
            }
            if r.isCancelled { return r.respond(error: .interrupted) }
            settleReleases()
            let reply: Message
            do throws(NinePError) {
                reply = try credentials.run(as: r.fid?.uname, work)
            } catch {
                logger.debug(
                    "\(r.ifcall.type) failed",
                    metadata: [
                        "file": "\((r.fid?.aux as? ExportFid)?.node.pathDescription ?? "?")",
                        "error": "\(error.ename)", "export": "\(rootPath)",
                    ])
                reply = .rerror(Rerror(ename: error.ename))
            }
            r.respond(reply)
        }
        if cheap, let node = (r.fid?.aux as? ExportFid)?.node, runsOnLoop(node) {
            body(true)
        } else {
            queue.submit(body)
        }
    }

    /// Whether cheap work on `node` may run on the event loop now: the
    /// export allows it, the node is on the exported file system (not on
    /// something mounted below the root), and no release is queued ahead.
    private func runsOnLoop(_ node: HostNode) -> Bool {
        metadataOnLoop && node.device == status.rootDevice
            && outstandingReleases.load(ordering: .sequentiallyConsistent) == 0
    }

    /// The export's state for a fid.
    func state(of fid: ServerFid?) throws(NinePError) -> ExportFid {
        guard let state = fid?.aux as? ExportFid else { throw .unknownFid }
        return state
    }

    private func settleReleases() {
        guard outstandingReleases.load(ordering: .sequentiallyConsistent) > 0 else { return }
        releasing.withLock { _ in
            let batch = releaseQueue.withLock { queue in
                defer { queue.removeAll() }
                return queue
            }
            for (fid, uname) in batch {
                release(fid, as: uname)
                outstandingReleases.subtract(1, ordering: .sequentiallyConsistent)
            }
        }
    }

    /// Releases `fid` (closing it, carrying out ORCLOSE) as its user.
    private func release(_ fid: ExportFid, as uname: String) {
        let failure: NinePError?
        do throws(NinePError) {
            failure = try credentials.run(as: uname) { fid.release() }
        } catch {
            failure = error
        }
        guard let failure else { return }
        logger.notice(
            "could not remove an ORCLOSE file",
            metadata: ["file": "\(fid.node.pathDescription)", "error": "\(failure.ename)", "export": "\(rootPath)"])
    }

    // MARK: FileServer

    /// Attaches to the export root, or to the directory `aname` names below
    /// it (walked like any walk, and then a root of its own: ".." stops
    /// there). "" and "/" name the export root.
    public func attach(_ r: Request) {
        perform(r) { [self] () throws(NinePError) -> Message in
            guard case .tattach(let t) = r.ifcall, let fid = r.fid else { throw .botch }
            var node = root
            for part in t.aname.split(separator: "/") where part != "." {
                let name = String(part)
                try FileName.checkWalkable(name)
                node = try node.walk(to: name)
            }
            guard node.isDirectory else { throw .notDirectory }
            node = try node.asRoot()
            let qid = status.qid(try node.status())
            fid.aux = ExportFid(node: node)
            return .rattach(Rattach(qid: qid))
        }
    }

    /// Walks name by name from `r.fid`; newfid takes the result only if
    /// every name was walked (walk(5)); a failure after the first name is a
    /// short walk. ".." at a root stays at the root. A clone (no names)
    /// asks nothing of the host, so it is answered at once, on the event
    /// loop: every create, open of a directory and listing starts with one,
    /// and the pool's hand-off would double its time.
    public func walk(_ r: Request) {
        if case .twalk(let t) = r.ifcall, t.wname.isEmpty, let newfid = r.newfid, let start = r.fid?.aux as? ExportFid {
            if newfid !== r.fid { newfid.aux = ExportFid(node: start.node) }
            return r.respond(.rwalk(Rwalk(wqid: [])))
        }
        perform(r, cheap: true) { [self] () throws(NinePError) -> Message in
            guard case .twalk(let t) = r.ifcall, let newfid = r.newfid else { throw .botch }
            let start = try state(of: r.fid)
            var node = start.node
            var qids: [Qid] = []
            for name in t.wname {
                do throws(NinePError) {
                    try FileName.checkWalkable(name)
                    node = try node.walk(to: name)
                    qids.append(status.qid(try node.status()))
                } catch {
                    if qids.isEmpty { throw error }
                    break
                }
            }
            if qids.count == t.wname.count && !(t.wname.isEmpty && newfid === r.fid) {
                newfid.aux = ExportFid(node: node)
            }
            return .rwalk(Rwalk(wqid: qids))
        }
    }

    /// Opens the file through its O_PATH descriptor: OREAD and OEXEC read
    /// (OEXEC only with execute permission), OWRITE and ORDWR as named, OTRUNC truncates, ORCLOSE removes the file
    /// when the fid is released. Directories open only for reading; symbolic
    /// links only for reading (their target); devices, pipes and sockets not
    /// at all. Answers the qid after the open and iounit 0.
    public func open(_ r: Request) {
        var truncates = true
        if case .topen(let t) = r.ifcall { truncates = t.mode.truncate }
        perform(r, cheap: !truncates) { [self] () throws(NinePError) -> Message in
            guard case .topen(let t) = r.ifcall else { throw .botch }
            let fid = try state(of: r.fid)
            let mode = t.mode
            if isReadOnly && (mode.allowsWrite || mode.truncate || mode.removeOnClose) { throw .readOnly }
            let file = try FileIO.open(fid.node, mode: mode)
            let qid = status.qid(try fid.node.status())
            fid.opened(file, removeOnClose: mode.removeOnClose)
            return .ropen(Ropen(qid: qid, iounit: 0))
        }
    }

    /// Creates a file or (DMDIR) a directory in the directory `r.fid`, with
    /// open(5)'s permission rule: a file gets perm & (~0666 | (dir.perm &
    /// 0666)), a directory perm & (~0777 | (dir.perm & 0777)); the host's
    /// umask does not apply. An existing name, symbolic links included, is
    /// "file already exists". The fid becomes the new file, opened with the
    /// given mode (a directory only for reading).
    public func create(_ r: Request) {
        perform(r, cheap: true) { [self] () throws(NinePError) -> Message in
            guard case .tcreate(let t) = r.ifcall, let fid = r.fid else { throw .botch }
            let dir = try state(of: fid)
            if isReadOnly { throw .readOnly }
            guard dir.node.isDirectory else { throw .createNonDirectory }
            try FileName.checkCreatable(t.name)
            let created = try FileIO.create(
                t.name, perm: t.perm, mode: t.mode, in: dir.node,
                directoryPermissions: UInt32(try dir.node.status().st_mode))
            let qid = status.qid(try created.node.status())
            fid.aux = ExportFid(node: created.node, open: created.file, removeOnClose: t.mode.removeOnClose)
            return .rcreate(Rcreate(qid: qid, iounit: 0))
        }
    }

    /// Reads with pread(2) at the offset; a directory answers packed
    /// directory entries (see `DirectoryReader`); a symbolic link answers
    /// its target.
    public func read(_ r: Request) {
        perform(r) { [self] () throws(NinePError) -> Message in
            guard case .tread(let t) = r.ifcall else { throw .botch }
            let fid = try state(of: r.fid)
            let count = Int(min(t.count, r.messageSize))
            let data = try fid.withOpenFile { file throws(NinePError) -> ByteBuffer in
                if let directory = file.directory {
                    return try directory.read(offset: t.offset, count: count) { dirfd, name in
                        guard let st = try? Host.status(of: name, in: dirfd) else { return nil }
                        return status.entry(st, name: name)
                    }
                }
                if fid.node.kind == .symlink {
                    return try FileIO.readLink(fid.node, offset: t.offset, count: count)
                }
                return try FileIO.read(file.fd, offset: t.offset, count: count)
            }
            return .rread(Rread(data: data))
        }
    }

    /// Writes with pwrite(2) at the offset.
    public func write(_ r: Request) {
        perform(r) { [self] () throws(NinePError) -> Message in
            guard case .twrite(let t) = r.ifcall else { throw .botch }
            if isReadOnly { throw .readOnly }
            let fid = try state(of: r.fid)
            let count = try fid.withOpenFile { file throws(NinePError) -> Int in
                guard file.mode.allowsWrite, file.fd >= 0, file.directory == nil else { throw .openForRead }
                return try FileIO.write(file.fd, t.data, offset: t.offset)
            }
            return .rwrite(Rwrite(count: UInt32(count)))
        }
    }

    /// Removes the file with unlinkat(2), after checking that its name still
    /// means it; a directory must be empty. The root cannot be removed.
    public func remove(_ r: Request) {
        perform(r) { [self] () throws(NinePError) -> Message in
            if isReadOnly { throw .readOnly }
            let fid = try state(of: r.fid)
            try fid.remove()
            return .rremove(Rremove())
        }
    }

    /// The file's directory entry from fstat (see `HostStatus`); a root is
    /// named "/".
    public func stat(_ r: Request) {
        perform(r, cheap: true) { [self] () throws(NinePError) -> Message in
            let fid = try state(of: r.fid)
            return .rstat(Rstat(stat: try currentEntry(fid.node).entry))
        }
    }

    /// Applies a Twstat; see `applyWstat(_:to:)`.
    public func wstat(_ r: Request) {
        perform(r) { [self] () throws(NinePError) -> Message in
            guard case .twstat(let t) = r.ifcall else { throw .botch }
            try applyWstat(t.stat, to: try state(of: r.fid))
            return .rwstat(Rwstat())
        }
    }

    /// Queues the fid's release (closing its descriptors and carrying out
    /// ORCLOSE) for a worker thread, or releases it here where cheap work
    /// runs on the loop; requests dispatched after this call see it done.
    public func destroyFid(_ fid: ServerFid) {
        guard let state = fid.aux as? ExportFid else { return }
        fid.aux = nil
        if runsOnLoop(state.node) {
            // No request holds the fid any more, so nothing holds its lock.
            return release(state, as: fid.uname)
        }
        outstandingReleases.add(1, ordering: .sequentiallyConsistent)
        releaseQueue.withLock { $0.append((state, fid.uname)) }
        queue.submit { [self] active in
            if active { settleReleases() }
        }
    }

    /// The host status of `node` and its directory entry.
    func currentEntry(_ node: HostNode) throws(NinePError) -> (status: stat, entry: Stat) {
        let st = try node.status()
        return (st, status.entry(st, name: node.isRoot ? "/" : node.name))
    }
}

/// The export directory could not be set up.
public struct ExportSetupError: Error, CustomStringConvertible, Sendable {
    /// The directory that was to be exported.
    public let path: String
    /// Why it cannot be.
    public let reason: String
    public var description: String { "cannot export \(path): \(reason)" }
}
