import Foundation
import Testing
import PlaypenIO

/// `pp-grad --shard i/N`: the shards' tensor streams, concatenated with `cat`, hold exactly the
/// rows of the unsharded run (same ids, same order, same bits), because shards are whole batches.
@Suite struct GradShardTests {
    @Test func threeShardsConcatenateToTheSingleRun() throws {
        let tool = try #require(executable("pp-grad"), "pp-grad is built beside the tests")
        let dir = try TempDir("pp-grad")
        // Pretokenized rows of the tiny-model training golden (the fixture model has no tokenizer).
        let golden = try JSONValue.parse(Data(contentsOf: fixtures.appendingPathComponent("train/tiny-train-golden.json")))
        let rows = try #require(golden["rows"]?.array)
        var lines = ""
        for row in rows {
            var bytes: [UInt8] = []
            row.write(to: &bytes, options: JSONWriteOptions())
            lines += String(decoding: bytes, as: UTF8.self) + "\n"
        }
        let examples = dir.file("rows.jsonl")
        try lines.write(toFile: examples, atomically: true, encoding: .utf8)
        let common = ["--model", fixtures.appendingPathComponent("tiny-gemma3").path,
                      "--adapter", fixtures.appendingPathComponent("train/tiny-lora-init").path,
                      "--examples", examples, "--projection-dim", "4", "--batch-size", "2", "--quiet"]
        let single = try run(tool, common + ["-o", dir.file("all.ppt")])
        #expect(single.status == 0, "\(single.stderr)")
        var cat = Data()
        for i in 0..<3 {
            let shard = try run(tool, common + ["--shard", "\(i)/3", "-o", dir.file("shard\(i).ppt")])
            #expect(shard.status == 0, "\(shard.stderr)")
            cat.append(try Data(contentsOf: URL(fileURLWithPath: dir.file("shard\(i).ppt"))))
        }
        try cat.write(to: URL(fileURLWithPath: dir.file("cat.ppt")))
        let whole = try TensorStreamReader(path: dir.file("all.ppt")).readAll()
        let merged = try TensorStreamReader(path: dir.file("cat.ppt")).readAll()
        #expect(whole.rowIDs.count == rows.count)
        #expect(merged.rowIDs == whole.rowIDs)
        #expect(merged.values == whole.values)
        #expect(whole.values.contains { $0 != 0 })
    }

    @Test func reduceWithShardIsRefused() throws {
        let tool = try #require(executable("pp-grad"))
        let result = try run(tool, ["--model", "m", "--adapter", "a", "--examples", "e", "--reduce", "mean", "--shard", "0/2", "-o", "x.ppt"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("--shard"))
    }
}
