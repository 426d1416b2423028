import Foundation
import CSHA256
import PlaypenIO
import Testing
import PlaypenData

/// Tests/Fixtures/data/<name>
func dataFixture(_ name: String) -> URL {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/data/\(name)")
}

func fixtureLines(_ name: String) throws -> [String] {
    let text = try String(contentsOf: dataFixture(name), encoding: .utf8)
    return text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
}

/// The real guesser row of playpen-data.md section 1.2 (high_en/7, target "suck").
let guesserSuck = """
{"messages": [{"role": "user", "content": "You are playing a collaborative word guessing game in which you have to guess a target word that another player describes to you.\\n\\nYou can make one guess at each trial. You win when you guess the target word. You lose when you cannot guess it in 3 tries.\\n\\nAfter each trial you will get a new hint from the other player which starts with CLUE.\\n\\nMake your guesses by just saying the word using the following form: GUESS: <a word>\\n\\nLet us start.\\n\\n\\nCLUE: It's something you might do to a straw."}, {"role": "assistant", "content": "GUESS: bend"}, {"role": "user", "content": "CLUE: It's a common action when drinking."}, {"role": "assistant", "content": "GUESS: suck"}], "meta": {"game": "taboo", "experiment": "high_en", "task_id": 7, "player_name": "Player 2", "game_role": "WordGuesser", "model": "Meta-Llama-3.1-8B-Instruct", "outcome": "success"}}
"""

@Suite struct PlaypenRowTests {
    @Test func decodesTheDocumentedGuesserRow() throws {
        let row = try PlaypenRow.decode(guesserSuck)
        #expect(row.messages.count == 4)
        #expect(row.messages[3] == Message(role: "assistant", content: "GUESS: suck"))
        #expect(row.meta == RowMeta(game: "taboo", experiment: "high_en", taskID: 7, playerName: "Player 2",
                                    gameRole: "WordGuesser", model: "Meta-Llama-3.1-8B-Instruct", outcome: "success"))
    }

    /// original-pipeline.md section 2, the worked example.
    @Test func flattensLikeTheOriginalPipeline() throws {
        let pc = try PlaypenRow.decode(guesserSuck).promptCompletion()
        #expect(pc.prompt.hasPrefix("USER: You are playing a collaborative word guessing game"))
        #expect(pc.prompt.hasSuffix("Let us start.\n\n\nCLUE: It's something you might do to a straw.\n\nASSISTANT: GUESS: bend\n\nUSER: CLUE: It's a common action when drinking."))
        #expect(pc.completion == "GUESS: suck")
    }

    /// Rows in the edge fixture (escapes, Python-only whitespace, odd roles, missing assistant,
    /// empty completion, reordered and extra keys) give byte-identical records to the Python
    /// reference (scripts/bench/filter_reference.py via scripts/reference/data_golden.py).
    @Test func edgeRowsMatchThePythonReference() throws {
        var options = FilterOptions()
        options.games = ["*"]
        options.roles = ["*"]
        options.dropOutcomes = ["none"]
        var filter = ExampleFilter(options: options)
        var produced: [String] = []
        for (i, line) in try fixtureLines("edge_rows.jsonl").enumerated() where !line.isEmpty {
            let row = try PlaypenRow.decode(line, location: "edge_rows.jsonl:\(i + 1)")
            if let record = filter.process(row) {
                var w = JSONBytesWriter()
                record.write(&w)
                produced.append(String(decoding: w.bytes, as: UTF8.self))
            }
        }
        let expected = try fixtureLines("edge_expected.jsonl").filter { !$0.isEmpty }
        #expect(produced.count == expected.count)
        for (p, e) in zip(produced, expected) { #expect(p == e) }
        var counts = FilterCounts()
        counts.read = 8; counts.kept = 5; counts.noAssistantMessage = 2; counts.emptyCompletion = 1
        #expect(filter.counts == counts)
    }

    @Test func historyTextMatchesThePythonReference() throws {
        let expected = try JSONSerialization.jsonObject(with: Data(contentsOf: dataFixture("edge_history.json"))) as! [String]
        let lines = try fixtureLines("edge_rows.jsonl").filter { !$0.isEmpty }
        #expect(lines.count == expected.count)
        for (line, text) in zip(lines, expected) {
            #expect(try PlaypenRow.decode(line).historyText() == text)
        }
        #expect(historyText(prompt: "USER: a ", completion: "GUESS: b\n") == "USER: a \n\nASSISTANT: GUESS: b")
        #expect(historyText(prompt: "", completion: " x ") == "x")
        #expect(historyText(prompt: "", completion: "") == "")
    }

    /// The row id depends on the content only: key order, spacing and escaping do not matter.
    @Test func rowIDIsAContentHash() throws {
        let a = try PlaypenRow.decode(#"{"messages":[{"role":"user","content":"caf\u00e9 \ud83d\ude00"},{"role":"assistant","content":"x"}],"meta":{"game":"g","experiment":"e","task_id":1,"player_name":null,"game_role":"r","model":null,"outcome":null}}"#)
        let b = try PlaypenRow.decode("{ \"meta\" : {\"task_id\": 1, \"game_role\": \"r\", \"experiment\": \"e\", \"game\": \"g\", \"other\": [1,2]},\n \"messages\": [{\"content\": \"café 😀\", \"role\": \"user\"}, {\"content\": \"x\", \"role\": \"assistant\", \"n\": 1}], \"x\": {}}")
        #expect(a == b)
        #expect(a.rowID() == b.rowID())
        // Python: hashlib.sha256(json.dumps({"messages": [...], "meta": {...}}, ensure_ascii=False,
        //   sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]
        #expect(a.rowID() == "9982e20049ae9bfe")
        var c = a
        c.messages[1].content = "y"
        #expect(c.rowID() != a.rowID())
    }

    @Test(arguments: [
        (#"{"messages": [}"#, "f.jsonl:3: invalid JSON at byte 15: expected a value, found '}'"),
        (#"{"messages": [], "meta": {"game": "taboo"}"#, "f.jsonl:3: invalid JSON at byte 43: expected ',' or '}', found end of line"),
        (#"{"messages": [], "meta": {}} x"#, "f.jsonl:3: invalid JSON at byte 30: unexpected 'x' after the end of the JSON value"),
        (#"{"messages": [{"role": "user", "content": "a\qb"}]}"#, "f.jsonl:3: invalid JSON at byte 45: invalid escape '\\q' in string"),
        (#"{"messages": [{"role": "user", "content": "abc"#, "f.jsonl:3: invalid JSON at byte 43: unterminated string"),
        (#"[1, 2]"#, #"f.jsonl:3: row is an array, expected an object with "messages" and "meta""#),
        (#"{"meta": {"game": "taboo", "experiment": "e", "task_id": 1, "game_role": "WordGuesser"}}"#, #"f.jsonl:3: "messages" is missing (expected an array of {role, content})"#),
        (#"{"messages": [], "meta": {"game": "taboo", "experiment": "e", "task_id": 1}}"#, #"f.jsonl:3: meta.game_role is missing (expected a string such as "WordGuesser")"#),
        (#"{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": 5}], "meta": {}}"#, "f.jsonl:3: messages[1].content is a number, expected a string"),
        (#"{"messages": [{"role": "user"}], "meta": {}}"#, "f.jsonl:3: messages[0].content is missing (expected a string)"),
        (#"{"messages": [null], "meta": {}}"#, "f.jsonl:3: messages[0] is null, expected an object with role and content"),
        (#"{"messages": [], "meta": {"game": "taboo", "experiment": "e", "task_id": 1.5, "game_role": "x"}}"#, "f.jsonl:3: meta.task_id is not an integer"),
        (#"{"messages": [], "meta": {"game": "taboo", "experiment": "e", "task_id": "1", "game_role": "x"}}"#, "f.jsonl:3: meta.task_id is a string, expected a number"),
        (#"{"messages": [], "meta": {"game": "taboo", "experiment": "e", "task_id": 1, "game_role": "x", "outcome": 3}}"#, "f.jsonl:3: meta.outcome is a number, expected a string or null"),
    ])
    func badRowsGetOneLineErrors(_ input: String, _ message: String) throws {
        do {
            _ = try PlaypenRow.decode(input, location: "f.jsonl:3")
            Issue.record("decoded without error: \(input)")
        } catch let error as PlaypenError {
            #expect(error.message == message)
            #expect(!error.message.contains("\n"))
        }
    }

    @Test func pythonStripMatchesStrIsspace() {
        // str.isspace() over the whole code space (python3 -c 'print([hex(c) for c in range(0x110000) if chr(c).isspace()])')
        let python: Set<UInt32> = [0x9, 0xa, 0xb, 0xc, 0xd, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x85, 0xa0, 0x1680,
                                   0x2000, 0x2001, 0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009,
                                   0x200a, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000]
        var mine = Set<UInt32>()
        for c in UInt32(0)..<0x110000 where isPythonWhitespace(c) { mine.insert(c) }
        #expect(mine == python)
        #expect(pythonStrip("\u{3000} a b \u{85}\u{2029}") == "a b")
        #expect(pythonStrip(" \t ") == "")
        #expect(pythonStrip("é") == "é")
    }
}

@Suite struct RowHashTests {
    /// Against Python's hashlib.sha256 (values below), across the block and padding boundaries.
    @Test func sha256MatchesHashlib() {
        // python3 -c 'import hashlib; [print(n, hashlib.sha256(bytes(i*7%251 for i in range(n))).hexdigest()) for n in (0,1,55,56,63,64,65,119,120,1000)]'
        let expected: [(Int, String)] = [
            (0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
            (1, "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
            (55, "8af594de0e003fdee5c8bb088216c824349b4137070f559574f4a4bddd27b714"),
            (56, "db81bc2bfd43620591df192139062da77d4c376f1888ea3d2190bd07c8d901f9"),
            (63, "bd535b38bf0d0d1a09d370b7e34b2696cea3767801a45d5611a4aaa6954e8527"),
            (64, "292be91abe8c0909fe3d26575af5755eee74d23816dc68c3ba41765136967654"),
            (65, "ba65aedf7884642499a59ae124894611d986cf429e69f569488048af3a99e25a"),
            (119, "d367ab298e74477421127b0b448667c37c006c636f5738f081c39388756e5fad"),
            (120, "be7beb9c82089eb08da8fe6eb30c13b9d56869014e228a8c3eb0fdfe832efab2"),
            (1000, "59425e4412e296fc74736673ce067027f384203f59c0d2c3e6be7b13347b3ffc"),
        ]
        for portable in [false, true] {
            let hasSHANI = csha256_force_portable(portable ? 1 : 0)
            if !portable { print("SHA-NI available: \(hasSHANI != 0)") }
            for (n, hex) in expected {
                let bytes = (0..<n).map { UInt8($0 * 7 % 251) }
                #expect(sha256Hex(bytes) == hex, "length \(n), portable \(portable)")
            }
        }
        _ = csha256_force_portable(0)
    }
}

extension RowHashTests {
    /// The streamed file hash (PlaypenIO's SHA256, checked against sha256sum) agrees with the
    /// one-shot hash that row ids use.
    @Test func fileHashMatchesPlaypenIO() throws {
        let path = dataFixture("taboo_real_golden.json").path
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        #expect(try sha256Hex(bytes) == SHA256.hash(path: path))
    }
}
