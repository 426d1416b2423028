import Foundation
import PlaypenIO

// ----------------------------------------------------------------------------------------------
// The SFT loop: data order → micro-batches → forward/backward into LoRA grads → clip → AdamW,
// with eval, best-adapter keeping, step log and resumable checkpoints.

/// A model whose LoRA adapter can be trained: the Gemma-3 forward/backward, or a small test model.
public protocol LoRATrainable: AnyObject {
    /// Feature sizes of the wrapped linear layers.
    var loraShape: LoRAModelShape { get }

    /// Forward and backward of one micro-batch with the adapter `params`: adds to `grads` the
    /// gradient of `gradScale · Σ_rows Σ_completion-tokens loss`, with dropout masks from
    /// `dropout(module)` (nil = no dropout). Returns each row's summed token loss.
    func accumulateGradients(rows: [TokenizedRow], params: LoRAParameters, grads: FloatBuffer,
                             gradScale: Float, dropout: (LoRAModule) -> LoRADropout?) throws -> [Double]

    /// Each row's summed completion-token loss, no dropout, no gradients.
    func rowLosses(rows: [TokenizedRow], params: LoRAParameters) throws -> [Double]
}

/// Where a run writes, how often it evaluates and checkpoints.
public struct TrainOutputs: Sendable {
    /// Final adapter directory (the best by eval loss when an eval set is given, else the last).
    public var adapterDirectory: String
    /// Directory for checkpoint.safetensors, steps.jsonl, best/ and last/ adapters.
    public var stateDirectory: String
    public var checkpointEvery = 0     // optimizer steps; 0 = at each epoch end only
    public var evalEvery = 0           // optimizer steps; 0 = at each epoch end only
    public var evalBatchSize = 4
    public var resume = true
    public var baseModelName: String? = nil
    /// Stop after this many optimizer steps in this process (tests of resume); nil = no stop.
    public var stopAfterSteps: Int? = nil

    public init(adapterDirectory: String, stateDirectory: String) {
        self.adapterDirectory = adapterDirectory
        self.stateDirectory = stateDirectory
    }
}

/// One line of the step log (steps.jsonl).
public struct StepRecord: Codable, Equatable, Sendable {
    public var step: Int            // 1-based optimizer step
    public var epoch: Double        // fractional epoch after this step
    public var loss: Double         // mean completion-token loss of the effective batch
    public var lr: Double
    public var gradNorm: Double
    public var tokens: Int          // completion tokens in the effective batch
    public var inputTokens: Int     // all tokens processed
    public var seconds: Double
    public var evalLoss: Double?
    public var evalTokenLoss: Double?
}

/// Summary of a finished run.
public struct TrainSummary: Codable, Sendable {
    public var steps: Int
    public var resumedFrom: Int
    public var finalLoss: Double?
    public var bestEvalLoss: Double?
    public var bestStep: Int?
    public var evalLosses: [Int: Double]
    public var seconds: Double
    public var inputTokens: Int
}

/// Mean eval losses: `trl` is transformers' eval_loss (per-batch token means over sequential
/// batches, averaged weighted by batch rows); `token` is the mean over all completion tokens.
public func evalLoss(model: LoRATrainable, params: LoRAParameters, rows: [TokenizedRow], batchSize: Int)
    throws -> (trl: Double, token: Double)
{
    var weighted = 0.0, totalLoss = 0.0, totalTokens = 0
    var start = 0
    while start < rows.count {
        let batch = Array(rows[start..<min(start + batchSize, rows.count)])
        let losses = try model.rowLosses(rows: batch, params: params)
        let tokens = batch.reduce(0) { $0 + $1.completionTokens }
        let sum = losses.reduce(0, +)
        weighted += Double(batch.count) * sum / Double(max(tokens, 1))
        totalLoss += sum
        totalTokens += tokens
        start += batchSize
    }
    return (weighted / Double(max(rows.count, 1)), totalLoss / Double(max(totalTokens, 1)))
}

/// Gradient of one optimizer step: zeroes `grads`, runs every micro-batch with gradScale
/// 1/(completion tokens of the whole effective batch) and dropout keyed by (seed, step, micro,
/// module), then clips to `settings.maxGradNorm`. Returns the effective batch's mean token loss,
/// the pre-clip global norm, and the ids of rows whose loss was not finite.
public func accumulateStep(model: LoRATrainable, params: LoRAParameters, grads: FloatBuffer,
                           micro: [[TokenizedRow]], settings: TrainSettings, step: Int)
    throws -> (loss: Double, gradNorm: Double, badRows: [String])
{
    let tokens = micro.reduce(0) { $0 + $1.reduce(0) { $0 + $1.completionTokens } }
    grads.zero()
    var lossSum = 0.0
    var bad: [String] = []
    for (mi, rows) in micro.enumerated() {
        let losses = try model.accumulateGradients(
            rows: rows, params: params, grads: grads, gradScale: 1 / Float(max(tokens, 1)),
            dropout: { m in
                settings.lora.dropout > 0
                    ? LoRADropout(p: settings.lora.dropout, key: LoRADropout.key(seed: settings.seed, step: step, micro: mi, module: m))
                    : nil
            })
        for (row, l) in zip(rows, losses) where !l.isFinite { bad.append(row.rowId) }
        lossSum += losses.reduce(0, +)
    }
    let loss = lossSum / Double(max(tokens, 1))
    let norm = clipGradNorm(grads, layout: params.layout, maxNorm: settings.maxGradNorm)
    return (loss, norm, bad)
}

public final class Trainer {
    public let model: LoRATrainable
    public let settings: TrainSettings
    public let train: [TokenizedRow]
    public let eval: [TokenizedRow]
    public let outputs: TrainOutputs
    public let schedule: LRSchedule
    public let stepsPerEpoch: Int
    /// Called after every optimizer step (progress display).
    public var onStep: ((StepRecord, Int) -> Void)?

    public init(model: LoRATrainable, settings: TrainSettings, train: [TokenizedRow], eval: [TokenizedRow],
                outputs: TrainOutputs) throws {
        guard !train.isEmpty else { throw PlaypenError("training data: no rows") }
        guard settings.batchSize > 0, settings.accumulation > 0 else {
            throw PlaypenError("batch size and gradient accumulation must be positive")
        }
        guard settings.epochs > 0 || settings.maxSteps > 0 else { throw PlaypenError("epochs or max steps must be positive") }
        self.model = model
        self.settings = settings
        self.train = train
        self.eval = eval
        self.outputs = outputs
        stepsPerEpoch = LRSchedule.updatesPerEpoch(rows: train.count, batchSize: settings.batchSize,
                                                   accumulation: settings.accumulation)
        schedule = LRSchedule.trainer(kind: settings.schedule, baseLR: settings.learningRate, rows: train.count,
                                      batchSize: settings.batchSize, accumulation: settings.accumulation,
                                      epochs: settings.epochs, maxSteps: settings.maxSteps,
                                      warmupRatio: settings.warmupRatio, warmupSteps: settings.warmupSteps)
    }

    var checkpointPath: String { outputs.stateDirectory + "/checkpoint.safetensors" }
    var logPath: String { outputs.stateDirectory + "/steps.jsonl" }

    /// The optimizer steps of epoch `e` (cached by the caller).
    func batches(epoch: Int) -> [StepBatch] {
        let perm = epochPermutation(count: train.count, seed: settings.seed, epoch: epoch)
        return epochBatches(lengths: train.map(\.inputIds.count), permutation: perm,
                            batchSize: settings.batchSize, accumulation: settings.accumulation)
    }

    /// Runs (or resumes) training to `schedule.totalSteps`, writes the adapter, returns a summary.
    @discardableResult
    public func run(initial: LoRAParameters) throws -> TrainSummary {
        let fm = FileManager.default
        try fm.createDirectory(atPath: outputs.stateDirectory, withIntermediateDirectories: true)
        let shape = model.loraShape
        var params = initial
        var optimizer = AdamW(config: settings.adam, count: params.layout.count)
        var progress = TrainProgress()
        if outputs.resume, fm.fileExists(atPath: checkpointPath) {
            (params, optimizer, progress) = try Checkpoint.load(path: checkpointPath, settings: settings, shape: shape)
        }
        let resumedFrom = progress.step
        var log = try StepLog(path: logPath, keepThrough: progress.step)
        let grads = FloatBuffer(count: params.layout.count)
        let started = Date()
        var evalLosses: [Int: Double] = [:]
        var finalLoss: Double?
        var inputTokensTotal = 0
        var cachedEpoch = -1
        var epochSteps: [StepBatch] = []
        var stepsThisProcess = 0

        while progress.step < schedule.totalSteps {
            let step = progress.step
            let epoch = step / stepsPerEpoch
            if epoch != cachedEpoch {
                epochSteps = batches(epoch: epoch)
                cachedEpoch = epoch
            }
            let batch = epochSteps[step % stepsPerEpoch]
            let t0 = Date()
            let tokens = batch.rows.reduce(0) { $0 + train[$1].completionTokens }
            let inputTokens = batch.rows.reduce(0) { $0 + train[$1].inputIds.count }
            let micro = batch.micro.map { $0.map { train[$0] } }
            let (loss, norm, bad) = try accumulateStep(model: model, params: params, grads: grads, micro: micro,
                                                        settings: settings, step: step)
            if !loss.isFinite || !norm.isFinite {
                let rowsText = bad.isEmpty ? batch.rows.map { train[$0].rowId }.joined(separator: ",") : bad.joined(separator: ",")
                throw PlaypenError(
                    "step \(step + 1): non-finite \(loss.isFinite ? "gradient norm" : "loss") (rows \(rowsText)); stopped, the last good checkpoint is \(fm.fileExists(atPath: checkpointPath) ? checkpointPath : "none (no checkpoint yet)")")
            }
            let lr = schedule.lr(step)
            optimizer.update(params: params.values, grads: grads, lr: lr)
            progress.step = step + 1
            finalLoss = loss
            inputTokensTotal += inputTokens
            var record = StepRecord(step: step + 1, epoch: Double(step + 1) / Double(stepsPerEpoch), loss: loss,
                                    lr: lr, gradNorm: norm, tokens: tokens, inputTokens: inputTokens,
                                    seconds: Date().timeIntervalSince(t0))

            let epochEnd = progress.step % stepsPerEpoch == 0 || progress.step == schedule.totalSteps
            if !eval.isEmpty, epochEnd || (outputs.evalEvery > 0 && progress.step % outputs.evalEvery == 0) {
                let (e, et) = try evalLoss(model: model, params: params, rows: eval, batchSize: outputs.evalBatchSize)
                record.evalLoss = e
                record.evalTokenLoss = et
                progress.lastEvalLoss = e
                evalLosses[progress.step] = e
                if progress.bestEvalLoss.map({ e < $0 }) ?? true {
                    progress.bestEvalLoss = e
                    progress.bestStep = progress.step
                    try PeftAdapter.write(params, to: outputs.stateDirectory + "/best", baseModel: outputs.baseModelName)
                }
            }
            try log.append(record)
            onStep?(record, schedule.totalSteps)
            if epochEnd || (outputs.checkpointEvery > 0 && progress.step % outputs.checkpointEvery == 0) {
                try Checkpoint.save(path: checkpointPath, params: params, optimizer: optimizer,
                                    progress: progress, settings: settings)
            }
            stepsThisProcess += 1
            if let stop = outputs.stopAfterSteps, stepsThisProcess >= stop, progress.step < schedule.totalSteps {
                break
            }
        }
        if progress.step >= schedule.totalSteps {
            try PeftAdapter.write(params, to: outputs.stateDirectory + "/last", baseModel: outputs.baseModelName)
            let bestDir = outputs.stateDirectory + "/best"
            let final = (!eval.isEmpty && fm.fileExists(atPath: bestDir))
                ? try PeftAdapter.read(bestDir, shape: shape) : params
            try PeftAdapter.write(final, to: outputs.adapterDirectory, baseModel: outputs.baseModelName)
        }
        return TrainSummary(steps: progress.step, resumedFrom: resumedFrom, finalLoss: finalLoss,
                            bestEvalLoss: progress.bestEvalLoss, bestStep: progress.bestStep, evalLosses: evalLosses,
                            seconds: Date().timeIntervalSince(started), inputTokens: inputTokensTotal)
    }
}

/// The JSONL step log: on resume, lines after the checkpoint's step are dropped first.
struct StepLog {
    let path: String
    let handle: FileHandle

    init(path: String, keepThrough step: Int) throws {
        self.path = path
        var kept = Data()
        if step > 0, let old = FileManager.default.contents(atPath: path) {
            let dec = JSONDecoder()
            for line in old.split(separator: 0x0A) {
                guard let r = try? dec.decode(StepRecord.self, from: Data(line)), r.step <= step else { break }
                kept.append(contentsOf: line)
                kept.append(0x0A)
            }
        }
        guard FileManager.default.createFile(atPath: path, contents: kept),
              let h = FileHandle(forWritingAtPath: path)
        else { throw PlaypenError("\(path): cannot write the step log") }
        h.seekToEndOfFile()
        handle = h
    }

    mutating func append(_ r: StepRecord) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        var data = try enc.encode(r)
        data.append(0x0A)
        handle.write(data)
    }
}
