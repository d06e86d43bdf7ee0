import FuseLowLevel
import Glibc
import NinePWire

// create, mknod, mkdir, unlink, rmdir, rename: the requests that change names.

extension Bridge {
    /// Clones the directory's fid and sends Tcreate, which turns the clone
    /// into the new file, open in `mode`; then Tstat for the entry. The
    /// three go out back to back (one round trip; see
    /// `walk(_:_:_:then:_:)`). On success `done` gets the open fid (the
    /// caller keeps or clunks it).
    ///
    /// If the name exists and `openExisting` is given, the clone walks to it
    /// and opens it in that mode instead (open(2) without O_EXCL racing
    /// another creator).
    func make(
        in parent: UInt64, _ name: String, perm: FileMode, mode: OpenMode, openExisting: OpenMode?,
        _ exchange: Exchange,
        _ done: @escaping @Sendable (Result<(fid: Fid, iounit: UInt32, stat: Stat), Failure>) -> Void
    ) {
        let pipelined = pipelines
        directoryFid(parent, exchange) { [self] directory in
            guard case .success(let directoryFid) = directory else { return done(.failure(directory.failure!)) }
            walk(directoryFid, [], exchange, then: { fid in
                pipelined ? [.tcreate(Tcreate(fid: fid, name: name, perm: perm, mode: mode)), .tstat(Tstat(fid: fid))] : []
            }) { [self] cloned, replies in
                guard case .success(let (fid, _)) = cloned else { return done(.failure(cloned.failure!)) }
                let settle: @Sendable (Result<Rcreate, Failure>, @escaping @Sendable (Result<(fid: Fid, iounit: UInt32, stat: Stat), Failure>) -> Void) -> Void = {
                    [self] created, done in
                    self.settle(created, in: fid, name, perm: perm, mode: mode, openExisting: openExisting, attempts: 4, exchange, done)
                }
                guard pipelined else {
                    return create(fid, name, perm, mode, exchange) { settle($0, done) }
                }
                switch replies.first {
                case .success(.rcreate(let created)):
                    if let st = Self.stat(in: replies.last), st.qid.path == created.qid.path {
                        return withOwners([st]) { done(.success((fid, created.iounit, st))) }
                    }
                    settle(.success(created)) { [self] result in
                        if case .success = result { ranEarly("Tstat behind Tcreate") }
                        done(result)
                    }
                case .failure(let failure) where Self.mayHaveRunEarly(failure):
                    // Run before the clone existed: once more, alone.
                    create(fid, name, perm, mode, exchange) { [self] created in
                        if case .success = created { ranEarly("Tcreate behind Twalk") }
                        settle(created, done)
                    }
                default:
                    // Refused for itself, or may have happened (across a reconnect; see `settle`).
                    let failure = replies.first?.failure ?? Failure(EIO, "Tcreate not answered by Rcreate")
                    settle(.failure(failure), done)
                }
            }
        }
    }

    /// What a server says of a Tcreate it ran before the Twalk that makes
    /// its fid: an unknown fid (ESTALE, EBADF) or, with the fid made but not
    /// yet walked, "create in non-directory" (ENOTDIR).
    static func mayHaveRunEarly(_ failure: Failure) -> Bool {
        [ESTALE, EBADF, ENOTDIR].contains(failure.errno)
    }

    /// After Tcreate in `fid` (a clone of the directory): Tstat of the new
    /// file; for an existing name with `openExisting`, the clone walks to it
    /// and opens it; on failure the fid is clunked. See `make`.
    ///
    /// A Tcreate cut in flight by a reconnect "may have happened". Without
    /// O_EXCL (`openExisting`), open(2) means "create or open", so it is
    /// asked again, up to `attempts` times in all (the connection may drop
    /// again meanwhile): EEXIST if the first one happened, and then the file
    /// is opened as it is. The clone was restored as the directory.
    private func settle(
        _ created: Result<Rcreate, Failure>, in fid: Fid, _ name: String, perm: FileMode, mode: OpenMode,
        openExisting: OpenMode?, attempts: Int, _ exchange: Exchange,
        _ done: @escaping @Sendable (Result<(fid: Fid, iounit: UInt32, stat: Stat), Failure>) -> Void
    ) {
        let finish: @Sendable (Result<UInt32, Failure>) -> Void = { [self] opened in
            guard case .success(let iounit) = opened else {
                clunk(fid)
                return done(.failure(opened.failure!))
            }
            stat(fid, exchange) { [self] result in
                switch result {
                case .success(let st): done(.success((fid, iounit, st)))
                case .failure(let failure):
                    clunk(fid)
                    done(.failure(failure))
                }
            }
        }
        switch created {
        case .success(let r):
            finish(.success(r.iounit))
        case .failure(let failure) where failure.errno == EEXIST && openExisting != nil:
            // The clone is still the directory: walk it to the name in place.
            call(.twalk(Twalk(fid: fid, newfid: fid, wname: [name])), exchange, extract: { reply -> Bool? in
                if case .rwalk(let r) = reply { return r.wqid.count == 1 }
                return nil
            }) { [self] walked in
                guard case .success(true) = walked else {
                    return finish(.failure(walked.failure ?? Failure(ENOENT, "'\(name)' vanished")))
                }
                open(fid, openExisting!, exchange) { finish($0.map(\.iounit)) }
            }
        case .failure(let failure) where failure.mayHaveHappened && openExisting != nil && attempts > 1:
            create(fid, name, perm, mode, exchange) { [self] again in
                settle(
                    again, in: fid, name, perm: perm, mode: mode, openExisting: openExisting, attempts: attempts - 1,
                    exchange, done)
            }
        case .failure(let failure):
            finish(.failure(failure))
        }
    }

    /// Tcreate of a regular file, open as asked; O_EXCL fails with EEXIST
    /// on an existing name, without it the existing file is opened
    /// (truncated if O_TRUNC).
    func create(
        _ context: FuseRequestContext, parent: UInt64, name: String, mode: UInt32, fileInfo info: FuseFileInfo,
        reply: FuseCreateReply
    ) {
        let exchange = Exchange(client, reply)
        let openMode = openMode(flags: info.flags, truncate: false)
        let existing = info.flags & O_EXCL != 0 ? nil : self.openMode(flags: info.flags, truncate: info.flags & O_TRUNC != 0)
        let append = appends(flags: info.flags)
        make(in: parent, name, perm: FileMode(permissions: mode), mode: openMode, openExisting: existing, exchange) {
            [self] result in
            guard case .success(let (fid, iounit, st)) = result else {
                madeFailed(name, in: parent, result.failure!)
                return fail(reply, result.failure!, "create", node: parent, name: name)
            }
            let answer = state.withLock { state -> (node: UInt64, fh: UInt64, keep: Bool)? in
                state.table.nameChanged(name, in: parent, present: true)
                guard let node = state.table.remember(qid: st.qid, parent: parent, name: name).node else { return nil }
                let keep = state.table.opened(node, version: st.qid.version)
                let handle = NodeTable.Handle(fid: fid, node: node, mode: openMode, iounit: iounit, append: append)
                guard let fh = state.table.open(handle) else { return nil }
                return (node, fh, keep)
            }
            guard let answer else {
                clunk(fid)
                return reply.error(EIO)
            }
            if !reply.create(entry(answer.node, st, iounit: iounit), fileInfo(handle: answer.fh, keepCache: answer.keep, qid: st.qid)) {
                handleNotTaken(answer.fh)
                entryNotTaken(answer.node)
            }
        }
    }

    /// Regular files only: 9P2000 has no devices, pipes or sockets.
    func mknod(
        _ context: FuseRequestContext, parent: UInt64, name: String, mode: UInt32, rdev: UInt64, reply: FuseEntryReply
    ) {
        guard mode & UInt32(S_IFMT) == UInt32(S_IFREG) || mode & UInt32(S_IFMT) == 0 else {
            return reply.error(EPERM)
        }
        makeEntry(parent, name, perm: FileMode(permissions: mode), "mknod", reply)
    }

    /// Tcreate with DMDIR, opened for reading as 9P requires, then clunked.
    func mkdir(_ context: FuseRequestContext, parent: UInt64, name: String, mode: UInt32, reply: FuseEntryReply) {
        makeEntry(parent, name, perm: FileMode(permissions: mode, flags: .dir), "mkdir", reply)
    }

    private func makeEntry(_ parent: UInt64, _ name: String, perm: FileMode, _ operation: String, _ reply: FuseEntryReply) {
        let exchange = Exchange(client, reply)
        let asked = Self.now()
        make(in: parent, name, perm: perm, mode: .read, openExisting: nil, exchange) { [self] result in
            guard case .success(let (fid, _, st)) = result else {
                madeFailed(name, in: parent, result.failure!)
                return fail(reply, result.failure!, operation, node: parent, name: name)
            }
            clunk(fid)
            let node = state.withLock { state -> UInt64? in
                state.table.nameChanged(name, in: parent, present: true)
                guard let node = state.table.remember(qid: st.qid, parent: parent, name: name).node else { return nil }
                // A directory just made is empty: every name in it is missing.
                if st.qid.isDirectory { state.table.madeDirectory(node, asOf: asked) }
                return node
            }
            guard let node else {
                return reply.error(EIO)
            }
            if !reply.entry(entry(node, st)) { entryNotTaken(node) }
        }
    }

    /// After a failed create, mknod or mkdir: an existing name is now
    /// known to be there; a Tcreate lost with the connection may or may not
    /// have made it.
    private func madeFailed(_ name: String, in parent: UInt64, _ failure: Failure) {
        if failure.errno == EEXIST {
            state.withLock { $0.table.nameChanged(name, in: parent, present: true) }
        } else if failure.mayHaveHappened {
            state.withLock { $0.table.forgetNames(of: parent) }
        }
    }

    func unlink(_ context: FuseRequestContext, parent: UInt64, name: String, reply: FuseStatusReply) {
        remove(parent, name, directory: false, reply)
    }

    func rmdir(_ context: FuseRequestContext, parent: UInt64, name: String, reply: FuseStatusReply) {
        remove(parent, name, directory: true, reply)
    }

    /// Walks to the name and sends Tremove. 9P's remove takes files and
    /// directories alike, so the qid's type decides EISDIR (unlink of a
    /// directory) and ENOTDIR (rmdir of a file) first.
    private func remove(_ parent: UInt64, _ name: String, directory: Bool, _ reply: FuseStatusReply) {
        let operation = directory ? "rmdir" : "unlink"
        let exchange = Exchange(client, reply)
        walkName(parent, name, exchange) { [self] walked in
            guard case .success(let (fid, qid)) = walked else {
                return fail(reply, walked.failure!, operation, node: parent, name: name)
            }
            if qid.isDirectory != directory {
                clunk(fid)
                let failure = directory ? Failure(ENOTDIR, "not a directory") : Failure(EISDIR, "is a directory")
                return fail(reply, failure, operation, node: parent, name: name)
            }
            remove(fid) { [self] result in
                switch result {
                case .failure(let failure):
                    if failure.mayHaveHappened { state.withLock { $0.table.forgetNames(of: parent) } }
                    fail(reply, failure, operation, node: parent, name: name)
                case .success:
                    state.withLock {
                        $0.table.unlinked(qidPath: qid.path, parent: parent, name: name)
                        $0.table.nameChanged(name, in: parent, present: false)
                    }
                    reply.ok()
                }
            }
        }
    }

    /// A new fid for `name` in directory `parent`, and its qid.
    func walkName(
        _ parent: UInt64, _ name: String, _ exchange: Exchange?,
        _ done: @escaping @Sendable (Result<(fid: Fid, qid: Qid), Failure>) -> Void
    ) {
        directoryFid(parent, exchange) { [self] directory in
            guard case .success(let parentFid) = directory else { return done(.failure(directory.failure!)) }
            walk(parentFid, [name], exchange) { walked in
                done(walked.map { ($0.fid, $0.qids[0]) })
            }
        }
    }

    /// Within a directory, a Twstat of the name. 9P2000 cannot move a file
    /// to another directory: EXDEV, and mv copies. Over an existing name,
    /// POSIX replaces it: the export does so itself; a server that refuses
    /// ("file already exists") gets the target removed and the Twstat
    /// again. RENAME_NOREPLACE checks for the target first (a race with
    /// another client remains); RENAME_EXCHANGE is EINVAL.
    func rename(
        _ context: FuseRequestContext, parent: UInt64, name: String, newParent: UInt64, newName: String,
        flags: RenameFlags, reply: FuseStatusReply
    ) {
        guard flags.subtracting(.noReplace).isEmpty else { return reply.error(EINVAL) }
        guard parent == newParent else {
            logger.debug("rename \(describe(parent, name)) to \(describe(newParent, newName)): 9P2000 renames within a directory only → EXDEV")
            return reply.error(EXDEV)
        }
        guard name != newName else { return reply.ok() }
        let exchange = Exchange(client, reply)
        let failed: @Sendable (Failure) -> Void = { [self] failure in
            fail(reply, failure, "rename", node: parent, name: "\(name) → \(newName)")
        }
        walkName(parent, name, exchange) { [self] walked in
            guard case .success(let (fid, qid)) = walked else { return failed(walked.failure!) }
            let finish: @Sendable (Result<Void, Failure>) -> Void = { [self] result in
                clunk(fid)
                switch result {
                case .failure(let failure):
                    if failure.mayHaveHappened { state.withLock { $0.table.forgetNames(of: parent) } }
                    failed(failure)
                case .success:
                    state.withLock {
                        $0.table.renamed(qidPath: qid.path, parent: parent, name: name, to: newName)
                        $0.table.nameChanged(name, in: parent, present: false)
                        $0.table.nameChanged(newName, in: parent, present: true)
                    }
                    reply.ok()
                }
            }
            var renaming = Stat.dontTouch
            renaming.name = newName
            let change = renaming
            let rename: @Sendable () -> Void = { [self] in
                wstat(fid, change, exchange) { [self] result in
                    guard case .failure(let failure) = result, failure.errno == EEXIST, !flags.contains(.noReplace) else {
                        return finish(result)
                    }
                    replaceTarget(parent, newName, source: qid, exchange) { [self] removed in
                        guard case .success = removed else { return finish(removed) }
                        wstat(fid, change, exchange, finish)
                    }
                }
            }
            guard flags.contains(.noReplace) else { return rename() }
            walkName(parent, newName, exchange) { [self] target in
                switch target {
                case .success(let (targetFid, _)):
                    clunk(targetFid)
                    finish(.failure(Failure(EEXIST, "'\(newName)' exists (RENAME_NOREPLACE)")))
                case .failure(let failure) where failure.errno == ENOENT:
                    rename()
                case .failure(let failure):
                    finish(.failure(failure))
                }
            }
        }
    }

    /// Removes the target of a rename, as rename(2) would replace it: a
    /// file by a file, an empty directory by a directory.
    private func replaceTarget(
        _ parent: UInt64, _ name: String, source: Qid, _ exchange: Exchange,
        _ done: @escaping @Sendable (Result<Void, Failure>) -> Void
    ) {
        walkName(parent, name, exchange) { [self] walked in
            switch walked {
            case .failure(let failure) where failure.errno == ENOENT:
                done(.success(()))  // gone meanwhile: the retry will tell
            case .failure(let failure):
                done(.failure(failure))
            case .success(let (fid, qid)):
                if source.isDirectory != qid.isDirectory {
                    clunk(fid)
                    return done(.failure(source.isDirectory ? Failure(ENOTDIR, "not a directory") : Failure(EISDIR, "is a directory")))
                }
                remove(fid) { [self] result in
                    if case .success = result {
                        state.withLock {
                            $0.table.unlinked(qidPath: qid.path, parent: parent, name: name)
                            $0.table.nameChanged(name, in: parent, present: false)
                        }
                    }
                    done(result)
                }
            }
        }
    }
}
