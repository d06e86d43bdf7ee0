#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
public import NIOCore
import NIOPosix
public import NinePWire

/// Two connected channels of `Fcall`s over `socketpair(AF_UNIX, SOCK_STREAM)`:
/// a client end (framing direction `.replies`) and a server end (`.requests`).
///
/// For tests: it exercises the real framing and socket code without a port
/// or a file. Each end's pipeline starts with an `FcallChannelHandler`, then
/// what its `configure` closure adds (run on that end's event loop).
public struct ConnectionPair: Sendable {
    /// The client's end: write T-messages, read R-messages.
    public let client: any Channel
    /// The server's end: read T-messages, write R-messages.
    public let server: any Channel

    /// Creates the pair.
    public static func make(
        group: any EventLoopGroup,
        maxMessageSize: UInt32 = NineP.defaultMessageSize,
        configureClient: NinePChannelInitializer? = nil,
        configureServer: NinePChannelInitializer? = nil
    ) async throws -> ConnectionPair {
        var fds: [CInt] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0 else {
            throw NinePTransportError(.dial, address: "socketpair", reason: errnoText(errno))
        }
        func adopt(_ fd: CInt, _ direction: MessageDirection, _ configure: NinePChannelInitializer?) async throws -> any Channel {
            try await ClientBootstrap(group: group)
                .channelInitializer(framingInitializer(direction: direction, maxMessageSize: maxMessageSize, then: configure))
                .withConnectedSocket(fd).get()
        }
        let server: any Channel
        do {
            server = try await adopt(fds[1], .requests, configureServer)
        } catch {
            closeDescriptor(fds[0])
            closeDescriptor(fds[1])
            throw error
        }
        do {
            let client = try await adopt(fds[0], .replies, configureClient)
            return ConnectionPair(client: client, server: server)
        } catch {
            closeDescriptor(fds[0])
            try? await server.close()
            throw error
        }
    }

    /// Closes both ends and waits until they are closed.
    public func close() async {
        client.close(promise: nil)
        server.close(promise: nil)
        try? await client.closeFuture.get()
        try? await server.closeFuture.get()
    }
}
