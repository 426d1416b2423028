import Foundation
import Testing
@testable import PlaypenTrain

private struct AdamWGolden: Decodable {
    let shapes: [[Int]]
    let base_lr: Double
    let warmup: Int
    let total: Int
    let `init`: [[Double]]
    let grads: [[[Double]]]
    let lr: [Double]
    let norm: [Double]
    let params: [[[Double]]]
    let linear_factors: [Double]
    let constant_with_warmup_factors: [Double]
    let cosine_factors: [Double]
}

@Suite struct OptimizerTests {
    /// 20 steps of clip_grad_norm_(1.0) + torch.optim.AdamW + get_cosine_schedule_with_warmup
    /// (scripts/reference/train_goldens.py): parameters, lr and norm at every step within 1e-6.
    @Test func adamWCosineAndClippingMatchTorch() throws {
        let g = try JSONDecoder().decode(
            AdamWGolden.self, from: Data(contentsOf: trainFixtures.appendingPathComponent("adamw_golden.json")))
        // Layout q.A [2,3], q.B [4,2], down.A [2,5], down.B [3,2], as in the script.
        let shape = LoRAModelShape(layers: 1, hidden: 3, intermediate: 5, qDim: 4, kvDim: 2)
        let layout = LoRALayout(config: LoRAConfig(r: 2, alpha: 4, dropout: 0, targets: [.q, .down]), shape: shape)
        #expect(layout.count == g.shapes.reduce(0) { $0 + $1[0] * $1[1] })
        let params = FloatBuffer(g.`init`.flatMap { $0.map(Float.init) })
        let grads = FloatBuffer(count: layout.count)
        let opt = AdamW(config: AdamWConfig(), count: layout.count)
        let schedule = LRSchedule.trainer(kind: .cosine, baseLR: g.base_lr, rows: 80, batchSize: 4,
                                          accumulation: 1, epochs: 1, warmupRatio: 0.1)
        #expect(schedule.totalSteps == g.total && schedule.warmupSteps == g.warmup)
        for k in 0..<g.total {
            let flat = g.grads[k].flatMap { $0.map(Float.init) }
            for i in 0..<flat.count { grads[i] = flat[i] }
            let norm = clipGradNorm(grads, layout: layout, maxNorm: 1.0)
            #expect(abs(norm - g.norm[k]) <= 1e-6 * g.norm[k], "norm at step \(k)")
            let lr = schedule.lr(k)
            #expect(abs(lr - g.lr[k]) <= 1e-12 + 1e-9 * g.lr[k], "lr at step \(k): \(lr) vs \(g.lr[k])")
            opt.update(params: params, grads: grads, lr: lr)
            assertClose(doubles(params.array), g.params[k].flatMap { $0 }, rtol: 1e-6, atol: 1e-7, "params at step \(k)")
        }
        for k in 0..<g.total {
            #expect(abs(schedule.factor(k) - g.cosine_factors[k]) < 1e-12)
        }
    }

    @Test func linearAndConstantSchedulesMatchTransformers() throws {
        let g = try JSONDecoder().decode(
            AdamWGolden.self, from: Data(contentsOf: trainFixtures.appendingPathComponent("adamw_golden.json")))
        let linear = LRSchedule(kind: .linear, baseLR: 1, warmupSteps: g.warmup, totalSteps: g.total)
        let constant = LRSchedule(kind: .constantWithWarmup, baseLR: 1, warmupSteps: g.warmup, totalSteps: g.total)
        for k in 0..<g.total {
            #expect(abs(linear.factor(k) - g.linear_factors[k]) < 1e-12)
            #expect(abs(constant.factor(k) - g.constant_with_warmup_factors[k]) < 1e-12)
        }
    }

    @Test func trainerStepCountsOfTheOriginalRun() {
        // original-pipeline.md §3.2: N = 1,056, batch 4, accumulation 4, 3 epochs → 66 per epoch,
        // 198 total, 6 warm-up steps.
        let s = LRSchedule.trainer(kind: .cosine, baseLR: 1e-4, rows: 1056, batchSize: 4, accumulation: 4,
                                   epochs: 3, warmupRatio: 0.03)
        #expect(LRSchedule.updatesPerEpoch(rows: 1056, batchSize: 4, accumulation: 4) == 66)
        #expect(s.totalSteps == 198 && s.warmupSteps == 6)
        #expect(LRSchedule.updatesPerEpoch(rows: 17, batchSize: 4, accumulation: 4) == 2)
        #expect(s.factor(0) == 0)
    }
}
