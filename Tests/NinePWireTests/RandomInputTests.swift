import NIOCore
import NinePWire
import Testing

/// A small seeded generator, so that a failure names a reproducible input.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}

/// Random bytes never trap the decoder (STYLE rule 3), and whatever it does
/// with them obeys the codec's contract: nil and errors consume nothing; a
/// decoded frame consumes exactly size[4] bytes and re-encodes to them.
@Suite struct RandomInputTests {
    struct Outcomes {
        var decoded = 0, needMore = 0, rejected = 0, violations: [String] = []
    }

    /// The decoders each input goes through, in one dialect.
    static func decoders(_ version: ProtocolVersion) -> [FcallDecoder] {
        [
            FcallDecoder(maxMessageSize: 8192, version: version, direction: .any),
            FcallDecoder(maxMessageSize: 8192, version: version, direction: .requests),
            FcallDecoder(maxMessageSize: 48, version: version, direction: .replies),
        ]
    }

    /// The decoders of every dialect, one dialect's set after another.
    static let decodersByDialect = ProtocolVersion.allCases.map(decoders)

    /// Decodes one frame from `wire` and checks the contract.
    static func check(_ wire: ByteBuffer, with decoder: FcallDecoder, into outcomes: inout Outcomes) {
        var buffer = wire
        do {
            guard let fcall = try decoder.decode(buffer: &buffer) else {
                outcomes.needMore += 1
                if buffer != wire { outcomes.violations.append("nil consumed bytes: \(hex(wire))") }
                return
            }
            outcomes.decoded += 1
            let consumed = buffer.readerIndex - wire.readerIndex
            if wire.getSlice(at: wire.readerIndex, length: consumed) != encoded(fcall, decoder.version) {
                outcomes.violations.append("re-encoding differs: \(hex(wire))")
            }
        } catch {
            outcomes.rejected += 1
            if buffer != wire { outcomes.violations.append("error consumed bytes: \(hex(wire))") }
            if (error.frameSize == nil) != (error.tag == nil) { outcomes.violations.append("frameSize without tag: \(hex(wire))") }
        }
    }

    @Test("50,000 random frames with sane and insane sizes")
    func randomFrames() {
        var rng = SplitMix64(state: 0x9_2000)
        var outcomes = Outcomes()
        for i in 0..<50_000 {
            var wire = ByteBuffer()
            let size: UInt32 = switch rng.next() % 10 {
            case 0: UInt32.random(in: 0..<7, using: &rng)
            case 1: UInt32.random(in: 8193...UInt32.max, using: &rng)
            default: UInt32.random(in: 7...64, using: &rng)
            }
            wire.writeInteger(size, endianness: .little)
            // Mostly real type bytes (9P2000's or 9P2000.L's), so that bodies get parsed.
            let type = switch rng.next() % 4 {
            case 0: UInt8.random(in: 0...255, using: &rng)
            case 1: MessageType.allCases.filter { $0.rawValue < 100 }.randomElement(using: &rng)!.rawValue
            default: UInt8.random(in: 100...127, using: &rng)
            }
            wire.writeInteger(type)
            // Sometimes the whole frame, sometimes less, sometimes more.
            let bodyLength = max(0, Int(min(size, 64)) - 5 + Int.random(in: -3...3, using: &rng))
            for _ in 0..<bodyLength {
                // Small numbers make plausible counts and string lengths.
                wire.writeInteger(rng.next() % 3 == 0 ? UInt8.random(in: 0...255, using: &rng) : UInt8.random(in: 0...8, using: &rng))
            }
            // Each frame in one dialect, taking turns: the three are covered at the cost of one.
            for decoder in Self.decodersByDialect[i % Self.decodersByDialect.count] {
                Self.check(wire, with: decoder, into: &outcomes)
            }
        }
        #expect(outcomes.violations.isEmpty, "\(outcomes.violations.prefix(5))")
        // The generator reaches every outcome.
        #expect(outcomes.decoded > 100)
        #expect(outcomes.needMore > 1000)
        #expect(outcomes.rejected > 1000)
    }

    @Test("mutated golden frames: every byte flipped, every frame truncated and extended")
    func mutatedGoldens() {
        var rng = SplitMix64(state: 0x5747)
        var outcomes = Outcomes()
        for golden in allGoldens {
            let wire = golden.wire
            for offset in 0..<wire.readableBytes {
                for _ in 0..<(golden.version == .ninep2000 ? 8 : 3) {
                    var mutated = wire
                    mutated.setInteger(UInt8.random(in: 0...255, using: &rng), at: offset)
                    for decoder in Self.decoders(golden.version) + [lenient(golden.version)] {
                        Self.check(mutated, with: decoder, into: &outcomes)
                    }
                }
            }
        }
        #expect(outcomes.violations.isEmpty, "\(outcomes.violations.prefix(5))")
        #expect(outcomes.decoded > 1000)
        #expect(outcomes.rejected > 1000)
    }

    @Test("a long random stream is consumed frame by frame until it stops or is refused",
          arguments: ProtocolVersion.allCases)
    func randomStream(_ version: ProtocolVersion) {
        var rng = SplitMix64(state: 42)
        let goldens = allGoldens.filter { $0.version == version }
        let lenient = lenient(version)
        for _ in 0..<200 {
            var stream = ByteBuffer()
            // Valid frames with random garbage spliced in somewhere.
            var frameEnds: [Int] = []
            for _ in 0..<20 {
                stream.writeImmutableBuffer(goldens.randomElement(using: &rng)!.wire)
                frameEnds.append(stream.writerIndex)
            }
            let at = Int.random(in: 0..<stream.readableBytes, using: &rng)
            stream.setInteger(UInt8.random(in: 0...255, using: &rng), at: at)
            var frames = 0
            while true {
                let before = stream.readerIndex
                do {
                    guard try lenient.decode(buffer: &stream) != nil else { break }
                    frames += 1
                } catch {
                    #expect(stream.readerIndex == before)
                    guard let skip = error.frameSize else { break }
                    stream.moveReaderIndex(forwardBy: skip)
                }
            }
            // Every frame before the damaged one still decodes.
            #expect(frames >= frameEnds.count { $0 <= at })
            #expect(frames <= 20)
        }
    }
}
