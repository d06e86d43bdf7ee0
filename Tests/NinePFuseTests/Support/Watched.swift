import Foundation

/// A value that server threads update and a test waits on, with a deadline.
/// Thread safety: every access holds the condition's lock.
final class Watched<Value>: @unchecked Sendable {
    private let condition = NSCondition()
    private var value: Value

    init(_ value: Value) {
        self.value = value
    }

    /// Changes the value and wakes the waiters.
    @discardableResult
    func update<Result>(_ body: (inout Value) -> Result) -> Result {
        condition.lock()
        defer {
            condition.broadcast()
            condition.unlock()
        }
        return body(&value)
    }

    func read<Result>(_ body: (Value) -> Result) -> Result {
        condition.lock()
        defer { condition.unlock() }
        return body(value)
    }

    /// Waits until `done` holds, at most `seconds`; returns whether it does.
    func wait(seconds: Double, until done: (Value) -> Bool) -> Bool {
        let deadline = Date(timeIntervalSinceNow: seconds)
        condition.lock()
        defer { condition.unlock() }
        while !done(value) {
            if !condition.wait(until: deadline) { return done(value) }
        }
        return true
    }
}
