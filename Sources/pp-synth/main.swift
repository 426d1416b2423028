import ArgumentParser
import Foundation
import PlaypenCLI
import PlaypenData
import PlaypenIO

struct PPSynth: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pp-synth",
        abstract: "Generate synthetic playpen taboo rows (the v2.0 game's 60 instances and prompts), seeded, any count.",
        discussion: """
            Rows have the playpen interactions format that pp-filter reads; per episode the describer \
            row, then the guesser row when the guesser spoke. Outcomes follow roughly the real mix \
            (56% success, 30% failure, 14% aborted). Output is streamed: memory does not grow with --rows.

            Example:
              pp-synth --rows 100000 --seed 0 -o runs/synth/rows-100k.jsonl.zst
            """)

    @OptionGroup var common: CommonOptions
    @OptionGroup var output: OutputOptions
    @Option(help: "Number of rows to write.") var rows: Int = 1000

    func validate() throws {
        if rows < 0 { throw ValidationError("--rows must not be negative") }
    }

    func run() throws {
        let progress = common.progress("pp-synth", total: rows)
        var reported = 0
        try SynthRun.run(rows: rows, seed: common.seed, output: output.output) { n in
            progress.advance(by: n - reported)
            reported = n
        }
        progress.finish()
        var manifest = RunContext.current.manifest(seed: common.seed)
        manifest.results["rows"] = .int(rows)
        try manifest.write(for: output.output)
        common.log("pp-synth: wrote \(rows) rows to \(output.output)")
    }
}

PlaypenMain.run(PPSynth.self)
