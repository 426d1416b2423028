import CBLAS
import Foundation
import PlaypenIO

/// Scoring semantics (attribution.md section 7).
public enum ScoreSemantics: String, Sendable, Codable, CaseIterable {
    /// The original pipeline's (Bergson 0.5.1): damped H⁻¹ on the query only, cosine with the
    /// unit-normalised train gradient. Damping 0.1·mean|H_ij|.
    case bergson05 = "bergson-0.5"
    /// Bergson 2.5.1: eigenvalue-damped H^-1/2 on both sides with unit normalisation (H⁻¹ on the
    /// query without it). Damping 0.1·mean(λ).
    case bergson2 = "bergson-2"
}

/// Which second moments make the preconditioner.
public enum PreconditionMode: String, Sendable, Codable, CaseIterable {
    case none, query, index, mixed
}

public enum Preconditioner {
    /// H̃ = mc·H_query + (1 − mc)·H_index (fp32), or one side, per mode (attribution.md 5.2).
    public static func mix(mode: PreconditionMode, query: SecondMoment?, index: SecondMoment?,
                           mixingCoefficient mc: Double) throws -> [[Float]]?
    {
        func need(_ h: SecondMoment?, _ what: String) throws -> SecondMoment {
            guard let h else { throw PlaypenError("preconditioner mode \(mode.rawValue) needs the \(what) preconditioner") }
            guard h.count > 0 else { throw PlaypenError("\(what) preconditioner was accumulated over 0 rows") }
            return h
        }
        switch mode {
        case .none: return nil
        case .query:
            let q = try need(query, "query")
            return q.layout.modules.indices.map { q.mean($0) }
        case .index:
            let i = try need(index, "index")
            return i.layout.modules.indices.map { i.mean($0) }
        case .mixed:
            let q = try need(query, "query"), i = try need(index, "index")
            if let why = q.layout.mismatch(i.layout) {
                throw PlaypenError("query and index preconditioners have different layouts (\(why))")
            }
            guard mc >= 0, mc <= 1 else { throw PlaypenError("--mixing-coefficient \(mc) is outside [0, 1]") }
            let a = Float(mc), b = Float(1 - mc)
            return q.layout.modules.indices.map { m in
                let hq = q.mean(m), hi = i.mean(m)
                return (0..<hq.count).map { hq[$0] * a + hi[$0] * b }
            }
        }
    }

    /// The matrix applied to gradient rows (v ← v · K) for one module, fp32.
    ///
    /// - bergson-0.5: K = (H + c·mean|H_ij|·I)⁻¹, fp64 eigh, cast to fp32 (power is always −1).
    /// - bergson-2: eigh in fp64, λ clamped at 0, m(λ) = 1/(λ + c·mean λ), raised to −power
    ///   (power −1/2 with unit normalisation, else −1), K = U diag(m) Uᵀ cast to fp32.
    ///
    /// With `damping == 0` a singular (or numerically singular) H is an error.
    public static func inverse(_ h: [Float], dim d: Int, semantics: ScoreSemantics, damping c: Double,
                               power: Double, module: String) throws -> [Float]
    {
        var a = h.map(Double.init)
        if semantics == .bergson05 {
            var meanAbs = 0.0
            for v in a { meanAbs += abs(v) }
            meanAbs /= Double(d * d)
            for i in 0..<d { a[i * d + i] += c * meanAbs }
            // Damped, the matrix is positive definite: a Cholesky solve gives the same inverse
            // (up to fp64 rounding) in about a third of the eigendecomposition's time.
            if c > 0 && meanAbs > 0, let k = try choleskyInverse(a, dim: d, module: module) { return k }
        }
        var w = [Double](repeating: 0, count: d)
        try symmetricEigen(&a, &w, dim: d, module: module)
        // a now holds eigenvectors in its columns (column-major U; H is symmetric so the
        // row-major input is the same matrix).
        var m = [Double](repeating: 0, count: d)
        let maxAbs = w.map(abs).max() ?? 0
        let tiny = Double(d) * 2.220446049250313e-16 * maxAbs
        switch semantics {
        case .bergson05:
            for k in 0..<d {
                if w[k] <= tiny {
                    throw PlaypenError("preconditioner for \(module) is singular (eigenvalue \(w[k]), largest \(maxAbs)) with damping \(c)")
                }
                m[k] = 1 / w[k]
            }
        case .bergson2:
            var mean = 0.0
            for k in 0..<d {
                w[k] = max(w[k], 0)
                mean += w[k]
            }
            mean /= Double(d)
            for k in 0..<d {
                let denom = w[k] + c * mean
                if denom <= tiny {
                    throw PlaypenError("preconditioner for \(module) is singular (eigenvalue \(w[k]), largest \(maxAbs)) with damping \(c)")
                }
                var v = 1 / denom
                if -power != 1 { v = pow(max(v, 0), -power) }
                m[k] = v
            }
        }
        // K = U diag(m) Uᵀ
        var scaled = a
        for j in 0..<d { for i in 0..<d { scaled[j * d + i] *= m[j] } }
        var k = [Double](repeating: 0, count: d * d)
        cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans, Int32(d), Int32(d), Int32(d), 1, scaled, Int32(d),
                    a, Int32(d), 0, &k, Int32(d))
        for v in k where !v.isFinite {
            throw PlaypenError("preconditioner for \(module): inverse is not finite (H has NaN or infinite entries?)")
        }
        return k.map { Float($0) }
    }

    /// (A)⁻¹ in fp64 via dpotrf/dpotrs, cast to fp32; nil when A is not numerically positive
    /// definite (the caller then falls back to the eigendecomposition, which reports why).
    static func choleskyInverse(_ matrix: [Double], dim d: Int, module: String) throws -> [Float]? {
        for v in matrix where !v.isFinite {
            throw PlaypenError("preconditioner for \(module) has NaN or infinite entries")
        }
        var a = matrix
        var uplo = Int8(UInt8(ascii: "U"))
        var n = Int32(d), lda = Int32(d), info: Int32 = 0
        dpotrf_(&uplo, &n, &a, &lda, &info)
        if info != 0 { return nil }
        var b = [Double](repeating: 0, count: d * d)
        for i in 0..<d { b[i * d + i] = 1 }
        var nrhs = Int32(d), ldb = Int32(d)
        dpotrs_(&uplo, &n, &nrhs, &a, &lda, &b, &ldb, &info)
        if info != 0 { return nil }
        // Symmetrise (the solve is symmetric only up to rounding), as U diag Uᵀ is.
        var k = [Float](repeating: 0, count: d * d)
        for i in 0..<d {
            for j in i..<d {
                let v = Float((b[i * d + j] + b[j * d + i]) / 2)
                k[i * d + j] = v
                k[j * d + i] = v
            }
        }
        return k
    }

    /// LAPACK dsyevd: eigenvalues ascending into `w`, eigenvectors into the columns of `a`.
    static func symmetricEigen(_ a: inout [Double], _ w: inout [Double], dim: Int, module: String) throws {
        for v in a where !v.isFinite {
            throw PlaypenError("preconditioner for \(module) has NaN or infinite entries")
        }
        var jobz = Int8(UInt8(ascii: "V")), uplo = Int8(UInt8(ascii: "U"))
        var n = Int32(dim), lda = Int32(dim), info: Int32 = 0
        var lwork: Int32 = -1, liwork: Int32 = -1
        var workSize = 0.0
        var iworkSize: Int32 = 0
        dsyevd_(&jobz, &uplo, &n, &a, &lda, &w, &workSize, &lwork, &iworkSize, &liwork, &info)
        lwork = Int32(workSize)
        liwork = iworkSize
        var work = [Double](repeating: 0, count: Int(lwork))
        var iwork = [Int32](repeating: 0, count: Int(liwork))
        dsyevd_(&jobz, &uplo, &n, &a, &lda, &w, &work, &lwork, &iwork, &liwork, &info)
        if info != 0 { throw PlaypenError("preconditioner for \(module): eigendecomposition failed (dsyevd info \(info))") }
    }
}
