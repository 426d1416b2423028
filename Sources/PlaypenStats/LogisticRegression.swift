import Foundation
import PlaypenIO

/// L2-penalised logistic regression with balanced class weights, solved exactly by damped Newton
/// (IRLS), matching scikit-learn `LogisticRegression(class_weight="balanced", C=C)`.
///
/// Minimises `C · Σ_i s_i ℓ(y_i, z_i) + ½‖w‖²` with `z_i = x_iᵀw + b`,
/// `ℓ(y, z) = log(1 + e^z) − y·z` and `s_i = n / (2·n_{y_i})`; the intercept is not penalised.
/// Newton steps are halved until the objective does not increase; iteration stops when
/// `max|step| < tolerance` (default 1e-10).
public struct LogisticModel: Sendable {
    /// Coefficients, one per column of the design matrix.
    public var coefficients: [Double]
    public var intercept: Double
    public var iterations: Int
    public var converged: Bool
    public var objective: Double
    /// Per-class sample weights `[w_0, w_1]`.
    public var classWeights: [Double]

    /// Decision values `z = Xw + b` for the rows of `x` [n, p].
    public func decision(_ x: [Double]) -> [Double] {
        let p = coefficients.count
        let n = p == 0 ? 0 : x.count / p
        var z = [Double](repeating: intercept, count: n)
        for i in 0..<n {
            var s = intercept
            for j in 0..<p { s += x[i * p + j] * coefficients[j] }
            z[i] = s
        }
        return z
    }

    /// Probabilities `σ(z)` of class 1.
    public func probability(_ x: [Double]) -> [Double] { decision(x).map(sigmoid) }
}

@inline(__always) public func sigmoid(_ z: Double) -> Double {
    if z >= 0 { return 1 / (1 + exp(-z)) }
    let e = exp(z)
    return e / (1 + e)
}

/// `log(1 + e^z) − y·z`, computed without overflow.
@inline(__always) func logisticLoss(_ y: Double, _ z: Double) -> Double {
    max(z, 0) + log1p(exp(-abs(z))) - y * z
}

/// Fits the balanced L2 logistic regression on rows of `x` [n, p] (row-major) with 0/1 labels.
/// Throws if only one class is present.
public func fitBalancedLogistic(x: [Double], columns p: Int, labels y: [UInt8], c: Double = 1,
                                tolerance: Double = 1e-10, maxIterations: Int = 100) throws -> LogisticModel {
    let n = y.count
    precondition(x.count == n * p)
    let nPos = y.reduce(0) { $0 + Int($1) }
    let nNeg = n - nPos
    guard nPos > 0, nNeg > 0 else {
        throw PlaypenError("logistic regression needs both classes; got \(nPos) positive and \(nNeg) negative rows")
    }
    let weights = [Double(n) / (2 * Double(nNeg)), Double(n) / (2 * Double(nPos))]
    let q = p + 1
    var w = [Double](repeating: 0, count: q)  // coefficients then intercept

    func objective(_ w: [Double]) -> Double {
        var loss = 0.0
        for i in 0..<n {
            var z = w[p]
            for j in 0..<p { z += x[i * p + j] * w[j] }
            loss += weights[Int(y[i])] * logisticLoss(Double(y[i]), z)
        }
        var penalty = 0.0
        for j in 0..<p { penalty += w[j] * w[j] }
        return c * loss + 0.5 * penalty
    }

    var current = objective(w)
    var iterations = 0
    var converged = false
    var gradient = [Double](repeating: 0, count: q)
    var hessian = [Double](repeating: 0, count: q * q)
    var row = [Double](repeating: 1, count: q)
    while iterations < maxIterations {
        iterations += 1
        for k in 0..<q { gradient[k] = 0 }
        for k in 0..<(q * q) { hessian[k] = 0 }
        for i in 0..<n {
            for j in 0..<p { row[j] = x[i * p + j] }
            var z = w[p]
            for j in 0..<p { z += row[j] * w[j] }
            let prob = sigmoid(z)
            let s = weights[Int(y[i])] * c
            let g = s * (prob - Double(y[i]))
            let h = s * prob * (1 - prob)
            for a in 0..<q {
                gradient[a] += g * row[a]
                let hr = h * row[a]
                for b in a..<q { hessian[a * q + b] += hr * row[b] }
            }
        }
        for j in 0..<p {
            gradient[j] += w[j]
            hessian[j * q + j] += 1
        }
        for a in 0..<q { for b in 0..<a { hessian[a * q + b] = hessian[b * q + a] } }
        guard let step = choleskySolve(hessian, gradient, q) else {
            throw PlaypenError("logistic regression: Hessian is not positive definite at iteration \(iterations)")
        }
        // Damped step: halve until the objective does not increase.
        var t = 1.0
        var candidate = w
        var value = current
        for _ in 0..<60 {
            for k in 0..<q { candidate[k] = w[k] - t * step[k] }
            value = objective(candidate)
            if value <= current + 1e-12 * abs(current) { break }
            t *= 0.5
        }
        var maxStep = 0.0
        for k in 0..<q { maxStep = max(maxStep, abs(candidate[k] - w[k])) }
        w = candidate
        current = value
        if maxStep < tolerance {
            converged = true
            break
        }
    }
    return LogisticModel(coefficients: Array(w[0..<p]), intercept: w[p], iterations: iterations,
                         converged: converged, objective: current, classWeights: weights)
}

/// Solves the symmetric positive definite system `A x = b` ([q, q] row-major) by Cholesky.
func choleskySolve(_ a: [Double], _ b: [Double], _ q: Int) -> [Double]? {
    var l = [Double](repeating: 0, count: q * q)
    for i in 0..<q {
        for j in 0...i {
            var s = a[i * q + j]
            for k in 0..<j { s -= l[i * q + k] * l[j * q + k] }
            if i == j {
                guard s > 0 else { return nil }
                l[i * q + i] = s.squareRoot()
            } else {
                l[i * q + j] = s / l[j * q + j]
            }
        }
    }
    var y = b
    for i in 0..<q {
        var s = y[i]
        for k in 0..<i { s -= l[i * q + k] * y[k] }
        y[i] = s / l[i * q + i]
    }
    var x = y
    for i in stride(from: q - 1, through: 0, by: -1) {
        var s = x[i]
        for k in (i + 1)..<q { s -= l[k * q + i] * x[k] }
        x[i] = s / l[i * q + i]
    }
    return x
}

