import Dispatch
import FuseLowLevel
import Glibc
import Logging
import NIOCore
import NinePClient
import NinePWire
import Synchronization

/// The FUSE operations of a mounted 9P tree: each FUSE request becomes a
/// short chain of 9P transactions on the client's low-level path.
///
/// Who touches what:
/// - The client's event loop calls the operations: by default it reads the
///   FUSE device itself (`MountOptions.workerThreads` nil); with
///   `threads=N`, FUSE worker threads do. Either way an operation never
///   waits for the network: it looks at the tables, sends its first
///   T-message with `NinePClient.send` and returns.
/// - The client's event loop runs every completion: it sends the next
///   T-message of the chain, updates the tables and answers the FUSE reply.
/// - `state` (the `NodeTable`, the walks in progress, the directory reads
///   waiting) is guarded by one mutex, held only for table updates: never
///   across a send, a FUSE reply, or a name lookup.
/// - User and group names are resolved on `IdentityMap`'s queue; a reply
///   that waits for one is answered from there.
/// - `destroy` runs on the thread that ran the session, after it stopped.
///
/// Deadlocks: `NinePClient.send` may call its completion at once on the
/// calling thread (a closed connection), and a FUSE reply may wait for the
/// request's interrupt handler, which takes an `Exchange`'s lock and calls
/// `NinePClient.cancel`. So nothing is sent and nothing is answered while
/// `state` or an exchange's lock is held, and interrupt handlers take no
/// other lock. The event loop is never blocked: only `release(timeout:)`
/// waits, on the caller's thread, and it must not be called on the loop.
final class Bridge: FuseOperations {
    let client: NinePClient
    let options: MountOptions
    let logger: Logger
    let attributes: AttributeMapper
    /// Largest data payload of one Tread or Twrite: msize − IOHDRSZ.
    let maxIO: Int
    let allocator = ByteBufferAllocator()

    struct State: Sendable {
        var table: NodeTable
        /// Directories being walked to get their fid, and who waits for it.
        var fidWaiters: [UInt64: [@Sendable (Result<Fid, Failure>) -> Void]] = [:]
        /// Directory handles with a Tread in flight, and the readdirs waiting for it.
        var listingWaiters: [UInt64: [@Sendable () -> Void]] = [:]
    }

    let state: Mutex<State>
    /// The session, for notifications; weak, since the session keeps the
    /// bridge alive. Set once mounted.
    private let session = Mutex(SessionReference())
    /// Where kernel notifications are sent from: never the event loop (see `fileChanged`).
    private let notifications = DispatchQueue(label: "ninep.mount notifications")
    /// Fids allocated and not yet released: held in the tables or in flight.
    let liveFids = Atomic<Int>(0)
    private let released = Atomic<Bool>(false)
    private let pipelining = Atomic<Bool>(true)

    init(
        client: NinePClient, rootFid: Fid, rootQid: Qid?, options: MountOptions, logger: Logger,
        identityResolver: any IdentityResolver = SystemIdentityResolver()
    ) {
        self.client = client
        self.options = options
        self.logger = logger
        self.attributes = AttributeMapper(identities: IdentityMap(resolver: identityResolver))
        self.maxIO = max(1, Int(client.msize) - Int(NineP.ioHeaderSize))
        self.state = Mutex(State(table: NodeTable(rootFid: rootFid, rootQid: rootQid)))
        liveFids.store(1, ordering: .relaxed)  // the root
    }

    // MARK: Fids

    func newFid() -> Result<Fid, Failure> {
        do {
            let fid = try client.allocateFid()
            liveFids.add(1, ordering: .relaxed)
            return .success(fid)
        } catch {
            return .failure(Failure(EMFILE, "no fid left on this connection: \(error)"))
        }
    }

    func releaseFid(_ fid: Fid) {
        client.releaseFid(fid)
        liveFids.subtract(1, ordering: .relaxed)
    }

    /// Sends Tclunk without waiting; the fid is released when any answer
    /// comes (clunk(5): the fid is gone even if the clunk fails), then
    /// `then` runs. Never flushed. `lazily`: it may wait a moment to leave
    /// with the next requests (`NinePClient.send(_:lazily:completion:)`).
    func clunk(_ fid: Fid, lazily: Bool = false, then: (@Sendable () -> Void)? = nil) {
        client.send(.tclunk(Tclunk(fid: fid)), lazily: lazily) { [self] _ in
            releaseFid(fid)
            then?()
        }
    }

    // MARK: 9P transactions

    /// Sends `message` (through `exchange`, so that an interrupt flushes it)
    /// and hands `done` what `extract` makes of the reply, or the failure.
    func call<T>(
        _ message: Message, _ exchange: Exchange?, extract: @escaping @Sendable (Message) -> T?,
        _ done: @escaping @Sendable (Result<T, Failure>) -> Void
    ) {
        let completion: NinePReplyHandler = { result in
            switch result {
            case .success(let reply):
                if let value = extract(reply) {
                    done(.success(value))
                } else {
                    done(.failure(Failure(EIO, "\(message.type) answered by \(reply.type)")))
                }
            case .failure(let error):
                done(.failure(Failure(error)))
            }
        }
        if let exchange {
            exchange.send(message, completion)
        } else {
            client.send(message, completion: completion)
        }
    }

    /// walk(5) from `fid` through `names` to a new fid. Fails unless every
    /// name was walked; the new fid is then not left behind.
    func walk(
        _ fid: Fid, _ names: [String], _ exchange: Exchange?,
        _ done: @escaping @Sendable (Result<(fid: Fid, qids: [Qid]), Failure>) -> Void
    ) {
        walk(fid, names, exchange, then: { _ in [] }) { walked, _ in done(walked) }
    }

    /// `walk`, with `then(newfid)` — requests on the new fid — sent right
    /// behind the Twalk without waiting for it: one round trip instead of
    /// several where the server runs them in order (ours does; see
    /// `NinePServerHandler`, "Pipelining"). `done` runs once every reply is
    /// in, with the walk's result and the replies to `then`, which mean
    /// nothing if the walk failed. A server that ran one of them before the
    /// walk answers it with an error (an unknown fid) or, for a stat, with
    /// another file's qid: callers check and, that being so, send it again
    /// (`ranEarly`).
    func walk(
        _ fid: Fid, _ names: [String], _ exchange: Exchange?, then: (Fid) -> [Message],
        _ done: @escaping @Sendable (Result<(fid: Fid, qids: [Qid]), Failure>, [Result<Message, Failure>]) -> Void
    ) {
        let newfid: Fid
        switch newFid() {
        case .success(let fid): newfid = fid
        case .failure(let failure): return done(.failure(failure), [])
        }
        let messages = [Message.twalk(Twalk(fid: fid, newfid: newfid, wname: names))] + then(newfid)
        let gather = Gather<Message>(count: messages.count)
        // Sent from one task on the client's loop, so that they leave in one
        // write and reach the server in one read.
        onClientLoop { [self] in
            for (index, message) in messages.enumerated() {
                call(message, exchange, extract: { $0 }) { [self] result in
                    guard var results = gather.set(index, result) else { return }
                    let walked = results.removeFirst().flatMap { reply -> Result<[Qid], Failure> in
                        if case .rwalk(let r) = reply { return .success(r.wqid) }
                        return .failure(Failure(EIO, "Twalk answered by \(reply.type)"))
                    }
                    switch walked {
                    case .success(let qids) where qids.count == names.count:
                        done(.success((newfid, qids)), results)
                    case .success(let qids):
                        // walk(5): a short walk leaves newfid unaffected.
                        releaseFid(newfid)
                        let missing = qids.count < names.count ? names[qids.count] : "?"
                        done(.failure(Failure(ENOENT, "'\(missing)' does not exist (short walk)")), results)
                    case .failure(let failure) where failure.errno == EINTR:
                        // Flushed: whether newfid came to be is unknown; clunk it to be sure.
                        clunk(newfid)
                        done(.failure(failure), results)
                    case .failure(let failure):
                        releaseFid(newfid)
                        done(.failure(failure), results)
                    }
                }
            }
        }
    }

    /// Runs `body` on the client's event loop: now if this is it.
    func onClientLoop(_ body: @escaping @Sendable () -> Void) {
        let loop = client.eventLoop
        if loop.inEventLoop { body() } else { loop.execute(body) }
    }

    /// Whether pipelined requests (`walk(_:_:_:then:_:)`) are worth sending:
    /// true until the server is seen to run one before the request it
    /// depends on; from then on the bridge sends them one by one.
    var pipelines: Bool { pipelining.load(ordering: .relaxed) }

    /// Records that the server ran a pipelined request before the one it
    /// depends on (`what`), which then had to be sent again: no more pipelining.
    func ranEarly(_ what: String) {
        guard pipelining.exchange(false, ordering: .relaxed) else { return }
        logger.debug(
            "the server ran a request sent behind another before it (\(what)); sending such requests one by one from now on",
            metadata: ["server": "\(client.server)"])
    }

    /// Tstat; the answer comes once its owner and group are resolved
    /// (`withOwners`), so the stat can become attributes at once.
    func stat(_ fid: Fid, _ exchange: Exchange?, _ done: @escaping @Sendable (Result<Stat, Failure>) -> Void) {
        call(.tstat(Tstat(fid: fid)), exchange, extract: { reply -> Stat? in
            if case .rstat(let r) = reply { return r.stat }
            return nil
        }) { [self] result in
            guard case .success(let st) = result else { return done(result) }
            withOwners([st]) { done(result) }
        }
    }

    /// Runs `body` once the owners and groups of `stats` are known locally
    /// (`IdentityMap.whenKnown`): at once when they are cached, else from
    /// the resolver's queue, never blocking the event loop on NSS.
    func withOwners(_ stats: some Sequence<Stat>, _ body: @escaping @Sendable () -> Void) {
        attributes.identities.whenKnown(stats, then: body)
    }

    /// The stat in a pipelined reply, if it is an Rstat.
    static func stat(in reply: Result<Message, Failure>?) -> Stat? {
        if case .success(.rstat(let r)) = reply { return r.stat }
        return nil
    }

    func wstat(_ fid: Fid, _ stat: Stat, _ exchange: Exchange?, _ done: @escaping @Sendable (Result<Void, Failure>) -> Void) {
        call(.twstat(Twstat(fid: fid, stat: stat)), exchange, extract: { reply -> Void? in
            if case .rwstat = reply { return () }
            return nil
        }, done)
    }

    func open(_ fid: Fid, _ mode: OpenMode, _ exchange: Exchange?, _ done: @escaping @Sendable (Result<Ropen, Failure>) -> Void) {
        call(.topen(Topen(fid: fid, mode: mode)), exchange, extract: { reply -> Ropen? in
            if case .ropen(let r) = reply { return r }
            return nil
        }, done)
    }

    func create(
        _ fid: Fid, _ name: String, _ perm: FileMode, _ mode: OpenMode, _ exchange: Exchange?,
        _ done: @escaping @Sendable (Result<Rcreate, Failure>) -> Void
    ) {
        call(.tcreate(Tcreate(fid: fid, name: name, perm: perm, mode: mode)), exchange, extract: { reply -> Rcreate? in
            if case .rcreate(let r) = reply { return r }
            return nil
        }, done)
    }

    func read(
        _ fid: Fid, offset: UInt64, count: Int, _ exchange: Exchange?,
        _ done: @escaping @Sendable (Result<ByteBuffer, Failure>) -> Void
    ) {
        call(.tread(Tread(fid: fid, offset: offset, count: UInt32(count))), exchange, extract: { reply -> ByteBuffer? in
            if case .rread(let r) = reply, r.data.readableBytes <= count { return r.data }
            return nil
        }, done)
    }

    func write(
        _ fid: Fid, offset: UInt64, data: ByteBuffer, _ exchange: Exchange?,
        _ done: @escaping @Sendable (Result<Int, Failure>) -> Void
    ) {
        let size = data.readableBytes
        call(.twrite(Twrite(fid: fid, offset: offset, data: data)), exchange, extract: { reply -> Int? in
            if case .rwrite(let r) = reply, Int(r.count) <= size { return Int(r.count) }
            return nil
        }, done)
    }

    /// remove(5): never flushed; the fid is released whatever the answer.
    func remove(_ fid: Fid, _ done: @escaping @Sendable (Result<Void, Failure>) -> Void) {
        call(.tremove(Tremove(fid: fid)), nil, extract: { reply -> Void? in
            if case .rremove = reply { return () }
            return nil
        }) { [self] result in
            releaseFid(fid)
            done(result)
        }
    }

    // MARK: Fids of nodes

    /// The walked fid of directory `id`, walking to it from its parent if it
    /// has none yet (recursively; the root always has one). Callers that
    /// ask while a walk is in flight wait for the same walk. The fid belongs
    /// to the node: do not clunk it.
    ///
    /// The walk itself is not interruptible (other requests may be waiting
    /// for it), but the wait is: when `exchange`'s request is interrupted
    /// (Ctrl-C while the server is away and the walk is held by the
    /// reconnecting client), `done` gets EINTR at once and the walk's
    /// eventual result still goes to the node.
    func directoryFid(
        _ id: UInt64, _ exchange: Exchange? = nil, _ done: @escaping @Sendable (Result<Fid, Failure>) -> Void
    ) {
        enum Step {
            case ready(Fid)
            case waiting
            case walk(NodeTable.Link, Qid)
            case fail(Failure)
        }
        let fast = state.withLock { state -> Result<Fid, Failure>? in
            guard let node = state.table.nodes[id] else { return .failure(.stale) }
            return node.fid.map { .success($0) }
        }
        if let fast { return done(fast) }
        let waiter = exchange.map { $0.waitInterruptibly(on: client.eventLoop, done) } ?? done
        let step = state.withLock { state -> Step in
            guard let node = state.table.nodes[id] else { return .fail(.stale) }
            if let fid = node.fid { return .ready(fid) }
            guard node.isDirectory else { return .fail(Failure(ENOTDIR, "not a directory")) }
            if state.fidWaiters[id] != nil {
                state.fidWaiters[id]!.append(waiter)
                return .waiting
            }
            guard let link = node.links.first else { return .fail(.removed) }
            state.fidWaiters[id] = [waiter]
            return .walk(link, node.qid)
        }
        switch step {
        case .ready(let fid): waiter(.success(fid))
        case .waiting: break
        case .fail(let failure): waiter(.failure(failure))
        case .walk(let link, let qid):
            // Not interruptible: other requests may be waiting for this walk.
            walkToNode(link, qid, nil) { [self] result in
                let outcome: Result<Fid, Failure>
                var surplus: Fid?
                switch result {
                case .success(let fid):
                    surplus = state.withLock { $0.table.adopt(fid, for: id) }
                    outcome = surplus == nil ? .success(fid) : .failure(.stale)
                case .failure(let failure):
                    outcome = .failure(failure)
                }
                if let surplus { clunk(surplus) }
                let waiters = state.withLock { $0.fidWaiters.removeValue(forKey: id) } ?? []
                for waiter in waiters { waiter(outcome) }
            }
        }
    }

    /// Walks from the directory of `link` to a new fid for the file it
    /// names, which must still be the file with `qid.path`.
    func walkToNode(
        _ link: NodeTable.Link, _ qid: Qid, _ exchange: Exchange?,
        _ done: @escaping @Sendable (Result<Fid, Failure>) -> Void
    ) {
        directoryFid(link.parent, exchange) { [self] parent in
            switch parent {
            case .failure(let failure): done(.failure(failure))
            case .success(let parentFid):
                walk(parentFid, [link.name], exchange) { [self] walked in
                    switch walked {
                    case .failure(let failure): done(.failure(failure))
                    case .success(let (fid, qids)):
                        if qids.last?.path == qid.path {
                            done(.success(fid))
                        } else {
                            // Another file took the name meanwhile.
                            clunk(fid)
                            done(.failure(.stale))
                        }
                    }
                }
            }
        }
    }

    /// A fid for node `id` to use for one request: a directory's own fid,
    /// or for a file a fid walked from its directory, which `finish`
    /// clunks. Call `finish` exactly once, when done with the fid.
    func borrowFid(
        _ id: UInt64, _ exchange: Exchange?,
        _ body: @escaping @Sendable (Result<Fid, Failure>, _ finish: @escaping @Sendable () -> Void) -> Void
    ) {
        let node = state.withLock { $0.table.nodes[id] }
        guard let node else { return body(.failure(.stale), {}) }
        if node.isDirectory {
            return directoryFid(id, exchange) { body($0, {}) }
        }
        guard let link = node.links.first else { return body(.failure(.removed), {}) }
        walkToNode(link, node.qid, exchange) { [self] result in
            switch result {
            case .success(let fid): body(.success(fid), { [self] in clunk(fid) })
            case .failure(let failure): body(.failure(failure), {})
            }
        }
    }

    /// A new, unopened fid for node `id` (to open, or to create in): a
    /// clone of a directory's fid, or a fid walked from a file's directory.
    func cloneFid(_ id: UInt64, _ exchange: Exchange?, _ done: @escaping @Sendable (Result<Fid, Failure>) -> Void) {
        let node = state.withLock { $0.table.nodes[id] }
        guard let node else { return done(.failure(.stale)) }
        if node.isDirectory {
            directoryFid(id, exchange) { [self] result in
                switch result {
                case .failure(let failure): done(.failure(failure))
                case .success(let fid): walk(fid, [], exchange) { done($0.map(\.fid)) }
                }
            }
        } else {
            guard let link = node.links.first else { return done(.failure(.removed)) }
            walkToNode(link, node.qid, exchange, done)
        }
    }

    // MARK: Answers

    func entry(_ node: UInt64, _ stat: Stat, iounit: UInt32 = 0) -> FuseEntry {
        FuseEntry(
            ino: node, generation: 0, attr: attributes.attr(stat, iounit: iounit),
            attrTimeout: options.attrTimeout, entryTimeout: options.entryTimeout)
    }

    /// Answers `reply` with the failure's errno, logging at debug level the
    /// operation, the file and the server's original words.
    func fail<Kind>(_ reply: FuseReply<Kind>, _ failure: Failure, _ operation: String, node: UInt64, name: String? = nil) {
        logger.debug(
            "\(operation) \(describe(node, name)): \(failure.reason) → \(NinePErrno.name(of: failure.errno))")
        reply.error(failure.errno)
    }

    /// "/a/b" for node `id`, with `name` appended.
    func describe(_ id: UInt64, _ name: String? = nil) -> String {
        let path = state.withLock { $0.table.path(of: id) }
        guard let name else { return path }
        return path == "/" ? "/" + name : path + "/" + name
    }

    // MARK: Files changed behind the mount's back

    /// The session to notify from now on.
    func attach(_ session: FuseSession) {
        self.session.withLock { $0.session = session }
    }

    /// The file with `qid` changed while the client was reconnecting:
    /// drops the kernel's cached pages and attributes of its node, if the
    /// kernel knows one. Called on the event loop, so the notification is
    /// sent from another queue: the kernel waits for pages locked by reads
    /// in flight, whose answers need the event loop.
    func fileChanged(_ qid: Qid) {
        guard let node = state.withLock({ $0.table.node(withPath: qid.path) }) else { return }
        notifications.async { [self] in
            guard let session = session.withLock({ $0.session }) else { return }
            do {
                try session.notifyInvalInode(ino: node)
                logger.debug("\(describe(node)) changed on the server: cached pages and attributes dropped")
            } catch {
                // ENOENT: the kernel had nothing cached for it.
                logger.debug("\(describe(node)) changed on the server; invalidation: \(error)")
            }
        }
    }

    /// The connection dropped (the client is reconnecting): the server
    /// that answers next may hold other names.
    func connectionLost() {
        state.withLock { $0.table.forgetAllNames() }
    }

    // MARK: Life cycle

    func initialize(connection: FuseConnectionInfo) {
        logger.debug(
            "FUSE session ready",
            metadata: [
                "server": "\(client.server)", "msize": "\(client.msize)", "max_write": "\(connection.maxWrite)",
                "max_read": "\(connection.maxRead)", "want": "\(connection.want)",
            ])
    }

    func destroy() {
        release(timeout: 10)
    }

    /// Clunks every fid the mount holds (the root's too) and waits up to
    /// `timeout` seconds for the server to answer. Later replies to
    /// requests still in flight clunk what they bring. Idempotent; must not
    /// be called on the client's event loop.
    func release(timeout: Double) {
        guard !released.exchange(true, ordering: .acquiringAndReleasing) else { return }
        let fids = state.withLock { $0.table.removeAll() }
        let group = DispatchGroup()
        for fid in fids {
            group.enter()
            clunk(fid) { group.leave() }
        }
        if group.wait(timeout: .now() + timeout) == .timedOut {
            logger.warning("the server did not answer every Tclunk within \(timeout) s", metadata: ["server": "\(client.server)"])
        }
    }
}

/// A session held weakly.
struct SessionReference {
    weak var session: FuseSession?
}

/// Why a request failed: the errno for the kernel and, for the trace, the
/// server's words (or what the bridge found).
struct Failure: Error, Sendable {
    var errno: Int32
    var reason: String
    /// The connection dropped with the request in flight and it was not
    /// resent (`ReconnectError.mayHaveHappened`): the server may have done it.
    var mayHaveHappened = false

    init(_ errno: Int32, _ reason: String) {
        self.errno = errno
        self.reason = reason
    }

    init(_ error: any Error) {
        switch error {
        case let e as NinePError: self.init(e.linuxErrno, "'\(e.ename)'")
        case let e as NinePClientError:
            self.init(NinePErrno.errno(for: e), "\(e)")
            if case .mayHaveHappened = e.reconnectError { mayHaveHappened = true }
        case is CancellationError: self.init(EINTR, "interrupted (flushed)")
        case let e as Failure: self = e
        default: self.init(EIO, "\(error)")
        }
    }

    /// The node's file is no longer what its name leads to, or the node is unknown.
    static let stale = Failure(ESTALE, "the file is no longer where it was")
    /// Every name of the node was removed.
    static let removed = Failure(ENOENT, "the file was removed")
}

/// One FUSE request carried out as a chain of 9P transactions: makes the
/// chain interruptible. When the kernel interrupts the request, it is
/// answered EINTR at once, the transactions in flight (several when
/// pipelined or sent in parallel) are flushed (Tflush) and later ones are
/// not sent. The chain itself runs on until the server answers (each tag
/// stays reserved until its Rflush or its reply, as flush(5) requires,
/// which a stopped or unreachable server may delay for long): its fids are
/// clunked as usual, and its answer to the kernel is dropped; an entry or
/// an open handle it made is undone (`entryNotTaken`, `handleNotTaken`).
/// So Ctrl-C ends a program blocked on a server that does not answer.
///
/// The interrupt handler runs where the operations run (the event loop, or
/// a FUSE worker with `threads=N`); `send` on any thread. The
/// lock is held only to record the transaction and the interrupt.
final class Exchange: Sendable {
    private struct State {
        /// Every transaction sent (cancelling one already answered does nothing).
        var sent: [RequestHandle] = []
        var interrupted = false
        /// Fails the request's wait for work it does not own (see `waitInterruptibly`).
        var waiting: (@Sendable () -> Void)?
    }

    private let client: NinePClient
    private let state = Mutex(State())

    init<Kind>(_ client: NinePClient, _ reply: FuseReply<Kind>) {
        self.client = client
        reply.onInterruptAnsweringAtOnce { [self] in interrupt() }
    }

    func send(_ message: Message, _ completion: @escaping NinePReplyHandler) {
        if state.withLock({ $0.interrupted }) {
            return completion(.failure(CancellationError()))
        }
        let handle = client.send(message, completion: completion)
        let cancelNow = state.withLock { state -> Bool in
            state.sent.append(handle)
            return state.interrupted
        }
        if cancelNow { client.cancel(handle) }
    }

    /// Wraps `done`, the continuation of a wait for something this exchange
    /// did not send and must not cancel (a walk other requests share): if
    /// the request is interrupted first, `done` gets EINTR on `loop` at
    /// once, and the wrapper, called later with the real result, does
    /// nothing. Either way `done` runs exactly once.
    func waitInterruptibly<T: Sendable>(
        on loop: any EventLoop, _ done: @escaping @Sendable (Result<T, Failure>) -> Void
    ) -> @Sendable (Result<T, Failure>) -> Void {
        let once = Once()
        let finish: @Sendable (Result<T, Failure>) -> Void = { result in
            guard once.first() else { return }
            done(result)
        }
        let interruptedAlready = state.withLock { state -> Bool in
            if state.interrupted { return true }
            state.waiting = { loop.execute { finish(.failure(Failure(EINTR, "interrupted while waiting for a walk"))) } }
            return false
        }
        if interruptedAlready { loop.execute { finish(.failure(Failure(EINTR, "interrupted"))) } }
        return { [self] result in
            state.withLock { $0.waiting = nil }
            finish(result)
        }
    }

    private func interrupt() {
        let (handles, waiting) = state.withLock { state -> ([RequestHandle], (@Sendable () -> Void)?) in
            state.interrupted = true
            defer { state.waiting = nil }
            return (state.sent, state.waiting)
        }
        waiting?()
        for handle in handles { client.cancel(handle) }
    }
}

/// True exactly once: for a continuation that two paths may race to call.
private final class Once: Sendable {
    private let taken = Atomic<Bool>(false)

    func first() -> Bool { !taken.exchange(true, ordering: .acquiringAndReleasing) }
}
