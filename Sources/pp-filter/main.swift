import ArgumentParser
import Foundation
import PlaypenCLI
import PlaypenData
import PlaypenIO

struct PPFilter: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pp-filter",
        abstract: "Filter playpen interactions rows into prompt/completion example records.",
        discussion: """
            Reads rows {"messages": [{"role", "content"}...], "meta": {"game", "experiment", "task_id", \
            "player_name", "game_role", "model", "outcome"}} as JSON Lines (zstd detected by magic) from \
            files or stdin. Keeps rows whose meta.game and meta.game_role match and whose outcome is not \
            dropped, flattens each to prompt/completion as the original pipeline did, and writes example \
            records {row_id, index, split, prompt, completion, messages, meta} (schemas/example.schema.json). \
            Counts per reason go to stderr and into <output>.manifest.json. An empty result is an error.

            Examples:
              pp-filter ../shared/data/taboo_real.jsonl.zst --val-fraction 0.2 --select train -o runs/demo/data/train.jsonl.zst
              pp-filter playpen-interactions-validation.jsonl.zst --split validation -o val.jsonl.zst
              zstd -dc rows.jsonl.zst | pp-filter --game taboo --role WordDescriber --drop-outcome aborted --drop-outcome null > describer.jsonl
            """)

    @OptionGroup var common: CommonOptions
    @OptionGroup var output: OutputOptions
    @OptionGroup var input: InputOptions

    @Option(name: .customLong("game"), help: ArgumentHelp("Keep rows with this meta.game (repeatable; '*' = any; default taboo).", valueName: "name"))
    var games: [String] = []
    @Option(name: .customLong("role"), help: ArgumentHelp("Keep rows with this meta.game_role (repeatable; '*' = any; default WordGuesser).", valueName: "role"))
    var roles: [String] = []
    @Option(name: .customLong("drop-outcome"), help: ArgumentHelp("Drop rows with this meta.outcome (repeatable; 'null' = no outcome; default aborted).", valueName: "outcome"))
    var dropOutcomes: [String] = []
    @Option(help: ArgumentHelp("Label every row with this split (default train).", valueName: "name"))
    var split: String?
    @Option(help: ArgumentHelp("Put each task (game, experiment, task_id) in 'validation' with this probability, by hashing it with --seed; the rest is 'train'.", valueName: "F"))
    var valFraction: Double?
    @Option(help: ArgumentHelp("Write only the rows of this split (e.g. train or validation with --val-fraction).", valueName: "name"))
    var select: String?

    func validate() throws {
        if split != nil && valFraction != nil { throw ValidationError("--split and --val-fraction exclude each other") }
        if let f = valFraction, !(f >= 0 && f <= 1) { throw ValidationError("--val-fraction must lie in [0, 1]") }
    }

    func run() throws {
        var options = FilterOptions()
        if !games.isEmpty { options.games = games }
        if !roles.isEmpty { options.roles = roles }
        if !dropOutcomes.isEmpty { options.dropOutcomes = dropOutcomes }
        if let f = valFraction { options.split = .hashed(valFraction: f, seed: common.seed) }
        if let split { options.split = .label(split) }
        options.select = select

        let progress = common.progress("pp-filter")
        var reported = 0
        let counts = try FilterRun.run(inputs: input.paths, output: output.output, options: options,
                                       threads: common.resolvedThreads) { read in
            progress.advance(by: read - reported)
            reported = read
        }
        progress.finish()

        var manifest = RunContext.current.manifest(seed: valFraction != nil ? common.seed : nil)
        for path in input.paths { try manifest.addInput(path) }
        manifest.results["counts"] = .object(JSONObject(counts.entries.map { ($0.0, JSONValue.int($0.1)) }))
        try manifest.write(for: output.output)
        common.log("pp-filter: " + counts.summary)
    }
}

PlaypenMain.run(PPFilter.self)
