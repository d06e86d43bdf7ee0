public import NIOCore
public import NinePTransport
public import NinePWire
import Synchronization

extension NinePClient {
    /// Dials `address`, negotiates the version and attaches as `uname` to
    /// `aname`, all within `configuration.connectTimeout`: the first
    /// connection of a command or a mount, which fails clearly instead of
    /// waiting for a server that does not answer.
    ///
    /// When the deadline passes, the connection is closed and the call
    /// throws `NinePClientError.Kind.noAnswer` naming the request that went
    /// unanswered ("connect", "Tversion" or "Tattach") and the server. A
    /// refused version or attach throws what the server said, as
    /// `connect(to:)` and `attach(uname:aname:)` do.
    ///
    /// With `configuration.reconnect` set, the deadline covers only this
    /// first session: reconnecting starts once it is attached.
    ///
    /// A `srv!name` is looked up before the deadline starts: the lookup has
    /// the registry's own deadline and errors (`ServiceResolver`), and a
    /// slow registry is not reported as a server that could not be reached.
    ///
    /// - Returns: the client and the fid of the attached root.
    public static func connect(
        to address: NinePAddress, attachingAs uname: String, aname: String = "",
        group: any EventLoopGroup, configuration: Configuration = Configuration()
    ) async throws -> (client: NinePClient, root: Fid) {
        let server = configuration.serverName ?? address.description
        let deadline = ConnectDeadline()
        var resolved: ResolvedService?
        if case .srv(let name) = address, configuration.connectTimeout != nil {
            resolved = ResolvedService(try await ServiceResolution.resolve(name, with: nil, group: group))
        }
        let resolver = resolved
        let establish: @Sendable () async throws -> (client: NinePClient, root: Fid) = {
            let client = try await connect(
                to: address, group: group, configuration: configuration, deadline: deadline, resolver: resolver)
            do {
                return (client, try await client.attach(uname: uname, aname: aname))
            } catch {
                await client.close()
                throw error
            }
        }
        guard let timeout = configuration.connectTimeout else { return try await establish() }
        let loop = group.next()
        let outcome = loop.makePromise(of: (client: NinePClient, root: Fid).self)
        let attempt = loop.makePromise(of: (client: NinePClient, root: Fid).self)
        attempt.completeWithTask(establish)
        let timer = loop.scheduleTask(in: .nanoseconds(timeout.nanosecondsClamped)) {
            guard let request = deadline.expire() else { return }
            outcome.fail(NinePClientError(.noAnswer(request: request, within: timeout), server: server))
        }
        attempt.futureResult.whenComplete { result in
            timer.cancel()
            if deadline.finish() {
                outcome.completeWith(result)
            } else if case .success(let late) = result {
                // Too late: the caller has its error already.
                _ = late.client.transport.close()
                late.client.connection?.channel.close(promise: nil)
            }
        }
        return try await outcome.futureResult.get()
    }
}

/// Where a first connection stands, so that its deadline can name the
/// request that went unanswered and close the connection under it.
///
/// Thread safety: a mutex guards the state; the connection is closed
/// outside it. Either `expire` or `finish` wins, once.
final class ConnectDeadline: Sendable {
    private struct State {
        var waitingFor = "connect"
        /// The dialled channel, from the moment it opens (before a TLS
        /// handshake), so that an expiry closes it wherever the dial is.
        var channel: (any Channel)?
        var decided = false
    }

    private let state = Mutex(State())

    /// The channel is open (a TLS handshake may follow): the deadline
    /// closes it if it expires.
    func opened(_ channel: any Channel) {
        let expiredAlready = state.withLock { state -> Bool in
            state.channel = channel
            return state.decided
        }
        if expiredAlready { channel.close(promise: nil) }
    }

    /// The connection is up: the deadline closes it if it expires.
    func dialed(_ connection: NinePConnection) {
        let expiredAlready = state.withLock { state -> Bool in
            state.channel = connection.channel
            state.waitingFor = "Tversion"
            return state.decided
        }
        if expiredAlready { connection.channel.close(promise: nil) }
    }

    /// The next request awaited.
    func advance(to request: String) {
        state.withLock { $0.waitingFor = request }
    }

    /// The deadline passed: closes the connection and returns the request
    /// that went unanswered, or nil if the attempt had finished first.
    func expire() -> String? {
        let (request, channel) = state.withLock { state -> (String?, (any Channel)?) in
            guard !state.decided else { return (nil, nil) }
            state.decided = true
            return (state.waitingFor, state.channel)
        }
        channel?.close(promise: nil)
        return request
    }

    /// The attempt finished: true if before the deadline.
    func finish() -> Bool {
        state.withLock { state in
            defer { state.decided = true }
            return !state.decided
        }
    }
}
