import Foundation
import PlaypenIO

/// A finite number as JSON; a non-finite value is a bug upstream and is refused rather than
/// silently written as null or NaN.
func num(_ value: Double, _ what: @autoclosure () -> String) throws -> JSONValue {
    guard value.isFinite else { throw PlaypenError("internal: \(what()) is not finite (\(value)); refusing to write it") }
    return .double(value)
}

func optionalNum(_ value: Double?, _ what: @autoclosure () -> String) throws -> JSONValue {
    guard let value else { return .null }
    return try num(value, what())
}

/// -log10 of a natural-log probability.
func negLog10(_ logValue: Double) -> Double { logValue == 0 ? 0 : -logValue / M_LN10 }

public let contrastReportVersion = 1

extension ContrastResult {
    /// Enriched (LOR > 0) or depleted (LOR < 0) tested features, by q ascending, then |LOR|
    /// descending, then feature id.
    func ranked(_ layer: LayerResult, enriched: Bool) -> [FeatureEnrichment] {
        layer.tested.filter { enriched ? $0.lor > 0 : $0.lor < 0 }.sorted {
            if $0.logQ != $1.logQ { return $0.logQ < $1.logQ }
            if abs($0.lor) != abs($1.lor) { return abs($0.lor) > abs($1.lor) }
            return $0.feature < $1.feature
        }
    }

    func featureJSON(_ f: FeatureEnrichment) throws -> JSONValue {
        let q = exp(f.logQ), p = exp(f.logP)
        return .object(JSONObject([
            ("feature", .int(f.feature)), ("a", .int(f.a)), ("b", .int(f.b)), ("c", .int(f.c)), ("d", .int(f.d)),
            ("rate_top", try num(f.rateTop, "rate_top")), ("rate_rest", try num(f.rateRest, "rate_rest")),
            ("delta_rate", try num(f.rateTop - f.rateRest, "delta_rate")),
            ("lift", try num((f.rateTop + 1e-8) / (f.rateRest + 1e-8), "lift")),
            ("lor", try num(f.lor, "lor")), ("se", try num(f.se, "se")),
            ("p_fisher", try num(p, "p")), ("neg_log10_p", try num(negLog10(f.logP), "-log10 p")),
            ("q_bh", try num(q, "q")), ("neg_log10_q", try num(negLog10(f.logQ), "-log10 q")),
            ("direction", .string(f.lor > 0 ? "enriched" : (f.lor < 0 ? "depleted" : "none"))),
        ]))
    }

    func modelJSON(_ m: ModelResult) throws -> JSONValue {
        let order = m.features.indices.sorted {
            abs(m.model.coefficients[$0]) > abs(m.model.coefficients[$1])
                || (abs(m.model.coefficients[$0]) == abs(m.model.coefficients[$1]) && $0 < $1)
        }
        let coefficients: [JSONValue] = try order.map { j in
            .object(JSONObject([
                ("feature", .string(m.features[j])),
                ("coef", try num(m.model.coefficients[j], "coef")), ("abs_coef", try num(abs(m.model.coefficients[j]), "coef")),
                ("train_mean", try num(m.scaler.mean[j], "mean")), ("train_scale", try num(m.scaler.scale[j], "scale")),
                ("constant", .bool(m.scaler.constant[j])),
            ]))
        }
        return .object(JSONObject([
            ("features", .array(m.features.map { .string($0) })),
            ("solver", "newton"), ("iterations", .int(m.model.iterations)), ("converged", .bool(m.model.converged)),
            ("class_weights", .array(try m.model.classWeights.map { try num($0, "class weight") })),
            ("intercept", try num(m.model.intercept, "intercept")),
            ("coefficients", .array(coefficients)),
            ("train_auc", try num(m.trainAUC, "train AUC")), ("test_auc", try num(m.testAUC, "test AUC")),
            ("full_auc", try num(m.fullAUC, "full AUC")),
            ("test_auc_ci", .object(JSONObject([
                ("lower", try num(m.testCI.lower, "CI")), ("upper", try num(m.testCI.upper, "CI")),
                ("level", 0.95), ("replicates", .int(m.testCI.replicates)),
                ("method", "stratified percentile bootstrap"),
            ]))),
            ("test_auc_permutation_p", .object(JSONObject([
                ("p", try num(m.permutationP, "permutation p")), ("permutations", .int(options.permutations)),
                ("alternative", "greater"),
            ]))),
        ]))
    }

    /// The JSON report (schema: schemas/contrast-report.schema.json).
    public func reportJSON() throws -> JSONValue {
        let o = options
        let config = JSONObject([
            ("scores", .string(o.scoresPath)), ("sae", .array(o.saeSpecs.map { .string($0) })),
            ("top_k", o.topK.map { .int($0) } ?? .null), ("quantile", try optionalNum(o.quantile, "quantile")),
            ("residualize", .string(o.residualizeSeqLen ? "seq_len" : "none")),
            ("split", .string(o.split.rawValue)), ("test_fraction", try num(o.testFraction, "test fraction")),
            ("seed", .int(Int(truncatingIfNeeded: o.seed))), ("bootstrap", .int(o.bootstrap)),
            ("permutations", .int(o.permutations)), ("top_features", .int(o.topFeatures)),
            ("all_features", .bool(o.allFeatures)),
        ])
        let nTrainTop = split.train.reduce(0) { $0 + Int(labels[$1]) }
        let nTestTop = split.test.reduce(0) { $0 + Int(labels[$1]) }
        var splitObject = JSONObject([
            ("kind", .string(o.split.rawValue)), ("n_train", .int(split.train.count)), ("n_test", .int(split.test.count)),
            ("n_train_top", .int(nTrainTop)), ("n_test_top", .int(nTestTop)),
        ])
        if o.split == .grouped {
            splitObject = JSONObject(Array(splitObject.pairs) + [
                ("group_key", "experiment::task_id"), ("draws", .int(split.draws)),
                ("n_train_groups", .int(split.trainGroups.count)), ("n_test_groups", .int(split.testGroups.count)),
                ("test_groups", .array(split.testGroups.map { .string($0) })),
            ])
        }
        var layersJSON = [JSONValue]()
        var summary = [JSONValue]()
        for layer in layers {
            let effects: [JSONValue] = try layer.effectSizes.sorted {
                abs($0.d ?? -1) > abs($1.d ?? -1)
            }.map { e in
                .object(JSONObject([
                    ("feature", .string(e.name)), ("top_mean", try num(e.topMean, "mean")), ("rest_mean", try num(e.restMean, "mean")),
                    ("top_minus_rest", try num(e.topMean - e.restMean, "difference")),
                    ("cohen_d", try optionalNum(e.d, "cohen d")), ("cohen_d_train", try optionalNum(e.dTrain, "cohen d")),
                    ("constant", .bool(e.constant)),
                ]))
            }
            let enriched = ranked(layer, enriched: true), depleted = ranked(layer, enriched: false)
            let significant = layer.tested.filter { $0.logQ < log(0.05) }
            let nEnriched = significant.filter { $0.lor > 0 }.count
            var enrichment = JSONObject([
                ("test", "Fisher exact two-sided; Benjamini-Hochberg over the tested features"),
                ("n_features", .int(layer.dSAE)), ("n_tested", .int(layer.tested.count)),
                ("n_never_present", .int(layer.neverPresent)), ("n_always_present", .int(layer.alwaysPresent)),
                ("n_significant_q05", .int(significant.count)), ("n_enriched_q05", .int(nEnriched)),
                ("n_depleted_q05", .int(significant.count - nEnriched)),
                ("top_enriched", .array(try enriched.prefix(o.topFeatures).map(featureJSON))),
                ("top_depleted", .array(try depleted.prefix(o.topFeatures).map(featureJSON))),
            ])
            if o.allFeatures {
                enrichment = JSONObject(Array(enrichment.pairs) + [("features", .array(try layer.tested.map(featureJSON)))])
            }
            layersJSON.append(.object(JSONObject([
                ("name", .string(layer.name)), ("directory", .string(layer.directory)),
                ("sae_id", layer.saeID.map { .string($0) } ?? .null), ("layer", layer.layer.map { .int($0) } ?? .null),
                ("d_sae", .int(layer.dSAE)), ("stat_names", .array(layer.statNames.map { .string($0) })),
                ("model", try modelJSON(layer.model)), ("effect_sizes", .array(effects)),
                ("enrichment", .object(enrichment)),
            ])))
            summary.append(.object(JSONObject([
                ("name", .string(layer.name)), ("layer", layer.layer.map { .int($0) } ?? .null),
                ("train_auc", try num(layer.model.trainAUC, "auc")), ("test_auc", try num(layer.model.testAUC, "auc")),
                ("test_auc_lower", try num(layer.model.testCI.lower, "ci")), ("test_auc_upper", try num(layer.model.testCI.upper, "ci")),
                ("full_auc", try num(layer.model.fullAUC, "auc")), ("test_auc_permutation_p", try num(layer.model.permutationP, "p")),
                ("baseline_test_auc", try num(baseline.testAUC, "auc")),
                ("baseline_test_auc_lower", try num(baseline.testCI.lower, "ci")),
                ("baseline_test_auc_upper", try num(baseline.testCI.upper, "ci")),
                ("n_features_tested", .int(layer.tested.count)), ("n_significant_q05", .int(significant.count)),
            ])))
        }
        let topRows: [JSONValue] = try topOrder.prefix(1000).enumerated().map { (rank, i) in
            let e = examples[i]
            return .object(JSONObject([
                ("rank", .int(rank + 1)), ("index", .int(scores[i].index)), ("row_id", .string(scores[i].rowID)),
                ("task_id", e.taskID.map { .string($0) } ?? .null), ("outcome", e.outcome.map { .string($0) } ?? .null),
                ("score", try num(scores[i].score, "score")), ("label_value", try num(labelValues[i], "label value")),
            ]))
        }
        var labelsObject = JSONObject([
            ("method", .string(o.topK != nil ? "top_k" : "quantile")), ("source", .string(o.residualizeSeqLen ? "seq_len_residual" : "score")),
            ("k", .int(k)), ("kth_value", try num(kthValue, "kth value")),
            ("ties_at_k", .int(tiesAtK)), ("ties_at_k_in_top", .int(tiesAtKInTop)), ("tie_break", "lower row index first"),
        ])
        if let r = residualization {
            labelsObject = JSONObject(Array(labelsObject.pairs) + [("residualization", .object(JSONObject([
                ("regressor", "seq_len"), ("slope", try num(r.slope, "slope")), ("intercept", try num(r.intercept, "intercept")),
                ("r_squared", try num(r.rSquared, "r2")),
            ])))])
        }
        return .object(JSONObject([
            ("tool", "pp-contrast"), ("report_version", .int(contrastReportVersion)), ("config", .object(config)),
            ("n_samples", .int(n)), ("n_top", .int(k)), ("n_rest", .int(n - k)),
            ("labels", .object(labelsObject)), ("split", .object(splitObject)),
            ("baseline", try modelJSON(baseline)), ("layers", .array(layersJSON)), ("layer_summary", .array(summary)),
            ("top_rows", .array(topRows)), ("top_rows_truncated", .bool(k > 1000)),
            ("notes", .array(notes.map { .string($0) })),
        ]))
    }
}

/// Indented JSON (two spaces) for objects and arrays of objects; arrays of scalars stay on one line.
public func prettyJSON(_ value: JSONValue, indent: String = "") -> String {
    switch value {
    case .object(let o):
        if o.count == 0 { return "{}" }
        let inner = indent + "  "
        let body = o.pairs.map { (k, v) in inner + JSONValue.string(k).serialized() + ": " + prettyJSON(v, indent: inner) }
        return "{\n" + body.joined(separator: ",\n") + "\n" + indent + "}"
    case .array(let a):
        if a.isEmpty { return "[]" }
        if a.allSatisfy({ if case .object = $0 { return false }; if case .array = $0 { return false }; return true }) {
            return value.serialized(options: JSONWriteOptions(spaced: true))
        }
        let inner = indent + "  "
        return "[\n" + a.map { inner + prettyJSON($0, indent: inner) }.joined(separator: ",\n") + "\n" + indent + "]"
    default:
        return value.serialized()
    }
}
