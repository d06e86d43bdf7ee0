import Foundation
import Glibc
import NinePFuse
import NinePTesting
import Testing

/// The README's "What the mount promises about other clients' changes",
/// promise by promise: another client changes the exported folder directly
/// (behind the mount's back), and the mount must show the change when the
/// promise says so. Each test runs twice: with timeouts (where the promise
/// is "after at most T": the test waits T, plus the kernel's clock tick,
/// then asserts; it never asserts that something is still stale) and with
/// direct_io (where the promise is "at once": no waiting at all).
@Suite("Coherence with other clients", .serialized, .enabled(if: MountedTree.fuseAvailable))
struct CoherenceTests {
    enum Caching: String, CaseIterable, CustomTestStringConvertible {
        /// Every timeout 0.3 s: a change may stay unseen that long, no longer.
        case timeouts
        /// direct_io: nothing is cached.
        case directIO

        var options: [String] {
            switch self {
            case .timeouts: ["attr_timeout=0.3,entry_timeout=0.3,negative_timeout=0.3"]
            case .directIO: ["direct_io"]
            }
        }

        var testDescription: String { rawValue }

        /// Waits as long as the promise allows a change to stay unseen: the
        /// timeout, plus a margin for the kernel rounding it up to its clock
        /// tick. With direct_io, not at all.
        func letTheTimeoutPass() async throws {
            switch self {
            case .timeouts: try await Task.sleep(for: .milliseconds(400))  // the promise's bound, not synchronisation
            case .directIO: break
            }
        }
    }

    func withExport(_ caching: Caching, _ body: (MountedTree) async throws -> Void) async throws {
        try await withMount({ try await .export(options: MountOptions(parsing: caching.options)) }, body)
    }

    /// Another client: writes `text` over the file in place (same inode,
    /// as a program rewriting it would), creating it if need be.
    func writeBehind(_ tree: MountedTree, _ name: String, _ text: String) throws {
        let path = tree.backing! + "/" + name
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw ConformanceFailure("open", path) }
        defer { close(fd) }
        guard write(fd, text, text.utf8.count) == text.utf8.count else { throw ConformanceFailure("write", path) }
    }

    /// Reads the whole file through a new open.
    func readThroughMount(_ path: String) throws -> String {
        try String(contentsOfFile: path, encoding: .utf8)
    }

    /// Negative lookups: "no such file", from the kernel or from the
    /// mount's known names, lasts at most negative_timeout. The directory
    /// is one the mount made, so the mount knows all its names, and lookups
    /// of missing names were answered from that knowledge.
    @Test("a file another client makes is found after the negative timeout", arguments: Caching.allCases)
    func negativeLookups(_ caching: Caching) async throws {
        try await withExport(caching) { tree in
            #expect(mkdir(tree.path("d"), 0o755) == 0)
            for i in 1...50 { #expect(errnoOf { access(tree.path("d/m\(i)"), F_OK) } == ENOENT) }
            #expect(errnoOf { access(tree.path("d/new"), F_OK) } == ENOENT)
            try writeBehind(tree, "d/new", "x")
            try await caching.letTheTimeoutPass()
            #expect(access(tree.path("d/new"), F_OK) == 0, "a file made on the server stayed invisible")
            #expect(try readThroughMount(tree.path("d/new")) == "x")
        }
    }

    /// Positive lookups: a name → file binding lasts at most entry_timeout.
    @Test("a file another client renames is gone from its old name after the entry timeout", arguments: Caching.allCases)
    func positiveLookups(_ caching: Caching) async throws {
        try await withExport(caching) { tree in
            try writeBehind(tree, "old", "x")
            #expect(access(tree.path("old"), F_OK) == 0)
            #expect(rename(tree.backing! + "/old", tree.backing! + "/renamed") == 0)
            try await caching.letTheTimeoutPass()
            #expect(errnoOf { access(tree.path("old"), F_OK) } == ENOENT, "the old name still leads to the file")
            #expect(access(tree.path("renamed"), F_OK) == 0)
        }
    }

    /// Attributes last at most attr_timeout.
    @Test("attributes another client changes are seen after the attribute timeout", arguments: Caching.allCases)
    func attributes(_ caching: Caching) async throws {
        try await withExport(caching) { tree in
            try writeBehind(tree, "f", "abc")
            #expect(chmod(tree.backing! + "/f", 0o644) == 0)
            var st = stat()
            #expect(stat(tree.path("f"), &st) == 0 && st.st_size == 3 && st.st_mode & 0o777 == 0o644)
            #expect(chmod(tree.backing! + "/f", 0o600) == 0)
            try writeBehind(tree, "f", "abcdefg")
            try await caching.letTheTimeoutPass()
            #expect(stat(tree.path("f"), &st) == 0)
            #expect(st.st_size == 7 && st.st_mode & 0o777 == 0o600, "size \(st.st_size), mode \(String(st.st_mode & 0o777, radix: 8))")
        }
    }

    /// File contents: every open checks the file's qid version and drops
    /// the cached pages if it changed (close-to-open), at once, whatever the
    /// timeouts; with direct_io every read goes to the server, so even a
    /// file open all along shows the change at its next read.
    @Test("contents another client writes are read after the next open", arguments: Caching.allCases)
    func contents(_ caching: Caching) async throws {
        try await withExport(caching) { tree in
            try writeBehind(tree, "f", "one")
            let fd = open(tree.path("f"), O_RDONLY)
            #expect(fd >= 0)
            defer { close(fd) }
            var bytes = [UInt8](repeating: 0, count: 16)
            #expect(pread(fd, &bytes, 16, 0) == 3 && Array(bytes.prefix(3)) == Array("one".utf8))
            try Self.changeVersion(of: tree.backing! + "/f") { try writeBehind(tree, "f", "two") }  // same size
            switch caching {
            case .timeouts:
                // No waiting: the open is what makes the change seen.
                #expect(try readThroughMount(tree.path("f")) == "two", "the page cache outlived a change on the server")
            case .directIO:
                #expect(pread(fd, &bytes, 16, 0) == 3 && Array(bytes.prefix(3)) == Array("two".utf8))
                #expect(try readThroughMount(tree.path("f")) == "two")
            }
        }
    }

    /// Listings: every opendir reads the directory from the server.
    @Test("a listing shows every name made or removed by another client before the opendir", arguments: Caching.allCases)
    func listings(_ caching: Caching) async throws {
        try await withExport(caching) { tree in
            try writeBehind(tree, "a", "")
            try writeBehind(tree, "b", "")
            #expect(try Set(FileManager.default.contentsOfDirectory(atPath: tree.mountpoint)) == ["a", "b"])
            try writeBehind(tree, "c", "")
            #expect(unlink(tree.backing! + "/a") == 0)
            // No waiting, with or without timeouts.
            #expect(try Set(FileManager.default.contentsOfDirectory(atPath: tree.mountpoint)) == ["b", "c"])
        }
    }

    /// Makes `change` to the file at `path` on the host so that its qid
    /// version changes: the export's version comes from the ctime, which a
    /// file system with coarse timestamps may leave equal for two changes
    /// in a row; then the change is made again until the ctime moved.
    static func changeVersion(of path: String, _ change: () throws -> Void) throws {
        var before = stat()
        guard stat(path, &before) == 0 else { throw ConformanceFailure("stat", path) }
        var after = stat()
        repeat {
            try change()
            guard stat(path, &after) == 0 else { throw ConformanceFailure("stat", path) }
        } while after.st_ctim.tv_sec == before.st_ctim.tv_sec && after.st_ctim.tv_nsec == before.st_ctim.tv_nsec
    }
}
