import Foundation
import PlaypenIO
import Testing
@testable import PlaypenAttribution

@Suite("Score run")
struct ScoreRunTests {
    static func sources(_ info: GradientStreamInfo? = nil) throws -> (InMemoryGradients, InMemoryGradients, SecondMoment, SecondMoment) {
        let layout = try ScorerTests.layout()
        let (hq, hi, q, t) = try ScorerTests.moments(layout)
        let base = info ?? GradientStreamInfo(layout: layout, adapterSHA256: "aa", modelSHA256: "mm")
        let query = try InMemoryGradients(name: "query.ppt", info: base, rowIds: (0..<6).map { "q\($0)" }, values: q)
        let train = try InMemoryGradients(name: "train.ppt", info: base, rowIds: (0..<40).map { String(format: "%016x", $0 * 7919) }, values: t)
        return (query, train, hq, hi)
    }

    @Test("Per-example query, mixed preconditioner: equals the golden; byte-identical for any thread count")
    func matchesGolden() throws {
        let (query, train, hq, hi) = try Self.sources()
        let options = ScoreOptions(semantics: .bergson2, mode: .mixed)
        let gold = try Fixture.npy("scores_bergson-2_mixed_unit.npy").float32
        var first: [Float]? = nil
        for (threads, chunk) in [(1, 8), (2, 8), (3, 8)] {
            let r = try ScoreRun.run(query: query, train: train, queryMoment: hq, indexMoment: hi, options: options,
                                     threads: threads, chunkRows: chunk)
            #expect(r.rowIds == train.rowIds)
            let scale = gold.map(abs).max()!
            for i in gold.indices { #expect(abs(r.scores[i] - gold[i]) <= 1e-3 * (abs(gold[i]) + 1e-3 * scale)) }
            #expect(r.ranks == rankScores(gold))
            if let first { #expect(first.map(\.bitPattern) == r.scores.map(\.bitPattern)) } else { first = r.scores }
        }
    }

    @Test("A reduced one-row query gives the same scores as the per-example query")
    func reducedQuery() throws {
        let (query, train, hq, hi) = try Self.sources()
        for semantics in ScoreSemantics.allCases {
            let options = ScoreOptions(semantics: semantics, mode: .query)
            var reducer = MeanReducer(width: 48, unitNormalize: true, semantics: semantics)
            query.values.withUnsafeBufferPointer { v in
                for r in 0..<6 { reducer.add(UnsafeBufferPointer(rebasing: v[(r * 48)..<((r + 1) * 48)])) }
            }
            var info = query.info
            info.kind = .reduced
            info.unitNormalized = true
            info.reducedRows = 6
            let reduced = try InMemoryGradients(name: "query_mean.ppt", info: info, rowIds: ["mean"], values: reducer.mean)
            let a = try ScoreRun.run(query: query, train: train, queryMoment: hq, indexMoment: hi, options: options)
            let b = try ScoreRun.run(query: reduced, train: train, queryMoment: hq, indexMoment: hi, options: options)
            #expect(a.scores.map(\.bitPattern) == b.scores.map(\.bitPattern))
        }
    }

    @Test("Query and train made differently are refused with a clear error")
    func refusesMismatch() throws {
        let (query, train, hq, hi) = try Self.sources()
        func refused(_ change: (inout GradientStreamInfo) -> Void, _ words: String) throws {
            var info = train.info
            change(&info)
            let other = try InMemoryGradients(name: "train.ppt", info: info, rowIds: train.rowIds,
                                              values: info.layout.rowWidth == 48 ? train.values : [Float](repeating: 1, count: 40 * info.layout.rowWidth))
            do {
                _ = try ScoreRun.run(query: query, train: other, queryMoment: hq, indexMoment: hi, options: ScoreOptions())
                Issue.record("accepted a mismatch: \(words)")
            } catch let e as PlaypenError {
                #expect(e.message.contains("query.ppt") && e.message.contains("train.ppt") && e.message.contains(words), "\(e.message)")
            }
        }
        try refused({ $0.layout.projection.dim = 8 }, "projection dim 4 vs 8")
        try refused({ $0.layout.projection.seed = 3 }, "projection seed none vs 3")
        try refused({ $0.layout.modules[1].name = "other" }, "module m0.lora_B")
        try refused({ $0.adapterSHA256 = "bb" }, "different adapters")
        try refused({ $0.modelSHA256 = "nn" }, "different base models")
    }

    @Test("NaN and zero train rows are named; --allow-zero-rows scores zero rows 0")
    func namesBadRows() throws {
        let (query, train, hq, hi) = try Self.sources()
        var values = train.values
        values[5 * 48 + 3] = .nan
        for k in 0..<48 { values[9 * 48 + k] = 0 }
        let bad = try InMemoryGradients(name: "train.ppt", info: train.info, rowIds: train.rowIds, values: values)
        do {
            _ = try ScoreRun.run(query: query, train: bad, queryMoment: hq, indexMoment: hi, options: ScoreOptions())
            Issue.record("accepted NaN rows")
        } catch let e as PlaypenError {
            #expect(e.message.contains("2 train row(s)") && e.message.contains(train.rowIds[5]) && e.message.contains(train.rowIds[9]))
        }
        values[5 * 48 + 3] = 0.5
        let zeroOnly = try InMemoryGradients(name: "train.ppt", info: train.info, rowIds: train.rowIds, values: values)
        let r = try ScoreRun.run(query: query, train: zeroOnly, queryMoment: hq, indexMoment: hi, options: ScoreOptions(),
                                 allowZeroRows: true)
        #expect(r.scores[9] == 0)
    }
}
