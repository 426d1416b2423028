import Foundation
import PlaypenData
import PlaypenIO
import Testing
@testable import PlaypenEval

/// A guesser that answers from a script and records the prompts it saw.
final class ScriptedGuesser: GuesserModel {
    var replies: [String]
    var prompts: [String] = []
    init(_ replies: [String]) { self.replies = replies }
    func generate(prompt: String) throws -> String {
        prompts.append(prompt)
        return replies.isEmpty ? "" : replies.removeFirst()
    }
}

@Suite struct GameTests {
    let meta = RowMeta(game: "taboo", experiment: "high_en", taskID: 7, playerName: "Player 2", gameRole: "WordGuesser",
                       model: "m", outcome: "success")
    var turns: [DescriberTurn] {
        let first = TabooInstance.v2[7].guesserFirstMessage(clue: "CLUE: It's something you might do to a straw.")
        return [DescriberTurn(messages: [first]), DescriberTurn(messages: ["CLUE: It's a common action when drinking."]),
                DescriberTurn(messages: ["CLUE: Opposite of blow."])]
    }

    @Test func successInRoundTwo() throws {
        let model = ScriptedGuesser([" GUESS: bend\n\nUSER: CLUE: more", "GUESS: Suck!"])
        let e = try TabooReplay.play(turns: turns, target: "suck", meta: meta, model: model)
        #expect(e.end == .correctGuess && e.end.outcome == "success" && e.rounds.count == 2 && e.mainScore == 50)
        #expect(e.rounds[0].reply == "GUESS: bend" && e.rounds[0].guess == "bend" && e.rounds[1].guess == "suck")
        // The second prompt is the flattened history with the model's own first reply, as training prompts are.
        #expect(model.prompts[1] == "USER: " + turns[0].messages[0] + "\n\nASSISTANT: GUESS: bend\n\nUSER: CLUE: It's a common action when drinking.")
    }

    @Test func utteranceIsTheTurnBeforeTheNextMarker() {
        #expect(TabooReplay.utterance(fromGeneration: "\n\nASSISTANT: GUESS: Mouse\n\nUSER: CLUE: Small") == "GUESS: Mouse")
        #expect(TabooReplay.utterance(fromGeneration: "GUESS: suck<eos>\n\nASSISTANT: GUESS: x") == "GUESS: suck<eos>")
        // Other lines stay part of the turn, as the game master sees a chat model's whole answer.
        #expect(TabooReplay.utterance(fromGeneration: " GUESS: Fly\n\nIf this isn't correct, please provide the next clue.")
                == "GUESS: Fly\n\nIf this isn't correct, please provide the next clue.")
        #expect(TabooRules.check("GUESS: Fly\n\nIf this isn't correct") == .guess("fly\n\nif this isnt correct"))
    }

    @Test func formatViolationAborts() throws {
        let e = try TabooReplay.play(turns: turns, target: "suck", meta: meta, model: ScriptedGuesser(["GUESS: bend", "I think it is suck"]))
        #expect(e.end == .invalidFormat && e.end.outcome == "aborted" && e.rounds.count == 2 && e.mainScore == nil)
        #expect(e.rounds[1].guess == nil)
    }

    @Test func threeWrongGuessesFail() throws {
        let e = try TabooReplay.play(turns: turns, target: "suck", meta: meta, model: ScriptedGuesser(["GUESS: a", "GUESS: b", "GUESS: sucks"]))
        #expect(e.end == .maxTurns && e.end.outcome == "failure" && e.rounds.count == 3 && e.mainScore == 0)
    }

    @Test func runningOutOfRecordedCluesFails() throws {
        let e = try TabooReplay.play(turns: Array(turns.prefix(1)), target: "suck", meta: meta, model: ScriptedGuesser(["GUESS: straw"]))
        #expect(e.end == .outOfClues && e.end.outcome == "failure" && e.rounds.count == 1)
    }

    /// Replaying the real recorded episodes with a "model" that repeats the recorded guesses gives
    /// the recorded outcomes, and every prompt equals pp-filter's prompt of the row cut at that turn.
    @Test func replayingRecordedGuessesReproducesRecordedOutcomes() throws {
        guard let path = tabooDataPath() else {
            if inCI { Issue.record("taboo_real.jsonl.zst missing") }
            return
        }
        let rows = try guesserRows(path)
        #expect(rows.count == 185)
        var outcomes: [String: Int] = [:]
        for row in rows {
            let guesses = row.messages.filter { $0.role == "assistant" }.map(\.content)
            let model = ScriptedGuesser(guesses)
            let target = TargetTable.v2.instance(experiment: row.meta.experiment, taskID: row.meta.taskID)!.target
            let e = try TabooReplay.play(turns: row.describerTurns, target: target, meta: row.meta, model: model)
            #expect(e.end.outcome == row.meta.outcome, "\(row.meta.experiment)/\(row.meta.taskID) \(row.meta.model ?? ""): \(e.end) vs \(row.meta.outcome ?? "null")")
            #expect(e.rounds.count == guesses.count)
            for (k, prompt) in model.prompts.enumerated() {
                let assistant = row.messages.indices.filter { row.messages[$0].role == "assistant" }[k]
                let cut = PlaypenRow(messages: Array(row.messages[...assistant]), meta: row.meta)
                #expect(prompt == cut.promptCompletion().prompt)
            }
            outcomes[e.end.rawValue, default: 0] += 1
        }
        // Failures are three wrong guesses or a describer's taboo clue that never reached the guesser.
        #expect(outcomes["correct guess"] == 132)
        #expect((outcomes["max turns reached"] ?? 0) + (outcomes["out of recorded clues"] ?? 0) == 53)
    }

    @Test func gameSummaryCountsLikeClembench() {
        func rec(_ outcome: String, _ score: Double?, _ end: String) -> JSONValue {
            ["row_id": "x", "outcome": .string(outcome), "recorded_outcome": "success", "ended_by": .string(end),
             "main_score": score.map { .double($0) } ?? .null, "turns": []]
        }
        let s = EvalSummary.game([rec("success", 100, "correct guess"), rec("success", 50, "correct guess"),
                                  rec("failure", 0, "max turns reached"), rec("aborted", nil, "invalid format")])
        #expect(s["episodes"]?.int == 4 && s["success"]?.int == 2 && s["failure"]?.int == 1 && s["aborted"]?.int == 1)
        #expect(s["played"]?.double == 0.75 && s["quality_score"]?.double == 50 && s["clemscore"]?.double == 37.5)
        #expect(s["success_rate"]?["accuracy"]?.double == 0.5)
    }
}
