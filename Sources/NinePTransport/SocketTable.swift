#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
public import NIOCore

/// Who owns the other end of a loopback TCP connection, from the kernel's
/// socket table (sock_diag(7), NETLINK_INET_DIAG), as identd answers it.
///
/// Both ends are on this host, so the kernel knows the peer's socket: the
/// one whose local address and port are our connection's remote ones, and
/// whose remote address and port are our local ones. One exact lookup
/// (SOCK_DIAG_BY_FAMILY without NLM_F_DUMP) asks for it by both pairs.
public enum SocketTable {
    /// The uid owning the socket at `remote` connected to `local`, or nil
    /// when either is not a loopback TCP address or the kernel will not say.
    /// Blocks for one netlink round trip (microseconds).
    public static func ownerOfPeer(local: SocketAddress, remote: SocketAddress) -> UInt32? {
        guard isLoopback(local), isLoopback(remote),
              let localPort = local.port, let remotePort = remote.port,
              let family = family(of: local), family == Self.family(of: remote)
        else { return nil }
        let fd = socket(AF_NETLINK, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), netlinkSockDiag)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 1, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))

        // struct nlmsghdr, then struct inet_diag_req_v2 (linux/inet_diag.h).
        var request: [UInt8] = []
        request.appendNative(UInt32(16 + 56))  // nlmsg_len
        request.appendNative(UInt16(sockDiagByFamily))  // nlmsg_type
        request.appendNative(UInt16(1))  // nlmsg_flags: NLM_F_REQUEST
        request.appendNative(UInt32(1))  // nlmsg_seq
        request.appendNative(UInt32(0))  // nlmsg_pid
        request += [UInt8(family), UInt8(IPPROTO_TCP), 0, 0]  // sdiag_family, sdiag_protocol, idiag_ext, pad
        request.appendNative(UInt32.max)  // idiag_states: all
        // struct inet_diag_sockid, for the peer's socket: "sport" and "src"
        // are its own end, our remote one.
        request.appendNative(UInt16(remotePort).bigEndian)
        request.appendNative(UInt16(localPort).bigEndian)
        request += addressBytes(remote)
        request += addressBytes(local)
        request.appendNative(UInt32(0))  // idiag_if
        request.appendNative(UInt32.max)  // idiag_cookie: INET_DIAG_NOCOOKIE
        request.appendNative(UInt32.max)

        // An unconnected netlink socket sends to the kernel (port id 0).
        guard send(fd, request, request.count, 0) == request.count else { return nil }
        var reply = [UInt8](repeating: 0, count: 8192)
        let received = recv(fd, &reply, reply.count, 0)
        // nlmsghdr (16), then struct inet_diag_msg: family, state, timer,
        // retrans (4), inet_diag_sockid (48), expires, rqueue, wqueue (12), uid.
        let uidOffset = 16 + 4 + 48 + 12
        guard received >= uidOffset + 4 else { return nil }
        let type = UInt16(reply[4]) | UInt16(reply[5]) << 8
        guard type == UInt16(sockDiagByFamily) else { return nil }  // NLMSG_ERROR: no such socket
        return reply.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: uidOffset, as: UInt32.self) }
    }

    /// linux/netlink.h NETLINK_SOCK_DIAG; linux/sock_diag.h SOCK_DIAG_BY_FAMILY.
    private static let netlinkSockDiag: Int32 = 4
    private static let sockDiagByFamily = 20

    private static func family(of address: SocketAddress) -> Int32? {
        switch address {
        case .v4: AF_INET
        case .v6: AF_INET6
        case .unixDomainSocket: nil
        }
    }

    private static func isLoopback(_ address: SocketAddress) -> Bool {
        switch address {
        case .v4(let a): UInt32(bigEndian: a.address.sin_addr.s_addr) >> 24 == 127
        case .v6(let a):
            withUnsafeBytes(of: a.address.sin6_addr) { Array($0) } == [UInt8](repeating: 0, count: 15) + [1]
        case .unixDomainSocket: false
        }
    }

    /// The address as inet_diag_sockid holds it: four big-endian words.
    private static func addressBytes(_ address: SocketAddress) -> [UInt8] {
        switch address {
        case .v4(let a): withUnsafeBytes(of: a.address.sin_addr) { Array($0) } + [UInt8](repeating: 0, count: 12)
        case .v6(let a): withUnsafeBytes(of: a.address.sin6_addr) { Array($0) }
        case .unixDomainSocket: [UInt8](repeating: 0, count: 16)
        }
    }
}

extension [UInt8] {
    fileprivate mutating func appendNative<T: FixedWidthInteger>(_ value: T) {
        Swift.withUnsafeBytes(of: value) { append(contentsOf: $0) }
    }
}
