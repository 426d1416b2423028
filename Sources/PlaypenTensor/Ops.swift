import CBLAS
import CKernels
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
/// Rows are independent, so large inputs are split over the cores (same result for any split).
public func rmsNormForward(_ out: FloatPtr, rstd: FloatPtr?, _ inp: ConstFloatPtr,
                           scale: ConstFloatPtr, N: Int, C: Int, eps: Float) {
    let o = SendablePointer(out), s = SendablePointer(rstd), x0 = SendablePointer(inp), w = SendablePointer(scale)
    parallelChunks(N, minChunk: max(1, elementwiseChunk / max(C, 1))) { lo, hi in
        for n in lo..<hi {
            let r = rmsNormRow(o.pointer! + n * C, x0.const! + n * C, scale: w.const!, C: C, eps: eps)
            s.pointer?[n] = r
        }
    }
}

/// One row of `rmsNormForward` (`y` may be `x`); returns its rstd.
@inline(__always)
func rmsNormRow(_ y: FloatPtr, _ x: ConstFloatPtr, scale: ConstFloatPtr, C: Int, eps: Float) -> Float {
    let r = 1 / (vdot(x, x, C) / Float(C) + eps).squareRoot()
    var i = 0
    while i + vectorWidth <= C { vstore((vload(x + i) * r) * vload(scale + i), y + i); i += vectorWidth }
    while i < C { y[i] = (x[i] * r) * scale[i]; i += 1 }
    return r
}

/// The end of a Gemma-3 block over N rows of width C (inference): `h = rmsnorm(h; scale)`,
/// `x += h`, then with `nextScale` `h = rmsnorm(x; nextScale)`, the next block's input. Row by
/// row, so each row stays in cache between the steps; the bits of rmsNormForward, residualAdd
/// and rmsNormForward called in turn.
public func normedResidualAdd(_ x: FloatPtr, _ h: FloatPtr, scale: ConstFloatPtr, nextScale: ConstFloatPtr?,
                              N: Int, C: Int, eps: Float) {
    let xp = SendablePointer(x), hp = SendablePointer(h), w = SendablePointer(scale), next = SendablePointer(nextScale)
    parallelChunks(N, minChunk: max(1, elementwiseChunk / max(C, 1))) { lo, hi in
        for n in lo..<hi {
            let x = xp.pointer! + n * C, h = hp.pointer! + n * C
            _ = rmsNormRow(h, h, scale: w.const!, C: C, eps: eps)
            residualAdd(x, h, N: C)
            if let next = next.const { _ = rmsNormRow(h, x, scale: next, C: C, eps: eps) }
        }
    }
}

/// Per-head RMSNorm, then RoPE, over T rows of `nHeads` heads of width D (queries or keys) in
/// one pass; row t takes the angles of table row `tableRows?[t] ?? t`. The bits of
/// rmsNormForward over the T·nHeads head rows followed by ropeForward.
public func rmsNormRopeForward(_ x: FloatPtr, scale: ConstFloatPtr, cos: ConstFloatPtr, sin: ConstFloatPtr,
                               tableRows: [Int]?, T: Int, nHeads: Int, D: Int, eps: Float) {
    let xp = SendablePointer(x), w = SendablePointer(scale), c = SendablePointer(cos), s = SendablePointer(sin)
    let half = D / 2
    parallelChunks(T, minChunk: max(1, elementwiseChunk / max(nHeads * D, 1))) { lo, hi in
        for t in lo..<hi {
            let row = xp.pointer! + t * nHeads * D
            for h in 0..<nHeads { _ = rmsNormRow(row + h * D, row + h * D, scale: w.const!, C: D, eps: eps) }
            let table = (tableRows?[t] ?? t) * half
            ropeRotate(row, cos: c.const! + table, sin: s.const! + table, T: 1, nHeads: nHeads, D: D, direction: 1)
        }
    }
}

/// `dinp += ∂/∂inp`, `dscale += Σ_rows dout·inp·rstd`. `rstd` from the forward.
public func rmsNormBackward(dinp: FloatPtr?, dscale: FloatPtr?, dout: ConstFloatPtr,
                            inp: ConstFloatPtr, scale: ConstFloatPtr, rstd: ConstFloatPtr,
                            N: Int, C: Int) {
    if let dscale {
        // one accumulator for all rows: sequential over rows
        for n in 0..<N {
            let x = inp + n * C, dy = dout + n * C, r = rstd[n]
            for i in 0..<C { dscale[i] += dy[i] * x[i] * r }
        }
    }
    guard let dinp else { return }
    let d = SendablePointer(dinp), g = SendablePointer(dout), x0 = SendablePointer(inp)
    let w = SendablePointer(scale), rs = SendablePointer(rstd)
    parallelChunks(N, minChunk: max(1, elementwiseChunk / max(C, 1))) { lo, hi in
        let scale = w.const!
        for n in lo..<hi {
            let x = x0.const! + n * C, dy = g.const! + n * C, dx = d.pointer! + n * C, r = rs.const![n]
            var acc = FloatV()
            var i = 0
            while i + vectorWidth <= C {
                acc += vload(dy + i) * vload(scale + i) * vload(x + i)
                i += vectorWidth
            }
            var dot = laneSum(acc)
            while i < C { dot += dy[i] * scale[i] * x[i]; i += 1 }
            let k = dot * r * r * r / Float(C)
            i = 0
            while i + vectorWidth <= C {
                vstore(vload(dx + i) + (vload(dy + i) * vload(scale + i) * r - vload(x + i) * k), dx + i)
                i += vectorWidth
            }
            while i < C { dx[i] += dy[i] * scale[i] * r - x[i] * k; i += 1 }
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
    ropeRotate(x, cos: cos, sin: sin, T: T, nHeads: nHeads, D: D, direction: 1)
}

/// Rotates each (p[m], p[m + D/2]) pair by ±angle: direction 1 is R, −1 is Rᵀ.
@inline(__always)
func ropeRotate(_ x: FloatPtr, cos: ConstFloatPtr, sin: ConstFloatPtr, T: Int, nHeads: Int, D: Int, direction: Float) {
    let half = D / 2
    for t in 0..<T {
        let c = cos + t * half, s = sin + t * half
        for h in 0..<nHeads {
            let p = x + (t * nHeads + h) * D
            var m = 0
            while m + vectorWidth <= half {
                let a = vload(p + m), b = vload(p + m + half), cv = vload(c + m), sv = vload(s + m) * direction
                vstore(a * cv - b * sv, p + m)
                vstore(b * cv + a * sv, p + m + half)
                m += vectorWidth
            }
            while m < half {
                let a = p[m], b = p[m + half], sm = s[m] * direction
                p[m] = a * c[m] - b * sm
                p[m + half] = b * c[m] + a * sm
                m += 1
            }
        }
    }
}

/// The transpose rotation, in place on the gradient: d x = Rᵀ d x'.
public func ropeBackward(_ dx: FloatPtr, cos: ConstFloatPtr, sin: ConstFloatPtr, T: Int, nHeads: Int, D: Int) {
    ropeRotate(dx, cos: cos, sin: sin, T: T, nHeads: nHeads, D: D, direction: -1)
}

// ---- causal (optionally sliding-window) grouped-query attention ---------------------------

/// Causal attention for T query rows against Tk key rows.
/// - q: [T, H·D] (already normed and rotated), k/v: [Tk, KV·D]; query row t sits at key
///   position `qOffset + t` and sees keys j with `j ≤ qOffset + t` and, when `window > 0`,
///   `j > qOffset + t − window` (itself and window−1 previous keys).
/// - probs: H·T·Tk softmax probabilities (masked entries 0), kept for backward: laid out
///   [H, T, Tk] when KV > 1 and [T, H, Tk] when KV == 1 (multi-query: all heads share k/v, so
///   q viewed as [T·H, D] takes one product for scores and one for the output). Treat as opaque.
/// - out: [T, H·D]; head h uses kv head h / (H/KV). Scores are scaled by `scale`.
/// Queries go in blocks of `queryBlock` rows, each against only the keys its rows can see, so
/// the masked half of the causal score matrix is never computed. The products run on the panel
/// kernel: the keys are packed into panels once per call (into `keyPanels`,
/// `attentionKeyPanelFloats(Tk:D:KV:)` floats, when the caller gives the scratch), and the blocks
/// are shared out between the cores (`computeThreads`), largest first, each block's scores,
/// softmax (the scale applied to the visible scores) and outputs on one core: the blocks write
/// disjoint parts of `probs` and `out`, and a block is too small to split again.
public func attentionForward(_ out: FloatPtr, probs: FloatPtr, q: ConstFloatPtr, k: ConstFloatPtr,
                             v: ConstFloatPtr, T: Int, Tk: Int, qOffset: Int, H: Int, KV: Int, D: Int,
                             window: Int, scale: Float, queryBlock: Int = attentionQueryBlock,
                             keyPanels scratch: FloatPtr? = nil) {
    let panelFloats = pp_panel_floats(Tk, D)
    let keyPanels = scratch ?? FloatPtr.allocate(capacity: max(1, KV * panelFloats))
    defer { if scratch == nil { keyPanels.deallocate() } }
    for g in 0..<KV { pp_pack_panels(keyPanels + g * panelFloats, k + g * D, Tk, D, KV * D) }
    let problem = AttentionProblem(out: out, q: q, k: k, v: v, T: T, Tk: Tk, qOffset: qOffset)
    let blocks = attentionBlocks(T: T, Tk: Tk, qOffset: qOffset, window: window, queryBlock: queryBlock)
        .sorted { $0.keys * $0.rows > $1.keys * $1.rows }
    let (kp, sp) = (SendablePointer(keyPanels), SendablePointer(probs))
    // the cores take the blocks in the largest-first order as they free up
    runParts(blocks.count) { b in
        let t0 = blocks[b].t0
        attendBlock(blocks[b], problem, keyPanels: kp.const!, H: H, KV: KV, D: D, window: window, scale: scale) { h in
            sp.pointer! + (KV == 1 ? t0 * H * Tk : (h * T + t0) * Tk)
        }
    }
}

/// One sequence's queries, keys and values in a batched inference attention: q/out [T, H·D],
/// k/v [Tk, KV·D] (row strides KV·D), query row t at key position qOffset + t. Its query blocks
/// start at multiples of the block size counted from `phase` rows before row 0 (the sequence's
/// position of row 0 when its earlier rows are another problem's: the same blocks, so the same
/// bits, as the whole sequence's own attention).
public struct AttentionProblem: @unchecked Sendable {
    public let out: FloatPtr, q: ConstFloatPtr, k: ConstFloatPtr, v: ConstFloatPtr
    public let T, Tk, qOffset, phase: Int
    public init(out: FloatPtr, q: ConstFloatPtr, k: ConstFloatPtr, v: ConstFloatPtr, T: Int, Tk: Int, qOffset: Int,
                phase: Int = 0) {
        (self.out, self.q, self.k, self.v, self.T, self.Tk, self.qOffset, self.phase) = (out, q, k, v, T, Tk, qOffset, phase)
    }
}

/// `attentionForward` of several independent sequences (the segments of a batched forward) as
/// two parallel jobs instead of two per sequence: every sequence's keys packed (into
/// `keyPanels`, Σ `attentionKeyPanelFloats` of the problems), then the query blocks of all
/// sequences shared out between the cores, largest first. Inference only: the probabilities are
/// not kept, each worker's block scores go to its own slot of `scores`
/// (`attentionScoreFloats(Tk:H:)` floats of the longest Tk, times `computeThreads`). The bits of
/// one `attentionForward` per problem.
public func attentionForward(_ problems: [AttentionProblem], H: Int, KV: Int, D: Int, window: Int, scale: Float,
                             queryBlock: Int = batchedAttentionQueryBlock, keyPanels: FloatPtr, scores: FloatPtr) {
    var offset = 0
    let panelOffsets = problems.map { p in
        defer { offset += attentionKeyPanelFloats(Tk: p.Tk, D: D, KV: KV) }
        return offset
    }
    let kp = SendablePointer(keyPanels), sp = SendablePointer(scores)
    runParts(problems.count) { i in
        let (p, panelFloats) = (problems[i], pp_panel_floats(problems[i].Tk, D))
        for g in 0..<KV { pp_pack_panels(kp.pointer! + panelOffsets[i] + g * panelFloats, p.k + g * D, p.Tk, D, KV * D) }
    }
    let blocks = problems.indices.flatMap { i in
        attentionBlocks(T: problems[i].T, Tk: problems[i].Tk, qOffset: problems[i].qOffset, window: window,
                        queryBlock: queryBlock, phase: problems[i].phase).map { (problem: i, block: $0) }
    }.sorted { $0.block.keys * $0.block.rows > $1.block.keys * $1.block.rows }
    let slot = attentionScoreFloats(Tk: problems.map(\.Tk).max() ?? 0, H: H, queryBlock: queryBlock)
    runParts(blocks.count) { b, worker in
        let (i, block) = blocks[b]
        attendBlock(block, problems[i], keyPanels: kp.const! + panelOffsets[i], H: H, KV: KV, D: D,
                    window: window, scale: scale) { _ in sp.pointer! + worker * slot }
    }
}

/// Floats of one worker's score slot in the batched `attentionForward`: a block's rows of all
/// heads (one head at a time when KV > 1) against Tk keys.
public func attentionScoreFloats(Tk: Int, H: Int, queryBlock: Int = batchedAttentionQueryBlock) -> Int { queryBlock * H * Tk }

/// One block of query rows of `p` against the keys its rows see, on the calling thread: for each
/// key head, the scores (into `scores(h)`, row stride Tk), the masked softmax with the scale
/// applied to the visible scores, and the weighted values into `out`. Multi-query attention
/// (KV == 1) takes all heads' rows of the block in one product against the one key head;
/// grouped-query attention one head at a time.
@inline(__always)
private func attendBlock(_ block: AttentionBlock, _ p: AttentionProblem, keyPanels: ConstFloatPtr, H: Int, KV: Int,
                         D: Int, window: Int, scale: Float, scores: (Int) -> FloatPtr) {
    let width = Int(PP_PANEL_WIDTH), panelFloats = pp_panel_floats(p.Tk, D), group = H / KV, Tk = p.Tk
    let (t0, n, kLo, w) = (block.t0, block.rows, block.kLo, block.keys)
    let keyPanelRange = (kLo / width)..<((kLo + w + width - 1) / width)
    let valuePanels = (D + width - 1) / width
    for h in 0..<(KV == 1 ? 1 : H) {
        let g = KV == 1 ? 0 : h / group
        let rows = KV == 1 ? n * H : n, ldq = KV == 1 ? D : H * D
        let S = scores(h)
        pp_panel_gemm(S, Tk, p.q + t0 * H * D + (KV == 1 ? 0 : h * D), ldq, keyPanels + g * panelFloats, width, width * D,
                      D, rows, Tk, keyPanelRange.lowerBound, keyPanelRange.upperBound, nil, nil)
        maskedSoftmaxRows(S, 0..<rows, Tk: Tk, rowsPerPosition: KV == 1 ? H : 1, qOffset: p.qOffset + t0,
                          window: window, scale: scale)
        pp_panel_gemm(p.out + t0 * H * D + (KV == 1 ? 0 : h * D), ldq, S + kLo, Tk,
                      p.v + kLo * KV * D + g * D, KV * D, width, w, rows, D, 0, valuePanels, nil, nil)
    }
}

/// Floats of key panels `attentionForward` needs.
public func attentionKeyPanelFloats(Tk: Int, D: Int, KV: Int) -> Int { KV * pp_panel_floats(Tk, D) }

/// Query rows per attention block: small enough that skipping the masked keys pays (for 384
/// tokens, 58% of the full score matrix is computed), large enough for efficient sgemms.
public let attentionQueryBlock = 64

/// Query rows per block of the batched inference attention: with the blocks of every sequence in
/// one job the smaller blocks still keep both cores busy, and skip more masked keys (one-layer
/// extraction of 8 transcripts: attention 63-67 ms at 64 rows, 57-61 ms at 32; a 384-token
/// prefill the same).
public let batchedAttentionQueryBlock = 32

/// Floats of scratch `attentionBackward` needs.
public func attentionBackwardScratchCount(T: Int, Tk: Int, H: Int, queryBlock: Int = attentionQueryBlock) -> Int {
    H * min(T, queryBlock) * Tk
}

/// One block of query rows t0 ..< t0 + rows and the keys kLo ..< kLo + keys any of them sees.
public struct AttentionBlock: Equatable, Sendable { public let t0, rows, kLo, keys: Int }

/// `phase` makes the blocks those of the rows' whole sequence when the `phase % queryBlock` rows
/// before row 0 belong to it too (a sequence's rows after a shared prefix): the first block is
/// that many rows shorter and sees the keys its whole block would, so every sum runs over the
/// same keys in the same blocks of the kernel.
public func attentionBlocks(T: Int, Tk: Int, qOffset: Int, window: Int, queryBlock: Int, phase: Int = 0) -> [AttentionBlock] {
    var blocks: [AttentionBlock] = []
    var t0 = 0
    while t0 < T {
        let before = t0 == 0 ? phase % queryBlock : 0
        let n = min(queryBlock - before, T - t0)
        let kHi = min(Tk, qOffset + t0 + n)
        let kLo = window > 0 ? min(max(0, qOffset + t0 - before - window + 1), kHi) : 0
        blocks.append(AttentionBlock(t0: t0, rows: n, kLo: kLo, keys: kHi - kLo))
        t0 += n
    }
    return blocks
}

/// Causal/windowed softmax in place over the score rows `range` (width Tk), on the calling thread;
/// row r belongs to query position qOffset + r / rowsPerPosition. The visible scores are first
/// multiplied by `scale`; masked entries become 0.
func maskedSoftmaxRows(_ S: FloatPtr, _ range: Range<Int>, Tk: Int, rowsPerPosition: Int, qOffset: Int, window: Int,
                       scale: Float) {
    for r in range {
        let row = S + r * Tk
        let p = qOffset + r / rowsPerPosition
        let hi = min(Tk - 1, p)
        let lo = window > 0 ? max(0, p - window + 1) : 0
        if scale != 1 { scaleInPlace(row + lo, count: hi - lo + 1, by: scale) }
        softmaxInPlace(row + lo, count: hi - lo + 1)
        if lo > 0 { row.update(repeating: 0, count: lo) }
        if hi + 1 < Tk { (row + hi + 1).update(repeating: 0, count: Tk - hi - 1) }
    }
}

/// Max-subtracted softmax of `count` contiguous values, in place.
@inline(__always) func softmaxInPlace(_ x: FloatPtr, count n: Int) {
    let sum = exponentiateShifted(x, count: n, shift: maxElement(x, count: n))
    scaleInPlace(x, count: n, by: Float(1 / sum))
}

/// d ← p ⊙ (d − Σ p·d) over `count` values: the softmax backward of one row, in place on d.
@inline(__always) func softmaxBackwardInPlace(_ d: FloatPtr, probs p: ConstFloatPtr, count n: Int) {
    let dot = vdot(p, d, n)
    var i = 0
    while i + vectorWidth <= n { vstore(vload(p + i) * (vload(d + i) - dot), d + i); i += vectorWidth }
    while i < n { d[i] = p[i] * (d[i] - dot); i += 1 }
}

/// Backward of `attentionForward` (same `queryBlock`); accumulates into dq [T,H·D], dk/dv
/// [Tk,KV·D]. `scratch` must hold `attentionBackwardScratchCount(T:Tk:H:)` floats.
public func attentionBackward(dq: FloatPtr, dk: FloatPtr, dv: FloatPtr, dout: ConstFloatPtr,
                              probs: ConstFloatPtr, q: ConstFloatPtr, k: ConstFloatPtr, v: ConstFloatPtr,
                              scratch: FloatPtr, T: Int, Tk: Int, qOffset: Int = 0, H: Int, KV: Int, D: Int,
                              window: Int = 0, scale: Float, queryBlock: Int = attentionQueryBlock) {
    for block in attentionBlocks(T: T, Tk: Tk, qOffset: qOffset, window: window, queryBlock: queryBlock) {
        let (t0, n, kLo, w) = (block.t0, block.rows, block.kLo, block.keys)
        guard w > 0 else { continue }
        // per head (or, multi-query, all heads at once as [rows·H] rows): P is [rows, Tk] at
        // column kLo, scratch holds dP then dS as [rows, w]
        let heads = KV == 1 ? 1 : H
        let rowsPerHead = KV == 1 ? n * H : n
        let qStride = KV == 1 ? D : H * D, kvStride = KV * D
        for h in 0..<heads {
            let g = KV == 1 ? 0 : h / (H / KV)
            let P = (KV == 1 ? probs + t0 * H * Tk : probs + (h * T + t0) * Tk) + kLo
            let qh = q + t0 * H * D + (KV == 1 ? 0 : h * D), dqh = dq + t0 * H * D + (KV == 1 ? 0 : h * D)
            let douth = dout + t0 * H * D + (KV == 1 ? 0 : h * D)
            let kh = k + kLo * kvStride + g * D, vh = v + kLo * kvStride + g * D
            let dkh = dk + kLo * kvStride + g * D, dvh = dv + kLo * kvStride + g * D
            // dv += Pᵀ · dout
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(w), Int32(D), Int32(rowsPerHead), 1,
                        P, Int32(Tk), douth, Int32(qStride), 1, dvh, Int32(kvStride))
            // dP = dout · vᵀ
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rowsPerHead), Int32(w), Int32(D), 1,
                        douth, Int32(qStride), vh, Int32(kvStride), 0, scratch, Int32(w))
            // dS = P ⊙ (dP − Σ_j P dP)
            for t in 0..<rowsPerHead { softmaxBackwardInPlace(scratch + t * w, probs: P + t * Tk, count: w) }
            // dq += scale · dS · k ; dk += scale · dSᵀ · q
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(rowsPerHead), Int32(D), Int32(w), scale,
                        scratch, Int32(w), kh, Int32(kvStride), 1, dqh, Int32(qStride))
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(w), Int32(D), Int32(rowsPerHead), scale,
                        scratch, Int32(w), qh, Int32(qStride), 1, dkh, Int32(kvStride))
        }
    }
}

// ---- GELU-tanh gated MLP activation: out = gelu_tanh(gate) ⊙ up -------------------------------

/// `out[i] = gelu_tanh(gate[i]) · up[i]` for N elements (PyTorch `approximate="tanh"`).
/// Uses the identity 0.5·x·(1 + tanh(u)) = x·σ(2u) (one exp instead of tanh) and splits large
/// inputs over the cores (element-wise, so the result does not depend on the split). The loop is
/// `pp_gated_gelu` (CKernels, AVX-512 where the CPU has it: 3-4x this SSE build's speed), which
/// computes `x · geluSigmoid(x) · up` with the same operations as `vexp`, so the backward's
/// recomputation sees the forward's bits.
public func gatedGeluForward(_ out: FloatPtr, gate: ConstFloatPtr, up: ConstFloatPtr, N: Int) {
    let o = SendablePointer(out), g = SendablePointer(gate), u = SendablePointer(up)
    parallelChunks(N, minChunk: elementwiseChunk) { lo, hi in
        pp_gated_gelu(o.pointer! + lo, g.const! + lo, u.const! + lo, hi - lo)
    }
}

/// `dgate += dout·up·gelu'(gate)`, `dup += dout·gelu(gate)`, with s = σ(2u):
/// gelu = x·s and gelu' = s + 2·x·s·(1 − s)·u'(x), u = √(2/π)·(x + 0.044715·x³).
public func gatedGeluBackward(dgate: FloatPtr, dup: FloatPtr, dout: ConstFloatPtr,
                              gate: ConstFloatPtr, up: ConstFloatPtr, N: Int) {
    let dg = SendablePointer(dgate), du = SendablePointer(dup), d = SendablePointer(dout)
    let g = SendablePointer(gate), u = SendablePointer(up)
    parallelChunks(N, minChunk: elementwiseChunk) { lo, hi in
        let dgate = dg.pointer!, dup = du.pointer!, dout = d.const!, gate = g.const!, up = u.const!
        var i = lo
        while i + vectorWidth <= hi {
            let x = vload(gate + i), dy = vload(dout + i), s = geluSigmoid(x)
            let du = geluArgumentSlope * (1 + 3 * geluCubic * x * x)
            let slope = s + 2 * x * s * (1 - s) * du
            vstore(vload(dgate + i) + dy * vload(up + i) * slope, dgate + i)
            vstore(vload(dup + i) + dy * (x * s), dup + i)
            i += vectorWidth
        }
        while i < hi {
            let x = gate[i], dy = dout[i], s = geluSigmoid(x)
            let du = geluArgumentSlope * (1 + 3 * geluCubic * x * x)
            dgate[i] += dy * up[i] * (s + 2 * x * s * (1 - s) * du)
            dup[i] += dy * (x * s)
            i += 1
        }
    }
}

let geluArgumentSlope: Float = 0.7978845608028654  // √(2/π)
let geluCubic: Float = 0.044715

/// σ(2u) = 1 / (1 + e^(−2u)) = 0.5·(1 + tanh(u)), u = √(2/π)·(x + 0.044715·x³).
@inline(__always) func geluSigmoid(_ x: FloatV) -> FloatV {
    1 / (1 + vexp(-2 * geluArgumentSlope * (x + geluCubic * x * x * x)))
}

@inline(__always) func geluSigmoid(_ x: Float) -> Float {
    1 / (1 + sexp(-2 * geluArgumentSlope * (x + geluCubic * x * x * x)))
}

/// Elements (or row elements) below which an element-wise kernel stays on one thread: a
/// dispatch costs more than the work.
let elementwiseChunk = 1 << 14

/// Runs `body(lo, hi)` over [0, n) in contiguous chunks on the available cores.
public func parallelChunks(_ n: Int, minChunk: Int, _ body: @Sendable (Int, Int) -> Void) {
    let parts = max(1, min(computeThreads, n / max(minChunk, 1)))
    if parts == 1 { body(0, n); return }
    let step = (n + parts - 1) / parts
    runParts(parts) { p in
        let lo = p * step, hi = min(n, lo + step)
        if lo < hi { body(lo, hi) }
    }
}

/// `body(part)` for parts 0 ..< `parts` on the cores (`runParts`), the results in part order.
public func parallelMap<T>(_ parts: Int, _ body: @Sendable (Int) -> T) -> [T] {
    var results = [T?](repeating: nil, count: parts)
    results.withUnsafeMutableBufferPointer { slots in
        let slots = ResultSlots(base: slots.baseAddress!)
        runParts(parts) { part in slots.base[part] = body(part) }  // each part writes its own slot
    }
    return results.map { $0! }
}

private struct ResultSlots<T>: @unchecked Sendable { let base: UnsafeMutablePointer<T?> }

nonisolated(unsafe) private var spinningWorkers = false

/// From now on `runParts` (and so `parallelChunks` and inference attention) runs on the spinning
/// worker pool (CKernels/workerpool.c): a forward pass starts ~10 parallel jobs per layer, and
/// GCD's sleeping workers took ~35 µs to wake for each on this VM. For the forward-only tools,
/// whose products run on the panel kernel: a pool worker spins for a while after each job, and
/// OpenBLAS's threads beside it (training's sgemms) would lose a core to it. Call it at start-up.
public func useSpinningWorkers() { spinningWorkers = true }

/// Runs `body(0 ..< parts)` on up to `computeThreads` cores: on the spinning worker pool after
/// `useSpinningWorkers()` while no other job holds it (another thread's, or the one a call from
/// inside a part belongs to), on GCD otherwise.
public func runParts(_ parts: Int, _ body: @Sendable (Int) -> Void) {
    runParts(parts) { part, _ in body(part) }
}

/// `runParts` whose body also gets the index of the worker running the part, in
/// 0 ..< `computeThreads` and unique among the parts running at one time (per-worker scratch).
public func runParts(_ parts: Int, _ body: @Sendable (_ part: Int, _ worker: Int) -> Void) {
    if parts <= 1 { if parts == 1 { body(0, 0) }; return }
    withoutActuallyEscaping(body) { task in
        var context = task
        let ran = !spinningWorkers ? 0 : withUnsafeMutablePointer(to: &context) { context in
            pp_pool_run(parts, computeThreads, { context, part, worker in
                context!.assumingMemoryBound(to: (@Sendable (Int, Int) -> Void).self).pointee(part, worker)
            }, context)
        }
        guard ran == 0 else { return }
        let workers = min(parts, computeThreads)
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            for part in stride(from: worker, to: parts, by: workers) { task(part, worker) }
        }
    }
}

nonisolated(unsafe) private var computeThreadLimit = 0

/// Limits the cores the element-wise kernels, the panel kernel and inference attention split
/// their work over (tools set it from --threads; 0 = all). Their results do not depend on it.
public func setComputeThreads(_ n: Int) { computeThreadLimit = max(0, n) }

/// The cores work is split over: all active ones, or fewer when `setComputeThreads` asked.
public var computeThreads: Int {
    let cores = ProcessInfo.processInfo.activeProcessorCount
    return computeThreadLimit > 0 ? min(computeThreadLimit, cores) : cores
}

/// A buffer address handed to `parallelChunks` bodies, which write disjoint ranges of it.
public struct SendablePointer: @unchecked Sendable {
    let address: UnsafeMutablePointer<Float>?
    public init(_ p: UnsafeMutablePointer<Float>?) { address = p }
    public init(_ p: UnsafePointer<Float>?) { address = p.map { UnsafeMutablePointer(mutating: $0) } }
    public var pointer: UnsafeMutablePointer<Float>? { address }
    public var const: UnsafePointer<Float>? { address.map { UnsafePointer($0) } }
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
        if out != inp { (out + n * C).update(from: inp + n * C, count: C) }
        softmaxInPlace(out + n * C, count: C)
    }
}

/// `dinp += y ⊙ (dout − Σ y·dout)` per row, `y` the forward output.
public func softmaxBackward(dinp: FloatPtr, dout: ConstFloatPtr, out y: ConstFloatPtr, N: Int, C: Int) {
    for n in 0..<N {
        let p = y + n * C, d = dout + n * C, dx = dinp + n * C
        let dot = vdot(p, d, C)
        for i in 0..<C { dx[i] += p[i] * (d[i] - dot) }
    }
}

// ---- residual add ----------------------------------------------------------------------------

/// `x[i] += y[i]` for N elements (the residual connection; its backward is the identity).
public func residualAdd(_ x: FloatPtr, _ y: ConstFloatPtr, N: Int) {
    var i = 0
    while i + vectorWidth <= N { vstore(vload(x + i) + vload(y + i), x + i); i += vectorWidth }
    while i < N { x[i] += y[i]; i += 1 }
}

/// Sets the OpenBLAS thread count (0 leaves the library default).
public func setBLASThreads(_ n: Int) {
    if n > 0 { openblas_set_num_threads(Int32(n)) }
}
