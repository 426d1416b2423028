import Foundation
import PlaypenIO

// ----------------------------------------------------------------------------------------------
// Tokenized training rows, truncation, and the per-epoch data order.

/// One training row after tokenization: `inputIds[completionStart...]` are the completion tokens
/// (the loss targets), everything before is context (BOS and prompt).
public struct TokenizedRow: Equatable, Sendable {
    public var rowId: String
    public var inputIds: [Int32]
    public var completionStart: Int

    public init(rowId: String, inputIds: [Int32], completionStart: Int) {
        self.rowId = rowId
        self.inputIds = inputIds
        self.completionStart = completionStart
    }

    /// Number of loss targets (completion tokens).
    public var completionTokens: Int { max(inputIds.count - completionStart, 0) }
    /// Positions whose logits are needed: t predicts inputIds[t+1].
    public var lossPositions: Range<Int> { PlaypenTrain.lossPositions(completionStart: completionStart, length: inputIds.count) }
}

/// How rows longer than the maximum length are cut.
public enum Truncation: String, Codable, CaseIterable, Sendable {
    /// Keep the whole completion and trim the prompt from the left (after BOS); only a
    /// completion longer than the limit by itself is cut at its end.
    case left
    /// trl's behaviour: keep the first `maxLength` tokens.
    case right
}

/// trl's prompt/completion tokenization (attribution.md §2.3): `[BOS] + tok(prompt + completion)
/// + [EOS]`, completion starting after `1 + len(tok(prompt))` tokens. `tokenize` encodes text
/// without BOS. This is the one tokenization path for training and attribution.
public func tokenizePromptCompletion(
    rowId: String, prompt: String, completion: String, bos: Int32, eos: Int32,
    tokenize: (String) throws -> [Int32]
) rethrows -> TokenizedRow {
    let promptIds = try tokenize(prompt)
    let all = try tokenize(prompt + completion)
    return TokenizedRow(rowId: rowId, inputIds: [bos] + all + [eos], completionStart: 1 + promptIds.count)
}

/// Cuts a row to `maxLength` tokens. Returns the row and how many tokens were removed.
public func truncateRow(_ row: TokenizedRow, maxLength: Int, mode: Truncation, bos: Int32) -> (TokenizedRow, Int) {
    let n = row.inputIds.count
    guard n > maxLength else { return (row, 0) }
    var out = row
    switch mode {
    case .right:
        out.inputIds = Array(row.inputIds.prefix(maxLength))
        out.completionStart = min(row.completionStart, maxLength)
    case .left:
        let head = row.inputIds.first == bos ? 1 : 0
        let cs = min(max(row.completionStart, head), n)
        let promptTokens = cs - head
        let excess = n - maxLength
        if excess <= promptTokens {
            out.inputIds = Array(row.inputIds[0..<head]) + Array(row.inputIds[(head + excess)...])
            out.completionStart = cs - excess
        } else {
            out.inputIds = Array((Array(row.inputIds[0..<head]) + Array(row.inputIds[cs...])).prefix(maxLength))
            out.completionStart = head
        }
    }
    return (out, n - out.inputIds.count)
}

/// What truncation did to a data set.
public struct TruncationReport: Codable, Equatable, Sendable {
    public var rows = 0
    public var trimmedRows = 0
    public var trimmedTokens = 0
    public var completionCutRows = 0   // rows whose completion itself lost tokens

    public init(rows: Int = 0, trimmedRows: Int = 0, trimmedTokens: Int = 0, completionCutRows: Int = 0) {
        self.rows = rows
        self.trimmedRows = trimmedRows
        self.trimmedTokens = trimmedTokens
        self.completionCutRows = completionCutRows
    }
}

/// Truncates every row; a row left with no completion token is an error naming it.
public func truncateRows(_ rows: [TokenizedRow], maxLength: Int, mode: Truncation, bos: Int32,
                         source: String) throws -> ([TokenizedRow], TruncationReport) {
    var report = TruncationReport()
    var out: [TokenizedRow] = []
    out.reserveCapacity(rows.count)
    var empty: [String] = []
    for row in rows {
        let (cut, removed) = truncateRow(row, maxLength: maxLength, mode: mode, bos: bos)
        report.rows += 1
        if removed > 0 {
            report.trimmedRows += 1
            report.trimmedTokens += removed
            if cut.completionTokens < row.completionTokens { report.completionCutRows += 1 }
        }
        if cut.completionTokens == 0 { empty.append(row.rowId) }
        out.append(cut)
    }
    if !empty.isEmpty {
        throw PlaypenError(
            "\(source): \(empty.count) row(s) have no completion token after truncation to \(maxLength) (\(mode.rawValue)), first row_id \(empty[0]); raise --max-length, use --truncation left, or filter them out")
    }
    return (out, report)
}

// ----------------------------------------------------------------------------------------------
// Data order.

/// Deterministic permutation of `count` rows for one epoch (Fisher–Yates on keyed random bits).
public func epochPermutation(count: Int, seed: UInt64, epoch: Int) -> [Int] {
    var p = Array(0..<count)
    let key = KeyedRandom.key(seed, "shuffle", String(epoch))
    if count > 1 {
        for i in stride(from: count - 1, to: 0, by: -1) {
            let j = Int(KeyedRandom.bits(key, i) % UInt64(i + 1))
            p.swapAt(i, j)
        }
    }
    return p
}

/// One optimizer step's rows, split into micro-batches.
public struct StepBatch: Equatable, Sendable {
    public var micro: [[Int]]
    public var rows: [Int] { micro.flatMap { $0 } }
}

/// The optimizer steps of one epoch: the permuted rows are cut into effective batches of
/// `batchSize · accumulation` rows (the last may be short, as trl's last accumulation group),
/// and each effective batch is sorted by length (longest first, ties in permutation order) and
/// cut into micro-batches of `batchSize` rows. The loss is normalised over the whole effective
/// batch, so grouping rows of similar length changes no result, only the padding work.
public func epochBatches(lengths: [Int], permutation: [Int], batchSize: Int, accumulation: Int) -> [StepBatch] {
    let group = batchSize * accumulation
    var steps: [StepBatch] = []
    var start = 0
    while start < permutation.count {
        let rows = Array(permutation[start..<min(start + group, permutation.count)])
        let sorted = rows.enumerated().sorted {
            lengths[$0.element] != lengths[$1.element] ? lengths[$0.element] > lengths[$1.element] : $0.offset < $1.offset
        }.map(\.element)
        var micro: [[Int]] = []
        var i = 0
        while i < sorted.count {
            micro.append(Array(sorted[i..<min(i + batchSize, sorted.count)]))
            i += batchSize
        }
        steps.append(StepBatch(micro: micro))
        start += group
    }
    return steps
}
