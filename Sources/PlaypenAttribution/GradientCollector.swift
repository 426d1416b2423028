import Foundation
import PlaypenIO

/// The attribution side of pp-grad: receives every module's per-token inputs and output
/// gradients for a batch of examples (from the model's backward pass), projects them, and
/// hands out finished rows; optionally also accumulates the second moment H and the reduced
/// (mean) query row.
///
/// Call order per batch:
///
///     collector.beginBatch(rowIds: ids, tokenOffsets: offsets)     // example b owns tokens offsets[b]..<offsets[b+1]
///     for every module m (any order):                              // from the backward pass
///         collector.module(m, x: inputs, ldx: ..., g: outputGradients, ldg: ...)
///     try collector.endBatch()                                     // rows -> sink, H, reduce
///
/// For a LoRA-adapted linear y = W x + c·B(A x) (c = alpha / r), the two modules of the
/// layout receive (attribution.md section 3):
/// - `lora_A` [r, in]: x = the layer input x_t, g = c·Bᵀ (dℓ/dy_t)
/// - `lora_B` [out, r]: x = A x_t, g = c·(dℓ/dy_t)
/// where dℓ/dy_t is the gradient of example n's loss (mean or sum over its target tokens) at the
/// layer output. Token rows with no influence on the loss (padding) may be passed; their g is 0.
public final class GradientCollector {
    public let layout: GradientLayout
    public let projector: GradientProjector
    public private(set) var secondMoment: SecondMoment?
    public private(set) var reducer: MeanReducer?
    /// Receives each finished row in example order.
    private let sink: (String, UnsafeBufferPointer<Float>) throws -> Void
    private var rows: [Float] = []
    private var rowIds: [String] = []
    private var offsets: [Int] = []
    private var received: [Bool] = []
    public private(set) var rowsWritten = 0

    /// - Parameters:
    ///   - accumulateSecondMoment: also build H = (1/N) Σ v vᵀ per module (`--preconditioner`).
    ///   - reduce: also build the mean row (`--reduce mean`), unit-normalising each example first when set.
    public init(layout: GradientLayout, accumulateSecondMoment: Bool = false,
                reduce: (unitNormalize: Bool, semantics: ScoreSemantics)? = nil,
                sink: @escaping (String, UnsafeBufferPointer<Float>) throws -> Void)
    {
        self.layout = layout
        projector = GradientProjector(layout: layout)
        secondMoment = accumulateSecondMoment ? SecondMoment(layout: layout) : nil
        if let reduce {
            reducer = MeanReducer(width: layout.rowWidth, unitNormalize: reduce.unitNormalize, semantics: reduce.semantics)
        }
        self.sink = sink
    }

    public func beginBatch(rowIds: [String], tokenOffsets: [Int]) {
        precondition(tokenOffsets.count == rowIds.count + 1 && tokenOffsets.first == 0)
        self.rowIds = rowIds
        offsets = tokenOffsets
        let needed = rowIds.count * layout.rowWidth
        if rows.count != needed { rows = [Float](repeating: 0, count: needed) }
        received = [Bool](repeating: false, count: layout.modules.count)
    }

    /// One module's inputs [totalTokens, in] and output gradients [totalTokens, out] for the batch;
    /// `gScale` multiplies g (so a caller need not copy a scaled g).
    public func module(_ m: Int, x: UnsafePointer<Float>, ldx: Int, g: UnsafePointer<Float>, ldg: Int, gScale: Float = 1) {
        precondition(!received[m], "module \(layout.modules[m].name) fed twice in one batch")
        received[m] = true
        rows.withUnsafeMutableBufferPointer { out in
            projector.project(module: m, x: x, ldx: ldx, g: g, ldg: ldg, gScale: gScale, tokenOffsets: offsets,
                              output: out.baseAddress!, rowStride: layout.rowWidth)
        }
    }

    /// Finishes the batch: every module must have been fed. Rows with NaN or infinite values are
    /// an error naming them.
    public func endBatch() throws {
        if let missing = received.firstIndex(of: false) {
            throw PlaypenError("gradient batch ended without module \(layout.modules[missing].name)")
        }
        let width = layout.rowWidth
        var bad: [String] = []
        try rows.withUnsafeBufferPointer { all in
            for b in rowIds.indices {
                let row = UnsafeBufferPointer(rebasing: all[(b * width)..<((b + 1) * width)])
                if row.contains(where: { !$0.isFinite }) {
                    bad.append(rowIds[b])
                    continue
                }
                try sink(rowIds[b], row)
                reducer?.add(row)
            }
            if bad.isEmpty { secondMoment?.accumulate(rows: all.baseAddress!, count: rowIds.count, rowStride: width) }
        }
        if !bad.isEmpty {
            throw PlaypenError("non-finite gradients for row(s) \(bad.prefix(10).joined(separator: ", "))\(bad.count > 10 ? ", ..." : "")")
        }
        rowsWritten += rowIds.count
    }
}
