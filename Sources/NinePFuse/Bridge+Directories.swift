import Dispatch
import FuseLowLevel
import Glibc
import NIOCore
import NinePWire

// opendir, readdir, readdirplus, releasedir, fsyncdir.
//
// A directory handle reads the directory from the server into its
// `Listing`, a chunk (one Tread of up to msize) at a time, as the kernel
// asks for entries beyond what was read. Positions in the listing are
// [".", "..", entry 0, entry 1, …]; the entry at position p carries cookie
// p + 1, and a readdir at offset N starts at position N. The array only
// grows while the handle is open, so a cookie always means the same entry
// whatever the caller's buffer size: nothing is lost or repeated. A readdir
// at offset 0 (opendir, rewinddir) reads the directory afresh.

extension Bridge {
    /// Clones the directory's fid and opens it for reading.
    func opendir(_ context: FuseRequestContext, ino: UInt64, fileInfo: FuseFileInfo, reply: FuseOpenReply) {
        let exchange = Exchange(client, reply)
        cloneFid(ino, exchange) { [self] cloned in
            guard case .success(let fid) = cloned else { return fail(reply, cloned.failure!, "opendir", node: ino) }
            open(fid, .read, exchange) { [self] result in
                guard case .success(let r) = result else {
                    clunk(fid)
                    return fail(reply, result.failure!, "opendir", node: ino)
                }
                let handle = NodeTable.Handle(
                    fid: fid, node: ino, mode: .read, iounit: r.iounit, append: false, listing: NodeTable.Listing())
                guard let fh = state.withLock({ $0.table.open(handle) }) else {
                    clunk(fid)
                    return reply.error(EIO)
                }
                if !reply.open(FuseFileInfo(fh: fh)) { handleNotTaken(fh) }
            }
        }
    }

    func readdir(
        _ context: FuseRequestContext, ino: UInt64, size: Int, offset: Int64, fileInfo: FuseFileInfo,
        reply: FuseDirectoryReply
    ) {
        let exchange = Exchange(client, reply)
        window(fileInfo.fh, at: offset, most: size / 24 + 2, refresh: offset == 0, exchange) { [self] result in
            guard case .success(let window) = result else {
                return fail(reply, result.failure!, "readdir", node: ino)
            }
            var buffer = reply.makeBuffer()
            var position = window.position
            for item in window.items {
                let attr = AttributeMapper.placeholder(for: item.qid)
                guard buffer.add(name: item.name, attr: attr, nextOffset: Int64(position + 1)) else { break }
                position += 1
            }
            reply.send(buffer)
        }
    }

    /// Like readdir, with attributes: every entry but "." and ".." becomes
    /// a node (without a fid until one is needed) and counts as a lookup,
    /// as the kernel counts it, if it fits in the answer.
    func readdirplus(
        _ context: FuseRequestContext, ino: UInt64, size: Int, offset: Int64, fileInfo: FuseFileInfo,
        reply: FuseDirectoryPlusReply
    ) {
        let exchange = Exchange(client, reply)
        window(fileInfo.fh, at: offset, most: size / 150 + 2, refresh: offset == 0, exchange) { [self] result in
            guard case .success(let window) = result else {
                return fail(reply, result.failure!, "readdirplus", node: ino)
            }
            // Owners and groups resolved off the loop first (see `IdentityMap`).
            withOwners(window.items.compactMap(\.stat)) { [self] in
                let attrs = window.items.map { item in
                    item.stat.map { attributes.attr($0) } ?? AttributeMapper.placeholder(for: item.qid)
                }
                var buffer = reply.makeBuffer()
                let surplus = state.withLock { state -> [Fid] in
                    var surplus: [Fid] = []
                    var position = window.position
                    for (item, attr) in zip(window.items, attrs) {
                        let next = Int64(position + 1)
                        guard item.stat != nil else {
                            // "." and "..": the kernel takes no lookup for them.
                            guard buffer.add(name: item.name, entry: FuseEntry(ino: 0, attr: attr), nextOffset: next) else { break }
                            position += 1
                            continue
                        }
                        guard let node = state.table.remember(qid: item.qid, parent: window.directory, name: item.name).node else {
                            break
                        }
                        let entry = FuseEntry(
                            ino: node, attr: attr, attrTimeout: options.attrTimeout, entryTimeout: options.entryTimeout)
                        guard buffer.add(name: item.name, entry: entry, nextOffset: next) else {
                            if let fid = state.table.forget(node, count: 1) { surplus.append(fid) }
                            break
                        }
                        position += 1
                    }
                    return surplus
                }
                for fid in surplus { clunk(fid) }
                reply.send(buffer)
            }
        }
    }

    func releasedir(_ context: FuseRequestContext, ino: UInt64, fileInfo: FuseFileInfo, reply: FuseStatusReply) {
        closeHandle(fileInfo.fh, reply)
    }

    func fsyncdir(
        _ context: FuseRequestContext, ino: UInt64, dataOnly: Bool, fileInfo: FuseFileInfo, reply: FuseStatusReply
    ) {
        synchronize(ino, fileInfo, reply, "fsyncdir")
    }

    // MARK: The listing

    /// Entries from a position on, for one readdir answer.
    struct Window: Sendable {
        struct Item: Sendable {
            var name: String
            var qid: Qid
            /// nil for "." and "..".
            var stat: Stat?
        }

        /// The position of the first item.
        var position: Int
        var items: [Item]
        /// The directory's node.
        var directory: UInt64
    }

    /// Up to `most` items from position `offset` of handle `fh`'s listing,
    /// reading more of the directory first if the position is beyond what
    /// was read. No items: the end of the directory.
    func window(
        _ fh: UInt64, at offset: Int64, most: Int, refresh: Bool, _ exchange: Exchange,
        _ done: @escaping @Sendable (Result<Window, Failure>) -> Void
    ) {
        enum Step {
            case serve(Window)
            case fetch(NodeTable.Handle, from: UInt64)
            case waiting
            case fail(Failure)
        }
        let position = max(0, Int(clamping: offset))
        let step = state.withLock { state -> Step in
            guard let handle = state.table.handles[fh], var listing = handle.listing else {
                return .fail(Failure(EBADF, "not an open directory"))
            }
            if listing.fetching {
                state.listingWaiters[fh, default: []].append { [self] in
                    window(fh, at: offset, most: most, refresh: refresh, exchange, done)
                }
                return .waiting
            }
            if refresh && (listing.serverOffset > 0 || listing.complete) {
                listing = NodeTable.Listing()
            }
            let index = max(0, position - 2)
            if index >= listing.entries.count && !listing.complete {
                listing.fetching = true
                let from = listing.serverOffset
                state.table.updateListing(fh) { $0 = listing }
                return .fetch(handle, from: from)
            }
            state.table.updateListing(fh) { $0 = listing }
            var items: [Window.Item] = []
            let directory = state.table.nodes[handle.node]
            let dot = directory?.qid ?? Qid(type: .dir, path: 0)
            if position == 0 { items.append(Window.Item(name: ".", qid: dot)) }
            if position <= 1 {
                let parent = directory?.links.first.flatMap { state.table.nodes[$0.parent]?.qid } ?? dot
                items.append(Window.Item(name: "..", qid: parent))
            }
            let end = min(listing.entries.count, index + max(0, most - items.count))
            if index < end {
                for stat in listing.entries[index..<end] {
                    items.append(Window.Item(name: stat.name, qid: stat.qid, stat: stat))
                }
            }
            return .serve(Window(position: position, items: items, directory: handle.node))
        }
        switch step {
        case .serve(let window): done(.success(window))
        case .waiting: break
        case .fail(let failure): done(.failure(failure))
        case .fetch(let handle, let from):
            fetch(fh, handle, from: from, exchange) { [self] fetched in
                guard case .success = fetched else { return done(.failure(fetched.failure!)) }
                window(fh, at: offset, most: most, refresh: false, exchange, done)
            }
        }
    }

    /// One Tread of the directory at `from`, appended to the listing.
    private func fetch(
        _ fh: UInt64, _ handle: NodeTable.Handle, from: UInt64, _ exchange: Exchange,
        _ done: @escaping @Sendable (Result<Void, Failure>) -> Void
    ) {
        read(handle.fid, offset: from, count: ioUnit(handle), exchange) { [self] result in
            let parsed = result.flatMap { data -> Result<(entries: [Stat], bytes: Int), Failure> in
                var data = data
                let bytes = data.readableBytes
                var entries: [Stat] = []
                while data.readableBytes > 0 {
                    do {
                        let stat = try data.readStat()
                        if Self.isListable(stat.name) { entries.append(stat) }
                    } catch {
                        return .failure(Failure(EIO, "malformed directory entry from the server: \(error)"))
                    }
                }
                return .success((entries, bytes))
            }
            let waiters = state.withLock { state -> [@Sendable () -> Void] in
                state.table.updateListing(fh) { listing in
                    listing.fetching = false
                    if case .success(let (entries, bytes)) = parsed {
                        listing.entries += entries
                        listing.serverOffset += UInt64(bytes)
                        listing.complete = bytes == 0
                    }
                }
                return state.listingWaiters.removeValue(forKey: fh) ?? []
            }
            done(parsed.map { _ in () })
            for waiter in waiters { waiter() }
        }
    }

    // MARK: Names known to be missing

    /// How long a set of known names answers lookups, in nanoseconds (the
    /// negative timeout); 0: not at all.
    var namesValidity: UInt64 {
        options.negativeTimeout > 0 ? UInt64(options.negativeTimeout * 1e9) : 0
    }

    /// Monotonic nanoseconds, for `KnownNames`.
    static func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

    /// Reads the whole listing of directory `dir` on a fid of its own, in
    /// the background, into its `KnownNames`. Not interruptible: no FUSE
    /// request waits for it.
    func readNames(of dir: UInt64) {
        let asOf = Self.now()
        cloneFid(dir, nil) { [self] cloned in
            guard case .success(let fid) = cloned else { return namesUnread(dir, cloned.failure!) }
            open(fid, .read, nil) { [self] opened in
                guard case .success(let r) = opened else {
                    clunk(fid)
                    return namesUnread(dir, opened.failure!)
                }
                let count = r.iounit > 0 ? min(Int(r.iounit), maxIO) : maxIO
                readNames(fid, of: dir, from: 0, count: count, into: [], asOf: asOf)
            }
        }
    }

    private func readNames(_ fid: Fid, of dir: UInt64, from offset: UInt64, count: Int, into names: [String], asOf: UInt64) {
        read(fid, offset: offset, count: count, nil) { [self] result in
            guard case .success(var data) = result else {
                clunk(fid)
                return namesUnread(dir, result.failure!)
            }
            let bytes = data.readableBytes
            var names = names
            while data.readableBytes > 0 {
                do {
                    let name = try data.readStatName()
                    if Self.isListable(name) { names.append(name) }
                } catch {
                    clunk(fid)
                    return namesUnread(dir, Failure(EIO, "malformed directory entry from the server: \(error)"))
                }
            }
            // The end, or more than is kept (`listed` then drops them).
            guard bytes > 0, names.count <= KnownNames.maximumCount else {
                clunk(fid)
                state.withLock { $0.table.listed(dir, names, asOf: asOf) }
                return
            }
            readNames(fid, of: dir, from: offset + UInt64(bytes), count: count, into: names, asOf: asOf)
        }
    }

    private func namesUnread(_ dir: UInt64, _ failure: Failure) {
        state.withLock { $0.table.listingFailed(dir) }
        logger.debug("reading the names in \(describe(dir)): \(failure.reason)")
    }

    /// Names a directory entry may have in a listing: not empty, not "."
    /// or "..", without "/" or NUL.
    static func isListable(_ name: String) -> Bool {
        !name.isEmpty && name != "." && name != ".." && !name.utf8.contains(UInt8(ascii: "/")) && !name.utf8.contains(0)
    }
}
