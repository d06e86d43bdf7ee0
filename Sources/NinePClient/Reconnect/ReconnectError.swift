/// Why a request failed because of a lost connection rather than a server
/// answer. Each case is distinct so the mount can map it to its own errno
/// (`staleFid` → ESTALE, the others → EIO) and the user reads what happened.
public enum ReconnectError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A non-idempotent request (create, remove, rename, append-only write)
    /// was in flight when the connection dropped: the server may or may not
    /// have carried it out, and it is not resent. `operation` names it and
    /// its file: "create of 'dir/x'".
    case mayHaveHappened(operation: String)
    /// The fid's file was removed or replaced (its qid path or type changed)
    /// while the server was away, or could not be reopened.
    case staleFid(path: String)
    /// The connection has been down longer than `ReconnectPolicy.requestTimeout`
    /// (`after`): the request failed, and the client goes on redialling.
    case timedOut(server: String, after: Duration)
    /// The first connection was lost before the session was established
    /// (before the first Rattach): there is nothing to resume, so the
    /// client does not redial; `reason` says what happened.
    case lostBeforeAttach(server: String, reason: DisconnectReason)
    /// The connection was lost and the policy has reconnecting turned off.
    case disabled(server: String)

    public var description: String {
        switch self {
        case .mayHaveHappened(let operation):
            "connection lost during \(operation): it may or may not have happened"
        case .staleFid(let path):
            "stale file '\(path)': removed or replaced while the server was away"
        case .timedOut(let server, let after):
            "i/o error: \(server) has been away for more than \(after.reconnectSecondsText) (the reconnect timeout); still redialling"
        case .lostBeforeAttach(let server, let reason):
            "connection to \(server) lost before the session was established: \(reason)"
        case .disabled(let server):
            "i/o error: connection to \(server) lost (reconnecting is disabled)"
        }
    }

    /// The text to put in an Rerror when the executor answers a 9P request
    /// with this error.
    public var ename: String { description }
}
