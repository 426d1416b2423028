import Foundation
import PlaypenIO

// ----------------------------------------------------------------------------------------------
// AdamW (torch.optim.AdamW semantics), learning-rate schedules (transformers), gradient clipping
// (torch.nn.utils.clip_grad_norm_).

/// AdamW hyper-parameters; defaults are torch's betas and eps with trl's weight decay 0.01.
public struct AdamWConfig: Codable, Equatable, Sendable {
    public var beta1: Double = 0.9
    public var beta2: Double = 0.999
    public var eps: Double = 1e-8
    public var weightDecay: Double = 0.01

    public init(beta1: Double = 0.9, beta2: Double = 0.999, eps: Double = 1e-8, weightDecay: Double = 0.01) {
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self.weightDecay = weightDecay
    }
}

/// AdamW state over one flat parameter buffer: first and second moments and the step count.
public final class AdamW: @unchecked Sendable {
    public let config: AdamWConfig
    public let m: FloatBuffer
    public let v: FloatBuffer
    public private(set) var step: Int

    public init(config: AdamWConfig, count: Int) {
        self.config = config
        m = FloatBuffer(count: count)
        v = FloatBuffer(count: count)
        step = 0
    }

    /// Restores a saved state (checkpoint resume).
    public init(config: AdamWConfig, m: FloatBuffer, v: FloatBuffer, step: Int) {
        precondition(m.count == v.count)
        self.config = config
        self.m = m
        self.v = v
        self.step = step
    }

    /// One update at learning rate `lr`, exactly the operation order of torch's single-tensor
    /// AdamW in fp32 (scalars formed in double, then applied as fp32):
    ///
    ///     p *= 1 − lr·wd;  m = m.lerp(g, 1−β1);  v = v·β2 + (1−β2)·g·g
    ///     p += −(lr / (1−β1ᵗ)) · m / (√v / √(1−β2ᵗ) + eps)
    public func update(params: FloatBuffer, grads: FloatBuffer, lr: Double) {
        precondition(params.count == m.count && grads.count == m.count)
        step += 1
        let t = Double(step)
        let decay = Float(1 - lr * config.weightDecay)
        let w1 = Float(1 - config.beta1)
        let b2 = Float(config.beta2)
        let w2 = Float(1 - config.beta2)
        let stepSize = Float(-(lr / (1 - pow(config.beta1, t))))
        let bc2Sqrt = Float((1 - pow(config.beta2, t)).squareRoot())
        let eps = Float(config.eps)
        let p = params.pointer, g = grads.pointer, mp = m.pointer, vp = v.pointer
        for i in 0..<m.count {
            let gi = g[i]
            var pi = p[i]
            if config.weightDecay != 0 { pi *= decay }
            let mi = mp[i] + w1 * (gi - mp[i])  // torch lerp with weight < 0.5
            let vi = vp[i] * b2 + w2 * gi * gi
            mp[i] = mi
            vp[i] = vi
            let denom = vi.squareRoot() / bc2Sqrt + eps
            p[i] = pi + stepSize * mi / denom
        }
    }
}

/// Global-norm clipping as torch's `clip_grad_norm_(max_norm)`: the total norm is the 2-norm
/// of the per-tensor 2-norms (each A and each B is one tensor), the gradients are multiplied by
/// min(1, max_norm / (total + 1e−6)). Returns the total norm before clipping.
@discardableResult
public func clipGradNorm(_ grads: FloatBuffer, layout: LoRALayout, maxNorm: Double) -> Double {
    var sumSquares = 0.0
    let r = layout.config.r
    for m in layout.modules {
        for (offset, count) in [(m.aOffset, r * m.inF), (m.bOffset, m.outF * r)] {
            var s = 0.0
            let g = grads.pointer + offset
            for i in 0..<count { s += Double(g[i]) * Double(g[i]) }
            let norm = Double(Float(s.squareRoot()))  // per-tensor norm is an fp32 tensor in torch
            sumSquares += norm * norm
        }
    }
    let total = Double(Float(sumSquares.squareRoot()))
    guard maxNorm > 0 else { return total }
    let coef = Float(min(maxNorm / (total + 1e-6), 1.0))
    let g = grads.pointer
    for i in 0..<grads.count { g[i] *= coef }
    return total
}

/// Learning-rate schedule types (transformers `get_scheduler` names).
public enum LRScheduleKind: String, Codable, CaseIterable, Sendable {
    case cosine, linear, constant
    case constantWithWarmup = "constant_with_warmup"
}

/// Step counts and the lr factor, as trl/transformers compute them.
public struct LRSchedule: Codable, Equatable, Sendable {
    public var kind: LRScheduleKind
    public var baseLR: Double
    public var warmupSteps: Int
    public var totalSteps: Int

    public init(kind: LRScheduleKind, baseLR: Double, warmupSteps: Int, totalSteps: Int) {
        self.kind = kind
        self.baseLR = baseLR
        self.warmupSteps = warmupSteps
        self.totalSteps = totalSteps
    }

    /// Trainer step counts: updates per epoch = ceil(ceil(N / batch) / accumulation), total =
    /// epochs × that (or `maxSteps` when > 0), warm-up = `warmupSteps` when > 0 else
    /// ceil(ratio · total).
    public static func trainer(
        kind: LRScheduleKind, baseLR: Double, rows: Int, batchSize: Int, accumulation: Int,
        epochs: Int, maxSteps: Int = 0, warmupRatio: Double = 0, warmupSteps: Int = 0
    ) -> LRSchedule {
        let total = maxSteps > 0 ? maxSteps : epochs * updatesPerEpoch(rows: rows, batchSize: batchSize, accumulation: accumulation)
        let warmup = warmupSteps > 0 ? warmupSteps : Int((warmupRatio * Double(total)).rounded(.up))
        return LRSchedule(kind: kind, baseLR: baseLR, warmupSteps: warmup, totalSteps: total)
    }

    public static func updatesPerEpoch(rows: Int, batchSize: Int, accumulation: Int) -> Int {
        let micro = (rows + batchSize - 1) / batchSize
        return max((micro + accumulation - 1) / accumulation, 1)
    }

    /// LambdaLR factor at 0-based optimizer step `step` (the lr used by update number step+1).
    public func factor(_ step: Int) -> Double {
        let s = Double(step), w = Double(warmupSteps), n = Double(totalSteps)
        switch kind {
        case .constant:
            return 1
        case .constantWithWarmup:
            return step < warmupSteps ? s / max(1, w) : 1
        case .linear:
            if step < warmupSteps { return s / max(1, w) }
            return max(0, (n - s) / max(1, n - w))
        case .cosine:
            if step < warmupSteps { return s / max(1, w) }
            let progress = (s - w) / max(1, n - w)
            return max(0, 0.5 * (1 + cos(Double.pi * 0.5 * 2 * progress)))
        }
    }

    public func lr(_ step: Int) -> Double { baseLR * factor(step) }
}
