import Foundation
import PlaypenIO
import Testing
@testable import PlaypenModel

/// HF directory variants of the tiny fixture, written with PlaypenIO's SafetensorsWriter.
@Suite struct HFDirectoryTests {
    static func makeDir(_ name: String, shards: Int, bf16: Bool, prefix: String = "") throws -> String {
        let dir = Fixtures.tempPath(name)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Fixtures.path("tiny-gemma3/config.json"), toPath: dir + "/config.json")
        let src = try SafetensorsFile(path: Fixtures.path("tiny-gemma3/model.safetensors"))
        var writers = Array(repeating: SafetensorsWriter(), count: shards)
        var weightMap: [String: String] = [:]
        for (i, name) in src.names.enumerated() {
            let info = try src.info(name)
            let values = try src.floats(name)
            let shard = i % shards
            let outName = prefix + name
            if bf16 {
                var bytes: [UInt8] = []
                for v in values {
                    // round to nearest even
                    let b = v.bitPattern
                    let r = UInt16(truncatingIfNeeded: (b &+ 0x7FFF &+ ((b >> 16) & 1)) >> 16)
                    bytes += [UInt8(r & 0xFF), UInt8(r >> 8)]
                }
                try writers[shard].add(outName, dtype: .BF16, shape: info.shape, bytes: bytes)
            } else {
                try writers[shard].add(outName, floats: values, shape: info.shape)
            }
            weightMap[outName] = shards == 1 ? "model.safetensors" : String(format: "model-%05d-of-%05d.safetensors", shard + 1, shards)
        }
        if shards == 1 {
            try writers[0].write(to: dir + "/model.safetensors")
        } else {
            for s in 0..<shards { try writers[s].write(to: dir + "/" + String(format: "model-%05d-of-%05d.safetensors", s + 1, shards)) }
            let index: [String: Any] = ["metadata": ["total_size": 0], "weight_map": weightMap]
            try JSONSerialization.data(withJSONObject: index).write(to: URL(fileURLWithPath: dir + "/model.safetensors.index.json"))
        }
        return dir
    }

    @Test func shardedIndexWithPrefixGivesIdenticalLogits() throws {
        let dir = try Self.makeDir("sharded", shards: 3, bf16: false, prefix: "language_model.")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let ids = try Fixtures.safetensors("model/tiny-golden.safetensors").ints("ids")
        let a = try GemmaModel.load(Fixtures.path("tiny-gemma3")).forward(ids).logits
        let b = try GemmaModel.load(dir).forward(ids).logits
        #expect(a == b)
    }

    @Test func bf16WeightsWidenExactly() throws {
        let dir = try Self.makeDir("bf16", shards: 1, bf16: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let m = try GemmaModel.load(dir)
        let f = try GemmaModel.load(Fixtures.path("tiny-gemma3"))
        func rounded(_ x: Float) -> Float {
            let b = x.bitPattern
            return Float(bitPattern: ((b &+ 0x7FFF &+ ((b >> 16) & 1)) >> 16) << 16)
        }
        #expect(m.weights.embed.rowMajor.array == f.weights.embed.rowMajor.array.map(rounded))
        #expect(m.weights.layers[1].q.rowMajor.array == f.weights.layers[1].q.rowMajor.array.map(rounded))
        // norms: bf16(w) + 1 on load
        let fw = f.weights.layers[2].qNorm.array.map { $0 - 1 }
        let mw = m.weights.layers[2].qNorm.array
        for i in 0..<fw.count { #expect(mw[i] == rounded(fw[i]) + 1 || abs(mw[i] - (rounded(fw[i]) + 1)) < 1e-6) }
    }

    @Test func forwardIsBitwiseDeterministic() throws {
        let m = try GemmaModel.load(Fixtures.path("tiny-gemma3"))
        let ids = try Fixtures.safetensors("model/tiny-golden.safetensors").ints("ids")
        let a = try m.forward(ids, options: ForwardOptions(captureLayers: [2]))
        let b = try m.forward(ids, options: ForwardOptions(captureLayers: [2]))
        #expect(a.logits == b.logits && a.residPost[2]! == b.residPost[2]!)
    }
}
