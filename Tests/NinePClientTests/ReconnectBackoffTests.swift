import Testing
@testable import NinePClient

@Suite("Reconnect backoff")
struct ReconnectBackoffTests {
    let backoff = Backoff()

    @Test func firstRetryIsImmediate() {
        #expect(backoff.delay(beforeRetry: 1, unit: 0.5) == .zero)
        #expect(backoff.delay(beforeRetry: 1, unit: 0.99) == .zero)
        #expect(backoff.delay(beforeRetry: 0, unit: 0.5) == .zero)
    }

    @Test func unjitteredSequenceGrowsByOneAndAHalfUpToTheCap() {
        let delays = (2...14).map { backoff.delay(beforeRetry: $0, unit: 0.5).reconnectSeconds }
        let expected = [1, 1.5, 2.25, 3.375, 5.0625, 7.59375, 11.390625, 17.0859375, 25.62890625, 30, 30, 30, 30]
        #expect(delays.count == expected.count)
        for (got, want) in zip(delays, expected) {
            #expect(abs(got - want) < 1e-9, "got \(got), want \(want)")
        }
    }

    @Test func jitterStaysWithinAQuarterEitherWay() {
        for retry in 2...9 {
            let middle = backoff.delay(beforeRetry: retry, unit: 0.5).reconnectSeconds
            let low = backoff.delay(beforeRetry: retry, unit: 0).reconnectSeconds
            let high = backoff.delay(beforeRetry: retry, unit: 0.999_999).reconnectSeconds
            #expect(abs(low - middle * 0.75) < 1e-9)
            #expect(high <= middle * 1.25 + 1e-9 && high > middle * 1.2499)
            for unit in stride(from: 0.0, to: 1.0, by: 0.05) {
                let d = backoff.delay(beforeRetry: retry, unit: unit).reconnectSeconds
                #expect(d >= middle * 0.75 - 1e-9 && d <= middle * 1.25 + 1e-9)
            }
        }
    }

    @Test func theCapIsAHardCeilingJitterIncluded() {
        for unit in stride(from: 0.0, to: 1.0, by: 0.01) {
            let d = backoff.delay(beforeRetry: 40, unit: unit)
            #expect(d <= .seconds(30))
            #expect(d >= .seconds(22.5))
        }
        #expect(backoff.delay(beforeRetry: .max, unit: 0.5) == .seconds(30))
    }

    @Test func everyKnobIsConfigurable() {
        let custom = Backoff(initialDelay: .milliseconds(100), multiplier: 2, maximumDelay: .seconds(1), jitter: 0)
        let delays = (1...7).map { custom.delay(beforeRetry: $0, unit: 0.9) }
        #expect(delays == [.zero, .milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(800), .seconds(1), .seconds(1)])
    }

    @Test func nonsenseSettingsDoNotTrapOrGoNegative() {
        let odd = Backoff(initialDelay: .seconds(-5), multiplier: -3, maximumDelay: .seconds(-1), jitter: 7)
        for retry in [2, 3, 100, Int.max] {
            #expect(odd.delay(beforeRetry: retry, unit: .nan) == .zero)
        }
        let zero = Backoff(initialDelay: .zero, multiplier: .infinity, maximumDelay: .seconds(30), jitter: 0.25)
        #expect(zero.delay(beforeRetry: 500, unit: 0.3) == .zero)
        let huge = Backoff(initialDelay: .seconds(1), multiplier: .greatestFiniteMagnitude, maximumDelay: .seconds(30), jitter: 0)
        #expect(huge.delay(beforeRetry: 4, unit: 0.5) == .seconds(30))
    }

    @Test func durationsReadWellInMessages() {
        #expect(Duration.milliseconds(1260).reconnectSecondsText == "1.3 s")
        #expect(Duration.milliseconds(30_000).reconnectSecondsText == "30.0 s")
        #expect(Duration.zero.reconnectSecondsText == "0.0 s")
    }
}
