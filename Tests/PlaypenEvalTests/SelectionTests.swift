import Foundation
import PlaypenAttribution
import PlaypenIO
import Testing
@testable import PlaypenEval

/// The selection experiment's subsets on a hand-made pool.
@Suite struct SelectionTests {
    /// 10 rows; rank r has r*10 tokens; ids "r<rank>".
    func pool() -> [SelectionRow] {
        (1...10).reversed().map { r in SelectionRow(line: Array("{\"row_id\":\"r\(r)\"}".utf8), rowId: "r\(r)", rank: r, tokens: r * 10) }
    }

    @Test func topRandomAndWindow() throws {
        let subsets = try Selection.subsets(pool(), k: 3, seed: 7, window: true)
        #expect(subsets.map(\.name) == ["top", "random", "window"])
        let top = subsets[0], random = subsets[1], window = subsets[2]
        #expect(top.rows.map(\.rank) == [1, 2, 3] && top.tokens == 60)
        #expect(window.rows.map(\.rank) == [4, 5, 6])
        // No overlap with the top k, within the budget, and no remaining row of the rest still fits.
        #expect(random.rows.allSatisfy { $0.rank > 3 })
        #expect(random.tokens <= 60)
        let left = pool().filter { r in r.rank > 3 && !random.rows.contains { $0.rowId == r.rowId } }
        #expect(left.allSatisfy { random.tokens + $0.tokens > 60 })
        // Seeded: the same seed gives the same subset, another seed may not.
        #expect(try Selection.subsets(pool(), k: 3, seed: 7, window: false)[1].rows.map(\.rowId) == random.rows.map(\.rowId))
        #expect(throws: PlaypenError.self) { try Selection.subsets(pool(), k: 10, seed: 0, window: false) }
    }

    @Test func loadJoinsScoresByRowIdAndWritesRecordsInFileOrder() throws {
        let dir = try TempDir("pp-select")
        let examples = dir.file("train.jsonl")
        let records: [JSONValue] = (0..<5).map { i in
            ["row_id": .string("id\(i)"), "index": .int(i), "prompt": .string(String(repeating: "x", count: i + 1)), "completion": "GUESS: y"]
        }
        try writeJSONLines(records, to: examples)
        let scores = (0..<5).map { i in ScoreRecord(rowId: "id\(i)", index: i, score: Float(i), rank: 5 - i) }
        let rows = try Selection.load(examples: examples, scores: scores) { p, c in p.count + c.count }
        #expect(rows.map(\.rank) == [5, 4, 3, 2, 1] && rows.map(\.tokens) == [9, 10, 11, 12, 13])
        let subsets = try Selection.subsets(rows, k: 2, seed: 1, window: false)
        #expect(subsets[0].rows.map(\.rowId) == ["id4", "id3"])
        var order: [String: Int] = [:]
        for (i, r) in rows.enumerated() { order[r.rowId] = i }
        try Selection.write(subsets[0], order: order, to: dir.file("top.jsonl"))
        let back = try readJSONLines(dir.file("top.jsonl"))
        #expect(back.map { $0["row_id"]!.string! } == ["id3", "id4"])
        #expect(back[0] == records[3])
        // A score file of another pool is refused.
        #expect(throws: PlaypenError.self) {
            try Selection.load(examples: examples, scores: Array(scores.prefix(4))) { _, _ in 1 }
        }
    }

    @Test func tableShowsEachCondition() {
        let s = EvalSummary.words([["row_id": "a", "correct_target": true, "correct_gold": false, "pred_word": "x", "recorded_outcome": "success"],
                                   ["row_id": "b", "correct_target": false, "correct_gold": true, "pred_word": "y", "recorded_outcome": "failure"]])
        let table = ComparisonTable.markdown([("base", s, nil, nil), ("top", s, 40, 12000)])
        #expect(table.contains("| base | - | - | 1/2 = 0.500 | [0.095, 0.905] | 1/2 = 0.500 |"))
        #expect(table.contains("| top | 40 | 12000 |"))
    }
}
