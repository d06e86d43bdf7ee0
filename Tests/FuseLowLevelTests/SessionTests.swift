import Dispatch
import Foundation
@testable import FuseLowLevel
import Glibc
import NinePTesting
import Testing

/// Mounting, negotiating, and every way a session ends.
@Suite(.enabled(if: TestMount.deviceAvailable))
struct SessionTests {
    @Test func mountsAndNegotiatesOneMebibyteTransfers() throws {
        let mount = try TestMount()
        defer { mount.unmount() }
        #expect(isMounted(mount.directory))
        var st = stat()
        #expect(stat(mount.directory, &st) == 0)
        #expect(st.st_mode & S_IFMT == S_IFDIR)

        let info = try #require(mount.session.connection)
        #expect(mount.fs.record.withLock { $0.connection } == info)
        print("negotiated: protocol \(info.protocolMajor).\(info.protocolMinor) max_write=\(info.maxWrite) max_read=\(info.maxRead) max_readahead=\(info.maxReadahead) max_background=\(info.maxBackground) want=\(info.want) capable=\(info.capable)")
        #expect(info.maxWrite == 1 << 20)
        #expect(info.maxRead == 1 << 20)
        #expect(info.want.isSuperset(of: [.asyncRead, .parallelDirops, .readdirplus, .readdirplusAuto]))
        #expect(info.want.isDisjoint(with: [.writebackCache, .spliceRead, .spliceWrite, .spliceMove, .handleKillpriv]))
    }

    @Test func writebackCacheOnlyWhenAsked() throws {
        var options = TestMount.options()
        options.writebackCache = true
        options.readdirPlus = .never
        let mount = try TestMount(options: options)
        defer { mount.unmount() }
        #expect(access(mount.directory, F_OK) == 0)  // the first request makes the kernel finish INIT
        let info = try #require(mount.session.connection)
        #expect(info.want.contains(.writebackCache) == info.capable.contains(.writebackCache))
        #expect(info.want.isDisjoint(with: [.readdirplus, .readdirplusAuto]))
    }

    @Test(arguments: TestMount.Serving.allCases)
    func unmountFromOutsideEndsRun(_ serving: TestMount.Serving) async throws {
        let mount = try TestMount(options: TestMount.options(serving: serving))
        defer { mount.unmount() }
        #expect(readFile(mount.path("hello.txt")) == MemoryFileSystem.hello)

        try await MountFixture.unmount(mount.directory)

        let result = try #require(mount.waitForRun(), "run() did not return after fusermount3 -u")
        #expect(throws: Never.self) { try result.get() }
        #expect(!isMounted(mount.directory))
        #expect(mount.fs.record.withLock { $0.destroyed })
    }

    @Test(arguments: TestMount.Serving.allCases)
    func stopFromAnotherThreadEndsRunWhileAFileIsOpen(_ serving: TestMount.Serving) throws {
        let mount = try TestMount(options: TestMount.options(serving: serving))
        defer { mount.unmount() }
        let fd = open(mount.path("hello.txt"), O_RDONLY)
        #expect(fd >= 0)
        defer { close(fd) }

        DispatchQueue.global().async { mount.session.stop() }
        let result = try #require(mount.waitForRun(), "run() did not return after stop()")
        #expect(throws: Never.self) { try result.get() }
        #expect(!isMounted(mount.directory))
        #expect(mount.fs.record.withLock { $0.destroyed })
        // The open file lost its server: reading it fails instead of hanging.
        var byte: UInt8 = 0
        #expect(read(fd, &byte, 1) == -1)
    }

    @Test(arguments: TestMount.Serving.allCases)
    func stopBeforeRunAndRunOnlyOnce(_ serving: TestMount.Serving) throws {
        let directory = try makeTemporaryDirectory()
        defer { rmdir(directory) }
        let session = try FuseSession(
            mountpoint: directory, options: TestMount.options(serving: serving), operations: MemoryFileSystem())
        #expect(isMounted(directory))
        session.stop()
        try session.run()
        #expect(!isMounted(directory))
        #expect(throws: FuseError.alreadyRunning) { try session.run() }
    }

    /// With an event loop, that loop reads the device and runs the
    /// callbacks: no worker thread takes part, and a big listing, many
    /// lookups and 1 MiB reads all work there.
    @Test func anEventLoopServesEveryCallback() throws {
        let mount = try TestMount(options: TestMount.options(serving: .eventLoop))
        defer { mount.unmount() }
        #expect(readFile(mount.path("hello.txt")) == MemoryFileSystem.hello)
        let names = try FileManager.default.contentsOfDirectory(atPath: mount.path("big"))
        #expect(names.count == MemoryFileSystem.bigCount)
        let loopThread = try TestMount.loop.submit { UInt(pthread_self()) }.wait()
        #expect(mount.fs.record.withLock { $0.callbackThreads } == [loopThread])
    }

    @Test func clearErrorsBeforeMounting() throws {
        let directory = try makeTemporaryDirectory()
        defer { rmdir(directory) }
        let options = TestMount.options()
        let fs = MemoryFileSystem()

        #expect(throws: FuseError.mountpointMissing(path: directory + "/nope")) {
            try FuseSession(mountpoint: directory + "/nope", options: options, operations: fs)
        }
        let file = directory + "/file"
        #expect(creat(file, 0o644) >= 0)
        defer { unlink(file) }
        #expect(throws: FuseError.mountpointNotADirectory(path: file)) {
            try FuseSession(mountpoint: file, options: options, operations: fs)
        }
        let missingDevice = Preflight(devicePath: "/nonexistent/fuse")
        #expect(throws: FuseError.deviceMissing(path: "/nonexistent/fuse")) {
            try FuseSession(mountpoint: directory, options: options, operations: fs, logger: .init(label: "t"), preflight: missingDevice)
        }
        let noFusermount = Preflight(isRoot: false, searchPath: ["/nonexistent"])
        #expect(throws: FuseError.fusermountMissing(searched: ["/nonexistent"])) {
            try FuseSession(mountpoint: directory, options: options, operations: fs, logger: .init(label: "t"), preflight: noFusermount)
        }
        var bogus = options
        bogus.extraMountOptions = ["no_such_fuse_option"]
        #expect(throws: FuseError.sessionCreationFailed(arguments: bogus.arguments)) {
            try FuseSession(mountpoint: directory, options: bogus, operations: fs)
        }
        #expect(!isMounted(directory))
        for error: FuseError in [.mountpointMissing(path: "/x"), .fusermountMissing(searched: ["/bin"]), .deviceMissing(path: "/dev/fuse")] {
            #expect(!error.description.isEmpty)
        }
    }

    @Test func busyMountpoint() throws {
        let mount = try TestMount()
        defer { mount.unmount() }
        #expect(throws: FuseError.mountpointBusy(path: mount.directory)) {
            try FuseSession(mountpoint: mount.directory, options: TestMount.options(), operations: MemoryFileSystem())
        }
    }

    @Test func invalidationNotices() throws {
        let mount = try TestMount()
        defer { mount.unmount() }
        #expect(readFile(mount.path("hello.txt")) == MemoryFileSystem.hello)
        try mount.session.notifyInvalInode(ino: FuseInode.root)
        #expect(throws: FuseError.notifyFailed(errno: ENOENT)) {
            try mount.session.notifyInvalEntry(parent: FuseInode.root, name: "never-looked-up")
        }
    }
}

/// Parts that need no mount.
struct SessionPartsTests {
    @Test func optionsBecomeEscapedArguments() {
        var options = FuseSessionOptions(fsName: "tcp!host,1\\x", subtype: "9p")
        options.allowOther = true
        options.defaultPermissions = true
        options.maxRead = 1 << 30
        options.extraMountOptions = ["noatime"]
        #expect(options.arguments == [
            "ninep", "-o", "fsname=tcp!host\\,1\\\\x", "-o", "max_read=1048576", "-o", "subtype=9p",
            "-o", "allow_other", "-o", "default_permissions", "-o", "noatime",
        ])
    }

    @Test func mountPointsIncludeTheRoot() {
        #expect(Preflight().mountPoints().contains("/"))
    }

    /// Raising the window takes root (sysfs); the INIT reply must not undo it.
    @Test(.enabled(if: geteuid() == 0)) func readAheadWindowIsSetAtInit() throws {
        var options = TestMount.options()
        options.readAheadKiB = 768
        let mount = try TestMount(options: options)
        defer { mount.unmount() }
        var st = stat()
        #expect(stat(mount.directory, &st) == 0)  // answered after INIT
        // glibc's major()/minor() are macros: the same bit layout by hand.
        let dev = UInt64(st.st_dev)
        let device = "\((dev >> 8) & 0xfff | (dev >> 32) & ~0xfff):\(dev & 0xff | (dev >> 12) & ~0xff)"
        #expect(Preflight().fuseDevice(mountedOn: mount.session.mountpoint) == device)
        let window = try String(contentsOfFile: "/sys/class/bdi/\(device)/read_ahead_kb", encoding: .utf8)
        #expect(window.trimmingCharacters(in: .whitespacesAndNewlines) == "768")
        let negotiated = try #require(mount.session.connection).maxReadahead
        #expect(negotiated == UInt32(768 * 1024))
    }

    @Test func directoryBufferStopsWhenFull() {
        var buffer = FuseDirectoryBuffer<FuseReplyKinds.Directory>(request: nil, capacity: 100)
        let attr = FuseAttr(ino: 7, mode: S_IFREG | 0o644)
        var added = 0
        while buffer.add(name: "entry\(added)", attr: attr, nextOffset: Int64(added + 1)) { added += 1 }
        // A dirent is 24 bytes of header plus the name, padded to 8: 32 bytes here.
        #expect(added == 3)
        #expect(buffer.count == 3 && buffer.used == 96)
        var empty = FuseDirectoryBuffer<FuseReplyKinds.DirectoryPlus>(request: nil, capacity: 0)
        let fitted = empty.add(name: "x", entry: FuseEntry(ino: 7, attr: attr), nextOffset: 1)
        #expect(!fitted)
        #expect(empty.isEmpty)
    }
}
