import NIOCore
import NinePTransport
import NinePWire

/// Pipelined metadata round trips on a connection of its own, without
/// NinePClient: Tversion in the dialect asked, Tattach of fid 0, then the
/// root's Tstat (9P2000, 9P2000.u) or Tgetattr (9P2000.L, the basic mask),
/// `window` in flight, each reply answered by the next request on its tag,
/// until `seconds` have passed. Tstat and Tgetattr go through this same
/// loop, so their figures compare the server's work and the wire sizes, not
/// two clients.
///
/// Who calls: `measure` from any task; the handler runs on the channel's
/// event loop only.
enum RawMetadataRun {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static func measure(
        address: String, dialect: ProtocolVersion, window: Int, seconds: Double, uname: String, aname: String,
        group: any EventLoopGroup
    ) async throws -> PipelinedRun.Outcome {
        let loop = group.next()
        let promise = loop.makePromise(of: PipelinedRun.Outcome.self)
        let handler = Handler(
            dialect: dialect, window: window, seconds: seconds, uname: uname, aname: aname, promise: promise)
        let connection = try await NinePConnection.dial(address, group: loop) { channel in
            channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(handler) }
        }
        do {
            let outcome = try await promise.futureResult.get()
            await connection.close()
            return outcome
        } catch {
            await connection.close()
            throw error
        }
    }

    private final class Handler: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = Fcall
        typealias OutboundOut = Fcall

        // Event loop only.
        let dialect: ProtocolVersion
        let window: Int
        let seconds: Double
        let uname: String
        let aname: String
        let promise: EventLoopPromise<PipelinedRun.Outcome>
        var deadline = ContinuousClock.now
        var started = ContinuousClock.now
        var startedCPU = 0.0
        var completed = 0
        var inFlight = 0
        var done = false

        init(
            dialect: ProtocolVersion, window: Int, seconds: Double, uname: String, aname: String,
            promise: EventLoopPromise<PipelinedRun.Outcome>
        ) {
            self.dialect = dialect
            self.window = max(1, window)
            self.seconds = seconds
            self.uname = uname
            self.aname = aname
            self.promise = promise
        }

        var request: Message {
            switch dialect {
            case .ninep2000, .ninep2000u: .tstat(Tstat(fid: Fid(0)))
            case .ninep2000L: .tgetattr(Tgetattr(fid: Fid(0), requestMask: .basic))
            }
        }

        func isExpected(_ reply: Message) -> Bool {
            switch (dialect, reply) {
            case (.ninep2000, .rstat), (.ninep2000u, .rstat), (.ninep2000L, .rgetattr): true
            default: false
            }
        }

        func channelActive(context: ChannelHandlerContext) {
            // The framing reads and writes the dialect offered, so that an Rlerror refusal decodes.
            framing(context)?.setProtocolVersion(dialect)
            context.writeAndFlush(wrapOutboundOut(Fcall(tag: .notag, .tversion(Tversion(msize: NineP.defaultMessageSize, version: dialect.rawValue)))), promise: nil)
            context.fireChannelActive()
        }

        func channelInactive(context: ChannelHandlerContext) {
            fail(Failure(description: "the server closed the connection"))
            context.fireChannelInactive()
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            fail(error)
            context.close(promise: nil)
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let fcall = unwrapInboundIn(data)
            guard !done else { return }
            switch fcall.message {
            case .rversion(let v):
                guard v.version == dialect.rawValue else {
                    return fail(Failure(description: "Tversion \(dialect.rawValue) answered '\(v.version)'"))
                }
                framing(context)?.setMaxMessageSize(v.msize)
                let nUname = dialect.hasNumericUname ? UInt32(0) : NineP.nonuname
                let attach = Tattach(fid: Fid(0), uname: uname, aname: aname, nUname: nUname)
                context.writeAndFlush(wrapOutboundOut(Fcall(tag: Tag(0), .tattach(attach))), promise: nil)
            case .rattach:
                startedCPU = PipelinedRun.processCPUSeconds()
                started = .now
                deadline = started + .milliseconds(Int64(seconds * 1000))
                for i in 0..<window { context.write(wrapOutboundOut(Fcall(tag: Tag(UInt16(i)), request)), promise: nil) }
                inFlight = window
                context.flush()
            case let reply where isExpected(reply):
                completed += 1
                if ContinuousClock.now < deadline {
                    context.writeAndFlush(wrapOutboundOut(Fcall(tag: fcall.tag, request)), promise: nil)
                } else {
                    inFlight -= 1
                    if inFlight == 0 { finish() }
                }
            case let other:
                fail(Failure(description: "\(dialect.rawValue): the server answered \(other)"))
            }
        }

        private func framing(_ context: ChannelHandlerContext) -> FcallChannelHandler? {
            try? context.pipeline.syncOperations.handler(type: FcallChannelHandler.self)
        }

        private func finish() {
            done = true
            let elapsed = ContinuousClock.now - started
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            promise.succeed(
                PipelinedRun.Outcome(
                    operations: completed, bytes: 0, seconds: seconds,
                    cpuSeconds: PipelinedRun.processCPUSeconds() - startedCPU))
        }

        private func fail(_ error: any Error) {
            guard !done else { return }
            done = true
            promise.fail(error)
        }
    }
}
