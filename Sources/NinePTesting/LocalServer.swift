public import NinePServer
public import NinePTransport

/// A `FileServer` served in this process on a unix socket in a fresh
/// temporary directory: the "real socket" step of STYLE rule 11, for suites
/// that dial an address (`FileServerConformance`, `BadInputBarrage`).
///
/// ```swift
/// try await LocalServer.with(RamFS()) { address in
///     try await FileServerConformance(address: address, capabilities: .ramFS).run(check)
/// }
/// ```
public struct LocalServer: Sendable {
    /// The listener (its connections are closed by `stop()`).
    public let listener: ServerListener
    /// The address to dial: `unix!<tmp>/9p.sock`.
    public let address: NinePAddress
    private let directory: TemporaryDirectory

    /// Starts serving `fs`.
    public static func start(_ fs: any FileServer, options: ServerOptions = ServerOptions()) async throws -> LocalServer {
        let directory = try TemporaryDirectory(prefix: "ninep-sock")
        do {
            let listener = try await NinePServer.listen(fs, on: .unix(path: directory.path + "/9p.sock"), options: options)
            return LocalServer(listener: listener, address: listener.address, directory: directory)
        } catch {
            directory.remove()
            throw error
        }
    }

    /// Stops listening, closes every connection and removes the directory.
    public func stop() async {
        await listener.close()
        directory.remove()
    }

    /// Serves `fs` for the duration of `body`, then stops, whether `body`
    /// succeeds or throws.
    public static func with<T: Sendable>(
        _ fs: any FileServer, options: ServerOptions = ServerOptions(),
        _ body: (NinePAddress) async throws -> T
    ) async throws -> T {
        let server = try await start(fs, options: options)
        do {
            let result = try await body(server.address)
            await server.stop()
            return result
        } catch {
            await server.stop()
            throw error
        }
    }
}

extension NinePProcess {
    /// Runs `ninep <arguments>` as a server for the duration of `body`,
    /// listening on `listen` (e.g. "tcp!127.0.0.1!0") or by default on a
    /// unix socket in a fresh temporary directory; then stops it with
    /// SIGTERM and removes the directory, whether `body` succeeds or throws.
    ///
    /// - Throws: what `body` throws; else `NinePProcessError` if the server
    ///   did not exit with status 0 after SIGTERM (with its standard error).
    public static func withServer<T: Sendable>(
        _ arguments: [String], listen: String? = nil, _ body: (NinePProcess) async throws -> T
    ) async throws -> T {
        let directory = try TemporaryDirectory(prefix: "ninep-proc")
        defer { directory.remove() }
        let server = try await serve(arguments, socketDirectory: directory.path, listen: listen)
        let result: T
        do {
            result = try await body(server)
        } catch {
            _ = try? await server.stop()
            throw error
        }
        let status = try await server.stop()
        guard status == 0 else {
            throw NinePProcessError("\(server.commandLine) \(describe(status: status)) after SIGTERM", standardError: server.standardError)
        }
        return result
    }
}
