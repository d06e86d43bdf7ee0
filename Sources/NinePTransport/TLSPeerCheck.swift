import Crypto
import Foundation
import SwiftASN1
import X509

/// Decides whether a TLS peer's certificate is acceptable, and says in
/// words why not: what the peer showed and what was expected.
///
/// Pure but for the clock passed in; the handshake's verification callback
/// carries its verdict out (`TLSSession`). The checks:
/// - `roots` (from `caPath`): the chain must lead to one of them under
///   RFC 5280 (signatures, validity dates, CA constraints) and, when
///   `host` is set, the leaf must name that host (DNS name or IP address).
/// - `pin`: the SHA-256 of the leaf's SubjectPublicKeyInfo must match.
struct TLSPeerCheck: Sendable {
    /// "the server" or "the client", for messages.
    var peer: String
    /// Where `roots` came from, for messages ("--ca /etc/ninep/ca.pem").
    var rootsSource: String
    var roots: [Certificate]
    var pin: NinePTLSPin?
    /// The dialled host the server's certificate must name; nil on the server side.
    var host: String?

    /// What the check found.
    enum Verdict: Sendable, Equatable {
        /// Acceptable; the leaf's common name, if it has one.
        case accepted(commonName: String?)
        case refused(String)
    }

    /// Checks `chain` (leaf first, as the peer sent it); `now` is the time
    /// the leaf's dates are checked against first, for a message that
    /// names them (the chain's are checked against the clock).
    func check(_ chain: [Certificate], now: Date) async -> Verdict {
        guard let leaf = chain.first else { return .refused("\(peer) showed no certificate") }
        let seen = Self.describe(leaf)
        if let pin {
            let key = NinePTLSPin(leaf)
            guard key == pin else {
                return .refused("\(peer)'s key is \(key) (certificate \(seen)), expected \(pin) (--pin)")
            }
        }
        if !roots.isEmpty {
            if let expiry = Self.outsideValidity(leaf, now: now) {
                return .refused("\(peer)'s certificate \(seen) \(expiry)")
            }
            var verifier = Verifier(rootCertificates: CertificateStore(roots)) {
                RFC5280Policy()
                if let host {
                    ServerIdentityPolicy(serverHostname: isIPAddress(host) ? nil : host, serverIP: isIPAddress(host) ? host : nil)
                }
            }
            let result = await verifier.validate(leaf: leaf, intermediates: CertificateStore(chain.dropFirst()))
            switch result {
            case .validCertificate:
                break
            case .couldNotValidate(let failures):
                let expected = roots.map { Self.describe($0) }.joined(separator: ", ")
                if failures.isEmpty {
                    return .refused(
                        "\(peer)'s certificate \(seen) is issued by '\(leaf.issuer)', not by a CA in \(rootsSource) (\(expected))")
                }
                if let host, leafNames(leaf, host: host) == false {
                    return .refused(
                        "\(peer)'s certificate \(seen) does not name '\(host)' (it names \(Self.names(leaf)))")
                }
                let reasons = Set(failures.map { "\($0.policyFailureReason)" }).sorted().joined(separator: "; ")
                return .refused("\(peer)'s certificate \(seen) is not acceptable under \(rootsSource) (\(expected)): \(reasons)")
            }
        }
        return .accepted(commonName: Self.commonName(leaf))
    }

    /// A certificate as messages name it: its subject, "'CN=ninep server'".
    static func describe(_ certificate: Certificate) -> String {
        "'\(certificate.subject)'"
    }

    /// The first common name of the certificate's subject.
    static func commonName(_ certificate: Certificate) -> String? {
        for rdn in certificate.subject {
            for attribute in rdn where attribute.type == .RDNAttributeType.commonName {
                return String(attribute.value) ?? attribute.value.description
            }
        }
        return nil
    }

    /// "expired on …" or "is not valid before …", or nil within its dates.
    static func outsideValidity(_ certificate: Certificate, now: Date) -> String? {
        if now > certificate.notValidAfter {
            return "expired on \(certificate.notValidAfter.formatted(.iso8601)) (it is now \(now.formatted(.iso8601)))"
        }
        if now < certificate.notValidBefore {
            return "is not valid before \(certificate.notValidBefore.formatted(.iso8601)) (it is now \(now.formatted(.iso8601)))"
        }
        return nil
    }

    /// The DNS names and IP addresses in the certificate's SAN extension, for messages.
    static func names(_ certificate: Certificate) -> String {
        guard let san = try? certificate.extensions.subjectAlternativeNames else { return "no host names" }
        let names = san.map { name -> String in
            switch name {
            case .dnsName(let dns): return dns
            case .ipAddress(let octets): return ipAddressText(Array(octets.bytes))
            default: return "\(name)"
            }
        }
        return names.isEmpty ? "no host names" : names.joined(separator: ", ")
    }

    /// Whether the leaf names `host` (nil when it cannot tell).
    private func leafNames(_ leaf: Certificate, host: String) -> Bool? {
        guard let san = try? leaf.extensions.subjectAlternativeNames else { return false }
        let wanted = host.lowercased()
        for name in san {
            switch name {
            case .dnsName(let dns) where dns.lowercased() == wanted: return true
            case .dnsName(let dns) where dns.hasPrefix("*."): return nil
            case .ipAddress(let octets) where ipAddressText(Array(octets.bytes)) == ipAddressText(host): return true
            default: continue
            }
        }
        return false
    }
}

extension NinePTLSPin {
    /// The pin of the public key of the first certificate in a PEM file.
    public init(certificateFile path: String) throws(NinePTLSError) {
        self.init(try loadCertificates(path, flag: "certificate")[0])
    }

    init(_ certificate: Certificate) {
        self.init(digest: Array(SHA256.hash(data: certificate.publicKey.subjectPublicKeyInfoBytes)))
    }
}

/// The 4 or 16 bytes of an IPv4 or IPv6 address literal; nil for a name.
func ipAddressBytes(_ host: String) -> [UInt8]? {
    var v4 = in_addr()
    if inet_pton(AF_INET, host, &v4) == 1 { return withUnsafeBytes(of: &v4) { Array($0) } }
    var v6 = in6_addr()
    if inet_pton(AF_INET6, host, &v6) == 1 { return withUnsafeBytes(of: &v6) { Array($0) } }
    return nil
}

/// Whether `host` is an IPv4 or IPv6 address literal.
func isIPAddress(_ host: String) -> Bool {
    ipAddressBytes(host) != nil
}

/// An address in its canonical text, from 4 or 16 bytes or from text.
func ipAddressText(_ bytes: [UInt8]) -> String {
    var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
    let family = bytes.count == 4 ? AF_INET : AF_INET6
    guard bytes.count == 4 || bytes.count == 16,
          bytes.withUnsafeBytes({ inet_ntop(family, $0.baseAddress, &buffer, socklen_t(buffer.count)) }) != nil
    else { return bytes.map { String($0) }.joined(separator: ".") }
    return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

func ipAddressText(_ host: String) -> String {
    ipAddressBytes(host).map { ipAddressText($0) } ?? host
}
