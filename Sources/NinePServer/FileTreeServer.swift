import NIOCore
public import NinePWire

/// A FileServer that serves a `FileTree` (lib9p's Srv with `tree` set,
/// 9p-file(3)): conform, provide `tree`, and every transaction is handled
/// from the tree with Plan 9 permission checks against the fid's uname.
///
/// - attach: the fid becomes the root (aname is ignored).
/// - walk: needs execute permission on each directory walked.
/// - open: needs the access the mode asks (OTRUNC needs write, ORCLOSE write
///   permission in the parent); OTRUNC empties the file; DMEXCL files admit
///   one open fid at a time ("file in use").
/// - create: needs write permission in the directory; open(5)'s rule limits
///   the permissions; owned by the fid's uname, group of the directory.
/// - read/write: the file's contents at offsets; directories list the
///   entries present when the read at offset 0 was made (`dirRead`). A
///   file with a `backing` (e.g. `File2Chan`) is synthetic: its opens,
///   reads, writes and closes go to the backing (OTRUNC does nothing).
/// - remove: needs write permission in the parent; "directory not empty".
/// - 9P2000.L (FileTreeServer+DotL.swift): lopen, lcreate and setattr as
///   open, create and wstat; getattr from the stat entry; readdir, mkdir,
///   symlink, readlink, rename and renameat within a directory, unlinkat, statfs.
/// - wstat: stat(5)'s rules: name (write permission in the parent, unique),
///   length (write permission; not for directories), mode, mtime and atime
///   (owner or group leader), gid (owner and member of the new group, or
///   leader of both groups); uid never. All or nothing.
///
/// A conforming server may implement any requirement itself (e.g. `read`
/// for a synthetic file) and keep these defaults for the rest. Every method
/// answers before returning, on the calling (event loop) thread.
public protocol FileTreeServer: FileServer {
    /// The tree this server serves.
    var tree: FileTree { get }
}

/// What a `FileTreeServer` keeps in `ServerFid.aux`.
public struct TreeFid: Sendable {
    /// The file the fid refers to.
    public var file: File
    /// For an open directory: the entries listed by reads since offset 0.
    var listing: [Stat] = []
    /// Whether this fid holds the DMEXCL claim on `file`.
    var exclusive = false
    /// The backing told of this fid's open, to be told of its close.
    var openBacking: (any FileBacking)?

    public init(file: File) { self.file = file }
}

extension ServerFid {
    /// The tree file of a fid served by a `FileTreeServer`.
    public var file: File? { aux(as: TreeFid.self)?.file }
}

extension FileTreeServer {
    public func attach(_ r: Request) {
        guard let fid = r.fid else { return r.respond(error: .botch) }
        fid.aux = TreeFid(file: tree.root)
        r.respond(.rattach(Rattach(qid: tree.root.qid)))
    }

    public func walk1(_ fid: ServerFid, name: String) throws(NinePError) -> Qid {
        guard let dir = fid.file else { throw .botch }
        guard dir.isDirectory else { throw .walkNonDirectory }
        guard dir.hasPermission(fid.uname, .exec) else { throw .permissionDenied }
        guard let next = dir.walk(name) else { throw .notFound }
        fid.aux = TreeFid(file: next)
        return next.qid
    }

    public func open(_ r: Request) {
        guard case .topen(let t) = r.ifcall, let fid = r.fid, var state = fid.aux(as: TreeFid.self) else {
            return r.respond(error: .botch)
        }
        let file = state.file
        guard file.hasPermission(fid.uname, Access(openMode: t.mode)) else { return r.respond(error: .permissionDenied) }
        if t.mode.removeOnClose {
            guard let parent = file.parent, parent.hasPermission(fid.uname, .write) else {
                return r.respond(error: .permissionDenied)
            }
        }
        guard file.claimExclusive() else { return r.respond(error: .inUse) }
        state.exclusive = file.stat.mode.contains(.exclusive)
        let backing = file.backing
        if t.mode.truncate && !file.isDirectory && backing == nil {
            do throws(NinePError) {
                try file.truncate(to: 0, by: fid.uname)
            } catch {
                if state.exclusive { file.releaseExclusive() }
                return r.respond(error: error)
            }
        }
        if let backing {
            state.openBacking = backing
            backing.opened(fid)
        }
        fid.aux = state
        r.respond(.ropen(Ropen(qid: file.qid, iounit: 0)))
    }

    public func create(_ r: Request) {
        guard case .tcreate(let t) = r.ifcall, let fid = r.fid, let dir = fid.file else {
            return r.respond(error: .botch)
        }
        guard dir.hasPermission(fid.uname, .write) else { return r.respond(error: .permissionDenied) }
        let file: File
        do throws(NinePError) {
            file = try dir.create(named: t.name, uid: fid.uname, perm: dir.permissionsForNewEntry(t.perm))
            if t.perm.contains(.symlink) {
                // 9P2000.u: "For DSYMLINK files, the string is the target of the link."
                _ = try file.write(ByteBuffer(string: t.extension), at: 0, by: fid.uname)
                file.updateStat { $0.extension = t.extension }
            }
        } catch {
            return r.respond(error: error)
        }
        var state = TreeFid(file: file)
        state.exclusive = file.claimExclusive() && file.stat.mode.contains(.exclusive)
        fid.aux = state
        r.respond(.rcreate(Rcreate(qid: file.qid, iounit: 0)))
    }

    public func read(_ r: Request) {
        guard case .tread(let t) = r.ifcall, let fid = r.fid, var state = fid.aux(as: TreeFid.self) else {
            return r.respond(error: .botch)
        }
        let file = state.file
        if let backing = state.openBacking {
            return backing.read(r, fid: fid, offset: t.offset, count: t.count)
        }
        guard file.isDirectory else {
            return r.respond(.rread(Rread(data: file.read(offset: t.offset, count: t.count))))
        }
        if t.offset == 0 {
            state.listing = file.children.map(\.stat)
            fid.aux = state
        }
        let listing = state.listing
        dirRead(r) { n in n < listing.count ? listing[n] : nil }
    }

    public func write(_ r: Request) {
        guard case .twrite(let t) = r.ifcall, let fid = r.fid, let state = fid.aux(as: TreeFid.self) else {
            return r.respond(error: .botch)
        }
        if let backing = state.openBacking {
            return backing.write(r, fid: fid, offset: t.offset, data: t.data)
        }
        let file = state.file
        do throws(NinePError) {
            let n = try file.write(t.data, at: t.offset, by: fid.uname)
            r.respond(.rwrite(Rwrite(count: n)))
        } catch {
            r.respond(error: error)
        }
    }

    public func remove(_ r: Request) {
        guard let fid = r.fid, let file = fid.file else { return r.respond(error: .botch) }
        guard let parent = file.parent else { return r.respond(error: file.isRemoved ? .doesNotExist : .removeRoot) }
        guard parent.hasPermission(fid.uname, .write) else { return r.respond(error: .permissionDenied) }
        do throws(NinePError) {
            try file.remove()
            r.respond(.rremove(Rremove()))
        } catch {
            r.respond(error: error)
        }
    }

    public func stat(_ r: Request) {
        guard let file = r.fid?.file else { return r.respond(error: .botch) }
        r.respond(.rstat(Rstat(stat: file.stat)))
    }

    public func wstat(_ r: Request) {
        guard case .twstat(let t) = r.ifcall, let fid = r.fid, let file = fid.file else {
            return r.respond(error: .botch)
        }
        do throws(NinePError) {
            try applyWstat(t.stat, to: file, by: fid.uname, policy: file.context)
            r.respond(.rwstat(Rwstat()))
        } catch {
            r.respond(error: error)
        }
    }

    public func destroyFid(_ fid: ServerFid) {
        guard let state = fid.aux(as: TreeFid.self) else { return }
        if state.exclusive { state.file.releaseExclusive() }
        state.openBacking?.closed(fid)
    }
}

/// stat(5)'s wstat rules: checks everything first, then applies, so that
/// either every change happens or none does.
private func applyWstat(_ d: Stat, to file: File, by uid: String, policy: TreeContext) throws(NinePError) {
    // stat(5): all "don't touch" values ask only that the file be committed
    // to stable storage; memory is as stable as it gets.
    if d.isAllDontTouch { return }
    let current = file.stat
    let groups = policy.groups
    let isOwner = current.uid == uid
    let leadsGroup = groups.isLeader(uid, current.gid)

    if d.changesUid && d.uid != current.uid { throw .wstatUid }
    let rename = d.changesName && d.name != current.name
    if rename {
        guard let parent = file.parent else { throw .permissionDenied }
        guard parent.hasPermission(uid, .write) else { throw .permissionDenied }
    }
    if d.changesLength {
        if file.isDirectory {
            if d.length != 0 { throw .wstatDirectoryLength }
        } else {
            guard file.hasPermission(uid, .write) else { throw .permissionDenied }
            guard d.length <= policy.maxFileSize else { throw .fileTooLarge }
        }
    }
    if d.changesMode || d.changesMtime || d.changesAtime {
        guard isOwner || leadsGroup else { throw .permissionDenied }
    }
    let regroup = d.changesGid && d.gid != current.gid
    if regroup {
        let asOwner = isOwner && groups.isMember(uid, d.gid)
        let asLeader = leadsGroup && groups.isLeader(uid, d.gid)
        guard asOwner || asLeader else { throw .permissionDenied }
    }

    // Renaming is the one step that can still fail (the name may be taken).
    if rename { try file.rename(to: d.name) }
    if d.changesLength && !file.isDirectory { try file.truncate(to: d.length, by: uid) }
    file.updateStat { s in
        if d.changesMode { s.mode = d.mode }
        if d.changesMtime { s.mtime = d.mtime }
        if d.changesAtime { s.atime = d.atime }
        if regroup { s.gid = d.gid }
    }
}
