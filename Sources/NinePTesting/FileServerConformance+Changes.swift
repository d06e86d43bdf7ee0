import NinePWire

// wstat (stat(5)), remove(5) and permissions: the checks that change
// metadata or take files away.
extension FileServerConformance {
    func wstatRename(_ c: CheckContext) async throws {
        let s = c.s
        _ = try await s.makeFile(c.work, "old", .utf8("content"))
        let fid = try await s.walkAll(c.work, ["old"])
        try await s.wstat(fid, "rename old to new") { $0.name = "new" }
        let renamed = try await s.stat(fid).name
        try s.expect(renamed == "new", "the renamed fid's stat says '\(renamed)'")
        try s.expect(try !(await s.exists(c.work, "old")), "'old' still exists after the rename")
        try s.expect(try await s.contents(c.work, "new") == .utf8("content"), "'new' does not hold the old contents")
        let dir = try await s.makeDirectory(c.work, "dold")
        _ = try await s.makeFile(dir, "inner", .utf8("i"))
        try await s.wstat(dir, "rename directory dold to dnew") { $0.name = "dnew" }
        let moved = try await s.walkAll(c.work, ["dnew"])
        try s.expect(try await s.contents(moved, "inner") == .utf8("i"), "the renamed directory lost its contents")
        try s.expect(try await s.list(c.work).map(\.name).sorted() == ["dnew", "new"], "the directory lists the wrong names after the renames")
        if c.hostWork != nil {
            try s.expect(c.hostStatus(try c.host("new")) != nil && c.hostStatus(try c.host("old")) == nil, "the rename did not happen on the host")
        }
    }

    func wstatRenameOverExisting(_ c: CheckContext) async throws {
        let s = c.s
        _ = try await s.makeFile(c.work, "a", .utf8("A"))
        _ = try await s.makeFile(c.work, "b", .utf8("B"))
        let fid = try await s.walkAll(c.work, ["a"])
        switch c.capabilities.renameOverExisting {
        case .replaces:
            try await s.wstat(fid, "rename a over b") { $0.name = "b" }
            try s.expect(try !(await s.exists(c.work, "a")), "'a' still exists after replacing 'b'")
            try s.expect(try await s.contents(c.work, "b") == .utf8("A"), "'b' does not hold a's contents after the replacing rename")
        case .refused:
            try await s.refusal(s.wstatMessage(fid) { $0.name = "b" }, "rename of a over the existing b")
            try s.expect(try await s.contents(c.work, "a") == .utf8("A"), "a refused rename changed 'a'")
            try s.expect(try await s.contents(c.work, "b") == .utf8("B"), "a refused rename changed 'b'")
        }
    }

    func wstatMode(_ c: CheckContext) async throws {
        let s = c.s
        _ = try await s.makeFile(c.work, "m", .utf8("m"), perm: 0o644)
        let fid = try await s.walkAll(c.work, ["m"])
        try await s.wstat(fid, "chmod 0600") { $0.mode = FileMode(permissions: 0o600) }
        let st = try await s.stat(fid)
        try s.expect(st.mode.permissions == 0o600 && !st.mode.isDirectory, "after wstat mode 0600 the mode is \(st.mode)")
        let dir = try await s.makeDirectory(c.work, "d")
        try await s.wstat(dir, "chmod of a directory 0700") { $0.mode = FileMode(permissions: 0o700, flags: .dir) }
        let dst = try await s.stat(dir)
        try s.expect(dst.mode.isDirectory && dst.mode.permissions == 0o700, "after wstat mode d0700 the directory's mode is \(dst.mode)")
        // stat(5): the DMDIR bit cannot be changed.
        try await s.refusal(s.wstatMessage(fid) { $0.mode = FileMode(permissions: 0o644, flags: .dir) }, "wstat setting DMDIR on a file")
        try await s.refusal(s.wstatMessage(dir) { $0.mode = FileMode(permissions: 0o755) }, "wstat clearing DMDIR on a directory")
        try s.expect(try await s.stat(fid).mode.permissions == 0o600, "a refused wstat changed the mode")
        if c.hostWork != nil {
            try s.expect(c.hostStatus(try c.host("m")).map { $0.st_mode & 0o777 } == 0o600, "the host file's mode is not 0600")
        }
    }

    func wstatLength(_ c: CheckContext) async throws {
        let s = c.s
        _ = try await s.makeFile(c.work, "l", .utf8("0123456789"))
        let fid = try await s.walkAll(c.work, ["l"])
        try await s.wstat(fid, "length 4") { $0.length = 4 }
        let cut = try await s.stat(fid).length
        try s.expect(cut == 4, "after wstat length 4 the length is \(cut)")
        try s.expect(try await s.contents(c.work, "l") == .utf8("0123"), "wstat length 4 did not cut the file")
        try await s.wstat(fid, "length 8") { $0.length = 8 }
        try s.expect(try await s.contents(c.work, "l") == .utf8("0123") + [0, 0, 0, 0], "wstat length 8 did not extend with zeros")
        let dir = try await s.makeDirectory(c.work, "d")
        // stat(5): "It is an error to attempt to set the length of a directory to a non-zero value".
        try await s.refusal(s.wstatMessage(dir) { $0.length = 5 }, "wstat length 5 of a directory")
        if c.hostWork != nil {
            try s.expect(c.hostStatus(try c.host("l")).map { $0.st_size } == 8, "the host file's size is not 8")
        }
    }

    func wstatMtime(_ c: CheckContext) async throws {
        let s = c.s
        _ = try await s.makeFile(c.work, "t", .utf8("t"))
        let fid = try await s.walkAll(c.work, ["t"])
        try await s.wstat(fid, "mtime 1000000000") { $0.mtime = 1_000_000_000 }
        let mtime = try await s.stat(fid).mtime
        try s.expect(mtime == 1_000_000_000, "after wstat mtime the mtime is \(mtime)")
        try await s.wstat(fid, "mode and mtime together") {
            $0.mode = FileMode(permissions: 0o640)
            $0.mtime = 1_100_000_000
        }
        let st = try await s.stat(fid)
        try s.expect(st.mtime == 1_100_000_000 && st.mode.permissions == 0o640, "a wstat of mode and mtime left \(st)")
        if c.hostWork != nil {
            try s.expect(c.hostStatus(try c.host("t")).map { $0.st_mtim.tv_sec } == 1_100_000_000, "the host file's mtime was not set")
        }
    }

    func wstatAllDontTouchSyncs(_ c: CheckContext) async throws {
        let s = c.s
        _ = try await s.makeFile(c.work, "s", .utf8("sync me"))
        let fid = try await s.walkAll(c.work, ["s"])
        let before = try await s.stat(fid)
        // stat(5): all "don't touch" values ask for the file to be committed to stable storage.
        try await s.wstat(fid, "all don't-touch (sync)") { _ in }
        let after = try await s.stat(fid)
        try s.expect(
            after.name == before.name && after.length == before.length && after.mode == before.mode
                && after.mtime == before.mtime && after.qid.same(before.qid) && after.uid == before.uid && after.gid == before.gid,
            "a don't-touch wstat changed the file: \(before) became \(after)")
        let open = try await s.walkAll(c.work, ["s"])
        try await s.open(open, .write)
        try await s.write(open, .utf8("SYNC"))
        try await s.wstat(open, "sync of an open, written file") { _ in }
        try await s.wstat(c.work, "sync of a directory") { _ in }
        try s.expect(try await s.contents(c.work, "s") == .utf8("SYNC me"), "the file does not hold the synced write")
    }

    func wstatUidRefused(_ c: CheckContext) async throws {
        let s = c.s
        _ = try await s.makeFile(c.work, "u", .utf8("u"))
        let fid = try await s.walkAll(c.work, ["u"])
        let before = try await s.stat(fid)
        // stat(5): "it is illegal to attempt to change the owner of a file".
        try await s.refusal(s.wstatMessage(fid) { $0.uid = before.uid + "-someone-else" }, "wstat changing the uid")
        try await s.refusal(
            s.wstatMessage(fid) {
                $0.uid = before.uid + "-someone-else"
                $0.mode = FileMode(permissions: 0o600)
            }, "wstat changing uid and mode")
        let after = try await s.stat(fid)
        try s.expect(after.uid == before.uid && after.mode == before.mode, "a refused uid change changed the file: \(after)")
    }

    func removeFile(_ c: CheckContext) async throws {
        let s = c.s
        _ = try await s.makeFile(c.work, "f", .utf8("f"))
        let fid = try await s.walkAll(c.work, ["f"])
        try await s.remove(fid)
        try await s.expectUnused(fid, "after Tremove")
        try s.expect(try !(await s.exists(c.work, "f")), "the removed file can still be walked to")
        try s.expect(try await s.list(c.work).isEmpty, "the removed file is still listed")
        // An open file can be removed too.
        _ = try await s.makeFile(c.work, "g", .utf8("g"))
        let open = try await s.walkAll(c.work, ["g"])
        try await s.open(open, .read)
        try await s.remove(open)
        try s.expect(try !(await s.exists(c.work, "g")), "a removed open file can still be walked to")
        if c.hostWork != nil {
            try s.expect(c.hostStatus(try c.host("f")) == nil && c.hostStatus(try c.host("g")) == nil, "removed files remain on the host")
        }
    }

    func removeEmptyDirectory(_ c: CheckContext) async throws {
        let s = c.s
        let dir = try await s.makeDirectory(c.work, "d")
        try await s.remove(dir)
        try await s.expectUnused(dir, "after Tremove of a directory")
        try s.expect(try !(await s.exists(c.work, "d")), "the removed directory can still be walked to")
    }

    func removeNonEmptyDirectoryRefused(_ c: CheckContext) async throws {
        let s = c.s
        let dir = try await s.makeDirectory(c.work, "d")
        _ = try await s.makeFile(dir, "inner", .utf8("i"))
        try await s.refusal(.tremove(Tremove(fid: dir)), "Tremove of a non-empty directory")
        // remove(5): "The fid is clunked even if the remove fails."
        try await s.expectUnused(dir, "after a failed Tremove")
        let again = try await s.walkAll(c.work, ["d"])
        try s.expect(try await s.contents(again, "inner") == .utf8("i"), "a refused remove lost the directory's contents")
        _ = try await s.walk(c.work, ["d"], into: dir)  // the clunked number is free
    }

    func permissionsFollowUname(_ c: CheckContext) async throws {
        let s = c.s
        _ = try await s.makeFile(c.work, "private", .utf8("mine"), perm: 0o600)
        _ = try await s.makeFile(c.work, "public", .utf8("ours"), perm: 0o644)
        _ = try await s.makeDirectory(c.work, "closed", perm: 0o755)
        let other = try await c.connectAs(c.capabilities.otherUname)
        do {
            try await checkOtherUser(other, c)
        } catch {
            await other.close()
            throw error
        }
        await other.close()
        try s.expect(try await s.contents(c.work, "public") == .utf8("ours"), "another user changed a 0644 file")
    }

    private func checkOtherUser(_ o: ConformanceSession, _ c: CheckContext) async throws {
        let work = try await o.walkAll(o.root, [c.workName])
        let pub = try await o.walkAll(work, ["public"])
        try await o.open(pub, .read)
        try o.expect(try await o.read(pub) == .utf8("ours"), "another user cannot read a 0644 file")
        for (name, mode) in [("public", OpenMode.write), ("public", .readWrite), ("public", OpenMode.read.with(truncate: true)), ("private", .read)] {
            let fid = try await o.walkAll(work, [name])
            try await o.refusal(.topen(Topen(fid: fid, mode: mode)), "open \(mode) of \(name) by another user")
            try await o.clunk(fid)
        }
        let closed = try await o.walkAll(work, ["closed"])
        try await o.refusal(.tcreate(Tcreate(fid: closed, name: "x", perm: FileMode(permissions: 0o644), mode: .write)), "create by another user in a 0755 directory")
        let victim = try await o.walkAll(work, ["public"])
        try await o.refusal(o.wstatMessage(victim) { $0.mode = FileMode(permissions: 0o666) }, "chmod of a file by another user")
        try await o.refusal(o.wstatMessage(victim) { $0.name = "stolen" }, "rename by another user in a 0755 directory")
        try await o.refusal(.tremove(Tremove(fid: victim)), "remove by another user from a 0755 directory")
        try await o.expectUnused(victim, "after a refused Tremove")
        try o.expect(try await o.exists(work, "public"), "a refused remove removed the file")
    }
}
