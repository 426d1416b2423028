import Foundation
import PlaypenIO
import PlaypenTensor

/// fp32 weights of one decoder layer. Matrices are `[out, in]` (HF `nn.Linear.weight`), row-major
/// until a forward-only tool packs them (`GemmaModel.packForInference`).
/// Norm vectors hold the effective scale `1 + w` (GGUF stores it; HF's w gets +1 on load), so
/// every RMSNorm is `normed · scale` on both paths.
public struct GemmaLayerWeights: Sendable {
    public var q: WeightMatrix      // [H·D, d]
    public var k: WeightMatrix      // [KV·D, d]
    public var v: WeightMatrix      // [KV·D, d]
    public var o: WeightMatrix      // [d, H·D]
    public var gate: WeightMatrix   // [I, d]
    public var up: WeightMatrix     // [I, d]
    public var down: WeightMatrix   // [d, I]
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
    public var embed: WeightMatrix
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

    /// `embedding`, when given, is used instead of fetching the embedding as fp32.
    static func assemble(_ c: GemmaConfig, embedding: WeightMatrix? = nil,
                         _ fetch: (String, [Int], Bool) throws -> Tensor) throws -> GemmaWeights {
        let embedding = try embedding ?? WeightMatrix(try fetch(embed, [c.vocabSize, c.hiddenSize], false))
        let norm = try fetch(norm, [c.hiddenSize], true)
        var layers: [GemmaLayerWeights] = []
        for i in 0..<c.numLayers {
            var f: [String: Tensor] = [:]
            for field in layerFields {
                f[field.hf] = try fetch("layers.\(i).\(field.hf)", shape(field.hf, c), field.isNorm)
            }
            func matrix(_ name: String) -> WeightMatrix { WeightMatrix(f[name]!) }
            layers.append(GemmaLayerWeights(
                q: matrix("self_attn.q_proj.weight"), k: matrix("self_attn.k_proj.weight"),
                v: matrix("self_attn.v_proj.weight"), o: matrix("self_attn.o_proj.weight"),
                gate: matrix("mlp.gate_proj.weight"), up: matrix("mlp.up_proj.weight"),
                down: matrix("mlp.down_proj.weight"), inputNorm: f["input_layernorm.weight"]!,
                postAttentionNorm: f["post_attention_layernorm.weight"]!,
                preFeedforwardNorm: f["pre_feedforward_layernorm.weight"]!,
                postFeedforwardNorm: f["post_feedforward_layernorm.weight"]!,
                qNorm: f["self_attn.q_norm.weight"]!, kNorm: f["self_attn.k_norm.weight"]!))
        }
        return GemmaWeights(embed: embedding, finalNorm: norm, layers: layers)
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
    /// With `quantizedEmbedding`, a Q8_0 embedding (the 270M's) stays Q8_0 in inference panels
    /// (`WeightMatrix(q8_0Blocks:…)`): 490 MB less memory and a 4x smaller read for the tied head,
    /// with the same values; such a model serves forward passes only.
    public static func load(gguf: GGUFFile, config c: GemmaConfig, quantizedEmbedding: Bool = false) throws -> GemmaWeights {
        func checked(_ name: String, _ shape: [Int]) throws -> GGUFTensorInfo {
            let info = try gguf.tensor(name)
            guard info.shape == shape else {
                throw PlaypenError("\(gguf.path): tensor \(name) has shape \(info.shape), expected \(shape) from the model config")
            }
            return info
        }
        var embedding: WeightMatrix?
        let embedInfo = try checked(TensorName.gguf(TensorName.embed), [c.vocabSize, c.hiddenSize])
        if quantizedEmbedding, embedInfo.type == .q8_0 {
            let raw = try gguf.file.bytes(at: embedInfo.offset, count: embedInfo.byteCount, "data of tensor \(embedInfo.name)")
            let base = Int(bitPattern: raw.baseAddress), blocksPerRow = c.hiddenSize / 32
            embedding = WeightMatrix(q8_0Blocks: raw, rows: c.vocabSize, cols: c.hiddenSize) { row, block in
                let at = UnsafeRawPointer(bitPattern: base)! + (row * blocksPerRow + block) * 34
                return halfToFloat(at.loadUnaligned(as: UInt16.self).littleEndian)
            }
            gguf.releasePages(embedInfo)
        }
        return try TensorName.assemble(c, embedding: embedding) { hf, shape, _ in
            let name = TensorName.gguf(hf)
            let info = try checked(name, shape)
            let out = Tensor(uninitializedShape: shape)
            try gguf.dequantize(info, into: out.data)
            gguf.releasePages(info)
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
// HF safetensors set: a single `model.safetensors` or the shards of `model.safetensors.index.json`,
// each parsed and validated by PlaypenIO's SafetensorsFile. Keys are canonicalised by dropping
// `model.`, `language_model.`, `model.language_model.` prefixes.
// ---------------------------------------------------------------------------------------------

struct SafetensorsSet {
    var entries: [String: (file: SafetensorsFile, name: String)] = [:]
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
            add(try SafetensorsFile(path: directory + "/" + f))
        }
    }

    /// A single safetensors file (not a directory).
    init(file path: String) throws {
        directory = path
        add(try SafetensorsFile(path: path))
    }

    mutating func add(_ file: SafetensorsFile) {
        for name in file.names { entries[Self.canonical(name)] = (file, name) }
    }

    static func canonical(_ key: String) -> String {
        var k = key
        for prefix in ["model.language_model.", "language_model.model.", "language_model.", "model."] where k.hasPrefix(prefix) {
            k.removeFirst(prefix.count)
            break
        }
        return k
    }

    func has(_ key: String) -> Bool { entries[key] != nil }

    func shape(of key: String) -> [Int]? { entries[key].flatMap { try? $0.file.info($0.name).shape } }

    private func entry(_ key: String) throws -> (file: SafetensorsFile, name: String) {
        guard let e = entries[key] else {
            throw PlaypenError("\(directory): tensor model.\(key) not found in the safetensors files")
        }
        return e
    }

    /// Integer tensor as [Int].
    func ints(_ key: String) throws -> [Int] {
        let e = try entry(key)
        return try e.file.int64s(e.name).map { Int($0) }
    }

    /// Float tensor (F32/F16/BF16/F64) of whatever shape is stored.
    func floats(_ key: String) throws -> Tensor {
        let e = try entry(key)
        return try floats(key, shape: try e.file.info(e.name).shape)
    }

    /// Float tensor, checked against the expected shape.
    func floats(_ key: String, shape: [Int]) throws -> Tensor {
        let e = try entry(key)
        let info = try e.file.info(e.name)
        guard info.shape == shape else {
            throw PlaypenError("\(e.file.path): tensor \(e.name) has shape \(info.shape), expected \(shape) from config.json")
        }
        return Tensor(shape: shape, values: try e.file.floats(e.name))
    }
}
