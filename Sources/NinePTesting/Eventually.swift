/// Polls `condition` every 20 ms until it holds or `timeout` passes; returns
/// whether it held. For conditions another process or thread brings about,
/// with a deadline so that "never" fails instead of hanging.
public func eventually(_ timeout: Duration, _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(20))  // polling a condition, with a deadline
    }
    return try await condition()
}
