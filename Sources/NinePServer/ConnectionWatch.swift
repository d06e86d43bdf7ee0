public import NIOCore

/// When to close a connection that does nothing useful (STYLE rule 5:
/// policy as a value, time injected; `NinePServerHandler` feeds it events
/// and carries out `check`).
///
/// - Idle: a connection with nothing going on (no request outstanding or
///   waiting, no fid held, no reply unwritten) for `idleTimeout` is closed.
///   A session that holds fids, as a mount's does, is in use, however quiet.
/// - Stalled: a connection that has sent part of a message and not the rest
///   within `stallTimeout` is closed, whatever else it does: the time runs
///   from the first byte of the message, so trickling bytes does not help.
public struct ConnectionWatch: Sendable, Equatable {
    /// nil: never closed for being idle.
    public let idleTimeout: TimeAmount?
    /// nil: never closed for a half-sent message.
    public let stallTimeout: TimeAmount?
    /// When the connection last became idle, or nil while it is busy.
    public private(set) var idleSince: NIODeadline?
    /// When the message that is still incomplete began to arrive.
    public private(set) var partialSince: NIODeadline?

    public init(idleTimeout: TimeAmount?, stallTimeout: TimeAmount?, now: NIODeadline) {
        self.idleTimeout = idleTimeout
        self.stallTimeout = stallTimeout
        self.idleSince = now
    }

    /// What to do when the clock reaches a deadline.
    public enum Action: Sendable, Equatable {
        /// Nothing yet; check again at this time (nil: no deadline pending).
        case wait(until: NIODeadline?)
        /// Close the connection, logging this reason.
        case close(String)
    }

    /// Bytes arrived; `partial` says whether part of a message is left over.
    public mutating func received(partial: Bool, now: NIODeadline) {
        if !partial {
            partialSince = nil
        } else if partialSince == nil {
            partialSince = now
        }
    }

    /// Whether anything is going on (requests, fids, unwritten replies).
    public mutating func busy(_ busy: Bool, now: NIODeadline) {
        if busy {
            idleSince = nil
        } else if idleSince == nil {
            idleSince = now
        }
    }

    /// The next time `check` may close the connection.
    public var deadline: NIODeadline? {
        let idle = idleSince.flatMap { since in idleTimeout.map { since + $0 } }
        let stall = partialSince.flatMap { since in stallTimeout.map { since + $0 } }
        switch (idle, stall) {
        case (nil, nil): return nil
        case (let d?, nil), (nil, let d?): return d
        case (let a?, let b?): return min(a, b)
        }
    }

    /// Decides at `now`.
    public func check(now: NIODeadline) -> Action {
        if let since = partialSince, let timeout = stallTimeout, now >= since + timeout {
            return .close("message incomplete after \(Self.describe(timeout))")
        }
        if let since = idleSince, let timeout = idleTimeout, now >= since + timeout {
            return .close("idle for \(Self.describe(timeout))")
        }
        return .wait(until: deadline)
    }

    static func describe(_ t: TimeAmount) -> String {
        let ms = t.nanoseconds / 1_000_000
        return ms % 1000 == 0 ? "\(ms / 1000) s" : "\(ms) ms"
    }
}
