import NinePWire
import Testing

/// version(5) negotiation.
@Suite struct ProtocolVersionTests {
    @Test("a server speaking only 9P2000", arguments: [
        ("9P2000", ProtocolVersion.ninep2000 as ProtocolVersion?),
        // "the initial substring up to but not including any single period ... defines a version"
        ("9P2000.u", .ninep2000), ("9P2000.L", .ninep2000), ("9P2000.foo", .ninep2000), ("9P2000.", .ninep2000),
        ("9P2000.u.x", .ninep2000),
        // "a string of the form 9Pnnnn, where nnnn is less than or equal to the digits sent by the client"
        ("9P2001", .ninep2000), ("9P3000.bar", .ninep2000), ("9P20000", .ninep2000), ("9P99999999999999999999999", .ninep2000),
        // Not a version we can answer: "unknown".
        ("9P1999", nil), ("9P", nil), ("9P.2000", nil), ("9P0000", nil), ("9P2000u", nil), ("9P 2000", nil),
        ("", nil), ("unknown", nil), ("9p2000", nil), ("P2000", nil), ("2000", nil), ("9P２０００", nil),
    ])
    func only2000(_ client: String, _ expected: ProtocolVersion?) {
        #expect(ProtocolVersion.negotiate(clientVersion: client) == expected)
    }

    @Test("a dialect the server supports is answered as itself")
    func dialects() {
        let all = Set(ProtocolVersion.allCases)
        #expect(ProtocolVersion.negotiate(clientVersion: "9P2000.u", supported: all) == .ninep2000u)
        #expect(ProtocolVersion.negotiate(clientVersion: "9P2000.L", supported: all) == .ninep2000L)
        #expect(ProtocolVersion.negotiate(clientVersion: "9P2000", supported: all) == .ninep2000)
        #expect(ProtocolVersion.negotiate(clientVersion: "9P2000.x", supported: all) == .ninep2000)
        #expect(ProtocolVersion.negotiate(clientVersion: "9P2000.L", supported: [.ninep2000, .ninep2000u]) == .ninep2000)
    }

    @Test("without 9P2000 support only exact dialects are understood")
    func no2000() {
        #expect(ProtocolVersion.negotiate(clientVersion: "9P2000.L", supported: [.ninep2000L]) == .ninep2000L)
        #expect(ProtocolVersion.negotiate(clientVersion: "9P2000.u", supported: [.ninep2000L]) == nil)
        #expect(ProtocolVersion.negotiate(clientVersion: "9P2000", supported: [.ninep2000L]) == nil)
        #expect(ProtocolVersion.negotiate(clientVersion: "9P2000", supported: []) == nil)
    }

    @Test("the strings of the protocol")
    func strings() {
        #expect(ProtocolVersion.unknown == "unknown")
        #expect(ProtocolVersion.ninep2000.rawValue == NineP.version2000)
        #expect(NineP.defaultMessageSize == 1_048_576 + 24)
        #expect(NineP.minimumMessageSize == 7)
        #expect(NineP.maxWalkElements == 16)
        #expect(Tag.notag.rawValue == 0xffff && Fid.nofid.rawValue == 0xffff_ffff)
    }
}
