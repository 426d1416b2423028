import Foundation
import PlaypenIO

/// Gemma-3 text decoder hyper-parameters (gemma3.md §1). Every field is explicit: no
/// transformers-style 4B defaults.
public struct GemmaConfig: Sendable, Equatable, Codable {
    public var vocabSize: Int
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var numLayers: Int
    public var numHeads: Int
    public var numKVHeads: Int
    public var headDim: Int
    public var slidingWindow: Int
    /// RoPE base of full-attention (global) layers.
    public var ropeTheta: Double
    /// RoPE base of sliding-window (local) layers.
    public var ropeLocalTheta: Double
    /// Scores are scaled by queryPreAttnScalar^-1/2.
    public var queryPreAttnScalar: Double
    public var rmsNormEps: Float
    /// true for full-attention layers, false for sliding-window layers.
    public var layerIsGlobal: [Bool]
    public var maxPositions: Int
    public var bosTokenID: Int
    public var eosTokenIDs: [Int]
    public var padTokenID: Int

    public var queryWidth: Int { numHeads * headDim }
    public var kvWidth: Int { numKVHeads * headDim }

    /// Gemma-3's layer pattern: layer i is global iff (i + 1) % pattern == 0.
    public static func layerPattern(layers: Int, pattern: Int = 6) -> [Bool] {
        (0..<layers).map { ($0 + 1) % pattern == 0 }
    }

    /// google/gemma-3-270m.
    public static let gemma3_270m = GemmaConfig(
        vocabSize: 262_144, hiddenSize: 640, intermediateSize: 2048, numLayers: 18, numHeads: 4,
        numKVHeads: 1, headDim: 256, slidingWindow: 512, ropeTheta: 1_000_000, ropeLocalTheta: 10_000,
        queryPreAttnScalar: 256, rmsNormEps: 1e-6, layerIsGlobal: layerPattern(layers: 18),
        maxPositions: 32768, bosTokenID: 2, eosTokenIDs: [1], padTokenID: 0)

    /// google/gemma-3-1b-it.
    public static let gemma3_1b = GemmaConfig(
        vocabSize: 262_144, hiddenSize: 1152, intermediateSize: 6912, numLayers: 26, numHeads: 4,
        numKVHeads: 1, headDim: 256, slidingWindow: 512, ropeTheta: 1_000_000, ropeLocalTheta: 10_000,
        queryPreAttnScalar: 256, rmsNormEps: 1e-6, layerIsGlobal: layerPattern(layers: 26),
        maxPositions: 32768, bosTokenID: 2, eosTokenIDs: [1, 106], padTokenID: 0)

    /// Checks internal consistency; throws naming `source` and the offending field.
    public func validate(_ source: String) throws {
        func need(_ ok: Bool, _ what: String) throws {
            if !ok { throw PlaypenError("\(source): invalid model config: \(what)") }
        }
        try need(vocabSize > 0 && hiddenSize > 0 && intermediateSize > 0, "sizes must be positive")
        try need(numLayers > 0 && numHeads > 0 && numKVHeads > 0 && headDim > 0 && headDim % 2 == 0,
                 "layers/heads/head_dim must be positive and head_dim even")
        try need(numHeads % numKVHeads == 0, "num_attention_heads \(numHeads) is not a multiple of num_key_value_heads \(numKVHeads)")
        try need(layerIsGlobal.count == numLayers, "layer_types has \(layerIsGlobal.count) entries for \(numLayers) layers")
        try need(slidingWindow > 0, "sliding_window must be positive")
        try need(queryPreAttnScalar > 0 && rmsNormEps >= 0, "query_pre_attn_scalar / rms_norm_eps")
        try need(ropeTheta > 0 && ropeLocalTheta > 0, "rope bases must be positive")
        try need(hiddenSize <= 1 << 16 && intermediateSize <= 1 << 18 && vocabSize <= 1 << 22
                 && numLayers <= 1024 && numHeads * headDim <= 1 << 16, "sizes are implausibly large")
    }

    /// Config from GGUF metadata (`<arch>.*` keys) plus Gemma-3 architecture defaults for what
    /// GGUF does not store (layer pattern 6, local rope base 10,000, query_pre_attn_scalar 256).
    public static func fromGGUF(_ gguf: GGUFFile) throws -> GemmaConfig {
        let m = gguf.metadata
        let arch = m["general.architecture"]?.stringValue ?? ""
        guard arch == "gemma3" else {
            throw PlaypenError("\(gguf.path): general.architecture is \"\(arch)\", expected \"gemma3\"")
        }
        func int(_ key: String) throws -> Int {
            guard let v = m["gemma3." + key]?.intValue else {
                throw PlaypenError("\(gguf.path): missing or non-integer metadata key gemma3.\(key)")
            }
            return v
        }
        func double(_ key: String, _ fallback: Double) -> Double { m["gemma3." + key]?.doubleValue ?? fallback }
        let layers = try int("block_count")
        let heads = try int("attention.head_count")
        let hidden = try int("embedding_length")
        let vocab = m["tokenizer.ggml.tokens"]?.arrayValue?.count ?? 0
        var eos = [m["tokenizer.ggml.eos_token_id"]?.intValue ?? 1]
        if let eot = m["tokenizer.ggml.eot_token_id"]?.intValue, !eos.contains(eot) { eos.append(eot) }
        let cfg = GemmaConfig(
            vocabSize: vocab, hiddenSize: hidden, intermediateSize: try int("feed_forward_length"),
            numLayers: layers, numHeads: heads,
            numKVHeads: m["gemma3.attention.head_count_kv"]?.intValue ?? heads,
            headDim: m["gemma3.attention.key_length"]?.intValue ?? hidden / heads,
            slidingWindow: m["gemma3.attention.sliding_window"]?.intValue ?? 512,
            ropeTheta: double("rope.freq_base", 1_000_000),
            ropeLocalTheta: double("rope.freq_base_swa", 10_000),
            queryPreAttnScalar: 256,
            rmsNormEps: Float(double("attention.layer_norm_rms_epsilon", 1e-6)),
            layerIsGlobal: layerPattern(layers: layers),
            maxPositions: m["gemma3.context_length"]?.intValue ?? 32768,
            bosTokenID: m["tokenizer.ggml.bos_token_id"]?.intValue ?? 2, eosTokenIDs: eos,
            padTokenID: m["tokenizer.ggml.padding_token_id"]?.intValue ?? 0)
        try cfg.validate(gguf.path)
        return cfg
    }

    /// Config from a Hugging Face `config.json` (transformers 4.x `rope_theta` /
    /// `rope_local_base_freq` or 5.x `rope_parameters`; `layer_types` or `sliding_window_pattern`).
    public static func fromHFConfig(path: String) throws -> GemmaConfig {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw PlaypenError("\(path): cannot read config.json")
        }
        guard var obj = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw PlaypenError("\(path): not a JSON object")
        }
        if let text = obj["text_config"] as? [String: Any] { obj = text }  // multimodal wrapper
        func num(_ key: String) -> Double? { (obj[key] as? NSNumber)?.doubleValue }
        func int(_ key: String) throws -> Int {
            guard let v = num(key), v == v.rounded(), abs(v) < 1e12 else {
                throw PlaypenError("\(path): missing or non-integer key \"\(key)\"")
            }
            return Int(v)
        }
        let layers = try int("num_hidden_layers")
        let heads = try int("num_attention_heads")
        var global: [Bool]
        if let types = obj["layer_types"] as? [String] {
            global = try types.enumerated().map { i, t in
                switch t {
                case "full_attention": return true
                case "sliding_attention": return false
                default: throw PlaypenError("\(path): layer_types[\(i)] is \"\(t)\", expected full_attention or sliding_attention")
                }
            }
        } else {
            let pattern = Int(num("sliding_window_pattern") ?? num("_sliding_window_pattern") ?? 6)
            global = layerPattern(layers: layers, pattern: max(1, pattern))
        }
        var theta = num("rope_theta") ?? 1_000_000
        var localTheta = num("rope_local_base_freq") ?? 10_000
        if let rp = obj["rope_parameters"] as? [String: Any] {
            if let full = rp["full_attention"] as? [String: Any], let t = (full["rope_theta"] as? NSNumber)?.doubleValue { theta = t }
            if let sl = rp["sliding_attention"] as? [String: Any], let t = (sl["rope_theta"] as? NSNumber)?.doubleValue { localTheta = t }
            for (kind, value) in rp {
                if let d = value as? [String: Any], let type = d["rope_type"] as? String, type != "default" {
                    throw PlaypenError("\(path): rope_parameters.\(kind).rope_type \"\(type)\" is not supported (only default)")
                }
            }
        }
        if let scaling = obj["rope_scaling"], !(scaling is NSNull) {
            throw PlaypenError("\(path): rope_scaling is not supported")
        }
        for key in ["attn_logit_softcapping", "final_logit_softcapping"] {
            if let v = obj[key], !(v is NSNull) {
                throw PlaypenError("\(path): \(key) = \(v) is not supported (Gemma 3 has none)")
            }
        }
        var eos: [Int] = [1]
        if let e = obj["eos_token_id"] as? NSNumber { eos = [e.intValue] }
        if let e = obj["eos_token_id"] as? [NSNumber] { eos = e.map(\.intValue) }
        let headDim = try int("head_dim")
        let cfg = GemmaConfig(
            vocabSize: try int("vocab_size"), hiddenSize: try int("hidden_size"),
            intermediateSize: try int("intermediate_size"), numLayers: layers, numHeads: heads,
            numKVHeads: try int("num_key_value_heads"), headDim: headDim,
            slidingWindow: try int("sliding_window"), ropeTheta: theta, ropeLocalTheta: localTheta,
            queryPreAttnScalar: try { () throws -> Double in
                guard let v = num("query_pre_attn_scalar") else {
                    throw PlaypenError("\(path): missing key \"query_pre_attn_scalar\"")
                }
                return v
            }(),
            rmsNormEps: Float(num("rms_norm_eps") ?? 1e-6), layerIsGlobal: global,
            maxPositions: (try? int("max_position_embeddings")) ?? 32768,
            bosTokenID: (try? int("bos_token_id")) ?? 2, eosTokenIDs: eos,
            padTokenID: (try? int("pad_token_id")) ?? 0)
        try cfg.validate(path)
        return cfg
    }
}
