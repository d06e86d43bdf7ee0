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
        try suite.run(check)
        try await m.stop()
    }

    @Test func posixOverTCP() async throws {
        let m = try await MountFixture.start(listen: "tcp!127.0.0.1!0")
        defer { m.forceCleanup() }
        let suite = PosixSuite(root: m.mountpoint, backing: m.exported.path)
        for check in [PosixSuite.Check.coreutilsRoundTrip, .renameOverExisting, .errorMapping] {
            try suite.run(check)
        }
        try await m.stop()
    }

    @Test func posixWithDirectIO() async throws {
        let m = try await MountFixture.start(mountArguments: ["-o", "direct_io"])
        defer { m.forceCleanup() }
        let suite = PosixSuite(root: m.mountpoint, backing: m.exported.path)
        for check in [PosixSuite.Check.writeAtOffsets, .append, .truncate, .concurrentReadersWriters] {
            try suite.run(check)
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
        let report = try FsxOracle(directory: m.mountpoint, seed: seed).run(operations: ops)
        print(report)
        #expect(report.mismatches.isEmpty, "fsx seed \(seed): \(report.mismatches.prefix(10))")
        #expect(report.counts["mmapread", default: 0] > ops / 20)
        // What the mount shows is what the server has.
        for f in 0..<4 {
            let viaMount = try Posix.readFile(m.mountpoint + "/fsx-\(f)")
            let onServer = try Posix.readFile(m.exported.path + "/fsx-\(f)")
            #expect(viaMount == onServer, "fsx-\(f) differs between the mount and the export")
        }
        try await m.stop()
    }

    /// A 1 GiB file written through the mount and read back, with checksums
    /// on both sides.
    @Test func oneGibibyteFile() async throws {
        let m = try await MountFixture.start()
        defer { m.forceCleanup() }
        let path = m.mountpoint + "/big"
        let source = "/dev/urandom"
        try Posix.runOK(["dd", "if=\(source)", "of=\(path)", "bs=1M", "count=1024", "iflag=fullblock", "status=none"])
        let st = try Posix.stat(m.exported.path + "/big")
        #expect(st.st_size == 1 << 30)
        let viaMount = try Posix.runOK(["sha256sum", path]).split(separator: " ").first
        let onServer = try Posix.runOK(["sha256sum", m.exported.path + "/big"]).split(separator: " ").first
        #expect(viaMount != nil && viaMount == onServer, "checksums differ: \(String(describing: viaMount)) vs \(String(describing: onServer))")
        try await m.stop()
    }

    /// A C program compiled and run inside the mount, then `ls -R` and
    /// `find`: the everyday churn of a build.
    @Test func buildInsideTheMount() async throws {
        let m = try await MountFixture.start()
        defer { m.forceCleanup() }
        let dir = m.mountpoint + "/proj"
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
        #expect(out == "built on 9P\n")
        try Posix.runOK(["make", "-s", "-C", dir])  // nothing to do: mtimes are right
        let listing = try Posix.runOK(["ls", "-R", m.mountpoint])
        #expect(listing.contains("greet.o"))
        let found = try Posix.runOK(["find", m.mountpoint, "-name", "*.o"])
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
