import CBLAS
import Foundation

// ---------------------------------------------------------------------------------------------
// fp32 ops of the Gemma-3 decoder, llm.c style: each op is a pair of free functions
// `xForward(out, …, inp, …)` / `xBackward(dinp, dweight, dout, …)` over raw row-major buffers
// with explicit shapes. Backward functions ACCUMULATE (+=) into their gradient buffers; pass
// nil for a gradient you do not need. Shape letters: T rows (tokens), C input width,
// OC output width, H query heads, KV key/value heads, D head width, Tk key rows.
// Matrix work goes through one sgemm per call; loops run in a fixed order, so results are
// deterministic for a given OpenBLAS thread count.
// ---------------------------------------------------------------------------------------------

public typealias FloatPtr = UnsafeMutablePointer<Float>
public typealias ConstFloatPtr = UnsafePointer<Float>

// ---- matmul (nn.Linear without bias): out[T,OC] = inp[T,C] · weight[OC,C]ᵀ ------------------

/// `out[T,OC] (=|+=) inp[T,C] · weight[OC,C]ᵀ`, one sgemm.
public func matmulForward(_ out: FloatPtr, _ inp: ConstFloatPtr, _ weight: ConstFloatPtr,
                          T: Int, C: Int, OC: Int, accumulate: Bool = false) {
    guard T > 0, OC > 0 else { return }
    if C == 0 { if !accumulate { out.update(repeating: 0, count: T * OC) }; return }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(T), Int32(OC), Int32(C),
                1, inp, Int32(C), weight, Int32(C), accumulate ? 1 : 0, out, Int32(OC))
}

/// `dinp[T,C] += dout · weight`, `dweight[OC,C] += doutᵀ · inp`.
public func matmulBackward(dinp: FloatPtr?, dweight: FloatPtr?, dout: ConstFloatPtr,
                           inp: ConstFloatPtr, weight: ConstFloatPtr, T: Int, C: Int, OC: Int) {
    guard T > 0, C > 0, OC > 0 else { return }
    if let dinp {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(T), Int32(C), Int32(OC),
                    1, dout, Int32(OC), weight, Int32(C), 1, dinp, Int32(C))
    }
    if let dweight {
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(OC), Int32(C), Int32(T),
                    1, dout, Int32(OC), inp, Int32(C), 1, dweight, Int32(C))
    }
}

// ---- RMSNorm: out = inp · rstd · scale, rstd = 1/sqrt(mean(inp²) + eps) ----------------------
// `scale` is the effective multiplier, i.e. (1 + w) for Gemma (HF stores w, GGUF stores 1 + w).

/// Normalises each of N rows of width C; stores 1/rms per row in `rstd` (if given) for backward.
public func rmsNormForward(_ out: FloatPtr, rstd: FloatPtr?, _ inp: ConstFloatPtr,
                           scale: ConstFloatPtr, N: Int, C: Int, eps: Float) {
    for n in 0..<N {
        let x = inp + n * C, y = out + n * C
        var ss: Float = 0
        for i in 0..<C { ss += x[i] * x[i] }
        let r = 1 / (ss / Float(C) + eps).squareRoot()
        for i in 0..<C { y[i] = (x[i] * r) * scale[i] }
        rstd?[n] = r
    }
}

/// `dinp += ∂/∂inp`, `dscale += Σ_rows dout·inp·rstd`. `rstd` from the forward.
public func rmsNormBackward(dinp: FloatPtr?, dscale: FloatPtr?, dout: ConstFloatPtr,
                            inp: ConstFloatPtr, scale: ConstFloatPtr, rstd: ConstFloatPtr,
                            N: Int, C: Int) {
    for n in 0..<N {
        let x = inp + n * C, dy = dout + n * C, r = rstd[n]
        if let dscale { for i in 0..<C { dscale[i] += dy[i] * x[i] * r } }
        if let dinp {
            let dx = dinp + n * C
            var dot: Float = 0
            for i in 0..<C { dot += dy[i] * scale[i] * x[i] }
            let k = dot * r * r * r / Float(C)
            for i in 0..<C { dx[i] += dy[i] * scale[i] * r - x[i] * k }
        }
    }
}

// ---- RoPE (rotate-half / NeoX layout), in place on [T, nHeads·D] ---------------------------

/// `inv_freq[m] = 1 / base^(2m/D)`, m = 0..<D/2, in fp32 as transformers computes it.
public func ropeInverseFrequencies(base: Double, D: Int) -> [Float] {
    (0..<D / 2).map { m in 1 / Float(pow(base, Double(Float(2 * m) / Float(D)))) }
}

/// cos/sin tables [T, D/2] for the given positions: angle = Float(pos) · inv_freq[m].
public func ropeTables(positions: [Int], invFreq: [Float]) -> (cos: [Float], sin: [Float]) {
    let half = invFreq.count
    var c = [Float](repeating: 0, count: positions.count * half)
    var s = c
    for (t, p) in positions.enumerated() {
        for m in 0..<half {
            let a = Float(p) * invFreq[m]
            c[t * half + m] = cos(a)
            s[t * half + m] = sin(a)
        }
    }
    return (c, s)
}

/// x' = x·cos + rotate_half(x)·sin for each head of each row, in place. `cos`/`sin` are [T, D/2].
public func ropeForward(_ x: FloatPtr, cos: ConstFloatPtr, sin: ConstFloatPtr, T: Int, nHeads: Int, D: Int) {
    let half = D / 2
    for t in 0..<T {
        let c = cos + t * half, s = sin + t * half
        for h in 0..<nHeads {
            let p = x + (t * nHeads + h) * D
            for m in 0..<half {
                let a = p[m], b = p[m + half]
                p[m] = a * c[m] - b * s[m]
                p[m + half] = b * c[m] + a * s[m]
            }
        }
    }
}

/// The transpose rotation, in place on the gradient: d x = Rᵀ d x'.
public func ropeBackward(_ dx: FloatPtr, cos: ConstFloatPtr, sin: ConstFloatPtr, T: Int, nHeads: Int, D: Int) {
    let half = D / 2
    for t in 0..<T {
        let c = cos + t * half, s = sin + t * half
        for h in 0..<nHeads {
            let p = dx + (t * nHeads + h) * D
            for m in 0..<half {
                let a = p[m], b = p[m + half]
                p[m] = a * c[m] + b * s[m]
                p[m + half] = b * c[m] - a * s[m]
            }
        }
    }
}

// ---- causal (optionally sliding-window) grouped-query attention ---------------------------

/// Causal attention for T query rows against Tk key rows.
/// - q: [T, H·D] (already normed and rotated), k/v: [Tk, KV·D]; query row t sits at key
///   position `qOffset + t` and sees keys j with `j ≤ qOffset + t` and, when `window > 0`,
///   `j > qOffset + t − window` (itself and window−1 previous keys).
/// - probs: [H, T, Tk] softmax probabilities (masked entries 0), kept for backward.
/// - out: [T, H·D]; head h uses kv head h / (H/KV). Scores are scaled by `scale`.
public func attentionForward(_ out: FloatPtr, probs: FloatPtr, q: ConstFloatPtr, k: ConstFloatPtr,
                             v: ConstFloatPtr, T: Int, Tk: Int, qOffset: Int, H: Int, KV: Int, D: Int,
                             window: Int, scale: Float) {
    let group = H / KV
    for h in 0..<H {
        let g = h / group
        let S = probs + h * T * Tk
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(T), Int32(Tk), Int32(D), scale,
                    q + h * D, Int32(H * D), k + g * D, Int32(KV * D), 0, S, Int32(Tk))
        for t in 0..<T {
            let row = S + t * Tk
            let hi = min(Tk - 1, qOffset + t)
            let lo = window > 0 ? max(0, qOffset + t - window + 1) : 0
            var mx = -Float.infinity
            for j in lo...hi { mx = max(mx, row[j]) }
            var sum: Float = 0
            for j in lo...hi { let e = exp(row[j] - mx); row[j] = e; sum += e }
            let inv = 1 / sum
            for j in lo...hi { row[j] *= inv }
            for j in 0..<lo { row[j] = 0 }
            if hi + 1 < Tk { for j in (hi + 1)..<Tk { row[j] = 0 } }
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(T), Int32(D), Int32(Tk), 1,
                    S, Int32(Tk), v + g * D, Int32(KV * D), 0, out + h * D, Int32(H * D))
    }
}

/// Backward of `attentionForward`; accumulates into dq [T,H·D], dk/dv [Tk,KV·D].
/// `scratch` must hold T·Tk floats.
public func attentionBackward(dq: FloatPtr, dk: FloatPtr, dv: FloatPtr, dout: ConstFloatPtr,
                              probs: ConstFloatPtr, q: ConstFloatPtr, k: ConstFloatPtr, v: ConstFloatPtr,
                              scratch: FloatPtr, T: Int, Tk: Int, H: Int, KV: Int, D: Int, scale: Float) {
    let group = H / KV
    for h in 0..<H {
        let g = h / group
        let P = probs + h * T * Tk
        // dv += Pᵀ · dout_h
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(Tk), Int32(D), Int32(T), 1,
                    P, Int32(Tk), dout + h * D, Int32(H * D), 1, dv + g * D, Int32(KV * D))
        // dP = dout_h · vᵀ
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(T), Int32(Tk), Int32(D), 1,
                    dout + h * D, Int32(H * D), v + g * D, Int32(KV * D), 0, scratch, Int32(Tk))
        // dS = P ⊙ (dP − Σ_j P dP)
        for t in 0..<T {
            let p = P + t * Tk, d = scratch + t * Tk
            var dot: Float = 0
            for j in 0..<Tk { dot += p[j] * d[j] }
            for j in 0..<Tk { d[j] = p[j] * (d[j] - dot) }
        }
        // dq_h += scale · dS · k ; dk += scale · dSᵀ · q_h
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(T), Int32(D), Int32(Tk), scale,
                    scratch, Int32(Tk), k + g * D, Int32(KV * D), 1, dq + h * D, Int32(H * D))
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(Tk), Int32(D), Int32(T), scale,
                    scratch, Int32(Tk), q + h * D, Int32(H * D), 1, dk + g * D, Int32(KV * D))
    }
}

// ---- GELU-tanh gated MLP activation: out = gelu_tanh(gate) ⊙ up -------------------------------

@inline(__always) func geluTanh(_ x: Float) -> Float {
    let k0: Float = 0.7978845608028654  // sqrt(2/π)
    return 0.5 * x * (1 + tanh(k0 * (x + 0.044715 * x * x * x)))
}

/// `out[i] = gelu_tanh(gate[i]) · up[i]` for N elements (PyTorch `approximate="tanh"`).
/// Uses the identity 0.5·x·(1 + tanh(u)) = x / (1 + exp(−2u)) (one expf instead of tanhf: 3x
/// faster, same value within fp32 rounding) and splits large inputs over threads (elementwise, so
/// the result does not depend on the split).
public func gatedGeluForward(_ out: FloatPtr, gate: ConstFloatPtr, up: ConstFloatPtr, N: Int) {
    let o = Int(bitPattern: out), g = Int(bitPattern: gate), u = Int(bitPattern: up)
    parallelChunks(N, minChunk: 1 << 15) { lo, hi in
        let out = FloatPtr(bitPattern: o)!, gate = ConstFloatPtr(bitPattern: g)!, up = ConstFloatPtr(bitPattern: u)!
        let k0: Float = 0.7978845608028654  // sqrt(2/π)
        for i in lo..<hi {
            let x = gate[i]
            let z = -2 * k0 * (x + 0.044715 * x * x * x)
            out[i] = x / (1 + exp(z)) * up[i]
        }
    }
}

/// Runs `body(lo, hi)` over [0, n) in contiguous chunks on the available cores.
public func parallelChunks(_ n: Int, minChunk: Int, _ body: @Sendable (Int, Int) -> Void) {
    let cores = ProcessInfo.processInfo.activeProcessorCount
    let parts = max(1, min(cores, n / max(minChunk, 1)))
    if parts == 1 { body(0, n); return }
    let step = (n + parts - 1) / parts
    DispatchQueue.concurrentPerform(iterations: parts) { p in
        let lo = p * step, hi = min(n, lo + step)
        if lo < hi { body(lo, hi) }
    }
}

/// `dgate += dout·up·gelu'(gate)`, `dup += dout·gelu(gate)`.
public func gatedGeluBackward(dgate: FloatPtr, dup: FloatPtr, dout: ConstFloatPtr,
                             gate: ConstFloatPtr, up: ConstFloatPtr, N: Int) {
    let k0: Float = 0.7978845608028654
    for i in 0..<N {
        let x = gate[i]
        let u = k0 * (x + 0.044715 * x * x * x)
        let th = tanh(u)
        let g = 0.5 * x * (1 + th)
        let dg = 0.5 * (1 + th) + 0.5 * x * (1 - th * th) * k0 * (1 + 3 * 0.044715 * x * x)
        dgate[i] += dout[i] * up[i] * dg
        dup[i] += dout[i] * g
    }
}

// ---- embedding: out[t] = table[ids[t]] · scale ---------------------------------------------

public func embeddingForward(_ out: FloatPtr, ids: UnsafePointer<Int32>, table: ConstFloatPtr,
                             T: Int, C: Int, scale: Float) {
    for t in 0..<T {
        let src = table + Int(ids[t]) * C, dst = out + t * C
        for i in 0..<C { dst[i] = src[i] * scale }
    }
}

/// `dtable[ids[t]] += dout[t] · scale`.
public func embeddingBackward(dtable: FloatPtr, dout: ConstFloatPtr, ids: UnsafePointer<Int32>,
                              T: Int, C: Int, scale: Float) {
    for t in 0..<T {
        let d = dtable + Int(ids[t]) * C, g = dout + t * C
        for i in 0..<C { d[i] += g[i] * scale }
    }
}

// ---- softmax over rows --------------------------------------------------------------------

/// Row-wise softmax of N rows of width C (max-subtracted, fp32).
public func softmaxForward(_ out: FloatPtr, _ inp: ConstFloatPtr, N: Int, C: Int) {
    for n in 0..<N {
        let x = inp + n * C, y = out + n * C
        var mx = -Float.infinity
        for i in 0..<C { mx = max(mx, x[i]) }
        var sum: Float = 0
        for i in 0..<C { let e = exp(x[i] - mx); y[i] = e; sum += e }
        let inv = 1 / sum
        for i in 0..<C { y[i] *= inv }
    }
}

/// `dinp += y ⊙ (dout − Σ y·dout)` per row, `y` the forward output.
public func softmaxBackward(dinp: FloatPtr, dout: ConstFloatPtr, out y: ConstFloatPtr, N: Int, C: Int) {
    for n in 0..<N {
        let p = y + n * C, d = dout + n * C, dx = dinp + n * C
        var dot: Float = 0
        for i in 0..<C { dot += p[i] * d[i] }
        for i in 0..<C { dx[i] += p[i] * (d[i] - dot) }
    }
}

// ---- residual add ----------------------------------------------------------------------------

/// `x[i] += y[i]` for N elements (the residual connection; its backward is the identity).
public func residualAdd(_ x: FloatPtr, _ y: ConstFloatPtr, N: Int) {
    for i in 0..<N { x[i] += y[i] }
}

/// Sets the OpenBLAS thread count (0 leaves the library default).
public func setBLASThreads(_ n: Int) {
    if n > 0 { openblas_set_num_threads(Int32(n)) }
}
