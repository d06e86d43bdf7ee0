#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import NIOCore

/// A socket handed to this process by a service manager (systemd's socket
/// activation, inetd), to serve instead of binding one of its own.
public struct InheritedSocket: Hashable, Sendable {
    /// The descriptor, 3 for the first (`SD_LISTEN_FDS_START`).
    public var descriptor: Int32
    /// Its name from `LISTEN_FDNAMES` (the socket unit's `FileDescriptorName=`), if given.
    public var name: String?
    /// Whether it is a listening socket (`Accept=no`, the usual case) rather
    /// than one connection already accepted (`Accept=yes`, inetd style).
    public var isListening: Bool
    /// The address it is bound to, as a dial string: `tcp!0.0.0.0!564`, `unix!/run/x.sock`.
    public var address: NinePAddress

    public init(descriptor: Int32, name: String?, isListening: Bool, address: NinePAddress) {
        self.descriptor = descriptor
        self.name = name
        self.isListening = isListening
        self.address = address
    }
}

/// systemd's socket activation protocol, sd_listen_fds(3): the manager binds
/// the sockets, starts the service with them as descriptors 3, 4, … and says
/// so in `LISTEN_PID` (the process meant, so a child that inherits the
/// environment does not take them too), `LISTEN_FDS` (how many) and
/// `LISTEN_FDNAMES` (colon-separated names). `systemd-socket-activate` does
/// the same by hand.
public enum SocketActivation {
    /// The first descriptor passed (`SD_LISTEN_FDS_START`).
    public static let firstDescriptor: Int32 = 3

    /// Which descriptors the environment passes to process `pid`, with their
    /// names: none when `LISTEN_PID` is missing or names another process.
    /// Pure: the caller reads the environment.
    ///
    /// - Throws: `SocketActivationError` when the variables are malformed.
    public static func descriptors(
        listenPID: String?, listenFDs: String?, listenFDNames: String?, pid: Int32
    ) throws(SocketActivationError) -> [(descriptor: Int32, name: String?)] {
        guard let listenPID, let listenFDs else { return [] }
        guard let target = Int32(listenPID), target > 0 else { throw .malformed("LISTEN_PID=\(listenPID)") }
        guard target == pid else { return [] }
        guard let count = Int32(listenFDs), count >= 0, count <= 4096 else { throw .malformed("LISTEN_FDS=\(listenFDs)") }
        let names = listenFDNames.map { $0.split(separator: ":", omittingEmptySubsequences: false).map(String.init) }
        if let names, names.count != Int(count) {
            throw .malformed("LISTEN_FDNAMES names \(names.count) sockets but LISTEN_FDS=\(count)")
        }
        return (0..<count).map { i in
            (firstDescriptor + i, names.flatMap { $0[Int(i)].isEmpty ? nil : $0[Int(i)] })
        }
    }

    /// The sockets passed to this process, checked and made close-on-exec
    /// (no child, an `exec!` command say, inherits them); the `LISTEN_*`
    /// variables are removed from the environment so that no child takes
    /// them for its own. Call once, before starting other threads' work
    /// that reads the environment. Empty when nothing was passed.
    ///
    /// - Throws: `SocketActivationError` when a passed descriptor is not a
    ///   stream socket of a kind 9P can be served on (TCP or unix).
    public static func inherited() throws(SocketActivationError) -> [InheritedSocket] {
        let env = { (name: String) in getenv(name).map { String(cString: $0) } }
        let passed = try descriptors(
            listenPID: env("LISTEN_PID"), listenFDs: env("LISTEN_FDS"), listenFDNames: env("LISTEN_FDNAMES"),
            pid: getpid())
        for name in ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"] { unsetenv(name) }
        return try passed.map { (fd, name) throws(SocketActivationError) in
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            return try inspect(fd, name: name)
        }
    }

    /// What kind of socket `fd` is and where it is bound.
    static func inspect(_ fd: Int32, name: String?) throws(SocketActivationError) -> InheritedSocket {
        func option(_ name: Int32) -> Int32? {
            var value: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            return getsockopt(fd, SOL_SOCKET, name, &value, &length) == 0 ? value : nil
        }
        guard let type = option(SO_TYPE) else {
            throw .unusable(descriptor: fd, reason: "not a socket (\(errnoText(errno)))")
        }
        guard type == Int32(SOCK_STREAM.rawValue) else {
            throw .unusable(descriptor: fd, reason: "not a stream socket (use ListenStream=)")
        }
        let listening = option(SO_ACCEPTCONN) == 1
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let rc = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard rc == 0 else { throw .unusable(descriptor: fd, reason: errnoText(errno)) }
        let address: NinePAddress
        switch Int32(storage.ss_family) {
        case AF_INET, AF_INET6:
            let family = storage.ss_family
            let socketAddress = withUnsafeBytes(of: &storage) { raw in
                family == sa_family_t(AF_INET)
                    ? SocketAddress(raw.load(as: sockaddr_in.self))
                    : SocketAddress(raw.load(as: sockaddr_in6.self))
            }
            address = .tcp(host: socketAddress.ipAddress ?? "*", port: socketAddress.port ?? 0)
        case AF_UNIX:
            address = .unix(path: unixPath(storage, length: length) ?? "")
        default:
            throw .unusable(descriptor: fd, reason: "not a TCP or unix-domain socket")
        }
        return InheritedSocket(descriptor: fd, name: name, isListening: listening, address: address)
    }

    /// The path a unix-domain socket address names (nil when unnamed or abstract).
    private static func unixPath(_ storage: sockaddr_storage, length: socklen_t) -> String? {
        var storage = storage
        return withUnsafeBytes(of: &storage) { raw in
            let offset = MemoryLayout<sockaddr_un>.offset(of: \.sun_path)!
            let end = min(Int(length), MemoryLayout<sockaddr_un>.size)
            guard end > offset, raw[offset] != 0 else { return nil }
            let bytes = raw[offset..<end].prefix { $0 != 0 }
            return String(decoding: bytes, as: UTF8.self)
        }
    }
}

/// Sockets passed by a service manager that cannot be served.
public enum SocketActivationError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A `LISTEN_*` variable does not follow sd_listen_fds(3).
    case malformed(String)
    /// A passed descriptor is not a stream socket 9P can be served on.
    case unusable(descriptor: Int32, reason: String)

    public var description: String {
        switch self {
        case .malformed(let what):
            "socket activation: malformed \(what) (see sd_listen_fds(3))"
        case .unusable(let fd, let reason):
            "socket activation: descriptor \(fd) cannot be served: \(reason)"
        }
    }
}
