import Foundation
import Testing
import PlaypenTensor

// Every fp32 op is checked against a Double scalar reference (plain loops, no BLAS) written here
// from gemma3.md §2, and every backward against central finite differences of that Double
// reference (h = 1e-5, so the FD error is ~1e-10 and the tolerance only covers fp32 rounding).

struct Rand {
    var s: UInt64
    mutating func next() -> Double {
        s = s &* 6364136223846793005 &+ 1442695040888963407
        return Double(s >> 11) * 0x1p-53 * 2 - 1
    }
    mutating func array(_ n: Int, _ scale: Double = 1) -> [Double] { (0..<n).map { _ in next() * scale } }
}

func f32(_ x: [Double]) -> [Float] { x.map { Float($0) } }

/// Max-abs-diff check reporting the worst index.
func expectClose(_ a: [Float], _ b: [Double], atol: Double, rtol: Double = 0, _ what: String) {
    #expect(a.count == b.count, "\(what): sizes \(a.count) vs \(b.count)")
    var worst = 0, worstExcess = -Double.infinity
    for i in 0..<min(a.count, b.count) {
        let excess = abs(Double(a[i]) - b[i]) - (atol + rtol * abs(b[i]))
        if excess > worstExcess { worstExcess = excess; worst = i }
    }
    #expect(worstExcess <= 0, "\(what): index \(worst): \(a[worst]) vs \(b[worst])")
}

/// Central finite differences of a scalar function.
func fdGradient(_ x: [Double], h: Double = 1e-5, _ f: ([Double]) -> Double) -> [Double] {
    var x = x
    return (0..<x.count).map { i in
        let o = x[i]
        x[i] = o + h; let fp = f(x)
        x[i] = o - h; let fm = f(x)
        x[i] = o
        return (fp - fm) / (2 * h)
    }
}

func dot(_ a: [Double], _ b: [Double]) -> Double { zip(a, b).reduce(0) { $0 + $1.0 * $1.1 } }

// ---- Double references --------------------------------------------------------------------

func refMatmul(_ x: [Double], _ w: [Double], T: Int, C: Int, OC: Int) -> [Double] {
    var y = [Double](repeating: 0, count: T * OC)
    for t in 0..<T { for o in 0..<OC { for c in 0..<C { y[t * OC + o] += x[t * C + c] * w[o * C + c] } } }
    return y
}

func refRMSNorm(_ x: [Double], _ s: [Double], N: Int, C: Int, eps: Double) -> [Double] {
    var y = x
    for n in 0..<N {
        var ss = 0.0
        for i in 0..<C { ss += x[n * C + i] * x[n * C + i] }
        let r = 1 / (ss / Double(C) + eps).squareRoot()
        for i in 0..<C { y[n * C + i] = x[n * C + i] * r * s[i] }
    }
    return y
}

func refRope(_ x: [Double], positions: [Int], base: Double, nHeads: Int, D: Int) -> [Double] {
    var y = x
    let half = D / 2
    for (t, p) in positions.enumerated() {
        for h in 0..<nHeads {
            let o = (t * nHeads + h) * D
            for m in 0..<half {
                let a = Double(p) / pow(base, Double(2 * m) / Double(D))
                let x1 = x[o + m], x2 = x[o + m + half]
                y[o + m] = x1 * cos(a) - x2 * sin(a)
                y[o + m + half] = x2 * cos(a) + x1 * sin(a)
            }
        }
    }
    return y
}

func refAttention(q: [Double], k: [Double], v: [Double], T: Int, Tk: Int, qOffset: Int, H: Int, KV: Int, D: Int,
                  window: Int, scale: Double) -> [Double] {
    var out = [Double](repeating: 0, count: T * H * D)
    for h in 0..<H {
        let g = h / (H / KV)
        for t in 0..<T {
            let qp = qOffset + t
            var s = [Double](repeating: -.infinity, count: Tk)
            for j in 0..<Tk where j <= qp && (window == 0 || j > qp - window) {
                var acc = 0.0
                for e in 0..<D { acc += q[(t * H + h) * D + e] * k[(j * KV + g) * D + e] }
                s[j] = acc * scale
            }
            let mx = s.max()!
            let e = s.map { $0 == -.infinity ? 0 : exp($0 - mx) }
            let z = e.reduce(0, +)
            for j in 0..<Tk { for dd in 0..<D { out[(t * H + h) * D + dd] += e[j] / z * v[(j * KV + g) * D + dd] } }
        }
    }
    return out
}

func refGelu(_ x: Double) -> Double { 0.5 * x * (1 + tanh((2 / Double.pi).squareRoot() * (x + 0.044715 * x * x * x))) }

@Suite struct OpsTests {
    @Test func matmulForwardBackward() {
        var r = Rand(s: 1)
        let T = 5, C = 7, OC = 3
        let x = r.array(T * C), w = r.array(OC * C), R = r.array(T * OC)
        var y = [Float](repeating: 0, count: T * OC)
        matmulForward(&y, f32(x), f32(w), T: T, C: C, OC: OC)
        expectClose(y, refMatmul(x, w, T: T, C: C, OC: OC), atol: 1e-5, "matmul forward")
        var dx = [Float](repeating: 0, count: T * C), dw = [Float](repeating: 0, count: OC * C)
        matmulBackward(dinp: &dx, dweight: &dw, dout: f32(R), inp: f32(x), weight: f32(w), T: T, C: C, OC: OC)
        expectClose(dx, fdGradient(x) { dot(refMatmul($0, w, T: T, C: C, OC: OC), R) }, atol: 1e-5, "matmul dinp")
        expectClose(dw, fdGradient(w) { dot(refMatmul(x, $0, T: T, C: C, OC: OC), R) }, atol: 1e-5, "matmul dweight")
    }

    // C = 9 and 21: a tail alone, and full vectors plus a tail
    @Test(arguments: [9, 21])
    func rmsNormForwardBackward(C: Int) {
        var r = Rand(s: 2)
        let N = 4
        let x = r.array(N * C, 3), s = r.array(C).map { $0 + 1 }, R = r.array(N * C)
        var y = [Float](repeating: 0, count: N * C), rstd = [Float](repeating: 0, count: N)
        rmsNormForward(&y, rstd: &rstd, f32(x), scale: f32(s), N: N, C: C, eps: 1e-6)
        expectClose(y, refRMSNorm(x, s, N: N, C: C, eps: 1e-6), atol: 1e-5, "rmsnorm forward")
        var dx = [Float](repeating: 0, count: N * C), ds = [Float](repeating: 0, count: C)
        rmsNormBackward(dinp: &dx, dscale: &ds, dout: f32(R), inp: f32(x), scale: f32(s), rstd: rstd, N: N, C: C)
        expectClose(dx, fdGradient(x) { dot(refRMSNorm($0, s, N: N, C: C, eps: 1e-6), R) }, atol: 2e-5, "rmsnorm dinp")
        expectClose(ds, fdGradient(s) { dot(refRMSNorm(x, $0, N: N, C: C, eps: 1e-6), R) }, atol: 2e-5, "rmsnorm dscale")
    }

    @Test func ropeForwardBackward() {
        var r = Rand(s: 3)
        let T = 6, nH = 2, D = 8, base = 10_000.0
        let positions = [0, 1, 2, 7, 100, 511]
        let x = r.array(T * nH * D), R = r.array(T * nH * D)
        let tables = ropeTables(positions: positions, invFreq: ropeInverseFrequencies(base: base, D: D))
        var y = f32(x)
        ropeForward(&y, cos: tables.cos, sin: tables.sin, T: T, nHeads: nH, D: D)
        // fp32 angles (pos · inv_freq) at pos 511 carry ~3e-5 rounding, as in transformers.
        expectClose(y, refRope(x, positions: positions, base: base, nHeads: nH, D: D), atol: 1e-4, "rope forward")
        var dx = f32(R)
        ropeBackward(&dx, cos: tables.cos, sin: tables.sin, T: T, nHeads: nH, D: D)
        expectClose(dx, fdGradient(x) { dot(refRope($0, positions: positions, base: base, nHeads: nH, D: D), R) },
                    atol: 1e-4, "rope backward")
    }

    // queryBlock 2 and 4 split the 6 query rows into causal blocks (each against only the keys
    // it sees); 64 keeps them in one block.
    @Test(arguments: [(0, 0, 2, 64), (3, 0, 2, 64), (3, 4, 2, 64), (0, 0, 1, 64), (3, 4, 1, 64), (0, 2, 4, 64),
                      (0, 0, 2, 2), (3, 4, 2, 4), (0, 0, 1, 2), (3, 4, 1, 4), (2, 1, 1, 2), (0, 2, 4, 4)])
    func attentionForwardBackward(window: Int, qOffset: Int, KV: Int, queryBlock: Int) {
        var r = Rand(s: 4 + UInt64(window + qOffset + 10 * KV))
        let T = 6, H = 4, D = 4, Tk = T + qOffset, scale = 0.4
        let q = r.array(T * H * D, 2), k = r.array(Tk * KV * D, 2), v = r.array(Tk * KV * D), R = r.array(T * H * D)
        var out = [Float](repeating: 0, count: T * H * D)
        // garbage in the probs buffer must not leak into masked entries the blocks skip
        var probs = [Float](repeating: .nan, count: H * T * Tk)
        attentionForward(&out, probs: &probs, q: f32(q), k: f32(k), v: f32(v), T: T, Tk: Tk, qOffset: qOffset,
                         H: H, KV: KV, D: D, window: window, scale: Float(scale), queryBlock: queryBlock)
        let ref = refAttention(q: q, k: k, v: v, T: T, Tk: Tk, qOffset: qOffset, H: H, KV: KV, D: D, window: window, scale: scale)
        expectClose(out, ref, atol: 1e-5, "attention forward w=\(window)")
        // the same with the caller's key-panel scratch (garbage in it too)
        var scratchOut = [Float](repeating: .nan, count: T * H * D), scratchProbs = [Float](repeating: .nan, count: H * T * Tk)
        var keyPanels = [Float](repeating: .nan, count: attentionKeyPanelFloats(Tk: Tk, D: D, KV: KV))
        attentionForward(&scratchOut, probs: &scratchProbs, q: f32(q), k: f32(k), v: f32(v), T: T, Tk: Tk,
                         qOffset: qOffset, H: H, KV: KV, D: D, window: window, scale: Float(scale),
                         queryBlock: queryBlock, keyPanels: &keyPanels)
        expectClose(scratchOut, ref, atol: 1e-5, "attention forward with key-panel scratch w=\(window)")
        var dq = [Float](repeating: 0, count: q.count), dk = [Float](repeating: 0, count: k.count)
        var dv = [Float](repeating: 0, count: v.count)
        var scratch = [Float](repeating: .nan, count: attentionBackwardScratchCount(T: T, Tk: Tk, H: H, queryBlock: queryBlock))
        attentionBackward(dq: &dq, dk: &dk, dv: &dv, dout: f32(R), probs: probs, q: f32(q), k: f32(k), v: f32(v),
                          scratch: &scratch, T: T, Tk: Tk, qOffset: qOffset, H: H, KV: KV, D: D, window: window,
                          scale: Float(scale), queryBlock: queryBlock)
        func loss(_ q: [Double], _ k: [Double], _ v: [Double]) -> Double {
            dot(refAttention(q: q, k: k, v: v, T: T, Tk: Tk, qOffset: qOffset, H: H, KV: KV, D: D, window: window, scale: scale), R)
        }
        expectClose(dq, fdGradient(q) { loss($0, k, v) }, atol: 5e-5, "attention dq")
        expectClose(dk, fdGradient(k) { loss(q, $0, v) }, atol: 5e-5, "attention dk")
        expectClose(dv, fdGradient(v) { loss(q, k, $0) }, atol: 5e-5, "attention dv")
    }

    /// Keys across several 32-key panels, blocks starting mid-panel (window, qOffset), MQA and GQA.
    @Test(arguments: [(0, 0, 1, 16), (20, 30, 1, 16), (20, 30, 2, 64), (0, 30, 2, 7), (45, 0, 1, 64)])
    func attentionOnPanelsAcrossPanelBoundaries(window: Int, qOffset: Int, KV: Int, queryBlock: Int) {
        var r = Rand(s: 40 + UInt64(window + qOffset + KV))
        let T = 40, H = 4, D = 8, Tk = T + qOffset, scale = 0.3
        let q = r.array(T * H * D, 2), k = r.array(Tk * KV * D, 2), v = r.array(Tk * KV * D)
        var out = [Float](repeating: .nan, count: T * H * D), probs = [Float](repeating: .nan, count: H * T * Tk)
        var keyPanels = [Float](repeating: .nan, count: attentionKeyPanelFloats(Tk: Tk, D: D, KV: KV))
        attentionForward(&out, probs: &probs, q: f32(q), k: f32(k), v: f32(v), T: T, Tk: Tk, qOffset: qOffset,
                         H: H, KV: KV, D: D, window: window, scale: Float(scale), queryBlock: queryBlock,
                         keyPanels: &keyPanels)
        let ref = refAttention(q: q, k: k, v: v, T: T, Tk: Tk, qOffset: qOffset, H: H, KV: KV, D: D, window: window, scale: scale)
        expectClose(out, ref, atol: 1e-5, "attention on panels w=\(window) qOffset=\(qOffset) KV=\(KV) block=\(queryBlock)")
    }

    /// Several sequences in one batched job (key panels side by side, per-worker score slots full
    /// of garbage): each output matches the reference and is the bits of its own attentionForward.
    @Test(arguments: [(0, 1, 16), (20, 1, 16), (20, 2, 64), (0, 2, 7), (45, 1, 64)])
    func batchedAttentionEqualsOneCallPerSequence(window: Int, KV: Int, queryBlock: Int) {
        var r = Rand(s: 70 + UInt64(window + KV + queryBlock))
        let H = 4, D = 8, scale = 0.3
        let shapes = [(T: 40, qOffset: 0), (T: 1, qOffset: 57), (T: 70, qOffset: 30), (T: 13, qOffset: 0)]
        let inputs = shapes.map { s in
            (q: r.array(s.T * H * D, 2), k: r.array((s.T + s.qOffset) * KV * D, 2), v: r.array((s.T + s.qOffset) * KV * D))
        }
        let qs = inputs.map { f32($0.q) }, ks = inputs.map { f32($0.k) }, vs = inputs.map { f32($0.v) }
        func copy(_ x: [Float]) -> FloatPtr {
            let p = FloatPtr.allocate(capacity: x.count)
            p.initialize(from: x, count: x.count)
            return p
        }
        let q = qs.map(copy), k = ks.map(copy), v = vs.map(copy)
        let outs = shapes.map { s in FloatPtr.allocate(capacity: s.T * H * D) }
        defer { for p in outs + q + k + v { p.deallocate() } }
        let panelFloats = shapes.reduce(0) { $0 + attentionKeyPanelFloats(Tk: $1.T + $1.qOffset, D: D, KV: KV) }
        var keyPanels = [Float](repeating: .nan, count: panelFloats)
        var scores = [Float](repeating: .nan, count: computeThreads * attentionScoreFloats(Tk: 100, H: H, queryBlock: queryBlock))
        let problems = shapes.indices.map { i in
            AttentionProblem(out: outs[i], q: q[i], k: k[i], v: v[i], T: shapes[i].T, Tk: shapes[i].T + shapes[i].qOffset,
                             qOffset: shapes[i].qOffset)
        }
        attentionForward(problems, H: H, KV: KV, D: D, window: window, scale: Float(scale), queryBlock: queryBlock,
                         keyPanels: &keyPanels, scores: &scores)
        for (i, s) in shapes.enumerated() {
            let batched = Array(UnsafeBufferPointer(start: outs[i], count: s.T * H * D)), Tk = s.T + s.qOffset
            let ref = refAttention(q: inputs[i].q, k: inputs[i].k, v: inputs[i].v, T: s.T, Tk: Tk, qOffset: s.qOffset,
                                   H: H, KV: KV, D: D, window: window, scale: scale)
            expectClose(batched, ref, atol: 1e-5, "batched attention, sequence \(i) w=\(window) KV=\(KV)")
            var single = [Float](repeating: .nan, count: s.T * H * D), probs = [Float](repeating: .nan, count: H * s.T * Tk)
            attentionForward(&single, probs: &probs, q: qs[i], k: ks[i], v: vs[i], T: s.T, Tk: Tk, qOffset: s.qOffset,
                             H: H, KV: KV, D: D, window: window, scale: Float(scale), queryBlock: queryBlock)
            #expect(batched == single, "sequence \(i): batched attention differs from its own call")
        }
    }

    @Test func slidingWindowSeesExactlyWindowKeys() {
        // With window 3 the query at position 5 must ignore keys 0..2: changing them changes nothing.
        var r = Rand(s: 9)
        let T = 6, D = 4
        let q = f32(r.array(T * D)), v = f32(r.array(T * D))
        var k = f32(r.array(T * D))
        var a = [Float](repeating: 0, count: T * D), b = a, p = [Float](repeating: 0, count: T * T)
        attentionForward(&a, probs: &p, q: q, k: k, v: v, T: T, Tk: T, qOffset: 0, H: 1, KV: 1, D: D, window: 3, scale: 1)
        #expect(p[5 * T + 2] == 0 && p[5 * T + 3] > 0 && p[5 * T + 5] > 0)
        for i in 0..<(3 * D) { k[i] += 5 }
        attentionForward(&b, probs: &p, q: q, k: k, v: v, T: T, Tk: T, qOffset: 0, H: 1, KV: 1, D: D, window: 3, scale: 1)
        #expect(Array(a[(5 * D)...]) == Array(b[(5 * D)...]))
        #expect(Array(a[(2 * D)..<(3 * D)]) != Array(b[(2 * D)..<(3 * D)]))
    }

    @Test func gatedGeluForwardBackward() {
        var r = Rand(s: 5)
        let N = 20
        let g = r.array(N, 4), u = r.array(N, 2), R = r.array(N)
        var y = [Float](repeating: 0, count: N)
        gatedGeluForward(&y, gate: f32(g), up: f32(u), N: N)
        expectClose(y, (0..<N).map { refGelu(g[$0]) * u[$0] }, atol: 1e-5, "gelu forward")
        // PyTorch value: F.gelu(torch.tensor(1.0), approximate="tanh") = 0.8411920070648193
        var one: [Float] = [0]
        gatedGeluForward(&one, gate: [1], up: [1], N: 1)
        #expect(abs(one[0] - 0.841192007) < 1e-6)
        var dg = [Float](repeating: 0, count: N), du = [Float](repeating: 0, count: N)
        gatedGeluBackward(dgate: &dg, dup: &du, dout: f32(R), gate: f32(g), up: f32(u), N: N)
        expectClose(dg, fdGradient(g) { x in dot((0..<N).map { refGelu(x[$0]) * u[$0] }, R) }, atol: 1e-5, "gelu dgate")
        expectClose(du, fdGradient(u) { x in dot((0..<N).map { refGelu(g[$0]) * x[$0] }, R) }, atol: 1e-5, "gelu dup")
    }

    /// The forward's GELU loop (CKernels' pp_gated_gelu, AVX-512 and portable) gives the bits of
    /// x · σ(2u) · up computed with PlaypenTensor's own exp (`sexp`), the one the backward uses,
    /// over ordinary values, both clamp ends of the exp, zeros, subnormals and infinities.
    @Test(arguments: [true, false]) func gatedGeluKernelHasTheBitsOfTheSwiftFormula(avx512: Bool) {
        let selection = KernelSelection(avx512: avx512)
        defer { selection.end() }
        var r = Rand(s: 9)
        let subnormal = Float.leastNormalMagnitude / 8
        var gate = f32(r.array(4000, 6)) + [0, -0.0, 1, -1, 30, -30, 60, -60, subnormal, -subnormal, 1e20, -1e20, .infinity, -.infinity]
        gate += f32(r.array(37, 0.01))  // a tail shorter than a vector
        let up = f32(r.array(gate.count, 3))
        var y = [Float](repeating: .nan, count: gate.count)
        gatedGeluForward(&y, gate: gate, up: up, N: gate.count)
        let slope: Float = 0.7978845608028654, cubic: Float = 0.044715
        for i in gate.indices {
            let x = gate[i]
            let s = 1 / (1 + sexp(-2 * slope * (x + cubic * x * x * x)))
            let expected = x * s * up[i]
            #expect(y[i].bitPattern == expected.bitPattern || (y[i].isNaN && expected.isNaN), "gate \(x): \(y[i]) vs \(expected)")
        }
    }

    /// The forward's fused block end gives the bits of the three steps it fuses: norm h, add it
    /// to x, norm x into h with the next scale (and without one, h stays the normed block output).
    @Test(arguments: [true, false]) func normedResidualAddHasTheBitsOfItsSteps(withNext: Bool) {
        var r = Rand(s: 21)
        let N = 300, C = 72  // many rows, so the work is split over the cores; C not a vector multiple
        let x0 = f32(r.array(N * C, 40)), h0 = f32(r.array(N * C, 3))
        let scale = f32(r.array(C, 1)), next = f32(r.array(C, 1))
        var x = x0, h = h0
        normedResidualAdd(&x, &h, scale: scale, nextScale: withNext ? next : nil, N: N, C: C, eps: 1e-6)
        var ex = x0, eh = h0
        rmsNormForward(&eh, rstd: nil, h0, scale: scale, N: N, C: C, eps: 1e-6)
        residualAdd(&ex, eh, N: N * C)
        if withNext { rmsNormForward(&eh, rstd: nil, ex, scale: next, N: N, C: C, eps: 1e-6) }
        #expect(x.map(\.bitPattern) == ex.map(\.bitPattern))
        #expect(h.map(\.bitPattern) == eh.map(\.bitPattern))
    }

    /// Per-head norm + RoPE in one pass gives the bits of rmsNormForward then ropeForward, with
    /// every row's angles or with gathered rows taking other rows' angles.
    @Test(arguments: [false, true]) func rmsNormRopeHasTheBitsOfNormThenRope(gathered: Bool) {
        var r = Rand(s: 22)
        let T = 40, H = 3, D = 36, half = D / 2, tableRows = 50
        let x0 = f32(r.array(T * H * D, 5)), scale = f32(r.array(D, 1))
        let cos = f32(r.array(tableRows * half, 1)), sin = f32(r.array(tableRows * half, 1))
        let rows = gathered ? (0..<T).map { (7 * $0 + 3) % tableRows } : nil
        var y = x0
        rmsNormRopeForward(&y, scale: scale, cos: cos, sin: sin, tableRows: rows, T: T, nHeads: H, D: D, eps: 1e-6)
        var e = x0
        rmsNormForward(&e, rstd: nil, x0, scale: scale, N: T * H, C: D, eps: 1e-6)
        for t in 0..<T {
            let p = rows?[t] ?? t
            e.withUnsafeMutableBufferPointer { eb in
                ropeForward(eb.baseAddress! + t * H * D, cos: Array(cos[(p * half)...]), sin: Array(sin[(p * half)...]),
                            T: 1, nHeads: H, D: D)
            }
        }
        #expect(y.map(\.bitPattern) == e.map(\.bitPattern))
    }

    @Test func embeddingForwardBackward() {
        var r = Rand(s: 6)
        let V = 5, C = 3, ids: [Int32] = [4, 0, 4, 2]
        let E = r.array(V * C), R = r.array(ids.count * C), s = 1.7
        func ref(_ E: [Double]) -> [Double] { ids.flatMap { id in (0..<C).map { E[Int(id) * C + $0] * s } } }
        var y = [Float](repeating: 0, count: ids.count * C)
        embeddingForward(&y, ids: ids, table: f32(E), T: ids.count, C: C, scale: Float(s))
        expectClose(y, ref(E), atol: 1e-6, "embedding forward")
        var dE = [Float](repeating: 0, count: V * C)
        embeddingBackward(dtable: &dE, dout: f32(R), ids: ids, T: ids.count, C: C, scale: Float(s))
        expectClose(dE, fdGradient(E) { dot(ref($0), R) }, atol: 1e-5, "embedding backward")
    }

    @Test(arguments: [6, 21])
    func softmaxForwardBackward(C: Int) {
        var r = Rand(s: 7)
        let N = 3
        let x = r.array(N * C, 5), R = r.array(N * C)
        func ref(_ x: [Double]) -> [Double] {
            (0..<N).flatMap { n -> [Double] in
                let row = Array(x[(n * C)..<((n + 1) * C)]), m = row.max()!
                let e = row.map { exp($0 - m) }, z = e.reduce(0, +)
                return e.map { $0 / z }
            }
        }
        var y = [Float](repeating: 0, count: N * C)
        softmaxForward(&y, f32(x), N: N, C: C)
        expectClose(y, ref(x), atol: 1e-6, "softmax forward")
        var dx = [Float](repeating: 0, count: N * C)
        softmaxBackward(dinp: &dx, dout: f32(R), out: y, N: N, C: C)
        expectClose(dx, fdGradient(x) { dot(ref($0), R) }, atol: 1e-5, "softmax backward")
    }

    @Test func vectorExpMatchesLibmWithinTwoUlp() {
        // every 1/64 step over the range the kernels use, plus the clamped ends
        var worst: Float = 0
        var x: Float = -87
        while x < 88 {
            let e = Foundation.exp(Double(x)), v = Double(sexp(x))
            worst = max(worst, Float(abs(v - e) / e))
            x += 1 / 64
        }
        #expect(worst < 2.5e-7, "vexp relative error \(worst)")
        #expect(sexp(0) == 1)
        #expect(sexp(-1000) >= 0 && sexp(-1000) < 1.2e-38)
        #expect(sexp(1000).isFinite)
        // lanes agree with the scalar twin
        let xs = FloatV(-3, -0.5, 0, 0.25, 1, 2.5, 10, 50)
        let vs = vexp(xs)
        for i in 0..<vectorWidth { #expect(vs[i] == sexp(xs[i])) }
    }

    @Test func causalBlocksCoverExactlyTheVisibleKeys() {
        // 10 query rows at positions 5..14 of 15 keys, window 4, blocks of 3
        let blocks = attentionBlocks(T: 10, Tk: 15, qOffset: 5, window: 4, queryBlock: 3)
        #expect(blocks.map(\.t0) == [0, 3, 6, 9])
        #expect(blocks.map(\.rows) == [3, 3, 3, 1])
        // block 0: rows at positions 5..7 see keys 2..7
        #expect(blocks[0].kLo == 2 && blocks[0].keys == 6)
        #expect(blocks[3].kLo == 11 && blocks[3].keys == 4)
    }

    /// Rows 5..14 of a sequence given alone with their phase (5) get the blocks the whole
    /// sequence's rows 5..14 are in: the same block ends and the same first key.
    @Test(arguments: [0, 4]) func phasedBlocksAreThoseOfTheWholeSequence(window: Int) {
        let whole = attentionBlocks(T: 15, Tk: 15, qOffset: 0, window: window, queryBlock: 4)
        let rest = attentionBlocks(T: 10, Tk: 15, qOffset: 5, window: window, queryBlock: 4, phase: 5)
        #expect(rest.map { $0.t0 + 5 } == [5, 8, 12])
        #expect(rest.map { $0.t0 + 5 + $0.rows } == whole.dropFirst().map { $0.t0 + $0.rows })
        #expect(rest.map(\.kLo) == whole.dropFirst().map(\.kLo) && rest.map(\.keys) == whole.dropFirst().map(\.keys))
    }
}
