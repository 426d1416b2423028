import ArgumentParser
import Foundation
import PlaypenData
import PlaypenIO

@main
struct PPSynth: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pp-synth",
        abstract: "Generate synthetic playpen taboo rows (seeded, any count).",
        discussion: """
            Example:
              pp-synth --rows 100000 --seed 0 -o runs/synth/rows-100k.jsonl.zst
            """)
    @Option(help: "Number of rows.") var rows: Int = 1000
    @Option(name: .shortAndLong, help: "Output file ('-' = stdout); .zst compresses.") var output: String = "-"
    @Option(help: "Random seed.") var seed: UInt64 = 0

    func run() throws {
        do {
            try SynthRun.run(rows: rows, seed: seed, output: output)
        } catch let error as PlaypenError {
            FileHandle.standardError.write(("error: " + error.message + "\n").data(using: .utf8)!)
            throw ExitCode.failure
        }
    }
}
