import Foundation
import Testing
@testable import PlaypenTrain

/// Double-precision scalar reference of the LoRA linear forward: y = x Wᵀ + s·(drop(x) Aᵀ) Bᵀ.
private func referenceForward(x: [Double], w: [Double], a: [Double], b: [Double], scale: Double,
                              dropout: LoRADropout?, n: Int, inF: Int, outF: Int, r: Int) -> [Double] {
    var xd = x
    if let dropout, dropout.p > 0 {
        for i in 0..<xd.count {
            xd[i] = dropout.keeps(i) ? x[i] / (1 - Double(dropout.p)) : 0
        }
    }
    var y = [Double](repeating: 0, count: n * outF)
    for row in 0..<n {
        var u = [Double](repeating: 0, count: r)
        for k in 0..<r { for j in 0..<inF { u[k] += xd[row * inF + j] * a[k * inF + j] } }
        for o in 0..<outF {
            var s = 0.0
            for j in 0..<inF { s += x[row * inF + j] * w[o * inF + j] }
            var t = 0.0
            for k in 0..<r { t += u[k] * b[o * r + k] }
            y[row * outF + o] = s + scale * t
        }
    }
    return y
}

@Suite struct LoRATests {
    let n = 5, inF = 7, outF = 6, r = 3

    /// Runs Float forward+backward of L = Σ y ⊙ G and compares dX, dA, dB with central
    /// finite differences of the Double reference (h = 1e-6), and y with the reference.
    func check(dropoutP: Float, withW: Bool) {
        let x = testValues(n * inF, seed: 1), w = testValues(outF * inF, seed: 2)
        let a = testValues(r * inF, seed: 3), b = testValues(outF * r, seed: 4, scale: 0.5)
        let g = testValues(n * outF, seed: 5)
        let scale = 2.0
        let drop: LoRADropout? = dropoutP > 0 ? LoRADropout(p: dropoutP, key: 77) : nil
        let wRef = withW ? w : [Double](repeating: 0, count: w.count)

        let xf = x.map(Float.init), wf = w.map(Float.init), af = a.map(Float.init), bf = b.map(Float.init)
        let gf = g.map(Float.init)
        var y = [Float](repeating: 0, count: n * outF), u = [Float](repeating: 0, count: n * r)
        var xd = [Float](repeating: 0, count: n * inF)
        var dx = [Float](repeating: 0.25, count: n * inF)  // accumulation is checked: starts at 0.25
        var da = [Float](repeating: 0, count: r * inF), db = [Float](repeating: 0, count: outF * r)
        var du = [Float](repeating: 0, count: n * r), scratch = [Float](repeating: 0, count: n * inF)
        var mask = [UInt64](repeating: 0, count: LoRADropout.maskWords(n * inF))
        wf.withUnsafeBufferPointer { wp in
            let wptr: UnsafePointer<Float>? = withW ? wp.baseAddress! : nil
            loraLinearForward(y: &y, u: &u, xd: &xd, mask: &mask, x: xf, w: wptr, a: af, b: bf, scale: Float(scale),
                              dropout: drop, n: n, inF: inF, outF: outF, r: r)
            loraLinearBackward(dx: &dx, da: &da, db: &db, du: &du, scratch: &scratch, mask: mask, dy: gf, x: xf, u: u,
                               w: wptr, a: af, b: bf, scale: Float(scale), dropout: drop,
                               n: n, inF: inF, outF: outF, r: r)
        }
        func loss(_ x: [Double], _ a: [Double], _ b: [Double]) -> Double {
            let y = referenceForward(x: x, w: wRef, a: a, b: b, scale: scale, dropout: drop, n: n, inF: inF, outF: outF, r: r)
            return zip(y, g).reduce(0) { $0 + $1.0 * $1.1 }
        }
        func fd(_ v: [Double], _ f: ([Double]) -> Double) -> [Double] {
            (0..<v.count).map { i in
                var p = v, m = v
                p[i] += 1e-6; m[i] -= 1e-6
                return (f(p) - f(m)) / 2e-6
            }
        }
        let yRef = referenceForward(x: x, w: wRef, a: a, b: b, scale: scale, dropout: drop, n: n, inF: inF, outF: outF, r: r)
        assertClose(doubles(y), yRef, rtol: 1e-5, atol: 1e-5, "y")
        assertClose(doubles(dx).map { $0 - 0.25 }, fd(x) { loss($0, a, b) }, rtol: 1e-4, atol: 1e-5, "dX")
        assertClose(doubles(da), fd(a) { loss(x, $0, b) }, rtol: 1e-4, atol: 1e-5, "dA")
        assertClose(doubles(db), fd(b) { loss(x, a, $0) }, rtol: 1e-4, atol: 1e-5, "dB")
    }

    @Test func forwardBackwardMatchFiniteDifferences() { check(dropoutP: 0, withW: true) }

    @Test func packedMaskKeepsExactlyTheElementsOfTheDefinition() {
        // 203 elements: three full words and a partial one, the 8-lane path and a scalar tail
        let drop = LoRADropout(p: 0.3, key: 12345), count = 203
        var mask = [UInt64](repeating: 0, count: LoRADropout.maskWords(count))
        drop.fillMask(&mask, count: count)
        let x = (0..<count).map { Float($0) + 1 }
        var out = [Float](repeating: -1, count: count), acc = [Float](repeating: 2, count: count)
        drop.apply(&out, x, mask: mask, count: count)
        drop.apply(&acc, x, mask: mask, count: count, accumulate: true)
        var kept = 0
        for i in 0..<count {
            let expected: Float = drop.keeps(i) ? x[i] / 0.7 : 0
            #expect(abs(out[i] - expected) <= 1e-5 * abs(expected), "element \(i)")
            #expect(abs(acc[i] - (2 + expected)) <= 1e-5 * abs(2 + expected), "element \(i)")
            kept += drop.keeps(i) ? 1 : 0
        }
        #expect(kept > 120 && kept < 165)  // ~70% of 203
    }
    @Test func dropoutOnAdapterPathOnly() { check(dropoutP: 0.3, withW: true) }
    @Test func adapterTermOnlyWhenBaseIsComputedElsewhere() { check(dropoutP: 0.3, withW: false) }

    @Test func dropoutKeepsAboutOneMinusPAndScales() {
        let d = LoRADropout(p: 0.05, key: 9)
        let count = 200_000
        let x = [Float](repeating: 1, count: count)
        var out = [Float](repeating: 0, count: count)
        var mask = [UInt64](repeating: 0, count: LoRADropout.maskWords(count))
        d.fillMask(&mask, count: count)
        d.apply(&out, x, mask: mask, count: count)
        let kept = out.filter { $0 != 0 }
        // Binomial(200000, 0.95): sd ≈ 97 → 5 sd = 487.
        #expect(abs(kept.count - 190_000) < 487)
        #expect(kept.allSatisfy { $0 == Float(1) / Float(0.95) })
    }

    @Test func layoutMatchesPeftParameterCountsFor270M() {
        // gemma3.md §3: 270M, r 16 on all seven targets: 210,944 per layer, 3,796,992 in total.
        let shape = LoRAModelShape(layers: 18, hidden: 640, intermediate: 2048, qDim: 1024, kvDim: 256)
        let layout = LoRALayout(config: LoRAConfig(), shape: shape)
        #expect(layout.count == 3_796_992)
        #expect(layout.modules.count == 18 * 7)
        let m = layout.module(3, .down)!
        #expect(m.inF == 2048 && m.outF == 640)
        #expect(m.peftName == "base_model.model.model.layers.3.mlp.down_proj")
        let sub = LoRALayout(config: LoRAConfig(targets: [.v, .q]), shape: shape)
        #expect(sub.count == 18 * (16 * 640 + 1024 * 16 + 16 * 640 + 256 * 16))
        #expect(sub.module(0, .k) == nil)
    }

    @Test func peftInitialisationBoundsAndZeroB() {
        let shape = LoRAModelShape(layers: 2, hidden: 64, intermediate: 128, qDim: 32, kvDim: 16)
        let layout = LoRALayout(config: LoRAConfig(r: 4), shape: shape)
        let p = LoRAParameters.peftInitialized(layout: layout, seed: 42)
        for m in layout.modules {
            let bound = 1 / Float(m.inF).squareRoot()
            let a = (0..<(4 * m.inF)).map { p.a(m)[$0] }
            #expect(a.allSatisfy { abs($0) <= bound })
            // U(−b, b) has variance b²/3; the sample max should come close to the bound.
            #expect(a.map(abs).max()! > 0.9 * bound)
            #expect((0..<(m.outF * 4)).allSatisfy { p.b(m)[$0] == 0 })
        }
        let again = LoRAParameters.peftInitialized(layout: layout, seed: 42)
        #expect(again.values.array == p.values.array)
        #expect(LoRAParameters.peftInitialized(layout: layout, seed: 43).values.array != p.values.array)
    }

    @Test func targetListParsing() throws {
        #expect(try LoRATarget.parseList("v,q_proj,down") == [.q, .v, .down])
        #expect(try LoRATarget.parseList("all") == LoRATarget.allCases)
        #expect(throws: Error.self) { try LoRATarget.parseList("q,lm_head") }
    }
}
