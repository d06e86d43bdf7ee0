/// How many bytes of replies a server may have on its hands at once, across
/// connections (STYLE rule 5: policy as a value, kept by `ServerLimits`).
///
/// A Tread is charged its count and a Twrite its data from when it is taken
/// up until its reply has been written to the socket (or the connection has
/// gone), so what a client asks for but does not read stays bounded: a
/// connection may hold `connectionLimit` bytes, all connections together
/// `serverLimit`. A request that does not fit is not taken up; its
/// connection stops reading requests until replies drain (back-pressure
/// reaches the client through its socket).
///
/// So that no connection starves, one holding nothing is always granted
/// one request, even past `serverLimit`: the server holds at most
/// `serverLimit` plus one msize per connection.
public struct ReplyBudget: Sendable, Equatable {
    /// The most bytes one connection may hold.
    public let connectionLimit: Int
    /// The most bytes all connections together may hold (but see the floor).
    public let serverLimit: Int
    /// Bytes held now, by all connections.
    public private(set) var used = 0

    /// The answer to a charge.
    public enum Decision: Sendable, Equatable {
        /// Charged: release it when the reply has been written.
        case granted
        /// The connection holds too much: wait for its own replies to drain.
        case overConnectionLimit
        /// The server holds too much: wait for any connection's replies to drain.
        case overServerLimit
    }

    public init(connectionLimit: Int, serverLimit: Int) {
        self.connectionLimit = max(1, connectionLimit)
        self.serverLimit = max(self.connectionLimit, serverLimit)
    }

    /// Charges `bytes` to a connection that holds `held` bytes now.
    public mutating func charge(_ bytes: Int, held: Int) -> Decision {
        if held > 0 {
            if held + bytes > connectionLimit { return .overConnectionLimit }
            if used + bytes > serverLimit { return .overServerLimit }
        }
        used += bytes
        return .granted
    }

    /// Gives back what `charge` granted.
    public mutating func release(_ bytes: Int) {
        used = max(0, used - bytes)
    }
}
