public import Logging
public import NIOCore
public import NinePTransport
public import NinePWire

/// Per-connection settings of the service loop.
///
/// Read once when a connection starts; changing a copy afterwards has no
/// effect on connections already being served.
public struct ServerOptions: Sendable {
    /// The largest msize the server agrees to. Tversion answers
    /// min(client msize, this). Default: 1 MiB of payload plus IOHDRSZ.
    public var maxMessageSize: UInt32
    /// Fids one connection may hold at once (counting fids being created by
    /// an outstanding Tattach, Tauth or Twalk). Reaching it answers
    /// "too many fids". Default 65,536.
    public var maxFids: Int
    /// Requests one connection may have outstanding at once. Reaching it
    /// answers "too many outstanding requests" (Tflush is exempt, so that a
    /// client can always cancel). Default 1,024.
    public var maxOutstandingRequests: Int
    /// The smallest msize accepted in Tversion; below it Tversion is
    /// answered "msize too small". Default (and floor) 256, enough for a
    /// full Rwalk.
    public var minMessageSize: UInt32
    /// Log every T- and R-message (`<-N-` and `-N->`, N the connection id),
    /// like lib9p's chatty9p and the `-D` flag of Plan 9 servers.
    public var trace: Bool
    /// The level trace lines are logged at. Default `.info`.
    public var traceLevel: Logger.Level
    /// The limits shared by every connection configured with this value
    /// (connections, reply bytes, fids): see `ServerLimits`. A copy of the
    /// options shares them; make a new `ServerLimits` for another server.
    public var limits: ServerLimits
    /// A connection with nothing going on (no request, no fid, no reply
    /// unwritten) for this long is closed; nil: never. Default 2 minutes.
    public var idleTimeout: TimeAmount?
    /// A connection that has sent part of a message and not the rest within
    /// this long is closed; nil: never. Default 30 seconds.
    public var stallTimeout: TimeAmount?
    /// Decides about each connection a listener accepts before anything is
    /// read from it (called on its event loop): nil admits it, a string
    /// refuses it with that reason (e.g. the srv registry refusing other
    /// users). Default: admit all.
    public var peerCheck: (@Sendable (any Channel) -> EventLoopFuture<String?>)?
    /// Where the loop logs. Malformed frames are logged at `.notice`,
    /// closed connections and FileServer mistakes at `.debug`/`.warning`.
    public var logger: Logger
    /// For listeners on `tls!` addresses: the certificate and whom to let
    /// in (nil: `NinePTLSServerSettings.environment()`). Read when the
    /// listener starts.
    public var tls: NinePTLSServerSettings?
    /// Whom to let attach, given what the transport vouches for.
    public var attachPolicy: AttachPolicy
    /// The dialects Tversion may settle on, of those the FileServer speaks
    /// (`FileServer.dialects`); nil: all of those.
    public var dialects: Set<ProtocolVersion>?

    /// The default msize cap: 1 MiB of payload plus the I/O header.
    public static let defaultMaxMessageSize: UInt32 = NineP.defaultMessageSize
    /// The default idle timeout: 2 minutes.
    public static let defaultIdleTimeout = TimeAmount.minutes(2)
    /// The default stall timeout: 30 seconds.
    public static let defaultStallTimeout = TimeAmount.seconds(30)

    public init(
        maxMessageSize: UInt32 = ServerOptions.defaultMaxMessageSize,
        maxFids: Int = 65_536,
        maxOutstandingRequests: Int = 1_024,
        minMessageSize: UInt32 = 256,
        trace: Bool = false,
        traceLevel: Logger.Level = .info,
        logger: Logger = Logger(label: "ninep.server"),
        tls: NinePTLSServerSettings? = nil,
        attachPolicy: AttachPolicy = AttachPolicy(),
        limits: ServerLimits = ServerLimits(),
        idleTimeout: TimeAmount? = ServerOptions.defaultIdleTimeout,
        stallTimeout: TimeAmount? = ServerOptions.defaultStallTimeout,
        peerCheck: (@Sendable (any Channel) -> EventLoopFuture<String?>)? = nil,
        dialects: Set<ProtocolVersion>? = nil
    ) {
        self.dialects = dialects
        self.limits = limits
        self.idleTimeout = idleTimeout
        self.stallTimeout = stallTimeout
        self.peerCheck = peerCheck
        self.maxMessageSize = maxMessageSize
        self.maxFids = maxFids
        self.maxOutstandingRequests = maxOutstandingRequests
        self.minMessageSize = minMessageSize
        self.trace = trace
        self.traceLevel = traceLevel
        self.logger = logger
        self.tls = tls
        self.attachPolicy = attachPolicy
    }
}
