import Crypto
public import Foundation
import SwiftASN1
import X509

/// A small certificate authority for `tls!` servers and their clients, so
/// that no openssl incantation is needed (`ninep cert`): ECDSA P-256 keys,
/// SHA-256 signatures, a CA that may sign only end certificates, server
/// certificates naming their hosts and client certificates whose common
/// name is the user's name.
public struct NinePCertificateAuthority: Sendable {
    let certificate: Certificate
    let key: Certificate.PrivateKey

    /// A new CA named `name`, valid from an hour ago (clocks differ) until `notValidAfter`.
    public init(name: String, notValidAfter: Date) throws {
        let signing = P256.Signing.PrivateKey()
        let key = Certificate.PrivateKey(signing)
        let subject = try DistinguishedName { CommonName(name) }
        let publicKey = key.publicKey
        self.certificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: publicKey,
            notValidBefore: Date().addingTimeInterval(-3600), notValidAfter: notValidAfter,
            issuer: subject, subject: subject, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
                SubjectKeyIdentifier(hash: publicKey)
            },
            issuerPrivateKey: key)
        self.key = key
    }

    /// A CA read back from its PEM certificate and key.
    public init(certificatePEM: String, keyPEM: String) throws {
        self.certificate = try Certificate(pemEncoded: certificatePEM)
        self.key = try Certificate.PrivateKey(pemEncoded: keyPEM)
        guard certificate.publicKey == key.publicKey else {
            throw NinePTLSError("the CA key does not belong to the CA certificate")
        }
    }

    /// The CA certificate, PEM.
    public var certificatePEM: String {
        get throws { try certificate.serializeAsPEM().pemString }
    }

    /// The CA key, PEM (PKCS #8). Keep it private: it signs certificates.
    public var keyPEM: String {
        get throws { try key.serializeAsPEM().pemString }
    }

    /// A certificate for a server reachable as `hosts` (DNS names or IP addresses).
    public func issueServer(
        hosts: [String], notValidBefore: Date = Date().addingTimeInterval(-3600), notValidAfter: Date
    ) throws -> NinePIssuedCertificate {
        let names = hosts.map { host -> GeneralName in
            ipAddressBytes(host).map { .ipAddress(ASN1OctetString(contentBytes: ArraySlice($0))) } ?? .dnsName(host)
        }
        return try issue(
            commonName: hosts.first ?? "ninep server", notValidBefore: notValidBefore, notValidAfter: notValidAfter,
            usage: .serverAuth, names: names)
    }

    /// A certificate for the client user `user` (its common name).
    public func issueClient(
        user: String, notValidBefore: Date = Date().addingTimeInterval(-3600), notValidAfter: Date
    ) throws -> NinePIssuedCertificate {
        try issue(commonName: user, notValidBefore: notValidBefore, notValidAfter: notValidAfter, usage: .clientAuth, names: [])
    }

    private func issue(
        commonName: String, notValidBefore: Date, notValidAfter: Date, usage: ExtendedKeyUsage.Usage, names: [GeneralName]
    ) throws -> NinePIssuedCertificate {
        let leafKey = P256.Signing.PrivateKey()
        let publicKey = Certificate.PublicKey(leafKey.publicKey)
        let caKeyIdentifier = try certificate.extensions.subjectKeyIdentifier?.keyIdentifier
        let leaf = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: publicKey,
            notValidBefore: notValidBefore, notValidAfter: notValidAfter,
            issuer: certificate.subject, subject: try DistinguishedName { CommonName(commonName) },
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage([usage])
                SubjectKeyIdentifier(hash: publicKey)
                if let caKeyIdentifier { AuthorityKeyIdentifier(keyIdentifier: caKeyIdentifier) }
                if !names.isEmpty { SubjectAlternativeNames(names) }
            },
            issuerPrivateKey: key)
        return NinePIssuedCertificate(
            certificatePEM: try leaf.serializeAsPEM().pemString, keyPEM: leafKey.pemRepresentation, pin: NinePTLSPin(leaf))
    }
}

/// A certificate made by `NinePCertificateAuthority`, with its key.
public struct NinePIssuedCertificate: Sendable {
    /// The certificate, PEM.
    public let certificatePEM: String
    /// Its private key, PEM (PKCS #8).
    public let keyPEM: String
    /// The pin of its public key, for `--pin`.
    public let pin: NinePTLSPin
}

extension NinePTLSClientSettings {
    /// The common name of the client certificate (`certificatePath`), the
    /// user name a server that checks it will expect; nil without one.
    public func certificateCommonName() -> String? {
        guard let path = certificatePath, let text = try? String(contentsOfFile: path, encoding: .utf8),
              let certificate = try? Certificate(pemEncoded: text)
        else { return nil }
        return TLSPeerCheck.commonName(certificate)
    }
}
