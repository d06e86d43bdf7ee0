public import NinePTransport

/// Whom a server lets attach, given what the transport vouches for about
/// the client (`NinePPeerIdentity`).
///
/// The service loop asks it before a Tattach reaches the FileServer; a
/// refusal is answered as an Rerror with its text and logged with the
/// peer's address. Checked: the common name of a TLS client certificate
/// checked against `--client-ca`. Not yet checked: the SO_PEERCRED of a
/// unix-socket peer (known, and exposed through
/// `ServerConnection.peerIdentity()` and `NinePPeerIdentity.of`, but
/// attaches as other users are still let through, as before), and connections whose transport vouches for no one.
public struct AttachPolicy: Sendable {
    /// Whether a name the transport vouches for is a user on this server;
    /// nil takes any name (an in-memory tree has no users of its own).
    /// `ninep export` looks names up in the password database.
    public var isKnownUser: (@Sendable (String) -> Bool)?

    public init(isKnownUser: (@Sendable (String) -> Bool)? = nil) {
        self.isKnownUser = isKnownUser
    }

    /// Why an attach as `uname` by a client the transport knows as
    /// `identity` is refused, or nil to let it through.
    public func refusal(identity: NinePPeerIdentity?, uname: String) -> String? {
        guard let identity else { return nil }
        let user: String
        switch identity {
        case .certificate(let name): user = name
        case .unixCredentials: return nil
        }
        if let isKnownUser, !isKnownUser(user) {
            return "attach refused: the client's \(identity) names '\(user)', who is not a user on this server"
        }
        if uname != user {
            return "attach as '\(uname)' refused: the client's \(identity) is for '\(user)'; attach as '\(user)'"
        }
        return nil
    }
}
