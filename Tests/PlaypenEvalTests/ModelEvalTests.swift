import Foundation
import PlaypenData
import PlaypenIO
import PlaypenModel
import Testing
@testable import PlaypenEval

@Suite(.serialized) struct ModelEvalTests {
    /// pp-eval's generation on the real 270M GGUF equals eval_words.py's procedure in transformers
    /// (scripts/reference/eval_270m_goldens.py): prompt ids, greedy ids, decoded text and word.
    @Test func realModelGenerationMatchesTransformers() throws {
        guard let gguf = realModelPath() else {
            if inCI { Issue.record("the 270M GGUF is missing (make model)") } else { print("skipping: no 270M GGUF (make model)") }
            return
        }
        let golden = try JSONValue.parse(Data(contentsOf: fixtures.appendingPathComponent("eval/gemma3-270m-words.json")))
        let cases = golden["cases"]!.array!
        #expect(cases.count == 3)
        let guesser = try GemmaGuesser.load(model: gguf, adapter: nil, settings: GenerationSettings())
        #expect(guesser.tokenizer.eosID == cases[0]["eos_token_id"]!.int!)
        for c in cases {
            let (promptIDs, generated) = try guesser.generateIDs(prompt: c["prompt"]!.string!)
            #expect(promptIDs == c["prompt_ids"]!.array!.map { $0.int! })
            #expect(generated == c["generated_ids"]!.array!.map { $0.int! }, "\(c["experiment"]!.string!)/\(c["task_id"]!.int!)")
            let text = guesser.tokenizer.decode(generated, skipSpecial: true)
            #expect(text == c["generation"]!.string!)
            #expect(WordSuccess.extractGuess(text) == c["pred_word"]!.string!)
        }
    }

    /// End to end on the real model: two real rows through `pp-eval words` and `pp-eval game`.
    @Test func realModelEndToEnd() throws {
        guard let gguf = realModelPath(), let data = tabooDataPath(), let tool = executable("pp-eval") else {
            if inCI { Issue.record("needs the 270M GGUF, the taboo sample and pp-eval") }
            return
        }
        let dir = try TempDir()
        let examples = dir.file("val.jsonl")
        try writeJSONLines(exampleRecords(Array(try guesserRows(data).prefix(2))), to: examples)
        let words = try run(tool, ["--model", gguf, "--examples", examples, "-o", dir.file("words.jsonl"), "--summary", dir.file("s.json"), "--threads", "2"])
        #expect(words.status == 0, "\(words.stderr)")
        let records = try readJSONLines(dir.file("words.jsonl"))
        #expect(records.count == 2)
        for r in records {
            #expect(r["generation"]?.string != nil && (r["new_tokens"]?.int ?? 0) >= 1 && (r["new_tokens"]?.int ?? 99) <= 16)
            #expect(r["pred_word"]?.string == WordSuccess.extractGuess(r["generation"]!.string!))
            #expect(r["correct_target"]?.bool == (!(r["pred_word"]!.string!.isEmpty) && r["pred_word"]!.string! == r["target"]!.string!))
        }
        let summary = try JSONValue.parse(Data(contentsOf: URL(fileURLWithPath: dir.file("s.json"))))
        #expect(summary["vs_target"]?["total"]?.int == 2)
        let manifest = try JSONValue.parse(Data(contentsOf: URL(fileURLWithPath: dir.file("words.jsonl.manifest.json"))))
        #expect(manifest["tool"]?.string == "pp-eval" && manifest["results"]?["rows"]?.int == 2)
        #expect(manifest["argv"]?.array?.contains(.string(examples)) == true)

        let game = try run(tool, ["game", "--model", gguf, "--examples", examples, "-o", dir.file("game.jsonl"), "--max-new-tokens", "8"])
        #expect(game.status == 0, "\(game.stderr)")
        let episodes = try readJSONLines(dir.file("game.jsonl"))
        #expect(episodes.count == 2)
        for e in episodes {
            #expect(["success", "failure", "aborted"].contains(e["outcome"]?.string ?? ""))
            #expect((e["turns"]?.array?.count ?? 0) >= 1)
        }
    }

    /// `--shard i/N` then `pp-eval merge` gives the single run's results byte for byte (words and
    /// game mode), and running twice gives identical bytes. Tiny random Gemma-3 + 320-token tokenizer.
    @Test func shardsMergeToTheSingleRunByteForByte() throws {
        guard let data = tabooDataPath(), let tool = executable("pp-eval") else {
            if inCI { Issue.record("needs the taboo sample and pp-eval") }
            return
        }
        let dir = try TempDir()
        let model = try tinyModelDirectory(in: dir)
        let examples = dir.file("val.jsonl.zst")
        try writeJSONLines(exampleRecords(Array(try guesserRows(data).prefix(8))), to: examples)
        for mode in ["words", "game"] {
            let common = [mode, "--model", model, "--examples", examples, "--threads", "1", "--quiet"]
            let single = try run(tool, common + ["-o", dir.file("\(mode)-single.jsonl"), "--summary", dir.file("\(mode)-single.summary.json")])
            #expect(single.status == 0, "\(single.stderr)")
            var shards: [String] = []
            for i in 0..<3 {
                let out = dir.file("\(mode)-shard-\(i).jsonl")
                let r = try run(tool, common + ["--shard", "\(i)/3", "-o", out])
                #expect(r.status == 0, "\(r.stderr)")
                shards.append(out)
            }
            let merged = try run(tool, ["merge", "--quiet", "-o", dir.file("\(mode)-merged.jsonl"), "--summary", dir.file("\(mode)-merged.summary.json")] + shards)
            #expect(merged.status == 0, "\(merged.stderr)")
            let a = try Data(contentsOf: URL(fileURLWithPath: dir.file("\(mode)-single.jsonl")))
            let b = try Data(contentsOf: URL(fileURLWithPath: dir.file("\(mode)-merged.jsonl")))
            #expect(!a.isEmpty && a == b, "\(mode): merged shards differ from the single run")
            #expect(try readJSONLines(dir.file("\(mode)-single.jsonl")).count == 8)
            #expect(try Data(contentsOf: URL(fileURLWithPath: dir.file("\(mode)-single.summary.json")))
                    == Data(contentsOf: URL(fileURLWithPath: dir.file("\(mode)-merged.summary.json"))))
            // Shard sizes: contiguous blocks 2, 3, 3 of the 8 rows.
            #expect(try shards.map { try readJSONLines($0).count } == [2, 3, 3])
            // Reproducible: a second run writes the same bytes.
            let again = try run(tool, common + ["-o", dir.file("\(mode)-again.jsonl")])
            #expect(again.status == 0)
            #expect(try Data(contentsOf: URL(fileURLWithPath: dir.file("\(mode)-again.jsonl"))) == a)
        }
    }

    @Test func badInputIsOneLineAndWritesNothing() throws {
        guard let tool = executable("pp-eval") else {
            if inCI { Issue.record("pp-eval not built") }
            return
        }
        let dir = try TempDir()
        let model = try tinyModelDirectory(in: dir)
        let bad = dir.file("bad.jsonl")
        try Data("{\"prompt\": \"x\", \"completion\": \"GUESS: y\"}\n".utf8).write(to: URL(fileURLWithPath: bad))
        let r = try run(tool, ["--model", model, "--examples", bad, "-o", dir.file("out.jsonl")])
        #expect(r.status == 1)
        #expect(r.stderr.hasPrefix("error: ") && r.stderr.contains("bad.jsonl:1") && r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir.file("out.jsonl")))
    }
}
