import ArgumentParser
import Foundation
import PlaypenIO
import PlaypenStats

struct PPContrast: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pp-contrast",
        abstract: "Contrast the top-attributed rows with the rest: a classifier on per-sample SAE statistics, effect sizes and per-feature enrichment, as JSON and a self-contained HTML report.",
        discussion: """
        Example:
          pp-contrast --scores runs/taboo/scores.jsonl --sae runs/taboo/sae/layer_9 --sae L12=runs/taboo/sae/layer_12 \\
              --top-k 100 --residualize seq_len -o runs/taboo/contrast.json --html runs/taboo/contrast.html
        """)

    @Option(help: "Scores JSONL(.zst) from pp-score: row_id, index, score, rank.") var scores: String
    @Option(help: "SAE sample directory from pp-sae (repeat per layer); NAME=DIR names it.") var sae: [String] = []
    @Option(name: .customLong("top-k"), help: "Label the k highest-scoring rows as top (ties: lower row index first).") var topK: Int?
    @Option(help: "Label rows above this quantile of the scores as top: k = ceil((1 - q)·n).") var quantile: Double?
    @Option(help: "none | seq_len: take labels from the scores with sequence length regressed out (OLS).") var residualize: String = "none"
    @Option(help: "grouped (by experiment::task_id, no task on both sides) | stratified.") var split: String = "grouped"
    @Option(name: .customLong("test-fraction"), help: "Fraction of groups (grouped) or rows per class (stratified) held out.") var testFraction: Double = 0.2
    @Option(help: "Seed for the split, bootstrap and permutations.") var seed: UInt64 = 42
    @Option(help: "Bootstrap replicates for the test AUC interval.") var bootstrap: Int = 1000
    @Option(help: "Label permutations for the test AUC p-value.") var permutations: Int = 1000
    @Option(name: .customLong("top-features"), help: "Enriched and depleted features listed per layer.") var topFeatures: Int = 50
    @Flag(name: .customLong("all-features"), help: "Also write every tested feature's row to the JSON.") var allFeatures = false
    @Option(name: [.short, .long], help: "JSON report path (- for stdout).") var output: String = "-"
    @Option(help: "HTML report path (optional).") var html: String?
    @Option(help: "Worker threads (0 = all cores).") var threads: Int = 0
    @Option(help: "JSON file of flags (keys = long flag names); flags on the command line override.") var config: String?
    @Flag(help: "No progress on stderr.") var quiet = false

    func validate() throws {
        guard ["none", "seq_len"].contains(residualize) else { throw ValidationError("--residualize must be none or seq_len") }
        guard ["grouped", "stratified"].contains(split) else { throw ValidationError("--split must be grouped or stratified") }
        guard !sae.isEmpty else { throw ValidationError("give at least one --sae directory") }
        guard bootstrap > 0, permutations > 0 else { throw ValidationError("--bootstrap and --permutations must be positive") }
    }

    func run() throws {
        let start = Date()
        var options = ContrastOptions(scoresPath: scores, saeSpecs: sae)
        options.topK = topK
        options.quantile = quantile
        options.residualizeSeqLen = residualize == "seq_len"
        options.split = split == "grouped" ? .grouped : .stratified
        options.testFraction = testFraction
        options.seed = seed
        options.bootstrap = bootstrap
        options.permutations = permutations
        options.topFeatures = topFeatures
        options.allFeatures = allFeatures
        options.threads = threads
        do {
            let result = try runContrast(options, quiet: quiet)
            let report = try result.reportJSON()
            let text = prettyJSON(report) + "\n"
            // Write every artifact to its temporary name first; rename only when all succeeded.
            var files = [AtomicFile]()
            if output != "-" { files.append(try AtomicFile(path: output)); try Data(text.utf8).write(to: URL(fileURLWithPath: files.last!.temporaryPath)) }
            if let html {
                files.append(try AtomicFile(path: html))
                try Data(result.reportHTML().utf8).write(to: URL(fileURLWithPath: files.last!.temporaryPath))
            }
            if output != "-" {
                let manifest = contrastManifest(report: report, argv: CommandLine.arguments, seconds: Date().timeIntervalSince(start))
                files.append(try AtomicFile(path: output + ".manifest.json"))
                try Data((prettyJSON(manifest) + "\n").utf8).write(to: URL(fileURLWithPath: files.last!.temporaryPath))
            }
            for file in files { try file.commit() }
            if output == "-" { FileHandle.standardOutput.write(Data(text.utf8)) }
            if !quiet {
                for layer in result.layers {
                    let sig = layer.tested.filter { $0.logQ < log(0.05) }.count
                    FileHandle.standardError.write(Data("pp-contrast: \(layer.name): test AUC \(String(format: "%.3f", layer.model.testAUC)) [\(String(format: "%.3f", layer.model.testCI.lower)), \(String(format: "%.3f", layer.model.testCI.upper))], seq_len baseline \(String(format: "%.3f", result.baseline.testAUC)); \(sig) of \(layer.tested.count) features at q < 0.05\n".utf8))
                }
            }
        } catch let error as PlaypenError {
            FileHandle.standardError.write(Data("pp-contrast: error: \(error.message)\n".utf8))
            throw ExitCode.failure
        }
    }
}

/// Expands `--config file.json` into flags placed before the command line's own, so that the
/// command line overrides (single-valued options keep the last value).
func expandConfig(_ arguments: [String]) throws -> [String] {
    guard let i = arguments.firstIndex(of: "--config"), i + 1 < arguments.count else { return arguments }
    let path = arguments[i + 1]
    guard let data = FileManager.default.contents(atPath: path) else { throw PlaypenError("\(path): cannot read config") }
    let value: JSONValue
    do { value = try JSONValue.parse(data) } catch { throw PlaypenError("\(path): \(error)") }
    guard let object = value.object else { throw PlaypenError("\(path): expected a JSON object of flags") }
    let given = Set(arguments.filter { $0.hasPrefix("--") })
    var flags = [String]()
    for (key, v) in object.pairs {
        let flag = "--" + key
        if key == "sae", given.contains(flag) { continue }  // command-line layers replace the config's
        switch v {
        case .bool(let b): if b { flags.append(flag) }
        case .array(let a): for e in a { flags += [flag, e.string ?? e.serialized()] }
        case .string(let s): flags += [flag, s]
        default: flags += [flag, v.serialized()]
        }
    }
    var rest = arguments
    rest.removeSubrange(i...(i + 1))
    return flags + rest
}

func contrastManifest(report: JSONValue, argv: [String], seconds: Double) -> JSONValue {
    var inputs = [JSONValue]()
    var paths = [report["config"]?["scores"]?.string ?? ""]
    for spec in report["config"]?["sae"]?.array ?? [] {
        var dir = spec.string ?? ""
        if let eq = dir.firstIndex(of: "="), !FileManager.default.fileExists(atPath: dir) { dir = String(dir[dir.index(after: eq)...]) }
        for f in ["examples.jsonl", "sample_stats.npy", "seq_lens.npy", "stat_names.json", "feature_presence.npy"] {
            paths.append((dir as NSString).appendingPathComponent(f))
        }
    }
    for p in paths {
        let size = (try? FileManager.default.attributesOfItem(atPath: p)[.size] as? Int) ?? nil
        inputs.append(.object(JSONObject([("path", .string(p)), ("bytes", size.map { .int($0) } ?? .null)])))
    }
    return .object(JSONObject([
        ("tool", "pp-contrast"), ("version", "0.1.0"), ("argv", .array(argv.map { .string($0) })),
        ("config", report["config"] ?? .null), ("seed", report["config"]?["seed"] ?? .null),
        ("inputs", .array(inputs)), ("wall_seconds", .double((seconds * 1000).rounded() / 1000)),
    ]))
}

do {
    let arguments = try expandConfig(Array(CommandLine.arguments.dropFirst()))
    var command = try PPContrast.parseAsRoot(arguments)
    try command.run()
} catch let error as PlaypenError {
    FileHandle.standardError.write(Data("pp-contrast: error: \(error.message)\n".utf8))
    exit(1)
} catch {
    PPContrast.exit(withError: error)
}
