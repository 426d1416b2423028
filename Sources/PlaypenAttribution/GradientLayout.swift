import Foundation
import PlaypenIO

/// One gradient "module" as Bergson counts them: a linear map y = W x with W of shape [out, in].
/// For a LoRA adapter, `lora_A` and `lora_B` of every adapted layer are separate modules.
public struct GradientModule: Codable, Sendable, Equatable {
    /// Bergson's name, e.g. `model.model.layers.0.self_attn.q_proj.lora_A.default`.
    public var name: String
    public var outFeatures: Int
    public var inFeatures: Int

    enum CodingKeys: String, CodingKey {
        case name, outFeatures = "out_features", inFeatures = "in_features"
    }

    public init(name: String, outFeatures: Int, inFeatures: Int) {
        self.name = name
        self.outFeatures = outFeatures
        self.inFeatures = inFeatures
    }
}

/// How per-module gradients are projected (recorded in every gradient stream header).
public struct ProjectionConfig: Codable, Sendable, Equatable {
    /// p: each module's gradient becomes p x p; 0 = no projection (the full out x in gradient).
    public var dim: Int
    public var scale: ProjectionScale
    public var generator: ProjectionGenerator
    /// Bergson's `projection_seed`: appended to identifiers as `/seed<n>` when set.
    public var seed: Int?

    public init(dim: Int = 32, scale: ProjectionScale = .jl, generator: ProjectionGenerator = .philox, seed: Int? = nil) {
        self.dim = dim
        self.scale = scale
        self.generator = generator
        self.seed = seed
    }
}

/// The column layout of a per-example gradient row: modules concatenated in order, each
/// flattened row-major (row = output/left side), exactly Bergson's `grad_sizes` order.
public struct GradientLayout: Codable, Sendable, Equatable {
    public var modules: [GradientModule]
    public var projection: ProjectionConfig

    public init(modules: [GradientModule], projection: ProjectionConfig) {
        self.modules = modules
        self.projection = projection
    }

    /// Values module `m` contributes to a row: p² when projected, out·in otherwise.
    public func width(_ m: Int) -> Int {
        projection.dim > 0 ? projection.dim * projection.dim : modules[m].outFeatures * modules[m].inFeatures
    }

    /// Column offset of each module, plus the total row width at the end.
    public var offsets: [Int] {
        var result = [0]
        for m in modules.indices { result.append(result[m] + width(m)) }
        return result
    }

    public var rowWidth: Int { offsets.last! }

    /// A one-line description of the first difference from `other`, or nil when compatible.
    /// Query, train rows and preconditioners must all agree on this for scores to mean anything.
    public func mismatch(_ other: GradientLayout) -> String? {
        if projection.dim != other.projection.dim {
            return "projection dim \(projection.dim) vs \(other.projection.dim)"
        }
        if projection.scale != other.projection.scale {
            return "projection scale \(projection.scale.rawValue) vs \(other.projection.scale.rawValue)"
        }
        if projection.generator != other.projection.generator {
            return "projection generator \(projection.generator.rawValue) vs \(other.projection.generator.rawValue)"
        }
        if projection.seed != other.projection.seed {
            return "projection seed \(projection.seed.map(String.init) ?? "none") vs \(other.projection.seed.map(String.init) ?? "none")"
        }
        if modules.count != other.modules.count {
            return "\(modules.count) modules vs \(other.modules.count)"
        }
        for (a, b) in zip(modules, other.modules) where a != b {
            return "module \(a.name) [\(a.outFeatures)x\(a.inFeatures)] vs \(b.name) [\(b.outFeatures)x\(b.inFeatures)]"
        }
        return nil
    }

    /// The module names of a PEFT LoRA adapter in Bergson's column order: layer by layer, then
    /// q, k, v, o, gate, up, down, each lora_A then lora_B.
    public static func loraModuleNames(layers: Int, targets: [String] = LoRATargets.all) -> [String] {
        var names: [String] = []
        for l in 0..<layers {
            for t in LoRATargets.all where targets.contains(t) {
                let parent = ["q_proj", "k_proj", "v_proj", "o_proj"].contains(t) ? "self_attn" : "mlp"
                for f in ["lora_A", "lora_B"] { names.append("model.model.layers.\(l).\(parent).\(t).\(f).default") }
            }
        }
        return names
    }

    /// Bergson's layout for a LoRA adapter: for a target with base weight [out, in] and rank r,
    /// lora_A is [r, in] and lora_B is [out, r].
    public static func lora(layers: Int, rank: Int, shapes: [String: (out: Int, in: Int)],
                            projection: ProjectionConfig) -> GradientLayout
    {
        var modules: [GradientModule] = []
        for l in 0..<layers {
            for t in LoRATargets.all {
                guard let s = shapes[t] else { continue }
                let parent = ["q_proj", "k_proj", "v_proj", "o_proj"].contains(t) ? "self_attn" : "mlp"
                let base = "model.model.layers.\(l).\(parent).\(t)"
                modules.append(GradientModule(name: base + ".lora_A.default", outFeatures: rank, inFeatures: s.in))
                modules.append(GradientModule(name: base + ".lora_B.default", outFeatures: s.out, inFeatures: rank))
            }
        }
        return GradientLayout(modules: modules, projection: projection)
    }
}

public enum LoRATargets {
    public static let all = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
}
