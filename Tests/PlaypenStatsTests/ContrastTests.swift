import Foundation
import PlaypenIO
import Testing
@testable import PlaypenStats

/// A fresh copy of the end-to-end fixture (scores + two SAE directories) in a temporary directory.
func e2eCopy() throws -> String {
    let dir = NSTemporaryDirectory() + "pp-contrast-test-\(getpid())-\(UUID().uuidString.prefix(8))"
    try FileManager.default.copyItem(atPath: contrastFixtures.appendingPathComponent("e2e").path, toPath: dir)
    return dir
}

func e2eOptions(_ dir: String) -> ContrastOptions {
    var o = ContrastOptions(scoresPath: dir + "/scores.jsonl", saeSpecs: [dir + "/layer_3", dir + "/layer_5"])
    o.topK = 20
    o.residualizeSeqLen = true
    o.testFraction = 0.25
    o.bootstrap = 200
    o.permutations = 200
    o.threads = 2
    return o
}

func expectError(_ options: ContrastOptions, containing words: [String], sourceLocation: SourceLocation = #_sourceLocation) {
    do {
        _ = try runContrast(options)
        Issue.record("expected an error containing \(words)", sourceLocation: sourceLocation)
    } catch let error as PlaypenError {
        for w in words {
            #expect(error.message.contains(w), "\(error.message) lacks '\(w)'", sourceLocation: sourceLocation)
        }
        #expect(!error.message.contains("\n"), sourceLocation: sourceLocation)
    } catch {
        Issue.record("unexpected error type: \(error)", sourceLocation: sourceLocation)
    }
}

@Suite struct ContrastTests {
    /// The whole contrast on a small input against scikit-learn and SciPy: labels (top-k of the
    /// seq_len residuals, ties by index), the grouped split, both models, AUCs, Cohen's d, and
    /// every tested feature's table, Fisher p and BH q; the second layer lists its rows in a
    /// different order, so the join by row_id is exercised too.
    @Test func endToEndMatchesReference() throws {
        let dir = try e2eCopy()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let expected = try loadFixture("e2e_expected.json")
        let result = try runContrast(e2eOptions(dir))
        #expect(result.n == 160 && result.k == 20)
        #expect(result.topOrder == ints(expected["top"]))
        expectClose([result.residualization!.slope], [double(expected["slope"])], rtol: 1e-9, "slope")
        #expect(result.split.train == ints(expected["train"]) && result.split.test == ints(expected["test"]))
        #expect(result.split.testGroups == (expected["test_groups"] as! [String]))
        let base = expected["baseline"] as! [String: Any]
        expectClose(result.baseline.model.coefficients + [result.baseline.model.intercept],
                    doubles(base["coef"]) + [double(base["intercept"])], rtol: 1e-6, floor: 1e-6, "baseline")
        expectClose([result.baseline.testAUC], [double(base["test_auc"])], rtol: 1e-12, "baseline AUC")
        for (layer, e) in zip(result.layers, expected["layers"] as! [[String: Any]]) {
            #expect(layer.name == e["name"] as! String)
            expectClose(layer.model.model.coefficients + [layer.model.model.intercept],
                        doubles(e["coef"]) + [double(e["intercept"])], rtol: 1e-6, floor: 1e-6, "\(layer.name) coef")
            expectClose([layer.model.trainAUC, layer.model.testAUC, layer.model.fullAUC],
                        [double(e["train_auc"]), double(e["test_auc"]), double(e["full_auc"])], rtol: 1e-12, "\(layer.name) AUC")
            let d = e["cohen_d"] as! [Any]
            for (j, effect) in layer.effectSizes.enumerated() {
                if d[j] is NSNull { #expect(effect.d == nil && effect.constant) } else {
                    expectClose([effect.d!], [double(d[j])], rtol: 1e-9, "\(layer.name) d[\(j)]")
                }
            }
            let features = e["features"] as! [[String: Any]]
            #expect(layer.tested.map(\.feature) == features.map { ($0["feature"] as! NSNumber).intValue })
            #expect(layer.neverPresent == 1 && layer.alwaysPresent == 1)
            for (f, g) in zip(layer.tested, features) {
                #expect([f.a, f.b, f.c, f.d] == ["a", "b", "c", "d"].map { (g[$0] as! NSNumber).intValue })
                expectClose([exp(f.logP), exp(f.logQ)], [double(g["p"]), double(g["q"])], rtol: 1e-9, "feature \(f.feature)")
            }
            let significant = layer.tested.filter { $0.logQ < log(0.05) }.count
            #expect(significant == (e["n_significant_q05"] as! NSNumber).intValue && significant > 0)
            // The constant statistic: scale 1, coefficient exactly 0.
            #expect(layer.model.scaler.constant[4] && layer.model.model.coefficients[4] == 0)
            #expect(layer.model.testCI.lower <= layer.model.testAUC && layer.model.testAUC <= layer.model.testCI.upper)
        }
        #expect(result.notes.contains { $0.contains("constant on the training rows") && $0.contains("stat_4") })
    }

    /// Same inputs and seed give byte-identical JSON and HTML; the JSON follows its schema.
    @Test func deterministicAndSchemaValid() throws {
        let dir = try e2eCopy()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let a = try runContrast(e2eOptions(dir)), b = try runContrast(e2eOptions(dir))
        let ja = prettyJSON(try a.reportJSON()), jb = prettyJSON(try b.reportJSON())
        #expect(ja == jb)
        var oneThread = e2eOptions(dir)
        oneThread.threads = 1
        #expect(prettyJSON(try runContrast(oneThread).reportJSON()) == ja)
        #expect(a.reportHTML() == b.reportHTML())
        let schemaURL = contrastFixtures.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("schemas/contrast-report.schema.json")
        let schema = try JSONValue.parse(try Data(contentsOf: schemaURL))
        var options = e2eOptions(dir)
        options.allFeatures = true
        for report in [try a.reportJSON(), try runContrast(options).reportJSON()] {
            let reparsed = try JSONValue.parse(prettyJSON(report))
            #expect(reparsed == report)
            let errors = SchemaValidator(root: schema).validate(reparsed)
            #expect(errors.isEmpty, "\(errors.prefix(5))")
        }
        // The validator does catch violations.
        var broken = try a.reportJSON().object!
        broken = JSONObject(broken.pairs.filter { $0.0 != "labels" } + [("extra", .int(1))])
        #expect(SchemaValidator(root: schema).validate(.object(broken)).count == 2)
        // A different seed gives a different split.
        var other = e2eOptions(dir)
        other.seed = 7
        #expect(try runContrast(other).split != a.split)
    }

    @Test func stratifiedAndQuantileLabels() throws {
        let dir = try e2eCopy()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var o = e2eOptions(dir)
        o.topK = nil
        o.quantile = 0.9  // k = ceil(0.1 · 160) = 16
        o.split = .stratified
        o.residualizeSeqLen = false
        let r = try runContrast(o)
        #expect(r.k == 16)
        #expect(r.split.test.filter { r.labels[$0] == 1 }.count == 4)  // round(0.25 · 16)
        #expect(r.split.test.count == 4 + 36)  // round(0.25 · 144)
        let scores = r.scores.map(\.score)
        // Labels follow the raw scores: every top row scores at least as high as every other row.
        let minTop = r.topOrder.map { scores[$0] }.min()!
        #expect((0..<r.n).allSatisfy { r.labels[$0] == 1 || scores[$0] <= minTop })
        // Row 7 ties row 3 exactly; the tie is reported wherever it falls.
        #expect(r.tiesAtK >= 1 && r.tiesAtKInTop >= 1)
    }

    @Test func badInputsGiveClearErrors() throws {
        let dir = try e2eCopy()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var o = e2eOptions(dir)
        o.topK = 500
        expectError(o, containing: ["--top-k 500", "larger than", "160"])
        o.topK = 160
        expectError(o, containing: ["only one class"])
        o.topK = nil
        o.quantile = 1e-9
        expectError(o, containing: ["only one class"])

        let scoresPath = dir + "/scores.jsonl"
        let original = try String(contentsOfFile: scoresPath, encoding: .utf8)
        var lines = original.split(separator: "\n").map(String.init)
        func withScores(_ text: String, _ words: [String]) throws {
            try text.write(toFile: scoresPath, atomically: true, encoding: .utf8)
            expectError(e2eOptions(dir), containing: words)
        }
        try withScores(lines.dropLast().joined(separator: "\n") + "\n", ["do not hold the same rows", "159 scores vs 160"])
        try withScores(lines.joined(separator: "\n").replacingOccurrences(of: "\"row0003\"", with: "\"rowX\"") + "\n",
                       ["do not hold the same rows", "row0003"])
        try withScores(lines.joined(separator: "\n") + "\n" + lines[0] + "\n", ["duplicate row_id row0000"])
        lines[5] = "{\"row_id\": \"row0005\", \"index\": 5, \"score\": null, \"rank\": 9}"
        try withScores(lines.joined(separator: "\n") + "\n", ["scores.jsonl:6", "row0005", "null"])
        lines[5] = "{\"row_id\": \"row0005\", \"index\": 5, \"score\": NaN, \"rank\": 9}"
        try withScores(lines.joined(separator: "\n") + "\n", ["scores.jsonl:6"])
        try original.write(toFile: scoresPath, atomically: true, encoding: .utf8)

        // A presence byte that is not 0/1.
        let presencePath = dir + "/layer_5/feature_presence.npy"
        var presence = try Npy.read(path: presencePath)
        presence = try NpyArray(dtype: .uint8, shape: presence.shape, bytes: presence.bytes)
        presence.bytes[77] = 2
        try Npy.write(presence, to: presencePath)
        expectError(e2eOptions(dir), containing: ["feature_presence.npy", "0 or 1"])

        // sample_stats with the wrong row count.
        try Npy.write(try NpyArray(floats: [Float](repeating: 1, count: 10 * 6), shape: [10, 6]), to: dir + "/layer_3/sample_stats.npy")
        expectError(e2eOptions(dir), containing: ["sample_stats.npy", "expected [160, 6]"])
    }

    @Test func groupedSplitNeedsTaskIDs() throws {
        let dir = try e2eCopy()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/layer_3/examples.jsonl"
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let stripped = text.replacingOccurrences(of: #""task_id": "[0-9]+", "#, with: "", options: .regularExpression)
        try stripped.write(toFile: path, atomically: true, encoding: .utf8)
        expectError(e2eOptions(dir), containing: ["task_id", "--split stratified"])
        var o = e2eOptions(dir)
        o.split = .stratified
        #expect(try runContrast(o).k == 20)
    }

    /// Presence counting against a plain loop, with a width that is not a multiple of 8 and more
    /// rows than one 255-row block, on several threads.
    @Test func presenceCountsMatchPlainLoop() throws {
        let n = 700, d = 37
        var rng = SeededGenerator(seed: 5)
        let bytes = (0..<(n * d)).map { _ in UInt8(rng.below(3) == 0 ? 1 : 0) }
        let path = NSTemporaryDirectory() + "pp-contrast-presence-\(getpid()).npy"
        defer { unlink(path) }
        try Npy.write(try NpyArray(dtype: .bool, shape: [n, d], bytes: bytes), to: path)
        let positive = (0..<n).filter { $0 % 9 == 2 }
        for threads in [1, 3] {
            let (total, top) = try presenceCounts(try MappedNpy(path: path), positiveRows: positive, threads: threads)
            for j in 0..<d {
                #expect(total[j] == (0..<n).reduce(0) { $0 + Int(bytes[$1 * d + j]) })
                #expect(top[j] == positive.reduce(0) { $0 + Int(bytes[$1 * d + j]) })
            }
        }
    }
}
