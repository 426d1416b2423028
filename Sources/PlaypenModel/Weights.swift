import Foundation
import PlaypenIO
import PlaypenTensor

/// fp32 weights of one decoder layer. Matrices are row-major `[out, in]` (HF `nn.Linear.weight`).
/// Norm vectors hold the effective scale `1 + w` (GGUF stores it; HF's w gets +1 on load), so
/// every RMSNorm is `normed · scale` on both paths.
public struct GemmaLayerWeights: Sendable {
    public var q: Tensor        // [H·D, d]
    public var k: Tensor        // [KV·D, d]
    public var v: Tensor        // [KV·D, d]
    public var o: Tensor        // [d, H·D]
    public var gate: Tensor     // [I, d]
    public var up: Tensor       // [I, d]
    public var down: Tensor     // [d, I]
    public var inputNorm: Tensor         // [d]
    public var postAttentionNorm: Tensor // [d]
    public var preFeedforwardNorm: Tensor // [d]
    public var postFeedforwardNorm: Tensor // [d]
    public var qNorm: Tensor    // [D]
    public var kNorm: Tensor    // [D]
}

/// All weights of a Gemma-3 text model in fp32.
public struct GemmaWeights: Sendable {
    /// [V, d]; also the (tied) output head.
    public var embed: Tensor
    public var finalNorm: Tensor
    public var layers: [GemmaLayerWeights]
}

/// Canonical HF-style tensor names for layer `i` (without the `model.` prefix).
enum TensorName {
    static let embed = "embed_tokens.weight"
    static let norm = "norm.weight"
    static let layerFields: [(hf: String, gguf: String, isNorm: Bool)] = [
        ("self_attn.q_proj.weight", "attn_q.weight", false),
        ("self_attn.k_proj.weight", "attn_k.weight", false),
        ("self_attn.v_proj.weight", "attn_v.weight", false),
        ("self_attn.o_proj.weight", "attn_output.weight", false),
        ("mlp.gate_proj.weight", "ffn_gate.weight", false),
        ("mlp.up_proj.weight", "ffn_up.weight", false),
        ("mlp.down_proj.weight", "ffn_down.weight", false),
        ("input_layernorm.weight", "attn_norm.weight", true),
        ("post_attention_layernorm.weight", "post_attention_norm.weight", true),
        ("pre_feedforward_layernorm.weight", "ffn_norm.weight", true),
        ("post_feedforward_layernorm.weight", "post_ffw_norm.weight", true),
        ("self_attn.q_norm.weight", "attn_q_norm.weight", true),
        ("self_attn.k_norm.weight", "attn_k_norm.weight", true),
    ]

    /// Expected row-major shape of each layer field.
    static func shape(_ hf: String, _ c: GemmaConfig) -> [Int] {
        let d = c.hiddenSize
        switch hf {
        case "self_attn.q_proj.weight": return [c.queryWidth, d]
        case "self_attn.k_proj.weight", "self_attn.v_proj.weight": return [c.kvWidth, d]
        case "self_attn.o_proj.weight": return [d, c.queryWidth]
        case "mlp.gate_proj.weight", "mlp.up_proj.weight": return [c.intermediateSize, d]
        case "mlp.down_proj.weight": return [d, c.intermediateSize]
        case "self_attn.q_norm.weight", "self_attn.k_norm.weight": return [c.headDim]
        default: return [d]
        }
    }

    static func assemble(_ c: GemmaConfig, _ fetch: (String, [Int], Bool) throws -> Tensor) throws -> GemmaWeights {
        let embed = try fetch(embed, [c.vocabSize, c.hiddenSize], false)
        let norm = try fetch(norm, [c.hiddenSize], true)
        var layers: [GemmaLayerWeights] = []
        for i in 0..<c.numLayers {
            var f: [String: Tensor] = [:]
            for field in layerFields {
                f[field.hf] = try fetch("layers.\(i).\(field.hf)", shape(field.hf, c), field.isNorm)
            }
            layers.append(GemmaLayerWeights(
                q: f["self_attn.q_proj.weight"]!, k: f["self_attn.k_proj.weight"]!,
                v: f["self_attn.v_proj.weight"]!, o: f["self_attn.o_proj.weight"]!,
                gate: f["mlp.gate_proj.weight"]!, up: f["mlp.up_proj.weight"]!,
                down: f["mlp.down_proj.weight"]!, inputNorm: f["input_layernorm.weight"]!,
                postAttentionNorm: f["post_attention_layernorm.weight"]!,
                preFeedforwardNorm: f["pre_feedforward_layernorm.weight"]!,
                postFeedforwardNorm: f["post_feedforward_layernorm.weight"]!,
                qNorm: f["self_attn.q_norm.weight"]!, kNorm: f["self_attn.k_norm.weight"]!))
        }
        return GemmaWeights(embed: embed, finalNorm: norm, layers: layers)
    }

    /// GGUF name for a canonical HF name.
    static func gguf(_ hf: String) -> String {
        if hf == embed { return "token_embd.weight" }
        if hf == norm { return "output_norm.weight" }
        let parts = hf.split(separator: ".", maxSplits: 2)  // layers, i, field
        let field = String(parts[2])
        let g = layerFields.first { $0.hf == field }!.gguf
        return "blk.\(parts[1]).\(g)"
    }
}

extension GemmaWeights {
    /// Loads and dequantizes all tensors of a Gemma-3 GGUF. Norms are kept as stored (1 + w).
    public static func load(gguf: GGUFFile, config c: GemmaConfig) throws -> GemmaWeights {
        try TensorName.assemble(c) { hf, shape, _ in
            let name = TensorName.gguf(hf)
            let info = try gguf.tensor(name)
            guard info.shape == shape else {
                throw PlaypenError("\(gguf.path): tensor \(name) has shape \(info.shape), expected \(shape) from the model config")
            }
            let out = Tensor(shape: shape)
            try gguf.dequantize(info, into: out.data)
            return out
        }
    }

    /// Loads an HF directory's safetensors (single file or sharded index); norms get +1.
    public static func load(hfDirectory dir: String, config c: GemmaConfig) throws -> GemmaWeights {
        let st = try SafetensorsSet(directory: dir)
        if st.has("lm_head.weight") {
            // Tied: if present it must equal the embedding.
            let head = try st.floats("lm_head.weight", shape: [c.vocabSize, c.hiddenSize])
            let emb = try st.floats(TensorName.embed, shape: [c.vocabSize, c.hiddenSize])
            guard head.array == emb.array else {
                throw PlaypenError("\(dir): lm_head.weight differs from embed_tokens.weight (untied heads are not supported)")
            }
        }
        return try TensorName.assemble(c) { hf, shape, isNorm in
            let x = try st.floats(hf, shape: shape)
            if isNorm { for i in 0..<x.count { x[i] += 1 } }
            return x
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Minimal safetensors reader (F32/F16/BF16), single file or `model.safetensors.index.json`.
// Keys are canonicalised by dropping `model.`, `language_model.`, `model.language_model.` prefixes.
// ---------------------------------------------------------------------------------------------

struct SafetensorsEntry {
    let file: MappedFile
    let dtype: String
    let shape: [Int]
    let offset: Int   // absolute
    let count: Int    // bytes
    let name: String
}

struct SafetensorsSet {
    var entries: [String: SafetensorsEntry] = [:]
    let directory: String

    init(directory: String) throws {
        self.directory = directory
        let fm = FileManager.default
        let index = directory + "/model.safetensors.index.json"
        var files: [String] = []
        if fm.fileExists(atPath: index) {
            guard let data = fm.contents(atPath: index),
                  let obj = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
                  let map = obj["weight_map"] as? [String: String]
            else { throw PlaypenError("\(index): expected a JSON object with a \"weight_map\"") }
            files = Array(Set(map.values)).sorted()
        } else if fm.fileExists(atPath: directory + "/model.safetensors") {
            files = ["model.safetensors"]
        } else {
            throw PlaypenError("\(directory): no model.safetensors or model.safetensors.index.json")
        }
        for f in files {
            guard !f.contains("/") else { throw PlaypenError("\(index): shard name \(f) must be a plain file name") }
            try read(file: MappedFile(path: directory + "/" + f))
        }
    }

    static func canonical(_ key: String) -> String {
        var k = key
        for prefix in ["model.language_model.", "language_model.model.", "language_model.", "model."] where k.hasPrefix(prefix) {
            k.removeFirst(prefix.count)
            break
        }
        return k
    }

    mutating func read(file: MappedFile) throws {
        let n = try file.load(UInt64.self, at: 0, "safetensors header length")
        guard n <= UInt64(file.count - 8) else {
            throw PlaypenError("\(file.path): safetensors header length \(n) exceeds the file of \(file.count) bytes")
        }
        let raw = try file.bytes(at: 8, count: Int(n), "safetensors header")
        guard let obj = (try? JSONSerialization.jsonObject(with: Data(raw))) as? [String: Any] else {
            throw PlaypenError("\(file.path): safetensors header is not a JSON object")
        }
        let dataStart = 8 + Int(n)
        for (name, value) in obj where name != "__metadata__" {
            guard let d = value as? [String: Any], let dtype = d["dtype"] as? String,
                  let shapeN = d["shape"] as? [NSNumber], let offs = d["data_offsets"] as? [NSNumber], offs.count == 2
            else { throw PlaypenError("\(file.path): tensor \(name): malformed header entry") }
            let shape = shapeN.map(\.intValue)
            let begin = offs[0].intValue, end = offs[1].intValue
            guard shape.allSatisfy({ $0 >= 0 && $0 < 1 << 40 }), begin >= 0, end >= begin else {
                throw PlaypenError("\(file.path): tensor \(name): invalid shape \(shape) or data_offsets [\(begin), \(end)]")
            }
            let width: Int
            switch dtype {
            case "F32": width = 4
            case "F16", "BF16": width = 2
            default: width = 0  // other dtypes are rejected only if used
            }
            var elements = 1
            for s in shape {
                let (p, o) = elements.multipliedReportingOverflow(by: s)
                guard !o, p < 1 << 40 else { throw PlaypenError("\(file.path): tensor \(name): impossible shape \(shape)") }
                elements = p
            }
            if width > 0, elements * width != end - begin {
                throw PlaypenError("\(file.path): tensor \(name): data_offsets span \(end - begin) bytes, shape \(shape) of \(dtype) needs \(elements * width)")
            }
            try file.checkRange(dataStart + begin, end - begin, "data of tensor \(name)")
            entries[Self.canonical(name)] = SafetensorsEntry(
                file: file, dtype: dtype, shape: shape, offset: dataStart + begin, count: end - begin, name: name)
        }
    }

    func has(_ key: String) -> Bool { entries[key] != nil }

    /// Integer tensor (I32 or I64) as [Int].
    func ints(_ key: String) throws -> [Int] {
        guard let e = entries[key] else { throw PlaypenError("\(directory): tensor \(key) not found") }
        let n = e.shape.reduce(1, *)
        let raw = try e.file.bytes(at: e.offset, count: e.count, "data of tensor \(e.name)")
        switch e.dtype {
        case "I32" where e.count == 4 * n: return (0..<n).map { Int(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: Int32.self))) }
        case "I64" where e.count == 8 * n: return (0..<n).map { Int(Int64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * $0, as: Int64.self))) }
        default: throw PlaypenError("\(e.file.path): tensor \(e.name) has dtype \(e.dtype), expected I32 or I64")
        }
    }

    /// Float tensor of whatever shape is stored.
    func floats(_ key: String) throws -> Tensor {
        guard let e = entries[key] else { throw PlaypenError("\(directory): tensor \(key) not found") }
        return try floats(key, shape: e.shape)
    }

    /// A single safetensors file (not a directory).
    init(file path: String) throws {
        directory = path
        try read(file: MappedFile(path: path))
    }

    func floats(_ key: String, shape: [Int]) throws -> Tensor {
        guard let e = entries[key] else {
            throw PlaypenError("\(directory): tensor model.\(key) not found in the safetensors files")
        }
        guard e.shape == shape else {
            throw PlaypenError("\(e.file.path): tensor \(e.name) has shape \(e.shape), expected \(shape) from config.json")
        }
        let raw = try e.file.bytes(at: e.offset, count: e.count, "data of tensor \(e.name)")
        let n = shape.reduce(1, *)
        let out = Tensor(shape: shape)
        switch e.dtype {
        case "F32": for i in 0..<n { out[i] = Float(bitPattern: raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self).littleEndian) }
        case "F16": for i in 0..<n { out[i] = floatFromHalf(raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self).littleEndian) }
        case "BF16": for i in 0..<n { out[i] = floatFromBFloat16(raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self).littleEndian) }
        default: throw PlaypenError("\(e.file.path): tensor \(e.name) has dtype \(e.dtype), expected F32, F16 or BF16")
        }
        return out
    }
}
