import FuzzDriver
import NIOCore
import NinePWire

// libFuzzer target for FcallDecoder (STYLE rule 3: never trap on wire data).
//
// Built two ways:
// - `scripts/fuzz` builds it with `-sanitize=fuzzer,address -DFUZZING`:
//   libFuzzer supplies `main` and calls `LLVMFuzzerTestOneInput`.
// - A plain `swift build` compiles the `@main` below instead: a replayer that
//   runs the same property over files named on the command line, so a crash
//   file can be reproduced without the fuzzing runtime.
//
// The property, checked for several msize/direction settings in each of the
// three dialects (9P2000, 9P2000.u, 9P2000.L): decoding
// arbitrary bytes never traps; a frame that decodes consumes exactly its
// size[4] bytes and re-encodes to exactly those bytes; every strict prefix of
// it is "need more"; anything that fails consumes nothing; an error that
// names a frame size names the frame's real size and its tag.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzWireDecoder(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = ByteBuffer(bytes: UnsafeRawBufferPointer(start: data, count: data == nil ? 0 : size))
    for decoder in decoders {
        checkDecoder(decoder, on: bytes)
    }
    return 0
}

private let decoders: [FcallDecoder] = ProtocolVersion.allCases.flatMap { version in
    [
        FcallDecoder(version: version, direction: .any),
        FcallDecoder(maxMessageSize: 8192, version: version, direction: .requests),
        FcallDecoder(maxMessageSize: 8192, version: version, direction: .replies),
        FcallDecoder(maxMessageSize: 64, version: version, direction: .any),
    ]
}

private func checkDecoder(_ decoder: FcallDecoder, on input: ByteBuffer) {
    var buffer = input
    while buffer.readableBytes > 0 {
        let start = buffer.readerIndex
        let declared = buffer.getInteger(at: start, endianness: .little, as: UInt32.self)
        let fcall: Fcall?
        do {
            fcall = try decoder.decode(buffer: &buffer)
        } catch {
            check(buffer.readerIndex == start, "a failed decode consumed bytes", error)
            if let frameSize = error.frameSize {
                check(frameSize == declared.map(Int.init), "frameSize \(frameSize) is not size[4] \(String(describing: declared))", error)
                check(error.tag != nil, "an error with a frame size has no tag", error)
            }
            _ = error.description
            return
        }
        guard let fcall else {
            check(buffer.readerIndex == start, "a nil decode consumed bytes", nil)
            check(declared.map { Int($0) > buffer.readableBytes } ?? true, "nil with a whole frame present", nil)
            return
        }
        let consumed = buffer.readerIndex - start
        check(declared.map(Int.init) == consumed, "consumed \(consumed) bytes, size[4] says \(String(describing: declared))", nil)
        switch decoder.direction {
        case .requests: check(fcall.message.isRequest, "an R-message passed a .requests decoder", nil)
        case .replies: check(!fcall.message.isRequest, "a T-message passed a .replies decoder", nil)
        case .any: break
        }

        // encode(decode(x)) == x
        var encoded = ByteBuffer()
        fcall.encode(into: &encoded, version: decoder.version)
        let original = input.getSlice(at: start, length: consumed)!
        check(encoded == original, "re-encoding differs: \(fcall)", nil)
        let size = fcall.encodedSize(version: decoder.version)
        check(size == consumed, "encodedSize \(size) != \(consumed)", nil)
        check(decoder.version.carries(fcall.message.type), "\(fcall.message.type) decoded under \(decoder.version)", nil)

        // Every strict prefix is "need more" (checked at both ends: the cheap
        // ones that cover the size field and the one missing the last byte).
        for length in Set([0, 3, 4, 6, consumed - 1]) where length < consumed {
            var prefix = original.getSlice(at: original.readerIndex, length: length)!
            let before = prefix.readerIndex
            let decoded = try? decoder.decode(buffer: &prefix)
            check(decoded == nil && prefix.readerIndex == before, "a \(length)-byte prefix did not ask for more", nil)
        }
        _ = fcall.description
    }
}

private func check(_ condition: @autoclosure () -> Bool, _ what: @autoclosure () -> String, _ error: WireError?) {
    if !condition() {
        fatalError("FuzzWireDecoder property violated: \(what())" + (error.map { " (\($0.kind))" } ?? ""))
    }
}

#if FUZZING
@_cdecl("FuzzWireDecoder_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc: argc, argv: argv, fuzzWireDecoder)
}
#else
/// Replays inputs without libFuzzer: `FuzzWireDecoder FILE...`.
@main
enum Replay {
    static func main() {
        replay(fuzzWireDecoder, named: "FuzzWireDecoder")
    }
}
#endif
