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

    /// The version a server answers to Tversion, or nil for "unknown".
    ///
    /// version(5): "If the server does not understand the client's version
    /// string, it should respond with an Rversion message (not Rerror) with the
    /// version string the 7 characters "unknown". ... if the client string
    /// contains one or more period characters, the initial substring up to but
    /// not including any single period in the version string defines a version
    /// of the protocol. After stripping any such period-separated suffix, the
    /// server is allowed to respond with a string of the form 9Pnnnn, where
    /// nnnn is less than or equal to the digits sent by the client."
    ///
    /// So a supported dialect is answered as itself, and otherwise "9P2000.foo"
    /// (9P2000.u or 9P2000.L included, when not supported) and "9Pnnnn" with
    /// nnnn ≥ 2000 are answered 9P2000; anything else is unknown.
    public static func negotiate(clientVersion: String, supported: Set<ProtocolVersion> = [.ninep2000]) -> ProtocolVersion? {
        if let exact = ProtocolVersion(rawValue: clientVersion), supported.contains(exact) { return exact }
        guard supported.contains(.ninep2000) else { return nil }
        let base = clientVersion.prefix { $0 != "." }
        guard base.hasPrefix("9P") else { return nil }
        let digits = base.dropFirst(2).drop { $0 == "0" }
        guard base.count > 2, digits.allSatisfy({ ("0"..."9").contains($0) }) else { return nil }
        // Compare as numbers without overflow: more digits is larger.
        return digits.count > 4 || (digits.count == 4 && digits >= "2000") ? .ninep2000 : nil
    }

    /// The string a server answers for a version it does not speak.
    public static let unknown = "unknown"
}
