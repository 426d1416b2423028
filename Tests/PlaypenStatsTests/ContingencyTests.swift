import Foundation
import Testing
@testable import PlaypenStats

@Suite struct ContingencyTests {
    /// The hand fixtures of original-pipeline.md 8.5.
    @Test func referenceFixtures() {
        let cases: [([Int], Double, Double, Double, Double)] = [
            ([8, 2, 1, 5], 20.0, 0.034965035, 0.024475524, 0.999125874),
            ([3, 17, 10, 70], 1.2352941, 0.720027179, 0.506250361, 0.757724013),
            ([0, 20, 5, 75], 0.0, 0.579855997, 1.0, 0.319309442),
            ([20, 0, 30, 50], .infinity, 1.7586073e-07, 8.7930363e-08, 1.0),
        ]
        for (t, or, two, greater, less) in cases {
            let r = fisherExact(a: t[0], b: t[1], c: t[2], d: t[3])
            #expect(or.isInfinite ? r.oddsRatio.isInfinite : abs(r.oddsRatio - or) < 1e-7)
            #expect(abs(r.twoSided / two - 1) < 1e-7, "\(t) two-sided \(r.twoSided)")
            #expect(abs(r.greater / greater - 1) < 1e-7, "\(t) greater \(r.greater)")
            #expect(abs(r.less / less - 1) < 1e-7, "\(t) less \(r.less)")
        }
        let lor1 = logOddsRatio(a: 8, b: 2, c: 1, d: 5)
        #expect(abs(lor1.lor - 2.5230584) < 1e-7 && abs(lor1.se - 1.1688165) < 1e-7)
        let lor3 = logOddsRatio(a: 0, b: 20, c: 5, d: 75)
        #expect(abs(lor3.lor + 1.0941875) < 1e-7 && abs(lor3.se - 1.4979465) < 1e-7)
        let lor4 = logOddsRatio(a: 20, b: 0, c: 30, d: 50)
        #expect(abs(lor4.lor - 4.2178187) < 1e-7 && abs(lor4.se - 1.4496101) < 1e-7)
        let q = benjaminiHochberg([0.01, 0.04, 0.03, 0.005, 0.2, 1.0])
        let expected = [0.03, 0.06, 0.06, 0.03, 0.24, 1.0]
        for i in q.indices { #expect(abs(q[i] - expected[i]) < 1e-15) }
    }

    /// scipy.stats.fisher_exact on small, symmetric, degenerate and 100k-row tables.
    @Test func matchesSciPy() throws {
        let fixture = try loadFixture("fisher.json")
        for case let c as [String: Any] in fixture["cases"] as! [Any] {
            let t = (c["table"] as! [[Any]]).flatMap { $0.map { ($0 as! NSNumber).intValue } }
            let r = fisherExact(a: t[0], b: t[1], c: t[2], d: t[3])
            if let s = c["odds_ratio"] as? String {
                #expect(s == "inf" ? r.oddsRatio == .infinity : r.oddsRatio.isNaN, "\(t)")
            } else {
                expectClose([r.oddsRatio], [double(c["odds_ratio"])], rtol: 1e-14, "\(t) odds ratio")
            }
            expectClose([r.twoSided, r.greater, r.less], [double(c["two_sided"]), double(c["greater"]), double(c["less"])],
                        rtol: 1e-9, "\(t) p-values")
            #expect(abs(r.logTwoSided - log(r.twoSided)) < 1e-9 || r.twoSided == 0)
            let lor = logOddsRatio(a: t[0], b: t[1], c: t[2], d: t[3])
            expectClose([lor.lor, lor.se], [double(c["lor"]), double(c["se"])], rtol: 1e-13, floor: 1e-12, "\(t) LOR")
        }
    }

    /// Far tails below the double range keep an exact log p-value (checked against the
    /// closed form of the most extreme table: p = 2·C(K,K)C(M−K,0)/C(M,K) for K = N = M/2).
    @Test func logPValueBeyondDoubleRange() {
        let r = fisherExact(a: 1000, b: 0, c: 0, d: 1000)
        var lnChoose = 0.0  // ln C(2000, 1000)
        for i in 1...1000 { lnChoose += log(Double(1000 + i)) - log(Double(i)) }
        #expect(r.twoSided == 0)
        #expect(abs(r.logTwoSided - (log(2) - lnChoose)) < 1e-9 * lnChoose)
    }

    /// scipy.stats.false_discovery_control(method="bh").
    @Test func benjaminiHochbergMatchesSciPy() throws {
        let fixture = try loadFixture("bh.json")
        for case let c as [String: Any] in fixture["cases"] as! [Any] {
            expectClose(benjaminiHochberg(doubles(c["p"])), doubles(c["q"]), rtol: 1e-13, "BH")
        }
    }
}
