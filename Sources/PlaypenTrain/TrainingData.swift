import Foundation
import PlaypenIO

// ----------------------------------------------------------------------------------------------
// Reading training/eval rows: pp-filter examples (prompt/completion) or pretokenized rows.

/// How rows are turned into token ids (the one tokenization path of training and attribution).
public struct TokenizationPlan: Sendable {
    public var bos: Int32
    public var eos: Int32
    public var maxLength: Int
    public var truncation: Truncation

    public init(bos: Int32, eos: Int32, maxLength: Int, truncation: Truncation) {
        self.bos = bos
        self.eos = eos
        self.maxLength = maxLength
        self.truncation = truncation
    }
}

public enum TrainingData {
    /// Reads JSON Lines (plain or zstd, `-` = stdin). Each record is either an example with
    /// string `prompt` and `completion`, tokenized as trl does (`tokenize` encodes without BOS),
    /// or pretokenized `{"row_id", "input_ids", "completion_start"}`. `row_id` may be a string or
    /// an integer (missing: the 0-based record index). With `split`, only records whose `split`
    /// equals it are kept. Rows are then truncated per `plan`. Errors name file and line.
    public static func load(path: String, plan: TokenizationPlan, split: String? = nil,
                            tokenize: ((String) throws -> [Int32])?) throws -> ([TokenizedRow], TruncationReport) {
        let reader = try JSONLinesReader(path: path)
        var rows: [TokenizedRow] = []
        var index = 0
        while let record = try reader.next() {
            defer { index += 1 }
            guard record.object != nil else { throw reader.error("expected a JSON object, found \(record.kindName)") }
            if let split {
                guard let s = record["split"]?.string else { throw reader.error("--split \(split) given but the record has no string \"split\"") }
                if s != split { continue }
            }
            let rowId: String
            switch record["row_id"] {
            case .string(let s)?: rowId = s
            case .int(let i)?: rowId = String(i)
            case nil, .null?: rowId = String(index)
            case let other?: throw reader.error("\"row_id\" must be a string or an integer, found \(other.kindName)")
            }
            if let ids = record["input_ids"] {
                guard let array = ids.array else { throw reader.error("\"input_ids\" must be an array of integers") }
                var out: [Int32] = []
                out.reserveCapacity(array.count)
                for v in array {
                    guard let i = v.int, i >= 0, i <= Int(Int32.max) else {
                        throw reader.error("\"input_ids\" must hold non-negative integers, found \(v)")
                    }
                    out.append(Int32(i))
                }
                guard let cs = record["completion_start"]?.int, cs >= 1, cs <= out.count else {
                    throw reader.error("pretokenized row needs \"completion_start\" in 1...\(out.count) (the index of the first completion token)")
                }
                rows.append(TokenizedRow(rowId: rowId, inputIds: out, completionStart: cs))
            } else {
                guard let prompt = record["prompt"]?.string, let completion = record["completion"]?.string else {
                    throw reader.error("expected string \"prompt\" and \"completion\" (or pretokenized \"input_ids\" and \"completion_start\")")
                }
                guard let tokenize else {
                    throw reader.error("the model has no tokenizer: give pretokenized rows (\"input_ids\", \"completion_start\")")
                }
                rows.append(try tokenizePromptCompletion(rowId: rowId, prompt: prompt, completion: completion,
                                                         bos: plan.bos, eos: plan.eos, tokenize: tokenize))
            }
        }
        guard !rows.isEmpty else {
            throw PlaypenError("\(path): no rows\(split.map { " with split \"\($0)\"" } ?? "") (empty training data)")
        }
        return try truncateRows(rows, maxLength: plan.maxLength, mode: plan.truncation, bos: plan.bos, source: path)
    }
}
