import Foundation
import Testing
import PlaypenIO
@testable import PlaypenTrain

@Suite struct TrainerTests {
    func settings() -> TrainSettings {
        var s = TrainSettings()
        s.lora = LoRAConfig(r: 2, alpha: 4, dropout: 0.1, targets: [.q])
        s.learningRate = 5e-2
        s.epochs = 2
        s.batchSize = 2
        s.accumulation = 2
        s.warmupRatio = 0.1
        return s
    }

    func tmpDir() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("trainer-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    func initial(_ model: ToyModel, _ s: TrainSettings) -> LoRAParameters {
        let p = LoRAParameters.peftInitialized(layout: LoRALayout(config: s.lora, shape: model.loraShape), seed: s.seed)
        // Start B away from zero so A also gets gradients from step one.
        for m in p.layout.modules { for i in 0..<(m.outF * s.lora.r) { p.b(m)[i] = 0.05 * Float(i % 5) - 0.1 } }
        return p
    }

    /// Accumulating micro-batches with gradScale 1/(tokens of the effective batch) gives the
    /// gradient of the effective batch's token-mean loss, whatever the split.
    @Test func microBatchSplitDoesNotChangeTheGradient() throws {
        let model = ToyModel(), s = settings()
        let rows = ToyModel.rows(6, seed: 3), p = initial(model, s)
        let tokens = rows.reduce(0) { $0 + $1.completionTokens }
        let whole = FloatBuffer(count: p.layout.count), split = FloatBuffer(count: p.layout.count)
        _ = try model.accumulateGradients(rows: rows, params: p, grads: whole, gradScale: 1 / Float(tokens), dropout: { _ in nil })
        for part in [rows[0..<1], rows[1..<4], rows[4..<6]] {
            _ = try model.accumulateGradients(rows: Array(part), params: p, grads: split, gradScale: 1 / Float(tokens), dropout: { _ in nil })
        }
        assertClose(doubles(split.array), doubles(whole.array), rtol: 1e-5, atol: 1e-8, "split grads")
    }

    @Test func trainingLowersTheLossAndKeepsTheBestAdapter() throws {
        let model = ToyModel(), s = settings()
        let dir = try tmpDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let rows = ToyModel.rows(20, seed: 5)
        var outputs = TrainOutputs(adapterDirectory: dir + "/adapter", stateDirectory: dir + "/state")
        outputs.evalEvery = 2
        let trainer = try Trainer(model: model, settings: s, train: rows, eval: Array(rows.prefix(6)), outputs: outputs)
        #expect(trainer.schedule.totalSteps == 2 * 5 && trainer.schedule.warmupSteps == 1)
        let p0 = initial(model, s)
        let before = try evalLoss(model: model, params: p0, rows: Array(rows.prefix(6)), batchSize: 4)
        let summary = try trainer.run(initial: p0)
        #expect(summary.steps == 10)
        #expect(summary.bestEvalLoss! < before.trl)
        // The final adapter is the best-by-eval one, and its eval loss is the recorded best.
        let final = try PeftAdapter.read(dir + "/adapter", shape: model.loraShape)
        let again = try evalLoss(model: model, params: final, rows: Array(rows.prefix(6)), batchSize: 4)
        #expect(abs(again.trl - summary.bestEvalLoss!) < 1e-12)
        let log = try String(contentsOfFile: dir + "/state/steps.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(log.count == 10)
        #expect(log.filter { $0.contains("evalLoss") }.count == 6)  // every 2 steps and at epoch ends: 2,4,5,6,8,10
    }

    /// A run stopped after 3 steps and resumed ends with the same adapter bytes as one run.
    @Test func resumeEndsWithTheSameAdapterBytes() throws {
        let model = ToyModel()
        var s = settings()
        s.epochs = 3
        let rows = ToyModel.rows(13, seed: 9)
        let dir = try tmpDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var straight = TrainOutputs(adapterDirectory: dir + "/a", stateDirectory: dir + "/a.state")
        straight.checkpointEvery = 1
        try Trainer(model: model, settings: s, train: rows, eval: [], outputs: straight).run(initial: initial(model, s))

        var pieces = TrainOutputs(adapterDirectory: dir + "/b", stateDirectory: dir + "/b.state")
        pieces.checkpointEvery = 2
        pieces.stopAfterSteps = 3
        let first = try Trainer(model: model, settings: s, train: rows, eval: [], outputs: pieces).run(initial: initial(model, s))
        #expect(first.steps == 3)  // checkpoint at step 2 only; step 3 is lost and redone
        #expect(!FileManager.default.fileExists(atPath: dir + "/b"))
        pieces.stopAfterSteps = nil
        let second = try Trainer(model: model, settings: s, train: rows, eval: [], outputs: pieces).run(initial: initial(model, s))
        #expect(second.resumedFrom == 2)
        let a = FileManager.default.contents(atPath: dir + "/a/adapter_model.safetensors")
        let b = FileManager.default.contents(atPath: dir + "/b/adapter_model.safetensors")
        #expect(a != nil && a == b)
        // The log of the resumed run has one line per step, none duplicated.
        let steps = try String(contentsOfFile: dir + "/b.state/steps.jsonl", encoding: .utf8).split(separator: "\n").count
        #expect(steps == second.steps)
    }

    @Test func resumeWithOtherSettingsIsAClearError() throws {
        let model = ToyModel(), s = settings()
        let rows = ToyModel.rows(8, seed: 1)
        let dir = try tmpDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var out = TrainOutputs(adapterDirectory: dir + "/a", stateDirectory: dir + "/state")
        out.stopAfterSteps = 2
        out.checkpointEvery = 1
        try Trainer(model: model, settings: s, train: rows, eval: [], outputs: out).run(initial: initial(model, s))
        var other = s
        other.learningRate = 1e-3
        do {
            try Trainer(model: model, settings: other, train: rows, eval: [], outputs: out).run(initial: initial(model, other))
            Issue.record("expected a resume mismatch")
        } catch let e as PlaypenError {
            #expect(e.message.contains("checkpoint of another configuration: learningRate is 0.05 there and 0.001 here"))
        }
    }

    @Test func nonFiniteLossStopsNamingStepAndRow() throws {
        let model = ToyModel(), s = settings()
        let rows = ToyModel.rows(8, seed: 2)
        model.poisonRow = "row5"
        let dir = try tmpDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var out = TrainOutputs(adapterDirectory: dir + "/a", stateDirectory: dir + "/state")
        out.checkpointEvery = 1
        do {
            try Trainer(model: model, settings: s, train: rows, eval: [], outputs: out).run(initial: initial(model, s))
            Issue.record("expected a NaN error")
        } catch let e as PlaypenError {
            #expect(e.message.contains("non-finite loss (rows row5)"))
            #expect(e.message.hasPrefix("step "))
        }
        #expect(!FileManager.default.fileExists(atPath: dir + "/a"))
    }

    @Test func emptyTrainingDataIsAnError() {
        #expect(throws: PlaypenError.self) {
            try Trainer(model: ToyModel(), settings: settings(), train: [], eval: [],
                        outputs: TrainOutputs(adapterDirectory: "/tmp/x", stateDirectory: "/tmp/x.state"))
        }
    }

    @Test func checkpointRoundTrip() throws {
        let model = ToyModel(), s = settings()
        let dir = try tmpDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let p = initial(model, s)
        let opt = AdamW(config: s.adam, count: p.layout.count)
        let g = FloatBuffer(testValues(p.layout.count, seed: 4).map(Float.init))
        opt.update(params: p.values, grads: g, lr: 1e-2)
        var progress = TrainProgress()
        progress.step = 7
        progress.bestEvalLoss = 1.25
        try Checkpoint.save(path: dir + "/c.safetensors", params: p, optimizer: opt, progress: progress, settings: s)
        let (p2, opt2, progress2) = try Checkpoint.load(path: dir + "/c.safetensors", settings: s, shape: model.loraShape)
        #expect(p2.values.array == p.values.array && opt2.m.array == opt.m.array && opt2.v.array == opt.v.array)
        #expect(opt2.step == 1 && progress2 == progress)
    }
}
