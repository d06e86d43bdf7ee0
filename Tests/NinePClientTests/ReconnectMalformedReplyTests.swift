import Foundation
import NIOCore
import NIOPosix
@testable import NinePClient
import NinePTransport
import NinePWire
import Synchronization
import Testing

/// The reconnecting client against a server that answers every Tread with
/// a frame that cannot be decoded (an unknown message type), on every
/// connection: the executor reports a protocol error and closes, the
/// machine reconnects, replays the read, and meets the same garbage. That
/// must back off and fail the read with the timeout error, not spin.
@Suite(.timeLimit(.minutes(2)))
struct ReconnectMalformedReplyTests {
    /// Answers Tversion, Tattach, Twalk, Topen and Tclunk properly; Tread
    /// with 11 bytes of a message type that does not exist.
    final class GarbageReadServer: ChannelInboundHandler {
        typealias InboundIn = Fcall
        typealias OutboundOut = Fcall

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let request = unwrapInboundIn(data)
            let reply: Message
            switch request.message {
            case .tversion(let t): reply = .rversion(Rversion(msize: t.msize, version: t.version))
            case .tattach: reply = .rattach(Rattach(qid: Qid(type: .dir, path: 1)))
            case .twalk(let t): reply = .rwalk(Rwalk(wqid: t.wname.map { _ in Qid(path: 2) }))
            case .topen: reply = .ropen(Ropen(qid: Qid(path: 2)))
            case .tclunk: reply = .rclunk(Rclunk())
            case .tread:
                // size[4] type[1] tag[2] junk[4], with type 0xFF.
                var garbage = context.channel.allocator.buffer(capacity: 11)
                garbage.writeInteger(UInt32(11), endianness: .little)
                garbage.writeInteger(UInt8(0xFF))
                garbage.writeInteger(request.tag.rawValue, endianness: .little)
                garbage.writeInteger(UInt32(0xDEAD_BEEF), endianness: .little)
                let raw = try? context.pipeline.syncOperations.context(handlerType: FcallChannelHandler.self)
                raw?.writeAndFlush(NIOAny(garbage), promise: nil)
                return
            default:
                reply = .rerror(Rerror(ename: "not here"))
            }
            context.writeAndFlush(wrapOutboundOut(Fcall(tag: request.tag, reply)), promise: nil)
        }
    }

    final class Counter: Sendable {
        let value = Atomic<Int>(0)
    }

    @Test func aMalformedReplyOnEveryConnectionBacksOffAndTimesOut() async throws {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("ninep-garbage-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let accepted = Counter()
        // Event loops of its own: the count of connections below must not
        // depend on other suites keeping the shared loops busy.
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let listener = try await ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                accepted.value.add(1, ordering: .relaxed)
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(FcallChannelHandler(direction: .requests))
                    try channel.pipeline.syncOperations.addHandler(GarbageReadServer())
                }
            }
            .bind(unixDomainSocketPath: directory + "/9p.sock").get()
        var configuration = NinePClient.Configuration(messageSize: 8192 + NineP.ioHeaderSize)
        configuration.logger.logLevel = .critical
        let backoff = Backoff(initialDelay: .milliseconds(20), multiplier: 1.5, maximumDelay: .milliseconds(200), jitter: 0)
        configuration.reconnect = ReconnectPolicy(server: "garbage", backoff: backoff, requestTimeout: .seconds(2))
        let client = try await NinePClient.connect(
            to: "unix!\(directory)/9p.sock", group: group, configuration: configuration)
        _ = try await client.attach(uname: "glenda")
        let fid = try await client.open(path: "f", mode: .read)
        let start = ContinuousClock.now
        await #expect {
            try await client.read(fid, offset: 0, count: 10)
        } throws: { error in
            guard let e = error as? NinePClientError, case .timedOut = e.reconnectError else { return false }
            return true
        }
        let waited = ContinuousClock.now - start
        let connections = accepted.value.load(ordering: .relaxed)
        #expect(waited >= .milliseconds(1900) && waited < .seconds(15), "timed out after \(waited)")
        // About twenty redials in two seconds of backoff (20 ms growing to
        // 200 ms), not thousands; at least one after the first garbage
        // (fewer than twenty when the machine is loaded: dials take longer).
        #expect(connections >= 2 && connections < 60, "\(connections) connections")
        await client.close()
        try await listener.close()
        try await group.shutdownGracefully()
    }
}
