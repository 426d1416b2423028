import Foundation
import PlaypenData
import PlaypenIO
import Testing
@testable import PlaypenEval

/// Word extraction and the game master's guess rule against Python's own `re`/`str` semantics
/// (goldens from scripts/reference/eval_goldens.py), Wilson intervals against SciPy and by hand.
@Suite struct WordSuccessTests {
    @Test func extractionMatchesPythonRegexes() throws {
        let cases = try readJSONLines(fixtures.appendingPathComponent("eval/word-extraction.jsonl").path)
        #expect(cases.count > 600)
        var mismatches: [String] = []
        for c in cases {
            let text = c["text"]!.string!
            let candidate = WordSuccess.candidate(text), word = WordSuccess.extractGuess(text)
            if candidate != c["candidate"]!.string! || word != c["word"]!.string! {
                mismatches.append("\(text.debugDescription): got (\(candidate.debugDescription), \(word)), python (\(c["candidate"]!.string!.debugDescription), \(c["word"]!.string!))")
            }
        }
        #expect(mismatches.isEmpty, "\(mismatches.count) mismatches, first: \(mismatches.first ?? "")")
    }

    @Test func extractionHandCases() {
        #expect(WordSuccess.extractGuess("GUESS: Dragonfly") == "dragonfly")
        #expect(WordSuccess.extractGuess("I'd say\nGUESS:  Snow-ball's end") == "snow-ball's")
        #expect(WordSuccess.extractGuess("  Winter is here\nGUESS missing") == "winter")
        #expect(WordSuccess.extractGuess("GUESS:\n") == "guess")      // no group: falls back to the first line "GUESS:"
        #expect(WordSuccess.extractGuess("GUESS: \n") == "")          // group " " strips to ""; no fallback
        #expect(WordSuccess.extractGuess("") == "")
    }

    @Test func guessRuleMatchesGameMaster() throws {
        let cases = try readJSONLines(fixtures.appendingPathComponent("eval/guess-rule.jsonl").path)
        #expect(cases.count > 600)
        var mismatches: [String] = []
        for c in cases {
            let u = c["utterance"]!.string!
            let expected: TabooRules.GuessCheck = c["valid"]!.bool! ? .guess(c["guess"]!.string!) : .invalidFormat
            let got = TabooRules.check(u)
            if got != expected { mismatches.append("\(u.debugDescription): \(got) vs \(expected)") }
        }
        #expect(mismatches.isEmpty, "\(mismatches.count) mismatches, first: \(mismatches.first ?? "")")
        #expect(TabooRules.check("GUESS: Dragon-fly!") == .guess("dragonfly"))
        #expect(TabooRules.check(" GUESS: fly") == .invalidFormat)
        #expect(TabooRules.check("guess: fly") == .invalidFormat)
    }

    @Test func wilsonMatchesSciPy() throws {
        let data = try Data(contentsOf: fixtures.appendingPathComponent("eval/wilson.json"))
        let cases = try JSONValue.parse(data).array!
        #expect(cases.count == 15)
        for c in cases {
            let p = Proportion(successes: c["k"]!.int!, trials: c["n"]!.int!)
            #expect(abs(p.low - c["low"]!.double!) < 1e-14, "k \(p.successes) n \(p.trials) low \(p.low)")
            #expect(abs(p.high - c["high"]!.double!) < 1e-14, "k \(p.successes) n \(p.trials) high \(p.high)")
        }
    }

    @Test func wilsonByHand() {
        // k = 5, n = 10, z = 1.959964: t = 1.384146, r = 0.5, delta = z/t*sqrt(0.025 + 0.0979982^2) = 0.263407
        let half = Proportion(successes: 5, trials: 10)
        #expect(abs(half.low - 0.236593) < 1e-6 && abs(half.high - 0.763407) < 1e-6)
        // The original's base model: 22/152 -> [0.0976, 0.2094]
        let base = Proportion(successes: 22, trials: 152)
        #expect(abs(base.rate - 0.144737) < 1e-6)
        #expect(abs(base.low - 0.097565) < 1e-6 && abs(base.high - 0.209423) < 1e-6)
        #expect(Proportion(successes: 0, trials: 0).low == 0 && Proportion(successes: 0, trials: 0).high == 1)
    }
}

/// Scoring of word-success records and their summary, on hand-computed cases.
@Suite struct ScoringTests {
    func example(_ completion: String, outcome: String?, experiment: String = "high_en", task: Int = 7) -> EvalExample {
        let meta = RowMeta(game: "taboo", experiment: experiment, taskID: task, playerName: "Player 2", gameRole: "WordGuesser",
                           model: "m", outcome: outcome)
        let row = PlaypenRow(messages: [Message(role: "user", content: "CLUE: x"), Message(role: "assistant", content: completion)], meta: meta)
        return EvalExample(rowId: .string("r"), index: 3, prompt: "USER: CLUE: x", completion: completion, row: row)
    }

    @Test func recordsScoreTargetAndRecordedGuess() throws {
        let suck = TargetTable.v2.instance(experiment: "high_en", taskID: 7)!
        #expect(suck.target == "suck")
        // success row: the recorded guess is the target
        let a = EvalRecords.words(example: example("GUESS: suck", outcome: "success"), target: suck,
                                  generation: " GUESS: Suck.\nUSER:", promptTokens: 5, newTokens: 6)
        #expect(a["pred_word"]?.string == "suck" && a["gold_word"]?.string == "suck")
        #expect(a["correct_target"]?.bool == true && a["correct_gold"]?.bool == true)
        // failure row: the recorded guess is wrong; the model finds the target
        let fly = TargetTable.v2.instance(experiment: "high_en", taskID: 2)!
        let b = EvalRecords.words(example: example("GUESS: Mosquito", outcome: "failure", task: 2), target: fly,
                                  generation: "GUESS: fly", promptTokens: 5, newTokens: 4)
        #expect(b["correct_target"]?.bool == true && b["correct_gold"]?.bool == false)
        // the model repeats the wrong recorded guess
        let c = EvalRecords.words(example: example("GUESS: Mosquito", outcome: "failure", task: 2), target: fly,
                                  generation: "GUESS: mosquito!", promptTokens: 5, newTokens: 4)
        #expect(c["correct_target"]?.bool == false && c["correct_gold"]?.bool == true)
        // no word at all: never correct, even against an empty gold
        let d = EvalRecords.words(example: example("GUESS: ...", outcome: nil, task: 2), target: fly,
                                  generation: "GUESS: ???", promptTokens: 5, newTokens: 4)
        #expect(d["pred_word"]?.string == "" && d["gold_word"]?.string == "")
        #expect(d["correct_target"]?.bool == false && d["correct_gold"]?.bool == false)

        let s = EvalSummary.words([a, b, c, d])
        #expect(s["rows"]?.int == 4 && s["empty_predictions"]?.int == 1)
        #expect(s["vs_target"]?["correct"]?.int == 2 && s["vs_target"]?["accuracy"]?.double == 0.5)
        #expect(s["vs_recorded_guess"]?["correct"]?.int == 2)
        #expect(s["by_recorded_outcome"]?["failure"]?["rows"]?.int == 2)
        #expect(s["by_recorded_outcome"]?["failure"]?["correct_target"]?.int == 1)
        #expect(s["by_recorded_outcome"]?["null"]?["rows"]?.int == 1)
        let ci = s["vs_target"]?["ci95_wilson"]?.array
        #expect(abs((ci?[0].double ?? 0) - 0.150039) < 1e-6 && abs((ci?[1].double ?? 0) - 0.849961) < 1e-6)
    }

    @Test func targetsFromInstancesFileEqualBuiltIn() throws {
        let path = sharedData.appendingPathComponent("taboo_instances_v2.0.json").path
        guard FileManager.default.fileExists(atPath: path) else {
            if inCI { Issue.record("\(path) missing") }
            return
        }
        let table = try TargetTable.load(path: path)
        #expect(table.instances.count == 60)
        for i in TabooInstance.v2 {
            #expect(table.instance(experiment: i.experiment, taskID: i.taskID)?.target == i.target)
        }
        let e = example("GUESS: x", outcome: nil, experiment: "nowhere_en", task: 3)
        #expect(throws: PlaypenError.self) { try table.target(for: e, file: "f.jsonl") }
    }
}
