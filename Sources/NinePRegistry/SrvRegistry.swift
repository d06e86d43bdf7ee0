#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
public import NIOCore
public import NIOPosix
import NinePClient
public import NinePServer
import NinePTransport
public import NinePWire
import Synchronization

/// The srv registry as a 9P file server, after 9front's srv(3):
///
/// ```
/// /clone            open: allocates a service directory; read: its id
/// /NAME             an entry: reads as its address ("unix!/tmp/x\n"),
///                   or "ADDR gone\n" once nothing answers there
/// /ID/clone, /ID/NAME, /ID/ID2/…   service directories nest
/// ```
///
/// Post by creating a file and writing a dial string into it, once;
/// release by removing it. A poster that opens its entry ORCLOSE and keeps
/// the fid (as `ninep … --post` does) ties the entry to its connection: when
/// the poster dies, the session ends and the entry goes. An entry whose creator clunks it unwritten is
/// dropped. Entries are probed (`ServiceProbe`) when a directory is listed
/// and when an entry is opened, so `ls` shows dead services (mode 0000 and
/// " gone" in the contents) and a lookup of one fails with a clear error.
///
/// An entry posted as "ADDR /PATH" is a file entry: the file PATH of the
/// tree served at ADDR (a file2chan file a program placed in the registry,
/// as Inferno's file2chan places files in #s). Opening it opens that file
/// over a connection of the registry's own to ADDR, and reads and writes
/// of the open are forwarded there, flushes included: the program sees
/// a flushed request cancelled, and its error strings come back verbatim.
/// Closing the open clunks the program's fid (its close event).
///
/// The attach name selects a service directory (`id1/id2`), as `$srvspec`
/// roots a 9front namespace.
///
/// When `directory` (the namespace directory) is given, every change is
/// saved to `<dir>/ninep-srv.state` (atomically), and an entry at the root
/// whose address is `unix!PATH` gets a plan9port-style socket name
/// `<dir>/NAME`: a symbolic link to PATH (connect(2) follows it), unless
/// PATH is already `<dir>/NAME`.
///
/// Thread safety: every requirement is called on its connection's event
/// loop; the tree is behind one `Mutex`, taken briefly by each request. A
/// change serializes the tree under the lock (so saves are ordered) and
/// hands it to the `RegistryStateWriter`, which writes on a queue of its
/// own; the change is answered once its state is on disk, and other
/// requests are answered meanwhile. Scans of /proc for the holders of a
/// handed-over socket (`someoneElseHolds`) run on `NIOThreadPool.singleton`,
/// never on a loop. Probes run on `group` and answer their request from
/// there; a file entry's forwarded open, read and write run in a task of
/// their own each and answer from it, so a slow program holds up only its
/// own requests. Deadlocks: the lock is never held across an await or a
/// respond, nor while waiting for the state writer.
public final class SrvRegistry: FileServer {
    private let tree: Mutex<RegistryTree>
    /// The namespace directory holding the state file and the socket names.
    public let directory: String?
    private let group: any EventLoopGroup
    /// Called with each problem saving state (default: ignored).
    private let complain: @Sendable (String) -> Void
    /// Set by `beginShutdown()`: removes stop taking effect, so the ORCLOSE
    /// entries of connections closed by a shutdown survive into the saved
    /// state (the restarted registry probes them).
    private let shuttingDown = Atomic<Bool>(false)
    /// Listening sockets handed over with SCM_RIGHTS, by entry id (see `HandOverListener`).
    private let held = Mutex<[UInt64: CInt]>([:])
    /// Writes `<dir>/ninep-srv.state`; nil without a directory.
    private let stateWriter: RegistryStateWriter?

    /// What a fid refers to. `created`: this fid created the entry and may
    /// write it; `cloned`: the directory allocated by opening `clone`;
    /// `forwarded`: the open of a file entry's file at its program.
    struct FidState: Sendable {
        var node: UInt64
        var created = false
        var cloned: String?
        var forwarded: ForwardedOpen?
    }

    /// An open file entry: the registry's connection to the program serving
    /// the file, and the fid open there. Closed by `destroyFid`.
    struct ForwardedOpen: Sendable {
        let client: NinePClient
        let fid: Fid
    }

    /// - Parameters:
    ///   - directory: the namespace directory to persist to and link in, or nil.
    ///   - owner: uid of every file.
    ///   - group: where probes run.
    ///   - complain: receives errors saving the state file.
    ///   - writeStateFile: writes the state file atomically, off the event
    ///     loops (see `RegistryStateWriter`); tests put a slow disk here.
    public convenience init(
        directory: String? = nil, owner: String = RamFS.currentUser(),
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        complain: @escaping @Sendable (String) -> Void = { _ in }
    ) {
        self.init(directory: directory, owner: owner, group: group, complain: complain, writeStateFile: RegistryStateFile.write)
    }

    init(
        directory: String?, owner: String = RamFS.currentUser(), group: any EventLoopGroup,
        complain: @escaping @Sendable (String) -> Void, writeStateFile: @escaping RegistryStateWriter.Write
    ) {
        self.tree = Mutex(RegistryTree(owner: owner, now: Self.now()))
        self.directory = directory
        self.group = group
        self.complain = complain
        self.stateWriter = directory.map {
            RegistryStateWriter(path: "\($0)/\(SrvNamespace.stateName)", write: writeStateFile, complain: complain)
        }
    }

    /// A copy of the tree as it is now (for tests and `ninep srv ls`-like views).
    public var snapshot: RegistryTree { tree.withLock { $0 } }

    static func now() -> UInt32 { UInt32(truncatingIfNeeded: time(nil)) }

    // MARK: Restart

    /// Loads `<dir>/ninep-srv.state`, probes every entry and keeps those that
    /// answer; returns one line per entry dropped or line not understood,
    /// for the log. Call before serving.
    ///
    /// An entry whose listening socket the previous registry held (a
    /// hand-over) lost that descriptor with it. If a server still answers
    /// there it is kept as a plain entry, and the report says it is no
    /// longer held; if not, it is dropped and its socket file, which only
    /// that descriptor kept bound, is removed.
    public func restore() async -> [String] {
        guard let directory, let text = RegistryStateFile.read("\(directory)/\(SrvNamespace.stateName)") else { return [] }
        let parsed = RegistryStateFile.parse(text)
        var report = parsed.complaints.map { "state file: \($0)" }
        var verdicts: [Bool] = []
        for entry in parsed.entries {
            let dial = entry.address.hasPrefix("exec!") ? entry.address : String(entry.address.split(separator: " ").first ?? "")
            verdicts.append(await ServiceProbe.isAlive(dial, group: group))
        }
        let now = Self.now()
        var orphans: [String] = []
        tree.withLock { t in
            for dir in parsed.directories {
                var at = RegistryTree.root
                for name in dir {
                    if let next = t.child(of: at, named: name) { at = next; continue }
                    guard let made = try? t.makeDirectory(in: at, name: name, owner: t.node(at)!.owner, now: now) else { break }
                    at = made
                }
            }
            for (entry, alive) in zip(parsed.entries, verdicts) {
                let name = entry.path.joined(separator: "/")
                guard alive else {
                    var line = "dropped stale entry \(name) (\(entry.address)): nothing answers there"
                    if entry.held, case .unix(let path)? = try? NinePAddress(dialString: entry.address) {
                        orphans.append(path)
                        line += "; removed its socket file, which the previous registry held"
                    }
                    report.append(line)
                    continue
                }
                guard let dir = t.resolve(Array(entry.path.dropLast())),
                      let id = try? t.create(in: dir, name: entry.path.last!, owner: t.node(dir)!.owner, now: now),
                      (try? t.post(id, address: entry.address, now: now)) != nil
                else {
                    report.append("cannot restore entry \(name) (\(entry.address))")
                    continue
                }
                if entry.held {
                    report.append("""
                        entry \(name) (\(entry.address)) is no longer held: its socket went with the previous \
                        registry; kept because a server answers there, and shown as gone once it stops
                        """)
                }
            }
            saveLocked(t)
        }
        await flushState()
        for path in orphans { try? NinePListener.removeStaleSocket(atPath: path) }
        // Socket names for restored entries, and none for dropped ones.
        for entry in parsed.entries where entry.path.count == 1 {
            let kept = tree.withLock { $0.resolve(entry.path) != nil }
            kept ? link(entry.path[0], entry.address) : unlink(entry.path[0], entry.address)
        }
        return report
    }

    // MARK: FileServer

    public func attach(_ r: Request) {
        guard case .tattach(let t) = r.ifcall, let fid = r.fid else { return r.respond(error: .botch) }
        let names = t.aname.split(separator: "/").map(String.init)
        let found = tree.withLock { tree -> (UInt64, Qid)? in
            guard let id = tree.resolve(names), let st = tree.stat(id), st.mode.isDirectory else { return nil }
            return (id, st.qid)
        }
        guard let (id, qid) = found else {
            return r.respond(error: "no service directory '\(t.aname)' in the srv registry")
        }
        fid.aux = FidState(node: id)
        r.respond(.rattach(Rattach(qid: qid)))
    }

    public func walk1(_ fid: ServerFid, name: String) throws(NinePError) -> Qid {
        guard var state = fid.aux(as: FidState.self) else { throw .unknownFid }
        let found = tree.withLock { tree -> (UInt64, Qid)? in
            guard let next = tree.child(of: state.node, named: name), let st = tree.stat(next) else { return nil }
            return (next, st.qid)
        }
        guard let (id, qid) = found else { throw .notFound }
        state = FidState(node: id)
        fid.aux = state
        return qid
    }

    public func clone(_ oldfid: ServerFid, _ newfid: ServerFid) throws(NinePError) {
        guard let state = oldfid.aux(as: FidState.self) else { throw .unknownFid }
        newfid.aux = FidState(node: state.node)
    }

    public func open(_ r: Request) {
        guard case .topen(let t) = r.ifcall, let fid = r.fid, var state = fid.aux(as: FidState.self) else {
            return r.respond(error: .botch)
        }
        let node = tree.withLock { $0.node(state.node) }
        guard let node else { return r.respond(error: "service was removed") }
        let writing = t.mode.rawValue & 3 != 0
        switch node.kind {
        case .clone:
            let now = Self.now()
            let made = tree.withLock { t -> Result<String, NinePError> in
                do throws(NinePError) {
                    let (_, name) = try t.clone(in: node.parent, owner: fid.uname, now: now)
                    state.cloned = name
                    fid.aux = state
                    saveLocked(t) { r.respond(.ropen(Ropen(qid: fid.qid))) }
                    return .success(name)
                } catch { return .failure(error) }
            }
            if case .failure(let e) = made { r.respond(error: e) }
        case .entry:
            if let file = node.file, let address = node.address, !state.created {
                return forwardOpen(r, fid: fid, state: state, address: address, file: file, mode: t.mode)
            }
            if writing && node.address != nil {
                let name = tree.withLock { $0.path(of: node.id).joined(separator: "/") }
                return r.respond(error: "service \(name) is already posted: an entry is written once")
            }
            guard let address = node.address else { return r.respond(.ropen(Ropen(qid: fid.qid))) }
            probe([(node.id, address)]) { r.respond(.ropen(Ropen(qid: fid.qid))) }
        case .directory:
            r.respond(.ropen(Ropen(qid: fid.qid)))
        }
    }

    public func create(_ r: Request) {
        guard case .tcreate(let t) = r.ifcall, let fid = r.fid, let state = fid.aux(as: FidState.self) else {
            return r.respond(error: .botch)
        }
        guard !t.perm.isDirectory else {
            return r.respond(error: "service directories are made by opening clone, not by create")
        }
        let made = tree.withLock { tree -> Result<Qid, NinePError> in
            do throws(NinePError) {
                let id = try tree.create(in: state.node, name: t.name, owner: fid.uname, now: Self.now())
                return .success(tree.stat(id)!.qid)
            } catch { return .failure(error) }
        }
        switch made {
        case .success(let qid):
            fid.aux = FidState(node: qid.path, created: true)
            r.respond(.rcreate(Rcreate(qid: qid)))
        case .failure(let e): r.respond(error: e)
        }
    }

    public func read(_ r: Request) {
        guard case .tread(let t) = r.ifcall, let fid = r.fid, let state = fid.aux(as: FidState.self) else {
            return r.respond(error: .botch)
        }
        if let remote = state.forwarded {
            return forward(r) { try await .rread(Rread(data: remote.client.read(remote.fid, offset: t.offset, count: Int(t.count)))) }
        }
        let node = tree.withLock { $0.node(state.node) }
        guard let node else { return r.respond(error: "service was removed") }
        switch node.kind {
        case .clone: readStr(r, "\(state.cloned ?? "")\n")
        case .entry: readStr(r, tree.withLock { $0.contents(of: $0.node(node.id) ?? node) })
        case .directory:
            guard t.offset == 0 else { return answerDirectory(r, node.id) }
            // A fresh listing: probe the entries first so `ls` tells the truth.
            let targets = tree.withLock { tree in
                tree.listing(of: node.id).compactMap { id in tree.node(id)?.address.map { (id, $0) } }
            }
            probe(targets) { self.answerDirectory(r, node.id) }
        }
    }

    private func answerDirectory(_ r: Request, _ dir: UInt64) {
        let entries = tree.withLock { tree in tree.listing(of: dir).compactMap { tree.stat($0) } }
        dirRead(r) { n in n < entries.count ? entries[n] : nil }
    }

    public func write(_ r: Request) {
        guard case .twrite(let t) = r.ifcall, let fid = r.fid, let state = fid.aux(as: FidState.self) else {
            return r.respond(error: .botch)
        }
        if let remote = state.forwarded {
            return forward(r) { try await .rwrite(Rwrite(count: UInt32(remote.client.write(remote.fid, offset: t.offset, data: t.data)))) }
        }
        let text = String(buffer: t.data)
        let now = Self.now()
        let count = UInt32(t.data.readableBytes)
        let posted = tree.withLock { tree -> Result<Void, NinePError> in
            do throws(NinePError) {
                try tree.post(state.node, address: text, now: now)
                let name = tree.path(of: state.node)
                let address = tree.node(state.node)!.address!
                saveLocked(tree) { [self] in
                    if name.count == 1 { link(name[0], address) }
                    r.respond(.rwrite(Rwrite(count: count)))
                }
                return .success(())
            } catch { return .failure(error) }
        }
        if case .failure(let e) = posted { r.respond(error: e) }
    }

    /// Call before closing the connections of a registry that is stopping.
    public func beginShutdown() {
        shuttingDown.store(true, ordering: .sequentiallyConsistent)
    }

    public func remove(_ r: Request) {
        guard let fid = r.fid, let state = fid.aux(as: FidState.self) else { return r.respond(error: .botch) }
        guard !shuttingDown.load(ordering: .sequentiallyConsistent) else {
            return r.respond(error: "the srv registry is shutting down")
        }
        let removed = tree.withLock { tree -> Result<Void, NinePError> in
            do throws(NinePError) {
                let address = tree.node(state.node)?.address
                let name = tree.path(of: state.node)
                try tree.remove(state.node, now: Self.now())
                saveLocked(tree) { [self] in
                    release(state.node, address: address) { [self] in
                        if name.count == 1, let address { unlink(name[0], address) }
                        r.respond(.rremove(Rremove()))
                    }
                }
                return .success(())
            } catch { return .failure(error) }
        }
        if case .failure(let e) = removed { r.respond(error: e) }
    }

    public func stat(_ r: Request) {
        guard let fid = r.fid, let state = fid.aux(as: FidState.self) else { return r.respond(error: .botch) }
        guard let st = tree.withLock({ $0.stat(state.node) }) else { return r.respond(error: "service was removed") }
        r.respond(.rstat(Rstat(stat: st)))
    }

    /// Accepts wstats that change nothing the registry keeps (FUSE's
    /// truncate-on-open of an unwritten entry, times, fsync); refuses renames
    /// and mode changes.
    public func wstat(_ r: Request) {
        guard case .twstat(let t) = r.ifcall, let fid = r.fid, let state = fid.aux(as: FidState.self) else {
            return r.respond(error: .botch)
        }
        let current = tree.withLock { $0.stat(state.node) }
        guard let current else { return r.respond(error: "service was removed") }
        let s = t.stat
        guard s.name.isEmpty || s.name == current.name else { return r.respond(error: "services cannot be renamed") }
        guard s.mode == Stat.dontTouch.mode || s.mode == current.mode else {
            return r.respond(error: "the registry sets entries' modes")
        }
        guard s.length == Stat.dontTouch.length || s.length == 0 || s.length == current.length else {
            return r.respond(error: "an entry holds exactly one address")
        }
        r.respond(.rwstat(Rwstat()))
    }

    /// An entry created by this fid and never written is dropped: the poster
    /// gave up (or crashed) before posting.
    public func destroyFid(_ fid: ServerFid) {
        guard let state = fid.aux(as: FidState.self) else { return }
        if let remote = state.forwarded {
            Task {
                try? await remote.client.clunk(remote.fid)
                await remote.client.close()
            }
        }
        guard state.created else { return }
        tree.withLock { tree in
            if let n = tree.node(state.node), n.kind == .entry, n.address == nil {
                try? tree.remove(state.node, now: Self.now())
            }
        }
    }

    // MARK: File entries

    /// Opens `file` at `address` for a file entry's open, over a connection
    /// of its own (so each open has its own fid at the program).
    private func forwardOpen(_ r: Request, fid: ServerFid, state: FidState, address: String, file: String, mode: OpenMode) {
        let group = self.group
        let name = tree.withLock { $0.path(of: state.node).joined(separator: "/") }
        Task {
            let client: NinePClient
            do {
                client = try await NinePClient.connect(to: address, group: group)
            } catch {
                tree.withLock { $0.setAlive(state.node, false) }
                return r.respond(error: "file \(name) is gone: nothing answers at \(address) (ninep srv rm \(name))")
            }
            do {
                let root = try await client.attach(uname: fid.uname)
                let remote = try await client.walk(path: file, from: root)
                _ = try await client.open(remote, mode: mode)
                var opened = state
                opened.forwarded = ForwardedOpen(client: client, fid: remote)
                fid.aux = opened
                r.respond(.ropen(Ropen(qid: fid.qid)))
            } catch {
                await client.close()
                r.respond(error: Self.reason(error))
            }
        }
    }

    /// Answers `r` with what `call` (a request forwarded to a program)
    /// brings back; a flush of `r` cancels `call`, which flushes the
    /// forwarded request, and `r` is answered "interrupted".
    private func forward(_ r: Request, _ call: @escaping @Sendable () async throws -> Message) {
        let task = Task {
            do {
                r.respond(try await call())
            } catch {
                r.respond(error: r.isCancelled ? NinePError.interrupted.ename : Self.reason(error))
            }
        }
        r.onCancel { task.cancel() }
    }

    /// A forwarded request's failure as the client reads it: the program's
    /// error string verbatim, else what went wrong on the way.
    private static func reason(_ error: any Error) -> String {
        if let e = error as? NinePError { return e.ename }
        if let e = error as? NinePClientError, let server = e.ninePError { return server.ename }
        return "\(error)"
    }

    // MARK: Held listeners

    /// Posts a handed-over listening unix socket under `name` (`id/name`
    /// inside a service directory) and keeps the descriptor until the entry
    /// is removed. Takes ownership of `listener` only on success. Returns
    /// once the state file says so: call it off the event loops (the
    /// hand-over listener's thread does).
    public func hold(name: String, listener: CInt) throws(NinePError) {
        var accepting: CInt = 0
        var size = socklen_t(MemoryLayout<CInt>.size)
        guard getsockopt(listener, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &size) == 0, accepting == 1 else {
            throw NinePError("cannot hold \(name): the descriptor is not a listening socket")
        }
        var address = sockaddr_un()
        var length = socklen_t(MemoryLayout<sockaddr_un>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) }
        }
        let path = withUnsafeBytes(of: address.sun_path) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        guard named == 0, address.sun_family == sa_family_t(AF_UNIX), path.hasPrefix("/") else {
            throw NinePError("cannot hold \(name): not a unix socket bound to an absolute path")
        }
        let names = name.split(separator: "/").map(String.init)
        let now = Self.now()
        let id = try tree.withLock { t throws(NinePError) -> UInt64 in
            guard let dir = t.resolve(Array(names.dropLast())), let last = names.last else {
                throw NinePError("cannot hold \(name): no such service directory")
            }
            let id = try t.create(in: dir, name: last, owner: RamFS.currentUser(), now: now)
            do throws(NinePError) {
                try t.post(id, address: "unix!\(path)", now: now)
            } catch {
                try? t.remove(id, now: now)
                throw error
            }
            t.setHeld(id)
            saveLocked(t)
            return id
        }
        held.withLock { $0[id] = listener }
        stateWriter?.flush()
        if names.count == 1 { link(names[0], "unix!\(path)") }
    }

    /// Closes the held descriptor of a removed entry and, if no other
    /// process holds the listener (its server is gone), removes the socket
    /// file. The holders are looked for before the close, in /proc: a
    /// connect(2) after it would also succeed while a child this process is
    /// spawning still has its copy of the descriptor (see `someoneElseHolds`).
    /// The scan runs on the thread pool; `then` runs after it (at once for
    /// an entry that held nothing).
    private func release(_ id: UInt64, address: String?, then: @escaping @Sendable () -> Void) {
        guard let fd = held.withLock({ $0.removeValue(forKey: id) }) else { return then() }
        NIOThreadPool.singleton.submit { _ in
            let served = Self.someoneElseHolds(fd)
            close(fd)
            if !served, case .unix(let path)? = address.flatMap({ try? NinePAddress(dialString: $0) }) {
                // While the registry held it, nothing could bind another socket there.
                var info = Glibc.stat()
                if lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFSOCK { Glibc.unlink(path) }
            }
            then()
        }
    }

    /// Whether a process other than this one has the held socket open.
    ///
    /// A child this process is spawning is not counted: from fork to exec it
    /// has a copy of every descriptor, close-on-exec ones included, but it
    /// serves nothing, and it lets go at exec. Such a child is recognised by
    /// its parent (this process) alone: every descriptor the registry holds
    /// is close-on-exec, so no child of ours keeps one past its exec, and
    /// the executable is no guide, since execve(2) points /proc/PID/exe at
    /// the new program before it closes the close-on-exec descriptors.
    static func someoneElseHolds(_ fd: CInt) -> Bool {
        var info = Glibc.stat()
        guard fstat(fd, &info) == 0 else { return false }
        let target = "socket:[\(info.st_ino)]"
        let me = getpid()
        guard let proc = opendir("/proc") else { return true }
        defer { closedir(proc) }
        while let entry = Glibc.readdir(proc) {
            let pidName = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard let pid = Int32(pidName), pid != me, let fds = opendir("/proc/\(pidName)/fd") else { continue }
            defer { closedir(fds) }
            while let f = Glibc.readdir(fds) {
                let fdName = withUnsafeBytes(of: f.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                guard readLink("/proc/\(pidName)/fd/\(fdName)") == target else { continue }
                if parent(of: pidName) != me { return true }
                break
            }
        }
        return false
    }

    /// The parent pid of process `pid` (from /proc/PID/stat), or nil.
    private static func parent(of pid: String) -> pid_t? {
        guard let text = RegistryStateFile.read("/proc/\(pid)/stat"), let close = text.lastIndex(of: ")") else { return nil }
        // "PID (COMM) STATE PPID …": COMM may hold blanks and parentheses.
        let fields = text[text.index(after: close)...].split(separator: " ")
        return fields.count > 1 ? pid_t(fields[1]) : nil
    }

    /// The target of the symbolic link `path`, or nil.
    private static func readLink(_ path: String) -> String? {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = Glibc.readlink(path, &buffer, buffer.count - 1)
        guard n > 0 else { return nil }
        return String(decoding: buffer[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    // MARK: Probing, saving, socket names

    /// Probes `targets` concurrently, records the verdicts, then calls `then`.
    private func probe(_ targets: [(UInt64, String)], then: @escaping @Sendable () -> Void) {
        guard !targets.isEmpty else { return then() }
        let group = self.group
        Task {
            let verdicts = await withTaskGroup(of: (UInt64, Bool).self) { tasks in
                for (id, address) in targets {
                    if let fd = self.held.withLock({ $0[id] }) {
                        tasks.addTask { (id, (try? await NIOThreadPool.singleton.runIfActive { Self.someoneElseHolds(fd) }) ?? true) }
                    } else {
                        tasks.addTask { (id, await ServiceProbe.isAlive(address, group: group)) }
                    }
                }
                var all: [(UInt64, Bool)] = []
                for await v in tasks { all.append(v) }
                return all
            }
            tree.withLock { tree in
                for (id, alive) in verdicts { tree.setAlive(id, alive) }
            }
            then()
        }
    }

    /// Hands the tree to the state writer; call with the lock held so saves
    /// are ordered. `then` runs once the state is written (at once without
    /// a directory), on the writer's queue.
    private func saveLocked(_ tree: RegistryTree, then: @escaping @Sendable () -> Void = {}) {
        guard let stateWriter else { return then() }
        stateWriter.save(RegistryStateFile.serialize(tree), then: then)
    }

    /// Returns once every state saved so far is written.
    public func flushState() async {
        guard let stateWriter else { return }
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            stateWriter.afterWrites { done.resume() }
        }
    }

    /// Makes `<dir>/NAME` reach a unix-socket service (plan9port convention).
    private func link(_ name: String, _ address: String) {
        guard let directory, case .unix(let path)? = try? NinePAddress(dialString: address) else { return }
        let socketName = "\(directory)/\(name)"
        guard path != socketName else { return }
        var info = Glibc.stat()
        if lstat(socketName, &info) == 0 {
            // Replace only our own kind of leftover: a symbolic link.
            guard info.st_mode & S_IFMT == S_IFLNK else { return }
            Glibc.unlink(socketName)
        }
        if Glibc.symlink(path, socketName) != 0 {
            complain("cannot link \(socketName) to \(path): \(String(cString: strerror(errno)))")
        }
    }

    /// Removes `<dir>/NAME` if it is the link `link` made for `address`.
    private func unlink(_ name: String, _ address: String) {
        guard let directory, case .unix(let path)? = try? NinePAddress(dialString: address) else { return }
        let socketName = "\(directory)/\(name)"
        guard Self.readLink(socketName) == path else { return }
        Glibc.unlink(socketName)
    }
}
