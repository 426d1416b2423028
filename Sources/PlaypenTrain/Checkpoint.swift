import Foundation
import PlaypenIO

// ----------------------------------------------------------------------------------------------
// Settings that determine a training run's numbers, and resumable checkpoints.

/// Everything that changes the trained adapter's bytes. A checkpoint stores it; resuming with
/// different settings is an error naming the first differing key.
public struct TrainSettings: Codable, Equatable, Sendable {
    public var model: String = ""              // identity: path and config summary
    public var trainData: String = ""          // identity: path and sha256
    public var lora = LoRAConfig()
    public var learningRate = 1e-4
    public var schedule = LRScheduleKind.cosine
    public var warmupRatio = 0.03
    public var warmupSteps = 0
    public var epochs = 3
    public var maxSteps = 0
    public var batchSize = 4
    public var accumulation = 4
    public var maxLength = 384
    public var truncation = Truncation.left
    public var adam = AdamWConfig()
    public var maxGradNorm = 1.0
    public var seed: UInt64 = 42
    public var initAdapter: String? = nil

    public init() {}

    /// Keys whose values differ between two settings, in a stable order.
    public func differences(from other: TrainSettings) -> [(key: String, mine: String, theirs: String)] {
        func flat(_ s: TrainSettings) -> [String: String] {
            let data = (try? JSONEncoder().encode(s)) ?? Data()
            let obj = (try? JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? [:]
            var out: [String: String] = [:]
            for (k, v) in obj {
                if let d = v as? [String: Any] {
                    for (k2, v2) in d { out["\(k).\(k2)"] = "\(v2)" }
                } else {
                    out[k] = "\(v)"
                }
            }
            return out
        }
        let a = flat(self), b = flat(other)
        return Set(a.keys).union(b.keys).sorted().compactMap { k in
            a[k] == b[k] ? nil : (k, a[k] ?? "-", b[k] ?? "-")
        }
    }
}

/// Progress saved with a checkpoint.
public struct TrainProgress: Codable, Equatable, Sendable {
    public var step = 0                 // completed optimizer steps
    public var bestEvalLoss: Double? = nil
    public var bestStep: Int? = nil
    public var lastEvalLoss: Double? = nil

    public init() {}
}

/// A resumable checkpoint: LoRA parameters, AdamW moments and step, progress, settings; one
/// safetensors file written atomically (temporary name, then rename).
public enum Checkpoint {
    static let formatVersion = "1"

    public static func save(path: String, params: LoRAParameters, optimizer: AdamW,
                            progress: TrainProgress, settings: TrainSettings) throws {
        let count = params.values.count
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        let meta: [String: String] = [
            "format": "playpen-train-checkpoint", "version": formatVersion,
            "settings": String(decoding: try enc.encode(settings), as: UTF8.self),
            "progress": String(decoding: try enc.encode(progress), as: UTF8.self),
            "adam_step": String(optimizer.step),
        ]
        try SafetensorsLite.write([
            NamedTensor(name: "lora", shape: [count], values: params.values.array),
            NamedTensor(name: "adam_m", shape: [count], values: optimizer.m.array),
            NamedTensor(name: "adam_v", shape: [count], values: optimizer.v.array),
        ], metadata: meta, to: path)
    }

    /// Loads a checkpoint made with exactly `settings` for a model of `shape`.
    public static func load(path: String, settings: TrainSettings, shape: LoRAModelShape)
        throws -> (params: LoRAParameters, optimizer: AdamW, progress: TrainProgress)
    {
        let (tensors, meta) = try SafetensorsLite.read(path)
        guard meta["format"] == "playpen-train-checkpoint", meta["version"] == formatVersion,
              let s = meta["settings"], let p = meta["progress"], let stepText = meta["adam_step"],
              let adamStep = Int(stepText)
        else { throw PlaypenError("\(path): not a pp-train checkpoint (format version \(formatVersion))") }
        let dec = JSONDecoder()
        let saved = try dec.decode(TrainSettings.self, from: Data(s.utf8))
        let diff = settings.differences(from: saved)
        if let first = diff.first {
            throw PlaypenError(
                "\(path): checkpoint of another configuration: \(first.key) is \(first.theirs) there and \(first.mine) here (\(diff.count) setting(s) differ: \(diff.map(\.key).joined(separator: ", "))); resume with the same settings or use a new output directory")
        }
        let progress = try dec.decode(TrainProgress.self, from: Data(p.utf8))
        let layout = LoRALayout(config: settings.lora, shape: shape)
        for name in ["lora", "adam_m", "adam_v"] {
            guard let t = tensors[name], t.values.count == layout.count else {
                throw PlaypenError("\(path): tensor \(name) missing or not of \(layout.count) values")
            }
        }
        let params = LoRAParameters(layout: layout)
        params.values.copy(from: FloatBuffer(tensors["lora"]!.values))
        let opt = AdamW(config: settings.adam, m: FloatBuffer(tensors["adam_m"]!.values),
                        v: FloatBuffer(tensors["adam_v"]!.values), step: adamStep)
        return (params, opt, progress)
    }
}
