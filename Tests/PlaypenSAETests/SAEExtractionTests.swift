import Foundation
import PlaypenIO
import Testing
@testable import PlaypenSAE
import PlaypenModel

/// A stand-in for the model: token id i yields row i of a fixed activation table at every layer
/// (layer L adds L to one coordinate so layers differ), or NaN for token id -1.
struct TableModel: ResidualStreamProvider {
    let hiddenSize: Int
    let layerCount: Int
    let table: [Float]
    func residPost(_ batch: [[Int32]], layers: [Int]) throws -> [Int: [Float]] {
        var out: [Int: [Float]] = [:]
        for l in layers {
            var x: [Float] = []
            for id in batch.joined() {
                if id < 0 { x += [Float](repeating: .nan, count: hiddenSize); continue }
                x += table[(Int(id) * hiddenSize)..<((Int(id) + 1) * hiddenSize)]
            }
            out[l] = x
        }
        return out
    }
}

/// A provider that returns nothing for any layer.
struct NoRows: ResidualStreamProvider {
    let hiddenSize: Int
    let layerCount: Int
    func residPost(_ batch: [[Int32]], layers: [Int]) throws -> [Int: [Float]] { [:] }
}

@Suite struct SAEExtractionTests {
    func setup() throws -> (TableModel, [ExtractionSample], SparseAutoencoder) {
        let g = try golden()
        let lengths = try goldenJSON()["lengths"] as! [Int]
        let model = TableModel(hiddenSize: 64, layerCount: 6, table: g["x"]!.values)
        var start = 0
        var samples: [ExtractionSample] = []
        for (s, T) in lengths.enumerated() {
            samples.append(ExtractionSample(info: SampleInfo(index: s, rowId: .string("row\(s)")), tokens: (start..<(start + T)).map { Int32($0) }))
            start += T
        }
        return (model, samples, try SparseAutoencoder.load(path: saeFixtures + "/gs2"))
    }

    @Test func extractionThroughAProviderReproducesTheGoldenStatistics() throws {
        let (model, samples, sae) = try setup()
        let root = temporaryDirectory("sae-extract")
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let jobs = [SAEJob(id: "layer_3_width_256", sae: sae, layer: 3, output: root + "/l3"),
                    SAEJob(id: "again_layer_5", sae: sae, layer: 5, output: root + "/l5")]
        var options = PerSampleOptions()
        options.contextsPerFeature = 3
        try runExtraction(samples: samples, model: model, jobs: jobs, options: options, batchSize: 2,
                          decode: { $0.map(String.init).joined(separator: " ") })
        for dir in ["l3", "l5"] {
            let file = try MappedFile(path: root + "/\(dir)/sample_stats.npy")
            let header = try parseNpyHeader(try file.bytes(at: 0, count: file.count, "npy"), what: "stats")
            #expect(header.shape == [3, 10] && header.descr == "<f4")
            let stats = try readNpyFloat(try file.bytes(at: 0, count: file.count, "npy"), what: "stats")
            // the sums behind the statistics go through sgemm, whose order depends on the BLAS kernel
            #expect(maxScaledDiff(stats.values, try golden()["stats"]!.values) < 2e-6)
        }
        let contexts = try String(contentsOfFile: root + "/l3/contexts.jsonl", encoding: .utf8)
        #expect(contexts.split(separator: "\n").count == 50)
    }

    /// Encoding a batch in groups of samples (one sample per group, groups of two, the whole
    /// batch) writes the same bytes.
    @Test func encodeGroupsOfAnySizeWriteTheSameFiles() throws {
        let (model, samples, sae) = try setup()
        let root = temporaryDirectory("sae-groups")
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        var options = PerSampleOptions()
        options.contextsPerFeature = 3
        options.featureActivationMean = true
        let pair = samples[0].tokens.count + samples[1].tokens.count
        var outputs: [[String: Data]] = []
        for rows in [1, pair, 512] {
            let dir = root + "/rows\(rows)"
            try runExtraction(samples: samples, model: model, jobs: [SAEJob(id: "l3", sae: sae, layer: 3, output: dir)],
                              options: options, batchSize: samples.count, encodeGroupRows: rows,
                              decode: { $0.map(String.init).joined(separator: " ") })
            let files = try FileManager.default.contentsOfDirectory(atPath: dir)
            outputs.append(Dictionary(uniqueKeysWithValues: try files.map { ($0, try Data(contentsOf: URL(fileURLWithPath: dir + "/" + $0))) }))
        }
        #expect(outputs[0].keys.contains("feature_activation_mean.npy") && outputs[0].count >= 6)
        #expect(outputs[1] == outputs[0])
        #expect(outputs[2] == outputs[0])
    }

    @Test func mismatchedWidthLayerDepthAndNaNFailBeforeWritingAnything() throws {
        let (model, samples, sae) = try setup()
        let root = temporaryDirectory("sae-extract-bad")
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        func message(_ jobs: [SAEJob], _ s: [ExtractionSample] = samples, model m: TableModel? = nil) -> String {
            do { try runExtraction(samples: s, model: m ?? model, jobs: jobs, options: PerSampleOptions()); return "" }
            catch let e as PlaypenError { return e.message } catch { return "\(error)" }
        }
        let wide = TableModel(hiddenSize: 640, layerCount: 18, table: [])
        #expect(message([SAEJob(id: "a", sae: sae, layer: 3, output: root + "/a")], model: wide)
            .contains("SAE d_in 64 does not match the model's hidden size 640"))
        #expect(message([SAEJob(id: "a", sae: sae, layer: 6, output: root + "/a")]).contains("layer 6 is beyond the model's depth (layers 0...5)"))
        var poisoned = samples
        poisoned[2].tokens[4] = -1
        let m = message([SAEJob(id: "a", sae: sae, layer: 3, output: root + "/a"), SAEJob(id: "b", sae: sae, layer: 2, output: root + "/b")], poisoned)
        #expect(m.contains("sample 2") && m.contains("token 4") && m.contains("non-finite"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: root).isEmpty)
    }

    @Test func activationCacheFeedsTraining() throws {
        let (model, samples, _) = try setup()
        let path = temporaryDirectory("sae-cache") + ".f32"
        defer { unlink(path) }
        let rows = try cacheActivations(samples: samples, model: model, layer: 2, dropBOS: true, path: path)
        #expect(rows == 51 - 3)
        let cache = try MappedActivations(path: path, dIn: 64)
        #expect(cache.count == 48)
        var row = [Float](repeating: 0, count: 64)
        row.withUnsafeMutableBufferPointer { cache.gather([16][...], into: $0.baseAddress!) }
        // Cache row 16 is token 1 of sample 1 (sample 0 gives rows 0-15 without its BOS), i.e. table row 18.
        #expect(row == Array(try golden()["x"]!.values[(18 * 64)..<(19 * 64)]))
    }

    /// The activation cache names the sample, token and dimension of a NaN, and a provider that
    /// returns no rows for the layer gets an error rather than a crash; neither leaves a file.
    @Test func activationCacheRejectsNaNAndMissingRows() throws {
        let (model, samples, _) = try setup()
        let path = temporaryDirectory("sae-cache-bad") + ".f32"
        defer { unlink(path) }
        func message(_ s: [ExtractionSample], _ m: ResidualStreamProvider) -> String {
            do { _ = try cacheActivations(samples: s, model: m, layer: 2, dropBOS: false, path: path); return "" }
            catch let e as PlaypenError { return e.message } catch { return "\(error)" }
        }
        var poisoned = samples
        poisoned[1].tokens[3] = -1
        #expect(message(poisoned, model) == "layer 2 resid_post of sample 1: non-finite activation nan at token 3, dimension 0")
        #expect(!FileManager.default.fileExists(atPath: path))
        #expect(message(samples, NoRows(hiddenSize: 64, layerCount: 6)).contains("the model returned no resid_post of"))
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    @Test func shardsAreContiguousAndCoverEverything() throws {
        #expect(safeSAEName("layer_17/width 16k:l0") == "layer_17_width_16k_l0")
        let ranges = try (0..<3).map { try Shard("\($0)/3").range(of: 10) }
        #expect(ranges == [0..<3, 3..<6, 6..<10])
        let shard = try Shard("2/4")
        #expect((shard.index, shard.count) == (2, 4))
        #expect(throws: PlaypenError.self) { try Shard("4/4") }
    }
}

@Suite struct SAEModelBridgeTests {
    @Test func residPostFromTheTinyGemmaMatchesTransformersHooksAndFeedsExtraction() throws {
        let fixtures = URL(fileURLWithPath: saeFixtures).deletingLastPathComponent().path
        let model = try GemmaModel.load(fixtures + "/tiny-gemma3")
        let golden = try readSafetensors(path: fixtures + "/model/tiny-golden.safetensors").tensors
        let ids = golden["ids"]!.values.map { Int32($0) }
        let stream = GemmaResidualStream(model: model)
        #expect(stream.hiddenSize == 64 && stream.layerCount == 4)
        let rows = try stream.residPost([ids, Array(ids.prefix(10))], layers: [1, 3])
        // the two sequences' rows one after the other: [ids.count + 10, 64]
        let acts = [rows.mapValues { Array($0[0..<(ids.count * 64)]) }, rows.mapValues { Array($0[(ids.count * 64)...]) }]
        // transformers: hidden_states[L+1] is resid_post(L) except for the last layer (hooked separately).
        let h2 = golden["hidden_2"]!.values, last = golden["resid_post_last"]!.values
        let scale1 = h2.map { abs($0) }.max()!, scale3 = last.map { abs($0) }.max()!
        #expect(maxAbsDiff(acts[0][1]!, h2) < 1e-4 * scale1)
        #expect(maxAbsDiff(acts[0][3]!, last) < 1e-4 * scale3)
        // Causal: the 10-token prefix has the same activations as the first 10 rows.
        #expect(maxAbsDiff(acts[1][3]!, Array(last[0..<640])) < 1e-4 * scale3)
        // Stopping after layer 1 gives the same resid_post(1) as the full forward.
        let stopped = try stream.residPost([ids], layers: [1])
        #expect(stopped[1]! == acts[0][1]!)

        let sae = try SparseAutoencoder.load(path: saeFixtures + "/gs2")
        let root = temporaryDirectory("sae-tiny")
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let samples = [ExtractionSample(info: SampleInfo(index: 0, rowId: .int(0)), tokens: ids)]
        try runExtraction(samples: samples, model: stream, jobs: [SAEJob(id: "l3", sae: sae, layer: 3, output: root + "/l3")],
                          options: PerSampleOptions())
        let file = try MappedFile(path: root + "/l3/sample_stats.npy")
        let stats = try readNpyFloat(try file.bytes(at: 0, count: file.count, "npy"), what: "stats").values
        let expected = SparseCodes(dense: try sae.encode(last, tokens: 24), tokens: 24, dSAE: 256).statistics()
        #expect(stats[0] == 24 && maxAbsDiff(stats, expected) < 1e-3 * max(expected.max()!, 1))
    }
}
