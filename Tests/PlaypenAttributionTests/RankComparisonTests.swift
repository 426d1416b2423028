import Foundation
import Testing
@testable import PlaypenAttribution

@Suite("Rank comparison")
struct RankComparisonTests {
    @Test("Spearman and Kendall tau-b equal SciPy's, with and without ties")
    func matchesScipy() throws {
        let cases = try #require(Fixture.json("rankcorr.json") as? [[String: Any]])
        #expect(cases.count == 5)
        for c in cases {
            let x = c["x"] as! [Double], y = c["y"] as! [Double]
            let rho = RankComparison.spearman(x, y), tau = RankComparison.kendallTauB(x, y)
            #expect(abs(rho - (c["spearman"] as! Double)) < 1e-12, "n=\(x.count) spearman \(rho)")
            #expect(abs(tau - (c["kendall_tau_b"] as! Double)) < 1e-12, "n=\(x.count) tau \(tau)")
        }
    }

    @Test("Ranks: 1 = highest, ties by index; top-k Jaccard")
    func ranksAndJaccard() throws {
        #expect(rankScores([0.5, 2, 0.5, -1, 2]) == [3, 1, 4, 5, 2])
        let a = [ScoreRecord(rowId: "a", index: 0, score: 3, rank: 1), ScoreRecord(rowId: "b", index: 1, score: 2, rank: 2),
                 ScoreRecord(rowId: "c", index: 2, score: 1, rank: 3)]
        let b = [ScoreRecord(rowId: "c", index: 0, score: 3, rank: 1), ScoreRecord(rowId: "b", index: 1, score: 2, rank: 2),
                 ScoreRecord(rowId: "a", index: 2, score: 1, rank: 3)]
        let cmp = try ScoreFileComparison.compare("A", a, "B", b, ks: [1, 2, 3])
        #expect(abs(cmp.spearman + 1) < 1e-12 && abs(cmp.kendallTauB + 1) < 1e-12)
        #expect(cmp.topK.map(\.jaccard) == [0, 1.0 / 3, 1])
        #expect(throws: (any Error).self) {
            try ScoreFileComparison.compare("A", a, "B", Array(b.prefix(2)), ks: [1])
        }
    }
}
