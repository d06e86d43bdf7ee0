public import NIOCore
public import NIOPosix
public import NinePServer
public import NinePTransport

/// A running registry: `SrvRegistry` served on `<dir>/ninep-srv`.
///
/// ```swift
/// let server = try await SrvRegistryServer.start()   // $NAMESPACE or /tmp/ns.$USER.$DISPLAY
/// print(server.restartReport)                        // stale entries dropped
/// await server.close()
/// ```
///
/// Thread safety: immutable; `close()` from anywhere.
public final class SrvRegistryServer: Sendable {
    /// The namespace directory.
    public let directory: String
    /// The file server (its tree, for inspection).
    public let registry: SrvRegistry
    /// The listening socket.
    public let listener: ServerListener
    /// What `restore()` found wrong in the saved state: one line per stale
    /// entry dropped or unreadable line.
    public let restartReport: [String]

    private let handOver: HandOverListener

    init(directory: String, registry: SrvRegistry, listener: ServerListener, handOver: HandOverListener, restartReport: [String]) {
        self.handOver = handOver
        self.directory = directory
        self.registry = registry
        self.listener = listener
        self.restartReport = restartReport
    }

    /// The dial address of the registry.
    public var address: NinePAddress { SrvNamespace.registryAddress(in: directory) }

    /// Creates the namespace directory (0700), restores the saved state
    /// (dropping entries whose server is gone) and listens on its socket,
    /// made mode 0600. Connections from other users (SO_PEERCRED; root
    /// excepted) are refused with a reason (`RegistryOwner`).
    ///
    /// - Throws: `NinePTransportError` when the directory is unusable or
    ///   another registry is already listening there.
    public static func start(
        directory: String = SrvNamespace.directory,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        options: ServerOptions = ServerOptions(),
        complain: @escaping @Sendable (String) -> Void = { _ in }
    ) async throws -> SrvRegistryServer {
        try await start(directory: directory, group: group, options: options, complain: complain, writeStateFile: RegistryStateFile.write)
    }

    /// `start`, with the state file written by `writeStateFile` (tests: a slow disk).
    static func start(
        directory: String, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        options: ServerOptions = ServerOptions(), complain: @escaping @Sendable (String) -> Void = { _ in },
        writeStateFile: @escaping RegistryStateWriter.Write
    ) async throws -> SrvRegistryServer {
        try SrvNamespace.ensureDirectory(directory)
        let registry = SrvRegistry(
            directory: directory, group: group, complain: complain, writeStateFile: writeStateFile)
        // Refuse before touching state if a live registry is already there.
        try NinePListener.removeStaleSocket(atPath: SrvNamespace.socketPath(in: directory))
        let report = await registry.restore()
        var options = options
        options.peerCheck = { RegistryOwner.check($0) }
        let listener = try await NinePServer.listen(
            registry, on: SrvNamespace.registryAddress(in: directory), group: group, options: options)
        do {
            try RegistryOwner.restrict(socket: SrvNamespace.socketPath(in: directory))
        } catch {
            await listener.close()
            throw error
        }
        let handOver: HandOverListener
        do {
            handOver = try HandOverListener.start(directory: directory, registry: registry)
        } catch {
            await listener.close()
            throw error
        }
        return SrvRegistryServer(
            directory: directory, registry: registry, listener: listener, handOver: handOver, restartReport: report)
    }

    /// Stops listening and closes every connection. The state file stays,
    /// for the next start, with entries held by connections still in it;
    /// returns once the last state is written.
    public func close() async {
        registry.beginShutdown()
        handOver.close()
        await listener.close()
        await registry.flushState()
    }
}
