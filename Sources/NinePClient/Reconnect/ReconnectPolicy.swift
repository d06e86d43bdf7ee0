/// The knobs of the reconnecting transport: whether to reconnect at all, how
/// to back off between redials, and when to give up.
///
/// `ninep mount --no-reconnect` is `isEnabled = false`; `--reconnect-timeout
/// SECONDS` is `requestTimeout`. A plain value, read by `ReconnectStateMachine`.
public struct ReconnectPolicy: Hashable, Sendable {
    /// The server's dial string as the user gave it ("tcp!host!564"): named in
    /// every log line and error so the user knows which server went away.
    public var server: String
    /// False restores the old behaviour: a lost connection fails every
    /// request at once and the session is over.
    public var isEnabled: Bool
    /// The redial schedule.
    public var backoff: Backoff
    /// A soft-mount bound (as NFS's `soft`): how long requests may wait
    /// for a server that went away. Once the connection has been down this
    /// long, every request waiting for it fails with `ReconnectError.timedOut`,
    /// and so does every new one until the server is back; redialling goes
    /// on with backoff, and when the server returns the session resumes as
    /// after any reconnect. nil: requests wait for the server forever (hard).
    public var requestTimeout: Duration?
    /// How long recovery may wait for any reply from a freshly dialled server
    /// before it counts the connection as lost and redials; nil waits forever.
    public var recoveryReplyTimeout: Duration?
    /// How many fids are restored at once (each with at most one walk or
    /// open outstanding): the recovery messages of that many fids are sent
    /// back to back, without waiting for each other, so that a thousand open
    /// files are restored in about two round trips. At least 1; the client
    /// also keeps it within its `maxOutstandingRequests`. The default, 1024,
    /// is what a `NinePServer` takes in flight by default.
    public var recoveryWindow: Int

    public init(
        server: String,
        isEnabled: Bool = true,
        backoff: Backoff = Backoff(),
        requestTimeout: Duration? = nil,
        recoveryReplyTimeout: Duration? = .seconds(30),
        recoveryWindow: Int = 1024
    ) {
        self.server = server
        self.isEnabled = isEnabled
        self.backoff = backoff
        self.requestTimeout = requestTimeout
        self.recoveryReplyTimeout = recoveryReplyTimeout
        self.recoveryWindow = recoveryWindow
    }

    /// `--no-reconnect`.
    public static func disabled(server: String) -> ReconnectPolicy {
        ReconnectPolicy(server: server, isEnabled: false)
    }
}
