import Foundation

/// Log odds ratio of a 2x2 table `[[a, b], [c, d]]` with the Haldane-Anscombe 0.5 pseudocount,
/// `ln((a+.5)(d+.5)/((b+.5)(c+.5)))`, and its standard error
/// `sqrt(1/(a+.5) + 1/(b+.5) + 1/(c+.5) + 1/(d+.5))`.
public func logOddsRatio(a: Int, b: Int, c: Int, d: Int) -> (lor: Double, se: Double) {
    let a = Double(a) + 0.5, b = Double(b) + 0.5, c = Double(c) + 0.5, d = Double(d) + 0.5
    return (log(a) + log(d) - log(b) - log(c), (1 / a + 1 / b + 1 / c + 1 / d).squareRoot())
}

/// Fisher's exact test on `[[a, b], [c, d]]`, as `scipy.stats.fisher_exact`.
public struct FisherResult: Sendable, Equatable {
    /// Sample odds ratio `ad/(bc)`: `inf` when `bc = 0`, NaN when a row or column sum is 0.
    public var oddsRatio: Double
    public var twoSided: Double
    /// `P(X ≥ a)`.
    public var greater: Double
    /// `P(X ≤ a)`.
    public var less: Double
    /// Natural log of the two-sided p-value, exact even where `twoSided` underflows to 0.
    public var logTwoSided: Double
}

/// Relative tolerance for "as probable as the observed table" in the two-sided sum. SciPy uses
/// 1e-14 on pmf values from Boost; our log-pmfs are accumulated by recurrence (error ~1e-15 per
/// step), so the tolerance is 1e-12 in log space, enough to catch exact ties of symmetric tables.
let fisherLogTolerance = 1e-12

/// Fisher's exact test. The null is `a ~ Hypergeom(M = a+b+c+d, K = a+b, N = a+c)`; the pmf is
/// evaluated in log space relative to the mode by the ratio recurrence
/// `pmf(x+1)/pmf(x) = (K−x)(N−x) / ((x+1)(M−K−N+x+1))`, walking outward from the mode on both
/// sides until terms fall below e^-50 of both the mode and the observed table. The two-sided
/// p-value sums every x with `pmf(x) ≤ pmf(a)·(1 + 1e-12)`, capped at 1.
public func fisherExact(a: Int, b: Int, c: Int, d: Int) -> FisherResult {
    precondition(a >= 0 && b >= 0 && c >= 0 && d >= 0)
    if a + b == 0 || c + d == 0 || a + c == 0 || b + d == 0 {
        return FisherResult(oddsRatio: .nan, twoSided: 1, greater: 1, less: 1, logTwoSided: 0)
    }
    let oddsRatio = (b > 0 && c > 0) ? Double(a) * Double(d) / (Double(b) * Double(c)) : .infinity
    let m = a + b + c + d, k = a + b, n = a + c
    let lo = max(0, n - (m - k)), hi = min(n, k)
    var mode = Int((Double(n + 1) * Double(k + 1) / Double(m + 2)).rounded(.down))
    mode = min(max(mode, lo), hi)
    let kd = Double(k), nd = Double(n), tail = Double(m - k - n)
    // log pmf(x+1) − log pmf(x)
    @inline(__always) func up(_ x: Int) -> Double {
        let xd = Double(x)
        return log(((kd - xd) * (nd - xd)) / ((xd + 1) * (tail + xd + 1)))
    }
    // log pmf(a) relative to the mode
    var la = 0.0
    if a > mode { for x in mode..<a { la += up(x) } }
    else if a < mode { for x in stride(from: mode - 1, through: a, by: -1) { la -= up(x) } }
    let threshold = la + fisherLogTolerance
    let stop = min(la, 0) - 50
    // Every sum is kept relative to a scale that makes its largest term at most ~1:
    // total and a tail holding the mode relative to the mode; the others relative to pmf(a).
    let scaleGE = a >= mode ? la : 0.0, scaleLE = a <= mode ? la : 0.0
    var total = 0.0, twoTail = 0.0, sumGE = 0.0, sumLE = 0.0
    @inline(__always) func visit(_ x: Int, _ l: Double) {
        total += exp(l)
        if l <= threshold { twoTail += exp(l - la) }
        if x >= a { sumGE += exp(l - scaleGE) }
        if x <= a { sumLE += exp(l - scaleLE) }
    }
    visit(mode, 0)
    var l = 0.0
    var x = mode
    while x < hi {
        l += up(x); x += 1
        visit(x, l)
        if l < stop && x >= a { break }
    }
    l = 0.0
    x = mode
    while x > lo {
        x -= 1; l -= up(x)
        visit(x, l)
        if l < stop && x <= a { break }
    }
    let logTotal = log(total)
    let logTwo = min(0, la + log(twoTail) - logTotal)
    return FisherResult(oddsRatio: oddsRatio, twoSided: exp(logTwo),
                        greater: min(1, exp(scaleGE + log(sumGE) - logTotal)),
                        less: min(1, exp(scaleLE + log(sumLE) - logTotal)), logTwoSided: logTwo)
}

/// Benjamini-Hochberg q-values, as `scipy.stats.false_discovery_control(p, method="bh")`:
/// sort ascending, `q_(i) = p_(i)·m/i`, reverse cumulative minimum, clip to [0, 1], original order.
/// Works on natural-log p-values so that p-values below the double range keep exact q-values.
public func benjaminiHochbergLog(_ logP: [Double]) -> [Double] {
    let m = logP.count
    guard m > 0 else { return [] }
    let order = logP.indices.sorted { logP[$0] < logP[$1] || (logP[$0] == logP[$1] && $0 < $1) }
    var logQ = [Double](repeating: 0, count: m)
    var running = 0.0
    let logM = log(Double(m))
    for r in stride(from: m - 1, through: 0, by: -1) {
        let i = order[r]
        let value = logP[i] + logM - log(Double(r + 1))
        running = min(running, value)
        logQ[i] = running
    }
    return logQ
}

/// Benjamini-Hochberg q-values from p-values (see `benjaminiHochbergLog`).
public func benjaminiHochberg(_ p: [Double]) -> [Double] {
    benjaminiHochbergLog(p.map { log($0) }).map { exp($0) }
}
