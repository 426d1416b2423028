import ArgumentParser
import Foundation
import PlaypenIO
import CKernels

/// What a running tool knows about its own invocation (for manifests).
public struct RunContext: Sendable {
    public var tool: String
    /// argv as typed (without the program name).
    public var arguments: [String]
    /// argv after `--config` expansion: what was actually parsed.
    public var expandedArguments: [String]
    public var specs: [ArgumentSpec]
    public var startedAt: Date

    public nonisolated(unsafe) static var current = RunContext(tool: "", arguments: [], expandedArguments: [], specs: [], startedAt: Date())

    /// Effective flag values after config expansion and defaults.
    public var effectiveConfig: JSONObject {
        ConfigFile.effectiveConfig(Array(expandedArguments.dropFirst(subcommandDepth)), specs: specs)
    }
    /// How many leading arguments name subcommands.
    public var subcommandDepth = 0

    /// A manifest for this run, ready for inputs and results.
    public func manifest(seed: UInt64?) -> Manifest {
        Manifest(tool: tool, argv: [tool] + arguments, config: effectiveConfig, seed: seed, startedAt: startedAt)
    }
}

/// The standard entry point of every pp-* tool (main.swift: `PlaypenMain.run(PPFilter.self)`):
/// expands `--config`, parses, applies `--threads`, runs, and turns a PlaypenError into
/// `error: <message>` on stderr with exit status 1. Usage errors exit 64 with the parser's message.
public enum PlaypenMain {
    public static func run<C: ParsableCommand>(_ command: C.Type, arguments: [String]? = nil) -> Never {
        let argv = arguments ?? Array(CommandLine.arguments.dropFirst())
        let tool = C.configuration.commandName ?? URL(fileURLWithPath: CommandLine.arguments.first ?? "pp").lastPathComponent
        do {
            let specs = ConfigFile.specs(of: C.self, arguments: argv)
            let expanded = try ConfigFile.expand(argv, for: C.self)
            RunContext.current = RunContext(tool: tool, arguments: argv, expandedArguments: expanded, specs: specs, startedAt: Date())
            RunContext.current.subcommandDepth = ConfigFile.commandNode(of: C.self, arguments: argv).depth
            var parsed = try C.parseAsRoot(expanded)
            if let common = commonOptions(of: parsed) { common.applyThreads() }
            // The manifest's `git describe` starts a process that stats the checkout (tens of
            // milliseconds): let it run alongside the tool's work rather than after it.
            Thread.detachNewThread { _ = PlaypenVersion.gitSHA }
            try parsed.run()
            exit(0)
        } catch let error as PlaypenError {
            fail(error.message)
        } catch let error as CleanExit {
            C.exit(withError: error)
        } catch let error as ExitCode {
            exit(error.rawValue)
        } catch {
            // Parser errors (usage, validation) print the parser's message and usage.
            if C.exitCode(for: error) != .failure || error is ValidationError {
                C.exit(withError: error)
            }
            fail(String(describing: error))
        }
    }

    /// Prints `error: <message>` (first line only) on stderr and exits 1.
    public static func fail(_ message: String) -> Never {
        let line = message.split(separator: "\n", omittingEmptySubsequences: false).first.map(String.init) ?? message
        FileHandle.standardError.write(Data("error: \(line)\n".utf8))
        exit(1)
    }

    /// The CommonOptions group inside a parsed command, found by reflection.
    static func commonOptions(of command: Any) -> CommonOptions? {
        for child in Mirror(reflecting: command).children {
            if let group = child.value as? OptionGroup<CommonOptions> { return group.wrappedValue }
        }
        return nil
    }
}

/// Lets malloc serve blocks of any size up to 1 GiB from its heap and keep them there when freed,
/// so a process that allocates the same large buffer again and again (a 384-token all-positions
/// forward returns 402 MB of logits) writes pages it has already touched. By default glibc maps
/// every block over 32 MB afresh and unmaps it on free: the 98k first-touch page faults of those
/// logits cost ~0.24 s of CPU each time (~0.1 s on two cores, a tenth of the forward).
/// For the tools that run many large forwards in one process; a no-op off glibc.
public func keepLargeBlocksForReuse() {
    _ = pp_keep_large_blocks_for_reuse()
}
