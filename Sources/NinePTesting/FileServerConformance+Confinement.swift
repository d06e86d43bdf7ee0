import Glibc
import NIOCore
import NinePWire

// Confinement: nothing a client names (names with '/', symbolic links
// planted in the backing directory pointing out of it, links swapped in
// after a walk) reaches outside the served tree. ".." is in +Protocol.
extension FileServerConformance {
    func confinementSlashInNames(_ c: CheckContext) async throws {
        let s = c.s
        let a = try await s.makeDirectory(c.work, "a")
        _ = try await s.makeFile(a, "f", .utf8("f"))
        for names in [["a/f"], ["/"], ["a/../.."], ["/" + c.workName], ["a", "/f"], ["nul\u{0}"]] {
            let target = s.newFid()
            let reply = try await s.call(.twalk(Twalk(fid: c.work, newfid: target, wname: names)))
            switch reply {
            case .rerror: break
            case .rwalk(let w) where w.wqid.count < names.count: break
            default: throw s.failure("walk \(names.map(\.debugDescription)) answered \(reply): a name with '/' or NUL was used as a path")
            }
            try await s.expectUnused(target, "after walk \(names.map(\.debugDescription))")
        }
        let creating = try await s.clone(a)
        for name in ["x/y", "../x", "/tmp"] {
            try await s.refusal(.tcreate(Tcreate(fid: creating, name: name, perm: FileMode(permissions: 0o644), mode: .write)), "create '\(name)'")
        }
        let file = try await s.walkAll(a, ["f"])
        for name in ["../f", "x/y", "..", "/f"] {
            try await s.refusal(s.wstatMessage(file) { $0.name = name }, "rename to '\(name)'")
        }
        try s.expect(try await s.list(a).map(\.name) == ["f"], "names with '/' left entries in the directory")
        try s.expect(try await s.list(c.work).map(\.name) == ["a"], "names with '/' left entries above the directory")
    }

    func confinementSymlinkToOutsideDirectory(_ c: CheckContext) async throws {
        let s = c.s
        let outside = try Outside(s)
        defer { outside.remove() }
        let links = try outside.plantLinks(in: c, name: "dir", target: outside.path)
        for link in links {
            for names in [[link, "secret"], [link, "sub", "f"], [link, "..", link, "secret"]] {
                let target = s.newFid()
                let reply = try await s.call(.twalk(Twalk(fid: c.work, newfid: target, wname: names)))
                switch reply {
                case .rerror: break
                case .rwalk(let w) where w.wqid.count < names.count:
                    try s.expect(w.wqid.allSatisfy { !$0.isDirectory || $0.same(c.workQid) }, "walk \(names) went through the link into a directory: \(w.wqid)")
                default: throw s.failure("walk \(names) answered \(reply): it followed a link out of the tree")
                }
                try await s.expectUnused(target, "after walk \(names)")
            }
            try await expectRevealsNothing(c, link: link, outside: outside)
            if let fid = try await walkIfAllowed(s, c.work, link) {
                try await s.refusal(.tcreate(Tcreate(fid: fid, name: "planted", perm: FileMode(permissions: 0o644), mode: .write)), "create through link \(link)")
            }
        }
        for entry in try await s.list(c.work) {
            try s.expect(!entry.mode.isDirectory && !entry.qid.isDirectory, "the link \(entry.name) is listed as a directory")
        }
        try outside.expectUntouched(s)
    }

    func confinementSymlinkToOutsideFile(_ c: CheckContext) async throws {
        let s = c.s
        let outside = try Outside(s)
        defer { outside.remove() }
        let links = try outside.plantLinks(in: c, name: "file", target: outside.path + "/secret")
        for link in links {
            try await expectRevealsNothing(c, link: link, outside: outside)
            // Writing, truncating or changing the link must not reach the target.
            for mode in [OpenMode.write, .readWrite, OpenMode.write.with(truncate: true)] {
                guard let fid = try await walkIfAllowed(s, c.work, link) else { continue }
                if case .ropen = try await s.call(.topen(Topen(fid: fid, mode: mode))) {
                    _ = try await s.call(.twrite(Twrite(fid: fid, offset: 0, data: ByteBuffer(string: "pwned"))))
                }
                try await s.clunk(fid)
            }
            if let fid = try await walkIfAllowed(s, c.work, link) {
                _ = try await s.call(s.wstatMessage(fid) { $0.length = 0 })
                _ = try await s.call(s.wstatMessage(fid) { $0.mode = FileMode(permissions: 0o777) })
                _ = try await s.call(s.wstatMessage(fid) { $0.mtime = 1 })
                try await s.clunk(fid)
            }
            try outside.expectUntouched(s)
        }
        // Create must not follow a dangling link to make a file outside.
        let trap = try c.host("trap")
        let trapDir = try c.host("dirtrap")
        try Posix.check("symlink", trap, symlink(outside.path + "/planted", trap))
        try Posix.check("symlink", trapDir, symlink(outside.path + "/planteddir", trapDir))
        for (name, perm) in [("trap", FileMode(permissions: 0o644)), ("dirtrap", FileMode(permissions: 0o755, flags: .dir))] {
            let fid = try await s.clone(c.work)
            _ = try await s.call(.tcreate(Tcreate(fid: fid, name: name, perm: perm, mode: perm.isDirectory ? .read : .write)))
            try await s.clunk(fid)
        }
        try s.expect(c.hostStatus(outside.path + "/planted") == nil, "create of 'trap' followed the link and made a file outside the tree")
        try s.expect(c.hostStatus(outside.path + "/planteddir") == nil, "create of 'dirtrap' followed the link and made a directory outside the tree")
        // Removing a link removes the link.
        for link in links {
            if let fid = try await walkIfAllowed(s, c.work, link) { _ = try await s.call(.tremove(Tremove(fid: fid))) }
        }
        try outside.expectUntouched(s)
    }

    func confinementSymlinkSwappedIn(_ c: CheckContext) async throws {
        let s = c.s
        let outside = try Outside(s)
        defer { outside.remove() }
        let d = try await s.makeDirectory(c.work, "d")
        _ = try await s.makeFile(d, "f", .utf8("inside"))
        _ = try await s.makeFile(c.work, "g", .utf8("mine"))
        let dFid = try await s.walkAll(c.work, ["d"])
        let gRead = try await s.walkAll(c.work, ["g"])
        let gWrite = try await s.walkAll(c.work, ["g"])
        let gChange = try await s.walkAll(c.work, ["g"])

        // Behind the server's back: d and g become links to the outside.
        let hostD = try c.host("d")
        let hostG = try c.host("g")
        try Posix.check("rename", hostD, rename(hostD, try c.host("d.old")))
        try Posix.check("symlink", hostD, symlink(outside.path + "/sub", hostD))
        try Posix.check("unlink", hostG, unlink(hostG))
        try Posix.check("symlink", hostG, symlink(outside.path + "/secret", hostG))

        // The fids still mean what they walked to, or fail; never the outside.
        let target = s.newFid()
        if case .rwalk(let w) = try await s.call(.twalk(Twalk(fid: dFid, newfid: target, wname: ["f"]))), w.wqid.count == 1 {
            try await s.open(target, .read)
            let data = try await s.readAll(target)
            try s.expect(data == .utf8("inside"), "after the swap, d/f through the old fid reads \(String(decoding: data, as: UTF8.self).debugDescription)")
        }
        if case .ropen = try await s.call(.topen(Topen(fid: gRead, mode: .read))) {
            let data = try await s.readAll(gRead)
            try s.expect(!outside.reveals(data), "after the swap, the fid walked to g reads the outside file")
            try s.expect(data == .utf8("mine"), "after the swap, the fid walked to g reads \(String(decoding: data, as: UTF8.self).debugDescription)")
        }
        if case .ropen = try await s.call(.topen(Topen(fid: gWrite, mode: OpenMode.write.with(truncate: true)))) {
            _ = try await s.call(.twrite(Twrite(fid: gWrite, offset: 0, data: ByteBuffer(string: "pwned"))))
        }
        _ = try await s.call(s.wstatMessage(gChange) { $0.mode = FileMode(permissions: 0o777) })
        _ = try await s.call(s.wstatMessage(gChange) { $0.length = 0 })
        // A fresh walk stops at the link.
        let fresh = s.newFid()
        let reply = try await s.call(.twalk(Twalk(fid: c.work, newfid: fresh, wname: ["d", "f"])))
        if case .rwalk(let w) = reply, w.wqid.count == 2 {
            throw s.failure("after the swap, a fresh walk d/f went through the link to the outside")
        }
        try outside.expectUntouched(s)
    }

    // MARK: Helpers

    /// Walks `name` from `dir` into a new fid; nil if the server refuses.
    private func walkIfAllowed(_ s: ConformanceSession, _ dir: Fid, _ name: String) async throws -> Fid? {
        let target = s.newFid()
        if case .rwalk(let w) = try await s.call(.twalk(Twalk(fid: dir, newfid: target, wname: [name]))), w.wqid.count == 1 {
            return target
        }
        return nil
    }

    /// The link, if it can be walked to at all, is no directory and reads
    /// as anything but the outside's contents.
    private func expectRevealsNothing(_ c: CheckContext, link: String, outside: Outside) async throws {
        let s = c.s
        guard let fid = try await walkIfAllowed(s, c.work, link) else { return }
        let st = try await s.stat(fid)
        try s.expect(!st.mode.isDirectory && !st.qid.isDirectory, "the link \(link) is served as a directory: \(st)")
        let target = s.newFid()
        try await s.refusal(.twalk(Twalk(fid: fid, newfid: target, wname: ["secret"])), "walk from link \(link) to 'secret'")
        if case .ropen = try await s.call(.topen(Topen(fid: fid, mode: .read))) {
            let data = try await s.readAll(fid)
            try s.expect(!outside.reveals(data), "reading the link \(link) returned the outside file's contents")
        }
        try await s.clunk(fid)
    }
}

/// A directory outside the served tree, with a secret in it, for the
/// symbolic-link checks:
///
///     <tmp>/ninep-outside-XXXXXX/secret    "outside-secret-<random>"
///     <tmp>/ninep-outside-XXXXXX/sub/f     "outside-sub-<random>"
struct Outside {
    let path: String
    let secret: [UInt8]
    let subSecret: [UInt8]
    private let directory: TemporaryDirectory
    private let secretMode: mode_t

    init(_ s: ConformanceSession) throws {
        directory = try TemporaryDirectory(prefix: "ninep-outside")
        path = directory.path
        var random = SystemRandomNumberGenerator()
        let token = String(random.next(), radix: 36)
        secret = .utf8("outside-secret-\(token)")
        subSecret = .utf8("outside-sub-\(token)")
        try Posix.writeFile(path + "/secret", secret, mode: 0o640)
        try Posix.check("mkdir", path + "/sub", mkdir(path + "/sub", 0o755))
        try Posix.writeFile(path + "/sub/f", subSecret)
        secretMode = try Posix.stat(path + "/secret").st_mode
    }

    /// Plants links to `target` in the check's directory: absolute, relative
    /// by the shortest path ("../../outside-…"), and relative by more ".."
    /// than there are directories (the kernel stops at "/"). Returns their names.
    func plantLinks(in c: CheckContext, name: String, target: String) throws -> [String] {
        let from = try c.host(".").split(separator: "/").filter { $0 != "." }
        let to = target.split(separator: "/")
        let common = zip(from, to).prefix(while: { $0 == $1 }).count
        let shortest = String(repeating: "../", count: from.count - common) + to.dropFirst(common).joined(separator: "/")
        let deep = String(repeating: "../", count: 40) + to.joined(separator: "/")
        var names: [String] = []
        for (kind, to) in [("abs", target), ("rel", shortest), ("deeprel", deep)] {
            let link = "\(kind)-\(name)"
            let host = try c.host(link)
            try Posix.check("symlink", host, symlink(to, host))
            names.append(link)
        }
        return names
    }

    /// Whether `data` holds either secret.
    func reveals(_ data: [UInt8]) -> Bool {
        contains(data, secret) || contains(data, subSecret)
    }

    private func contains(_ data: [UInt8], _ needle: [UInt8]) -> Bool {
        guard data.count >= needle.count else { return false }
        return (0...(data.count - needle.count)).contains { data[$0..<($0 + needle.count)].elementsEqual(needle) }
    }

    /// The outside is as it was made: contents, mode, no new entries.
    func expectUntouched(_ s: ConformanceSession) throws {
        try s.expect(try Posix.readFile(path + "/secret") == secret, "the file outside the tree was changed")
        try s.expect(try Posix.readFile(path + "/sub/f") == subSecret, "the file outside the tree (sub/f) was changed")
        let st = try Posix.stat(path + "/secret")
        try s.expect(st.st_mode == secretMode, "the mode of the file outside the tree was changed")
        try s.expect(st.st_mtim.tv_sec != 1, "the mtime of the file outside the tree was changed")
        let listing = try Posix.runOK(["ls", "-A", path]).split(separator: "\n").map(String.init).sorted()
        try s.expect(listing == ["secret", "sub"], "new entries appeared outside the tree: \(listing)")
    }

    func remove() { directory.remove() }
}
