import Foundation
import PlaypenIO
import Testing

/// `pp-sae train --architecture jumprelu` on the tiny Gemma-3 (30 real rows): the same seed gives
/// byte-identical params.safetensors, the directory is a Gemma Scope 2 JumpReLU SAE, and
/// `pp-sae extract` runs on it.
@Suite(.serialized) struct JumpReLUChainTests {
    @Test func jumpReLUTrainingIsReproducibleAndExtractLoadsIt() throws {
        guard let data = tabooDataPath(), let filter = executable("pp-filter"), let sae = executable("pp-sae") else {
            if inCI { Issue.record("needs the taboo sample and pp-filter, pp-sae built") }
            return
        }
        let dir = try TempDir("pp-jumprelu")
        let model = try tinyModelDirectory(in: dir)
        let reader = try JSONLinesReader(path: data)
        var lines = Data()
        for _ in 0..<30 {
            guard let line = try reader.nextLine() else { break }
            lines.append(contentsOf: line)
            lines.append(0x0A)
        }
        try lines.write(to: URL(fileURLWithPath: dir.file("rows.jsonl")))
        let examples = dir.file("train.jsonl.zst")
        let f = try run(filter, [dir.file("rows.jsonl"), "--quiet", "-o", examples])
        #expect(f.status == 0, "\(f.stderr)")

        func train(_ out: String) throws {
            let r = try run(sae, ["train", "--model", model, "--examples", examples, "--layer", "1", "--architecture", "jumprelu",
                                  "--d-sae", "32", "--l0-coefficient", "0.5", "--bandwidth", "0.05", "--initial-threshold", "0.05",
                                  "--lr", "1e-2", "--epochs", "2", "--batch-tokens", "128", "--max-tokens", "24", "--seed", "5",
                                  "--threads", "1", "--quiet", "-o", out])
            #expect(r.status == 0, "\(r.stderr)")
        }
        try train(dir.file("a"))
        try train(dir.file("b"))
        let a = FileManager.default.contents(atPath: dir.file("a/params.safetensors"))
        #expect(a != nil && a == FileManager.default.contents(atPath: dir.file("b/params.safetensors")))
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir.file("a/config.json")))) as? [String: Any]
        #expect(config?["architecture"] as? String == "jump_relu")
        #expect(config?["hf_hook_point_in"] as? String == "model.layers.1.output")
        let training = config?["training"] as? [String: Any]
        #expect(training?["architecture"] as? String == "jumprelu" && training?["l0_coefficient"] as? Double == 0.5)
        let params = try SafetensorsFile(path: dir.file("a/params.safetensors"))
        #expect(try params.info("threshold").shape == [32] && params.info("w_enc").shape == [64, 32])
        #expect(try params.floats("threshold").allSatisfy { $0 > 0 })

        let e = try run(sae, ["extract", "--model", model, "--examples", examples, "--sae", dir.file("a"), "--max-tokens", "24",
                              "--threads", "1", "--quiet", "-o", dir.file("samples")])
        #expect(e.status == 0, "\(e.stderr)")
        let written = (try? FileManager.default.subpathsOfDirectory(atPath: dir.file("samples"))) ?? []
        #expect(written.contains { $0.hasSuffix("sample_stats.npy") }, "\(written)")
        // the transcripts open with shared instructions: without prefix sharing every file is the same
        let u = try run(sae, ["extract", "--model", model, "--examples", examples, "--sae", dir.file("a"), "--max-tokens", "24",
                              "--threads", "1", "--quiet", "--no-prefix-sharing", "-o", dir.file("unshared")])
        #expect(u.status == 0, "\(u.stderr)")
        let arrays = written.filter { $0.hasSuffix(".npy") || $0.hasSuffix(".jsonl") }
        #expect(arrays.count >= 4)
        for file in arrays {
            #expect(FileManager.default.contents(atPath: dir.file("samples/" + file)) == FileManager.default.contents(atPath: dir.file("unshared/" + file)), "\(file)")
        }
    }
}
