#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import NIOPosix
import NinePClient
import NinePServer
import NinePTesting
import NinePTransport
import NinePWire
import Testing

/// The client and the server over `tls!`, in one process: what is let in,
/// what is refused, and what the refusal says.
@Suite(.timeLimit(.minutes(5)))
struct TLSConnectTests {
    let group = MultiThreadedEventLoopGroup.singleton

    /// A RamFS served on tls!127.0.0.1!0 with the materials' server certificate.
    func serve(_ tls: TLSMaterials, requireClients: Bool = false, certificate: (String, String)? = nil) async throws -> ServerListener {
        var settings = tls.serverSettings(requireClients: requireClients)
        if let certificate { (settings.certificatePath, settings.keyPath) = certificate }
        var options = ServerOptions(tls: settings)
        options.attachPolicy = AttachPolicy(isKnownUser: { $0 != "mallory" })
        return try await NinePServer.listen(RamFS(), on: .tls(host: "127.0.0.1", port: 0), group: group, options: options)
    }

    /// Connects with `settings`, whose handshake deadline becomes `handshakeTimeout`.
    func connect(
        _ address: NinePAddress, _ settings: NinePTLSClientSettings, handshakeTimeout: Duration = TLSMaterials.handshakeTimeout
    ) async throws -> NinePClient {
        var settings = settings
        settings.handshakeTimeout = handshakeTimeout
        return try await NinePClient.connect(to: address, group: group, configuration: NinePClient.Configuration(tls: settings))
    }

    /// Expects `body` to fail with an error whose text contains every one of `parts`.
    func expectRefusal(_ parts: [String], _ body: () async throws -> Void) async {
        await #expect {
            try await body()
        } throws: { error in
            let text = "\(error)"
            return parts.allSatisfy { text.contains($0) } ? true : { print("unexpected error text: \(text)"); return false }()
        }
    }

    @Test func aServerTrustedThroughTheCAServesAndAClientCertificateNamesTheUser() async throws {
        let tls = try TLSMaterials()
        defer { tls.remove() }
        let listener = try await serve(tls, requireClients: true)
        let client = try await connect(listener.address, tls.clientSettings(try tls.client("alice")))
        let root = try await client.attach(uname: "alice")
        #expect(try await client.stat(root).qid.isDirectory)
        #expect(await listener.connections.first?.peerIdentity() == .certificate(commonName: "alice"))
        // The certificate says alice: attaching as anyone else is refused.
        await expectRefusal(["attach as 'bob' refused", "certificate 'alice'"]) {
            _ = try await client.attach(uname: "bob")
        }
        await client.close()
        await listener.close()
    }

    @Test func aPinnedKeyIsEnoughAndTheWrongPinIsRefused() async throws {
        let tls = try TLSMaterials()
        defer { tls.remove() }
        let listener = try await serve(tls)
        let client = try await connect(listener.address, NinePTLSClientSettings(pin: tls.serverPin))
        _ = try await client.attach(uname: "anyone")
        await client.close()
        await expectRefusal(["the server's key is \(tls.serverPin)", "expected \(tls.otherPin) (--pin)"]) {
            _ = try await connect(listener.address, NinePTLSClientSettings(pin: tls.otherPin))
        }
        await listener.close()
    }

    @Test func aServerFromAnotherCAIsRefused() async throws {
        let tls = try TLSMaterials()
        defer { tls.remove() }
        let listener = try await serve(tls)
        await expectRefusal(["cannot dial \(listener.address)", "issued by 'CN=ninep test CA'", "not by a CA in --ca \(tls.otherCA)"]) {
            _ = try await connect(listener.address, NinePTLSClientSettings(caPath: tls.otherCA))
        }
        await listener.close()
    }

    @Test func anExpiredServerCertificateIsRefused() async throws {
        let tls = try TLSMaterials()
        defer { tls.remove() }
        let listener = try await serve(tls, certificate: (tls.expiredServerCertificate, tls.expiredServerKey))
        await expectRefusal(["the server's certificate 'CN=127.0.0.1' expired on"]) {
            _ = try await connect(listener.address, tls.clientSettings())
        }
        await listener.close()
    }

    @Test func aServerNotNamedInItsCertificateIsRefusedAndOneNamedIsNot() async throws {
        let tls = try TLSMaterials()
        defer { tls.remove() }
        let listener = try await serve(tls)
        guard case .tls(_, let port) = listener.address else { Issue.record("not a tls! address"); return }
        // 127.0.0.1 is where it listens, but this certificate names another host.
        let elsewhere = try tls.server(hosts: ["fs.example"])
        let other = try await serve(tls, certificate: elsewhere)
        guard case .tls(_, let otherPort) = other.address else { Issue.record("not a tls! address"); return }
        await expectRefusal(["does not name '127.0.0.1' (it names fs.example)"]) {
            _ = try await connect(.tls(host: "127.0.0.1", port: otherPort), tls.clientSettings())
        }
        // The name it was dialled by counts, not the address: localhost is named.
        let client = try await connect(.tls(host: "localhost", port: port), tls.clientSettings())
        await client.close()
        await other.close()
        await listener.close()
    }

    @Test func aClientWithoutACertificateIsRefusedWhereOneIsRequired() async throws {
        let tls = try TLSMaterials()
        defer { tls.remove() }
        let listener = try await serve(tls, requireClients: true)
        await expectRefusal(["refused by the server: the client showed no certificate", "--cert FILE --key FILE"]) {
            let client = try await connect(listener.address, tls.clientSettings())
            defer { Task { await client.close() } }
            _ = try await client.attach(uname: "alice")
        }
        await listener.close()
    }

    @Test func clientCertificatesFromAnotherCAOrExpiredAreRefused() async throws {
        let tls = try TLSMaterials()
        defer { tls.remove() }
        let listener = try await serve(tls, requireClients: true)
        let refusals = [
            (try tls.client("alice", fromOtherCA: true), "is issued by 'CN=a stranger's CA', not by a CA in --client-ca \(tls.ca)"),
            (try tls.client("alice", expired: true), "expired on"),
        ]
        for (client, reason) in refusals {
            await expectRefusal(["refused by the server: the client's certificate 'CN=alice' \(reason)"]) {
                let connection = try await connect(listener.address, tls.clientSettings(client))
                defer { Task { await connection.close() } }
                _ = try await connection.attach(uname: "alice")
            }
        }
        await listener.close()
    }

    @Test func aCertificateForAnUnknownUserIsRefusedAtAttach() async throws {
        let tls = try TLSMaterials()
        defer { tls.remove() }
        let listener = try await serve(tls, requireClients: true)
        let client = try await connect(listener.address, tls.clientSettings(try tls.client("mallory")))
        await expectRefusal(["certificate 'mallory' names 'mallory', who is not a user on this server"]) {
            _ = try await client.attach(uname: "mallory")
        }
        await client.close()
        await listener.close()
    }

    @Test func settingsThatCannotWorkAreRefusedBeforeDialling() async throws {
        let tls = try TLSMaterials()
        defer { tls.remove() }
        let address = NinePAddress.tls(host: "127.0.0.1", port: 1)
        await expectRefusal(["cannot dial tls!127.0.0.1!1: no way to check the server: give --ca FILE or --pin sha256:HEX"]) {
            _ = try await connect(address, NinePTLSClientSettings())
        }
        await expectRefusal(["--ca /nonexistent/ca.pem: no such file or directory"]) {
            _ = try await connect(address, NinePTLSClientSettings(caPath: "/nonexistent/ca.pem"))
        }
        await expectRefusal(["a client certificate without its key"]) {
            _ = try await connect(address, NinePTLSClientSettings(caPath: tls.ca, certificatePath: tls.serverCertificate))
        }
        await expectRefusal(["cannot listen tls!127.0.0.1!0", "--key /nonexistent/server.key: no such file or directory"]) {
            _ = try await NinePServer.listen(
                RamFS(), on: .tls(host: "127.0.0.1", port: 0), group: group,
                options: ServerOptions(tls: NinePTLSServerSettings(certificatePath: tls.serverCertificate, keyPath: "/nonexistent/server.key")))
        }
    }

    @Test func aTLSClientMeetingAPlainServerSaysSo() async throws {
        let tls = try TLSMaterials()
        defer { tls.remove() }
        let listener = try await NinePServer.listen(RamFS(), on: .tcp(host: "127.0.0.1", port: 0), group: group)
        guard case .tcp(_, let port) = listener.address else { Issue.record("not a tcp! address"); return }
        // The plain server may wait for the rest of what it takes for a
        // long 9P message: the handshake's deadline ends the wait.
        await expectRefusal(["cannot dial tls!127.0.0.1!\(port)"]) {
            _ = try await connect(.tls(host: "127.0.0.1", port: port), tls.clientSettings(), handshakeTimeout: .seconds(2))
        }
        await listener.close()
    }

    @Test func theConnectDeadlineCoversTheHandshakeAndClosesItsConnection() async throws {
        let tls = try TLSMaterials()
        defer { tls.remove() }
        // Accepts and never says a word: the handshake never ends.
        let accepted = AsyncStream<any Channel>.makeStream()
        let silent = try await ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                accepted.continuation.yield(channel)
                return channel.eventLoop.makeSucceededVoidFuture()
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let port = try #require(silent.localAddress?.port)
        var settings = tls.clientSettings()
        settings.handshakeTimeout = .seconds(600)
        let start = ContinuousClock.now
        await #expect {
            _ = try await NinePClient.connect(
                to: .tls(host: "127.0.0.1", port: port), attachingAs: "glenda", group: group,
                configuration: NinePClient.Configuration(tls: settings, connectTimeout: .seconds(2)))
        } throws: { error in
            (error as? NinePClientError)?.kind == .noAnswer(request: "connect", within: .seconds(2))
        }
        #expect(ContinuousClock.now - start < .seconds(60), "the deadline, not the handshake's 600 s, ended it")
        // The client closed the connection it was shaking hands on.
        var connections = accepted.stream.makeAsyncIterator()
        let connection = try #require(await connections.next())
        try await connection.closeFuture.get()
        try await silent.close()
    }

    @Test func pinsParseAndPrintAsNinepCertPrintsThem() throws {
        let tls = try TLSMaterials()
        defer { tls.remove() }
        let text = tls.serverPin.description
        #expect(text.hasPrefix("sha256:") && text.count == 7 + 64)
        #expect(try NinePTLSPin(parsing: text) == tls.serverPin)
        #expect(try NinePTLSPin(parsing: text.uppercased().replacingOccurrences(of: "SHA256:", with: "sha256:")) == tls.serverPin)
        #expect(try NinePTLSPin(certificateFile: tls.serverCertificate) == tls.serverPin)
        #expect(throws: NinePTLSError.self) { try NinePTLSPin(parsing: "sha256:abc") }
        #expect(throws: NinePTLSError.self) { try NinePTLSPin(parsing: "md5:" + String(repeating: "0", count: 64)) }
    }
}

/// What the transport vouches for about a client, as the server sees it.
@Suite(.timeLimit(.minutes(2)))
struct PeerIdentityTests {
    @Test func aUnixSocketPeerIsKnownByItsCredentials() async throws {
        let dir = try TemporaryDirectory(prefix: "ninep-peer")
        defer { dir.remove() }
        let group = MultiThreadedEventLoopGroup.singleton
        let listener = try await NinePServer.listen(RamFS(), unixPath: dir.path + "/9p.sock", group: group)
        let client = try await NinePClient.connect(to: listener.address, group: group)
        _ = try await client.attach(uname: "glenda")
        #expect(await listener.connections.first?.peerIdentity() == .unixCredentials(uid: getuid(), gid: getgid(), pid: getpid()))
        await client.close()
        await listener.close()
    }

    @Test func aPlainTCPPeerIsNobodyInParticular() async throws {
        let group = MultiThreadedEventLoopGroup.singleton
        let listener = try await NinePServer.listen(RamFS(), on: .tcp(host: "127.0.0.1", port: 0), group: group)
        let client = try await NinePClient.connect(to: listener.address, group: group)
        _ = try await client.attach(uname: "glenda")
        let connection = try #require(listener.connections.first)
        #expect(await connection.peerIdentity() == nil)
        await client.close()
        await listener.close()
    }
}
