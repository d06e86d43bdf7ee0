import Dispatch
import Glibc
import NIOCore
import NIOPosix
import NinePClient
import NinePTesting
import NinePTransport
import NinePWire
import Synchronization
import Testing
@testable import NinePRegistry

/// A disk that can be made slow: once `arm()`ed, every write waits until
/// `release()`; the states written are kept, in order.
final class SlowDisk: Sendable {
    private let armed = Atomic<Bool>(false)
    private let gate = DispatchSemaphore(value: 0)
    /// Signalled each time a write starts waiting at the gate.
    let entered = DispatchSemaphore(value: 0)
    let written = Mutex<[String]>([])

    func arm() { armed.store(true, ordering: .sequentiallyConsistent) }

    /// Lets every write through, now and from now on.
    func release() {
        armed.store(false, ordering: .sequentiallyConsistent)
        gate.signal()
    }

    func write(_ text: String, _ path: String) -> String? {
        if armed.load(ordering: .sequentiallyConsistent) {
            entered.signal()
            gate.wait()
            gate.signal()  // and every later write
        }
        written.withLock { $0.append(text) }
        return RegistryStateFile.write(text, to: path)
    }
}

/// A count shared with tasks.
final class Count: Sendable {
    private let count = Atomic<Int>(0)
    var value: Int { count.load(ordering: .sequentiallyConsistent) }
    func add() { count.add(1, ordering: .sequentiallyConsistent) }
}

@Suite struct RegistryStateWriterTests {
    /// The registry answers a change once its state is on disk; a slow
    /// disk holds up that answer and no other request: other clients walk,
    /// stat and list meanwhile, and further changes wait for one write
    /// with the latest state (they are gathered).
    @Test func aSlowStateFileHoldsUpNoOtherRequest() async throws {
        let ns = try TemporaryDirectory(prefix: "ninep-ns")
        defer { ns.remove() }
        chmod(ns.path, 0o700)
        let disk = SlowDisk()
        let server = try await SrvRegistryServer.start(directory: ns.path, writeStateFile: { disk.write($0, $1) })
        let group = MultiThreadedEventLoopGroup.singleton
        let poster = try await NinePClient.connect(to: server.address, group: group)
        let posterRoot = try await poster.attach(uname: "glenda")
        let other = try await NinePClient.connect(to: server.address, group: group)
        let otherRoot = try await other.attach(uname: "glenda")
        let answered = Count()
        func post(_ name: String) -> Task<Void, any Error> {
            Task {
                let fid = try await poster.create(path: name, perm: FileMode(permissions: 0o666), mode: .write, from: posterRoot)
                _ = try await poster.write(fid, offset: 0, data: ByteBuffer(string: "tcp!127.0.0.1!1"))
                answered.add()
                try await poster.clunk(fid)
            }
        }

        disk.arm()
        let first = post("first")
        // The write of "first"'s state has started and waits at the gate.
        #expect(try await runBlocking { disk.entered.wait(timeout: .now() + 30) } == .success)
        let second = post("second")
        // Meanwhile the registry answers others: a walk, a stat, a listing.
        // Should they wait for the disk, a watchdog opens the gate after
        // 30 s, so that the test fails instead of hanging.
        let watchdog = Task {
            try await Task.sleep(for: .seconds(30))  // an upper bound: "never", not "late"
            disk.release()
        }
        let listing = try await other.readdir(path: "/", from: otherRoot)
        #expect(Set(listing.map(\.name)).isSuperset(of: ["clone", "first"]))
        let walked = try await other.walk(path: "first", from: otherRoot)
        #expect(try await other.stat(walked).name == "first")
        try await other.clunk(walked)
        #expect(await eventually(.seconds(30)) { server.registry.snapshot.resolve(["second"]).flatMap { server.registry.snapshot.node($0)?.address } != nil })
        watchdog.cancel()
        if case .success = await watchdog.result { Issue.record("the registry waited for the disk to answer others") }
        // Neither post is answered before its state is on disk.
        #expect(answered.value == 0)

        disk.release()
        try await first.value
        try await second.value
        #expect(answered.value == 2)
        let saved = RegistryStateFile.parse(RegistryStateFile.read(ns.path + "/" + SrvNamespace.stateName) ?? "")
        #expect(Set(saved.entries.map(\.path)) == [["first"], ["second"]])
        // The second change waited for the first write, then went out in one.
        #expect(disk.written.withLock { $0.last }?.contains("second") == true)

        await poster.close()
        await other.close()
        await server.close()
    }

    /// Saves handed over while a write is under way are gathered into one
    /// write of the latest state, and every waiter hears of it; `flush`
    /// returns once everything saved is written.
    @Test func savesAreGatheredAndOrdered() async throws {
        let ns = try TemporaryDirectory(prefix: "ninep-state")
        defer { ns.remove() }
        let disk = SlowDisk()
        disk.arm()
        let writer = RegistryStateWriter(path: ns.path + "/state", write: { disk.write($0, $1) }, complain: { _ in })
        let told = Mutex<[Int]>([])
        writer.save("1\n") { told.withLock { $0.append(1) } }
        #expect(disk.entered.wait(timeout: .now() + 30) == .success)
        for i in 2...5 { writer.save("\(i)\n") { told.withLock { $0.append(i) } } }
        disk.release()
        writer.flush()
        #expect(disk.written.withLock { $0 } == ["1\n", "5\n"])
        #expect(told.withLock { $0 } == [1, 2, 3, 4, 5])
        #expect(RegistryStateFile.read(ns.path + "/state") == "5\n")
    }
}
