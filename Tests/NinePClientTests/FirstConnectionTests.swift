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

    /// What a first connection to a misbehaving server came to.
    struct Outcome {
        var error: NinePClientError?
        var took: Duration
        /// The server's dial string.
        var address: String
        /// Connections the server accepted.
        var connections: Int
        /// Whether the server had read the request the client's error says
        /// went unanswered (`MisbehavingServer.agreesWithClient`); nil when
        /// the error is not a deadline's.
        var serverAgrees: Bool?
    }

    /// One loop for these tests, never shut down: a client whose deadline
    /// ran out may still be closing on it when its test ends. Its own, so
    /// that other suites keeping NIO's shared loops busy cannot delay it.
    static let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)

    /// Connects and attaches; returns the error, how long it took, and how
    /// many connections the server saw.
    static func failure(
        _ behaviour: MisbehavingServer.Behaviour, timeout: Duration, reconnecting: Bool
    ) async throws -> Outcome {
        let group = Self.group
        let server = try await MisbehavingServer.start(behaviour, group: group)
        let start = ContinuousClock.now
        var error: NinePClientError?
        do {
            let (client, _) = try await NinePClient.connect(
                to: NinePAddress(dialString: server.address), attachingAs: "glenda", group: group,
                configuration: configuration(server, timeout: timeout, reconnecting: reconnecting))
            await client.close()
        } catch let failure as NinePClientError {
            error = failure
        }
        let took = ContinuousClock.now - start
        var serverAgrees: Bool?
        if case .noAnswer(let request, _)? = error?.kind {
            serverAgrees = await server.agreesWithClient(awaiting: request)
        }
        let outcome = Outcome(error: error, took: took, address: server.address, connections: server.connections,
            serverAgrees: serverAgrees)
        await server.close()
        return outcome
    }

    @Test(arguments: [false, true])
    func anRlerrorToVersionIsARefusalThatNamesTheServerAndTheDialect(reconnecting: Bool) async throws {
        let outcome = try await Self.failure(.rlerrorToVersion(errno: 22), timeout: .seconds(120), reconnecting: reconnecting)
        let text = try #require(outcome.error.map { "\($0)" })
        #expect(text.hasPrefix("\(outcome.address): refused version 9P2000: Rlerror errno 22 (Invalid argument)"), "\(text)")
        #expect(text.contains("9P2000.L-only server"), "\(text)")
        #expect(outcome.took < .seconds(60), "an answered refusal does not wait for the deadline: \(outcome.took)")
        #expect(outcome.connections == 1, "no redial")
        if case .versionRefused("9P2000", _)? = outcome.error?.kind {} else { Issue.record("kind \(String(describing: outcome.error?.kind))") }
    }

    @Test(arguments: [false, true])
    func aServerThatNeverAnswersTattachFailsAtTheDeadline(reconnecting: Bool) async throws {
        let outcome = try await Self.failure(.silentAfterVersion, timeout: .seconds(8), reconnecting: reconnecting)
        let failure = try #require(outcome.error)
        // The request awaited when the deadline ran out is the Tattach once
        // the Rversion is in; on a machine so busy that the connection or
        // the Rversion came later than the deadline, the connect or the
        // Tversion. Either way the server must agree with what the client
        // says it was waiting on.
        guard case .noAnswer(let awaited, within: .seconds(8)) = failure.kind,
              ["connect", "Tversion", "Tattach"].contains(awaited) else {
            Issue.record("not a deadline's error naming the connect, Tversion or Tattach: \(failure)")
            return
        }
        #expect(outcome.serverAgrees == true, "the client says it awaited \(awaited); the server disagrees")
        let expected = awaited == "connect"
            ? "\(outcome.address): could not connect within 8.0 s (--connect-timeout)"
            : "\(outcome.address): no answer to \(awaited) within 8.0 s (--connect-timeout); is it a 9P2000 server?"
        #expect("\(failure)" == expected)
        #expect(outcome.took >= .milliseconds(7900) && outcome.took < .seconds(60), "failed after \(outcome.took)")
        #expect(outcome.connections == 1, "no redial")
    }

    @Test(arguments: [false, true])
    func garbageAfterRversionFailsAtOnceWithAProtocolError(reconnecting: Bool) async throws {
        let outcome = try await Self.failure(.garbageAfterVersion, timeout: .seconds(60), reconnecting: reconnecting)
        let text = try #require(outcome.error.map { "\($0)" })
        #expect(text.contains(outcome.address) && text.contains("protocol error"), "\(text)")
        #expect(outcome.took < .seconds(30), "the garbage, not the deadline, ended it: \(outcome.took)")
        #expect(outcome.connections == 1, "no redial")
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
