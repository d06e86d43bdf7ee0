#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import NIOPosix
import NinePTransport
import NinePWire
import Testing

@Suite struct ConnectionTests {
    let group = MultiThreadedEventLoopGroup.singleton

    /// Sends Tversion on `connection` and expects the responder's Rversion.
    func roundTrip(_ connection: NinePConnection, _ inbox: Inbox) async throws {
        try await connection.channel.writeAndFlush(tversion)
        let reply = try #require(await inbox.next())
        #expect(reply == Fcall(tag: .notag, .rversion(Rversion(msize: 8192, version: "9P2000"))))
    }

    @Test func tcpRoundTripOnPortZero() async throws {
        let listener = try await NinePListener.listen("tcp!127.0.0.1!0", group: group, childInitializer: respondToVersion)
        let port = try #require(listener.localAddress.port)
        #expect(port != 0)
        #expect(listener.address == .tcp(host: "127.0.0.1", port: port))
        let inbox = Inbox()
        let connection = try await NinePConnection.dial(listener.address, group: group, configure: inbox.initializer)
        #expect(try await connection.channel.getOption(.tcpOption(.tcp_nodelay)) != 0)
        try await roundTrip(connection, inbox)
        await connection.close()
        await listener.close()
    }

    @Test func unixRoundTripAndUnlinkOnClose() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        let path = dir.path + "/sock"
        let listener = try await NinePListener.listen("unix!" + path, group: group, childInitializer: respondToVersion)
        #expect(listener.address == .unix(path: path))
        #expect(access(path, F_OK) == 0)
        let inbox = Inbox()
        let connection = try await NinePConnection.dial("unix!" + path, group: group, configure: inbox.initializer)
        try await roundTrip(connection, inbox)
        await connection.close()
        await listener.close()
        #expect(access(path, F_OK) != 0, "socket file left behind")
    }

    @Test func unixListenReplacesOnlyStaleSockets() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        let path = dir.path + "/sock"

        // A socket file whose server died without unlinking it.
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        try SocketAddress(unixDomainSocketPath: path).withSockAddr { #expect(bind(fd, $0, socklen_t($1)) == 0) }
        close(fd)
        #expect(access(path, F_OK) == 0)
        let listener = try await NinePListener.listen(.unix(path: path), group: group, childInitializer: respondToVersion)

        // A live one is left alone.
        await #expect {
            try await NinePListener.listen(.unix(path: path), group: group, childInitializer: respondToVersion)
        } throws: { error in
            "\(error)" == "cannot listen unix!\(path): address already in use: a server is listening on '\(path)'"
        }
        let inbox = Inbox()
        let connection = try await NinePConnection.dial(.unix(path: path), group: group, configure: inbox.initializer)
        try await roundTrip(connection, inbox)
        await connection.close()
        await listener.close()

        // Not a socket at all: refused, not removed.
        let file = open(path, O_CREAT | O_WRONLY, 0o600)
        close(file)
        await #expect {
            try await NinePListener.listen(.unix(path: path), group: group, childInitializer: respondToVersion)
        } throws: { error in
            "\(error)".contains("exists and is not a socket")
        }
        #expect(access(path, F_OK) == 0)
    }

    @Test func execRoundTripAndReap() async throws {
        let inbox = Inbox()
        // cat echoes our frames: a T-message comes back, so accept any direction.
        let connection = try await NinePConnection.dial("exec!cat", group: group, direction: .any, configure: inbox.initializer)
        let pid = try #require(connection.processID)
        try await connection.channel.writeAndFlush(tversion)
        #expect(await inbox.next() == tversion)
        let twalk = Fcall(tag: Tag(1), .twalk(Twalk(fid: Fid(0), newfid: Fid(1), wname: ["a", "b"])))
        try await connection.channel.writeAndFlush(twalk)
        #expect(await inbox.next() == twalk)
        await connection.close()
        #expect(try await connection.processExit?.get() == "exited with status 0")
        #expect(kill(pid, 0) == -1 && errno == ESRCH, "child \(pid) not reaped")
    }

    @Test func execChildIgnoringEOFIsTerminated() async throws {
        let connection = try await NinePConnection.dial("exec!exec sleep 60", group: group)
        let pid = try #require(connection.processID)
        await connection.close()
        #expect(try await connection.processExit?.get() == "killed by signal 15")
        #expect(kill(pid, 0) == -1 && errno == ESRCH)
    }

    @Test func execChildThatExitsClosesTheChannel() async throws {
        let connection = try await NinePConnection.dial("exec!exit 3", group: group)
        try await connection.closeFuture.get()
        #expect(try await connection.processExit?.get() == "exited with status 3")
    }

    @Test func dialErrorsNameTheAddressAndReason() async throws {
        // A port bound but not listening: connections to it are refused, and
        // no other test can take it meanwhile.
        let reserved = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(reserved) }
        try SocketAddress(ipAddress: "127.0.0.1", port: 0).withSockAddr { #expect(bind(reserved, $0, socklen_t($1)) == 0) }
        var bound = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        withUnsafeMutablePointer(to: &bound) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { _ = getsockname(reserved, $0, &length) }
        }
        let port = Int(UInt16(bigEndian: bound.sin_port))
        await #expect {
            try await NinePConnection.dial("tcp!127.0.0.1!\(port)", group: group)
        } throws: { error in
            "\(error)" == "cannot dial tcp!127.0.0.1!\(port): connection refused"
        }
        await #expect {
            try await NinePConnection.dial("unix!/nonexistent/ninep.sock", group: group)
        } throws: { error in
            "\(error)" == "cannot dial unix!/nonexistent/ninep.sock: no such file or directory"
        }
        await #expect {
            try await NinePListener.listen(.srv(name: "ramfs"), group: group, childInitializer: respondToVersion)
        } throws: { error in
            "\(error)".hasPrefix("cannot listen srv!ramfs: srv! names can only be dialled")
        }
        await #expect {
            try await NinePListener.listen(.exec(command: "cat"), group: group, childInitializer: respondToVersion)
        } throws: { error in
            "\(error)".contains("exec! addresses can only be dialled")
        }
        await #expect(throws: NinePAddressError.self) {
            try await NinePConnection.dial("tcp!h!x", group: group)
        }
    }

    /// srv! names go to the injected resolver; its address is dialled and
    /// its error reaches the caller as it threw it.
    @Test func serviceNamesAreResolvedByTheInjectedResolver() async throws {
        let listener = try await NinePListener.listen("tcp!127.0.0.1!0", group: group, childInitializer: respondToVersion)
        let resolver = StubResolver(answers: ["ramfs": listener.address])
        let inbox = Inbox()
        let connection = try await NinePConnection.dial(
            "srv!ramfs", group: group, resolver: resolver, configure: inbox.initializer)
        #expect(connection.address == .srv(name: "ramfs"))
        try await roundTrip(connection, inbox)
        await connection.close()
        await #expect {
            try await NinePConnection.dial("nosuch", group: group, resolver: resolver)
        } throws: { error in
            "\(error)" == "cannot dial srv!nosuch: the registry said: no nosuch here"
        }
        await listener.close()
        // A name that resolves to an address where nothing listens says both.
        let gone = StubResolver(answers: ["gone": .unix(path: "/nonexistent/gone.sock")])
        await #expect {
            try await NinePConnection.dial("srv!gone", group: group, resolver: gone)
        } throws: { error in
            "\(error)" == "cannot dial srv!gone: unix!/nonexistent/gone.sock: no such file or directory"
        }
    }

    /// With no resolver installed or given, a srv! dial says so rather than
    /// guessing. (No test installs one: the test process has none.)
    @Test func serviceNamesWithoutAResolverFailClearly() async throws {
        #expect(ServiceResolution.resolver == nil)
        await #expect {
            try await NinePConnection.dial("srv!ramfs", group: group)
        } throws: { error in
            "\(error)".hasPrefix("cannot dial srv!ramfs: this program resolves no service names")
        }
    }

    @Test func listenErrorNamesTheAddress() async throws {
        let first = try await NinePListener.listen("tcp!127.0.0.1!0", group: group, childInitializer: respondToVersion)
        let port = try #require(first.localAddress.port)
        // SO_REUSEADDR does not let two listeners share a port on Linux.
        await #expect {
            try await NinePListener.listen("tcp!127.0.0.1!\(port)", group: group, childInitializer: respondToVersion)
        } throws: { error in
            "\(error)" == "cannot listen tcp!127.0.0.1!\(port): address already in use"
        }
        await first.close()
    }

    @Test func connectionPairCarriesFcallsBothWays() async throws {
        let toServer = Inbox()
        let toClient = Inbox()
        let pair = try await ConnectionPair.make(
            group: group, configureClient: toClient.initializer, configureServer: toServer.initializer)
        try await pair.client.writeAndFlush(tversion)
        #expect(await toServer.next() == tversion)
        let rversion = Fcall(tag: .notag, .rversion(Rversion(msize: 8192, version: "9P2000")))
        try await pair.server.writeAndFlush(rversion)
        #expect(await toClient.next() == rversion)
        await pair.close()
        #expect(await toServer.next() == nil)
    }
}

/// A resolver with a fixed table; unknown names fail with a text of its own.
struct StubResolver: ServiceResolver {
    let answers: [String: NinePAddress]

    func resolve(service name: String, group: any EventLoopGroup) async throws(NinePTransportError) -> NinePAddress {
        guard let address = answers[name] else {
            throw NinePTransportError(.dial, address: "srv!\(name)", reason: "the registry said: no \(name) here")
        }
        return address
    }
}
