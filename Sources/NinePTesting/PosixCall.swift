public import Glibc
import NinePTransport

/// A failed check in a conformance suite: what was being done, on which
/// path, and what happened instead.
public struct ConformanceFailure: Error, CustomStringConvertible, Sendable {
    public var check: String
    public var detail: String
    public init(_ check: String, _ detail: String) { self.check = check; self.detail = detail }
    public var description: String { "\(check): \(detail)" }
}

/// Thin, throwing wrappers over the system calls the suites make, so that
/// a failure names the call, the path and the errno.
public enum Posix {
    public static func errnoText(_ e: Int32 = errno) -> String { "\(String(cString: strerror(e))) (errno \(e))" }

    @discardableResult
    public static func check(_ what: String, _ path: String, _ rc: Int32) throws -> Int32 {
        if rc < 0 { throw ConformanceFailure(what, "\(path): \(errnoText())") }
        return rc
    }

    public static func open(_ path: String, _ flags: Int32, _ mode: mode_t = 0o644) throws -> Int32 {
        try check("open", path, Glibc.open(path, flags | O_CLOEXEC, mode))
    }

    public static func close(_ fd: Int32) { _ = Glibc.close(fd) }

    public static func pwrite(_ fd: Int32, _ bytes: [UInt8], at offset: Int, path: String) throws {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { raw in
                Glibc.pwrite(fd, raw.baseAddress! + done, bytes.count - done, off_t(offset + done))
            }
            if n < 0 { throw ConformanceFailure("pwrite", "\(path) at \(offset + done): \(errnoText())") }
            if n == 0 { throw ConformanceFailure("pwrite", "\(path): wrote 0 bytes") }
            done += n
        }
    }

    public static func write(_ fd: Int32, _ bytes: [UInt8], path: String) throws {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { raw in Glibc.write(fd, raw.baseAddress! + done, bytes.count - done) }
            if n < 0 { throw ConformanceFailure("write", "\(path): \(errnoText())") }
            done += n
        }
    }

    /// Reads up to `count` bytes at `offset`, looping over short reads until EOF.
    public static func pread(_ fd: Int32, count: Int, at offset: Int, path: String) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = out.withUnsafeMutableBytes { raw in
                Glibc.pread(fd, raw.baseAddress! + done, count - done, off_t(offset + done))
            }
            if n < 0 { throw ConformanceFailure("pread", "\(path) at \(offset + done): \(errnoText())") }
            if n == 0 { break }
            done += n
        }
        out.removeLast(count - done)
        return out
    }

    public static func readFile(_ path: String) throws -> [UInt8] {
        let fd = try open(path, O_RDONLY)
        defer { close(fd) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress!, $0.count) }
            if n < 0 { throw ConformanceFailure("read", "\(path): \(errnoText())") }
            if n == 0 { return out }
            out.append(contentsOf: chunk[0..<n])
        }
    }

    public static func writeFile(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o644) throws {
        let fd = try open(path, O_WRONLY | O_CREAT | O_TRUNC, mode)
        defer { close(fd) }
        try write(fd, bytes, path: path)
    }

    public static func stat(_ path: String) throws -> stat {
        var st = Glibc.stat()
        try check("stat", path, fstatat(AT_FDCWD, path, &st, 0))
        return st
    }

    /// Runs `body`, which must fail with `expected`; returns a failure otherwise.
    public static func expectErrno(_ check: String, _ expected: Int32, _ body: () -> Int32) throws {
        let rc = body()
        let e = errno
        if rc >= 0 { throw ConformanceFailure(check, "succeeded, expected \(errnoText(expected))") }
        if e != expected { throw ConformanceFailure(check, "failed with \(errnoText(e)), expected \(errnoText(expected))") }
    }

    /// Runs a program and returns its exit status and combined output.
    public static func run(_ argv: [String]) throws -> (status: Int32, output: String) {
        do {
            return try runCapturingOutput(argv)
        } catch {
            throw ConformanceFailure("spawn", error.description)
        }
    }

    /// Runs a program that must exit 0.
    @discardableResult
    public static func runOK(_ argv: [String]) throws -> String {
        let (status, output) = try run(argv)
        if status != 0 {
            throw ConformanceFailure(argv.joined(separator: " "), "exit \(status): \(output.prefix(2000))")
        }
        return output
    }
}

/// A small, fast, seedable generator (SplitMix64), so that every random
/// test can print its seed and be replayed.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension Array where Element == UInt8 {
    /// Deterministic content for a file: position-dependent bytes mixed with a seed.
    static func pattern(count: Int, seed: UInt64) -> [UInt8] {
        var g = SplitMix64(seed: seed)
        var out = [UInt8](repeating: 0, count: count)
        var i = 0
        while i < count {
            var word = g.next()
            for _ in 0..<8 where i < count {
                out[i] = UInt8(truncatingIfNeeded: word)
                word >>= 8
                i += 1
            }
        }
        return out
    }
}
