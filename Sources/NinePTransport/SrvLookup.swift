public import NIOCore
import NIOPosix
import NinePWire

/// Resolves a posted service name to its address by asking the srv
/// registry (`ninep srv`) over 9P: walk to the entry, open it, read it.
///
/// An entry reads as its address and a newline; when the registry found the
/// service's server gone, the address is followed by " gone".
///
/// Who calls: `NinePConnection.dial` for `srv!` addresses; any task. Each
/// lookup is one short connection to the registry's unix socket.
public enum SrvLookup {
    /// How long the registry has to answer a whole lookup (generous: a
    /// loaded machine must not turn a slow answer into "not posted").
    public static let timeout: TimeAmount = .seconds(30)

    /// The address posted under `name` (`id1/id2/name`, relative to
    /// `$NINEP_SRVSPEC` unless it starts with "/").
    ///
    /// - Throws: `NinePTransportError` for `srv!name`: "no service named X
    ///   is posted (ninep srv ls)", "service X is gone: …", or "no srv
    ///   registry at …".
    public static func resolve(
        _ name: String, group: any EventLoopGroup, registry: NinePAddress = SrvNamespace.registryAddress()
    ) async throws -> NinePAddress {
        let fail = { (reason: String) in NinePTransportError(.dial, address: "srv!\(name)", reason: reason) }
        let path = SrvNamespace.path(for: name)
        guard !path.isEmpty else { throw fail("empty service name") }
        let (stream, continuation) = AsyncStream<Fcall>.makeStream()
        let connection: NinePConnection
        do {
            connection = try await NinePConnection.dial(registry, group: group) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ReplyStream(continuation: continuation))
                }
            }
        } catch {
            throw fail("no srv registry at \(registry) (\(osReason(error))); start one with 'ninep srv'")
        }
        let timer = connection.channel.eventLoop.scheduleTask(in: timeout) { connection.channel.close(promise: nil) }
        defer {
            timer.cancel()
            connection.channel.close(promise: nil)
        }
        var replies = stream.makeAsyncIterator()
        let silent = fail("the srv registry at \(registry) hung up or did not answer within \(timeout.nanoseconds / 1_000_000_000) s")
        func rpc(_ message: Message) async throws -> Message {
            do {
                try await connection.channel.writeAndFlush(Fcall(tag: Tag(1), message))
            } catch {
                throw silent
            }
            guard let reply = await replies.next() else {
                throw silent
            }
            return reply.message
        }
        let root = Fid(0), entry = Fid(1)
        guard case .rversion = try await rpc(.tversion(Tversion(msize: 8192, version: "9P2000"))),
              case .rattach = try await rpc(.tattach(Tattach(fid: root, uname: "none", aname: "")))
        else { throw fail("the srv registry at \(registry) refused the session") }
        guard case .rwalk(let walked) = try await rpc(.twalk(Twalk(fid: root, newfid: entry, wname: path))),
              walked.wqid.count == path.count, let last = walked.wqid.last
        else { throw fail("no service named \(path.joined(separator: "/")) is posted (ninep srv ls)") }
        guard !last.type.contains(.dir) else {
            throw fail("\(path.joined(separator: "/")) is a service directory, not a service")
        }
        guard !last.type.contains(.tmp) else {
            throw fail("""
                \(path.joined(separator: "/")) is a file served by a program (file2chan), not a service: \
                read and write it in the registry (ninep read \(registry) \(path.joined(separator: "/")))
                """)
        }
        guard case .ropen = try await rpc(.topen(Topen(fid: entry, mode: .read))),
              case .rread(let reply) = try await rpc(.tread(Tread(fid: entry, offset: 0, count: 4096)))
        else { throw fail("cannot read the registry entry \(path.joined(separator: "/"))") }
        let text = String(buffer: reply.data)
        let fields: [String] = text.split(whereSeparator: { (c: Character) -> Bool in c == " " || c == "\n" }).map(String.init)
        guard let first = fields.first else { throw fail("service \(name) is not posted yet (its entry is empty)") }
        if fields.dropFirst().contains("gone") {
            throw fail("service \(name) is gone: nothing answers at \(first) (ninep srv rm \(name))")
        }
        let address = try NinePAddress(dialString: first)
        if case .srv = address { throw fail("registry entry holds another srv! name '\(first)'") }
        return address
    }
}

/// Hands each reply to the lookup's stream; ends it when the channel closes.
/// Runs on the registry connection's event loop.
private final class ReplyStream: ChannelInboundHandler, Sendable {
    typealias InboundIn = Fcall
    let continuation: AsyncStream<Fcall>.Continuation
    init(continuation: AsyncStream<Fcall>.Continuation) { self.continuation = continuation }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        continuation.yield(unwrapInboundIn(data))
    }

    func channelInactive(context: ChannelHandlerContext) {
        continuation.finish()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        continuation.finish()
        context.close(promise: nil)
    }
}
