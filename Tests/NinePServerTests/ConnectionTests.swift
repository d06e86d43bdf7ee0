import Foundation
import Logging
import NIOCore
import NIOPosix
import NinePServer
import NinePTesting
import NinePWire
import Synchronization
import Testing

@Suite("Connections: limits, malformed input, concurrency, tracing", .timeLimit(.minutes(5)))
struct ConnectionTests {
    @Test func outstandingRequestLimit() async throws {
        let fs = TestFS()
        let pair = try await session(fs, options: ServerOptions(maxOutstandingRequests: 4))
        defer { Task { await pair.close() } }
        let c = pair.client
        try await c.walkOpen(1, "slow")
        var requests: [Request] = []
        for t in 1...4 { requests.append(try await c.heldRead(fs, tag: Tag(UInt16(t)))) }
        #expect(try await c.stat(0).ename == "too many outstanding requests")
        // Tflush is exempt, so a client can always cancel.
        try await c.send(Fcall(tag: Tag(9), .tflush(Tflush(oldtag: Tag(1)))))
        requests[0].respond(error: .interrupted)
        #expect(try await c.reply(tag: Tag(9)).message == .rflush(Rflush()))
        #expect(try await c.stat(0).statValue != nil)
        for r in requests.dropFirst() { r.respond(error: .interrupted) }
    }

    @Test func fidLimit() async throws {
        let pair = try await session(TestFS(), options: ServerOptions(maxFids: 3))
        defer { Task { await pair.close() } }
        let c = pair.client
        #expect(try await c.walk(0, 1).qids == [])
        #expect(try await c.walk(0, 2).qids == [])
        #expect(try await c.walk(0, 3).ename == "too many fids")
        #expect(try await c.clunk(2) == .rclunk(Rclunk()))
        #expect(try await c.walk(0, 3).qids == [])
    }

    @Test func aPendingRequestDoesNotStallOthers() async throws {
        let fs = TestFS()
        let pair = try await session(fs)
        defer { Task { await pair.close() } }
        let c = pair.client
        try await c.walkOpen(1, "slow")
        let slow = try await c.heldRead(fs, tag: Tag(1000))
        let result = try await c.pipeline(count: 1_000, window: 200) { _, _ in .tstat(Tstat(fid: Fid(0))) }
        #expect(result.replies == 1_000 && result.errors == 0)
        #expect(!slow.isAnswered)
        slow.respond(.rread(Rread(data: ByteBuffer(string: "x"))))
        #expect(try await c.reply(tag: Tag(1000)).message.readData == [UInt8(ascii: "x")])
    }

    @Test func skippableMalformedFrameIsAnsweredAndServingGoesOn() async throws {
        let pair = try await session(TestFS())
        defer { Task { await pair.close() } }
        let c = pair.client
        // size 9, type 99 (no such message), tag 7, two bytes of body.
        try await c.sendRaw([9, 0, 0, 0, 99, 7, 0, 1, 2])
        let reply = try await c.reply(tag: Tag(7))
        #expect(reply.message.ename?.contains("unknown message type 99") == true)
        // An R-message sent to the server is refused the same way.
        try await c.sendRaw([7, 0, 0, 0, MessageType.rclunk.rawValue, 8, 0])
        #expect(try await c.reply(tag: Tag(8)).message.ename != nil)
        #expect(try await c.stat(0).statValue?.name == "/")
    }

    @Test func unskippableFrameClosesOnlyThatConnection() async throws {
        let fs = TestFS()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ninep-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("s").path
        let listener = try await NinePServer.listen(fs, unixPath: path)
        let good = try await RawNinePClient.connect(unixPath: path)
        let bad = try await RawNinePClient.connect(unixPath: path)
        let huge = try await RawNinePClient.connect(unixPath: path)
        _ = try await good.version(msize: 8192)
        _ = try await bad.version(msize: 8192)
        _ = try await huge.version(msize: 8192)
        _ = try await good.attach(fid: Fid(0))

        try await bad.sendRaw([3, 0, 0, 0])  // size below 7: no way to find the next frame
        try await bad.closeFuture.get()
        try await huge.sendRaw([0, 0, 1, 0, 104, 1, 0])  // 65,536 bytes: above the msize of 8,192
        try await huge.closeFuture.get()

        #expect(try await good.stat(0).statValue?.name == "/")
        await good.close()
        await listener.close()
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    @Test func manyConnectionsAtOnce() async throws {
        let pairs = try await withThrowingTaskGroup(of: InMemoryServerConnection.self) { group in
            for _ in 0..<20 { group.addTask { try await session(TestFS()) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for p in pairs {
                group.addTask {
                    let r = try await p.client.pipeline(count: 200, window: 50) { _, _ in .tstat(Tstat(fid: Fid(0))) }
                    #expect(r.errors == 0 && r.replies == 200)
                }
            }
            try await group.waitForAll()
        }
        for p in pairs { await p.close() }
    }

    @Test func tracingLogsEveryMessage() async throws {
        let sink = LineSink()
        var logger = Logger(label: "trace-test") { _ in CapturingLogHandler(sink: sink) }
        logger.logLevel = .info
        let pair = try await session(TestFS(), options: ServerOptions(trace: true, logger: logger))
        defer { Task { await pair.close() } }
        _ = try await pair.client.stat(0)
        let id = pair.server.id
        let text = sink.lines.withLock { $0 }
        #expect(text.contains { $0.hasPrefix("<-\(id)- Tversion tag NOTAG") })
        #expect(text.contains { $0.hasPrefix("-\(id)-> Rversion tag NOTAG") })
        #expect(text.contains { $0.hasPrefix("<-\(id)- Tstat tag") })
        #expect(text.contains { $0.hasPrefix("-\(id)-> Rstat tag") })
    }

    @Test func tcpListenerOnPortZero() async throws {
        let listener = try await NinePServer.listen(RamFS(), on: .tcp(host: "127.0.0.1", port: 0))
        let port = try #require(listener.localAddress?.port)
        #expect(port > 0)
        let c = try await RawNinePClient.connect(to: try SocketAddress(ipAddress: "127.0.0.1", port: port))
        _ = try await c.version()
        #expect(try await c.attach(fid: Fid(0)).isDirectory)
        #expect(listener.connectionCount == 1)
        await listener.close()
        try await c.closeFuture.get()
    }

    @Test func listenFailureSaysWhere() async throws {
        await #expect {
            _ = try await NinePServer.listen(RamFS(), unixPath: "/nonexistent-dir-ninep/sock")
        } throws: { error in
            "\(error)".contains("unix!/nonexistent-dir-ninep/sock")
        }
    }
}

/// Where `CapturingLogHandler` puts lines.
final class LineSink: Sendable {
    let lines = Mutex<[String]>([])
}

/// Collects log messages.
struct CapturingLogHandler: LogHandler {
    let sink: LineSink
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace
    var metadataProvider: Logger.MetadataProvider?

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        sink.lines.withLock { $0.append(event.message.description) }
    }
}
