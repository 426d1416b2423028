import Foundation
import Testing
import PlaypenIO
import PlaypenModel
@testable import PlaypenTrain

/// `pp-model --adapter`: the process merges the adapter the way PeftAdapter.loadMerged does, so
/// `logits` gives peft's numbers for the written adapter of WrittenAdapterPeftTests, `generate`
/// continues with the adapter's model, `info` reports it, and an adapter of another shape is
/// refused with the tensor's name.
@Suite struct ModelAdapterCLITests {
    let adapter = WrittenAdapterPeftTests.adapterDirectory

    /// pp-model next to the test bundle; nil (skip) when it was not built, an issue under CI.
    func binary() -> String? {
        let bin = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("pp-model").path
        if FileManager.default.isExecutableFile(atPath: bin) { return bin }
        if ProcessInfo.processInfo.environment["CI"] != nil { Issue.record("pp-model not built at \(bin)") }
        else { print("skipping: pp-model not built at \(bin) (swift build -c release first)") }
        return nil
    }

    func run(_ bin: String, _ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: bin)
        p.arguments = arguments
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    func tempDirectory() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pp-model-adapter-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    @Test func logitsWithAdapterEqualPeft() throws {
        guard let bin = binary() else { return }
        let dir = try tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let golden = try WrittenAdapterPeftTests.Golden()
        let ids = golden.rows[0].inputIds.map(String.init).joined(separator: ",")
        let r = try run(bin, ["logits", "--model", WrittenAdapterPeftTests.tinyModel, "--adapter", adapter,
                              "--ids", ids, "--threads", "1", "-o", dir + "/logits.npy"])
        #expect(r.status == 0, "\(r.stderr)")
        let npy = try Npy.read(path: dir + "/logits.npy")
        let ref = try golden.file.floats("logits_0")
        #expect(npy.shape == [golden.rows[0].inputIds.count, 320])
        let d = zip(npy.floats(), ref).reduce(Float(0)) { max($0, abs($1.0 - $1.1)) }
        #expect(d <= 1e-4, "max |Δlogit| vs peft = \(d)")
    }

    @Test func generateWithAdapterContinuesTheMergedModel() throws {
        guard let bin = binary() else { return }
        let dir = try tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // The tiny model with the 320-token test tokenizer, so that --prompt can be tokenized.
        let model = dir + "/tiny"
        let fixtures = trainFixtures.deletingLastPathComponent()
        try FileManager.default.createDirectory(atPath: model, withIntermediateDirectories: true)
        for f in ["config.json", "model.safetensors"] {
            try FileManager.default.createSymbolicLink(atPath: model + "/" + f, withDestinationPath: fixtures.appendingPathComponent("tiny-gemma3/" + f).path)
        }
        try FileManager.default.createSymbolicLink(atPath: model + "/tokenizer.json", withDestinationPath: fixtures.appendingPathComponent("eval/tiny-tokenizer.json").path)
        // Sampled (temperature 1, seed 3): the tiny random model's greedy output only repeats the
        // last prompt token, with or without the adapter; sampling depends on every logit.
        let prompt = "the cat sat on the mat"
        func generate(_ extra: [String]) throws -> [Int] {
            let r = try run(bin, ["generate", "--model", model, "--prompt", prompt, "--max-new-tokens", "12",
                                  "--temperature", "1", "--seed", "3", "--ids", "--quiet"] + extra)
            #expect(r.status == 0, "\(r.stderr)")
            return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ",").compactMap { Int($0) }
        }
        let withAdapter = try generate(["--adapter", adapter])
        let merged = try PeftAdapter.loadMerged(model: model, adapter: adapter).model
        let expected = try merged.generate(prompt: merged.tokenizer!.encode(prompt, addBOS: true),
                                           options: GenerationOptions(maxNewTokens: 12, temperature: 1, seed: 3))
        #expect(!withAdapter.isEmpty && withAdapter == expected)
        #expect(try generate([]) != withAdapter, "the adapter must change the continuation")
    }

    @Test func infoReportsTheAdapter() throws {
        guard let bin = binary() else { return }
        let r = try run(bin, ["info", "--model", WrittenAdapterPeftTests.tinyModel, "--adapter", adapter, "--quiet"])
        #expect(r.status == 0, "\(r.stderr)")
        let info = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        let a = info?["adapter"] as? [String: Any]
        #expect(a?["r"] as? Int == 3)
        #expect(a?["lora_alpha"] as? Double == 7.5)
        #expect(a?["scale"] as? Double == 2.5)
        #expect(a?["target_modules"] as? [String] == ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
        // 4 layers: q (64→64), k, v (64→32), o (64→64), gate, up (64→128), down (128→64), r 3
        let perLayer = 3 * ((64 + 64) + 2 * (64 + 32) + (64 + 64) + 2 * (64 + 128) + (128 + 64))
        #expect(a?["parameters"] as? Int == 4 * perLayer)
        #expect(a?["modules"] as? Int == 28)
        #expect(info?["parameters"] as? Int != nil)
    }

    @Test func adapterOfAnotherShapeIsRefusedNamingTheTensor() throws {
        guard let bin = binary() else { return }
        let dir = try tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // Written for a model with hidden size 80 instead of 64.
        let wider = LoRAModelShape(layers: 4, hidden: 80, intermediate: 128, qDim: 64, kvDim: 32)
        try PeftAdapter.write(WrittenAdapterPeftTests.writtenAdapter(shape: wider), to: dir + "/wider")
        let r = try run(bin, ["logits", "--model", WrittenAdapterPeftTests.tinyModel, "--adapter", dir + "/wider",
                              "--ids", "2,10,11", "-o", dir + "/logits.npy"])
        #expect(r.status != 0)
        #expect(r.stderr.contains("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight has shape [3, 80], the model expects [3, 64]"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/logits.npy"))
    }
}
