import Glibc

/// A directory under /tmp made for one test and removed by `remove()`.
public struct TemporaryDirectory: Sendable {
    public let path: String

    public init(prefix: String = "ninep") throws {
        var template = Array("/tmp/\(prefix)-XXXXXX".utf8CString)
        guard let p = mkdtemp(&template) else { throw ConformanceFailure("mkdtemp", Posix.errnoText()) }
        path = String(cString: p)
    }

    /// Removes the directory and everything in it.
    public func remove() {
        _ = try? Posix.run(["rm", "-rf", path])
    }
}
