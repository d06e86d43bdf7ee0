import Foundation
import NinePExport
import NinePServer
import NinePWire
import Testing

@Suite("Export: open, create, read, write, remove")
struct ExportIOTests {
    @Test func openModes() async throws {
        try await withExport { h in
            try h.makeFile("f", "0123456789", mode: 0o755)
            try h.makeFile("plain", "x", mode: 0o644)
            try h.makeDirectory("d")

            let reader = try await h.fid("f")
            try await h.open(reader, .read)
            #expect(try await h.readString(reader) == "0123456789")

            let exec = try await h.fid("f")
            try await h.open(exec, .exec)
            #expect(try await h.readString(exec, offset: 8) == "89")
            // OEXEC needs execute permission (even for root, one x bit).
            let plain = try await h.fid("plain")
            await #expect(throws: ServerError(.permissionDenied)) { try await h.open(plain, .exec) }

            let rw = try await h.fid("f")
            try await h.open(rw, .readWrite)
            try await h.write(rw, "ab", offset: 2)
            #expect(try await h.readString(rw) == "01ab456789")

            let writer = try await h.fid("f")
            try await h.open(writer, .write)
            #expect(try await h.write(writer, "XY") == 2)
            #expect(h.contents(h.host("f")) == "XYab456789")

            let truncating = try await h.fid("f")
            let qid = try await h.open(truncating, OpenMode.write.with(truncate: true))
            #expect(h.contents(h.host("f")) == "")
            #expect(qid.version == (try await h.stat(truncating)).qid.version)

            let dir = try await h.fid("d")
            await #expect(throws: ServerError(.isDirectory)) { try await h.open(dir, .write) }
            await #expect(throws: ServerError(.isDirectory)) { try await h.open(dir, .readWrite) }
            await #expect(throws: ServerError(.isDirectory)) { try await h.open(dir, OpenMode.read.with(truncate: true)) }
            try await h.open(dir, .read)
            #expect(try entries(try await h.read(dir)).isEmpty)
            for fid in [reader, exec, plain, rw, writer, truncating, dir] { h.clunk(fid) }
        }
    }

    @Test func removeOnCloseHappensBeforeLaterRequests() async throws {
        try await withExport { h in
            try h.makeFile("doomed", "x")
            let fid = try await h.fid("doomed")
            try await h.open(fid, OpenMode.read.with(removeOnClose: true))
            #expect(try await h.readString(fid) == "x")
            #expect(h.hostStatus("doomed") != nil)
            h.clunk(fid)
            let (root, _) = try await h.attach()
            await #expect(throws: ServerError(.doesNotExist)) { try await h.walk(root, ["doomed"]) }
            #expect(h.hostStatus("doomed") == nil)

            // A clunk without ORCLOSE leaves the file alone.
            try h.makeFile("kept")
            let kept = try await h.fid("kept")
            try await h.open(kept, .read)
            h.clunk(kept)
            _ = try await h.walk(root, ["kept"])
            #expect(h.hostStatus("kept") != nil)
        }
    }

    @Test func createUsesThePermissionRuleNotTheUmask() async throws {
        try await withExport { h in
            try h.makeDirectory("d", mode: 0o770)
            let dir = try await h.fid("d")
            // open(5): perm & (~0666 | (dir.perm & 0666)); a 022 umask would give 0644.
            let qid = try await h.create(dir, "file", perm: FileMode(permissions: 0o666), mode: .readWrite)
            let st = try #require(h.hostStatus("d/file"))
            #expect(st.st_mode & 0o7777 == 0o660 && st.st_mode & S_IFMT == S_IFREG)
            #expect(qid.path == UInt64(st.st_ino) && qid.type == .file)
            // The fid is now the new file, open as asked.
            try await h.write(dir, "new")
            #expect(try await h.readString(dir) == "new")
            #expect(try await h.stat(dir).name == "file")
            h.clunk(dir)

            // Directories: perm & (~0777 | (dir.perm & 0777)), opened for reading.
            let parent = try await h.fid("d")
            let dqid = try await h.create(parent, "sub", perm: FileMode(permissions: 0o757, flags: .dir), mode: .read)
            let dst = try #require(h.hostStatus("d/sub"))
            #expect(dst.st_mode & 0o7777 == 0o750 && dst.st_mode & S_IFMT == S_IFDIR)
            #expect(dqid.type == .dir)
            #expect(try entries(try await h.read(parent)).isEmpty)

            let again = try await h.fid("d")
            await #expect(throws: ServerError(.exists)) {
                try await h.create(again, "file", perm: FileMode(permissions: 0o644), mode: .read)
            }
            await #expect(throws: ServerError(.exists)) {
                try await h.create(again, "sub", perm: FileMode(permissions: 0o755, flags: .dir), mode: .read)
            }
            await #expect(throws: ServerError(.isDirectory)) {
                try await h.create(again, "wdir", perm: FileMode(permissions: 0o755, flags: .dir), mode: .write)
            }
            await #expect(throws: ServerError("append-only, exclusive-use and special files cannot be made on this host export")) {
                try await h.create(again, "log", perm: FileMode(permissions: 0o644, flags: .append), mode: .write)
            }
            #expect(h.hostStatus("d/wdir") == nil && h.hostStatus("d/log") == nil)

            let file = try await h.fid("d/file")
            await #expect(throws: ServerError(.createNonDirectory)) {
                try await h.create(file, "x", perm: FileMode(permissions: 0o644), mode: .read)
            }
        }
    }

    @Test func createWithRemoveOnClose() async throws {
        try await withExport { h in
            let (root, _) = try await h.attach()
            let (dir, _) = try await h.walk(root, [])
            try await h.create(dir, "tmp", perm: FileMode(permissions: 0o600), mode: OpenMode.readWrite.with(removeOnClose: true))
            #expect(h.hostStatus("tmp") != nil)
            h.clunk(dir)
            await #expect(throws: ServerError(.doesNotExist)) { try await h.walk(root, ["tmp"]) }
        }
    }

    @Test func readAndWriteAtOffsets() async throws {
        try await withExport { h in
            try h.makeFile("f")
            let fid = try await h.fid("f")
            try await h.open(fid, .readWrite)
            #expect(try await h.write(fid, "hello") == 5)
            #expect(try await h.write(fid, "XY", offset: 10) == 2)
            #expect(try await h.read(fid, offset: 3, count: 4) == Array("lo".utf8) + [0, 0])
            #expect(try await h.read(fid, offset: 0, count: 100).count == 12)
            #expect(try await h.read(fid, offset: 12).isEmpty)
            #expect(try await h.read(fid, offset: 1 << 62).isEmpty)
            #expect(try await h.stat(fid).length == 12)

            let readOnly = try await h.fid("f")
            try await h.open(readOnly, .read)
            await #expect(throws: ServerError(.openForRead)) { try await h.write(readOnly, "no") }
        }
    }

    /// Small counts force many reads; every entry must come back exactly
    /// once, whole, and a rewind (offset 0) must start again.
    @Test func directoryReadsReturnEveryEntryOnce() async throws {
        try await withExport { h in
            try h.makeDirectory("many")
            var expected = Set<String>()
            for i in 0..<500 {
                let name = "entry-\(i)-" + String(repeating: "x", count: i % 37)
                expected.insert(name)
                if i % 50 == 0 {
                    try h.makeDirectory("many/" + name)
                } else {
                    try h.makeFile("many/" + name, String(repeating: "y", count: i))
                }
            }
            let dir = try await h.fid("many")
            try await h.open(dir, .read)
            for pass in 0..<2 {
                var seen: [String] = []
                var offset: UInt64 = 0
                var reads = 0
                while true {
                    let bytes = try await h.read(dir, offset: offset, count: 150)
                    if bytes.isEmpty { break }
                    #expect(bytes.count <= 150)
                    let batch = try entries(bytes)
                    #expect(!batch.isEmpty)
                    for d in batch {
                        let index = try #require(Int(d.name.split(separator: "-")[1]))
                        #expect(d.mode.isDirectory == (index % 50 == 0))
                    }
                    seen += batch.map(\.name)
                    offset += UInt64(bytes.count)
                    reads += 1
                }
                #expect(seen.count == 500, "pass \(pass)")
                #expect(Set(seen) == expected, "pass \(pass)")
                #expect(reads > 100)
            }
            // Only 0 or the end of the previous read are valid offsets.
            _ = try await h.read(dir, offset: 0, count: 150)
            await #expect(throws: ServerError(.badOffset)) { _ = try await h.read(dir, offset: 7, count: 150) }
            // A count too small for one entry is an error, not an end of directory.
            await #expect(throws: ServerError("i/o count too small")) { _ = try await h.read(dir, offset: 0, count: 10) }
            #expect(try entries(try await h.read(dir, offset: 0, count: 200)).count >= 1)
        }
    }

    @Test func directoryReadsSkipNamesThatAreNotUTF8() async throws {
        try await withExport { h in
            try h.makeDirectory("d")
            try h.makeFile("d/good")
            let bad: [CChar] = Array((h.host("d") + "/bad-").utf8CString.dropLast()) + [CChar(bitPattern: 0xFF), 0]
            let fd = open(bad, O_CREAT | O_WRONLY, 0o644)
            #expect(fd >= 0)
            close(fd)
            let dir = try await h.fid("d")
            try await h.open(dir, .read)
            #expect(try entries(try await h.read(dir)).map(\.name) == ["good"])
        }
    }

    @Test func removeFilesAndDirectories() async throws {
        try await withExport { h in
            try h.makeFile("f")
            try h.makeDirectory("full")
            try h.makeFile("full/inside")
            try h.makeDirectory("empty")

            try await h.remove(try await h.fid("f"))
            #expect(h.hostStatus("f") == nil)
            await #expect(throws: ServerError(.notEmpty)) { try await h.remove(try await h.fid("full")) }
            #expect(h.hostStatus("full/inside") != nil)
            try await h.remove(try await h.fid("empty"))
            #expect(h.hostStatus("empty") == nil)
            let (root, _) = try await h.attach()
            await #expect(throws: ServerError(.permissionDenied)) { try await h.remove(root) }
            #expect(h.hostStatus("") != nil)
        }
    }

    @Test func specialFilesAreListedButNotOpened() async throws {
        try await withExport { h in
            #expect(mkfifo(h.host("pipe"), 0o644) == 0)
            let fid = try await h.fid("pipe")
            #expect(try await h.stat(fid).length == 0)
            await #expect(throws: ServerError("cannot open a device, pipe or socket through the export")) {
                try await h.open(fid, .read)
            }
        }
    }
}
