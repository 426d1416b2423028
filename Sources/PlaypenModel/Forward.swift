import CBLAS
import Foundation
import PlaypenIO
import PlaypenTensor

/// A loaded Gemma-3 text model: config, fp32 weights and (when the source has one) tokenizer.
///
/// ```swift
/// let model = try GemmaModel.load("model.gguf")          // or an HF directory
/// let ids = try model.tokenizer!.encode("Hello", addBOS: true)
/// let out = try model.forward(ids, options: .init(logitPositions: [ids.count - 1]))
/// ```
public final class GemmaModel: @unchecked Sendable {
    public let config: GemmaConfig
    public let weights: GemmaWeights
    public let tokenizer: GemmaTokenizer?
    /// The file or directory the model came from.
    public let source: String
    /// Per-tensor storage description for `info` (GGUF: ggml type names; HF: dtype).
    public let tensorTypes: [String: Int]
    let ropeCache = RopeTableCache()

    public init(config: GemmaConfig, weights: GemmaWeights, tokenizer: GemmaTokenizer?, source: String,
                tensorTypes: [String: Int] = [:]) {
        self.config = config
        self.weights = weights
        self.tokenizer = tokenizer
        self.source = source
        self.tensorTypes = tensorTypes
    }

    /// Loads a GGUF file (dequantized to fp32) or a Hugging Face directory (config.json,
    /// model.safetensors[.index.json], optional tokenizer.json). `forInference` keeps a Q8_0
    /// embedding quantized (see `GemmaWeights.load(gguf:config:quantizedEmbedding:)`); the model
    /// then runs forward passes with the same results but cannot be trained or merged into, and
    /// `packForInference()` completes it.
    public static func load(_ path: String, forInference: Bool = false) throws -> GemmaModel {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw PlaypenError("\(path): no such model file or directory")
        }
        if isDir.boolValue {
            let config = try GemmaConfig.fromHFConfig(path: path + "/config.json")
            let weights = try GemmaWeights.load(hfDirectory: path, config: config)
            var tok: GemmaTokenizer? = nil
            let tj = path + "/tokenizer.json"
            if FileManager.default.fileExists(atPath: tj) {
                tok = try GemmaTokenizer(tokenizerJSON: tj)
                guard tok!.vocabSize <= config.vocabSize else {
                    throw PlaypenError("\(tj): tokenizer has \(tok!.vocabSize) tokens, the model only \(config.vocabSize)")
                }
            }
            return GemmaModel(config: config, weights: weights, tokenizer: tok, source: path,
                              tensorTypes: ["safetensors": 1])
        }
        let gguf = try GGUFFile(path: path)
        let config = try GemmaConfig.fromGGUF(gguf)
        let tok = try GemmaTokenizer(gguf: gguf)
        let weights = try GemmaWeights.load(gguf: gguf, config: config, quantizedEmbedding: forInference)
        var types: [String: Int] = [:]
        for t in gguf.tensors { types["\(t.type)".uppercased(), default: 0] += 1 }
        return GemmaModel(config: config, weights: weights, tokenizer: tok, source: path, tensorTypes: types)
    }

    /// Packs every weight matrix for the inference kernel (`WeightMatrix.pack`), in place of the
    /// row-major copy: for tools that only run the forward. Training, gradients and adapter merges
    /// need the row-major weights, so they use a model that was not packed.
    public func packForInference() {
        weights.embed.pack()
        for l in weights.layers {
            for m in [l.q, l.k, l.v, l.o, l.gate, l.up, l.down] { m.pack() }
        }
    }

    /// Total parameter count (the tied head counted once).
    public var parameterCount: Int {
        var n = weights.embed.count + weights.finalNorm.count
        for l in weights.layers {
            n += l.q.count + l.k.count + l.v.count + l.o.count + l.gate.count + l.up.count + l.down.count
            n += l.inputNorm.count + l.postAttentionNorm.count + l.preFeedforwardNorm.count
            n += l.postFeedforwardNorm.count + l.qNorm.count + l.kNorm.count
        }
        return n
    }
}

/// What a forward pass should compute and expose.
public struct ForwardOptions {
    /// Positions (indices into this call's tokens) whose logits to compute; nil = all.
    /// An empty list skips the output head entirely.
    public var logitPositions: [Int]?
    /// Layers whose resid_post ([T, d], before the final norm) is copied into the result.
    public var captureLayers: Set<Int>
    /// Stop after this layer (0-based); no logits are computed when it is before the last layer.
    public var stopAfterLayer: Int?
    /// Called with (layer, resid_post [T, d]) after each layer; the buffer is only valid during the call.
    public var residualHook: ((Int, UnsafeBufferPointer<Float>) throws -> Void)?

    public init(logitPositions: [Int]? = nil, captureLayers: Set<Int> = [], stopAfterLayer: Int? = nil,
                residualHook: ((Int, UnsafeBufferPointer<Float>) throws -> Void)? = nil) {
        self.logitPositions = logitPositions
        self.captureLayers = captureLayers
        self.stopAfterLayer = stopAfterLayer
        self.residualHook = residualHook
    }
}

public struct ForwardResult {
    /// [positions.count, V] row-major.
    public var logits: [Float]
    public var logitPositions: [Int]
    /// layer -> resid_post [T, d].
    public var residPost: [Int: [Float]]
}

/// Consecutive query positions `first ..< first + count` (indices into the call's tokens) whose
/// rows start at `row` of the query buffer: all T rows as one run, or the runs of the gathered rows.
struct QueryRun { let row: Int, first: Int, count: Int }

func queryRuns(_ rows: [Int]?, T: Int) -> [QueryRun] {
    guard let rows else { return T > 0 ? [QueryRun(row: 0, first: 0, count: T)] : [] }
    var runs: [QueryRun] = []
    for (i, p) in rows.enumerated() {
        if let last = runs.last, last.first + last.count == p, last.row + last.count == i {
            runs[runs.count - 1] = QueryRun(row: last.row, first: last.first, count: last.count + 1)
        } else {
            runs.append(QueryRun(row: i, first: p, count: 1))
        }
    }
    return runs
}

/// The RoPE cos/sin tables of positions 0 ..< count for the global and the sliding layers, made
/// once and grown (at least doubled) when a longer input comes: a 384-token prefill recomputed
/// 197k sines and cosines, and a batch of 1,750 extraction rows 900k, nearly all for positions
/// every earlier forward had.
final class RopeTableCache: @unchecked Sendable {
    typealias Tables = (cos: [Float], sin: [Float])
    private let lock = NSLock()
    private var count = 0
    private var global: Tables = ([], []), local: Tables = ([], [])

    func tables(config c: GemmaConfig, positions n: Int) -> (global: Tables, local: Tables) {
        lock.withLock {
            if n > count {
                count = max(n, 2 * count)
                let positions = Array(0..<count)
                global = ropeTables(positions: positions, invFreq: ropeInverseFrequencies(base: c.ropeTheta, D: c.headDim))
                local = ropeTables(positions: positions, invFreq: ropeInverseFrequencies(base: c.ropeLocalTheta, D: c.headDim))
            }
            return (global, local)
        }
    }
}

/// Per-layer keys (after k_norm and RoPE) and values of every position seen so far.
public final class KVCache {
    public let capacity: Int
    public private(set) var count = 0
    let k: [Tensor]
    let v: [Tensor]

    public init(config: GemmaConfig, capacity: Int) {
        self.capacity = capacity
        // Uninitialised: a row is written before any attention reads it, and the layers a forward
        // stops short of are never touched (their pages are never faulted in).
        k = (0..<config.numLayers).map { _ in Tensor(uninitializedShape: [capacity, config.kvWidth]) }
        v = (0..<config.numLayers).map { _ in Tensor(uninitializedShape: [capacity, config.kvWidth]) }
    }

    private init(capacity: Int, k: [Tensor], v: [Tensor]) {
        self.capacity = capacity
        self.k = k
        self.v = v
    }

    /// The cache of one forward that nothing continues (no decoding follows): every layer uses
    /// the same storage, as a layer's attention reads only the keys and values that layer has
    /// just written. One layer's worth of memory instead of numLayers' (for a batch of extraction
    /// rows, tens of MB the forward would otherwise fault in afresh).
    static func singleForward(config: GemmaConfig, capacity: Int) -> KVCache {
        let k = Tensor(uninitializedShape: [capacity, config.kvWidth]), v = Tensor(uninitializedShape: [capacity, config.kvWidth])
        return KVCache(capacity: capacity, k: Array(repeating: k, count: config.numLayers),
                       v: Array(repeating: v, count: config.numLayers))
    }

    func advance(_ n: Int) { count += n }
    public func reset() { count = 0 }
}

/// Rows `row ..< row + count` of a forward's token rows: one sequence whose tokens sit at positions
/// `firstPosition ...`, with the keys and values of position p at KV-cache row `kvBase + p`.
/// Positions before `firstPosition` are in the cache already, or (`prefixRows`, a shared prefix's
/// node rows in position order) are this forward's rows too: each layer copies their keys and
/// values, and the segment's own, to its cache rows.
struct SequenceSegment {
    let row, count, firstPosition, kvBase: Int
    var prefixRows: [Range<Int>] = []
}

extension GemmaModel {
    /// Runs the decoder over `ids` (one sequence). With a cache, the tokens continue the cached
    /// sequence (positions `cache.count ..< cache.count + ids.count`) and the cache is extended.
    public func forward(_ ids: [Int], cache: KVCache? = nil, options: ForwardOptions = ForwardOptions()) throws -> ForwardResult {
        let T = ids.count
        let start = cache?.count ?? 0
        guard T > 0 else { return ForwardResult(logits: [], logitPositions: [], residPost: [:]) }
        let kv = cache ?? KVCache.singleForward(config: config, capacity: T)
        guard start + T <= kv.capacity else {
            throw PlaypenError("KV cache holds \(kv.capacity) positions, \(start + T) needed")
        }
        let result = try run(ids, segments: [SequenceSegment(row: 0, count: T, firstPosition: start, kvBase: 0)],
                             kv: kv, kvRowOfFirstToken: start, options: options)
        kv.advance(T)
        return result
    }

    /// resid_post (output of decoder layer L, before the final norm) of each sequence at each of
    /// `layers`, from one forward over all the sequences' rows (each attends only to itself), so
    /// every product runs over the whole batch; stops after the deepest layer. With packed weights
    /// (`packForInference`, the tools') the values are the bits of one `forward` per sequence: each
    /// row's sums run in the same order either way.
    public func residualStreams(_ sequences: [[Int]], layers: Set<Int>) throws -> [[Int: [Float]]] {
        let rows = try residualStreamRows(sequences, layers: layers)
        let d = config.hiddenSize
        var start = 0
        return sequences.map { s in
            defer { start += s.count }
            guard !s.isEmpty else { return [:] }
            return rows.mapValues { Array($0[(start * d)..<((start + s.count) * d)]) }
        }
    }

    /// `residualStreams` as one [Σ tokens, hiddenSize] array per layer, the sequences' rows one
    /// after another in order, for callers that process the batch whole. With `sharePrefixes`
    /// the rows of a prefix several sequences share (`PrefixForest`) go through the forward once,
    /// each sequence's later rows attending to them; every row still has the bits of its own
    /// sequence's forward (packed weights), and the arrays are the same.
    public func residualStreamRows(_ sequences: [[Int]], layers: Set<Int>, sharePrefixes: Bool = true) throws -> [Int: [Float]] {
        guard let deepest = layers.max() else { return [:] }
        let options = ForwardOptions(logitPositions: [], captureLayers: layers, stopAfterLayer: deepest)
        let total = sequences.reduce(0) { $0 + $1.count }
        guard total > 0 else { return Dictionary(uniqueKeysWithValues: layers.map { ($0, [Float]()) }) }
        let forest = PrefixForest(sequences, sharing: sharePrefixes)
        // roots keep their keys and values where the projections put them (cache row = row);
        // every other node gets cache rows of its own for its positions from 0
        var capacity = forest.ids.count
        let segments = forest.nodes.indices.map { n in
            let node = forest.nodes[n]
            guard node.parent != nil else {
                return SequenceSegment(row: node.row, count: node.count, firstPosition: 0, kvBase: node.row)
            }
            defer { capacity += node.firstPosition + node.count }
            return SequenceSegment(row: node.row, count: node.count, firstPosition: node.firstPosition, kvBase: capacity,
                                   prefixRows: forest.ancestorRows(of: n))
        }
        let rows = try run(forest.ids, segments: segments, kv: KVCache.singleForward(config: config, capacity: capacity),
                           kvRowOfFirstToken: 0, options: options).residPost
        // no row shared: the nodes are the sequences in order, and the forward's arrays the result
        guard forest.ids.count < total else { return rows }
        let d = config.hiddenSize
        return rows.mapValues { nodeRows in
            [Float](unsafeUninitializedCapacity: total * d) { out, initialized in
                nodeRows.withUnsafeBufferPointer { source in
                    var at = 0
                    for n in forest.paths.joined() {
                        let node = forest.nodes[n]
                        (out.baseAddress! + at).update(from: source.baseAddress! + node.row * d, count: node.count * d)
                        at += node.count * d
                    }
                    initialized = at
                }
            }
        }
    }

    /// The decoder over the token rows `ids`, made of `segments` (one sequence each); the keys and
    /// values of row r go to KV-cache row `kvRowOfFirstToken + r`. Logits only for a single segment.
    func run(_ ids: [Int], segments: [SequenceSegment], kv: KVCache, kvRowOfFirstToken: Int,
             options: ForwardOptions) throws -> ForwardResult {
        let c = config
        let T = ids.count
        for (i, id) in ids.enumerated() where id < 0 || id >= c.vocabSize {
            throw PlaypenError("token id \(id) at position \(i) is outside the vocabulary of \(c.vocabSize)")
        }
        let positions = options.logitPositions ?? Array(0..<T)
        precondition(segments.count == 1 || positions.isEmpty, "forward: logits of a batch of sequences")
        for p in positions where p < 0 || p >= T {
            throw PlaypenError("logit position \(p) is outside the sequence of \(T) tokens")
        }
        if let stop = options.stopAfterLayer, stop < 0 || stop >= c.numLayers {
            throw PlaypenError("stop-after layer \(stop) is outside 0..<\(c.numLayers)")
        }
        let d = c.hiddenSize, HD = c.queryWidth, KVD = c.kvWidth, I = c.intermediateSize
        let H = c.numHeads, KVH = c.numKVHeads, D = c.headDim
        let lastLayer = options.stopAfterLayer ?? (c.numLayers - 1)

        // Work buffers are written before they are read (zero-filling them cost a single-threaded
        // pass over ~30 KB per token, page faults included, before the parallel kernels start).
        let x = Tensor(uninitializedShape: [T, d]), h = Tensor(uninitializedShape: [T, d])
        let q = Tensor(uninitializedShape: [T, HD]), att = Tensor(uninitializedShape: [T, HD])
        let gate = Tensor(uninitializedShape: [T, I]), up = Tensor(uninitializedShape: [T, I])
        let keysSeen = segments.map { $0.firstPosition + $0.count }.max()!
        // scratch of the batched attention: its problems' key panels (grown when a layer needs
        // more), one block of scores per core
        let queryBlock = batchedAttentionQueryBlock
        var keyPanels = Tensor(uninitializedShape: [0])
        let scores = Tensor(uninitializedShape: [computeThreads * attentionScoreFloats(Tk: keysSeen, H: H, queryBlock: queryBlock)])
        // row t takes the angles of its position, rows of the tables of positions 0 ..< keysSeen
        let pos = segments.flatMap { $0.firstPosition..<($0.firstPosition + $0.count) }
        let (globalRope, localRope) = ropeCache.tables(config: c, positions: keysSeen)
        let scale = Float(1 / c.queryPreAttnScalar.squareRoot())
        let eps = c.rmsNormEps
        var resid: [Int: [Float]] = [:]

        // a row of the panel-packed table is spread over cols · 32 floats: cores share the lookups
        let embed = weights.embed, rows = SendablePointer(x.data), embedScale = Float(d).squareRoot()
        parallelChunks(T, minChunk: 32) { lo, hi in
            for t in lo..<hi { embed.copyRow(ids[t], into: rows.pointer! + t * d, scale: embedScale) }
        }
        // The last layer's queries, attention output and MLP only matter at the rows whose logits
        // are asked for (its keys and values are still computed at every row, for the cache):
        // skipping the rest is exact and saves a layer's worth of work for a last-position prefill.
        let lastRowsOnly = lastLayer == c.numLayers - 1 && positions.count < T
            && !options.captureLayers.contains(lastLayer) && options.residualHook == nil
        let P = positions.count
        let xs = Tensor(shape: [P, d]), hs = Tensor(shape: [lastRowsOnly ? P : 0, d])
        // h holds each layer's normed input: the previous layer's last step computes it
        rmsNormForward(h.data, rstd: nil, x.data, scale: weights.layers[0].inputNorm.data, N: T, C: d, eps: eps)
        for li in 0...lastLayer {
            let w = weights.layers[li]
            let isGlobal = c.layerIsGlobal[li]
            let rope = isGlobal ? globalRope : localRope
            let window = isGlobal ? 0 : c.slidingWindow
            // attention block: k/v projections straight into the cache, k norm and RoPE
            let kRows = kv.k[li].data + kvRowOfFirstToken * KVD, vRows = kv.v[li].data + kvRowOfFirstToken * KVD
            WeightMatrix.multiply(kRows, w.k, vRows, w.v, h.data, T: T)
            rope.cos.withUnsafeBufferPointer { cp in
                rope.sin.withUnsafeBufferPointer { sp in
                    rmsNormRopeForward(kRows, scale: w.kNorm.data, cos: cp.baseAddress!, sin: sp.baseAddress!,
                                       tableRows: pos, T: T, nHeads: KVH, D: D, eps: eps)
                }
            }
            for seg in segments where !seg.prefixRows.isEmpty {
                var at = seg.kvBase
                for rows in seg.prefixRows + [seg.row..<(seg.row + seg.count)] {
                    (kv.k[li].data + at * KVD).update(from: kRows + rows.lowerBound * KVD, count: rows.count * KVD)
                    (kv.v[li].data + at * KVD).update(from: vRows + rows.lowerBound * KVD, count: rows.count * KVD)
                    at += rows.count
                }
            }
            // the query rows: every row, or (last layer) the requested ones, gathered into xs / hs
            let rows = li == c.numLayers - 1 && lastRowsOnly ? positions : nil
            let n = rows?.count ?? T
            let queryPositions = rows.map { $0.map { pos[$0] } } ?? pos
            let (xr, hr) = rows == nil ? (x, h) : (xs, hs)
            for (i, p) in (rows ?? []).enumerated() {
                (xs.data + i * d).update(from: x.data + p * d, count: d)
                (hs.data + i * d).update(from: h.data + p * d, count: d)
            }
            w.q.multiply(q.data, hr.data, T: n)
            rope.cos.withUnsafeBufferPointer { cp in
                rope.sin.withUnsafeBufferPointer { sp in
                    rmsNormRopeForward(q.data, scale: w.qNorm.data, cos: cp.baseAddress!, sin: sp.baseAddress!,
                                       tableRows: queryPositions, T: n, nHeads: H, D: D, eps: eps)
                }
            }
            // each sequence's queries in runs of consecutive positions, all in one attention job;
            // sliding layers only look at the keys inside their window (gathered rows belong to a
            // single sequence)
            var problems: [AttentionProblem] = []
            for seg in segments {
                for run in queryRuns(rows, T: seg.count) {
                    let firstPos = seg.firstPosition + run.first, row = seg.row + run.row
                    // the keys the run's first query block sees (blocks start at multiples of its size)
                    let kStart = window > 0 ? max(0, firstPos - firstPos % queryBlock - window + 1) : 0
                    problems.append(AttentionProblem(
                        out: att.data + row * HD, q: q.data + row * HD, k: kv.k[li].data + (seg.kvBase + kStart) * KVD,
                        v: kv.v[li].data + (seg.kvBase + kStart) * KVD, T: run.count, Tk: firstPos + run.count - kStart,
                        qOffset: firstPos - kStart, phase: firstPos))
                }
            }
            let panelFloats = problems.reduce(0) { $0 + attentionKeyPanelFloats(Tk: $1.Tk, D: D, KV: KVH) }
            if panelFloats > keyPanels.count { keyPanels = Tensor(uninitializedShape: [panelFloats]) }
            attentionForward(problems, H: H, KV: KVH, D: D, window: window, scale: scale, queryBlock: queryBlock,
                             keyPanels: keyPanels.data, scores: scores.data)
            w.o.multiply(h.data, att.data, T: n)
            normedResidualAdd(xr.data, h.data, scale: w.postAttentionNorm.data, nextScale: w.preFeedforwardNorm.data,
                              N: n, C: d, eps: eps)
            // MLP block
            WeightMatrix.gatedGelu(gate.data, h.data, T: n, gate: w.gate, up: w.up, scratch: up.data)
            w.down.multiply(h.data, gate.data, T: n)
            normedResidualAdd(xr.data, h.data, scale: w.postFeedforwardNorm.data,
                              nextScale: li < lastLayer ? weights.layers[li + 1].inputNorm.data : nil, N: n, C: d, eps: eps)
            if options.captureLayers.contains(li) { resid[li] = x.array }
            if let hook = options.residualHook { try hook(li, UnsafeBufferPointer(x.buffer)) }
        }
        guard lastLayer == c.numLayers - 1, !positions.isEmpty else {
            return ForwardResult(logits: [], logitPositions: [], residPost: resid)
        }
        // final norm and tied head, only at the requested rows
        if !lastRowsOnly {
            for (i, p) in positions.enumerated() { (xs.data + i * d).update(from: x.data + p * d, count: d) }
        }
        rmsNormForward(xs.data, rstd: nil, xs.data, scale: weights.finalNorm.data, N: P, C: d, eps: eps)
        let logits = [Float](unsafeUninitializedCapacity: P * c.vocabSize) { buffer, initialized in
            weights.embed.multiply(buffer.baseAddress!, xs.data, T: P)
            initialized = P * c.vocabSize
        }
        return ForwardResult(logits: logits, logitPositions: positions, residPost: resid)
    }
}
