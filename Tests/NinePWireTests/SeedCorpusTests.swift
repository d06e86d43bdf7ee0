import Foundation
import NIOCore
import NinePWire
import Testing

/// The fuzzer's seed corpus (Fuzz/corpus/WireDecoder) is the golden frames,
/// one file each. Run with NINEP_RECORD_FUZZ_SEEDS=1 to rewrite it after
/// changing the golden frames.
@Suite struct SeedCorpusTests {
    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz/corpus/WireDecoder")

    static func fileName(_ golden: Golden) -> String {
        golden.name.replacingOccurrences(of: " ", with: "-") + ".bin"
    }

    @Test("every golden frame is a seed, byte for byte, and nothing else is")
    func seedsAreTheGoldens() throws {
        if ProcessInfo.processInfo.environment["NINEP_RECORD_FUZZ_SEEDS"] == "1" {
            try FileManager.default.createDirectory(at: Self.directory, withIntermediateDirectories: true)
            for golden in allGoldens {
                try Data(golden.wire.readableBytesView).write(to: Self.directory.appendingPathComponent(Self.fileName(golden)))
            }
        }
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.directory.path)
        #expect(Set(files) == Set(allGoldens.map(Self.fileName)))
        for golden in allGoldens {
            let seed = try Data(contentsOf: Self.directory.appendingPathComponent(Self.fileName(golden)))
            #expect(hex(ByteBuffer(bytes: seed)) == hex(golden.wire), "\(Self.fileName(golden))")
        }
    }
}
