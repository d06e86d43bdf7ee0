public import NIOCore
public import NIOPosix
public import NinePServer

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A connected pair of unix stream sockets (socketpair(2)), for running a
/// server and a client in one process without touching the file system.
public struct SocketPair: Sendable {
    /// The two descriptors; each is owned by whoever takes it.
    public let first: CInt
    public let second: CInt

    /// Makes the pair. Throws the errno text if the system refuses.
    public init() throws {
        var fds: [CInt] = [-1, -1]
        #if canImport(Glibc)
        let type = CInt(SOCK_STREAM.rawValue)
        #else
        let type = SOCK_STREAM
        #endif
        guard socketpair(AF_UNIX, type, 0, &fds) == 0 else {
            throw IOError(errnoCode: errno, reason: "socketpair")
        }
        first = fds[0]
        second = fds[1]
    }
}

/// A FileServer served over one end of a socket pair, with a
/// `RawNinePClient` on the other: the in-memory pair of STYLE rule 11.
public struct InMemoryServerConnection: Sendable {
    /// The server side (its `ended` future completes after `FileServer.end()`).
    public let server: ServerConnection
    /// The client side.
    public let client: RawNinePClient

    /// Serves `fs` on one end (through `NinePServer.serve(_:inputDescriptor:…)`,
    /// the stdio path) and connects a raw client to the other.
    public static func start(
        _ fs: any FileServer, options: ServerOptions = ServerOptions(),
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        timeout: TimeAmount = RawNinePClient.defaultTimeout
    ) async throws -> InMemoryServerConnection {
        let pair = try SocketPair()
        let server: ServerConnection
        do {
            server = try await NinePServer.serve(
                fs, inputDescriptor: pair.first, outputDescriptor: pair.first, group: group, options: options)
        } catch {
            _ = Glibc.close(pair.second)
            throw error
        }
        let client = try await RawNinePClient.connect(descriptor: pair.second, group: group, timeout: timeout)
        return InMemoryServerConnection(server: server, client: client)
    }

    /// Closes both sides.
    public func close() async {
        await client.close()
        await server.close()
    }
}
