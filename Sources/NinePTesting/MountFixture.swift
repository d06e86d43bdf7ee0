import Glibc

/// A real `ninep export` of a temporary directory, mounted on another
/// temporary directory by a real `ninep mount -f` process: the setup of the
/// mount integration tests, as a user would run it.
///
/// The mount runs in its own process on purpose: a process that both serves
/// a FUSE mount and maps its files (mmap) can deadlock against itself.
///
/// ```swift
/// let m = try await MountFixture.start()
/// defer { m.forceCleanup() }
/// … use m.mountpoint and m.exported …
/// try await m.stop()   // unmounts, checks both processes exit 0
/// ```
public final class MountFixture: Sendable {
    /// The directory the server exports.
    public let exported: TemporaryDirectory
    /// The directory holding the mountpoint and the socket.
    public let scratch: TemporaryDirectory
    /// Where the tree is mounted.
    public let mountpoint: String
    public let server: NinePProcess
    public let mount: NinePProcess

    init(exported: TemporaryDirectory, scratch: TemporaryDirectory, mountpoint: String, server: NinePProcess, mount: NinePProcess) {
        self.exported = exported
        self.scratch = scratch
        self.mountpoint = mountpoint
        self.server = server
        self.mount = mount
    }

    /// Whether this machine can mount FUSE file systems. When it cannot,
    /// mount tests are skipped, and say so loudly.
    public static var fuseAvailable: Bool {
        access("/dev/fuse", R_OK | W_OK) == 0
            && ["/usr/bin/fusermount3", "/bin/fusermount3", "/usr/local/bin/fusermount3"].contains { (path: String) in access(path, X_OK) == 0 }
    }

    /// Starts the export (with `serverArguments` added, e.g. `["--readonly"]`)
    /// and the mount (with `mountArguments`, e.g. `["-o", "direct_io"]`),
    /// and returns once the mount is in /proc/mounts.
    public static func start(
        serverArguments: [String] = [], mountArguments: [String] = [], listen: String? = nil
    ) async throws -> MountFixture {
        let exported = try TemporaryDirectory(prefix: "ninep-exported")
        let scratch = try TemporaryDirectory(prefix: "ninep-mount")
        let mountpoint = scratch.path + "/mnt"
        guard mkdir(mountpoint, 0o755) == 0 else {
            throw ConformanceFailure("mkdir", "\(mountpoint): \(Posix.errnoText())")
        }
        let server: NinePProcess
        do {
            server = try await NinePProcess.serve(
                ["export"] + serverArguments + [exported.path], socketDirectory: scratch.path, listen: listen)
        } catch {
            exported.remove()
            scratch.remove()
            throw error
        }
        let mount: NinePProcess
        do {
            mount = try NinePProcess.start(["mount", "-f"] + mountArguments + ["\(server.address!)", mountpoint])
        } catch {
            server.stopNow()
            exported.remove()
            scratch.remove()
            throw error
        }
        let ready = await mount.waitForStandardError(timeout: .seconds(30)) { $0.contains("mounted ") }
        guard ready, isMounted(mountpoint) else {
            let text = mount.standardError
            mount.stopNow()
            server.stopNow()
            _ = try? Posix.run(["fusermount3", "-u", "-z", mountpoint])
            exported.remove()
            scratch.remove()
            throw NinePProcessError("\(mount.commandLine) did not mount", standardError: text)
        }
        return MountFixture(exported: exported, scratch: scratch, mountpoint: mountpoint, server: server, mount: mount)
    }

    /// Whether `path` is a FUSE mountpoint now (read from /proc/mounts).
    public static func isMounted(_ path: String) -> Bool {
        guard let text = try? Posix.readFile("/proc/mounts") else { return false }
        return String(decoding: text, as: UTF8.self).split(separator: "\n").contains { line in
            let fields = line.split(separator: " ")
            return fields.count > 2 && fields[1] == path && fields[2].hasPrefix("fuse")
        }
    }

    /// Unmounts `mountpoint` with `fusermount3 -u` (never lazily), waiting
    /// out a mount that is busy for a moment: the last close of a file on
    /// it is not the last reference everywhere at once (the kernel releases
    /// FUSE files asynchronously, and a process being spawned elsewhere
    /// holds copies of descriptors until its exec). Retries only while
    /// fusermount3 says "Device or resource busy", until `timeout`, a
    /// bound that tells "busy for a moment" from "held open"; any other
    /// failure, or busy to the end, throws with fusermount3's words.
    public static func unmount(_ mountpoint: String, within timeout: Duration = .seconds(30)) async throws {
        var failure = ""
        var other = false
        let unmounted = try await eventually(timeout) {
            let (status, output) = try await runBlocking { try Posix.run(["fusermount3", "-u", mountpoint]) }
            failure = output
            other = status != 0 && !output.contains("Device or resource busy")
            return status == 0 || other
        }
        if !unmounted || other { throw ConformanceFailure("fusermount3 -u \(mountpoint)", failure) }
    }

    /// Unmounts with fusermount3 -u, then checks that the mount process
    /// exits 0 on its own, stops the server, and removes the directories.
    public func stop() async throws {
        defer { forceCleanup() }
        try await Self.unmount(mountpoint)
        guard let exit = await mount.waitForExit(timeout: .seconds(30)) else {
            throw NinePProcessError("\(mount.commandLine) did not exit after the unmount", standardError: mount.standardError)
        }
        guard exit == 0 else {
            throw NinePProcessError("\(mount.commandLine) exited \(NinePProcess.describe(status: exit))", standardError: mount.standardError)
        }
        _ = try await server.stop()
    }

    /// Whatever state things are in: unmount (lazily if need be), stop both
    /// processes by PID, remove the directories. Safe to call twice.
    public func forceCleanup() {
        if Self.isMounted(mountpoint) {
            _ = try? Posix.run(["fusermount3", "-u", mountpoint])
            if Self.isMounted(mountpoint) { _ = try? Posix.run(["fusermount3", "-u", "-z", mountpoint]) }
        }
        mount.stopNow()
        server.stopNow()
        exported.remove()
        scratch.remove()
    }
}
