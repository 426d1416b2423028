import Foundation
import Testing

/// Fixture directory Tests/Fixtures/contrast (found via #filePath).
let contrastFixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("Fixtures/contrast")

func loadFixture(_ name: String) throws -> [String: Any] {
    let data = try Data(contentsOf: contrastFixtures.appendingPathComponent(name))
    return try JSONSerialization.jsonObject(with: data) as! [String: Any]
}

func doubles(_ value: Any?) -> [Double] { (value as! [Any]).map { ($0 as! NSNumber).doubleValue } }
func ints(_ value: Any?) -> [Int] { (value as! [Any]).map { ($0 as! NSNumber).intValue } }
func double(_ value: Any?) -> Double { (value as! NSNumber).doubleValue }

/// Largest relative error `|a−e| / max(|e|, floor)`; reports the worst index on failure.
func expectClose(_ actual: [Double], _ expected: [Double], rtol: Double, floor: Double = 1e-300,
                 _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(actual.count == expected.count, "\(what): count \(actual.count) vs \(expected.count)",
            sourceLocation: sourceLocation)
    var worst = 0.0, worstIndex = -1
    for i in 0..<min(actual.count, expected.count) {
        let err = abs(actual[i] - expected[i]) / max(abs(expected[i]), floor)
        if !(err <= worst) { worst = err; worstIndex = i }
    }
    let a = worstIndex >= 0 ? actual[worstIndex] : .nan, e = worstIndex >= 0 ? expected[worstIndex] : .nan
    #expect(worst <= rtol, "\(what): worst relative error \(worst) at \(worstIndex): \(a) vs \(e)",
            sourceLocation: sourceLocation)
}
