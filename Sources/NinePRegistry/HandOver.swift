#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import NIOPosix
public import NinePTransport
public import NinePWire

/// Hand-over of listening unix sockets with SCM_RIGHTS, on the socket
/// `<ns>/ninep-srv.fd` (plain unix stream, not 9P).
///
/// A server sends one message: the service name (UTF-8, at most 255 bytes)
/// with its bound, listening AF_UNIX socket attached as SCM_RIGHTS. The
/// registry checks the descriptor (a listening unix stream socket with a
/// path), posts `unix!PATH` under the name, keeps the descriptor, and answers
/// "ok\n" or "error: …\n". The socket then stays bound for as long as the
/// entry exists, whatever happens to the server: dialling the entry connects
/// to the registry-held listener, and a server that accepts on its copy (or
/// a later one) answers. The entry counts as alive while some process other
/// than the registry holds the socket (found in /proc/PID/fd), and as gone
/// once only the registry does; `rm` closes the registry's copy.
///
/// Who calls: one thread of a private `NIOThreadPool` accepts and answers
/// hand-overs one at a time; `close()` shuts the socket down to wake it.
final class HandOverListener: Sendable {
    /// The hand-over socket's name in the namespace directory.
    static let socketName = "ninep-srv.fd"

    private let fd: CInt
    private let path: String
    private let pool: NIOThreadPool

    private init(fd: CInt, path: String, pool: NIOThreadPool) {
        self.fd = fd
        self.path = path
        self.pool = pool
    }

    /// Binds `<dir>/ninep-srv.fd` and starts accepting hand-overs for `registry`.
    static func start(directory: String, registry: SrvRegistry) throws -> HandOverListener {
        let path = "\(directory)/\(socketName)"
        unlink(path)  // the 9P socket's liveness check already refused a second registry
        let fd = try ListenerHandOver.listeningSocket(at: path)
        do {
            try RegistryOwner.restrict(socket: path)
        } catch {
            Glibc.close(fd)
            throw error
        }
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        let listener = HandOverListener(fd: fd, path: path, pool: pool)
        pool.submit { _ in listener.acceptLoop(registry) }
        return listener
    }

    private func acceptLoop(_ registry: SrvRegistry) {
        while true {
            let conn = accept(fd, nil, nil)
            if conn < 0 {
                if errno == EINTR || errno == ECONNABORTED { continue }
                return  // shut down
            }
            // A peer that sends nothing must not block the registry forever.
            var limit = timeval(tv_sec: 5, tv_usec: 0)
            setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
            let answer: String
            if let refusal = RegistryOwner.check(descriptor: conn) {
                answer = "error: \(refusal)\n"
            } else {
                answer = Self.answer(registry, Self.receive(conn))
            }
            _ = answer.withCString { send(conn, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
            Glibc.close(conn)
        }
    }

    /// Holds a received hand-over in `registry`; the line to answer.
    private static func answer(_ registry: SrvRegistry, _ received: Result<(String, CInt), HandOverError>) -> String {
        switch received {
        case .failure(let e): return "error: \(e.reason)\n"
        case .success(let (name, passed)):
            do throws(NinePError) {
                try registry.hold(name: name, listener: passed)
                return "ok\n"
            } catch {
                Glibc.close(passed)
                return "error: \(error.ename)\n"
            }
        }
    }

    /// Reads the name and the one descriptor of a hand-over.
    static func receive(_ conn: CInt) -> Result<(String, CInt), HandOverError> {
        var name = [UInt8](repeating: 0, count: 256)
        let control = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: MemoryLayout<cmsghdr>.alignment)
        defer { control.deallocate() }
        let (n, controlLength) = name.withUnsafeMutableBytes { buffer in
            withMessage(buffer, control: control, controlLength: control.count) { recvmsg(conn, &$0, Int32(MSG_CMSG_CLOEXEC)) }
        }
        guard n > 0 else { return .failure(HandOverError("no name received")) }
        var passed: CInt = -1
        if controlLength >= MemoryLayout<cmsghdr>.size {
            let header = control.load(as: cmsghdr.self)
            if header.cmsg_level == SOL_SOCKET, header.cmsg_type == Int32(SCM_RIGHTS),
               Int(header.cmsg_len) >= MemoryLayout<cmsghdr>.size + MemoryLayout<CInt>.size {
                passed = control.load(fromByteOffset: MemoryLayout<cmsghdr>.size, as: CInt.self)
            }
        }
        let text = String(decoding: name[..<n], as: UTF8.self).trimmingCharacters(in: " \n")
        guard passed >= 0 else { return .failure(HandOverError("no descriptor attached (send it with SCM_RIGHTS)")) }
        return .success((text, passed))
    }

    /// Stops accepting and removes the socket file.
    func close() {
        shutdown(fd, Int32(SHUT_RDWR))
        try? pool.syncShutdownGracefully()
        Glibc.close(fd)
        unlink(path)
    }
}

/// Why a hand-over was refused.
struct HandOverError: Error, CustomStringConvertible {
    var description: String { reason }
    let reason: String
    init(_ reason: String) { self.reason = reason }
}

/// The server side of a hand-over: gives the registry a listening unix
/// socket to hold under a name (see `HandOverListener` for the protocol).
///
/// Who calls: any thread; blocks for one short exchange with the registry.
public enum ListenerHandOver {
    /// A unix stream socket bound to `path` and listening (close-on-exec).
    /// - Throws: `NinePTransportError` naming the path and the reason.
    public static func listeningSocket(at path: String) throws(NinePTransportError) -> CInt {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw NinePTransportError(.listen, address: "unix!\(path)", reason: String(cString: strerror(errno))) }
        var address = unixAddress(path)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0, listen(fd, 256) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw NinePTransportError(.listen, address: "unix!\(path)", reason: reason)
        }
        return fd
    }

    /// Sends a duplicate of `listener` (a bound, listening AF_UNIX socket)
    /// to the registry in `directory` to be posted under `name`.
    ///
    /// - Throws: `NinePError` with the registry's reason ("service x
    ///   already posted"), or saying that no registry is running.
    public static func post(name: String, listener: CInt, directory: String = SrvNamespace.directory) throws(NinePError) {
        let path = "\(directory)/\(HandOverListener.socketName)"
        let conn = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard conn >= 0 else { throw NinePError("cannot hand over \(name): \(String(cString: strerror(errno)))") }
        defer { close(conn) }
        var address = unixAddress(path)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(conn, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else {
            throw NinePError("no srv registry accepts hand-overs at \(path) (\(String(cString: strerror(errno)))); start one with 'ninep srv'")
        }
        var limit = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        let space = MemoryLayout<cmsghdr>.size + MemoryLayout<CInt>.size
        let control = UnsafeMutableRawBufferPointer.allocate(byteCount: space, alignment: MemoryLayout<cmsghdr>.alignment)
        defer { control.deallocate() }
        control.initializeMemory(as: UInt8.self, repeating: 0)
        var header = cmsghdr()
        header.cmsg_len = space
        header.cmsg_level = SOL_SOCKET
        header.cmsg_type = Int32(SCM_RIGHTS)
        control.storeBytes(of: header, as: cmsghdr.self)
        control.storeBytes(of: listener, toByteOffset: MemoryLayout<cmsghdr>.size, as: CInt.self)
        var bytes = Array(name.utf8)
        let (sent, _) = bytes.withUnsafeMutableBytes { buffer in
            withMessage(buffer, control: control, controlLength: space) { sendmsg(conn, &$0, Int32(MSG_NOSIGNAL)) }
        }
        guard sent == bytes.count else { throw NinePError("cannot hand over \(name): \(String(cString: strerror(errno)))") }
        var reply = [UInt8](repeating: 0, count: 512)
        let n = reply.withUnsafeMutableBytes { recv(conn, $0.baseAddress, $0.count, 0) }
        let text = n > 0 ? String(decoding: reply[..<n], as: UTF8.self).trimmingCharacters(in: "\n") : ""
        guard text == "ok" else {
            throw NinePError(text.hasPrefix("error: ") ? String(text.dropFirst(7)) : "the srv registry did not answer the hand-over of \(name)")
        }
    }
}

/// A sockaddr_un for `path` (truncated to sun_path's size; callers pass
/// paths NinePAddress has checked to fit).
private func unixAddress(_ path: String) -> sockaddr_un {
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
        path.utf8CString.withUnsafeBytes { raw.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0.prefix(raw.count - 1))) }
    }
    return address
}

/// Runs `body` (sendmsg or recvmsg) on a msghdr with one iovec over
/// `buffer` and `control` as ancillary data; returns its result and the
/// control length it left.
private func withMessage(
    _ buffer: UnsafeMutableRawBufferPointer, control: UnsafeMutableRawBufferPointer, controlLength: Int,
    _ body: (inout msghdr) -> Int
) -> (Int, Int) {
    var iov = iovec(iov_base: buffer.baseAddress, iov_len: buffer.count)
    return withUnsafeMutablePointer(to: &iov) { iovp in
        var msg = msghdr()
        msg.msg_iov = iovp
        msg.msg_iovlen = 1
        msg.msg_control = control.baseAddress
        msg.msg_controllen = controlLength
        let result = body(&msg)
        return (result, Int(msg.msg_controllen))
    }
}
