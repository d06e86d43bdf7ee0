#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import NIOCore
import NinePTransport

/// Only the user who runs the srv registry (and root) may use it: its
/// sockets are made mode 0600 in its 0700 directory, and a connection from
/// another uid (SO_PEERCRED, read as a `NinePPeerIdentity`) is refused with
/// a reason, on the 9P socket and on the hand-over socket alike.
enum RegistryOwner {
    /// Why a peer with `uid` may not use a registry run by `owner`, or nil.
    static func refusal(peerUID uid: UInt32, owner: UInt32 = geteuid()) -> String? {
        if uid == owner || uid == 0 { return nil }
        return "srv registry of uid \(owner): uid \(uid) may not use it"
    }

    /// `refusal` for a peer identified as `identity` (nil: unknown).
    static func refusal(_ identity: NinePPeerIdentity?) -> String? {
        switch identity {
        case .unixCredentials(let uid, _, _): refusal(peerUID: uid)
        case .certificate, .loopbackOwner, .serverProcess, nil: "srv registry: cannot tell who connected (SO_PEERCRED)"
        }
    }

    /// `refusal` for a channel accepted by a unix-domain `NinePListener`
    /// (on its event loop), which read the peer's credentials.
    static func check(_ channel: any Channel) -> EventLoopFuture<String?> {
        channel.eventLoop.makeSucceededFuture(refusal(NinePPeerIdentity.of(channel)))
    }

    /// `refusal` for an accepted unix socket descriptor.
    static func check(descriptor fd: CInt) -> String? {
        refusal(NinePPeerIdentity.unixCredentials(ofDescriptor: fd))
    }

    /// Makes a socket file readable and writable by its owner only.
    static func restrict(socket path: String) throws(NinePTransportError) {
        guard chmod(path, 0o600) == 0 else {
            throw NinePTransportError(.listen, address: "unix!\(path)", reason: "cannot chmod 600: \(String(cString: strerror(errno)))")
        }
    }
}
