import Foundation
import PlaypenIO

// Loading and saving SAEs in the three on-disk layouts of sae.md §2, §3 and §5.

/// The on-disk layouts an SAE can be read from.
public enum SAEFormat: String, Sendable {
    /// `config.json` + `params.safetensors` (lowercase names), Gemma Scope 2 and pp-sae's own.
    case gemmaScope2 = "gemma-scope-2"
    /// `params.npz` (W_enc, W_dec, b_enc, b_dec, threshold), Gemma Scope 1.
    case gemmaScope1 = "gemma-scope-1"
    /// `cfg.json` + `sae_weights.safetensors`, SAELens' `save_model` layout.
    case saeLens = "saelens"
}

/// A directory written in full under a temporary sibling name and renamed into place on `commit()`.
/// An existing directory of the same name is replaced only then.
public final class AtomicDirectory {
    public let finalPath: String
    public let temporaryPath: String
    private var committed = false

    public init(path: String) throws {
        finalPath = path
        let url = URL(fileURLWithPath: path)
        let parent = url.deletingLastPathComponent().path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: parent, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw PlaypenError("\(path): cannot write: directory \(parent) does not exist")
        }
        temporaryPath = parent + "/." + url.lastPathComponent + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        do {
            try FileManager.default.createDirectory(atPath: temporaryPath, withIntermediateDirectories: false)
        } catch {
            throw PlaypenError("\(path): cannot create temporary directory \(temporaryPath)")
        }
    }

    public func file(_ name: String) -> String { temporaryPath + "/" + name }

    public func commit() throws {
        guard !committed else { return }
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: finalPath, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else {
                abort()
                throw PlaypenError("\(finalPath): exists and is not a directory")
            }
            try? FileManager.default.removeItem(atPath: finalPath)
        }
        if rename(temporaryPath, finalPath) != 0 {
            let reason = String(cString: strerror(errno))
            abort()
            throw PlaypenError("\(finalPath): cannot rename temporary directory into place: \(reason)")
        }
        committed = true
    }

    public func abort() {
        if !committed { try? FileManager.default.removeItem(atPath: temporaryPath) }
        committed = true
    }

    deinit { abort() }
}

extension SparseAutoencoder {
    /// Loads an SAE from a directory (format detected from its files) or a `params.npz` file.
    public static func load(path: String) throws -> SparseAutoencoder {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw PlaypenError("\(path): SAE not found")
        }
        if !isDirectory.boolValue {
            if path.hasSuffix(".npz") { return try loadGemmaScope1(npz: path) }
            throw PlaypenError("\(path): an SAE is a directory (config.json + params.safetensors, cfg.json + sae_weights.safetensors, or params.npz) or a .npz file")
        }
        let fm = FileManager.default
        if fm.fileExists(atPath: path + "/params.safetensors") { return try loadGemmaScope2(directory: path) }
        if fm.fileExists(atPath: path + "/sae_weights.safetensors") { return try loadSAELens(directory: path) }
        if fm.fileExists(atPath: path + "/params.npz") { return try loadGemmaScope1(npz: path + "/params.npz") }
        throw PlaypenError("\(path): no params.safetensors, sae_weights.safetensors or params.npz in this directory")
    }

    static func readJSONObject(_ path: String) throws -> [String: Any] {
        guard let data = FileManager.default.contents(atPath: path) else { throw PlaypenError("\(path): cannot read") }
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw PlaypenError("\(path): not a JSON object")
        }
        return object
    }

    static func flatten(_ object: [String: Any]) -> [String: String] {
        var out: [String: String] = [:]
        for (k, v) in object {
            if let s = v as? String { out[k] = s } else if let n = v as? NSNumber { out[k] = n.stringValue } else if v is NSNull { out[k] = "null" }
            else if let d = v as? [String: Any] { for (kk, vv) in flatten(d) { out[k + "." + kk] = vv } }
        }
        return out
    }

    /// Fetches a tensor by name, checking its shape exactly.
    static func tensor(_ tensors: [String: LoadedArray], _ names: [String], shape: [Int], file: String) throws -> [Float] {
        guard let name = names.first(where: { tensors[$0] != nil }), let t = tensors[name] else {
            throw PlaypenError("\(file): missing tensor \(names[0]) (expected shape \(shape))")
        }
        guard t.shape == shape else {
            throw PlaypenError("\(file): tensor \(name) has shape \(t.shape), expected \(shape)")
        }
        return t.values
    }

    static func layerNumber(_ text: String?, pattern: String) -> Int? {
        guard let text, let regex = try? NSRegularExpression(pattern: pattern),
              let match = regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)),
              let range = Range(match.range(at: 1), in: text) else { return nil }
        return Int(text[range])
    }

    /// Shapes of w_enc decide d_in and d_sae; every other tensor must agree.
    static func dimensions(_ tensors: [String: LoadedArray], encoder names: [String], file: String) throws -> (Int, Int) {
        guard let name = names.first(where: { tensors[$0] != nil }), let w = tensors[name] else {
            throw PlaypenError("\(file): missing tensor \(names[0]) (expected shape [d_in, d_sae])")
        }
        guard w.shape.count == 2 else { throw PlaypenError("\(file): tensor \(name) has shape \(w.shape), expected [d_in, d_sae]") }
        return (w.shape[0], w.shape[1])
    }

    /// Gemma Scope 2 / pp-sae native: `config.json` + `params.safetensors`.
    public static func loadGemmaScope2(directory: String) throws -> SparseAutoencoder {
        let configPath = directory + "/config.json"
        let config = try readJSONObject(configPath)
        let paramsPath = directory + "/params.safetensors"
        let (tensors, _) = try readSafetensors(path: paramsPath)
        let (dIn, dSAE) = try dimensions(tensors, encoder: ["w_enc"], file: paramsPath)
        if let width = (config["width"] as? NSNumber)?.intValue, width != dSAE {
            throw PlaypenError("\(configPath): width \(width) does not match w_enc's d_sae \(dSAE)")
        }
        let architectureName = (config["architecture"] as? String ?? "jump_relu").lowercased()
        let architecture: SAEArchitecture
        switch architectureName {
        case "jump_relu", "jumprelu": architecture = .jumpReLU
        case "relu", "standard": architecture = .relu
        case "topk":
            guard let k = (config["k"] as? NSNumber)?.intValue else { throw PlaypenError("\(configPath): topk architecture needs \"k\"") }
            architecture = .topK(k: k)
        default:
            throw PlaypenError("\(configPath): unsupported architecture \"\(architectureName)\" (expected jump_relu, relu or topk)")
        }
        if let affine = config["affine_connection"] as? Bool, affine {
            throw PlaypenError("\(configPath): affine transcoders are not supported (affine_connection = true)")
        }
        let threshold = architecture == .jumpReLU ? try tensor(tensors, ["threshold"], shape: [dSAE], file: paramsPath) : []
        return try SparseAutoencoder(
            architecture: architecture, dIn: dIn, dSAE: dSAE,
            wEnc: try tensor(tensors, ["w_enc"], shape: [dIn, dSAE], file: paramsPath),
            bEnc: try tensor(tensors, ["b_enc"], shape: [dSAE], file: paramsPath),
            threshold: threshold,
            wDec: try tensor(tensors, ["w_dec"], shape: [dSAE, dIn], file: paramsPath),
            bDec: try tensor(tensors, ["b_dec"], shape: [dIn], file: paramsPath),
            applyBDecToInput: config["apply_b_dec_to_input"] as? Bool ?? false,
            rescaleActsByDecoderNorm: config["rescale_acts_by_decoder_norm"] as? Bool ?? false,
            layer: layerNumber(config["hf_hook_point_in"] as? String, pattern: #"layers\.(\d+)\."#)
                ?? layerNumber(directory, pattern: #"layer_(\d+)"#),
            source: directory, config: flatten(config))
    }

    /// Gemma Scope 1: `params.npz` holding W_enc, W_dec, b_enc, b_dec, threshold (lowercase w_ accepted).
    public static func loadGemmaScope1(npz path: String) throws -> SparseAutoencoder {
        let members = try readZipMembers(path: path)
        var tensors: [String: LoadedArray] = [:]
        for (name, bytes) in members where name.hasSuffix(".npy") {
            var key = String(name.dropLast(4))
            if key.hasPrefix("w_") { key = "W_" + key.dropFirst(2) }
            tensors[key] = try bytes.withUnsafeBytes { try readNpyFloat($0, what: "\(path): \(name)") }
        }
        let (dIn, dSAE) = try dimensions(tensors, encoder: ["W_enc"], file: path)
        return try SparseAutoencoder(
            architecture: .jumpReLU, dIn: dIn, dSAE: dSAE,
            wEnc: try tensor(tensors, ["W_enc"], shape: [dIn, dSAE], file: path),
            bEnc: try tensor(tensors, ["b_enc"], shape: [dSAE], file: path),
            threshold: try tensor(tensors, ["threshold"], shape: [dSAE], file: path),
            wDec: try tensor(tensors, ["W_dec"], shape: [dSAE, dIn], file: path),
            bDec: try tensor(tensors, ["b_dec"], shape: [dIn], file: path),
            layer: layerNumber(path, pattern: #"layer_(\d+)"#), source: path, config: [:])
    }

    /// SAELens `cfg.json` + `sae_weights.safetensors` (architectures standard, jumprelu, topk, batchtopk).
    public static func loadSAELens(directory: String) throws -> SparseAutoencoder {
        let configPath = directory + "/cfg.json"
        let config = try readJSONObject(configPath)
        let paramsPath = directory + "/sae_weights.safetensors"
        let (tensors, _) = try readSafetensors(path: paramsPath)
        let (dIn, dSAE) = try dimensions(tensors, encoder: ["W_enc"], file: paramsPath)
        if let d = (config["d_in"] as? NSNumber)?.intValue, d != dIn {
            throw PlaypenError("\(configPath): d_in \(d) does not match W_enc's \(dIn)")
        }
        if let d = (config["d_sae"] as? NSNumber)?.intValue, d != dSAE {
            throw PlaypenError("\(configPath): d_sae \(d) does not match W_enc's \(dSAE)")
        }
        let normalize = config["normalize_activations"] as? String ?? "none"
        guard normalize == "none" || normalize == "expected_average_only_in" else {
            throw PlaypenError("\(configPath): normalize_activations \"\(normalize)\" is not supported (none, or expected_average_only_in folded into the weights)")
        }
        let architectureName = (config["architecture"] as? String ?? "standard").lowercased()
        let architecture: SAEArchitecture
        switch architectureName {
        case "standard", "relu": architecture = .relu
        case "jumprelu", "jump_relu": architecture = .jumpReLU
        case "topk":
            guard let k = (config["k"] as? NSNumber)?.intValue else { throw PlaypenError("\(configPath): topk architecture needs \"k\"") }
            architecture = .topK(k: k)
        case "batchtopk":
            // BatchTopK is applied at inference as JumpReLU with its learned threshold (sae.md §4).
            architecture = tensors["threshold"] != nil ? .jumpReLU : .topK(k: (config["k"] as? NSNumber)?.intValue ?? 0)
        default:
            throw PlaypenError("\(configPath): unsupported architecture \"\(architectureName)\" (expected standard, jumprelu, topk or batchtopk)")
        }
        let metadata = config["metadata"] as? [String: Any] ?? [:]
        let hook = metadata["hook_name"] as? String ?? config["hook_name"] as? String
        return try SparseAutoencoder(
            architecture: architecture, dIn: dIn, dSAE: dSAE,
            wEnc: try tensor(tensors, ["W_enc"], shape: [dIn, dSAE], file: paramsPath),
            bEnc: try tensor(tensors, ["b_enc"], shape: [dSAE], file: paramsPath),
            threshold: architecture == .jumpReLU ? try tensor(tensors, ["threshold"], shape: [dSAE], file: paramsPath) : [],
            wDec: try tensor(tensors, ["W_dec"], shape: [dSAE, dIn], file: paramsPath),
            bDec: try tensor(tensors, ["b_dec"], shape: [dIn], file: paramsPath),
            applyBDecToInput: config["apply_b_dec_to_input"] as? Bool ?? true,
            rescaleActsByDecoderNorm: config["rescale_acts_by_decoder_norm"] as? Bool ?? false,
            layer: layerNumber(hook, pattern: #"blocks\.(\d+)\."#), source: directory, config: flatten(config))
    }

    /// Saves in the Gemma Scope 2 layout (`config.json` + `params.safetensors`), adding pp-sae's
    /// fields (`k`, `apply_b_dec_to_input`, `rescale_acts_by_decoder_norm`, `extra`) so that
    /// `load` restores exactly this SAE. Written to a temporary directory and renamed.
    public func save(directory: String, modelName: String = "", extra: [String: Any] = [:]) throws {
        var config: [String: Any] = [
            "width": dSAE, "type": "sae", "affine_connection": false, "model_name": modelName,
            "apply_b_dec_to_input": applyBDecToInput, "rescale_acts_by_decoder_norm": rescaleActsByDecoderNorm,
        ]
        switch architecture {
        case .jumpReLU: config["architecture"] = "jump_relu"
        case .relu: config["architecture"] = "relu"
        case .topK(let k): config["architecture"] = "topk"; config["k"] = k; config["l0"] = k
        }
        if let layer {
            config["hf_hook_point_in"] = "model.layers.\(layer).output"
            config["hf_hook_point_out"] = "model.layers.\(layer).output"
        }
        for (k, v) in extra { config[k] = v }
        let out = try AtomicDirectory(path: directory)
        let json = try JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted, .sortedKeys])
        guard FileManager.default.createFile(atPath: out.file("config.json"), contents: json + Data("\n".utf8)) else {
            throw PlaypenError("\(directory)/config.json: cannot write")
        }
        var tensors: [(name: String, shape: [Int], values: [Float])] = [
            ("w_enc", [dIn, dSAE], wEnc), ("b_enc", [dSAE], bEnc), ("w_dec", [dSAE, dIn], wDec), ("b_dec", [dIn], bDec),
        ]
        if architecture == .jumpReLU { tensors.append(("threshold", [dSAE], threshold)) }
        try writeSafetensors(path: out.file("params.safetensors"), tensors: tensors, metadata: ["format": "pt"])
        try out.commit()
    }
}
