public import NIOCore
public import NinePWire

// The async file API: each call is one or a few transactions, with the fid
// table kept true and errors naming the operation, the path and the server.

extension NinePClient {
    /// attach(5): introduces the user `uname` to the file tree `aname` and
    /// returns a new fid for its root (no authentication: afid is NOFID).
    /// The first fid attached becomes `root`, where path helpers start.
    public func attach(uname: String, aname: String = "") async throws -> Fid {
        let fid = try fids.allocate()
        let reply: Message
        do {
            reply = try await perform("attach", path: aname.isEmpty ? "/" : aname,
                                      .tattach(Tattach(fid: fid, afid: .nofid, uname: uname, aname: aname)))
        } catch {
            fids.release(fid)
            throw error
        }
        guard case .rattach(let r) = reply else {
            fids.release(fid)
            throw unexpected(reply, "attach", path: aname)
        }
        fids.set(fid, .init(path: "/", qid: r.qid))
        setRoot(fid)
        return fid
    }

    /// Walks from `fid` through `names` to a new fid (an empty list clones
    /// `fid`). More than 16 names go out as several Twalks. If an element is
    /// missing the new fid is not left behind and the error names it.
    public func walk(from fid: Fid, names: [String]) async throws -> Fid {
        let base = fids.info(fid)
        let basePath = base?.path ?? "fid \(fid)"
        let newfid = try fids.allocate()
        var created = false  // whether newfid exists on the server
        var qid = base?.qid
        do {
            var done = 0
            repeat {
                let chunk = Array(names[done..<min(done + NineP.maxWalkElements, names.count)])
                let target = Self.join(basePath, names[..<(done + chunk.count)])
                let reply = try await perform("walk", path: target,
                                              .twalk(Twalk(fid: created ? newfid : fid, newfid: newfid, wname: chunk)))
                guard case .rwalk(let r) = reply, r.wqid.count <= chunk.count else {
                    throw unexpected(reply, "walk", path: target)
                }
                if r.wqid.count < chunk.count {
                    // walk(5): a short Rwalk leaves newfid unaffected.
                    let missing = done + r.wqid.count
                    throw NinePClientError(.walkIncomplete(name: names[missing]), operation: "walk",
                                           path: Self.join(basePath, names[...missing]), server: server)
                }
                created = true
                qid = r.wqid.last ?? qid
                done += chunk.count
            } while done < names.count
        } catch {
            if created { await forget(newfid) } else { fids.release(newfid) }
            throw error
        }
        fids.set(newfid, .init(path: Self.join(basePath, names), qid: qid ?? Qid(path: 0)))
        return newfid
    }

    /// Walks a slash-separated path from `start` (default: `root`) to a new fid.
    public func walk(path: String, from start: Fid? = nil) async throws -> Fid {
        try await walk(from: startingFid(start, "walk", path), names: Self.components(path))
    }

    /// open(5): opens `fid` for I/O; returns its qid and records its iounit.
    @discardableResult
    public func open(_ fid: Fid, mode: OpenMode) async throws -> Qid {
        let path = describe(fid)
        let reply = try await perform("open", path: path, .topen(Topen(fid: fid, mode: mode)))
        guard case .ropen(let r) = reply else { throw unexpected(reply, "open", path: path) }
        fids.update(fid) { $0.qid = r.qid; $0.iounit = r.iounit }
        return r.qid
    }

    /// Walks to `path` and opens it; the new fid is clunked if the open fails.
    public func open(path: String, mode: OpenMode, from start: Fid? = nil) async throws -> Fid {
        let fid = try await walk(path: path, from: start)
        do {
            try await open(fid, mode: mode)
        } catch {
            await forget(fid)
            throw error
        }
        return fid
    }

    /// open(5): creates `name` in the directory `fid`, which then refers to
    /// the new file, opened with `mode`. Returns the new file's qid.
    @discardableResult
    public func create(in fid: Fid, name: String, perm: FileMode, mode: OpenMode) async throws -> Qid {
        let directory = describe(fid)
        let path = Self.join(directory, [name])
        let reply = try await perform("create", path: path, .tcreate(Tcreate(fid: fid, name: name, perm: perm, mode: mode)))
        guard case .rcreate(let r) = reply else { throw unexpected(reply, "create", path: path) }
        fids.update(fid) { $0.path = path; $0.qid = r.qid; $0.iounit = r.iounit }
        return r.qid
    }

    /// Creates the file at `path` (its directory must exist) and returns a fid open on it.
    public func create(path: String, perm: FileMode, mode: OpenMode, from start: Fid? = nil) async throws -> Fid {
        var names = Self.components(path)
        guard let name = names.popLast() else {
            throw NinePClientError(.protocolError("cannot create '\(path)': no file name"), operation: "create", path: path, server: server)
        }
        let fid = try await walk(from: startingFid(start, "create", path), names: names)
        do {
            try await create(in: fid, name: name, perm: perm, mode: mode)
        } catch {
            await forget(fid)
            throw error
        }
        return fid
    }

    /// read(5): reads up to `count` bytes at `offset`. A count above the
    /// fid's iounit (or msize − IOHDRSZ) becomes several Treads, in order;
    /// the read stops at the first short reply, so fewer bytes than `count`
    /// mean end of file (or, on a stream, what the server had).
    public func read(_ fid: Fid, offset: UInt64, count: Int) async throws -> ByteBuffer {
        var unit = maximumIOCount(for: fid)
        var result: ByteBuffer?
        var done = 0
        let count = max(count, 0)
        repeat {
            let want = min(unit, count - done)
            let data = try await readOnce(fid, offset: offset &+ UInt64(done), count: want)
            let got = data.readableBytes
            if result == nil {
                result = data
            } else {
                var data = data
                result!.writeBuffer(&data)
            }
            done += got
            // A short reply is the end, unless a reconnected server's smaller
            // msize cut the Tread: then ask for the rest.
            if got < want, got == 0 || !messageSizeShrank { break }
            unit = maximumIOCount(for: fid)
        } while done < count
        return result ?? ByteBuffer()
    }

    /// Reads `fid` from offset 0 until a read returns no data.
    public func readAll(_ fid: Fid) async throws -> ByteBuffer {
        let unit = maximumIOCount(for: fid)
        var result = ByteBuffer()
        while true {
            var data = try await readOnce(fid, offset: UInt64(result.readableBytes), count: unit)
            if data.readableBytes == 0 { return result }
            result.writeBuffer(&data)
        }
    }

    /// True once a reconnected server granted less than the negotiated msize.
    private var messageSizeShrank: Bool { (transport.messageSizeInForce ?? msize) < msize }

    private func readOnce(_ fid: Fid, offset: UInt64, count: Int) async throws -> ByteBuffer {
        let reply = try await perform("read", path: describe(fid), .tread(Tread(fid: fid, offset: offset, count: UInt32(count))))
        guard case .rread(let r) = reply else { throw unexpected(reply, "read", path: describe(fid)) }
        guard r.data.readableBytes <= count else {
            throw NinePClientError(.protocolError("Rread of \(r.data.readableBytes) bytes to a Tread of \(count)"),
                                   operation: "read", path: describe(fid), server: server)
        }
        return r.data
    }

    /// read(5): writes `data` at `offset`, as several Twrites if it exceeds
    /// the fid's iounit (or msize − IOHDRSZ). Stops at the first short write
    /// and returns the bytes written: less than `data.readableBytes` means
    /// the server accepted only that much. (A write cut short because a
    /// reconnected server granted a smaller msize is continued, not stopped.)
    @discardableResult
    public func write(_ fid: Fid, offset: UInt64, data: ByteBuffer) async throws -> Int {
        var unit = maximumIOCount(for: fid)
        let path = describe(fid)
        var remaining = data
        var written = 0
        repeat {
            let chunk = remaining.readSlice(length: min(unit, remaining.readableBytes))!
            let reply = try await perform("write", path: path,
                                          .twrite(Twrite(fid: fid, offset: offset &+ UInt64(written), data: chunk)))
            guard case .rwrite(let r) = reply else { throw unexpected(reply, "write", path: path) }
            guard Int(r.count) <= chunk.readableBytes else {
                throw NinePClientError(.protocolError("Rwrite of \(r.count) bytes to a Twrite of \(chunk.readableBytes)"),
                                       operation: "write", path: path, server: server)
            }
            written += Int(r.count)
            guard Int(r.count) < chunk.readableBytes else { continue }
            // A reconnected server with a smaller msize gets a cut Twrite and
            // answers a short Rwrite: send the rest. No progress at all means
            // the server accepts no more.
            guard r.count > 0, messageSizeShrank else { break }
            remaining.moveReaderIndex(to: remaining.readerIndex - (chunk.readableBytes - Int(r.count)))
            unit = maximumIOCount(for: fid)
        } while remaining.readableBytes > 0
        return written
    }

    /// Reads the open directory `fid` to its end and decodes its entries.
    ///
    /// read(5): "Each read of a directory ... returns an integral number of
    /// directory entries"; the next read starts where the last one ended.
    public func readdir(_ fid: Fid) async throws -> [Stat] {
        let unit = maximumIOCount(for: fid)
        var entries: [Stat] = []
        var offset: UInt64 = 0
        while true {
            var data = try await readOnce(fid, offset: offset, count: unit)
            if data.readableBytes == 0 { return entries }
            offset += UInt64(data.readableBytes)
            while data.readableBytes > 0 {
                do {
                    entries.append(try data.readStat())
                } catch {
                    throw NinePClientError(.protocolError("bad directory entry: \(error)"),
                                           operation: "readdir", path: describe(fid), server: server)
                }
            }
        }
    }

    /// Lists the directory at `path`: walk, open for reading, read, clunk.
    public func readdir(path: String, from start: Fid? = nil) async throws -> [Stat] {
        let fid = try await open(path: path, mode: .read, from: start)
        do {
            let entries = try await readdir(fid)
            await forget(fid)
            return entries
        } catch {
            await forget(fid)
            throw error
        }
    }

    /// stat(5): the directory entry of `fid`.
    public func stat(_ fid: Fid) async throws -> Stat {
        let path = describe(fid)
        let reply = try await perform("stat", path: path, .tstat(Tstat(fid: fid)))
        guard case .rstat(let r) = reply else { throw unexpected(reply, "stat", path: path) }
        return r.stat
    }

    /// stat(5): changes the fields of `fid`'s entry that are not "don't
    /// touch" (start from `Stat.dontTouch`).
    public func wstat(_ fid: Fid, _ stat: Stat) async throws {
        let path = describe(fid)
        let reply = try await perform("wstat", path: path, .twstat(Twstat(fid: fid, stat: stat)))
        guard case .rwstat = reply else { throw unexpected(reply, "wstat", path: path) }
        if stat.changesName {
            fids.update(fid) { $0.path = Self.join($0.path, ["..", stat.name]) }
        }
    }

    /// clunk(5): forgets `fid`. The fid is released once the server answers,
    /// even with an error ("the fid is no longer valid even if clunk returns
    /// an error"). Not cancellable.
    public func clunk(_ fid: Fid) async throws {
        let path = describe(fid)
        defer { release(fid) }
        let reply = try await perform("clunk", path: path, .tclunk(Tclunk(fid: fid)), cancellable: false)
        guard case .rclunk = reply else { throw unexpected(reply, "clunk", path: path) }
    }

    /// remove(5): removes the file and clunks `fid`, which is released
    /// whatever the answer ("the fid is clunked even if the remove fails").
    /// Not cancellable.
    public func remove(_ fid: Fid) async throws {
        let path = describe(fid)
        defer { release(fid) }
        let reply = try await perform("remove", path: path, .tremove(Tremove(fid: fid)), cancellable: false)
        guard case .rremove = reply else { throw unexpected(reply, "remove", path: path) }
    }

    // MARK: Helpers

    /// Where a path operation starts: `start`, else `root`.
    private func startingFid(_ start: Fid?, _ operation: String, _ path: String) throws -> Fid {
        guard let fid = start ?? root else { throw NinePClientError(.notAttached, operation: operation, path: path, server: server) }
        return fid
    }

    /// Clunks a fid on an error path, where a second error would only hide the first.
    func forget(_ fid: Fid) async {
        try? await clunk(fid)
    }

    private func release(_ fid: Fid) {
        clearRoot(fid)
        fids.release(fid)
    }

    /// The path of a fid for messages, or "fid N" if the client did not hand it out.
    func describe(_ fid: Fid) -> String {
        fids.info(fid)?.path ?? "fid \(fid)"
    }

    /// Runs one transaction, turning its errors into `NinePClientError`s
    /// that name `operation`, `path` and the server.
    func perform(_ operation: String, path: String, _ message: Message, cancellable: Bool = true) async throws -> Message {
        do {
            return cancellable ? try await call(message) : try await callToCompletion(message)
        } catch let error as NinePError {
            throw NinePClientError(.server(error), operation: operation, path: path, server: server)
        } catch var error as NinePClientError {
            error.operation = operation
            error.path = error.path ?? path
            error.server = server
            throw error
        }
    }

    func unexpected(_ reply: Message, _ operation: String, path: String) -> NinePClientError {
        NinePClientError(.protocolError("unexpected \(reply.type.name)"), operation: operation, path: path, server: server)
    }

    /// The names of a slash-separated path, without empty and "." elements.
    static func components(_ path: String) -> [String] {
        path.split(separator: "/").map(String.init).filter { $0 != "." }
    }

    /// `base` extended by `names`, with ".." taking one element off: for messages.
    static func join(_ base: String, _ names: some Sequence<String>) -> String {
        var parts = base.split(separator: "/").map(String.init)
        for name in names {
            if name == ".." {
                _ = parts.popLast()
            } else if name != "." && !name.isEmpty {
                parts.append(name)
            }
        }
        return "/" + parts.joined(separator: "/")
    }
}
