import FuzzDriver
import NIOCore
import NIOEmbedded
import NinePServer
import NinePTransport
import NinePWire

// libFuzzer target for the server's service loop: arbitrary bytes arrive on
// a connection to a RamFS, after a valid Tversion and Tattach so that the
// fuzzer reaches walks, opens, reads, writes, flushes and wstats at once.
// The input's first byte picks the dialect the Tversion offers (9P2000,
// 9P2000.u or 9P2000.L); the rest is read in the dialect the server answered.
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
    var input = ByteBuffer(bytes: UnsafeRawBufferPointer(start: data, count: data == nil ? 0 : size))
    let channel = EmbeddedChannel()
    var options = ServerOptions(maxMessageSize: 8192 + NineP.ioHeaderSize, maxFids: 64, maxOutstandingRequests: 32)
    options.logger.logLevel = .critical
    do {
        try channel.pipeline.syncOperations.addHandler(FcallChannelHandler(maxMessageSize: options.maxMessageSize, direction: .requests))
        try channel.pipeline.syncOperations.addHandler(NinePServerHandler(fileServer: RamFS(), options: options))
    } catch {
        fatalError("cannot build the pipeline: \(error)")
    }
    let offered = ProtocolVersion.allCases[Int(input.readInteger(as: UInt8.self) ?? 0) % ProtocolVersion.allCases.count]
    var replies = ReplyChecker()
    var prologue = ByteBuffer()
    Fcall(tag: .notag, .tversion(Tversion(msize: 8192 + NineP.ioHeaderSize, version: offered.rawValue)))
        .encode(into: &prologue, version: .ninep2000)
    _ = try? channel.writeInbound(prologue)
    channel.embeddedEventLoop.run()
    replies.check(channel)
    var attach = ByteBuffer()
    Fcall(tag: Tag(1), .tattach(Tattach(fid: Fid(0), uname: "glenda", aname: ""))).encode(into: &attach, version: replies.version)
    _ = try? channel.writeInbound(attach)
    // Feed the input in two pieces, so that frames split across reads are exercised too.
    let cut = input.readableBytes / 2
    let start = input.readerIndex
    for piece in [input.getSlice(at: start, length: cut)!, input.getSlice(at: start + cut, length: input.readableBytes - cut)!] {
        guard channel.isActive else { break }
        _ = try? channel.writeInbound(piece)
        channel.embeddedEventLoop.run()
    }
    replies.check(channel)
    _ = try? channel.finish()
    channel.embeddedEventLoop.run()
    replies.check(channel)
    return 0
}

/// Everything the server writes must decode as R-messages of the dialect
/// its Rversion named (9P2000 before that).
private struct ReplyChecker {
    var decoder = FcallDecoder(maxMessageSize: 8192 + NineP.ioHeaderSize, version: .ninep2000, direction: .replies)
    var version: ProtocolVersion { decoder.version }

    mutating func check(_ channel: EmbeddedChannel) {
        var stream = ByteBuffer()
        while let out = try? channel.readOutbound(as: ByteBuffer.self) {
            var out = out
            stream.writeBuffer(&out)
        }
        while stream.readableBytes > 0 {
            do {
                guard let reply = try decoder.decode(buffer: &stream) else {
                    fatalError("FuzzServerLoop: the server wrote a truncated frame")
                }
                if case .rversion(let r) = reply.message, let negotiated = ProtocolVersion(rawValue: r.version) {
                    decoder.version = negotiated
                }
            } catch {
                fatalError("FuzzServerLoop: the server wrote a malformed reply: \(error)")
            }
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
