/// The redial schedule after a lost connection: the first retry is immediate,
/// then `initialDelay` with ±`jitter`, growing by `multiplier` per retry up to
/// `maximumDelay`.
///
/// A pure value: `delay(beforeRetry:unit:)` takes the random draw as an
/// argument, so the same inputs always give the same delay. The state machine
/// draws `unit` from the random source it was given (tests inject a scripted one).
public struct Backoff: Hashable, Sendable {
    /// The delay before the second retry (the first is immediate). Default 1 s.
    public var initialDelay: Duration
    /// How much each further delay grows. Default 1.5. Values below 1 count as 1.
    public var multiplier: Double
    /// The ceiling: no delay is longer, jitter included. Default 30 s.
    public var maximumDelay: Duration
    /// The relative spread: 0.25 gives delays in [0.75 d, 1.25 d]. Clamped to 0...1.
    public var jitter: Double

    public init(
        initialDelay: Duration = .seconds(1), multiplier: Double = 1.5,
        maximumDelay: Duration = .seconds(30), jitter: Double = 0.25
    ) {
        self.initialDelay = initialDelay
        self.multiplier = multiplier
        self.maximumDelay = maximumDelay
        self.jitter = jitter
    }

    /// The delay to wait before retry number `retry` (1 is the first retry
    /// after the connection was lost).
    ///
    /// - Parameter unit: a random draw in [0, 1); 0.5 gives the un-jittered delay.
    /// - Returns: `.zero` for the first retry; otherwise
    ///   `min(initialDelay × multiplier^(retry−2), maximumDelay)`, scaled by
    ///   `1 + jitter × (2 unit − 1)`, and never more than `maximumDelay`
    ///   (the cap is a hard ceiling, so at the cap the spread is one-sided).
    public func delay(beforeRetry retry: Int, unit: Double) -> Duration {
        guard retry > 1 else { return .zero }
        let cap = max(maximumDelay.reconnectSeconds, 0)
        let growth = max(multiplier, 1)
        let initial = max(initialDelay.reconnectSeconds, 0)
        let grown = initial == 0 ? 0 : initial * Self.power(growth, retry - 2)
        let base = grown.isNaN ? cap : min(grown, cap)
        let spread = min(max(jitter, 0), 1)
        let u = unit.isFinite ? min(max(unit, 0), 1) : 0.5
        let jittered = base * (1 + spread * (2 * u - 1))
        return .seconds(min(max(jittered, 0), cap))
    }

    /// `x^n` for n ≥ 0 by repeated squaring (no libm needed); overflow gives infinity.
    private static func power(_ x: Double, _ n: Int) -> Double {
        var result = 1.0
        var base = x
        var exponent = n
        while exponent > 0 {
            if exponent & 1 == 1 { result *= base }
            base *= base
            exponent >>= 1
        }
        return result
    }
}

extension Duration {
    /// The duration as floating-point seconds.
    var reconnectSeconds: Double {
        let c = components
        return Double(c.seconds) + Double(c.attoseconds) * 1e-18
    }

    /// "0.5 s", "12.3 s": for log lines and error texts.
    var reconnectSecondsText: String {
        let tenths = (reconnectSeconds * 10).rounded()
        guard tenths.isFinite, abs(tenths) < 1e15 else { return "\(components.seconds) s" }
        let sign = tenths < 0 ? "-" : ""
        let magnitude = Int64(abs(tenths))
        return "\(sign)\(magnitude / 10).\(magnitude % 10) s"
    }
}
