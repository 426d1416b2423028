import Foundation
import PlaypenIO

/// A row id as it appears in the examples file: playpen rows carry integers or strings.
public enum RowID: Equatable, Sendable {
    case int(Int)
    case string(String)

    var json: SAEJSON {
        switch self {
        case .int(let i): return .int(i)
        case .string(let s): return .string(s)
        }
    }
}

/// What `examples.jsonl` records for one sample.
public struct SampleInfo: Equatable, Sendable {
    public var index: Int
    public var rowId: RowID
    public var taskId: Int?
    public var outcome: String?
    public var experiment: String?

    public init(index: Int, rowId: RowID, taskId: Int? = nil, outcome: String? = nil, experiment: String? = nil) {
        self.index = index
        self.rowId = rowId
        self.taskId = taskId
        self.outcome = outcome
        self.experiment = experiment
    }
}

/// Choices for the per-sample arrays and the layer summary; the defaults match the original.
public struct PerSampleOptions: Sendable {
    /// τ: an entry is active iff `A[t,j] > τ`.
    public var activationThreshold: Float = 0
    /// Leave the first position (BOS) out of every statistic, count and context. The original
    /// included it (default false, to match).
    public var excludeBOS = false
    /// Also write `feature_activation_mean.npy` [n, d_sae].
    public var featureActivationMean = false
    public var rankingMetric: RankingMetric = .meanActivation
    public var minTokenCount = 10
    public var topFeatures = 50
    /// Highest-activating positions kept per top feature (0: no `contexts.jsonl`).
    public var contextsPerFeature = 0
    /// Tokens of decoded text on either side of a context token.
    public var contextWindow = 12

    public init() {}
}

/// Writes one SAE's per-sample directory:
/// `feature_presence.npy` bool [n, d_sae], `sample_stats.npy` float32 [n, 10], `stat_names.json`,
/// `seq_lens.npy` int32 [n], optional `feature_activation_mean.npy` float32 [n, d_sae],
/// `examples.jsonl`, `summary.json` (the layer summary) and optional `contexts.jsonl`.
/// Everything goes to a temporary directory renamed into place by `finish`.
public final class PerSampleWriter {
    public let directory: String
    public let saeId: String
    public let dSAE: Int
    public let layer: Int?
    public let options: PerSampleOptions
    public private(set) var summary: LayerSummary
    public private(set) var contexts: FeatureContextCollector
    private let output: AtomicDirectory
    private let presence: NpyRowWriter
    private let stats: NpyRowWriter
    private let seqLens: NpyRowWriter
    private let activationMean: NpyRowWriter?
    private let examples: FileHandleWriter
    private var tokenIds: [[Int32]] = []
    private var presenceRow: [UInt8]

    public init(directory: String, saeId: String, dSAE: Int, layer: Int?, options: PerSampleOptions = PerSampleOptions()) throws {
        self.directory = directory
        self.saeId = saeId
        self.dSAE = dSAE
        self.layer = layer
        self.options = options
        summary = LayerSummary(dSAE: dSAE)
        contexts = FeatureContextCollector(dSAE: dSAE, perFeature: options.contextsPerFeature)
        output = try AtomicDirectory(path: directory)
        presence = try NpyRowWriter(path: output.file("feature_presence.npy"), descr: "|b1", rowShape: [dSAE])
        stats = try NpyRowWriter(path: output.file("sample_stats.npy"), descr: "<f4", rowShape: [sampleStatNames.count])
        seqLens = try NpyRowWriter(path: output.file("seq_lens.npy"), descr: "<i4", rowShape: [])
        activationMean = options.featureActivationMean
            ? try NpyRowWriter(path: output.file("feature_activation_mean.npy"), descr: "<f4", rowShape: [dSAE]) : nil
        examples = try FileHandleWriter(path: output.file("examples.jsonl"))
        presenceRow = [UInt8](repeating: 0, count: dSAE)
    }

    public var count: Int { summary.numPrompts }

    /// Adds one sample from its dense codes [tokens, d_sae] (BOS at position 0 when present).
    /// `tokenIds` are kept for rendering contexts when `contextsPerFeature > 0`.
    public func add(_ info: SampleInfo, codes dense: UnsafeBufferPointer<Float>, tokens: Int, tokenIds: [Int32] = []) throws {
        let codes = SparseCodes(dense: dense, tokens: tokens, dSAE: dSAE, threshold: options.activationThreshold,
                                dropFirst: options.excludeBOS)
        try add(info, sparse: codes, tokenIds: tokenIds)
    }

    public func add(_ info: SampleInfo, sparse codes: SparseCodes, tokenIds: [Int32] = []) throws {
        precondition(codes.dSAE == dSAE)
        let sample = summary.numPrompts
        for j in 0..<dSAE { presenceRow[j] = 0 }
        for j in codes.feature { presenceRow[Int(j)] = 1 }
        try presenceRow.withUnsafeBytes { try presence.append($0) }
        try codes.statistics().withUnsafeBytes { try stats.append($0) }
        var length = Int32(codes.tokens).littleEndian
        try withUnsafeBytes(of: &length) { try seqLens.append($0) }
        if let activationMean { try codes.featureActivationMean().withUnsafeBytes { try activationMean.append($0) } }
        var record: [(String, SAEJSON)] = [("row_id", info.rowId.json), ("index", .int(info.index))]
        record.append(("task_id", info.taskId.map { .int($0) } ?? .null))
        record.append(("outcome", info.outcome.map { .string($0) } ?? .null))
        record.append(("experiment", info.experiment.map { .string($0) } ?? .null))
        try examples.write(SAEJSON.object(record).text() + "\n")
        summary.add(codes)
        if options.contextsPerFeature > 0 {
            contexts.add(sample: sample, codes: codes, positionOffset: options.excludeBOS ? 1 : 0)
            self.tokenIds.append(tokenIds)
        }
    }

    /// The summary entry for this layer (original-pipeline.md §5.4 plus pp-sae's settings).
    public func summaryJSON(extra: [(String, String)] = []) -> String {
        layerSummaryJSON(summary, saeId: saeId, layer: layer, options: options, extra: extra)
    }

    /// Closes every array with its final row count, writes the summary (and the contexts of the
    /// top features when `decode` is given), then renames the directory into place.
    public func finish(decode: (([Int32]) -> String)? = nil, extra: [(String, String)] = []) throws {
        do {
            try presence.finish()
            try stats.finish()
            try seqLens.finish()
            try activationMean?.finish()
            try examples.close()
            try writeLayerTotals(summary, path: output.file("layer_totals.npy"))
            let names = SAEJSON.array(sampleStatNames.map { .string($0) }).text() + "\n"
            guard FileManager.default.createFile(atPath: output.file("stat_names.json"), contents: Data(names.utf8)),
                  FileManager.default.createFile(atPath: output.file("summary.json"), contents: Data(summaryJSON(extra: extra).utf8))
            else { throw PlaypenError("\(directory): cannot write summary files") }
            if options.contextsPerFeature > 0, let decode {
                let top = summary.topFeatures(metric: options.rankingMetric, minTokenCount: options.minTokenCount, limit: options.topFeatures)
                let rendered = renderContexts(features: top.map(\.featureId), collector: contexts, tokens: tokenIds,
                                              window: options.contextWindow, decode: decode)
                let writer = try FileHandleWriter(path: output.file("contexts.jsonl"))
                for (rank, (feature, hits)) in zip(top, rendered).enumerated() {
                    let line = SAEJSON.object([
                        ("feature_id", .int(feature.featureId)), ("rank", .int(rank)),
                        ("hits", .array(hits.map { h in
                            .object([
                                ("activation", .double(Double(h.activation))), ("sample", .int(h.sample)),
                                ("position", .int(h.position)), ("token_id", .int(Int(h.tokenId))),
                                ("token", .string(h.token)), ("before", .string(h.before)), ("after", .string(h.after)),
                            ])
                        })),
                    ]).text()
                    try writer.write(line + "\n")
                }
                try writer.close()
            }
            try output.commit()
        } catch {
            output.abort()
            throw error
        }
    }

    /// Drops everything written so far.
    public func abort() { output.abort() }
}

/// The layer summary JSON: identity, counts, settings, then the ranked top features.
func layerSummaryJSON(_ summary: LayerSummary, saeId: String, layer: Int?, options: PerSampleOptions,
                      extra: [(String, String)]) -> String {
    let top = summary.topFeatures(metric: options.rankingMetric, minTokenCount: options.minTokenCount, limit: options.topFeatures)
    var pairs: [(String, SAEJSON)] = [
        ("sae_id", .string(saeId)),
        ("layer", layer.map { .int($0) } ?? .null),
        ("hook_name", layer.map { .string("blocks.\($0).hook_resid_post") } ?? .null),
        ("d_sae", .int(summary.dSAE)),
        ("num_prompts", .int(summary.numPrompts)),
        ("total_tokens", .int(summary.totalTokens)),
        ("num_active_features", .int(summary.numActiveFeatures)),
        ("activation_threshold", .double(Double(options.activationThreshold))),
        ("exclude_bos", .bool(options.excludeBOS)),
        ("ranking_metric", .string(options.rankingMetric.rawValue)),
        ("min_token_count_for_ranking", .int(options.minTokenCount)),
        ("top_features_limit", .int(options.topFeatures)),
    ]
    for (k, v) in extra { pairs.append((k, .string(v))) }
    pairs.append(("top_features", .array(top.map { f in
        .object([
            ("feature_id", .int(f.featureId)), ("token_count", .int(Int(f.tokenCount))),
            ("prompt_count", .int(Int(f.promptCount))), ("prompt_fraction", .double(f.promptFraction)),
            ("total_activation", .double(f.totalActivation)),
            ("mean_activation_when_active", .double(f.meanActivationWhenActive)),
            ("max_activation", .double(f.maxActivation)),
        ])
    })))
    return SAEJSON.object(pairs).text(indent: 2) + "\n"
}

/// `layer_totals.npy`: float64 [4, d_sae] = token counts, prompt counts, activation sums and
/// activation maxima (−inf where never active), so shards can be merged into one summary.
func writeLayerTotals(_ summary: LayerSummary, path: String) throws {
    var values = summary.tokenCounts.map(Double.init) + summary.promptCounts.map(Double.init)
    values += summary.activationSums
    values += summary.activationMax.map(Double.init)
    try values.withUnsafeBytes { try writeNpy(path: path, descr: "<f8", shape: [4, summary.dSAE], bytes: $0) }
}

/// Concatenates the per-sample directories of shards (in the order given) into `output`, and
/// rebuilds the layer summary from their `layer_totals.npy`. Contexts are not merged (they need
/// every shard's tokens); extract without shards for contexts.
public func mergePerSampleDirectories(_ inputs: [String], output: String) throws {
    guard let first = inputs.first else { throw PlaypenError("merge: no input directories") }
    func summaryObject(_ dir: String) throws -> [String: Any] {
        let path = dir + "/summary.json"
        guard let data = FileManager.default.contents(atPath: path),
              let o = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw PlaypenError("\(path): cannot read the layer summary")
        }
        return o
    }
    let head = try summaryObject(first)
    let keys = ["sae_id", "d_sae", "layer", "activation_threshold", "exclude_bos", "ranking_metric", "min_token_count_for_ranking", "top_features_limit"]
    for dir in inputs.dropFirst() {
        let o = try summaryObject(dir)
        for k in keys where "\(o[k] ?? "nil")" != "\(head[k] ?? "nil")" {
            throw PlaypenError("\(dir)/summary.json: \(k) is \(o[k] ?? "missing"), but \(first) has \(head[k] ?? "missing")")
        }
    }
    guard let dSAE = (head["d_sae"] as? NSNumber)?.intValue else { throw PlaypenError("\(first)/summary.json: no d_sae") }
    var options = PerSampleOptions()
    options.activationThreshold = (head["activation_threshold"] as? NSNumber)?.floatValue ?? 0
    options.excludeBOS = head["exclude_bos"] as? Bool ?? false
    options.rankingMetric = RankingMetric(rawValue: head["ranking_metric"] as? String ?? "") ?? .meanActivation
    options.minTokenCount = (head["min_token_count_for_ranking"] as? NSNumber)?.intValue ?? 10
    options.topFeatures = (head["top_features_limit"] as? NSNumber)?.intValue ?? 50
    let out = try AtomicDirectory(path: output)
    // Arrays: same header descr and row shape; data bytes concatenated.
    let fm = FileManager.default
    var arrays = ["feature_presence", "sample_stats", "seq_lens"]
    if inputs.allSatisfy({ fm.fileExists(atPath: $0 + "/feature_activation_mean.npy") }) { arrays.append("feature_activation_mean") }
    for name in arrays {
        var writer: NpyRowWriter?
        for dir in inputs {
            let file = try MappedFile(path: "\(dir)/\(name).npy")
            let bytes = try file.bytes(at: 0, count: file.count, "\(name).npy")
            let header = try parseNpyHeader(bytes, what: "\(dir)/\(name).npy")
            let rowShape = Array(header.shape.dropFirst())
            if writer == nil { writer = try NpyRowWriter(path: out.file(name + ".npy"), descr: header.descr, rowShape: rowShape) }
            guard header.descr == writer!.descr, rowShape == writer!.rowShape else {
                throw PlaypenError("\(dir)/\(name).npy: dtype \(header.descr) rows \(rowShape) differ from the first shard's")
            }
            let rowBytes = (header.descr.hasSuffix("1") ? 1 : header.descr.hasSuffix("8") ? 8 : 4) * rowShape.reduce(1, *)
            for r in 0..<header.shape[0] {
                try writer!.append(UnsafeRawBufferPointer(rebasing: bytes[(header.dataOffset + r * rowBytes)..<(header.dataOffset + (r + 1) * rowBytes)]))
            }
        }
        try writer!.finish()
    }
    let examples = try FileHandleWriter(path: out.file("examples.jsonl"))
    var summary = LayerSummary(dSAE: dSAE)
    for dir in inputs {
        guard let text = fm.contents(atPath: dir + "/examples.jsonl") else { throw PlaypenError("\(dir)/examples.jsonl: cannot read") }
        try text.withUnsafeBytes { try examples.write($0) }
        let file = try MappedFile(path: dir + "/layer_totals.npy")
        let totals = try readNpyFloat64(try file.bytes(at: 0, count: file.count, "layer_totals.npy"), what: dir + "/layer_totals.npy")
        guard totals.count == 4 * dSAE else { throw PlaypenError("\(dir)/layer_totals.npy: expected [4, \(dSAE)]") }
        let o = try summaryObject(dir)
        summary.merge(totals: totals, numPrompts: (o["num_prompts"] as? NSNumber)?.intValue ?? 0,
                      totalTokens: (o["total_tokens"] as? NSNumber)?.intValue ?? 0)
    }
    try examples.close()
    try writeLayerTotals(summary, path: out.file("layer_totals.npy"))
    let names = SAEJSON.array(sampleStatNames.map { .string($0) }).text() + "\n"
    let json = layerSummaryJSON(summary, saeId: head["sae_id"] as? String ?? "", layer: (head["layer"] as? NSNumber)?.intValue,
                                options: options, extra: [("merged_from", inputs.joined(separator: ","))])
    guard fm.createFile(atPath: out.file("stat_names.json"), contents: Data(names.utf8)),
          fm.createFile(atPath: out.file("summary.json"), contents: Data(json.utf8)) else {
        throw PlaypenError("\(output): cannot write the summary")
    }
    try out.commit()
}

/// Reads a C-order `<f8` .npy array.
func readNpyFloat64(_ bytes: UnsafeRawBufferPointer, what: String) throws -> [Double] {
    let header = try parseNpyHeader(bytes, what: what)
    guard header.descr == "<f8", !header.fortranOrder else { throw PlaypenError("\(what): expected a float64 array") }
    let count = header.shape.reduce(1, *)
    guard bytes.count >= header.dataOffset + 8 * count else { throw PlaypenError("\(what): data truncated") }
    return (0..<count).map { Double(bitPattern: UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: header.dataOffset + 8 * $0, as: UInt64.self))) }
}
