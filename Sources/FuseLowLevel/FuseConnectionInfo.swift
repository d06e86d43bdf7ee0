import CFuse

/// What the kernel and the session agreed on at INIT (`struct fuse_conn_info`
/// after the session's negotiation), handed to `FuseOperations.initialize`.
public struct FuseConnectionInfo: Sendable, Hashable {
    public var protocolMajor: UInt32
    public var protocolMinor: UInt32
    /// Largest write request the kernel will send, in bytes.
    public var maxWrite: UInt32
    /// Largest read request the kernel will send, in bytes (0: the kernel's own limit).
    public var maxRead: UInt32
    /// Largest readahead; the kernel offers its block device default and the session may only lower it.
    public var maxReadahead: UInt32
    /// Most background requests (readahead, async direct I/O) outstanding at once; 0 means the kernel default (12).
    public var maxBackground: UInt32
    public var congestionThreshold: UInt32
    /// Timestamp granularity in nanoseconds.
    public var timeGranularity: UInt32
    /// Features the kernel supports.
    public var capable: FuseCapabilities
    /// Features the session asked for.
    public var want: FuseCapabilities

    public init(
        protocolMajor: UInt32 = 7, protocolMinor: UInt32 = 0, maxWrite: UInt32 = 0, maxRead: UInt32 = 0,
        maxReadahead: UInt32 = 0, maxBackground: UInt32 = 0, congestionThreshold: UInt32 = 0,
        timeGranularity: UInt32 = 1, capable: FuseCapabilities = [], want: FuseCapabilities = []
    ) {
        self.protocolMajor = protocolMajor
        self.protocolMinor = protocolMinor
        self.maxWrite = maxWrite
        self.maxRead = maxRead
        self.maxReadahead = maxReadahead
        self.maxBackground = maxBackground
        self.congestionThreshold = congestionThreshold
        self.timeGranularity = timeGranularity
        self.capable = capable
        self.want = want
    }

    init(_ conn: fuse_conn_info) {
        self.init(
            protocolMajor: conn.proto_major, protocolMinor: conn.proto_minor, maxWrite: conn.max_write,
            maxRead: conn.max_read, maxReadahead: conn.max_readahead, maxBackground: conn.max_background,
            congestionThreshold: conn.congestion_threshold, timeGranularity: conn.time_gran,
            capable: FuseCapabilities(rawValue: conn.capable), want: FuseCapabilities(rawValue: conn.want))
    }
}
