import Glibc
import NIOCore
import NinePServer
import NinePWire
import Testing

/// The loop's protocol checks as a pure function, in tables: no sockets.
@Suite("RequestCheck: the loop's checks for three dialects")
struct RequestCheckTests {
    static let dir = FidFacts(qid: Qid(type: .dir, path: 1))
    static let openDir = FidFacts(qid: Qid(type: .dir, path: 1), openMode: .read)
    static let file = FidFacts(qid: Qid(path: 2))
    static let openFile = FidFacts(qid: Qid(path: 2), openMode: .readWrite)
    static let readOnlyFile = FidFacts(qid: Qid(path: 2), openMode: .read)
    static let xattrRead = FidFacts(qid: Qid(path: 2), openMode: .read, xattr: .reading(name: "user.a", size: 4))
    static let xattrWrite = FidFacts(qid: Qid(path: 2), openMode: .write, xattr: .writing(name: "user.a", size: 4, flags: 0))

    /// Fid 1 is an unopened directory, 2 an unopened file, 3 an open
    /// directory, 4 a file open read-write, 5 an xattr fid for reading,
    /// 6 one for writing, 7 a file open read-only; 9 is unknown.
    static func facts(_ n: Fid) -> FidFacts? {
        [Fid(1): dir, Fid(2): file, Fid(3): openDir, Fid(4): openFile, Fid(5): xattrRead, Fid(6): xattrWrite,
         Fid(7): readOnlyFile][n]
    }

    static func check(_ m: Message, _ dialect: ProtocolVersion = .ninep2000L) -> RequestCheck.Verdict {
        RequestCheck(dialect: dialect, msize: 8192).check(m, fid: facts)
    }

    static func data(_ n: Int) -> ByteBuffer { ByteBuffer(repeating: 0x61, count: n) }

    struct Row: CustomStringConvertible, Sendable {
        let message: Message
        let expected: RequestCheck.Verdict
        var dialect: ProtocolVersion = .ninep2000L
        var description: String { "\(message.type) under \(dialect)" }
    }

    static let rejections: [Row] = [
        // Unknown fids, whatever the message.
        Row(message: .tgetattr(Tgetattr(fid: Fid(9), requestMask: .basic)), expected: .reject(.unknownFid)),
        Row(message: .tlopen(Tlopen(fid: Fid(9), flags: .readOnly)), expected: .reject(.unknownFid)),
        Row(message: .trenameat(Trenameat(olddirfid: Fid(1), oldname: "a", newdirfid: Fid(9), newname: "b")),
            expected: .reject(.unknownFid)),
        Row(message: .tlink(Tlink(dfid: Fid(9), fid: Fid(2), name: "l")), expected: .reject(.unknownFid)),
        // Tlopen of an open fid; a directory opened for writing.
        Row(message: .tlopen(Tlopen(fid: Fid(4), flags: .readOnly)), expected: .reject(.fidOpen)),
        Row(message: .tlopen(Tlopen(fid: Fid(1), flags: .readWrite)),
            expected: .reject(NinePError(NinePError.isDirectory.ename, errno: EISDIR))),
        // Treaddir of a file, of an unopened directory; with a count beyond msize.
        Row(message: .treaddir(Treaddir(fid: Fid(2), offset: 0, count: 100)), expected: .reject(RequestCheck.notDirectory)),
        Row(message: .treaddir(Treaddir(fid: Fid(1), offset: 0, count: 100)), expected: .reject(.fidNotOpen)),
        Row(message: .treaddir(Treaddir(fid: Fid(3), offset: 0, count: 9000)), expected: .reject(.badCount)),
        // Tread of a directory under .L (Treaddir lists it).
        Row(message: .tread(Tread(fid: Fid(3), offset: 0, count: 100)),
            expected: .reject(NinePError(NinePError.isDirectory.ename, errno: EISDIR))),
        // Xattr fids: only read (the reading one), write (the writing one, within its size) and clunk.
        Row(message: .tgetattr(Tgetattr(fid: Fid(5), requestMask: .basic)), expected: .reject(RequestCheck.badFid)),
        Row(message: .twalk(Twalk(fid: Fid(5), newfid: Fid(8), wname: [])), expected: .reject(.walkOpenFid)),
        Row(message: .tlopen(Tlopen(fid: Fid(6), flags: .readOnly)), expected: .reject(RequestCheck.badFid)),
        Row(message: .tread(Tread(fid: Fid(6), offset: 0, count: 4)), expected: .reject(.openForWrite)),
        Row(message: .twrite(Twrite(fid: Fid(5), offset: 0, data: data(1))), expected: .reject(.openForRead)),
        Row(message: .twrite(Twrite(fid: Fid(6), offset: 2, data: data(3))), expected: .reject(RequestCheck.beyondXattrSize)),
        Row(message: .tremove(Tremove(fid: Fid(6))), expected: .reject(RequestCheck.badFid)),
        Row(message: .txattrwalk(Txattrwalk(fid: Fid(5), newfid: Fid(8), name: "")), expected: .reject(RequestCheck.badFid)),
        Row(message: .txattrcreate(Txattrcreate(fid: Fid(2), name: "user.a", attrSize: 1 << 20)),
            expected: .reject(RequestCheck.xattrTooLarge)),
        Row(message: .txattrcreate(Txattrcreate(fid: Fid(4), name: "user.a", attrSize: 1)), expected: .reject(.fidOpen)),
        // Names made in directories; the directories themselves.
        Row(message: .tmkdir(Tmkdir(dfid: Fid(2), name: "d", mode: 0o755, gid: 0)), expected: .reject(RequestCheck.notDirectory)),
        Row(message: .tmkdir(Tmkdir(dfid: Fid(1), name: "a/b", mode: 0o755, gid: 0)),
            expected: .reject(NinePError(NinePError.badName.ename, errno: EINVAL))),
        Row(message: .tsymlink(Tsymlink(fid: Fid(1), name: "..", symtgt: "x", gid: 0)),
            expected: .reject(NinePError(NinePError.exists.ename, errno: EEXIST))),
        Row(message: .tlcreate(Tlcreate(fid: Fid(1), name: "", flags: .create, mode: 0o644, gid: 0)),
            expected: .reject(NinePError(NinePError.badName.ename, errno: EINVAL))),
        Row(message: .tlcreate(Tlcreate(fid: Fid(3), name: "f", flags: .create, mode: 0o644, gid: 0)), expected: .reject(.fidOpen)),
        Row(message: .tunlinkat(Tunlinkat(dirfd: Fid(1), name: "f", flags: 1)), expected: .reject(RequestCheck.badFlags)),
        Row(message: .trename(Trename(fid: Fid(2), dfid: Fid(2), name: "x")), expected: .reject(RequestCheck.notDirectory)),
        Row(message: .tlink(Tlink(dfid: Fid(1), fid: Fid(1), name: "l")),
            expected: .reject(NinePError(NinePError.isDirectory.ename, errno: EPERM))),
        // Locks and fsync want an open file.
        Row(message: .tlock(Tlock(fid: Fid(2), type: .writeLock, start: 0, length: 0, procId: 1, clientId: "c")),
            expected: .reject(RequestCheck.badFid)),
        Row(message: .tfsync(Tfsync(fid: Fid(5))), expected: .reject(RequestCheck.badFid)),
        // 9P2000 keeps its own rules.
        Row(message: .tread(Tread(fid: Fid(3), offset: 7, count: 100)), expected: .reject(.badOffset), dialect: .ninep2000),
        Row(message: .topen(Topen(fid: Fid(1), mode: .write)), expected: .reject(.isDirectory), dialect: .ninep2000u),
        Row(message: .tcreate(Tcreate(fid: Fid(2), name: "f", perm: [], mode: .read)),
            expected: .reject(.createNonDirectory), dialect: .ninep2000),
    ]

    static let acceptances: [Row] = [
        Row(message: .tlopen(Tlopen(fid: Fid(1), flags: [.directory])), expected: .accept),
        Row(message: .tlopen(Tlopen(fid: Fid(2), flags: [.readWrite, .truncate])), expected: .accept),
        Row(message: .treaddir(Treaddir(fid: Fid(3), offset: 12345, count: 100)), expected: .accept),
        Row(message: .tread(Tread(fid: Fid(5), offset: 0, count: 4)), expected: .accept),
        Row(message: .twrite(Twrite(fid: Fid(6), offset: 1, data: data(3))), expected: .accept),
        Row(message: .tclunk(Tclunk(fid: Fid(6))), expected: .accept),
        Row(message: .txattrwalk(Txattrwalk(fid: Fid(1), newfid: Fid(8), name: "")), expected: .accept),
        Row(message: .txattrcreate(Txattrcreate(fid: Fid(2), name: "user.a", attrSize: 65536)), expected: .accept),
        Row(message: .trenameat(Trenameat(olddirfid: Fid(1), oldname: "a", newdirfid: Fid(3), newname: "b")), expected: .accept),
        Row(message: .tunlinkat(Tunlinkat(dirfd: Fid(1), name: "d", flags: Tunlinkat.removeDirectory)), expected: .accept),
        Row(message: .tlink(Tlink(dfid: Fid(1), fid: Fid(2), name: "l")), expected: .accept),
        Row(message: .tgetlock(Tgetlock(fid: Fid(4), type: .readLock, start: 0, length: 0, procId: 1, clientId: "c")),
            expected: .accept),
        Row(message: .tstatfs(Tstatfs(fid: Fid(1))), expected: .accept),
        Row(message: .tread(Tread(fid: Fid(3), offset: 0, count: 100)), expected: .accept, dialect: .ninep2000),
    ]

    @Test("rejected before the FileServer", arguments: rejections)
    func rejected(_ row: Row) {
        #expect(Self.check(row.message, row.dialect) == row.expected)
    }

    @Test("handed to the FileServer", arguments: acceptances)
    func accepted(_ row: Row) {
        #expect(Self.check(row.message, row.dialect) == row.expected)
    }
}
