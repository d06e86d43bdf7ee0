/// The dialect negotiated by Tversion.
///
/// The codec is written for 9P2000; the other dialects change a few messages
/// (stat gains fields in 9P2000.u; 9P2000.L adds its own messages). The
/// decoder and encoder take the dialect so that they can be added without
/// changing any caller.
public enum ProtocolVersion: String, Hashable, Sendable, CaseIterable {
    case ninep2000 = "9P2000"
    case ninep2000u = "9P2000.u"
    case ninep2000L = "9P2000.L"

    /// version(5): "If the server does not understand the client's version
    /// string, it should respond with an Rversion message (not Rerror) with the
    /// version string the 7 characters "unknown"." A version may carry a
    /// suffix after a period, which a server may strip: "9P2000.foo" is 9P2000.
    public static func negotiate(clientVersion: String, supported: Set<ProtocolVersion> = [.ninep2000]) -> ProtocolVersion? {
        if let exact = ProtocolVersion(rawValue: clientVersion), supported.contains(exact) { return exact }
        guard clientVersion.hasPrefix("9P2000") else { return nil }
        let base = clientVersion.hasPrefix("9P2000.") || clientVersion == "9P2000" ? ProtocolVersion.ninep2000 : nil
        if let base, supported.contains(base) { return base }
        return nil
    }

    /// The string a server answers for a version it does not speak.
    public static let unknown = "unknown"
}
