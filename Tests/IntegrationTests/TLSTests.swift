import Foundation
import Glibc
import NinePTesting
import NinePTransport
import Testing

/// `ninep export --listen tls!…` and its clients, all real processes: the
/// mount over TLS with client certificates (the POSIX suite, and a SIGKILL
/// and restart of the export, which the mount survives with a new
/// handshake), `ninep cert`, and every refusal told on both sides: in the
/// client's error and in the server's log.
@Suite("ninep over tls!", .enabled(if: fuseOrWarn()), .serialized, .timeLimit(.minutes(5)))
struct TLSTests {
    /// The user this test runs as: the name in the client certificates,
    /// so that the export (which knows only this host's users) lets it in.
    static let user: String = {
        guard let entry = getpwuid(geteuid()), let name = entry.pointee.pw_name else { return "root" }
        return String(cString: name)
    }()

    static func serverArguments(_ tls: TLSMaterials, clientCA: Bool = true) -> [String] {
        ["--cert", tls.serverCertificate, "--key", tls.serverKey] + (clientCA ? ["--client-ca", tls.ca] : [])
    }

    @Test func thePosixSuiteOverTLSWithClientCertificates() async throws {
        let tls = try TLSMaterials()
        defer { tls.remove() }
        let client = try tls.client(Self.user)
        let m = try await MountFixture.start(
            serverArguments: Self.serverArguments(tls),
            mountArguments: ["-o", "ca=\(tls.ca),cert=\(client.certificate),key=\(client.key)"],
            listen: "tls!127.0.0.1!0")
        defer { m.forceCleanup() }
        #expect("\(m.server.address!)".hasPrefix("tls!127.0.0.1!"))
        let suite = PosixSuite(root: m.mountpoint, backing: m.exported.path)
        try await runBlocking {
            for check in PosixSuite.Check.allCases { try suite.run(check) }
        }
        try await m.stop()
    }

    @Test func theMountSurvivesAKilledAndRestartedExportWithANewHandshake() async throws {
        let tls = try TLSMaterials()
        defer { tls.remove() }
        let client = try tls.client(Self.user)
        let rig = try await ReconnectTests.Rig.start(
            mountArguments: ["--pin", tls.serverPin.description, "--cert", client.certificate, "--key", client.key],
            listen: "tls!127.0.0.1!0", serverArguments: Self.serverArguments(tls))
        defer { rig.cleanup() }
        let path = rig.mountpoint + "/kept"
        let fd = try Posix.open(path, O_RDWR | O_CREAT | O_CLOEXEC)
        let before = ReconnectTests.pattern(1, count: 64 * 1024)
        try await ReconnectTests.blocking { try Posix.pwrite(fd, before, at: 0, path: path) }
        await rig.killServer()
        let after = ReconnectTests.pattern(2, count: 64 * 1024)
        let pending = Task { try await ReconnectTests.blocking { try Posix.pwrite(fd, after, at: 65536, path: path) } }
        try await rig.restartServer()
        try await pending.value
        let read = try await ReconnectTests.blocking { try Posix.pread(fd, count: 128 * 1024, at: 0, path: path) }
        #expect(read == before + after)
        #expect(try Posix.readFile(rig.exported.path + "/kept") == before + after)
        Posix.close(fd)
        let reconnected = await rig.mount.waitForStandardError(timeout: .seconds(30)) { $0.contains("reconnected") }
        #expect(reconnected, "\(rig.mount.standardError)")
        try await rig.stop()
    }

    /// An export on tls!127.0.0.1!0 with `serverArguments`, a client
    /// command run against it with `clientArguments`: the client must fail
    /// saying every one of `client`, and the server's log must then say
    /// every one of `server`.
    func expectRefused(
        serverArguments: [String], clientArguments: [String], client: [String], server: [String],
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        let exported = try TemporaryDirectory(prefix: "ninep-exported")
        defer { exported.remove() }
        let export = try await NinePProcess.serve(["export"] + serverArguments + [exported.path], listen: "tls!127.0.0.1!0")
        defer { export.stopNow() }
        let command = try NinePProcess.start(["ls"] + clientArguments + ["\(export.address!)", "/"])
        let status = await command.waitForExit(timeout: .seconds(60))
        #expect(status != nil && status != 0, "\(command.commandLine) exited \(status.map(NinePProcess.describe) ?? "late")", sourceLocation: sourceLocation)
        let said = command.standardError
        #expect(client.allSatisfy { said.contains($0) }, "the client said: \(said)", sourceLocation: sourceLocation)
        let logged = await export.waitForStandardError(timeout: .seconds(30)) { text in server.allSatisfy { text.contains($0) } }
        #expect(logged, "the server's log: \(export.standardError)", sourceLocation: sourceLocation)
    }

    @Test func aServerFromAnotherCAIsRefused() async throws {
        let tls = try TLSMaterials()
        defer { tls.remove() }
        try await expectRefused(
            serverArguments: Self.serverArguments(tls, clientCA: false),
            clientArguments: ["--ca", tls.otherCA],
            client: ["issued by 'CN=ninep test CA', not by a CA in --ca \(tls.otherCA)"],
            server: ["TLS connection from 127.0.0.1:", "refused: the client refused this side's certificate"])
    }

    @Test func theWrongPinnedKeyIsRefused() async throws {
        let tls = try TLSMaterials()
        defer { tls.remove() }
        try await expectRefused(
            serverArguments: Self.serverArguments(tls, clientCA: false),
            clientArguments: ["--pin", tls.otherPin.description],
            client: ["the server's key is \(tls.serverPin)", "expected \(tls.otherPin) (--pin)"],
            server: ["TLS connection from 127.0.0.1:", "refused: the client refused this side's certificate"])
    }

    @Test func anExpiredServerCertificateIsRefused() async throws {
        let tls = try TLSMaterials()
        defer { tls.remove() }
        try await expectRefused(
            serverArguments: ["--cert", tls.expiredServerCertificate, "--key", tls.expiredServerKey],
            clientArguments: ["--ca", tls.ca],
            client: ["the server's certificate 'CN=127.0.0.1' expired on"],
            server: ["refused: the client refused this side's certificate"])
    }

    @Test func anExpiredClientCertificateIsRefused() async throws {
        let tls = try TLSMaterials()
        defer { tls.remove() }
        let client = try tls.client(Self.user, expired: true)
        try await expectRefused(
            serverArguments: Self.serverArguments(tls),
            clientArguments: ["--ca", tls.ca, "--cert", client.certificate, "--key", client.key],
            client: ["refused by the server: the client's certificate 'CN=\(Self.user)' expired on"],
            server: ["TLS connection from 127.0.0.1:", "refused: the client's certificate 'CN=\(Self.user)' expired on"])
    }

    @Test func aMissingClientCertificateIsRefusedWhereOneIsRequired() async throws {
        let tls = try TLSMaterials()
        defer { tls.remove() }
        try await expectRefused(
            serverArguments: Self.serverArguments(tls),
            clientArguments: ["--ca", tls.ca],
            client: ["refused by the server: the client showed no certificate", "--cert FILE --key FILE"],
            server: ["refused: the client showed no certificate, and this server requires one signed by its --client-ca"])
    }

    @Test func aClientCertificateFromAnotherCAIsRefused() async throws {
        let tls = try TLSMaterials()
        defer { tls.remove() }
        let client = try tls.client(Self.user, fromOtherCA: true)
        try await expectRefused(
            serverArguments: Self.serverArguments(tls),
            clientArguments: ["--ca", tls.ca, "--cert", client.certificate, "--key", client.key],
            client: ["refused by the server: the client's certificate 'CN=\(Self.user)' is issued by 'CN=a stranger's CA'"],
            server: ["refused: the client's certificate 'CN=\(Self.user)' is issued by 'CN=a stranger's CA', not by a CA in --client-ca \(tls.ca)"])
    }

    @Test func aCertificateForAnUnknownUserIsRefused() async throws {
        let tls = try TLSMaterials()
        defer { tls.remove() }
        let client = try tls.client("nosuchuser9p")
        try await expectRefused(
            serverArguments: Self.serverArguments(tls),
            clientArguments: ["--ca", tls.ca, "--cert", client.certificate, "--key", client.key],
            client: ["attach refused: the client's certificate 'nosuchuser9p' names 'nosuchuser9p', who is not a user on this server"],
            server: ["attach refused: the client's certificate 'nosuchuser9p' names 'nosuchuser9p', who is not a user on this server (connection from"])
    }

    @Test func aCertificateForAnotherUserIsRefusedNamingBoth() async throws {
        let tls = try TLSMaterials()
        defer { tls.remove() }
        let client = try tls.client(Self.user)
        try await expectRefused(
            serverArguments: Self.serverArguments(tls),
            clientArguments: ["--ca", tls.ca, "--cert", client.certificate, "--key", client.key, "--uname", "daemon"],
            client: ["attach as 'daemon' refused: the client's certificate '\(Self.user)' is for '\(Self.user)'"],
            server: ["attach as 'daemon' refused", "(connection from"])
    }

    /// --user-map names the local user a certificate stands for; the attach
    /// may name either, and a name not in the map must be a user itself.
    @Test func aUserMapMapsCertificateNamesToLocalUsers() async throws {
        let tls = try TLSMaterials()
        defer { tls.remove() }
        let client = try tls.client("laptop-9p")
        let map = tls.directory.path + "/users"
        try "# certificate  user\nlaptop-9p \(Self.user)\n".write(toFile: map, atomically: false, encoding: .utf8)
        let exported = try TemporaryDirectory(prefix: "ninep-exported")
        defer { exported.remove() }
        try "hello\n".write(toFile: exported.path + "/greeting", atomically: false, encoding: .utf8)
        try await NinePProcess.withServer(
            ["export"] + Self.serverArguments(tls) + ["--user-map", map, exported.path], listen: "tls!127.0.0.1!0"
        ) { server in
            let ninep = try NinePProcess.executable()
            let base = [ninep, "read", "--ca", tls.ca, "--cert", client.certificate, "--key", client.key]
            for uname in [[], ["--uname", Self.user]] {
                let (status, output) = try await runBlocking { try Posix.run(base + uname + ["\(server.address!)", "/greeting"]) }
                #expect(status == 0 && output == "hello\n", "\(uname): \(output)")
            }
        }
    }

    @Test func ninepCertMakesWhatAServerAndItsClientsNeed() async throws {
        let scratch = try TemporaryDirectory(prefix: "ninep-cert")
        defer { scratch.remove() }
        let dir = scratch.path + "/tls"
        let ninep = try NinePProcess.executable()
        let (madeStatus, madeOutput) = try Posix.run([ninep, "cert", "--dir", dir, "--host", "fs.example", "--user", Self.user])
        #expect(madeStatus == 0, "\(madeOutput)")
        for key in ["ca.key", "server.key", "\(Self.user).key"] {
            var info = stat()
            #expect(stat(dir + "/" + key, &info) == 0 && info.st_mode & 0o777 == 0o600, "\(key) is not 0600")
        }
        let pinned = try NinePTLSPin(certificateFile: dir + "/server.pem")
        #expect(madeOutput.contains("server pin: \(pinned)"), "\(madeOutput)")
        let (pinStatus, pinOutput) = try Posix.run([ninep, "cert", "--pin-of", dir + "/server.pem"])
        #expect(pinStatus == 0 && pinOutput.trimmingCharacters(in: .whitespacesAndNewlines) == pinned.description)
        // A second run reuses the CA and adds a user.
        let (againStatus, againOutput) = try Posix.run([ninep, "cert", "--dir", dir, "--user", "alice"])
        #expect(againStatus == 0 && againOutput.contains("using the CA"), "\(againOutput)")
        #expect(try NinePTLSPin(certificateFile: dir + "/server.pem") == pinned)
        // What it made works: a listing over TLS with client certificates.
        let exported = try TemporaryDirectory(prefix: "ninep-exported")
        defer { exported.remove() }
        try Posix.writeFile(exported.path + "/hello", Array("hi".utf8))
        let export = try await NinePProcess.serve(
            ["export", "--cert", dir + "/server.pem", "--key", dir + "/server.key", "--client-ca", dir + "/ca.pem", exported.path],
            listen: "tls!127.0.0.1!0")
        defer { export.stopNow() }
        let (status, output) = try Posix.run([
            ninep, "ls", "--ca", dir + "/ca.pem", "--cert", dir + "/\(Self.user).pem",
            "--key", dir + "/\(Self.user).key", "\(export.address!)", "/",
        ])
        #expect(status == 0 && output.contains("hello"), "\(output)")
    }
}

/// Plain TCP beyond loopback is refused unless --insecure, which warns.
@Suite("plain TCP listening", .timeLimit(.minutes(2)))
struct PlainTCPListenTests {
    @Test func plainTCPToOtherHostsIsRefusedNamingTheSafeWays() async throws {
        let exported = try TemporaryDirectory(prefix: "ninep-exported")
        defer { exported.remove() }
        let ninep = try NinePProcess.executable()
        let (status, output) = try await runBlocking { try Posix.run([ninep, "export", "--listen", "tcp!*!0", exported.path]) }
        #expect(status != 0)
        #expect(output.contains("would serve plain TCP to other hosts") && output.contains("tls!") && output.contains("exec!ssh"),
                "\(output)")
    }

    @Test func insecureServesAndWarns() async throws {
        let exported = try TemporaryDirectory(prefix: "ninep-exported")
        defer { exported.remove() }
        let server = try await NinePProcess.serve(["export", "--insecure", exported.path], listen: "tcp!0.0.0.0!0")
        defer { server.stopNow() }
        #expect(server.standardError.contains("warning: --insecure: serving plain TCP"), "\(server.standardError)")
        #expect(try await server.stop() == 0)
    }

    /// TLS to other hosts without --client-ca encrypts but authenticates no
    /// client: the server says so at start; with --client-ca it does not.
    @Test func tlsWithoutClientCertificatesWarnsThatNamesAreTakenOnTrust() async throws {
        let exported = try TemporaryDirectory(prefix: "ninep-exported")
        defer { exported.remove() }
        let tls = try TLSMaterials()
        defer { tls.remove() }
        let open = try await NinePProcess.serve(
            ["export"] + TLSTests.serverArguments(tls, clientCA: false) + [exported.path], listen: "tls!0.0.0.0!0")
        defer { open.stopNow() }
        #expect(open.standardError.contains("without --client-ca") && open.standardError.contains("taken on trust"),
                "\(open.standardError)")
        #expect(try await open.stop() == 0)
        let closed = try await NinePProcess.serve(
            ["export"] + TLSTests.serverArguments(tls) + [exported.path], listen: "tls!0.0.0.0!0")
        defer { closed.stopNow() }
        #expect(!closed.standardError.contains("warning"), "\(closed.standardError)")
        #expect(try await closed.stop() == 0)
    }

    @Test func loopbackNeedsNoFlagAndNoWarning() async throws {
        let exported = try TemporaryDirectory(prefix: "ninep-exported")
        defer { exported.remove() }
        let server = try await NinePProcess.serve(["export", exported.path], listen: "tcp!127.0.0.1!0")
        defer { server.stopNow() }
        #expect(!server.standardError.contains("warning"))
        #expect(try await server.stop() == 0)
    }
}
