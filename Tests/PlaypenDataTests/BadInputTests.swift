import Foundation
import PlaypenIO
import Testing
import PlaypenData

/// One valid guesser row.
let goodRow = #"{"messages": [{"role": "user", "content": "CLUE: x"}, {"role": "assistant", "content": "GUESS: y"}], "meta": {"game": "taboo", "experiment": "high_en", "task_id": 1, "player_name": "Player 2", "game_role": "WordGuesser", "model": "m", "outcome": "success"}}"#

func zstdCompress(_ text: String, at path: String) throws {
    let sink = try OutputFile(path: path, compressed: true)
    try sink.write(text)
    try sink.commit()
}

/// pp-filter's bad-input contract at the library level: one-line error naming the file (and the
/// line), and nothing under the output name.
@Suite struct BadInputTests {
    func expectFailure(input: (URL) throws -> String, options: FilterOptions = FilterOptions(),
                       output: ((URL) -> String)? = nil, message: String) throws {
        try expectFailure(input: { [try input($0)] }, options: options, output: output, message: message)
    }

    func expectFailure(input: (URL) throws -> [String], options: FilterOptions = FilterOptions(),
                       output: ((URL) -> String)? = nil, message: String, ignoring inputs: [String] = []) throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let inputPaths = try input(dir)
        let out = output?(dir) ?? dir.appendingPathComponent("out.jsonl.zst").path
        do {
            try FilterRun.run(inputs: inputPaths, output: out, options: options, threads: 2)
            Issue.record("no error for: \(message)")
        } catch let error as PlaypenError {
            #expect(error.message.contains(message), "\(error.message)")
            #expect(!error.message.contains("\n"))
        }
        #expect(!FileManager.default.fileExists(atPath: out))
        // No temporary leftovers either.
        let left = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0 != "in.jsonl" && $0 != "in.jsonl.zst" && !inputs.contains($0) }
        #expect(left.isEmpty, "\(left)")
    }

    func write(_ text: String, _ dir: URL, _ name: String = "in.jsonl") throws -> String {
        let path = dir.appendingPathComponent(name).path
        try text.write(toFile: path, atomically: false, encoding: .utf8)
        return path
    }

    @Test func malformedJSONNamesFileAndLine() throws {
        try expectFailure(input: { try write(goodRow + "\n\n" + goodRow + "\n{\"messages\": [,]}\n", $0) },
                          message: "in.jsonl:4: invalid JSON at byte 15: expected a value, found ','")
    }

    @Test func truncatedZstd() throws {
        try expectFailure(input: { dir in
            let path = dir.appendingPathComponent("in.jsonl.zst").path
            try zstdCompress(String(repeating: goodRow + "\n", count: 200), at: path)
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            try data.prefix(data.count / 2).write(to: URL(fileURLWithPath: path))
            return path
        }, message: "in.jsonl.zst")
    }

    /// Many chunks of good rows with bad lines deep inside: the first bad line in input order is
    /// the one reported, whichever worker met which first, and a bad line in the second input
    /// names that file.
    @Test func firstBadLineOfALongInputIsReported() throws {
        let good = Array(repeating: goodRow, count: 12_000)
        var lines = good
        lines[7_999] = "{\"messages\": [,]}"
        lines[10_999] = "{\"messages\": 5}"
        try expectFailure(input: { try write(lines.joined(separator: "\n") + "\n", $0) },
                          message: "in.jsonl:8000: invalid JSON at byte 15: expected a value, found ','")
        try expectFailure(input: { dir in
            let first = try write(good.joined(separator: "\n") + "\n", dir, "in.jsonl")
            let second = dir.appendingPathComponent("second.jsonl").path
            var bad = good
            bad[6_000] = "{\"messages\": 5, \"meta\": {}}"
            try (bad.joined(separator: "\n") + "\n").write(toFile: second, atomically: false, encoding: .utf8)
            return [first, second]
        }, message: "second.jsonl:6001: messages is a number, expected an array", ignoring: ["second.jsonl"])
    }

    /// A truncated zstd input of many chunks: the rows before the cut are read, then the
    /// truncation is reported and nothing is written.
    @Test func truncatedLongZstd() throws {
        try expectFailure(input: { dir in
            let path = dir.appendingPathComponent("in.jsonl.zst").path
            try zstdCompress(String(repeating: goodRow + "\n", count: 40_000), at: path)
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            try data.prefix(data.count * 3 / 4).write(to: URL(fileURLWithPath: path))
            return path
        }, message: "in.jsonl.zst: truncated zstd stream: the input ends inside a frame")
    }

    @Test func missingGameRole() throws {
        try expectFailure(input: { try write(goodRow + "\n" + goodRow.replacingOccurrences(of: #", "game_role": "WordGuesser""#, with: "") + "\n", $0) },
                          message: "in.jsonl:2: meta.game_role is missing")
    }

    @Test func nonStringContent() throws {
        try expectFailure(input: { try write(goodRow.replacingOccurrences(of: #""GUESS: y""#, with: "[1]") + "\n", $0) },
                          message: "in.jsonl:1: messages[1].content is an array, expected a string")
    }

    @Test func emptyInput() throws {
        try expectFailure(input: { try write("", $0) }, message: "in.jsonl: empty input: no rows to filter")
        try expectFailure(input: { try write("\n  \n", $0) }, message: "empty input")
    }

    @Test func unwritableOutput() throws {
        try expectFailure(input: { try write(goodRow + "\n", $0) },
                          output: { $0.appendingPathComponent("no/such/dir/out.jsonl").path },
                          message: "no/such/dir/out.jsonl: cannot write")
    }

    @Test func filterThatEmptiesTheOutputIsNamed() throws {
        var options = FilterOptions()
        options.games = ["wordle"]
        try expectFailure(input: { try write(goodRow + "\n", $0) }, options: options,
                          message: "no rows kept: --game wordle matched none of the 1 rows (games seen: taboo)")
        options = FilterOptions()
        options.dropOutcomes = ["success"]
        try expectFailure(input: { try write(goodRow + "\n", $0) }, options: options,
                          message: "--drop-outcome success dropped all 1 rows")
        options = FilterOptions()
        options.split = .hashed(valFraction: 1, seed: 0)
        options.select = "train"
        try expectFailure(input: { try write(goodRow + "\n", $0) }, options: options,
                          message: "--select train matched no row; all 1 remaining rows went to split validation")
    }

    @Test func missingInputFile() throws {
        try expectFailure(input: { $0.appendingPathComponent("absent.jsonl").path }, message: "absent.jsonl")
    }
}

/// The executable: exit status 1, exactly one line on stderr, no output file.
@Suite struct PPFilterProcessTests {
    static func executable() -> URL? {
        let candidates = [
            URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent(),
            Bundle.main.bundleURL.deletingLastPathComponent(),
            Bundle.main.bundleURL,
        ]
        for dir in candidates {
            let url = dir.appendingPathComponent("pp-filter")
            if FileManager.default.isExecutableFile(atPath: url.path) { return url }
        }
        return nil
    }

    func run(_ arguments: [String], stdin: String? = nil) throws -> (Int32, String, Data) {
        guard let exe = PPFilterProcessTests.executable() else { throw PlaypenError("pp-filter executable not found next to the tests") }
        let process = Process()
        process.executableURL = exe
        process.arguments = arguments
        let err = Pipe(), out = Pipe(), input = Pipe()
        process.standardError = err
        process.standardOutput = out
        process.standardInput = input
        try process.run()
        if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
        try input.fileHandleForWriting.close()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: errData, as: UTF8.self), outData)
    }

    @Test func badLineFromStdin() throws {
        guard PPFilterProcessTests.executable() != nil else {
            if ProcessInfo.processInfo.environment["CI"] != nil { Issue.record("pp-filter not built") }
            return
        }
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("out.jsonl.zst").path
        let (status, stderr, _) = try run(["-o", out], stdin: goodRow + "\n{\"messages\": 5, \"meta\": {}}\n")
        #expect(status == 1)
        #expect(stderr == "error: <stdin>:2: messages is a number, expected an array\n")
        #expect(!FileManager.default.fileExists(atPath: out))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
    }

    /// A write that fails halfway (stdout on a full device) stops the reader and the workers:
    /// the process ends with the write error, whatever stage was busy.
    @Test func failedWriteStopsThePipeline() throws {
        guard let exe = PPFilterProcessTests.executable(), FileManager.default.fileExists(atPath: "/dev/full") else { return }
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let rows = dir.appendingPathComponent("rows.jsonl.zst").path
        try SynthRun.run(rows: 8000, seed: 2, output: rows)
        let process = Process()
        process.executableURL = exe
        process.arguments = [rows, "--threads", "2", "--quiet"]
        let err = Pipe()
        process.standardError = err
        process.standardOutput = FileHandle(forWritingAtPath: "/dev/full")
        try process.run()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 1)
        #expect(String(decoding: errData, as: UTF8.self) == "error: <stdout>: cannot write: No space left on device\n")
    }

    @Test func goodRowsToStdout() throws {
        guard PPFilterProcessTests.executable() != nil else { return }
        let (status, stderr, stdout) = try run(["--quiet", "--split", "validation"], stdin: goodRow + "\n")
        #expect(status == 0)
        #expect(stderr == "")
        let line = String(decoding: stdout, as: UTF8.self)
        #expect(line.hasPrefix(#"{"row_id":""#))
        #expect(line.contains(#","index":0,"split":"validation","prompt":"USER: CLUE: x","completion":"GUESS: y","#))
        #expect(line.hasSuffix("}\n"))
    }
}
