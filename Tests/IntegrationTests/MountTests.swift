import Foundation
import Glibc
import NinePTesting
import Testing

/// `ninep mount` of `ninep export`, both real processes, exercised with
/// ordinary system calls and coreutils. Skipped (loudly) only where the
/// machine has no /dev/fuse or fusermount3.
/// Whether FUSE mounts can run here; says so loudly when they cannot.
func fuseOrWarn() -> Bool {
    if MountFixture.fuseAvailable { return true }
    print("*** /dev/fuse or fusermount3 is missing: SKIPPING every FUSE mount test ***")
    return false
}

@Suite("ninep mount of ninep export", .enabled(if: fuseOrWarn()))
struct MountTests {
    @Test(arguments: PosixSuite.Check.allCases)
    func posix(_ check: PosixSuite.Check) async throws {
        let m = try await MountFixture.start()
        defer { m.forceCleanup() }
        let suite = PosixSuite(root: m.mountpoint, backing: m.exported.path)
        try await runBlocking { try suite.run(check) }
        try await m.stop()
    }

    @Test func posixOverTCP() async throws {
        let m = try await MountFixture.start(listen: "tcp!127.0.0.1!0")
        defer { m.forceCleanup() }
        let suite = PosixSuite(root: m.mountpoint, backing: m.exported.path)
        try await runBlocking {
            for check in [PosixSuite.Check.coreutilsRoundTrip, .renameOverExisting, .errorMapping] {
                try suite.run(check)
            }
        }
        try await m.stop()
    }

    @Test func posixWithDirectIO() async throws {
        let m = try await MountFixture.start(mountArguments: ["-o", "direct_io"])
        defer { m.forceCleanup() }
        let suite = PosixSuite(root: m.mountpoint, backing: m.exported.path)
        try await runBlocking {
            for check in [PosixSuite.Check.writeAtOffsets, .append, .truncate, .concurrentReadersWriters] {
                try suite.run(check)
            }
        }
        try await m.stop()
    }

    /// The randomized oracle: 20,000 operations (NINEP_FSX_OPS to change),
    /// seed printed (NINEP_FSX_SEED to replay).
    @Test func fsxOracle() async throws {
        let m = try await MountFixture.start()
        defer { m.forceCleanup() }
        let env = ProcessInfo.processInfo.environment
        let seed = env["NINEP_FSX_SEED"].flatMap { UInt64($0) } ?? UInt64.random(in: 1...UInt64(UInt32.max))
        let ops = env["NINEP_FSX_OPS"].flatMap { Int($0) } ?? 20_000
        print("fsx through the mount: seed \(seed) (NINEP_FSX_SEED=\(seed) replays it), \(ops) ops")
        let mountpoint = m.mountpoint, exported = m.exported.path
        let (report, same) = try await runBlocking {
            let report = try FsxOracle(directory: mountpoint, seed: seed).run(operations: ops)
            // What the mount shows is what the server has.
            let same = try (0..<4).map { f in
                try Posix.readFile(mountpoint + "/fsx-\(f)") == Posix.readFile(exported + "/fsx-\(f)")
            }
            return (report, same)
        }
        print(report)
        #expect(report.mismatches.isEmpty, "fsx seed \(seed): \(report.mismatches.prefix(10))")
        #expect(report.counts["mmapread", default: 0] > ops / 20)
        #expect(same.allSatisfy { $0 }, "a file differs between the mount and the export")
        try await m.stop()
    }

    /// A 1 GiB file written through the mount and read back, with checksums
    /// on both sides.
    @Test func oneGibibyteFile() async throws {
        let m = try await MountFixture.start()
        defer { m.forceCleanup() }
        let path = m.mountpoint + "/big", backing = m.exported.path + "/big"
        let (size, viaMount, onServer) = try await runBlocking {
            try Posix.runOK(["dd", "if=/dev/urandom", "of=\(path)", "bs=1M", "count=1024", "iflag=fullblock", "status=none"])
            let size = try Posix.stat(backing).st_size
            // Drop the page cache so the read really comes back through 9P.
            _ = try? Posix.run(["sh", "-c", "echo 1 > /proc/sys/vm/drop_caches"])
            let viaMount = try Posix.runOK(["sha256sum", path]).split(separator: " ").first.map(String.init)
            let onServer = try Posix.runOK(["sha256sum", backing]).split(separator: " ").first.map(String.init)
            return (size, viaMount, onServer)
        }
        #expect(size == 1 << 30)
        #expect(viaMount != nil && viaMount == onServer, "checksums differ: \(String(describing: viaMount)) vs \(String(describing: onServer))")
        try await m.stop()
    }

    /// A C program compiled and run inside the mount, then `ls -R` and
    /// `find`: the everyday churn of a build.
    @Test func buildInsideTheMount() async throws {
        let m = try await MountFixture.start()
        defer { m.forceCleanup() }
        let mountpoint = m.mountpoint
        let (out, listing, found) = try await runBlocking { () throws -> (String, String, String) in
        let dir = mountpoint + "/proj"
        try Posix.runOK(["mkdir", "-p", dir + "/src", dir + "/include"])
        try Posix.writeFile(dir + "/include/greet.h", Array("const char *greet(void);\n".utf8))
        try Posix.writeFile(dir + "/src/greet.c", Array("#include \"greet.h\"\nconst char *greet(void) { return \"built on 9P\"; }\n".utf8))
        try Posix.writeFile(dir + "/src/main.c", Array("#include <stdio.h>\n#include \"greet.h\"\nint main(void) { puts(greet()); return 0; }\n".utf8))
        try Posix.writeFile(dir + "/Makefile", Array("""
            hello: src/main.o src/greet.o
            \tcc -o $@ $^
            src/%.o: src/%.c include/greet.h
            \tcc -Iinclude -c -o $@ $<

            """.utf8))
        try Posix.runOK(["make", "-s", "-C", dir])
        let out = try Posix.runOK([dir + "/hello"])
        try Posix.runOK(["make", "-s", "-C", dir])  // nothing to do: mtimes are right
        return (out, try Posix.runOK(["ls", "-R", mountpoint]), try Posix.runOK(["find", mountpoint, "-name", "*.o"]))
        }
        #expect(out == "built on 9P\n")
        #expect(listing.contains("greet.o"))
        #expect(found.split(separator: "\n").count == 2)
        try await m.stop()
    }

    /// Errors through the mount carry the right errno for a read-only export.
    @Test func readOnlyExport() async throws {
        let m = try await MountFixture.start(serverArguments: ["--readonly"])
        defer { m.forceCleanup() }
        try Posix.writeFile(m.exported.path + "/present", Array("x".utf8))
        let fd = open(m.mountpoint + "/new", O_CREAT | O_WRONLY, 0o644)
        let err = errno
        if fd >= 0 { close(fd) }
        #expect(fd < 0 && err == EROFS, "create on a read-only export: errno \(err)")
        #expect(try Posix.readFile(m.mountpoint + "/present") == Array("x".utf8))
        try await m.stop()
    }
}
