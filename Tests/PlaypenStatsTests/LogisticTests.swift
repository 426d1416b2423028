import Foundation
import Testing
@testable import PlaypenStats

@Suite struct LogisticTests {
    /// StandardScaler fitted on train rows, then LogisticRegression(class_weight="balanced",
    /// tol=1e-12, newton-cg) on the standardised rows: coefficients, intercept, decision values
    /// and probabilities within 1e-6 relative (observed ~1e-9).
    @Test func matchesScikitLearn() throws {
        let fixture = try loadFixture("logistic.json")
        for case let c as [String: Any] in fixture["cases"] as! [Any] {
            let name = c["name"] as! String
            let p = (c["p"] as! NSNumber).intValue
            let x = doubles(c["x"]), y = ints(c["y"]).map { UInt8($0) }, train = ints(c["train"])
            let scaler = Standardizer(fit: x, columns: p, rows: train)
            expectClose(scaler.mean, doubles(c["mean"]), rtol: 1e-12, floor: 1e-9, "\(name) mean")
            expectClose(scaler.scale, doubles(c["scale"]), rtol: 1e-12, "\(name) scale")
            let xz = scaler.transform(x, columns: p)
            var xTrain = [Double](), yTrain = [UInt8]()
            for r in train { xTrain += xz[(r * p)..<((r + 1) * p)]; yTrain.append(y[r]) }
            let model = try fitBalancedLogistic(x: xTrain, columns: p, labels: yTrain, c: double(c["C"]))
            #expect(model.converged, "\(name): not converged")
            #expect(model.iterations < 40, "\(name): \(model.iterations) iterations")
            expectClose(model.coefficients, doubles(c["coef"]), rtol: 1e-6, floor: 1e-6, "\(name) coef")
            expectClose([model.intercept], [double(c["intercept"])], rtol: 1e-6, floor: 1e-6, "\(name) intercept")
            expectClose(model.decision(xz), doubles(c["decision"]), rtol: 1e-6, floor: 1e-6, "\(name) decision")
            expectClose(model.probability(xz), doubles(c["probability"]), rtol: 1e-6, "\(name) probability")
        }
    }

    /// A constant statistic standardises to zeros (scale 1) and gets a zero coefficient.
    @Test func constantColumnIsDocumentedZero() throws {
        let fixture = try loadFixture("logistic.json")
        let c = (fixture["cases"] as! [[String: Any]]).first { $0["name"] as! String == "constant_column" }!
        let p = 10, x = doubles(c["x"]), train = ints(c["train"])
        let scaler = Standardizer(fit: x, columns: p, rows: train)
        #expect(scaler.constant == (0..<p).map { $0 == 3 })
        #expect(scaler.scale[3] == 1 && doubles(c["scale"])[3] == 1)
        #expect(double((c["coef"] as! [Any])[3]) == 0)
    }

    /// The section 8.2 class weights: 30 negatives and 10 positives give [0.6667, 2.0].
    @Test func balancedClassWeights() throws {
        let y = [UInt8](repeating: 0, count: 30) + [UInt8](repeating: 1, count: 10)
        let x = (0..<40).map { Double($0 % 7) }
        let model = try fitBalancedLogistic(x: x, columns: 1, labels: y)
        #expect(abs(model.classWeights[0] - 40.0 / 60.0) < 1e-15 && model.classWeights[1] == 2.0)
    }

    @Test func oneClassIsAnError() {
        #expect(throws: (any Error).self) {
            try fitBalancedLogistic(x: [1, 2, 3], columns: 1, labels: [1, 1, 1])
        }
    }
}
