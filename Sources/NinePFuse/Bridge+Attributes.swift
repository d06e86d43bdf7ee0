import FuseLowLevel
import Glibc
import NinePWire

// lookup, forget, getattr, setattr, access, statfs: the requests about
// names and attributes.

extension Bridge {
    /// Twalk of one name from the directory's fid with a Tstat of the new
    /// fid right behind it (one round trip; see `walk(_:_:_:then:_:)`). A
    /// directory keeps the walked fid; a file's is clunked (see `NodeTable`).
    /// A missing name is a negative entry, cached for `negativeTimeout`;
    /// a name known to be missing (`KnownNames`) is answered so at once.
    func lookup(_ context: FuseRequestContext, parent: UInt64, name: String, reply: FuseEntryReply) {
        // The kernel asks for "." and ".." only of exportable filesystems; this one is not.
        guard name != "." && name != ".." else { return reply.error(EINVAL) }
        let validity = namesValidity
        if validity > 0 {
            let (answer, read) = state.withLock { $0.table.lookUp(name, in: parent, now: Self.now(), validity: validity) }
            if read { readNames(of: parent) }
            if case .missing(let nanoseconds) = answer {
                reply.entry(.negative(timeout: Double(nanoseconds) / 1e9))
                return
            }
        }
        let exchange = Exchange(client, reply)
        directoryFid(parent, exchange) { [self] directory in
            guard case .success(let parentFid) = directory else {
                return fail(reply, directory.failure!, "lookup", node: parent, name: name)
            }
            let pipelined = pipelines
            walk(parentFid, [name], exchange, then: { pipelined ? [.tstat(Tstat(fid: $0))] : [] }) { [self] walked, replies in
                guard case .success(let (fid, qids)) = walked else {
                    let failure = walked.failure!
                    if failure.errno == ENOENT && validity > 0 {
                        let read = state.withLock { $0.table.missed(name, in: parent, now: Self.now(), validity: validity) }
                        if read { readNames(of: parent) }
                        reply.entry(.negative(timeout: options.negativeTimeout))
                        return
                    }
                    return fail(reply, failure, "lookup", node: parent, name: name)
                }
                let answer: @Sendable (Result<Stat, Failure>) -> Void = { [self] result in
                    switch result {
                    case .failure(let failure):
                        clunk(fid)
                        fail(reply, failure, "lookup", node: parent, name: name)
                    case .success(let st):
                        let (node, surplus) = state.withLock {
                            $0.table.nameChanged(name, in: parent, present: true)
                            return $0.table.remember(qid: st.qid, parent: parent, name: name, fid: fid)
                        }
                        if let surplus { clunk(surplus) }
                        guard let node else { return reply.error(EIO) }
                        if !reply.entry(entry(node, st)) { entryNotTaken(node) }
                    }
                }
                if let st = Self.stat(in: replies.first), st.qid.path == qids[0].path {
                    return withOwners([st]) { answer(.success(st)) }
                }
                stat(fid, exchange) { [self] result in
                    if pipelined, case .success = result { ranEarly("Tstat behind Twalk") }
                    answer(result)
                }
            }
        }
    }

    /// The kernel did not take an entry answer (the request was interrupted
    /// and answered EINTR already): the lookup it counted is undone.
    func entryNotTaken(_ node: UInt64) {
        forget(ino: node, lookups: 1)
    }

    /// No answer and no waiting: a fid the node held goes out as a Tclunk.
    func forget(ino: UInt64, lookups: UInt64) {
        forgetMulti([FuseForget(ino: ino, lookups: lookups)])
    }

    func forgetMulti(_ items: [FuseForget]) {
        let fids = state.withLock { state in
            items.compactMap { state.table.forget($0.ino, count: $0.lookups) }
        }
        for fid in fids { clunk(fid) }
    }

    /// Tstat of the open handle's fid when the caller has the file open
    /// (fstat), else of the node's.
    func getattr(_ context: FuseRequestContext, ino: UInt64, fileInfo: FuseFileInfo?, reply: FuseAttrReply) {
        let exchange = Exchange(client, reply)
        withFid(ino, fileInfo, exchange) { [self] fid, iounit, finish in
            guard case .success(let fid) = fid else {
                return fail(reply, fid.failure!, "getattr", node: ino)
            }
            stat(fid, exchange) { [self] result in
                finish()
                switch result {
                case .failure(let failure):
                    fail(reply, failure, "getattr", node: ino)
                case .success(let st):
                    if ino == NodeTable.root { state.withLock { $0.table.setRootQid(st.qid) } }
                    reply.attr(attributes.attr(st, iounit: iounit), timeout: options.attrTimeout)
                }
            }
        }
    }

    /// One Twstat with the changed fields (mode, size, mtime, atime), then
    /// a Tstat for the answer. A server that refuses to set atime (Plan 9's
    /// do) gets the Twstat again without it. Changing the owner or group is
    /// EPERM: 9P2000 names users, and only an unchanged uid/gid passes.
    func setattr(
        _ context: FuseRequestContext, ino: UInt64, attr: FuseAttr, fields: SetattrFields,
        fileInfo: FuseFileInfo?, reply: FuseAttrReply
    ) {
        let isDirectory = state.withLock { $0.table.nodes[ino]?.isDirectory } ?? false
        let change = Self.wstatChange(attr, fields, isDirectory: isDirectory, now: UInt32(clamping: time(nil)))
        let exchange = Exchange(client, reply)
        withFid(ino, fileInfo, exchange) { [self] fid, iounit, finish in
            guard case .success(let fid) = fid else {
                return fail(reply, fid.failure!, "setattr", node: ino)
            }
            let answer: @Sendable (Result<Stat, Failure>) -> Void = { [self] result in
                finish()
                switch result {
                case .failure(let failure): fail(reply, failure, "setattr", node: ino)
                case .success(let st): reply.attr(attributes.attr(st, iounit: iounit), timeout: options.attrTimeout)
                }
            }
            let apply: @Sendable () -> Void = { [self] in
                applyWstat(fid, change, exchange) { [self] result in
                    switch result {
                    case .failure(let failure): answer(.failure(failure))
                    case .success: stat(fid, exchange, answer)
                    }
                }
            }
            guard fields.contains(.uid) || fields.contains(.gid) else { return apply() }
            stat(fid, exchange) { [self] current in
                guard case .success(let st) = current else { return answer(current) }
                let current = attributes.attr(st)
                if (fields.contains(.uid) && attr.uid != current.uid) || (fields.contains(.gid) && attr.gid != current.gid) {
                    return answer(.failure(Failure(EPERM, "9P2000 cannot change a file's owner or group")))
                }
                apply()
            }
        }
    }

    /// The Twstat for a setattr: "don't touch" except the fields it changes.
    static func wstatChange(_ attr: FuseAttr, _ fields: SetattrFields, isDirectory: Bool, now: UInt32) -> Stat {
        var d = Stat.dontTouch
        if fields.contains(.mode) {
            d.mode = FileMode(permissions: attr.mode & 0o777, flags: isDirectory ? .dir : [])
        }
        if fields.contains(.size) { d.length = attr.size }
        if fields.contains(.mtimeNow) {
            d.mtime = now
        } else if fields.contains(.mtime) {
            d.mtime = UInt32(clamping: attr.mtime.seconds)
        }
        if fields.contains(.atimeNow) {
            d.atime = now
        } else if fields.contains(.atime) {
            d.atime = UInt32(clamping: attr.atime.seconds)
        }
        return d
    }

    /// Sends the Twstat unless it would change nothing (an all "don't
    /// touch" Twstat asks for a sync). If it fails and set atime, tries
    /// again without atime, which many servers do not let change.
    func applyWstat(_ fid: Fid, _ change: Stat, _ exchange: Exchange, _ done: @escaping @Sendable (Result<Void, Failure>) -> Void) {
        guard !change.isAllDontTouch else { return done(.success(())) }
        wstat(fid, change, exchange) { [self] result in
            guard case .failure(let failure) = result, change.changesAtime, failure.errno != EINTR else {
                return done(result)
            }
            var withoutAtime = change
            withoutAtime.atime = Stat.dontTouch.atime
            if withoutAtime.isAllDontTouch {
                logger.debug("wstat of atime refused (\(failure.reason)); access time left unchanged")
                return done(.success(()))
            }
            wstat(fid, withoutAtime, exchange, done)
        }
    }

    /// Checks the mode bits for the caller, as the server would (it has the
    /// last word on every operation anyway): root may read and write
    /// anything and execute what has an x bit; others get the owner's,
    /// the group's (primary group only) or the others' bits.
    func access(_ context: FuseRequestContext, ino: UInt64, mask: Int32, reply: FuseStatusReply) {
        let exchange = Exchange(client, reply)
        withFid(ino, nil, exchange) { [self] fid, _, finish in
            guard case .success(let fid) = fid else {
                return fail(reply, fid.failure!, "access", node: ino)
            }
            stat(fid, exchange) { [self] result in
                finish()
                switch result {
                case .failure(let failure):
                    fail(reply, failure, "access", node: ino)
                case .success(let st):
                    let attr = attributes.attr(st)
                    if Self.permits(attr, mask: mask, uid: context.uid, gid: context.gid) {
                        reply.ok()
                    } else {
                        reply.error(EACCES)
                    }
                }
            }
        }
    }

    static func permits(_ attr: FuseAttr, mask: Int32, uid: UInt32, gid: UInt32) -> Bool {
        let want = UInt32(mask & (R_OK | W_OK | X_OK))
        if want == 0 { return true }
        let mode = attr.mode & 0o777
        if uid == 0 {
            return want & UInt32(X_OK) == 0 || attr.isDirectory || mode & 0o111 != 0
        }
        let bits: UInt32
        if attr.uid == uid {
            bits = (mode >> 6) & 7
        } else if attr.gid == gid {
            bits = (mode >> 3) & 7
        } else {
            bits = mode & 7
        }
        return bits & want == want
    }

    /// 9P2000 has no statfs: plausible figures so that df and installers
    /// that check free space carry on (1 TiB free in 4 KiB blocks).
    func statfs(_ context: FuseRequestContext, ino: UInt64, reply: FuseStatfsReply) {
        let blocks: UInt64 = (1 << 40) / 4096
        let files: UInt64 = 1 << 30
        reply.statfs(
            FuseStatvfs(blockSize: 4096, blocks: blocks, blocksFree: blocks, files: files, filesFree: files, nameMax: 255))
    }

    /// 9P2000 has neither symbolic nor hard links.
    func readlink(_ context: FuseRequestContext, ino: UInt64, reply: FuseReadlinkReply) {
        reply.error(EINVAL)
    }

    func symlink(_ context: FuseRequestContext, target: String, parent: UInt64, name: String, reply: FuseEntryReply) {
        reply.error(EPERM)
    }

    func link(_ context: FuseRequestContext, ino: UInt64, newParent: UInt64, newName: String, reply: FuseEntryReply) {
        reply.error(EPERM)
    }

    // MARK: Helpers

    /// A fid for a request about node `ino`: an open handle's if there is
    /// one, preferring the one the kernel names (the file may be unlinked;
    /// a handle also knows the iounit, and needs no walk), else a borrowed
    /// one (`borrowFid`). Call `finish` when done.
    func withFid(
        _ ino: UInt64, _ fileInfo: FuseFileInfo?, _ exchange: Exchange,
        _ body: @escaping @Sendable (Result<Fid, Failure>, _ iounit: UInt32, _ finish: @escaping @Sendable () -> Void) -> Void
    ) {
        if let handle = state.withLock({ $0.table.openHandle(of: ino, preferring: fileInfo?.fh) }) {
            return body(.success(handle.fid), handle.iounit, {})
        }
        borrowFid(ino, exchange) { body($0, 0, $1) }
    }
}

extension Result {
    /// The error of a failed result.
    var failure: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}
