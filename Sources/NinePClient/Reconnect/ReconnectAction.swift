public import Logging
public import NinePWire

/// What the executor must do, in the order the machine returns them.
public enum ReconnectAction: Hashable, Sendable {
    /// Write this T-message on the current connection: a client request, or
    /// a recovery message (Tversion, Tattach, Twalk, Topen, Tclunk) whose tag
    /// and fids the machine chose.
    case send(Fcall)
    /// Write this client request again on the new connection: it was in
    /// flight when the old one dropped. (Traced message by message at -D.)
    case replay(Fcall)
    /// Hand this R-message to the client: the server's reply, or one the
    /// machine answered locally (Rclunk of a dead fid, Rflush of a dead tag).
    case deliver(Fcall)
    /// Answer the client's request with this tag with an error.
    case fail(Tag, ReconnectError)
    /// The connection is down: client requests now wait (they do not fail).
    /// The machine holds them; the executor may pause keep-alives.
    case blockRequests
    /// Recovery finished: the connection carries client traffic again.
    case resumeRequests
    /// Close the current connection if it is still open.
    case closeConnection
    /// Dial the server again; report `dialSucceeded` or `dialFailed`.
    case dial
    /// Report `timerFired(timer)` after this long (replacing an earlier one of that kind).
    case scheduleTimer(ReconnectTimer, after: Duration)
    /// The timer is no longer needed.
    case cancelTimer(ReconnectTimer)
    /// The reconnected server granted a smaller msize: set the codec's limit
    /// and split I/O to fit from now on.
    case setMessageSize(UInt32)
    /// This fid could not be restored; requests on it will fail with `error`.
    case markFidDead(Fid, ReconnectError)
    /// The fid's file changed while the server was away (qid.vers differs):
    /// drop cached pages and attributes.
    case invalidate(Fid, old: Qid, new: Qid)
    /// The session is over: every request has been failed and new ones fail
    /// with `error`. Tear the transport down.
    case giveUp(ReconnectError)
    /// A line for the log.
    case log(Logger.Level, String)
}
