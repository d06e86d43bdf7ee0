import NIOCore
import NinePServer
import NinePTesting
import NinePWire
import Synchronization
import Testing

/// Requests sent back to back where each needs the one before: the loop
/// holds a request on a fid that a walk is still creating, or that a create
/// or open is still changing, until that answer is written.
@Suite("Service loop: pipelined requests wait for their fid", .timeLimit(.minutes(2)))
struct PipeliningTests {
    /// Holds every walk until the test answers it; creates and stats answer
    /// at once, the stat with the qid the loop keeps for the fid.
    final class HeldWalks: FileServer {
        let walks = Mutex<[Request]>([])

        func attach(_ r: Request) { r.respond(.rattach(Rattach(qid: Qid(type: .dir, path: 0)))) }
        func walk(_ r: Request) { walks.withLock { $0.append(r) } }
        func create(_ r: Request) { r.respond(.rcreate(Rcreate(qid: Qid(path: 7)))) }
        func read(_ r: Request) { r.respond(error: .botch) }
        func stat(_ r: Request) {
            let qid = r.fid!.qid
            r.respond(.rstat(Rstat(stat: Stat(qid: qid, mode: FileMode(permissions: 0o644), name: "f\(qid.path)"))))
        }

        func takeWalk() -> Request? { walks.withLock { $0.isEmpty ? nil : $0.removeFirst() } }
    }

    /// A session on a fresh `HeldWalks` to which `fcalls` were sent back to
    /// back and read by the loop (a Tstat of the root sent after them was answered).
    func pipelined(_ fcalls: [Fcall]) async throws -> (HeldWalks, InMemoryServerConnection) {
        let fs = HeldWalks()
        let pair = try await session(fs)
        try await pair.client.send(fcalls)
        #expect(try await pair.client.stat(0).statValue?.qid.path == 0)
        return (fs, pair)
    }

    /// Twalk of the root (fid 0) to fid 1, with `names`.
    static func walkRoot(tag: UInt16, _ names: [String] = []) -> Fcall {
        Fcall(tag: Tag(tag), .twalk(Twalk(fid: Fid(0), newfid: Fid(1), wname: names)))
    }

    @Test func cloneCreateAndStatSentTogetherRunInOrder() async throws {
        let (fs, pair) = try await pipelined([
            Self.walkRoot(tag: 1),
            Fcall(tag: Tag(2), .tcreate(Tcreate(fid: Fid(1), name: "new", perm: FileMode(permissions: 0o644), mode: .readWrite))),
            Fcall(tag: Tag(3), .tstat(Tstat(fid: Fid(1)))),
        ])
        defer { Task { await pair.close() } }
        let c = pair.client
        let createAnswered = try await c.hasQueuedReply(tag: Tag(2))
        let statAnswered = try await c.hasQueuedReply(tag: Tag(3))
        #expect(!createAnswered && !statAnswered, "answered before the walk they wait for")
        let walk = try #require(fs.takeWalk())
        walk.respond(.rwalk(Rwalk(wqid: [])))
        #expect(try await c.reply(tag: Tag(1)).message.qids == [])
        guard case .rcreate(let created) = try await c.reply(tag: Tag(2)).message else {
            Issue.record("Tcreate was not answered Rcreate")
            return
        }
        #expect(try await c.reply(tag: Tag(3)).message.statValue?.qid == created.qid)
        let order = try await c.transcript.map(\.tag).filter { [Tag(1), Tag(2), Tag(3)].contains($0) }
        #expect(order == [Tag(1), Tag(2), Tag(3)])
    }

    @Test func aFailedWalkLeavesWhatWaitedWithAnUnknownFid() async throws {
        let (fs, pair) = try await pipelined([Self.walkRoot(tag: 1, ["nope"]), Fcall(tag: Tag(2), .tstat(Tstat(fid: Fid(1))))])
        defer { Task { await pair.close() } }
        let c = pair.client
        try #require(fs.takeWalk()).respond(error: .notFound)
        #expect(try await c.reply(tag: Tag(1)).message.ename == NinePError.notFound.ename)
        #expect(try await c.reply(tag: Tag(2)).message.ename == NinePError.unknownFid.ename)
    }

    @Test func aWaitingRequestIsFlushedAtOnceAndNeverAnswered() async throws {
        let (fs, pair) = try await pipelined([
            Self.walkRoot(tag: 1), Fcall(tag: Tag(2), .tstat(Tstat(fid: Fid(1)))), Fcall(tag: Tag(3), .tclunk(Tclunk(fid: Fid(1)))),
        ])
        defer { Task { await pair.close() } }
        let c = pair.client
        // Its tag stays in use while it waits.
        #expect(try await c.error(of: .tstat(Tstat(fid: Fid(0))), tag: Tag(2)) == NinePError.duplicateTag.ename)
        guard case .rflush = try await c.call(.tflush(Tflush(oldtag: Tag(2))), tag: Tag(4)) else {
            Issue.record("Tflush of a waiting request was not answered Rflush")
            return
        }
        try #require(fs.takeWalk()).respond(.rwalk(Rwalk(wqid: [])))
        #expect(try await c.reply(tag: Tag(1)).message.qids == [])
        guard case .rclunk = try await c.reply(tag: Tag(3)).message else {
            Issue.record("the Tclunk that waited behind the flushed Tstat was not answered")
            return
        }
        #expect(try await c.transcript.filter { $0.tag == Tag(2) }.count == 1)  // only the duplicate-tag error
        #expect(try await c.stat(1).ename == NinePError.unknownFid.ename)
    }
}
