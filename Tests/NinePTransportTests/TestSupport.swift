#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import NIOPosix
import NinePTransport
import NinePWire
import Testing

/// Passes every inbound Fcall to an AsyncStream; finishes it when the channel closes.
final class FcallInbox: ChannelInboundHandler {
    typealias InboundIn = Fcall
    let continuation: AsyncStream<Fcall>.Continuation

    init(_ continuation: AsyncStream<Fcall>.Continuation) { self.continuation = continuation }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        continuation.yield(unwrapInboundIn(data))
    }

    func channelInactive(context: ChannelHandlerContext) {
        continuation.finish()
        context.fireChannelInactive()
    }
}

/// A stream of the Fcalls a channel receives, and the initializer that feeds it.
struct Inbox: Sendable {
    let stream: AsyncStream<Fcall>
    let continuation: AsyncStream<Fcall>.Continuation

    init() { (stream, continuation) = AsyncStream.makeStream(of: Fcall.self) }

    var initializer: NinePChannelInitializer {
        { [continuation] channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(FcallInbox(continuation))
            }
        }
    }

    /// The next Fcall, or nil if the channel closed or nothing came within the deadline.
    func next(within seconds: Double = 10) async -> Fcall? {
        await withDeadline(seconds) {
            var iterator = stream.makeAsyncIterator()
            return await iterator.next()
        } ?? nil
    }
}

/// Answers Tversion with Rversion (msize 8192) and anything else with Rerror.
final class VersionResponder: ChannelInboundHandler {
    typealias InboundIn = Fcall
    typealias OutboundOut = Fcall

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let request = unwrapInboundIn(data)
        let reply: Message
        if case .tversion(let t) = request.message {
            reply = .rversion(Rversion(msize: min(t.msize, 8192), version: t.version))
        } else {
            reply = .rerror(Rerror(ename: "unexpected \(request.message.type)"))
        }
        context.writeAndFlush(wrapOutboundOut(Fcall(tag: request.tag, reply)), promise: nil)
    }
}

let respondToVersion: NinePChannelInitializer = { channel in
    channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(VersionResponder()) }
}

/// Runs `body`, giving up (nil) after `seconds`: a deadline, not a synchroniser.
func withDeadline<T: Sendable>(_ seconds: Double, _ body: @escaping @Sendable () async -> T) async -> T? {
    await withTaskGroup(of: T?.self) { group in
        group.addTask { await body() }
        group.addTask {
            try? await Task.sleep(for: .seconds(seconds))
            return nil
        }
        let first = await group.next() ?? nil
        group.cancelAll()
        return first
    }
}

/// A fresh temporary directory, removed (with what is in it) by `cleanup`.
struct TemporaryDirectory {
    let path: String

    init() throws {
        var template = Array("/tmp/ninep-transport-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw POSIXErrorCode.EIO }
        path = String(cString: made)
    }

    func cleanup() {
        if let dir = opendir(path) {
            while let entry = readdir(dir) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
                if name != "." && name != ".." { unlink(path + "/" + name) }
            }
            closedir(dir)
        }
        rmdir(path)
    }
}

extension POSIXErrorCode: @retroactive Error {}

let tversion = Fcall(tag: .notag, .tversion(Tversion(msize: 8192 + 24, version: "9P2000")))
