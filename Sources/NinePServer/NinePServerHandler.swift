import Glibc
import Logging
public import NIOCore
import NinePTransport
public import NinePWire
import Synchronization

/// The lib9p service loop (srv.c) for one connection, as a NIO handler
/// placed after `FcallChannelHandler`: it keeps the connection's fid and tag
/// tables, rejects protocol errors itself, hands the rest to a `FileServer`
/// and writes the answers.
///
/// Who calls: everything here runs on the channel's event loop. Answers
/// (`Request.respond`) may come from any thread; they hop to the loop, where
/// the tables are updated and the reply is written and flushed;
/// `FcallChannelHandler` gathers the flushes (one per read batch, or per
/// pass of the loop for answers that arrive later).
///
/// Pipelining: a request naming a fid that a request in flight is creating
/// (Tattach, Tauth, Twalk's newfid) or changing (Tcreate, Topen, a walk in
/// place) waits for that request's answer, then runs as if it had arrived
/// then; later requests naming the fid queue behind it. So a client may
/// send "clone the directory, create in the clone, stat it" back to back,
/// as lib9p's single-threaded loop allows, although the FileServer answers
/// on threads of its own. A waiting request holds its tag; Tflush of it is
/// answered at once and the request dropped.
///
/// Id lifetimes (STYLE rule 8): a tag is in use from its T-message until its
/// reply is written; it is freed just before the write, so a client may reuse
/// it as soon as it sees the reply. A fid is freed by Tclunk and Tremove when
/// they arrive; `destroyFid` runs when no outstanding request names it any
/// more.
///
/// Limits (see `ServerLimits`, `ReplyBudget`, `ConnectionWatch`): a Tread
/// or Twrite is charged to the reply budget when it is taken up and until
/// its reply has been written to the socket. One that does not fit is
/// parked, with whatever follows it (a Tflush excepted), and once a few
/// are parked the channel stops reading (autoRead off) until replies drain:
/// a client that does not read its replies stops being served, and what it
/// sends waits in its own socket.
/// Fids count against the server-wide cap too. A connection idle, or stalled
/// mid-message, past its timeout is closed. Reaching a limit is logged once
/// per connection with the peer's address.
///
/// Deadlocks: the loop holds no lock while it calls the FileServer, and a
/// FileServer may answer synchronously from inside the call (the answer is
/// processed re-entrantly). A FileServer must not block the event loop
/// waiting for an answer that needs the same loop.
public final class NinePServerHandler: ChannelInboundHandler, RemovableChannelHandler {
    public typealias InboundIn = Fcall
    public typealias OutboundOut = Fcall

    /// The number shown in trace lines (`<-3-`) and log metadata.
    public let connectionID: Int

    private let fs: any FileServer
    private let options: ServerOptions
    private var logger: Logger
    private var sink: ConnectionSink?
    private let endPromiseBox: EndPromiseBox

    // Event-loop state.
    private var context: ChannelHandlerContext?
    private var framing: FcallChannelHandler?
    /// The negotiated msize; 0 until a Tversion has succeeded.
    private var msize: UInt32 = 0
    /// The dialect Tversion settled on (9P2000 before it): how frames are
    /// read and written and how errors are worded.
    private var dialect: ProtocolVersion = .ninep2000
    private var fids: [Fid: FidEntry] = [:]

    /// Fids the client holds on this connection now (not counting ones a
    /// Tattach or Twalk in flight may create). Event loop only.
    public var liveFidCount: Int { fids.values.reduce(0) { $0 + ($1.live ? 1 : 0) } }
    private var requests: [Tag: Request] = [:]
    /// Answered Tflushes waiting for the reply of the request they flush,
    /// keyed by that request, in the order they were answered.
    private var heldFlushes: [ObjectIdentifier: [Request]] = [:]
    /// Requests whose answer will be discarded (the session was reset or
    /// ended) but that still hold fids, kept until the FileServer answers.
    private var abandoned: [ObjectIdentifier: Request] = [:]
    private var closed = false
    private var hasEnded = false

    // Limits (event loop).
    /// The peer as logged: `127.0.0.1:40123`, `unix`.
    private var peer = "-"
    /// Reply bytes charged to this connection now.
    private var held = 0
    /// What each taken-up Tread or Twrite was charged, by tag, until its
    /// reply is written (or it is dropped).
    private var charges: [Tag: Int] = [:]
    /// Charges of requests abandoned by a reset, until the FileServer answers.
    private var abandonedCharges: [ObjectIdentifier: Int] = [:]
    /// Requests not taken up for want of reply budget, in arrival order.
    private var parked = CircularBuffer<Fcall>()
    /// The Twrite data among `parked`.
    private var parkedBytes = 0
    /// Reading is off because requests are parked.
    private var readingPaused = false
    /// Taking up parked requests (a guard against re-entry).
    private var resuming = false
    /// Limits already logged for this connection.
    private var loggedLimits: Set<String> = []
    private var watch: ConnectionWatch
    private var watchTimer: Scheduled<Void>?
    private var watchTimerDeadline: NIODeadline?

    private struct FidEntry {
        let fid: ServerFid
        /// False while the Tattach, Tauth or Twalk creating it is outstanding.
        var live: Bool
        /// Tcreate, Topen or walks in place outstanding on it.
        var changing = 0

        /// Requests naming the fid must wait.
        var isBusy: Bool { !live || changing > 0 }
    }

    /// Requests waiting for the fid they name (see "Pipelining"), in
    /// arrival order, and the fid each waiting tag waits for.
    private var waiting: [Fid: [Fcall]] = [:]
    private var waitingTags: [Tag: Fid] = [:]

    private static let nextConnectionID = Atomic<Int>(1)

    /// - Parameters:
    ///   - fs: the file server every request goes to.
    ///   - options: limits, msize cap, tracing.
    public init(fileServer fs: any FileServer, options: ServerOptions = ServerOptions()) {
        self.fs = fs
        self.options = options
        self.connectionID = Self.nextConnectionID.wrappingAdd(1, ordering: .relaxed).oldValue
        var logger = options.logger
        logger[metadataKey: "9p.connection"] = "\(connectionID)"
        self.logger = logger
        self.endPromiseBox = EndPromiseBox()
        self.watch = ConnectionWatch(idleTimeout: options.idleTimeout, stallTimeout: options.stallTimeout, now: .now())
    }

    /// Succeeds once the connection has ended, every fid has been destroyed
    /// and `FileServer.end()` has returned. Available once the handler is in
    /// a pipeline.
    public var endFuture: EventLoopFuture<Void> {
        endPromiseBox.promise!.futureResult
    }

    // MARK: Channel events

    public func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        self.sink = ConnectionSink(eventLoop: context.eventLoop, handler: self)
        self.endPromiseBox.promise = context.eventLoop.makePromise(of: Void.self)
        self.framing = try? context.pipeline.syncOperations.handler(type: FcallChannelHandler.self)
        framing?.setMaxMessageSize(options.maxMessageSize)
        peer = Self.describe(context.channel.remoteAddress)
        logger[metadataKey: "9p.peer"] = "\(peer)"
        if context.channel.isActive { updateWatch() }
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        shutDown()
        self.context = nil
    }

    public func channelActive(context: ChannelHandlerContext) {
        peer = Self.describe(context.channel.remoteAddress)
        logger[metadataKey: "9p.peer"] = "\(peer)"
        logger.debug("9P connection \(connectionID) open")
        updateWatch()
        context.fireChannelActive()
    }

    public func channelInactive(context: ChannelHandlerContext) {
        logger.debug("9P connection \(connectionID) closed")
        shutDown()
        context.fireChannelInactive()
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let fcall = unwrapInboundIn(data)
        if options.trace { trace("<-\(connectionID)- \(fcall)") }
        guard !parked.isEmpty else {
            if !take(fcall) { park(fcall) }
            return
        }
        // Behind parked requests, only a Tflush goes ahead (a client can always cancel).
        guard case .tflush(let t) = fcall.message else { return park(fcall) }
        if let i = parked.firstIndex(where: { $0.tag == t.oldtag }) {
            if case .twrite(let w) = parked.remove(at: i).message { parkedBytes -= w.data.readableBytes }
            return send(fcall.tag, .rflush(Rflush()))
        }
        _ = take(fcall)
    }

    public func channelReadComplete(context: ChannelHandlerContext) {
        // While we do not read (parked, or the client does not read its
        // replies) a half-received message is our doing, not a stall.
        let partial = (framing?.bufferedBytes ?? 0) > 0 && !readingPaused && context.channel.isWritable
        watch.received(partial: partial, now: .now())
        updateWatch()
        context.fireChannelReadComplete()
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .some(.inputClosed) = event as? ChannelEvent {
            // EOF from the client ends the session (stdio and half-closable sockets).
            context.close(promise: nil)
        }
        context.fireUserInboundEventTriggered(event)
    }

    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let wire = error as? WireError {
            if let tag = wire.tag, wire.frameSize != nil {
                logger.notice("9P connection \(connectionID): skipped \(wire)")
                reject(tag, NinePError(wire.description, errno: EPROTO))
            } else {
                logger.warning("9P connection \(connectionID): closing: \(wire)")
                context.close(promise: nil)
            }
        } else {
            logger.debug("9P connection \(connectionID): closing after error: \(error)")
            context.close(promise: nil)
        }
    }

    // MARK: Requests

    /// - Parameter resumed: the request waited for a fid (see "Pipelining")
    ///   and is now taken up, ahead of those still waiting.
    private func receive(_ fcall: Fcall, resumed: Bool) {
        let tag = fcall.tag
        let message = fcall.message
        if case .tversion(let t) = message { return version(tag, t) }
        guard msize != 0 else { return reject(tag, .versionRequired) }
        guard requests[tag] == nil, waitingTags[tag] == nil else {
            // The reply carries the tag of the request in flight: it must not release that one's charge.
            return send(tag, .rerror(Rerror(ename: NinePError.duplicateTag.ename)), releasing: false)
        }
        if requests.count + waitingTags.count >= options.maxOutstandingRequests {
            if case .tflush = message {} else {
                noteLimit("too many outstanding requests (limit \(options.maxOutstandingRequests))")
                return reject(tag, .tooManyRequests)
            }
        }
        if let busy = Self.fidNamed(by: message), fids[busy]?.isBusy == true || (!resumed && waiting[busy] != nil) {
            waiting[busy, default: []].append(fcall)
            waitingTags[tag] = busy
            return
        }

        if case .reject(let e) = RequestCheck(dialect: dialect, msize: msize).check(message, fid: { lookup($0).map(FidFacts.init) }) {
            return reject(tag, e)
        }
        // Checked: every fid named below (but the new ones) is live.
        switch message {
        case .tauth(let t):
            switch allocate(t.afid, uname: t.uname) {
            case .failure(let e): reject(tag, e)
            case .success(let afid): fs.auth(start(tag, message, fid: afid))
            }

        case .tattach(let t):
            let user: String
            switch options.attachPolicy.decide(identity: context.flatMap { .of($0.channel) }, uname: t.uname, nUname: t.nUname) {
            case .success(let decided): user = decided
            case .failure(let refusal):
                logger.notice("\(refusal.ename) (connection from \(context?.remoteAddress.map { "\($0)" } ?? "-"))")
                return reject(tag, refusal)
            }
            let afid = t.afid == .nofid ? nil : lookup(t.afid)
            switch allocate(t.fid, uname: user) {
            case .failure(let e): reject(tag, e)
            case .success(let fid): fs.attach(start(tag, message, fid: fid, afid: afid))
            }

        case .tflush(let t):
            if let busy = waitingTags.removeValue(forKey: t.oldtag) {
                // Never started: dropped, and nothing will answer it.
                waiting[busy]?.removeAll { $0.tag == t.oldtag }
                if waiting[busy]?.isEmpty == true { waiting[busy] = nil }
                if let c = charges.removeValue(forKey: t.oldtag) { releaseReply(c) }
                return send(tag, .rflush(Rflush()))
            }
            // flush(5): if the old tag is not outstanding (or is this very
            // Tflush), answer at once.
            guard let old = requests[t.oldtag] else { return send(tag, .rflush(Rflush())) }
            fs.flush(start(tag, message, fid: nil, oldRequest: old))

        case .twalk(let t):
            let fid = lookup(t.fid)!
            var newfid = fid
            if t.newfid != t.fid {
                switch allocate(t.newfid, uname: fid.uname) {
                case .failure(let e): return reject(tag, e)
                case .success(let n): newfid = n
                }
            } else {
                fids[t.fid]?.changing += 1
            }
            fs.walk(start(tag, message, fid: fid, newfid: newfid))

        case .topen(let t):
            fids[t.fid]?.changing += 1
            fs.open(start(tag, message, fid: lookup(t.fid)!))

        case .tcreate(let t):
            fids[t.fid]?.changing += 1
            fs.create(start(tag, message, fid: lookup(t.fid)!))

        case .tread(let t):
            fs.read(start(tag, message, fid: lookup(t.fid)!))

        case .twrite(let t):
            fs.write(start(tag, message, fid: lookup(t.fid)!))

        case .tclunk(let t):
            let fid = lookup(t.fid)!
            fids.removeValue(forKey: t.fid)
            if case .writing = fid.xattr {
                // protocol.md: "The actual setxattr operation happens when the fid is clunked."
                let r = start(tag, message, fid: fid)
                release(fid)
                fs.commitXattr(r)
            } else if let mode = fid.openMode, mode.removeOnClose, !fid.qid.type.contains(.auth) {
                let r = start(tag, .tremove(Tremove(fid: t.fid)), fid: fid, purpose: .removeOnClunk)
                release(fid)
                fs.remove(r)
            } else {
                release(fid)
                send(tag, .rclunk(Rclunk()))
            }

        case .tremove(let t):
            // remove(5): the fid is clunked whether or not the remove succeeds.
            let fid = lookup(t.fid)!
            fids.removeValue(forKey: t.fid)
            let r = start(tag, message, fid: fid)
            release(fid)
            fs.remove(r)

        case .tstat(let t):
            fs.stat(start(tag, message, fid: lookup(t.fid)!))

        case .twstat(let t):
            let fid = lookup(t.fid)!
            if let e = Self.checkWstat(t.stat, of: fid) { return reject(tag, e) }
            fs.wstat(start(tag, message, fid: fid))

        // 9P2000.L: the framing refuses these until .L is negotiated.
        case .tstatfs(let t):
            fs.statfs(start(tag, message, fid: lookup(t.fid)!))
        case .tlopen(let t):
            fids[t.fid]?.changing += 1
            fs.lopen(start(tag, message, fid: lookup(t.fid)!))
        case .tlcreate(let t):
            fids[t.fid]?.changing += 1
            fs.lcreate(start(tag, message, fid: lookup(t.fid)!))
        case .tsymlink(let t):
            fs.symlink(start(tag, message, fid: lookup(t.fid)!))
        case .tmknod(let t):
            fs.mknod(start(tag, message, fid: lookup(t.dfid)!))
        case .trename(let t):
            fs.rename(start(tag, message, fid: lookup(t.fid)!, newfid: lookup(t.dfid)!))
        case .treadlink(let t):
            fs.readlink(start(tag, message, fid: lookup(t.fid)!))
        case .tgetattr(let t):
            fs.getattr(start(tag, message, fid: lookup(t.fid)!))
        case .tsetattr(let t):
            fs.setattr(start(tag, message, fid: lookup(t.fid)!))
        case .txattrwalk(let t):
            let fid = lookup(t.fid)!
            switch allocate(t.newfid, uname: fid.uname) {
            case .failure(let e): reject(tag, e)
            case .success(let newfid): fs.xattrwalk(start(tag, message, fid: fid, newfid: newfid))
            }
        case .txattrcreate(let t):
            fids[t.fid]?.changing += 1
            fs.xattrcreate(start(tag, message, fid: lookup(t.fid)!))
        case .treaddir(let t):
            fs.readdir(start(tag, message, fid: lookup(t.fid)!))
        case .tfsync(let t):
            fs.fsync(start(tag, message, fid: lookup(t.fid)!))
        case .tlock(let t):
            fs.lock(start(tag, message, fid: lookup(t.fid)!))
        case .tgetlock(let t):
            fs.getlock(start(tag, message, fid: lookup(t.fid)!))
        case .tlink(let t):
            fs.link(start(tag, message, fid: lookup(t.dfid)!, newfid: lookup(t.fid)!))
        case .tmkdir(let t):
            fs.mkdir(start(tag, message, fid: lookup(t.dfid)!))
        case .trenameat(let t):
            fs.renameat(start(tag, message, fid: lookup(t.olddirfid)!, newfid: lookup(t.newdirfid)!))
        case .tunlinkat(let t):
            fs.unlinkat(start(tag, message, fid: lookup(t.dirfd)!))

        case .tversion, .rversion, .rauth, .rattach, .rerror, .rflush, .rwalk, .ropen, .rcreate,
            .rread, .rwrite, .rclunk, .rremove, .rstat, .rwstat, .rlerror, .rstatfs, .rlopen, .rlcreate,
            .rsymlink, .rmknod, .rrename, .rreadlink, .rgetattr, .rsetattr, .rxattrwalk, .rxattrcreate,
            .rreaddir, .rfsync, .rlock, .rgetlock, .rlink, .rmkdir, .rrenameat, .runlinkat:
            reject(tag, .unknownMessage)
        }
    }

    /// The fid a request must find live and settled: `Message.fid`, except
    /// for the fid a request creates (Tattach's fid; Tauth names only its
    /// new afid, Twalk's newfid is not `fid`), where it is Tattach's afid.
    private static func fidNamed(by message: Message) -> Fid? {
        if case .tattach(let t) = message { return t.afid == .nofid ? nil : t.afid }
        return message.fid
    }

    /// Whether `r` counted in its fid's `changing`.
    private static func changesFid(_ r: Request) -> Bool {
        switch r.ifcall {
        case .topen, .tcreate, .tlopen, .tlcreate, .txattrcreate: return true
        case .twalk(let t): return t.newfid == t.fid
        case .tversion, .tauth, .tattach, .tflush, .tread, .twrite, .tclunk, .tremove, .tstat, .twstat,
            .tstatfs, .tsymlink, .tmknod, .trename, .treadlink, .tgetattr, .tsetattr, .txattrwalk, .treaddir,
            .tfsync, .tlock, .tgetlock, .tlink, .tmkdir, .trenameat, .tunlinkat:
            return false
        case .rversion, .rauth, .rattach, .rerror, .rflush, .rwalk, .ropen, .rcreate, .rread, .rwrite, .rclunk,
            .rremove, .rstat, .rwstat, .rlerror, .rstatfs, .rlopen, .rlcreate, .rsymlink, .rmknod, .rrename,
            .rreadlink, .rgetattr, .rsetattr, .rxattrwalk, .rxattrcreate, .rreaddir, .rfsync, .rlock, .rgetlock,
            .rlink, .rmkdir, .rrenameat, .runlinkat:
            return false
        }
    }

    /// Takes up the requests waiting for fid `number`, in order, until one
    /// of them makes it busy again.
    private func resumeWaiting(for number: Fid) {
        while let next = waiting[number]?.first, fids[number]?.isBusy != true {
            waiting[number]!.removeFirst()
            if waiting[number]!.isEmpty { waiting[number] = nil }
            waitingTags[next.tag] = nil
            receive(next, resumed: true)
        }
    }

    /// lib9p srv.c swstat: the fields no wstat may change.
    private static func checkWstat(_ d: Stat, of fid: ServerFid) -> NinePError? {
        let keep = Stat.dontTouch
        if d.type != keep.type { return .wstatType }
        if d.dev != keep.dev { return .wstatDev }
        if d.qid != keep.qid { return .wstatQid }
        if !d.muid.isEmpty { return .wstatMuid }
        if d.changesMode && d.mode.isDirectory != fid.qid.isDirectory { return .wstatDirBit }
        return nil
    }

    /// version(5): negotiates msize and version; a successful Tversion
    /// aborts all outstanding I/O and clunks every fid.
    private func version(_ tag: Tag, _ t: Tversion) {
        let offered = min(t.msize, options.maxMessageSize)
        let supported = options.dialects.map { fs.dialects.intersection($0) } ?? fs.dialects
        guard let version = ProtocolVersion.negotiate(clientVersion: t.version, supported: supported) else {
            return send(tag, .rversion(Rversion(msize: offered, version: ProtocolVersion.unknown)))
        }
        // Below this not even an Rwalk of 16 qids fits, and msize − IOHDRSZ must stay positive.
        guard offered >= max(options.minMessageSize, 256) else { return reject(tag, .messageSizeTooSmall) }
        resetSession()
        msize = offered
        dialect = version
        framing?.setMaxMessageSize(offered)
        framing?.setProtocolVersion(version)
        send(tag, .rversion(Rversion(msize: offered, version: version.rawValue)))
    }

    /// Makes the Request for a validated message, records its tag and takes
    /// a reference on every fid it names.
    private func start(
        _ tag: Tag, _ message: Message, fid: ServerFid?, newfid: ServerFid? = nil, afid: ServerFid? = nil,
        oldRequest: Request? = nil, purpose: Request.Purpose = .client
    ) -> Request {
        let r = Request(
            tag: tag, ifcall: message, fid: fid, newfid: newfid, afid: afid, oldRequest: oldRequest,
            messageSize: msize, version: dialect, purpose: purpose, sink: sink!)
        retainFids(of: r)
        if purpose == .implicitRemove {
            abandoned[ObjectIdentifier(r)] = r
        } else {
            requests[tag] = r
        }
        return r
    }

    /// Answers `tag` with `error` (worded for the dialect by `send`).
    private func reject(_ tag: Tag, _ error: NinePError) {
        send(tag, .rerror(Rerror(ename: error.ename, errno: error.errno.map { UInt32(bitPattern: $0) } ?? 0)))
    }

    // MARK: Answers

    /// An answer from the FileServer, on the event loop.
    fileprivate func complete(_ r: Request, _ answer: Message) {
        let id = ObjectIdentifier(r)
        if abandoned.removeValue(forKey: id) != nil {
            if let c = abandonedCharges.removeValue(forKey: id) { releaseReply(c) }
            if case .rerror(let e) = answer, r.purpose == .implicitRemove {
                logger.debug("9P connection \(connectionID): remove on close of fid \(r.fid?.fid ?? .nofid): \(e.ename)")
            }
            releaseFids(of: r)
            fs.destroyRequest(r)
            return finishEnding()
        }
        guard requests[r.tag] === r else {
            logger.warning("9P connection \(connectionID): answer for unknown request \(r.ifcall.type) tag \(r.tag) ignored")
            releaseFids(of: r)
            return fs.destroyRequest(r)
        }
        let reply = postprocess(r, answer)
        if case .tflush(let t) = r.ifcall, let old = r.oldRequest, requests[t.oldtag] === old {
            // 9p(3): the Rflush waits until the old request's reply is sent.
            heldFlushes[ObjectIdentifier(old), default: []].append(r)
            return
        }
        finish(r, reply)
    }

    /// Frees the tag, writes the reply, then the Rflushes that waited for it.
    private func finish(_ r: Request, _ reply: Message) {
        requests.removeValue(forKey: r.tag)
        let held = heldFlushes.removeValue(forKey: ObjectIdentifier(r))
        if Self.changesFid(r), let fid = r.fid, fids[fid.fid]?.fid === fid {
            fids[fid.fid]!.changing -= 1
        }
        releaseFids(of: r)
        send(r.tag, reply)
        if let held {
            for flush in held where requests[flush.tag] === flush {
                finish(flush, .rflush(Rflush()))
            }
        }
        fs.destroyRequest(r)
        // After the reply: what waited for these fids answers after it.
        for number in [r.fid?.fid, r.newfid?.fid] {
            if let number, waiting[number] != nil { resumeWaiting(for: number) }
        }
        updateWatch()
    }

    /// lib9p's r* functions: checks the answer fits the request, updates the
    /// fid table from it, and returns what goes on the wire.
    private func postprocess(_ r: Request, _ answer: Message) -> Message {
        var answer = answer
        if case .rlerror(let e) = answer {
            // A FileServer may answer in .L's own words; inside the loop an error is an Rerror.
            answer = .rerror(Rerror(ename: NinePErrno.text(for: Int32(bitPattern: e.ecode)), errno: e.ecode))
        }
        let expected = MessageType(rawValue: r.ifcall.type.rawValue + 1)
        if case .rerror = answer {} else if answer.type != expected {
            logger.warning("9P connection \(connectionID): FileServer answered \(r.ifcall.type) with \(answer.type)")
            answer = .rerror(Rerror(ename: NinePError.botch.ename))
        }
        if r.purpose == .removeOnClunk {
            if case .rerror(let e) = answer {
                logger.debug("9P connection \(connectionID): remove on close of fid \(r.fid?.fid ?? .nofid): \(e.ename)")
            }
            return .rclunk(Rclunk())
        }

        // Past the check above, the answer is the request's own R-message or an Rerror.
        switch r.ifcall {
        case .tauth:
            guard let afid = r.fid else { break }
            if case .rauth(let a) = answer {
                afid.qid = a.aqid
                afid.openMode = .readWrite  // an auth fid is read and written without Topen
                markLive(afid)
            } else {
                discard(afid)
            }
        case .tattach:
            guard let fid = r.fid else { break }
            if case .rattach(let a) = answer {
                fid.qid = a.qid
                markLive(fid)
            } else {
                discard(fid)
            }

        case .tflush:
            if case .rerror(let e) = answer {
                logger.warning("9P connection \(connectionID): FileServer answered Tflush with an error (\(e.ename)); sent Rflush")
                answer = .rflush(Rflush())
            }

        case .twalk(let t):
            guard let fid = r.fid, let newfid = r.newfid else { break }
            var walked: [Qid]?
            if case .rwalk(let w) = answer {
                if w.wqid.count > t.wname.count {
                    logger.warning("9P connection \(connectionID): FileServer answered \(w.wqid.count) qids for \(t.wname.count) names")
                    answer = .rerror(Rerror(ename: NinePError.botch.ename))
                } else {
                    walked = w.wqid
                }
            }
            if let walked, walked.count == t.wname.count {
                newfid.qid = walked.last ?? fid.qid
                if newfid !== fid { markLive(newfid) }
            } else {
                // walk(5): newfid is affected only if the whole walk succeeds.
                if newfid !== fid { discard(newfid) }
                if let walked, walked.isEmpty { answer = .rerror(Rerror(ename: NinePError.notFound.ename)) }
            }

        case .topen(let t):
            if case .ropen(let o) = answer { r.fid?.opened(t.mode, qid: o.qid) }
        case .tcreate(let t):
            if case .rcreate(let c) = answer { r.fid?.opened(t.mode, qid: c.qid) }
        case .tlopen(let t):
            if case .rlopen(let o) = answer { r.fid?.opened(OpenMode(linux: t.flags), qid: o.qid, flags: t.flags) }
        case .tlcreate(let t):
            if case .rlcreate(let c) = answer { r.fid?.opened(OpenMode(linux: t.flags), qid: c.qid, flags: t.flags) }
        case .txattrwalk(let t):
            guard let fid = r.fid, let newfid = r.newfid else { break }
            if case .rxattrwalk(let x) = answer {
                newfid.qid = fid.qid
                newfid.xattr = .reading(name: t.name, size: x.size)
                newfid.openMode = .read
                markLive(newfid)
            } else {
                discard(newfid)
            }
        case .txattrcreate(let t):
            if case .rxattrcreate = answer {
                r.fid?.xattr = .writing(name: t.name, size: t.attrSize, flags: t.flags)
                r.fid?.openMode = .write
            }

        case .tread(let t):
            guard case .rread(let d) = answer else { break }
            if d.data.readableBytes > Int(t.count) {
                logger.warning("9P connection \(connectionID): FileServer answered \(d.data.readableBytes) bytes to a read of \(t.count)")
                answer = .rerror(Rerror(ename: NinePError.botch.ename))
            } else if let fid = r.fid, fid.qid.isDirectory, fid.xattr == nil {
                fid.advanceDirectory(to: t.offset + UInt64(d.data.readableBytes))
            }
        case .treaddir(let t):
            if case .rreaddir(let d) = answer, d.data.readableBytes > Int(t.count) {
                logger.warning("9P connection \(connectionID): FileServer answered \(d.data.readableBytes) bytes to a readdir of \(t.count)")
                answer = .rerror(Rerror(ename: NinePError.botch.ename))
            }
        case .twrite(let t):
            if case .rwrite(let w) = answer, w.count > UInt32(t.data.readableBytes) {
                logger.warning("9P connection \(connectionID): FileServer wrote \(w.count) bytes of \(t.data.readableBytes)")
                answer = .rerror(Rerror(ename: NinePError.botch.ename))
            }
        case .tstat:
            // Rstat is size[4] type[1] tag[2] n[2] stat[n].
            if case .rstat(let s) = answer, s.stat.wireSize(for: dialect) + 9 > Int(msize) {
                answer = .rerror(Rerror(ename: "stat of \(s.stat.name) does not fit in msize \(msize)"))
            }
        case .tversion, .tclunk, .tremove, .twstat, .tstatfs, .tsymlink, .tmknod, .trename, .treadlink,
            .tgetattr, .tsetattr, .tfsync, .tlock, .tgetlock, .tlink, .tmkdir, .trenameat, .tunlinkat:
            // Nothing the loop keeps changes (Tclunk's and Tremove's fid is already gone).
            break
        case .rversion, .rauth, .rattach, .rerror, .rflush, .rwalk, .ropen, .rcreate, .rread, .rwrite, .rclunk,
            .rremove, .rstat, .rwstat, .rlerror, .rstatfs, .rlopen, .rlcreate, .rsymlink, .rmknod, .rrename,
            .rreadlink, .rgetattr, .rsetattr, .rxattrwalk, .rxattrcreate, .rreaddir, .rfsync, .rlock, .rgetlock,
            .rlink, .rmkdir, .rrenameat, .runlinkat:
            // Never a request the loop starts.
            break
        }
        return answer
    }

    // MARK: Fid table

    private func allocate(_ number: Fid, uname: String) -> Result<ServerFid, NinePError> {
        if number == .nofid { return .failure(.nofidReserved) }
        if fids[number] != nil { return .failure(.duplicateFid) }
        if fids.count >= options.maxFids {
            noteLimit("too many fids (limit \(options.maxFids))")
            return .failure(.tooManyFids)
        }
        guard options.limits.takeFid() else {
            noteLimit("too many fids on this server (limit \(options.limits.maxFids))")
            return .failure(.tooManyFidsOnServer)
        }
        let fid = ServerFid(fid: number, uname: uname)
        fids[number] = FidEntry(fid: fid, live: false)
        fid.loopReferences += 1
        return .success(fid)
    }

    /// A fid the client may use: attached or walked to, not being created.
    private func lookup(_ number: Fid) -> ServerFid? {
        guard let entry = fids[number], entry.live else { return nil }
        return entry.fid
    }

    private func markLive(_ fid: ServerFid) {
        if fids[fid.fid]?.fid === fid { fids[fid.fid]!.live = true }
    }

    /// Drops a fid that was being created (failed attach, auth or walk).
    private func discard(_ fid: ServerFid) {
        guard fids[fid.fid]?.fid === fid else { return }
        fids.removeValue(forKey: fid.fid)
        release(fid)
    }

    private func retainFids(of r: Request) {
        if let f = r.fid { f.loopReferences += 1 }
        if let n = r.newfid, n !== r.fid { n.loopReferences += 1 }
        if let a = r.afid { a.loopReferences += 1 }
    }

    private func releaseFids(of r: Request) {
        if let f = r.fid { release(f) }
        if let n = r.newfid, n !== r.fid { release(n) }
        if let a = r.afid { release(a) }
    }

    private func release(_ fid: ServerFid) {
        fid.loopReferences -= 1
        if fid.loopReferences == 0 {
            options.limits.releaseFid()
            fs.destroyFid(fid)
        }
    }

    // MARK: Session end

    /// Aborts every outstanding request (cancelling it; its answer will be
    /// discarded) and clunks every fid, removing those opened ORCLOSE.
    private func resetSession() {
        let outstanding = Array(requests.values)
        requests.removeAll()
        heldFlushes.removeAll()
        waiting.removeAll()
        waitingTags.removeAll()
        for r in outstanding {
            abandoned[ObjectIdentifier(r)] = r
            if let c = charges.removeValue(forKey: r.tag) { abandonedCharges[ObjectIdentifier(r)] = c }
        }
        // What was charged and never taken up (requests waiting for a fid).
        let unstarted = charges.values.reduce(0, +)
        charges.removeAll()
        if unstarted > 0 { releaseReply(unstarted) }
        let entries = Array(fids.values)
        fids.removeAll()
        for r in outstanding { r.cancel() }
        for entry in entries {
            let fid = entry.fid
            if entry.live, let mode = fid.openMode, mode.removeOnClose, !fid.qid.type.contains(.auth) {
                let r = start(.notag, .tremove(Tremove(fid: fid.fid)), fid: fid, purpose: .implicitRemove)
                release(fid)
                fs.remove(r)
            } else {
                release(fid)
            }
        }
    }

    private func shutDown() {
        guard !closed else { return }
        closed = true
        parked.removeAll()
        parkedBytes = 0
        watchTimer?.cancel()
        watchTimer = nil
        options.limits.forgetWaiter(connectionID)
        resetSession()
        finishEnding()
    }

    /// Calls `end()` once the connection is closed and nothing is outstanding.
    private func finishEnding() {
        guard closed, !hasEnded, abandoned.isEmpty else { return }
        hasEnded = true
        fs.end()
        sink?.handler = nil  // breaks handler <-> sink; late answers are dropped
        endPromiseBox.promise?.succeed(())
    }

    // MARK: Output

    /// Writes a reply. With `releasing`, the charge of request `tag` (if
    /// any) is given back once the reply has been written to the socket.
    private func send(_ tag: Tag, _ message: Message, releasing: Bool = true) {
        let charge = releasing ? charges.removeValue(forKey: tag) ?? 0 : 0
        guard let context, !closed else {
            if charge > 0 { releaseReply(charge) }
            return
        }
        let fcall = Fcall(tag: tag, worded(fitted(message)))
        if options.trace { trace("-\(connectionID)-> \(fcall)") }
        if charge > 0 {
            let written = context.eventLoop.makePromise(of: Void.self)
            written.futureResult.assumeIsolated().whenComplete { [self] _ in releaseReply(charge) }
            context.write(wrapOutboundOut(fcall), promise: written)
        } else {
            context.write(wrapOutboundOut(fcall), promise: nil)
        }
        context.flush()
    }

    /// Errors travel inside the loop as Rerror (with an errno when one is
    /// known, else 0); on the wire they are the dialect's: Rerror under
    /// 9P2000, Rerror with the errno (from the text when none was given)
    /// under 9P2000.u, Rlerror under 9P2000.L.
    private func worded(_ message: Message) -> Message {
        guard case .rerror(let e) = message else { return message }
        return NinePError(e.ename, errno: e.errno == 0 ? nil : Int32(bitPattern: e.errno)).reply(in: dialect)
    }

    /// An Rerror whose text would not fit in msize is cut short.
    private func fitted(_ message: Message) -> Message {
        guard case .rerror(let e) = message else { return message }
        // size[4] type[1] tag[2] ename's count[2], and 9P2000.u's errno[4].
        let header = dialect == .ninep2000u ? 13 : 9
        let limit = Int(msize == 0 ? options.minMessageSize : msize) - header
        guard e.ename.utf8.count > limit else { return message }
        var text = ""
        var used = 0
        for scalar in e.ename.unicodeScalars {
            let n = String(scalar).utf8.count
            if used + n > limit { break }
            used += n
            text.unicodeScalars.append(scalar)
        }
        return .rerror(Rerror(ename: text, errno: e.errno == 0 ? UInt32(bitPattern: NinePErrno.errno(for: e.ename)) : e.errno))
    }

    // MARK: Limits

    /// The reply bytes a request is charged while it is outstanding: what a
    /// Tread may bring back, what a Twrite carries.
    static func replyCost(of message: Message) -> Int {
        switch message {
        case .tread(let t): Int(t.count) + Int(NineP.ioHeaderSize)
        case .treaddir(let t): Int(t.count) + Int(NineP.ioHeaderSize)
        case .twrite(let t): t.data.readableBytes + Int(NineP.ioHeaderSize)
        case .tversion, .tauth, .tattach, .tflush, .twalk, .topen, .tcreate, .tclunk, .tremove, .tstat, .twstat,
            .tstatfs, .tlopen, .tlcreate, .tsymlink, .tmknod, .trename, .treadlink, .tgetattr, .tsetattr,
            .txattrwalk, .txattrcreate, .tfsync, .tlock, .tgetlock, .tlink, .tmkdir, .trenameat, .tunlinkat:
            0
        case .rversion, .rauth, .rattach, .rerror, .rflush, .rwalk, .ropen, .rcreate, .rread, .rwrite, .rclunk,
            .rremove, .rstat, .rwstat, .rlerror, .rstatfs, .rlopen, .rlcreate, .rsymlink, .rmknod, .rrename,
            .rreadlink, .rgetattr, .rsetattr, .rxattrwalk, .rxattrcreate, .rreaddir, .rfsync, .rlock, .rgetlock,
            .rlink, .rmkdir, .rrenameat, .runlinkat:
            0
        }
    }

    /// Charges `fcall` to the reply budget and takes it up; false (and
    /// nothing done) if the budget cannot hold it now.
    private func take(_ fcall: Fcall) -> Bool {
        let cost = Self.replyCost(of: fcall.message)
        let tag = fcall.tag
        if cost > 0, msize != 0, requests[tag] == nil, waitingTags[tag] == nil, charges[tag] == nil {
            let sink = self.sink
            let decision = options.limits.chargeReply(cost, held: held, connection: connectionID) {
                sink?.wakeParked()
            }
            switch decision {
            case .granted:
                held += cost
                charges[tag] = cost
            case .overConnectionLimit:
                logger.debug("9P connection \(connectionID) from \(peer): \(held) bytes of replies unwritten; not reading")
                return false
            case .overServerLimit:
                noteLimit("server reply budget full; not reading until replies drain")
                return false
            }
        }
        receive(fcall, resumed: false)
        return true
    }

    /// Parked requests beyond which reading stops. Reading goes on a little
    /// so that a Tflush behind parked requests still arrives (one of a read
    /// that the FileServer holds, say, whose charge nothing else releases).
    static let parkedBeforePause = 64

    /// Keeps `fcall` (and what follows) until the budget has room; stops
    /// reading once a few requests or one msize of data wait.
    private func park(_ fcall: Fcall) {
        parked.append(fcall)
        if case .twrite(let t) = fcall.message { parkedBytes += t.data.readableBytes }
        guard !readingPaused, parked.count >= Self.parkedBeforePause || parkedBytes >= Int(max(msize, 8192)),
              let context else { return }
        readingPaused = true
        try? context.channel.syncOptions?.setOption(.autoRead, value: false)
        updateWatch()
    }

    /// Takes up parked requests while the budget allows, then reads again.
    fileprivate func resumeParked() {
        guard !resuming, !closed else { return }
        resuming = true
        defer { resuming = false }
        while let next = parked.popFirst() {
            if !take(next) {
                parked.prepend(next)
                return
            }
            if case .twrite(let t) = next.message { parkedBytes -= t.data.readableBytes }
        }
        if readingPaused, let context {
            readingPaused = false
            try? context.channel.syncOptions?.setOption(.autoRead, value: true)
        }
    }

    /// Gives back `bytes` of this connection's charge.
    private func releaseReply(_ bytes: Int) {
        held -= bytes
        options.limits.releaseReply(bytes)
        if !parked.isEmpty { resumeParked() }
        updateWatch()
    }

    /// Logs a limit reached, once per connection and kind.
    private func noteLimit(_ what: String) {
        guard loggedLimits.insert(what).inserted else { return }
        logger.notice("9P connection \(connectionID) from \(peer): \(what)")
    }

    /// Something is going on: requests, fids, replies unwritten.
    private var isBusy: Bool {
        !requests.isEmpty || !waitingTags.isEmpty || !fids.isEmpty || held > 0 || !parked.isEmpty
    }

    /// Feeds the watch and makes sure a check is scheduled for its deadline.
    private func updateWatch() {
        guard let context, !closed else { return }
        watch.busy(isBusy, now: .now())
        guard let deadline = watch.deadline else { return }
        if let at = watchTimerDeadline, at <= deadline { return }
        watchTimer?.cancel()
        watchTimerDeadline = deadline
        watchTimer = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [self] in
            watchTimer = nil
            watchTimerDeadline = nil
            checkWatch()
        }
    }

    /// The watch's deadline has come: close, or look again later.
    private func checkWatch() {
        guard let context, !closed else { return }
        let now = NIODeadline.now()
        watch.busy(isBusy, now: now)
        if readingPaused || !context.channel.isWritable { watch.received(partial: false, now: now) }
        switch watch.check(now: now) {
        case .wait:
            updateWatch()
        case .close(let reason):
            logger.notice("9P connection \(connectionID) from \(peer): closing: \(reason)")
            context.close(promise: nil)
        }
    }

    /// A remote address as logged.
    static func describe(_ address: SocketAddress?) -> String {
        switch address {
        case .v4, .v6: "\(address!.ipAddress ?? "?"):\(address!.port ?? 0)"
        case .unixDomainSocket: "unix"
        case nil: "-"
        }
    }

    private func trace(_ line: @autoclosure () -> String) {
        logger.log(level: options.traceLevel, "\(line())")
    }
}

@available(*, unavailable)
extension NinePServerHandler: Sendable {}

/// Carries answers from any thread to the handler on its event loop.
///
/// Answers from other threads are queued, and one task on the loop takes
/// every answer queued by the time it runs: a burst of answers from worker
/// threads costs one task (and one flush), not one each. Answers keep the
/// order in which `deliver` was called.
private final class ConnectionSink: RequestSink, @unchecked Sendable {
    let eventLoop: any EventLoop
    /// Touched only on `eventLoop`; nil once the connection has ended.
    var handler: NinePServerHandler?
    /// Answers waiting for the drain task; a drain task is queued exactly
    /// when this is not empty. A leaf lock: nothing else is taken under it.
    private let queued = Mutex<[(Request, Message)]>([])
    /// The array the next drain swaps in, keeping its capacity (loop only).
    private var spare: [(Request, Message)] = []

    init(eventLoop: any EventLoop, handler: NinePServerHandler) {
        self.eventLoop = eventLoop
        self.handler = handler
    }

    func deliver(_ reply: Message, for request: Request) {
        if eventLoop.inEventLoop {
            handler?.complete(request, reply)
            return
        }
        let first = queued.withLock { queue in
            queue.append((request, reply))
            return queue.count == 1
        }
        if first { eventLoop.execute { self.drain() } }
    }

    /// On the loop: completes every queued answer, in order.
    private func drain() {
        var batch = spare
        queued.withLock { swap(&$0, &batch) }
        for (request, reply) in batch { handler?.complete(request, reply) }
        batch.removeAll(keepingCapacity: true)
        spare = batch
    }

    /// The server's reply budget has room again: try the parked requests.
    func wakeParked() {
        eventLoop.execute { self.handler?.resumeParked() }
    }

    func dropped(tag: Tag, type: MessageType) {
        // The loop keeps every request until it is answered, so this only
        // happens for a request the FileServer still held when its
        // connection was torn down and forgotten; nobody waits for it.
    }
}

/// The end promise, made on the event loop in handlerAdded.
private final class EndPromiseBox: @unchecked Sendable {
    /// Written once in handlerAdded, on the event loop, before anyone reads it.
    var promise: EventLoopPromise<Void>?
}
