import CBLAS
import Foundation
import PlaypenIO
import PlaypenModel
import PlaypenTensor

// ----------------------------------------------------------------------------------------------
// PEFT adapter directories: adapter_config.json + adapter_model.safetensors.

public enum PeftAdapter {
    /// Tensor name PEFT saves, e.g. `base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight`.
    public static func tensorName(_ m: LoRAModule, _ matrix: String) -> String {
        "\(m.peftName).\(matrix).weight"
    }

    /// The adapter's tensors with PEFT names and shapes (A [r, in], B [out, r]).
    static func tensors(_ p: LoRAParameters) -> [NamedTensor] {
        let r = p.layout.config.r
        var out: [NamedTensor] = []
        for m in p.layout.modules {
            out.append(NamedTensor(name: tensorName(m, "lora_A"), shape: [r, m.inF],
                                   values: Array(UnsafeBufferPointer(start: p.a(m), count: r * m.inF))))
            out.append(NamedTensor(name: tensorName(m, "lora_B"), shape: [m.outF, r],
                                   values: Array(UnsafeBufferPointer(start: p.b(m), count: m.outF * r))))
        }
        return out
    }

    /// `adapter_config.json` as peft 0.21 reads it (LoraConfig keys; unlisted keys take peft's
    /// defaults). Keys sorted, two-space indent, so the bytes are deterministic.
    public static func configJSON(_ c: LoRAConfig, baseModel: String?) throws -> Data {
        let object: [String: Any] = [
            "peft_type": "LORA", "task_type": "CAUSAL_LM",
            "base_model_name_or_path": baseModel ?? NSNull(),
            "r": c.r, "lora_alpha": Double(c.alpha), "lora_dropout": Double(c.dropout),
            "target_modules": c.targets.map(\.rawValue).sorted(),
            "bias": "none", "fan_in_fan_out": false, "inference_mode": true, "init_lora_weights": true,
            "use_rslora": false, "use_dora": false, "modules_to_save": NSNull(),
            "layers_to_transform": NSNull(), "layers_pattern": NSNull(),
            "rank_pattern": [String: Any](), "alpha_pattern": [String: Any](),
        ]
        var data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes])
        data.append(0x0A)
        return data
    }

    /// Writes the adapter directory. Both files are built in a temporary sibling directory that
    /// replaces `directory` only when complete.
    public static func write(_ p: LoRAParameters, to directory: String, baseModel: String? = nil) throws {
        let fm = FileManager.default
        let url = URL(fileURLWithPath: directory)
        let parent = url.deletingLastPathComponent().path
        guard fm.fileExists(atPath: parent) else {
            throw PlaypenError("\(directory): cannot write adapter: directory \(parent) does not exist")
        }
        let tmp = parent + "/." + url.lastPathComponent + ".tmp-\(getpid())"
        try? fm.removeItem(atPath: tmp)
        try fm.createDirectory(atPath: tmp, withIntermediateDirectories: false)
        do {
            try SafetensorsLite.write(tensors(p), metadata: ["format": "pt"], to: tmp + "/adapter_model.safetensors")
            let config = try configJSON(p.layout.config, baseModel: baseModel)
            guard fm.createFile(atPath: tmp + "/adapter_config.json", contents: config) else {
                throw PlaypenError("\(tmp)/adapter_config.json: cannot write")
            }
            try replaceDirectory(directory, with: tmp)
        } catch {
            try? fm.removeItem(atPath: tmp)
            throw error
        }
    }

    /// Moves `tmp` into place as `directory`, replacing an existing one.
    static func replaceDirectory(_ directory: String, with tmp: String) throws {
        let fm = FileManager.default
        let old = directory + ".old-\(getpid())"
        let existed = fm.fileExists(atPath: directory)
        if existed, rename(directory, old) != 0 {
            throw PlaypenError("\(directory): cannot move the previous version aside: \(String(cString: strerror(errno)))")
        }
        if rename(tmp, directory) != 0 {
            let reason = String(cString: strerror(errno))
            if existed { rename(old, directory) }
            throw PlaypenError("\(directory): cannot move the new version into place: \(reason)")
        }
        if existed { try? fm.removeItem(atPath: old) }
    }

    /// Reads the LoRA settings of an adapter directory.
    public static func readConfig(_ directory: String) throws -> LoRAConfig {
        let path = directory + "/adapter_config.json"
        guard let data = FileManager.default.contents(atPath: path) else {
            throw PlaypenError("\(path): cannot read (not a PEFT adapter directory?)")
        }
        guard let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw PlaypenError("\(path): not a JSON object")
        }
        func number(_ key: String) throws -> Double {
            guard let v = obj[key] as? NSNumber else { throw PlaypenError("\(path): key '\(key)' missing or not a number") }
            return v.doubleValue
        }
        if let t = obj["peft_type"] as? String, t != "LORA" {
            throw PlaypenError("\(path): peft_type '\(t)', expected LORA")
        }
        for flag in ["use_dora", "use_rslora", "fan_in_fan_out"] where (obj[flag] as? Bool) == true {
            throw PlaypenError("\(path): '\(flag)': true is not supported (plain LoRA only)")
        }
        for key in ["rank_pattern", "alpha_pattern"] {
            if let d = obj[key] as? [String: Any], !d.isEmpty {
                throw PlaypenError("\(path): '\(key)' is not empty; per-module ranks are not supported")
            }
        }
        if let l = obj["layers_to_transform"], !(l is NSNull) {
            throw PlaypenError("\(path): 'layers_to_transform' is set; adapters on a subset of layers are not supported")
        }
        guard let names = obj["target_modules"] as? [String] else {
            throw PlaypenError("\(path): 'target_modules' must be a list of module names (a regex string is not supported)")
        }
        let targets = try LoRATarget.parseList(names.joined(separator: ","))
        let r = try number("r")
        return LoRAConfig(r: Int(r), alpha: Float(try number("lora_alpha")),
                          dropout: Float((obj["lora_dropout"] as? NSNumber)?.doubleValue ?? 0), targets: targets)
    }

    /// Reads an adapter written by peft (or by `write`) for a model of the given shape. Every
    /// expected tensor must be present with its exact shape; any other tensor is an error.
    public static func read(_ directory: String, shape: LoRAModelShape) throws -> LoRAParameters {
        let config = try readConfig(directory)
        let path = directory + "/adapter_model.safetensors"
        guard FileManager.default.fileExists(atPath: path) else {
            throw PlaypenError("\(path): missing (adapter_model.bin pickles are not read; re-save with safe_serialization)")
        }
        var (tensors, _) = try SafetensorsLite.read(path)
        let layout = LoRALayout(config: config, shape: shape)
        let p = LoRAParameters(layout: layout)
        let r = config.r
        for m in layout.modules {
            for (matrix, dst, want) in [("lora_A", p.a(m), [r, m.inF]), ("lora_B", p.b(m), [m.outF, r])] {
                let name = tensorName(m, matrix)
                guard let t = tensors.removeValue(forKey: name)
                        ?? tensors.removeValue(forKey: name.replacingOccurrences(of: ".weight", with: ".default.weight"))
                else { throw PlaypenError("\(path): tensor \(name) missing (the model has \(shape.layers) layers)") }
                guard t.shape == want else {
                    throw PlaypenError("\(path): tensor \(name) has shape \(t.shape), the model expects \(want)")
                }
                t.values.withUnsafeBufferPointer { dst.update(from: $0.baseAddress!, count: $0.count) }
            }
        }
        if let extra = tensors.keys.sorted().first {
            throw PlaypenError("\(path): tensor \(extra) does not fit the model (\(shape.layers) layers, targets \(config.targets.map(\.rawValue).joined(separator: ",")))")
        }
        return p
    }
}

extension PeftAdapter {
    /// Adds a PEFT LoRA adapter into the model's weights in place: `W += (alpha/r)·B·A` for every
    /// wrapped projection (the function the unmerged adapter computes, without dropout), for
    /// tools that only run the forward (pp-model, pp-eval, pp-sae extract). Returns the adapter's
    /// layout (its LoRA settings and parameter count).
    @discardableResult
    public static func merge(_ directory: String, into model: GemmaModel) throws -> LoRALayout {
        let lora = try read(directory, shape: LoRAModelShape(model.config))
        let r = lora.layout.config.r
        let scale = lora.layout.config.scale
        for m in lora.layout.modules {
            let w = model.weights.layers[m.layer]
            let target: Tensor
            switch m.target {
            case .q: target = w.q.rowMajor
            case .k: target = w.k.rowMajor
            case .v: target = w.v.rowMajor
            case .o: target = w.o.rowMajor
            case .gate: target = w.gate.rowMajor
            case .up: target = w.up.rowMajor
            case .down: target = w.down.rowMajor
            }
            guard target.count == m.outF * m.inF else {
                throw PlaypenError("\(directory): \(m.peftName) is [\(m.outF), \(m.inF)] but the model's weight has \(target.count) values")
            }
            // W [out, in] += scale · B [out, r] · A [r, in]
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m.outF), Int32(m.inF), Int32(r), scale,
                        lora.b(m), Int32(r), lora.a(m), Int32(m.inF), 1, target.data, Int32(m.inF))
        }
        return lora.layout
    }

    /// How every forward-only tool applies `--adapter`: loads the model (GGUF file or HF
    /// directory), merges the PEFT adapter, if any, into its weights, and packs them for inference.
    /// The process is a forward-only one from here, its products on the panel kernel rather than
    /// OpenBLAS's threads, so its parallel jobs go to the spinning worker pool.
    public static func loadMerged(model path: String, adapter: String?) throws -> (model: GemmaModel, adapter: LoRALayout?) {
        let model = try GemmaModel.load(path, forInference: true)
        let layout = try adapter.map { try merge($0, into: model) }
        model.packForInference()
        useSpinningWorkers()
        return (model, layout)
    }
}

extension LoRAModelShape {
    /// The shapes LoRA wraps in a Gemma-3 of this configuration.
    public init(_ c: GemmaConfig) {
        self.init(layers: c.numLayers, hidden: c.hiddenSize, intermediate: c.intermediateSize,
                  qDim: c.queryWidth, kvDim: c.kvWidth)
    }
}
