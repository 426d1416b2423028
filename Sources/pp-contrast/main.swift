import ArgumentParser
import Foundation
import PlaypenCLI
import PlaypenIO
import PlaypenStats

struct PPContrast: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pp-contrast",
        abstract: "Contrast the top-attributed rows with the rest: a classifier on per-sample SAE statistics, effect sizes and per-feature enrichment, as JSON and a self-contained HTML report.",
        discussion: """
        Example:
          pp-contrast --scores runs/demo/scores.jsonl \\
              --sae runs/demo/sae/layer_6 --sae L9=runs/demo/sae/layer_9 \\
              --top-k 100 --residualize seq_len --seed 42 \\
              -o runs/demo/contrast.json --html runs/demo/contrast.html
        """)

    @OptionGroup var common: CommonOptions
    @OptionGroup var output: OutputOptions
    @Option(help: "Scores JSONL(.zst) from pp-score: row_id, index, score, rank.") var scores: String
    @Option(help: "SAE sample directory from pp-sae (repeat per layer); NAME=DIR names it.") var sae: [String] = []
    @Option(name: .customLong("top-k"), help: "Label the k highest-scoring rows as top (ties: lower row index first).") var topK: Int?
    @Option(help: "Label the rows above this quantile of the scores as top: k = ceil((1 - q)·n).") var quantile: Double?
    @Option(help: "none | seq_len: take labels from the scores with sequence length regressed out (OLS).") var residualize: String = "none"
    @Option(help: "grouped (by experiment::task_id, no task on both sides) | stratified.") var split: String = "grouped"
    @Option(name: .customLong("test-fraction"), help: "Fraction of groups (grouped) or of rows per class (stratified) held out.") var testFraction: Double = 0.2
    @Option(help: "Bootstrap replicates for the test AUC interval.") var bootstrap: Int = 1000
    @Option(help: "Label permutations for the test AUC p-value.") var permutations: Int = 1000
    @Option(name: .customLong("top-features"), help: "Enriched and depleted features listed per layer.") var topFeatures: Int = 50
    @Flag(name: .customLong("all-features"), help: "Also write every tested feature's row to the JSON.") var allFeatures = false
    @Option(help: "HTML report path (optional).") var html: String?
    @Flag(name: .customLong("hash-presence"), help: "Also record the sha256 of feature_presence.npy in the manifest (costs more than the analysis on large inputs).") var hashPresence = false

    func validate() throws {
        guard ["none", "seq_len"].contains(residualize) else { throw ValidationError("--residualize must be none or seq_len") }
        guard ["grouped", "stratified"].contains(split) else { throw ValidationError("--split must be grouped or stratified") }
        guard !sae.isEmpty else { throw ValidationError("give at least one --sae directory") }
        guard bootstrap > 0, permutations > 0 else { throw ValidationError("--bootstrap and --permutations must be positive") }
        guard (topK == nil) != (quantile == nil) else { throw ValidationError("give exactly one of --top-k and --quantile") }
    }

    func run() throws {
        var options = ContrastOptions(scoresPath: scores, saeSpecs: sae)
        options.topK = topK
        options.quantile = quantile
        options.residualizeSeqLen = residualize == "seq_len"
        options.split = split == "grouped" ? .grouped : .stratified
        options.testFraction = testFraction
        options.seed = common.seed
        options.bootstrap = bootstrap
        options.permutations = permutations
        options.topFeatures = topFeatures
        options.allFeatures = allFeatures
        options.threads = common.resolvedThreads
        let result = try runContrast(options, quiet: common.quiet)
        let report = try result.reportJSON()

        // Every artifact goes to a temporary name first; all are renamed only when all are written.
        let json = try OutputFile(path: output.output)
        try json.write(Array((prettyJSON(report) + "\n").utf8))
        var htmlFile: OutputFile? = nil
        if let html {
            htmlFile = try OutputFile(path: html, compressed: false)
            try htmlFile!.write(Array(result.reportHTML().utf8))
        }
        var manifest = RunContext.current.manifest(seed: common.seed)
        try manifest.addInput(scores)
        for layer in sae {
            var dir = layer
            if let eq = layer.firstIndex(of: "="), !FileManager.default.fileExists(atPath: layer) { dir = String(layer[layer.index(after: eq)...]) }
            for file in ["examples.jsonl", "stat_names.json", "sample_stats.npy", "seq_lens.npy"] {
                try manifest.addInput((dir as NSString).appendingPathComponent(file))
            }
            let presence = (dir as NSString).appendingPathComponent("feature_presence.npy")
            if hashPresence { try manifest.addInput(presence) } else {
                let size = (try? FileManager.default.attributesOfItem(atPath: presence)[.size] as? Int) ?? nil
                manifest.inputs.append((path: presence, sha256: nil, bytes: size))
            }
        }
        manifest.results = JSONObject([
            ("n_samples", .int(result.n)), ("n_top", .int(result.k)),
            ("layer_summary", report["layer_summary"] ?? .null),
        ])
        try json.commit()
        try htmlFile?.commit()
        if let html { try manifest.write(for: html) }
        try manifest.write(for: output.output)
        for layer in result.layers {
            let significant = layer.tested.filter { $0.logQ < log(0.05) }.count
            common.log(String(format: "pp-contrast: %@: test AUC %.3f [%.3f, %.3f], seq_len baseline %.3f; %d of %d features at q < 0.05",
                              layer.name, layer.model.testAUC, layer.model.testCI.lower, layer.model.testCI.upper,
                              result.baseline.testAUC, significant, layer.tested.count))
        }
    }
}

PlaypenMain.run(PPContrast.self)
