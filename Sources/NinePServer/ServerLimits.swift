import NIOCore
import Synchronization

/// The limits one server shares among its connections: who may connect
/// (`ConnectionAdmission`), the bytes of replies held (`ReplyBudget`) and
/// the fids held by all connections together.
///
/// Every connection configured with the same `ServerOptions` value shares
/// its `limits`; make one per server.
///
/// Thread safety: any thread; the state is behind a leaf lock (wake-up
/// calls run after it is released).
public final class ServerLimits: Sendable {
    private struct State {
        var admission: ConnectionAdmission
        var budget: ReplyBudget
        let maxFids: Int
        var fids = 0
        /// Connections waiting for the server's reply budget, by connection id.
        var waiters: [Int: @Sendable () -> Void] = [:]
        /// When refusals were last logged, and how many went unlogged since.
        var refusalLogged: NIODeadline?
        var refusalsUnlogged = 0
    }
    private let state: Mutex<State>

    /// Default cap on connections served at once.
    public static let defaultMaxConnections = DescriptorPlan.defaultMaxConnections
    /// Default cap on connections from one peer.
    public static let defaultMaxConnectionsPerPeer = 128
    /// Default cap on fids held by all connections together.
    public static let defaultMaxFids = 1 << 20
    /// Default reply budget of one connection: 16 MiB.
    public static let defaultConnectionReplyBudget = 16 << 20
    /// Default reply budget of the whole server: 256 MiB.
    public static let defaultServerReplyBudget = 256 << 20

    /// - Parameters:
    ///   - maxConnections: connections served at once.
    ///   - maxConnectionsPerPeer: connections from one peer (see `ConnectionAdmission`).
    ///   - maxFids: fids held by all connections together.
    ///   - connectionReplyBudget, serverReplyBudget: see `ReplyBudget`.
    public init(
        maxConnections: Int = ServerLimits.defaultMaxConnections,
        maxConnectionsPerPeer: Int = ServerLimits.defaultMaxConnectionsPerPeer,
        maxFids: Int = ServerLimits.defaultMaxFids,
        connectionReplyBudget: Int = ServerLimits.defaultConnectionReplyBudget,
        serverReplyBudget: Int = ServerLimits.defaultServerReplyBudget
    ) {
        state = Mutex(State(
            admission: ConnectionAdmission(maxConnections: maxConnections, maxPerPeer: maxConnectionsPerPeer),
            budget: ReplyBudget(connectionLimit: connectionReplyBudget, serverLimit: serverReplyBudget),
            maxFids: max(1, maxFids)))
    }

    // MARK: Connections

    /// Counts a new connection from `peer`, or says why not.
    public func admit(peer: String) -> ConnectionAdmission.Decision {
        state.withLock { $0.admission.admit(peer: peer) }
    }

    /// A connection `admit` let in has closed.
    public func release(peer: String) {
        state.withLock { $0.admission.release(peer: peer) }
    }

    /// Whether to log a refusal now: at most one a second, so that a flood
    /// of connections does not flood the log too. Returns the number of
    /// refusals not logged since the last one, or nil to stay quiet.
    func refusalToLog(now: NIODeadline = .now()) -> Int? {
        state.withLock { s in
            if let last = s.refusalLogged, now < last + .seconds(1) {
                s.refusalsUnlogged += 1
                return nil
            }
            defer { s.refusalLogged = now; s.refusalsUnlogged = 0 }
            return s.refusalsUnlogged
        }
    }

    /// Connections served now.
    public var connectionCount: Int { state.withLock { $0.admission.total } }

    /// The cap on connections.
    public var maxConnections: Int { state.withLock { $0.admission.maxConnections } }

    // MARK: Reply budget

    /// Charges `bytes` to connection `id`, which holds `held` bytes. When
    /// the server's budget is what is short, `wake` is called (once, on some
    /// thread) after another connection releases bytes.
    func chargeReply(_ bytes: Int, held: Int, connection id: Int, wake: @escaping @Sendable () -> Void) -> ReplyBudget.Decision {
        state.withLock { s in
            let decision = s.budget.charge(bytes, held: held)
            if decision == .overServerLimit { s.waiters[id] = wake }
            return decision
        }
    }

    /// Gives back bytes `chargeReply` granted and wakes the connections
    /// waiting for the server's budget.
    func releaseReply(_ bytes: Int) {
        let woken = state.withLock { s -> [@Sendable () -> Void] in
            s.budget.release(bytes)
            guard !s.waiters.isEmpty else { return [] }
            defer { s.waiters.removeAll() }
            return Array(s.waiters.values)
        }
        for wake in woken { wake() }
    }

    /// Connection `id` no longer waits (it closed).
    func forgetWaiter(_ id: Int) {
        state.withLock { _ = $0.waiters.removeValue(forKey: id) }
    }

    /// Bytes of replies held now by all connections.
    public var replyBytesHeld: Int { state.withLock { $0.budget.used } }

    /// The reply budget of one connection.
    public var connectionReplyBudget: Int { state.withLock { $0.budget.connectionLimit } }

    // MARK: Fids

    /// Counts a new fid, unless the server holds its cap already.
    func takeFid() -> Bool {
        state.withLock { s in
            guard s.fids < s.maxFids else { return false }
            s.fids += 1
            return true
        }
    }

    /// A fid `takeFid` counted is gone.
    func releaseFid() {
        state.withLock { $0.fids = max(0, $0.fids - 1) }
    }

    /// Fids held now by all connections.
    public var fidCount: Int { state.withLock { $0.fids } }

    /// The cap on fids held by all connections together.
    public var maxFids: Int { state.withLock { $0.maxFids } }
}
