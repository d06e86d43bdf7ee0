import Foundation
import NinePExport
import NinePServer
import NinePWire
import Testing

/// Nothing a client names may reach the "outside" directory beside the root.
@Suite("Export: confinement to the root")
struct ExportConfinementTests {
    @Test func climbingOutWithDotDotFails() async throws {
        try await withExport { h in
            let (root, rootQid) = try await h.attach()
            // root is <base>/root/tree; <base>/outside is two levels up.
            let (_, qids) = try await h.walk(root, ["..", "..", "outside", "secret"])
            #expect(qids == [rootQid, rootQid])
            await #expect(throws: ServerError(.doesNotExist)) { try await h.walk(root, ["outside"]) }
            await #expect(throws: ServerError(.doesNotExist)) { try await h.attach("../../outside") }
            let dir = try await h.fid("")
            await #expect(throws: ServerError(.badName)) {
                try await h.create(dir, "../../outside/planted", perm: FileMode(permissions: 0o644), mode: .write)
            }
            await #expect(throws: ServerError(.exists)) {
                try await h.create(dir, "..", perm: FileMode(permissions: 0o755, flags: .dir), mode: .read)
            }
            #expect(h.contents(h.outside + "/planted") == nil)
        }
    }

    @Test func symlinksPointingOutsideAreNotFollowed() async throws {
        try await withExport { h in
            try h.makeSymlink("abs", to: h.outside)
            try h.makeSymlink("rel", to: "../../outside")
            try h.makeSymlink("secretlink", to: h.outside + "/secret")
            try h.makeSymlink("etc", to: "../../../../../../../../etc")
            let (root, _) = try await h.attach()

            for link in ["abs", "rel", "etc"] {
                let (_, qids) = try await h.walk(root, [link, "secret"])
                #expect(qids.count == 1 && qids[0].type == .file, "\(link)")
                let (_, passwd) = try await h.walk(root, [link, "passwd"])
                #expect(passwd.count == 1, "\(link)")
            }

            // A symlink is a read-only file holding its target.
            let link = try await h.fid("secretlink")
            let st = try await h.stat(link)
            #expect(st.mode == FileMode(permissions: 0o444) && st.length == UInt64((h.outside + "/secret").utf8.count))
            await #expect(throws: ServerError(.permissionDenied)) { try await h.open(link, .write) }
            await #expect(throws: ServerError(.permissionDenied)) { try await h.open(link, .readWrite) }
            try await h.open(link, .read)
            #expect(try await h.readString(link) == h.outside + "/secret")
            #expect(try await h.readString(link, offset: 1, count: 3) == String((h.outside + "/secret").dropFirst().prefix(3)))
            await #expect(throws: ServerError("symbolic links can only be renamed or removed")) {
                try await h.wstat(try await h.fid("secretlink")) { $0.length = 0 }
            }
            await #expect(throws: ServerError("symbolic links can only be renamed or removed")) {
                try await h.wstat(try await h.fid("secretlink")) { $0.mode = FileMode(permissions: 0o777) }
            }
            #expect(h.contents(h.outside + "/secret") == "secret")

            // Renaming and removing act on the link, never its target.
            let rename = try await h.fid("secretlink")
            try await h.wstat(rename) { $0.name = "renamed" }
            #expect(h.hostStatus("renamed").map { $0.st_mode & S_IFMT == S_IFLNK } == true)
            try await h.remove(try await h.fid("renamed"))
            #expect(h.hostStatus("renamed") == nil && h.contents(h.outside + "/secret") == "secret")

            // In a directory listing a link is a plain file too.
            try await h.open(root, .read)
            let listed = try entries(try await h.read(root))
            #expect(Set(listed.map(\.name)) == ["abs", "rel", "etc"])
            #expect(listed.allSatisfy { !$0.mode.isDirectory && $0.mode.permissions == 0o444 })
        }
    }

    @Test func createDoesNotFollowASymlinkAtTheName() async throws {
        try await withExport { h in
            try h.makeSymlink("trap", to: h.outside + "/planted")
            try h.makeSymlink("dirtrap", to: h.outside)
            let dir = try await h.fid("")
            await #expect(throws: ServerError(.exists)) {
                try await h.create(dir, "trap", perm: FileMode(permissions: 0o644), mode: .write)
            }
            await #expect(throws: ServerError(.exists)) {
                try await h.create(dir, "dirtrap", perm: FileMode(permissions: 0o755, flags: .dir), mode: .read)
            }
            #expect(h.contents(h.outside + "/planted") == nil)
        }
    }

    /// A fid holds the file it walked to, not its name: a symlink swapped
    /// in afterwards is never seen.
    @Test func symlinkSwappedInAfterTheWalk() async throws {
        try await withExport { h in
            try h.makeDirectory("d")
            try h.makeFile("d/secret", "inside")
            try h.makeFile("g", "mine")
            let d = try await h.fid("d")
            let g = try await h.fid("g")
            let gForRemove = try await h.fid("g")
            let gForWstat = try await h.fid("g")

            #expect(rename(h.host("d"), h.host("d.old")) == 0)
            try h.makeSymlink("d", to: h.outside)
            #expect(unlink(h.host("g")) == 0)
            try h.makeSymlink("g", to: h.outside + "/secret")

            // Walking on from the directory fid stays in the real directory.
            let (secret, _) = try await h.walk(d, ["secret"])
            try await h.open(secret, .read)
            #expect(try await h.readString(secret) == "inside")
            // Opening the file fid opens the file it walked to.
            try await h.open(g, .read)
            #expect(try await h.readString(g) == "mine")
            // Removing or changing by name refuses the impostor.
            await #expect(throws: ServerError(.doesNotExist)) { try await h.remove(gForRemove) }
            await #expect(throws: ServerError(.doesNotExist)) { try await h.wstat(gForWstat) { $0.name = "h" } }
            try await h.wstat(gForWstat) { $0.mode = FileMode(permissions: 0o600) }
            #expect(h.hostStatus("g").map { $0.st_mode & S_IFMT == S_IFLNK } == true)
            var outsideStatus = stat()
            #expect(stat(h.outside + "/secret", &outsideStatus) == 0 && outsideStatus.st_mode & 0o777 != 0o600)
            // A fresh walk through the new link stops at the link.
            let (root, _) = try await h.attach()
            let (_, qids) = try await h.walk(root, ["d", "secret"])
            #expect(qids.count == 1)
        }
    }

    @Test func attachRootOfASubtreeConfinesToIt() async throws {
        try await withExport { h in
            try h.makeDirectory("sub")
            try h.makeFile("top", "top")
            let (sub, _) = try await h.attach("sub")
            let (_, qids) = try await h.walk(sub, ["..", "top"])
            #expect(qids.count == 1)
            await #expect(throws: ServerError(.permissionDenied)) { try await h.remove(sub) }
        }
    }
}
