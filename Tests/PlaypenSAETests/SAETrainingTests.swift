import Foundation
import PlaypenIO
import Testing
@testable import PlaypenSAE

/// Double-precision reference of the reconstruction loss (encoder reads x − b_dec), plain loops, selection recomputed.
func referenceLoss(_ p: [Double], x: [Double], B: Int, D: Int, S: Int, k: Int, dead: [Bool], auxCoefficient: Double = 1) -> Double {
    let encT = 0, bEnc = S * D, dec = S * D + S, bDec = 2 * S * D + S
    var total = 0.0
    for t in 0..<B {
        var pre = [Double](repeating: 0, count: S)
        for j in 0..<S {
            var s = p[bEnc + j]
            for d in 0..<D { s += (x[t * D + d] - p[bDec + d]) * p[encT + j * D + d] }
            pre[j] = s
        }
        let top = (0..<S).sorted { pre[$0] > pre[$1] }.prefix(k)
        var xhat = (0..<D).map { p[bDec + $0] }
        for j in top where pre[j] > 0 { for d in 0..<D { xhat[d] += pre[j] * p[dec + j * D + d] } }
        for d in 0..<D { total += (xhat[d] - x[t * D + d]) * (xhat[d] - x[t * D + d]) / Double(B) }
    }
    return total
}

@Suite struct SAETrainingTests {
    func fixture() throws -> [String: LoadedArray] {
        try readSafetensors(path: saeFixtures + "/train_step.safetensors").tensors
    }

    func trainer(from g: [String: LoadedArray], prefix: String = "", suffix: String = "") -> SAETrainer {
        var config = SAETrainingConfig()
        config.dSAE = 16
        config.k = 3
        config.learningRate = 1e-2
        let t = SAETrainer(dIn: 8, config: config)
        let wEnc = g[prefix + "w_enc" + suffix]!.values
        for j in 0..<16 { for d in 0..<8 { t.parameters[j * 8 + d] = wEnc[d * 16 + j] } }
        for (i, v) in g[prefix + "b_enc" + suffix]!.values.enumerated() { t.parameters[t.biasEncoderOffset + i] = v }
        for (i, v) in g[prefix + "w_dec" + suffix]!.values.enumerated() { t.parameters[t.decoderOffset + i] = v }
        for (i, v) in g[prefix + "b_dec" + suffix]!.values.enumerated() { t.parameters[t.biasDecoderOffset + i] = v }
        return t
    }

    /// Gradient in the fixture's layout (W_enc [8, 16]) from the trainer's buffer.
    func fixtureLayout(_ flat: [Float], _ t: SAETrainer) -> [String: [Float]] {
        var wEnc = [Float](repeating: 0, count: 128)
        for j in 0..<16 { for d in 0..<8 { wEnc[d * 16 + j] = flat[j * 8 + d] } }
        return ["w_enc": wEnc, "b_enc": Array(flat[t.biasEncoderOffset..<(t.biasEncoderOffset + 16)]),
                "w_dec": Array(flat[t.decoderOffset..<(t.decoderOffset + 128)]),
                "b_dec": Array(flat[t.biasDecoderOffset..<(t.biasDecoderOffset + 8)])]
    }

    @Test func threeStepsMatchTorchAutogradAndAdam() throws {
        let g = try fixture()
        let t = trainer(from: g)
        let dead = g["dead"]!.values.map { $0 > 0.5 }
        for step in 0..<3 {
            let x = g["x\(step)"]!.values
            let loss = x.withUnsafeBufferPointer { t.lossAndGradient($0, rows: 10, dead: dead) }
            #expect(abs(loss.mse - Double(g["loss_mse_\(step)"]!.values[0])) < 1e-4 * loss.mse)
            #expect(abs(loss.aux - Double(g["loss_aux_\(step)"]!.values[0])) < 1e-4 * max(loss.aux, 1))
            let grads = fixtureLayout(t.gradients, t)
            for name in ["w_enc", "b_enc", "w_dec", "b_dec"] {
                let expected = g["g_\(name)_\(step)"]!.values
                let scale = expected.map { abs($0) }.max()!
                #expect(maxAbsDiff(grads[name]!, expected) < 2e-5 * max(scale, 1), "gradient \(name) step \(step)")
            }
            t.clipGradients()
            t.adamStep(learningRate: 1e-2)
            t.normalizeDecoder()
            let params = fixtureLayout(t.parameters, t)
            for name in ["w_enc", "b_enc", "w_dec", "b_dec"] {
                #expect(maxAbsDiff(params[name]!, g["p_\(name)_\(step)"]!.values) < 2e-5, "parameters \(name) step \(step)")
            }
        }
    }

    @Test func gradientMatchesFiniteDifferencesInDouble() throws {
        let g = try fixture()
        let t = trainer(from: g)
        let x = g["x0"]!.values
        // MSE part: no dead latents, so the loss is a function of the parameters alone.
        let none = [Bool](repeating: false, count: 16)
        _ = x.withUnsafeBufferPointer { t.lossAndGradient($0, rows: 10, dead: none) }
        let analytic = t.gradients
        let p0 = t.parameters.map(Double.init)
        let xd = x.map(Double.init)
        let h = 1e-6
        var worst = 0.0
        for i in 0..<p0.count {
            var plus = p0, minus = p0
            plus[i] += h
            minus[i] -= h
            let fd = (referenceLoss(plus, x: xd, B: 10, D: 8, S: 16, k: 3, dead: none)
                - referenceLoss(minus, x: xd, B: 10, D: 8, S: 16, k: 3, dead: none)) / (2 * h)
            worst = max(worst, abs(fd - Double(analytic[i])) / max(abs(fd), 1))
        }
        #expect(worst < 1e-4)
    }

    @Test func auxGradientMatchesFiniteDifferencesWithDetachedResidual() throws {
        let g = try fixture()
        let t = trainer(from: g)
        let x = g["x1"]!.values
        let dead = g["dead"]!.values.map { $0 > 0.5 }
        let none = [Bool](repeating: false, count: 16)
        _ = x.withUnsafeBufferPointer { t.lossAndGradient($0, rows: 10, dead: none) }
        let mseGrad = t.gradients
        _ = x.withUnsafeBufferPointer { t.lossAndGradient($0, rows: 10, dead: dead) }
        let auxGrad = zip(t.gradients, mseGrad).map { $0 - $1 }
        // Aux loss in Double with e = x − x̂ frozen at p0.
        let p0 = t.parameters.map(Double.init), xd = x.map(Double.init)
        let D = 8, S = 16, B = 10
        func xhat(_ p: [Double], _ t: Int) -> [Double] {
            var pre = (0..<S).map { j in p[S * D + j] + (0..<D).reduce(0.0) { $0 + (xd[t * D + $1] - p[2 * S * D + S + $1]) * p[j * D + $1] } }
            let top = (0..<S).sorted { pre[$0] > pre[$1] }.prefix(3)
            var out = (0..<D).map { p[2 * S * D + S + $0] }
            for j in top where pre[j] > 0 { for d in 0..<D { out[d] += pre[j] * p[S * D + S + j * D + d] } }
            pre.removeAll()
            return out
        }
        let frozen = (0..<B).map { t in (0..<D).map { xd[t * D + $0] - xhat(p0, t)[$0] } }
        let deadIdx = [13, 15]
        func aux(_ p: [Double]) -> Double {
            var total = 0.0
            for t in 0..<B {
                let pre = deadIdx.map { j in p[S * D + j] + (0..<D).reduce(0.0) { $0 + (xd[t * D + $1] - p[2 * S * D + S + $1]) * p[j * D + $1] } }
                var ehat = [Double](repeating: 0, count: D)
                for (i, j) in deadIdx.enumerated() { for d in 0..<D { ehat[d] += pre[i] * p[S * D + S + j * D + d] } }
                for d in 0..<D { total += 0.5 * (ehat[d] - frozen[t][d]) * (ehat[d] - frozen[t][d]) / Double(B) }
            }
            return total
        }
        var worst = 0.0
        for i in 0..<p0.count {
            var plus = p0, minus = p0
            plus[i] += 1e-6
            minus[i] -= 1e-6
            let fd = (aux(plus) - aux(minus)) / 2e-6
            worst = max(worst, abs(fd - Double(auxGrad[i])) / max(abs(fd), 1))
        }
        #expect(worst < 1e-4)
    }

    /// Activations that really are sparse combinations of 48 directions in 24 dimensions.
    func syntheticActivations(tokens: Int, seed: UInt64) -> MatrixActivations {
        var rng = SplitMix64(seed: seed)
        let D = 24, F = 48
        var dirs = (0..<(F * D)).map { _ in 2 * rng.nextFloat() - 1 }
        for f in 0..<F {
            let n = (0..<D).reduce(Float(0)) { $0 + dirs[f * D + $1] * dirs[f * D + $1] }.squareRoot()
            for d in 0..<D { dirs[f * D + d] /= n }
        }
        var x = [Float](repeating: 0, count: tokens * D)
        for t in 0..<tokens {
            for _ in 0..<3 {
                let f = Int(rng.next() % UInt64(F))
                let a = 50 * (0.5 + rng.nextFloat())
                for d in 0..<D { x[t * D + d] += a * dirs[f * D + d] }
            }
        }
        return MatrixActivations(dIn: D, values: x)
    }

    @Test func trainingLearnsASparseDictionaryDeterministically() throws {
        let data = syntheticActivations(tokens: 3000, seed: 7)
        var config = SAETrainingConfig()
        config.dSAE = 64
        config.k = 3
        config.batchTokens = 256
        config.epochs = 25
        config.learningRate = 1e-2
        config.deadWindowSteps = 30
        config.seed = 11
        let a = SAETrainer(dIn: 24, config: config)
        let reports = a.train(data)
        #expect(reports.count == 25)
        #expect(reports.last!.explainedVariance > 0.85, "EV \(reports.last!.explainedVariance)")
        #expect(reports.last!.explainedVariance > reports.first!.explainedVariance)
        #expect(reports.last!.l0 <= 3.0 && reports.last!.l0 > 2.0)
        let b = SAETrainer(dIn: 24, config: config)
        _ = b.train(data)
        #expect(a.parameters == b.parameters)
        // The exported SAE takes raw activations: its reconstruction equals the trainer's on s·x, divided by s.
        let sae = try a.exportSAE(layer: 9)
        let dir = temporaryDirectory("sae-trained")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try sae.save(directory: dir, extra: ["activation_scale": Double(a.scale)])
        let loaded = try SparseAutoencoder.load(path: dir)
        #expect(loaded.architecture == .topK(k: 3) && loaded.layer == 9)
        let x = Array(data.values[0..<(50 * 24)])
        let raw = loaded.decode(try loaded.encode(x, tokens: 50), tokens: 50)
        var residual = 0.0, total = 0.0
        for i in 0..<raw.count { residual += Double((raw[i] - x[i]) * (raw[i] - x[i])); total += Double(x[i] * x[i]) }
        #expect(residual / total < 0.2)
        // Same reconstruction as the trainer's own forward (scaled space) divided by the scale.
        let scaled = x.map { $0 * a.scale }
        let tr = try a.exportSAE(layer: nil)
        _ = tr
        var direct = [Float](repeating: 0, count: 50 * 24)
        for t in 0..<50 {
            var pre = (0..<64).map { j in a.parameters[a.biasEncoderOffset + j] + (0..<24).reduce(Float(0)) { $0 + (scaled[t * 24 + $1] - a.parameters[a.biasDecoderOffset + $1]) * a.parameters[j * 24 + $1] } }
            let top = (0..<64).sorted { pre[$0] > pre[$1] || (pre[$0] == pre[$1] && $0 < $1) }.prefix(3)
            for d in 0..<24 { direct[t * 24 + d] = a.parameters[a.biasDecoderOffset + d] }
            for j in top where pre[j] > 0 { for d in 0..<24 { direct[t * 24 + d] += pre[j] * a.parameters[a.decoderOffset + j * 24 + d] } }
            pre.removeAll()
        }
        let unscaled = direct.map { $0 / a.scale }
        #expect(maxAbsDiff(unscaled, raw) < 1e-3 * (x.map { abs($0) }.max()!))
    }
}
