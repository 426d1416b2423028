import Foundation
import PlaypenIO
import Testing
import PlaypenData

/// A fresh temporary directory for one test.
func temporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("pp-data-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

func readLines(_ path: String) throws -> [String] {
    let reader = try JSONLinesReader(path: path)
    var lines: [String] = []
    while let line = try reader.nextLine() { lines.append(String(decoding: line, as: UTF8.self)) }
    return lines
}

func fileSHA256(_ path: String) throws -> String {
    let reader = try InputFile(path: path)  // decompresses .zst
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let n = try chunk.withUnsafeMutableBytes { try reader.read(into: $0) }
        if n == 0 { break }
        bytes.append(contentsOf: chunk[0..<n])
    }
    return sha256Hex(bytes)
}

/// Goldens from scripts/reference/data_golden.py (the Python reference filter).
struct RealGolden {
    let rows: [[String: Any]]
    let outputs: [String: [String: Any]]

    init() throws {
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: dataFixture("taboo_real_golden.json"))) as! [String: Any]
        rows = json["rows"] as! [[String: Any]]
        outputs = json["outputs"] as! [String: [String: Any]]
    }

    func counts(_ name: String) -> FilterCounts {
        let c = outputs[name]!["counts"] as! [String: Int]
        var counts = FilterCounts()
        counts.read = c["read"]!; counts.kept = c["kept"]!; counts.wrongGame = c["wrong_game"]!
        counts.wrongRole = c["wrong_role"]!; counts.droppedOutcome = c["dropped_outcome"]!
        counts.noAssistantMessage = c["no_assistant_message"]!; counts.otherSplit = c["other_split"]!
        counts.emptyCompletion = c["empty_completion"]!
        return counts
    }

    func sha(_ name: String) -> String { outputs[name]!["sha256"] as! String }
}

@Suite struct FilterRunTests {
    /// Hand check: the real sample has WordGuesser 132 success / 53 failure / 32 aborted, so the
    /// default filter keeps 185 rows; the output is byte-identical to the Python reference's,
    /// with any thread count.
    @Test(arguments: [1, 2, 3])
    func realDataDefaultFilter(threads: Int) throws {
        guard let real = sharedFile("taboo_real.jsonl.zst") else { return }
        let golden = try RealGolden()
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("train.jsonl.zst").path
        let counts = try FilterRun.run(inputs: [real.path], output: out, options: FilterOptions(), threads: threads)
        var expected = FilterCounts()
        expected.read = 452; expected.kept = 185; expected.wrongRole = 235; expected.droppedOutcome = 32
        #expect(counts == expected)
        #expect(counts == golden.counts("default"))
        #expect(try fileSHA256(out) == golden.sha("default"))
        let records = try readLines(out).map { try PlaypenRow.decode($0) }
        #expect(records.filter { $0.meta.outcome == "success" }.count == 132)
        #expect(records.filter { $0.meta.outcome == "failure" }.count == 53)
    }

    /// Inputs of many chunks through the threaded pipeline: the compressed output file is the
    /// same bytes for 1, 2 and 3 workers (compression runs on one thread, in input order), and
    /// two inputs read in order give the same records as their concatenation.
    @Test func compressedOutputIsTheSameForAnyThreadCount() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let first = dir.appendingPathComponent("a.jsonl.zst").path
        let second = dir.appendingPathComponent("b.jsonl").path
        try SynthRun.run(rows: 4000, seed: 3, output: first)
        try SynthRun.run(rows: 2500, seed: 5, output: second)
        var files: [Data] = []
        var allCounts: [FilterCounts] = []
        for threads in [1, 2, 3] {
            let out = dir.appendingPathComponent("out-\(threads).jsonl.zst").path
            allCounts.append(try FilterRun.run(inputs: [first, second], output: out, options: FilterOptions(), threads: threads))
            files.append(try Data(contentsOf: URL(fileURLWithPath: out)))
        }
        #expect(allCounts[0].read == 6500)
        #expect(allCounts[0].kept > 2000)
        #expect(allCounts[1] == allCounts[0] && allCounts[2] == allCounts[0])
        #expect(files[1] == files[0] && files[2] == files[0])
        // More than a few chunks of the reader's 1 MiB buffer went through.
        let plain = try readLines(first) + readLines(second)
        #expect(plain.reduce(0) { $0 + $1.utf8.count } > 6 << 20)
        let joined = dir.appendingPathComponent("joined.jsonl").path
        try (plain.joined(separator: "\n") + "\n").write(toFile: joined, atomically: false, encoding: .utf8)
        let out = dir.appendingPathComponent("joined-out.jsonl.zst").path
        try FilterRun.run(inputs: [joined], output: out, options: FilterOptions(), threads: 2)
        #expect(try Data(contentsOf: URL(fileURLWithPath: out)) == files[0])
    }

    /// --val-fraction 0.2: the two selections partition the kept rows, no task is in both, and
    /// each file matches the reference byte for byte.
    @Test func realDataTaskSplit() throws {
        guard let real = sharedFile("taboo_real.jsonl.zst") else { return }
        let golden = try RealGolden()
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var tasks: [String: Set<String>] = [:]
        var ids: [String: [String]] = [:]
        for (split, name) in [("train", "val0.2_train"), ("validation", "val0.2_validation")] {
            var options = FilterOptions()
            options.split = .hashed(valFraction: 0.2, seed: 0)
            options.select = split
            let out = dir.appendingPathComponent("\(split).jsonl").path
            let counts = try FilterRun.run(inputs: [real.path], output: out, options: options, threads: 2)
            #expect(counts == golden.counts(name))
            #expect(try fileSHA256(out) == golden.sha(name))
            for (i, line) in try readLines(out).enumerated() {
                let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
                #expect(object["split"] as? String == split)
                #expect(object["index"] as? Int == i)
                let meta = object["meta"] as! [String: Any]
                tasks[split, default: []].insert("\(meta["experiment"]!)/\(meta["task_id"]!)")
                ids[split, default: []].append(object["row_id"] as! String)
            }
        }
        #expect(tasks["train"]!.isDisjoint(with: tasks["validation"]!))
        #expect(ids["train"]!.count + ids["validation"]!.count == 185)
        #expect(Set(ids["train"]! + ids["validation"]!).count == 185)
    }

    /// Per real row: row_id, prompt, completion, history text and the task's split hash agree with
    /// the Python reference.
    @Test func realRowsMatchThePythonReference() throws {
        guard let real = sharedFile("taboo_real.jsonl.zst") else { return }
        let golden = try RealGolden()
        let reader = try JSONLinesReader(path: real.path)
        var i = 0
        while let line = try reader.nextLine() {
            let row = try PlaypenRow.decode(line, location: "\(reader.name):\(reader.lineNumber)")
            let g = golden.rows[i]
            let pc = row.promptCompletion()
            func h(_ s: String) -> String { String(sha256Hex(Array(s.utf8)).prefix(16)) }
            #expect(row.rowID() == g["row_id"] as! String)
            #expect(h(pc.prompt) == g["prompt"] as! String)
            #expect(h(pc.completion) == g["completion"] as! String)
            #expect(h(row.historyText()) == g["history"] as! String)
            let hash = UInt64(g["split_hash_seed0"] as! String, radix: 16)!
            #expect(SplitRule.taskUnit(seed: 0, meta: row.meta) == Double(hash) / 18446744073709551616.0)
            i += 1
        }
        #expect(i == 452 && golden.rows.count == 452)
    }

    /// Real output validates against schemas/example.schema.json.
    @Test func realOutputFollowsTheSchema() throws {
        guard let real = sharedFile("taboo_real.jsonl.zst") else { return }
        let schemaURL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("schemas/example.schema.json")
        let schema = try JSONSerialization.jsonObject(with: Data(contentsOf: schemaURL))
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("all.jsonl").path
        var options = FilterOptions()
        options.roles = ["*"]
        options.dropOutcomes = []
        options.split = .hashed(valFraction: 0.3, seed: 5)
        let counts = try FilterRun.run(inputs: [real.path], output: out, options: options)
        #expect(counts.kept == 452)
        let lines = try readLines(out)
        #expect(lines.count == 452)
        for (i, line) in lines.enumerated() {
            let record = try JSONSerialization.jsonObject(with: Data(line.utf8))
            let problems = SchemaSubset.validate(record, schema, path: "line \(i + 1)")
            #expect(problems.isEmpty, "\(problems.prefix(3))")
        }
        // The validator itself rejects what the schema forbids.
        var bad = try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as! [String: Any]
        bad["row_id"] = "XYZ"
        bad["extra"] = 1
        bad.removeValue(forKey: "completion")
        let problems = SchemaSubset.validate(bad, schema, path: "bad")
        #expect(problems.count == 3, "\(problems)")
    }

    /// Real describer prompts are the generator's, byte for byte (templates and instances agree
    /// with the real game); real guesser rows start with the guesser prompt.
    @Test func synthPromptsAreTheRealOnes() throws {
        guard let real = sharedFile("taboo_real.jsonl.zst") else { return }
        let reader = try JSONLinesReader(path: real.path)
        var describers = 0
        while let line = try reader.nextLine() {
            let row = try PlaypenRow.decode(line, location: "real")
            let instance = TabooInstance.v2.first { $0.experiment == row.meta.experiment && $0.taskID == row.meta.taskID }!
            if row.meta.gameRole == "WordDescriber" {
                #expect(row.messages[0].content == instance.describerPrompt)
                describers += 1
            } else {
                #expect(row.messages[0].content.hasPrefix(instance.guesserFirstMessage(clue: "")))
            }
        }
        #expect(describers == 235)
    }
}

/// The JSON Schema keywords schemas/example.schema.json uses: type (incl. lists), required,
/// properties, additionalProperties: false, items, pattern, minLength, minimum, minItems.
enum SchemaSubset {
    static func validate(_ value: Any, _ schema: Any, path: String) -> [String] {
        guard let schema = schema as? [String: Any] else { return [] }
        var problems: [String] = []
        if let type = schema["type"] {
            let types = (type as? [String]) ?? [type as! String]
            if !types.contains(where: { matches(value, $0) }) { return ["\(path): expected \(types)"] }
        }
        if let object = value as? [String: Any] {
            for key in schema["required"] as? [String] ?? [] where object[key] == nil {
                problems.append("\(path): missing \(key)")
            }
            let properties = schema["properties"] as? [String: Any] ?? [:]
            for (key, child) in object {
                if let sub = properties[key] {
                    problems += validate(child, sub, path: "\(path).\(key)")
                } else if schema["additionalProperties"] as? Bool == false {
                    problems.append("\(path): unexpected \(key)")
                }
            }
        }
        if let array = value as? [Any] {
            if let min = schema["minItems"] as? Int, array.count < min { problems.append("\(path): fewer than \(min) items") }
            if let items = schema["items"] {
                for (i, element) in array.enumerated() { problems += validate(element, items, path: "\(path)[\(i)]") }
            }
        }
        if let string = value as? String {
            if let min = schema["minLength"] as? Int, string.count < min { problems.append("\(path): shorter than \(min)") }
            if let pattern = schema["pattern"] as? String, string.range(of: pattern, options: .regularExpression) == nil {
                problems.append("\(path): does not match \(pattern)")
            }
        }
        if let minimum = schema["minimum"] as? Int, let n = value as? Int, n < minimum {
            problems.append("\(path): below \(minimum)")
        }
        return problems
    }

    static func matches(_ value: Any, _ type: String) -> Bool {
        switch type {
        case "object": return value is [String: Any]
        case "array": return value is [Any]
        case "string": return value is String
        case "null": return value is NSNull
        case "integer":
            guard let n = value as? NSNumber, !(value is String) else { return false }
            return n.doubleValue.rounded() == n.doubleValue
        default: return false
        }
    }
}

@Suite struct FastPathTests {
    /// The byte-level converter and the PlaypenRow path write the same bytes: on the edge rows
    /// (escapes, Python-only whitespace, odd roles), on rows with invalid UTF-8 (repaired to
    /// U+FFFD by the fallback), and on synthetic rows.
    @Test func fastAndStringPathsAgree() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var options = FilterOptions()
        options.games = ["*"]
        options.roles = ["*"]
        options.dropOutcomes = ["none"]
        // Edge rows: both paths equal the Python reference.
        for fast in [true, false] {
            let out = dir.appendingPathComponent("edge-\(fast).jsonl").path
            try FilterRun.run(inputs: [dataFixture("edge_rows.jsonl").path], output: out, options: options, threads: 2, fastPath: fast)
            #expect(try Data(contentsOf: URL(fileURLWithPath: out)) == Data(contentsOf: dataFixture("edge_expected.jsonl")))
        }
        // Invalid UTF-8 in a content: repaired to U+FFFD on both paths.
        var bytes = Array(goodRow.utf8)
        let at = bytes.firstIndex(of: UInt8(ascii: "y"))!
        bytes[at] = 0xFF
        let input = dir.appendingPathComponent("bad-utf8.jsonl")
        try Data(bytes + [0x0A]).write(to: input)
        var outputs: [Data] = []
        for fast in [true, false] {
            let out = dir.appendingPathComponent("utf8-\(fast).jsonl").path
            try FilterRun.run(inputs: [input.path], output: out, options: options, fastPath: fast)
            outputs.append(try Data(contentsOf: URL(fileURLWithPath: out)))
        }
        #expect(outputs[0] == outputs[1])
        #expect(String(decoding: outputs[0], as: UTF8.self).contains("\"completion\":\"GUESS: \u{FFFD}\""))
        // Synthetic rows, all roles and outcomes.
        let synth = dir.appendingPathComponent("synth.jsonl.zst").path
        try SynthRun.run(rows: 3000, seed: 11, output: synth)
        var hashes: [String] = []
        for fast in [true, false] {
            let out = dir.appendingPathComponent("synth-\(fast).jsonl").path
            try FilterRun.run(inputs: [synth], output: out, options: options, threads: 2, fastPath: fast)
            hashes.append(try fileSHA256(out))
        }
        #expect(hashes[0] == hashes[1])
    }
}

@Suite struct ExampleRecordReadTests {
    /// pp-filter output reads back into the records that were written.
    @Test func roundTrip() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var options = FilterOptions()
        options.games = ["*"]
        options.roles = ["*"]
        options.dropOutcomes = ["none"]
        let out = dir.appendingPathComponent("edge.jsonl.zst").path
        try FilterRun.run(inputs: [dataFixture("edge_rows.jsonl").path], output: out, options: options)
        let records = try ExampleRecord.readAll(path: out)
        var filter = ExampleFilter(options: options)
        var expected: [ExampleRecord] = []
        for line in try fixtureLines("edge_rows.jsonl") where !line.isEmpty {
            if let r = filter.process(try PlaypenRow.decode(line)) { expected.append(r) }
        }
        #expect(records.count == 5)
        #expect(records == expected)
        #expect(records[1].row.meta.outcome == nil && records[1].completion == "GUESS: y")
        let partial = Array(#"{"row_id": "x", "index": 0}"#.utf8)
        do {
            _ = try partial.withUnsafeBufferPointer { try ExampleRecord.decode($0, location: "e.jsonl:1") }
            Issue.record("decoded a partial record")
        } catch let error as PlaypenError {
            #expect(error.message == #"e.jsonl:1: "split" is missing (not a pp-filter example record?)"#)
        }
    }
}

extension FastPathTests {
    /// Random rows built from the characters that matter (quotes, backslashes, every kind of
    /// whitespace Python strips, control characters, non-ASCII, astral characters), written both
    /// canonically and with every escape JSON allows (`\/`, `\uXXXX` for everything non-ASCII,
    /// upper-case hex): the byte-level converter and the PlaypenRow path agree on every row.
    @Test func randomRowsAgree() throws {
        let alphabet: [String] = ["a", "Z", " ", "\n", "\t", "\r", "\u{0B}", "\u{0C}", "\u{1C}", "\u{1F}", "\u{01}",
                                  "\u{08}", "\"", "\\", "/", "é", "中", "😀", "\u{85}", "\u{A0}", "\u{3000}",
                                  "\u{2028}", "\u{202F}", "GUESS: ", "CLUE: "]
        let roles = ["user", "assistant", "assistant", "User", "system", " user", "ünïcode", "", "x1"]
        var rng = SplitMix64(seed: 99)
        func text() -> String {
            (0..<rng.below(12)).map { _ in rng.pick(alphabet) }.joined()
        }
        func loose(_ s: String) -> String {  // every escape JSON allows
            var out = "\""
            for u in s.utf16 {
                switch u {
                case 0x2F: out += "\\/"
                case 0x22: out += "\\\""
                case 0x5C: out += "\\\\"
                case 0x20..<0x7F: out += String(UnicodeScalar(UInt8(u)))
                default: out += "\\u" + String(format: "%04X", u)
                }
            }
            return out + "\""
        }
        var lines: [String] = []
        for i in 0..<400 {
            let n = 1 + rng.below(6)
            let messages = (0..<n).map { _ in Message(role: rng.pick(roles), content: text()) }
            let meta = RowMeta(game: "taboo", experiment: "e", taskID: i, playerName: nil, gameRole: "WordGuesser",
                               model: "m", outcome: "success")
            let row = PlaypenRow(messages: messages, meta: meta)
            if i % 2 == 0 {
                var w = JSONBytesWriter()
                row.write(&w)
                lines.append(String(decoding: w.bytes, as: UTF8.self))
            } else {
                let ms = messages.map { "{\"role\": \(loose($0.role)), \"content\": \(loose($0.content))}" }
                lines.append("{\"messages\": [\(ms.joined(separator: ", "))], \"meta\": {\"game\": \"taboo\", \"experiment\": \"e\", \"task_id\": \(i), \"game_role\": \"WordGuesser\", \"model\": \"m\", \"outcome\": \"success\"}}")
            }
        }
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = dir.appendingPathComponent("random.jsonl").path
        try (lines.joined(separator: "\n") + "\n").write(toFile: input, atomically: false, encoding: .utf8)
        var outputs: [[String]] = []
        for fast in [true, false] {
            let out = dir.appendingPathComponent("out-\(fast).jsonl").path
            let counts = try FilterRun.run(inputs: [input], output: out, options: FilterOptions(), threads: 2, fastPath: fast)
            #expect(counts.kept > 150)
            outputs.append(try readLines(out))
        }
        #expect(outputs[0].count == outputs[1].count)
        for (a, b) in zip(outputs[0], outputs[1]) { #expect(a == b) }
    }
}
