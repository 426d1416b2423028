import ArgumentParser
import CBLAS
import Foundation
import PlaypenTensor
import PlaypenIO

/// Flags every tool shares. Embed with `@OptionGroup var common: CommonOptions`.
///
/// `--config` is read before parsing (see `ConfigFile.expand`): it is declared here so that
/// `--help` lists it and the parser accepts it.
public struct CommonOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "JSON file of default flag values: keys are long flag names (\"threads\": 2); flags on the command line override.",
        valueName: "file.json"))
    public var config: String?

    @Option(name: .long, help: "Compute threads for BLAS and row-parallel work (0 = all cores).")
    public var threads: Int = 0

    @Option(name: .long, help: "Random seed; the same inputs and seed give byte-identical outputs.")
    public var seed: UInt64 = 0

    @Flag(name: .long, help: "Print only errors on stderr (no progress, no summary).")
    public var quiet = false

    @Flag(name: .long, help: "Show progress even when stderr is not a terminal.")
    public var progress = false

    public init() {}

    /// The thread count `--threads` asks for, 0 resolved to the number of cores.
    public var resolvedThreads: Int {
        threads > 0 ? threads : ProcessInfo.processInfo.activeProcessorCount
    }

    /// Sets OpenBLAS's thread count and the cores PlaypenTensor's own kernels split over (called by
    /// `PlaypenMain.run` before the tool runs).
    public func applyThreads() {
        openblas_set_num_threads(Int32(resolvedThreads))
        setComputeThreads(resolvedThreads)
    }

    public func validate() throws {
        guard threads >= 0 else { throw ValidationError("--threads must be 0 (all cores) or positive") }
    }

    /// A progress reporter honouring `--quiet` and `--progress`.
    public func progress(_ label: String, total: Int? = nil, unit: String = "rows") -> ProgressReporter {
        ProgressReporter(label: label, total: total, unit: unit, enabled: ProgressReporter.shouldShow(quiet: quiet, forced: progress))
    }

    /// Prints a line on stderr unless `--quiet`.
    public func log(_ message: String) {
        if !quiet { FileHandle.standardError.write(Data((message + "\n").utf8)) }
    }
}

/// `-o/--output`, where `-` means stdout. Embed with `@OptionGroup var output: OutputOptions`.
public struct OutputOptions: ParsableArguments {
    @Option(name: [.short, .long], help: ArgumentHelp("Output file ('-' = stdout; '.zst' compresses).", valueName: "path"))
    public var output: String = "-"

    public init() {}

    public var isStdout: Bool { output == "-" }
}

/// Positional input files, where `-` (or none) means stdin.
public struct InputOptions: ParsableArguments {
    @Argument(help: ArgumentHelp("Input files ('-' or none = stdin; zstd detected automatically).", valueName: "input"))
    public var inputs: [String] = []

    public init() {}

    public var paths: [String] { inputs.isEmpty ? ["-"] : inputs }
}
