public import NinePWire

/// The T-messages sent on the connection and not yet answered, by tag, in
/// the order they were sent: on reconnect they are replayed or failed in that
/// order (a Tflush always comes after the request it flushes).
///
/// A pure value owned by the state machine.
public struct OutstandingRequests: Hashable, Sendable {
    private struct Item: Hashable, Sendable {
        var sequence: UInt64
        var call: Fcall
    }

    private var byTag: [Tag: Item] = [:]
    private var nextSequence: UInt64 = 0

    public init() {}

    public var count: Int { byTag.count }
    public var isEmpty: Bool { byTag.isEmpty }

    /// Records a request as sent. A tag already outstanding is replaced (a
    /// client bug that the server would answer with "duplicate tag").
    public mutating func add(_ call: Fcall) {
        byTag[call.tag] = Item(sequence: nextSequence, call: call)
        nextSequence &+= 1
    }

    /// Forgets the request with this tag and returns it, if there was one.
    @discardableResult
    public mutating func remove(_ tag: Tag) -> Fcall? {
        byTag.removeValue(forKey: tag)?.call
    }

    public func contains(_ tag: Tag) -> Bool { byTag[tag] != nil }

    public subscript(tag: Tag) -> Fcall? { byTag[tag]?.call }

    /// The requests in send order.
    public var inSendOrder: [Fcall] {
        byTag.values.sorted { $0.sequence < $1.sequence }.map(\.call)
    }

    /// Empties the table, returning its requests in send order.
    public mutating func removeAll() -> [Fcall] {
        let all = inSendOrder
        byTag.removeAll()
        return all
    }
}
