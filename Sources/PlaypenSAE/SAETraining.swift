import CBLAS
import Foundation
import PlaypenIO

// Training a TopK or JumpReLU SAE on residual-stream activations (sae.md §6). Shared: MSE
// reconstruction, Adam, global gradient-norm clipping, unit-norm decoder rows, dead-latent
// tracking, activations scaled to mean norm sqrt(d_in) and the scale folded back into the saved
// weights. TopK adds the aux-K loss on dead latents; JumpReLU learns a per-feature threshold
// through straight-through estimators and pays λ per active feature (the L0 penalty).

/// Rows of activations to train on: an in-memory matrix or a memory-mapped file of f32 rows.
public protocol ActivationSource {
    var dIn: Int { get }
    var count: Int { get }
    /// Copies rows `indices` into `out` [indices.count, dIn].
    func gather(_ indices: ArraySlice<Int>, into out: UnsafeMutablePointer<Float>)
}

/// Activations held in memory, row-major [count, dIn].
public struct MatrixActivations: ActivationSource {
    public let dIn: Int
    public let values: [Float]
    public var count: Int { values.count / dIn }
    public init(dIn: Int, values: [Float]) {
        precondition(values.count % dIn == 0)
        self.dIn = dIn
        self.values = values
    }
    public func gather(_ indices: ArraySlice<Int>, into out: UnsafeMutablePointer<Float>) {
        values.withUnsafeBufferPointer { v in
            for (r, i) in indices.enumerated() { (out + r * dIn).update(from: v.baseAddress! + i * dIn, count: dIn) }
        }
    }
}

/// A raw little-endian f32 file of rows [count, dIn], memory-mapped (the activation cache).
public final class MappedActivations: ActivationSource {
    public let dIn: Int
    public let count: Int
    private let file: MappedFile

    public init(path: String, dIn: Int) throws {
        file = try MappedFile(path: path)
        guard file.count % (4 * dIn) == 0 else {
            throw PlaypenError("\(path): \(file.count) bytes is not a whole number of \(dIn)-wide f32 rows")
        }
        self.dIn = dIn
        count = file.count / (4 * dIn)
    }

    public func gather(_ indices: ArraySlice<Int>, into out: UnsafeMutablePointer<Float>) {
        guard let base = file.base else { return }
        for (r, i) in indices.enumerated() {
            UnsafeMutableRawPointer(out + r * dIn).copyMemory(from: base + i * dIn * 4, byteCount: dIn * 4)
        }
    }
}

/// SplitMix64: a small deterministic generator for initialisation and shuffling.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in [0, 1) with 24 random bits.
    mutating func nextFloat() -> Float { Float(next() >> 40) * (1.0 / 16_777_216.0) }
}

/// Which SAE the trainer learns.
public enum TrainedArchitecture: String, Sendable, CaseIterable {
    /// Keep the k largest pre-activations (ReLU'd); MSE + aux-K.
    case topK = "topk"
    /// `f_j = pre_j·H(pre_j − θ_j)` with learned θ_j = exp(τ_j) (the JumpReLU paper's and SAELens'
    /// log-threshold, so θ stays positive); MSE + λ·mean_t Σ_j H(pre_j − θ_j). H has no gradient, so
    /// θ gets the straight-through pseudo-derivatives with the rectangle kernel
    /// K(u) = 1[−½ < u < ½] of bandwidth ε: ∂f_j/∂θ_j = −(θ_j/ε)·K((pre_j − θ_j)/ε),
    /// ∂H/∂θ_j = −(1/ε)·K((pre_j − θ_j)/ε); ∂f_j/∂pre_j = H(pre_j − θ_j) (no estimator on pre).
    case jumpReLU = "jumprelu"
}

public struct SAETrainingConfig: Sendable {
    public var architecture = TrainedArchitecture.topK
    public var dSAE = 4096
    /// Active latents per token (TopK).
    public var k = 32
    /// JumpReLU: kernel bandwidth ε (Gemma Scope / SAELens: 0.001).
    public var bandwidth: Float = 0.001
    /// JumpReLU: every θ_j starts here (Gemma Scope / SAELens: 0.001).
    public var initialThreshold: Float = 0.001
    /// JumpReLU: λ of the L0 penalty.
    public var l0Coefficient: Float = 1
    public var learningRate: Float = 3e-4
    public var beta1: Float = 0.9
    public var beta2: Float = 0.999
    public var epsilon: Float = 1e-8
    public var batchTokens = 4096
    public var epochs = 10
    public var seed: UInt64 = 42
    /// Global gradient-norm clip (0: none).
    public var gradientClip: Float = 1.0
    /// A latent is dead after this many steps without firing (feeds the aux-K loss).
    public var deadWindowSteps = 200
    public var auxKCoefficient: Float = 1.0
    /// k_aux; 0 means d_in / 2.
    public var auxK = 0
    /// Linear decay of the learning rate to 0 over this final fraction of the steps.
    public var decayFraction: Float = 0.2
    /// Encode `x − b_dec` (SAELens' `apply_b_dec_to_input`), with b_dec initialised to the data
    /// mean. The residual stream has a large common direction; without centring every token picks
    /// the same latents. Folded into b_enc on export, so the saved SAE takes raw x as Gemma Scope.
    public var subtractDecoderBias = true
    public init() {}
}

/// What one epoch measured (on the training batches, before each step's update).
public struct EpochReport: Sendable {
    public var epoch: Int
    public var steps: Int
    public var tokens: Int
    /// Mean active latents per token.
    public var l0: Double
    /// `1 − Σ‖x − x̂‖² / Σ‖x − x̄_batch‖²` over the epoch (scaled space, equal to raw space).
    public var explainedVariance: Double
    /// Fraction of latents that fired on no token of the epoch.
    public var deadFraction: Double
    /// Fraction of latents past the dead window at the end of the epoch (what aux-K sees).
    public var deadWindowFraction: Double
    public var mse: Double
    public var auxLoss: Double
    /// JumpReLU: λ·L0 averaged over the epoch's tokens (0 for TopK).
    public var sparsityLoss: Double
    public var seconds: Double
}

/// Loss terms and counts of one batch.
public struct BatchLoss: Sendable {
    public var mse: Double
    public var aux: Double
    /// JumpReLU: λ·mean_t Σ_j H(pre_j − θ_j).
    public var sparsity: Double
    public var activeEntries: Int
    public var residualSquares: Double
    public var centredSquares: Double
}

/// An SAE being trained. Parameters live in one flat buffer:
/// `[W_encᵀ (dSAE × dIn) | b_enc (dSAE) | W_dec (dSAE × dIn) | b_dec (dIn) | τ = log θ (dSAE, JumpReLU only)]`,
/// gradients and Adam moments in buffers of the same layout. W_enc is stored transposed so each latent's encoder
/// row is contiguous (sparse backward updates are saxpys).
public final class SAETrainer {
    public let dIn: Int
    public let config: SAETrainingConfig
    public var dSAE: Int { config.dSAE }
    /// Activations are multiplied by this before training (mean norm → sqrt(d_in)).
    public var scale: Float = 1
    public var parameters: [Float]
    public var gradients: [Float]
    var adamM: [Float]
    var adamV: [Float]
    public private(set) var step = 0
    /// Steps since each latent last fired.
    public var stepsSinceFired: [Int]

    public var encoderOffset: Int { 0 }
    public var biasEncoderOffset: Int { dSAE * dIn }
    public var decoderOffset: Int { dSAE * dIn + dSAE }
    public var biasDecoderOffset: Int { 2 * dSAE * dIn + dSAE }
    /// JumpReLU's log-thresholds τ (θ = exp τ).
    public var logThresholdOffset: Int { 2 * dSAE * dIn + dSAE + dIn }

    /// W_encᵀ, b_enc, W_dec and b_dec inside a flat vector laid out as `parameters` (or its gradients).
    func blocks(_ base: UnsafeMutablePointer<Float>) -> (encT: UnsafeMutablePointer<Float>, bEnc: UnsafeMutablePointer<Float>,
                                                        dec: UnsafeMutablePointer<Float>, bDec: UnsafeMutablePointer<Float>) {
        (base + encoderOffset, base + biasEncoderOffset, base + decoderOffset, base + biasDecoderOffset)
    }

    /// The encoder's input rows: x − b_dec when the config centres it, else x.
    func encoderInput(_ x: UnsafeBufferPointer<Float>, rows: Int, bDec: UnsafePointer<Float>) -> [Float] {
        var input = Array(x[0..<(rows * dIn)])
        if config.subtractDecoderBias { for t in 0..<rows { for d in 0..<dIn { input[t * dIn + d] -= bDec[d] } } }
        return input
    }

    public init(dIn: Int, config: SAETrainingConfig) {
        self.dIn = dIn
        self.config = config
        let total = 2 * config.dSAE * dIn + config.dSAE + dIn + (config.architecture == .jumpReLU ? config.dSAE : 0)
        parameters = [Float](repeating: 0, count: total)
        gradients = [Float](repeating: 0, count: total)
        adamM = [Float](repeating: 0, count: total)
        adamV = [Float](repeating: 0, count: total)
        stepsSinceFired = [Int](repeating: 0, count: config.dSAE)
        // W_dec rows uniform then unit norm; W_enc = W_decᵀ (stored transposed: identical rows).
        var rng = SplitMix64(seed: config.seed)
        let dec = decoderOffset
        for j in 0..<config.dSAE {
            var norm: Float = 0
            for d in 0..<dIn {
                let v = 2 * rng.nextFloat() - 1
                parameters[dec + j * dIn + d] = v
                norm += v * v
            }
            norm = norm.squareRoot()
            for d in 0..<dIn { parameters[dec + j * dIn + d] /= norm }
        }
        for i in 0..<(config.dSAE * dIn) { parameters[i] = parameters[dec + i] }
        if config.architecture == .jumpReLU {
            let tau = log(config.initialThreshold)
            for j in 0..<config.dSAE { parameters[logThresholdOffset + j] = tau }
        }
    }

    /// θ_j = exp(τ_j) (JumpReLU; empty for TopK).
    public var thresholds: [Float] {
        config.architecture == .jumpReLU ? (0..<dSAE).map { exp(parameters[logThresholdOffset + $0]) } : []
    }

    /// Sets `scale = sqrt(d_in) / mean_t ‖x_t‖` from (up to `limit`) rows of the source.
    public func estimateScale(_ source: ActivationSource, limit: Int = 100_000) {
        let n = min(source.count, limit)
        guard n > 0 else { return }
        var row = [Float](repeating: 0, count: dIn)
        var total = 0.0
        let stride = max(source.count / n, 1)
        var used = 0
        for i in Swift.stride(from: 0, to: source.count, by: stride) where used < n {
            row.withUnsafeMutableBufferPointer { source.gather([i][...], into: $0.baseAddress!) }
            total += Double(cblas_snrm2(Int32(dIn), row, 1))
            used += 1
        }
        let meanNorm = total / Double(used)
        scale = meanNorm > 0 ? Float(Double(dIn).squareRoot() / meanNorm) : 1
    }

    /// Sets b_dec to the mean of the scaled rows (every `stride`-th row, at most `limit`).
    public func initializeDecoderBias(_ source: ActivationSource, limit: Int = 100_000) {
        let n = min(source.count, limit)
        guard n > 0 else { return }
        var row = [Float](repeating: 0, count: dIn)
        var mean = [Double](repeating: 0, count: dIn)
        let stride = max(source.count / n, 1)
        var used = 0
        for i in Swift.stride(from: 0, to: source.count, by: stride) where used < n {
            row.withUnsafeMutableBufferPointer { source.gather([i][...], into: $0.baseAddress!) }
            for d in 0..<dIn { mean[d] += Double(row[d]) }
            used += 1
        }
        for d in 0..<dIn { parameters[biasDecoderOffset + d] = Float(mean[d] / Double(used)) * scale }
    }

    public func deadMask() -> [Bool] { stepsSinceFired.map { $0 >= config.deadWindowSteps } }

    // -----------------------------------------------------------------------------------------
    // MARK: Forward + backward

    /// Computes the loss of batch `x` [rows, dIn] (already scaled) and writes its gradient into
    /// `gradients` (overwritten). `dead` selects the latents the aux-K loss may use. `fired`
    /// (if given) is set true for every latent active in the batch.
    @discardableResult
    public func lossAndGradient(_ x: UnsafeBufferPointer<Float>, rows B: Int, dead: [Bool], fired: UnsafeMutablePointer<Bool>? = nil) -> BatchLoss {
        if config.architecture == .jumpReLU { return jumpReLULossAndGradient(x, rows: B, fired: fired) }
        let S = dSAE, D = dIn, k = config.k
        for i in 0..<gradients.count { gradients[i] = 0 }
        var pre = [Float](repeating: 0, count: B * S)
        let deadIndices = (0..<S).filter { dead[$0] }
        let kAuxBase = config.auxK > 0 ? config.auxK : D / 2
        let kAux = min(kAuxBase, deadIndices.count)
        let auxScale = deadIndices.isEmpty ? 0 : min(Float(deadIndices.count) / Float(kAuxBase), 1)
        var loss = BatchLoss(mse: 0, aux: 0, sparsity: 0, activeEntries: 0, residualSquares: 0, centredSquares: 0)
        let mean = batchMean(x, rows: B)
        parameters.withUnsafeMutableBufferPointer { p in
            gradients.withUnsafeMutableBufferPointer { g in
                let (wEncT, bEnc, wDec, bDec) = blocks(p.baseAddress!)
                let (gEncT, gBEnc, gDec, gBDec) = blocks(g.baseAddress!)
                let centred = encoderInput(x, rows: B, bDec: bDec)
                var gInput = [Float](repeating: 0, count: D)
                pre.withUnsafeMutableBufferPointer { preBuffer in
                    for t in 0..<B { (preBuffer.baseAddress! + t * S).update(from: bEnc, count: S) }
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(B), Int32(S), Int32(D), 1,
                                centred, Int32(D), wEncT, Int32(D), 1, preBuffer.baseAddress!, Int32(S))
                }
                var selector = TopKSelector(capacity: max(k, kAux))
                var xhat = [Float](repeating: 0, count: D)
                var dxhat = [Float](repeating: 0, count: D)
                var auxRow = [Float](repeating: 0, count: max(deadIndices.count, 1))
                var ehat = [Float](repeating: 0, count: D)
                let invB = 1 / Float(B)
                for t in 0..<B {
                    let xt = x.baseAddress! + t * D
                    let xin = centred.withUnsafeBufferPointer { $0.baseAddress! + t * D }
                    for d in 0..<D { gInput[d] = 0 }
                    // TopK of pre, ReLU on the kept values.
                    pre.withUnsafeMutableBufferPointer { preBuffer in
                        selector.select(UnsafeMutableBufferPointer(rebasing: preBuffer[(t * S)..<((t + 1) * S)]), k: k)
                    }
                    let kept = zip(selector.indices, selector.values).filter { $0.1 > 0 }
                    loss.activeEntries += kept.count
                    for d in 0..<D { xhat[d] = bDec[d] }
                    for (j, v) in kept {
                        cblas_saxpy(Int32(D), v, wDec + j * D, 1, &xhat, 1)
                        fired?[j] = true
                    }
                    var sq = 0.0
                    for d in 0..<D {
                        let r = xhat[d] - xt[d]
                        sq += Double(r) * Double(r)
                        dxhat[d] = 2 * r * invB
                        let c = Double(xt[d]) - mean[d]
                        loss.centredSquares += c * c
                    }
                    loss.residualSquares += sq
                    loss.mse += sq / Double(B)
                    // Reconstruction gradient.
                    for d in 0..<D { gBDec[d] += dxhat[d] }
                    /// Backward through the decoder rows and encoder columns of the latents (j, f_j) that
                    /// produced the reconstruction whose gradient is in dxhat.
                    func backpropLatents<Latents: Sequence>(_ latents: Latents) where Latents.Element == (Int, Float) {
                        for (j, v) in latents {
                            cblas_saxpy(Int32(D), v, dxhat, 1, gDec + j * D, 1)
                            let df = cblas_sdot(Int32(D), dxhat, 1, wDec + j * D, 1)
                            gBEnc[j] += df
                            cblas_saxpy(Int32(D), df, xin, 1, gEncT + j * D, 1)
                            cblas_saxpy(Int32(D), df, wEncT + j * D, 1, &gInput, 1)
                        }
                    }
                    backpropLatents(kept)
                    // Aux-K: the dead latents' top-k_aux pre-activations (not ReLU'd, as SAELens)
                    // decode the residual e = x − x̂ (detached), without b_dec.
                    if kAux > 0 {
                        for (i, j) in deadIndices.enumerated() { auxRow[i] = pre[t * S + j] }
                        auxRow.withUnsafeMutableBufferPointer { selector.select(UnsafeMutableBufferPointer(rebasing: $0[0..<deadIndices.count]), k: kAux) }
                        let picks = zip(selector.indices.map { deadIndices[$0] }, selector.values)
                        for d in 0..<D { ehat[d] = 0 }
                        for (j, v) in picks { cblas_saxpy(Int32(D), v, wDec + j * D, 1, &ehat, 1) }
                        var auxSq = 0.0
                        for d in 0..<D {
                            let r = ehat[d] - (xt[d] - xhat[d])
                            auxSq += Double(r) * Double(r)
                            dxhat[d] = 2 * config.auxKCoefficient * auxScale * r * invB
                        }
                        loss.aux += Double(config.auxKCoefficient * auxScale) * auxSq / Double(B)
                        backpropLatents(picks)
                    }
                    // The encoder input x − b_dec sends −Σ_j dpre_j·W_enc[:, j] to b_dec.
                    if config.subtractDecoderBias { for d in 0..<D { gBDec[d] -= gInput[d] } }
                }
            }
        }
        return loss
    }

    /// Per-dimension mean of the batch rows (the explained-variance denominator).
    func batchMean(_ x: UnsafeBufferPointer<Float>, rows B: Int) -> [Double] {
        var mean = [Double](repeating: 0, count: dIn)
        for t in 0..<B { for d in 0..<dIn { mean[d] += Double(x[t * dIn + d]) } }
        for d in 0..<dIn { mean[d] /= Double(max(B, 1)) }
        return mean
    }

    /// JumpReLU's loss and gradient (`TrainedArchitecture.jumpReLU`) as whole-batch matrix
    /// products: a JumpReLU starts with about half of its latents active (θ₀ is tiny), where
    /// per-latent updates would cost as much as dense ones at a fraction of the speed.
    func jumpReLULossAndGradient(_ x: UnsafeBufferPointer<Float>, rows B: Int, fired: UnsafeMutablePointer<Bool>?) -> BatchLoss {
        let S = dSAE, D = dIn
        let theta = thresholds
        let epsilon = config.bandwidth, lambda = config.l0Coefficient
        let invB = 1 / Float(B)
        for i in 0..<gradients.count { gradients[i] = 0 }
        var loss = BatchLoss(mse: 0, aux: 0, sparsity: 0, activeEntries: 0, residualSquares: 0, centredSquares: 0)
        let mean = batchMean(x, rows: B)
        var pre = [Float](repeating: 0, count: B * S)
        var codes = [Float](repeating: 0, count: B * S)
        var dCodes = [Float](repeating: 0, count: B * S)
        var xhat = [Float](repeating: 0, count: B * D)
        var dxhat = [Float](repeating: 0, count: B * D)
        var gInput = [Float](repeating: 0, count: B * D)
        parameters.withUnsafeMutableBufferPointer { p in
            gradients.withUnsafeMutableBufferPointer { g in
                let (wEncT, bEnc, wDec, bDec) = blocks(p.baseAddress!)
                let (gEncT, gBEnc, gDec, gBDec) = blocks(g.baseAddress!)
                let gTau = g.baseAddress! + logThresholdOffset
                let centred = encoderInput(x, rows: B, bDec: bDec)
                // pre = x_in·W_enc + b_enc; f = pre·H(pre − θ), strictly above θ.
                for t in 0..<B { for j in 0..<S { pre[t * S + j] = bEnc[j] } }
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(B), Int32(S), Int32(D), 1,
                            centred, Int32(D), wEncT, Int32(D), 1, &pre, Int32(S))
                var active = 0
                for t in 0..<B {
                    for j in 0..<S where pre[t * S + j] > theta[j] {
                        codes[t * S + j] = pre[t * S + j]
                        active += 1
                        fired?[j] = true
                    }
                }
                loss.activeEntries = active
                loss.sparsity = Double(lambda) * Double(active) / Double(B)
                // x̂ = f·W_dec + b_dec; ∂L/∂x̂ = 2(x̂ − x)/B.
                for t in 0..<B { for d in 0..<D { xhat[t * D + d] = bDec[d] } }
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(B), Int32(D), Int32(S), 1,
                            codes, Int32(S), wDec, Int32(D), 1, &xhat, Int32(D))
                for t in 0..<B {
                    var sq = 0.0
                    for d in 0..<D {
                        let r = xhat[t * D + d] - x[t * D + d]
                        sq += Double(r) * Double(r)
                        dxhat[t * D + d] = 2 * r * invB
                        gBDec[d] += dxhat[t * D + d]
                        let c = Double(x[t * D + d]) - mean[d]
                        loss.centredSquares += c * c
                    }
                    loss.residualSquares += sq
                    loss.mse += sq / Double(B)
                }
                // ∂L/∂W_dec = fᵀ·∂L/∂x̂; ∂L/∂f = ∂L/∂x̂·W_decᵀ.
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(S), Int32(D), Int32(B), 1,
                            codes, Int32(S), dxhat, Int32(D), 1, gDec, Int32(D))
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(B), Int32(S), Int32(D), 1,
                            dxhat, Int32(D), wDec, Int32(D), 0, &dCodes, Int32(S))
                // Thresholds: within ε/2 of θ_j, −(θ/ε)·∂L/∂f_j from the reconstruction and −λ/(Bε)
                // from the L0 term; ∂L/∂τ_j = θ_j·∂L/∂θ_j. Then ∂L/∂pre = ∂L/∂f·H(pre − θ) in place.
                for t in 0..<B {
                    for j in 0..<S {
                        let v = pre[t * S + j]
                        let u = (v - theta[j]) / epsilon
                        if u > -0.5 && u < 0.5 {
                            gTau[j] += theta[j] * (-(theta[j] / epsilon) * dCodes[t * S + j] - lambda * invB / epsilon)
                        }
                        if !(v > theta[j]) { dCodes[t * S + j] = 0 }
                        gBEnc[j] += dCodes[t * S + j]
                    }
                }
                // Encoder: ∂L/∂W_encᵀ = (∂L/∂pre)ᵀ·x_in; the centred input sends −Σ ∂L/∂pre·W_encᵀ to b_dec.
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(S), Int32(D), Int32(B), 1,
                            dCodes, Int32(S), centred, Int32(D), 1, gEncT, Int32(D))
                if config.subtractDecoderBias {
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(B), Int32(D), Int32(S), 1,
                                dCodes, Int32(S), wEncT, Int32(D), 0, &gInput, Int32(D))
                    for t in 0..<B { for d in 0..<D { gBDec[d] -= gInput[t * D + d] } }
                }
            }
        }
        return loss
    }

    /// Clips the global gradient norm (as torch's `clip_grad_norm_`) and returns the norm before.
    @discardableResult
    public func clipGradients() -> Float {
        var total = 0.0
        for g in gradients { total += Double(g) * Double(g) }
        let norm = Float(total.squareRoot())
        if config.gradientClip > 0 {
            let coefficient = config.gradientClip / (norm + 1e-6)
            if coefficient < 1 { cblas_sscal(Int32(gradients.count), coefficient, &gradients, 1) }
        }
        return norm
    }

    /// One Adam update (torch.optim.Adam semantics, no weight decay) at learning rate `lr`.
    public func adamStep(learningRate lr: Float) {
        step += 1
        let b1 = config.beta1, b2 = config.beta2, eps = config.epsilon
        let c1 = 1 - pow(b1, Float(step)), c2 = 1 - pow(b2, Float(step))
        let stepSize = lr / c1
        let c2Root = c2.squareRoot()
        for i in 0..<parameters.count {
            let g = gradients[i]
            adamM[i] = b1 * adamM[i] + (1 - b1) * g
            adamV[i] = b2 * adamV[i] + (1 - b2) * g * g
            parameters[i] -= stepSize * adamM[i] / (adamV[i].squareRoot() / c2Root + eps)
        }
    }

    /// Rescales every decoder row to unit norm.
    public func normalizeDecoder() {
        parameters.withUnsafeMutableBufferPointer { p in
            let dec = p.baseAddress! + decoderOffset
            for j in 0..<dSAE {
                let n = cblas_snrm2(Int32(dIn), dec + j * dIn, 1)
                if n > 0 { cblas_sscal(Int32(dIn), 1 / n, dec + j * dIn, 1) }
            }
        }
    }

    public func learningRate(step s: Int, totalSteps: Int) -> Float {
        let decaySteps = Int((Float(totalSteps) * config.decayFraction).rounded())
        let start = totalSteps - decaySteps
        guard decaySteps > 0, s >= start else { return config.learningRate }
        return config.learningRate * Float(totalSteps - s) / Float(decaySteps + 1)
    }

    /// One full training step on scaled batch `x`: loss, gradient, clip, Adam, decoder norm,
    /// dead-latent bookkeeping.
    @discardableResult
    public func trainStep(_ x: UnsafeBufferPointer<Float>, rows: Int, learningRate lr: Float, firedInEpoch: inout [Bool]) -> BatchLoss {
        var fired = [Bool](repeating: false, count: dSAE)
        let loss = fired.withUnsafeMutableBufferPointer { lossAndGradient(x, rows: rows, dead: deadMask(), fired: $0.baseAddress!) }
        clipGradients()
        adamStep(learningRate: lr)
        normalizeDecoder()
        for j in 0..<dSAE {
            if fired[j] { stepsSinceFired[j] = 0; firedInEpoch[j] = true } else { stepsSinceFired[j] += 1 }
        }
        return loss
    }

    /// Trains for `config.epochs` passes over `source`, shuffled per epoch from the seed.
    /// `report` is called after each epoch (for progress logs).
    public func train(_ source: ActivationSource, report: (EpochReport) -> Void = { _ in }) -> [EpochReport] {
        precondition(source.dIn == dIn)
        if scale == 1 { estimateScale(source) }
        if config.subtractDecoderBias && step == 0 { initializeDecoderBias(source) }
        let B = config.batchTokens
        let stepsPerEpoch = (source.count + B - 1) / B
        let totalSteps = stepsPerEpoch * config.epochs
        var rng = SplitMix64(seed: config.seed &+ 0x5EED)
        var order = Array(0..<source.count)
        var batch = [Float](repeating: 0, count: B * dIn)
        var reports: [EpochReport] = []
        for epoch in 0..<config.epochs {
            let started = Date()
            // Fisher-Yates with the project's generator (deterministic across platforms).
            for i in stride(from: order.count - 1, to: 0, by: -1) {
                let j = Int(rng.next() % UInt64(i + 1))
                order.swapAt(i, j)
            }
            var firedInEpoch = [Bool](repeating: false, count: dSAE)
            var totals = (mse: 0.0, aux: 0.0, sparsity: 0.0, active: 0, residual: 0.0, centred: 0.0, tokens: 0)
            for s in 0..<stepsPerEpoch {
                let slice = order[(s * B)..<min((s + 1) * B, order.count)]
                let rows = slice.count
                batch.withUnsafeMutableBufferPointer { source.gather(slice, into: $0.baseAddress!) }
                cblas_sscal(Int32(rows * dIn), scale, &batch, 1)
                let lr = learningRate(step: step, totalSteps: totalSteps)
                let loss = batch.withUnsafeBufferPointer {
                    trainStep(UnsafeBufferPointer(rebasing: $0[0..<(rows * dIn)]), rows: rows, learningRate: lr, firedInEpoch: &firedInEpoch)
                }
                totals.mse += loss.mse * Double(rows)
                totals.aux += loss.aux * Double(rows)
                totals.sparsity += loss.sparsity * Double(rows)
                totals.active += loss.activeEntries
                totals.residual += loss.residualSquares
                totals.centred += loss.centredSquares
                totals.tokens += rows
            }
            let n = Double(max(totals.tokens, 1))
            let r = EpochReport(
                epoch: epoch + 1, steps: stepsPerEpoch, tokens: totals.tokens, l0: Double(totals.active) / n,
                explainedVariance: totals.centred > 0 ? 1 - totals.residual / totals.centred : 0,
                deadFraction: Double(firedInEpoch.filter { !$0 }.count) / Double(dSAE),
                deadWindowFraction: Double(deadMask().filter { $0 }.count) / Double(dSAE),
                mse: totals.mse / n, auxLoss: totals.aux / n, sparsityLoss: totals.sparsity / n,
                seconds: Date().timeIntervalSince(started))
            reports.append(r)
            report(r)
        }
        return reports
    }

    /// The trained SAE for raw (unscaled) activations: the scale s folded in
    /// (`W_enc·s`, `W_dec/s`, `b_dec/s`), then decoder rows back to unit norm with the norms
    /// moved into the encoder, and for JumpReLU into θ (sae.md §6.3 step 6). Decoding raw x gives
    /// the same x̂ as training.
    public func exportSAE(layer: Int?, source: String = "pp-sae train") throws -> SparseAutoencoder {
        let S = dSAE, D = dIn
        var wEnc = [Float](repeating: 0, count: D * S)
        var bEnc = Array(parameters[biasEncoderOffset..<(biasEncoderOffset + S)])
        var wDec = Array(parameters[decoderOffset..<(decoderOffset + S * D)])
        var bDec = Array(parameters[biasDecoderOffset..<(biasDecoderOffset + D)])
        var threshold = thresholds
        // Centring folded into the encoder bias: (x − b_dec)·W_enc + b_enc = x·W_enc + (b_enc − b_dec·W_enc).
        if config.subtractDecoderBias {
            for j in 0..<S {
                var dot: Float = 0
                for d in 0..<D { dot += parameters[biasDecoderOffset + d] * parameters[j * D + d] }
                bEnc[j] -= dot
            }
        }
        for j in 0..<S { for d in 0..<D { wEnc[d * S + j] = parameters[j * D + d] * scale } }
        for i in 0..<wDec.count { wDec[i] /= scale }
        for d in 0..<D { bDec[d] /= scale }
        for j in 0..<S {
            var n: Float = 0
            for d in 0..<D { n += wDec[j * D + d] * wDec[j * D + d] }
            n = n.squareRoot()
            guard n > 0 else { continue }
            for d in 0..<D { wDec[j * D + d] /= n; wEnc[d * S + j] *= n }
            bEnc[j] *= n
            if !threshold.isEmpty { threshold[j] *= n }
        }
        let architecture: SAEArchitecture = config.architecture == .jumpReLU ? .jumpReLU : .topK(k: config.k)
        return try SparseAutoencoder(architecture: architecture, dIn: D, dSAE: S, wEnc: wEnc, bEnc: bEnc, threshold: threshold,
                                     wDec: wDec, bDec: bDec, layer: layer, source: source)
    }
}

/// Loads a float .npy array [tokens, d_in] as training rows.
public func loadNpyActivations(_ path: String) throws -> MatrixActivations {
    let file = try MappedFile(path: path)
    let array = try readNpyFloat(try file.bytes(at: 0, count: file.count, ".npy file"), what: path)
    guard array.shape.count == 2, array.shape[1] > 0 else {
        throw PlaypenError("\(path): expected a 2-d array [tokens, d_in], found shape \(array.shape)")
    }
    if let i = array.values.firstIndex(where: { !$0.isFinite }) {
        throw PlaypenError("\(path): non-finite activation at row \(i / array.shape[1])")
    }
    return MatrixActivations(dIn: array.shape[1], values: array.values)
}
