import Foundation
import PlaypenIO

/// The JSON number for a float32 score: the shortest decimal that reads back as the same float32.
@inline(__always) func scoreJSON(_ s: Float) -> JSONValue { .double(Double(s.description) ?? Double(s)) }

public enum ScoreFiles {
    /// Scores JSONL (schemas/scores.schema.json), in train-stream order.
    public static func writeScores(_ result: ScoreResult, to path: String) throws {
        let out = try OutputFile(path: path)
        var line: [UInt8] = []
        line.reserveCapacity(1 << 20)
        do {
            for i in result.scores.indices {
                line.append(contentsOf: "{\"row_id\":".utf8)
                JSONValue.writeString(result.rowIds[i], to: &line)
                line.append(contentsOf: ",\"index\":\(i),\"score\":".utf8)
                scoreJSON(result.scores[i]).write(to: &line)
                line.append(contentsOf: ",\"rank\":\(result.ranks[i])}\n".utf8)
                if line.count > (1 << 20) - 4096 {
                    try line.withUnsafeBytes { try out.write($0) }
                    line.removeAll(keepingCapacity: true)
                }
            }
            try line.withUnsafeBytes { try out.write($0) }
            try out.commit()
        } catch {
            out.abort()
            throw error
        }
    }

    /// Reads a scores JSONL file (as written by `writeScores`, or any tool following the schema).
    public static func readScores(path: String) throws -> [ScoreRecord] {
        let reader = try JSONLinesReader(path: path)
        var records: [ScoreRecord] = []
        while let v = try reader.next() {
            guard let id = v["row_id"]?.string, let index = v["index"]?.int, let score = v["score"]?.double,
                  let rank = v["rank"]?.int
            else {
                throw reader.error("expected a score record {row_id: string, index: int, score: number, rank: int}")
            }
            records.append(ScoreRecord(rowId: id, index: index, score: Float(score), rank: rank))
        }
        guard !records.isEmpty else { throw PlaypenError("\(path): no score records") }
        return records
    }

    /// The top K rows by descending score, then the bottom K by ascending score, joined by row_id
    /// with the examples file (pp-filter's JSONL). Written as JSONL, or one JSON list when `path`
    /// ends in `.json` (the original pipeline's ranked_examples.json).
    public static func writeRanked(_ result: ScoreResult, topK k: Int, examplesPath: String, to path: String) throws {
        let byRank = result.ranks.indices.sorted { result.ranks[$0] < result.ranks[$1] }
        let top = Array(byRank.prefix(k)), bottom = Array(byRank.suffix(k).reversed())
        var needed: [String: JSONObject?] = [:]
        for i in top + bottom { needed[result.rowIds[i]] = .some(nil) }
        let reader = try JSONLinesReader(path: examplesPath)
        var found = 0
        while let v = try reader.next() {
            guard let id = v["row_id"]?.string else { throw reader.error("example record has no string row_id") }
            if let slot = needed[id], slot == nil, let object = v.object {
                needed[id] = .some(object)
                found += 1
            }
        }
        if found < needed.count {
            let missing = needed.filter { $0.value == nil }.map(\.key).sorted()
            throw PlaypenError("\(examplesPath): \(missing.count) scored row_id(s) are not in the examples file: \(missing.prefix(5).joined(separator: ", "))")
        }
        var records: [JSONValue] = []
        for (bucket, rows) in [("top", top), ("bottom", bottom)] {
            for i in rows {
                let example = needed[result.rowIds[i]]!!
                let meta = example["meta"] ?? .object(JSONObject())
                records.append(.object(JSONObject([
                    ("bucket", .string(bucket)), ("rank", .int(result.ranks[i])), ("row_id", .string(result.rowIds[i])),
                    ("index", .int(i)), ("score", scoreJSON(result.scores[i])),
                    ("task_id", meta["task_id"] ?? .null), ("outcome", meta["outcome"] ?? .null),
                    ("messages", example["messages"] ?? .array([])), ("meta", meta),
                ])))
            }
        }
        let out = try OutputFile(path: path)
        do {
            var bytes: [UInt8] = []
            if path.hasSuffix(".json") {
                JSONValue.array(records).write(to: &bytes, options: JSONWriteOptions(spaced: true))
                bytes.append(0x0A)
            } else {
                for r in records {
                    r.write(to: &bytes)
                    bytes.append(0x0A)
                }
            }
            try bytes.withUnsafeBytes { try out.write($0) }
            try out.commit()
        } catch {
            out.abort()
            throw error
        }
    }
}
