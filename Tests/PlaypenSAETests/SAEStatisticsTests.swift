import Foundation
import PlaypenIO
import Testing
@testable import PlaypenSAE

@Suite struct SAEStatisticsTests {
    @Test func tenStatisticsOfTheToyFixtureMatchTheOriginalTestVectors() throws {
        let sae = try toySAE()
        let f = try sae.encode(toyX, tokens: 4)
        let withBOS = SparseCodes(dense: f, tokens: 4, dSAE: 4).statistics()
        let expected: [Float] = [4, 0.375, 1.0, 1.6, 0.46547464, 2.1, 1.5, 1.1180340, 0.74535602, 0.33333334]
        #expect(maxAbsDiff(withBOS, expected) < 1e-6)
        let noBOS = SparseCodes(dense: f, tokens: 4, dSAE: 4, dropFirst: true).statistics()
        let expectedNoBOS: [Float] = [3, 0.41666666, 1.0, 1.52, 0.47074407, 2.1, 1.6666666, 1.2472192, 0.74833155, 0.28]
        #expect(maxAbsDiff(noBOS, expectedNoBOS) < 1e-6)
        #expect(sampleStatNames.count == 10 && sampleStatNames[9] == "feature_concentration_hhi")
    }

    @Test func nothingActiveGivesZerosExceptSeqLen() {
        let codes = SparseCodes(dense: [Float](repeating: 0, count: 12), tokens: 3, dSAE: 4)
        #expect(codes.statistics() == [3, 0, 0, 0, 0, 0, 0, 0, 0, 0])
        #expect(codes.featureActivationMean() == [0, 0, 0, 0])
        #expect(codes.featurePresence() == [false, false, false, false])
    }

    /// Codes of a 16k SAE large enough that the cores scan runs of tokens each: the joined entries
    /// are exactly those of the definition (A[t,j] > τ, in token then feature order).
    @Test func scanInPartsFindsEveryActiveEntryInOrder() {
        let (T, width) = (80, 16384)
        var state: UInt64 = 7
        var dense = [Float](repeating: 0, count: T * width)
        for i in dense.indices {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            switch state >> 54 {
            case 0: dense[i] = Float(state >> 40 & 0xFFF) / 1024  // about 1 in 1,024 entries active
            case 1: dense[i] = 0.5                                   // exactly at the τ tried below
            case 2: dense[i] = -1
            default: break
            }
        }
        for threshold: Float in [0, 0.5] {
            for dropFirst in [false, true] {
                let codes = SparseCodes(dense: dense, tokens: T, dSAE: width, threshold: threshold, dropFirst: dropFirst)
                var token: [Int32] = [], feature: [Int32] = [], value: [Float] = []
                for t in (dropFirst ? 1 : 0)..<T {
                    for j in 0..<width where dense[t * width + j] > threshold {
                        token.append(Int32(t - (dropFirst ? 1 : 0)))
                        feature.append(Int32(j))
                        value.append(dense[t * width + j])
                    }
                }
                #expect(token.count > 500)
                #expect(codes.tokens == T - (dropFirst ? 1 : 0))
                #expect(codes.token == token && codes.feature == feature && codes.value == value)
            }
        }
    }

    @Test func statisticsOnSyntheticCodesMatchNumpy() throws {
        let g = try golden()
        let lengths = try goldenJSON()["lengths"] as! [Int]
        let codes = g["codes_jumprelu"]!.values
        var start = 0
        for (s, T) in lengths.enumerated() {
            let dense = Array(codes[(start * 256)..<((start + T) * 256)])
            start += T
            let row = { (name: String) in Array(g[name]!.values[(s * 10)..<((s + 1) * 10)]) }
            let a = SparseCodes(dense: dense, tokens: T, dSAE: 256)
            #expect(maxAbsDiff(a.statistics(), row("stats")) < 2e-6 * 10)
            #expect(maxAbsDiff(SparseCodes(dense: dense, tokens: T, dSAE: 256, dropFirst: true).statistics(), row("stats_no_bos")) < 2e-5)
            #expect(maxAbsDiff(SparseCodes(dense: dense, tokens: T, dSAE: 256, threshold: 0.5).statistics(), row("stats_tau_0_5")) < 2e-5)
            let mean = Array(g["feature_activation_mean"]!.values[(s * 256)..<((s + 1) * 256)])
            #expect(maxAbsDiff(a.featureActivationMean(), mean) < 1e-5)
        }
    }

    @Test func layerSummaryRankingMatchesNumpyForEveryMetric() throws {
        let g = try golden()
        let json = try goldenJSON()
        let lengths = json["lengths"] as! [Int]
        let codes = g["codes_jumprelu"]!.values
        for dropBOS in [false, true] {
            var summary = LayerSummary(dSAE: 256)
            var start = 0
            for T in lengths {
                summary.add(SparseCodes(dense: Array(codes[(start * 256)..<((start + T) * 256)]), tokens: T, dSAE: 256, dropFirst: dropBOS))
                start += T
            }
            #expect(summary.numActiveFeatures == json[dropBOS ? "num_active_features_no_bos" : "num_active_features"] as! Int)
            let top = json[dropBOS ? "top_no_bos" : "top"] as! [String: [[String: Any]]]
            for metric in RankingMetric.allCases {
                for minCount in [10, 1000] {
                    let expected = top["\(metric.rawValue)/\(minCount)"]!
                    let got = summary.topFeatures(metric: metric, minTokenCount: minCount, limit: 20)
                    #expect(got.map(\.featureId) == expected.map { $0["feature_id"] as! Int }, "\(metric) \(minCount)")
                    for (a, b) in zip(got, expected) {
                        #expect(a.tokenCount == Int64(b["token_count"] as! Int) && a.promptCount == Int64(b["prompt_count"] as! Int))
                        #expect(abs(a.totalActivation - (b["total_activation"] as! Double)) < 1e-4)
                        #expect(abs(a.maxActivation - (b["max_activation"] as! Double)) < 1e-5)
                        #expect(abs(a.meanActivationWhenActive - (b["mean_activation_when_active"] as! Double)) < 1e-5)
                    }
                }
            }
        }
    }

    @Test func featureContextsKeepTheStrongestHitsInOrder() {
        // Two samples, d_sae 2; feature 0 fires at several positions.
        let s0 = SparseCodes(dense: [3, 0, 1, 0, 5, 1, 3, 0], tokens: 4, dSAE: 2)
        let s1 = SparseCodes(dense: [3, 0, 4, 2], tokens: 2, dSAE: 2)
        var collector = FeatureContextCollector(dSAE: 2, perFeature: 3)
        collector.add(sample: 0, codes: s0)
        collector.add(sample: 1, codes: s1)
        #expect(collector.hits(feature: 0) == [
            ContextHit(sample: 0, position: 2, activation: 5), ContextHit(sample: 1, position: 1, activation: 4),
            ContextHit(sample: 0, position: 0, activation: 3),
        ])
        #expect(collector.hits(feature: 1).map(\.activation) == [2, 1])
        let tokens: [[Int32]] = [[10, 11, 12, 13], [20, 21]]
        let rendered = renderContexts(features: [0], collector: collector, tokens: tokens, window: 1) { ids in
            ids.map { "<\($0)>" }.joined()
        }
        #expect(rendered[0][0].token == "<12>" && rendered[0][0].before == "<11>" && rendered[0][0].after == "<13>")
        #expect(rendered[0][1].before == "<20>" && rendered[0][1].after == "")
    }
}
