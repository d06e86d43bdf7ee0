import NIOCore
import NinePWire
import Testing
@testable import NinePClient

/// What the client's policy code decides for 9P2000.L messages: which are
/// replayed after a reconnect, which fids the registry learns of, and that
/// Rlerror is an error.
@Suite("9P2000.L in the client's policy")
struct DotLPolicyTests {
    let rootQid = Qid(type: .dir, path: 1)
    let dirQid = Qid(type: .dir, path: 2)
    let fileQid = Qid(type: .file, version: 3, path: 3)

    /// fid 0: the root; fid 1: "dir"; fid 2: "dir/file".
    func registry() -> FidRegistry {
        var r = FidRegistry()
        r.recordVersion(msize: 8192, version: "9P2000.L")
        r.recordAttach(fid: Fid(0), uname: "glenda", aname: "main", qid: rootQid)
        r.recordWalk(fid: Fid(0), newfid: Fid(1), names: ["dir"], qids: [dirQid])
        r.recordWalk(fid: Fid(0), newfid: Fid(2), names: ["dir", "file"], qids: [dirQid, fileQid])
        return r
    }

    static let replayable: [Message] = [
        .tgetattr(Tgetattr(fid: Fid(2), requestMask: .all)),
        .treaddir(Treaddir(fid: Fid(1), offset: 99, count: 4096)),
        .treadlink(Treadlink(fid: Fid(2))),
        .tstatfs(Tstatfs(fid: Fid(0))),
        .txattrwalk(Txattrwalk(fid: Fid(2), newfid: Fid(5), name: "user.x")),
        .tgetlock(Tgetlock(fid: Fid(2), type: .writeLock, start: 0, length: 0, procId: 1, clientId: "h")),
        .tlopen(Tlopen(fid: Fid(2), flags: .readWrite)),
        .tsetattr(Tsetattr(fid: Fid(2), valid: .size, size: 0)),
        .tfsync(Tfsync(fid: Fid(2))),
        .tread(Tread(fid: Fid(2), offset: 4, count: 4)),
        .twrite(Twrite(fid: Fid(2), offset: 4, data: ByteBuffer(string: "x"))),
    ]

    static let notReplayable: [(Message, String)] = [
        (.tlcreate(Tlcreate(fid: Fid(1), name: "new", flags: [.create, .writeOnly], mode: 0o644, gid: 0)), "create of 'dir/new'"),
        (.tunlinkat(Tunlinkat(dirfd: Fid(1), name: "file", flags: 0)), "unlink of 'dir/file'"),
        (.tmkdir(Tmkdir(dfid: Fid(1), name: "sub", mode: 0o755, gid: 0)), "mkdir of 'dir/sub'"),
        (.tsymlink(Tsymlink(fid: Fid(1), name: "ln", symtgt: "file", gid: 0)), "symlink of 'dir/ln'"),
        (.tmknod(Tmknod(dfid: Fid(1), name: "fifo", mode: 0o10644, gid: 0)), "mknod of 'dir/fifo'"),
        (.tlink(Tlink(dfid: Fid(0), fid: Fid(2), name: "hard")), "link of 'hard' to 'dir/file'"),
        (.trename(Trename(fid: Fid(2), dfid: Fid(0), name: "moved")), "rename of 'dir/file' to 'moved'"),
        (.trenameat(Trenameat(olddirfid: Fid(1), oldname: "file", newdirfid: Fid(0), newname: "f")), "rename of 'dir/file' to 'f'"),
        (.tlock(Tlock(fid: Fid(2), type: .writeLock, start: 0, length: 0, procId: 1, clientId: "h")), "lock of 'dir/file'"),
        (.txattrcreate(Txattrcreate(fid: Fid(2), name: "user.x", attrSize: 1)), "set of attribute 'user.x' of 'dir/file'"),
    ]

    @Test func readsOfStateAndWritesAtAnOffsetAreReplayed() {
        let r = registry()
        for message in Self.replayable {
            #expect(InFlightTreatment(message, registry: r) == .replay, "\(message.type)")
        }
    }

    @Test func whatMakesRenamesOrRemovesANameIsNeverReplayed() {
        let r = registry()
        for (message, operation) in Self.notReplayable {
            #expect(InFlightTreatment(message, registry: r) == .mayHaveHappened(operation: operation), "\(message.type)")
        }
    }

    @Test func tlopenAndTlcreateOpenTheFid() {
        var r = registry()
        r.observe(request: .tlopen(Tlopen(fid: Fid(2), flags: [.readWrite, .truncate])), reply: .rlopen(Rlopen(qid: fileQid, iounit: 512)))
        #expect(r[Fid(2)]?.openMode == OpenMode.readWrite.with(truncate: true))
        #expect(r[Fid(2)]?.reopenMode == .readWrite && r[Fid(2)]?.iounit == 512)
        #expect(r.mayHaveChangedItself(fileQid), "O_TRUNC changed the file")
        let made = Qid(type: .file, path: 9)
        r.observe(request: .tlcreate(Tlcreate(fid: Fid(1), name: "new", flags: [.create, .writeOnly], mode: 0o644, gid: 0)),
                  reply: .rlcreate(Rlcreate(qid: made)))
        #expect(r[Fid(1)]?.path == ["dir", "new"] && r[Fid(1)]?.openMode == .write && r[Fid(1)]?.qid == made)
        // A refused Tlopen changes nothing.
        r.observe(request: .tlopen(Tlopen(fid: Fid(0), flags: .readOnly)), reply: .rlerror(Rlerror(ecode: 13)))
        #expect(r[Fid(0)]?.openMode == nil)
    }

    @Test func xattrFidsAreKnownAndDieOnReconnect() {
        var r = registry()
        r.observe(request: .txattrwalk(Txattrwalk(fid: Fid(2), newfid: Fid(5), name: "")), reply: .rxattrwalk(Rxattrwalk(size: 10)))
        #expect(r[Fid(5)]?.isXattrFid == true && r[Fid(5)]?.path == ["dir", "file"])
        r.observe(request: .txattrcreate(Txattrcreate(fid: Fid(2), name: "user.x", attrSize: 1)), reply: .rxattrcreate(Rxattrcreate()))
        #expect(r[Fid(2)]?.isXattrFid == true)
        var run = RecoveryRun(server: "test", window: 8)
        let actions = run.start(registry: &r)
        #expect(r[Fid(5)]?.isDead == true && r[Fid(2)]?.isDead == true)
        #expect(r[Fid(1)]?.isDead == false)
        #expect(!actions.isEmpty)
    }

    @Test func renamesAcrossDirectoriesMoveTheFidsBelow() {
        var r = registry()
        r.observe(request: .trenameat(Trenameat(olddirfid: Fid(0), oldname: "dir", newdirfid: Fid(0), newname: "moved")),
                  reply: .rrenameat(Rrenameat()))
        #expect(r[Fid(1)]?.path == ["moved"] && r[Fid(2)]?.path == ["moved", "file"])
        r.observe(request: .trename(Trename(fid: Fid(2), dfid: Fid(0), name: "top")), reply: .rrename(Rrename()))
        #expect(r[Fid(2)]?.path == ["top"] && r[Fid(1)]?.path == ["moved"])
        r.observe(request: .tgetattr(Tgetattr(fid: Fid(2), requestMask: .basic)),
                  reply: .rgetattr(Rgetattr(attributes: LinuxAttributes(valid: .basic, qid: Qid(type: .file, version: 4, path: 3)))))
        #expect(r[Fid(2)]?.qid.version == 4)
    }

    @Test func rlerrorAndRerrorAreErrorsEverythingElseIsAnAnswer() {
        #expect(Message.rlerror(Rlerror(ecode: 2)).replyError == NinePError(errno: 2))
        #expect(NinePError(errno: 2).ename == "No such file or directory" && NinePError(errno: 2).linuxErrno == 2)
        #expect(Message.rerror(Rerror(ename: "file does not exist")).replyError == NinePError("file does not exist"))
        #expect(Message.rerror(Rerror(ename: "gone", errno: 2)).replyError?.linuxErrno == 2)
        #expect(Message.rerror(Rerror(ename: "file does not exist")).replyError?.linuxErrno == 2, "the text decides")
        #expect(Message.rgetattr(Rgetattr(attributes: LinuxAttributes(valid: [], qid: fileQid))).replyError == nil)
        #expect(NinePErrno.errno(for: NinePClientError(.server(NinePError(errno: 95)), server: "s")) == 95)
    }

    @Test func treaddirIsBoundByMsizeLikeTread() {
        #expect(oversize(.treaddir(Treaddir(fid: Fid(1), offset: 0, count: 8192)), messageSize: 8192) != nil)
        #expect(oversize(.treaddir(Treaddir(fid: Fid(1), offset: 0, count: 8192 - NineP.ioHeaderSize)), messageSize: 8192) == nil)
    }
}
