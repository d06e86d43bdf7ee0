public import NinePWire
import Glibc

/// A failed 9P client operation: what was attempted, on which file, on which
/// server, and why.
///
/// A server's Rerror is kept verbatim in `.server(NinePError)`: the text is
/// never rewritten, so that the FUSE bridge and the CLI can show (and map)
/// exactly what the server said. The description reads like Plan 9's:
/// "open /usr/glenda/lib on tcp!localhost!564: file does not exist".
public struct NinePClientError: Error, Sendable, CustomStringConvertible {
    /// What went wrong.
    public enum Kind: Sendable, Hashable, CustomStringConvertible {
        /// The server answered Rerror; its ename, verbatim.
        case server(NinePError)
        /// The connection closed or failed; every pending call fails with this.
        case connectionLost(reason: String)
        /// The server would not speak the version offered: it answered
        /// Tversion with "unknown" (version(5)), an Rerror, or a 9P2000.L
        /// Rlerror. `answer` says which, in words.
        case versionRefused(offered: String, answer: String)
        /// The server answered with a 9P2000.L Rlerror: a Linux errno.
        case linuxError(errno: UInt32)
        /// The server did not answer `request` (or the connection could not
        /// be made, for "connect") within the connect deadline.
        case noAnswer(request: String, within: Duration)
        /// The server chose a version or msize this client cannot speak.
        case badVersion(String)
        /// The server broke the protocol (wrong reply type, malformed reply, too much data).
        case protocolError(String)
        /// A walk stopped short: the element `name` does not exist (or is not a directory).
        case walkIncomplete(name: String)
        /// A request would not fit in the negotiated msize.
        case messageTooLarge(size: Int, msize: UInt32)
        /// The high-level API needs a fid it did not hand out (or one already clunked).
        case unknownFid(Fid)
        /// A path operation was used before `attach`.
        case notAttached

        public var description: String {
            switch self {
            case .server(let error): error.ename
            case .connectionLost(let reason): "connection lost: \(reason)"
            case .versionRefused(let offered, let answer): "refused version \(offered): \(answer)"
            case .linuxError(let errno): "Rlerror \(Self.errnoText(errno)) (a 9P2000.L reply)"
            case .noAnswer(let request, let within):
                request == "connect"
                    ? "could not connect within \(within.reconnectSecondsText) (--connect-timeout)"
                    : "no answer to \(request) within \(within.reconnectSecondsText) (--connect-timeout); is it a 9P2000 server?"
            case .badVersion(let what): what
            case .protocolError(let what): "protocol error: \(what)"
            case .walkIncomplete(let name): "'\(name)' does not exist"
            case .messageTooLarge(let size, let msize): "message of \(size) bytes exceeds msize \(msize)"
            case .unknownFid(let fid): "fid \(fid) is not open on this client"
            case .notAttached: "not attached (call attach first)"
            }
        }

        /// "errno 22 (Invalid argument)": a Linux errno with the local C library's text.
        static func errnoText(_ errno: UInt32) -> String {
            guard errno > 0, errno < 4096, let text = strerror(Int32(errno)) else { return "errno \(errno)" }
            return "errno \(errno) (\(String(cString: text)))"
        }
    }

    public var kind: Kind
    /// The operation: "walk", "open", "read", or the T-message on the low-level path.
    public var operation: String?
    /// The file concerned, as far as the client knows it ("/a/b").
    public var path: String?
    /// The server's address ("tcp!host!564"), when known.
    public var server: String?

    /// Set when the request failed because of a lost connection rather than
    /// a server answer (the reconnecting transport): stale file, may or may
    /// not have happened, gave up. `kind` is then `.connectionLost` with its text.
    public var reconnectError: ReconnectError?

    public init(_ kind: Kind, operation: String? = nil, path: String? = nil, server: String? = nil) {
        self.kind = kind
        self.operation = operation
        self.path = path
        self.server = server
    }

    /// A request failed by the reconnecting transport.
    public init(reconnect error: ReconnectError, operation: String? = nil, path: String? = nil, server: String? = nil) {
        self.init(.connectionLost(reason: error.description), operation: operation, path: path, server: server)
        self.reconnectError = error
    }

    /// The errno of a 9P2000.L Rlerror that answered the request (or, on a
    /// reconnecting client, ended a session not yet established), if that is what happened.
    public var linuxErrno: UInt32? {
        if case .linuxError(let errno) = kind { return errno }
        if case .lostBeforeAttach(_, .linuxError(let errno)) = reconnectError { return errno }
        return nil
    }

    /// The server's error, if this is one: compare with `NinePError` constants.
    public var ninePError: NinePError? {
        if case .server(let error) = kind { return error }
        return nil
    }

    public var description: String {
        var head = [operation, path].compactMap { $0 }.joined(separator: " ")
        if let server { head += head.isEmpty ? server : " on \(server)" }
        let why = reconnectError.map(\.description) ?? kind.description
        return head.isEmpty ? why : "\(head): \(why)"
    }
}
