import Foundation
import Logging
import NIOCore
import NIOPosix
@testable import NinePClient
import NinePServer
import NinePTesting
import NinePTransport
import NinePWire
import Synchronization
import Testing

/// The reconnecting client end to end, in process: a real `NinePServer`
/// over a RamFS (the same tree across restarts, so qids are stable) on a
/// unix socket, and a `CuttingProxy` between them that drops connections.
@Suite(.timeLimit(.minutes(2)))
struct ReconnectExecutorTests {
    /// A server, a proxy in front of it, and a reconnecting client through
    /// the proxy, all on event loops of their own: when other suites keep
    /// the shared loops busy, this rig's cuts and redials are not delayed.
    final class Rig: Sendable {
        let directory: String
        let group: MultiThreadedEventLoopGroup
        let server: Mutex<ServerListener?>
        let proxy: Mutex<CuttingProxy?>
        let client: NinePClient
        var serverPath: String { directory + "/server.sock" }
        var proxyPath: String { directory + "/proxy.sock" }

        private init(
            directory: String, group: MultiThreadedEventLoopGroup, server: ServerListener, proxy: CuttingProxy,
            client: NinePClient
        ) {
            self.directory = directory
            self.group = group
            self.server = Mutex(server)
            self.proxy = Mutex(proxy)
            self.client = client
        }

        static func start(requestTimeout: Duration? = nil, window: Int? = nil) async throws -> Rig {
            let directory = FileManager.default.temporaryDirectory
                .appendingPathComponent("ninep-reconnect-\(UUID().uuidString.prefix(8))").path
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let fs = RamFS()
            let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
            let server = try await NinePServer.listen(fs, unixPath: directory + "/server.sock", group: group)
            let proxy = try await CuttingProxy.start(
                unixPath: directory + "/proxy.sock", upstream: try SocketAddress(unixDomainSocketPath: directory + "/server.sock"),
                group: group)
            var configuration = NinePClient.Configuration(messageSize: 8192 + NineP.ioHeaderSize)
            configuration.logger.logLevel = .warning
            var backoff = Backoff()
            backoff.initialDelay = .milliseconds(20)
            backoff.maximumDelay = .milliseconds(100)
            var policy = ReconnectPolicy(server: proxy.address, backoff: backoff, requestTimeout: requestTimeout)
            if let window { policy.recoveryWindow = window }
            configuration.reconnect = policy
            let client = try await NinePClient.connect(to: proxy.address, group: group, configuration: configuration)
            let rig = Rig(directory: directory, group: group, server: server, proxy: proxy, client: client)
            _ = try await client.attach(uname: "glenda")
            return rig
        }

        /// Takes the proxy down (every connection cut, nothing accepting).
        func proxyDown() async {
            let old = proxy.withLock { p in defer { p = nil }; return p }
            await old?.close()
        }

        func proxyUp() async throws {
            let new = try await CuttingProxy.start(
                unixPath: proxyPath, upstream: try SocketAddress(unixDomainSocketPath: serverPath), group: group)
            proxy.withLock { $0 = new }
        }

        /// A second, plain client straight to the server (not through the proxy).
        func directClient() async throws -> NinePClient {
            let c = try await NinePClient.connect(to: "unix!\(serverPath)", group: group)
            _ = try await c.attach(uname: "glenda")
            return c
        }

        func stop() async {
            await client.close()
            await proxyDown()
            await server.withLock { s in defer { s = nil }; return s }?.close()
            try? await group.shutdownGracefully()
            try? FileManager.default.removeItem(atPath: directory)
        }
    }

    static func bytes(_ text: String) -> ByteBuffer { ByteBuffer(string: text) }

    @Test func openFilesCarryOnAcrossCuts() async throws {
        let rig = try await Rig.start()
        let c = rig.client
        let fid = try await c.create(path: "f", perm: FileMode(rawValue: 0o644), mode: .readWrite)
        try await c.write(fid, offset: 0, data: Self.bytes("hello"))
        let cut = ContinuousClock.now
        #expect(rig.proxy.withLock { $0!.cut() } == 1)
        try await c.write(fid, offset: 5, data: Self.bytes(" world"))
        print("bench: reconnect to first completed request: \((ContinuousClock.now - cut).milliseconds) ms")
        #expect(String(buffer: try await c.read(fid, offset: 0, count: 100)) == "hello world")
        await rig.stop()
    }

    /// A mount forgets what it knew of the server's directories whenever
    /// the connection drops: the listener hears of every cut, before the
    /// requests held meanwhile go out again.
    @Test func connectionLostListenersHearOfEveryCut() async throws {
        let rig = try await Rig.start()
        let c = rig.client
        let losses = Mutex(0)
        c.onConnectionLost { losses.withLock { $0 += 1 } }
        let fid = try await c.create(path: "f", perm: FileMode(rawValue: 0o644), mode: .readWrite)
        #expect(losses.withLock { $0 } == 0)
        for cut in 1...2 {
            #expect(rig.proxy.withLock { $0!.cut() } == 1)
            // The client sees the cut when the connection closes.
            _ = await eventually(.seconds(30)) { losses.withLock { $0 } >= cut }
            #expect(losses.withLock { $0 } == cut)
            try await c.write(fid, offset: 0, data: Self.bytes("x"))
        }
        await rig.stop()
    }

    /// The reconnecting client sends a lazy request too (a closed file's
    /// Tclunk, nothing behind it).
    @Test func aLazilySentClunkIsAnswered() async throws {
        let rig = try await Rig.start()
        let c = rig.client
        let fid = try await c.create(path: "lazy", perm: FileMode(rawValue: 0o644), mode: .readWrite)
        let result: Result<Message, any Error> = await withCheckedContinuation { continuation in
            c.send(.tclunk(Tclunk(fid: fid)), lazily: true) { continuation.resume(returning: $0) }
        }
        guard case .success(.rclunk) = result else {
            Issue.record("Tclunk answered \(result)")
            return await rig.stop()
        }
        await rig.stop()
    }

    @Test func aReadStartedWhileDownCompletesWhenTheServerReturns() async throws {
        let rig = try await Rig.start()
        let c = rig.client
        let fid = try await c.create(path: "f", perm: FileMode(rawValue: 0o644), mode: .readWrite)
        try await c.write(fid, offset: 0, data: Self.bytes("persistent"))
        let lost = Mutex(false)
        c.onConnectionLost { lost.withLock { $0 = true } }
        await rig.proxyDown()
        #expect(await eventually(.seconds(30)) { lost.withLock { $0 } }, "the client never saw the server go")
        let reader = Task { try await c.read(fid, offset: 0, count: 100) }
        // The read is held by the client, the server being away.
        #expect(await eventually(.seconds(30)) { await c.blockedRequestCount() == 1 }, "the read was not held while the server was down")
        try await rig.proxyUp()
        #expect(String(buffer: try await reader.value) == "persistent")
        await rig.stop()
    }

    @Test func aFileRemovedWhileAwayIsStaleAndOthersCarryOn() async throws {
        let rig = try await Rig.start()
        let c = rig.client
        let a = try await c.create(path: "a", perm: FileMode(rawValue: 0o644), mode: .readWrite)
        let b = try await c.create(path: "b", perm: FileMode(rawValue: 0o644), mode: .readWrite)
        try await c.write(a, offset: 0, data: Self.bytes("A"))
        try await c.write(b, offset: 0, data: Self.bytes("B"))
        await rig.proxyDown()
        let other = try await rig.directClient()
        try await other.remove(try await other.walk(path: "b"))
        await other.close()
        try await rig.proxyUp()
        #expect(String(buffer: try await c.read(a, offset: 0, count: 10)) == "A")
        await #expect {
            try await c.read(b, offset: 0, count: 10)
        } throws: { error in
            guard let e = error as? NinePClientError, case .staleFid = e.reconnectError else { return false }
            return "\(e)".contains("stale file 'b'")
        }
        try await c.clunk(b)  // answered locally
        await rig.stop()
    }

    @Test(arguments: [MessageType.tcreate, .tremove, .twstat])
    func aNonIdempotentRequestInFlightFailsAsMaybeDoneAndIsNotRepeated(_ type: MessageType) async throws {
        let rig = try await Rig.start()
        let c = rig.client
        let victim = try await c.create(path: "victim", perm: FileMode(rawValue: 0o644), mode: .read)
        rig.proxy.withLock { $0!.cutAfter(type) }
        await #expect {
            switch type {
            case .tcreate: _ = try await c.create(path: "d", perm: FileMode.dir.union(FileMode(rawValue: 0o755)), mode: .read)
            case .tremove: try await c.remove(victim)
            default:
                var stat = Stat.dontTouch
                stat.name = "renamed"
                try await c.wstat(victim, stat)
            }
        } throws: { error in
            guard let e = error as? NinePClientError, case .mayHaveHappened = e.reconnectError else { return false }
            return "\(e)".contains("may or may not have happened")
        }
        // Done exactly once: the directory lists the outcome once, and the client still works.
        let names = try await c.readdir(path: "").map(\.name).sorted()
        switch type {
        case .tcreate: #expect(names == ["d", "victim"])
        case .tremove: #expect(names == [])
        default: #expect(names == ["renamed"])
        }
        await rig.stop()
    }

    @Test func aThousandOpenFilesAreRestored() async throws {
        let rig = try await Rig.start()
        let c = rig.client
        var fids: [Fid] = []
        for i in 0..<1000 {
            let fid = try await c.create(path: "f\(i)", perm: FileMode(rawValue: 0o644), mode: .readWrite)
            try await c.write(fid, offset: 0, data: Self.bytes("\(i)"))
            fids.append(fid)
        }
        let start = ContinuousClock.now
        rig.proxy.withLock { _ = $0!.cut() }
        #expect(String(buffer: try await c.read(fids[0], offset: 0, count: 10)) == "0")
        let restored = ContinuousClock.now - start
        for (i, fid) in fids.enumerated() {
            #expect(String(buffer: try await c.read(fid, offset: 0, count: 10)) == "\(i)")
        }
        print("bench: 1,000 open fids restored and first request answered: \(restored.milliseconds) ms")
        await rig.stop()
    }

    /// A soft mount: a request waiting for a server that is away fails
    /// once the outage has lasted the timeout, and so does a new one at
    /// once; when the server is back, the same client and fid work again.
    @Test func theRequestTimeoutFailsWaitingRequestsAndTheClientComesBack() async throws {
        let rig = try await Rig.start(requestTimeout: .milliseconds(500))
        let c = rig.client
        let fid = try await c.create(path: "f", perm: FileMode(rawValue: 0o644), mode: .readWrite)
        _ = try await c.write(fid, offset: 0, data: ByteBuffer(string: "back"))
        await rig.proxyDown()
        let start = ContinuousClock.now
        let timedOut = { (error: any Error) -> Bool in
            guard let e = error as? NinePClientError, case .timedOut = e.reconnectError else { return false }
            return "\(e)".contains("still redialling")
        }
        await #expect(performing: { try await c.read(fid, offset: 0, count: 10) }, throws: timedOut)
        let waited = ContinuousClock.now - start
        // Not before the deadline; the upper bound only tells "on time" from
        // "never" on a machine that may be loaded, not a speed target.
        #expect(waited >= .milliseconds(400) && waited < .seconds(15), "timed out after \(waited)")
        await #expect(performing: { try await c.stat(fid) }, throws: timedOut)
        try await rig.proxyUp()
        let back = await eventually(.seconds(30)) {
            (try? await c.read(fid, offset: 0, count: 10)) == ByteBuffer(string: "back")
        }
        #expect(back, "the client never came back after the server returned")
        await rig.stop()
    }

    @Test func aBlockedRequestCanBeCancelledWhileDown() async throws {
        let rig = try await Rig.start()
        let c = rig.client
        let fid = try await c.create(path: "f", perm: FileMode(rawValue: 0o644), mode: .readWrite)
        await rig.proxyDown()
        let reader = Task { try await c.read(fid, offset: 0, count: 10) }
        reader.cancel()
        // Ends while nothing is accepting: the read does not wait for the server.
        await #expect(throws: CancellationError.self) { try await reader.value }
        try await rig.proxyUp()
        try await c.write(fid, offset: 0, data: Self.bytes("ok"))
        await rig.stop()
    }

    @Test func chaosCutsLoseNoData() async throws {
        let rig = try await Rig.start()
        let c = rig.client
        let fid = try await c.create(path: "data", perm: FileMode(rawValue: 0o644), mode: .readWrite)
        var model = [UInt8](repeating: 0, count: 64 * 1024)
        var generator = SystemRandomNumberGenerator()
        let cutter = Task {
            var cuts = 0
            while cuts < 20, !Task.isCancelled {
                try await Task.sleep(for: .milliseconds(Int.random(in: 20...80)))  // chaos cadence, not synchronisation
                cuts += rig.proxy.withLock { $0?.cut() ?? 0 }
            }
            return cuts
        }
        var operations = 0
        var modelSize = 0
        while true {
            let offset = Int.random(in: 0..<(model.count - 20_000), using: &generator)
            let length = Int.random(in: 1...20_000, using: &generator)
            if Bool.random(using: &generator) {
                let chunk = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
                let written = try await c.write(fid, offset: UInt64(offset), data: ByteBuffer(bytes: chunk))
                #expect(written == length)
                model.replaceSubrange(offset..<(offset + length), with: chunk)
                if offset + length > modelSize { modelSize = offset + length }
            } else {
                let got = Array(buffer: try await c.read(fid, offset: UInt64(offset), count: length))
                let end = min(offset + length, max(modelSize, offset))
                #expect(got == Array(model[offset..<end]), "read at \(offset) of \(length) after \(operations) operations")
            }
            operations += 1
            if rig.proxy.withLock({ $0?.cuts ?? 0 }) >= 20 { break }
        }
        let cuts = try await cutter.value
        #expect(cuts >= 20)
        await rig.stop()
    }
}

extension Duration {
    /// Whole and fractional milliseconds, for the bench lines.
    var milliseconds: String {
        let (seconds, attoseconds) = components
        return String(format: "%.1f", Double(seconds) * 1000 + Double(attoseconds) / 1e15)
    }
}
