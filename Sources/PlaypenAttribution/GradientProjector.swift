import CBLAS
import Foundation
import PlaypenIO

/// Two-sided random projection of per-example gradients of linear modules, computed without
/// forming the [out, in] gradient (attribution.md section 4):
///
///     P_n = L · (Σ_t g_t x_tᵀ) · Rᵀ = (G_n Lᵀ)ᵀ (X_n Rᵀ)        p x p, row = output (left) side
///
/// where X_n [T, in] are the module's inputs and G_n [T, out] the loss gradients at its outputs
/// for example n's tokens, L = left matrix [p, out], R = right matrix [p, in]. Cost per example is
/// T·p·(in + out) + T·p² instead of T·out·in.
///
/// Every example is computed with its own BLAS calls, whose shapes depend on that example alone,
/// so a row is bit-identical whatever batch or shard it was computed in.
public final class GradientProjector: @unchecked Sendable {
    public let layout: GradientLayout
    /// Per module: left [p, out] and right [p, in], row-major (empty when dim == 0).
    public let left: [[Float]]
    public let right: [[Float]]
    private var xHat: [Float] = []
    private var gHat: [Float] = []

    public init(layout: GradientLayout) {
        self.layout = layout
        let p = layout.projection.dim
        var left: [[Float]] = []
        var right: [[Float]] = []
        if p > 0 {
            for m in layout.modules {
                let cfg = layout.projection
                left.append(ProjectionMatrix.make(
                    identifier: ProjectionMatrix.identifier(module: m.name, side: .left, seed: cfg.seed),
                    rows: p, cols: m.outFeatures, generator: cfg.generator, scale: cfg.scale))
                right.append(ProjectionMatrix.make(
                    identifier: ProjectionMatrix.identifier(module: m.name, side: .right, seed: cfg.seed),
                    rows: p, cols: m.inFeatures, generator: cfg.generator, scale: cfg.scale))
            }
        }
        self.left = left
        self.right = right
    }

    /// Projects module `module`'s gradient for a batch of examples.
    ///
    /// - Parameters:
    ///   - x: inputs of all tokens, [totalTokens, in] row-major with row stride `ldx` (>= in).
    ///   - g: output gradients dℓ_n/dy of the same tokens, [totalTokens, out] with row stride `ldg`.
    ///     Tokens that carry no loss may be included (their g is zero) or left out.
    ///   - gScale: a factor on g (the LoRA scale for `lora_B`), folded into the sgemm.
    ///   - tokenOffsets: example b owns tokens tokenOffsets[b] ..< tokenOffsets[b + 1].
    ///   - output: row b of the result starts at `output + b * rowStride`; the module's
    ///     `layout.width(module)` values are written at column `layout.offsets[module]`.
    public func project(module: Int, x: UnsafePointer<Float>, ldx: Int, g: UnsafePointer<Float>, ldg: Int,
                        gScale: Float = 1, tokenOffsets: [Int], output: UnsafeMutablePointer<Float>, rowStride: Int)
    {
        let m = layout.modules[module]
        let column = layout.offsets[module]
        let p = layout.projection.dim
        let batch = tokenOffsets.count - 1
        precondition(ldx >= m.inFeatures && ldg >= m.outFeatures && rowStride >= layout.rowWidth)
        for b in 0..<batch {
            let t0 = tokenOffsets[b], count = tokenOffsets[b + 1] - t0
            let out = output + b * rowStride + column
            if count == 0 {
                out.update(repeating: 0, count: layout.width(module))
                continue
            }
            let xb = x + t0 * ldx, gb = g + t0 * ldg
            if p == 0 {
                // dℓ/dW = Gᵀ X  [out, in]
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(m.outFeatures), Int32(m.inFeatures),
                            Int32(count), gScale, gb, Int32(ldg), xb, Int32(ldx), 0, out, Int32(m.inFeatures))
            } else {
                if xHat.count < count * p { xHat = [Float](repeating: 0, count: count * p) }
                if gHat.count < count * p { gHat = [Float](repeating: 0, count: count * p) }
                xHat.withUnsafeMutableBufferPointer { xh in
                    gHat.withUnsafeMutableBufferPointer { gh in
                        right[module].withUnsafeBufferPointer { r in
                            // X̂ = X Rᵀ  [T, p]
                            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(count), Int32(p),
                                        Int32(m.inFeatures), 1, xb, Int32(ldx), r.baseAddress, Int32(m.inFeatures),
                                        0, xh.baseAddress, Int32(p))
                        }
                        left[module].withUnsafeBufferPointer { l in
                            // Ĝ = G Lᵀ  [T, p]
                            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(count), Int32(p),
                                        Int32(m.outFeatures), gScale, gb, Int32(ldg), l.baseAddress, Int32(m.outFeatures),
                                        0, gh.baseAddress, Int32(p))
                        }
                        // P = Ĝᵀ X̂  [p, p]
                        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(p), Int32(p), Int32(count), 1,
                                    gh.baseAddress, Int32(p), xh.baseAddress, Int32(p), 0, out, Int32(p))
                    }
                }
            }
            // Bergson clamps to the storage dtype's finite range (NaN passes through).
            let width = layout.width(module)
            for k in 0..<width {
                let v = out[k]
                if v > Float.greatestFiniteMagnitude { out[k] = Float.greatestFiniteMagnitude }
                else if v < -Float.greatestFiniteMagnitude { out[k] = -Float.greatestFiniteMagnitude }
            }
        }
    }

    /// Convenience for tests and small callers: one module, arrays in, [batch, width(module)] out.
    public func project(module: Int, x: [Float], g: [Float], tokenOffsets: [Int]) -> [Float] {
        let m = layout.modules[module]
        let width = layout.width(module), batch = tokenOffsets.count - 1
        var rows = [Float](repeating: 0, count: batch * layout.rowWidth)
        rows.withUnsafeMutableBufferPointer { out in
            project(module: module, x: x, ldx: m.inFeatures, g: g, ldg: m.outFeatures,
                    tokenOffsets: tokenOffsets, output: out.baseAddress!, rowStride: layout.rowWidth)
        }
        let column = layout.offsets[module]
        var result = [Float](repeating: 0, count: batch * width)
        for b in 0..<batch {
            for k in 0..<width { result[b * width + k] = rows[b * layout.rowWidth + column + k] }
        }
        return result
    }
}
