import Foundation
import Testing
@testable import PlaypenIO

let sharedData = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("shared/data").path

@Suite struct JSONLinesTests {
    /// Python's json module re-serializes every real row; ours must agree byte for byte, in
    /// Python's default style (ensure_ascii, ", " separators) and in compact UTF-8 with sorted keys.
    @Test func agreesWithPythonJsonOnTheRealRows() throws {
        let path = sharedData + "/taboo_real.jsonl.zst"
        guard FileManager.default.fileExists(atPath: path) else {
            if ProcessInfo.processInfo.environment["CI"] != nil { Issue.record("missing \(path)") }
            return
        }
        let script = """
            import json, sys, zstandard
            """
        _ = script
        // zstandard is not on the system python; decompress with the zstd tool instead.
        let (status, out, err) = try runProcess(["bash", "-c", """
            zstd -dc '\(path)' | python3 -c '
            import json, sys
            for line in sys.stdin:
                o = json.loads(line)
                print(json.dumps(o))
                print(json.dumps(o, ensure_ascii=False, separators=(",", ":"), sort_keys=True))
            '
            """])
        #expect(status == 0, "\(err)")
        let expected = String(decoding: out, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        let reader = try JSONLinesReader(path: path)
        var k = 0
        while let value = try reader.next() {
            #expect(value.serialized(options: JSONWriteOptions(asciiOnly: true, spaced: true)) == expected[2 * k])
            #expect(value.serialized(options: JSONWriteOptions(sortedKeys: true)) == expected[2 * k + 1])
            k += 1
        }
        #expect(k == 452)
        #expect(reader.lineNumber == 452)
    }

    @Test func escapesNumbersAndUnicodeMatchPython() throws {
        let cases = [
            #"{"a": "tab\there \"q\" back\\slash / \u00e9 \ud83d\ude00 \u0001 \u2028", "n": [0, -7, 12345678901234, 1.5, -0.25, 1e-05, 2.5e+20, true, false, null], "e": {}, "l": []}"#,
            #"  ["\u00fc", "\ud83c\udf89", "x\u007fy", 9223372036854775807, -9223372036854775808, 123.0]  "#,
        ]
        for text in cases {
            let (status, out, err) = try runProcess(["python3", "-c", "import json,sys; print(json.dumps(json.loads(sys.stdin.read())))"], stdin: Data(text.utf8))
            #expect(status == 0, "\(err)")
            let python = String(decoding: out, as: UTF8.self).trimmingCharacters(in: .newlines)
            let value = try JSONValue.parse(text)
            #expect(value.serialized(options: JSONWriteOptions(asciiOnly: true, spaced: true)) == python)
            // And our compact UTF-8 form parses back to the same value.
            #expect(try JSONValue.parse(value.serialized()) == value)
        }
        let v = try JSONValue.parse(#"{"meta": {"task_id": 3, "x": 2.0}, "m": [{"role": "user"}]}"#)
        #expect(v["meta"]?["task_id"]?.int == 3)
        #expect(v["meta"]?["x"]?.int == 2)
        #expect(v["m"]?[0]?["role"]?.string == "user")
        #expect(v["m"]?[1] == nil)
        #expect(v["nope"] == nil)
    }

    @Test func rejectsMalformedTextWithPosition() {
        let bad = ["", "{", "{\"a\" 1}", "[1,]", "{\"a\":1,}", "\"abc", "tru", "01x", "-", "1.", "1e", "[1] 2",
                   "\"a\u{01}b\"", "\"\\x\"", "\"\\u12G4\"", "{1:2}", String(repeating: "[", count: 600)]
        for text in bad {
            #expect(throws: JSONSyntaxError.self, "\(text)") { try JSONValue.parse(text) }
        }
        var invalidUTF8 = Data("\"a".utf8)
        invalidUTF8.append(contentsOf: [0xC3, 0x28, 0x22])
        #expect(throws: JSONSyntaxError.self) { try JSONValue.parse(invalidUTF8) }
        do {
            _ = try JSONValue.parse("{\"a\": [1, 2 3]}")
        } catch {
            #expect(error.offset == 12)
            #expect(error.description.contains("byte 13"))
        }
    }

    @Test func malformedLineNamesFileAndLine() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        for name in ["bad.jsonl", "bad.jsonl.zst"] {
            let out = try OutputFile(path: dir.file(name))
            try out.write("{\"a\": 1}\n\n{\"a\": 2}\r\n{\"a\": 3,}\n{\"a\": 4}\n")
            try out.commit()
            let reader = try JSONLinesReader(path: dir.file(name))
            #expect(try reader.next()?["a"]?.int == 1)
            #expect(try reader.next()?["a"]?.int == 2)
            #expect(reader.lineNumber == 3)
            expectPlaypenError([dir.file(name) + ":4:", "invalid JSON", "expected a string key"]) { _ = try reader.next() }
        }
    }

    @Test func longLinesAndNoTrailingNewlineWithATinyBuffer() throws {
        let long = String(repeating: "é", count: 10_000)
        let text = "{\"s\": \"\(long)\"}\n[1]\n\n   \n\"last\""
        let reader = JSONLinesReader(source: MemorySource(Array(text.utf8)), bufferSize: 64)
        #expect(try reader.next()?["s"]?.string == long)
        #expect(try reader.next() == [1])
        #expect(try reader.next() == "last")
        #expect(reader.lineNumber == 5)
        #expect(try reader.next() == nil)
    }

    /// Chunks hand out exactly the lines (and line numbers) that `nextLine` does: blank lines
    /// skipped but counted, CR LF stripped, a line longer than the buffer whole, the last line
    /// without a newline; and a reused chunk never shows lines of the previous call.
    @Test(arguments: [16, 64, 1 << 20])
    func chunksHoldTheLinesNextLineReads(bufferSize: Int) throws {
        var text = ""
        for i in 0..<300 {
            switch i % 7 {
            case 0: text += "\n"
            case 1: text += "  \t \r\n"
            case 2: text += "{\"k\": \"\(String(repeating: "x", count: 3 * i))\"}\r\n"
            default: text += "[\(i)]\n"
            }
        }
        text += "\"last\""
        let bytes = Array(text.utf8)
        var expected: [(String, Int)] = []
        let lineReader = JSONLinesReader(source: MemorySource(bytes), bufferSize: bufferSize)
        while let line = try lineReader.nextLine() {
            expected.append((String(decoding: line, as: UTF8.self), lineReader.lineNumber))
        }
        #expect(expected.count == 300 - 2 * 43 + 1)
        #expect(expected.last! == ("\"last\"", 301))

        let chunkReader = JSONLinesReader(source: MemorySource(bytes), bufferSize: bufferSize)
        let chunk = LineChunk()
        var got: [(String, Int)] = []
        var chunks = 0
        while try chunkReader.nextChunk(into: chunk) {
            #expect(chunk.count > 0)
            for i in 0..<chunk.count {
                got.append((String(decoding: chunk.line(i), as: UTF8.self), chunk.lineNumbers[i]))
            }
            chunks += 1
        }
        #expect(chunk.count == 0)
        #expect(got.count == expected.count)
        for (a, b) in zip(got, expected) { #expect(a == b) }
        if bufferSize < 1000 { #expect(chunks > 10) } else { #expect(chunks == 1) }
    }

    @Test func chunksOfOnlyBlankLinesOrNothing() throws {
        for text in ["", "\n\n  \n", "\r\n"] {
            let reader = JSONLinesReader(source: MemorySource(Array(text.utf8)), bufferSize: 16)
            #expect(try reader.nextChunk(into: LineChunk()) == false)
        }
    }

    @Test func writerRoundTripsAndDecodableReading() throws {
        struct Row: Codable, Equatable { var id: String; var n: Int }
        let dir = try TempDir()
        defer { dir.cleanup() }
        let writer = try JSONLinesWriter(path: dir.file("out.jsonl.zst"))
        try writer.write(["id": "a", "n": 1])
        try writer.write(encoding: Row(id: "b/c", n: 2))
        #expect(writer.count == 2)
        #expect(!FileManager.default.fileExists(atPath: dir.file("out.jsonl.zst")))
        try writer.commit()
        let (_, plain, _) = try runProcess(["zstd", "-dc", dir.file("out.jsonl.zst")])
        #expect(String(decoding: plain, as: UTF8.self) == "{\"id\":\"a\",\"n\":1}\n{\"id\":\"b/c\",\"n\":2}\n")
        let reader = try JSONLinesReader(path: dir.file("out.jsonl.zst"))
        #expect(try reader.next(Row.self) == Row(id: "a", n: 1))
        #expect(try reader.next(Row.self) == Row(id: "b/c", n: 2))
        #expect(try reader.next(Row.self) == nil)

        try Data("{\"id\": \"x\"}\n".utf8).write(to: URL(fileURLWithPath: dir.file("missing.jsonl")))
        expectPlaypenError([dir.file("missing.jsonl") + ":1:", "missing key \"n\""]) {
            _ = try JSONLinesReader(path: dir.file("missing.jsonl")).next(Row.self)
        }
    }
}
