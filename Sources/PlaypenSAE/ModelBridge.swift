import Foundation
import PlaypenData
import PlaypenIO
import PlaypenModel

// The pieces of extraction that need the Gemma model and the example records: resid_post from
// the forward (stopping after the deepest requested layer, no output head) and the
// text/tokenization of each example. An adapter is merged beforehand (PeftAdapter.merge).

/// resid_post from a loaded Gemma model: one forward per batch of sequences (`residualStreamRows`),
/// stopping after `layers.max()`, the rows of prefixes the batch's sequences share computed once
/// unless `sharePrefixes` is false (the same values either way).
public final class GemmaResidualStream: ResidualStreamProvider {
    public let model: GemmaModel
    public let sharePrefixes: Bool
    public var hiddenSize: Int { model.config.hiddenSize }
    public var layerCount: Int { model.config.numLayers }

    public init(model: GemmaModel, sharePrefixes: Bool = true) {
        self.model = model
        self.sharePrefixes = sharePrefixes
    }

    public func residPost(_ batch: [[Int32]], layers: [Int]) throws -> [Int: [Float]] {
        try model.residualStreamRows(batch.map { $0.map(Int.init) }, layers: Set(layers), sharePrefixes: sharePrefixes)
    }
}

/// Which text of an example the SAE reads.
public enum SAEText: String, CaseIterable, Sendable {
    /// The full "ROLE: content" history, final assistant message included (the original).
    case full
    case prompt
    case completion
}

/// One example record of pp-filter's output, as extraction needs it.
public struct ExampleText: Sendable {
    public var info: SampleInfo
    public var text: String
}

/// Reads example records (JSON Lines, plain or zstd) and picks each one's text.
/// `index` is the record's own `index` when present, else its line position.
public func readExampleTexts(path: String, text: SAEText) throws -> [ExampleText] {
    let reader = try JSONLinesReader(path: path)
    var out: [ExampleText] = []
    while let line = try reader.nextLine() {
        let location = "\(reader.name):\(reader.lineNumber)"
        let value: JSONValue
        do { value = try JSONValue.parse(line) } catch { throw PlaypenError("\(location): \(error)") }
        guard value.object != nil else { throw PlaypenError("\(location): expected a JSON object") }
        let row: PlaypenRow? = value["messages"] != nil
            ? try line.withMemoryRebound(to: UInt8.self) { try PlaypenRow.decode($0, location: location) } : nil
        let prompt = value["prompt"]?.string ?? ""
        let completion = value["completion"]?.string ?? ""
        let chosen: String
        switch text {
        case .full:
            if let row, !row.messages.isEmpty { chosen = row.historyText() } else { chosen = historyText(prompt: prompt, completion: completion) }
        case .prompt: chosen = prompt
        case .completion: chosen = completion
        }
        let rowId: RowID
        if let s = value["row_id"]?.string { rowId = .string(s) } else if let i = value["row_id"]?.int { rowId = .int(i) } else { rowId = .int(out.count) }
        let info = SampleInfo(index: value["index"]?.int ?? out.count, rowId: rowId, taskId: row?.meta.taskID,
                              outcome: row?.meta.outcome, experiment: row?.meta.experiment)
        out.append(ExampleText(info: info, text: chosen))
    }
    return out
}

/// BOS + the plain text tokens (no chat template), truncated to the first `maxTokens` tokens
/// BOS included, as TransformerLens `to_tokens` did in the original. Empty text gives no tokens
/// (the sample is skipped by extraction but keeps its index).
public func tokenizeForSAE(_ text: String, tokenizer: GemmaTokenizer, maxTokens: Int) -> [Int32] {
    guard !text.isEmpty else { return [] }
    let ids = tokenizer.encode(text, addBOS: true)
    return ids.prefix(maxTokens).map { Int32($0) }
}
