import Glibc
public import NinePWire

// The defaults of FileServer's 9P2000.L requirements (each documented where
// the requirement is declared, in FileServer.swift). Where a 9P2000
// requirement does the same work (lopen/open, lcreate/create, getattr/stat,
// setattr/wstat) the default hands the request to it, so a FileServer written
// for 9P2000 serves those over .L unchanged; elsewhere it answers the errno
// on which Linux's v9fs does without (statfs, rename, renameat, unlinkat,
// xattrs) or refuses.
extension FileServer {
    public func statfs(_ r: Request) { r.respond(error: NinePError(errno: ENOSYS)) }

    public func lopen(_ r: Request) {
        guard case .tlopen(let t) = r.ifcall else { return r.respond(error: .botch) }
        r.forward(.topen(Topen(fid: t.fid, mode: OpenMode(linux: t.flags))), to: open) { reply in
            guard case .ropen(let o) = reply else { return reply }
            return .rlopen(Rlopen(qid: o.qid, iounit: o.iounit))
        }
    }

    public func lcreate(_ r: Request) {
        guard case .tlcreate(let t) = r.ifcall else { return r.respond(error: .botch) }
        let create = Tcreate(
            fid: t.fid, name: t.name, perm: FileMode(permissions: t.mode & 0o777), mode: OpenMode(linux: t.flags))
        r.forward(.tcreate(create), to: self.create) { reply in
            guard case .rcreate(let c) = reply else { return reply }
            return .rlcreate(Rlcreate(qid: c.qid, iounit: c.iounit))
        }
    }

    public func symlink(_ r: Request) { r.respond(error: NinePError(errno: EPERM)) }
    public func mknod(_ r: Request) { r.respond(error: NinePError(errno: EPERM)) }
    public func rename(_ r: Request) { r.respond(error: NinePError(errno: EOPNOTSUPP)) }
    public func readlink(_ r: Request) { r.respond(error: NinePError(errno: EINVAL)) }

    public func getattr(_ r: Request) {
        guard case .tgetattr(let t) = r.ifcall else { return r.respond(error: .botch) }
        r.forward(.tstat(Tstat(fid: t.fid)), to: stat) { reply in
            guard case .rstat(let s) = reply else { return reply }
            return .rgetattr(Rgetattr(attributes: LinuxAttributes(stat: s.stat)))
        }
    }

    public func setattr(_ r: Request) {
        guard case .tsetattr(let t) = r.ifcall else { return r.respond(error: .botch) }
        switch Twstat.translating(t, isDirectory: r.fid?.qid.isDirectory ?? false, now: UInt32(truncatingIfNeeded: time(nil))) {
        case .failure(let e):
            r.respond(error: e)
        case .success(nil):
            r.respond(.rsetattr(Rsetattr()))
        case .success(let wstat?):
            r.forward(.twstat(wstat), to: self.wstat) { reply in
                guard case .rwstat = reply else { return reply }
                return .rsetattr(Rsetattr())
            }
        }
    }

    public func xattrwalk(_ r: Request) { r.respond(error: NinePError(errno: EOPNOTSUPP)) }
    public func xattrcreate(_ r: Request) { r.respond(error: NinePError(errno: EOPNOTSUPP)) }
    public func commitXattr(_ r: Request) { r.respond(error: NinePError(errno: EOPNOTSUPP)) }
    public func readdir(_ r: Request) { r.respond(error: NinePError(errno: EOPNOTSUPP)) }
    public func fsync(_ r: Request) { r.respond(.rfsync(Rfsync())) }
    public func lock(_ r: Request) { r.respond(error: NinePError(errno: ENOLCK)) }

    public func getlock(_ r: Request) {
        guard case .tgetlock(let t) = r.ifcall else { return r.respond(error: .botch) }
        r.respond(.rgetlock(Rgetlock(type: .unlock, start: t.start, length: t.length, procId: t.procId, clientId: t.clientId)))
    }

    public func link(_ r: Request) { r.respond(error: NinePError(errno: EPERM)) }
    public func mkdir(_ r: Request) { r.respond(error: NinePError(errno: EPERM)) }
    public func renameat(_ r: Request) { r.respond(error: NinePError(errno: EOPNOTSUPP)) }
    public func unlinkat(_ r: Request) { r.respond(error: NinePError(errno: EOPNOTSUPP)) }
}

extension Request {
    /// Hands this request to `body` as `message` (same tag, fids, msize and
    /// dialect), and answers it with `translate` of that request's answer
    /// (errors pass through untouched). A flush of this request cancels the
    /// forwarded one.
    func forward(
        _ message: Message, to body: (Request) -> Void, translate: @escaping @Sendable (Message) -> Message
    ) {
        let inner = Request(
            tag: tag, ifcall: message, fid: fid, newfid: newfid, afid: afid, oldRequest: oldRequest,
            messageSize: messageSize, version: version
        ) { [self] reply in
            if case .rerror = reply { return respond(reply) }
            respond(translate(reply))
        }
        onCancel { inner.cancel() }
        body(inner)
    }
}

extension OpenMode {
    /// The 9P2000 open mode of Linux open(2) flags: the access mode, and
    /// OTRUNC for O_TRUNC. The other flags have no 9P2000 counterpart.
    public init(linux flags: LinuxOpenFlags) {
        let access: OpenMode =
            switch flags.access {
            case .writeOnly: .write
            case .readWrite: .readWrite
            default: .read  // O_RDONLY, and 3 (no access: opened for ioctls), which reads nothing
            }
        self = access.with(truncate: flags.contains(.truncate))
    }
}

extension Twstat {
    /// The Twstat that does what a Tsetattr asks, nil when nothing a
    /// Twstat can express is asked (ctime alone), or EPERM for a change of
    /// owner or group (9P2000 names them by string). Times asked without
    /// ATIME_SET/MTIME_SET are `now`; a 9P2000 time has whole seconds.
    static func translating(_ t: Tsetattr, isDirectory: Bool, now: UInt32) -> Result<Twstat?, NinePError> {
        if t.valid.contains(.uid) || t.valid.contains(.gid) { return .failure(NinePError(errno: EPERM)) }
        var d = Stat.dontTouch
        if t.valid.contains(.mode) {
            d.mode = FileMode(permissions: t.mode & 0o777, flags: isDirectory ? .dir : [])
        }
        if t.valid.contains(.size) { d.length = t.size }
        if t.valid.contains(.atime) {
            d.atime = t.valid.contains(.atimeSet) ? UInt32(truncatingIfNeeded: t.atimeSec) : now
        }
        if t.valid.contains(.mtime) {
            d.mtime = t.valid.contains(.mtimeSet) ? UInt32(truncatingIfNeeded: t.mtimeSec) : now
        }
        return .success(d == .dontTouch ? nil : Twstat(fid: t.fid, stat: d))
    }
}
