import Foundation
public import NinePTransport

/// Certificates for TLS tests, as PEM files in a temporary directory: a CA
/// and a server certificate for 127.0.0.1 and localhost signed by it,
/// client certificates on demand, and the wrong things a test needs to see
/// refused (another CA, an expired certificate, another key's pin).
///
/// ```swift
/// let tls = try TLSMaterials()
/// defer { tls.remove() }
/// … --cert tls.serverCertificate --key tls.serverKey --client-ca tls.ca …
/// ```
public struct TLSMaterials: Sendable {
    public let directory: TemporaryDirectory
    /// The CA certificate: clients' `--ca`, servers' `--client-ca`.
    public let ca: String
    /// The server's certificate (127.0.0.1, ::1, localhost) and key.
    public let serverCertificate: String
    public let serverKey: String
    /// The pin of the server's key.
    public let serverPin: NinePTLSPin
    /// Another CA, which signed nothing used here.
    public let otherCA: String
    /// The pin of a key the server does not have.
    public let otherPin: NinePTLSPin
    /// A server certificate from `ca` that expired yesterday, and its key.
    public let expiredServerCertificate: String
    public let expiredServerKey: String

    private let authority: NinePCertificateAuthority

    public init() throws {
        let directory = try TemporaryDirectory(prefix: "ninep-tls")
        self.directory = directory
        let year = Date().addingTimeInterval(365 * 86400)
        let authority = try NinePCertificateAuthority(name: "ninep test CA", notValidAfter: year)
        self.authority = authority
        ca = try Self.write(try authority.certificatePEM, directory.path + "/ca.pem")
        let server = try authority.issueServer(hosts: ["127.0.0.1", "::1", "localhost"], notValidAfter: year)
        serverCertificate = try Self.write(server.certificatePEM, directory.path + "/server.pem")
        serverKey = try Self.write(server.keyPEM, directory.path + "/server.key")
        serverPin = server.pin
        let other = try NinePCertificateAuthority(name: "some other CA", notValidAfter: year)
        otherCA = try Self.write(try other.certificatePEM, directory.path + "/other-ca.pem")
        otherPin = try other.issueServer(hosts: ["127.0.0.1"], notValidAfter: year).pin
        let expired = try authority.issueServer(
            hosts: ["127.0.0.1", "::1", "localhost"], notValidBefore: Date().addingTimeInterval(-10 * 86400),
            notValidAfter: Date().addingTimeInterval(-86400))
        expiredServerCertificate = try Self.write(expired.certificatePEM, directory.path + "/expired-server.pem")
        expiredServerKey = try Self.write(expired.keyPEM, directory.path + "/expired-server.key")
    }

    /// A client certificate for `user` signed by the CA (by `otherCA`'s
    /// kind of stranger with `fromOtherCA`), expired yesterday if asked:
    /// the paths of the certificate and its key.
    public func client(_ user: String, expired: Bool = false, fromOtherCA: Bool = false) throws -> (certificate: String, key: String) {
        let signer = fromOtherCA ? try NinePCertificateAuthority(name: "a stranger's CA", notValidAfter: Date().addingTimeInterval(86400)) : authority
        let issued = expired
            ? try signer.issueClient(
                user: user, notValidBefore: Date().addingTimeInterval(-10 * 86400), notValidAfter: Date().addingTimeInterval(-86400))
            : try signer.issueClient(user: user, notValidAfter: Date().addingTimeInterval(365 * 86400))
        let name = "client-\(user)\(expired ? "-expired" : "")\(fromOtherCA ? "-stranger" : "")"
        return (
            try Self.write(issued.certificatePEM, directory.path + "/\(name).pem"),
            try Self.write(issued.keyPEM, directory.path + "/\(name).key")
        )
    }

    /// A server certificate from the CA for `hosts`: the paths of the certificate and its key.
    public func server(hosts: [String]) throws -> (certificate: String, key: String) {
        let issued = try authority.issueServer(hosts: hosts, notValidAfter: Date().addingTimeInterval(365 * 86400))
        let name = "server-" + hosts.joined(separator: "-")
        return (
            try Self.write(issued.certificatePEM, directory.path + "/\(name).pem"),
            try Self.write(issued.keyPEM, directory.path + "/\(name).key")
        )
    }

    /// The handshake deadline of the settings made here: a bound between
    /// "shook hands" and "never will", far above what a handshake takes on a
    /// busy two-core machine running hundreds of tests at once (debug
    /// BoringSSL included). Tests of the deadline itself set their own.
    public static let handshakeTimeout: Duration = .seconds(60)

    /// Client settings that trust the CA, with a client certificate if given.
    public func clientSettings(_ client: (certificate: String, key: String)? = nil) -> NinePTLSClientSettings {
        var settings = NinePTLSClientSettings(caPath: ca, certificatePath: client?.certificate, keyPath: client?.key)
        settings.handshakeTimeout = Self.handshakeTimeout
        return settings
    }

    /// Server settings with the server certificate, requiring client
    /// certificates from the CA if `requireClients`.
    public func serverSettings(requireClients: Bool = false) -> NinePTLSServerSettings {
        var settings = NinePTLSServerSettings(certificatePath: serverCertificate, keyPath: serverKey, clientCAPath: requireClients ? ca : nil)
        settings.handshakeTimeout = Self.handshakeTimeout
        return settings
    }

    public func remove() {
        directory.remove()
    }

    private static func write(_ text: String, _ path: String) throws -> String {
        try Posix.writeFile(path, Array(text.utf8), mode: path.hasSuffix(".key") ? 0o600 : 0o644)
        return path
    }
}
