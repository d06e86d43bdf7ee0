import NinePWire

/// What the conformance suites' sessions (`ConformanceSession` for 9P2000,
/// `DotLSession` for 9P2000.L) share: a raw client, the check's name at the
/// head of every failure, and calls that turn a lost connection into one.
protocol ConformanceConversation: Sendable {
    var client: RawNinePClient { get }
    /// The check's name, the first part of every failure.
    var check: String { get }
}

extension ConformanceConversation {
    func failure(_ detail: String) -> ConformanceFailure { ConformanceFailure(check, detail) }

    func expect(_ condition: Bool, _ detail: @autoclosure () -> String) throws {
        if !condition { throw failure(detail()) }
    }

    /// Sends `m` and returns the reply, whatever it is.
    func call(_ m: Message) async throws -> Message {
        do {
            return try await client.call(m)
        } catch let e as RawNinePClientError {
            throw failure("\(m): \(e)")
        }
    }

    func close() async { await client.close() }

    /// Runs `body`, then closes the session, whether `body` throws or not.
    func closing<T>(_ body: (Self) async throws -> T) async throws -> T {
        do {
            let result = try await body(self)
            await close()
            return result
        } catch {
            await close()
            throw error
        }
    }
}

/// How both suites run a check: in a directory `<check>-<random>` of the
/// root, removed afterwards (over a second connection), so that checks run
/// in any order and in parallel against one server.
enum ConformanceRun {
    /// Runs `body` with the work directory's name, then `cleanup` with it
    /// whatever happened; throws `body`'s error first, else `cleanup`'s (a
    /// failed check may leave what cannot be removed, and says more).
    static func inWorkDirectory(
        for check: String, _ body: (String) async throws -> Void, cleanup: (String) async throws -> Void
    ) async throws {
        var random = SystemRandomNumberGenerator()
        let workName = "\(check)-\(String(random.next() & 0xFFFF_FFFF, radix: 16))"
        var outcome: (any Error)?
        do {
            try await body(workName)
        } catch {
            outcome = error
        }
        do {
            try await cleanup(workName)
        } catch {
            if outcome == nil { outcome = error }
        }
        if let outcome { throw outcome }
    }
}
