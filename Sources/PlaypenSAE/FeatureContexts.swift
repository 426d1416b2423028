import Foundation

// Feature contexts: for each feature, the N highest-activating token positions over all samples,
// so the top features of a layer can be shown with the text around them.

/// One token position where a feature fired.
public struct ContextHit: Equatable, Sendable {
    /// Sample index (order of `add`), position in the sample's token sequence, activation.
    public var sample: Int
    public var position: Int
    public var activation: Float
}

/// Keeps, for every feature, its `perFeature` strongest hits. Order: activation descending, then
/// sample ascending, then position ascending, so the result does not depend on thread timing.
public struct FeatureContextCollector: Sendable {
    public let dSAE: Int
    public let perFeature: Int
    private var counts: [Int]
    private var hits: [ContextHit]

    public init(dSAE: Int, perFeature: Int) {
        self.dSAE = dSAE
        self.perFeature = perFeature
        counts = [Int](repeating: 0, count: dSAE)
        hits = [ContextHit](repeating: ContextHit(sample: 0, position: 0, activation: 0), count: dSAE * max(perFeature, 0))
    }

    @inline(__always) private static func before(_ a: ContextHit, _ b: ContextHit) -> Bool {
        a.activation > b.activation || (a.activation == b.activation && (a.sample < b.sample || (a.sample == b.sample && a.position < b.position)))
    }

    /// Adds one sample's active entries. `positionOffset` maps a statistics position back to the
    /// token sequence (1 when BOS was excluded from the statistics, else 0).
    public mutating func add(sample: Int, codes: SparseCodes, positionOffset: Int = 0) {
        guard perFeature > 0 else { return }
        for i in 0..<codes.count {
            let j = Int(codes.feature[i])
            let hit = ContextHit(sample: sample, position: Int(codes.token[i]) + positionOffset, activation: codes.value[i])
            let base = j * perFeature
            var n = counts[j]
            if n == perFeature {
                guard Self.before(hit, hits[base + n - 1]) else { continue }
                n -= 1
            } else {
                counts[j] += 1
            }
            // Insertion into the sorted slot list.
            var k = n
            while k > 0 && Self.before(hit, hits[base + k - 1]) { hits[base + k] = hits[base + k - 1]; k -= 1 }
            hits[base + k] = hit
        }
    }

    public func hits(feature j: Int) -> [ContextHit] {
        Array(hits[(j * perFeature)..<(j * perFeature + counts[j])])
    }
}

/// A hit rendered with its text: the token and a window of decoded text on either side.
public struct FeatureContext: Equatable, Sendable {
    public var featureId: Int
    public var activation: Float
    public var sample: Int
    public var position: Int
    public var tokenId: Int32
    public var token: String
    public var before: String
    public var after: String
}

/// Renders the hits of `features` with `window` tokens of context on each side.
/// `tokens[s]` is sample s's token ids (as fed to the model); `decode` turns ids into text.
public func renderContexts(features: [Int], collector: FeatureContextCollector, tokens: [[Int32]], window: Int,
                           decode: ([Int32]) -> String) -> [[FeatureContext]] {
    features.map { j in
        collector.hits(feature: j).map { hit in
            let ids = tokens[hit.sample]
            let p = min(hit.position, ids.count - 1)
            let lo = max(0, p - window), hi = min(ids.count, p + 1 + window)
            return FeatureContext(
                featureId: j, activation: hit.activation, sample: hit.sample, position: p, tokenId: ids[p],
                token: decode([ids[p]]), before: decode(Array(ids[lo..<p])), after: decode(Array(ids[(p + 1)..<hi])))
        }
    }
}
