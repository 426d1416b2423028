import Foundation
import PlaypenIO
import PlaypenTrain

/// How an example's loss is reduced over its completion tokens before differentiating.
public enum LossReduction: String, Sendable, CaseIterable {
    /// Mean over the example's completion tokens (Bergson's default; trl's per-token average).
    case mean
    /// Sum over the example's completion tokens.
    case sum
}

/// Per-example gradients of a LoRA-adapted Gemma-3 with respect to every `lora_A` and `lora_B`
/// matrix, fed module by module into a `GradientCollector` (which projects them, accumulates
/// H and reduces). The forward/backward is `GemmaLoRA`'s, so tokenization, loss masking and
/// numerics are the training stage's: one code path.
///
/// For the adapted linear y = W x + c·B(A x) (c = alpha / r) and an example's loss ℓ:
/// - `lora_A` [r, in] receives x = the layer input, g = c·(dℓ/dy) B   [T, r]  (the backward's du)
/// - `lora_B` [out, r] receives x = A x,            g = c·dℓ/dy       [T, out] (c folded into the projection)
/// so that the module gradient is gᵀ x, exactly the gradients training accumulates.
public final class LoRAGradientRunner {
    public let model: GemmaLoRA
    public let params: LoRAParameters
    public let layout: GradientLayout
    public let reduction: LossReduction
    /// Layout indices of each adapted module's (lora_A, lora_B), by `LoRAModule.peftName`.
    private let moduleIndex: [String: (a: Int, b: Int)]

    /// Bergson's module layout for `params` (every adapted module, A then B, layer by layer).
    public static func layout(for params: LoRAParameters, projection: ProjectionConfig) -> GradientLayout {
        let shape = params.layout.shape
        var shapes: [String: (out: Int, in: Int)] = [:]
        for t in params.layout.config.targets {
            let f = shape.features(t)
            shapes[t.rawValue] = (out: f.outF, in: f.inF)
        }
        return GradientLayout.lora(layers: shape.layers, rank: params.layout.config.r, shapes: shapes,
                                   projection: projection)
    }

    public init(model: GemmaLoRA, params: LoRAParameters, projection: ProjectionConfig,
                reduction: LossReduction) throws
    {
        self.model = model
        self.params = params
        self.reduction = reduction
        layout = Self.layout(for: params, projection: projection)
        var byName: [String: Int] = [:]
        for (i, m) in layout.modules.enumerated() { byName[m.name] = i }
        var index: [String: (a: Int, b: Int)] = [:]
        for m in params.layout.modules {
            let base = String(m.peftName.dropFirst("base_model.".count))
            guard let a = byName[base + ".lora_A.default"], let b = byName[base + ".lora_B.default"] else {
                throw PlaypenError("adapter module \(m.peftName) has no place in the gradient layout")
            }
            index[m.peftName] = (a, b)
        }
        guard index.count * 2 == layout.modules.count else {
            throw PlaypenError("the adapter covers \(index.count * 2) of the layout's \(layout.modules.count) gradient modules: pp-grad needs every layer adapted for its targets")
        }
        moduleIndex = index
    }

    /// Runs `rows` in micro-batches of `batchSize` rows and feeds `collector` (whose layout must
    /// be `layout`). A row's gradient does not depend on its batch: rows are concatenated without
    /// padding and projected one by one. `progress` gets the number of rows done.
    public func run(rows: [TokenizedRow], batchSize: Int, collector: GradientCollector,
                    progress: (Int) -> Void = { _ in }) throws
    {
        precondition(collector.layout == layout, "collector layout differs from the runner's")
        let r = params.layout.config.r
        let c = params.layout.config.scale
        var done = 0
        for start in stride(from: 0, to: rows.count, by: max(batchSize, 1)) {
            let batch = Array(rows[start..<min(start + max(batchSize, 1), rows.count)])
            var offsets = [0]
            var scales: [Float] = []
            for row in batch {
                offsets.append(offsets.last! + row.inputIds.count)
                let targets = row.lossPositions.count
                guard targets > 0 else {
                    throw PlaypenError("row \(row.rowId): no completion tokens to take the loss on (completion_start \(row.completionStart) of \(row.inputIds.count) tokens)")
                }
                scales.append(reduction == .mean ? 1 / Float(targets) : 1)
            }
            collector.beginBatch(rowIds: batch.map(\.rowId), tokenOffsets: offsets)
            _ = try model.perExampleBackward(rows: batch, params: params, rowGradScale: scales) { [moduleIndex] m, x, u, dy, du, _ in
                let (ia, ib) = moduleIndex[m.peftName]!
                collector.module(ia, x: x, ldx: m.inF, g: du, ldg: r)
                collector.module(ib, x: u, ldx: r, g: dy, ldg: m.outF, gScale: c)
            }
            try collector.endBatch()
            done += batch.count
            progress(done)
        }
    }
}
