import Foundation
import Testing
import PlaypenIO
import PlaypenModel
@testable import PlaypenTrain

/// An adapter written by `PeftAdapter.write` loads in peft with the function this project computes.
/// `train/swift-written-adapter/` is the writer's output for `writtenAdapter` below (checked byte for
/// byte here); `train/swift-written-adapter-peft.safetensors` holds what peft 0.21.2 + transformers
/// compute with that directory (scripts/reference/written_adapter_peft_golden.py). The reverse
/// direction (adapters saved by peft, read here) is AdapterTests.readsAdaptersSavedByPeft.
@Suite struct WrittenAdapterPeftTests {
    static let adapterDirectory = trainFixtures.appendingPathComponent("swift-written-adapter").path
    static let tinyModel = trainFixtures.deletingLastPathComponent().appendingPathComponent("tiny-gemma3").path

    /// r 3, alpha 7.5 (scale 2.5), dropout 0.1 (peft ignores it in eval), all seven targets; A as
    /// peft initialises it (seed 2026), B ~ U(−0.2, 0.2) keyed by module, so every module matters.
    static func writtenAdapter(shape: LoRAModelShape) -> LoRAParameters {
        let layout = LoRALayout(config: LoRAConfig(r: 3, alpha: 7.5, dropout: 0.1, targets: LoRATarget.allCases), shape: shape)
        let p = LoRAParameters.peftInitialized(layout: layout, seed: 2026)
        for m in layout.modules {
            let key = KeyedRandom.key(2026, "lora_B", m.peftName)
            let b = p.b(m)
            for j in 0..<(m.outF * layout.config.r) { b[j] = (2 * KeyedRandom.uniform(key, j) - 1) * 0.2 }
        }
        return p
    }

    struct Golden {
        let file: SafetensorsFile
        let rows: [TokenizedRow]

        init() throws {
            file = try SafetensorsFile(path: trainFixtures.appendingPathComponent("swift-written-adapter-peft.safetensors").path)
            let tiny = try JSONDecoder().decode(TinyGolden.self, from: Data(contentsOf: trainFixtures.appendingPathComponent("tiny-train-golden.json")))
            rows = tiny.rows.map { TokenizedRow(rowId: $0.row_id, inputIds: $0.input_ids, completionStart: $0.completion_start) }
        }
    }

    @Test func writerReproducesTheCommittedAdapter() throws {
        let shape = LoRAModelShape(try GemmaConfig.fromHFConfig(path: Self.tinyModel + "/config.json"))
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("written-adapter-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try PeftAdapter.write(Self.writtenAdapter(shape: shape), to: dir + "/adapter")
        if ProcessInfo.processInfo.environment["PP_UPDATE_FIXTURES"] != nil {
            try PeftAdapter.write(Self.writtenAdapter(shape: shape), to: Self.adapterDirectory)
            print("rewrote \(Self.adapterDirectory); now rerun scripts/reference/written_adapter_peft_golden.py")
        }
        for name in ["adapter_config.json", "adapter_model.safetensors"] {
            let written = FileManager.default.contents(atPath: dir + "/adapter/" + name)
            let committed = FileManager.default.contents(atPath: Self.adapterDirectory + "/" + name)
            #expect(written != nil && written == committed,
                    "\(name): the writer's output differs from the adapter peft was run on (see Tests/Fixtures/README.md, train/)")
        }
        // The golden was computed from exactly these bytes.
        let committed = try Data(contentsOf: URL(fileURLWithPath: Self.adapterDirectory + "/adapter_model.safetensors"))
        let sha = committed.withUnsafeBytes { SHA256.hex(SHA256.digest($0)) }
        #expect(try Golden().file.metadata["adapter_model_sha256"] == sha)
    }

    @Test func mergedForwardLogitsEqualPeft() throws {
        let golden = try Golden()
        let merged = try PeftAdapter.loadMerged(model: Self.tinyModel, adapter: Self.adapterDirectory).model
        let base = try GemmaModel.load(Self.tinyModel)
        for i in 0..<2 {
            let ids = golden.rows[i].inputIds.map(Int.init)
            let ref = try golden.file.floats("logits_\(i)")
            let ours = try merged.forward(ids).logits
            #expect(ours.count == ref.count && ref.count == ids.count * merged.config.vocabSize)
            let d = zip(ours, ref).reduce(Float(0)) { max($0, abs($1.0 - $1.1)) }
            #expect(d <= 1e-4, "row \(i): max |Δlogit| vs peft = \(d)")
            let baseLogits = try base.forward(ids).logits
            let effect = zip(baseLogits, ref).reduce(Float(0)) { max($0, abs($1.0 - $1.1)) }
            #expect(effect > 0.1, "row \(i): the adapter must change the logits (max |Δ| vs base \(effect))")
        }
    }

    /// The unmerged LoRA path (pp-train --eval-only, pp-grad) on the same adapter: per-row summed
    /// completion losses equal peft's (what scripts/reference/check_adapter_peft.py checks by hand).
    @Test func unmergedRowLossesEqualPeft() throws {
        let golden = try Golden()
        let model = GemmaLoRA(model: try GemmaModel.load(Self.tinyModel))
        let params = try PeftAdapter.read(Self.adapterDirectory, shape: model.loraShape)
        let ours = try model.rowLosses(rows: golden.rows, params: params)
        let ref = try golden.file.floats("loss_sum")
        #expect(ours.count == ref.count)
        for (i, (a, e)) in zip(ours, ref).enumerated() {
            #expect(abs(a - Double(e)) <= 1e-4 * abs(Double(e)), "row \(i): \(a) vs peft \(e)")
        }
    }
}
