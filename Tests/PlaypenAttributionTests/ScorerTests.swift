import Foundation
import PlaypenIO
import Testing
@testable import PlaypenAttribution

@Suite("Preconditioners and scores")
struct ScorerTests {
    /// Three modules of p = 4 (16 values each), matching scripts/reference/attribution_scores.py.
    static func layout() throws -> GradientLayout {
        let json = try #require(Fixture.json("scores_cases.json") as? [String: Any])
        let names = json["modules"] as! [String]
        return GradientLayout(modules: names.map { GradientModule(name: $0, outFeatures: 6, inFeatures: 5) },
                              projection: ProjectionConfig(dim: 4))
    }

    static func moments(_ layout: GradientLayout) throws -> (query: SecondMoment, index: SecondMoment, q: [Float], t: [Float]) {
        let q = try Fixture.npy("scores_query.npy").float32
        let t = try Fixture.npy("scores_train.npy").float32
        var hq = SecondMoment(layout: layout), hi = SecondMoment(layout: layout)
        q.withUnsafeBufferPointer { hq.accumulate(rows: $0.baseAddress!, count: q.count / layout.rowWidth, rowStride: layout.rowWidth) }
        // The index side in two shards, merged.
        let half = 17 * layout.rowWidth
        var second = SecondMoment(layout: layout)
        t.withUnsafeBufferPointer {
            hi.accumulate(rows: $0.baseAddress!, count: 17, rowStride: layout.rowWidth)
            second.accumulate(rows: $0.baseAddress! + half, count: t.count / layout.rowWidth - 17, rowStride: layout.rowWidth)
        }
        try hi.merge(second)
        return (hq, hi, q, t)
    }

    static func ranking(_ s: [Float]) -> [Int] {
        s.indices.sorted { s[$0] != s[$1] ? s[$0] > s[$1] : $0 < $1 }
    }

    @Test("Second moments equal (1/N) Σ v vᵀ, also when merged from shards")
    func secondMoments() throws {
        let layout = try Self.layout()
        let (hq, hi, _, _) = try Self.moments(layout)
        #expect(hq.count == 6 && hi.count == 40)
        let goldQ = try Fixture.npy("scores_hquery.npy"), goldI = try Fixture.npy("scores_hindex.npy")
        #expect(goldQ.shape == [3, 16, 16])
        for m in 0..<3 {
            for (h, gold) in [(hq.mean(m), goldQ), (hi.mean(m), goldI)] {
                let ref = Array(gold.values[(m * 256)..<((m + 1) * 256)])
                let scale = ref.map(abs).max()!
                for k in 0..<256 { #expect(abs(Double(h[k]) - ref[k]) <= 1e-5 * scale) }
            }
        }
    }

    @Test("Scores equal Bergson 2.5.1 (bergson-2) and the 0.5.1 formula (bergson-0.5): rtol 1e-3, same ranking")
    func scoresMatch() throws {
        let layout = try Self.layout()
        let (hq, hi, q, t) = try Self.moments(layout)
        let json = try #require(Fixture.json("scores_cases.json") as? [String: Any])
        let cases = json["cases"] as! [[String: Any]]
        #expect(cases.count == 12)
        for c in cases {
            let semantics = ScoreSemantics(rawValue: c["semantics"] as! String)!
            let mode = PreconditionMode(rawValue: c["mode"] as! String)!
            let unit = c["unit_normalize"] as! Bool
            var reducer = MeanReducer(width: layout.rowWidth, unitNormalize: unit, semantics: semantics)
            q.withUnsafeBufferPointer { qp in
                for r in 0..<(q.count / layout.rowWidth) {
                    reducer.add(UnsafeBufferPointer(rebasing: qp[(r * layout.rowWidth)..<((r + 1) * layout.rowWidth)]))
                }
            }
            let options = ScoreOptions(semantics: semantics, mode: mode, mixingCoefficient: c["mixing_coefficient"] as! Double,
                                       damping: c["damping"] as! Double, unitNormalize: unit)
            let scorer = try AttributionScorer(layout: layout, query: reducer.mean, queryMoment: hq, indexMoment: hi, options: options)
            let n = t.count / layout.rowWidth
            var scores = [Float](repeating: 0, count: n)
            let bad = t.withUnsafeBufferPointer { tp in
                scores.withUnsafeMutableBufferPointer {
                    scorer.score(rows: tp.baseAddress!, count: n, rowStride: layout.rowWidth, scores: $0.baseAddress!)
                }
            }
            #expect(bad.isEmpty)
            let gold = try Fixture.npy(c["file"] as! String).float32
            let scale = gold.map(abs).max()!
            var worst = 0.0
            for i in 0..<n {
                let err = Double(abs(scores[i] - gold[i])) / Double(abs(gold[i]) + 1e-3 * scale)
                worst = max(worst, err)
            }
            #expect(worst <= 1e-3, "\(semantics.rawValue) \(mode.rawValue) unit=\(unit): worst rel err \(worst)")
            #expect(Self.ranking(scores) == Self.ranking(gold), "\(semantics.rawValue) \(mode.rawValue) unit=\(unit): ranking")
        }
    }

    @Test("A singular preconditioner without damping is a clear error; with damping it inverts")
    func singular() throws {
        let layout = try Self.layout()
        let (hq, hi, q, _) = try Self.moments(layout)
        // H_query comes from 6 rows of width 16: rank 6, singular.
        for semantics in ScoreSemantics.allCases {
            let options = ScoreOptions(semantics: semantics, mode: .query, damping: 0)
            #expect(throws: PlaypenError.self) {
                try AttributionScorer(layout: layout, query: Array(q[0..<48]), queryMoment: hq, indexMoment: hi, options: options)
            }
            do {
                _ = try AttributionScorer(layout: layout, query: Array(q[0..<48]), queryMoment: hq, indexMoment: hi, options: options)
            } catch let e as PlaypenError {
                #expect(e.message.contains("singular") && e.message.contains("m0.lora_A"))
            }
        }
        // The index side (40 rows) is full rank: no damping works and H H⁻¹ = I.
        let h = hi.mean(0)
        let k = try Preconditioner.inverse(h, dim: 16, semantics: .bergson2, damping: 0, power: -1, module: "m0")
        for i in 0..<16 {
            for j in 0..<16 {
                var s: Double = 0
                for l in 0..<16 { s += Double(h[i * 16 + l]) * Double(k[l * 16 + j]) }
                #expect(abs(s - (i == j ? 1 : 0)) < 1e-3)
            }
        }
    }

    @Test("Rows with NaN or zero gradients are reported, not scored")
    func badRows() throws {
        let layout = try Self.layout()
        let (_, _, q, t) = try Self.moments(layout)
        var rows = Array(t[0..<(4 * 48)])
        rows[1 * 48 + 7] = .nan
        for k in 0..<48 { rows[3 * 48 + k] = 0 }
        let scorer = try AttributionScorer(layout: layout, query: Array(q[0..<48]), queryMoment: nil, indexMoment: nil,
                                           options: ScoreOptions())
        var s = [Float](repeating: 0, count: 4)
        let bad = rows.withUnsafeBufferPointer { r in
            s.withUnsafeMutableBufferPointer { scorer.score(rows: r.baseAddress!, count: 4, rowStride: 48, scores: $0.baseAddress!) }
        }
        #expect(bad == [.init(position: 1, zero: false), .init(position: 3, zero: true)])
        #expect(s[0].isFinite && s[2].isFinite)
    }
}
