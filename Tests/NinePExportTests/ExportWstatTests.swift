import Foundation
import NinePExport
import NinePServer
import NinePWire
import Testing

@Suite("Export: wstat and read-only exports")
struct ExportWstatTests {
    @Test func renameWithinTheDirectory() async throws {
        try await withExport { h in
            try h.makeFile("a", "from a")
            let fid = try await h.fid("a")
            try await h.open(fid, .read)
            try await h.wstat(fid) { $0.name = "b" }
            #expect(h.hostStatus("a") == nil && h.contents(h.host("b")) == "from a")
            #expect(try await h.stat(fid).name == "b")
            #expect(try await h.readString(fid) == "from a")

            // Renaming over an existing file replaces it (POSIX rename).
            try h.makeFile("c", "old c")
            try await h.wstat(fid) { $0.name = "c" }
            #expect(h.hostStatus("b") == nil && h.contents(h.host("c")) == "from a")

            await #expect(throws: ServerError(.badName)) { try await h.wstat(fid) { $0.name = "../x" } }
            await #expect(throws: ServerError(.badName)) { try await h.wstat(fid) { $0.name = "x\0y" } }
            await #expect(throws: ServerError(.exists)) { try await h.wstat(fid) { $0.name = ".." } }
            try h.makeDirectory("dir")
            await #expect(throws: ServerError(.isDirectory)) { try await h.wstat(fid) { $0.name = "dir" } }
            #expect(h.contents(h.host("c")) == "from a")

            // A fid whose file was renamed behind its back does not rename
            // whatever now has its old name.
            try h.makeFile("m", "m")
            let m = try await h.fid("m")
            #expect(rename(h.host("m"), h.host("moved")) == 0)
            try h.makeFile("m", "impostor")
            await #expect(throws: ServerError(.doesNotExist)) { try await h.wstat(m) { $0.name = "n" } }
            #expect(h.contents(h.host("m")) == "impostor")
        }
    }

    @Test func modeLengthAndTimes() async throws {
        try await withExport { h in
            try h.makeFile("f", "0123456789", mode: 0o644)
            let fid = try await h.fid("f")
            try await h.wstat(fid) { $0.mode = FileMode(permissions: 0o600) }
            #expect(try #require(h.hostStatus("f")).st_mode & 0o7777 == 0o600)
            await #expect(throws: ServerError("wstat -- attempt to change DMDIR bit")) {
                try await h.wstat(fid) { $0.mode = FileMode(permissions: 0o700, flags: .dir) }
            }

            try await h.wstat(fid) { $0.length = 3 }
            #expect(h.contents(h.host("f")) == "012")
            try await h.wstat(fid) { $0.length = 100 }
            #expect(try #require(h.hostStatus("f")).st_size == 100)

            let atime = try #require(h.hostStatus("f")).st_atim.tv_sec
            try await h.wstat(fid) { $0.mtime = 1_000_000 }
            let st = try #require(h.hostStatus("f"))
            #expect(st.st_mtim.tv_sec == 1_000_000 && st.st_atim.tv_sec == atime)
            try await h.wstat(fid) { $0.atime = 2_000_000 }
            #expect(try #require(h.hostStatus("f")).st_atim.tv_sec == 2_000_000)

            try h.makeDirectory("d")
            let dir = try await h.fid("d")
            await #expect(throws: ServerError(.isDirectory)) { try await h.wstat(dir) { $0.length = 5 } }
            await #expect(throws: ServerError("wstat -- attempt to change DMDIR bit")) {
                try await h.wstat(dir) { $0.mode = FileMode(permissions: 0o700) }
            }
            try await h.wstat(dir) { $0.mode = FileMode(permissions: 0o700, flags: .dir) }
            #expect(try #require(h.hostStatus("d")).st_mode & 0o7777 == 0o700)
        }
    }

    @Test func groupAndOwner() async throws {
        try await withExport { h in
            try h.makeFile("f")
            let fid = try await h.fid("f")
            let current = try await h.stat(fid)
            // Any group other than the file's, by name.
            let st = try #require(h.hostStatus("f"))
            setgrent()
            var other: (gid_t, String)?
            while let g = getgrent() {
                if g.pointee.gr_gid != st.st_gid { other = (g.pointee.gr_gid, String(cString: g.pointee.gr_name)); break }
            }
            endgrent()
            let (gid, name) = try #require(other)
            try await h.wstat(fid) { $0.gid = name }
            #expect(try #require(h.hostStatus("f")).st_gid == gid)
            #expect(try await h.stat(fid).gid == name)
            await #expect(throws: ServerError("unknown group")) { try await h.wstat(fid) { $0.gid = "no-such-group-\(UUID())" } }

            try await h.wstat(fid) { $0.uid = current.uid }
            await #expect(throws: ServerError(.permissionDenied)) { try await h.wstat(fid) { $0.uid = "somebody-else" } }
        }
    }

    /// A client may send back an Rstat with one field changed.
    @Test func unchangedFieldsOfAFullStatAreAccepted() async throws {
        try await withExport { h in
            try h.makeFile("f", "abc", mode: 0o644)
            let fid = try await h.fid("f")
            var d = try await h.stat(fid)
            d.name = "g"
            try await h.wstat(fid, full: d)
            #expect(h.contents(h.host("g")) == "abc")
            d.qid.path ^= 1
            await #expect(throws: ServerError("wstat -- attempt to change qid")) { try await h.wstat(fid, full: d) }
        }
    }

    @Test func allDontTouchSyncs() async throws {
        try await withExport { h in
            try h.makeFile("f", "data")
            try h.makeDirectory("d")
            let open = try await h.fid("f")
            try await h.open(open, .write)
            let closed = try await h.fid("f")
            let dir = try await h.fid("d")
            let before = try await h.stat(closed)
            try await h.wstat(open)
            try await h.wstat(closed)
            try await h.wstat(dir)
            let after = try await h.stat(closed)
            #expect(after.qid == before.qid && after.mode == before.mode && after.length == 4 && after.name == "f")
        }
    }

    @Test func readOnlyExportRefusesEveryChange() async throws {
        try await withExport(readOnly: true) { h in
            try h.makeFile("f", "keep")
            try h.makeDirectory("d")
            let readOnly = ServerError(.readOnly)
            let file = try await h.fid("f")
            await #expect(throws: readOnly) { try await h.open(file, .write) }
            await #expect(throws: readOnly) { try await h.open(file, .readWrite) }
            await #expect(throws: readOnly) { try await h.open(file, OpenMode.read.with(truncate: true)) }
            await #expect(throws: readOnly) { try await h.open(file, OpenMode.read.with(removeOnClose: true)) }
            await #expect(throws: readOnly) { try await h.wstat(file) { $0.name = "g" } }
            await #expect(throws: readOnly) { try await h.wstat(file) { $0.length = 0 } }
            try await h.wstat(file)  // sync is allowed
            let dir = try await h.fid("d")
            await #expect(throws: readOnly) {
                try await h.create(dir, "new", perm: FileMode(permissions: 0o644), mode: .read)
            }
            await #expect(throws: readOnly) { try await h.remove(try await h.fid("f")) }
            // A write on a fid opened for reading is refused too.
            try await h.open(file, .read)
            await #expect(throws: readOnly) { try await h.write(file, "x") }
            #expect(try await h.readString(file) == "keep")
            #expect(h.contents(h.host("f")) == "keep" && h.hostStatus("d/new") == nil)
        }
    }
}
