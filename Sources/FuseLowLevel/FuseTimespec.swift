import Glibc

/// A point in time as `struct timespec` holds it: seconds and nanoseconds since the epoch.
public struct FuseTimespec: Sendable, Hashable {
    public var seconds: Int64
    public var nanoseconds: Int64

    public init(seconds: Int64, nanoseconds: Int64 = 0) {
        self.seconds = seconds
        self.nanoseconds = nanoseconds
    }

    /// The epoch, 1970-01-01T00:00:00Z.
    public static let zero = FuseTimespec(seconds: 0)

    /// The current wall-clock time.
    public static func now() -> FuseTimespec {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return FuseTimespec(ts)
    }

    init(_ ts: timespec) {
        self.init(seconds: Int64(ts.tv_sec), nanoseconds: Int64(ts.tv_nsec))
    }

    var timespecValue: timespec {
        timespec(tv_sec: Int(seconds), tv_nsec: Int(nanoseconds))
    }
}
