// ---------------------------------------------------------------------------------------------
// Eight-lane fp32 vectors for the element-wise kernels.
//
// The package is built for baseline x86-64 (no AVX requirement), where SIMD8<Float> is two SSE
// registers. Wider types and Swift's generic SIMD helpers (pointwiseMin/Max, rounded, integer
// conversions, sum) fall back to scalar code there and run several times slower than a plain
// loop, so the kernels use only +, −, ×, ÷, comparisons with `replace`, and bit casts.
// Reductions accumulate per lane and add the lanes in a fixed order: results are deterministic
// (they differ from a strictly sequential sum by fp32 rounding only).
// ---------------------------------------------------------------------------------------------

public typealias FloatV = SIMD8<Float>
public let vectorWidth = FloatV.scalarCount

@inline(__always) public func vload(_ p: UnsafePointer<Float>) -> FloatV {
    UnsafeRawPointer(p).loadUnaligned(as: FloatV.self)
}

@inline(__always) public func vstore(_ v: FloatV, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: FloatV.self)
}

/// The lanes added in a fixed order (pairwise).
@inline(__always) public func laneSum(_ v: FloatV) -> Float {
    ((v[0] + v[4]) + (v[2] + v[6])) + ((v[1] + v[5]) + (v[3] + v[7]))
}

@inline(__always) public func laneMax(_ v: FloatV) -> Float {
    max(max(max(v[0], v[4]), max(v[2], v[6])), max(max(v[1], v[5]), max(v[3], v[7])))
}

/// Lane-wise maximum (Swift's pointwiseMax is scalarised on baseline x86-64).
@inline(__always) public func vmax(_ a: FloatV, _ b: FloatV) -> FloatV {
    var m = a
    m.replace(with: b, where: b .> a)
    return m
}

/// e^x per lane: Cephes' expf (range reduction by ln 2 split in two constants, degree-6
/// polynomial, 2^n assembled in the exponent bits). Within 2 ulp of glibc's expf on the range
/// used here; inputs are clamped to [−87.34, 88.38] so the result stays a normal float
/// (e^−87.34 ≈ 1.2e−38 stands in for 0, e^88.38 ≈ 2.7e38 for overflow).
@inline(__always) public func vexp(_ input: FloatV) -> FloatV {
    var x = input
    x.replace(with: 88.37626, where: x .> 88.37626)
    x.replace(with: -87.33654, where: x .< -87.33654)
    // n = round(x / ln 2) by adding 1.5·2^23: the sum's low mantissa bits then hold n.
    let shifted = x * 1.44269504088896341 + 12_582_912
    let n = shifted - 12_582_912
    let r = x - n * 0.693359375 + n * 2.12194440e-4
    var p = FloatV(repeating: 1.9875691500e-4)
    p = p * r + 1.3981999507e-3
    p = p * r + 8.3334519073e-3
    p = p * r + 4.1665795894e-2
    p = p * r + 1.6666665459e-1
    p = p * r + 5.0000001201e-1
    p = p * (r * r) + r + 1
    let exponent = unsafeBitCast(shifted, to: SIMD8<Int32>.self) &- 0x4B40_0000 &+ 127
    return p * unsafeBitCast(exponent &<< 23, to: FloatV.self)
}

/// Scalar twin of `vexp` for loop tails, so a value does not depend on where it sits in a row.
@inline(__always) public func sexp(_ x: Float) -> Float { vexp(FloatV(repeating: x))[0] }

/// Σ a[i]·b[i] over n elements, lane-accumulated.
@inline(__always) public func vdot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
    var acc = FloatV()
    var i = 0
    while i + vectorWidth <= n { acc += vload(a + i) * vload(b + i); i += vectorWidth }
    var s = laneSum(acc)
    while i < n { s += a[i] * b[i]; i += 1 }
    return s
}

/// The largest of n values (−∞ for none).
@inline(__always) public func maxElement(_ x: UnsafePointer<Float>, count n: Int) -> Float {
    var m = FloatV(repeating: -.infinity)
    var i = 0
    while i + vectorWidth <= n { m = vmax(m, vload(x + i)); i += vectorWidth }
    var mx = laneMax(m)
    while i < n { mx = max(mx, x[i]); i += 1 }
    return mx
}

/// x[i] ← e^(x[i] − shift) in place; returns Σ of the results, summed in Float within blocks of
/// 1024 and in Double across blocks (rows as wide as the 262k vocabulary stay accurate).
@inline(__always) public func exponentiateShifted(_ x: UnsafeMutablePointer<Float>, count n: Int, shift: Float) -> Double {
    var sum = 0.0
    var b0 = 0
    while b0 < n {
        let b1 = min(n, b0 + 1024)
        var acc = FloatV()
        var i = b0
        while i + vectorWidth <= b1 {
            let e = vexp(vload(x + i) - shift)
            vstore(e, x + i)
            acc += e
            i += vectorWidth
        }
        var s = laneSum(acc)
        while i < b1 { let e = sexp(x[i] - shift); x[i] = e; s += e; i += 1 }
        sum += Double(s)
        b0 = b1
    }
    return sum
}

/// x[i] ← x[i] · factor.
@inline(__always) public func scaleInPlace(_ x: UnsafeMutablePointer<Float>, count n: Int, by factor: Float) {
    var i = 0
    while i + vectorWidth <= n { vstore(vload(x + i) * factor, x + i); i += vectorWidth }
    while i < n { x[i] *= factor; i += 1 }
}
