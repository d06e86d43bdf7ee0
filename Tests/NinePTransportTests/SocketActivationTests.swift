#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import NIOPosix
@testable import NinePTransport
import NinePWire
import Testing

@Suite struct SocketActivationTests {
    let group = MultiThreadedEventLoopGroup.singleton

    @Test func descriptorsFollowSdListenFds() throws {
        // Nothing passed, or passed to another process (a parent's environment).
        #expect(try SocketActivation.descriptors(listenPID: nil, listenFDs: nil, listenFDNames: nil, pid: 42).isEmpty)
        #expect(try SocketActivation.descriptors(listenPID: "41", listenFDs: "1", listenFDNames: nil, pid: 42).isEmpty)
        #expect(try SocketActivation.descriptors(listenPID: "42", listenFDs: nil, listenFDNames: nil, pid: 42).isEmpty)

        let two = try SocketActivation.descriptors(listenPID: "42", listenFDs: "2", listenFDNames: "ninep:", pid: 42)
        #expect(two.map(\.descriptor) == [3, 4])
        #expect(two.map(\.name) == ["ninep", nil])
        #expect(try SocketActivation.descriptors(listenPID: "42", listenFDs: "1", listenFDNames: nil, pid: 42).map(\.name) == [nil])
        #expect(try SocketActivation.descriptors(listenPID: "42", listenFDs: "0", listenFDNames: nil, pid: 42).isEmpty)

        #expect(throws: SocketActivationError.malformed("LISTEN_FDS=x")) {
            try SocketActivation.descriptors(listenPID: "42", listenFDs: "x", listenFDNames: nil, pid: 42)
        }
        #expect(throws: SocketActivationError.malformed("LISTEN_PID=-1")) {
            try SocketActivation.descriptors(listenPID: "-1", listenFDs: "1", listenFDNames: nil, pid: 42)
        }
        #expect(throws: SocketActivationError.malformed("LISTEN_FDNAMES names 1 sockets but LISTEN_FDS=2")) {
            try SocketActivation.descriptors(listenPID: "42", listenFDs: "2", listenFDNames: "a", pid: 42)
        }
    }

    /// A socket bound and listening here, as systemd would hand it over.
    func boundSocket(_ address: SocketAddress) throws -> Int32 {
        let fd = socket(Int32(address.protocol.rawValue), Int32(SOCK_STREAM.rawValue), 0)
        try #require(fd >= 0)
        let bound = address.withSockAddr { bind(fd, $0, socklen_t($1)) }
        try #require(bound == 0, "bind: \(errno)")
        try #require(listen(fd, 16) == 0)
        return fd
    }

    @Test func servesAnInheritedTCPSocket() async throws {
        let fd = try boundSocket(try SocketAddress(ipAddress: "127.0.0.1", port: 0))
        let socket = try SocketActivation.inspect(fd, name: "ninep")
        #expect(socket.isListening)
        #expect(socket.name == "ninep")
        guard case .tcp(let host, let port) = socket.address else {
            Issue.record("not TCP: \(socket.address)")
            return
        }
        #expect(host == "127.0.0.1" && port != 0)

        let listener = try await NinePListener.listen(adopting: socket, group: group, childInitializer: respondToVersion)
        #expect(listener.address == socket.address)
        let inbox = Inbox()
        let connection = try await NinePConnection.dial(listener.address, group: group, configure: inbox.initializer)
        try await connection.channel.writeAndFlush(tversion)
        #expect(await inbox.next() == Fcall(tag: .notag, .rversion(Rversion(msize: 8192, version: "9P2000"))))
        await connection.close()
        await listener.close()
    }

    @Test func servesAnInheritedUnixSocketAndLeavesItsFile() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        let path = dir.path + "/activated.sock"
        let fd = try boundSocket(try SocketAddress(unixDomainSocketPath: path))
        let socket = try SocketActivation.inspect(fd, name: nil)
        #expect(socket == InheritedSocket(descriptor: fd, name: nil, isListening: true, address: .unix(path: path)))

        let listener = try await NinePListener.listen(adopting: socket, group: group, childInitializer: respondToVersion)
        let inbox = Inbox()
        let connection = try await NinePConnection.dial(.unix(path: path), group: group, configure: inbox.initializer)
        try await connection.channel.writeAndFlush(tversion)
        #expect(await inbox.next() != nil)
        await connection.close()
        await listener.close()
        // The service manager bound the file and removes it, not us.
        #expect(access(path, F_OK) == 0)
    }

    @Test func refusesWhatCannotBeServed() throws {
        var fds: [Int32] = [0, 0]
        try #require(pipe(&fds) == 0)
        defer { fds.forEach { close($0) } }
        #expect(throws: SocketActivationError.self) { try SocketActivation.inspect(fds[0], name: nil) }
        let datagram = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(datagram) }
        #expect(throws: SocketActivationError.unusable(descriptor: datagram, reason: "not a stream socket (use ListenStream=)")) {
            try SocketActivation.inspect(datagram, name: nil)
        }
    }

    @Test func anAcceptedConnectionIsNotListening() throws {
        var pair: [Int32] = [0, 0]
        try #require(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &pair) == 0)
        defer { pair.forEach { close($0) } }
        let socket = try SocketActivation.inspect(pair[0], name: "connection")
        #expect(!socket.isListening)
        #expect(socket.address == .unix(path: ""))
    }
}
