import Foundation
import Testing
import PlaypenIO
import PlaypenModel
@testable import PlaypenTrain

/// `PeftAdapter.merge` folds an adapter into the weights: the merged model with a zero adapter
/// gives the same row losses as the unmerged model with the adapter (tiny Gemma-3 fixture,
/// adapter `tiny-lora-init` with non-zero B).
@Suite struct AdapterMergeTests {
    @Test func mergedWeightsComputeWhatTheAdapterComputes() throws {
        let tiny = trainFixtures.deletingLastPathComponent().appendingPathComponent("tiny-gemma3").path
        let adapter = trainFixtures.appendingPathComponent("tiny-lora-init").path
        let golden = try JSONDecoder().decode(TinyGolden.self, from: Data(contentsOf: trainFixtures.appendingPathComponent("tiny-train-golden.json")))
        let rows = golden.rows.prefix(4).map { TokenizedRow(rowId: $0.row_id, inputIds: $0.input_ids, completionStart: $0.completion_start) }

        let unmerged = GemmaLoRA(model: try GemmaModel.load(tiny))
        let params = try PeftAdapter.read(adapter, shape: unmerged.loraShape)
        let withAdapter = try unmerged.rowLosses(rows: Array(rows), params: params)

        let mergedModel = try GemmaModel.load(tiny)
        try PeftAdapter.merge(adapter, into: mergedModel)
        let merged = GemmaLoRA(model: mergedModel)
        let zero = LoRAParameters(layout: params.layout)
        let afterMerge = try merged.rowLosses(rows: Array(rows), params: zero)
        let base = try GemmaLoRA(model: try GemmaModel.load(tiny)).rowLosses(rows: Array(rows), params: zero)

        for i in rows.indices {
            #expect(abs(afterMerge[i] - withAdapter[i]) <= 1e-4 * abs(withAdapter[i]), "row \(i)")
            #expect(abs(base[i] - withAdapter[i]) > 1e-3 * abs(withAdapter[i]), "the adapter must matter for row \(i)")
        }
    }
}
