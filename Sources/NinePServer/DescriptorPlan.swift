/// How a server shares out its file descriptors (STYLE rule 5: a pure
/// calculation; the CLI applies it at start).
///
/// Every connection holds one descriptor, and a fid of a host file server
/// (`ninep export`) up to two (its O_PATH node and, once opened, the open
/// file). A reserve is kept for the process itself (event loops, logs,
/// children's pipes, the walks in flight); the rest is split so that
/// connections and fids together cannot exhaust the table: what is left
/// after the connections, halved, is the server-wide fid cap.
public struct DescriptorPlan: Sendable, Equatable {
    /// Descriptors kept back for the process itself.
    public static let reserve = 128
    /// The connection cap when none is asked for (before the descriptor limit).
    public static let defaultMaxConnections = 1_024

    /// The cap on connections.
    public let maxConnections: Int
    /// The cap on fids held by all connections together.
    public let maxFids: Int
    /// Why a cap asked for was lowered, for a warning; nil if none was.
    public let lowered: String?

    /// - Parameters:
    ///   - descriptorLimit: the soft RLIMIT_NOFILE (after raising it).
    ///   - maxConnections: the cap asked for, if any.
    public init(descriptorLimit: Int, maxConnections asked: Int?) {
        let usable = max(16, descriptorLimit - Self.reserve)
        // At most half the usable descriptors go to connections themselves.
        let ceiling = max(4, usable / 2)
        let wanted = asked ?? Self.defaultMaxConnections
        maxConnections = min(wanted, ceiling)
        maxFids = max(4, (usable - maxConnections) / 2)
        if let asked, asked > ceiling {
            lowered = "--max-connections \(asked) lowered to \(ceiling): the descriptor limit is \(descriptorLimit)"
        } else {
            lowered = nil
        }
    }
}
