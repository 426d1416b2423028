import CBLAS
import Foundation
import PlaypenIO
import PlaypenModel
import PlaypenTensor

// ----------------------------------------------------------------------------------------------
// Gemma-3 with a merge-free LoRA adapter: training forward (activations kept), completion-only
// loss at the needed positions, and backward to the LoRA gradients only (base weights frozen:
// input gradients through them with sgemm, no weight gradients).
//
// A micro-batch is the concatenation of its rows, N = Σ T_r tokens, with no padding: every
// row-wise op (norms, linears, MLP) runs once over all N rows with one sgemm, attention runs per
// row segment. A row's numbers therefore cannot depend on which rows share its micro-batch.

/// Activations of one decoder layer over N tokens (`u` per wrapped module for its backward).
final class LayerActivations {
    let xIn, h1, rstd1, qPre, qRstd, q, kPre, kRstd, k, v, att, oOut, rstd2, xMid, h2, rstd3,
        gate, up, downOut, rstd4: FloatBuffer
    var probs: FloatBuffer
    var u: [FloatBuffer?]   // indexed by LoRATarget order
    var dropoutMasks: [DropoutMaskBuffer?]  // the forward's keep bits, reused by the backward

    init(n: Int, c: GemmaConfig, r: Int, wrapped: [LoRATarget], probs: Int) {
        let d = c.hiddenSize, HD = c.queryWidth, KVD = c.kvWidth, I = c.intermediateSize
        xIn = FloatBuffer(count: n * d); h1 = FloatBuffer(count: n * d); rstd1 = FloatBuffer(count: n)
        qPre = FloatBuffer(count: n * HD); qRstd = FloatBuffer(count: n * c.numHeads); q = FloatBuffer(count: n * HD)
        kPre = FloatBuffer(count: n * KVD); kRstd = FloatBuffer(count: n * c.numKVHeads); k = FloatBuffer(count: n * KVD)
        v = FloatBuffer(count: n * KVD); att = FloatBuffer(count: n * HD)
        oOut = FloatBuffer(count: n * d); rstd2 = FloatBuffer(count: n)
        xMid = FloatBuffer(count: n * d); h2 = FloatBuffer(count: n * d); rstd3 = FloatBuffer(count: n)
        gate = FloatBuffer(count: n * I); up = FloatBuffer(count: n * I)
        downOut = FloatBuffer(count: n * d); rstd4 = FloatBuffer(count: n)
        self.probs = FloatBuffer(count: probs)
        u = LoRATarget.allCases.map { wrapped.contains($0) ? FloatBuffer(count: n * r) : nil }
        let shape = LoRAModelShape(c)
        dropoutMasks = LoRATarget.allCases.map {
            wrapped.contains($0) ? DropoutMaskBuffer(elements: n * shape.features($0).inF) : nil
        }
    }
}

/// Sees one LoRA module's tensors right after its backward: (module, layer input x [n, in],
/// u = A x [n, r], output gradient dℓ/dy [n, out], du = scale·(dℓ/dy)·B [n, r], n tokens).
/// The per-token gradients of A and B are du ⊗ x and scale·dℓ/dy ⊗ u.
public typealias LoRAGradientObserver = (LoRAModule, UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>,
                                         UnsafePointer<Float>, Int) -> Void

/// The trainable Gemma-3: wraps a loaded `GemmaModel` (weights frozen) for `Trainer`, pp-grad
/// and evaluation. Not thread-safe (activation buffers are reused across calls).
public final class GemmaLoRA: LoRATrainable {
    public let model: GemmaModel
    public var config: GemmaConfig { model.config }
    /// Rows of logits computed at once in the head ([chunk, V] scratch).
    public var headChunkRows = 32
    /// When true, `profile` accumulates seconds per phase (linear, attention, elementwise, head).
    public var profiling = false
    /// Gradient checkpointing: keep only each layer's input during the forward and recompute the
    /// layer's activations right before its backward. One more forward per step, for activation
    /// memory of one layer instead of all (the same numbers: the recomputation is deterministic,
    /// dropout masks included).
    public var recomputeActivations = false
    public private(set) var profile: [String: Double] = [:]

    private var capacity = (tokens: 0, probs: 0, rows: 0, maxT: 0, r: 0, targets: [LoRATarget]())
    private var layers: [LayerActivations] = []
    private var layerInputs: [FloatBuffer] = []  // with recomputeActivations: each layer's input x
    private var scratch: [String: FloatBuffer] = [:]
    private var rope: (global: (cos: [Float], sin: [Float]), local: (cos: [Float], sin: [Float]))?
    private var ropeLength = 0

    public init(model: GemmaModel) {
        self.model = model
    }

    public var loraShape: LoRAModelShape { LoRAModelShape(config) }

    private func buffer(_ name: String, _ count: Int) -> FloatBuffer {
        if let b = scratch[name], b.count >= count { return b }
        let b = FloatBuffer(count: count)
        scratch[name] = b
        return b
    }

    private func ensureCapacity(tokens: Int, probs: Int, maxT: Int, r: Int, targets: [LoRATarget]) {
        let sets = recomputeActivations ? 1 : config.numLayers
        if tokens > capacity.tokens || probs > capacity.probs || r != capacity.r || targets != capacity.targets
            || layers.count != sets
        {
            let n = max(tokens, capacity.tokens), p = max(probs, capacity.probs)
            layers = (0..<sets).map { _ in LayerActivations(n: n, c: config, r: r, wrapped: targets, probs: p) }
            layerInputs = recomputeActivations ? (0..<config.numLayers).map { _ in FloatBuffer(count: n * config.hiddenSize) } : []
            capacity = (n, p, 0, 0, r, targets)
        }
        if maxT > ropeLength {
            let pos = Array(0..<maxT)
            rope = (ropeTables(positions: pos, invFreq: ropeInverseFrequencies(base: config.ropeTheta, D: config.headDim)),
                    ropeTables(positions: pos, invFreq: ropeInverseFrequencies(base: config.ropeLocalTheta, D: config.headDim)))
            ropeLength = maxT
        }
    }

    public func accumulateGradients(rows: [TokenizedRow], params: LoRAParameters, grads: FloatBuffer,
                                    gradScale: Float, dropout: (LoRAModule) -> LoRADropout?) throws -> [Double] {
        try run(rows: rows, params: params, grads: grads, backward: true, gradScale: gradScale, dropout: dropout)
    }

    /// Backward of each row's own loss, for per-example gradients (pp-grad): every row's loss
    /// gradient is scaled by `rowGradScale[row]` (1 / its completion tokens for a per-example mean,
    /// 1 for a sum), no dropout, and `observer` sees each LoRA module's layer input x [n, in],
    /// LoRA activation u = A x [n, r], output gradient dℓ/dy [n, out] and du = scale·(dℓ/dy)·B
    /// over the micro-batch's n tokens (rows concatenated in order, no padding), right after the
    /// module's own backward computed them. The summed LoRA gradients are not formed (the
    /// observer has what each row's gradient needs). Returns the summed row losses.
    public func perExampleBackward(rows: [TokenizedRow], params: LoRAParameters,
                                   rowGradScale: [Float], observer: @escaping LoRAGradientObserver) throws -> [Double] {
        precondition(rowGradScale.count == rows.count)
        return try run(rows: rows, params: params, grads: nil, backward: true, gradScale: 1, dropout: { _ in nil },
                       rowGradScale: rowGradScale, observer: observer)
    }

    public func rowLosses(rows: [TokenizedRow], params: LoRAParameters) throws -> [Double] {
        try run(rows: rows, params: params, grads: nil, backward: false, gradScale: 0, dropout: { _ in nil })
    }

    /// Forward (and with `backward`, backward) of one micro-batch; returns each row's summed
    /// completion-token loss. `grads` (when given) accumulates the LoRA gradients.
    func run(rows: [TokenizedRow], params: LoRAParameters, grads: FloatBuffer?, backward: Bool, gradScale: Float,
             dropout: (LoRAModule) -> LoRADropout?, rowGradScale: [Float]? = nil,
             observer: LoRAGradientObserver? = nil) throws -> [Double] {
        let c = config
        let d = c.hiddenSize, HD = c.queryWidth, KVD = c.kvWidth, I = c.intermediateSize
        let H = c.numHeads, KVH = c.numKVHeads, D = c.headDim, V = c.vocabSize
        let lcfg = params.layout.config, r = lcfg.r, scale = lcfg.scale
        guard params.layout.shape == loraShape else {
            throw PlaypenError("adapter shape \(params.layout.shape) does not fit the model \(loraShape)")
        }
        // Row segments, loss positions and targets.
        var offsets: [Int] = [], probOffsets: [Int] = []
        var n = 0, nProbs = 0, maxT = 1
        var lossRows: [Int] = [], targets: [Int32] = [], lossRowOwner: [Int] = []
        for (ri, row) in rows.enumerated() {
            let T = row.inputIds.count
            guard T > 0 else { throw PlaypenError("row \(row.rowId): no tokens") }
            for (i, id) in row.inputIds.enumerated() where id < 0 || Int(id) >= V {
                throw PlaypenError("row \(row.rowId): token id \(id) at position \(i) is outside the vocabulary of \(V)")
            }
            offsets.append(n)
            probOffsets.append(nProbs)
            for t in row.lossPositions {
                lossRows.append(n + t)
                targets.append(row.inputIds[t + 1])
                lossRowOwner.append(ri)
            }
            n += T
            nProbs += H * T * T
            maxT = max(maxT, T)
        }
        ensureCapacity(tokens: n, probs: nProbs, maxT: maxT, r: r, targets: lcfg.targets)
        let ids = rows.flatMap(\.inputIds)
        let x = buffer("x", n * d), tmp = buffer("tmp", n * d)
        let act = buffer("act", n * I), xd = buffer("xd", n * max(I, HD, d)), du = buffer("du", n * r)
        let attScratch = buffer("attScratch", attentionBackwardScratchCount(T: maxT, Tk: maxT, H: H))
        let (gRope, lRope) = rope!
        let attScale = Float(1 / c.queryPreAttnScalar.squareRoot())
        let eps = c.rmsNormEps
        let training = backward
        var clock = DispatchTime.now().uptimeNanoseconds
        func lap(_ phase: String) {
            guard profiling else { return }
            let now = DispatchTime.now().uptimeNanoseconds
            profile[phase, default: 0] += Double(now - clock) * 1e-9
            clock = now
        }

        /// LoRA-wrapped (or plain frozen) linear forward.
        func linear(_ li: Int, _ t: LoRATarget, _ y: FloatBuffer, _ xin: FloatBuffer, _ w: Tensor, _ a: LayerActivations) {
            let (inF, outF) = loraShape.features(t)
            if let m = params.layout.module(li, t) {
                loraLinearForward(y: y.pointer, u: a.u[t.order]!.pointer, xd: xd.pointer,
                                  mask: a.dropoutMasks[t.order]!.pointer, x: xin.pointer, w: w.data,
                                  a: params.a(m), b: params.b(m), scale: scale, dropout: training ? dropout(m) : nil,
                                  n: n, inF: inF, outF: outF, r: r)
            } else {
                matmulForward(y.pointer, xin.pointer, w.data, T: n, C: inF, OC: outF)
            }
        }

        ids.withUnsafeBufferPointer { idp in
            embeddingForward(x.pointer, ids: idp.baseAddress!, table: model.weights.embed.rowMajor.data, T: n, C: d,
                             scale: Float(d).squareRoot())
        }
        /// Layer li on the residual stream x (updated in place), its activations kept in `a`.
        func forwardLayer(_ li: Int, _ x: FloatBuffer, _ a: LayerActivations) {
            let w = model.weights.layers[li]
            let isGlobal = c.layerIsGlobal[li]
            let window = isGlobal ? 0 : c.slidingWindow
            let ropeTab = isGlobal ? gRope : lRope
            lap("other")
            a.xIn.pointer.update(from: x.pointer, count: n * d)
            rmsNormForward(a.h1.pointer, rstd: a.rstd1.pointer, x.pointer, scale: w.inputNorm.data, N: n, C: d, eps: eps)
            lap("fwd elementwise")
            linear(li, .q, a.qPre, a.h1, w.q.rowMajor, a)
            linear(li, .k, a.kPre, a.h1, w.k.rowMajor, a)
            linear(li, .v, a.v, a.h1, w.v.rowMajor, a)
            lap("fwd linear")
            rmsNormForward(a.q.pointer, rstd: a.qRstd.pointer, a.qPre.pointer, scale: w.qNorm.data, N: n * H, C: D, eps: eps)
            rmsNormForward(a.k.pointer, rstd: a.kRstd.pointer, a.kPre.pointer, scale: w.kNorm.data, N: n * KVH, C: D, eps: eps)
            ropeTab.cos.withUnsafeBufferPointer { cp in
                ropeTab.sin.withUnsafeBufferPointer { sp in
                    for (ri, row) in rows.enumerated() {
                        let T = row.inputIds.count, o = offsets[ri]
                        ropeForward(a.q.pointer + o * HD, cos: cp.baseAddress!, sin: sp.baseAddress!, T: T, nHeads: H, D: D)
                        ropeForward(a.k.pointer + o * KVD, cos: cp.baseAddress!, sin: sp.baseAddress!, T: T, nHeads: KVH, D: D)
                    }
                }
            }
            lap("fwd elementwise")
            let longest = rows.map(\.inputIds.count).max() ?? 0
            let keyPanels = buffer("keyPanels", attentionKeyPanelFloats(Tk: longest, D: D, KV: KVH))
            for (ri, row) in rows.enumerated() {
                let T = row.inputIds.count, o = offsets[ri]
                attentionForward(a.att.pointer + o * HD, probs: a.probs.pointer + probOffsets[ri], q: a.q.pointer + o * HD,
                                 k: a.k.pointer + o * KVD, v: a.v.pointer + o * KVD, T: T, Tk: T, qOffset: 0,
                                 H: H, KV: KVH, D: D, window: window, scale: attScale, keyPanels: keyPanels.pointer)
            }
            lap("fwd attention")
            linear(li, .o, a.oOut, a.att, w.o.rowMajor, a)
            lap("fwd linear")
            rmsNormForward(tmp.pointer, rstd: a.rstd2.pointer, a.oOut.pointer, scale: w.postAttentionNorm.data, N: n, C: d, eps: eps)
            residualAdd(x.pointer, tmp.pointer, N: n * d)
            a.xMid.pointer.update(from: x.pointer, count: n * d)
            rmsNormForward(a.h2.pointer, rstd: a.rstd3.pointer, x.pointer, scale: w.preFeedforwardNorm.data, N: n, C: d, eps: eps)
            lap("fwd elementwise")
            linear(li, .gate, a.gate, a.h2, w.gate.rowMajor, a)
            linear(li, .up, a.up, a.h2, w.up.rowMajor, a)
            lap("fwd linear")
            gatedGeluForward(act.pointer, gate: a.gate.pointer, up: a.up.pointer, N: n * I)
            lap("fwd elementwise")
            linear(li, .down, a.downOut, act, w.down.rowMajor, a)
            lap("fwd linear")
            rmsNormForward(tmp.pointer, rstd: a.rstd4.pointer, a.downOut.pointer, scale: w.postFeedforwardNorm.data, N: n, C: d, eps: eps)
            residualAdd(x.pointer, tmp.pointer, N: n * d)
        }
        for li in 0..<c.numLayers {
            if recomputeActivations {
                if backward { layerInputs[li].pointer.update(from: x.pointer, count: n * d) }
                forwardLayer(li, x, layers[0])
            } else {
                forwardLayer(li, x, layers[li])
            }
        }

        // Final norm and tied head at the loss positions only.
        let P = lossRows.count
        var rowLoss = [Double](repeating: 0, count: rows.count)
        guard P > 0 else { return rowLoss }
        let xs = buffer("xs", P * d), hs = buffer("hs", P * d), rstdF = buffer("rstdF", P)
        for (i, p) in lossRows.enumerated() { (xs.pointer + i * d).update(from: x.pointer + p * d, count: d) }
        rmsNormForward(hs.pointer, rstd: rstdF.pointer, xs.pointer, scale: model.weights.finalNorm.data, N: P, C: d, eps: eps)
        let tokenLoss = buffer("tokenLoss", P), dhs = buffer("dhs", P * d)
        let headScratch = buffer("head", max(1, min(headChunkRows, P)) * V)
        targets.withUnsafeBufferPointer { tp in
            _ = headCrossEntropy(tokenLoss: tokenLoss.pointer, dh: training ? dhs.pointer : nil, h: hs.pointer,
                                 emb: model.weights.embed.rowMajor.data, targets: tp.baseAddress!, gradScale: gradScale,
                                 n: P, d: d, vocab: V,
                                 scratch: UnsafeMutableBufferPointer(start: headScratch.pointer, count: min(headChunkRows, P) * V))
        }
        for i in 0..<P { rowLoss[lossRowOwner[i]] += Double(tokenLoss[i]) }
        lap("head")
        guard backward else { return rowLoss }
        if let rowGradScale {
            for i in 0..<P {
                let s = rowGradScale[lossRowOwner[i]], row = dhs.pointer + i * d
                for j in 0..<d { row[j] *= s }
            }
        }

        // ---- backward ----
        let dx = buffer("dx", n * d)
        dx.pointer.update(repeating: 0, count: n * d)
        let dxs = buffer("dxs", P * d)
        dxs.pointer.update(repeating: 0, count: P * d)
        rmsNormBackward(dinp: dxs.pointer, dscale: nil, dout: dhs.pointer, inp: xs.pointer,
                        scale: model.weights.finalNorm.data, rstd: rstdF.pointer, N: P, C: d)
        for (i, p) in lossRows.enumerated() {
            let dst = dx.pointer + p * d, src = dxs.pointer + i * d
            for j in 0..<d { dst[j] += src[j] }
        }
        let dDown = buffer("dDown", n * d), dAct = buffer("dAct", n * I), dGate = buffer("dGate", n * I)
        let dUp = buffer("dUp", n * I), dH = buffer("dH", n * d), dO = buffer("dO", n * d), dAtt = buffer("dAtt", n * HD)
        let dq = buffer("dq", n * HD), dk = buffer("dk", n * KVD), dv = buffer("dv", n * KVD)
        let dqPre = buffer("dqPre", n * HD), dkPre = buffer("dkPre", n * KVD)

        /// LoRA-wrapped (or plain frozen) linear backward; `dxin` accumulates.
        func linearBack(_ li: Int, _ t: LoRATarget, dxin: FloatBuffer?, dy: FloatBuffer, xin: FloatBuffer, _ w: Tensor, _ a: LayerActivations) {
            let (inF, outF) = loraShape.features(t)
            if let m = params.layout.module(li, t) {
                loraLinearBackward(dx: dxin?.pointer, da: grads.map { $0.pointer + m.aOffset },
                                   db: grads.map { $0.pointer + m.bOffset },
                                   du: du.pointer, scratch: xd.pointer, mask: a.dropoutMasks[t.order]!.pointer,
                                   dy: dy.pointer, x: xin.pointer,
                                   u: a.u[t.order]!.pointer, w: w.data, a: params.a(m), b: params.b(m), scale: scale,
                                   dropout: dropout(m), n: n, inF: inF, outF: outF, r: r)
                observer?(m, xin.pointer, UnsafePointer(a.u[t.order]!.pointer), UnsafePointer(dy.pointer),
                          UnsafePointer(du.pointer), n)
            } else if let dxin {
                matmulBackward(dinp: dxin.pointer, dweight: nil, dout: dy.pointer, inp: xin.pointer, weight: w.data,
                               T: n, C: inF, OC: outF)
            }
        }
        func zero(_ b: FloatBuffer, _ count: Int) { b.pointer.update(repeating: 0, count: count) }

        for li in stride(from: c.numLayers - 1, through: 0, by: -1) {
            let w = model.weights.layers[li]
            let a = recomputeActivations ? layers[0] : layers[li]
            if recomputeActivations {
                let xIn = buffer("recomputeX", n * d)
                xIn.pointer.update(from: layerInputs[li].pointer, count: n * d)
                forwardLayer(li, xIn, a)
                lap("recompute")
            }
            let isGlobal = c.layerIsGlobal[li]
            let ropeTab = isGlobal ? gRope : lRope
            // MLP block: x = xMid + postFF(down(gelu(gate) ⊙ up))
            zero(dDown, n * d)
            rmsNormBackward(dinp: dDown.pointer, dscale: nil, dout: dx.pointer, inp: a.downOut.pointer,
                            scale: w.postFeedforwardNorm.data, rstd: a.rstd4.pointer, N: n, C: d)
            gatedGeluForward(act.pointer, gate: a.gate.pointer, up: a.up.pointer, N: n * I)  // recomputed
            zero(dAct, n * I)
            lap("bwd elementwise")
            linearBack(li, .down, dxin: dAct, dy: dDown, xin: act, w.down.rowMajor, a)
            lap("bwd linear")
            zero(dGate, n * I); zero(dUp, n * I)
            gatedGeluBackward(dgate: dGate.pointer, dup: dUp.pointer, dout: dAct.pointer, gate: a.gate.pointer,
                              up: a.up.pointer, N: n * I)
            zero(dH, n * d)
            lap("bwd elementwise")
            linearBack(li, .gate, dxin: dH, dy: dGate, xin: a.h2, w.gate.rowMajor, a)
            linearBack(li, .up, dxin: dH, dy: dUp, xin: a.h2, w.up.rowMajor, a)
            lap("bwd linear")
            rmsNormBackward(dinp: dx.pointer, dscale: nil, dout: dH.pointer, inp: a.xMid.pointer,
                            scale: w.preFeedforwardNorm.data, rstd: a.rstd3.pointer, N: n, C: d)
            // Attention block: xMid = xIn + postAttn(o(attention(rope(qnorm(q)), rope(knorm(k)), v)))
            zero(dO, n * d)
            rmsNormBackward(dinp: dO.pointer, dscale: nil, dout: dx.pointer, inp: a.oOut.pointer,
                            scale: w.postAttentionNorm.data, rstd: a.rstd2.pointer, N: n, C: d)
            zero(dAtt, n * HD)
            lap("bwd elementwise")
            linearBack(li, .o, dxin: dAtt, dy: dO, xin: a.att, w.o.rowMajor, a)
            lap("bwd linear")
            zero(dq, n * HD); zero(dk, n * KVD); zero(dv, n * KVD)
            for (ri, row) in rows.enumerated() {
                let T = row.inputIds.count, o = offsets[ri]
                attentionBackward(dq: dq.pointer + o * HD, dk: dk.pointer + o * KVD, dv: dv.pointer + o * KVD,
                                  dout: dAtt.pointer + o * HD, probs: a.probs.pointer + probOffsets[ri],
                                  q: a.q.pointer + o * HD, k: a.k.pointer + o * KVD, v: a.v.pointer + o * KVD,
                                  scratch: attScratch.pointer, T: T, Tk: T, H: H, KV: KVH, D: D,
                                  window: isGlobal ? 0 : c.slidingWindow, scale: attScale)
            }
            lap("bwd attention")
            ropeTab.cos.withUnsafeBufferPointer { cp in
                ropeTab.sin.withUnsafeBufferPointer { sp in
                    for (ri, row) in rows.enumerated() {
                        let T = row.inputIds.count, o = offsets[ri]
                        ropeBackward(dq.pointer + o * HD, cos: cp.baseAddress!, sin: sp.baseAddress!, T: T, nHeads: H, D: D)
                        ropeBackward(dk.pointer + o * KVD, cos: cp.baseAddress!, sin: sp.baseAddress!, T: T, nHeads: KVH, D: D)
                    }
                }
            }
            zero(dqPre, n * HD); zero(dkPre, n * KVD)
            rmsNormBackward(dinp: dqPre.pointer, dscale: nil, dout: dq.pointer, inp: a.qPre.pointer, scale: w.qNorm.data,
                            rstd: a.qRstd.pointer, N: n * H, C: D)
            rmsNormBackward(dinp: dkPre.pointer, dscale: nil, dout: dk.pointer, inp: a.kPre.pointer, scale: w.kNorm.data,
                            rstd: a.kRstd.pointer, N: n * KVH, C: D)
            let needInput = li > 0
            if needInput { zero(dH, n * d) }
            lap("bwd elementwise")
            linearBack(li, .q, dxin: needInput ? dH : nil, dy: dqPre, xin: a.h1, w.q.rowMajor, a)
            linearBack(li, .k, dxin: needInput ? dH : nil, dy: dkPre, xin: a.h1, w.k.rowMajor, a)
            linearBack(li, .v, dxin: needInput ? dH : nil, dy: dv, xin: a.h1, w.v.rowMajor, a)
            lap("bwd linear")
            if needInput {
                rmsNormBackward(dinp: dx.pointer, dscale: nil, dout: dH.pointer, inp: a.xIn.pointer,
                                scale: w.inputNorm.data, rstd: a.rstd1.pointer, N: n, C: d)
            }
        }
        lap("bwd elementwise")
        return rowLoss
    }
}
