/// Where a 9P conversation happens: a parsed dial or listen string.
///
/// The forms follow Plan 9's dial(2) (`net!host!service`) plus the
/// conveniences of plan9port and Unix tools:
///
/// | string                      | meaning                                         |
/// |-----------------------------|-------------------------------------------------|
/// | `tcp!host!port`, `tcp!host` | TCP; the port defaults to 564 (`9fs`)           |
/// | `tcp!*!port`, `*:port`, `:port` | listen on every IPv4 address                |
/// | `tls!host!port`, `tls!host` | TLS 1.3 over TCP (`NinePTLSClientSettings`, `NinePTLSServerSettings`); port 564 by default |
/// | `unix!/path/to/socket`      | a Unix-domain stream socket                     |
/// | `host:port`, `[v6]:port`    | TCP, as most Unix tools write it                |
/// | `exec!command args…`        | run `/bin/sh -c 'command args…'`, speak 9P on its stdin/stdout (dial only) |
/// | `srv!name`, `srv!id1/id2/name` | a service posted in the srv registry (dial only) |
/// | `name` (no `!`, `:` or `/`) | the same as `srv!name`                          |
///
/// A bare word is a posted service name, as in Plan 9's `mount /srv/name`;
/// write `tcp!host` for the 9P port of a host.///
/// IPv6 hosts may be written bare or in brackets in the `tcp!` form
/// (`tcp!::1!564`, `tcp![::1]!564`) and must be bracketed in the colon form
/// when a port follows (`[::1]:564`).
public enum NinePAddress: Hashable, Sendable, CustomStringConvertible {
    /// A TCP endpoint. For listening, `host` "0.0.0.0" or "::" means every address.
    case tcp(host: String, port: Int)
    /// TLS 1.3 over TCP, with the same host and port rules as `tcp`.
    case tls(host: String, port: Int)
    /// A Unix-domain stream socket at `path`.
    case unix(path: String)
    /// A command run by `/bin/sh -c` whose stdin and stdout carry the 9P stream.
    case exec(command: String)
    /// A name in the srv registry (`srv!name`; `id1/id2/name` inside service
    /// directories, relative to `$NINEP_SRVSPEC` unless it starts with "/").
    case srv(name: String)

    /// The standard 9P port ("9fs" in Plan 9's /lib/ndb/common).
    public static let defaultPort = 564

    /// Parses a dial string (the client side: `exec!` allowed, `*` host refused).
    public init(dialString: String) throws(NinePAddressError) {
        self = try Self.parse(dialString, listening: false)
    }

    /// Parses a listen string (the server side: `*` host allowed, `exec!` refused).
    public init(listenString: String) throws(NinePAddressError) {
        self = try Self.parse(listenString, listening: true)
    }

    /// The canonical string for this address, which parses back to it.
    public var description: String {
        switch self {
        case .tcp(let host, let port): "tcp!\(host)!\(port)"
        case .tls(let host, let port): "tls!\(host)!\(port)"
        case .unix(let path): "unix!\(path)"
        case .exec(let command): "exec!\(command)"
        case .srv(let name): "srv!\(name)"
        }
    }

    /// For `tcp!` and `tls!`: whether the host is this host only
    /// (`localhost`, 127.0.0.0/8, `::1`), so that no other host can reach
    /// it. Other kinds of address: nil.
    public var isLoopback: Bool? {
        switch self {
        case .tcp(let host, _), .tls(let host, _):
            if host == "localhost" { return true }
            switch ipAddressBytes(host) {
            case let v4? where v4.count == 4: return v4[0] == 127
            case let v6?: return v6 == Array(repeating: 0, count: 15) + [1]
            case nil: return false
            }
        case .unix, .exec, .srv:
            return nil
        }
    }

    static func parse(_ string: String, listening: Bool) throws(NinePAddressError) -> NinePAddress {
        let fail = { (reason: String) in NinePAddressError(string: string, listening: listening, reason: reason) }
        let trimmed = string.trimmingSpaces()
        guard !trimmed.isEmpty else { throw fail("empty address") }
        guard !trimmed.utf8.contains(0) else { throw fail("contains a NUL byte") }

        if let bang = trimmed.firstIndex(of: "!") {
            let network = String(trimmed[..<bang])
            let rest = String(trimmed[trimmed.index(after: bang)...])
            switch network {
            case "tcp", "net", "tls":
                let parts = rest.split(separator: "!", omittingEmptySubsequences: false).map(String.init)
                guard parts.count <= 2 else { throw fail("too many '!' fields (expected \(network)!host!port)") }
                let host = try parseHost(parts[0], listening: listening, fail: fail)
                let port = parts.count == 2 ? try parsePort(parts[1], fail: fail) : defaultPort
                return network == "tls" ? .tls(host: host, port: port) : .tcp(host: host, port: port)
            case "unix":
                guard !rest.isEmpty else { throw fail("missing socket path (expected unix!/path/to/socket)") }
                // sockaddr_un.sun_path holds 108 bytes including the NUL.
                guard rest.utf8.count < 108 else { throw fail("socket path is longer than 107 bytes") }
                return .unix(path: rest)
            case "exec":
                let command = rest.trimmingSpaces()
                guard !command.isEmpty else { throw fail("missing command (expected exec!command args…)") }
                guard !listening else { throw fail("exec! addresses can only be dialled, not listened on") }
                return .exec(command: command)
            case "srv":
                return .srv(name: try parseServiceName(rest, fail: fail))
            default:
                throw fail("unknown network '\(network)'")
            }
        }

        // host:port, [v6]:port, [v6], bare host or bare IPv6 address.
        if trimmed.hasPrefix("[") {
            guard let close = trimmed.firstIndex(of: "]") else { throw fail("missing ']' after IPv6 address") }
            let host = String(trimmed[trimmed.index(after: trimmed.startIndex)..<close])
            let after = trimmed[trimmed.index(after: close)...]
            let port: Int
            if after.isEmpty {
                port = defaultPort
            } else if after.hasPrefix(":") {
                port = try parsePort(String(after.dropFirst()), fail: fail)
            } else {
                throw fail("unexpected '\(after)' after ']' (expected [v6]:port)")
            }
            return .tcp(host: try parseHost(host, listening: listening, fail: fail), port: port)
        }
        let colons = trimmed.count(where: { $0 == ":" })
        if colons == 1, let colon = trimmed.firstIndex(of: ":") {
            let host = try parseHost(String(trimmed[..<colon]), listening: listening, fail: fail)
            return .tcp(host: host, port: try parsePort(String(trimmed[trimmed.index(after: colon)...]), fail: fail))
        }
        // Several colons: a bare IPv6 address on port 564.
        if colons > 1 { return .tcp(host: try parseHost(trimmed, listening: listening, fail: fail), port: defaultPort) }
        // No '!', ':' or '/': a posted service name.
        guard !trimmed.contains("/") else { throw fail("a path needs unix! in front of it (unix!\(trimmed))") }
        return .srv(name: try parseServiceName(trimmed, fail: fail))
    }

    private static func parseHost(
        _ raw: String, listening: Bool, fail: (String) -> NinePAddressError
    ) throws(NinePAddressError) -> String {
        var host = raw
        if host.hasPrefix("[") && host.hasSuffix("]") && host.count >= 2 {
            host = String(host.dropFirst().dropLast())
        }
        if host == "*" || (host.isEmpty && listening) {
            guard listening else { throw fail("cannot dial the wildcard host '*'") }
            return "0.0.0.0"
        }
        guard !host.isEmpty else { throw fail("missing host") }
        guard !host.contains(where: { $0 == " " || $0 == "\t" || $0 == "/" || $0 == "!" }) else {
            throw fail("bad host '\(host)'")
        }
        return host
    }

    /// A registry path: components separated by "/", none empty, "." or "..",
    /// no "!" and no blanks; a leading "/" makes it absolute.
    private static func parseServiceName(_ raw: String, fail: (String) -> NinePAddressError) throws(NinePAddressError) -> String {
        guard !raw.isEmpty else { throw fail("missing service name (expected srv!name)") }
        let parts = (raw.hasPrefix("/") ? raw.dropFirst() : raw[...]).split(separator: "/", omittingEmptySubsequences: false)
        for part in parts {
            guard !part.isEmpty, part != ".", part != "..",
                  !part.contains(where: { $0 == "!" || $0 == " " || $0 == "\t" })
            else { throw fail("bad service name '\(raw)' (expected name or id1/id2/name)") }
        }
        return raw
    }

    private static func parsePort(_ raw: String, fail: (String) -> NinePAddressError) throws(NinePAddressError) -> Int {
        switch raw {
        case "": throw fail("missing port")
        case "9fs", "9pfs": return defaultPort
        default:
            guard raw.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }), raw.utf8.count <= 5,
                  let port = Int(raw), port <= 65535
            else { throw fail("bad port '\(raw)' (expected a number from 0 to 65535)") }
            return port
        }
    }
}

/// A dial or listen string that does not parse.
///
/// Its description names the string, the problem, and the accepted forms:
/// "bad dial string 'foo!x': unknown network 'foo' (expected tcp!host!port, …)".
public struct NinePAddressError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The string as given.
    public var string: String
    /// Whether it was parsed as a listen string rather than a dial string.
    public var listening: Bool
    /// What is wrong with it.
    public var reason: String

    public init(string: String, listening: Bool, reason: String) {
        self.string = string
        self.listening = listening
        self.reason = reason
    }

    public var description: String {
        let expected = listening
            ? "tcp!host!port, tcp!*!port, tls!*!port, unix!/path, host:port or srv!name"
            : "tcp!host!port, tls!host!port, unix!/path, host:port, [v6]:port, exec!command or srv!name"
        return "bad \(listening ? "listen" : "dial") string '\(string)': \(reason) (expected \(expected))"
    }
}

extension String {
    func trimmingSpaces() -> String {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
              let last = scalars.lastIndex(where: { !$0.properties.isWhitespace })
        else { return "" }
        return String(scalars[first...last])
    }
}
