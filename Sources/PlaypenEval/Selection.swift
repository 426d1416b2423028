import Foundation
import PlaypenAttribution
import PlaypenIO
import PlaypenModel
import PlaypenTrain

// ------------------------------------------------------------------------------------------------
// The selection experiment's subsets (attribution.md 11.2): from one ranking of the training pool,
// the top k rows, a matched-random subset with the same token budget drawn from the rest (no
// overlap with the top k), and optionally the rank window k+1..2k.

public struct SelectionRow: Sendable {
    /// The example record's line, verbatim.
    public var line: [UInt8]
    public var rowId: String
    public var rank: Int
    /// Training tokens (BOS + prompt + completion + EOS after truncation), as pp-train sees them.
    public var tokens: Int
}

public struct Subset: Sendable {
    public var name: String
    public var rows: [SelectionRow]
    public var tokens: Int { rows.reduce(0) { $0 + $1.tokens } }
}

public enum Selection {
    /// Joins the examples file with the scores by row_id (every example needs a score) and counts
    /// each example's training tokens with `count`. Returns the rows in examples-file order.
    public static func load(examples path: String, scores: [ScoreRecord],
                            count: (String, String) throws -> Int) throws -> [SelectionRow] {
        var rankOf: [String: Int] = [:]
        for s in scores { rankOf[s.rowId] = s.rank }
        let reader = try JSONLinesReader(path: path)
        var rows: [SelectionRow] = []
        while let line = try reader.nextLine() {
            let value: JSONValue
            do { value = try JSONValue.parse(line) } catch { throw reader.error("\(error)") }
            guard let id = value["row_id"]?.string, let prompt = value["prompt"]?.string,
                  let completion = value["completion"]?.string else {
                throw reader.error("expected a pp-filter example record (string row_id, prompt, completion)")
            }
            guard let rank = rankOf[id] else { throw reader.error("row_id \(id) has no score in the scores file") }
            rows.append(SelectionRow(line: Array(line.bindMemory(to: UInt8.self)), rowId: id, rank: rank,
                                     tokens: try count(prompt, completion)))
        }
        guard rows.count == scores.count else {
            throw PlaypenError("\(path): \(rows.count) examples but \(scores.count) scores (the scores must be of this file)")
        }
        return rows
    }

    /// Training tokens of an example exactly as pp-train counts them (trl's tokenization,
    /// truncated to `maxLength` with the same mode).
    public static func tokenCounter(tokenizer: GemmaTokenizer, maxLength: Int, truncation: Truncation) -> (String, String) -> Int {
        let bos = Int32(tokenizer.bosID), eos = Int32(tokenizer.eosID)
        return { prompt, completion in
            let row = tokenizePromptCompletion(rowId: "", prompt: prompt, completion: completion, bos: bos, eos: eos) {
                tokenizer.encode($0, addBOS: false).map(Int32.init)
            }
            return truncateRow(row, maxLength: maxLength, mode: truncation, bos: bos).0.inputIds.count
        }
    }

    /// The subsets: `top` = ranks 1...k; `random` = rows of rank > k in a seeded random order, each
    /// taken while it still fits the top-k token budget (so its total is at most the budget and
    /// no further row of the rest fits); `window` = ranks k+1...2k.
    public static func subsets(_ rows: [SelectionRow], k: Int, seed: UInt64, window: Bool) throws -> [Subset] {
        guard k >= 1, k < rows.count else { throw PlaypenError("--k \(k): need 1 <= k < \(rows.count) (the pool size)") }
        let byRank = rows.sorted { $0.rank != $1.rank ? $0.rank < $1.rank : $0.rowId < $1.rowId }
        let top = Array(byRank.prefix(k))
        let budget = top.reduce(0) { $0 + $1.tokens }
        var rest = Array(byRank.dropFirst(k))
        // Fisher-Yates with SplitMix64 (seeded, platform-independent).
        var rng = SplitMix64(seed: seed)
        if rest.count > 1 {
            for i in stride(from: rest.count - 1, to: 0, by: -1) {
                let j = Int(rng.next() % UInt64(i + 1))
                rest.swapAt(i, j)
            }
        }
        var random: [SelectionRow] = []
        var used = 0
        for r in rest where used + r.tokens <= budget {
            random.append(r)
            used += r.tokens
        }
        var out = [Subset(name: "top", rows: top), Subset(name: "random", rows: random)]
        if window { out.append(Subset(name: "window", rows: Array(byRank.dropFirst(k).prefix(k)))) }
        return out
    }

    /// Writes a subset's example records (original lines) in examples-file order.
    public static func write(_ subset: Subset, order: [String: Int], to path: String) throws {
        let writer = try JSONLinesWriter(path: path)
        for r in subset.rows.sorted(by: { order[$0.rowId]! < order[$1.rowId]! }) {
            try r.line.withUnsafeBytes { try writer.writeLine($0) }
        }
        try writer.commit()
    }
}

// ------------------------------------------------------------------------------------------------
// The comparison table of several pp-eval summaries.

public enum ComparisonTable {
    /// A Markdown table: condition, training rows/tokens (when known), word success vs target with
    /// its Wilson interval, and vs the recorded guess.
    public static func markdown(_ rows: [(name: String, summary: JSONObject, trainRows: Int?, trainTokens: Int?)]) -> String {
        var lines = ["| condition | train rows | train tokens | word success (target) | Wilson 95% | vs recorded guess |",
                     "|---|---|---|---|---|---|"]
        for r in rows {
            let t = JSONValue.object(r.summary)["vs_target"], g = JSONValue.object(r.summary)["vs_recorded_guess"]
            func frac(_ v: JSONValue?) -> String {
                guard let k = v?["correct"]?.int, let n = v?["total"]?.int, let a = v?["accuracy"]?.double else { return "-" }
                return String(format: "%d/%d = %.3f", k, n, a)
            }
            let ci = t?["ci95_wilson"]?.array.map { String(format: "[%.3f, %.3f]", $0[0].double ?? 0, $0[1].double ?? 0) } ?? "-"
            lines.append("| \(r.name) | \(r.trainRows.map(String.init) ?? "-") | \(r.trainTokens.map(String.init) ?? "-") | \(frac(t)) | \(ci) | \(frac(g)) |")
        }
        return lines.joined(separator: "\n")
    }
}
