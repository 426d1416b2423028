import ArgumentParser
import Foundation
import Testing
@testable import PlaypenCLI
import PlaypenIO

let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path
let manifestSchema = repoRoot + "/schemas/manifest.schema.json"

/// A command shaped like the real tools: shared groups plus its own flags.
struct SampleTool: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "pp-sample")
    @OptionGroup var common: CommonOptions
    @OptionGroup var output: OutputOptions
    @Option(name: .long, help: "Games to keep.") var game: [String] = ["taboo"]
    @Option(name: .long, help: "Outcomes to drop.") var dropOutcome: [String] = ["aborted", "failure"]
    @Option(name: .long, help: "Role.") var role = "WordGuesser"
    @Option(name: .long, help: "Fraction.") var valFraction: Double?
    @Flag(name: .long, help: "Keep aborted.") var keepAborted = false
    @OptionGroup var input: InputOptions
}

func parse(_ argv: [String], config: String? = nil) throws -> (SampleTool, [String]) {
    let expanded = try ConfigFile.expand(argv, for: SampleTool.self)
    return (try SampleTool.parse(expanded), expanded)
}

@Suite struct ConfigTests {
    @Test func specsDescribeTheCommand() {
        let specs = ConfigFile.specs(of: SampleTool.self)
        let keys = specs.map(\.key)
        #expect(keys == ["config", "threads", "seed", "quiet", "progress", "output", "game", "drop-outcome", "role", "val-fraction", "keep-aborted", "input"])
        #expect(specs.first { $0.key == "output" }?.shortNames == ["o"])
        #expect(specs.first { $0.key == "game" }?.isRepeating == true)
        #expect(specs.first { $0.key == "quiet" }?.kind == .flag)
        #expect(specs.first { $0.key == "input" }?.kind == .positional)
    }

    @Test func commandLineOverridesTheConfigFile() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        try Data("""
            {"threads": 2, "seed": 17, "game": ["taboo", "wordle"], "quiet": true, "output": "cfg.jsonl",
             "val-fraction": 0.25, "keep-aborted": false, "role": "WordDescriber", "input": ["a.jsonl", "b.jsonl"]}
            """.utf8).write(to: URL(fileURLWithPath: dir.file("c.json")))
        // Only the config: every value comes from it.
        let (fromFile, _) = try parse(["--config", dir.file("c.json")])
        #expect(fromFile.common.threads == 2)
        #expect(fromFile.common.seed == 17)
        #expect(fromFile.common.quiet)
        #expect(fromFile.game == ["taboo", "wordle"])
        #expect(fromFile.output.output == "cfg.jsonl")
        #expect(fromFile.valFraction == 0.25)
        #expect(fromFile.role == "WordDescriber")
        #expect(fromFile.input.inputs == ["a.jsonl", "b.jsonl"])
        // Command-line flags win, including repeatable options, short names and positionals.
        let (mixed, expanded) = try parse(["--threads", "4", "--game", "chess", "-o", "-", "--role=X", "--config=\(dir.file("c.json"))", "z.jsonl"])
        #expect(mixed.common.threads == 4)
        #expect(mixed.game == ["chess"])
        #expect(mixed.output.output == "-")
        #expect(mixed.role == "X")
        #expect(mixed.common.seed == 17)
        #expect(mixed.input.inputs == ["z.jsonl"])
        // The effective config is a valid config file that reproduces the same parse.
        let effective = ConfigFile.effectiveConfig(expanded, specs: ConfigFile.specs(of: SampleTool.self))
        #expect(effective["threads"] == "4")
        #expect(effective["game"] == ["chess"])
        #expect(effective["quiet"] == true)
        #expect(effective["keep-aborted"] == false)
        #expect(effective["input"] == ["z.jsonl"])
        #expect(effective["val-fraction"] == "0.25")
        #expect(effective["config"] == nil)
        try Data(JSONValue.object(effective).serialized().utf8).write(to: URL(fileURLWithPath: dir.file("again.json")))
        let (again, _) = try parse(["--config", dir.file("again.json")])
        #expect(again.common.threads == 4 && again.game == ["chess"] && again.role == "X" && again.common.seed == 17)
        #expect(again.input.inputs == ["z.jsonl"] && again.output.output == "-" && again.valFraction == 0.25 && again.common.quiet)
    }

    @Test func defaultsAppearInTheEffectiveConfig() throws {
        let (_, expanded) = try parse([])
        let effective = ConfigFile.effectiveConfig(expanded, specs: ConfigFile.specs(of: SampleTool.self))
        #expect(effective["threads"] == "0")
        #expect(effective["role"] == "WordGuesser")
        #expect(effective["output"] == "-")
        #expect(effective["val-fraction"] == .null)
        #expect(effective["game"] == ["taboo"])
        #expect(effective["input"] == [])
        #expect(effective["drop-outcome"] == ["aborted", "failure"])
        #expect(effective["quiet"] == false)
    }

    @Test func badConfigFilesAreClearErrors() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let cases: [(String, [String])] = [
            (#"{"thread": 2}"#, ["unknown config key \"thread\"", "threads"]),
            (#"{"quiet": "yes"}"#, ["\"quiet\"", "expected true or false"]),
            (#"{"role": ["a", "b"]}"#, ["\"role\" takes one value"]),
            (#"{"role": {"a": 1}}"#, ["\"role\" is a object"]),
            (#"[1]"#, ["expected an object"]),
            (#"{"threads": 2,}"#, ["invalid config", "invalid JSON"]),
        ]
        for (k, (text, fragments)) in cases.enumerated() {
            let path = dir.file("bad\(k).json")
            try Data(text.utf8).write(to: URL(fileURLWithPath: path))
            expectPlaypenError([path] + fragments) { _ = try parse(["--config", path]) }
        }
        expectPlaypenError([dir.file("none.json"), "cannot open"]) { _ = try parse(["--config", dir.file("none.json")]) }
    }
}

@Suite struct ProgressTests {
    @Test func lineShowsCountRateAndETA() {
        var now = 100.0
        var written: [String] = []
        let progress = ProgressReporter(label: "filter", total: 1000, enabled: true, interval: 0.25,
                                        clock: { now }, write: { written.append($0) })
        now = 102
        progress.advance(by: 250)
        #expect(progress.line(now: 102) == "filter: 250/1000 (25.0%) 125 rows/s ETA 0:06")
        now = 102.1
        progress.advance(by: 10) // within the redraw interval: not drawn
        #expect(written.count == 1)
        now = 4000
        progress.advance(by: 1)
        #expect(written.count == 2)
        let open = ProgressReporter(label: "read", enabled: true, clock: { now }, write: { _ in })
        open.advance(by: 3)
        #expect(open.line(now: 4002).hasPrefix("read: 3 1.50 rows/s elapsed 0:02"))
        #expect(ProgressReporter.formatDuration(3725) == "1:02:05")
        let quiet = ProgressReporter(label: "q", total: 5, enabled: false, write: { written.append($0) })
        quiet.advance(by: 5)
        quiet.finish()
        #expect(written.count == 2)
        #expect(!ProgressReporter.shouldShow(quiet: true, forced: true))
        #expect(ProgressReporter.shouldShow(quiet: false, forced: true))
    }
}

@Suite struct ManifestTests {
    @Test func manifestRecordsInputsConfigAndTiming() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        try Data("abc".utf8).write(to: URL(fileURLWithPath: dir.file("in.jsonl")))
        var manifest = Manifest(tool: "pp-sample", argv: ["pp-sample", "--seed", "3"], config: ["seed": "3"], seed: 3,
                                startedAt: Date(timeIntervalSinceNow: -1.5))
        try manifest.addInput(dir.file("in.jsonl"))
        try manifest.addInput("-")
        manifest.results["kept"] = 12
        let path = try manifest.write(for: dir.file("out.jsonl.zst"))
        #expect(path == dir.file("out.jsonl.zst.manifest.json"))
        #expect(Manifest.path(for: "runs/x/adapter/") == "runs/x/adapter.manifest.json")
        let value = try JSONValue.parse(try Data(contentsOf: URL(fileURLWithPath: path!)))
        #expect(value["tool"] == "pp-sample")
        #expect(value["version"] == .string(PlaypenVersion.string))
        #expect(value["argv"] == ["pp-sample", "--seed", "3"])
        #expect(value["seed"] == 3)
        #expect(value["config"]?["seed"] == "3")
        #expect(value["inputs"]?[0]?["sha256"] == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(value["inputs"]?[0]?["bytes"] == 3)
        #expect(value["inputs"]?[1]?["sha256"] == .null)
        #expect(value["results"]?["kept"] == 12)
        try JSONSchema(path: manifestSchema).validate(value, context: path!)
        let wall = value["wall_seconds"]?.double ?? 0
        #expect(wall >= 1.5 && wall < 60)
        #expect(value["git_sha"] != nil)
        #expect(try manifest.write(for: "-") == nil)

        // A directory input gets the tree hash that the documented shell pipeline computes.
        try FileManager.default.createDirectory(atPath: dir.file("model/sub"), withIntermediateDirectories: true)
        try Data("{}".utf8).write(to: URL(fileURLWithPath: dir.file("model/config.json")))
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: dir.file("model/sub/w.bin")))
        try Data("B".utf8).write(to: URL(fileURLWithPath: dir.file("model/Z.txt")))
        let (_, out, _) = try runProcess(["bash", "-c", "cd '\(dir.file("model"))' && find . -type f -printf '%P\\n' | LC_ALL=C sort | xargs -d '\\n' sha256sum | sha256sum"])
        try manifest.addInput(dir.file("model"))
        #expect(manifest.inputs.last?.sha256 == String(String(decoding: out, as: UTF8.self).prefix(64)))
        #expect(manifest.inputs.last?.bytes == 6)
        expectPlaypenError(["no-dir"]) { try manifest.write(for: dir.file("no-dir/out.jsonl")) }
    }
}

/// The executables built next to the test bundle.
func executable(_ name: String) -> String? {
    var candidates: [URL] = []
    candidates.append(URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent())
    if let url = Bundle.main.executableURL { candidates.append(url.deletingLastPathComponent()) }
    candidates.append(Bundle.main.bundleURL.deletingLastPathComponent())
    for dir in candidates {
        let path = dir.appendingPathComponent(name).path
        if FileManager.default.isExecutableFile(atPath: path) { return path }
    }
    return nil
}

@Suite struct MainWrapperTests {
    @Test func errorsAreOneLineWithStatus1AndNothingIsWritten() throws {
        guard let tool = executable("pp-ppt") else {
            Issue.record("pp-ppt not built next to the tests")
            return
        }
        let dir = try TempDir()
        defer { dir.cleanup() }
        let writer = try TensorStreamWriter(path: dir.file("a.ppt"), header: TensorStreamHeader(rowShape: [2], manifest: ["shard": 0]))
        try writer.append(rowID: "r0", [1, 2])
        try writer.commit()

        // Missing input: error line naming it, exit 1, no output and no manifest.
        let (status, _, stderr) = try runProcess([tool, "merge", "-o", dir.file("m.ppt"), dir.file("a.ppt"), dir.file("missing.ppt")])
        #expect(status == 1)
        #expect(stderr == "error: \(dir.file("missing.ppt")): cannot open: No such file or directory\n")
        #expect(dir.listing() == ["a.ppt"])

        // Unwritable output path.
        let (status2, _, stderr2) = try runProcess([tool, "merge", "-o", dir.file("nope/m.ppt"), dir.file("a.ppt")])
        #expect(status2 == 1)
        #expect(stderr2.hasPrefix("error: \(dir.file("nope/m.ppt")): cannot write"))

        // Usage errors come from the parser with status 64.
        let (status3, _, _) = try runProcess([tool, "merge", "--threads", "x", dir.file("a.ppt")])
        #expect(status3 == 64)

        // Success through --config (subcommand flags), with a manifest next to the output.
        try Data(#"{"output": "\#(dir.file("m.ppt"))", "quiet": true, "threads": 1}"#.utf8).write(to: URL(fileURLWithPath: dir.file("c.json")))
        let (status4, _, stderr4) = try runProcess([tool, "merge", "--config", dir.file("c.json"), dir.file("a.ppt"), dir.file("a.ppt")])
        #expect(status4 == 0, "\(stderr4)")
        #expect(stderr4 == "")
        #expect(try TensorStreamReader(path: dir.file("m.ppt")).readAll().rowIDs == ["r0", "r0"])
        let manifest = try JSONValue.parse(try Data(contentsOf: URL(fileURLWithPath: dir.file("m.ppt.manifest.json"))))
        #expect(manifest["tool"] == "pp-ppt")
        try JSONSchema(path: manifestSchema).validate(manifest, context: "pp-ppt manifest")
        #expect(manifest["config"]?["threads"] == "1")
        #expect(manifest["config"]?["output"] == .string(dir.file("m.ppt")))
        #expect(manifest["inputs"]?[1]?["sha256"] == .string(try SHA256.hash(path: dir.file("a.ppt"))))

        // A manifest is itself a config: rerunning from it (to another output) repeats the run.
        let (status9, _, stderr9) = try runProcess([tool, "merge", "--config", dir.file("m.ppt.manifest.json"), "-o", dir.file("again.ppt")])
        #expect(status9 == 0, "\(stderr9)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir.file("again.ppt"))) == Data(contentsOf: URL(fileURLWithPath: dir.file("m.ppt"))))
        let again = try JSONValue.parse(try Data(contentsOf: URL(fileURLWithPath: dir.file("again.ppt.manifest.json"))))
        #expect(again["inputs"] == manifest["inputs"])

        // info prints a JSON summary on stdout.
        let (status5, out5, _) = try runProcess([tool, "info", "--ids", dir.file("m.ppt")])
        #expect(status5 == 0)
        let info = try JSONValue.parse(out5)
        #expect(info["rows"] == 2 && info["segments"] == 2 && info["row_ids"] == ["r0", "r0"])

        // stdin and stdout: `-o -` streams the merged bytes, `info -` reads a pipe.
        let single = try Data(contentsOf: URL(fileURLWithPath: dir.file("a.ppt")))
        let (status6, out6, _) = try runProcess([tool, "merge", "--quiet", "-o", "-", dir.file("a.ppt")])
        #expect(status6 == 0)
        #expect(out6 == single)
        let (status7, out7, _) = try runProcess([tool, "info", "-"], stdin: single + single.prefix(10))
        #expect(status7 == 1)
        #expect(out7.isEmpty)
        let (status8, out8, _) = try runProcess([tool, "info", "-"], stdin: single)
        #expect(status8 == 0)
        #expect(try JSONValue.parse(out8)["rows"] == 1)
    }
}

@Suite struct AllocationPolicyTests {
    /// Page faults of the calling thread while writing every page of a block from `allocate` and
    /// handing it to `release` (RUSAGE_THREAD: the other tests' faults do not count).
    static func faultsOfTouching(_ bytes: Int, allocate: () -> UnsafeMutableRawPointer,
                                 release: (UnsafeMutableRawPointer) -> Void) -> Int {
        func minorFaults() -> Int { var u = rusage(); getrusage(1 /* RUSAGE_THREAD, Linux */, &u); return u.ru_minflt }
        let before = minorFaults()
        let block = allocate()
        memset(block, 1, bytes)
        release(block)
        return minorFaults() - before
    }

    /// A 40 MB block: over glibc's largest automatic mmap threshold (32 MB), so by default every
    /// allocation of it is a fresh mapping; still inside a thread arena's 64 MB heap. The block is
    /// allocated on a thread of its own, whose malloc arena the other tests' threads leave alone.
    @Test func keepLargeBlocksForReuseServesARepeatedBlockFromTouchedPages() throws {
        let bytes = 40 << 20, pages = bytes / Int(getpagesize())
        nonisolated(unsafe) var fresh = 0, uses: [Int] = []
        let done = DispatchSemaphore(value: 0)
        Thread {
            let heapBlock = { UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 16) }
            let mapping = { mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)! }
            // the counter sees the faults of a fresh mapping
            fresh = Self.faultsOfTouching(bytes, allocate: mapping, release: { _ = munmap($0, bytes) })
            keepLargeBlocksForReuse()
            uses = (0..<3).map { _ in Self.faultsOfTouching(bytes, allocate: heapBlock, release: { $0.deallocate() }) }
            done.signal()
        }.start()
        done.wait()
        #expect(fresh >= pages * 9 / 10, "\(fresh) faults of \(pages) pages of a fresh mapping")
        #expect(uses[1] < pages / 10 && uses[2] < pages / 10, "faults of \(pages) pages on each use of the block: \(uses)")
    }
}
