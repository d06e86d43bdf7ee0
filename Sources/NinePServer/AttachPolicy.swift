public import NinePTransport
public import NinePWire
#if canImport(Glibc)
import Glibc
#endif

/// Whom a server lets attach, and as whom, given what the transport vouches
/// for about the client (`NinePPeerIdentity`).
///
/// The service loop asks it before a Tattach reaches the FileServer; a
/// refusal is answered as an Rerror with its text and logged with the
/// peer's address; the user it decides on becomes the fid's `uname` (and
/// that of every fid walked from it).
///
/// The rule, in order:
/// - `squash`: every client acts as that one user, whatever it names.
/// - A TLS client certificate names a local user (through
///   `certificateUsers`, or as its own name); the attach must be as that
///   user or as the certificate's name, and acts as the user.
/// - A uid the kernel vouches for (SO_PEERCRED on a unix socket, the socket
///   table for loopback TCP, the server's own uid on standard input and
///   output) names a local user; with `checksLocalCredentials` the attach
///   must be as that user (the .u/.L n_uname when given, else uname).
/// - A transport that vouches for no one (TLS without `--client-ca`, plain
///   TCP with `--insecure`, an in-memory pair): the uname is taken on trust.
/// - `onlyUser`: whoever is decided on must be that user.
public struct AttachPolicy: Sendable {
    /// Whether a name the transport vouches for is a user on this server;
    /// nil takes any name (an in-memory tree has no users of its own).
    /// `ninep export` looks names up in the password database.
    public var isKnownUser: (@Sendable (String) -> Bool)?
    /// Certificate common names and the local users they stand for (a map
    /// file); a name not in it stands for the user of that name.
    public var certificateUsers: [String: String]
    /// Whether a uid the kernel vouches for must agree with the attach name.
    /// Off by default (in-memory trees have no users); on for `ninep export`.
    public var checksLocalCredentials: Bool
    /// Every client acts as this user (`--squash`); no name is checked.
    public var squash: String?
    /// The only user who may attach (an export run by an ordinary user
    /// serves that user alone); nil: anyone the rule lets through.
    public var onlyUser: String?

    public init(
        isKnownUser: (@Sendable (String) -> Bool)? = nil, certificateUsers: [String: String] = [:],
        checksLocalCredentials: Bool = false, squash: String? = nil, onlyUser: String? = nil
    ) {
        self.isKnownUser = isKnownUser
        self.certificateUsers = certificateUsers
        self.checksLocalCredentials = checksLocalCredentials
        self.squash = squash
        self.onlyUser = onlyUser
    }

    /// The user an attach as `uname` (and `nUname`, .u/.L; `NineP.nonuname`
    /// when not given) acts as, for a client the transport knows as
    /// `identity`; or why it is refused.
    public func decide(
        identity: NinePPeerIdentity?, uname: String, nUname: UInt32 = NineP.nonuname
    ) -> Result<String, NinePError> {
        if let squash { return .success(squash) }
        // diod's protocol.md: "n_uname, if not set to P9_NONUNAME (~0), is the
        // uid of the user and is used in preference to uname" (Linux's v9fs
        // sends its mount's uname, "nobody" by default, with each user's uid).
        let claimed = nUname != NineP.nonuname ? LocalUser.name(of: nUname) : uname
        let user: String
        switch identity {
        case nil:
            user = claimed
        case .certificate(let name)?:
            user = certificateUsers[name] ?? name
            if let isKnownUser, !isKnownUser(user) {
                let mapped = user == name ? "" : " (mapped to '\(user)')"
                return .failure(refused(
                    "attach refused: the client's certificate '\(name)' names '\(name)'\(mapped), who is not a user on this server"))
            }
            if claimed != user && claimed != name {
                return .failure(refused(
                    "attach as \(shown(claimed, nUname)) refused: the client's certificate '\(name)' is for '\(user)'; attach as '\(user)'"))
            }
        case let vouched?:
            guard checksLocalCredentials, let uid = vouched.uid else {
                user = claimed
                break
            }
            user = vouched.userName
            if claimed != user || (nUname != NineP.nonuname && nUname != uid) {
                return .failure(refused(
                    "attach as \(shown(claimed, nUname)) refused: the client is '\(user)' (\(vouched)); attach as '\(user)'"))
            }
        }
        if let onlyUser, user != onlyUser {
            return .failure(refused(
                "attach as '\(user)' refused: this server runs as '\(onlyUser)' and serves only '\(onlyUser)' "
                    + "(run it as root to serve every user, or give --squash)"))
        }
        return .success(user)
    }

    /// Why an attach as `uname` by a client the transport knows as
    /// `identity` is refused, or nil to let it through.
    public func refusal(identity: NinePPeerIdentity?, uname: String) -> String? {
        if case .failure(let e) = decide(identity: identity, uname: uname) { return e.ename }
        return nil
    }

    private func refused(_ text: String) -> NinePError { NinePError(text, errno: EACCES) }

    private func shown(_ name: String, _ nUname: UInt32) -> String {
        nUname == NineP.nonuname ? "'\(name)'" : "'\(name)' (n_uname \(nUname))"
    }
}
