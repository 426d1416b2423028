import Foundation
import PlaypenIO
import Testing
@testable import PlaypenAttribution

@Suite("Score files")
struct ScoreFilesTests {
    static func tempDir() throws -> String {
        let dir = NSTemporaryDirectory() + "pp-score-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    /// Writes the synthetic fixture as pp-grad would: train/query streams (train in two shards,
    /// concatenated) and second-moment files.
    static func writeRun(_ dir: String) throws -> (GradientStreamInfo, InMemoryGradients, InMemoryGradients) {
        let (query, train, hq, hi) = try ScoreRunTests.sources()
        let info = train.info
        func write(_ path: String, _ src: InMemoryGradients, _ range: Range<Int>) throws {
            let w = try GradientStreamWriter(path: path, info: info, manifest: JSONObject([("tool", .string("test"))]))
            try src.values.withUnsafeBufferPointer { v in
                for r in range {
                    try w.append(rowId: src.rowIds[r], UnsafeBufferPointer(rebasing: v[(r * 48)..<((r + 1) * 48)]))
                }
            }
            try w.commit()
        }
        try write(dir + "/query.ppt", query, 0..<6)
        try write(dir + "/train-0.ppt", train, 0..<25)
        try write(dir + "/train-1.ppt", train, 25..<40)
        try TensorStream.merge(inputs: [dir + "/train-0.ppt", dir + "/train-1.ppt"], output: dir + "/train.ppt")
        try hq.write(to: dir + "/hq.safetensors", info: info)
        try hi.write(to: dir + "/hi.safetensors", info: info)
        return (info, query, train)
    }

    @Test("Streams on disk (sharded) score like memory; scores JSONL follows the schema and reads back")
    func roundTrip() throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (_, query, train) = try Self.writeRun(dir)
        let (hq, infoQ) = try SecondMoment.read(path: dir + "/hq.safetensors")
        let (hi, _) = try SecondMoment.read(path: dir + "/hi.safetensors")
        #expect(hq.count == 6 && hi.count == 40 && infoQ.layout.rowWidth == 48)
        let options = ScoreOptions(semantics: .bergson2, mode: .mixed)
        let onDisk = try ScoreRun.run(query: TensorStreamGradients(path: dir + "/query.ppt"),
                                      train: TensorStreamGradients(path: dir + "/train.ppt"),
                                      queryMoment: hq, indexMoment: hi, options: options, threads: 2, chunkRows: 64)
        let (mq, mi) = (try ScoreRunTests.sources().2, try ScoreRunTests.sources().3)
        let inMemory = try ScoreRun.run(query: query, train: train, queryMoment: mq, indexMoment: mi, options: options)
        #expect(onDisk.rowIds == train.rowIds)
        #expect(onDisk.scores.map(\.bitPattern) == inMemory.scores.map(\.bitPattern))

        try ScoreFiles.writeScores(onDisk, to: dir + "/scores.jsonl.zst")
        let back = try ScoreFiles.readScores(path: dir + "/scores.jsonl.zst")
        #expect(back == onDisk.records)
        // Schema: exactly these keys, in this order; ranks a permutation of 1..N.
        let text = try JSONLinesReader(path: dir + "/scores.jsonl.zst")
        var ranks: [Int] = []
        while let v = try text.next() {
            #expect(v.object?.keys == ["row_id", "index", "score", "rank"])
            ranks.append(v["rank"]!.int!)
        }
        #expect(ranks.sorted() == Array(1...40))
        let schema = try JSONValue.parse(Data(contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("schemas/scores.schema.json")))
        #expect(schema["required"]?.array?.compactMap(\.string) == ["row_id", "index", "score", "rank"])
    }

    @Test("Ranked examples: top K descending, bottom K ascending, joined with the examples file")
    func ranked() throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (_, query, train) = try Self.writeRun(dir)
        let result = try ScoreRun.run(query: query, train: train, queryMoment: nil, indexMoment: nil, options: ScoreOptions())
        let examples = try JSONLinesWriter(path: dir + "/examples.jsonl.zst")
        for (i, id) in train.rowIds.enumerated().reversed() {
            try examples.write(.object(JSONObject([
                ("row_id", .string(id)), ("index", .int(i)), ("split", .string("train")), ("prompt", .string("p\(i)")),
                ("completion", .string("c")), ("messages", .array([.object(JSONObject([("role", "user"), ("content", .string("m\(i)"))]))])),
                ("meta", .object(JSONObject([("task_id", .int(100 + i)), ("outcome", "success")]))),
            ])))
        }
        try examples.commit()
        try ScoreFiles.writeRanked(result, topK: 3, examplesPath: dir + "/examples.jsonl.zst", to: dir + "/ranked.json")
        let list = try JSONValue.parse(Data(contentsOf: URL(fileURLWithPath: dir + "/ranked.json"))).array!
        #expect(list.count == 6)
        #expect(list.map { $0["bucket"]!.string! } == ["top", "top", "top", "bottom", "bottom", "bottom"])
        #expect(list.map { $0["rank"]!.int! } == [1, 2, 3, 40, 39, 38])
        for entry in list {
            let i = entry["index"]!.int!
            #expect(entry["row_id"]!.string == train.rowIds[i])
            #expect(entry["task_id"]!.int == 100 + i)
            #expect(entry["messages"]![0]!["content"]!.string == "m\(i)")
            #expect(Float(entry["score"]!.double!) == result.scores[i])
            #expect(entry.object!.keys == ["bucket", "rank", "row_id", "index", "score", "task_id", "outcome", "messages", "meta"])
        }
        // A scored row missing from the examples file is an error naming it.
        let partial = try JSONLinesWriter(path: dir + "/partial.jsonl")
        try partial.write(.object(JSONObject([("row_id", .string(train.rowIds[0]))])))
        try partial.commit()
        #expect(throws: PlaypenError.self) {
            try ScoreFiles.writeRanked(result, topK: 3, examplesPath: dir + "/partial.jsonl", to: dir + "/r2.jsonl")
        }
        #expect(!FileManager.default.fileExists(atPath: dir + "/r2.jsonl"))
    }

    @Test("Truncated streams and streams without a gradient description are refused")
    func badStreams() throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        _ = try Self.writeRun(dir)
        let data = try Data(contentsOf: URL(fileURLWithPath: dir + "/train.ppt"))
        try data.prefix(data.count - 100).write(to: URL(fileURLWithPath: dir + "/cut.ppt"))
        let cut = try TensorStreamGradients(path: dir + "/cut.ppt")
        #expect(throws: PlaypenError.self) { try cut.forEachChunk(maxRows: 8) { _ in } }
        let plain = try TensorStreamWriter(path: dir + "/plain.ppt", header: TensorStreamHeader(rowShape: [48]))
        try plain.commit()
        #expect(throws: PlaypenError.self) { _ = try TensorStreamGradients(path: dir + "/plain.ppt") }
        // Shards from different projections do not concatenate silently.
        var other = try ScoreRunTests.sources().1.info
        other.layout.projection.seed = 9
        let w = try GradientStreamWriter(path: dir + "/other.ppt", info: other)
        try w.append(rowId: "x", [Float](repeating: 1, count: 48).withUnsafeBufferPointer { Array($0) }.withUnsafeBufferPointer { $0 })
        try w.commit()
        try TensorStream.merge(inputs: [dir + "/train-0.ppt", dir + "/other.ppt"], output: dir + "/mixed.ppt")
        do {
            try TensorStreamGradients(path: dir + "/mixed.ppt").forEachChunk(maxRows: 100) { _ in }
            Issue.record("accepted shards with different projection seeds")
        } catch let e as PlaypenError {
            #expect(e.message.contains("shards disagree") && e.message.contains("projection seed"))
        }
    }
}
