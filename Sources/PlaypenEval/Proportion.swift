import Foundation

/// A success count with its Wilson score interval (no continuity correction), as
/// `scipy.stats.binomtest(k, n).proportion_ci(confidence_level, method="wilson")`.
public struct Proportion: Equatable, Sendable {
    public var successes: Int
    public var trials: Int
    public var low: Double
    public var high: Double

    /// Φ⁻¹(0.975), the z of a two-sided 95% interval.
    public static let z95 = 1.959963984540054

    public init(successes: Int, trials: Int, z: Double = Proportion.z95) {
        precondition(successes >= 0 && successes <= trials, "successes must be in 0...trials")
        self.successes = successes
        self.trials = trials
        (low, high) = Proportion.wilson(successes: successes, trials: trials, z: z)
    }

    /// k / n (0 when n = 0).
    public var rate: Double { trials > 0 ? Double(successes) / Double(trials) : 0 }

    /// Wilson interval, computed as SciPy does: t = 1 + z²/n, r = (p + z²/2n)/t,
    /// δ = z/t·sqrt(p(1-p)/n + (z/2n)²), (max(0, r-δ), min(1, r+δ)); (0, 1) when n = 0.
    public static func wilson(successes k: Int, trials n: Int, z: Double) -> (Double, Double) {
        guard n > 0 else { return (0, 1) }
        let nd = Double(n), p = Double(k) / nd
        let t = 1 + z * z / nd
        let r = (p + z * z / (2 * nd)) / t
        let h = z / (2 * nd)
        let delta = z / t * (p * (1 - p) / nd + h * h).squareRoot()
        return (max(0, r - delta), min(1, r + delta))
    }
}
