import Foundation
import Testing
@testable import PlaypenStats

@Suite struct CorrelationTests {
    /// scipy.stats.spearmanr / kendalltau (tau-b) / pearsonr, with and without ties, and top-k Jaccard.
    @Test func matchesSciPy() throws {
        let fixture = try loadFixture("correlation.json")
        for case let c as [String: Any] in fixture["cases"] as! [Any] {
            let x = doubles(c["x"]), y = doubles(c["y"])
            expectClose([spearman(x, y)!], [double(c["spearman"])], rtol: 1e-12, "spearman")
            expectClose([kendallTauB(x, y)!], [double(c["kendall_tau_b"])], rtol: 1e-12, "kendall")
            expectClose([pearson(x, y)!], [double(c["pearson"])], rtol: 1e-12, "pearson")
            let k = (c["k"] as! NSNumber).intValue
            expectClose([topKJaccard(x, y, k: k)], [double(c["jaccard"])], rtol: 1e-14, "jaccard")
        }
        #expect(spearman([1, 1, 1], [1, 2, 3]) == nil)
    }

    /// Residualisation equals numpy.polyfit(x, y, 1) residuals; R² as the original printed it.
    @Test func residualizeMatchesPolyfit() throws {
        let r = try loadFixture("correlation.json")["residualize"] as! [String: Any]
        let fit = residualize(doubles(r["y"]), on: doubles(r["x"]))
        expectClose([fit.slope, fit.intercept, fit.rSquared], [double(r["slope"]), double(r["intercept"]), double(r["r2"])],
                    rtol: 1e-9, "OLS")
        expectClose(fit.residuals, doubles(r["residuals"]), rtol: 1e-8, floor: 1e-3, "residuals")
    }

    @Test func cohenDPooled() throws {
        let c = try loadFixture("correlation.json")["cohen_d"] as! [String: Any]
        expectClose([cohenD(doubles(c["g1"]), doubles(c["g0"]))!], [double(c["d"])], rtol: 1e-12, "cohen d")
        #expect(cohenD([2, 2, 2], [2, 2]) == nil)
    }
}
