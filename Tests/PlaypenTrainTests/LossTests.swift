import Foundation
import Testing
@testable import PlaypenTrain

@Suite struct LossTests {
    @Test func positionsAreTheShiftedCompletionTargets() {
        // ids: BOS p p p c c EOS → completion starts at 4; positions 3,4,5 predict ids 4,5,6.
        #expect(lossPositions(completionStart: 4, length: 7) == 3..<6)
        #expect(lossPositions(completionStart: 7, length: 7) == 6..<6)  // empty completion
    }

    @Test func crossEntropyAndGradientMatchFiniteDifferences() {
        let n = 5, d = 4, vocab = 11
        let h = testValues(n * d, seed: 11, scale: 2), e = testValues(vocab * d, seed: 12, scale: 2)
        let targets: [Int32] = [3, 0, 10, 7, 3]
        let gradScale = 1.0 / 9.0  // e.g. 9 completion tokens in the effective batch
        func reference(_ h: [Double]) -> [Double] {
            (0..<n).map { i in
                let logits = (0..<vocab).map { v in (0..<d).reduce(0.0) { $0 + h[i * d + $1] * e[v * d + $1] } }
                let mx = logits.max()!
                let lse = mx + log(logits.reduce(0.0) { $0 + exp($1 - mx) })
                return lse - logits[Int(targets[i])]
            }
        }
        let hf = h.map(Float.init), ef = e.map(Float.init)
        var tokenLoss = [Float](repeating: 0, count: n), dh = [Float](repeating: 0, count: n * d)
        var scratch = [Float](repeating: 0, count: 2 * vocab)  // chunks of 2 rows
        let total = scratch.withUnsafeMutableBufferPointer { sp in
            headCrossEntropy(tokenLoss: &tokenLoss, dh: &dh, h: hf, emb: ef, targets: targets,
                             gradScale: Float(gradScale), n: n, d: d, vocab: vocab, scratch: sp)
        }
        let ref = reference(h)
        assertClose(doubles(tokenLoss), ref, rtol: 1e-5, atol: 1e-6, "token loss")
        #expect(abs(total - ref.reduce(0, +)) < 1e-5)
        let fd = (0..<h.count).map { i -> Double in
            var p = h, m = h
            p[i] += 1e-6; m[i] -= 1e-6
            return gradScale * (reference(p).reduce(0, +) - reference(m).reduce(0, +)) / 2e-6
        }
        assertClose(doubles(dh), fd, rtol: 1e-4, atol: 1e-6, "dh")

        // Forward only (eval) gives the same losses.
        var evalLoss = [Float](repeating: 0, count: n)
        var scratch3 = [Float](repeating: 0, count: 3 * vocab + 1)  // chunks of 3 rows
        scratch3.withUnsafeMutableBufferPointer { sp in
            _ = headCrossEntropy(tokenLoss: &evalLoss, dh: nil, h: hf, emb: ef, targets: targets, gradScale: 0,
                                 n: n, d: d, vocab: vocab, scratch: sp)
        }
        #expect(evalLoss == tokenLoss)
    }
}
