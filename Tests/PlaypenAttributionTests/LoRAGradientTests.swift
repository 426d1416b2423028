import Foundation
import Testing
import PlaypenIO
import PlaypenModel
import PlaypenTrain
@testable import PlaypenAttribution

/// pp-grad's per-example gradients through the tiny Gemma-3 fixture, against torch autograd
/// through peft (Tests/Fixtures/train, scripts/reference/train_tiny_goldens.py: the adapter
/// `tiny-lora-init` has non-zero B, so both A and B gradients are non-trivial).
@Suite struct LoRAGradientTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures")

    struct Golden: Decodable {
        struct Row: Decodable {
            let row_id: String
            let input_ids: [Int32]
            let completion_start: Int
        }
        let rows: [Row]
    }

    func load() throws -> (GemmaLoRA, LoRAParameters, [TokenizedRow], SafetensorsFile) {
        let train = Self.fixtures.appendingPathComponent("train")
        let model = GemmaLoRA(model: try GemmaModel.load(Self.fixtures.appendingPathComponent("tiny-gemma3").path))
        let params = try PeftAdapter.read(train.appendingPathComponent("tiny-lora-init").path, shape: model.loraShape)
        let golden = try JSONDecoder().decode(Golden.self, from: Data(contentsOf: train.appendingPathComponent("tiny-train-golden.json")))
        let rows = golden.rows.map { TokenizedRow(rowId: $0.row_id, inputIds: $0.input_ids, completionStart: $0.completion_start) }
        let reference = try SafetensorsFile(path: train.appendingPathComponent("tiny-lora-grads.safetensors").path)
        return (model, params, rows, reference)
    }

    /// Collects every row pp-grad would write, in order.
    func gradients(_ runner: LoRAGradientRunner, _ rows: [TokenizedRow], batchSize: Int,
                   secondMoment: Bool = false) throws -> (ids: [String], values: [[Float]], collector: GradientCollector) {
        var ids: [String] = [], values: [[Float]] = []
        let collector = GradientCollector(layout: runner.layout, accumulateSecondMoment: secondMoment) { id, row in
            ids.append(id)
            values.append(Array(row))
        }
        try runner.run(rows: rows, batchSize: batchSize, collector: collector)
        return (ids, values, collector)
    }

    /// `--projection-dim 0`: each module's block of the row is the full gradient of the example's
    /// mean completion loss, laid out as the PEFT weight ([r, in] for A, [out, r] for B).
    @Test func unprojectedGradientsEqualTorchAutograd() throws {
        let (model, params, rows, reference) = try load()
        let runner = try LoRAGradientRunner(model: model, params: params, projection: ProjectionConfig(dim: 0),
                                            reduction: .mean)
        let picked = Array(rows.prefix(3))
        let (ids, values, _) = try gradients(runner, picked, batchSize: 2)
        #expect(ids == picked.map(\.rowId))
        let offsets = runner.layout.offsets
        var checked = 0
        for i in 0..<picked.count {
            for m in params.layout.modules {
                for matrix in ["lora_A", "lora_B"] {
                    let name = String(m.peftName.dropFirst("base_model.".count)) + ".\(matrix).default"
                    let index = try #require(runner.layout.modules.firstIndex { $0.name == name })
                    let want = try reference.floats("row\(i).\(PeftAdapter.tensorName(m, matrix))")
                    let got = values[i][offsets[index]..<offsets[index + 1]]
                    #expect(got.count == want.count)
                    let scale = want.map { abs(Double($0)) }.max()!
                    var worst = 0.0
                    for (g, w) in zip(got, want) { worst = max(worst, abs(Double(g) - Double(w))) }
                    #expect(scale > 0 && worst <= 1e-4 * scale, "row \(i) \(name): max |Δ| \(worst) vs max |g| \(scale)")
                    checked += 1
                }
            }
        }
        #expect(checked == 3 * 2 * params.layout.modules.count)
    }

    /// `--projection-dim 4` against Bergson 2.5.1 itself: its GradientCollector hooks, Philox
    /// Rademacher matrices with "jl" scaling and per-example mean loss, run by
    /// scripts/reference/grad_bergson_golden.py on rows 0-2 (Tests/Fixtures/attribution/
    /// tiny-bergson-grads.safetensors, one [p, p] tensor per row and Bergson module name).
    @Test func projectedGradientsEqualBergson() throws {
        let (model, params, rows, _) = try load()
        let p = 4
        let bergson = try SafetensorsFile(path: Self.fixtures.appendingPathComponent("attribution/tiny-bergson-grads.safetensors").path)
        let runner = try LoRAGradientRunner(model: model, params: params, projection: ProjectionConfig(dim: p),
                                            reduction: .mean)
        let picked = Array(rows.prefix(3))
        let (ids, values, _) = try gradients(runner, picked, batchSize: 2)
        #expect(ids == picked.map(\.rowId))
        let offsets = runner.layout.offsets
        // Same modules in the same (named_modules) order: the order of the blocks in a row.
        let order = try JSONDecoder().decode([String].self, from: Data(try #require(bergson.metadata["modules"]).utf8))
        #expect(runner.layout.modules.map(\.name) == order)
        var checked = 0, observed = 0.0
        for i in 0..<picked.count {
            for (mi, module) in runner.layout.modules.enumerated() {
                let want = try bergson.floats("row\(i).\(module.name)")
                let got = values[i][offsets[mi]..<offsets[mi + 1]]
                #expect(got.count == p * p && want.count == p * p)
                let scale = want.map { abs(Double($0)) }.max()!
                var worst = 0.0
                for (g, w) in zip(got, want) { worst = max(worst, abs(Double(g) - Double(w))) }
                observed = max(observed, worst / scale)
                #expect(scale > 0 && worst <= 1e-4 * scale, "row \(i) \(module.name): max |Δ| \(worst) vs max |g| \(scale)")
                checked += 1
            }
        }
        #expect(checked == 3 * order.count && order.count == 56)
        print("LoRAGradientTests: Bergson 2.5.1 projected rows, worst max|Δ|/max|g| per module = \(observed)")
    }

    /// The projected row of a module is L G Rᵀ with Bergson's matrices, G the full gradient: the
    /// same as projecting the unprojected run's gradients afterwards.
    @Test func projectedRowsAreProjectionsOfTheFullGradients() throws {
        let (model, params, rows, _) = try load()
        let p = 4
        let full = try LoRAGradientRunner(model: model, params: params, projection: ProjectionConfig(dim: 0), reduction: .sum)
        let projected = try LoRAGradientRunner(model: model, params: params, projection: ProjectionConfig(dim: p), reduction: .sum)
        let row = [rows[1]]
        let g = try gradients(full, row, batchSize: 1).values[0]
        let v = try gradients(projected, row, batchSize: 1).values[0]
        let fullOffsets = full.layout.offsets, projOffsets = projected.layout.offsets
        let projector = GradientProjector(layout: projected.layout)
        for (mi, module) in full.layout.modules.enumerated() where mi % 5 == 0 {
            let out = module.outFeatures, inF = module.inFeatures
            let left = projector.left[mi], right = projector.right[mi]
            var worst = 0.0, scale = 0.0
            for a in 0..<p {
                for b in 0..<p {
                    var s = 0.0
                    for o in 0..<out {
                        for i in 0..<inF {
                            s += Double(left[a * out + o]) * Double(g[fullOffsets[mi] + o * inF + i]) * Double(right[b * inF + i])
                        }
                    }
                    worst = max(worst, abs(s - Double(v[projOffsets[mi] + a * p + b])))
                    scale = max(scale, abs(s))
                }
            }
            #expect(worst <= 1e-4 * scale + 1e-9, "module \(module.name): max |Δ| \(worst) vs \(scale)")
        }
    }

    /// Batch size 1 rows equal, bit for bit, the same rows run inside a batch of one; larger
    /// batches agree within float rounding of the longer sgemm (Bergson's test allows the same).
    @Test func aRowDoesNotDependOnItsBatch() throws {
        let (model, params, rows, _) = try load()
        let runner = try LoRAGradientRunner(model: model, params: params, projection: ProjectionConfig(dim: 8), reduction: .mean)
        let alone = try gradients(runner, [rows[2]], batchSize: 1).values[0]
        let first = try gradients(runner, Array(rows.prefix(4)), batchSize: 1).values[2]
        #expect(alone == first)
        let batched = try gradients(runner, Array(rows.prefix(4)), batchSize: 4).values[2]
        let scale = alone.map { abs($0) }.max()!
        let worst = zip(alone, batched).map { abs($0 - $1) }.max()!
        #expect(scale > 0 && worst <= 1e-5 * scale)
    }

    /// The second moment is (1/N) Σ v vᵀ over the written rows, per module.
    @Test func secondMomentIsTheSumOfOuterProducts() throws {
        let (model, params, rows, _) = try load()
        let runner = try LoRAGradientRunner(model: model, params: params, projection: ProjectionConfig(dim: 4), reduction: .mean)
        let (_, values, collector) = try gradients(runner, Array(rows.prefix(3)), batchSize: 1, secondMoment: true)
        let h = try #require(collector.secondMoment)
        #expect(h.count == 3)
        let offsets = runner.layout.offsets
        for m in [0, runner.layout.modules.count - 1] {
            let d = runner.layout.width(m)
            var full = h
            full.symmetrize()
            for a in 0..<d {
                for b in 0..<d {
                    let want = values.reduce(0.0) { $0 + Double($1[offsets[m] + a]) * Double($1[offsets[m] + b]) }
                    #expect(abs(Double(full.sums[m][a * d + b]) - want) <= 1e-5 * max(1, abs(want)))
                }
            }
        }
    }

    @Test func rowsWithoutCompletionTokensAreAnError() throws {
        let (model, params, rows, _) = try load()
        let runner = try LoRAGradientRunner(model: model, params: params, projection: ProjectionConfig(dim: 4), reduction: .mean)
        var bad = rows[0]
        bad.completionStart = bad.inputIds.count
        #expect(throws: PlaypenError.self) { _ = try gradients(runner, [bad], batchSize: 1) }
    }
}
