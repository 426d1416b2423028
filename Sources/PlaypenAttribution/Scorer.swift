import CBLAS
import Foundation
import PlaypenIO

/// Options of `pp-score` (attribution.md sections 5 to 7).
public struct ScoreOptions: Sendable, Codable, Equatable {
    public var semantics: ScoreSemantics
    public var mode: PreconditionMode
    /// Weight of the query side in H̃ = mc·H_query + (1 − mc)·H_index.
    public var mixingCoefficient: Double
    /// c in the damping: c·mean|H_ij| (bergson-0.5) or c·mean(λ) (bergson-2).
    public var damping: Double
    public var unitNormalize: Bool

    public init(semantics: ScoreSemantics = .bergson05, mode: PreconditionMode = .none,
                mixingCoefficient: Double = 0.99, damping: Double = 0.1, unitNormalize: Bool = true)
    {
        self.semantics = semantics
        self.mode = mode
        self.mixingCoefficient = mixingCoefficient
        self.damping = damping
        self.unitNormalize = unitNormalize
    }
}

/// Mean of gradient rows, the `reduce` step that turns per-example query gradients into one
/// query row (attribution.md section 6). Sums in fp64 in row order, so shards merge exactly
/// by adding `sum` and `count` (up to fp64 rounding) and results are deterministic.
public struct MeanReducer: Sendable {
    public let width: Int
    public let unitNormalize: Bool
    public let semantics: ScoreSemantics
    public private(set) var sum: [Double]
    public private(set) var count: Int

    public init(width: Int, unitNormalize: Bool, semantics: ScoreSemantics) {
        self.width = width
        self.unitNormalize = unitNormalize
        self.semantics = semantics
        sum = [Double](repeating: 0, count: width)
        count = 0
    }

    /// Adds one row. With unit normalisation the row is divided by ‖v‖ + ε (0.5.1) or by
    /// max(‖v‖, ε) (2.5.1), ε = fp32 epsilon; a zero row then contributes nothing.
    public mutating func add(_ row: UnsafeBufferPointer<Float>) {
        precondition(row.count == width)
        var scale = 1.0
        if unitNormalize {
            var ss = 0.0
            for v in row { ss += Double(v) * Double(v) }
            let norm = ss.squareRoot(), eps = Double(Float.ulpOfOne)
            scale = semantics == .bergson05 ? 1 / (norm + eps) : 1 / max(norm, eps)
        }
        for k in 0..<width { sum[k] += Double(row[k]) * scale }
        count += 1
    }

    public mutating func merge(_ other: MeanReducer) {
        precondition(other.width == width)
        for k in 0..<width { sum[k] += other.sum[k] }
        count += other.count
    }

    /// The reduced query row (fp32), as Bergson stores it.
    public var mean: [Float] {
        let n = Double(max(count, 1))
        return sum.map { Float($0 / n) }
    }
}

/// Scores train gradient rows against one (reduced) query row.
///
/// Every semantics reduces to `s_i = (t_i · w) / n_i`:
/// - bergson-0.5: w = normalize(concat_m q̄(m)·K_m), K_m = damped H̃_m⁻¹; n_i = ‖t_i‖ (unit
///   normalisation) or 1.
/// - bergson-2, unit normalisation: q' = q̄·H̃^-1/2, w(m) = q'(m)·H̃_m^-1/2, n_i = max(‖t_i·H̃^-1/2‖, 1e-12)
///   (the train side is preconditioned too, so its norm needs one d x d product per module).
/// - bergson-2, no unit normalisation: w = q̄·H̃⁻¹, n_i = 1.
/// With mode `none`, K = I.
public final class AttributionScorer: @unchecked Sendable {
    public let layout: GradientLayout
    public let options: ScoreOptions
    /// The vector each train row is dotted with.
    public let direction: [Float]
    /// bergson-2 with unit normalisation and a preconditioner: per-module H^-1/2 for train norms.
    public let trainTransform: [[Float]]?

    /// - Parameters:
    ///   - query: the reduced query row (`MeanReducer.mean`, or a one-row query stream).
    ///   - queryMoment / indexMoment: second moments for modes query / index / mixed.
    public init(layout: GradientLayout, query: [Float], queryMoment: SecondMoment?, indexMoment: SecondMoment?,
                options: ScoreOptions) throws
    {
        guard query.count == layout.rowWidth else {
            throw PlaypenError("query has \(query.count) values per row, the layout needs \(layout.rowWidth)")
        }
        for (name, h) in [("query", queryMoment), ("index", indexMoment)] {
            if let h, let why = layout.mismatch(h.layout) {
                throw PlaypenError("\(name) preconditioner was made with a different layout than the gradients (\(why))")
            }
        }
        if let bad = query.firstIndex(where: { !$0.isFinite }) {
            throw PlaypenError("query gradient has a non-finite value at column \(bad)")
        }
        self.layout = layout
        self.options = options
        let mixed = try Preconditioner.mix(mode: options.mode, query: queryMoment, index: indexMoment,
                                           mixingCoefficient: options.mixingCoefficient)
        let offsets = layout.offsets
        let power: Double = options.semantics == .bergson2 && options.unitNormalize ? -0.5 : -1
        let keepTransform = options.semantics == .bergson2 && options.unitNormalize
        // Module by module: one mixed matrix and one inverse alive at a time (plus the train-side
        // H^-1/2 matrices that bergson-2 with unit normalisation keeps).
        var w = query
        var transform: [[Float]] = []
        if let mixed {
            for m in layout.modules.indices {
                let d = layout.width(m)
                let k = try Preconditioner.inverse(mixed(m), dim: d, semantics: options.semantics,
                                                   damping: options.damping, power: power,
                                                   module: layout.modules[m].name)
                var part = Array(w[offsets[m]..<(offsets[m] + d)])
                part = Self.rowTimes(part, k, d)
                if keepTransform {
                    part = Self.rowTimes(part, k, d)
                    transform.append(k)
                }
                w.replaceSubrange(offsets[m]..<(offsets[m] + d), with: part)
            }
        }
        trainTransform = keepTransform && mixed != nil ? transform : nil
        if options.semantics == .bergson05 {
            var ss = 0.0
            for v in w { ss += Double(v) * Double(v) }
            guard ss > 0 else { throw PlaypenError("query gradient is zero: nothing to score against") }
            let norm = Float(ss.squareRoot())
            w = w.map { $0 / norm }
        }
        direction = w
    }

    /// Row vector times a symmetric d x d matrix (= K v).
    static func rowTimes(_ v: [Float], _ k: [Float], _ d: Int) -> [Float] {
        var out = [Float](repeating: 0, count: d)
        cblas_sgemv(CblasRowMajor, CblasTrans, Int32(d), Int32(d), 1, k, Int32(d), v, 1, 0, &out, 1)
        return out
    }

    /// A train row that cannot be scored.
    public struct BadRow: Equatable, Sendable {
        /// Position within the scored batch.
        public var position: Int
        /// All-zero gradient (for example no target tokens); otherwise NaN or infinite values.
        public var zero: Bool
    }

    /// Scores `count` rows (`rowStride` floats apart) into `scores`. Returns the rows with NaN or
    /// infinite gradients, and, under unit normalisation, all-zero rows (score NaN, or 0 when
    /// `zeroRowsScoreZero`, in which case they are not reported).
    public func score(rows: UnsafePointer<Float>, count: Int, rowStride: Int,
                      scores: UnsafeMutablePointer<Float>, zeroRowsScoreZero: Bool = false) -> [BadRow]
    {
        var bad: [BadRow] = []
        let width = layout.rowWidth
        var transformedNorms: [Double]? = nil
        if let k = trainTransform { transformedNorms = Self.transformedSquaredNorms(rows, count, rowStride, layout, k) }
        direction.withUnsafeBufferPointer { w in
            for r in 0..<count {
                let (dot, ss) = Self.dotAndSquares(rows + r * rowStride, w.baseAddress!, width)
                guard ss.isFinite, dot.isFinite else {
                    bad.append(BadRow(position: r, zero: false))
                    scores[r] = .nan
                    continue
                }
                var s: Double
                if options.unitNormalize {
                    let normSquared = transformedNorms?[r] ?? ss
                    if ss == 0 {
                        if zeroRowsScoreZero {
                            scores[r] = 0
                        } else {
                            bad.append(BadRow(position: r, zero: true))
                            scores[r] = .nan
                        }
                        continue
                    }
                    s = options.semantics == .bergson2 ? dot / max(normSquared.squareRoot(), 1e-12)
                        : dot / normSquared.squareRoot()
                } else {
                    s = dot
                }
                scores[r] = Float(s)
                if !scores[r].isFinite { bad.append(BadRow(position: r, zero: false)) }
            }
        }
        return bad
    }

    /// Σ_m ‖t(m) K_m‖² per row, one sgemm per module over the batch.
    static func transformedSquaredNorms(_ rows: UnsafePointer<Float>, _ count: Int, _ rowStride: Int,
                                        _ layout: GradientLayout, _ k: [[Float]]) -> [Double]
    {
        var norms = [Double](repeating: 0, count: count)
        let offsets = layout.offsets
        var tmp: [Float] = []
        for m in layout.modules.indices {
            let d = layout.width(m)
            if tmp.count < count * d { tmp = [Float](repeating: 0, count: count * d) }
            tmp.withUnsafeMutableBufferPointer { out in
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(count), Int32(d), Int32(d), 1,
                            rows + offsets[m], Int32(rowStride), k[m], Int32(d), 0, out.baseAddress, Int32(d))
                for r in 0..<count {
                    var ss: Float = 0
                    for j in 0..<d { ss += out[r * d + j] * out[r * d + j] }
                    norms[r] += Double(ss)
                }
            }
        }
        return norms
    }

    /// (t · w, t · t) in one pass: fp32 SIMD within blocks of 1024 values, fp64 across blocks.
    @inline(__always)
    static func dotAndSquares(_ t: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ n: Int) -> (Double, Double) {
        var dot = 0.0, ss = 0.0
        var start = 0
        let block = 1024
        while start < n {
            let end = min(n, start + block)
            var d0 = SIMD8<Float>(), d1 = SIMD8<Float>(), s0 = SIMD8<Float>(), s1 = SIMD8<Float>()
            var k = start
            while k + 16 <= end {
                let a0 = UnsafeRawPointer(t + k).loadUnaligned(as: SIMD8<Float>.self)
                let a1 = UnsafeRawPointer(t + k + 8).loadUnaligned(as: SIMD8<Float>.self)
                let b0 = UnsafeRawPointer(w + k).loadUnaligned(as: SIMD8<Float>.self)
                let b1 = UnsafeRawPointer(w + k + 8).loadUnaligned(as: SIMD8<Float>.self)
                d0 += a0 * b0
                d1 += a1 * b1
                s0 += a0 * a0
                s1 += a1 * a1
                k += 16
            }
            var dt = Double((d0 + d1).sum()), st = Double((s0 + s1).sum())
            while k < end {
                dt += Double(t[k]) * Double(w[k])
                st += Double(t[k]) * Double(t[k])
                k += 1
            }
            dot += dt
            ss += st
            start = end
        }
        return (dot, ss)
    }
}
