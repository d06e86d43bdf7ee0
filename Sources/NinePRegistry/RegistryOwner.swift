#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import NIOCore
import NinePTransport

/// Only the user who runs the srv registry (and root) may use it: its
/// sockets are made mode 0600 in its 0700 directory, and a connection from
/// another uid (SO_PEERCRED) is refused with a reason, on the 9P socket and
/// on the hand-over socket alike.
enum RegistryOwner {
    /// `struct ucred` of <sys/socket.h> (hidden by glibc without _GNU_SOURCE).
    struct Credentials: Sendable {
        var pid: Int32 = 0
        var uid: UInt32 = 0
        var gid: UInt32 = 0
    }

    /// Why a peer with `uid` may not use a registry run by `owner`, or nil.
    static func refusal(peerUID uid: UInt32, owner: UInt32 = geteuid()) -> String? {
        if uid == owner || uid == 0 { return nil }
        return "srv registry of uid \(owner): uid \(uid) may not use it"
    }

    /// `refusal` for an accepted unix-domain channel (on its event loop).
    static func check(_ channel: any Channel) -> EventLoopFuture<String?> {
        guard let provider = channel as? any SocketOptionProvider else { return channel.eventLoop.makeSucceededFuture(nil) }
        let credentials: EventLoopFuture<Credentials> = provider.unsafeGetSocketOption(
            level: NIOBSDSocket.OptionLevel(rawValue: SOL_SOCKET), name: NIOBSDSocket.Option(rawValue: SO_PEERCRED))
        return credentials.map { refusal(peerUID: $0.uid) }
            .recover { _ in "srv registry: cannot tell who connected (SO_PEERCRED)" }
    }

    /// `refusal` for an accepted unix socket descriptor.
    static func check(descriptor fd: CInt) -> String? {
        var peer = Credentials()
        var size = socklen_t(MemoryLayout<Credentials>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &size) == 0 else {
            return "srv registry: cannot tell who connected (SO_PEERCRED)"
        }
        return refusal(peerUID: peer.uid)
    }

    /// Makes a socket file readable and writable by its owner only.
    static func restrict(socket path: String) throws(NinePTransportError) {
        guard chmod(path, 0o600) == 0 else {
            throw NinePTransportError(.listen, address: "unix!\(path)", reason: "cannot chmod 600: \(String(cString: strerror(errno)))")
        }
    }
}
