public import NinePServer
public import NinePTransport

#if canImport(Glibc)
import Glibc
#endif

/// Posts a served FileServer under a name (lib9p's postfd, srv(3)) — the
/// hook by which `serveMount` reaches a service registry. The srv registry
/// (module NinePRegistry) provides its own poster; without one,
/// `NamespacePoster` posts the way plan9port does.
///
/// Who calls: `serveMount`, from its task, once per posted name.
public protocol ServicePoster: Sendable {
    /// Makes `fileServer` reachable under `name` until the returned
    /// service is withdrawn. Throws if the name is taken or cannot be posted.
    func post(name: String, fileServer: any FileServer, options: ServerOptions) async throws -> any PostedService
}

/// A posted service: `withdraw()` releases the name (srv(3)'s remove).
public protocol PostedService: Sendable {
    /// Where clients can dial the service.
    var address: NinePAddress { get }
    /// Stops accepting clients under the name and releases it. Idempotent.
    func withdraw() async
}

/// Posts as plan9port's post9pservice does: a unix-domain socket named
/// NAME in the namespace directory, `$NAMESPACE`, else
/// `/tmp/ns.$USER.$DISPLAY` (made mode 0700 if missing). A live socket of
/// that name is refused ("already posted"); a stale one is replaced.
public struct NamespacePoster: ServicePoster {
    /// The directory posted names live in; nil: the plan9port default.
    public var directory: String?

    public init(directory: String? = nil) { self.directory = directory }

    /// plan9port's getns(3): $NAMESPACE, else /tmp/ns.$USER.$DISPLAY
    /// (DISPLAY ":0" when unset).
    public static func defaultDirectory() -> String {
        if let ns = getenv("NAMESPACE"), ns.pointee != 0 { return String(cString: ns) }
        let user = getenv("USER").map { String(cString: $0) } ?? "none"
        var display = getenv("DISPLAY").map { String(cString: $0) } ?? ":0"
        // plan9port: "canonicalize foo:0.0 to foo:0".
        if display.hasSuffix(".0") { display.removeLast(2) }
        return "/tmp/ns.\(user).\(display.replacingSlashes())"
    }

    public func post(name: String, fileServer: any FileServer, options: ServerOptions) async throws -> any PostedService {
        guard !name.isEmpty, !name.contains("/"), name != ".", name != ".." else {
            throw PostError(description: "cannot post '\(name)': a posted name is one path element")
        }
        let dir = directory ?? Self.defaultDirectory()
        if mkdir(dir, 0o700) != 0 && errno != EEXIST {
            throw PostError(description: "cannot post \(name): cannot create \(dir): \(String(cString: strerror(errno)))")
        }
        let path = dir + "/" + name
        do {
            let listener = try await NinePServer.listen(fileServer, unixPath: path, options: options)
            return PostedSocket(address: .unix(path: path), listener: listener)
        } catch {
            throw PostError(description: "cannot post \(name) as \(path): \(error)")
        }
    }
}

/// A failure to post, saying which name and why.
public struct PostError: Error, CustomStringConvertible, Sendable {
    public var description: String
}

/// A name posted as a listening unix socket.
struct PostedSocket: PostedService {
    let address: NinePAddress
    let listener: ServerListener
    func withdraw() async { await listener.close() }
}

extension String {
    /// plan9port's getns replaces '/' in DISPLAY with '_'.
    fileprivate func replacingSlashes() -> String {
        String(map { $0 == "/" ? "_" : $0 })
    }
}
