#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// What /proc says about a process: resident memory, CPU time, open
/// descriptors. For load tests that bound a server process from outside.
public struct ProcessStatus: Sendable, CustomStringConvertible {
    /// VmRSS, in bytes.
    public let residentBytes: Int
    /// User plus system CPU time, in seconds.
    public let cpuSeconds: Double
    /// Entries in /proc/PID/fd.
    public let descriptors: Int

    /// Reads the status of `pid`; nil if it is gone.
    public static func of(_ pid: Int32) -> ProcessStatus? {
        guard let status = read("/proc/\(pid)/status"), let stat = read("/proc/\(pid)/stat") else { return nil }
        // VmRSS:     12345 kB
        let rss = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") }
            .flatMap { $0.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first }
            .flatMap { Int($0) } ?? 0
        // stat(5): fields after the command's closing parenthesis; utime and stime are the 14th and 15th.
        guard let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        let cpu = fields.count > 13 ? (Double(fields[11]) ?? 0) + (Double(fields[12]) ?? 0) : 0
        return ProcessStatus(residentBytes: rss * 1024, cpuSeconds: cpu / ticks, descriptors: countDescriptors(pid))
    }

    public var description: String {
        "RSS \(residentBytes >> 20) MiB, CPU \(String(format2: cpuSeconds)) s, \(descriptors) descriptors"
    }

    private static func read(_ path: String) -> String? {
        (try? Posix.readFile(path)).map { String(decoding: $0, as: UTF8.self) }
    }

    private static func countDescriptors(_ pid: Int32) -> Int {
        guard let dir = opendir("/proc/\(pid)/fd") else { return 0 }
        defer { closedir(dir) }
        var n = 0
        while let entry = readdir(dir) {
            if UInt8(bitPattern: entry.pointee.d_name.0) != UInt8(ascii: ".") { n += 1 }
        }
        return n
    }
}

extension String {
    /// Two decimals, without Foundation.
    public init(format2 value: Double) {
        let hundredths = Int((value * 100).rounded())
        let fraction = hundredths % 100
        self = "\(hundredths / 100).\(fraction < 10 ? "0" : "")\(fraction)"
    }
}
