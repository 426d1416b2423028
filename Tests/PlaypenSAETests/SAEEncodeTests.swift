import Foundation
import PlaypenIO
import Testing
@testable import PlaypenSAE

let saeFixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures/sae").path

func golden() throws -> [String: LoadedArray] { try readSafetensors(path: saeFixtures + "/golden.safetensors").tensors }

func goldenJSON() throws -> [String: Any] {
    try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: saeFixtures + "/golden.json"))) as! [String: Any]
}

func maxAbsDiff(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count, "length \(a.count) vs \(b.count)")
    return zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
}

/// Largest |a − b| / max(1, |b|): an absolute error for values up to 1, relative above, so a
/// statistic of ~160 (fp32 ulp 1.5e-5) is held to its precision rather than to an absolute
/// bound finer than its ulp.
func maxScaledDiff(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count, "length \(a.count) vs \(b.count)")
    return zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1) / max(1, abs($1.1))) }
}

/// The toy JumpReLU of sae.md §4.
func toySAE() throws -> SparseAutoencoder {
    try SparseAutoencoder(
        architecture: .jumpReLU, dIn: 3, dSAE: 4,
        wEnc: [1, -1, 0.5, 0, 0, 2, 0.5, 1, 1, 0, -1, 1], bEnc: [0, -0.5, 0.1, -2],
        threshold: [0.5, 0.5, 0.5, 0.5],
        wDec: [1, 0, 0, 0, 1, 0, 0, 0, 1, 0.5, 0.5, 0.5], bDec: [0.1, 0, -0.1])
}

let toyX: [Float] = [1, 1, 1, 0.2, 0.1, 0.3, 2, 0, -1, 0, 1, 2]

@Suite struct SAEEncodeTests {
    @Test func toyJumpReLUMatchesReferenceFixture() throws {
        let sae = try toySAE()
        let f = try sae.encode(toyX, tokens: 4)
        // sae.md §4: 0.5 is not > 0.5, so token 1 feature 0 stays inactive.
        let expected: [Float] = [2, 0, 0, 0, 0, 0, 0, 0, 1, 0, 2.1, 0, 2, 1.5, 0, 1]
        #expect(maxAbsDiff(f, expected) < 1e-6)
        // Decode = f·W_dec + b_dec.
        let xhat = sae.decode(f, tokens: 4)
        #expect(maxAbsDiff(Array(xhat[0..<3]), [2.1, 0, -0.1]) < 1e-6)
        #expect(maxAbsDiff(Array(xhat[9..<12]), [2.6, 2.0, 0.4]) < 1e-6)
    }

    /// Unpacked (sgemm, as training encodes) and packed (the panel kernel, as extraction does).
    @Test(arguments: [false, true]) func jumpReLUOnSyntheticGemmaScope2MatchesNumpy(packed: Bool) throws {
        let g = try golden()
        var sae = try SparseAutoencoder.load(path: saeFixtures + "/gs2")
        if packed {
            sae.packEncoder()
            sae.packEncoder()  // packing twice (a tool, then runExtraction) keeps the one packed copy
        }
        #expect(sae.isEncoderPacked == packed)
        #expect(sae.architecture == .jumpReLU && sae.dIn == 64 && sae.dSAE == 256 && sae.layer == 3)
        let x = g["x"]!
        let codes = try sae.encode(x.values, tokens: x.shape[0])
        let expected = g["codes_jumprelu"]!.values
        #expect(maxAbsDiff(codes, expected) < 2e-4)
        // Same active set exactly (thresholds sit at least 2e-3 from every pre-activation).
        #expect(zip(codes, expected).allSatisfy { ($0 > 0) == ($1 > 0) })
        let l0 = Double(codes.filter { $0 > 0 }.count) / Double(x.shape[0])
        #expect(abs(l0 - (try goldenJSON()["mean_l0_jumprelu"] as! Double)) < 1e-9)
        // a changed W_enc drops the packed copy: zero weights leave b_enc where it passes the threshold
        sae.wEnc = [Float](repeating: 0, count: sae.wEnc.count)
        #expect(!sae.isEncoderPacked)
        let biasOnly = try sae.encode(Array(x.values[0..<sae.dIn]), tokens: 1)
        #expect(biasOnly == zip(sae.bEnc, sae.threshold).map { $0 > $1 ? $0 : 0 })
    }

    @Test func gemmaScope1StoredAndDeflatedLoadTheSameWeights() throws {
        let gs2 = try SparseAutoencoder.load(path: saeFixtures + "/gs2")
        for folder in ["gs1", "gs1_deflate"] {
            let path = saeFixtures + "/\(folder)/layer_3/width_256/average_l0_12/params.npz"
            let gs1 = try SparseAutoencoder.load(path: path)
            #expect(gs1.architecture == .jumpReLU && gs1.layer == 3)
            #expect(gs1.wEnc == gs2.wEnc && gs1.wDec == gs2.wDec && gs1.bEnc == gs2.bEnc)
            #expect(gs1.bDec == gs2.bDec && gs1.threshold == gs2.threshold)
        }
    }

    @Test(arguments: [false, true]) func saeLensTopKWithDecoderNormRescaleMatchesNumpy(packed: Bool) throws {
        let g = try golden()
        var sae = try SparseAutoencoder.load(path: saeFixtures + "/saelens_topk")
        if packed { sae.packEncoder() }
        #expect(sae.architecture == .topK(k: 8) && sae.applyBDecToInput && sae.rescaleActsByDecoderNorm && sae.layer == 3)
        let x = g["x"]!
        let codes = try sae.encode(x.values, tokens: x.shape[0])
        let expected = g["codes_topk"]!.values
        #expect(maxAbsDiff(codes, expected) < 5e-4)
        #expect(zip(codes, expected).allSatisfy { ($0 != 0) == ($1 != 0) })
        for t in 0..<x.shape[0] { #expect(codes[(t * 256)..<((t + 1) * 256)].filter { $0 != 0 }.count <= 8) }
    }

    @Test func reluEncodeAndTopKTiesPreferLowerIndex() throws {
        var sae = try toySAE()
        sae.architecture = .relu
        let f = try sae.encode(toyX, tokens: 4)
        #expect(maxAbsDiff(f, [2, 0.5, 0.1, 0, 0.5, 0, 0, 0, 1, 0, 2.1, 0, 2, 1.5, 0, 1]) < 1e-6)
        sae.architecture = .topK(k: 2)
        // Token 0: pre = [2, 0.5, 0.1, 0]; token 3: pre = [2, 1.5, -1.4, 1]; row 1: [0.5, -0.5, -0.05, -1.6]:
        // the second pick is -0.05 (index 2), which the ReLU zeroes: fewer than k non-zero.
        let t = try sae.encode(toyX, tokens: 4)
        #expect(maxAbsDiff(t, [2, 0.5, 0, 0, 0.5, 0, 0, 0, 1, 0, 2.1, 0, 2, 1.5, 0, 0]) < 1e-6)
        var selector = TopKSelector(capacity: 2)
        var row: [Float] = [1, 3, 3, 2, 3]
        row.withUnsafeMutableBufferPointer { selector.select($0, k: 2) }
        #expect(selector.indices == [1, 2])
    }

    @Test func saveAndReloadRoundTripsEveryTensor() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sae-roundtrip-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var sae = try SparseAutoencoder.load(path: saeFixtures + "/saelens_topk")
        sae.layer = 9
        try sae.save(directory: dir, modelName: "m", extra: ["activation_scale": 1.5])
        let back = try SparseAutoencoder.load(path: dir)
        #expect(back.architecture == .topK(k: 8) && back.applyBDecToInput && back.rescaleActsByDecoderNorm && back.layer == 9)
        #expect(back.wEnc == sae.wEnc && back.wDec == sae.wDec && back.bEnc == sae.bEnc && back.bDec == sae.bDec)
        #expect(back.config["activation_scale"] == "1.5")
    }
}
