import Foundation
import Testing
@testable import PlaypenStats

@Suite struct ROCTests {
    @Test func referenceFixtureWithTies() {
        // original-pipeline.md 8.3
        let auc = rocAUC(labels: [0, 0, 1, 1, 1, 0], scores: [0.1, 0.4, 0.4, 0.8, 0.1, 0.3])!
        #expect(abs(auc - 0.6666667) < 1e-7)
        #expect(rocAUC(labels: [1, 1], scores: [0.1, 0.2]) == nil)
    }

    /// roc_auc_score, roc_curve(drop_intermediate=False) and scipy.stats.rankdata.
    @Test func matchesScikitLearn() throws {
        let fixture = try loadFixture("auc.json")
        for case let c as [String: Any] in fixture["cases"] as! [Any] {
            let y = ints(c["y"]).map { UInt8($0) }, s = doubles(c["s"])
            let name = c["name"] as! String
            expectClose([rocAUC(labels: y, scores: s)!], [double(c["auc"])], rtol: 1e-14, "\(name) auc")
            expectClose(midRanks(s), doubles(c["midranks"]), rtol: 0, "\(name) ranks")
            let curve = rocCurve(labels: y, scores: s)
            expectClose(curve.map(\.fpr), doubles(c["fpr"]), rtol: 1e-15, floor: 1e-15, "\(name) fpr")
            expectClose(curve.map(\.tpr), doubles(c["tpr"]), rtol: 1e-15, floor: 1e-15, "\(name) tpr")
            // Unit multiplicities reproduce the plain AUC.
            let ranked = RankedScores(s)
            let w = ranked.weightedAUC(labels: y, counts: [Int32](repeating: 1, count: y.count))!
            expectClose([w], [double(c["auc"])], rtol: 1e-14, "\(name) weighted")
        }
        let pc = fixture["percentile"] as! [String: Any]
        let sorted = doubles(pc["values"]).sorted()
        expectClose(doubles(pc["q"]).map { percentile(sorted: sorted, $0) }, doubles(pc["expected"]),
                    rtol: 1e-14, "percentile")
    }

    /// Multiplicities equal to duplicating rows: the weighted AUC equals the AUC of the expanded sample.
    @Test func weightedAUCEqualsExpandedSample() {
        var rng = SeededGenerator(seed: 3)
        let n = 50
        let y = (0..<n).map { UInt8($0 % 3 == 0 ? 1 : 0) }
        let s = (0..<n).map { _ in Double(rng.below(7)) }
        let counts = (0..<n).map { _ in Int32(rng.below(4)) }
        var ye = [UInt8](), se = [Double]()
        for i in 0..<n { for _ in 0..<counts[i] { ye.append(y[i]); se.append(s[i]) } }
        let expected = rocAUC(labels: ye, scores: se)!
        let got = RankedScores(s).weightedAUC(labels: y, counts: counts)!
        #expect(abs(got - expected) < 1e-14)
    }

    @Test func bootstrapAndPermutation() {
        var rng = SeededGenerator(seed: 11)
        let n = 400
        let y = (0..<n).map { UInt8($0 < 80 ? 1 : 0) }
        let strong = (0..<n).map { Double(y[$0]) * 1.5 + Double(rng.below(1000)) / 500 }
        let auc = rocAUC(labels: y, scores: strong)!
        let ci = bootstrapAUC(labels: y, scores: strong, replicates: 500, seed: 42)!
        #expect(ci.lower < auc && auc < ci.upper && ci.upper - ci.lower < 0.2)
        // Same seed, same interval.
        #expect(bootstrapAUC(labels: y, scores: strong, replicates: 500, seed: 42)! == ci)
        let pStrong = permutationPValue(labels: y, scores: strong, permutations: 999, seed: 1)!
        #expect(pStrong == 1.0 / 1000)
        // Pure noise: the p-value is not small; a constant score ties everything (AUC 0.5, p = 1).
        let noise = (0..<n).map { _ in Double(rng.below(1000)) }
        #expect(permutationPValue(labels: y, scores: noise, permutations: 999, seed: 1)! > 0.01)
        let flat = [Double](repeating: 1, count: n)
        #expect(rocAUC(labels: y, scores: flat) == 0.5)
        #expect(permutationPValue(labels: y, scores: flat, permutations: 99, seed: 1) == 1.0)
    }
}
