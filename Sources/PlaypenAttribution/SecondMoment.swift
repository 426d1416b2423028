import CBLAS
import Foundation
import PlaypenIO

/// Per-module second-moment matrices H_m = (1/N) Σ_n v_n(m) v_n(m)ᵀ (attribution.md 5.1), kept as
/// fp32 sums with their row count so shards merge by adding sums and counts.
public struct SecondMoment: Sendable, Equatable {
    public let layout: GradientLayout
    /// Per module, the d x d sum Σ v vᵀ, row-major. Only the upper triangle is accumulated
    /// (`ssyrk`); `symmetrize()` or `mean(_:)` fills the lower one.
    public var sums: [[Float]]
    public var count: Int

    public init(layout: GradientLayout) {
        self.layout = layout
        sums = layout.modules.indices.map { [Float](repeating: 0, count: layout.width($0) * layout.width($0)) }
        count = 0
    }

    public init(layout: GradientLayout, sums: [[Float]], count: Int) throws {
        guard sums.count == layout.modules.count else {
            throw PlaypenError("second moment: \(sums.count) matrices for \(layout.modules.count) modules")
        }
        for (m, s) in sums.enumerated() where s.count != layout.width(m) * layout.width(m) {
            throw PlaypenError("second moment: module \(layout.modules[m].name) has \(s.count) values, expected \(layout.width(m))²")
        }
        self.layout = layout
        self.sums = sums
        self.count = count
    }

    /// Adds `rows` gradient rows (each `layout.rowWidth` wide, `rowStride` apart).
    public mutating func accumulate(rows: UnsafePointer<Float>, count rowCount: Int, rowStride: Int) {
        guard rowCount > 0 else { return }
        let offsets = layout.offsets
        for m in layout.modules.indices {
            let d = layout.width(m)
            sums[m].withUnsafeMutableBufferPointer { c in
                // C (upper, row-major) += Vᵀ V with V = rows[:, offset ..< offset + d]
                cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, Int32(d), Int32(rowCount), 1,
                            rows + offsets[m], Int32(rowStride), 1, c.baseAddress, Int32(d))
            }
        }
        count += rowCount
    }

    /// Merges another shard's sums (same layout) into this one.
    public mutating func merge(_ other: SecondMoment) throws {
        if let why = layout.mismatch(other.layout) {
            throw PlaypenError("second moment: cannot merge shards with different layouts (\(why))")
        }
        for m in sums.indices {
            let d = layout.width(m)
            for i in 0..<d { for j in i..<d { sums[m][i * d + j] += other.sums[m][i * d + j] } }
        }
        count += other.count
    }

    /// Copies the upper triangle into the lower one.
    public mutating func symmetrize() {
        for m in sums.indices {
            let d = layout.width(m)
            for i in 0..<d { for j in (i + 1)..<max(d, i + 1) { sums[m][j * d + i] = sums[m][i * d + j] } }
        }
    }

    /// H_m = sums / count as a full symmetric fp32 matrix.
    public func mean(_ m: Int) -> [Float] {
        let d = layout.width(m)
        var h = [Float](repeating: 0, count: d * d)
        let n = Float(count)
        for i in 0..<d {
            for j in i..<d {
                let v = sums[m][i * d + j] / n
                h[i * d + j] = v
                h[j * d + i] = v
            }
        }
        return h
    }
}
