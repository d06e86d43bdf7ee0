import Dispatch
import Foundation
import Glibc
import NinePFuse
import NinePServer
import NinePTesting
import Synchronization
import Testing

/// Real mounts: a FileServer behind the real service loop on a unix socket,
/// a NinePClient, the bridge, libfuse and the kernel, driven by ordinary
/// system calls and programs. Serialized: each test mounts its own tree,
/// and the machine has two cores.
@Suite("NinePFuse mounts", .serialized, .enabled(if: MountedTree.fuseAvailable))
struct MountTests {
    @Test("POSIX suite on an exported directory", arguments: PosixSuite.Check.allCases)
    func posixOnExport(_ check: PosixSuite.Check) async throws {
        try await withMount({ try await .export() }) { tree in
            try PosixSuite(root: tree.mountpoint, backing: tree.backing).run(check)
            #expect(tree.mount.openHandleCount == 0, "handles left open after \(check)")
        }
    }

    /// RamFS behaves like lib9p's ramfs: Plan 9 permissions, and a rename
    /// over an existing name is refused ("file already exists"), so the
    /// bridge's remove-and-retry path carries renameOverExisting.
    @Test("POSIX suite on RamFS (a lib9p-style server)", arguments: PosixSuite.Check.allCases)
    func posixOnRamFS(_ check: PosixSuite.Check) async throws {
        try await withMount({ try await .serving(RamFS()) }) { tree in
            try PosixSuite(root: tree.mountpoint).run(check)
        }
    }

    @Test("fsx oracle: 20,000 random operations, 0 mismatches")
    func fsxOracle() async throws {
        let seed = ProcessInfo.processInfo.environment["NINEP_FSX_SEED"].flatMap { UInt64($0) } ?? UInt64.random(in: 1...UInt64(UInt32.max))
        print("fsx seed \(seed) (rerun with NINEP_FSX_SEED=\(seed))")
        try await withMount({ try await .export() }) { tree in
            let report = try FsxChild.run(directory: tree.mountpoint, seed: seed, operations: 20_000)
            #expect(report.mismatches.isEmpty, "seed \(seed): \(report.mismatches)")
            #expect(report.count("mmapread") > 1_000)
        }
    }

    /// 5,000 fsx operations on an export mounted with `-o option`, then
    /// the POSIX suite's `checks`.
    func fsxAndChecks(_ option: String, _ checks: [PosixSuite.Check]) async throws {
        let seed = UInt64.random(in: 1...UInt64(UInt32.max))
        print("fsx (\(option)) seed \(seed)")
        try await withMount({ try await .export(options: MountOptions(parsing: [option])) }) { tree in
            let report = try FsxChild.run(directory: tree.mountpoint, seed: seed, operations: 5_000)
            #expect(report.mismatches.isEmpty, "seed \(seed): \(report.mismatches)")
            for check in checks { try PosixSuite(root: tree.mountpoint, backing: tree.backing).run(check) }
        }
    }

    @Test("fsx oracle with the writeback cache")
    func fsxOracleWriteback() async throws {
        try await fsxAndChecks("writeback", [.append])
    }

    /// By default the client's event loop reads the FUSE device; `threads=N`
    /// gives it worker threads of its own instead, which must work as well.
    @Test("threads=3: worker threads read the FUSE device instead of the event loop")
    func workerThreads() async throws {
        try await fsxAndChecks("threads=3", [.coreutilsRoundTrip, .concurrentReadersWriters, .largeDirectory])
    }

    @Test("direct_io: every read and write reaches the server")
    func directIO() async throws {
        try await withMount({ try await .export(options: MountOptions(parsing: ["direct_io"])) }) { tree in
            for check: PosixSuite.Check in [.writeAtOffsets, .append, .truncate, .coreutilsRoundTrip] {
                try PosixSuite(root: tree.mountpoint, backing: tree.backing).run(check)
            }
            // Written on the server behind the mount's back: seen at once, no cache.
            try Data("one".utf8).write(to: URL(fileURLWithPath: tree.backing! + "/side"))
            #expect(try String(contentsOfFile: tree.path("side"), encoding: .utf8) == "one")
            try Data("two!".utf8).write(to: URL(fileURLWithPath: tree.backing! + "/side"))
            let fd = open(tree.path("side"), O_RDONLY)
            defer { close(fd) }
            var bytes = [UInt8](repeating: 0, count: 16)
            #expect(read(fd, &bytes, 16) == 4)
        }
    }

    @Test("10,000 entries: getdents64 with a 2 KiB buffer and ls -l see each once; no fid per entry")
    func largeDirectory() async throws {
        try await withMount({ try await .export() }) { tree in
            let dir = tree.backing! + "/big"
            #expect(mkdir(dir, 0o755) == 0)
            for i in 0..<10_000 {
                let fd = open(dir + "/file-\(i)", O_CREAT | O_WRONLY, 0o644)
                #expect(fd >= 0)
                close(fd)
            }
            let names = try getdentsNames(tree.path("big"), bufferSize: 2048)
            let files = names.filter { $0.hasPrefix("file-") }
            #expect(files.count == 10_000)
            #expect(Set(files).count == 10_000, "repeated entries")
            #expect(names.filter { $0 == "." }.count == 1 && names.filter { $0 == ".." }.count == 1)

            let start = Date()
            let listing = try shell("ls -l '\(tree.path("big"))' | grep -c ' file-'")
            print("ls -l of 10,000 entries: \(String(format: "%.2f", Date().timeIntervalSince(start))) s")
            #expect(listing.trimmingCharacters(in: .whitespacesAndNewlines) == "10000")
            // readdirplus made nodes of all of them, without a fid each.
            #expect(tree.mount.nodeCount > 10_000)
            #expect(tree.mount.liveFidCount <= 3, "\(tree.mount.liveFidCount) fids after listing")
            #expect(tree.server.liveFids == tree.mount.liveFidCount)
        }
    }

    @Test("a 1 GiB file written and read back through the mount, with a checksum")
    func oneGibibyte() async throws {
        try await withMount({ try await .export() }) { tree in
            let file = tree.path("big.bin")
            let written = try shell("head -c 1073741824 /dev/urandom | tee '\(file)' | sha256sum")
            let read = try shell("sha256sum < '\(file)'")
            let onServer = try shell("sha256sum < '\(tree.backing!)/big.bin'")
            #expect(written.prefix(64) == read.prefix(64))
            #expect(written.prefix(64) == onServer.prefix(64))
            var st = stat()
            #expect(stat(file, &st) == 0 && st.st_size == 1 << 30)

            // Rough throughput figures for the report.
            let write = try shell("dd if=/dev/zero of='\(tree.path("zero.bin"))' bs=1M count=1024 conv=fsync 2>&1 | tail -1")
            // zero.bin changed since it was opened, so this open drops its cached pages: the read goes to the server.
            let readBack = try shell("dd if='\(tree.path("zero.bin"))' of=/dev/null bs=1M 2>&1 | tail -1")
            print("dd write 1 GiB through the mount: \(write.trimmingCharacters(in: .whitespacesAndNewlines))")
            print("dd read 1 GiB through the mount: \(readBack.trimmingCharacters(in: .whitespacesAndNewlines))")
            #expect(unlink(file) == 0 && unlink(tree.path("zero.bin")) == 0)
        }
    }

    /// ls -R, find and a build-like churn keep only directories' fids; after
    /// the unmount (`MountedTree.unmount`) the server holds none.
    @Test("no fid leaks: ls -R, find and a build, then unmount")
    func noFidLeaks() async throws {
        try await withMount({ try await .export() }) { tree in
            let root = tree.mountpoint
            try shell("""
                cd '\(root)' && for d in a a/b a/b/c x x/y; do mkdir -p $d; for i in 1 2 3 4 5 6 7 8 9 10; do echo $d $i > $d/f$i; done; done
                """)
            try shell("ls -R '\(root)' > /dev/null && ls -lR '\(root)' > /dev/null")
            let found = try shell("find '\(root)' | wc -l")
            #expect(Int(found.trimmingCharacters(in: .whitespacesAndNewlines)) == 56)  // root, 5 directories, 50 files
            // A build: sources compiled to objects (write, rename into place),
            // linked, the objects removed, twice over.
            try shell("""
                cd '\(root)' && mkdir -p build && for round in 1 2; do
                  for i in $(seq 1 60); do printf 'int f%d(void){return %d;}\\n' $i $i > build/s$i.c; done
                  for i in $(seq 1 60); do cat build/s$i.c build/s$i.c > build/.o$i.tmp && mv build/.o$i.tmp build/o$i.o; done
                  cat build/o*.o > build/app && chmod +x build/app && ls -l build > /dev/null
                  rm build/o*.o build/s*.c
                done; rm -r build
                """)
            try shell("rm -r '\(root)/x'")
            #expect(tree.mount.openHandleCount == 0)
            let directories = try shell("find '\(root)' -type d | wc -l")
            // The removed directories' fids go when the kernel forgets them.
            let bound = Int(directories.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
            #expect(tree.server.waitForLiveFids(atMost: bound), "the server holds \(tree.server.liveFids) fids; directories: \(bound)")
            print("fids held while mounted: bridge \(tree.mount.liveFidCount), server \(tree.server.liveFids), directories (root included): \(bound)")
            // One round trip: the Rclunks the server sent before it are in.
            _ = try await tree.client.stat(#require(tree.client.root))
            #expect(tree.mount.liveFidCount == tree.server.liveFids)
            // When the kernel forgets its inodes, the directories' fids go too.
            if (try? "2".write(toFile: "/proc/sys/vm/drop_caches", atomically: false, encoding: .utf8)) != nil {
                #expect(tree.server.waitForLiveFids(1), "after drop_caches the server holds \(tree.server.liveFids) fids, expected the root's")
            } else {
                print("note: /proc/sys/vm/drop_caches is not writable here; forget-driven clunks are covered by the unmount check only")
            }
        }
    }

    @Test("error mapping through the mount: EACCES from a Plan 9 permission check")
    func permissionDenied() async throws {
        try await withMount({ try await .serving(RamFS()) }) { tree in
            let file = tree.path("secret")
            let fd = open(file, O_CREAT | O_WRONLY, 0o600)
            #expect(fd >= 0)
            close(fd)
            #expect(chmod(file, 0o000) == 0)
            // RamFS checks Plan 9 permissions: its root user gets no bypass.
            #expect(errnoOf { open(file, O_RDONLY) } == EACCES)
            #expect(errnoOf { open(tree.path("missing"), O_RDONLY) } == ENOENT)
            #expect(errnoOf { mkdir(file, 0o755) } == EEXIST)
            #expect(errnoOf { open(file + "/below", O_RDONLY) } == ENOTDIR)
            #expect(errnoOf { open(tree.mountpoint, O_WRONLY) } == EISDIR)
            #expect(errnoOf { symlink("x", tree.path("link")) } == EPERM)
            #expect(errnoOf { link(file, tree.path("hard")) } == EPERM)
            #expect(errnoOf { chown(file, 12345, 12345) } == EPERM)
            #expect(errnoOf { mknod(tree.path("fifo"), S_IFIFO | 0o644, 0) } == EPERM)
            var fs = statvfs()
            #expect(statvfs(tree.mountpoint, &fs) == 0 && fs.f_bavail > 0 && fs.f_namemax == 255)
        }
    }

    /// The kernel sends CREATE only for a name it believes missing; a name
    /// made on the server behind its back (its negative entry still cached)
    /// makes Tcreate fail "exists": O_EXCL is EEXIST, otherwise the file is
    /// opened as it is (truncated only with O_TRUNC). A file created through
    /// the mount shows the attributes the export gave it, from the first fstat.
    @Test("create: attributes as on the export; a name made behind the kernel's back")
    func createSemantics() async throws {
        try await withMount({ try await .export(options: MountOptions(parsing: ["negative_timeout=3600"])) }) { tree in
            let fd = open(tree.path("new"), O_CREAT | O_EXCL | O_RDWR, 0o640)
            #expect(fd >= 0)
            var seen = stat()
            var onExport = stat()
            #expect(fstat(fd, &seen) == 0 && stat(tree.backing! + "/new", &onExport) == 0)
            #expect(seen.st_mode == onExport.st_mode && seen.st_mode == S_IFREG | 0o640)
            #expect(seen.st_size == 0 && onExport.st_size == 0)
            #expect(seen.st_uid == onExport.st_uid && seen.st_gid == onExport.st_gid)
            #expect(write(fd, "abc", 3) == 3)
            close(fd)

            func makeBehindTheKernelsBack(_ name: String) throws {
                #expect(errnoOf { access(tree.path(name), F_OK) } == ENOENT)  // now a cached negative entry
                try "kept".write(toFile: tree.backing! + "/" + name, atomically: false, encoding: .utf8)
            }
            try makeBehindTheKernelsBack("excl")
            #expect(errnoOf { open(tree.path("excl"), O_CREAT | O_EXCL | O_WRONLY, 0o644) } == EEXIST)
            try makeBehindTheKernelsBack("plain")
            let plain = open(tree.path("plain"), O_CREAT | O_RDWR, 0o644)
            #expect(plain >= 0)
            var buffer = [UInt8](repeating: 0, count: 16)
            #expect(read(plain, &buffer, 16) == 4 && Array(buffer.prefix(4)) == Array("kept".utf8))
            close(plain)
            try makeBehindTheKernelsBack("trunc")
            let trunc = open(tree.path("trunc"), O_CREAT | O_TRUNC | O_WRONLY, 0o644)
            #expect(trunc >= 0)
            close(trunc)
            #expect(stat(tree.backing! + "/trunc", &onExport) == 0 && onExport.st_size == 0)
        }
    }

    /// Filling a directory the mount made: the kernel's LOOKUP of each new
    /// name is answered from what the mount knows (the directory was empty,
    /// and every name since is its own), so no Twalk reaches the server for
    /// it; unlink and rename keep that knowledge right.
    @Test("names known missing: creates in a new directory walk no names at the server")
    func knownMissingNames() async throws {
        try await withMount({ try await .export(options: MountOptions(parsing: ["negative_timeout=3600"])) }) { tree in
            #expect(mkdir(tree.path("d"), 0o755) == 0)
            for i in 1...200 {
                let fd = open(tree.path("d/f\(i)"), O_CREAT | O_WRONLY, 0o644)
                #expect(fd >= 0)
                close(fd)
            }
            #expect((1...200).allSatisfy { tree.server.walks(to: "f\($0)") == 0 })
            let made = try FileManager.default.contentsOfDirectory(atPath: tree.backing! + "/d")
            #expect(made.count == 200)
            #expect(unlink(tree.path("d/f1")) == 0)
            #expect(errnoOf { access(tree.path("d/f1"), F_OK) } == ENOENT)
            #expect(rename(tree.path("d/f2"), tree.path("d/moved")) == 0)
            #expect(errnoOf { access(tree.path("d/f2"), F_OK) } == ENOENT)
            #expect(access(tree.path("d/moved"), F_OK) == 0)
            #expect(errnoOf { open(tree.path("d/f3"), O_CREAT | O_EXCL | O_WRONLY, 0o644) } == EEXIST)
        }
    }

    /// A directory the mount did not make gets its listing read once
    /// lookups of missing names there keep reaching the server; from then
    /// on they are answered without it, and names that exist still are found.
    @Test("names known missing: a directory's listing is read after repeated misses")
    func knownMissingNamesFromAListing() async throws {
        try await withMount({ try await .export(options: MountOptions(parsing: ["negative_timeout=3600"])) }) { tree in
            let backing = tree.backing! + "/pre"
            #expect(mkdir(backing, 0o755) == 0)
            for i in 1...50 { #expect(FileManager.default.createFile(atPath: backing + "/p\(i)", contents: nil)) }
            // Misses at the server, until the listing is in; bounded, in case it never comes.
            var answeredWithoutServer: String?
            for i in 1...2_000 where answeredWithoutServer == nil {
                #expect(errnoOf { access(tree.path("pre/m\(i)"), F_OK) } == ENOENT)
                if tree.server.walks(to: "m\(i)") == 0 { answeredWithoutServer = "m\(i)" }
            }
            #expect(answeredWithoutServer != nil, "every lookup of a missing name went to the server")
            #expect((1...50).allSatisfy { access(tree.path("pre/p\($0)"), F_OK) == 0 })
        }
    }

    /// The promise is the negative timeout's: a file another client made
    /// may stay unseen that long, and no longer; with 0, not at all.
    @Test("names known missing: a name made behind the mount's back shows once the negative timeout passed")
    func knownMissingNamesExpire() async throws {
        try await withMount({ try await .export(options: MountOptions(parsing: ["negative_timeout=0.3"])) }) { tree in
            #expect(mkdir(tree.path("d"), 0o755) == 0)
            #expect(FileManager.default.createFile(atPath: tree.backing! + "/d/other", contents: nil))
            // Polling the kernel, which keeps its own timeout.
            _ = await eventually(.seconds(20)) { access(tree.path("d/other"), F_OK) == 0 }
            #expect(access(tree.path("d/other"), F_OK) == 0, "a file made on the server stayed invisible")
        }
        try await withMount({ try await .export(options: MountOptions(parsing: ["negative_timeout=0"])) }) { tree in
            #expect(mkdir(tree.path("d"), 0o755) == 0)
            #expect(FileManager.default.createFile(atPath: tree.backing! + "/d/other", contents: nil))
            #expect(access(tree.path("d/other"), F_OK) == 0)
        }
    }

    /// Lookups and creates pipeline their requests; a server seen to run
    /// one early gets it again, alone, and from then on one at a time.
    @Test("a server that runs pipelined requests out of order", arguments: [
        MisorderingFileServer.Fault.createBeforeWalk, .statBeforeCreate,
    ])
    func outOfOrderServer(_ fault: MisorderingFileServer.Fault) async throws {
        let server = MisorderingFileServer(RamFS(), fault)
        try await withMount({ try await .serving(server) }) { tree in
            for name in ["a", "b"] {
                let fd = open(tree.path(name), O_CREAT | O_EXCL | O_WRONLY, 0o644)
                #expect(fd >= 0, "create \(name): errno \(errno)")
                var st = stat()
                #expect(fstat(fd, &st) == 0 && st.st_mode == S_IFREG | 0o644 && st.st_size == 0)
                #expect(write(fd, name, 1) == 1)
                close(fd)
            }
            #expect(server.injected)
            let contents = try shell("cat '\(tree.path("a"))' '\(tree.path("b"))'")
            #expect(contents == "ab")
        }
    }

    @Test("rename: RENAME_NOREPLACE, RENAME_EXCHANGE and across directories")
    func renameFlags() async throws {
        try await withMount({ try await .export() }) { tree in
            try shell("cd '\(tree.mountpoint)' && echo a > a && echo b > b && mkdir d")
            let renameat2 = unsafeBitCast(
                dlsym(UnsafeMutableRawPointer(bitPattern: 0), "renameat2"),
                to: (@convention(c) (Int32, UnsafePointer<CChar>, Int32, UnsafePointer<CChar>, UInt32) -> Int32).self)
            #expect(errnoOf { renameat2(AT_FDCWD, tree.path("a"), AT_FDCWD, tree.path("b"), 1) } == EEXIST)
            #expect(errnoOf { renameat2(AT_FDCWD, tree.path("a"), AT_FDCWD, tree.path("b"), 2) } == EINVAL)
            #expect(errnoOf { renameat2(AT_FDCWD, tree.path("a"), AT_FDCWD, tree.path("c"), 1) } == 0)
            #expect(errnoOf { rename(tree.path("c"), tree.path("d/c")) } == EXDEV)
            try shell("mv '\(tree.path("c"))' '\(tree.path("d/c"))'")
            #expect(try String(contentsOfFile: tree.backing! + "/d/c", encoding: .utf8) == "a\n")
            #expect(errnoOf { rename(tree.path("d"), tree.path("b")) } == ENOTDIR)
        }
    }

    /// A read the server never answers: the kernel's INTERRUPT becomes a
    /// Tflush, the server answers "interrupted", and the reader gets EINTR.
    /// direct_io makes the read synchronous (page-cache reads are sent in
    /// the background and are not interrupted by the reader's signals).
    @Test("interrupt: a blocked read ends with EINTR and the server sees Tflush")
    func interrupt() async throws {
        let stalling = StallingFileServer()
        try await withMount({ try await .serving(stalling, options: MountOptions(parsing: ["direct_io"])) }) { tree in
            // In this process: a thread blocked in read(2) gets SIGUSR1 (no SA_RESTART).
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { _ in }
            sigemptyset(&action.sa_mask)
            action.sa_flags = 0
            var previous = sigaction()
            #expect(sigaction(SIGUSR1, &action, &previous) == 0)
            defer { sigaction(SIGUSR1, &previous, nil) }

            let result = Mutex<(count: Int, errno: Int32)?>(nil)
            let done = DispatchSemaphore(value: 0)
            let reader = Mutex<pthread_t?>(nil)
            let path = tree.path("stall")
            let thread = Thread {
                // Threads of the test runner block most signals; this one takes SIGUSR1.
                var usr1 = sigset_t()
                sigemptyset(&usr1)
                sigaddset(&usr1, SIGUSR1)
                pthread_sigmask(SIG_UNBLOCK, &usr1, nil)
                reader.withLock { $0 = pthread_self() }
                let fd = open(path, O_RDONLY)
                var byte = [UInt8](repeating: 0, count: 4096)
                let n = fd < 0 ? -2 : read(fd, &byte, byte.count)
                let code = errno
                result.withLock { $0 = (n, code) }
                if fd >= 0 { close(fd) }
                done.signal()
            }
            thread.start()
            #expect(stalling.waitForReads(moreThan: 0), "the read never reached the server")
            let flushesBefore = tree.server.flushes
            guard let target = reader.withLock({ $0 }) else {
                Issue.record("reader thread not started")
                return
            }
            pthread_kill(target, SIGUSR1)
            #expect(done.wait(timeout: .now() + 10) == .success, "read(2) did not return after the signal")
            let outcome = result.withLock { $0 }
            #expect(outcome?.count == -1)
            #expect(outcome?.errno == EINTR, "read failed with errno \(outcome?.errno ?? -1), expected EINTR")
            // The EINTR does not wait for the Rflush: the Tflush reaches the server after it, or with it.
            let flushed = await eventually(.seconds(10)) { tree.server.flushes > flushesBefore && stalling.cancelledReads == 1 }
            #expect(flushed, "no Tflush reached the server (\(tree.server.flushes - flushesBefore) flushes, \(stalling.cancelledReads) reads cancelled)")

            // cat, interrupted with SIGINT like a user's ^C: it must die, not hang.
            let cat = try SpawnedProcess(["/bin/cat", path])
            #expect(stalling.waitForReads(moreThan: 1), "cat's read never reached the server")
            kill(cat.pid, SIGINT)
            let status = cat.waitForExit(seconds: 10)
            #expect(status != nil, "cat did not exit after SIGINT")
            #expect(status.map { $0 & 0x7f } == SIGINT, "cat was not ended by SIGINT (wait status \(status ?? -1))")
            let flushedAgain = await eventually(.seconds(10)) { tree.server.flushes >= flushesBefore + 2 && stalling.cancelledReads == 2 }
            #expect(flushedAgain, "cat's read was not flushed (\(stalling.cancelledReads) reads cancelled)")
        }
    }
}
