public import NinePWire

/// Why the connection is considered lost.
public enum DisconnectReason: Hashable, Sendable, CustomStringConvertible {
    /// The server closed the connection.
    case endOfFile
    /// A read or write failed (connection reset, broken pipe…): the system's text.
    case reset(String)
    /// No answer to a keep-alive within the configured time.
    case keepAliveTimeout
    /// A freshly dialled server did not answer a recovery message within
    /// `ReconnectPolicy.recoveryReplyTimeout`.
    case recoveryStalled
    /// The server sent something that cannot be decoded or makes no sense.
    case protocolError(String)
    /// The server answered with 9P2000.L's Rlerror (a Linux errno), which a
    /// 9P2000 session cannot carry: a 9P2000.L-only server.
    case linuxError(errno: UInt32)

    public var description: String {
        switch self {
        case .endOfFile: "server closed the connection"
        case .reset(let text): text
        case .keepAliveTimeout: "no answer to keep-alive"
        case .recoveryStalled: "no answer during recovery"
        case .protocolError(let text): "protocol error: \(text)"
        case .linuxError(let errno): "protocol error: Rlerror \(NinePClientError.Kind.errnoText(errno)), a 9P2000.L reply"
        }
    }
}

/// The timers the state machine asks for. Scheduling a kind again replaces
/// the earlier timer of that kind.
public enum ReconnectTimer: Hashable, Sendable {
    /// The pause before the next redial.
    case backoff
    /// `ReconnectPolicy.requestTimeout` after the connection was lost.
    case requestTimeout
    /// `ReconnectPolicy.recoveryReplyTimeout` after the last recovery progress.
    case recoveryStall
}

/// What happened: the executor reports each to `ReconnectStateMachine.handle(_:now:)`.
public enum ReconnectEvent: Hashable, Sendable {
    /// The client wants this T-message sent. (Tversion uses NOTAG.)
    case requestSubmitted(Fcall)
    /// An R-message arrived on the current connection: a reply to a client
    /// request, or to a recovery message the machine sent.
    case replyReceived(Fcall)
    /// The current connection ended (EOF, reset, protocol error).
    case connectionLost(DisconnectReason)
    /// The executor's keep-alive went unanswered; the machine asks it to
    /// close the connection and treats it as lost.
    case keepAliveTimeout
    /// The redial the machine asked for (`.dial`) connected.
    case dialSucceeded
    /// The redial failed; the text says why ("connection refused").
    case dialFailed(String)
    /// A timer the machine scheduled fired. Late or replaced timers are
    /// recognised and ignored.
    case timerFired(ReconnectTimer)
}
