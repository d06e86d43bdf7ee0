import Glibc
import NIOCore
import NinePWire

// The checks of DotLConformance, in the order of its Check enum.
extension DotLConformance {
    static func fileType(_ mode: UInt32) -> UInt32 { mode & UInt32(S_IFMT) }

    func versionAnswersDotL(_ c: DotLContext) async throws {
        let s = c.s
        // DotLSession.open has checked the Rversion; errors must be Rlerror.
        try await s.refusal(.tgetattr(Tgetattr(fid: Fid(99_999), requestMask: .basic)), "Tgetattr of an unknown fid")
        try await s.refusal(.tclunk(Tclunk(fid: Fid(99_999))), "Tclunk of an unknown fid")
    }

    func getattrRoot(_ c: DotLContext) async throws {
        let s = c.s
        let a = try await s.getattr(s.root)
        try s.expect(a.qid.same(s.rootQid), "Rgetattr qid \(a.qid) is not the attach qid \(s.rootQid)")
        try s.expect(a.qid.isDirectory, "the root's qid is not a directory: \(a.qid)")
        try s.expect(a.valid.isSuperset(of: [.mode, .size, .mtime]), "Rgetattr valid \(a.valid.rawValue) lacks mode, size or mtime")
        try s.expect(Self.fileType(a.mode) == UInt32(S_IFDIR), "the root's mode \(String(a.mode, radix: 8)) is not S_IFDIR")
    }

    func lcreateOpensTheNewFile(_ c: DotLContext) async throws {
        let s = c.s
        let fid = try await s.clone(c.work)
        let qid = try await s.lcreate(fid, "f", flags: .readWrite, mode: 0o640)
        try s.expect(!qid.isDirectory, "Rlcreate of a file gave a directory qid")
        try await s.write(fid, Array("hello".utf8))
        try s.expect(try await s.read(fid) == Array("hello".utf8), "the new fid does not read back its write")
        let a = try await s.getattr(fid)
        try s.expect(a.qid.same(qid), "Tgetattr of the new fid has qid \(a.qid), not Rlcreate's \(qid)")
        try s.expect(Self.fileType(a.mode) == UInt32(S_IFREG), "the new file's mode \(String(a.mode, radix: 8)) is not S_IFREG")
        try s.expect(a.size == 5, "the new file's size is \(a.size), not 5")
        try await s.clunk(fid)
        try s.expect(try await s.getattr(c.work).qid.isDirectory, "Tlcreate changed the directory fid it was cloned from")
        try s.expect(try await s.contents(c.work, "f") == Array("hello".utf8), "the file does not hold what was written")
        try await s.refusal(
            .tlcreate(Tlcreate(fid: try await s.clone(c.work), name: "f", flags: [.readWrite, .create, .exclusive], mode: 0o644, gid: 0)),
            "Tlcreate of an existing name", errno: EEXIST)
    }

    func lopenAccessModes(_ c: DotLContext) async throws {
        let s = c.s
        try await s.makeFile(c.work, "f", Array("0123456789".utf8))
        let w = try await s.walk(c.work, ["f"])
        try await s.lopen(w, .writeOnly)
        try await s.write(w, Array("ab".utf8), at: 2)
        try await s.refusal(.tread(Tread(fid: w, offset: 0, count: 4)), "Tread of a fid opened O_WRONLY")
        try await s.clunk(w)
        let r = try await s.walk(c.work, ["f"])
        try await s.lopen(r, .readOnly)
        try s.expect(try await s.read(r) == Array("01ab456789".utf8), "O_RDONLY reads the wrong contents")
        try await s.refusal(.twrite(Twrite(fid: r, offset: 0, data: ByteBuffer(bytes: [1]))), "Twrite of a fid opened O_RDONLY")
        let t = try await s.walk(c.work, ["f"])
        try await s.lopen(t, [.writeOnly, .truncate])
        try s.expect(try await s.getattr(t).size == 0, "O_TRUNC did not empty the file")
    }

    func lopenAndReadValidation(_ c: DotLContext) async throws {
        let s = c.s
        try await s.makeFile(c.work, "f", Array("x".utf8))
        let f = try await s.walk(c.work, ["f"])
        try await s.lopen(f, .readOnly)
        try await s.refusal(.tlopen(Tlopen(fid: f, flags: .readOnly)), "Tlopen of an open fid")
        try await s.refusal(.twalk(Twalk(fid: f, newfid: s.newFid(), wname: [])), "Twalk of an open fid")
        let d = try await s.clone(c.work)
        try await s.refusal(.tlopen(Tlopen(fid: d, flags: .readWrite)), "Tlopen of a directory O_RDWR", errno: EISDIR)
        try await s.lopen(d, [.readOnly, .directory])
        try await s.refusal(.tread(Tread(fid: d, offset: 0, count: 100)), "Tread of a directory (9P2000.L lists with Treaddir)", errno: EISDIR)
    }

    func mkdirAndReaddir(_ c: DotLContext) async throws {
        let s = c.s
        let qid = try await s.mkdir(c.work, "d", mode: 0o750)
        try s.expect(qid.isDirectory, "Rmkdir gave a qid that is not a directory: \(qid)")
        try s.expect(try await s.getattr(c.work).qid.isDirectory, "Tmkdir changed its dfid")
        let d = try await s.walk(c.work, ["d"])
        let a = try await s.getattr(d)
        try s.expect(Self.fileType(a.mode) == UInt32(S_IFDIR), "the new directory's mode \(String(a.mode, radix: 8)) is not S_IFDIR")
        try s.expect(a.qid.same(qid), "walk to the new directory gave \(a.qid), not Rmkdir's \(qid)")
        try await s.refusal(.tmkdir(Tmkdir(dfid: c.work, name: "d", mode: 0o755, gid: 0)), "Tmkdir of an existing name", errno: EEXIST)
        let names = (0..<20).map { "file-\($0)" }
        for name in names { try await s.makeFile(d, name) }
        for count in [s.iounit, 64] {
            let entries = try await s.list(d, count: count)
            let listed = entries.map(\.name)
            try s.expect(listed.contains(".") && listed.contains(".."), "count \(count): the listing lacks '.' or '..': \(listed)")
            let plain = listed.filter { $0 != "." && $0 != ".." }
            try s.expect(plain.sorted() == names.sorted(), "count \(count): the listing is \(plain), not each name once")
            for e in entries where names.contains(e.name) {
                try s.expect(e.type == UInt8(DT_REG), "count \(count): '\(e.name)' has d_type \(e.type), not DT_REG")
            }
        }
    }

    func readdirResumesFromAnyOffset(_ c: DotLContext) async throws {
        let s = c.s
        for i in 0..<12 { try await s.makeFile(c.work, "e\(i)") }
        let all = try await s.list(c.work)
        try s.expect(Set(all.map(\.offset)).count == all.count, "entries share offsets: \(all.map(\.offset))")
        let fid = try await s.clone(c.work)
        try await s.lopen(fid, [.readOnly, .directory])
        // Backwards and forwards, each from an offset an earlier answer gave.
        for k in [7, 2, 10, 0, 5] where k < all.count - 1 {
            let entries = try await s.readdir(fid, offset: all[k].offset)
            try s.expect(
                entries.first?.name == all[k + 1].name,
                "readdir from the offset of entry \(k) ('\(all[k].name)') began at \(entries.first?.name ?? "the end"), not '\(all[k + 1].name)'")
        }
        let again = try await s.readdir(fid, offset: 0)
        try s.expect(again.first?.name == all.first?.name, "readdir from 0 did not restart the listing")
        // Another fid, opened afresh, takes the same offsets.
        let other = try await s.clone(c.work)
        try await s.lopen(other, [.readOnly, .directory])
        let resumed = try await s.readdir(other, offset: all[3].offset)
        try s.expect(resumed.first?.name == all[4].name, "a new fid did not resume from an offset another fid was given")
        let end = try await s.readdir(other, offset: all.last!.offset)
        try s.expect(end.isEmpty, "readdir from the last entry's offset answered \(end.map(\.name)), not the end")
    }

    func readdirValidation(_ c: DotLContext) async throws {
        let s = c.s
        let d = try await s.clone(c.work)
        try await s.refusal(.treaddir(Treaddir(fid: d, offset: 0, count: 100)), "Treaddir of an unopened directory")
        try await s.makeFile(c.work, "f")
        let f = try await s.walk(c.work, ["f"])
        try await s.lopen(f, .readOnly)
        try await s.refusal(.treaddir(Treaddir(fid: f, offset: 0, count: 100)), "Treaddir of a file", errno: ENOTDIR)
        try await s.lopen(d, [.readOnly, .directory])
        try await s.refusal(.treaddir(Treaddir(fid: d, offset: 0, count: s.msize)), "Treaddir with a count above msize − IOHDRSZ")
    }

    func setattrModeSizeMtime(_ c: DotLContext) async throws {
        let s = c.s
        try await s.makeFile(c.work, "f", Array("0123456789".utf8))
        let f = try await s.walk(c.work, ["f"])
        try await s.setattr(Tsetattr(fid: f, valid: .mode, mode: 0o600), "chmod 0600")
        let a = try await s.getattr(f)
        try s.expect(a.mode & 0o7777 == 0o600, "mode after chmod 0600 is \(String(a.mode & 0o7777, radix: 8))")
        try s.expect(Self.fileType(a.mode) == UInt32(S_IFREG), "chmod changed the file type")
        try await s.setattr(Tsetattr(fid: f, valid: .size, size: 3), "truncate to 3")
        try s.expect(try await s.contents(c.work, "f") == Array("012".utf8), "truncate to 3 did not cut the file")
        try await s.setattr(Tsetattr(fid: f, valid: .size, size: 5), "extend to 5")
        try s.expect(try await s.contents(c.work, "f") == Array("012".utf8) + [0, 0], "extending did not zero-fill")
        try await s.setattr(Tsetattr(fid: f, valid: [.mtime, .mtimeSet], mtimeSec: 1_000_000_000), "set mtime")
        let m = try await s.getattr(f)
        try s.expect(m.mtimeSec == 1_000_000_000, "mtime after setting it is \(m.mtimeSec)")
    }

    func symlinkAndReadlink(_ c: DotLContext) async throws {
        let s = c.s
        let target = "../some where/else"
        let m = Message.tsymlink(Tsymlink(fid: c.work, name: "l", symtgt: target, gid: getgid()))
        guard case .rsymlink(let r) = try await s.success(m, "symlink") else { throw s.failure("\(m): not Rsymlink") }
        try s.expect(r.qid.type.contains(.symlink), "Rsymlink's qid is not a symlink's: \(r.qid)")
        let l = try await s.walk(c.work, ["l"])
        guard case .rreadlink(let rl) = try await s.success(.treadlink(Treadlink(fid: l)), "readlink") else {
            throw s.failure("Treadlink: not Rreadlink")
        }
        try s.expect(rl.target == target, "readlink gave '\(rl.target)', not '\(target)'")
        let a = try await s.getattr(l)
        try s.expect(Self.fileType(a.mode) == UInt32(S_IFLNK), "the link's mode \(String(a.mode, radix: 8)) is not S_IFLNK")
        try await s.makeFile(c.work, "f")
        let f = try await s.walk(c.work, ["f"])
        try await s.refusal(.treadlink(Treadlink(fid: f)), "Treadlink of a regular file", errno: EINVAL)
    }

    func renameWithinDirectory(_ c: DotLContext) async throws {
        let s = c.s
        try await s.makeFile(c.work, "a", Array("A".utf8))
        _ = try await s.success(
            .trenameat(Trenameat(olddirfid: c.work, oldname: "a", newdirfid: c.work, newname: "b")), "renameat a → b")
        let afterRenameat = try await s.names(c.work)
        try s.expect(afterRenameat == ["b"], "after renameat a → b the directory holds \(afterRenameat)")
        try s.expect(try await s.contents(c.work, "b") == Array("A".utf8), "renameat lost the contents")
        let b = try await s.walk(c.work, ["b"])
        _ = try await s.success(.trename(Trename(fid: b, dfid: c.work, name: "c")), "rename b → c")
        let afterRename = try await s.names(c.work)
        try s.expect(afterRename == ["c"], "after rename b → c the directory holds \(afterRename)")
        try s.expect(try await s.getattr(b).size == 1, "the renamed fid no longer reaches the file")
        try await s.refusal(
            .trenameat(Trenameat(olddirfid: c.work, oldname: "missing", newdirfid: c.work, newname: "x")),
            "renameat of a missing name", errno: ENOENT)
    }

    func renameAcrossDirectories(_ c: DotLContext) async throws {
        let s = c.s
        try await s.mkdir(c.work, "d1")
        try await s.mkdir(c.work, "d2")
        let d1 = try await s.walk(c.work, ["d1"])
        let d2 = try await s.walk(c.work, ["d2"])
        try await s.makeFile(d1, "f", Array("F".utf8))
        _ = try await s.success(.trenameat(Trenameat(olddirfid: d1, oldname: "f", newdirfid: d2, newname: "g")), "renameat d1/f → d2/g")
        let (in1, in2) = (try await s.names(d1), try await s.names(d2))
        try s.expect(in1.isEmpty && in2 == ["g"], "renameat across directories left \(in1) and \(in2)")
        let g = try await s.walk(d2, ["g"])
        _ = try await s.success(.trename(Trename(fid: g, dfid: d1, name: "h")), "rename d2/g → d1/h")
        try s.expect(try await s.contents(d1, "h") == Array("F".utf8), "rename across directories lost the contents")
    }

    func unlinkat(_ c: DotLContext) async throws {
        let s = c.s
        try await s.makeFile(c.work, "f")
        try await s.mkdir(c.work, "d")
        try await s.mkdir(c.work, "full")
        try await s.makeFile(try await s.walk(c.work, ["full"]), "inside")
        try await s.refusal(.tunlinkat(Tunlinkat(dirfd: c.work, name: "d", flags: 0)), "unlinkat of a directory without AT_REMOVEDIR", errno: EISDIR)
        try await s.refusal(
            .tunlinkat(Tunlinkat(dirfd: c.work, name: "f", flags: Tunlinkat.removeDirectory)),
            "unlinkat AT_REMOVEDIR of a file", errno: ENOTDIR)
        try await s.refusal(
            .tunlinkat(Tunlinkat(dirfd: c.work, name: "full", flags: Tunlinkat.removeDirectory)),
            "unlinkat of a non-empty directory", errno: ENOTEMPTY, or: [EEXIST])
        try await s.refusal(.tunlinkat(Tunlinkat(dirfd: c.work, name: "missing", flags: 0)), "unlinkat of a missing name", errno: ENOENT)
        _ = try await s.success(.tunlinkat(Tunlinkat(dirfd: c.work, name: "f", flags: 0)), "unlinkat of a file")
        _ = try await s.success(.tunlinkat(Tunlinkat(dirfd: c.work, name: "d", flags: Tunlinkat.removeDirectory)), "unlinkat of a directory")
        let left = try await s.names(c.work)
        try s.expect(left == ["full"], "after unlinkat the directory holds \(left)")
    }

    func badNamesRefused(_ c: DotLContext) async throws {
        let s = c.s
        try await s.makeFile(c.work, "f")
        for name in ["", ".", "..", "a/b"] {
            try await s.refusal(.tmkdir(Tmkdir(dfid: c.work, name: name, mode: 0o755, gid: 0)), "Tmkdir '\(name)'")
            try await s.refusal(
                .tlcreate(Tlcreate(fid: try await s.clone(c.work), name: name, flags: .readWrite, mode: 0o644, gid: 0)), "Tlcreate '\(name)'")
            try await s.refusal(.tsymlink(Tsymlink(fid: c.work, name: name, symtgt: "x", gid: 0)), "Tsymlink '\(name)'")
            try await s.refusal(
                .trenameat(Trenameat(olddirfid: c.work, oldname: "f", newdirfid: c.work, newname: name)), "Trenameat to '\(name)'")
            try await s.refusal(.tunlinkat(Tunlinkat(dirfd: c.work, name: name, flags: 0)), "Tunlinkat '\(name)'")
        }
        let left = try await s.names(c.work)
        try s.expect(left == ["f"], "refused names changed the directory: \(left)")
    }

    func statfs(_ c: DotLContext) async throws {
        let s = c.s
        guard case .rstatfs(let r) = try await s.success(.tstatfs(Tstatfs(fid: c.work)), "statfs") else {
            throw s.failure("Tstatfs: not Rstatfs")
        }
        try s.expect(r.bsize > 0 && r.namelen > 0, "Rstatfs bsize \(r.bsize), namelen \(r.namelen)")
        try s.expect(r.bfree <= r.blocks && r.bavail <= r.blocks, "Rstatfs has more free blocks than blocks: \(r)")
    }

    func fsync(_ c: DotLContext) async throws {
        let s = c.s
        try await s.makeFile(c.work, "f", Array("data".utf8))
        let f = try await s.walk(c.work, ["f"])
        try await s.refusal(.tfsync(Tfsync(fid: f)), "Tfsync of an unopened fid")
        try await s.lopen(f, .readWrite)
        _ = try await s.success(.tfsync(Tfsync(fid: f)), "fsync")
        _ = try await s.success(.tfsync(Tfsync(fid: f, datasync: 1)), "fdatasync")
    }

    func xattrFidsAreRestricted(_ c: DotLContext) async throws {
        let s = c.s
        try await s.makeFile(c.work, "f")
        let f = try await s.walk(c.work, ["f"])
        let x = s.newFid()
        switch try await s.call(.txattrwalk(Txattrwalk(fid: f, newfid: x, name: ""))) {
        case .rxattrwalk(let w):
            try await s.refusal(.tgetattr(Tgetattr(fid: x, requestMask: .basic)), "Tgetattr of an xattr fid")
            try await s.refusal(.twalk(Twalk(fid: x, newfid: s.newFid(), wname: [])), "Twalk of an xattr fid")
            try await s.refusal(.tlopen(Tlopen(fid: x, flags: .readOnly)), "Tlopen of an xattr fid")
            try await s.refusal(.twrite(Twrite(fid: x, offset: 0, data: ByteBuffer(bytes: [1]))), "Twrite of a Txattrwalk fid")
            let data = try await s.read(x, count: UInt32(min(UInt64(s.iounit), max(w.size, 1))))
            try s.expect(UInt64(data.count) <= w.size, "the xattr list read \(data.count) bytes of \(w.size)")
            try await s.clunk(x)
        case .rlerror:
            try await s.refusal(.tgetattr(Tgetattr(fid: x, requestMask: .basic)), "newfid of a refused Txattrwalk", errno: nil)
        case let other:
            throw s.failure("Txattrwalk answered \(other)")
        }
    }

    func xattrSetGetList(_ c: DotLContext) async throws {
        let s = c.s
        try await s.makeFile(c.work, "f")
        let f = try await s.walk(c.work, ["f"])
        let w = try await s.clone(f)
        _ = try await s.success(.txattrcreate(Txattrcreate(fid: w, name: "user.ninep", attrSize: 5)), "xattrcreate")
        try await s.refusal(.twrite(Twrite(fid: w, offset: 3, data: ByteBuffer(bytes: Array("xyz".utf8)))), "a write past the declared size")
        try await s.write(w, Array("hello".utf8))
        try await s.clunk(w)
        let r = s.newFid()
        guard case .rxattrwalk(let got) = try await s.success(.txattrwalk(Txattrwalk(fid: f, newfid: r, name: "user.ninep")), "xattrwalk")
        else { throw s.failure("Txattrwalk: not Rxattrwalk") }
        try s.expect(got.size == 5, "the attribute's size is \(got.size), not 5")
        try s.expect(try await s.read(r, count: 5) == Array("hello".utf8), "the attribute does not read back")
        try await s.clunk(r)
        let l = s.newFid()
        guard case .rxattrwalk(let list) = try await s.success(.txattrwalk(Txattrwalk(fid: f, newfid: l, name: "")), "xattr list")
        else { throw s.failure("Txattrwalk '': not Rxattrwalk") }
        let names = try await s.read(l, count: UInt32(min(UInt64(s.iounit), list.size)))
        try s.expect(names.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }.contains("user.ninep"),
                     "the xattr list does not name user.ninep")
        try await s.clunk(l)
    }

    func locks(_ c: DotLContext) async throws {
        let s = c.s
        try await s.makeFile(c.work, "f", Array("data".utf8))
        let f = try await s.walk(c.work, ["f"])
        try await s.refusal(
            .tlock(Tlock(fid: f, type: .writeLock, start: 0, length: 0, procId: 1, clientId: "conformance")), "Tlock of an unopened fid")
        try await s.lopen(f, .readWrite)
        guard case .rlock(let taken) = try await s.success(
            .tlock(Tlock(fid: f, type: .writeLock, start: 0, length: 0, procId: 1, clientId: "conformance")), "lock")
        else { throw s.failure("Tlock: not Rlock") }
        try s.expect(taken.status == .success, "a write lock on an unlocked file answered \(taken.status)")
        guard case .rgetlock(let probe) = try await s.success(
            .tgetlock(Tgetlock(fid: f, type: .writeLock, start: 0, length: 0, procId: 1, clientId: "conformance")), "getlock")
        else { throw s.failure("Tgetlock: not Rgetlock") }
        try s.expect(probe.type == .unlock, "the holder's own range reports \(probe.type), not UNLCK")
        guard case .rlock(let released) = try await s.success(
            .tlock(Tlock(fid: f, type: .unlock, start: 0, length: 0, procId: 1, clientId: "conformance")), "unlock")
        else { throw s.failure("Tlock UNLCK: not Rlock") }
        try s.expect(released.status == .success, "unlocking answered \(released.status)")
    }

    func hardLink(_ c: DotLContext) async throws {
        let s = c.s
        try await s.makeFile(c.work, "f", Array("F".utf8))
        let f = try await s.walk(c.work, ["f"])
        _ = try await s.success(.tlink(Tlink(dfid: c.work, fid: f, name: "h")), "link")
        let h = try await s.walk(c.work, ["h"])
        let (fa, ha) = (try await s.getattr(f), try await s.getattr(h))
        try s.expect(fa.qid.path == ha.qid.path, "the link has qid path \(ha.qid.path), the file \(fa.qid.path)")
        try s.expect(ha.nlink == 2, "after Tlink nlink is \(ha.nlink)")
        let d = try await s.clone(c.work)
        try await s.refusal(.tlink(Tlink(dfid: c.work, fid: d, name: "dirlink")), "Tlink of a directory")
    }

    func unknownFidRefused(_ c: DotLContext) async throws {
        let s = c.s
        let u = Fid(99_999)
        let messages: [Message] = [
            .tstatfs(Tstatfs(fid: u)), .tlopen(Tlopen(fid: u, flags: .readOnly)),
            .tlcreate(Tlcreate(fid: u, name: "x", flags: .readWrite, mode: 0o644, gid: 0)),
            .tsymlink(Tsymlink(fid: u, name: "x", symtgt: "y", gid: 0)), .tmknod(Tmknod(dfid: u, name: "x", mode: 0o644, gid: 0)),
            .trename(Trename(fid: u, dfid: c.work, name: "x")), .treadlink(Treadlink(fid: u)),
            .tgetattr(Tgetattr(fid: u, requestMask: .basic)), .tsetattr(Tsetattr(fid: u, valid: .mode, mode: 0o644)),
            .txattrwalk(Txattrwalk(fid: u, newfid: s.newFid(), name: "")), .txattrcreate(Txattrcreate(fid: u, name: "user.x", attrSize: 1)),
            .treaddir(Treaddir(fid: u, offset: 0, count: 100)), .tfsync(Tfsync(fid: u)),
            .tlock(Tlock(fid: u, type: .readLock, start: 0, length: 0, procId: 1, clientId: "c")),
            .tgetlock(Tgetlock(fid: u, type: .readLock, start: 0, length: 0, procId: 1, clientId: "c")),
            .tlink(Tlink(dfid: c.work, fid: u, name: "x")), .tmkdir(Tmkdir(dfid: u, name: "x", mode: 0o755, gid: 0)),
            .trenameat(Trenameat(olddirfid: u, oldname: "a", newdirfid: c.work, newname: "b")),
            .tunlinkat(Tunlinkat(dirfd: u, name: "x")),
        ]
        for m in messages { try await s.refusal(m, "\(m.type) of an unknown fid") }
        try s.expect(try await s.names(c.work).isEmpty, "requests on an unknown fid changed the directory")
    }
}
