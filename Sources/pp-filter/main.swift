import ArgumentParser
import Foundation
import PlaypenData
import PlaypenIO

@main
struct PPFilter: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pp-filter",
        abstract: "Filter playpen interactions rows into prompt/completion example records.",
        discussion: """
            Reads JSON Lines rows ({"messages": [...], "meta": {...}}), plain or zstd, from files or \
            stdin; keeps rows of the given game and role whose outcome is not dropped; writes example \
            records (row_id, index, split, prompt, completion, messages, meta) as JSON Lines, \
            zstd-compressed when the output ends in .zst. Counts per reason go to stderr.

            Example:
              pp-filter ../shared/data/taboo_real.jsonl.zst --val-fraction 0.2 --select train -o train.jsonl.zst
            """)

    @Argument(help: "Input files (JSONL or JSONL.zst); '-' or none reads stdin.")
    var inputs: [String] = []
    @Option(name: .shortAndLong, help: "Output file ('-' = stdout); .zst compresses.")
    var output: String = "-"
    @Option(name: .customLong("game"), help: "Keep this meta.game (repeatable; '*' = any).")
    var games: [String] = []
    @Option(name: .customLong("role"), help: "Keep this meta.game_role (repeatable; '*' = any).")
    var roles: [String] = []
    @Option(name: .customLong("drop-outcome"), help: "Drop this meta.outcome (repeatable; 'null' = no outcome).")
    var dropOutcomes: [String] = []
    @Option(help: "Label every row with this split.")
    var split: String?
    @Option(help: "Assign tasks to 'validation' with this probability by hashing (game, experiment, task_id).")
    var valFraction: Double?
    @Option(help: "Write only rows of this split.")
    var select: String?
    @Option(help: "Seed of the task hash for --val-fraction.")
    var seed: UInt64 = 0
    @Option(help: "Worker threads (0 = one per core).")
    var threads: Int = 0
    @Flag(help: "No counts on stderr.")
    var quiet = false

    func validate() throws {
        if split != nil && valFraction != nil { throw ValidationError("--split and --val-fraction exclude each other") }
        if let f = valFraction, !(f >= 0 && f <= 1) { throw ValidationError("--val-fraction must lie in [0, 1]") }
    }

    func run() throws {
        var options = FilterOptions()
        if !games.isEmpty { options.games = games }
        if !roles.isEmpty { options.roles = roles }
        if !dropOutcomes.isEmpty { options.dropOutcomes = dropOutcomes }
        if let f = valFraction { options.split = .hashed(valFraction: f, seed: seed) }
        if let split { options.split = .label(split) }
        options.select = select
        do {
            let counts = try FilterRun.run(inputs: inputs, output: output, options: options, threads: threads)
            if !quiet { FileHandle.standardError.write(("pp-filter: " + counts.summary + "\n").data(using: .utf8)!) }
        } catch let error as PlaypenError {
            FileHandle.standardError.write(("error: " + error.message + "\n").data(using: .utf8)!)
            throw ExitCode.failure
        }
    }
}
