import Foundation
import PlaypenIO

/// Options of a contrast run (the pp-contrast flags).
public struct ContrastOptions: Sendable {
    public enum SplitKind: String, Sendable { case grouped, stratified }
    public var scoresPath: String
    public var saeSpecs: [String]
    public var topK: Int? = nil
    /// Positives are the rows above this quantile of the label values: k = ceil((1 − q)·n).
    public var quantile: Double? = nil
    public var residualizeSeqLen = false
    public var split: SplitKind = .grouped
    public var testFraction = 0.2
    public var seed: UInt64 = 42
    public var bootstrap = 1000
    public var permutations = 1000
    public var topFeatures = 50
    public var allFeatures = false
    public var threads = 0
    public init(scoresPath: String, saeSpecs: [String]) {
        self.scoresPath = scoresPath
        self.saeSpecs = saeSpecs
    }
}

/// The fitted model and metrics of one design matrix (the ten statistics, or seq_len alone).
public struct ModelResult: Sendable {
    public var features: [String]
    public var model: LogisticModel
    public var scaler: Standardizer
    public var trainAUC: Double, testAUC: Double, fullAUC: Double
    public var testCI: BootstrapInterval
    public var permutationP: Double
    public var testROC: [ROCPoint]
}

/// Per-feature enrichment of one SAE layer.
public struct FeatureEnrichment: Sendable {
    public var feature: Int
    public var a: Int, b: Int, c: Int, d: Int
    public var lor: Double, se: Double
    public var logP: Double, logQ: Double
    public var rateTop: Double { Double(a) / Double(a + b) }
    public var rateRest: Double { Double(c) / Double(c + d) }
}

public struct LayerResult: Sendable {
    public var name: String
    public var directory: String
    public var saeID: String?
    public var layer: Int?
    public var dSAE: Int
    public var statNames: [String]
    public var model: ModelResult
    public var effectSizes: [(name: String, topMean: Double, restMean: Double, d: Double?, dTrain: Double?, constant: Bool)]
    public var tested: [FeatureEnrichment]
    public var neverPresent: Int, alwaysPresent: Int
}

public struct ContrastResult: Sendable {
    public var options: ContrastOptions
    public var n: Int
    public var k: Int
    public var labels: [UInt8]
    /// The values labels were taken from (scores, or their seq_len residuals), canonical order.
    public var labelValues: [Double]
    public var scores: [ScoreRecord]
    public var examples: [ExampleRecord]
    public var kthValue: Double
    public var tiesAtK: Int, tiesAtKInTop: Int
    public var topOrder: [Int]
    public var residualization: Residualization?
    public var split: Split
    public var baseline: ModelResult
    public var layers: [LayerResult]
    public var notes: [String]
}

func progress(_ message: String, quiet: Bool) {
    if !quiet { FileHandle.standardError.write(("pp-contrast: " + message + "\n").data(using: .utf8)!) }
}

/// Runs the whole contrast: join, labels, split, models, metrics, enrichment.
public func runContrast(_ options: ContrastOptions, quiet: Bool = true) throws -> ContrastResult {
    guard !options.saeSpecs.isEmpty else { throw PlaypenError("pp-contrast: give at least one --sae directory") }
    guard options.testFraction > 0, options.testFraction < 1 else {
        throw PlaypenError("--test-fraction must lie in (0, 1), got \(options.testFraction)")
    }
    let threads = options.threads > 0 ? options.threads : ProcessInfo.processInfo.activeProcessorCount
    var notes = [String]()
    let rawScores = try readScores(path: options.scoresPath)
    let layers = try options.saeSpecs.map { try SAELayerInput(spec: $0) }
    let (scores, maps) = try joinRows(scores: rawScores, layers: layers, scoresPath: options.scoresPath)
    let n = scores.count
    let examples = layers[0].examples
    progress("\(n) rows joined across \(layers.count) layer(s)", quiet: quiet)

    // seq_len: the same for every layer.
    let seqLen = layers[0].seqLens
    for (l, layer) in layers.enumerated().dropFirst() {
        for r in 0..<layer.n where layer.seqLens[r] != seqLen[maps[l][r]] {
            throw PlaypenError("\(layer.directory)/seq_lens.npy: row_id \(layer.examples[r].rowID) has seq_len \(Int(layer.seqLens[r])) but \(Int(seqLen[maps[l][r]])) in \(layers[0].directory)")
        }
    }

    // Labels.
    var values = scores.map(\.score)
    var residualization: Residualization? = nil
    if options.residualizeSeqLen {
        let fit = residualize(values, on: seqLen)
        residualization = fit
        values = fit.residuals
    }
    let k: Int
    if let topK = options.topK {
        guard options.quantile == nil else { throw PlaypenError("give either --top-k or --quantile, not both") }
        guard topK >= 1 else { throw PlaypenError("--top-k must be at least 1, got \(topK)") }
        guard topK <= n else { throw PlaypenError("--top-k \(topK) is larger than the number of rows \(n)") }
        k = topK
    } else if let q = options.quantile {
        guard q > 0, q < 1 else { throw PlaypenError("--quantile must lie in (0, 1), got \(q)") }
        k = ceilTolerant(Double(n) * (1 - q))
    } else {
        throw PlaypenError("give --top-k K or --quantile Q to define the top rows")
    }
    guard k < n else {
        throw PlaypenError("labelling puts all \(n) rows in the top set (k = \(k)); only one class remains")
    }
    let order = values.indices.sorted {
        values[$0] > values[$1] || (values[$0] == values[$1] && scores[$0].index < scores[$1].index)
    }
    var labels = [UInt8](repeating: 0, count: n)
    for i in order.prefix(k) { labels[i] = 1 }
    let kth = values[order[k - 1]]
    let tiesAtK = values.filter { $0 == kth }.count
    let tiesInTop = order.prefix(k).filter { values[$0] == kth }.count
    if tiesAtK > tiesInTop {
        notes.append("\(tiesAtK) rows share the label value at rank k; \(tiesInTop) of them are in the top set (ties broken by lower row index)")
    }

    // Split.
    let split: Split
    switch options.split {
    case .stratified:
        split = try stratifiedSplit(labels: labels, testFraction: options.testFraction, seed: options.seed)
    case .grouped:
        let groups = try examples.enumerated().map { (i, e) -> String in
            guard let g = e.group else {
                throw PlaypenError("\(layers[0].directory)/examples.jsonl: line \(i + 1) (row_id \(e.rowID)) has no task_id; grouped splits need one (or use --split stratified)")
            }
            return g
        }
        split = try groupedSplit(labels: labels, groups: groups, testFraction: options.testFraction, seed: options.seed)
        if split.draws > 1 { notes.append("grouped split: \(split.draws) draws were needed to put both classes on both sides") }
    }

    // Confound baseline: seq_len alone.
    let baseline = try fitAndMeasure(x: seqLen, features: ["seq_len"], labels: labels, split: split, options: options)

    var results = [LayerResult]()
    for (l, layer) in layers.enumerated() {
        progress("layer \(layer.name): model on \(layer.statNames.count) statistics", quiet: quiet)
        let p = layer.statNames.count
        // Stats in canonical order.
        var x = [Double](repeating: 0, count: n * p)
        for r in 0..<layer.n { for j in 0..<p { x[maps[l][r] * p + j] = layer.stats[r * p + j] } }
        let model = try fitAndMeasure(x: x, features: layer.statNames, labels: labels, split: split, options: options)
        let constants = layer.statNames.indices.filter { model.scaler.constant[$0] }.map { layer.statNames[$0] }
        if !constants.isEmpty {
            notes.append("\(layer.name): constant on the training rows (standardised to 0, coefficient 0): \(constants.joined(separator: ", "))")
        }
        // Effect sizes (all rows, and training rows only).
        var effects = [(name: String, topMean: Double, restMean: Double, d: Double?, dTrain: Double?, constant: Bool)]()
        let trainSet = Set(split.train)
        for j in 0..<p {
            var top = [Double](), rest = [Double](), topTrain = [Double](), restTrain = [Double]()
            for i in 0..<n {
                let v = x[i * p + j]
                if labels[i] == 1 { top.append(v) } else { rest.append(v) }
                if trainSet.contains(i) { if labels[i] == 1 { topTrain.append(v) } else { restTrain.append(v) } }
            }
            let tm = top.reduce(0, +) / Double(top.count), rm = rest.reduce(0, +) / Double(rest.count)
            let constant = (top + rest).allSatisfy { $0 == top[0] }
            effects.append((layer.statNames[j], tm, rm, cohenD(top, rest), cohenD(topTrain, restTrain), constant))
        }
        // Enrichment.
        progress("layer \(layer.name): presence counts over \(layer.n) x \(layer.dSAE)", quiet: quiet)
        let positiveRows = (0..<layer.n).filter { labels[maps[l][$0]] == 1 }
        let (total, top) = try presenceCounts(layer.presence, positiveRows: positiveRows, threads: threads)
        let (tested, never, always) = enrichment(total: total, top: top, n: n, k: k, threads: threads)
        if never + always > 0 {
            notes.append("\(layer.name): \(never) features present in no row and \(always) in every row were not tested; BH runs over the \(tested.count) tested features")
        }
        results.append(LayerResult(name: layer.name, directory: layer.directory, saeID: layer.saeID, layer: layer.layerNumber,
                                   dSAE: layer.dSAE, statNames: layer.statNames, model: model, effectSizes: effects,
                                   tested: tested, neverPresent: never, alwaysPresent: always))
    }
    return ContrastResult(options: options, n: n, k: k, labels: labels, labelValues: values, scores: scores,
                          examples: examples, kthValue: kth, tiesAtK: tiesAtK, tiesAtKInTop: tiesInTop,
                          topOrder: Array(order.prefix(k)), residualization: residualization, split: split,
                          baseline: baseline, layers: results, notes: notes)
}

/// Standardise on train, fit the balanced L2 logistic regression, measure AUCs, CI, p-value.
func fitAndMeasure(x: [Double], features: [String], labels: [UInt8], split: Split, options: ContrastOptions) throws -> ModelResult {
    let p = features.count
    let scaler = Standardizer(fit: x, columns: p, rows: split.train)
    let xz = scaler.transform(x, columns: p)
    var xTrain = [Double](), yTrain = [UInt8]()
    xTrain.reserveCapacity(split.train.count * p)
    for r in split.train { xTrain.append(contentsOf: xz[(r * p)..<((r + 1) * p)]); yTrain.append(labels[r]) }
    let model = try fitBalancedLogistic(x: xTrain, columns: p, labels: yTrain)
    guard model.converged else {
        throw PlaypenError("logistic regression on \(features.joined(separator: ",")) did not converge in \(model.iterations) Newton steps")
    }
    let z = model.decision(xz)
    let zTest = split.test.map { z[$0] }, yTest = split.test.map { labels[$0] }
    let zTrain = split.train.map { z[$0] }
    let ci = bootstrapAUC(labels: yTest, scores: zTest, replicates: options.bootstrap, seed: options.seed &+ 1)!
    let pPerm = permutationPValue(labels: yTest, scores: zTest, permutations: options.permutations, seed: options.seed &+ 2)!
    return ModelResult(features: features, model: model, scaler: scaler,
                       trainAUC: rocAUC(labels: yTrain, scores: zTrain)!, testAUC: rocAUC(labels: yTest, scores: zTest)!,
                       fullAUC: rocAUC(labels: labels, scores: z)!, testCI: ci, permutationP: pPerm,
                       testROC: rocCurve(labels: yTest, scores: zTest))
}

/// Fisher, log odds ratio and BH for every feature present in some but not all rows.
func enrichment(total: [Int], top: [Int], n: Int, k: Int, threads: Int) -> (tested: [FeatureEnrichment], never: Int, always: Int) {
    var features = [Int]()
    var never = 0, always = 0
    for j in total.indices {
        if total[j] == 0 { never += 1 } else if total[j] == n { always += 1 } else { features.append(j) }
    }
    let m = features.count
    let out = UnsafeMutablePointer<FeatureEnrichment>.allocate(capacity: max(m, 1))
    defer { out.deallocate() }
    let workers = max(1, min(threads, m / 256 + 1))
    let box = SendableBox((out, features, total, top))
    parallelWorkers(workers) { w in
        let (out, features, total, top) = box.value
        for t in (m * w / workers)..<(m * (w + 1) / workers) {
            let j = features[t]
            let a = top[j], b = k - a, c = total[j] - a, d = n - k - c
            let (lor, se) = logOddsRatio(a: a, b: b, c: c, d: d)
            let f = fisherExact(a: a, b: b, c: c, d: d)
            (out + t).initialize(to: FeatureEnrichment(feature: j, a: a, b: b, c: c, d: d, lor: lor, se: se,
                                                       logP: f.logTwoSided, logQ: 0))
        }
    }
    var tested = Array(UnsafeBufferPointer(start: out, count: m))
    let logQ = benjaminiHochbergLog(tested.map(\.logP))
    for t in 0..<m { tested[t].logQ = logQ[t] }
    return (tested, never, always)
}
