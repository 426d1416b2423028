import Foundation
import PlaypenIO
import Testing
@testable import PlaypenSAE

/// Runs system python3 with numpy; nil (skip) when unavailable outside CI.
func runNumpy(_ script: String, _ args: [String]) throws -> String? {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3", "-c", script] + args
    let pipe = Pipe(), errors = Pipe()
    process.standardOutput = pipe
    process.standardError = errors
    try process.run()
    let out = pipe.fileHandleForReading.readDataToEndOfFile()
    let err = errors.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    if process.terminationStatus != 0 {
        let message = String(decoding: err, as: UTF8.self)
        if message.contains("No module named 'numpy'") && ProcessInfo.processInfo.environment["CI"] == nil {
            print("skipping: system python3 has no numpy")
            return nil
        }
        throw PlaypenError("python3 failed: \(message)")
    }
    return String(decoding: out, as: UTF8.self)
}

func temporaryDirectory(_ name: String) -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("\(name)-\(UUID())").path
}

@Suite struct SAEOutputTests {
    @Test func perSampleDirectoryOpensWithNumpy() throws {
        let g = try golden()
        let lengths = try goldenJSON()["lengths"] as! [Int]
        let codes = g["codes_jumprelu"]!.values
        let dir = temporaryDirectory("sae-samples")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var options = PerSampleOptions()
        options.featureActivationMean = true
        options.contextsPerFeature = 2
        options.contextWindow = 2
        options.topFeatures = 5
        let writer = try PerSampleWriter(directory: dir, saeId: "layer_3_width_256", dSAE: 256, layer: 3, options: options)
        var start = 0
        for (s, T) in lengths.enumerated() {
            let dense = Array(codes[(start * 256)..<((start + T) * 256)])
            start += T
            let info = SampleInfo(index: s, rowId: s == 1 ? .string("r-1") : .int(100 + s), taskId: 7 + s,
                                  outcome: s == 2 ? nil : "success", experiment: "high_en")
            try dense.withUnsafeBufferPointer { try writer.add(info, codes: $0, tokens: T, tokenIds: (0..<T).map { Int32(1000 * s + $0) }) }
        }
        #expect(!FileManager.default.fileExists(atPath: dir))
        try writer.finish(decode: { $0.map { "[\($0)]" }.joined() })
        let script = """
import json, sys, numpy as np
d = sys.argv[1]
out = {}
for name in ["feature_presence", "sample_stats", "seq_lens", "feature_activation_mean"]:
    a = np.load(d + "/" + name + ".npy")
    out[name] = {"dtype": str(a.dtype), "shape": list(a.shape), "values": a.astype(float).ravel().tolist()}
out["stat_names"] = json.load(open(d + "/stat_names.json"))
out["examples"] = [json.loads(l) for l in open(d + "/examples.jsonl")]
out["summary"] = json.load(open(d + "/summary.json"))
out["contexts"] = [json.loads(l) for l in open(d + "/contexts.jsonl")]
print(json.dumps(out))
"""
        guard let text = try runNumpy(script, [dir]) else { return }
        let out = try JSONSerialization.jsonObject(with: Data(text.utf8)) as! [String: Any]
        func array(_ name: String) -> (String, [Int], [Double]) {
            let a = out[name] as! [String: Any]
            return (a["dtype"] as! String, a["shape"] as! [Int], a["values"] as! [Double])
        }
        let n = lengths.count
        let presence = array("feature_presence")
        #expect(presence.0 == "bool" && presence.1 == [n, 256])
        let stats = array("sample_stats")
        #expect(stats.0 == "float32" && stats.1 == [n, 10])
        #expect(maxAbsDiff(stats.2.map { Float($0) }, g["stats"]!.values) < 2e-5)
        let seq = array("seq_lens")
        #expect(seq.0 == "int32" && seq.1 == [n] && seq.2 == lengths.map(Double.init))
        let mean = array("feature_activation_mean")
        #expect(mean.0 == "float32" && mean.1 == [n, 256])
        #expect(maxAbsDiff(mean.2.map { Float($0) }, g["feature_activation_mean"]!.values) < 1e-5)
        // Presence agrees with the golden codes.
        start = 0
        for (s, T) in lengths.enumerated() {
            for j in 0..<256 {
                let active = (start..<(start + T)).contains { codes[$0 * 256 + j] > 0 }
                #expect((presence.2[s * 256 + j] == 1) == active)
            }
            start += T
        }
        #expect(out["stat_names"] as! [String] == sampleStatNames)
        let examples = out["examples"] as! [[String: Any]]
        #expect(examples.count == n && examples[1]["row_id"] as? String == "r-1" && examples[0]["row_id"] as? Int == 100)
        #expect(examples[2]["outcome"] is NSNull && examples[2]["task_id"] as? Int == 9 && examples[0]["experiment"] as? String == "high_en")
        let summary = out["summary"] as! [String: Any]
        #expect(summary["num_prompts"] as? Int == n && summary["total_tokens"] as? Int == lengths.reduce(0, +))
        #expect(summary["hook_name"] as? String == "blocks.3.hook_resid_post" && summary["ranking_metric"] as? String == "mean_activation")
        let expectedTop = (try goldenJSON()["top"] as! [String: [[String: Any]]])["mean_activation/10"]!.prefix(5).map { $0["feature_id"] as! Int }
        let top = (summary["top_features"] as! [[String: Any]]).map { $0["feature_id"] as! Int }
        #expect(top == expectedTop)
        let contexts = out["contexts"] as! [[String: Any]]
        #expect(contexts.map { $0["feature_id"] as! Int } == expectedTop)
        // Each context hit names a real activation of that feature at that token.
        for c in contexts {
            let j = c["feature_id"] as! Int
            for hit in c["hits"] as! [[String: Any]] {
                let s = hit["sample"] as! Int, p = hit["position"] as! Int
                let offset = lengths.prefix(s).reduce(0, +)
                #expect(abs(Float(hit["activation"] as! Double) - codes[(offset + p) * 256 + j]) < 1e-6)
                #expect(hit["token"] as? String == "[\(1000 * s + p)]")
            }
        }
    }

    @Test func abortedWriterLeavesNothing() throws {
        let dir = temporaryDirectory("sae-aborted")
        let parent = URL(fileURLWithPath: dir).deletingLastPathComponent().path
        let before = try FileManager.default.contentsOfDirectory(atPath: parent).filter { $0.contains("sae-aborted") }
        do {
            let writer = try PerSampleWriter(directory: dir, saeId: "x", dSAE: 4, layer: nil)
            try [Float](repeating: 1, count: 8).withUnsafeBufferPointer { try writer.add(SampleInfo(index: 0, rowId: .int(0)), codes: $0, tokens: 2) }
            writer.abort()
        }
        let after = try FileManager.default.contentsOfDirectory(atPath: parent).filter { $0.contains("sae-aborted") }
        #expect(before == after && !FileManager.default.fileExists(atPath: dir))
    }
}

@Suite struct SAEBadInputTests {
    func message(_ body: () throws -> Void) -> String {
        do { try body(); return "" } catch let e as PlaypenError { return e.message } catch { return "\(error)" }
    }

    func copyFixture(_ name: String) throws -> String {
        let dir = temporaryDirectory("sae-bad")
        try FileManager.default.copyItem(atPath: saeFixtures + "/" + name, toPath: dir)
        return dir
    }

    @Test func missingOrMisshapenTensorsAreNamed() throws {
        let dir = try copyFixture("gs2")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let good = try readSafetensors(path: dir + "/params.safetensors").tensors
        var tensors = good.filter { $0.key != "threshold" }.map { (name: $0.key, shape: $0.value.shape, values: $0.value.values) }
        try writeSafetensors(path: dir + "/params.safetensors", tensors: tensors)
        #expect(message { _ = try SparseAutoencoder.load(path: dir) }.contains("missing tensor threshold"))
        tensors = good.map { (name: $0.key, shape: $0.key == "b_dec" ? [32] : $0.value.shape, values: $0.key == "b_dec" ? Array($0.value.values[0..<32]) : $0.value.values) }
        try writeSafetensors(path: dir + "/params.safetensors", tensors: tensors)
        let m = message { _ = try SparseAutoencoder.load(path: dir) }
        #expect(m.contains("b_dec") && m.contains("[32]") && m.contains("[64]"))
    }

    @Test func nonFiniteActivationsAreRejected() throws {
        let sae = try toySAE()
        var x = toyX
        x[7] = .nan
        let m = message { _ = try sae.encode(x, tokens: 4, what: "layer 9 sample 3") }
        #expect(m.contains("layer 9 sample 3") && m.contains("token 2"))
    }

    @Test func unsupportedZipCompressionIsNamed() throws {
        // A zip whose only member claims bzip2 (method 12).
        let dir = temporaryDirectory("sae-zip")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let script = """
import sys, zipfile, io, numpy as np
buf = io.BytesIO(); np.save(buf, np.zeros((2, 3), np.float32))
with zipfile.ZipFile(sys.argv[1] + "/params.npz", "w", compression=zipfile.ZIP_BZIP2) as z:
    z.writestr("W_enc.npy", buf.getvalue())
"""
        guard try runNumpy(script, [dir]) != nil else { return }
        #expect(message { _ = try SparseAutoencoder.load(path: dir) }.contains("unsupported zip compression method 12"))
    }
}

@Suite struct SAEMergeTests {
    @Test func mergedShardsEqualOneUnshardedRun() throws {
        let g = try golden()
        let lengths = try goldenJSON()["lengths"] as! [Int]
        let codes = g["codes_jumprelu"]!.values
        let root = temporaryDirectory("sae-merge")
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        var options = PerSampleOptions()
        options.featureActivationMean = true
        options.topFeatures = 12
        func write(_ name: String, _ samples: Range<Int>) throws {
            let w = try PerSampleWriter(directory: root + "/" + name, saeId: "s", dSAE: 256, layer: 3, options: options)
            for s in samples {
                let start = lengths.prefix(s).reduce(0, +)
                let dense = Array(codes[(start * 256)..<((start + lengths[s]) * 256)])
                try dense.withUnsafeBufferPointer { try w.add(SampleInfo(index: s, rowId: .int(s)), codes: $0, tokens: lengths[s]) }
            }
            try w.finish()
        }
        try write("all", 0..<3)
        try write("a", 0..<1)
        try write("b", 1..<3)
        try mergePerSampleDirectories([root + "/a", root + "/b"], output: root + "/merged")
        for file in ["feature_presence.npy", "sample_stats.npy", "seq_lens.npy", "feature_activation_mean.npy", "examples.jsonl", "stat_names.json"] {
            #expect(FileManager.default.contents(atPath: root + "/all/" + file) == FileManager.default.contents(atPath: root + "/merged/" + file), "\(file)")
        }
        func top(_ dir: String) throws -> [Int] {
            let o = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: root + "/\(dir)/summary.json"))) as! [String: Any]
            #expect(o["num_prompts"] as? Int == 3 && o["total_tokens"] as? Int == 51)
            return (o["top_features"] as! [[String: Any]]).map { $0["feature_id"] as! Int }
        }
        #expect(try top("all") == top("merged"))
        // Mismatched settings are refused.
        options.excludeBOS = true
        try write("c", 0..<1)
        #expect(throws: PlaypenError.self) { try mergePerSampleDirectories([root + "/a", root + "/c"], output: root + "/bad") }
        #expect(!FileManager.default.fileExists(atPath: root + "/bad"))
    }
}
