/// Who may connect: a cap on the connections a server holds and on those
/// from one peer (STYLE rule 5: policy as a value; `ServerLimits` keeps it
/// behind a lock and the listener carries the decision out).
///
/// A peer is what `peerKey(of:)` makes of the remote address: the IP
/// address without the port for TCP, `unix` for unix-domain sockets (every
/// local client is one peer; the socket file's permissions say who).
public struct ConnectionAdmission: Sendable, Equatable {
    /// The most connections served at once.
    public let maxConnections: Int
    /// The most connections served at once from one peer.
    public let maxPerPeer: Int
    /// Connections served now.
    public private(set) var total = 0
    /// Connections served now, by peer (peers with none are absent).
    public private(set) var perPeer: [String: Int] = [:]

    /// The answer to a new connection.
    public enum Decision: Sendable, Equatable {
        /// Serve it (and call `release` when it closes).
        case admit
        /// Refuse it: the reason is logged and sent to the client.
        case refuse(String)
    }

    public init(maxConnections: Int, maxPerPeer: Int) {
        self.maxConnections = max(1, maxConnections)
        self.maxPerPeer = max(1, maxPerPeer)
    }

    /// Counts a new connection from `peer` if the caps allow it.
    public mutating func admit(peer: String) -> Decision {
        if total >= maxConnections {
            return .refuse("server busy: too many connections (limit \(maxConnections))")
        }
        let mine = perPeer[peer, default: 0]
        if mine >= maxPerPeer {
            return .refuse("too many connections from \(peer) (limit \(maxPerPeer))")
        }
        total += 1
        perPeer[peer] = mine + 1
        return .admit
    }

    /// A connection from `peer` that `admit` let in has closed.
    public mutating func release(peer: String) {
        guard let mine = perPeer[peer], total > 0 else { return }
        total -= 1
        perPeer[peer] = mine > 1 ? mine - 1 : nil
    }
}
