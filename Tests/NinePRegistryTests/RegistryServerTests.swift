import Foundation
import Glibc
import NIOCore
import NIOPosix
import NinePClient
import NinePServer
import NinePTesting
import NinePTransport
import NinePWire
import Synchronization
import Testing
@testable import NinePRegistry

/// A registry served in-process from a temporary namespace directory, and a
/// client of it; everything is closed and removed by `stop()`.
struct RegistryHarness {
    let ns: TemporaryDirectory
    let server: SrvRegistryServer

    static func start(in ns: TemporaryDirectory? = nil) async throws -> RegistryHarness {
        let ns = try ns ?? TemporaryDirectory(prefix: "ninep-ns")
        chmod(ns.path, 0o700)
        let server = try await SrvRegistryServer.start(directory: ns.path)
        return RegistryHarness(ns: ns, server: server)
    }

    func client() async throws -> (NinePClient, Fid) {
        let c = try await NinePClient.connect(to: server.address, group: MultiThreadedEventLoopGroup.singleton)
        return (c, try await c.attach(uname: "glenda"))
    }

    func post(_ name: String, _ address: String) async throws {
        let (c, root) = try await client()
        defer { Task { await c.close() } }
        let fid = try await c.create(path: name, perm: FileMode(permissions: 0o666), mode: .write, from: root)
        _ = try await c.write(fid, offset: 0, data: ByteBuffer(string: address))
        try await c.clunk(fid)
    }

    func resolve(_ name: String) async throws -> NinePAddress {
        try await SrvResolver(registry: server.address).resolve(service: name, group: MultiThreadedEventLoopGroup.singleton)
    }

    func stop(keepDirectory: Bool = false) async {
        await server.close()
        if !keepDirectory { ns.remove() }
    }
}

@Suite struct RegistryServerTests {
    @Test func postLookupDuplicateAndRemove() async throws {
        let h = try await RegistryHarness.start()
        let ramfs = try await NinePServer.listen(RamFS(), on: .unix(path: h.ns.path + "/ram.sock"))
        try await h.post("ram", "unix!\(h.ns.path)/ram.sock")
        #expect(try await h.resolve("ram") == .unix(path: h.ns.path + "/ram.sock"))
        // The plan9port name: <ns>/ram links to the socket.
        #expect(try Posix.stat(h.ns.path + "/ram").st_mode & S_IFMT == S_IFSOCK)
        await #expect { try await h.post("ram", "tcp!h!1") } throws: { "\($0)".contains("service ram already posted") }
        // The resolved address reaches the ramfs (srv! dials through
        // $NAMESPACE are exercised with real processes in IntegrationTests).
        let served = try await NinePClient.connect(to: try await h.resolve("ram"), group: MultiThreadedEventLoopGroup.singleton)
        _ = try await served.attach(uname: "glenda")
        await served.close()

        let (c, root) = try await h.client()
        let fid = try await c.walk(path: "ram", from: root)
        try await c.remove(fid)
        await c.close()
        await #expect { try await h.resolve("ram") } throws: {
            "\($0)" == "cannot dial srv!ram: no service named ram is posted (ninep srv ls)"
        }
        #expect(access(h.ns.path + "/ram", F_OK) != 0)
        await ramfs.close()
        await h.stop()
    }

    @Test func writingAnEntryTwiceIsAnErrorAndUnwrittenEntriesGo() async throws {
        let h = try await RegistryHarness.start()
        let (c, root) = try await h.client()
        let fid = try await c.create(path: "x", perm: FileMode(permissions: 0o666), mode: .write, from: root)
        _ = try await c.write(fid, offset: 0, data: ByteBuffer(string: "tcp!127.0.0.1!5640\n"))
        await #expect { try await c.write(fid, offset: 0, data: ByteBuffer(string: "tcp!127.0.0.1!5641")) } throws: {
            "\($0)".contains("service x is already posted: an entry is written once")
        }
        try await c.clunk(fid)
        let abandoned = try await c.create(path: "y", perm: FileMode(permissions: 0o666), mode: .write, from: root)
        try await c.clunk(abandoned)
        #expect(h.server.registry.snapshot.resolve(["y"]) == nil)
        #expect(h.server.registry.snapshot.resolve(["x"]) != nil)
        await c.close()
        await h.stop()
    }

    @Test func deadServicesAreShownAsGone() async throws {
        let h = try await RegistryHarness.start()
        try await h.post("dead", "tcp!127.0.0.1!1")
        let (c, root) = try await h.client()
        let listing = try await c.readdir(path: "/", from: root)
        let dead = try #require(listing.first { $0.name == "dead" })
        #expect(dead.mode.permissions == 0)
        let fid = try await c.open(path: "dead", mode: .read, from: root)
        #expect(String(buffer: try await c.readAll(fid)) == "tcp!127.0.0.1!1 gone\n")
        try await c.clunk(fid)
        await c.close()
        await #expect { try await h.resolve("dead") } throws: { "\($0)".contains("service dead is gone") }
        await h.stop()
    }

    @Test func cloneNestsAndPathsAreGlobal() async throws {
        let h = try await RegistryHarness.start()
        let (c, root) = try await h.client()
        func clone(_ parent: String) async throws -> String {
            let fid = try await c.open(path: parent + "clone", mode: .read, from: root)
            defer { Task { try? await c.clunk(fid) } }
            return String(buffer: try await c.readAll(fid)).split(separator: "\n").first.map(String.init) ?? ""
        }
        let one = try await clone("")
        let two = try await clone("\(one)/")
        #expect(one == "1" && two == "1")
        try await h.post("1/1/db", "tcp!127.0.0.1!1")
        await #expect { try await h.resolve("1/1/db") } throws: { "\($0)".contains("service 1/1/db is gone") }
        await #expect { try await h.resolve("1") } throws: { "\($0)".contains("is a service directory") }
        // Attaching with aname 1/1 roots the tree there, like $srvspec.
        let rooted = try await NinePClient.connect(to: h.server.address, group: MultiThreadedEventLoopGroup.singleton)
        let r = try await rooted.attach(uname: "glenda", aname: "1/1")
        #expect(try await rooted.readdir(path: "/", from: r).map(\.name) == ["clone", "db"])
        await rooted.close()
        await c.close()
        await h.stop()
    }

    @Test func manyConcurrentPostersLookupsAndRemovers() async throws {
        let h = try await RegistryHarness.start()
        let tasks = 20, ops = 50
        // Task k posts k-i, looks it up, and removes it for odd i; so the
        // survivors are exactly the even i of every task.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for k in 0..<tasks {
                group.addTask {
                    let (c, root) = try await h.client()
                    for i in 0..<ops {
                        let name = "s\(k)-\(i)"
                        let fid = try await c.create(path: name, perm: FileMode(permissions: 0o666), mode: .write, from: root)
                        _ = try await c.write(fid, offset: 0, data: ByteBuffer(string: "exec!true \(k) \(i)"))
                        try await c.clunk(fid)
                        let look = try await c.open(path: name, mode: .read, from: root)
                        let text = String(buffer: try await c.readAll(look))
                        try await c.clunk(look)
                        guard text == "exec!true \(k) \(i)\n" else { throw NinePError("\(name) read back '\(text)'") }
                        if i % 2 == 1 { try await c.remove(try await c.walk(path: name, from: root)) }
                    }
                    await c.close()
                }
            }
            try await group.waitForAll()
        }
        let expected = Set((0..<tasks).flatMap { k in stride(from: 0, to: ops, by: 2).map { "s\(k)-\($0)" } })
        #expect(Set(h.server.registry.snapshot.entries.map { $0.path.joined() }) == expected)
        // The saved state agrees with memory.
        let saved = RegistryStateFile.parse(String(decoding: try Posix.readFile(h.ns.path + "/ninep-srv.state"), as: UTF8.self))
        #expect(Set(saved.entries.map { $0.path.joined() }) == expected)
        await h.stop()
    }

    @Test func restartDropsAndReportsStaleEntries() async throws {
        let first = try await RegistryHarness.start()
        let ramfs = try await NinePServer.listen(RamFS(), on: .unix(path: first.ns.path + "/live.sock"))
        try await first.post("live", "unix!\(first.ns.path)/live.sock")
        try await first.post("stale", "tcp!127.0.0.1!1")
        await first.stop(keepDirectory: true)

        let second = try await RegistryHarness.start(in: first.ns)
        #expect(second.server.restartReport == ["dropped stale entry stale (tcp!127.0.0.1!1): nothing answers there"])
        #expect(try await second.resolve("live") == .unix(path: first.ns.path + "/live.sock"))
        await #expect { try await second.resolve("stale") } throws: { "\($0)".contains("no service named stale") }
        await ramfs.close()
        await second.stop()
    }

    @Test func handOverOfAListeningSocket() async throws {
        let h = try await RegistryHarness.start()
        let path = h.ns.path + "/held.sock"
        let fd = try ListenerHandOver.listeningSocket(at: path)
        try await runBlocking { try ListenerHandOver.post(name: "held", listener: fd, directory: h.ns.path) }
        // (Liveness needs another process to hold the socket: IntegrationTests.)
        #expect(h.server.registry.snapshot.entries.map(\.address) == ["unix!\(path)"])
        await #expect(throws: NinePError("service held already posted")) {
            try await runBlocking { try ListenerHandOver.post(name: "held", listener: fd, directory: h.ns.path) }
        }
        close(fd)
        // A socket that is not listening is refused.
        let plain = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(plain) }
        await #expect(throws: NinePError("cannot hold other: the descriptor is not a listening socket")) {
            try await runBlocking { try ListenerHandOver.post(name: "other", listener: plain, directory: h.ns.path) }
        }
        let (c, root) = try await h.client()
        try await c.remove(try await c.walk(path: "held", from: root))
        await c.close()
        #expect(access(path, F_OK) != 0)
        await h.stop()
    }

    /// A child this process is spawning holds a copy of every descriptor,
    /// close-on-exec ones included, from fork until exec. Such a child is
    /// no server: `rm` of a held entry whose server has gone removes the
    /// socket file even while this process (the registry's) spawns.
    @Test func removingAHeldEntryIgnoresChildrenBeingSpawned() async throws {
        let h = try await RegistryHarness.start()
        let (c, root) = try await h.client()
        for round in 0..<20 {
            let path = h.ns.path + "/held\(round).sock"
            let fd = try ListenerHandOver.listeningSocket(at: path)
            try await runBlocking { try ListenerHandOver.post(name: "held\(round)", listener: fd, directory: h.ns.path) }
            close(fd)
            // Spawn only while the remove is under way: every child of this
            // process also holds the descriptors of other tests' files.
            let storm = SpawnStorm()
            try await c.remove(try await c.walk(path: "held\(round)", from: root))
            try await storm.stop()
            #expect(access(path, F_OK) != 0, "round \(round): \(path) was left behind")
        }
        await c.close()
        await h.stop()
    }

    /// An entry "ADDR /FILE" is that file: the registry forwards opens,
    /// reads, writes and flushes to the program serving it.
    @Test(.timeLimit(.minutes(3))) func aFileEntryForwardsToItsProgram() async throws {
        let h = try await RegistryHarness.start()
        let fs = RamFS()
        let chan = try File2Chan(in: fs.tree.root, named: "ctl", owner: "glenda")
        let program = try await NinePServer.listen(fs, on: .unix(path: h.ns.path + "/ctl.sock"))
        let arrived = AsyncStream<Void>.makeStream()
        let cancelled = AsyncStream<File2Chan.OpenFid>.makeStream()
        let programTask = Task {
            await withDiscardingTaskGroup { group in
                group.addTask {
                    for await read in chan.reads {
                        if read.offset == 99 {
                            // Never answered: the client flushes it.
                            read.reply.onCancel { cancelled.continuation.yield(read.fid) }
                            arrived.continuation.yield()
                            continue
                        }
                        read.reply.respond(ByteBuffer(string: "state of \(read.fid.serial)\n"))
                    }
                }
                group.addTask {
                    for await write in chan.writes { write.reply.respond(error: "ctl: unknown command '\(String(buffer: write.data))'") }
                }
            }
        }
        await #expect { try await h.post("bad", "unix!\(h.ns.path)/ctl.sock ctl") } throws: {
            "\($0)".contains("'ctl' is not the absolute path of a file")
        }
        try await h.post("ctl", "unix!\(h.ns.path)/ctl.sock /ctl")
        await #expect { try await h.resolve("ctl") } throws: { "\($0)".contains("is a file served by a program") }

        let (c, root) = try await h.client()
        let listing = try await c.readdir(path: "/", from: root)
        #expect(try #require(listing.first { $0.name == "ctl" }).mode == FileMode(permissions: 0o666, flags: .tmp))
        let a = try await c.open(path: "ctl", mode: .readWrite, from: root)
        let b = try await c.open(path: "ctl", mode: .read, from: root)
        #expect(String(buffer: try await c.read(a, offset: 0, count: 100)) == "state of 1\n")
        #expect(String(buffer: try await c.read(b, offset: 0, count: 100)) == "state of 2\n")
        await #expect { _ = try await c.write(a, offset: 0, data: ByteBuffer(string: "frob")) } throws: {
            ($0 as? NinePClientError)?.ninePError?.ename == "ctl: unknown command 'frob'"
        }
        // A flush reaches the program as the cancellation of its request.
        let pending = Task { try await c.read(b, offset: 99, count: 100) }
        var reached = arrived.stream.makeAsyncIterator()
        var flushed = cancelled.stream.makeAsyncIterator()
        await reached.next()
        pending.cancel()
        #expect(await flushed.next()?.serial == 2)
        _ = await pending.result
        // The registry's saved state keeps the file's path.
        let saved = RegistryStateFile.parse(String(decoding: try Posix.readFile(h.ns.path + "/ninep-srv.state"), as: UTF8.self))
        #expect(saved.entries.map(\.address) == ["unix!\(h.ns.path)/ctl.sock /ctl"])
        try await c.clunk(a)
        try await c.clunk(b)
        await c.close()
        chan.remove()
        programTask.cancel()
        await program.close()
        await h.stop()
    }

    @Test func aSecondRegistryOnTheSameDirectoryIsRefused() async throws {
        let h = try await RegistryHarness.start()
        await #expect { try await SrvRegistryServer.start(directory: h.ns.path) } throws: {
            "\($0)".contains("address already in use")
        }
        await h.stop()
    }
}

/// Spawns `/bin/true` over and over on a thread of its own until `stop()`,
/// which waits for the last child.
final class SpawnStorm: Sendable {
    private let running = Atomic<Bool>(true)
    private let finished = DispatchSemaphore(value: 0)

    init() {
        Thread { [self] in
            repeat { _ = try? Posix.run(["/bin/true"]) } while running.load(ordering: .relaxed)
            finished.signal()
        }.start()
    }

    func stop() async throws {
        running.store(false, ordering: .relaxed)
        try await runBlocking { self.finished.wait() }
    }
}
