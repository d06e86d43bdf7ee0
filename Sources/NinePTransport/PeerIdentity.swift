#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
public import NIOCore

/// What a peer is, as far as the transport can vouch for it.
public enum NinePPeerIdentity: Sendable, Hashable, CustomStringConvertible {
    /// A TLS client certificate checked against `--client-ca`: its common name.
    case certificate(commonName: String)
    /// The process at the other end of a unix-domain socket, as the kernel
    /// saw it connect (SO_PEERCRED).
    case unixCredentials(uid: UInt32, gid: UInt32, pid: Int32)

    public var description: String {
        switch self {
        case .certificate(let name): "certificate '\(name)'"
        case .unixCredentials(let uid, let gid, let pid): "unix credentials uid \(uid) gid \(gid) (pid \(pid))"
        }
    }

    /// The user name the identity stands for: the certificate's common
    /// name, or the name of the uid in the password database (the number
    /// when it has none).
    public var userName: String {
        switch self {
        case .certificate(let name):
            return name
        case .unixCredentials(let uid, _, _):
            var entry = passwd()
            var result: UnsafeMutablePointer<passwd>?
            var buffer = [CChar](repeating: 0, count: 16384)
            guard getpwuid_r(uid, &entry, &buffer, buffer.count, &result) == 0, result != nil, let name = entry.pw_name else {
                return "\(uid)"
            }
            return String(cString: name)
        }
    }

    /// What the transport under `channel` vouches for: the common name of a
    /// TLS client certificate the server checked, or the credentials of a
    /// unix-socket peer accepted by `NinePListener`; nil for anything else.
    ///
    /// Call on the channel's event loop, once 9P messages flow (the
    /// handshake is over by then).
    public static func of(_ channel: any Channel) -> NinePPeerIdentity? {
        channel.eventLoop.preconditionInEventLoop()
        let pipeline = channel.pipeline.syncOperations
        return TLSSession.peerIdentity(pipeline) ?? (try? pipeline.handler(type: PeerIdentityHandler.self))?.identity
    }

    /// The credentials of the process at the other end of the unix-domain
    /// socket `descriptor` (SO_PEERCRED); nil if the kernel will not say.
    public static func unixCredentials(ofDescriptor descriptor: CInt) -> NinePPeerIdentity? {
        var peer = PeerCredentials()
        var size = socklen_t(MemoryLayout<PeerCredentials>.size)
        guard getsockopt(descriptor, SOL_SOCKET, SO_PEERCRED, &peer, &size) == 0 else { return nil }
        return .unixCredentials(uid: peer.uid, gid: peer.gid, pid: peer.pid)
    }
}

/// `struct ucred` of <sys/socket.h> (hidden by glibc without _GNU_SOURCE):
/// what SO_PEERCRED returns.
struct PeerCredentials: Sendable {
    var pid: Int32 = 0
    var uid: UInt32 = 0
    var gid: UInt32 = 0
}

/// Holds what was learned of the peer when the connection was accepted
/// (`NinePPeerIdentity.of` finds it); passes everything through.
final class PeerIdentityHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    let identity: NinePPeerIdentity

    init(_ identity: NinePPeerIdentity) {
        self.identity = identity
    }

    /// Reads the peer's SO_PEERCRED from an accepted unix-domain channel and
    /// keeps it in the pipeline. On the channel's event loop.
    static func addUnixCredentials(to channel: any Channel) -> EventLoopFuture<Void> {
        guard let provider = channel as? any SocketOptionProvider else { return channel.eventLoop.makeSucceededVoidFuture() }
        let credentials: EventLoopFuture<PeerCredentials> = provider.unsafeGetSocketOption(
            level: NIOBSDSocket.OptionLevel(rawValue: SOL_SOCKET), name: NIOBSDSocket.Option(rawValue: SO_PEERCRED))
        return credentials.flatMapThrowing { peer in
            try channel.pipeline.syncOperations.addHandler(
                PeerIdentityHandler(.unixCredentials(uid: peer.uid, gid: peer.gid, pid: peer.pid)), position: .first)
        }
    }
}
