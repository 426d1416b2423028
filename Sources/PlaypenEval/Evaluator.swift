import Foundation
import PlaypenData
import PlaypenIO
import PlaypenModel
import PlaypenTrain

// ------------------------------------------------------------------------------------------------
// Generation as the original's eval_words.py: the raw prompt text tokenized with BOS (the
// library's one tokenizer; no chat template), inputs cut to the first `maxInputTokens` tokens
// (transformers' right truncation), greedy decoding of at most `maxNewTokens` tokens, stopping
// at the tokenizer's EOS (eval_words.py passes eos_token_id=tokenizer.eos_token_id), decoded
// with special tokens skipped. One sequence at a time: the unpadded form of the original's
// left-padded batches.

public struct GenerationSettings: Sendable, Equatable {
    public var maxNewTokens: Int
    public var maxInputTokens: Int
    public init(maxNewTokens: Int = 16, maxInputTokens: Int = 1024) {
        self.maxNewTokens = maxNewTokens
        self.maxInputTokens = maxInputTokens
    }
}

/// A Gemma model (optionally with a merged LoRA adapter) that answers raw-text prompts greedily.
public final class GemmaGuesser: GuesserModel {
    public let model: GemmaModel
    public let tokenizer: GemmaTokenizer
    public let settings: GenerationSettings
    /// Prompt and generated token counts of the last `generate` call.
    public private(set) var lastPromptTokens = 0
    public private(set) var lastNewTokens = 0

    public init(model: GemmaModel, settings: GenerationSettings = GenerationSettings()) throws {
        guard let tokenizer = model.tokenizer else {
            throw PlaypenError("\(model.source): the model has no tokenizer (a GGUF file or an HF directory with tokenizer.json is needed)")
        }
        self.model = model
        self.tokenizer = tokenizer
        self.settings = settings
    }

    /// Loads a GGUF file or HF directory and merges `adapter` (a PEFT LoRA directory) into it.
    public static func load(model path: String, adapter: String?, settings: GenerationSettings) throws -> GemmaGuesser {
        try GemmaGuesser(model: PeftAdapter.loadMerged(model: path, adapter: adapter).model, settings: settings)
    }

    /// `tokenizer(prompt, truncation=True, max_length=maxInputTokens)` with BOS.
    public func promptIDs(_ prompt: String) -> [Int] {
        Array(tokenizer.encode(prompt, addBOS: true).prefix(settings.maxInputTokens))
    }

    /// Prompt ids and the greedily generated ids (EOS included when produced).
    public func generateIDs(prompt: String) throws -> (prompt: [Int], generated: [Int]) {
        let ids = promptIDs(prompt)
        let options = GenerationOptions(maxNewTokens: settings.maxNewTokens, temperature: 0, stopTokens: [tokenizer.eosID])
        return (ids, try model.generate(prompt: ids, options: options))
    }

    public func generate(prompt: String) throws -> String {
        let (ids, out) = try generateIDs(prompt: prompt)
        lastPromptTokens = ids.count
        lastNewTokens = out.count
        return tokenizer.decode(out, skipSpecial: true)
    }
}

// ------------------------------------------------------------------------------------------------
// Per-row records.

public enum EvalRecords {
    /// The word-success record of one example: the model's generation and word, scored against
    /// the episode's target word and against the recorded guess (the original's gold).
    public static func words(example e: EvalExample, target: TabooInstance, generation: String,
                             promptTokens: Int, newTokens: Int) -> JSONValue {
        let predicted = WordSuccess.extractGuess(generation)
        let targetWord = WordSuccess.firstWord(target.target)
        let goldWord = WordSuccess.extractGuess(e.completion)
        var o = JSONObject()
        o["row_id"] = e.rowId
        o["index"] = .int(e.index)
        o["experiment"] = .string(e.row.meta.experiment)
        o["task_id"] = .int(e.row.meta.taskID)
        o["recorded_outcome"] = e.row.meta.outcome.map { .string($0) } ?? .null
        o["target"] = .string(target.target)
        o["prompt_tokens"] = .int(promptTokens)
        o["new_tokens"] = .int(newTokens)
        o["generation"] = .string(generation)
        o["pred_word"] = .string(predicted)
        o["correct_target"] = .bool(!predicted.isEmpty && predicted == targetWord)
        o["gold_completion"] = .string(e.completion)
        o["gold_word"] = .string(goldWord)
        o["correct_gold"] = .bool(!predicted.isEmpty && predicted == goldWord)
        return .object(o)
    }

    /// The record of one replayed episode.
    public static func game(example e: EvalExample, target: TabooInstance, episode: GameEpisode) -> JSONValue {
        let guesserPrefix = TabooInstance.guesserTemplate.replacingAll("$N$", with: "3") + "\n\n"
        var o = JSONObject()
        o["row_id"] = e.rowId
        o["index"] = .int(e.index)
        o["experiment"] = .string(e.row.meta.experiment)
        o["task_id"] = .int(e.row.meta.taskID)
        o["target"] = .string(target.target)
        o["recorded_outcome"] = e.row.meta.outcome.map { .string($0) } ?? .null
        o["outcome"] = .string(episode.end.outcome)
        o["ended_by"] = .string(episode.end.rawValue)
        o["rounds"] = .int(episode.rounds.count)
        o["main_score"] = episode.mainScore.map { .double($0) } ?? .null
        o["turns"] = .array(episode.rounds.enumerated().map { k, r in
            var t = JSONObject()
            // The first turn's message carries the guesser prompt; keep only the describer's clue.
            let describer = r.describer.map { k == 0 && $0.hasPrefix(guesserPrefix) ? String($0.dropFirst(guesserPrefix.count)) : $0 }
            t["describer"] = .array(describer.map { .string($0) })
            t["generation"] = .string(r.generation)
            t["reply"] = .string(r.reply)
            t["guess"] = r.guess.map { .string($0) } ?? .null
            return .object(t)
        })
        return .object(o)
    }
}

// ------------------------------------------------------------------------------------------------
// Summaries, computed from the records alone so that merged shards summarise like one run.

public enum EvalSummary {
    static func proportion(_ p: Proportion) -> JSONValue {
        ["correct": .int(p.successes), "total": .int(p.trials), "accuracy": .double(p.rate),
         "ci95_wilson": [.double(p.low), .double(p.high)]]
    }

    /// Summary of word-success records.
    public static func words(_ records: [JSONValue]) -> JSONObject {
        var target = 0, gold = 0, empty = 0
        var byOutcome: [String: (rows: Int, target: Int, gold: Int)] = [:]
        for r in records {
            let t = r["correct_target"]?.bool == true, g = r["correct_gold"]?.bool == true
            if t { target += 1 }
            if g { gold += 1 }
            if (r["pred_word"]?.string ?? "").isEmpty { empty += 1 }
            let key = r["recorded_outcome"]?.string ?? "null"
            var c = byOutcome[key] ?? (0, 0, 0)
            c.rows += 1
            c.target += t ? 1 : 0
            c.gold += g ? 1 : 0
            byOutcome[key] = c
        }
        var o = JSONObject()
        o["mode"] = "words"
        o["rows"] = .int(records.count)
        o["vs_target"] = proportion(Proportion(successes: target, trials: records.count))
        o["vs_recorded_guess"] = proportion(Proportion(successes: gold, trials: records.count))
        o["empty_predictions"] = .int(empty)
        var outcomes = JSONObject()
        for key in byOutcome.keys.sorted() {
            let c = byOutcome[key]!
            outcomes[key] = ["rows": .int(c.rows), "correct_target": .int(c.target), "correct_recorded_guess": .int(c.gold)]
        }
        o["by_recorded_outcome"] = .object(outcomes)
        return o
    }

    /// Summary of game records, as clembench reports them: success/failure/aborted counts,
    /// % played (not aborted), quality score (mean Main Score of the played episodes) and
    /// clemscore = played × quality / 100.
    public static func game(_ records: [JSONValue]) -> JSONObject {
        var counts = ["success": 0, "failure": 0, "aborted": 0]
        var recorded: [String: Int] = [:]
        var scoreSum = 0.0, outOfClues = 0
        for r in records {
            let outcome = r["outcome"]?.string ?? "aborted"
            counts[outcome, default: 0] += 1
            recorded[r["recorded_outcome"]?.string ?? "null", default: 0] += 1
            if let s = r["main_score"]?.double { scoreSum += s }
            if r["ended_by"]?.string == EpisodeEnd.outOfClues.rawValue { outOfClues += 1 }
        }
        let n = records.count
        let played = n - counts["aborted"]!
        var o = JSONObject()
        o["mode"] = "game"
        o["episodes"] = .int(n)
        o["success"] = .int(counts["success"]!)
        o["failure"] = .int(counts["failure"]!)
        o["aborted"] = .int(counts["aborted"]!)
        o["success_rate"] = proportion(Proportion(successes: counts["success"]!, trials: n))
        o["played"] = .double(n > 0 ? Double(played) / Double(n) : 0)
        let quality: Double? = played > 0 ? scoreSum / Double(played) : nil
        o["quality_score"] = quality.map { .double($0) } ?? .null
        o["clemscore"] = .double((quality ?? 0) * (n > 0 ? Double(played) / Double(n) : 0))
        o["failures_out_of_recorded_clues"] = .int(outOfClues)
        var rec = JSONObject()
        for key in recorded.keys.sorted() { rec[key] = .int(recorded[key]!) }
        o["recorded_outcomes"] = .object(rec)
        return o
    }

    /// The summary for either kind of record (game records carry "turns").
    public static func summarize(_ records: [JSONValue]) -> JSONObject {
        records.first?["turns"] != nil ? game(records) : words(records)
    }

    /// A few human-readable lines.
    public static func text(_ s: JSONObject, label: String) -> String {
        func p(_ v: JSONValue?) -> String {
            guard let v, let k = v["correct"]?.int, let n = v["total"]?.int, let a = v["accuracy"]?.double,
                  let ci = v["ci95_wilson"]?.array, ci.count == 2 else { return "-" }
            return String(format: "%d/%d = %.3f  [%.3f, %.3f] Wilson 95%%", k, n, a, ci[0].double ?? 0, ci[1].double ?? 0)
        }
        if s["mode"]?.string == "game" {
            var lines = ["\(label): \(s["episodes"]?.int ?? 0) episodes replayed as WordGuesser"]
            lines.append("  success \(s["success"]?.int ?? 0)  failure \(s["failure"]?.int ?? 0)  aborted \(s["aborted"]?.int ?? 0)"
                         + "  (failures out of recorded clues: \(s["failures_out_of_recorded_clues"]?.int ?? 0))")
            lines.append("  success rate      \(p(s["success_rate"]))")
            lines.append(String(format: "  played %.3f  quality %@  clemscore %.2f", s["played"]?.double ?? 0,
                                s["quality_score"]?.double.map { String(format: "%.2f", $0) } ?? "-", s["clemscore"]?.double ?? 0))
            return lines.joined(separator: "\n")
        }
        return ["\(label): \(s["rows"]?.int ?? 0) rows (\(s["empty_predictions"]?.int ?? 0) with no word)",
                "  vs target word     \(p(s["vs_target"]))",
                "  vs recorded guess  \(p(s["vs_recorded_guess"]))"].joined(separator: "\n")
    }
}

// ------------------------------------------------------------------------------------------------
// Runs.

public enum EvalRun {
    /// The examples of shard `i/N` (contiguous blocks; concatenating shards restores the order).
    public static func shard(_ examples: [EvalExample], _ spec: String?) throws -> [EvalExample] {
        guard let spec else { return examples }
        return Array(examples[try Shard(spec).range(of: examples.count)])
    }

    /// Word success over `examples`, one record per example written to `writer` in order.
    public static func words(examples: [EvalExample], file: String, targets: TargetTable, guesser: GemmaGuesser,
                             writer: JSONLinesWriter, progress: (() -> Void)? = nil) throws -> [JSONValue] {
        var records: [JSONValue] = []
        for e in examples {
            let target = try targets.target(for: e, file: file)
            let generation = try guesser.generate(prompt: e.prompt)
            let record = EvalRecords.words(example: e, target: target, generation: generation,
                                           promptTokens: guesser.lastPromptTokens, newTokens: guesser.lastNewTokens)
            try writer.write(record)
            records.append(record)
            progress?()
        }
        return records
    }

    /// Game mode: each WordGuesser example's recorded describer turns replayed against the model.
    public static func game(examples: [EvalExample], file: String, targets: TargetTable, guesser: GuesserModel,
                            writer: JSONLinesWriter, maxTurns: Int = TabooRules.maxTurns,
                            progress: (() -> Void)? = nil) throws -> [JSONValue] {
        var records: [JSONValue] = []
        for e in examples {
            guard e.row.meta.gameRole == "WordGuesser" else {
                throw PlaypenError("\(file): record \(e.index): game mode replays WordGuesser rows, this one is \(e.row.meta.gameRole)")
            }
            let target = try targets.target(for: e, file: file)
            let episode = try TabooReplay.play(turns: e.row.describerTurns, target: target.target, meta: e.row.meta,
                                               model: guesser, maxTurns: maxTurns)
            let record = EvalRecords.game(example: e, target: target, episode: episode)
            try writer.write(record)
            records.append(record)
            progress?()
        }
        return records
    }

    /// Concatenates result files (shards, in order) into `writer`, byte for byte, checking each
    /// line is a JSON object; returns the records for the summary.
    public static func merge(inputs: [String], writer: JSONLinesWriter) throws -> [JSONValue] {
        var records: [JSONValue] = []
        for path in inputs {
            let reader = try JSONLinesReader(path: path)
            while let line = try reader.nextLine() {
                let value: JSONValue
                do { value = try JSONValue.parse(line) } catch { throw reader.error("\(error)") }
                guard value.object != nil, value["row_id"] != nil else {
                    throw reader.error("expected a pp-eval result record (a JSON object with \"row_id\")")
                }
                try writer.writeLine(line)
                records.append(value)
            }
        }
        return records
    }
}
