import Foundation
import Testing
import PlaypenIO
import PlaypenModel
@testable import PlaypenTrain

struct TinyGolden: Decodable {
    struct Row: Decodable {
        let row_id: String
        let input_ids: [Int32]
        let completion_start: Int
    }
    let rows: [Row]
    let plan: [[[Int]]]
    let loss: [Double]
    let lr: [Double]
    let grad_norm: [Double]
    let base_lr: Double
    let warmup: Int
    let total: Int
}

/// LoRA training on the tiny Gemma-3 fixture against torch + peft
/// (scripts/reference/train_tiny_goldens.py).
@Suite struct GemmaTrainTests {
    let fixtures = trainFixtures.deletingLastPathComponent()

    func load() throws -> (GemmaLoRA, LoRAParameters, TinyGolden, SafetensorsFile) {
        let model = GemmaLoRA(model: try GemmaModel.load(fixtures.appendingPathComponent("tiny-gemma3").path))
        let p = try PeftAdapter.read(trainFixtures.appendingPathComponent("tiny-lora-init").path, shape: model.loraShape)
        let golden = try JSONDecoder().decode(TinyGolden.self, from: Data(contentsOf: trainFixtures.appendingPathComponent("tiny-train-golden.json")))
        let grads = try SafetensorsFile(path: trainFixtures.appendingPathComponent("tiny-lora-grads.safetensors").path)
        return (model, p, golden, grads)
    }

    func rows(_ g: TinyGolden) -> [TokenizedRow] {
        g.rows.map { TokenizedRow(rowId: $0.row_id, inputIds: $0.input_ids, completionStart: $0.completion_start) }
    }

    /// Per-example gradients (mean completion-token loss of one row) of every A and B: relative
    /// error ≤ 1e-4 (max |Δ| over the tensor / max |g|) against torch autograd through peft.
    @Test func perExampleGradientsMatchTorch() throws {
        let (model, p, g, ref) = try load()
        let rows = rows(g)
        for i in 0..<3 {
            let grads = FloatBuffer(count: p.layout.count)
            let row = rows[i]
            _ = try model.accumulateGradients(rows: [row], params: p, grads: grads,
                                              gradScale: 1 / Float(row.completionTokens), dropout: { _ in nil })
            for m in p.layout.modules {
                for (matrix, offset, count) in [("lora_A", m.aOffset, p.layout.config.r * m.inF),
                                                ("lora_B", m.bOffset, m.outF * p.layout.config.r)] {
                    let name = "row\(i).\(PeftAdapter.tensorName(m, matrix))"
                    let want = try ref.floats(name)
                    #expect(want.count == count)
                    let scaleRef = want.map { abs(Double($0)) }.max()!
                    var worst = 0.0
                    for j in 0..<count { worst = max(worst, abs(Double(grads[offset + j]) - Double(want[j]))) }
                    #expect(worst <= 1e-4 * scaleRef, "\(name): max |Δ| \(worst) vs max |g| \(scaleRef)")
                }
            }
        }
    }

    /// A row's loss and gradient do not depend on the rows that share its micro-batch (no
    /// padding exists; sgemm blocking over a different row count may round differently, so the
    /// comparison allows float noise).
    @Test func batchCompositionCannotChangeARow() throws {
        let (model, p, g, _) = try load()
        let rows = rows(g)
        let alone = FloatBuffer(count: p.layout.count), together = FloatBuffer(count: p.layout.count)
        let lossAlone = try model.accumulateGradients(rows: [rows[1]], params: p, grads: alone, gradScale: 1, dropout: { _ in nil })
        let lossesTogether = try model.rowLosses(rows: [rows[5], rows[1], rows[7]], params: p)
        #expect(abs(lossesTogether[1] - lossAlone[0]) <= 1e-6 * abs(lossAlone[0]))
        // The batch gradient is the sum of the row gradients.
        let others = FloatBuffer(count: p.layout.count)
        _ = try model.accumulateGradients(rows: [rows[5], rows[1], rows[7]], params: p, grads: together, gradScale: 1, dropout: { _ in nil })
        _ = try model.accumulateGradients(rows: [rows[5]], params: p, grads: others, gradScale: 1, dropout: { _ in nil })
        _ = try model.accumulateGradients(rows: [rows[7]], params: p, grads: others, gradScale: 1, dropout: { _ in nil })
        _ = try model.accumulateGradients(rows: [rows[1]], params: p, grads: others, gradScale: 1, dropout: { _ in nil })
        assertClose(doubles(together.array), doubles(others.array), rtol: 1e-4, atol: 1e-6, "batch = Σ rows")
    }

    /// Gradient checkpointing recomputes each layer before its backward: the same losses and
    /// gradients bit for bit, dropout included (the masks are redrawn from the same keys).
    @Test func recomputedActivationsGiveIdenticalGradients() throws {
        let (model, p, g, _) = try load()
        let rows = Array(rows(g)[0..<3])
        let recomputing = GemmaLoRA(model: model.model)
        recomputing.recomputeActivations = true
        let dropout: (LoRAModule) -> LoRADropout? = { m in LoRADropout(p: 0.1, key: LoRADropout.key(seed: 3, step: 0, micro: 0, module: m)) }
        let kept = FloatBuffer(count: p.layout.count), recomputed = FloatBuffer(count: p.layout.count)
        let lossKept = try model.accumulateGradients(rows: rows, params: p, grads: kept, gradScale: 0.5, dropout: dropout)
        let lossRecomputed = try recomputing.accumulateGradients(rows: rows, params: p, grads: recomputed, gradScale: 0.5,
                                                                 dropout: dropout)
        #expect(lossKept == lossRecomputed)
        #expect(kept.array == recomputed.array)
        #expect(kept.array.contains { $0 != 0 })
        // and without a backward (eval), recomputation changes nothing either
        #expect(try recomputing.rowLosses(rows: rows, params: p) == model.rowLosses(rows: rows, params: p))
    }

    /// 20 optimizer steps (2 micro-batches × 2 rows, clip 1.0, AdamW, cosine): the loss at every
    /// step within 1e-4 relative of torch + peft, and the final adapter close to torch's.
    @Test func twentyOptimizerStepsMatchTorch() throws {
        let (model, p, g, ref) = try load()
        let rows = rows(g)
        var settings = TrainSettings()
        settings.lora = p.layout.config
        settings.lora.dropout = 0
        let schedule = LRSchedule(kind: .cosine, baseLR: g.base_lr, warmupSteps: g.warmup, totalSteps: g.total)
        let opt = AdamW(config: settings.adam, count: p.layout.count)
        let grads = FloatBuffer(count: p.layout.count)
        for k in 0..<g.total {
            let micro = g.plan[k].map { $0.map { rows[$0] } }
            let (loss, norm, _) = try accumulateStep(model: model, params: p, grads: grads, micro: micro,
                                                     settings: settings, step: k)
            #expect(abs(loss - g.loss[k]) <= 1e-4 * abs(g.loss[k]), "loss at step \(k): \(loss) vs \(g.loss[k])")
            #expect(abs(norm - g.grad_norm[k]) <= 1e-3 * g.grad_norm[k], "grad norm at step \(k)")
            #expect(abs(schedule.lr(k) - g.lr[k]) <= 1e-12)
            opt.update(params: p.values, grads: grads, lr: schedule.lr(k))
        }
        var worst = 0.0
        for m in p.layout.modules {
            let want = try ref.floats("final.\(PeftAdapter.tensorName(m, "lora_A"))") + ref.floats("final.\(PeftAdapter.tensorName(m, "lora_B"))")
            let r = p.layout.config.r
            let got = Array(UnsafeBufferPointer(start: p.a(m), count: r * m.inF)) + Array(UnsafeBufferPointer(start: p.b(m), count: m.outF * r))
            for j in 0..<want.count { worst = max(worst, abs(Double(got[j]) - Double(want[j]))) }
        }
        // 20 steps of lr ≤ 1e-2: parameters agree to a small fraction of one step.
        #expect(worst < 2e-4, "final adapter max |Δ| \(worst)")
    }
}
