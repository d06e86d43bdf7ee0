import NinePRegistry
public import NinePServer
public import NinePTransport

#if canImport(Glibc)
import Glibc
#endif

/// Posts a served FileServer under a name (lib9p's postfd, srv(3)) — the
/// hook by which `serveMount` reaches a service registry. The default,
/// `RegistryPoster`, posts in the srv registry exactly as `ninep … --post`
/// does; `NamespacePoster` only makes plan9port's socket, for machines
/// without a registry.
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

/// Posts in the srv registry (`ninep srv`, module NinePRegistry): serves
/// on the unix socket `NS/NAME` (plan9port's convention, so its tools
/// reach the service by name too) and posts `unix!NS/NAME` under NAME,
/// holding the entry (`HeldEntry`) so that it goes when the poster ends,
/// cleanly or not. NAME may be inside a service directory (`1/db`, served
/// on `NS/1.db`).
///
/// With `file`, the entry is that file of the served tree rather than the
/// tree (a file2chan file placed in the registry, see `SrvPost`).
public struct RegistryPoster: ServicePoster {
    /// The namespace directory of the registry; nil: `SrvNamespace.directory`.
    public var directory: String?
    /// The path of the one file the entry stands for, or nil for the tree.
    public var file: String?
    /// The user the poster attaches to the registry as.
    public var uname: String

    public init(directory: String? = nil, file: String? = nil, uname: String = RamFS.currentUser()) {
        self.directory = directory
        self.file = file
        self.uname = uname
    }

    public func post(name: String, fileServer: any FileServer, options: ServerOptions) async throws -> any PostedService {
        let dir = directory ?? SrvNamespace.directory
        try SrvNamespace.ensureDirectory(dir)
        let path = SrvPost.socketPath(for: name, in: dir)
        let listener = try await NinePServer.listen(fileServer, unixPath: path, options: options)
        return try await post(name: name, address: .unix(path: path), serving: listener)
    }

    /// Posts `address`, where `listener` already serves, under `name`; a
    /// wildcard TCP host is posted as loopback, so the entry can be dialled.
    /// Withdrawing the result also closes `listener`, and so does a failure.
    public func post(name: String, address: NinePAddress, serving listener: ServerListener) async throws -> RegisteredService {
        var dialable = address
        switch address {
        case .tcp(let host, let port) where host == "0.0.0.0" || host == "::" || host == "*":
            dialable = .tcp(host: host == "::" ? "::1" : "127.0.0.1", port: port)
        case .tls(let host, let port) where host == "0.0.0.0" || host == "::" || host == "*":
            dialable = .tls(host: host == "::" ? "::1" : "127.0.0.1", port: port)
        default:
            break
        }
        do {
            let held = try await SrvPost.hold(
                name: name, text: SrvPost.entryText(dialable, file: file), directory: directory, uname: uname)
            return RegisteredService(address: dialable, entry: held, listener: listener)
        } catch {
            await listener.close()
            throw error
        }
    }
}

/// A service posted by `RegistryPoster`.
public struct RegisteredService: PostedService {
    public let address: NinePAddress
    let entry: HeldEntry
    let listener: ServerListener

    /// Releases the entry (a registry that is gone meanwhile has nothing
    /// left to release), then stops listening.
    public func withdraw() async {
        try? await entry.release()
        await listener.close()
    }
}

/// Posts as plan9port's post9pservice does, without a registry: a
/// unix-domain socket named NAME in the namespace directory
/// (`SrvNamespace.directory`: `$NAMESPACE`, else `/tmp/ns.$USER.$DISPLAY`,
/// made mode 0700 if missing). A live socket of that name is refused
/// ("already posted"); a stale one is replaced.
public struct NamespacePoster: ServicePoster {
    /// The directory posted names live in; nil: the plan9port default.
    public var directory: String?

    public init(directory: String? = nil) { self.directory = directory }

    public func post(name: String, fileServer: any FileServer, options: ServerOptions) async throws -> any PostedService {
        guard !name.isEmpty, !name.contains("/"), name != ".", name != ".." else {
            throw PostError(description: "cannot post '\(name)': a posted name is one path element")
        }
        let dir = directory ?? SrvNamespace.directory
        let path = dir + "/" + name
        do {
            try SrvNamespace.ensureDirectory(dir)
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
