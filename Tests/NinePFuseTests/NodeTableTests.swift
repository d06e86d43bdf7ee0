import FuseLowLevel
import Glibc
@testable import NinePFuse
import NinePWire
import Testing

@Suite("NodeTable: node ids, lookup counts, fids and handles")
struct NodeTableTests {
    let rootFid = Fid(0)
    let rootQid = Qid(type: .dir, path: 100)
    func file(_ path: UInt64) -> Qid { Qid(type: .file, version: 1, path: path) }
    func dir(_ path: UInt64) -> Qid { Qid(type: .dir, version: 1, path: path) }

    @Test func sameQidPathSameNode() {
        var table = NodeTable(rootFid: rootFid, rootQid: rootQid)
        let a = table.remember(qid: file(7), parent: 1, name: "a")
        let b = table.remember(qid: file(7), parent: 1, name: "hardlink")
        let c = table.remember(qid: file(8), parent: 1, name: "c")
        #expect(a.node == b.node && a.node != c.node)
        #expect(a.node != NodeTable.root)
        #expect(table.nodes[a.node!]?.lookups == 2)
        #expect(table.nodes[a.node!]?.links.map(\.name) == ["hardlink", "a"])
        #expect(table.node(forPath: 7) == a.node)
    }

    @Test func filesKeepNoFidDirectoriesKeepOne() {
        var table = NodeTable(rootFid: rootFid, rootQid: rootQid)
        let f = table.remember(qid: file(7), parent: 1, name: "f", fid: Fid(10))
        #expect(f.surplus == Fid(10))
        #expect(table.nodes[f.node!]?.fid == nil)
        let d = table.remember(qid: dir(8), parent: 1, name: "d", fid: Fid(11))
        #expect(d.surplus == nil)
        #expect(table.nodes[d.node!]?.fid == Fid(11))
        // A second lookup brings another fid: the node keeps its first.
        let again = table.remember(qid: dir(8), parent: 1, name: "d", fid: Fid(12))
        #expect(again.node == d.node && again.surplus == Fid(12))
        // A directory seen in a listing has no fid until walked; adopt gives it one.
        let lazy = table.remember(qid: dir(9), parent: 1, name: "e")
        #expect(table.nodes[lazy.node!]?.fid == nil)
        #expect(table.adopt(Fid(13), for: lazy.node!) == nil)
        #expect(table.adopt(Fid(14), for: lazy.node!) == Fid(14))
        #expect(table.adopt(Fid(15), for: f.node!) == Fid(15), "a file takes no fid")
    }

    @Test func forgetAtZeroReleasesTheNodeAndItsFid() {
        var table = NodeTable(rootFid: rootFid, rootQid: rootQid)
        let d = table.remember(qid: dir(8), parent: 1, name: "d", fid: Fid(11))
        _ = table.remember(qid: dir(8), parent: 1, name: "d")
        _ = table.remember(qid: dir(8), parent: 1, name: "d")
        #expect(table.forget(d.node!, count: 2) == nil)
        #expect(table.nodes[d.node!] != nil)
        #expect(table.forget(d.node!, count: 1) == Fid(11))
        #expect(table.nodes[d.node!] == nil)
        #expect(table.node(forPath: 8) == nil)
        // Known again later: a new node id (ids are never reused).
        let again = table.remember(qid: dir(8), parent: 1, name: "d")
        #expect(again.node != d.node)
        // The root is never forgotten; unknown ids are ignored.
        #expect(table.forget(NodeTable.root, count: 5) == nil)
        #expect(table.nodes[NodeTable.root]?.fid == rootFid)
        #expect(table.forget(999, count: 1) == nil)
    }

    @Test func renameAndUnlinkKeepNamesForRewalking() {
        var table = NodeTable(rootFid: rootFid, rootQid: rootQid)
        let d = table.remember(qid: dir(8), parent: 1, name: "d")
        let f = table.remember(qid: file(7), parent: d.node!, name: "old")
        #expect(table.path(of: f.node!) == "/d/old")
        table.renamed(qidPath: 7, parent: d.node!, name: "old", to: "new")
        #expect(table.nodes[f.node!]?.links == [NodeTable.Link(parent: d.node!, name: "new")])
        #expect(table.path(of: f.node!) == "/d/new")
        table.unlinked(qidPath: 7, parent: d.node!, name: "new")
        #expect(table.nodes[f.node!]?.links.isEmpty == true)
        #expect(table.path(of: f.node!) == "/?")
    }

    @Test func keepCacheOnlyWhileTheVersionIsUnchanged() {
        var table = NodeTable(rootFid: rootFid, rootQid: rootQid)
        let f = table.remember(qid: file(7), parent: 1, name: "f").node!
        #expect(table.opened(f, version: 3) == false, "first open: nothing cached to keep")
        #expect(table.opened(f, version: 3) == true)
        #expect(table.opened(f, version: 4) == false)
    }

    @Test func handlesAndShutdown() {
        var table = NodeTable(rootFid: rootFid, rootQid: rootQid)
        let d = table.remember(qid: dir(8), parent: 1, name: "d", fid: Fid(11)).node!
        let h1 = table.open(NodeTable.Handle(fid: Fid(20), node: d, mode: .read, iounit: 0, append: false, listing: .init()))!
        let h2 = table.open(NodeTable.Handle(fid: Fid(21), node: d, mode: .read, iounit: 0, append: false))!
        #expect(h1 != h2)
        table.updateListing(h1) { $0.complete = true }
        #expect(table.handles[h1]?.listing?.complete == true)
        #expect(table.openHandle(of: d, preferring: h2)?.fid == Fid(21))
        #expect(table.openHandle(of: d, preferring: 999) != nil, "any open handle of the node will do")
        #expect(table.openHandle(of: 1, preferring: h1) == nil, "a handle of another node is not used")
        #expect(table.close(h2)?.fid == Fid(21))
        #expect(table.close(h2) == nil)
        #expect(table.openHandle(of: d, preferring: h2)?.fid == Fid(20))
        let fids = Set(table.removeAll())
        #expect(fids == [rootFid, Fid(11), Fid(20)])
        #expect(table.isClosed)
        // Closed: late arrivals are handed back.
        let late = table.remember(qid: dir(9), parent: 1, name: "late", fid: Fid(30))
        #expect(late.node == nil && late.surplus == Fid(30))
        #expect(table.open(NodeTable.Handle(fid: Fid(31), node: 1, mode: .read, iounit: 0, append: false)) == nil)
    }

    @Test func rootQidLearnedLater() {
        var table = NodeTable(rootFid: rootFid, rootQid: nil)
        #expect(table.node(forPath: 0) == nil, "no placeholder qid.path stands for the root")
        table.setRootQid(rootQid)
        #expect(table.node(forPath: 100) == NodeTable.root)
        #expect(table.node(forPath: 0) == nil)
    }

    @Test("setattr: only the changed fields leave \"don't touch\"")
    func wstatChange() {
        let attr = FuseAttr(
            ino: 1, mode: UInt32(S_IFREG) | 0o4755, size: 42, atime: FuseTimespec(seconds: 10), mtime: FuseTimespec(seconds: 20))
        let mode = Bridge.wstatChange(attr, [.mode], isDirectory: false, now: 99)
        #expect(mode.mode == FileMode(permissions: 0o755))
        #expect(mode.length == Stat.dontTouch.length && mode.mtime == Stat.dontTouch.mtime && mode.name.isEmpty)
        #expect(Bridge.wstatChange(attr, [.mode], isDirectory: true, now: 99).mode == FileMode(permissions: 0o755, flags: .dir))
        let sized = Bridge.wstatChange(attr, [.size, .mtime, .atimeNow, .atime], isDirectory: false, now: 99)
        #expect(sized.length == 42 && sized.mtime == 20 && sized.atime == 99)
        #expect(Bridge.wstatChange(attr, [.ctime], isDirectory: false, now: 99).isAllDontTouch)
    }

    @Test("access: mode bits for the caller; root bypasses all but x")
    func permits() {
        let attr = FuseAttr(ino: 1, mode: UInt32(S_IFREG) | 0o640, uid: 1000, gid: 100)
        #expect(Bridge.permits(attr, mask: R_OK | W_OK, uid: 1000, gid: 1))
        #expect(!Bridge.permits(attr, mask: X_OK, uid: 1000, gid: 1))
        #expect(Bridge.permits(attr, mask: R_OK, uid: 2000, gid: 100))
        #expect(!Bridge.permits(attr, mask: W_OK, uid: 2000, gid: 100))
        #expect(!Bridge.permits(attr, mask: R_OK, uid: 2000, gid: 200))
        #expect(Bridge.permits(attr, mask: F_OK, uid: 2000, gid: 200))
        #expect(Bridge.permits(attr, mask: R_OK | W_OK, uid: 0, gid: 0))
        #expect(!Bridge.permits(attr, mask: X_OK, uid: 0, gid: 0))
    }

    @Test func splitting() {
        #expect(Bridge.split(10, unit: 4).map(\.count) == [4, 4, 2])
        #expect(Bridge.split(8, unit: 4).map(\.start) == [0, 4])
        #expect(Bridge.isListable("a") && !Bridge.isListable(".") && !Bridge.isListable("a/b") && !Bridge.isListable(""))
    }
}
