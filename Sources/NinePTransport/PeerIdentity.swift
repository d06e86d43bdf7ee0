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
    /// The owner of the other end of a loopback TCP connection, from the
    /// kernel's socket table (`SocketTable`, as identd tells it).
    case loopbackOwner(uid: UInt32)
    /// A server on standard input and output (started by a client's
    /// `exec!`, over ssh for instance) runs as the client's user: its own
    /// credentials are the client's.
    case serverProcess(uid: UInt32)

    public var description: String {
        switch self {
        case .certificate(let name): "certificate '\(name)'"
        case .unixCredentials(let uid, let gid, let pid): "unix credentials uid \(uid) gid \(gid) (pid \(pid))"
        case .loopbackOwner(let uid): "loopback TCP socket owned by uid \(uid)"
        case .serverProcess(let uid): "standard input and output, uid \(uid)"
        }
    }

    /// The uid the kernel vouches for; nil for a certificate.
    public var uid: UInt32? {
        switch self {
        case .certificate: nil
        case .unixCredentials(let uid, _, _), .loopbackOwner(let uid), .serverProcess(let uid): uid
        }
    }

    /// The user name the identity stands for: the certificate's common
    /// name, or the name of the uid in the password database (the number
    /// when it has none).
    public var userName: String {
        switch self {
        case .certificate(let name): name
        case .unixCredentials(let uid, _, _), .loopbackOwner(let uid), .serverProcess(let uid): LocalUser.name(of: uid)
        }
    }

    /// What the transport under `channel` vouches for: the common name of a
    /// TLS client certificate the server checked, the credentials of a
    /// unix-socket peer or the owner of a loopback TCP peer accepted by
    /// `NinePListener`, or what `record(_:in:)` kept; nil for anything else.
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
    /// The one reader of SO_PEERCRED (channels read it through NIO's
    /// socket options into the same `PeerCredentials`).
    public static func unixCredentials(ofDescriptor descriptor: CInt) -> NinePPeerIdentity? {
        var peer = PeerCredentials()
        var size = socklen_t(MemoryLayout<PeerCredentials>.size)
        guard getsockopt(descriptor, SOL_SOCKET, SO_PEERCRED, &peer, &size) == 0 else { return nil }
        return peer.identity
    }

    /// Who is at the other end of a descriptor this process was given to
    /// serve (standard input, or a socket inetd or systemd accepted): the
    /// process's own user when it is a pipe (a client's `exec!` started us
    /// as itself, over ssh for instance); the peer's credentials when it is
    /// a unix socket; no one when it is a TCP socket, whose peer may be on
    /// another host.
    public static func ofInheritedDescriptor(_ descriptor: CInt) -> NinePPeerIdentity? {
        var storage = sockaddr_storage()
        var size = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let isSocket = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &size) == 0 }
        }
        guard isSocket else { return .serverProcess(uid: geteuid()) }
        switch Int32(storage.ss_family) {
        case AF_UNIX: return unixCredentials(ofDescriptor: descriptor)
        default: return nil
        }
    }

    /// Keeps `identity` in the pipeline of `channel`, for `of(_:)` to find
    /// (a channel made from inherited descriptors). On its event loop.
    public static func record(_ identity: NinePPeerIdentity?, in channel: any Channel) throws {
        guard let identity else { return }
        try channel.pipeline.syncOperations.addHandler(PeerIdentityHandler(identity), position: .first)
    }
}

/// `struct ucred` of <sys/socket.h> (hidden by glibc without _GNU_SOURCE):
/// what SO_PEERCRED returns.
struct PeerCredentials: Sendable {
    var pid: Int32 = 0
    var uid: UInt32 = 0
    var gid: UInt32 = 0

    var identity: NinePPeerIdentity { .unixCredentials(uid: uid, gid: gid, pid: pid) }
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
            try channel.pipeline.syncOperations.addHandler(PeerIdentityHandler(peer.identity), position: .first)
        }
    }

    /// Looks up the owner of a loopback TCP peer in the kernel's socket
    /// table (`SocketTable`) and keeps it in the pipeline; adds nothing for
    /// a peer on another host. On the channel's event loop.
    static func addLoopbackOwner(to channel: any Channel) -> EventLoopFuture<Void> {
        guard let local = channel.localAddress, let remote = channel.remoteAddress,
              let uid = SocketTable.ownerOfPeer(local: local, remote: remote)
        else { return channel.eventLoop.makeSucceededVoidFuture() }
        return channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(PeerIdentityHandler(.loopbackOwner(uid: uid)), position: .first)
        }
    }

}
