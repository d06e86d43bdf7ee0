import Dispatch
import Foundation
import FuseLowLevel
import Glibc
import NIOCore
import NIOPosix
import NinePClient
import NinePExport
import NinePFuse
import NinePServer
import NinePTransport
import NinePTesting
import NinePWire
import Synchronization
import Testing

/// A FileServer served by the real service loop on a unix socket in a temp
/// directory, a `NinePClient` attached to it, and the tree mounted through
/// the bridge on a fresh mountpoint, with `FuseSession.run()` on a thread of
/// its own. `unmount()` (call it in a `defer`) stops the session, checks that
/// the mount is gone from /proc/mounts and that neither the bridge nor the
/// server holds a fid of the mount any more, and removes the directories.
final class MountedTree: Sendable {
    /// Where the tree is mounted.
    let mountpoint: String
    /// The exported host directory, for an `ExportFileServer`.
    let backing: String?
    let server: CountingFileServer
    let client: NinePClient
    let mount: NinePMount
    let running: RunningMount
    private let scratch: TemporaryDirectory
    private let listener: ServerListener

    static var fuseAvailable: Bool {
        if access("/dev/fuse", R_OK | W_OK) == 0 { return true }
        print("⚠️  /dev/fuse is missing or not accessible: SKIPPING the NinePFuse mount tests")
        return false
    }

    /// Exports a new temporary directory with `ExportFileServer` and mounts it.
    static func export(options: MountOptions = MountOptions()) async throws -> MountedTree {
        let scratch = try TemporaryDirectory(prefix: "ninep-bridge")
        let backing = scratch.path + "/export"
        guard mkdir(backing, 0o755) == 0 else { throw ConformanceFailure("mkdir", backing) }
        do {
            return try await MountedTree(fileServer: ExportFileServer(root: backing), backing: backing, scratch: scratch, options: options)
        } catch {
            scratch.remove()
            throw error
        }
    }

    /// Serves `fileServer` and mounts it, with user and group names mapped by `identityResolver`.
    static func serving(
        _ fileServer: any FileServer, options: MountOptions = MountOptions(),
        identityResolver: any IdentityResolver = SystemIdentityResolver()
    ) async throws -> MountedTree {
        let scratch = try TemporaryDirectory(prefix: "ninep-bridge")
        do {
            return try await MountedTree(
                fileServer: fileServer, backing: nil, scratch: scratch, options: options, identityResolver: identityResolver)
        } catch {
            scratch.remove()
            throw error
        }
    }

    private init(
        fileServer: any FileServer, backing: String?, scratch: TemporaryDirectory, options: MountOptions,
        identityResolver: any IdentityResolver = SystemIdentityResolver()
    ) async throws {
        self.scratch = scratch
        self.backing = backing
        let counting = CountingFileServer(fileServer)
        server = counting
        let socket = scratch.path + "/9p.sock"
        listener = try await NinePServer.listen(counting, unixPath: socket)
        let client: NinePClient
        do {
            client = try await NinePClient.connect(to: "unix!" + socket, group: MultiThreadedEventLoopGroup.singleton)
        } catch {
            await listener.close()
            throw error
        }
        self.client = client
        let mountpoint = scratch.path + "/mnt"
        do {
            guard mkdir(mountpoint, 0o755) == 0 else { throw ConformanceFailure("mkdir", mountpoint) }
            let root = try await client.attach(uname: "root")
            mount = NinePMount(client: client, root: root, options: options, identityResolver: identityResolver)
            running = try mount.start(at: mountpoint)
        } catch {
            await client.close()
            await listener.close()
            throw error
        }
        self.mountpoint = running.mountpoint
    }

    func path(_ name: String) -> String { mountpoint + "/" + name }

    /// Stops the session and checks that everything was let go.
    func unmount() async {
        let outcome = running.unmount()
        #expect(outcome != nil, "FuseSession.run() did not return after stop()")
        if outcome == nil { umount2(mountpoint, Int32(MNT_DETACH)) }
        if case .failure(let error)? = outcome {
            Issue.record("FuseSession.run() failed: \(error)")
        }
        mount.release()
        #expect(!Self.isMounted(mountpoint), "\(mountpoint) is still in /proc/mounts")
        #expect(mount.liveFidCount == 0, "the bridge still counts \(mount.liveFidCount) fids")
        #expect(server.waitForLiveFids(0), "the server still holds \(server.liveFids) fids of the mount")
        await client.close()
        await listener.close()
        scratch.remove()
    }

    /// Whether `path` is a mount point in /proc/mounts.
    static func isMounted(_ path: String) -> Bool {
        let mounts = (try? String(contentsOfFile: "/proc/mounts", encoding: .utf8)) ?? ""
        return mounts.split(separator: "\n").contains { line in
            let fields = line.split(separator: " ")
            return fields.count > 1 && fields[1].replacingOccurrences(of: "\\040", with: " ") == path
        }
    }
}

/// Mounts with `make`, runs `body`, and unmounts (checking that no fid is left) whatever happens.
func withMount(_ make: () async throws -> MountedTree, _ body: (MountedTree) async throws -> Void) async throws {
    let tree = try await make()
    do {
        try await body(tree)
    } catch {
        await tree.unmount()
        throw error
    }
    await tree.unmount()
}

/// Runs `command` with sh -c and returns its output (stdout and stderr
/// together); a nonzero exit throws, with the output.
@discardableResult
func shell(_ command: String) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/sh")
    process.arguments = ["-c", command]
    let output = Pipe()
    process.standardOutput = output
    process.standardError = output
    try process.run()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    let text = String(decoding: data, as: UTF8.self)
    if process.terminationStatus != 0 {
        throw ConformanceFailure(command, "exit \(process.terminationStatus): \(text.suffix(2000))")
    }
    return text
}

/// errno of a call that returns -1 on failure; 0 if it succeeded.
func errnoOf(_ body: () -> Int32) -> Int32 {
    errno = 0
    return body() < 0 ? errno : 0
}

/// A program started with posix_spawn with every signal unblocked and at its
/// default action: under `swift test` SIGINT may be ignored or blocked, and
/// Foundation's `Process` hands that on to its children.
struct SpawnedProcess: Sendable {
    let pid: pid_t
    private let exit: WaitStatus

    /// The child's raw wait status, set once by a thread that waits for it.
    private final class WaitStatus: Sendable {
        let value = Mutex<Int32?>(nil)
        let ended = DispatchSemaphore(value: 0)
    }

    /// Starts `argv` with `environment` added to this process's; standard
    /// output and error go to `output` (a file path) or /dev/null.
    init(_ argv: [String], environment: [String: String] = [:], output: String = "/dev/null") throws {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        spawnAttributesWithDefaultSignals(&attributes)
        var files = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&files)
        defer { posix_spawn_file_actions_destroy(&files) }
        posix_spawn_file_actions_addopen(&files, 1, output, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&files, 1, 2)
        let cArguments = argv.map { strdup($0) } + [nil]
        defer { cArguments.forEach { free($0) } }
        var variables = ProcessInfo.processInfo.environment
        variables.merge(environment) { $1 }
        let cEnvironment = variables.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { cEnvironment.forEach { free($0) } }
        var child: pid_t = 0
        let rc = posix_spawn(&child, argv[0], &files, &attributes, cArguments, cEnvironment)
        guard rc == 0 else { throw ConformanceFailure("spawn \(argv[0])", String(cString: strerror(rc))) }
        let pid = child
        self.pid = pid
        let exit = WaitStatus()
        self.exit = exit
        Thread {
            var raw: Int32 = 0
            while waitpid(pid, &raw, 0) < 0 && errno == EINTR {}
            exit.value.withLock { $0 = raw }
            exit.ended.signal()
        }.start()
    }

    /// The raw wait status once the program ended; nil if it did not within `seconds`.
    func waitForExit(seconds: Double) -> Int32? {
        guard exit.ended.wait(timeout: .now() + seconds) == .success else { return nil }
        exit.ended.signal()
        return exit.value.withLock { $0 }
    }
}
