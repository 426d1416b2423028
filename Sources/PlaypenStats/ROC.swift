import Foundation

/// Mid-ranks (1-based; tied values share the average of their ranks), as `scipy.stats.rankdata`.
public func midRanks(_ values: [Double]) -> [Double] {
    let order = values.indices.sorted { values[$0] < values[$1] || (values[$0] == values[$1] && $0 < $1) }
    var ranks = [Double](repeating: 0, count: values.count)
    var i = 0
    while i < order.count {
        var j = i
        while j + 1 < order.count && values[order[j + 1]] == values[order[i]] { j += 1 }
        let rank = Double(i + j + 2) / 2
        for k in i...j { ranks[order[k]] = rank }
        i = j + 1
    }
    return ranks
}

/// ROC AUC with ties counted as one half, equal to scikit-learn `roc_auc_score`:
/// `(R_pos − n_pos(n_pos+1)/2) / (n_pos·n_neg)` with mid-ranks. `nil` when one class is absent.
public func rocAUC(labels: [UInt8], scores: [Double]) -> Double? {
    precondition(labels.count == scores.count)
    let nPos = labels.reduce(0) { $0 + Int($1) }
    let nNeg = labels.count - nPos
    guard nPos > 0, nNeg > 0 else { return nil }
    let ranks = midRanks(scores)
    var rankSum = 0.0
    for i in labels.indices where labels[i] == 1 { rankSum += ranks[i] }
    return (rankSum - Double(nPos) * Double(nPos + 1) / 2) / (Double(nPos) * Double(nNeg))
}

/// One point of an ROC curve.
public struct ROCPoint: Sendable, Equatable, Codable {
    public var fpr: Double
    public var tpr: Double
}

/// The ROC curve: one point per distinct score threshold (descending), from (0,0) to (1,1).
public func rocCurve(labels: [UInt8], scores: [Double]) -> [ROCPoint] {
    let nPos = Double(labels.reduce(0) { $0 + Int($1) })
    let nNeg = Double(labels.count) - nPos
    guard nPos > 0, nNeg > 0 else { return [] }
    let order = scores.indices.sorted { scores[$0] > scores[$1] || (scores[$0] == scores[$1] && $0 < $1) }
    var points = [ROCPoint(fpr: 0, tpr: 0)]
    var tp = 0.0, fp = 0.0
    var i = 0
    while i < order.count {
        let s = scores[order[i]]
        while i < order.count && scores[order[i]] == s {
            if labels[order[i]] == 1 { tp += 1 } else { fp += 1 }
            i += 1
        }
        points.append(ROCPoint(fpr: fp / nNeg, tpr: tp / nPos))
    }
    return points
}

/// Scores sorted once, with tie groups, so that AUCs of reweighted or relabelled samples cost
/// O(n) each (bootstrap and permutation tests).
public struct RankedScores: Sendable {
    /// Sample indices in ascending score order.
    public let order: [Int]
    /// `groupStart[g]..<groupStart[g+1]` are the positions (in `order`) of tie group g.
    public let groupStart: [Int]
    /// Mid-rank of each position in `order`.
    public let positionRank: [Double]

    public init(_ scores: [Double]) {
        order = scores.indices.sorted { scores[$0] < scores[$1] || (scores[$0] == scores[$1] && $0 < $1) }
        var starts = [Int]()
        var ranks = [Double](repeating: 0, count: scores.count)
        var i = 0
        while i < order.count {
            starts.append(i)
            var j = i
            while j + 1 < order.count && scores[order[j + 1]] == scores[order[i]] { j += 1 }
            let rank = Double(i + j + 2) / 2
            for k in i...j { ranks[k] = rank }
            i = j + 1
        }
        starts.append(order.count)
        groupStart = starts
        positionRank = ranks
    }

    /// AUC with integer multiplicities per sample (a bootstrap resample): pairs are weighted by
    /// the product of multiplicities; ties count one half.
    public func weightedAUC(labels: [UInt8], counts: [Int32]) -> Double? {
        var negBelow = 0.0, pairs = 0.0, totalPos = 0.0, totalNeg = 0.0
        for g in 0..<(groupStart.count - 1) {
            var pos = 0.0, neg = 0.0
            for k in groupStart[g]..<groupStart[g + 1] {
                let i = order[k]
                let c = Double(counts[i])
                if labels[i] == 1 { pos += c } else { neg += c }
            }
            pairs += pos * (negBelow + 0.5 * neg)
            negBelow += neg
            totalPos += pos
            totalNeg += neg
        }
        guard totalPos > 0, totalNeg > 0 else { return nil }
        return pairs / (totalPos * totalNeg)
    }
}

/// Result of a bootstrap confidence interval.
public struct BootstrapInterval: Sendable, Equatable {
    public var lower: Double
    public var upper: Double
    public var replicates: Int
}

/// Stratified percentile bootstrap of the ROC AUC: each replicate draws `n_pos` positives and
/// `n_neg` negatives with replacement, and the interval is the (α/2, 1−α/2) percentiles of the
/// replicate AUCs with linear interpolation (NumPy's default `percentile`).
public func bootstrapAUC(labels: [UInt8], scores: [Double], replicates: Int = 1000,
                         level: Double = 0.95, seed: UInt64) -> BootstrapInterval? {
    let positives = labels.indices.filter { labels[$0] == 1 }
    let negatives = labels.indices.filter { labels[$0] == 0 }
    guard !positives.isEmpty, !negatives.isEmpty, replicates > 0 else { return nil }
    let ranked = RankedScores(scores)
    var rng = SeededGenerator(seed: seed)
    var counts = [Int32](repeating: 0, count: labels.count)
    var values = [Double]()
    values.reserveCapacity(replicates)
    for _ in 0..<replicates {
        for k in counts.indices { counts[k] = 0 }
        for _ in positives.indices { counts[positives[rng.below(positives.count)]] += 1 }
        for _ in negatives.indices { counts[negatives[rng.below(negatives.count)]] += 1 }
        values.append(ranked.weightedAUC(labels: labels, counts: counts)!)
    }
    values.sort()
    let alpha = (1 - level) / 2
    return BootstrapInterval(lower: percentile(sorted: values, alpha),
                             upper: percentile(sorted: values, 1 - alpha), replicates: replicates)
}

/// Linear-interpolation percentile of sorted values, `q` in [0, 1] (NumPy `method="linear"`).
public func percentile(sorted values: [Double], _ q: Double) -> Double {
    precondition(!values.isEmpty)
    let h = Double(values.count - 1) * q
    let lo = Int(h.rounded(.down))
    let hi = min(lo + 1, values.count - 1)
    return values[lo] + (h - Double(lo)) * (values[hi] - values[lo])
}

/// One-sided permutation p-value for the AUC: labels are permuted `permutations` times and
/// `p = (1 + #{AUC_perm ≥ AUC_obs}) / (permutations + 1)`.
public func permutationPValue(labels: [UInt8], scores: [Double], permutations: Int = 1000,
                              seed: UInt64) -> Double? {
    let nPos = labels.reduce(0) { $0 + Int($1) }
    let n = labels.count
    guard nPos > 0, nPos < n, permutations > 0 else { return nil }
    let ranked = RankedScores(scores)
    var rankOf = [Double](repeating: 0, count: n)
    for k in 0..<n { rankOf[ranked.order[k]] = ranked.positionRank[k] }
    var observed = 0.0
    for i in 0..<n where labels[i] == 1 { observed += rankOf[i] }
    // The AUC is monotone in the positives' rank sum, so compare rank sums (exactly, in
    // half-integers) instead of AUCs.
    var rng = SeededGenerator(seed: seed)
    var pool = rankOf
    var atLeast = 0
    for _ in 0..<permutations {
        var sum = 0.0
        for k in 0..<nPos {
            let j = k + rng.below(n - k)
            pool.swapAt(k, j)
            sum += pool[k]
        }
        if sum >= observed - 1e-9 { atLeast += 1 }
    }
    return Double(1 + atLeast) / Double(permutations + 1)
}
