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
    /// The connection stayed down longer than `ReconnectPolicy.giveUpAfter`.
    case gaveUp(server: String, after: Duration)
    /// The connection was lost and the policy has reconnecting turned off.
    case disabled(server: String)
    /// The server answered the resuming Tversion with "unknown", an error, or
    /// a different dialect: the old session cannot be resumed.
    case versionRefused(server: String, answer: String)

    public var description: String {
        switch self {
        case .mayHaveHappened(let operation):
            "connection lost during \(operation): it may or may not have happened"
        case .staleFid(let path):
            "stale file '\(path)': removed or replaced while the server was away"
        case .gaveUp(let server, let after):
            "i/o error: gave up reconnecting to \(server) after \(after.reconnectSecondsText)"
        case .disabled(let server):
            "i/o error: connection to \(server) lost (reconnecting is disabled)"
        case .versionRefused(let server, let answer):
            "i/o error: \(server) refused to resume the session: Tversion answered '\(answer)'"
        }
    }

    /// The text to put in an Rerror when the executor answers a 9P request
    /// with this error.
    public var ename: String { description }
}
