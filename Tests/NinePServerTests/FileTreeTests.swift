import NIOCore
import NinePServer
import NinePTesting
import NinePWire
import Testing

@Suite("File tree", .timeLimit(.minutes(5)))
struct FileTreeTests {
    /// / (alice:staff 0775)
    ///   private/  (alice 0700)   secret (alice 0600)
    ///   shared    (alice:staff 0664) "shared text"
    ///   public    (alice 0666)
    private func makeTree() throws -> FileTree {
        let groups = GroupPolicy(isMember: { user, group in group == "staff" ? user == "alice" || user == "bob" : user == group })
        let tree = FileTree(owner: "alice", group: "staff", permissions: 0o775, groups: groups, clock: { 1000 })
        let priv = try tree.root.create(named: "private", uid: "alice", perm: FileMode(permissions: 0o700, flags: .dir))
        let secret = try priv.create(named: "secret", uid: "alice", perm: FileMode(permissions: 0o600))
        _ = try secret.write(ByteBuffer(string: "s3cret"), at: 0, by: "alice")
        let shared = try tree.root.create(named: "shared", uid: "alice", perm: FileMode(permissions: 0o664))
        _ = try shared.write(ByteBuffer(string: "shared text"), at: 0, by: "alice")
        _ = try tree.root.create(named: "public", uid: "alice", perm: FileMode(permissions: 0o666))
        return tree
    }

    @Test func hasPermissionFollowsOwnerGroupOther() throws {
        let tree = try makeTree()
        let shared = try #require(tree.lookup("shared"))
        #expect(shared.stat.gid == "staff")  // from its directory
        #expect(shared.hasPermission("alice", [.read, .write]))
        #expect(shared.hasPermission("bob", [.read, .write]))  // group member
        #expect(shared.hasPermission("carol", .read))
        #expect(!shared.hasPermission("carol", .write))
        #expect(!shared.hasPermission("alice", .exec))
        let secret = try #require(tree.lookup("private/secret"))
        #expect(!secret.hasPermission("bob", .read))
    }

    @Test func createPermissionRuleFromOpen5() throws {
        let tree = FileTree(owner: "alice", permissions: 0o750)
        #expect(tree.root.permissionsForNewEntry(FileMode(permissions: 0o666)).rawValue == 0o640)
        #expect(tree.root.permissionsForNewEntry(FileMode(permissions: 0o777, flags: .dir)).rawValue == FileMode.dir.rawValue | 0o750)
        #expect(tree.root.permissionsForNewEntry(FileMode(permissions: 0o644, flags: .append)).rawValue == FileMode.append.rawValue | 0o640)
    }

    @Test func qidsAreUniqueAndVersionsBumpOnWrite() throws {
        let tree = try makeTree()
        let paths = [tree.root, tree.lookup("private")!, tree.lookup("private/secret")!, tree.lookup("shared")!, tree.lookup("public")!]
            .map(\.qid.path)
        #expect(Set(paths).count == paths.count)
        let file = try #require(tree.lookup("public"))
        let before = file.qid.version
        _ = try file.write(ByteBuffer(string: "x"), at: 10, by: "bob")
        #expect(file.qid.version == before + 1)
        #expect(file.length == 11)
        #expect(file.read(offset: 0, count: 100) == ByteBuffer(bytes: Array(repeating: 0, count: 10) + [UInt8(ascii: "x")]))
        #expect(file.stat.muid == "bob")
    }

    @Test func fileSizeLimit() throws {
        let tree = FileTree(owner: "alice", maxFileSize: 100)
        let f = try tree.root.create(named: "f", uid: "alice", perm: FileMode(permissions: 0o644))
        #expect(throws: NinePError.fileTooLarge) { try f.write(ByteBuffer(string: "x"), at: 100, by: "alice") }
        #expect(throws: NinePError.fileTooLarge) { try f.write(ByteBuffer(string: "x"), at: .max, by: "alice") }
        #expect(throws: NinePError.fileTooLarge) { try f.truncate(to: 101, by: "alice") }
    }

    private func serve(_ tree: FileTree, as user: String) async throws -> InMemoryServerConnection {
        try await session(RamFS(tree: tree), uname: user)
    }

    @Test func permissionsOverTheWire() async throws {
        let tree = try makeTree()
        let bob = try await serve(tree, as: "bob")
        let carol = try await serve(tree, as: "carol")
        defer { Task { await bob.close(); await carol.close() } }
        let b = bob.client, c = carol.client

        // Walking needs execute permission on the directory: the walk stops there.
        #expect(try await b.walk(0, 1, "private", "secret").qids?.count == 1)
        #expect(try await b.walk(0, 1, "private").qids?.count == 1)
        #expect(try await b.walk(1, 2, "secret").ename == "permission denied")
        #expect(try await b.clunk(1) == .rclunk(Rclunk()))
        // Group members may write the group-writable file, others may not.
        #expect(try await b.walk(0, 1, "shared").qids?.count == 1)
        #expect(try await b.open(1, .readWrite).ename == nil)
        #expect(try await c.walk(0, 1, "shared").qids?.count == 1)
        #expect(try await c.open(1, .readWrite).ename == "permission denied")
        #expect(try await c.open(1, OpenMode.read.with(truncate: true)).ename == "permission denied")
        #expect(try await c.open(1, .read).ename == nil)
        #expect(try await c.read(1).readData == Array("shared text".utf8))
        // Creating needs write permission in the directory (0775, staff).
        let create = Message.tcreate(Tcreate(fid: Fid(2), name: "mine", perm: FileMode(permissions: 0o644), mode: .write))
        #expect(try await c.walk(0, 2).qids == [])
        #expect(try await c.call(create).ename == "permission denied")
        #expect(try await b.walk(0, 2).qids == [])
        guard case .rcreate = try await b.call(create) else { Issue.record("bob cannot create"); return }
        let mine = try #require(tree.lookup("mine"))
        #expect(mine.stat.uid == "bob" && mine.stat.gid == "staff")
        #expect(mine.stat.mode.permissions == 0o644)
        // Removing needs write permission in the parent.
        #expect(try await c.walk(0, 3, "public").qids?.count == 1)
        #expect(try await c.call(.tremove(Tremove(fid: Fid(3)))).ename == "permission denied")
        #expect(tree.lookup("public") != nil)
        #expect(try await b.walk(0, 3, "public").qids?.count == 1)
        #expect(try await b.call(.tremove(Tremove(fid: Fid(3)))) == .rremove(Rremove()))
        #expect(tree.lookup("public") == nil)
        // ORCLOSE needs write permission in the parent too.
        #expect(try await c.walk(0, 4, "shared").qids?.count == 1)
        #expect(try await c.open(4, OpenMode.read.with(removeOnClose: true)).ename == "permission denied")
    }

    @Test func removeOfNonEmptyDirectoryAndOfRoot() async throws {
        let tree = try makeTree()
        let alice = try await serve(tree, as: "alice")
        defer { Task { await alice.close() } }
        let a = alice.client
        #expect(try await a.walk(0, 1, "private").qids?.count == 1)
        #expect(try await a.call(.tremove(Tremove(fid: Fid(1)))).ename == "directory not empty")
        #expect(try await a.walk(0, 2).qids == [])
        #expect(try await a.call(.tremove(Tremove(fid: Fid(2)))).ename == NinePError.removeRoot.ename)
        #expect(tree.lookup("private/secret") != nil)
    }

    @Test func openTruncateExclusiveAppendAndRemoveOnClose() async throws {
        let tree = FileTree(owner: "alice", permissions: 0o777)
        let alice = try await serve(tree, as: "alice")
        defer { Task { await alice.close() } }
        let a = alice.client
        func create(_ fid: UInt32, _ name: String, _ perm: FileMode, _ mode: OpenMode) async throws -> Message {
            _ = try await a.walk(0, fid)
            return try await a.call(.tcreate(Tcreate(fid: Fid(fid), name: name, perm: perm, mode: mode)))
        }
        // OTRUNC empties the file and bumps its version.
        _ = try await create(1, "t", FileMode(permissions: 0o644), .write)
        _ = try await a.call(.twrite(Twrite(fid: Fid(1), offset: 0, data: ByteBuffer(string: "abc"))))
        let v = tree.lookup("t")!.qid.version
        #expect(try await a.walk(0, 2, "t").qids?.count == 1)
        #expect(try await a.open(2, OpenMode.write.with(truncate: true)).ename == nil)
        #expect(tree.lookup("t")!.length == 0)
        #expect(tree.lookup("t")!.qid.version > v)
        // DMEXCL: one open at a time; clunking releases it.
        _ = try await create(3, "x", FileMode(permissions: 0o644, flags: .exclusive), .write)
        #expect(try await a.walk(0, 4, "x").qids?.count == 1)
        #expect(try await a.open(4, .read).ename == "file in use")
        #expect(try await a.clunk(3) == .rclunk(Rclunk()))
        #expect(try await a.open(4, .read).ename == nil)
        // DMAPPEND: writes land at the end whatever the offset.
        _ = try await create(5, "log", FileMode(permissions: 0o644, flags: .append), .write)
        _ = try await a.call(.twrite(Twrite(fid: Fid(5), offset: 0, data: ByteBuffer(string: "one "))))
        _ = try await a.call(.twrite(Twrite(fid: Fid(5), offset: 0, data: ByteBuffer(string: "two"))))
        #expect(tree.lookup("log")!.read(offset: 0, count: 100) == ByteBuffer(string: "one two"))
        // ORCLOSE: clunking removes the file; the client gets Rclunk.
        _ = try await create(6, "tmp", FileMode(permissions: 0o644), OpenMode.write.with(removeOnClose: true))
        #expect(tree.lookup("tmp") != nil)
        #expect(try await a.clunk(6) == .rclunk(Rclunk()))
        #expect(tree.lookup("tmp") == nil)
        // ... and so does the end of the session.
        _ = try await create(7, "tmp2", FileMode(permissions: 0o644), OpenMode.write.with(removeOnClose: true))
        #expect(tree.lookup("tmp2") != nil)
        await a.close()
        try await alice.server.ended.get()
        #expect(tree.lookup("tmp2") == nil)
    }

    @Test func wstatRules() async throws {
        let tree = try makeTree()
        let alice = try await serve(tree, as: "alice")
        let bob = try await serve(tree, as: "bob")
        let carol = try await serve(tree, as: "carol")
        defer { Task { await alice.close(); await bob.close(); await carol.close() } }
        let a = alice.client, b = bob.client, c = carol.client
        for client in [a, b, c] { #expect(try await client.walk(0, 1, "shared").qids?.count == 1) }
        func wstat(_ client: RawNinePClient, _ fid: UInt32 = 1, _ change: (inout Stat) -> Void) async throws -> String? {
            var d = Stat.dontTouch
            change(&d)
            return try await client.error(of: .twstat(Twstat(fid: Fid(fid), stat: d)))
        }
        let shared = try #require(tree.lookup("shared"))

        // Name: anyone with write permission in the parent; unique.
        #expect(try await wstat(c) { $0.name = "renamed" } == "permission denied")
        #expect(try await wstat(b) { $0.name = "public" } == "file already exists")
        #expect(try await wstat(b) { $0.name = "renamed" } == nil)
        #expect(tree.lookup("renamed") === shared && tree.lookup("shared") == nil)
        // Length: write permission on the file.
        #expect(try await wstat(c) { $0.length = 3 } == "permission denied")
        #expect(try await wstat(b) { $0.length = 3 } == nil)
        #expect(shared.read(offset: 0, count: 100) == ByteBuffer(string: "sha"))
        // Mode and mtime: the owner (or the group leader).
        #expect(try await wstat(b) { $0.mode = FileMode(permissions: 0o600) } == "permission denied")
        #expect(try await wstat(a) { $0.mode = FileMode(permissions: 0o600) } == nil)
        #expect(shared.stat.mode.permissions == 0o600)
        #expect(try await wstat(b) { $0.mtime = 5 } == "permission denied")
        #expect(try await wstat(a) { $0.mtime = 5 } == nil)
        #expect(shared.stat.mtime == 5)
        // Gid: the owner, if a member of the new group.
        #expect(try await wstat(a) { $0.gid = "wheel" } == "permission denied")
        #expect(try await wstat(a) { $0.gid = "alice" } == nil)
        #expect(shared.stat.gid == "alice")
        // Uid: never.
        #expect(try await wstat(a) { $0.uid = "bob" } == NinePError.wstatUid.ename)
        // All or nothing: a failing part leaves the rest undone.
        #expect(try await wstat(a) { $0.name = "public"; $0.mode = FileMode(permissions: 0o644) } == "file already exists")
        #expect(shared.stat.mode.permissions == 0o600 && shared.name == "renamed")
        // A directory's length cannot be set non-zero.
        #expect(try await a.walk(0, 2, "private").qids?.count == 1)
        #expect(try await wstat(a, 2) { $0.length = 1 } == NinePError.wstatDirectoryLength.ename)
        // All "don't touch": a sync request, accepted.
        #expect(try await wstat(c) { _ in } == nil)
    }

    @Test func directoryListingIsStableWhileEntriesChange() async throws {
        let tree = FileTree(owner: "alice", permissions: 0o777)
        for i in 0..<50 { _ = try tree.root.create(named: "f\(i)", uid: "alice", perm: FileMode(permissions: 0o644)) }
        let alice = try await serve(tree, as: "alice")
        defer { Task { await alice.close() } }
        let a = alice.client
        #expect(try await a.walk(0, 1).qids == [])
        #expect(try await a.open(1, .read).ename == nil)
        let first = try #require(try await a.read(1, count: 300).readData)
        // Changes after the listing began do not shift it.
        try tree.lookup("f0")!.remove()
        _ = try tree.root.create(named: "late", uid: "alice", perm: FileMode(permissions: 0o644))
        var names = try entries(first).map(\.name)
        var offset = UInt64(first.count)
        while true {
            let data = try #require(try await a.read(1, offset: offset, count: 300).readData)
            if data.isEmpty { break }
            names += try entries(data).map(\.name)
            offset += UInt64(data.count)
        }
        #expect(names == (0..<50).map { "f\($0)" })
        // A new listing from offset 0 sees the changes.
        let fresh = try entries(try #require(try await a.read(1, count: 8000).readData)).map(\.name)
        #expect(fresh.count == 50 && fresh.contains("late") && !fresh.contains("f0"))
    }
}
