import CBLAS
import Foundation
import PlaypenTensor

// ----------------------------------------------------------------------------------------------
// Completion-only cross-entropy with the LM head restricted to the rows that need logits.

/// Which positions of a tokenized row carry a loss: position t predicts token t+1, and counts
/// when t+1 is a completion token. For `completionStart` c and length L that is t in c−1 ..< L−1.
public func lossPositions(completionStart: Int, length: Int) -> Range<Int> {
    let lo = max(completionStart - 1, 0)
    let hi = max(length - 1, lo)
    return lo..<hi
}

/// Cross-entropy through the tied LM head on `n` selected rows, in chunks of
/// `scratch.count / V` rows so the [chunk, V] logits never exceed the scratch.
///
///     logits = h Eᵀ                                   h [n, d], E [V, d]
///     tokenLoss[i] = logsumexp(logits[i]) − logits[i, targets[i]]
///     dh = gradScale · (softmax(logits) − onehot(targets)) E        (when `dh` is given)
///
/// `gradScale` is 1 / (completion tokens in the effective batch) for trl's
/// `num_items_in_batch` mean. `scratch` holds at least V floats. Returns Σ tokenLoss in
/// Double (summed in row order).
@discardableResult
public func headCrossEntropy(
    tokenLoss: UnsafeMutablePointer<Float>, dh: UnsafeMutablePointer<Float>?,
    h: UnsafePointer<Float>, emb: UnsafePointer<Float>, targets: UnsafePointer<Int32>,
    gradScale: Float, n: Int, d: Int, vocab: Int,
    scratch scratchBuffer: UnsafeMutableBufferPointer<Float>
) -> Double {
    let chunkRows = scratchBuffer.count / vocab
    precondition(chunkRows >= 1, "headCrossEntropy: scratch smaller than one row of logits")
    let scratch = scratchBuffer.baseAddress!
    var total = 0.0
    var row0 = 0
    while row0 < n {
        let rows = min(chunkRows, n - row0)
        sgemm(false, true, rows, vocab, d, 1, h + row0 * d, d, emb, d, 0, scratch, vocab)
        let rowTargets = (0..<rows).map { Int(targets[row0 + $0]) }
        for t in rowTargets {
            precondition(t >= 0 && t < vocab, "target id \(t) outside the vocabulary of \(vocab)")
        }
        // Rows are independent: split them over the cores (each row's numbers do not depend on the split).
        let logits = SendablePointer(scratch), losses = SendablePointer(tokenLoss + row0)
        let withGradient = dh != nil
        parallelChunks(rows, minChunk: 1) { lo, hi in
            for i in lo..<hi {
                let l = logits.pointer! + i * vocab
                let t = rowTargets[i]
                let targetLogit = l[t]
                let mx = maxElement(l, count: vocab)
                let sum = exponentiateShifted(l, count: vocab, shift: mx)
                losses.pointer![i] = Float(Double(mx) + log(sum) - Double(targetLogit))
                if withGradient {
                    scaleInPlace(l, count: vocab, by: Float(Double(gradScale) / sum))
                    l[t] -= gradScale
                }
            }
        }
        for i in 0..<rows { total += Double(tokenLoss[row0 + i]) }
        if let dh {
            sgemm(false, false, rows, d, vocab, 1, scratch, vocab, emb, d, 0, dh + row0 * d, d)
        }
        row0 += rows
    }
    return total
}
