import Foundation
import PlaypenIO
import Testing
import PlaypenData

/// The shared data directory (`shared/data`): $PP_SHARED (the `shared` folder or its `data`), else
/// the first ancestor of this file that has `shared/data`. Nil when absent.
func sharedDataDirectory() -> URL? {
    let fm = FileManager.default
    if let env = ProcessInfo.processInfo.environment["PP_SHARED"], !env.isEmpty {
        let url = URL(fileURLWithPath: env)
        for candidate in [url.appendingPathComponent("data"), url]
        where fm.fileExists(atPath: candidate.appendingPathComponent("taboo_real.jsonl.zst").path) {
            return candidate
        }
    }
    var dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    while dir.path != "/" {
        let candidate = dir.appendingPathComponent("shared/data")
        if fm.fileExists(atPath: candidate.path) { return candidate }
        dir = dir.deletingLastPathComponent()
    }
    return nil
}

/// A file of the shared data, or nil (test skipped) outside CI; in CI its absence is a failure.
func sharedFile(_ name: String) -> URL? {
    guard let dir = sharedDataDirectory(),
          FileManager.default.fileExists(atPath: dir.appendingPathComponent(name).path)
    else {
        if ProcessInfo.processInfo.environment["CI"] != nil {
            Issue.record("shared/data/\(name) not found (set PP_SHARED); CI needs it")
        } else {
            print("skipping: shared/data/\(name) not found (set PP_SHARED)")
        }
        return nil
    }
    return dir.appendingPathComponent(name)
}

func serialize(_ row: PlaypenRow) -> String {
    var w = JSONBytesWriter()
    row.write(&w)
    return String(decoding: w.bytes, as: UTF8.self)
}

@Suite struct TabooSynthTests {
    /// The embedded instances and templates are those of taboo_instances_v2.0.json.
    @Test func instancesMatchTheSharedFile() throws {
        guard let url = sharedFile("taboo_instances_v2.0.json") else { return }
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        var expected: [TabooInstance] = []
        for e in json["experiments"] as! [[String: Any]] {
            #expect(e["describer_initial_prompt"] as? String == TabooInstance.describerTemplate)
            #expect(e["guesser_initial_prompt"] as? String == TabooInstance.guesserTemplate)
            for g in e["game_instances"] as! [[String: Any]] {
                expected.append(TabooInstance(experiment: e["name"] as! String, taskID: g["game_id"] as! Int,
                                              target: g["target_word"] as! String, related: g["related_word"] as! [String]))
            }
        }
        #expect(expected.count == 60)
        #expect(TabooInstance.v2 == expected)
    }

    /// The documented describer prompt of high_en/7 (playpen-data.md section 1.2), verbatim.
    @Test func describerPromptIsTheRealOne() {
        let suck = TabooInstance.v2.first { $0.experiment == "high_en" && $0.taskID == 7 }!
        #expect(suck.target == "suck")
        let prompt = suck.describerPrompt
        #expect(prompt.hasSuffix("needs to guess:\n\nsuck\n\nRelated words are:\n\n- blow\n- absorb\n- sucking\n\nImportant: You are under time pressure, give short descriptions that are to the point!"))
        #expect(prompt.contains("(ii) If the other player can guess the target word in 3 tries, you both win."))
        #expect(suck.guesserFirstMessage(clue: "CLUE: x").hasSuffix("Let us start.\n\n\nCLUE: x"))
    }

    @Test func sameSeedSameBytes() {
        func bytes(_ seed: UInt64) -> String {
            var synth = TabooSynth(seed: seed)
            var out = ""
            synth.generate(rows: 1500) { out += serialize($0) + "\n" }
            return out
        }
        let a = bytes(7)
        #expect(a == bytes(7))
        #expect(a != bytes(8))
        #expect(a.split(separator: "\n").count == 1500)
    }

    /// Generated rows decode through the same validation and follow the game's invariants
    /// (playpen-data.md section 2.4).
    @Test func rowsFollowTheGame() throws {
        var synth = TabooSynth(seed: 1)
        var episodes = [String: Int]()
        var rows = 0
        var lastDescriber: PlaypenRow?
        try synth.generate(rows: 4000) { row in
            let decoded = try PlaypenRow.decode(serialize(row), location: "synth:\(rows + 1)")
            #expect(decoded == row)
            rows += 1
            let m = row.messages
            #expect([2, 4, 6].contains(m.count))
            for (i, msg) in m.enumerated() { #expect(msg.role == (i % 2 == 0 ? "user" : "assistant")) }
            let instance = TabooInstance.v2.first { $0.experiment == row.meta.experiment && $0.taskID == row.meta.taskID }!
            if row.meta.gameRole == "WordDescriber" {
                episodes[row.meta.outcome!, default: 0] += 1
                #expect(row.meta.playerName == "Player 1")
                #expect(m[0].content == instance.describerPrompt)
                for k in stride(from: 2, to: m.count, by: 2) { #expect(m[k].content.hasPrefix("GUESS: ")) }
                lastDescriber = row
            } else {
                #expect(row.meta.gameRole == "WordGuesser" && row.meta.playerName == "Player 2")
                let d = lastDescriber!
                #expect(d.meta.taskID == row.meta.taskID && d.meta.outcome == row.meta.outcome)
                // The guesser saw the describer's clues verbatim, the describer the guesser's guesses.
                #expect(m[0].content == instance.guesserFirstMessage(clue: d.messages[1].content))
                for k in stride(from: 2, to: m.count, by: 2) { #expect(m[k].content == d.messages[k + 1].content) }
                for k in stride(from: 1, to: m.count - 1, by: 2) { #expect(m[k].content == d.messages[k + 1].content) }
                let last = m[m.count - 1].content
                if row.meta.outcome == "success" {
                    #expect(last.dropFirst(7).lowercased() == instance.target.lowercased())
                } else if row.meta.outcome == "failure" {
                    #expect(last.hasPrefix("GUESS: ") && last.dropFirst(7).lowercased() != instance.target.lowercased())
                }
            }
        }
        let total = Double(episodes.values.reduce(0, +))
        #expect(abs(Double(episodes["success"]!) / total - 0.56) < 0.04)
        #expect(abs(Double(episodes["failure"]!) / total - 0.30) < 0.04)
        #expect(abs(Double(episodes["aborted"]!) / total - 0.14) < 0.03)
    }

    /// The default filter keeps exactly the non-aborted WordGuesser rows.
    @Test func defaultFilterKeepsGuesserSuccessAndFailure() {
        var synth = TabooSynth(seed: 3)
        var filter = ExampleFilter(options: FilterOptions())
        var expected = 0, guesserAborted = 0, describers = 0
        synth.generate(rows: 3000) { row in
            if row.meta.gameRole == "WordGuesser" {
                if row.meta.outcome == "aborted" { guesserAborted += 1 } else { expected += 1 }
            } else {
                describers += 1
            }
            if let record = filter.process(row) {
                #expect(record.row.meta.gameRole == "WordGuesser")
                #expect(record.row.meta.outcome == "success" || record.row.meta.outcome == "failure")
                #expect(record.completion.hasPrefix("GUESS: "))
            }
        }
        #expect(filter.counts.kept == expected)
        #expect(filter.counts.wrongRole == describers)
        #expect(filter.counts.droppedOutcome == guesserAborted)
        #expect(filter.counts.read == 3000)
        #expect(expected > 1000)
    }
}
