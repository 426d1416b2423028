import Foundation
import PlaypenIO
import Testing

/// The chain on a reduced configuration (the tiny random Gemma-3 with the 320-token test tokenizer, 60 real
/// rows): run twice in two directories, every artifact is byte-identical; and an artifact re-made from its
/// manifest (scripts/rerun.py, `make rerun`) is byte-identical to the original.
@Suite(.serialized) struct ReproducibilityTests {
    static let tools = ["pp-filter", "pp-train", "pp-eval", "pp-sae"]

    /// Runs the chain in `dir`; returns the commands run (tool + args).
    func chain(in dir: TempDir, model: String, rows: String) throws -> [[String]] {
        let d = dir.url.path
        let steps: [[String]] = [
            ["pp-filter", rows, "--val-fraction", "0.2", "--seed", "1", "--select", "train", "--quiet", "-o", d + "/train.jsonl.zst"],
            ["pp-filter", rows, "--val-fraction", "0.2", "--seed", "1", "--select", "validation", "--quiet", "-o", d + "/val.jsonl.zst"],
            ["pp-train", "--model", model, "--train", d + "/train.jsonl.zst", "--eval", d + "/val.jsonl.zst", "--max-steps", "2",
             "--batch-size", "2", "--grad-accum", "1", "--max-length", "96", "--seed", "3", "--threads", "1", "--quiet", "-o", d + "/adapter"],
            ["pp-eval", "words", "--model", model, "--adapter", d + "/adapter", "--examples", d + "/val.jsonl.zst", "--max-input-tokens", "96",
             "--threads", "1", "--quiet", "--summary", d + "/words.summary.json", "-o", d + "/words.jsonl"],
            ["pp-sae", "train", "--model", model, "--examples", d + "/train.jsonl.zst", "--layer", "1", "--d-sae", "32", "--k", "4",
             "--epochs", "1", "--batch-tokens", "128", "--max-tokens", "24", "--threads", "1", "--quiet", "-o", d + "/sae"],
            ["pp-sae", "extract", "--model", model, "--examples", d + "/train.jsonl.zst", "--sae", d + "/sae", "--max-tokens", "24",
             "--exclude-bos", "--activation-mean", "--threads", "1", "--quiet", "-o", d + "/samples"],
        ]
        for step in steps {
            guard let exe = executable(step[0]) else { throw PlaypenError("\(step[0]) not built next to the tests") }
            let r = try run(exe, Array(step.dropFirst()))
            guard r.status == 0 else { throw PlaypenError("\(step.joined(separator: " ")) failed: \(r.stderr)") }
        }
        return steps
    }

    /// Every regular file under `dir` (relative path -> bytes), manifests and logs of timings left out.
    func artifacts(_ dir: URL) throws -> [String: Data] {
        var out: [String: Data] = [:]
        let base = dir.standardizedFileURL.path
        guard let walker = FileManager.default.enumerator(at: dir, includingPropertiesForKeys: [.isRegularFileKey]) else { return out }
        for case let url as URL in walker {
            guard (try url.resourceValues(forKeys: [.isRegularFileKey])).isRegularFile == true else { continue }
            let path = url.standardizedFileURL.path
            let rel = String(path.dropFirst(base.count + 1))
            if rel.hasSuffix(".manifest.json") || rel.hasSuffix("steps.jsonl") || rel == "rows.jsonl" { continue }
            out[rel] = try Data(contentsOf: url)
        }
        return out
    }

    @Test func chainTwiceIsByteIdenticalAndReruns() throws {
        guard let data = tabooDataPath(), Self.tools.allSatisfy({ executable($0) != nil }) else {
            if inCI { Issue.record("needs the taboo sample and \(Self.tools.joined(separator: ", ")) built") }
            return
        }
        let scratch = try TempDir("pp-repro")
        let model = try tinyModelDirectory(in: scratch)
        // 60 real rows (plain JSONL) as the input.
        let reader = try JSONLinesReader(path: data)
        var lines = Data()
        for _ in 0..<60 {
            guard let line = try reader.nextLine() else { break }
            lines.append(contentsOf: line)
            lines.append(0x0A)
        }
        let rows = scratch.file("rows.jsonl")
        try lines.write(to: URL(fileURLWithPath: rows))

        // Twice in the same directory (paths are recorded in SAE configs and summaries), the first run moved aside.
        let work = try TempDir("pp-repro")
        _ = try chain(in: work, model: model, rows: rows)
        let fa = try artifacts(work.url)
        let first = scratch.file("first-run")
        try FileManager.default.moveItem(atPath: work.url.path, toPath: first)
        try FileManager.default.createDirectory(at: work.url, withIntermediateDirectories: true)
        _ = try chain(in: work, model: model, rows: rows)
        let fb = try artifacts(work.url)
        let a = work
        #expect(fa.keys.sorted() == fb.keys.sorted())
        for key in ["train.jsonl.zst", "val.jsonl.zst", "adapter/adapter_model.safetensors", "adapter/adapter_config.json",
                    "words.jsonl", "words.summary.json", "sae/params.safetensors"] {
            #expect(fa[key] != nil, "missing artifact \(key)")
        }
        #expect(fa.keys.contains { $0.hasPrefix("samples/") && $0.hasSuffix("sample_stats.npy") })
        for key in fa.keys.sorted() {
            #expect(fa[key] == fb[key], "\(key) differs between two runs")
        }

        // Re-make the word-success results from their manifest (argv) elsewhere: same bytes.
        let rerun = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("scripts/rerun.py").path
        let bin = URL(fileURLWithPath: executable("pp-eval")!).deletingLastPathComponent().path
        let again = a.file("words-rerun.jsonl")
        let r = try run("/usr/bin/env", ["python3", rerun, "--bin", bin, "--strict", a.file("words.jsonl.manifest.json"), "--", "-o", again])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: again)) == fa["words.jsonl"])
    }
}
