import Foundation
import FuseLowLevel
import Glibc
import Testing

/// Real system calls against the mounted `MemoryFileSystem`.
@Suite(.enabled(if: TestMount.deviceAvailable))
struct FileOperationTests {
    @Test func helloTree() throws {
        let mount = try TestMount()
        defer { mount.unmount() }
        let names = try FileManager.default.contentsOfDirectory(atPath: mount.directory)
        #expect(Set(names).isSuperset(of: ["hello.txt", "big", "late.txt", "gate", "block", "direct.bin"]))
        var st = stat()
        #expect(stat(mount.path("hello.txt"), &st) == 0)
        #expect(st.st_mode & S_IFMT == S_IFREG && st.st_size == MemoryFileSystem.hello.count)
        #expect(stat(mount.path("big"), &st) == 0)
        #expect(st.st_mode & S_IFMT == S_IFDIR)
        #expect(readFile(mount.path("hello.txt")) == MemoryFileSystem.hello)
        #expect(errnoOf { stat(mount.path("missing"), &st) } == ENOENT)
        var fs = statvfs()
        #expect(statvfs(mount.directory, &fs) == 0)
        #expect(fs.f_bsize == 4096 && fs.f_blocks == 1_000 && fs.f_bfree == 600)
    }

    @Test(arguments: [FuseSessionOptions.ReaddirPlus.never, .always, .auto])
    func bigDirectoryThroughTinyGetdentsBuffer(readdirPlus: FuseSessionOptions.ReaddirPlus) throws {
        var options = TestMount.options()
        options.readdirPlus = readdirPlus
        let mount = try TestMount(options: options)
        defer { mount.unmount() }
        let names = try #require(listWithGetdents(mount.path("big"), bufferSize: 2048))
        let expected = (0..<MemoryFileSystem.bigCount).map { "f" + String(100_000 + $0).dropFirst() }
        #expect(names.count == MemoryFileSystem.bigCount + 2)
        #expect(Set(names).count == names.count, "an entry came twice")
        #expect(Set(names) == Set(expected + [".", ".."]))
        let record = mount.fs.record.withLock { $0 }
        switch readdirPlus {
        case .never: #expect(record.readdirplusCalls == 0 && record.readdirCalls > 1)
        case .always: #expect(record.readdirCalls == 0 && record.readdirplusCalls > 1)
        case .auto: #expect(record.readdirCalls + record.readdirplusCalls > 1)
        }
    }

    @Test func oneMebibyteWriteArrivesInOneRequest() throws {
        let mount = try TestMount()
        defer { mount.unmount() }
        let size = 1 << 20
        let data = MemoryFileSystem.pattern(size)
        let fd = open(mount.path("written.bin"), O_CREAT | O_WRONLY | O_TRUNC, 0o644)
        try #require(fd >= 0)
        let written = data.withUnsafeBytes { write(fd, $0.baseAddress, size) }
        #expect(close(fd) == 0)
        #expect(written == size)
        #expect(mount.fs.record.withLock { $0.writeSizes } == [size])
        #expect(readFile(mount.path("written.bin")) == data)
    }

    @Test func oneMebibyteDirectReadArrivesInOneRequest() throws {
        let mount = try TestMount()
        defer { mount.unmount() }
        let size = 1 << 20
        let fd = open(mount.path("direct.bin"), O_RDONLY)
        try #require(fd >= 0)
        defer { close(fd) }
        // Page-aligned: the kernel pins the caller's pages, at most 256 per
        // request, and an unaligned MiB spans 257 of them.
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: Int(getpagesize()))
        defer { buffer.deallocate() }
        #expect(pread(fd, buffer.baseAddress, size, 0) == size)
        #expect(Array(buffer) == MemoryFileSystem.pattern(size))
        #expect(mount.fs.record.withLock { $0.readSizes } == [size])
    }

    @Test func directoriesRenameTruncateUnlink() throws {
        let mount = try TestMount()
        defer { mount.unmount() }
        #expect(mkdir(mount.path("d1"), 0o755) == 0)
        #expect(mkdir(mount.path("d2"), 0o700) == 0)
        #expect(errnoOf { mkdir(mount.path("d1"), 0o755) } == EEXIST)
        try Data("one".utf8).write(to: URL(fileURLWithPath: mount.path("d1/a.txt")))
        #expect(rename(mount.path("d1/a.txt"), mount.path("d2/b.txt")) == 0)
        var st = stat()
        #expect(errnoOf { stat(mount.path("d1/a.txt"), &st) } == ENOENT)
        #expect(readFile(mount.path("d2/b.txt")) == Array("one".utf8))

        #expect(truncate(mount.path("d2/b.txt"), 10) == 0)
        #expect(stat(mount.path("d2/b.txt"), &st) == 0 && st.st_size == 10)
        #expect(chmod(mount.path("d2/b.txt"), 0o600) == 0)
        #expect(stat(mount.path("d2/b.txt"), &st) == 0 && st.st_mode & 0o777 == 0o600)
        // O_TRUNC arrives with open (FUSE_CAP_ATOMIC_O_TRUNC).
        let fd = open(mount.path("d2/b.txt"), O_WRONLY | O_TRUNC)
        #expect(fd >= 0 && close(fd) == 0)
        #expect(stat(mount.path("d2/b.txt"), &st) == 0 && st.st_size == 0)

        #expect(errnoOf { rmdir(mount.path("d2")) } == ENOTEMPTY)
        #expect(unlink(mount.path("d2/b.txt")) == 0)
        #expect(rmdir(mount.path("d2")) == 0)
        #expect(rmdir(mount.path("d1")) == 0)
        #expect(try FileManager.default.contentsOfDirectory(atPath: mount.directory).filter { $0.hasPrefix("d") } == ["direct.bin"])
    }
}
