import Foundation
import PlaypenTensor
import PlaypenIO

// Per-sample statistics of SAE codes and the per-layer summary, as the original pipeline defined
// them (original-pipeline.md §5.3-5.4).

/// The ten per-sample statistics, in the original's order (`stat_feature_names`).
public let sampleStatNames = [
    "seq_len", "active_entry_fraction", "active_feature_fraction", "mean_active_activation",
    "std_active_activation", "max_active_activation", "token_active_mean", "token_active_std",
    "token_active_cv", "feature_concentration_hhi",
]

/// The active entries (`A[t,j] > τ`) of one sample's codes, in (token, feature) order.
public struct SparseCodes: Sendable {
    /// Number of positions T the statistics count (BOS included unless it was excluded).
    public let tokens: Int
    public let dSAE: Int
    /// Position of each active entry within the counted tokens (0-based after any exclusion).
    public var token: [Int32] = []
    public var feature: [Int32] = []
    public var value: [Float] = []

    /// Collects the entries of dense codes [tokens, dSAE] that are strictly above `threshold` (τ).
    /// `dropFirst` skips the first position (BOS) so it counts in no statistic. The cores scan
    /// contiguous runs of tokens (64 KB of codes a token for a 16k SAE; the scan of a batch was
    /// 1-2% of an extraction on one core), and the runs' entries are joined in token order.
    public init(dense: UnsafeBufferPointer<Float>, tokens totalTokens: Int, dSAE: Int, threshold: Float = 0, dropFirst: Bool = false) {
        precondition(dense.count >= totalTokens * dSAE)
        let first = dropFirst && totalTokens > 0 ? 1 : 0
        self.tokens = totalTokens - first
        self.dSAE = dSAE
        let base = dense.baseAddress! + first * dSAE, rows = tokens
        // about 1 MB of codes a part at least: below that a dispatch costs more than the scan
        let parts = max(1, min(computeThreads, rows * dSAE / (1 << 18)))
        if parts == 1 {
            scanRows(base, rows: 0..<rows, threshold: threshold)
            return
        }
        let step = (rows + parts - 1) / parts
        let codes = SendablePointer(base), width = dSAE
        for part in parallelMap(parts, { p in
            var part = SparseCodes(tokens: 0, dSAE: width)
            part.scanRows(codes.const!, rows: (p * step)..<min(rows, (p + 1) * step), threshold: threshold)
            return part
        }) {
            token += part.token
            feature += part.feature
            value += part.value
        }
    }

    private init(tokens: Int, dSAE: Int) {
        self.tokens = tokens
        self.dSAE = dSAE
    }

    /// Appends the active entries of `rows` of the codes at `base` (row t at base + t · dSAE).
    private mutating func scanRows(_ base: UnsafePointer<Float>, rows: Range<Int>, threshold: Float) {
        for t in rows {
            let row = base + t * dSAE
            var j = 0
            // codes are sparse: skip eight at a time where none is active
            while j + vectorWidth <= dSAE {
                if any(vload(row + j) .> threshold) {
                    for i in j..<(j + vectorWidth) where row[i] > threshold { append(t, i, row[i]) }
                }
                j += vectorWidth
            }
            while j < dSAE {
                if row[j] > threshold { append(t, j, row[j]) }
                j += 1
            }
        }
    }

    private mutating func append(_ t: Int, _ j: Int, _ v: Float) {
        token.append(Int32(t))
        feature.append(Int32(j))
        value.append(v)
    }

    public init(dense: [Float], tokens: Int, dSAE: Int, threshold: Float = 0, dropFirst: Bool = false) {
        self = dense.withUnsafeBufferPointer { SparseCodes(dense: $0, tokens: tokens, dSAE: dSAE, threshold: threshold, dropFirst: dropFirst) }
    }

    public var count: Int { value.count }

    /// `c_j`: the number of counted tokens on which feature j is active.
    public func featureTokenCounts() -> [Int] {
        var c = [Int](repeating: 0, count: dSAE)
        for j in feature { c[Int(j)] += 1 }
        return c
    }

    /// The ten statistics of §5.3 (float32, computed in float64; population standard deviations).
    public func statistics() -> [Float] {
        let T = tokens
        let n = value.count
        var stats = [Double](repeating: 0, count: 10)
        stats[0] = Double(T)
        if n > 0 && T > 0 {
            let c = featureTokenCounts()
            stats[1] = Double(n) / (Double(T) * Double(dSAE))
            stats[2] = Double(c.reduce(0) { $0 + ($1 > 0 ? 1 : 0) }) / Double(dSAE)
            var sum = 0.0, maxValue = -Double.infinity
            for v in value { sum += Double(v); maxValue = max(maxValue, Double(v)) }
            let mean = sum / Double(n)
            var squares = 0.0
            for v in value { let d = Double(v) - mean; squares += d * d }
            stats[3] = mean
            stats[4] = (squares / Double(n)).squareRoot()
            stats[5] = maxValue
            var perToken = [Int](repeating: 0, count: T)
            for t in token { perToken[Int(t)] += 1 }
            let tokenMean = Double(n) / Double(T)
            var tokenSquares = 0.0
            for l in perToken { let d = Double(l) - tokenMean; tokenSquares += d * d }
            let tokenStd = (tokenSquares / Double(T)).squareRoot()
            stats[6] = tokenMean
            stats[7] = tokenStd
            stats[8] = tokenStd / (tokenMean + 1e-8)
            var hhi = 0.0
            for cj in c where cj > 0 { let share = Double(cj) / Double(n); hhi += share * share }
            stats[9] = hhi
        }
        return stats.map { Float($0) }
    }

    /// `feature_presence[j] = c_j > 0`.
    public func featurePresence() -> [Bool] {
        var p = [Bool](repeating: false, count: dSAE)
        for j in feature { p[Int(j)] = true }
        return p
    }

    /// pp-sae's `feature_activation_mean[j]`: the mean of feature j's active values in this sample
    /// (`Σ_t A[t,j]·M[t,j] / c_j`), 0 where the feature is inactive. Summed in float64.
    public func featureActivationMean() -> [Float] {
        var sums = [Double](repeating: 0, count: dSAE)
        var counts = [Int](repeating: 0, count: dSAE)
        for (j, v) in zip(feature, value) { sums[Int(j)] += Double(v); counts[Int(j)] += 1 }
        return (0..<dSAE).map { counts[$0] > 0 ? Float(sums[$0] / Double(counts[$0])) : 0 }
    }
}

/// The metric that orders a layer's top features.
public enum RankingMetric: String, CaseIterable, Sendable {
    case tokenCount = "token_count"
    case promptCount = "prompt_count"
    case totalActivation = "total_activation"
    case meanActivation = "mean_activation"
    case maxActivation = "max_activation"
}

/// One reported feature of a layer summary.
public struct RankedFeature: Equatable, Sendable {
    public var featureId: Int
    public var tokenCount: Int64
    public var promptCount: Int64
    public var promptFraction: Double
    public var totalActivation: Double
    public var meanActivationWhenActive: Double
    public var maxActivation: Double
}

/// Per-feature totals accumulated over all samples of one SAE (§5.4).
public struct LayerSummary: Sendable {
    public let dSAE: Int
    public private(set) var tokenCounts: [Int64]
    public private(set) var promptCounts: [Int64]
    public private(set) var activationSums: [Double]
    public private(set) var activationMax: [Float]
    public private(set) var numPrompts = 0
    public private(set) var totalTokens = 0

    public init(dSAE: Int) {
        self.dSAE = dSAE
        tokenCounts = [Int64](repeating: 0, count: dSAE)
        promptCounts = [Int64](repeating: 0, count: dSAE)
        activationSums = [Double](repeating: 0, count: dSAE)
        activationMax = [Float](repeating: -.infinity, count: dSAE)
    }

    public mutating func add(_ codes: SparseCodes) {
        precondition(codes.dSAE == dSAE)
        numPrompts += 1
        totalTokens += codes.tokens
        var seen = [Bool](repeating: false, count: dSAE)
        for (j32, v) in zip(codes.feature, codes.value) {
            let j = Int(j32)
            tokenCounts[j] += 1
            activationSums[j] += Double(v)
            if v > activationMax[j] { activationMax[j] = v }
            if !seen[j] { seen[j] = true; promptCounts[j] += 1 }
        }
    }

    /// Adds another shard's totals (layer_totals.npy rows: counts, prompt counts, sums, maxima).
    mutating func merge(totals: [Double], numPrompts n: Int, totalTokens tokens: Int) {
        numPrompts += n
        totalTokens += tokens
        for j in 0..<dSAE {
            tokenCounts[j] += Int64(totals[j])
            promptCounts[j] += Int64(totals[dSAE + j])
            activationSums[j] += totals[2 * dSAE + j]
            activationMax[j] = max(activationMax[j], Float(totals[3 * dSAE + j]))
        }
    }

    public var numActiveFeatures: Int { tokenCounts.reduce(0) { $0 + ($1 > 0 ? 1 : 0) } }

    public func feature(_ j: Int) -> RankedFeature {
        RankedFeature(
            featureId: j, tokenCount: tokenCounts[j], promptCount: promptCounts[j],
            promptFraction: numPrompts > 0 ? Double(promptCounts[j]) / Double(numPrompts) : 0,
            totalActivation: activationSums[j],
            meanActivationWhenActive: tokenCounts[j] > 0 ? activationSums[j] / Double(tokenCounts[j]) : 0,
            maxActivation: tokenCounts[j] > 0 ? Double(activationMax[j]) : 0)
    }

    public func metric(_ metric: RankingMetric, _ j: Int) -> Double {
        switch metric {
        case .tokenCount: return Double(tokenCounts[j])
        case .promptCount: return Double(promptCounts[j])
        case .totalActivation: return activationSums[j]
        case .meanActivation: return activationSums[j] / Double(max(tokenCounts[j], 1))
        case .maxActivation: return tokenCounts[j] > 0 ? Double(activationMax[j]) : 0
        }
    }

    /// Candidates are features with token count ≥ `minTokenCount` (all features with a non-zero
    /// count if none qualify), sorted by the metric descending, ties by feature id ascending.
    public func topFeatures(metric: RankingMetric, minTokenCount: Int = 10, limit: Int = 50) -> [RankedFeature] {
        var candidates = (0..<dSAE).filter { tokenCounts[$0] >= Int64(minTokenCount) }
        if candidates.isEmpty { candidates = (0..<dSAE).filter { tokenCounts[$0] > 0 } }
        let values = candidates.map { self.metric(metric, $0) }
        let order = candidates.indices.sorted { values[$0] > values[$1] || (values[$0] == values[$1] && candidates[$0] < candidates[$1]) }
        return order.prefix(max(limit, 0)).map { feature(candidates[$0]) }
    }
}
