import CBLAS
import Foundation
import PlaypenTensor
import PlaypenIO

/// How an SAE turns pre-activations into codes (sae.md §4).
public enum SAEArchitecture: Equatable, Sendable, CustomStringConvertible {
    /// `f = relu(pre)`.
    case relu
    /// `f_j = pre_j if pre_j > θ_j (strictly) and pre_j > 0, else 0` (Gemma Scope 1/2; BatchTopK at inference).
    case jumpReLU
    /// Keep the k largest pre-activations per token, ReLU the kept ones, zero the rest.
    case topK(k: Int)

    public var description: String {
        switch self {
        case .relu: return "relu"
        case .jumpReLU: return "jump_relu"
        case .topK(let k): return "topk(k=\(k))"
        }
    }
}

/// A sparse autoencoder over one activation site, fp32, row-major.
///
/// Shapes: `wEnc` [dIn, dSAE], `bEnc` [dSAE], `threshold` [dSAE] (JumpReLU only, else empty),
/// `wDec` [dSAE, dIn] (row j is feature j's direction), `bDec` [dIn].
public struct SparseAutoencoder: Sendable {
    public var architecture: SAEArchitecture
    public let dIn: Int
    public let dSAE: Int
    public var wEnc: [Float] { didSet { packedEncoder = nil } }
    public var bEnc: [Float]
    public var threshold: [Float]
    public var wDec: [Float]
    public var bDec: [Float]
    /// Subtract `bDec` from the input before encoding (SAELens-trained SAEs; false for Gemma Scope).
    public var applyBDecToInput: Bool
    /// TopK only: multiply pre-activations by ‖W_dec[j]‖ before selection, divide before decoding.
    public var rescaleActsByDecoderNorm: Bool
    /// The layer whose resid_post the SAE reads, when its config names one.
    public var layer: Int?
    /// Where it was loaded from, and the raw config, for manifests and summaries.
    public var source: String
    public var config: [String: String]
    /// W_encᵀ packed for the inference kernel (`packEncoder()`), dropped whenever `wEnc` changes.
    private var packedEncoder: WeightMatrix?

    public init(architecture: SAEArchitecture, dIn: Int, dSAE: Int, wEnc: [Float], bEnc: [Float],
                threshold: [Float] = [], wDec: [Float], bDec: [Float], applyBDecToInput: Bool = false,
                rescaleActsByDecoderNorm: Bool = false, layer: Int? = nil, source: String = "",
                config: [String: String] = [:]) throws {
        self.architecture = architecture
        self.dIn = dIn
        self.dSAE = dSAE
        self.wEnc = wEnc
        self.bEnc = bEnc
        self.threshold = threshold
        self.wDec = wDec
        self.bDec = bDec
        self.applyBDecToInput = applyBDecToInput
        self.rescaleActsByDecoderNorm = rescaleActsByDecoderNorm
        self.layer = layer
        self.source = source
        self.config = config
        try validate()
    }

    /// Throws unless every tensor has the shape the architecture needs.
    public func validate() throws {
        let name = source.isEmpty ? "SAE" : source
        func check(_ tensor: String, _ count: Int, _ shape: String) throws {
            guard count == shapeCount(shape) else {
                throw PlaypenError("\(name): tensor \(tensor) has \(count) elements, expected shape \(shape)")
            }
        }
        func shapeCount(_ s: String) -> Int {
            s.dropFirst().dropLast().split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces))! }.reduce(1, *)
        }
        guard dIn > 0, dSAE > 0 else { throw PlaypenError("\(name): d_in and d_sae must be positive (got \(dIn), \(dSAE))") }
        try check("w_enc", wEnc.count, "[\(dIn), \(dSAE)]")
        try check("b_enc", bEnc.count, "[\(dSAE)]")
        try check("w_dec", wDec.count, "[\(dSAE), \(dIn)]")
        try check("b_dec", bDec.count, "[\(dIn)]")
        if architecture == .jumpReLU { try check("threshold", threshold.count, "[\(dSAE)]") }
        if case .topK(let k) = architecture, k < 1 || k > dSAE {
            throw PlaypenError("\(name): top-k k = \(k) must be in 1...\(dSAE)")
        }
    }

    /// ‖W_dec[j]‖ for every feature.
    public func decoderNorms() -> [Float] {
        (0..<dSAE).map { j in
            wDec.withUnsafeBufferPointer { Float(sqrt(Double(cblas_sdot(Int32(dIn), $0.baseAddress! + j * dIn, 1, $0.baseAddress! + j * dIn, 1)))) }
        }
    }

    // -----------------------------------------------------------------------------------------
    // MARK: Encode / decode

    /// Packs W_encᵀ for the panel kernel, which `preActivations` and `encode` then use (extraction
    /// encodes many batches with fixed weights); training, which changes W_enc every step, leaves it
    /// unpacked. Packing an SAE whose encoder is already packed does nothing.
    public mutating func packEncoder() {
        guard packedEncoder == nil else { return }
        packedEncoder = wEnc.withUnsafeBufferPointer {
            WeightMatrix(packingTransposeOf: $0.baseAddress!, rows: dSAE, cols: dIn)
        }
    }

    /// True once `packEncoder()` has run (and W_enc has not changed since).
    public var isEncoderPacked: Bool { packedEncoder != nil }

    /// Calls `body` with the encoder's input: x itself, or x − b_dec for SAEs that subtract it.
    private func withEncoderInput<R>(_ x: UnsafeBufferPointer<Float>, tokens: Int, _ body: (UnsafePointer<Float>) -> R) -> R {
        guard applyBDecToInput else { return body(x.baseAddress!) }
        var shifted = Array(x[0..<(tokens * dIn)])
        for t in 0..<tokens { for d in 0..<dIn { shifted[t * dIn + d] -= bDec[d] } }
        return shifted.withUnsafeBufferPointer { body($0.baseAddress!) }
    }

    /// Pre-activations `x·W_enc + b_enc` for `tokens` rows of `x` [tokens, dIn]: one product
    /// (sgemm onto the bias, or the panel kernel adding the bias once the encoder is packed).
    public func preActivations(_ x: UnsafeBufferPointer<Float>, tokens: Int, into pre: UnsafeMutableBufferPointer<Float>) {
        precondition(x.count >= tokens * dIn && pre.count >= tokens * dSAE)
        if tokens == 0 { return }
        withEncoderInput(x, tokens: tokens) { a in
            if let packedEncoder {
                bEnc.withUnsafeBufferPointer { packedEncoder.multiply(pre.baseAddress!, a, T: tokens, bias: $0.baseAddress!, floor: nil) }
                return
            }
            for t in 0..<tokens { _ = UnsafeMutableBufferPointer(rebasing: pre[(t * dSAE)..<((t + 1) * dSAE)]).update(fromContentsOf: bEnc) }
            wEnc.withUnsafeBufferPointer { w in
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(tokens), Int32(dSAE), Int32(dIn),
                            1, a, Int32(dIn), w.baseAddress!, Int32(dSAE), 1, pre.baseAddress!, Int32(dSAE))
            }
        }
    }

    /// Codes `f(x)` [tokens, dSAE] for `x` [tokens, dIn]. Throws on a non-finite activation,
    /// naming the token (`what` says which layer or sample). A packed ReLU or JumpReLU encoder
    /// applies bias and threshold inside the product (`WeightMatrix.multiply(_:_:T:bias:floor:)`,
    /// the same comparison as `activate`); otherwise pre-activations, then `activate`.
    public func encode(_ x: [Float], tokens: Int, what: String = "activations") throws -> [Float] {
        try checkFinite(x[...], what: what)
        return x.withUnsafeBufferPointer { encodeFinite($0, tokens: tokens) }
    }

    /// `encode` of activations already checked with `checkFinite` (extraction checks each sample
    /// of a batch, to name it, then encodes the batch at once).
    func encodeFinite(_ x: UnsafeBufferPointer<Float>, tokens: Int) -> [Float] {
        precondition(x.count == tokens * dIn, "encode: x has \(x.count) values, expected \(tokens) x \(dIn)")
        let floor: [Float]? = switch architecture {
        case .relu: [Float](repeating: 0, count: dSAE)
        case .jumpReLU: threshold
        case .topK: nil
        }
        return [Float](unsafeUninitializedCapacity: tokens * dSAE) { codes, initialized in
            initialized = tokens * dSAE
            guard tokens > 0 else { return }
            if let packedEncoder, let floor {
                withEncoderInput(x, tokens: tokens) { a in
                    bEnc.withUnsafeBufferPointer { b in
                        floor.withUnsafeBufferPointer { f in
                            packedEncoder.multiply(codes.baseAddress!, a, T: tokens, bias: b.baseAddress!, floor: f.baseAddress!)
                        }
                    }
                }
            } else {
                preActivations(x, tokens: tokens, into: codes)
                activate(codes, tokens: tokens)
            }
        }
    }

    /// Throws, naming `what`, the token and the dimension, at the first NaN or infinity of the
    /// activations `x` [tokens, dIn].
    public func checkFinite(_ x: ArraySlice<Float>, what: String) throws {
        try checkFiniteRows(x, width: dIn, what: what)
    }

    /// Applies the architecture's nonlinearity in place to pre-activations [tokens, dSAE].
    public func activate(_ pre: UnsafeMutableBufferPointer<Float>, tokens: Int) {
        switch architecture {
        case .relu:
            let zero = [Float](repeating: 0, count: dSAE)
            zero.withUnsafeBufferPointer { z in
                for t in 0..<tokens { keepAbove(pre.baseAddress! + t * dSAE, z.baseAddress!, count: dSAE) }
            }
        case .jumpReLU:
            threshold.withUnsafeBufferPointer { theta in
                for t in 0..<tokens { keepAbove(pre.baseAddress! + t * dSAE, theta.baseAddress!, count: dSAE) }
            }
        case .topK(let k):
            let norms = rescaleActsByDecoderNorm ? decoderNorms() : []
            var selection = TopKSelector(capacity: k)
            for t in 0..<tokens {
                let row = UnsafeMutableBufferPointer(rebasing: pre[(t * dSAE)..<((t + 1) * dSAE)])
                if rescaleActsByDecoderNorm { for j in 0..<dSAE { row[j] *= norms[j] } }
                selection.select(row, k: k)
                for j in 0..<dSAE { row[j] = 0 }
                for (j, v) in zip(selection.indices, selection.values) where v > 0 { row[j] = v }
            }
        }
    }

    /// Reconstruction `f·W_dec + b_dec` [tokens, dIn]: one sgemm.
    public func decode(_ codes: [Float], tokens: Int) -> [Float] {
        var f = codes
        if case .topK = architecture, rescaleActsByDecoderNorm {
            let norms = decoderNorms()
            for t in 0..<tokens { for j in 0..<dSAE where f[t * dSAE + j] != 0 { f[t * dSAE + j] /= norms[j] } }
        }
        var out = [Float](repeating: 0, count: tokens * dIn)
        for t in 0..<tokens { for d in 0..<dIn { out[t * dIn + d] = bDec[d] } }
        if tokens > 0 {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(tokens), Int32(dIn), Int32(dSAE),
                        1, f, Int32(dSAE), wDec, Int32(dIn), 1, &out, Int32(dIn))
        }
        return out
    }
}

/// Selects the k largest values of a row (ties: lower index first), reusing its buffers.
struct TopKSelector {
    var indices: [Int] = []
    var values: [Float] = []

    init(capacity: Int) {
        indices.reserveCapacity(capacity)
        values.reserveCapacity(capacity)
    }

    /// Fills `indices`/`values` with the k largest entries, in descending order.
    /// A min-heap of size k keyed by (value, -index): O(n log k).
    mutating func select(_ row: UnsafeMutableBufferPointer<Float>, k: Int) {
        indices.removeAll(keepingCapacity: true)
        values.removeAll(keepingCapacity: true)
        // heap stores the current k best; root is the worst (smallest value, then largest index).
        @inline(__always) func worse(_ a: Int, _ b: Int) -> Bool {
            values[a] < values[b] || (values[a] == values[b] && indices[a] > indices[b])
        }
        func siftDown(_ start: Int) {
            var i = start
            while true {
                let l = 2 * i + 1, r = l + 1
                var m = i
                if l < values.count && worse(l, m) { m = l }
                if r < values.count && worse(r, m) { m = r }
                if m == i { return }
                values.swapAt(i, m); indices.swapAt(i, m)
                i = m
            }
        }
        for j in 0..<row.count {
            let v = row[j].isNaN ? -Float.infinity : row[j]
            if values.count < k {
                values.append(v); indices.append(j)
                var i = values.count - 1
                while i > 0 {
                    let p = (i - 1) / 2
                    if worse(i, p) { values.swapAt(i, p); indices.swapAt(i, p); i = p } else { break }
                }
            } else if v > values[0] {
                values[0] = v; indices[0] = j
                siftDown(0)
            }
        }
        // Sort descending by value, ascending index on ties.
        let order = (0..<values.count).sorted { values[$0] > values[$1] || (values[$0] == values[$1] && indices[$0] < indices[$1]) }
        let v = order.map { values[$0] }, ix = order.map { indices[$0] }
        values = v; indices = ix
    }
}

/// x[j] stays where it is strictly above both θ[j] and 0 and becomes 0 elsewhere (NaN included):
/// ReLU with θ = 0, JumpReLU with its thresholds.
@inline(__always) func keepAbove(_ x: UnsafeMutablePointer<Float>, _ theta: UnsafePointer<Float>, count n: Int) {
    var j = 0
    while j + vectorWidth <= n {
        let v = vload(x + j)
        var kept = FloatV()
        kept.replace(with: v, where: (v .> vload(theta + j)) .& (v .> 0))
        vstore(kept, x + j)
        j += vectorWidth
    }
    while j < n {
        if !(x[j] > theta[j] && x[j] > 0) { x[j] = 0 }
        j += 1
    }
}
