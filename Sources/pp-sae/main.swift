import ArgumentParser
import CBLAS
import Foundation
import PlaypenCLI
import PlaypenIO
import PlaypenSAE

func log(_ text: String) { FileHandle.standardError.write(Data((text + "\n").utf8)) }

/// Peak resident set size of this process in MiB: VmHWM of /proc/self/status (getrusage's
/// ru_maxrss would include the parent's peak, which Linux carries across fork and exec).
func peakRSSMiB() -> Double {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
          let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
          let kib = Double(line.split(separator: " ").dropFirst().first ?? "") else { return 0 }
    return kib / 1024
}

/// Runs `body`; PlaypenMain prints a PlaypenError as one `error:` line and exits 1.
func reportingErrors(_ body: () throws -> Void) throws { try body() }


struct PPSAE: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pp-sae",
        abstract: "Sparse autoencoder features of the residual stream: per-sample arrays, layer summaries, SAE training.",
        subcommands: [Inspect.self, Train.self] + extraSubcommands)
}

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print an SAE's format, architecture and shapes.",
        discussion: """
            Accepts a Gemma Scope 2 directory (config.json + params.safetensors), a Gemma Scope 1 params.npz \
            (or its directory), or a SAELens directory (cfg.json + sae_weights.safetensors).

            Example:
              pp-sae inspect runs/sae/layer_9_width_4096
            """)
    @Argument(help: "SAE directory or params.npz.") var sae: String

    func run() throws {
        try reportingErrors {
            let s = try SparseAutoencoder.load(path: sae)
            let norms = s.decoderNorms()
            print("source: \(s.source)")
            print("architecture: \(s.architecture)")
            print("d_in: \(s.dIn)  d_sae: \(s.dSAE)  layer: \(s.layer.map(String.init) ?? "unknown")")
            print("apply_b_dec_to_input: \(s.applyBDecToInput)  rescale_acts_by_decoder_norm: \(s.rescaleActsByDecoderNorm)")
            print(String(format: "decoder row norms: min %.4g  max %.4g", Double(norms.min() ?? 0), Double(norms.max() ?? 0)))
            if !s.threshold.isEmpty {
                print(String(format: "threshold: min %.4g  max %.4g", Double(s.threshold.min()!), Double(s.threshold.max()!)))
            }
        }
    }
}

/// Options shared by the training entry points.
extension TrainedArchitecture: ExpressibleByArgument {}

struct TrainingOptions: ParsableArguments {
    @Option(help: "SAE to train: topk (MSE + aux-K) or jumprelu (learned thresholds, MSE + L0 penalty).")
    var architecture = TrainedArchitecture.topK
    @Option(help: "Latents (SAE width).") var dSae = 4096
    @Option(help: "Active latents per token (TopK).") var k = 32
    @Option(help: "JumpReLU: λ of the L0 penalty (activations are scaled to mean norm sqrt(d_in)).") var l0Coefficient: Float = 1
    @Option(help: "JumpReLU: bandwidth ε of the straight-through rectangle kernel.") var bandwidth: Float = 0.001
    @Option(help: "JumpReLU: initial threshold θ of every latent.") var initialThreshold: Float = 0.001
    @Option(help: "Adam learning rate.") var lr: Float = 3e-4
    @Option(help: "Tokens per batch.") var batchTokens = 4096
    @Option(help: "Passes over the activations.") var epochs = 10
    @Option(help: "Steps without firing before a latent counts as dead (aux-K).") var deadWindow = 200
    @Option(help: "k_aux of the aux-K loss (0 = d_in/2).") var auxK = 0
    @Option(help: "Coefficient of the aux-K loss.") var auxCoefficient: Float = 1
    @Option(help: "Global gradient-norm clip (0 = none).") var clip: Float = 1
    @Option(help: "Final fraction of steps over which the learning rate decays linearly to 0.") var decayFraction: Float = 0.2
    func config(seed: UInt64) -> SAETrainingConfig {
        var c = SAETrainingConfig()
        c.architecture = architecture
        c.dSAE = dSae
        c.k = k
        c.l0Coefficient = l0Coefficient
        c.bandwidth = bandwidth
        c.initialThreshold = initialThreshold
        c.learningRate = lr
        c.batchTokens = batchTokens
        c.epochs = epochs
        c.seed = seed
        c.deadWindowSteps = deadWindow
        c.auxK = auxK
        c.auxKCoefficient = auxCoefficient
        c.gradientClip = clip
        c.decayFraction = decayFraction
        return c
    }

    func validate() throws {
        guard dSae > 0, architecture != .topK || (k > 0 && k <= dSae) else { throw ValidationError("--k must lie in 1...--d-sae") }
        guard batchTokens > 0, epochs > 0 else { throw ValidationError("--batch-tokens and --epochs must be positive") }
        guard lr > 0 else { throw ValidationError("--lr must be positive") }
        guard bandwidth > 0, initialThreshold > 0, l0Coefficient >= 0 else {
            throw ValidationError("--bandwidth and --initial-threshold must be positive, --l0-coefficient non-negative")
        }
    }
}

/// A Float option as the decimal the user typed (0.2, not 0.20000000298023224).
func exact(_ value: Float) -> Double { Double("\(value)") ?? Double(value) }

/// Trains on `source` and saves the SAE (Gemma Scope 2 layout) with its per-epoch metrics.
func trainAndSave(source: ActivationSource, options: TrainingOptions, seed: UInt64, layer: Int?, output: String, modelName: String,
                  quiet: Bool, inputs: [String: Any], manifestInputs: [String]) throws {
    guard source.count > 0 else { throw PlaypenError("no activation rows to train on") }
    let c = options.config(seed: seed)
    let trainer = SAETrainer(dIn: source.dIn, config: c)
    trainer.estimateScale(source)
    let topK = c.architecture == .topK
    let sparsity = topK ? "k \(c.k)" : "jumprelu, l0 coefficient \(c.l0Coefficient), bandwidth \(c.bandwidth)"
    if !quiet { log("pp-sae train: \(source.count) tokens x \(source.dIn), d_sae \(options.dSae), \(sparsity), scale \(trainer.scale)") }
    let started = Date()
    let reports = trainer.train(source) { r in
        if !quiet {
            log(String(format: "epoch %d: L0 %.2f  explained variance %.4f  dead %.4f (window %.4f)  mse %.4g  %@ %.4g  %.0f tokens/s",
                       r.epoch, r.l0, r.explainedVariance, r.deadFraction, r.deadWindowFraction, r.mse,
                       topK ? "aux" : "l0 loss", topK ? r.auxLoss : r.sparsityLoss,
                       Double(r.tokens) / max(r.seconds, 1e-9)))
        }
    }
    let seconds = Date().timeIntervalSince(started)
    let sae = try trainer.exportSAE(layer: layer)
    var training: [String: Any] = [
        "architecture": c.architecture.rawValue,
        "tokens": source.count, "epochs": c.epochs, "batch_tokens": c.batchTokens, "learning_rate": exact(c.learningRate),
        "seed": Int(c.seed), "dead_window_steps": c.deadWindowSteps,
        "gradient_clip": exact(c.gradientClip), "decay_fraction": exact(c.decayFraction),
        "epochs_report": reports.map { r in
            ["epoch": r.epoch, "l0": r.l0, "explained_variance": r.explainedVariance, "dead_fraction": r.deadFraction,
             "dead_window_fraction": r.deadWindowFraction, "mse": r.mse,
             topK ? "aux_loss" : "l0_loss": topK ? r.auxLoss : r.sparsityLoss] as [String: Any]
        },
    ]
    if topK {
        training["aux_k"] = c.auxK
        training["aux_coefficient"] = exact(c.auxKCoefficient)
    } else {
        training["l0_coefficient"] = exact(c.l0Coefficient)
        training["bandwidth"] = exact(c.bandwidth)
        training["initial_threshold"] = exact(c.initialThreshold)
    }
    var extra: [String: Any] = ["activation_scale": Double(trainer.scale), "training": training, "producer": "pp-sae train"]
    for (k, v) in inputs { extra[k] = v }
    try sae.save(directory: output, modelName: modelName, extra: extra)
    var manifest = RunContext.current.manifest(seed: seed)
    for path in manifestInputs { try manifest.addInput(path) }
    if let last = reports.last {
        manifest.results["tokens_per_second"] = .double(Double(source.count * c.epochs) / max(seconds, 1e-9))
        manifest.results["explained_variance"] = .double(last.explainedVariance)
        manifest.results["l0"] = .double(last.l0)
        manifest.results["dead_fraction"] = .double(last.deadFraction)
        manifest.results["peak_rss_mib"] = .double(peakRSSMiB())
    }
    try manifest.write(for: output)
    if !quiet {
        log(String(format: "pp-sae train: wrote %@ (%.0f tokens/s over %d epochs, peak RSS %.0f MiB)", output,
                   Double(source.count * c.epochs) / max(seconds, 1e-9), c.epochs, peakRSSMiB()))
    }
}

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a TopK or JumpReLU SAE and save it in Gemma Scope 2 layout (config.json + params.safetensors).",
        discussion: """
            Trains on resid_post of --layer computed by the model over --examples (BOS left out unless \
            --include-bos), cached once as raw float32 rows, or on rows from --activations: a .npy float32 \
            array [tokens, d_in], or a raw little-endian float32 file [tokens, d_in] (with --d-in). Each epoch \
            reports L0, explained variance and the dead fraction; the same inputs and seed give a \
            byte-identical SAE, which `pp-sae extract` loads like a pretrained one.

            Examples:
              pp-sae train --examples runs/taboo/data/train.jsonl.zst --layer 9 --d-sae 4096 --k 32 -o runs/taboo/sae/layer_9_width_4096
              pp-sae train --activations acts.npy --layer 9 --d-sae 4096 --k 32 -o sae_from_file
              pp-sae train --activations acts.npy --layer 9 --d-sae 4096 --architecture jumprelu --l0-coefficient 0.5 -o jumprelu_sae
            """)
    @Option(help: "Activation rows: .npy [tokens, d_in] f32, or a raw f32 file with --d-in.") var activations: String?
    @Option(help: "Row width of a raw f32 activation file.") var dIn: Int?
    @Option(help: "Model: GGUF file or Hugging Face directory (default $PP_GGUF, else the `make model` path).") var model: String?
    @Option(help: "PEFT LoRA adapter merged into the model.") var adapter: String?
    @Option(help: "Example records (pp-filter output) to compute activations from.") var examples: String?
    @Option(help: "Text per example: full, prompt or completion.") var text: String = "full"
    @Option(help: "Tokens per example, BOS included.") var maxTokens = 384
    @Flag(help: "Train on the BOS position too (its norm is an outlier; left out by default).") var includeBos = false
    @Option(help: "Keep the activation cache at this path (raw f32 rows).") var keepActivations: String?
    @Option(help: "Layer whose resid_post is used (recorded in config.json).") var layer: Int?
    @Option(name: .shortAndLong, help: "Output SAE directory.") var output: String
    @OptionGroup var training: TrainingOptions
    @OptionGroup var common: CommonOptions
    var quiet: Bool { common.quiet }

    func validate() throws {
        guard (activations == nil) != (examples == nil) else { throw ValidationError("give either --activations or --examples") }
        if examples != nil && layer == nil { throw ValidationError("--examples needs --layer") }
    }

    func run() throws {
        try reportingErrors {
            if let activations {
                let source: ActivationSource
                if activations.hasSuffix(".npy") {
                    source = try loadNpyActivations(activations)
                } else {
                    guard let dIn else { throw PlaypenError("\(activations): a raw activation file needs --d-in") }
                    source = try MappedActivations(path: activations, dIn: dIn)
                }
                try trainAndSave(source: source, options: training, seed: common.seed, layer: layer, output: output, modelName: "",
                                 quiet: quiet, inputs: ["activations": activations], manifestInputs: [activations])
                return
            }
            guard SAEText(rawValue: text) != nil else { throw PlaypenError("--text must be full, prompt or completion") }
            let input = ModelInput(model: model, adapter: adapter, examples: examples!, text: text, maxTokens: maxTokens, shard: nil)
            let (m, samples) = try input.load(quiet: quiet)
            let cachePath = keepActivations ?? (URL(fileURLWithPath: output).deletingLastPathComponent().path
                + "/.\(URL(fileURLWithPath: output).lastPathComponent).activations-\(getpid()).f32")
            defer { if keepActivations == nil { unlink(cachePath) } }
            let progress = Progress(total: samples.count, quiet: quiet)
            let started = Date()
            let rows = try cacheActivations(samples: samples, model: GemmaResidualStream(model: m), layer: layer!,
                                            dropBOS: !includeBos, path: cachePath, progress: progress.update)
            if !quiet { log(String(format: "pp-sae train: cached %d rows of layer %d in %.1f s", rows, layer!, Date().timeIntervalSince(started))) }
            let source = try MappedActivations(path: cachePath, dIn: m.config.hiddenSize)
            let modelPath = model ?? defaultModelPath()
            try trainAndSave(source: source, options: training, seed: common.seed, layer: layer, output: output, modelName: modelPath,
                             quiet: quiet, inputs: ["examples": examples!, "adapter": adapter ?? "", "text": text,
                                                    "max_tokens": maxTokens, "include_bos": includeBos],
                             manifestInputs: [examples!, modelPath] + (adapter.map { [$0 + "/adapter_model.safetensors"] } ?? []))
        }
    }
}
keepLargeBlocksForReuse()
PlaypenMain.run(PPSAE.self)
