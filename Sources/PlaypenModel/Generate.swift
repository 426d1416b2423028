import Foundation
import PlaypenIO

/// Decoding settings. `temperature == 0` is greedy (argmax, lowest id on ties).
public struct GenerationOptions: Sendable {
    public var maxNewTokens: Int
    public var temperature: Float
    public var topP: Float
    public var seed: UInt64
    /// Generation stops after emitting one of these (it is included in the output).
    public var stopTokens: Set<Int>

    public init(maxNewTokens: Int = 64, temperature: Float = 0, topP: Float = 1, seed: UInt64 = 0,
                stopTokens: Set<Int> = [1, GemmaTokenizer.endOfTurn]) {
        self.maxNewTokens = maxNewTokens
        self.temperature = temperature
        self.topP = topP
        self.seed = seed
        self.stopTokens = stopTokens
    }
}

/// SplitMix64: small, seedable, platform-independent.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in [0, 1) with 53 bits.
    public mutating func nextUnit() -> Double { Double(next() >> 11) * 0x1p-53 }
}

extension GemmaModel {
    /// Generates up to `maxNewTokens` after `prompt` with a KV cache; returns only the new ids.
    /// `onToken` sees each new id as it is produced (for streaming).
    public func generate(prompt: [Int], options: GenerationOptions = GenerationOptions(),
                         onToken: ((Int) -> Void)? = nil) throws -> [Int] {
        guard !prompt.isEmpty else { throw PlaypenError("generate: the prompt is empty") }
        let cache = KVCache(config: config, capacity: prompt.count + options.maxNewTokens)
        var rng = SplitMix64(seed: options.seed)
        var logits = try forward(prompt, cache: cache, options: ForwardOptions(logitPositions: [prompt.count - 1])).logits
        var out: [Int] = []
        while out.count < options.maxNewTokens {
            let next = Self.sample(logits, temperature: options.temperature, topP: options.topP, rng: &rng)
            out.append(next)
            onToken?(next)
            if options.stopTokens.contains(next) || out.count == options.maxNewTokens { break }
            logits = try forward([next], cache: cache, options: ForwardOptions(logitPositions: [0])).logits
        }
        return out
    }

    /// Greedy argmax when temperature is 0; otherwise softmax(logits / T) restricted to the
    /// smallest set of top tokens whose mass reaches `topP`, sampled with `rng`.
    public static func sample(_ logits: [Float], temperature: Float, topP: Float, rng: inout SplitMix64) -> Int {
        if temperature <= 0 {
            var best = 0
            for i in 1..<logits.count where logits[i] > logits[best] { best = i }
            return best
        }
        var mx = -Float.infinity
        for l in logits { mx = max(mx, l) }
        var probs = [Double](repeating: 0, count: logits.count)
        var sum = 0.0
        for i in logits.indices {
            let e = exp(Double(logits[i] - mx) / Double(temperature))
            probs[i] = e
            sum += e
        }
        var order = Array(logits.indices)
        if topP < 1 {
            order.sort { probs[$0] != probs[$1] ? probs[$0] > probs[$1] : $0 < $1 }
            var cum = 0.0, keep = 0
            for i in order {
                cum += probs[i] / sum
                keep += 1
                if cum >= Double(topP) { break }
            }
            order = Array(order.prefix(keep))
        }
        var mass = 0.0
        for i in order { mass += probs[i] }
        var u = rng.nextUnit() * mass
        for i in order {
            u -= probs[i]
            if u < 0 { return i }
        }
        return order.last!
    }
}
