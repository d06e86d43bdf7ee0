#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Where the srv registry lives: plan9port's namespace directory.
///
/// plan9port's `getns()` names the directory `$NAMESPACE`, else
/// `/tmp/ns.$USER.$DISPLAY` (DISPLAY defaulting to ":0", `host:0.0` written
/// `host:0`, '/' as '_'); its services post
/// unix sockets there by name. `ninep srv` serves its registry on the unix
/// socket `<ns>/ninep-srv` and keeps its state in `<ns>/ninep-srv.state`,
/// so every ninep command finds it without flags.
///
/// Thread safety: stateless; reads the environment on each call.
public enum SrvNamespace {
    /// The registry socket's file name inside the namespace directory.
    public static let socketName = "ninep-srv"
    /// The registry's state file name inside the namespace directory.
    public static let stateName = "ninep-srv.state"
    /// The environment variable naming the service directory that bare
    /// names resolve in, like 9front's `$srvspec` (`id1/id2`).
    public static let srvspecVariable = "NINEP_SRVSPEC"

    /// `$NAMESPACE`, else `/tmp/ns.$USER.$DISPLAY`.
    public static var directory: String {
        if let ns = environment("NAMESPACE"), !ns.isEmpty { return ns }
        var user = environment("USER") ?? ""
        if user.isEmpty, let pw = getpwuid(geteuid()), let name = pw.pointee.pw_name { user = String(cString: name) }
        var display = environment("DISPLAY").flatMap { $0.isEmpty ? nil : $0 } ?? ":0"
        // plan9port's getns: "canonicalize foo:0.0 to foo:0", and no '/' in the name.
        if display.hasSuffix(".0") { display.removeLast(2) }
        display = String(display.map { $0 == "/" ? "_" : $0 })
        return "/tmp/ns.\(user).\(display)"
    }

    /// The registry's socket path in `directory` (or in `dir`).
    public static func socketPath(in dir: String? = nil) -> String { "\(dir ?? directory)/\(socketName)" }

    /// The registry's dial address.
    public static func registryAddress(in dir: String? = nil) -> NinePAddress { .unix(path: socketPath(in: dir)) }

    /// `$NINEP_SRVSPEC` as path components (empty when unset).
    public static var srvspec: [String] {
        (environment(srvspecVariable) ?? "").split(separator: "/").map(String.init)
    }

    /// Creates the namespace directory mode 0700 if it is missing, and
    /// refuses one that another user owns or that others can write to (as
    /// plan9port's getns does).
    public static func ensureDirectory(_ dir: String) throws(NinePTransportError) {
        let fail = { (reason: String) in NinePTransportError(.listen, address: "unix!\(dir)", reason: reason) }
        if mkdir(dir, 0o700) != 0 && errno != EEXIST { throw fail("cannot create namespace directory: \(errnoText(errno))") }
        var info = stat()
        guard lstat(dir, &info) == 0 else { throw fail(errnoText(errno)) }
        guard info.st_mode & S_IFMT == S_IFDIR else { throw fail("namespace '\(dir)' is not a directory") }
        guard info.st_uid == geteuid() else { throw fail("namespace directory '\(dir)' belongs to another user") }
        guard info.st_mode & 0o077 == 0 else {
            throw fail("namespace directory '\(dir)' has mode \(String(info.st_mode & 0o777, radix: 8)): want 700")
        }
    }

    /// The registry path a service name resolves to: `/a/b` is absolute,
    /// anything else is under `$NINEP_SRVSPEC`.
    public static func path(for name: String) -> [String] {
        let parts = name.split(separator: "/").map(String.init)
        return name.hasPrefix("/") ? parts : srvspec + parts
    }

    private static func environment(_ name: String) -> String? {
        getenv(name).map { String(cString: $0) }
    }
}
