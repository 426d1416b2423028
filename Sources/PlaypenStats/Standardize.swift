import Foundation

/// Column standardisation with scikit-learn `StandardScaler` semantics, fitted on some rows.
///
/// `mean_j = (1/n) Σ x_ij`, `var_j` the population variance (ddof 0, two-pass with sklearn's
/// correction term), `scale_j = sqrt(var_j)`, and a constant column (sklearn's test
/// `var <= n·eps·var + (n·mean·eps)²`) gets `scale_j = 1`, so it standardises to all zeros.
public struct Standardizer: Sendable, Equatable {
    public var mean: [Double]
    public var scale: [Double]
    public var variance: [Double]
    /// Columns found constant on the fitting rows (scale forced to 1).
    public var constant: [Bool]

    /// Fits on the rows `rows` of the row-major matrix `x` [n, p].
    public init(fit x: [Double], columns p: Int, rows: [Int]) {
        let n = Double(rows.count)
        mean = [Double](repeating: 0, count: p)
        variance = [Double](repeating: 0, count: p)
        scale = [Double](repeating: 1, count: p)
        constant = [Bool](repeating: false, count: p)
        guard !rows.isEmpty else { return }
        for r in rows { for j in 0..<p { mean[j] += x[r * p + j] } }
        for j in 0..<p { mean[j] /= n }
        var squares = [Double](repeating: 0, count: p)
        var correction = [Double](repeating: 0, count: p)
        for r in rows {
            for j in 0..<p {
                let t = x[r * p + j] - mean[j]
                squares[j] += t * t
                correction[j] += t
            }
        }
        let eps = Double.ulpOfOne
        for j in 0..<p {
            variance[j] = max(0, (squares[j] - correction[j] * correction[j] / n) / n)
            let bound = n * eps * variance[j] + (n * mean[j] * eps) * (n * mean[j] * eps)
            if variance[j] <= bound {
                constant[j] = true
                scale[j] = 1
            } else {
                scale[j] = variance[j].squareRoot()
            }
        }
    }

    /// `(x − mean)/scale` for every row of `x` [n, p].
    public func transform(_ x: [Double], columns p: Int) -> [Double] {
        var out = x
        let rows = x.count / p
        for r in 0..<rows {
            for j in 0..<p { out[r * p + j] = (x[r * p + j] - mean[j]) / scale[j] }
        }
        return out
    }
}
