import ArgumentParser
import Foundation
import PlaypenAttribution
import PlaypenCLI
import PlaypenIO

extension ScoreSemantics: ExpressibleByArgument {}
extension PreconditionMode: ExpressibleByArgument {}

struct PPScore: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pp-score",
        abstract: "Score training examples' gradients against a query gradient (Bergson semantics).",
        discussion: """
            Higher score = the training example's gradient points along the (preconditioned) query
            gradient: training on it is predicted to lower the query loss. See docs/pp-score.md.

            Example:
              pp-score --train runs/x/train_grads.ppt --query runs/x/query_mean.ppt \\
                --query-preconditioner runs/x/query_precond.safetensors \\
                --index-preconditioner runs/x/train_precond.safetensors --preconditioning mixed \\
                -o runs/x/train_scores.jsonl --top-k 100 --examples runs/x/data/train.jsonl.zst
              pp-score compare runs/x/scores_mixed.jsonl runs/x/scores_query.jsonl --k 100
            """,
        subcommands: [Score.self, Compare.self],
        defaultSubcommand: Score.self)
}

struct Score: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Score every train gradient row against the query (default).")

    @Option(name: .long, help: "Train gradients: tensor stream from pp-grad (per-example rows).")
    var train: String
    @Option(name: .long, help: "Query gradients: tensor stream from pp-grad (one reduced row, or per-example rows reduced here).")
    var query: String
    @Option(name: .customLong("query-preconditioner"), help: "Second moments of the query rows (pp-grad --preconditioner).")
    var queryPreconditioner: String?
    @Option(name: .customLong("index-preconditioner"), help: "Second moments of the train rows (pp-grad --preconditioner).")
    var indexPreconditioner: String?
    @Option(help: "none | query | index | mixed (default: mixed with both preconditioners, the one given, or none).")
    var preconditioning: PreconditionMode?
    @Option(name: .customLong("mixing-coefficient"), help: "Weight of the query side in mixed H.")
    var mixingCoefficient: Double = 0.99
    @Option(help: "Damping factor c: c*mean|H| (bergson-0.5) or c*mean(eigenvalues) (bergson-2); 0 = none.")
    var damping: Double = 0.1
    @Option(help: "bergson-0.5 (the original pipeline) or bergson-2.")
    var semantics: ScoreSemantics = .bergson05
    @Flag(name: .customLong("unit-normalize"), inversion: .prefixedNo, help: "Cosine-style scores (unit-normalised gradients).")
    var unitNormalize = true
    @OptionGroup var common: CommonOptions
    @OptionGroup var out: OutputOptions
    @Option(name: .customLong("top-k"), help: "Also write the top and bottom K examples (needs --examples).")
    var topK: Int?
    @Option(help: "Examples file from pp-filter (JSONL[.zst]) for --top-k.")
    var examples: String?
    @Option(help: "Ranked examples output (default: <output stem>.ranked.jsonl; .json writes one list).")
    var ranked: String?
    @Flag(name: .customLong("allow-zero-rows"), help: "Score all-zero train gradients (no target tokens) 0 instead of failing.")
    var allowZeroRows = false

    func validate() throws {
        if topK != nil && examples == nil { throw ValidationError("--top-k needs --examples (pp-filter's output)") }
        if let k = topK, k < 1 { throw ValidationError("--top-k must be at least 1") }
    }

    func run() throws {
        let output = out.output
        let trainSource = try TensorStreamGradients(path: train)
        let querySource = try TensorStreamGradients(path: query)
        func moment(_ path: String?, _ what: String) throws -> SecondMoment? {
            guard let path else { return nil }
            let (m, info) = try SecondMoment.read(path: path)
            try info.checkCompatible(name: path, with: trainSource.info, otherName: train)
            if m.count == 0 { throw PlaypenError("\(path): the \(what) preconditioner was accumulated over 0 rows") }
            return m
        }
        let hq = try moment(queryPreconditioner, "query"), hi = try moment(indexPreconditioner, "index")
        let mode = preconditioning ?? (hq != nil && hi != nil ? .mixed : hq != nil ? .query : hi != nil ? .index : .none)
        let options = ScoreOptions(semantics: semantics, mode: mode, mixingCoefficient: mixingCoefficient,
                                   damping: damping, unitNormalize: unitNormalize)
        // The manifest's sha256 of the (large) train file is computed on another thread while scoring.
        nonisolated(unsafe) var trainHash: Result<String, Error>? = nil
        let hashed = DispatchSemaphore(value: 0)
        let trainPath = train
        Thread.detachNewThread {
            trainHash = Result { try SHA256.hash(path: trainPath) }
            hashed.signal()
        }
        let progress = common.progress("pp-score", unit: "rows")
        let scoreStart = Date()
        var seen = 0
        let result = try ScoreRun.run(query: querySource, train: trainSource, queryMoment: hq, indexMoment: hi,
                                      options: options, threads: common.resolvedThreads,
                                      allowZeroRows: allowZeroRows, chunkRows: 16) { rows in
            progress.advance(by: rows - seen)
            seen = rows
        }
        progress.finish()
        let scoreSeconds = Date().timeIntervalSince(scoreStart) - result.setupSeconds
        try ScoreFiles.writeScores(result, to: output)
        var manifest = RunContext.current.manifest(seed: nil)
        hashed.wait()
        let trainSize = (try? FileManager.default.attributesOfItem(atPath: train)[.size] as? Int) ?? nil
        manifest.inputs.append((path: train, sha256: try trainHash!.get(), bytes: trainSize))
        for path in [query] + [queryPreconditioner, indexPreconditioner].compactMap({ $0 }) {
            try manifest.addInput(path)
        }
        manifest.results["rows"] = .int(result.scores.count)
        manifest.results["preconditioning"] = .string(mode.rawValue)
        manifest.results["semantics"] = .string(semantics.rawValue)
        let layout = trainSource.info.layout
        manifest.results["modules"] = .int(layout.modules.count)
        manifest.results["projection_dim"] = .int(layout.projection.dim)
        manifest.results["row_width"] = .int(layout.rowWidth)
        if let k = topK, let examples {
            let rankedPath = ranked ?? Self.defaultRankedPath(output)
            try ScoreFiles.writeRanked(result, topK: k, examplesPath: examples, to: rankedPath)
            try manifest.addInput(examples)
            manifest.results["ranked"] = .string(rankedPath)
        }
        try manifest.write(for: output)
        let seconds = Date().timeIntervalSince(RunContext.current.startedAt)
        let gb = Double(result.scores.count * trainSource.info.layout.rowWidth * 4) / 1e9
        common.log(String(format: "pp-score: scored %d rows (%@, %@ preconditioning): %.2f GB of gradients streamed in %.2f s (%.2f GB/s) after %.1f s of query/preconditioner setup; %.1f s in all",
                          result.scores.count, semantics.rawValue, mode.rawValue, gb, scoreSeconds, gb / scoreSeconds,
                          result.setupSeconds, seconds))
    }

    static func defaultRankedPath(_ output: String) -> String {
        var stem = output == "-" ? "scores" : output
        for suffix in [".zst", ".jsonl", ".json"] where stem.hasSuffix(suffix) { stem.removeLast(suffix.count) }
        return stem + ".ranked.jsonl"
    }
}

struct Compare: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Rank agreement between score files: Spearman, Kendall tau-b, top-k Jaccard (JSON on stdout).")

    @Argument(help: "Two or more scores JSONL files.")
    var files: [String]
    @Option(name: .customLong("k"), help: "Top-k sizes for Jaccard overlap (repeatable).")
    var ks: [Int] = [100]
    @OptionGroup var common: CommonOptions
    @OptionGroup var out: OutputOptions

    func validate() throws {
        if files.count < 2 { throw ValidationError("compare needs at least two score files") }
    }

    func run() throws {
        let records = try files.map { try ScoreFiles.readScores(path: $0) }
        var pairs: [JSONValue] = []
        for i in 0..<files.count {
            for j in (i + 1)..<files.count {
                let c = try ScoreFileComparison.compare(files[i], records[i], files[j], records[j], ks: ks)
                pairs.append(.object(JSONObject([
                    ("a", .string(c.a)), ("b", .string(c.b)), ("rows", .int(c.rows)),
                    ("spearman", .double(c.spearman)), ("kendall_tau_b", .double(c.kendallTauB)),
                    ("top_k_jaccard", .object(JSONObject(c.topK.map { (String($0.k), JSONValue.double($0.jaccard)) }))),
                ])))
            }
        }
        let file = try OutputFile(path: out.output)
        var bytes: [UInt8] = []
        JSONValue.object(JSONObject([("comparisons", .array(pairs))])).write(to: &bytes, options: JSONWriteOptions(spaced: true))
        bytes.append(0x0A)
        try bytes.withUnsafeBytes { try file.write($0) }
        try file.commit()
        var manifest = RunContext.current.manifest(seed: nil)
        for path in files { try manifest.addInput(path) }
        try manifest.write(for: out.output)
    }
}

PlaypenMain.run(PPScore.self)
