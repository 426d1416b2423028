import Foundation
import Testing
@testable import PlaypenTrain

/// Fixture directory of this area.
let trainFixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures/train")

/// Deterministic test values in [-scale, scale).
func testValues(_ count: Int, seed: UInt64, scale: Double = 1) -> [Double] {
    let key = KeyedRandom.key(seed, "test")
    return (0..<count).map { (2 * Double(KeyedRandom.uniform(key, $0)) - 1) * scale }
}

/// Elementwise |a − e| <= atol + rtol·|e|, reporting the worst index; plus cosine similarity.
func assertClose(_ actual: [Double], _ expected: [Double], rtol: Double, atol: Double,
                 _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(actual.count == expected.count, "\(what): count \(actual.count) vs \(expected.count)",
            sourceLocation: sourceLocation)
    guard actual.count == expected.count else { return }
    var worst = -1, worstExcess = 0.0
    var dot = 0.0, na = 0.0, ne = 0.0
    for i in 0..<actual.count {
        let err = abs(actual[i] - expected[i])
        let excess = err - (atol + rtol * abs(expected[i]))
        if excess > worstExcess || !actual[i].isFinite { worst = i; worstExcess = excess.isFinite ? excess : .infinity }
        dot += actual[i] * expected[i]; na += actual[i] * actual[i]; ne += expected[i] * expected[i]
    }
    #expect(worst < 0, "\(what): worst index \(worst): \(worst >= 0 ? actual[worst] : 0) vs \(worst >= 0 ? expected[worst] : 0)",
            sourceLocation: sourceLocation)
    if na > 0 && ne > 0 {
        #expect(dot / (na.squareRoot() * ne.squareRoot()) > 1 - 1e-6, "\(what): cosine", sourceLocation: sourceLocation)
    }
}

func doubles(_ p: UnsafePointer<Float>, _ n: Int) -> [Double] { (0..<n).map { Double(p[$0]) } }
func doubles(_ a: [Float]) -> [Double] { a.map(Double.init) }
