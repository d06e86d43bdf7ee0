import Logging
import NinePExport
import NinePServer
import NinePTesting
import NinePTransport
import NinePWire
import Synchronization
import Testing

/// Malformed and random input on a live connection to an export, measured:
/// every frame gets Rerror or closes that connection (with a logged reason),
/// while another connection keeps serving, in this process and against the
/// `ninep export` command.
@Suite("Bad input on a live connection", .timeLimit(.minutes(10)))
struct BadInputTests {
    /// The reason the server logs when it closes a connection over a frame it cannot skip.
    static let closingReason = "closing: malformed 9P message"

    static func seed() -> UInt64 {
        var random = SystemRandomNumberGenerator()
        return random.next()
    }

    /// Opens the probe connection, then runs the barrage with a fresh seed (printed).
    static func barrage(_ address: NinePAddress, _ server: String) async throws -> BadInputBarrage.Report {
        let probe = try await RawNinePClient.connect(to: address)
        _ = try await probe.version(msize: 8192)
        _ = try await probe.attach(fid: Fid(0))
        let seed = Self.seed()
        print("bad input, \(server): seed \(seed)")
        let report = try await BadInputBarrage(seed: seed) { try await RawNinePClient.connect(to: address) }.run(probe: probe)
        await probe.close()
        return report
    }

    /// The server still takes and serves a new connection.
    static func expectServes(_ address: NinePAddress) async throws {
        let fresh = try await RawNinePClient.connect(to: address)
        _ = try await fresh.version(msize: 8192)
        _ = try await fresh.attach(fid: Fid(0))
        #expect(try await fresh.call(.tstat(Tstat(fid: Fid(0)))).type == .rstat)
        await fresh.close()
    }

    static func check(_ report: BadInputBarrage.Report, logged: [String], where server: String) {
        print("\(server): \(report)")
        #expect(report.failures.isEmpty, "\(server): \(report.failures.prefix(10).joined(separator: "\n"))")
        #expect(report.frames == MalformedFrame.allCases.count + 10_000)
        #expect(report.rerrors + report.otherReplies + report.closes - report.rawChunks == report.frames)
        #expect(report.rerrors >= MalformedFrame.allCases.count(where: { !$0.closesConnection }))
        #expect(report.closes >= MalformedFrame.allCases.count(where: \.closesConnection) + report.rawChunks)
        let closing = logged.filter { $0.contains(closingReason) }
        #expect(closing.count == report.closes, "\(server): \(report.closes) closes but \(closing.count) logged reasons")
        for reason in ["message size 3 is below the minimum of 7", "exceeds msize"] {
            #expect(closing.contains { $0.contains(reason) }, "\(server): no logged close saying '\(reason)'")
        }
    }

    @Test("ExportFileServer in process")
    func inProcess() async throws {
        let tree = try TemporaryDirectory(prefix: "ninep-bad")
        defer { tree.remove() }
        let log = CapturedLog()
        var options = ServerOptions()
        options.logger = Logger(label: "ninep.server") { _ in log }
        try await LocalServer.with(try ExportFileServer(root: tree.path), options: options) { address in
            let report = try await Self.barrage(address, "in process")
            Self.check(report, logged: log.lines, where: "in process")
            try await Self.expectServes(address)
        }
    }

    @Test("ninep export, the process, over TCP port 0")
    func process() async throws {
        let tree = try TemporaryDirectory(prefix: "ninep-bad")
        defer { tree.remove() }
        try await NinePProcess.withServer(["export", tree.path], listen: "tcp!127.0.0.1!0") { server in
            let address = try #require(server.address)
            guard case .tcp(_, let port) = address else { throw NinePProcessError("ninep export serves on \(address), not TCP") }
            #expect(port != 0, "the serving line did not give the real port")
            let report = try await Self.barrage(address, "ninep export")
            // Every close is logged before the socket closes; the lines may still be in the pipe.
            let closes = report.closes
            _ = await server.waitForStandardError(timeout: .seconds(10)) { text in
                text.components(separatedBy: "\n").count(where: { $0.contains(Self.closingReason) }) >= closes
            }
            Self.check(report, logged: server.standardError.components(separatedBy: "\n"), where: "ninep export")
            #expect(server.isRunning, "ninep export exited: \(server.standardError.suffix(2000))")
            try await Self.expectServes(address)
        }
    }
}

/// A log handler that keeps every message, for checking what a server logged.
final class CapturedLog: LogHandler, Sendable {
    private let state = Mutex<(lines: [String], metadata: Logger.Metadata, level: Logger.Level)>(([], [:], .trace))

    var lines: [String] { state.withLock { $0.lines } }

    var metadata: Logger.Metadata {
        get { state.withLock { $0.metadata } }
        set { state.withLock { $0.metadata = newValue } }
    }

    var logLevel: Logger.Level {
        get { state.withLock { $0.level } }
        set { state.withLock { $0.level = newValue } }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { state.withLock { $0.metadata[key] } }
        set { state.withLock { $0.metadata[key] = newValue } }
    }

    func log(event: LogEvent) {
        let line = "\(event.level) \(event.message)"
        state.withLock { $0.lines.append(line) }
    }
}
