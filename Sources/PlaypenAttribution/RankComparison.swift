import Foundation
import PlaypenIO

/// Rank statistics for comparing score files (how stable a ranking is across preconditioning
/// modes and seeds). Matches SciPy: `spearmanr` (Pearson on average ranks) and `kendalltau`
/// (tau-b, ties on either side), computed in O(n log n).
public enum RankComparison {
    /// Ranks 1...n, ties get the average of their positions (scipy.stats.rankdata "average").
    public static func averageRanks(_ x: [Double]) -> [Double] {
        let order = x.indices.sorted { x[$0] != x[$1] ? x[$0] < x[$1] : $0 < $1 }
        var ranks = [Double](repeating: 0, count: x.count)
        var i = 0
        while i < order.count {
            var j = i
            while j + 1 < order.count && x[order[j + 1]] == x[order[i]] { j += 1 }
            let r = Double(i + j) / 2 + 1
            for k in i...j { ranks[order[k]] = r }
            i = j + 1
        }
        return ranks
    }

    public static func pearson(_ x: [Double], _ y: [Double]) -> Double {
        let n = Double(x.count)
        let mx = x.reduce(0, +) / n, my = y.reduce(0, +) / n
        var sxy = 0.0, sxx = 0.0, syy = 0.0
        for k in x.indices {
            let a = x[k] - mx, b = y[k] - my
            sxy += a * b
            sxx += a * a
            syy += b * b
        }
        return sxy / (sxx * syy).squareRoot()
    }

    public static func spearman(_ x: [Double], _ y: [Double]) -> Double {
        precondition(x.count == y.count)
        return pearson(averageRanks(x), averageRanks(y))
    }

    /// Kendall's tau-b (Knight's algorithm, as scipy.stats.kendalltau).
    public static func kendallTauB(_ x: [Double], _ y: [Double]) -> Double {
        precondition(x.count == y.count)
        let n = x.count
        guard n > 1 else { return .nan }
        var perm = Array(0..<n)
        perm.sort { x[$0] != x[$1] ? x[$0] < x[$1] : y[$0] < y[$1] }
        func tiePairs(_ equal: (Int, Int) -> Bool, _ order: [Int]) -> Int {
            var total = 0, run = 1
            for k in 1..<n {
                if equal(order[k - 1], order[k]) {
                    run += 1
                } else {
                    total += run * (run - 1) / 2
                    run = 1
                }
            }
            return total + run * (run - 1) / 2
        }
        let xtie = tiePairs({ x[$0] == x[$1] }, perm)
        let ntie = tiePairs({ x[$0] == x[$1] && y[$0] == y[$1] }, perm)
        // Discordant pairs = strict inversions of y in (x, y) order, counted by merge sort.
        var values = perm.map { y[$0] }
        var buffer = values
        var dis = 0
        var width = 1
        while width < n {
            var lo = 0
            while lo < n - width {
                let mid = lo + width, hi = min(lo + 2 * width, n)
                var i = lo, j = mid, k = lo
                while i < mid && j < hi {
                    if values[j] < values[i] {
                        buffer[k] = values[j]
                        dis += mid - i
                        j += 1
                    } else {
                        buffer[k] = values[i]
                        i += 1
                    }
                    k += 1
                }
                while i < mid { buffer[k] = values[i]; i += 1; k += 1 }
                while j < hi { buffer[k] = values[j]; j += 1; k += 1 }
                for t in lo..<hi { values[t] = buffer[t] }
                lo = hi
            }
            width *= 2
        }
        // `values` is now y sorted.
        var ytie = 0, run = 1
        for k in 1..<n {
            if values[k] == values[k - 1] { run += 1 } else { ytie += run * (run - 1) / 2; run = 1 }
        }
        ytie += run * (run - 1) / 2
        let total = n * (n - 1) / 2
        let conMinusDis = Double(total - xtie - ytie + ntie - 2 * dis)
        return conMinusDis / Double(total - xtie).squareRoot() / Double(total - ytie).squareRoot()
    }

    /// |A ∩ B| / |A ∪ B| of two top-k sets.
    public static func jaccard<T: Hashable>(_ a: Set<T>, _ b: Set<T>) -> Double {
        let union = a.union(b).count
        return union == 0 ? 1 : Double(a.intersection(b).count) / Double(union)
    }
}

/// One score record as pp-score writes it.
public struct ScoreRecord: Sendable, Equatable {
    public var rowId: String
    public var index: Int
    public var score: Float
    public var rank: Int

    public init(rowId: String, index: Int, score: Float, rank: Int) {
        self.rowId = rowId
        self.index = index
        self.score = score
        self.rank = rank
    }
}

/// Ranks: 1 = highest score, ties broken by index (lower index first). NaN is not allowed here.
public func rankScores(_ scores: [Float]) -> [Int] {
    let order = scores.indices.sorted { scores[$0] != scores[$1] ? scores[$0] > scores[$1] : $0 < $1 }
    var rank = [Int](repeating: 0, count: scores.count)
    for (r, i) in order.enumerated() { rank[i] = r + 1 }
    return rank
}

/// Pairwise comparison of score files by row_id.
public struct ScoreFileComparison: Sendable {
    public var a: String
    public var b: String
    public var rows: Int
    public var spearman: Double
    public var kendallTauB: Double
    /// (k, Jaccard of the top-k row_id sets by rank)
    public var topK: [(k: Int, jaccard: Double)]

    public static func compare(_ nameA: String, _ a: [ScoreRecord], _ nameB: String, _ b: [ScoreRecord],
                               ks: [Int]) throws -> ScoreFileComparison
    {
        var byId: [String: ScoreRecord] = [:]
        byId.reserveCapacity(b.count)
        for r in b { byId[r.rowId] = r }
        guard a.count == b.count else {
            throw PlaypenError("\(nameA) has \(a.count) rows but \(nameB) has \(b.count): compare needs the same rows")
        }
        var x: [Double] = [], y: [Double] = []
        x.reserveCapacity(a.count)
        y.reserveCapacity(a.count)
        for r in a {
            guard let other = byId[r.rowId] else {
                throw PlaypenError("\(nameA): row_id \(r.rowId) is not in \(nameB)")
            }
            x.append(Double(r.score))
            y.append(Double(other.score))
        }
        var topK: [(Int, Double)] = []
        for k in ks {
            let sa = Set(a.filter { $0.rank <= k }.map(\.rowId)), sb = Set(b.filter { $0.rank <= k }.map(\.rowId))
            topK.append((k, RankComparison.jaccard(sa, sb)))
        }
        return ScoreFileComparison(a: nameA, b: nameB, rows: a.count, spearman: RankComparison.spearman(x, y),
                                   kendallTauB: RankComparison.kendallTauB(x, y), topK: topK)
    }
}
