import Foundation
import Testing
import PlaypenIO
@testable import PlaypenTrain

@Suite struct ExamplesTests {
    /// A character-level stand-in tokenizer: 'a' → 10, 'b' → 11, ...
    func chars(_ s: String) -> [Int32] { s.unicodeScalars.map { Int32($0.value) - 87 } }

    @Test func trlTokenizationLayout() {
        let row = tokenizePromptCompletion(rowId: "r1", prompt: "abc", completion: "de", bos: 2, eos: 1, tokenize: chars)
        #expect(row.inputIds == [2, 10, 11, 12, 13, 14, 1])
        #expect(row.completionStart == 4)
        #expect(row.completionTokens == 3)   // d, e, <eos>
        #expect(row.lossPositions == 3..<6)
    }

    @Test func leftTruncationKeepsTheCompletion() {
        let row = TokenizedRow(rowId: "r", inputIds: [2, 10, 11, 12, 13, 14, 1], completionStart: 4)
        let (cut, removed) = truncateRow(row, maxLength: 5, mode: .left, bos: 2)
        #expect(cut.inputIds == [2, 12, 13, 14, 1] && cut.completionStart == 2 && removed == 2)
        // Completion alone longer than the limit: prompt gone, completion cut at its end.
        let (cut2, _) = truncateRow(row, maxLength: 3, mode: .left, bos: 2)
        #expect(cut2.inputIds == [2, 13, 14] && cut2.completionStart == 1)
        // Short rows are untouched.
        #expect(truncateRow(row, maxLength: 7, mode: .left, bos: 2).0 == row)
    }

    @Test func rightTruncationIsTrl() {
        let row = TokenizedRow(rowId: "r", inputIds: [2, 10, 11, 12, 13, 14, 1], completionStart: 4)
        let (cut, removed) = truncateRow(row, maxLength: 5, mode: .right, bos: 2)
        #expect(cut.inputIds == [2, 10, 11, 12, 13] && cut.completionStart == 4 && removed == 2)
    }

    @Test func truncationReportAndEmptyCompletionError() throws {
        let rows = [TokenizedRow(rowId: "a", inputIds: [2, 10, 11, 12, 13, 1], completionStart: 4),
                    TokenizedRow(rowId: "b", inputIds: [2, 10, 1], completionStart: 2)]
        let (_, report) = try truncateRows(rows, maxLength: 4, mode: .left, bos: 2, source: "train.jsonl")
        #expect(report == TruncationReport(rows: 2, trimmedRows: 1, trimmedTokens: 2, completionCutRows: 0))
        do {
            _ = try truncateRows(rows, maxLength: 4, mode: .right, bos: 2, source: "train.jsonl")
            Issue.record("expected an error")
        } catch let e as PlaypenError {
            #expect(e.message.contains("train.jsonl") && e.message.contains("row_id a"))
        }
    }

    @Test func permutationIsDeterministicPerEpoch() {
        let p0 = epochPermutation(count: 100, seed: 42, epoch: 0)
        #expect(p0.sorted() == Array(0..<100))
        #expect(p0 == epochPermutation(count: 100, seed: 42, epoch: 0))
        #expect(p0 != epochPermutation(count: 100, seed: 42, epoch: 1))
        #expect(p0 != epochPermutation(count: 100, seed: 43, epoch: 0))
    }

    @Test func lengthGroupedMicroBatchesKeepEffectiveBatches() {
        let lengths = [5, 9, 3, 7, 8, 2, 6, 4, 1, 10, 11]
        let perm = epochPermutation(count: lengths.count, seed: 7, epoch: 0)
        let steps = epochBatches(lengths: lengths, permutation: perm, batchSize: 2, accumulation: 2)
        #expect(steps.count == LRSchedule.updatesPerEpoch(rows: 11, batchSize: 2, accumulation: 2))
        for (k, s) in steps.enumerated() {
            // Same rows as the shuffled effective batch, micro-batches sorted longest first.
            #expect(s.rows.sorted() == perm[(k * 4)..<min(k * 4 + 4, 11)].sorted())
            #expect(s.rows.map { lengths[$0] } == s.rows.map { lengths[$0] }.sorted(by: >))
            #expect(s.micro.allSatisfy { $0.count <= 2 })
        }
        #expect(steps.last!.rows.count == 3)
    }
}
