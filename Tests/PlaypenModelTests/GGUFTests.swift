import Foundation
import PlaypenIO
import Testing
@testable import PlaypenModel

@Suite struct GGUFTests {
    /// small.gguf: one tensor per ggml type with random blocks; expected values from gguf-py's dequantize.
    @Test func dequantizationMatchesGGUFPy() throws {
        let g = try GGUFFile(path: Fixtures.path("model/small.gguf"))
        let expected = try Fixtures.safetensors("model/small-gguf-expected.safetensors")
        #expect(g.version == 3 && g.tensors.count == 9)
        for t in g.tensors {
            let mine = try g.dequantize(t.name)
            let ref = try expected.floats(t.name).array
            #expect(t.shape == expected.shape(of: t.name), "\(t.name) shape")
            #expect(mine == ref, "\(t.name) (\(t.type)) differs: max |Δ| \(maxAbsDiff(mine[...], ref[...]))")
        }
        #expect(g.metadata["test.u32"]?.intValue == 7)
        #expect(g.metadata["test.f32"]?.doubleValue == 0.5)
        #expect(g.metadata["test.str"]?.stringValue == "héllo")
        #expect(g.metadata["test.bool"]?.boolValue == true)
        #expect(g.metadata["test.arr"]?.arrayValue?.compactMap(\.intValue) == [1, 2, 3])
        #expect(g.metadata["test.strs"]?.arrayValue?.compactMap(\.stringValue) == ["a", "bc"])
    }

    /// gemma3.md §7: layout facts and dequantization checksums of the real 270M file.
    @Test func realFileLayoutAndChecksums() throws {
        guard let path = try Fixtures.realGGUF() else { return }
        let g = try GGUFFile(path: path)
        #expect(g.tensors.count == 236 && g.metadata.count == 33 && g.dataOffset == 6_525_120)
        #expect(g.tensors[0].name == "output_norm.weight" && g.tensors[1].offset - g.dataOffset == 2560)
        var hist: [GGMLType: Int] = [:]
        for t in g.tensors { hist[t.type, default: 0] += 1 }
        #expect(hist == [.f32: 109, .q8_0: 10, .q5_0: 81, .q4_K: 27, .q6_K: 9])
        let norm = try g.dequantize("output_norm.weight")
        #expect(Array(norm.prefix(4)) == [7.125, 9.5625, 47.0, 145.0])
        #expect(abs(norm.reduce(0.0) { $0 + Double($1) } - 16861.6953) < 1e-3)
        let embInfo = try g.tensor("token_embd.weight")
        #expect(embInfo.shape == [262_144, 640] && embInfo.type == .q8_0)
        let k = try g.dequantize("blk.0.attn_k.weight")
        #expect(Array(k.prefix(4)) == [0.0, -0.027557373, 0.011810303, -0.027557373])
        let attnNorm = try g.dequantize("blk.0.attn_norm.weight")
        #expect(abs(attnNorm.reduce(0, +) / Float(attnNorm.count) - 13.48) < 0.01)
        let cfg = try GemmaConfig.fromGGUF(g)
        #expect(cfg == .gemma3_270m)
    }

    @Test func realModelEmbeddingAndParameterCount() throws {
        guard let m = try Fixtures.realModel() else { return }
        var row0 = [Float](repeating: 0, count: m.config.hiddenSize)
        row0.withUnsafeMutableBufferPointer { m.weights.embed.copyRow(0, into: $0.baseAddress!) }
        #expect(Array(row0.prefix(4)) == [-0.0072441101, 0.042860985, -0.034409523, -0.021128654])
        #expect(m.parameterCount == 268_098_176)
        #expect(m.tokenizer?.vocabSize == 262_144)
    }
}

@Suite struct BadInputTests {
    static func write(_ bytes: [UInt8], _ name: String) throws -> String {
        let p = Fixtures.tempPath(name)
        try Data(bytes).write(to: URL(fileURLWithPath: p))
        return p
    }

    static func bytes(_ p: String) throws -> [UInt8] { [UInt8](try Data(contentsOf: URL(fileURLWithPath: Fixtures.path(p)))) }

    /// Loads every tensor; any failure must be a PlaypenError.
    static func loadGGUF(_ path: String) throws {
        let g = try GGUFFile(path: path)
        for t in g.tensors { _ = try g.dequantize(t.name) }
    }

    @Test func truncatedGGUFFailsCleanly() throws {
        let full = try Self.bytes("model/small.gguf")
        let g = try GGUFFile(path: Fixtures.path("model/small.gguf"))
        let dataEnd = g.tensors.map { $0.offset + $0.byteCount }.max()!
        for cut in [0, 3, 4, 8, 20, 40, 100, full.count / 2, dataEnd - 1] {
            let p = try Self.write(Array(full.prefix(cut)), "trunc.gguf")
            defer { unlink(p) }
            #expect(expectThrowsPlaypen("cut \(cut)") { try Self.loadGGUF(p) }, "cut at \(cut)")
        }
    }

    @Test func offsetOutsideFileAndUnknownTypeAreNamed() throws {
        let full = try Self.bytes("model/small.gguf")
        let g = try GGUFFile(path: Fixtures.path("model/small.gguf"))
        // Find the tensor info of the last tensor: its name, then n_dims, ne, type, offset.
        let last = g.tensors.last!
        let nameBytes = Array(last.name.utf8)
        var at = -1
        for i in 0..<(full.count - nameBytes.count) where Array(full[i..<(i + nameBytes.count)]) == nameBytes { at = i; break }
        #expect(at > 0)
        let typeAt = at + nameBytes.count + 4 + 8 * last.ne.count
        var bad = full
        bad[typeAt] = 99
        var p = try Self.write(bad, "type.gguf")
        #expect(expectThrowsPlaypen("type", contains: "unknown ggml type 99") { try Self.loadGGUF(p) })
        unlink(p)
        bad = full
        bad[typeAt] = UInt8(GGMLType.q2_K.rawValue)  // known but not dequantizable, and 2x4 is not a block multiple
        p = try Self.write(bad, "q2k.gguf")
        #expect(expectThrowsPlaypen("q2k", contains: last.name) { try Self.loadGGUF(p) })
        unlink(p)
        bad = full
        for j in 0..<8 { bad[typeAt + 4 + j] = j == 2 ? 0x10 : 0 }  // offset 1 MiB
        p = try Self.write(bad, "offset.gguf")
        #expect(expectThrowsPlaypen("offset", contains: last.name) { try Self.loadGGUF(p) })
        unlink(p)
    }

    @Test func randomByteMutationsOfGGUFNeverCrash() throws {
        let full = try Self.bytes("model/small.gguf")
        var rng = SplitMix64(seed: 2024)
        var errors = 0, loads = 0
        for _ in 0..<300 {
            var m = full
            let n = 1 + Int(rng.next() % 4)
            for _ in 0..<n {
                // bias towards the header, where offsets and sizes live
                let limit = rng.next() % 2 == 0 ? min(full.count, 700) : full.count
                m[Int(rng.next() % UInt64(limit))] = UInt8(truncatingIfNeeded: rng.next())
            }
            let p = try Self.write(m, "mut.gguf")
            do { try Self.loadGGUF(p); loads += 1 } catch is PlaypenError { errors += 1 }
            unlink(p)
        }
        #expect(errors + loads == 300 && errors > 0 && loads > 0)
    }

    static func copyTiny() throws -> String {
        let dir = Fixtures.tempPath("tiny")
        try FileManager.default.copyItem(atPath: Fixtures.path("tiny-gemma3"), toPath: dir)
        return dir
    }

    @Test func truncatedAndOutOfRangeSafetensors() throws {
        let dir = try Self.copyTiny()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let st = dir + "/model.safetensors"
        let full = [UInt8](try Data(contentsOf: URL(fileURLWithPath: st)))
        for cut in [0, 7, 8, 100, full.count / 2, full.count - 1] {
            try Data(full.prefix(cut)).write(to: URL(fileURLWithPath: st))
            #expect(expectThrowsPlaypen("cut \(cut)") { _ = try GemmaModel.load(dir) }, "cut at \(cut)")
        }
        // header length pointing past the end
        var bad = full
        bad[0] = 0xFF; bad[1] = 0xFF; bad[2] = 0xFF
        try Data(bad).write(to: URL(fileURLWithPath: st))
        #expect(expectThrowsPlaypen("header", contains: "header length") { _ = try GemmaModel.load(dir) })
        // data_offsets beyond the file: rewrite one end offset in the JSON header to a huge number (same width)
        let n = Int(full[0]) | Int(full[1]) << 8 | Int(full[2]) << 16
        var header = String(decoding: full[8..<(8 + n)], as: UTF8.self)
        let target = "model.norm.weight"
        let r = header.range(of: target)!
        let off = header.range(of: "\"data_offsets\":[", range: r.upperBound..<header.endIndex)!
        let close = header.range(of: "]", range: off.upperBound..<header.endIndex)!
        let original = String(header[off.upperBound..<close.lowerBound])
        let replacement = "0," + String(repeating: "9", count: original.count - 2)
        header.replaceSubrange(off.upperBound..<close.lowerBound, with: replacement)
        bad = Array(full[0..<8]) + Array(header.utf8) + Array(full[(8 + n)...])
        try Data(bad).write(to: URL(fileURLWithPath: st))
        #expect(expectThrowsPlaypen("offsets", contains: target) { _ = try GemmaModel.load(dir) })
    }

    @Test func configProblemsAreNamed() throws {
        let dir = try Self.copyTiny()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let cfgPath = dir + "/config.json"
        let original = try Data(contentsOf: URL(fileURLWithPath: cfgPath))
        func edit(_ f: (inout [String: Any]) -> Void) throws {
            var obj = try JSONSerialization.jsonObject(with: original) as! [String: Any]
            f(&obj)
            try JSONSerialization.data(withJSONObject: obj).write(to: URL(fileURLWithPath: cfgPath))
        }
        try edit { $0.removeValue(forKey: "num_hidden_layers") }
        #expect(expectThrowsPlaypen("missing key", contains: "num_hidden_layers") { _ = try GemmaModel.load(dir) })
        try edit { $0["vocab_size"] = 321 }
        #expect(expectThrowsPlaypen("vocab", contains: "embed_tokens.weight") { _ = try GemmaModel.load(dir) })
        try edit { $0["intermediate_size"] = 96 }
        #expect(expectThrowsPlaypen("shape", contains: "gate_proj") { _ = try GemmaModel.load(dir) })
        try edit { $0["num_key_value_heads"] = 3 }
        #expect(expectThrowsPlaypen("gqa", contains: "num_key_value_heads") { _ = try GemmaModel.load(dir) })
        try edit { $0["layer_types"] = ["sliding_attention"] }
        #expect(expectThrowsPlaypen("layer types", contains: "layer_types") { _ = try GemmaModel.load(dir) })
        try original.write(to: URL(fileURLWithPath: cfgPath))
        #expect(try GemmaModel.load(dir).config.numLayers == 4)
        // token ids outside the vocabulary
        let m = try GemmaModel.load(dir)
        #expect(expectThrowsPlaypen("id", contains: "outside the vocabulary") { _ = try m.forward([2, 320]) })
        #expect(expectThrowsPlaypen("pos", contains: "logit position") { _ = try m.forward([2, 5], options: ForwardOptions(logitPositions: [2])) })
    }

    @Test func randomByteMutationsOfSafetensorsNeverCrash() throws {
        let dir = try Self.copyTiny()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let st = dir + "/model.safetensors"
        let full = [UInt8](try Data(contentsOf: URL(fileURLWithPath: st)))
        let headerEnd = 8 + (Int(full[0]) | Int(full[1]) << 8 | Int(full[2]) << 16)
        var rng = SplitMix64(seed: 77)
        var errors = 0, loads = 0
        for _ in 0..<200 {
            var m = full
            for _ in 0..<(1 + Int(rng.next() % 3)) {
                m[Int(rng.next() % UInt64(rng.next() % 4 == 0 ? full.count : headerEnd))] = UInt8(truncatingIfNeeded: rng.next())
            }
            try Data(m).write(to: URL(fileURLWithPath: st))
            do { _ = try GemmaModel.load(dir); loads += 1 } catch is PlaypenError { errors += 1 }
        }
        #expect(errors + loads == 200 && errors > 0 && loads > 0)
    }
}
