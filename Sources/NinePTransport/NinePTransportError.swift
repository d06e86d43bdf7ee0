#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import NIOCore
import NIOPosix

/// A connection that could not be made or a listener that could not be started.
///
/// The description names the address and the operating system's reason, as
/// Plan 9 does: "cannot dial tcp!127.0.0.1!1: connection refused".
public struct NinePTransportError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What was being attempted.
    public enum Operation: String, Hashable, Sendable {
        case dial
        case listen
    }

    public var operation: Operation
    /// The address, in its canonical string form (see `NinePAddress.description`).
    public var address: String
    /// Why, in lower case: "connection refused", "no service named x is posted".
    public var reason: String

    public init(_ operation: Operation, address: String, reason: String) {
        self.operation = operation
        self.address = address
        self.reason = reason
    }

    public var description: String { "cannot \(operation.rawValue) \(address): \(reason)" }

    /// The operating system's reason inside a NIO or socket error, lower
    /// case, for messages: "connection refused", "broken pipe".
    public static func reason(for error: any Error) -> String {
        osReason(error)
    }
}

/// The text of an errno, lower-cased as Plan 9 writes errors: "connection refused".
func errnoText(_ code: CInt) -> String {
    guard let c = strerror(code) else { return "error \(code)" }
    let text = String(cString: c)
    guard let first = text.first else { return "error \(code)" }
    return first.lowercased() + text.dropFirst()
}

/// The operating system's reason inside a NIO error, for an error message.
func osReason(_ error: any Error) -> String {
    switch error {
    case let e as NinePTransportError:
        return e.reason
    case let e as NinePTLSError:
        return e.reason
    case let e as IOError:
        return errnoText(e.errnoCode)
    case let e as NIOConnectionError:
        if let first = e.connectionErrors.first { return osReason(first.error) }
        if let dns = e.dnsAError ?? e.dnsAAAAError { return "cannot resolve host '\(e.host)': \(dns)" }
        return "no address to connect to for host '\(e.host)'"
    case let e as ChannelError:
        switch e {
        case .connectTimeout: return "connection timed out"
        case .ioOnClosedChannel, .alreadyClosed: return "connection closed"
        default: return String(describing: e)
        }
    default:
        return String(describing: error)
    }
}

/// close(2), for callers where a `close` method shadows the libc function.
func closeDescriptor(_ fd: CInt) {
    _ = close(fd)
}
