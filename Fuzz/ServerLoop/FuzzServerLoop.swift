import FuzzDriver
import NIOCore
import NIOEmbedded
import NinePServer
import NinePTransport
import NinePWire

// libFuzzer target for the server's service loop: arbitrary bytes arrive on
// a connection to a RamFS, after a valid Tversion and Tattach so that the
// fuzzer reaches walks, opens, reads, writes, flushes and wstats at once.
//
// Built like FuzzWireDecoder: `scripts/fuzz` builds it with
// `-sanitize=fuzzer,address -DFUZZING`; a plain build makes a replayer of
// crash files.
//
// The property: the loop never traps, whatever arrives; every byte it sends
// back is a sequence of well-formed R-messages; a connection it closes is
// closed for a logged reason (a frame it cannot skip), never by a crash.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzServerLoop(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = ByteBuffer(bytes: UnsafeRawBufferPointer(start: data, count: data == nil ? 0 : size))
    let channel = EmbeddedChannel()
    var options = ServerOptions(maxMessageSize: 8192 + NineP.ioHeaderSize, maxFids: 64, maxOutstandingRequests: 32)
    options.logger.logLevel = .critical
    do {
        try channel.pipeline.syncOperations.addHandler(FcallChannelHandler(maxMessageSize: options.maxMessageSize, direction: .requests))
        try channel.pipeline.syncOperations.addHandler(NinePServerHandler(fileServer: RamFS(), options: options))
    } catch {
        fatalError("cannot build the pipeline: \(error)")
    }
    var prologue = ByteBuffer()
    Fcall(tag: .notag, .tversion(Tversion(msize: 8192 + NineP.ioHeaderSize, version: "9P2000"))).encode(into: &prologue)
    Fcall(tag: Tag(1), .tattach(Tattach(fid: Fid(0), uname: "glenda", aname: ""))).encode(into: &prologue)
    _ = try? channel.writeInbound(prologue)
    // Feed the input in two pieces, so that frames split across reads are exercised too.
    let cut = input.readableBytes / 2
    for piece in [input.getSlice(at: 0, length: cut)!, input.getSlice(at: cut, length: input.readableBytes - cut)!] {
        guard channel.isActive else { break }
        _ = try? channel.writeInbound(piece)
        channel.embeddedEventLoop.run()
    }
    checkReplies(channel)
    _ = try? channel.finish()
    channel.embeddedEventLoop.run()
    checkReplies(channel)
    return 0
}

/// Everything the server wrote must decode as R-messages.
private func checkReplies(_ channel: EmbeddedChannel) {
    let decoder = FcallDecoder(maxMessageSize: 8192 + NineP.ioHeaderSize, direction: .replies)
    var stream = ByteBuffer()
    while let out = try? channel.readOutbound(as: ByteBuffer.self) {
        var out = out
        stream.writeBuffer(&out)
    }
    while stream.readableBytes > 0 {
        do {
            guard try decoder.decode(buffer: &stream) != nil else {
                fatalError("FuzzServerLoop: the server wrote a truncated frame")
            }
        } catch {
            fatalError("FuzzServerLoop: the server wrote a malformed reply: \(error)")
        }
    }
}

#if FUZZING
@_cdecl("FuzzServerLoop_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc: argc, argv: argv, fuzzServerLoop)
}
#else
/// Replays inputs without libFuzzer: `FuzzServerLoop FILE...`.
@main
enum Replay {
    static func main() {
        replay(fuzzServerLoop, named: "FuzzServerLoop")
    }
}
#endif
