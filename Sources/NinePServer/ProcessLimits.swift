#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The process-wide resource limits a server adjusts at start.
public enum ProcessLimits {
    /// Raises the soft RLIMIT_NOFILE to the hard limit (a server's
    /// connections and fids each hold descriptors, and the usual soft limit
    /// of 1,024 is soon reached) and returns the soft limit now in force.
    @discardableResult
    public static func raiseDescriptorLimit() -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1_024 }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
        }
        // RLIM_INFINITY does not happen for RLIMIT_NOFILE on Linux (nr_open caps it); be safe anyway.
        return limit.rlim_cur >= rlim_t(Int32.max) ? Int(Int32.max) : Int(limit.rlim_cur)
    }

    /// Makes glibc allocate large buffers (Rread and Twrite data) with mmap
    /// and so give them back to the system when they are freed. Otherwise
    /// glibc raises its mmap threshold at the first such free (up to 32 MiB)
    /// and serves later ones from its heaps, where what a burst of large
    /// replies took stays with the process after the burst.
    public static func returnLargeAllocations() {
        #if canImport(Glibc)
        _ = glibcMallopt(glibcMmapThreshold, 256 << 10)
        #endif
    }
}

#if canImport(Glibc)
/// mallopt(3), which the Glibc module does not bring in (<malloc.h>).
@_silgen_name("mallopt")
private func glibcMallopt(_ parameter: CInt, _ value: CInt) -> CInt
/// M_MMAP_THRESHOLD of <malloc.h>.
private let glibcMmapThreshold: CInt = -3
#endif
