import Foundation
@testable import PlaypenTrain

/// A one-layer stand-in for the trainer tests: x = E[ids], h = x Wqᵀ + LoRA_q(x), logits = h Eᵀ
/// at the loss positions (tied head). It uses the library's LoRA linear and head loss, so the
/// loop, accumulation, dropout keys, checkpoints and adapters are exercised end to end.
final class ToyModel: LoRATrainable {
    let vocab: Int, d: Int
    let emb: [Float], w: [Float]
    var poisonRow: String?       // a row whose loss becomes NaN (bad-input test)

    init(vocab: Int = 40, d: Int = 8) {
        self.vocab = vocab
        self.d = d
        emb = testValues(vocab * d, seed: 101).map { Float($0) }
        w = testValues(d * d, seed: 102, scale: 0.5).map { Float($0) }
    }

    var loraShape: LoRAModelShape { LoRAModelShape(layers: 1, hidden: d, intermediate: 2 * d, qDim: d, kvDim: d) }

    func run(rows: [TokenizedRow], params: LoRAParameters, grads: FloatBuffer?, gradScale: Float,
             dropout: (LoRAModule) -> LoRADropout?) -> [Double] {
        let m = params.layout.module(0, .q)!
        let r = params.layout.config.r
        var out: [Double] = []
        for row in rows {  // one row at a time: a row's result cannot depend on its batch
            let t = row.inputIds.count
            var x = [Float](repeating: 0, count: t * d)
            for (i, id) in row.inputIds.enumerated() { for j in 0..<d { x[i * d + j] = emb[Int(id) * d + j] } }
            var y = [Float](repeating: 0, count: t * d), u = [Float](repeating: 0, count: t * r)
            var xd = [Float](repeating: 0, count: t * d)
            var mask = [UInt64](repeating: 0, count: LoRADropout.maskWords(t * d))
            let drop = dropout(m)
            loraLinearForward(y: &y, u: &u, xd: &xd, mask: &mask, x: x, w: w, a: params.a(m), b: params.b(m),
                              scale: params.layout.config.scale, dropout: drop, n: t, inF: d, outF: d, r: r)
            let pos = row.lossPositions
            let h = Array(y[(pos.lowerBound * d)..<(pos.upperBound * d)])
            let targets = pos.map { row.inputIds[$0 + 1] }
            var tokenLoss = [Float](repeating: 0, count: pos.count)
            var dh = [Float](repeating: 0, count: pos.count * d)
            var scratch = [Float](repeating: 0, count: 4 * vocab)
            let wantGrad = grads != nil
            let sum = scratch.withUnsafeMutableBufferPointer { sp in
                dh.withUnsafeMutableBufferPointer { dhp in
                    headCrossEntropy(tokenLoss: &tokenLoss, dh: wantGrad ? dhp.baseAddress : nil, h: h, emb: emb,
                                     targets: targets, gradScale: gradScale, n: pos.count, d: d, vocab: vocab, scratch: sp)
                }
            }
            out.append(row.rowId == poisonRow ? .nan : sum)
            if let grads {
                var dy = [Float](repeating: 0, count: t * d)
                for i in 0..<(pos.count * d) { dy[pos.lowerBound * d + i] = dh[i] }
                var du = [Float](repeating: 0, count: t * r), scratch2 = [Float](repeating: 0, count: t * d)
                loraLinearBackward(dx: nil, da: grads.pointer + m.aOffset, db: grads.pointer + m.bOffset, du: &du,
                                   scratch: &scratch2, mask: mask, dy: dy, x: x, u: u, w: w, a: params.a(m), b: params.b(m),
                                   scale: params.layout.config.scale, dropout: drop, n: t, inF: d, outF: d, r: r)
            }
        }
        return out
    }

    func accumulateGradients(rows: [TokenizedRow], params: LoRAParameters, grads: FloatBuffer, gradScale: Float,
                             dropout: (LoRAModule) -> LoRADropout?) throws -> [Double] {
        run(rows: rows, params: params, grads: grads, gradScale: gradScale, dropout: dropout)
    }

    func rowLosses(rows: [TokenizedRow], params: LoRAParameters) throws -> [Double] {
        run(rows: rows, params: params, grads: nil, gradScale: 0, dropout: { _ in nil })
    }

    /// Deterministic rows of varied lengths over the toy vocabulary.
    static func rows(_ n: Int, seed: UInt64) -> [TokenizedRow] {
        let key = KeyedRandom.key(seed, "rows")
        return (0..<n).map { i in
            let len = 6 + Int(KeyedRandom.bits(key, 1000 + i) % 10)
            let ids = [Int32(2)] + (1..<len).map { Int32(4 + KeyedRandom.bits(key, i * 100 + $0) % 36) }
            return TokenizedRow(rowId: "row\(i)", inputIds: ids, completionStart: 2 + i % 3)
        }
    }
}
