import Foundation
public import NinePServer
public import NinePWire

/// A tiny FileServer whose one file, `stall`, never answers a read: the
/// read waits until a Tflush cancels it, and is then answered "interrupted".
/// It counts the reads that arrived and those cancelled, so a test can wait
/// for a read before interrupting the reader, then check the flush arrived.
///
/// Who calls: the server's event loop (the FileServer requirements) and the
/// test's threads (the counters); a condition guards the counters.
public final class StallingFileServer: FileServer, @unchecked Sendable {
    static let root = Qid(type: .dir, version: 0, path: 1)
    static let file = Qid(type: .file, version: 0, path: 2)

    private let condition = NSCondition()
    private var started = 0
    private var cancelled = 0

    public init() {}

    /// Reads of `stall` that have arrived.
    public var startedReads: Int { counted { started } }

    /// Reads of `stall` that a Tflush cancelled.
    public var cancelledReads: Int { counted { cancelled } }

    /// Waits until more than `count` reads of `stall` have arrived, at most
    /// `seconds`; returns whether they did. Blocks the calling thread.
    public func waitForReads(moreThan count: Int, seconds: Double = 10) -> Bool {
        let deadline = Date(timeIntervalSinceNow: seconds)
        condition.lock()
        defer { condition.unlock() }
        while started <= count {
            if !condition.wait(until: deadline) { return started > count }
        }
        return true
    }

    private func counted(_ value: () -> Int) -> Int {
        condition.lock()
        defer { condition.unlock() }
        return value()
    }

    private func count(_ change: () -> Void) {
        condition.lock()
        change()
        condition.broadcast()
        condition.unlock()
    }

    public func attach(_ r: Request) {
        r.respond(.rattach(Rattach(qid: Self.root)))
    }

    public func walk1(_ fid: ServerFid, name: String) throws(NinePError) -> Qid {
        if fid.qid == Self.root && name == "stall" { return Self.file }
        if name == ".." { return Self.root }
        throw .notFound
    }

    public func stat(_ r: Request) {
        guard let fid = r.fid else { return r.respond(error: .unknownFid) }
        r.respond(.rstat(Rstat(stat: Self.entry(fid.qid))))
    }

    static func entry(_ qid: Qid) -> Stat {
        qid == root
            ? Stat(qid: root, mode: FileMode(permissions: 0o755, flags: .dir), name: "/", uid: "root", gid: "root", muid: "root")
            : Stat(qid: file, mode: FileMode(permissions: 0o644), length: 1 << 20, name: "stall", uid: "root", gid: "root", muid: "root")
    }

    public func read(_ r: Request) {
        guard let fid = r.fid else { return r.respond(error: .unknownFid) }
        if fid.qid.isDirectory {
            return dirRead(r) { n in n == 0 ? Self.entry(Self.file) : nil }
        }
        count { started += 1 }
        r.onCancel { [self] in
            count { cancelled += 1 }
            r.respond(error: .interrupted)
        }
    }
}
