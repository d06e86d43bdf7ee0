import Foundation
import NinePServer
import NinePWire

/// A tiny FileServer whose one file, `stall`, never answers a read: the
/// read waits until a Tflush cancels it, and is then answered "interrupted".
/// It records the reads that arrived, so a test can wait for one before
/// interrupting the reader.
final class StallingFileServer: FileServer, @unchecked Sendable {
    static let root = Qid(type: .dir, version: 0, path: 1)
    static let file = Qid(type: .file, version: 0, path: 2)

    /// Reads of `stall` that arrived, and those a Tflush cancelled.
    private let reads = Watched((started: 0, cancelled: 0))

    var cancelledReads: Int { reads.read(\.cancelled) }

    /// Waits until more than `count` reads of `stall` have arrived, at most `seconds`.
    func waitForReads(moreThan count: Int, seconds: Double = 10) -> Bool {
        reads.wait(seconds: seconds) { $0.started > count }
    }

    func attach(_ r: Request) {
        r.respond(.rattach(Rattach(qid: Self.root)))
    }

    func walk1(_ fid: ServerFid, name: String) throws(NinePError) -> Qid {
        if fid.qid == Self.root && name == "stall" { return Self.file }
        if name == ".." { return Self.root }
        throw .notFound
    }

    func stat(_ r: Request) {
        guard let fid = r.fid else { return r.respond(error: .unknownFid) }
        r.respond(.rstat(Rstat(stat: Self.entry(fid.qid))))
    }

    static func entry(_ qid: Qid) -> Stat {
        qid == root
            ? Stat(qid: root, mode: FileMode(permissions: 0o755, flags: .dir), name: "/", uid: "root", gid: "root", muid: "root")
            : Stat(qid: file, mode: FileMode(permissions: 0o644), length: 1 << 20, name: "stall", uid: "root", gid: "root", muid: "root")
    }

    func read(_ r: Request) {
        guard let fid = r.fid else { return r.respond(error: .unknownFid) }
        if fid.qid.isDirectory {
            return dirRead(r) { n in n == 0 ? Self.entry(Self.file) : nil }
        }
        reads.update { $0.started += 1 }
        r.onCancel { [self] in
            reads.update { $0.cancelled += 1 }
            r.respond(error: .interrupted)
        }
    }
}
