import Foundation
import PlaypenIO
import PlaypenStats

/// Rank statistics for comparing score files (how stable a ranking is across preconditioning
/// modes and seeds). Spearman and Kendall tau-b come from PlaypenStats (SciPy-exact, O(n log n)).
public enum RankComparison {
    public static func spearman(_ x: [Double], _ y: [Double]) -> Double { PlaypenStats.spearman(x, y) ?? .nan }

    public static func kendallTauB(_ x: [Double], _ y: [Double]) -> Double { PlaypenStats.kendallTauB(x, y) ?? .nan }

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
