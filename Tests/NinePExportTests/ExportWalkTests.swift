import Foundation
import NinePExport
import NinePServer
import NinePWire
import Testing

@Suite("Export: attach, walk, stat")
struct ExportWalkTests {
    @Test func initRejectsMissingOrNonDirectoryRoot() async throws {
        try await withExport { h in
            try h.makeFile("plain")
            #expect {
                _ = try ExportFileServer(root: h.host("missing"))
            } throws: { error in
                "\(error)" == "cannot export \(h.host("missing")): No such file or directory"
            }
            #expect {
                _ = try ExportFileServer(root: h.host("plain"))
            } throws: { error in
                "\(error)" == "cannot export \(h.host("plain")): not a directory"
            }
        }
    }

    @Test func attachNamesTheRootOrASubtree() async throws {
        try await withExport { h in
            try h.makeDirectory("sub")
            try h.makeDirectory("sub/inner")
            let rootIno = UInt64(try #require(h.hostStatus("")).st_ino)
            let (_, q1) = try await h.attach("")
            let (_, q2) = try await h.attach("/")
            let (_, q3) = try await h.attach("../..")
            #expect(q1.path == rootIno && q1.isDirectory)
            #expect(q2 == q1 && q3 == q1)

            let (sub, subQid) = try await h.attach("sub")
            #expect(subQid.path == UInt64(try #require(h.hostStatus("sub")).st_ino))
            // The attach root of a subtree is a root: ".." stays there.
            let (_, up) = try await h.walk(sub, ["inner", "..", "..", ".."])
            #expect(up.last == subQid)
            #expect(try await h.stat(sub).name == "/")

            await #expect(throws: ServerError(.doesNotExist)) { try await h.attach("nothing") }
            try h.makeFile("file")
            await #expect(throws: ServerError(.notDirectory)) { try await h.attach("file") }
        }
    }

    @Test func walkManyNamesAndShortWalks() async throws {
        try await withExport { h in
            try h.makeDirectory("a")
            try h.makeDirectory("a/b")
            try h.makeFile("a/b/c", "data")
            let (root, _) = try await h.attach()

            let (c, qids) = try await h.walk(root, ["a", "b", "c"])
            #expect(qids.count == 3)
            #expect(qids.map(\.isDirectory) == [true, true, false])
            #expect(qids[2].path == UInt64(try #require(h.hostStatus("a/b/c")).st_ino))
            #expect(try await h.stat(c).name == "c")

            // Failing after the first name: a short walk; newfid is not made.
            let (partial, short) = try await h.walk(root, ["a", "nope", "c"])
            #expect(short == [qids[0]])
            await #expect(throws: ServerError(.unknownFid)) { try await h.stat(partial) }
            // Failing at the first name: an error.
            await #expect(throws: ServerError(.doesNotExist)) { try await h.walk(root, ["nope"]) }
            // Walking through a file stops there.
            let (_, throughFile) = try await h.walk(root, ["a", "b", "c", "d"])
            #expect(throughFile.count == 3)

            // fid == newfid moves the fid; a clone (no names) copies it.
            let (moving, _) = try await h.walk(root, [])
            _ = try await h.walk(moving, ["a", "b"], into: moving)
            #expect(try await h.stat(moving).name == "b")
            #expect(try await h.stat(root).name == "/")
        }
    }

    @Test func dotDotAtTheRootStaysAtTheRoot() async throws {
        try await withExport { h in
            try h.makeDirectory("a")
            try h.makeDirectory("a/b")
            let (root, rootQid) = try await h.attach()
            let (_, ups) = try await h.walk(root, ["..", "..", ".."])
            #expect(ups == [rootQid, rootQid, rootQid])
            let (_, path) = try await h.walk(root, ["a", "..", "a", "b", "..", "..", ".."])
            #expect(path.count == 7)
            #expect(path[1] == rootQid && path[4] == path[0] && path[5] == rootQid && path[6] == rootQid)
        }
    }

    @Test func statReportsHostFields() async throws {
        try await withExport { h in
            try h.makeFile("f", "hello", mode: 0o640)
            var times = [timespec(tv_sec: 1_600_000_000, tv_nsec: 0), timespec(tv_sec: 1_500_000_000, tv_nsec: 0)]
            utimensat(AT_FDCWD, h.host("f"), &times, 0)
            try h.makeDirectory("d", mode: 0o751)

            let file = try await h.stat(try await h.fid("f"))
            let st = try #require(h.hostStatus("f"))
            let user = try #require(getpwuid(st.st_uid).map { String(cString: $0.pointee.pw_name) })
            let group = try #require(getgrgid(st.st_gid).map { String(cString: $0.pointee.gr_name) })
            #expect(file.name == "f")
            #expect(file.length == 5)
            #expect(file.mode == FileMode(permissions: 0o640))
            #expect(file.atime == 1_600_000_000 && file.mtime == 1_500_000_000)
            #expect(file.uid == user && file.gid == group && file.muid == user)
            #expect(file.qid.path == UInt64(st.st_ino) && file.qid.type == .file)

            let dir = try await h.stat(try await h.fid("d"))
            #expect(dir.mode == FileMode(permissions: 0o751, flags: .dir))
            #expect(dir.length == 0 && dir.qid.type == .dir && dir.name == "d")

            let (root, _) = try await h.attach()
            #expect(try await h.stat(root).name == "/")
        }
    }

    /// A restart is a second server on the same directory: qids must match,
    /// because the reconnecting client matches files by qid.
    @Test func qidsAreStableAcrossARestart() async throws {
        try await withExport { h in
            try h.makeDirectory("d")
            try h.makeFile("d/f", "x")
            let (root, rootQid) = try await h.attach()
            let (_, first) = try await h.walk(root, ["d", "f"])

            let again = try ExportFileServer(root: h.root)
            let h2 = Harness(root: h.root, outside: h.outside, server: again)
            let (root2, rootQid2) = try await h2.attach()
            let (f2, second) = try await h2.walk(root2, ["d", "f"])
            #expect(rootQid2 == rootQid && second == first)
            #expect(Set(first.map(\.path)).count == 2)

            // The version moves when the file changes.
            try await h2.open(f2, .write)
            try await h2.write(f2, "changed")
            let changed = try await h2.stat(f2).qid
            #expect(changed.path == first[1].path)
            #expect(changed.version != first[1].version)
        }
    }

    @Test func walkRefusesBadNames() async throws {
        try await withExport { h in
            try h.makeDirectory("a")
            try h.makeFile("a/b")
            let (root, _) = try await h.attach()
            await #expect(throws: ServerError(.badName)) { try await h.walk(root, ["a/b"]) }
            await #expect(throws: ServerError(.badName)) { try await h.walk(root, ["a\0"]) }
            await #expect(throws: ServerError(.badName)) { try await h.walk(root, ["/"]) }
            await #expect(throws: ServerError(.doesNotExist)) { try await h.walk(root, ["."]) }
            await #expect(throws: ServerError(.doesNotExist)) { try await h.walk(root, [""]) }
            let (_, short) = try await h.walk(root, ["a", "../a"])
            #expect(short.count == 1)
        }
    }
}
