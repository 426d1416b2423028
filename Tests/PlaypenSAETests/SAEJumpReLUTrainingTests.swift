import Foundation
import PlaypenIO
import Testing
@testable import PlaypenSAE

/// JumpReLU SAE training (`SAETrainingConfig.architecture = .jumpReLU`) against torch autograd of the
/// same loss with the straight-through estimators (scripts/reference/sae_jumprelu_goldens.py), and
/// end to end on synthetic sparse data.
@Suite struct SAEJumpReLUTrainingTests {
    static let names = ["w_enc", "b_enc", "w_dec", "b_dec", "log_threshold"]

    func fixture() throws -> [String: LoadedArray] {
        try readSafetensors(path: saeFixtures + "/jumprelu_step.safetensors").tensors
    }

    /// The golden's hyper-parameters: ε 1, λ 0.3, lr 1e-2, Adam (0.9, 0.999), clip 1.
    func trainer(from g: [String: LoadedArray]) -> SAETrainer {
        var config = SAETrainingConfig()
        config.architecture = .jumpReLU
        config.dSAE = 16
        config.bandwidth = 1
        config.l0Coefficient = 0.3
        config.learningRate = 1e-2
        let t = SAETrainer(dIn: 8, config: config)
        let wEnc = g["w_enc"]!.values
        for j in 0..<16 { for d in 0..<8 { t.parameters[j * 8 + d] = wEnc[d * 16 + j] } }
        for (name, offset) in [("b_enc", t.biasEncoderOffset), ("w_dec", t.decoderOffset), ("b_dec", t.biasDecoderOffset),
                               ("log_threshold", t.logThresholdOffset)] {
            for (i, v) in g[name]!.values.enumerated() { t.parameters[offset + i] = v }
        }
        return t
    }

    /// A flat buffer in the golden's layout (W_enc [8, 16]).
    func fixtureLayout(_ flat: [Float], _ t: SAETrainer) -> [String: [Float]] {
        var wEnc = [Float](repeating: 0, count: 128)
        for j in 0..<16 { for d in 0..<8 { wEnc[d * 16 + j] = flat[j * 8 + d] } }
        return ["w_enc": wEnc, "b_enc": Array(flat[t.biasEncoderOffset..<(t.biasEncoderOffset + 16)]),
                "w_dec": Array(flat[t.decoderOffset..<(t.decoderOffset + 128)]),
                "b_dec": Array(flat[t.biasDecoderOffset..<(t.biasDecoderOffset + 8)]),
                "log_threshold": Array(flat[t.logThresholdOffset..<(t.logThresholdOffset + 16)])]
    }

    @Test func threeStepsMatchTorchAutogradAndAdam() throws {
        let g = try fixture()
        let t = trainer(from: g)
        #expect(t.parameters.count == 2 * 16 * 8 + 16 + 8 + 16)
        let none = [Bool](repeating: false, count: 16)
        for step in 0..<3 {
            let x = g["x\(step)"]!.values
            let loss = x.withUnsafeBufferPointer { t.lossAndGradient($0, rows: 12, dead: none) }
            let mse = Double(g["loss_mse_\(step)"]!.values[0]), l0 = Double(g["loss_l0_\(step)"]!.values[0])
            #expect(abs(loss.mse - mse) < 1e-5 * mse, "mse step \(step): \(loss.mse) vs \(mse)")
            #expect(abs(loss.sparsity - l0) < 1e-6 * l0, "L0 loss step \(step): \(loss.sparsity) vs \(l0)")
            #expect(loss.aux == 0)
            let grads = fixtureLayout(t.gradients, t)
            for name in Self.names {
                let expected = g["g_\(name)_\(step)"]!.values
                let scale = expected.map { abs($0) }.max()!
                #expect(maxAbsDiff(grads[name]!, expected) < 2e-5 * max(scale, 1), "gradient \(name) step \(step)")
            }
            // Both estimators are exercised: thresholds inside the kernel have non-zero gradients.
            #expect(g["g_log_threshold_\(step)"]!.values.filter { $0 != 0 }.count >= 5)
            t.clipGradients()
            t.adamStep(learningRate: 1e-2)
            t.normalizeDecoder()
            let params = fixtureLayout(t.parameters, t)
            for name in Self.names {
                #expect(maxAbsDiff(params[name]!, g["p_\(name)_\(step)"]!.values) < 2e-5, "parameters \(name) step \(step)")
            }
        }
    }

    @Test func trainsDeterministicallyAndExportsAGemmaScopeJumpReLU() throws {
        let data = SAETrainingTests().syntheticActivations(tokens: 3000, seed: 7)
        var config = SAETrainingConfig()
        config.architecture = .jumpReLU
        config.dSAE = 64
        config.batchTokens = 256
        config.epochs = 25
        config.learningRate = 1e-2
        config.l0Coefficient = 0.5
        config.bandwidth = 0.05
        config.initialThreshold = 0.05
        config.seed = 11
        let a = SAETrainer(dIn: 24, config: config)
        let reports = a.train(data)
        #expect(reports.count == 25)
        let first = reports.first!, last = reports.last!
        #expect(last.explainedVariance > 0.8, "EV \(last.explainedVariance)")
        #expect(last.l0 < first.l0 && last.l0 < 16, "L0 \(first.l0) -> \(last.l0)")
        #expect(last.sparsityLoss > 0 && last.auxLoss == 0)
        #expect(Set(a.thresholds).count > 1, "thresholds are learned per feature")
        let b = SAETrainer(dIn: 24, config: config)
        _ = b.train(data)
        #expect(a.parameters == b.parameters)

        // Saved in the Gemma Scope 2 layout, loaded as a pretrained SAE (what pp-sae extract does):
        // its codes on raw x are the trainer's on s·x times ‖W_dec[j]‖ (= 1/s), its reconstruction the trainer's / s.
        let dir = temporaryDirectory("sae-jumprelu")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try a.exportSAE(layer: 9).save(directory: dir, extra: ["activation_scale": Double(a.scale)])
        let savedConfig = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/config.json"))) as! [String: Any]
        #expect(savedConfig["architecture"] as? String == "jump_relu")
        let loaded = try SparseAutoencoder.load(path: dir)
        #expect(loaded.architecture == .jumpReLU && loaded.layer == 9 && loaded.threshold.allSatisfy { $0 > 0 })
        let T = 50, D = 24, S = 64
        let x = Array(data.values[0..<(T * D)])
        let codes = try loaded.encode(x, tokens: T)
        let raw = loaded.decode(codes, tokens: T)
        let p = a.parameters, theta = a.thresholds, s = a.scale
        var direct = [Float](repeating: 0, count: T * D)
        var mismatched = 0
        for t in 0..<T {
            for d in 0..<D { direct[t * D + d] = p[a.biasDecoderOffset + d] }
            for j in 0..<S {
                var pre = p[a.biasEncoderOffset + j]
                for d in 0..<D { pre += (s * x[t * D + d] - p[a.biasDecoderOffset + d]) * p[j * D + d] }
                let f: Float = pre > theta[j] ? pre : 0
                // Rounding of the folded weights may flip a pre-activation within 1e-4 of θ.
                if (f != 0) != (codes[t * S + j] != 0) && abs(pre - theta[j]) > 1e-4 * max(1, theta[j]) { mismatched += 1 }
                for d in 0..<D { direct[t * D + d] += f * p[a.decoderOffset + j * D + d] }
            }
        }
        #expect(mismatched == 0)
        #expect(maxAbsDiff(direct.map { $0 / s }, raw) < 1e-3 * x.map { abs($0) }.max()!)
    }
}
