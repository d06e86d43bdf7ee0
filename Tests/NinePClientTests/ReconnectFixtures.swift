import Logging
import NIOCore
import NinePWire
@testable import NinePClient

// Test doubles for the reconnect state machine: a mock clock, a scripted
// random source, a small in-memory 9P file server that can crash and come
// back, and a harness that carries out the machine's actions against it.

/// A point on the mock clock: an offset from an arbitrary origin.
struct MockInstant: InstantProtocol, Sendable, CustomStringConvertible {
    var offset: Duration
    static let origin = MockInstant(offset: .zero)
    func advanced(by duration: Duration) -> MockInstant { MockInstant(offset: offset + duration) }
    func duration(to other: MockInstant) -> Duration { other.offset - offset }
    static func < (a: MockInstant, b: MockInstant) -> Bool { a.offset < b.offset }
    var description: String { "t+\(offset)" }
}

/// Returns the given unit draws in turn (cycling), encoded as the top 53
/// bits of `next()`, the way the machine decodes them.
struct ScriptedRandom: RandomNumberGenerator, Sendable {
    var units: [Double]
    var index = 0
    init(_ units: [Double]) { self.units = units.isEmpty ? [0.5] : units }
    mutating func next() -> UInt64 {
        let unit = units[index % units.count]
        index += 1
        let top = min(UInt64(max(unit, 0) * 0x1p53), (1 << 53) - 1)
        return top << 11
    }
}

/// A tiny 9P2000 file server over a dictionary of paths, enough to answer
/// every message the machine or a scripted client sends. Requests queue in
/// `inbox` until processed, so a crash can lose them (never happened) or
/// process them and lose only the replies (happened, answer lost).
struct ModelServer {
    struct Node {
        var qid: Qid
        var mode: FileMode
        var data: [UInt8] = []
    }

    struct FidState {
        var path: String
        var open: OpenMode?
    }

    var files: [String: Node] = [:]
    var fids: [Fid: FidState] = [:]
    var nextQidPath: UInt64 = 1
    var maxMessageSize: UInt32 = 8192
    /// If set, Tversion is answered with this version string.
    var versionAnswer: String?
    /// aname → error for Tattach.
    var attachErrors: [String: String] = [:]
    /// path → error for Topen.
    var openErrors: [String: String] = [:]
    /// Paths some other client has open (for DMEXCL files).
    var heldElsewhere: Set<String> = []
    var inbox: [Fcall] = []
    var outbox: [Fcall] = []
    /// Every request processed, in order.
    var processed: [Fcall] = []

    init() {
        files[""] = Node(qid: Qid(type: .dir, path: 0), mode: FileMode(permissions: 0o777, flags: .dir))
    }

    /// A tree with dir/, dir/file ("0123456789"), log (append-only), excl
    /// (exclusive-use), and a 40-deep directory chain d0/d1/…/d39.
    static func standard() -> ModelServer {
        var s = ModelServer()
        s.add("dir", mode: FileMode(permissions: 0o777, flags: .dir))
        s.add("dir/file", data: Array("0123456789".utf8))
        s.add("log", mode: FileMode(permissions: 0o666, flags: .append))
        s.add("excl", mode: FileMode(permissions: 0o666, flags: .exclusive))
        var path = ""
        for i in 0..<40 {
            path += (path.isEmpty ? "" : "/") + "d\(i)"
            s.add(path, mode: FileMode(permissions: 0o777, flags: .dir))
        }
        s.add(path + "/deep", data: Array("deep".utf8))
        return s
    }

    mutating func add(_ path: String, mode: FileMode = FileMode(permissions: 0o666), data: [UInt8] = []) {
        files[path] = Node(qid: Qid(type: mode.qidType, path: nextQidPath), mode: mode, data: data)
        nextQidPath += 1
    }

    /// Gives `path` a new identity, as if deleted and re-created.
    mutating func replace(_ path: String) {
        files[path]!.qid = Qid(type: files[path]!.qid.type, path: nextQidPath)
        nextQidPath += 1
    }

    /// Changes `path`'s contents behind the client's back.
    mutating func touch(_ path: String) {
        files[path]!.qid.version += 1
        files[path]!.data += Array("!".utf8)
    }

    func qid(_ path: String) -> Qid? { files[path]?.qid }

    // MARK: Connection

    mutating func receive(_ call: Fcall) { inbox.append(call) }

    /// Processes what is queued and returns the oldest undelivered reply.
    mutating func takeReply() -> Fcall? {
        processAll()
        return outbox.isEmpty ? nil : outbox.removeFirst()
    }

    /// Processes queued requests up to and including `tag`'s, then hands out
    /// that reply (earlier replies stay queued).
    mutating func takeReply(to tag: Tag) -> Fcall? {
        while !inbox.isEmpty && !outbox.contains(where: { $0.tag == tag }) {
            outbox.append(process(inbox.removeFirst()))
        }
        guard let index = outbox.firstIndex(where: { $0.tag == tag }) else { return nil }
        return outbox.remove(at: index)
    }

    mutating func processAll() {
        while !inbox.isEmpty { outbox.append(process(inbox.removeFirst())) }
    }

    /// The server dies and restarts: with `processQueued`, what reached it was
    /// carried out first; either way every reply is lost and every fid forgotten
    /// (a restart forgets ORCLOSE too). The tree survives.
    mutating func crash(processQueued: Bool) {
        if processQueued { processAll() }
        inbox.removeAll()
        outbox.removeAll()
        fids.removeAll()
    }

    // MARK: 9P

    private func error(_ tag: Tag, _ text: String) -> Fcall { Fcall(tag: tag, .rerror(Rerror(ename: text))) }

    private func child(_ parent: String, _ name: String) -> String {
        if name == ".." {
            guard let slash = parent.lastIndex(of: "/") else { return "" }
            return String(parent[..<slash])
        }
        return parent.isEmpty ? name : parent + "/" + name
    }

    private func lastName(_ path: String) -> String {
        path.split(separator: "/").last.map(String.init) ?? "/"
    }

    mutating func process(_ call: Fcall) -> Fcall {
        processed.append(call)
        let tag = call.tag
        switch call.message {
        case .tversion(let t):
            fids.removeAll()
            let version = versionAnswer ?? (t.version == "9P2000" ? "9P2000" : "unknown")
            return Fcall(tag: tag, .rversion(Rversion(msize: min(t.msize, maxMessageSize), version: version)))
        case .tauth:
            return error(tag, NinePError.authNotRequired.ename)
        case .tattach(let t):
            if let e = attachErrors[t.aname] { return error(tag, e) }
            guard fids[t.fid] == nil else { return error(tag, NinePError.duplicateFid.ename) }
            fids[t.fid] = FidState(path: "")
            return Fcall(tag: tag, .rattach(Rattach(qid: files[""]!.qid)))
        case .twalk(let t):
            guard let from = fids[t.fid] else { return error(tag, NinePError.unknownFid.ename) }
            guard from.open == nil else { return error(tag, NinePError.fidOpen.ename) }
            if t.newfid != t.fid && fids[t.newfid] != nil { return error(tag, NinePError.duplicateFid.ename) }
            var path = from.path
            var qids: [Qid] = []
            for name in t.wname {
                let next = child(path, name)
                guard files[path]?.mode.isDirectory == true, let node = files[next] else { break }
                path = next
                qids.append(node.qid)
            }
            if qids.isEmpty && !t.wname.isEmpty { return error(tag, NinePError.notFound.ename) }
            if qids.count == t.wname.count { fids[t.newfid] = FidState(path: path) }
            return Fcall(tag: tag, .rwalk(Rwalk(wqid: qids)))
        case .topen(let t):
            guard let fid = fids[t.fid], var node = files[fid.path] else { return error(tag, NinePError.unknownFid.ename) }
            if let e = openErrors[fid.path] { return error(tag, e) }
            if node.mode.contains(.exclusive)
                && (heldElsewhere.contains(fid.path) || fids.values.contains { $0.path == fid.path && $0.open != nil }) {
                return error(tag, NinePError.inUse.ename)
            }
            if t.mode.truncate {
                node.data = []
                node.qid.version += 1
                files[fid.path] = node
            }
            fids[t.fid]!.open = t.mode
            return Fcall(tag: tag, .ropen(Ropen(qid: node.qid)))
        case .tcreate(let t):
            guard let fid = fids[t.fid], files[fid.path]?.mode.isDirectory == true else { return error(tag, NinePError.createNonDirectory.ename) }
            let path = child(fid.path, t.name)
            guard files[path] == nil else { return error(tag, NinePError.exists.ename) }
            add(path, mode: t.perm)
            fids[t.fid] = FidState(path: path, open: t.mode)
            return Fcall(tag: tag, .rcreate(Rcreate(qid: files[path]!.qid)))
        case .tread(let t):
            guard let fid = fids[t.fid], let mode = fid.open, let node = files[fid.path] else { return error(tag, NinePError.fidNotOpen.ename) }
            guard mode.allowsRead else { return error(tag, NinePError.openForWrite.ename) }
            let start = min(Int(t.offset), node.data.count)
            let end = min(start + Int(t.count), node.data.count)
            return Fcall(tag: tag, .rread(Rread(data: ByteBuffer(bytes: node.data[start..<end]))))
        case .twrite(let t):
            guard let fid = fids[t.fid], let mode = fid.open, var node = files[fid.path] else { return error(tag, NinePError.fidNotOpen.ename) }
            guard mode.allowsWrite else { return error(tag, NinePError.openForRead.ename) }
            let bytes = Array(t.data.readableBytesView)
            if node.mode.contains(.append) {
                node.data += bytes
            } else {
                let offset = Int(t.offset)
                if node.data.count < offset + bytes.count { node.data += Array(repeating: 0, count: offset + bytes.count - node.data.count) }
                node.data.replaceSubrange(offset..<offset + bytes.count, with: bytes)
            }
            node.qid.version += 1
            files[fid.path] = node
            return Fcall(tag: tag, .rwrite(Rwrite(count: UInt32(bytes.count))))
        case .tclunk(let t):
            guard let fid = fids.removeValue(forKey: t.fid) else { return error(tag, NinePError.unknownFid.ename) }
            if fid.open?.removeOnClose == true { files[fid.path] = nil }
            return Fcall(tag: tag, .rclunk(Rclunk()))
        case .tremove(let t):
            guard let fid = fids.removeValue(forKey: t.fid) else { return error(tag, NinePError.unknownFid.ename) }
            guard files.removeValue(forKey: fid.path) != nil else { return error(tag, NinePError.doesNotExist.ename) }
            return Fcall(tag: tag, .rremove(Rremove()))
        case .tstat(let t):
            guard let fid = fids[t.fid], let node = files[fid.path] else { return error(tag, NinePError.unknownFid.ename) }
            return Fcall(tag: tag, .rstat(Rstat(stat: Stat(qid: node.qid, mode: node.mode, length: UInt64(node.data.count), name: lastName(fid.path)))))
        case .twstat(let t):
            guard let fid = fids[t.fid], var node = files[fid.path] else { return error(tag, NinePError.unknownFid.ename) }
            if t.stat.changesMode { node.mode = FileMode(permissions: t.stat.mode.permissions, flags: FileMode(rawValue: node.mode.rawValue & ~0o777)) }
            files[fid.path] = node
            if t.stat.changesName {
                let old = fid.path
                let parent = old.contains("/") ? String(old[..<old.lastIndex(of: "/")!]) : ""
                let new = child(parent, t.stat.name)
                guard files[new] == nil else { return error(tag, NinePError.exists.ename) }
                for (path, n) in files where path == old || path.hasPrefix(old + "/") {
                    files[path] = nil
                    files[new + path.dropFirst(old.count)] = n
                }
                for (id, f) in fids where f.path == old || f.path.hasPrefix(old + "/") {
                    fids[id]!.path = new + f.path.dropFirst(old.count)
                }
            }
            return Fcall(tag: tag, .rwstat(Rwstat()))
        case .tflush:
            return Fcall(tag: tag, .rflush(Rflush()))
        default:
            return error(tag, NinePError.botch.ename)
        }
    }
}

/// What the client got for one request.
enum ClientOutcome: Equatable, CustomStringConvertible {
    case reply(Message)
    case failed(ReconnectError)

    var isError: Bool {
        switch self {
        case .reply(.rerror): true
        case .reply: false
        case .failed: true
        }
    }

    var description: String {
        switch self {
        case .reply(let m): "reply \(m)"
        case .failed(let e): "failed: \(e)"
        }
    }
}

/// Drives a machine against a `ModelServer` with a mock clock: every action
/// the machine returns is carried out here the way the real executor would.
struct ReconnectHarness {
    var machine: ReconnectStateMachine<MockInstant>
    var server: ModelServer
    var now = MockInstant.origin
    /// Armed timers and when they fire.
    var timers: [ReconnectTimer: MockInstant] = [:]
    /// Every action, in order.
    var actions: [ReconnectAction] = []
    /// What each client tag got, in the order answered.
    var answers: [(tag: Tag, outcome: ClientOutcome)] = []
    var dials = 0
    var connectionOpen = true
    var nextTag: UInt16 = 1

    init(policy: ReconnectPolicy = ReconnectPolicy(server: "tcp!fs!564"), server: ModelServer = .standard(), random: [Double] = [0.5]) {
        machine = ReconnectStateMachine(policy: policy, random: ScriptedRandom(random))
        self.server = server
    }

    @discardableResult
    mutating func handle(_ event: ReconnectEvent) -> [ReconnectAction] {
        let result = machine.handle(event, now: now)
        actions += result
        for action in result {
            switch action {
            case .send(let call), .replay(let call):
                precondition(connectionOpen, "machine sent \(call) with no connection")
                server.receive(call)
            case .deliver(let reply): answers.append((reply.tag, .reply(reply.message)))
            case .fail(let tag, let error): answers.append((tag, .failed(error)))
            case .scheduleTimer(let timer, let after): timers[timer] = now.advanced(by: after)
            case .cancelTimer(let timer): timers[timer] = nil
            case .dial: dials += 1
            case .closeConnection: connectionOpen = false
            default: break
            }
        }
        return result
    }

    /// Answers everything the server has, feeding replies back until quiet.
    mutating func pump() {
        while connectionOpen, let reply = server.takeReply() {
            handle(.replyReceived(reply))
        }
    }

    mutating func submit(_ message: Message, tag: Tag? = nil) -> Tag {
        let tag = tag ?? allocateTag()
        handle(.requestSubmitted(Fcall(tag: tag, message)))
        return tag
    }

    mutating func allocateTag() -> Tag {
        defer { nextTag += 1 }
        return Tag(nextTag)
    }

    /// Submits, lets the server answer, returns what the client got.
    mutating func request(_ message: Message) -> ClientOutcome? {
        let tag = submit(message)
        pump()
        return outcome(tag)
    }

    func outcome(_ tag: Tag) -> ClientOutcome? {
        answers.last(where: { $0.tag == tag })?.outcome
    }

    func answerCount(_ tag: Tag) -> Int { answers.filter { $0.tag == tag }.count }

    /// Version, attach fid 0 as glenda, and walk/open the given fids:
    /// [fid: (path, mode)].
    mutating func establish(msize: UInt32 = 8192, open: [(Fid, [String], OpenMode?)] = []) {
        _ = request(.tversion(Tversion(msize: msize, version: "9P2000")))
        _ = request(.tattach(Tattach(fid: Fid(0), uname: "glenda", aname: "")))
        for (fid, path, mode) in open {
            var at = 0
            var source = Fid(0)
            repeat {
                let chunk = Array(path[at..<min(at + 16, path.count)])
                _ = request(.twalk(Twalk(fid: source, newfid: fid, wname: chunk)))
                source = fid
                at += chunk.count
            } while at < path.count
            if let mode { _ = request(.topen(Topen(fid: fid, mode: mode))) }
        }
    }

    /// Fires the armed timer of this kind, moving the clock to it.
    mutating func fire(_ timer: ReconnectTimer) {
        guard let at = timers.removeValue(forKey: timer) else { return }
        if now < at { now = at }
        handle(.timerFired(timer))
    }

    /// The server dies; the machine hears the connection drop.
    mutating func crash(processQueued: Bool = false, reason: DisconnectReason = .endOfFile) {
        server.crash(processQueued: processQueued)
        handle(.connectionLost(reason))
    }

    /// Completes the pending dial successfully and runs recovery to the end.
    mutating func reconnect() {
        connectionOpen = true
        handle(.dialSucceeded)
        pump()
    }

    var sent: [Fcall] {
        actions.compactMap { if case .send(let c) = $0 { c } else { nil } }
    }

    var replayed: [Fcall] {
        actions.compactMap { if case .replay(let c) = $0 { c } else { nil } }
    }

    var deadFids: [Fid] {
        actions.compactMap { if case .markFidDead(let fid, _) = $0 { fid } else { nil } }
    }

    func logs(_ level: Logger.Level) -> [String] {
        actions.compactMap { if case .log(level, let text) = $0 { text } else { nil } }
    }

    mutating func clearRecord() {
        actions.removeAll()
        answers.removeAll()
    }
}
