import CBLAS
import Foundation
import PlaypenIO
import PlaypenTensor

// ----------------------------------------------------------------------------------------------
// LoRA with PEFT semantics: y = x Wᵀ + (alpha/r) · (dropout(x) Aᵀ) Bᵀ, A [r, in], B [out, r].

/// The seven linear layers of a Gemma-3 decoder layer that LoRA can wrap, in PEFT's names.
public enum LoRATarget: String, CaseIterable, Codable, Sendable, Comparable {
    case q = "q_proj", k = "k_proj", v = "v_proj", o = "o_proj"
    case gate = "gate_proj", up = "up_proj", down = "down_proj"

    /// The sub-module that holds this linear layer (`self_attn` or `mlp`).
    public var block: String {
        switch self {
        case .q, .k, .v, .o: "self_attn"
        case .gate, .up, .down: "mlp"
        }
    }

    var order: Int { LoRATarget.allCases.firstIndex(of: self)! }
    public static func < (a: LoRATarget, b: LoRATarget) -> Bool { a.order < b.order }

    /// Parses `q,k,v` / `q_proj,...` / `all`.
    public static func parseList(_ text: String) throws -> [LoRATarget] {
        if text == "all" { return allCases }
        var out: [LoRATarget] = []
        for raw in text.split(separator: ",") {
            let name = raw.trimmingCharacters(in: .whitespaces)
            guard let t = LoRATarget(rawValue: name) ?? LoRATarget(rawValue: name + "_proj") else {
                throw PlaypenError(
                    "LoRA target '\(name)': expected one of q,k,v,o,gate,up,down (or *_proj, or all)")
            }
            if !out.contains(t) { out.append(t) }
        }
        guard !out.isEmpty else { throw PlaypenError("LoRA targets: empty list") }
        return out.sorted()
    }
}

/// LoRA hyper-parameters (PEFT `LoraConfig` subset).
public struct LoRAConfig: Codable, Equatable, Sendable {
    public var r: Int
    public var alpha: Float
    public var dropout: Float
    public var targets: [LoRATarget]

    public init(r: Int = 16, alpha: Float = 32, dropout: Float = 0.05,
                targets: [LoRATarget] = LoRATarget.allCases) {
        self.r = r
        self.alpha = alpha
        self.dropout = dropout
        self.targets = targets.sorted()
    }

    /// PEFT's scaling without rsLoRA: alpha / r.
    public var scale: Float { alpha / Float(r) }
}

/// Feature sizes of the wrapped linear layers (from the model config).
public struct LoRAModelShape: Codable, Equatable, Sendable {
    public var layers: Int
    public var hidden: Int          // d
    public var intermediate: Int    // ff
    public var qDim: Int            // heads · head_dim
    public var kvDim: Int           // kv_heads · head_dim

    public init(layers: Int, hidden: Int, intermediate: Int, qDim: Int, kvDim: Int) {
        self.layers = layers
        self.hidden = hidden
        self.intermediate = intermediate
        self.qDim = qDim
        self.kvDim = kvDim
    }

    /// (in, out) features of a target's base linear layer, HF `[out, in]` weight.
    public func features(_ t: LoRATarget) -> (inF: Int, outF: Int) {
        switch t {
        case .q: (hidden, qDim)
        case .k, .v: (hidden, kvDim)
        case .o: (qDim, hidden)
        case .gate, .up: (hidden, intermediate)
        case .down: (intermediate, hidden)
        }
    }
}

/// One wrapped module's place in the flat buffer: A at `aOffset` ([r, inF] row-major), then B at
/// `bOffset` ([outF, r] row-major).
public struct LoRAModule: Sendable {
    public let layer: Int
    public let target: LoRATarget
    public let inF: Int
    public let outF: Int
    public let aOffset: Int
    public let bOffset: Int

    /// PEFT module path without the adapter suffix,
    /// e.g. `base_model.model.model.layers.3.self_attn.q_proj`.
    public var peftName: String { "base_model.model.model.layers.\(layer).\(target.block).\(target.rawValue)" }
}

/// The offset table: every A and B of every wrapped module, layer-major, targets in the fixed
/// order q,k,v,o,gate,up,down, A before B. Parameters, gradients and AdamW moments share it.
public struct LoRALayout: Sendable {
    public let config: LoRAConfig
    public let shape: LoRAModelShape
    public let modules: [LoRAModule]
    public let count: Int
    private let index: [Int]  // layer * 7 + target.order -> module index, or -1

    public init(config: LoRAConfig, shape: LoRAModelShape) {
        self.config = config
        self.shape = shape
        var modules: [LoRAModule] = []
        var index = [Int](repeating: -1, count: shape.layers * 7)
        var offset = 0
        let r = config.r
        for layer in 0..<shape.layers {
            for t in config.targets.sorted() {
                let (inF, outF) = shape.features(t)
                index[layer * 7 + t.order] = modules.count
                modules.append(LoRAModule(layer: layer, target: t, inF: inF, outF: outF,
                                          aOffset: offset, bOffset: offset + r * inF))
                offset += r * inF + outF * r
            }
        }
        self.modules = modules
        self.index = index
        count = offset
    }

    /// The module for (layer, target), or nil when that target is not wrapped.
    public func module(_ layer: Int, _ target: LoRATarget) -> LoRAModule? {
        let i = index[layer * 7 + target.order]
        return i < 0 ? nil : modules[i]
    }
}

/// LoRA parameters in one contiguous buffer with named views.
public final class LoRAParameters: @unchecked Sendable {
    public let layout: LoRALayout
    public let values: FloatBuffer

    public init(layout: LoRALayout) {
        self.layout = layout
        values = FloatBuffer(count: layout.count)
    }

    /// PEFT's default initialisation: A ~ kaiming_uniform(a = √5) = U(−1/√in, 1/√in), B = 0.
    /// Each module draws from its own stream keyed by (seed, module name).
    public static func peftInitialized(layout: LoRALayout, seed: UInt64) -> LoRAParameters {
        let p = LoRAParameters(layout: layout)
        for m in layout.modules {
            let key = KeyedRandom.key(seed, "lora_A", m.peftName)
            let bound = 1 / Float(m.inF).squareRoot()
            let a = p.values.pointer + m.aOffset
            for j in 0..<(layout.config.r * m.inF) {
                a[j] = (2 * KeyedRandom.uniform(key, j) - 1) * bound
            }
        }
        return p
    }

    public func a(_ m: LoRAModule) -> UnsafeMutablePointer<Float> { values.pointer + m.aOffset }
    public func b(_ m: LoRAModule) -> UnsafeMutablePointer<Float> { values.pointer + m.bOffset }
}

// ----------------------------------------------------------------------------------------------
// Dropout on the adapter path (torch nn.Dropout: keep with probability 1−p, scale by 1/(1−p)).

/// A dropout mask over an [N, in] input, regenerated on demand from its key. Element i is
/// dropped when its 16-bit uniform (bits 16·(i mod 4) of draw i / 4) is below round(p · 65536):
/// one 64-bit draw serves four elements. Draw k is the k-th output of SplitMix64 seeded with the
/// key (one mix per draw: the mask is drawn for every adapted input of every step).
public struct LoRADropout: Sendable {
    public let p: Float
    public let key: UInt64
    let threshold: UInt64

    public init(p: Float, key: UInt64) {
        self.p = p
        self.key = key
        threshold = UInt64((Double(p) * 65536).rounded())
    }

    /// Key for one module in one micro-batch of one optimizer step.
    public static func key(seed: UInt64, step: Int, micro: Int, module: LoRAModule) -> UInt64 {
        KeyedRandom.key(seed, "dropout", String(step), String(micro), module.peftName)
    }

    /// Whether element i is kept (the mask's definition; `fillMask` computes it 64 at a time).
    public func keeps(_ i: Int) -> Bool {
        (KeyedRandom.sequenceBits(key, i >> 2) >> UInt64(16 * (i & 3))) & 0xFFFF >= threshold
    }

    /// Words of a packed mask over `count` elements.
    public static func maskWords(_ count: Int) -> Int { (count + 63) / 64 }

    /// Writes the keep bits of elements 0..<count, 64 to a word (bit j of word w is element
    /// 64w + j), so that the forward draws the mask once and the backward reuses it.
    public func fillMask(_ mask: UnsafeMutablePointer<UInt64>, count: Int) {
        for w in 0..<LoRADropout.maskWords(count) {
            var word: UInt64 = 0
            for k in 0..<16 {
                let bits = KeyedRandom.sequenceBits(key, w * 16 + k)
                var nibble: UInt64 = bits & 0xFFFF >= threshold ? 1 : 0
                nibble |= (bits >> 16) & 0xFFFF >= threshold ? 2 : 0
                nibble |= (bits >> 32) & 0xFFFF >= threshold ? 4 : 0
                nibble |= bits >> 48 >= threshold ? 8 : 0
                word |= nibble << UInt64(4 * k)
            }
            mask[w] = word
        }
    }

    /// out = x ⊙ mask / (1 − p) over `count` elements (`accumulate`: out += …). Dropped
    /// elements are multiplied by 0, as torch does (a NaN input stays NaN).
    public func apply(_ out: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, mask: UnsafePointer<UInt64>,
                      count: Int, accumulate: Bool = false) {
        let keepScale = 1 / (1 - p)
        dropoutLanePatterns.withUnsafeBufferPointer { table in
            let f = table.baseAddress!
            var i = 0
            while i + vectorWidth <= count {
                // i is a multiple of 8: its eight bits are one byte of the word
                let byte = Int(truncatingIfNeeded: mask[i >> 6] >> UInt64(i & 63)) & 0xFF
                let v = vload(x + i) * vload(f + byte * vectorWidth) * keepScale
                vstore(accumulate ? vload(out + i) + v : v, out + i)
                i += vectorWidth
            }
            while i < count {
                let v = x[i] * ((mask[i >> 6] >> UInt64(i & 63)) & 1 == 1 ? 1 : 0) * keepScale
                out[i] = accumulate ? out[i] + v : v
                i += 1
            }
        }
    }
}

/// For every byte of mask bits, its eight lanes as 0/1 factors (256 x 8 floats, built once):
/// vector integer ops are scalarised on baseline x86-64, a table load is not.
private let dropoutLanePatterns: [Float] = (0..<256 * vectorWidth).map { i in
    ((i / vectorWidth) >> (i % vectorWidth)) & 1 == 1 ? 1 : 0
}

/// Owned storage for one module's dropout keep bits over N·in elements (`LoRADropout.fillMask`).
public final class DropoutMaskBuffer: @unchecked Sendable {
    public let pointer: UnsafeMutablePointer<UInt64>

    public init(elements: Int) {
        let words = max(1, LoRADropout.maskWords(elements))
        pointer = .allocate(capacity: words)
        pointer.initialize(repeating: 0, count: words)
    }

    deinit { pointer.deallocate() }
}

// ----------------------------------------------------------------------------------------------
// Merge-free LoRA linear, batched over N rows with sgemm.

@inline(__always) func sgemm(
    _ ta: Bool, _ tb: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Float,
    _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int,
    _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int
) {
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
}

/// Forward of a LoRA-wrapped linear layer over N rows:
///
///     xd = dropout(x)              [N, in]   (only when `dropout` is given; else xd = x)
///     u  = xd Aᵀ                    [N, r]    saved for backward
///     y  = x Wᵀ + scale · u Bᵀ      [N, out]
///
/// With `w == nil` the base product is assumed to be in `y` already and only the adapter term
/// is added. With dropout, `xd` is scratch of N·in floats and `mask` receives the keep bits
/// (`LoRADropout.maskWords(N·in)` words) for `loraLinearBackward`.
public func loraLinearForward(
    y: UnsafeMutablePointer<Float>, u: UnsafeMutablePointer<Float>, xd: UnsafeMutablePointer<Float>?,
    mask: UnsafeMutablePointer<UInt64>? = nil,
    x: UnsafePointer<Float>, w: UnsafePointer<Float>?, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
    scale: Float, dropout: LoRADropout?, n: Int, inF: Int, outF: Int, r: Int
) {
    if let w { sgemm(false, true, n, outF, inF, 1, x, inF, w, inF, 0, y, outF) }
    var xin = x
    if let dropout, dropout.p > 0 {
        guard let xd, let mask else { preconditionFailure("loraLinearForward: dropout needs xd and mask scratch") }
        dropout.fillMask(mask, count: n * inF)
        dropout.apply(xd, x, mask: mask, count: n * inF)
        xin = UnsafePointer(xd)
    }
    sgemm(false, true, n, r, inF, 1, xin, inF, a, inF, 0, u, r)
    sgemm(false, true, n, outF, r, scale, u, r, b, r, 1, y, outF)
}

/// Backward of `loraLinearForward`; accumulates (+=) into dA, dB and dx (no dW: W is frozen).
///
///     dB += scale · dyᵀ u              [out, r]   (unless `db` is nil)
///     du  = scale · dy B               [N, r]     (scratch)
///     dA += duᵀ xd                     [r, in]    (unless `da` is nil; xd from the forward's mask)
///     dx += dy W + dropout'(du A)      [N, in]
///
/// `dx == nil` skips the input gradient (first layer inputs); `w == nil` skips its frozen-weight
/// part (the caller computes it). With dropout, `scratch` holds N·in floats and `mask` is the
/// forward's.
public func loraLinearBackward(
    dx: UnsafeMutablePointer<Float>?, da: UnsafeMutablePointer<Float>?, db: UnsafeMutablePointer<Float>?,
    du: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>?, mask: UnsafePointer<UInt64>? = nil,
    dy: UnsafePointer<Float>, x: UnsafePointer<Float>, u: UnsafePointer<Float>,
    w: UnsafePointer<Float>?, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
    scale: Float, dropout: LoRADropout?, n: Int, inF: Int, outF: Int, r: Int
) {
    if let db { sgemm(true, false, outF, r, n, scale, dy, outF, u, r, 1, db, r) }
    sgemm(false, false, n, r, outF, scale, dy, outF, b, r, 0, du, r)
    let dropping = (dropout?.p ?? 0) > 0
    if let da {
        if dropping {
            guard let scratch, let mask else { preconditionFailure("loraLinearBackward: dropout needs scratch and mask") }
            dropout!.apply(scratch, x, mask: mask, count: n * inF)
            sgemm(true, false, r, inF, n, 1, du, r, scratch, inF, 1, da, inF)
        } else {
            sgemm(true, false, r, inF, n, 1, du, r, x, inF, 1, da, inF)
        }
    }
    guard let dx else { return }
    if let w { sgemm(false, false, n, inF, outF, 1, dy, outF, w, inF, 1, dx, inF) }
    if dropping {
        sgemm(false, false, n, inF, r, 1, du, r, a, inF, 0, scratch!, inF)
        dropout!.apply(dx, scratch!, mask: mask!, count: n * inF, accumulate: true)
    } else {
        sgemm(false, false, n, inF, r, 1, du, r, a, inF, 1, dx, inF)
    }
}
