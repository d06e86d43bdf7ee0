import NinePServer
import NinePTesting
import NinePWire
import Testing

/// Malformed and random 9P2000.L and 9P2000.u bodies on live connections to
/// RamFS (which speaks both): every frame is answered with the dialect's
/// error or closes its connection, and a 9P2000 connection opened before
/// keeps being served, as does a new one afterwards.
@Suite("Bad input in 9P2000.L and 9P2000.u", .timeLimit(.minutes(10)))
struct BadInputDialectTests {
    @Test(arguments: [ProtocolVersion.ninep2000L, .ninep2000u])
    func barrage(_ dialect: ProtocolVersion) async throws {
        try await LocalServer.with(RamFS()) { address in
            let probe = try await RawNinePClient.connect(to: address)
            _ = try await probe.version(msize: 8192)
            _ = try await probe.attach(fid: Fid(0))
            var random = SystemRandomNumberGenerator()
            var barrage = BadInputBarrage(seed: random.next()) { try await RawNinePClient.connect(to: address) }
            barrage.dialect = dialect
            barrage.randomFrames = 3_000
            barrage.rawChunks = 30
            print("bad input, RamFS, \(dialect.rawValue): seed \(barrage.seed)")
            let report = try await barrage.run(probe: probe)
            await probe.close()
            print("\(dialect.rawValue): \(report)")
            #expect(report.failures.isEmpty, "\(report.failures.prefix(10).joined(separator: "\n"))")
            #expect(report.frames == MalformedFrame.allCases.count + 3_000)
            #expect(report.rerrors + report.otherReplies + report.closes - report.rawChunks == report.frames)
            #expect(report.rerrors >= MalformedFrame.allCases.count(where: { !$0.closesConnection }))

            let fresh = try await RawNinePClient.connect(to: address)
            #expect(try await fresh.version(msize: 8192, version: dialect.rawValue).version == dialect.rawValue)
            _ = try await fresh.attach(fid: Fid(0))
            let reply = try await fresh.call(dialect == .ninep2000L ? .tgetattr(Tgetattr(fid: Fid(0), requestMask: .basic)) : .tstat(Tstat(fid: Fid(0))))
            #expect(reply.type == (dialect == .ninep2000L ? .rgetattr : .rstat), "\(reply)")
            await fresh.close()
        }
    }
}
