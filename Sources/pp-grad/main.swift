import ArgumentParser
import Foundation
import PlaypenAttribution
import PlaypenCLI
import PlaypenIO
import PlaypenModel
import PlaypenTrain

struct PPGrad: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pp-grad",
        abstract: "Per-example LoRA gradients (Bergson's modules and projections) with the training stage's tokenization.",
        discussion: """
            Writes a tensor stream of per-example projected gradients (one row per example, row id = the
            example's row_id), or with --reduce mean the one-row query; --preconditioner also writes the
            second-moment sums H per module. pp-score reads all three (docs/pp-grad.md, docs/pp-score.md).

            Example (the original's query and index sides):
              pp-grad --model gemma-3-270m-q4_k_m.gguf --adapter runs/demo/adapter --examples runs/demo/data/query.jsonl.zst \\
                --reduce mean --unit-normalize --preconditioner runs/demo/query_precond.safetensors -o runs/demo/query_grads.ppt
              pp-grad --model gemma-3-270m-q4_k_m.gguf --adapter runs/demo/adapter --examples runs/demo/data/train.jsonl.zst \\
                --preconditioner runs/demo/train_precond.safetensors -o runs/demo/train_grads.ppt
            """)

    @OptionGroup var common: CommonOptions
    @OptionGroup var out: OutputOptions

    @Option(help: "Model: a .gguf file or a Hugging Face directory.") var model: String
    @Option(help: "PEFT adapter directory (from pp-train or peft).") var adapter: String
    @Option(help: ArgumentHelp("Rows (JSON Lines[.zst]): pp-filter examples or pretokenized rows.", valueName: "file")) var examples: String
    @Option(help: "Keep only records whose \"split\" equals this.") var split: String?
    @Option(help: "Maximum tokens per row (as training).") var maxLength = 384
    @Option(help: "left: keep the completion, trim the prompt from the left; right: first max-length tokens (trl).") var truncation = "left"
    @Option(help: "Per-example loss over completion tokens: mean or sum.") var lossReduction = "mean"
    @Option(help: "Projection p (each module's gradient becomes p x p); 0 = full gradients.") var projectionDim = 32
    @Option(help: "Projection scaling: jl or row_norm.") var projectionScaling = "jl"
    @Option(help: "Bergson's projection_seed (appended to module identifiers); default none.") var projectionSeed: Int?
    @Option(help: "none, or mean: write one row, the mean over examples (the query).") var reduce = "none"
    @Flag(help: "With --reduce mean: unit-normalise each example's row first.") var unitNormalize = false
    @Option(help: "Semantics of the unit-normalisation epsilon: bergson-0.5 or bergson-2.") var semantics = "bergson-0.5"
    @Option(help: ArgumentHelp("Also write the per-module second moments (sums and count) here (.safetensors).", valueName: "file")) var preconditioner: String?
    @Option(help: "Rows per forward/backward batch. 1 (default) makes every row's gradient independent of the others bit for bit; larger batches run one sgemm over more tokens, whose rounding may differ at ~1e-7 relative.") var batchSize = 1
    @Option(help: "Process only shard i of N (contiguous blocks of rows), e.g. 0/4.") var shard: String?

    func validate() throws {
        guard LossReduction(rawValue: lossReduction) != nil else { throw ValidationError("--loss-reduction: expected mean or sum") }
        guard ProjectionScale(rawValue: projectionScaling) != nil else { throw ValidationError("--projection-scaling: expected jl or row_norm") }
        guard ScoreSemantics(rawValue: semantics) != nil else { throw ValidationError("--semantics: expected bergson-0.5 or bergson-2") }
        guard ["none", "mean"].contains(reduce) else { throw ValidationError("--reduce: expected none or mean") }
        guard projectionDim >= 0 else { throw ValidationError("--projection-dim must be >= 0") }
        guard batchSize > 0, maxLength > 1 else { throw ValidationError("--batch-size must be positive and --max-length at least 2") }
        guard Truncation(rawValue: truncation) != nil else { throw ValidationError("--truncation: expected left or right") }
        if unitNormalize && reduce != "mean" { throw ValidationError("--unit-normalize applies to --reduce mean") }
        if shard != nil && reduce == "mean" {
            throw ValidationError("--reduce mean with --shard: write per-example shards instead (pp-score reduces a per-example --query)")
        }
        if out.output == "-" && preconditioner == nil && reduce == "none" {
            // fine: rows go to stdout
        }
    }

    func run() throws {
        let t0 = Date()
        let shardSpec = try shard.map(Shard.init)
        let gemma = try GemmaModel.load(model)
        let trainable = GemmaLoRA(model: gemma)
        let params = try PeftAdapter.read(adapter, shape: trainable.loraShape)
        let tok = gemma.tokenizer
        let plan = TokenizationPlan(bos: Int32(tok?.bosID ?? gemma.config.bosTokenID),
                                    eos: Int32(tok?.eosID ?? gemma.config.eosTokenIDs.first ?? 1),
                                    maxLength: maxLength, truncation: Truncation(rawValue: truncation)!)
        let encode: ((String) throws -> [Int32])? = tok.map { t in { s in t.encode(s, addBOS: false).map(Int32.init) } }
        var (rows, report) = try TrainingData.load(path: examples, plan: plan, split: split, tokenize: encode)
        let total = rows.count
        if let shardSpec {
            // Shards are whole batches, so every row is computed in the same batch as in the
            // unsharded run and the shards concatenate to its rows bit for bit.
            let batches = shardSpec.range(of: (total + batchSize - 1) / batchSize)
            rows = Array(rows[(batches.lowerBound * batchSize)..<min(batches.upperBound * batchSize, total)])
        }
        common.log("pp-grad: \(rows.count) of \(total) rows\(shardSpec.map { " (shard \($0.index)/\($0.count))" } ?? "") (\(report.trimmedRows) truncated); model loaded in \(String(format: "%.1f", Date().timeIntervalSince(t0))) s")

        let projection = ProjectionConfig(dim: projectionDim, scale: ProjectionScale(rawValue: projectionScaling)!,
                                          seed: projectionSeed)
        let runner = try LoRAGradientRunner(model: trainable, params: params, projection: projection,
                                            reduction: LossReduction(rawValue: lossReduction)!)
        let adapterHash = try SHA256.hash(path: adapter + "/adapter_model.safetensors")
        let modelFile = FileManager.default.fileExists(atPath: model + "/model.safetensors.index.json")
            ? model + "/model.safetensors.index.json"
            : (FileManager.default.fileExists(atPath: model + "/model.safetensors") ? model + "/model.safetensors" : model)
        let modelHash = try SHA256.hash(path: modelFile)
        let scoreSemantics = ScoreSemantics(rawValue: semantics)!
        var info = GradientStreamInfo(layout: runner.layout, lossReduction: lossReduction,
                                      adapterSHA256: adapterHash, modelSHA256: modelHash)
        var manifest = RunContext.current.manifest(seed: nil)
        for path in [examples, adapter + "/adapter_model.safetensors", modelFile] { try manifest.addInput(path) }
        var manifestObject = JSONObject()
        if case .object(let m) = manifest.json { manifestObject = m }

        let reducing = reduce == "mean"
        let rowWriter = reducing ? nil : try GradientStreamWriter(path: out.output, info: info, manifest: manifestObject)
        let collector = GradientCollector(layout: runner.layout, accumulateSecondMoment: preconditioner != nil,
                                          reduce: reducing ? (unitNormalize, scoreSemantics) : nil) { id, row in
            try rowWriter?.append(rowId: id, row)
        }
        let progress = common.progress("pp-grad", total: rows.count, unit: "rows")
        var reported = 0
        try runner.run(rows: rows, batchSize: batchSize, collector: collector) { done in
            progress.advance(by: done - reported)
            reported = done
        }
        progress.finish()

        if reducing, let reducer = collector.reducer {
            info.kind = .reduced
            info.unitNormalized = unitNormalize
            info.reduceSemantics = scoreSemantics
            info.reducedRows = reducer.count
            let writer = try GradientStreamWriter(path: out.output, info: info, manifest: manifestObject)
            try reducer.mean.withUnsafeBufferPointer { try writer.append(rowId: "mean", $0) }
            try writer.commit()
        } else {
            try rowWriter?.commit()
        }
        if let preconditioner, let moment = collector.secondMoment {
            var momentInfo = info
            momentInfo.kind = .perExample
            try moment.write(to: preconditioner, info: momentInfo)
        }
        manifest.results["rows"] = .int(rows.count)
        manifest.results["row_width"] = .int(runner.layout.rowWidth)
        manifest.results["modules"] = .int(runner.layout.modules.count)
        manifest.results["truncated_rows"] = .int(report.trimmedRows)
        if let preconditioner { manifest.results["preconditioner"] = .string(preconditioner) }
        try manifest.write(for: out.output)
        let seconds = Date().timeIntervalSince(t0)
        common.log(String(format: "pp-grad: %d rows in %.1f s (%.2f rows/s)", rows.count, seconds, Double(rows.count) / seconds))
    }
}

PlaypenMain.run(PPGrad.self)
