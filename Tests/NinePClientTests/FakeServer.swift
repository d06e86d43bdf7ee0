import NIOCore
import NIOPosix
@testable import NinePClient
import NinePTransport
import NinePWire

/// Decides the reply to a request, or nil to hold it (the test answers later with `reply`).
typealias Script = @Sendable (Fcall) -> Message?

/// The server end of a ConnectionPair: answers Tversion itself, then passes
/// every request to the test (through `next()`) and answers per its script.
final class ScriptedHandler: ChannelInboundHandler {
    typealias InboundIn = Fcall
    typealias OutboundOut = Fcall

    let version: @Sendable (Tversion) -> Rversion
    let script: Script
    let requests: AsyncStream<Fcall>.Continuation

    init(version: @escaping @Sendable (Tversion) -> Rversion, script: @escaping Script, requests: AsyncStream<Fcall>.Continuation) {
        self.version = version
        self.script = script
        self.requests = requests
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let request = unwrapInboundIn(data)
        if case .tversion(let t) = request.message {
            context.writeAndFlush(wrapOutboundOut(Fcall(tag: request.tag, .rversion(version(t)))), promise: nil)
            return
        }
        requests.yield(request)
        if let reply = script(request) {
            context.writeAndFlush(wrapOutboundOut(Fcall(tag: request.tag, reply)), promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        requests.finish()
        context.fireChannelInactive()
    }
}

/// A scripted 9P server on the far side of a socket pair, with a connected client.
struct FakeServer {
    let pair: ConnectionPair
    let client: NinePClient
    private var iterator: AsyncStream<Fcall>.Iterator

    /// - Parameters:
    ///   - grant: the msize granted (capped at what the client offers).
    ///   - script: answers each request, or holds it (nil).
    static func start(
        grant: UInt32 = NineP.defaultMessageSize,
        versionString: String? = nil,
        configuration: NinePClient.Configuration = .init(serverName: "fake"),
        script: @escaping Script = { _ in nil }
    ) async throws -> FakeServer {
        let (stream, continuation) = AsyncStream.makeStream(of: Fcall.self)
        let version: @Sendable (Tversion) -> Rversion = { t in
            Rversion(msize: min(t.msize, grant), version: versionString ?? t.version)
        }
        let pair = try await ConnectionPair.make(group: MultiThreadedEventLoopGroup.singleton, configureServer: { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(
                    ScriptedHandler(version: version, script: script, requests: continuation))
            }
        })
        do {
            let client = try await NinePClient.connect(channel: pair.client, configuration: configuration)
            return FakeServer(pair: pair, client: client, iterator: stream.makeAsyncIterator())
        } catch {
            await pair.close()
            throw error
        }
    }

    /// The next request the server received (nil once the connection is gone).
    mutating func next() async -> Fcall? {
        await iterator.next()
    }

    /// Answers a held request.
    func reply(_ tag: Tag, _ message: Message) async throws {
        try await pair.server.writeAndFlush(Fcall(tag: tag, message))
    }

    /// Answers many held requests at once, with one flush.
    func replyAll(_ replies: [Fcall]) async throws {
        let channel = pair.server
        try await channel.eventLoop.submit {
            for reply in replies { channel.write(reply, promise: nil) }
            channel.flush()
        }.get()
    }

    func close() async {
        await client.close()
        await pair.close()
    }
}

extension NinePClient {
    /// Requests in flight and waiting for a tag, read on the event loop.
    func requestCounts() async throws -> (inFlight: Int, waiting: Int) {
        try await (transport as! ChannelFcallTransport).requestCounts().get()
    }
}

func qid(_ path: UInt64, dir: Bool = false) -> Qid {
    Qid(type: dir ? .dir : .file, version: 0, path: path)
}

/// A script that attaches, walks every name, opens with `iounit` and answers
/// clunks; anything else is held.
func basicScript(iounit: UInt32 = 0, then rest: @escaping Script = { _ in nil }) -> Script {
    { request in
        switch request.message {
        case .tattach: .rattach(Rattach(qid: qid(0, dir: true)))
        case .twalk(let t): .rwalk(Rwalk(wqid: t.wname.indices.map { qid(UInt64($0 + 1)) }))
        case .topen: .ropen(Ropen(qid: qid(1), iounit: iounit))
        case .tclunk: .rclunk(Rclunk())
        default: rest(request)
        }
    }
}

func bytes(_ text: String) -> ByteBuffer { ByteBuffer(string: text) }
