import NinePWire
import Testing
@testable import NinePClient

@Suite("Reconnect fid registry")
struct ReconnectFidRegistryTests {
    let rootQid = Qid(type: .dir, path: 1)
    let dirQid = Qid(type: .dir, path: 2)
    let fileQid = Qid(type: .file, version: 3, path: 3)

    func attached() -> FidRegistry {
        var r = FidRegistry()
        r.recordVersion(msize: 8192, version: "9P2000")
        r.recordAttach(fid: Fid(0), uname: "glenda", aname: "main", qid: rootQid)
        return r
    }

    @Test func versionIsRecordedAndResetsTheSession() {
        var r = attached()
        #expect(r.version == "9P2000" && r.messageSize == 8192)
        #expect(r[Fid(0)]?.root == FidRegistry.Root(uname: "glenda", aname: "main"))
        r.observe(request: .tversion(Tversion(msize: 4096, version: "9P2000")), reply: .rversion(Rversion(msize: 4096, version: ProtocolVersion.unknown)))
        #expect(r.messageSize == 8192 && r[Fid(0)] != nil, "an 'unknown' answer changes nothing")
        r.observe(request: .tversion(Tversion(msize: 4096, version: "9P2000")), reply: .rversion(Rversion(msize: 4096, version: "9P2000")))
        #expect(r.messageSize == 4096 && r.entries.isEmpty)
    }

    @Test func walkClonesExtendsAndPopsDotDot() {
        var r = attached()
        let walked = r.recordWalk(fid: Fid(0), newfid: Fid(1), names: ["a", "b", "..", "c"], qids: [dirQid, dirQid, dirQid, fileQid])
        #expect(walked)
        #expect(r[Fid(1)]?.path == ["a", "c"])
        #expect(r[Fid(1)]?.qid == fileQid)
        #expect(r[Fid(0)]?.path == [], "the source fid is unchanged by a clone-walk")
        r.recordWalk(fid: Fid(0), newfid: Fid(2), names: [], qids: [])
        #expect(r[Fid(2)]?.path == [] && r[Fid(2)]?.qid == rootQid, "a zero-name walk clones")
        r.recordWalk(fid: Fid(2), newfid: Fid(2), names: ["..", ".."], qids: [rootQid, rootQid])
        #expect(r[Fid(2)]?.path == [], "'..' at the root stays at the root")
        r.recordWalk(fid: Fid(1), newfid: Fid(1), names: [".."], qids: [dirQid])
        #expect(r[Fid(1)]?.path == ["a"] && r[Fid(1)]?.qid == dirQid, "walking a fid to itself moves it")
    }

    @Test func partialWalkDoesNotCreateNewfid() {
        var r = attached()
        let partial = r.recordWalk(fid: Fid(0), newfid: Fid(1), names: ["a", "missing"], qids: [dirQid])
        #expect(!partial)
        #expect(r[Fid(1)] == nil)
        r.observe(request: .twalk(Twalk(fid: Fid(0), newfid: Fid(1), wname: ["x"])), reply: .rerror(Rerror(ename: "file not found")))
        #expect(r[Fid(1)] == nil)
        let unknown = r.recordWalk(fid: Fid(9), newfid: Fid(1), names: [], qids: [])
        #expect(!unknown, "unknown source fid")
    }

    @Test func openAndCreateRecordModeAndQid() {
        var r = attached()
        r.recordWalk(fid: Fid(0), newfid: Fid(1), names: ["dir", "file"], qids: [dirQid, fileQid])
        let opened = Qid(type: .file, version: 4, path: 3)
        r.observe(request: .topen(Topen(fid: Fid(1), mode: OpenMode.readWrite.with(truncate: true, removeOnClose: true))), reply: .ropen(Ropen(qid: opened, iounit: 512)))
        #expect(r[Fid(1)]?.openMode == OpenMode.readWrite.with(truncate: true, removeOnClose: true))
        #expect(r[Fid(1)]?.reopenMode == OpenMode.readWrite.with(removeOnClose: true), "reopen drops OTRUNC and keeps ORCLOSE")
        #expect(r[Fid(1)]?.qid == opened && r[Fid(1)]?.iounit == 512)

        r.recordWalk(fid: Fid(0), newfid: Fid(2), names: ["dir"], qids: [dirQid])
        let created = Qid(type: .append, path: 9)
        r.observe(request: .tcreate(Tcreate(fid: Fid(2), name: "log", perm: FileMode(permissions: 0o644, flags: .append), mode: .write)), reply: .rcreate(Rcreate(qid: created)))
        #expect(r[Fid(2)]?.path == ["dir", "log"])
        #expect(r[Fid(2)]?.openMode == .write && r[Fid(2)]?.qid == created)
        #expect(r[Fid(2)]?.pathDescription == "dir/log")

        r.observe(request: .tcreate(Tcreate(fid: Fid(0), name: "x", perm: FileMode(permissions: 0o644), mode: .write)), reply: .rerror(Rerror(ename: "exists")))
        #expect(r[Fid(0)]?.path == [] && r[Fid(0)]?.openMode == nil, "a failed create leaves the fid alone")
    }

    @Test func renameReplacesTheLastNameForTheFidAndEverythingBelowIt() {
        var r = attached()
        r.recordWalk(fid: Fid(0), newfid: Fid(1), names: ["a"], qids: [dirQid])
        r.recordWalk(fid: Fid(0), newfid: Fid(2), names: ["a", "b", "c"], qids: [dirQid, dirQid, fileQid])
        r.recordWalk(fid: Fid(0), newfid: Fid(3), names: ["ab"], qids: [dirQid])
        r.recordAttach(fid: Fid(10), uname: "glenda", aname: "other", qid: rootQid)
        r.recordWalk(fid: Fid(10), newfid: Fid(11), names: ["a", "b"], qids: [dirQid, dirQid])
        var rename = Stat.dontTouch
        rename.name = "z"
        r.observe(request: .twstat(Twstat(fid: Fid(1), stat: rename)), reply: .rwstat(Rwstat()))
        #expect(r[Fid(1)]?.path == ["z"])
        #expect(r[Fid(2)]?.path == ["z", "b", "c"])
        #expect(r[Fid(3)]?.path == ["ab"], "a sibling whose name merely starts the same is untouched")
        #expect(r[Fid(11)]?.path == ["a", "b"], "another tree is untouched")
        r.observe(request: .twstat(Twstat(fid: Fid(2), stat: rename)), reply: .rerror(Rerror(ename: "exists")))
        #expect(r[Fid(2)]?.path == ["z", "b", "c"], "a refused rename changes nothing")
        var chmod = Stat.dontTouch
        chmod.mode = FileMode(permissions: 0o600)
        r.observe(request: .twstat(Twstat(fid: Fid(2), stat: chmod)), reply: .rwstat(Rwstat()))
        #expect(r[Fid(2)]?.path == ["z", "b", "c"])
    }

    @Test func clunkAndRemoveFreeTheFidEvenOnError() {
        var r = attached()
        r.recordWalk(fid: Fid(0), newfid: Fid(1), names: ["a"], qids: [dirQid])
        r.recordWalk(fid: Fid(0), newfid: Fid(2), names: ["a"], qids: [dirQid])
        r.observe(request: .tclunk(Tclunk(fid: Fid(1))), reply: .rerror(Rerror(ename: "whatever")))
        r.observe(request: .tremove(Tremove(fid: Fid(2))), reply: .rerror(Rerror(ename: "permission denied")))
        #expect(r[Fid(1)] == nil && r[Fid(2)] == nil)
        #expect(r.fids == [Fid(0)])
    }

    @Test func authFidsAndDeadMarks() {
        var r = attached()
        r.observe(request: .tauth(Tauth(afid: Fid(7), uname: "glenda", aname: "main")), reply: .rauth(Rauth(aqid: Qid(type: .auth, path: 70))))
        #expect(r[Fid(7)]?.isAuthFid == true)
        r.observe(request: .tattach(Tattach(fid: Fid(8), afid: Fid(7), uname: "glenda", aname: "main")), reply: .rattach(Rattach(qid: rootQid)))
        #expect(r[Fid(8)]?.authenticated == true && r[Fid(0)]?.authenticated == false)
        r.markDead(Fid(8))
        #expect(r[Fid(8)]?.isDead == true)
        r.recordRestored(Fid(0), qid: Qid(type: .dir, version: 5, path: 1), iounit: nil)
        #expect(r[Fid(0)]?.qid.version == 5)
    }
}
