import NIOCore
import NIOPosix
@testable import NinePClient
import NinePTesting
import NinePTransport
import NinePWire
import Testing

/// The first connection of a command or a mount against servers that go
/// wrong at once (`MisbehavingServer`): each fails with an error that names
/// the server and what it answered, within the connect deadline, and a
/// reconnecting client does not redial a session that never was.
/// Bounds tell "on time" from "never"; none is a speed target.
@Suite("First connection: a clear error within the deadline", .timeLimit(.minutes(3)))
struct FirstConnectionTests {
    static func configuration(_ server: MisbehavingServer, timeout: Duration, reconnecting: Bool) -> NinePClient.Configuration {
        var configuration = NinePClient.Configuration(connectTimeout: timeout)
        configuration.logger.logLevel = .critical
        if reconnecting {
            configuration.reconnect = ReconnectPolicy(server: server.address, backoff: Backoff(initialDelay: .milliseconds(10)))
        }
        return configuration
    }

    /// Connects and attaches; returns the error and how long it took.
    static func failure(
        _ behaviour: MisbehavingServer.Behaviour, timeout: Duration, reconnecting: Bool
    ) async throws -> (error: NinePClientError?, took: Duration, server: MisbehavingServer) {
        let server = try await MisbehavingServer.start(behaviour)
        let start = ContinuousClock.now
        do {
            let (client, _) = try await NinePClient.connect(
                to: NinePAddress(dialString: server.address), attachingAs: "glenda", group: MultiThreadedEventLoopGroup.singleton,
                configuration: configuration(server, timeout: timeout, reconnecting: reconnecting))
            await client.close()
            return (nil, ContinuousClock.now - start, server)
        } catch let error as NinePClientError {
            return (error, ContinuousClock.now - start, server)
        }
    }

    @Test(arguments: [false, true])
    func anRlerrorToVersionIsARefusalThatNamesTheServerAndTheDialect(reconnecting: Bool) async throws {
        let (error, took, server) = try await Self.failure(.rlerrorToVersion(errno: 22), timeout: .seconds(30), reconnecting: reconnecting)
        let text = try #require(error.map { "\($0)" })
        #expect(text.hasPrefix("\(server.address): refused version 9P2000: Rlerror errno 22 (Invalid argument)"), "\(text)")
        #expect(text.contains("9P2000.L-only server"), "\(text)")
        #expect(took < .seconds(15), "an answered refusal does not wait for the deadline: \(took)")
        #expect(server.connections == 1, "no redial")
        if case .versionRefused("9P2000", _)? = error?.kind {} else { Issue.record("kind \(String(describing: error?.kind))") }
        await server.close()
    }

    @Test(arguments: [false, true])
    func aServerThatNeverAnswersTattachFailsAtTheDeadline(reconnecting: Bool) async throws {
        // Long enough that the Rversion is in on a loaded machine, so that the request named is the Tattach.
        let (error, took, server) = try await Self.failure(.silentAfterVersion, timeout: .seconds(3), reconnecting: reconnecting)
        let failure = try #require(error)
        #expect(failure.kind == .noAnswer(request: "Tattach", within: .seconds(3)), "\(failure)")
        #expect("\(failure)" == "\(server.address): no answer to Tattach within 3.0 s (--connect-timeout); is it a 9P2000 server?")
        #expect(took >= .milliseconds(2900) && took < .seconds(30), "failed after \(took)")
        #expect(server.connections == 1, "no redial")
        await server.close()
    }

    @Test(arguments: [false, true])
    func garbageAfterRversionFailsAtOnceWithAProtocolError(reconnecting: Bool) async throws {
        let (error, took, server) = try await Self.failure(.garbageAfterVersion, timeout: .seconds(60), reconnecting: reconnecting)
        let text = try #require(error.map { "\($0)" })
        #expect(text.contains(server.address) && text.contains("protocol error"), "\(text)")
        #expect(took < .seconds(30), "the garbage, not the deadline, ended it: \(took)")
        #expect(server.connections == 1, "no redial")
        await server.close()
    }

    @Test func aServerThatIsNotThereFailsAtOnce() async throws {
        let server = try await MisbehavingServer.start(.silentAfterVersion)
        let address = server.address
        await server.close()
        await #expect {
            _ = try await NinePClient.connect(
                to: NinePAddress(dialString: address), attachingAs: "glenda", group: MultiThreadedEventLoopGroup.singleton,
                configuration: NinePClient.Configuration(connectTimeout: .seconds(30)))
        } throws: { error in
            "\(error)".contains("127.0.0.1") && !"\(error)".contains("no answer")
        }
    }
}
