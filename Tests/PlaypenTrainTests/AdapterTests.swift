import Foundation
import Testing
import PlaypenIO
@testable import PlaypenTrain

struct Expect: Decodable {
    let shape: [Int]
    let sum: Double
    let first: [Double]
    let last: Double
}

@Suite struct AdapterTests {
    /// The tiny Gemma-3 of scripts/reference/tiny_gemma3.py.
    let tiny = LoRAModelShape(layers: 4, hidden: 64, intermediate: 128, qDim: 64, kvDim: 32)

    func expectations() throws -> [String: [String: Expect]] {
        try JSONDecoder().decode([String: [String: Expect]].self,
                                 from: Data(contentsOf: trainFixtures.appendingPathComponent("peft-adapter-expect.json")))
    }

    func tmpDir() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("adapter-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    func values(_ p: LoRAParameters, _ name: String) -> [Float] {
        PeftAdapter.tensors(p).first { $0.name == name }!.values
    }

    @Test(arguments: ["peft-adapter-all", "peft-adapter-qvdown"])
    func readsAdaptersSavedByPeft(_ fixture: String) throws {
        let dir = trainFixtures.appendingPathComponent(fixture).path
        let p = try PeftAdapter.read(dir, shape: tiny)
        let expect = try expectations()[fixture]!
        #expect(p.layout.modules.count * 2 == expect.count)
        for (name, e) in expect {
            let v = values(p, name)
            #expect(v.count == e.shape.reduce(1, *), "\(name)")
            #expect(Double(v[0]) == e.first[0] && Double(v[1]) == e.first[1] && Double(v.last!) == e.last, "\(name)")
            let sum = v.reduce(0.0) { $0 + Double($1) }
            #expect(abs(sum - e.sum) <= 1e-9 * max(1, abs(e.sum)), "\(name) sum")
        }
        if fixture == "peft-adapter-qvdown" {
            #expect(p.layout.config == LoRAConfig(r: 2, alpha: 6, dropout: 0, targets: [.q, .v, .down]))
            #expect(p.layout.config.scale == 3)
        } else {
            #expect(p.layout.config == LoRAConfig(r: 4, alpha: 8, dropout: 0.05, targets: LoRATarget.allCases))
        }
    }

    @Test func writeThenReadIsExactAndDeterministic() throws {
        let p = try PeftAdapter.read(trainFixtures.appendingPathComponent("peft-adapter-all").path, shape: tiny)
        let dir = try tmpDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try PeftAdapter.write(p, to: dir + "/a")
        try PeftAdapter.write(p, to: dir + "/b")
        let back = try PeftAdapter.read(dir + "/a", shape: tiny)
        #expect(back.values.array == p.values.array)
        #expect(back.layout.config == p.layout.config)
        for f in ["adapter_model.safetensors", "adapter_config.json"] {
            #expect(FileManager.default.contents(atPath: dir + "/a/" + f) == FileManager.default.contents(atPath: dir + "/b/" + f))
        }
        // Overwriting an existing adapter directory leaves exactly the new files.
        try PeftAdapter.write(back, to: dir + "/a")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).sorted() == ["a", "b"])
    }

    @Test func shapeMismatchIsAClearError() throws {
        let dir = trainFixtures.appendingPathComponent("peft-adapter-all").path
        let wider = LoRAModelShape(layers: 4, hidden: 80, intermediate: 128, qDim: 64, kvDim: 32)
        do {
            _ = try PeftAdapter.read(dir, shape: wider)
            Issue.record("expected a shape error")
        } catch let e as PlaypenError {
            #expect(e.message.contains("layers.0.self_attn.q_proj.lora_A.weight has shape [4, 64], the model expects [4, 80]"))
        }
        let fewer = LoRAModelShape(layers: 2, hidden: 64, intermediate: 128, qDim: 64, kvDim: 32)
        do {
            _ = try PeftAdapter.read(dir, shape: fewer)
            Issue.record("expected an extra-tensor error")
        } catch let e as PlaypenError {
            #expect(e.message.contains("layers.2.") && e.message.contains("does not fit the model"))
        }
        let deeper = LoRAModelShape(layers: 5, hidden: 64, intermediate: 128, qDim: 64, kvDim: 32)
        #expect(throws: PlaypenError.self) { try PeftAdapter.read(dir, shape: deeper) }
    }
}
