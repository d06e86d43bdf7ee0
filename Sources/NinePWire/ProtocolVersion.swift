/// The dialect negotiated by Tversion.
///
/// The decoder (`FcallDecoder.version`) and the encoder
/// (`Fcall.encode(into:version:)`) take it once per message, as Linux's
/// net/9p/protocol.c takes its client's proto_version:
/// - 9P2000.u adds fields to existing bodies: Rerror's errno, Tauth and
///   Tattach's n_uname, Tcreate's extension, the stat entry's extension,
///   n_uid, n_gid and n_muid;
/// - 9P2000.L adds its own messages (Rlerror, Tlopen, Tgetattr …), keeps
///   n_uname in Tauth and Tattach, and does not use Topen, Tcreate, Tstat,
///   Twstat or Rerror (`carries(_:)`).
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

    /// Whether messages of this type exist in this dialect. An .L message
    /// under 9P2000 or 9P2000.u, or Topen, Tcreate, Tstat, Twstat, Rerror
    /// (and their replies) under 9P2000.L, is a `WireError.Kind.notInDialect`.
    ///
    /// diod protocol.md lists the messages of 9P2000.L: "a subset of the
    /// canonical 9P2000 operations, the 9P2000.u attach and auth messages,
    /// plus new operations designed to map to the Linux VFS".
    public func carries(_ type: MessageType) -> Bool {
        switch type {
        case .tversion, .rversion, .tauth, .rauth, .tattach, .rattach, .terror, .tflush, .rflush,
            .twalk, .rwalk, .tread, .rread, .twrite, .rwrite, .tclunk, .rclunk, .tremove, .rremove:
            return true
        case .rerror, .topen, .ropen, .tcreate, .rcreate, .tstat, .rstat, .twstat, .rwstat:
            return self != .ninep2000L
        case .rlerror, .tstatfs, .rstatfs, .tlopen, .rlopen, .tlcreate, .rlcreate, .tsymlink, .rsymlink,
            .tmknod, .rmknod, .trename, .rrename, .treadlink, .rreadlink, .tgetattr, .rgetattr, .tsetattr,
            .rsetattr, .txattrwalk, .rxattrwalk, .txattrcreate, .rxattrcreate, .treaddir, .rreaddir,
            .tfsync, .rfsync, .tlock, .rlock, .tgetlock, .rgetlock, .tlink, .rlink, .tmkdir, .rmkdir,
            .trenameat, .rrenameat, .tunlinkat, .runlinkat:
            return self == .ninep2000L
        }
    }

    /// Whether the stat entry, Rerror and Tcreate carry 9P2000.u's fields.
    public var hasStatExtension: Bool {
        switch self {
        case .ninep2000, .ninep2000L: false
        case .ninep2000u: true
        }
    }

    /// Whether Tauth and Tattach carry n_uname[4]: Linux's protocol.c writes
    /// "?u" fields "if proto_version is p9_proto_2000u or p9_proto_2000L".
    public var hasNumericUname: Bool {
        switch self {
        case .ninep2000: false
        case .ninep2000u, .ninep2000L: true
        }
    }
}
