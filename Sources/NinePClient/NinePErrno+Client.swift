import Glibc
public import NinePWire

extension NinePErrno {
    /// The errno for any error a client call ends with: a server's error (its
    /// errno when the dialect carried one, else its text through the table),
    /// a client error (a lost connection is `EIO`), or a cancellation (`EINTR`).
    public static func errno(for error: any Error) -> Int32 {
        switch error {
        case let e as NinePError:
            return e.linuxErrno
        case let e as NinePClientError:
            // A fid lost across a reconnect; the other reconnect failures (may or may not have happened, gave up) are EIO.
            if case .staleFid = e.reconnectError { return ESTALE }
            switch e.kind {
            case .server(let server): return server.linuxErrno
            case .walkIncomplete: return ENOENT
            case .linuxError(let errno) where errno > 0 && errno < 4096: return Int32(errno)
            case .connectionLost, .protocolError, .messageTooLarge, .unknownFid, .notAttached,
                .badVersion, .versionRefused, .linuxError, .noAnswer:
                return EIO
            }
        case is CancellationError:
            return EINTR
        default:
            return EIO
        }
    }
}
