import Foundation

/// Pearson correlation of two equal-length vectors (NaN-free input expected); `nil` when either
/// vector is constant.
public func pearson(_ x: [Double], _ y: [Double]) -> Double? {
    precondition(x.count == y.count)
    let n = Double(x.count)
    guard x.count > 1 else { return nil }
    let mx = x.reduce(0, +) / n, my = y.reduce(0, +) / n
    var sxy = 0.0, sxx = 0.0, syy = 0.0
    for i in x.indices {
        let dx = x[i] - mx, dy = y[i] - my
        sxy += dx * dy; sxx += dx * dx; syy += dy * dy
    }
    guard sxx > 0, syy > 0 else { return nil }
    return sxy / (sxx * syy).squareRoot()
}

/// Spearman rank correlation (Pearson on mid-ranks), as `scipy.stats.spearmanr`.
public func spearman(_ x: [Double], _ y: [Double]) -> Double? {
    pearson(midRanks(x), midRanks(y))
}

/// Kendall's tau-b with ties, as `scipy.stats.kendalltau` (Knight's O(n log n) algorithm).
public func kendallTauB(_ x: [Double], _ y: [Double]) -> Double? {
    precondition(x.count == y.count)
    let n = x.count
    guard n > 1 else { return nil }
    var order = Array(0..<n)
    order.sort { x[$0] < x[$1] || (x[$0] == x[$1] && (y[$0] < y[$1] || (y[$0] == y[$1] && $0 < $1))) }
    // Tied pairs in x, and jointly in (x, y).
    var tiesX = 0, tiesXY = 0
    var i = 0
    while i < n {
        var j = i
        while j + 1 < n && x[order[j + 1]] == x[order[i]] { j += 1 }
        let t = j - i + 1
        tiesX += t * (t - 1) / 2
        var u = i
        while u <= j {
            var v = u
            while v + 1 <= j && y[order[v + 1]] == y[order[u]] { v += 1 }
            let s = v - u + 1
            tiesXY += s * (s - 1) / 2
            u = v + 1
        }
        i = j + 1
    }
    // Merge sort by y, counting swaps (discordant pairs).
    var values = order.map { y[$0] }
    var buffer = values
    var swaps = 0
    var width = 1
    while width < n {
        var start = 0
        while start < n {
            let mid = min(start + width, n), end = min(start + 2 * width, n)
            var p = start, q = mid, k = start
            while p < mid && q < end {
                if values[q] < values[p] {
                    buffer[k] = values[q]; q += 1
                    swaps += mid - p
                } else {
                    buffer[k] = values[p]; p += 1
                }
                k += 1
            }
            while p < mid { buffer[k] = values[p]; p += 1; k += 1 }
            while q < end { buffer[k] = values[q]; q += 1; k += 1 }
            start = end
        }
        swap(&values, &buffer)
        width *= 2
    }
    var tiesY = 0
    i = 0
    while i < n {
        var j = i
        while j + 1 < n && values[j + 1] == values[i] { j += 1 }
        let t = j - i + 1
        tiesY += t * (t - 1) / 2
        i = j + 1
    }
    let pairs = n * (n - 1) / 2
    let numerator = Double(pairs - tiesX - tiesY + tiesXY - 2 * swaps)
    let denominator = (Double(pairs - tiesX) * Double(pairs - tiesY)).squareRoot()
    guard denominator > 0 else { return nil }
    return numerator / denominator
}

/// Indices of the k highest scores, ties broken by lower index first.
public func topK(_ scores: [Double], _ k: Int) -> [Int] {
    let order = scores.indices.sorted { scores[$0] > scores[$1] || (scores[$0] == scores[$1] && $0 < $1) }
    return Array(order.prefix(k))
}

/// Jaccard overlap `|A∩B| / |A∪B|` of the top-k sets of two score vectors (ties by index).
public func topKJaccard(_ x: [Double], _ y: [Double], k: Int) -> Double {
    precondition(x.count == y.count && k > 0 && k <= x.count)
    let a = Set(topK(x, k)), b = Set(topK(y, k))
    return Double(a.intersection(b).count) / Double(a.union(b).count)
}

/// Ordinary least squares of `y` on one regressor `x`, in float64, as the original pipeline's
/// length control: `β = Σ(x−x̄)(y−ȳ) / (Σ(x−x̄)² + 1e-12)`, `intercept = ȳ − β·x̄`,
/// residual `y − (βx + intercept)`, and `R² = 1 − var(res)/var(y)` (0 when y is constant).
public struct Residualization: Sendable {
    public var slope: Double
    public var intercept: Double
    public var rSquared: Double
    public var residuals: [Double]
}

public func residualize(_ y: [Double], on x: [Double]) -> Residualization {
    precondition(x.count == y.count && !x.isEmpty)
    let n = Double(x.count)
    let mx = x.reduce(0, +) / n, my = y.reduce(0, +) / n
    var sxy = 0.0, sxx = 0.0
    for i in x.indices { sxy += (x[i] - mx) * (y[i] - my); sxx += (x[i] - mx) * (x[i] - mx) }
    let slope = sxy / (sxx + 1e-12)
    let intercept = my - slope * mx
    let residuals = x.indices.map { y[$0] - (slope * x[$0] + intercept) }
    func variance(_ v: [Double]) -> Double {
        let m = v.reduce(0, +) / n
        return v.reduce(0) { $0 + ($1 - m) * ($1 - m) } / n
    }
    let vy = variance(y)
    let r2 = vy > 0 ? 1 - variance(residuals) / vy : 0
    return Residualization(slope: slope, intercept: intercept, rSquared: r2, residuals: residuals)
}

/// Cohen's d of two groups with the pooled standard deviation
/// `sqrt(((n1−1)s1² + (n0−1)s0²)/(n1+n0−2))` (sample variances). Returns `nil` when the pooled
/// deviation is 0 (the statistic is constant within both groups).
public func cohenD(_ group1: [Double], _ group0: [Double]) -> Double? {
    let n1 = Double(group1.count), n0 = Double(group0.count)
    guard n1 >= 1, n0 >= 1, n1 + n0 > 2 else { return nil }
    let m1 = group1.reduce(0, +) / n1, m0 = group0.reduce(0, +) / n0
    let ss1 = group1.reduce(0) { $0 + ($1 - m1) * ($1 - m1) }
    let ss0 = group0.reduce(0) { $0 + ($1 - m0) * ($1 - m0) }
    let pooled = ((ss1 + ss0) / (n1 + n0 - 2)).squareRoot()
    guard pooled > 0 else { return nil }
    return (m1 - m0) / pooled
}
