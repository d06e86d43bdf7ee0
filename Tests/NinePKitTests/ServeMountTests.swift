import Glibc
import NinePKit
import NinePRegistry
import NinePServer
import NinePTesting
import NinePTransport
import Testing

/// `serveMount` called as a library, in this process: it serves the mount
/// here, so everything that touches the mount runs in child processes.
@Suite("serveMount", .enabled(if: MountFixture.fuseAvailable), .timeLimit(.minutes(2)))
struct ServeMountTests {
    /// With a post name, the service goes into the srv registry the way
    /// `--post` does: `ninep srv ls` lists it, `ninep mount NAME` mounts it
    /// from another process, and cancelling the task unmounts, releases the
    /// entry and removes the socket.
    @Test func postsInTheRegistryAndCancellingTearsDownMountAndPost() async throws {
        let scratch = try TemporaryDirectory(prefix: "ninep-servemount")
        let ns = scratch.path + "/ns", own = scratch.path + "/own", other = scratch.path + "/other"
        defer {
            for m in [other, own] where MountFixture.isMounted(m) { _ = try? Posix.run(["fusermount3", "-u", "-z", m]) }
            scratch.remove()
        }
        #expect(mkdir(own, 0o755) == 0 && mkdir(other, 0o755) == 0)
        try SrvNamespace.ensureDirectory(ns)
        let registry = try await SrvRegistryServer.start(directory: ns)
        let ninep = try NinePProcess.executable()
        func run(_ arguments: [String]) async throws -> String {
            try await runBlocking { try Posix.runOK(["/usr/bin/env", "NAMESPACE=\(ns)", ninep] + arguments) }
        }

        var options = ServeMountOptions(uname: "glenda")
        options.poster = RegistryPoster(directory: ns, uname: "glenda")
        let (readiness, ready) = AsyncStream<ServeMountReady>.makeStream()
        options.ready = { ready.yield($0) }
        let serving = Task { try await serveMount(RamFS(), post: "lib", mountpoint: own, options: options) }
        var waiting = readiness.makeAsyncIterator()
        let report = await waiting.next()
        #expect(report?.posted == "lib" && report?.mountpoint == own)
        #expect(try await run(["srv", "ls", "-l"]) == "lib\tunix!\(ns)/lib\n")

        let mount = try NinePProcess.start(
            ["NAMESPACE=\(ns)", ninep, "mount", "-f", "lib", other], executable: "/usr/bin/env")
        defer { mount.stopNow() }
        #expect(await mount.waitForStandardError(timeout: .seconds(30)) { $0.contains("mounted ") }, "\(mount.standardError)")
        try await runBlocking { _ = try Posix.runOK(["sh", "-c", "echo hi > \(other)/hello"]) }
        #expect(try await runBlocking { try Posix.runOK(["cat", own + "/hello"]) } == "hi\n")
        try await MountFixture.unmount(other)
        #expect(await mount.waitForExit(timeout: .seconds(30)) == 0)

        serving.cancel()
        try await serving.value
        #expect(!MountFixture.isMounted(own))
        #expect(registry.registry.snapshot.entries.isEmpty)
        #expect(access(ns + "/lib", F_OK) != 0, "the socket NS/lib is left behind")
        await registry.close()
    }
}
