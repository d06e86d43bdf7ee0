import Glibc
import NinePExport
import NinePServer
import NinePTesting
import NinePTransport
import NinePWire
import Synchronization
import Testing

/// A server in this process, mounted by a real `ninep mount -f` process, so
/// that the test can look inside the server: which fids the mount holds, and
/// which requests it flushed. (The mount is another process: this one maps
/// no files of its own mount.)
@Suite("ninep mount: fids and interrupts, seen from the server", .enabled(if: fuseOrWarn()), .timeLimit(.minutes(10)))
struct MountFidAndInterruptTests {
    /// Serves `fs` on a unix socket and mounts it; runs `body`; unmounts and
    /// checks the mount process exits 0.
    func withMount(_ fs: any FileServer, options: [String] = [], _ body: (String, ServerListener) async throws -> Void) async throws {
        let scratch = try TemporaryDirectory(prefix: "ninep-fids")
        defer { scratch.remove() }
        let mountpoint = scratch.path + "/mnt"
        #expect(mkdir(mountpoint, 0o755) == 0)
        let listener = try await NinePServer.listen(fs, on: .unix(path: scratch.path + "/9p.sock"))
        let mount = try NinePProcess.start(["mount", "-f"] + options + ["unix!\(scratch.path)/9p.sock", mountpoint])
        defer {
            if MountFixture.isMounted(mountpoint) { _ = try? Posix.run(["fusermount3", "-u", "-z", mountpoint]) }
            mount.stopNow()
        }
        let ready = await mount.waitForStandardError(timeout: .seconds(30)) { $0.contains("mounted ") }
        try #require(ready, "the mount did not come up: \(mount.standardError)")
        try await body(mountpoint, listener)
        try await MountFixture.unmount(mountpoint)
        let status = await mount.waitForExit(timeout: .seconds(30))
        #expect(status == 0, "ninep mount: \(status.map(NinePProcess.describe) ?? "still running")")
        await listener.close()
    }

    /// After `ls -R`, `find`, a build-like churn and the kernel forgetting
    /// every inode it can, the server holds only the mount's root fid; after
    /// the unmount, none.
    @Test func noFidLeaks() async throws {
        let exported = try TemporaryDirectory(prefix: "ninep-fids-export")
        defer { exported.remove() }
        try await withMount(ExportFileServer(root: exported.path)) { mnt, listener in
            _ = try await runBlocking {
                try Posix.runOK(["sh", "-c", """
                    set -e
                    cd '\(mnt)'
                    mkdir -p src/a/b src/c
                    for i in $(seq 1 60); do echo "int f$i(void) { return $i; }" > src/a/b/f$i.c; done
                    for i in $(seq 1 60); do cat src/a/b/f$i.c > src/c/g$i.c; mv src/c/g$i.c src/c/h$i.c; done
                    for i in $(seq 1 30); do rm src/c/h$i.c; done
                    cc -c -o src/a/f1.o src/a/b/f1.c
                    ls -R . > /dev/null
                    find . -type f | xargs cat > /dev/null
                    ls -l src/a/b > /dev/null
                    """])
            }
            let connection = try #require(listener.connections.first)
            let during = try await connection.liveFidCount()
            // Make the kernel forget every inode it can: each FORGET clunks a fid.
            try Posix.runOK(["sh", "-c", "sync; echo 2 > /proc/sys/vm/drop_caches"])
            let settled = try await eventually(.seconds(20)) { try await connection.liveFidCount() <= 1 }
            let after = try await connection.liveFidCount()
            print("fids held by the mount: \(during) after the workload, \(after) once the kernel forgot its inodes")
            #expect(settled && after == 1, "the mount still holds \(after) fids; only the root should remain")
        }
    }

    /// Ctrl-C on a `cat` blocked in a read: the server sees the Tflush, the
    /// read is answered "interrupted", and cat dies of its SIGINT at once.
    /// (With direct_io, since the kernel's page-cache reads are background
    /// requests that it never interrupts.)
    @Test func interruptFlushesTheRead() async throws {
        let fs = StallingFileServer()
        try await withMount(fs, options: ["-o", "direct_io"]) { mnt, _ in
            let cat = try NinePProcess.start(["\(mnt)/stall"], executable: "/bin/cat")
            defer { cat.stopNow() }
            let blocked = await eventually(.seconds(20)) { fs.startedReads > 0 }
            try #require(blocked, "cat's read never reached the server")
            cat.signal(SIGINT)
            let status = await cat.waitForExit(timeout: .seconds(10))
            #expect(status.map { $0 & 0x7f } == SIGINT, "cat: \(status.map(NinePProcess.describe) ?? "still blocked")")
            let flushed = await eventually(.seconds(10)) { fs.cancelledReads > 0 }
            #expect(flushed, "the server never saw the read flushed")
        }
    }
}
