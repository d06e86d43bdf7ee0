public import NIOCore
import NIOPosix
import NinePWire
import Synchronization

/// A tiny fake 9P server that goes wrong in one chosen way at the start of
/// a session, for tests of how clients (and `ninep ls`, `ninep mount`) fail
/// their first connection: clearly, within their deadline, never hanging.
///
/// It speaks raw bytes (no codec of ours on its side, so it can send what
/// no codec would): it reads frames by their size[4] field and answers
/// Tversion per its `Behaviour`; everything else goes unanswered.
///
/// It listens on TCP port 0 of 127.0.0.1 (`address` is the dial string
/// with the real port), on an event loop of its own unless given a group:
/// other suites keeping NIO's shared loops busy must not make it late, or
/// a test of a client's deadline would measure them. Thread safety: any
/// method from any thread.
public final class MisbehavingServer: Sendable {
    /// How the server goes wrong.
    public enum Behaviour: Sendable {
        /// Answers Tversion with 9P2000.L's Rlerror (type 7) carrying this
        /// errno, as Debian's diod does to "9P2000".
        case rlerrorToVersion(errno: UInt32)
        /// Answers Tversion properly, then never answers anything (Tattach).
        case silentAfterVersion
        /// Answers Tversion properly and sends garbage right behind it (an
        /// HTTP error page, as a server on the wrong port might).
        case garbageAfterVersion
    }

    /// "tcp!127.0.0.1!PORT": what clients dial.
    public let address: String
    private let listener: any Channel
    private let accepted: Counter
    /// The loop it made for itself, shut down by `close()`.
    private let ownGroup: MultiThreadedEventLoopGroup?

    /// Connections accepted so far.
    public var connections: Int { accepted.value.load(ordering: .relaxed) }

    /// Tattach requests received so far. One received means its client had
    /// the Rversion: a deadline that ran out later was waiting for the Tattach.
    public var attachesReceived: Int { accepted.attaches.load(ordering: .relaxed) }

    /// Tversion requests received so far.
    public var versionsReceived: Int { accepted.versions.load(ordering: .relaxed) }

    /// Whether this server's side agrees with a client that gave up saying
    /// "no answer to `request`": for "connect" (the connection itself was
    /// not up in time), the server has read no request at all; for "Tversion", the server has read a
    /// Tversion and never a Tattach (the client was still waiting for the
    /// Rversion); for "Tattach", the server has read a Tattach. Any other
    /// request is not one a client of this server can be left waiting on.
    ///
    /// The client's write can be ahead of this server's read on a busy
    /// machine, so the request is waited for, up to `timeout`: a bound that
    /// tells "late" from "never", not a speed target.
    public func agreesWithClient(awaiting request: String, within timeout: Duration = .seconds(30)) async -> Bool {
        switch request {
        case "connect": versionsReceived == 0 && attachesReceived == 0
        case "Tversion": await eventually(timeout) { self.versionsReceived > 0 } && attachesReceived == 0
        case "Tattach": await eventually(timeout) { self.attachesReceived > 0 }
        default: false
        }
    }

    private init(listener: any Channel, address: String, accepted: Counter, ownGroup: MultiThreadedEventLoopGroup?) {
        self.listener = listener
        self.ownGroup = ownGroup
        self.address = address
        self.accepted = accepted
    }

    /// Starts listening, on the loops of `group` (a loop of its own when nil).
    public static func start(_ behaviour: Behaviour, group: (any EventLoopGroup)? = nil) async throws -> MisbehavingServer {
        let counter = Counter()
        let ownGroup = group == nil ? MultiThreadedEventLoopGroup(numberOfThreads: 1) : nil
        let channel: any Channel
        do {
            channel = try await bind(behaviour, counter, group: group ?? ownGroup!)
        } catch {
            try? await ownGroup?.shutdownGracefully()
            throw error
        }
        let port = channel.localAddress?.port ?? 0
        return MisbehavingServer(listener: channel, address: "tcp!127.0.0.1!\(port)", accepted: counter, ownGroup: ownGroup)
    }

    private static func bind(_ behaviour: Behaviour, _ counter: Counter, group: any EventLoopGroup) async throws -> any Channel {
        try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { child in
                counter.value.add(1, ordering: .relaxed)
                return child.eventLoop.makeCompletedFuture {
                    try child.pipeline.syncOperations.addHandler(Handler(behaviour, counter))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
    }

    /// Stops listening and closes every connection.
    public func close() async {
        try? await listener.close()
        try? await ownGroup?.shutdownGracefully()
    }

    private final class Counter: Sendable {
        let value = Atomic<Int>(0)
        let attaches = Atomic<Int>(0)
        let versions = Atomic<Int>(0)
    }

    private final class Handler: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer

        let behaviour: Behaviour
        let counter: Counter
        var pending = ByteBuffer()

        init(_ behaviour: Behaviour, _ counter: Counter) {
            self.behaviour = behaviour
            self.counter = counter
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var incoming = unwrapInboundIn(data)
            pending.writeBuffer(&incoming)
            // intro(5): size[4] type[1] tag[2] ...; only Tversion is answered.
            while let size = pending.getInteger(at: pending.readerIndex, endianness: .little, as: UInt32.self),
                  size >= 7, pending.readableBytes >= Int(size) {
                let type = pending.getInteger(at: pending.readerIndex + 4, as: UInt8.self)!
                let tag = pending.getInteger(at: pending.readerIndex + 5, endianness: .little, as: UInt16.self)!
                var frame = pending.readSlice(length: Int(size))!
                if type == MessageType.tattach.rawValue { counter.attaches.add(1, ordering: .relaxed) }
                if type == MessageType.tversion.rawValue {
                    counter.versions.add(1, ordering: .relaxed)
                    frame.moveReaderIndex(forwardBy: 7)
                    let msize = frame.readInteger(endianness: .little, as: UInt32.self) ?? 8192
                    answerVersion(context, tag: tag, msize: min(msize, 8192))
                }
            }
            pending.discardReadBytes()
        }

        private func answerVersion(_ context: ChannelHandlerContext, tag: UInt16, msize: UInt32) {
            var out = context.channel.allocator.buffer(capacity: 64)
            switch behaviour {
            case .rlerrorToVersion(let errno):
                // Linux include/net/9p/9p.h: P9_RLERROR = 7; size[4] Rlerror tag[2] ecode[4].
                out.writeInteger(UInt32(11), endianness: .little)
                out.writeInteger(UInt8(7))
                out.writeInteger(tag, endianness: .little)
                out.writeInteger(errno, endianness: .little)
            case .silentAfterVersion, .garbageAfterVersion:
                let version = Array("9P2000".utf8)
                out.writeInteger(UInt32(4 + 1 + 2 + 4 + 2 + version.count), endianness: .little)
                out.writeInteger(MessageType.rversion.rawValue)
                out.writeInteger(tag, endianness: .little)
                out.writeInteger(msize, endianness: .little)
                out.writeInteger(UInt16(version.count), endianness: .little)
                out.writeBytes(version)
                if case .garbageAfterVersion = behaviour {
                    out.writeString("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                }
            }
            context.writeAndFlush(wrapOutboundOut(out), promise: nil)
        }
    }
}
