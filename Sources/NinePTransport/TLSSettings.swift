#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
public import Logging

/// How a client dialling `tls!host!port` checks the server, and which
/// certificate it shows when the server asks for one.
///
/// The server must satisfy every check given: its certificate chains to a
/// certificate in `caPath` (and names the dialled host), and/or its public
/// key hashes to `pin`. A dial with neither is refused before it starts:
/// TLS that trusts anyone protects against no one.
///
/// The files are read at each dial, so a reconnect after the certificates
/// were renewed uses the new ones.
public struct NinePTLSClientSettings: Sendable, Hashable {
    /// A PEM file of CA certificates the server's certificate must chain to.
    public var caPath: String?
    /// The SHA-256 of the server's SubjectPublicKeyInfo (`ninep cert` prints it).
    public var pin: NinePTLSPin?
    /// The client's certificate (PEM), shown when the server asks for one.
    public var certificatePath: String?
    /// The private key (PEM) of `certificatePath`.
    public var keyPath: String?
    /// How long the handshake may take before the dial fails (a peer that
    /// does not speak TLS may never answer). Default 15 s.
    public var handshakeTimeout: Duration

    public init(
        caPath: String? = nil, pin: NinePTLSPin? = nil, certificatePath: String? = nil, keyPath: String? = nil,
        handshakeTimeout: Duration = .seconds(15)
    ) {
        self.caPath = caPath
        self.pin = pin
        self.certificatePath = certificatePath
        self.keyPath = keyPath
        self.handshakeTimeout = handshakeTimeout
    }

    /// The settings from `NINEP_CA`, `NINEP_PIN`, `NINEP_CERT` and
    /// `NINEP_KEY` (unset or empty variables are left out). A pin that does
    /// not parse throws, naming the variable.
    public static func environment() throws(NinePTLSError) -> NinePTLSClientSettings {
        var settings = NinePTLSClientSettings(
            caPath: environmentValue("NINEP_CA"), certificatePath: environmentValue("NINEP_CERT"),
            keyPath: environmentValue("NINEP_KEY"))
        if let pin = environmentValue("NINEP_PIN") {
            do {
                settings.pin = try NinePTLSPin(parsing: pin)
            } catch {
                throw NinePTLSError("NINEP_PIN: \(error.reason)")
            }
        }
        return settings
    }

    /// What is wrong with these settings for a dial, or nil.
    var problem: String? {
        if caPath == nil && pin == nil {
            return "no way to check the server: give --ca FILE or --pin sha256:HEX (or set NINEP_CA or NINEP_PIN)"
        }
        if (certificatePath == nil) != (keyPath == nil) {
            return certificatePath == nil
                ? "a client key without a certificate: give --cert FILE too (or NINEP_CERT)"
                : "a client certificate without its key: give --key FILE too (or NINEP_KEY)"
        }
        return nil
    }
}

/// What a server listening on `tls!host!port` shows, and whom it lets in.
public struct NinePTLSServerSettings: Sendable {
    /// The server's certificate chain (PEM), leaf first.
    public var certificatePath: String
    /// The private key (PEM) of the certificate.
    public var keyPath: String
    /// With it, every client must show a certificate that chains to a CA in
    /// this PEM file, and the certificate's common name is the client's
    /// identity (`NinePPeerIdentity.certificate`).
    public var clientCAPath: String?
    /// Where refused handshakes are logged (at `.notice`, with the peer's address).
    public var logger: Logger
    /// How long a client may take over its handshake before the connection
    /// is closed (and logged). Default 15 s.
    public var handshakeTimeout: Duration

    public init(
        certificatePath: String, keyPath: String, clientCAPath: String? = nil, logger: Logger = Logger(label: "ninep.tls"),
        handshakeTimeout: Duration = .seconds(15)
    ) {
        self.certificatePath = certificatePath
        self.keyPath = keyPath
        self.clientCAPath = clientCAPath
        self.logger = logger
        self.handshakeTimeout = handshakeTimeout
    }

    /// The settings from `NINEP_CERT`, `NINEP_KEY` and `NINEP_CLIENT_CA`, or
    /// nil when the certificate or the key is not set.
    public static func environment(logger: Logger = Logger(label: "ninep.tls")) -> NinePTLSServerSettings? {
        guard let certificate = environmentValue("NINEP_CERT"), let key = environmentValue("NINEP_KEY") else { return nil }
        return NinePTLSServerSettings(
            certificatePath: certificate, keyPath: key, clientCAPath: environmentValue("NINEP_CLIENT_CA"), logger: logger)
    }
}

/// A pinned server key: `sha256:` and the hex SHA-256 of the DER
/// SubjectPublicKeyInfo of the server's certificate, as `ninep cert`
/// prints it. (The same hash as HPKP's pin-sha256, written in hex.)
public struct NinePTLSPin: Sendable, Hashable, CustomStringConvertible {
    /// The 32 bytes of the hash.
    public let digest: [UInt8]

    public init(digest: [UInt8]) {
        self.digest = digest
    }

    /// Parses `sha256:` followed by 64 hex digits (either case; `:` between
    /// byte pairs allowed, as openssl prints fingerprints).
    public init(parsing text: String) throws(NinePTLSError) {
        let trimmed = text.trimmingSpaces()
        guard trimmed.lowercased().hasPrefix("sha256:") else {
            throw NinePTLSError("bad pin '\(text)': expected sha256:HEX, as 'ninep cert' prints it")
        }
        let hex = trimmed.dropFirst("sha256:".count).filter { $0 != ":" }
        var bytes: [UInt8] = []
        var pending: UInt8?
        for character in hex {
            guard let nibble = character.hexDigitValue else {
                throw NinePTLSError("bad pin '\(text)': '\(character)' is not a hex digit")
            }
            if let high = pending {
                bytes.append(high << 4 | UInt8(nibble))
                pending = nil
            } else {
                pending = UInt8(nibble)
            }
        }
        guard pending == nil, bytes.count == 32 else {
            throw NinePTLSError("bad pin '\(text)': a SHA-256 is 64 hex digits, this has \(hex.count)")
        }
        self.digest = bytes
    }

    /// `sha256:` and 64 lower-case hex digits.
    public var description: String {
        "sha256:" + digest.map { byte in
            let digits = Array("0123456789abcdef")
            return String([digits[Int(byte >> 4)], digits[Int(byte & 0xF)]])
        }.joined()
    }
}

/// A TLS setting that cannot be used, or a TLS handshake that failed, with
/// the reason in words: what was seen and what was expected.
public struct NinePTLSError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Why, in lower case: "the server's key is sha256:…, expected sha256:… (--pin)".
    public var reason: String

    public init(_ reason: String) {
        self.reason = reason
    }

    public var description: String { reason }
}

/// An environment variable's value, or nil when unset or empty.
func environmentValue(_ name: String) -> String? {
    guard let value = getenv(name).map({ String(cString: $0) }), !value.isEmpty else { return nil }
    return value
}
