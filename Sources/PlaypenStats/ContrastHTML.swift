import Foundation

// The self-contained HTML report: inline CSS and SVG, no scripts, no external assets.

func escapeHTML(_ s: String) -> String {
    var out = ""
    for ch in s {
        switch ch {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        default: out.append(ch)
        }
    }
    return out
}

/// Fixed formatting for figures in the report (deterministic, no locale).
func fmt(_ v: Double, _ digits: Int = 3) -> String {
    if v == 0 { return "0" }
    if abs(v) < 1e-3 || abs(v) >= 1e6 { return String(format: "%.\(max(1, digits - 1))e", v) }
    return String(format: "%.\(digits)f", v)
}

/// A probability for a table: two decimals down to 0.01, then scientific; below the double range
/// the exponent comes from the log value.
func fmtProbability(logValue: Double) -> String {
    let v = exp(logValue)
    if v >= 0.01 { return String(format: "%.2f", v) }
    if v > 0 { return String(format: "%.1e", v) }
    return "1e-\(Int((-logValue / M_LN10).rounded(.down)))"
}

let palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]

/// A linear x/y plot frame with axes, ticks and labels.
struct SVGPlot {
    var width = 460.0, height = 340.0
    var left = 56.0, right = 16.0, top = 28.0, bottom = 46.0
    var x0: Double, x1: Double, y0: Double, y1: Double
    var title: String, xLabel: String, yLabel: String
    var body = ""

    func px(_ x: Double) -> Double { left + (x - x0) / (x1 - x0) * (width - left - right) }
    func py(_ y: Double) -> Double { height - bottom - (y - y0) / (y1 - y0) * (height - top - bottom) }
    static func c(_ v: Double) -> String { String(format: "%.1f", v) }

    mutating func polyline(_ points: [(Double, Double)], color: String, width: Double = 2, dash: String? = nil) {
        let pts = points.map { "\(SVGPlot.c(px($0.0))),\(SVGPlot.c(py($0.1)))" }.joined(separator: " ")
        body += "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"\(width)\"\(dash.map { " stroke-dasharray=\"\($0)\"" } ?? "") points=\"\(pts)\"/>\n"
    }

    static func ticks(_ lo: Double, _ hi: Double, count: Int = 5) -> [Double] {
        let span = hi - lo
        guard span > 0 else { return [lo] }
        let raw = span / Double(count)
        let mag = pow(10, (log10(raw)).rounded(.down))
        let step = [1.0, 2, 2.5, 5, 10].map { $0 * mag }.first { $0 >= raw } ?? raw
        var t = (lo / step).rounded(.up) * step
        var out = [Double]()
        while t <= hi + step * 1e-9 { out.append(abs(t) < step * 1e-9 ? 0 : t); t += step }
        return out
    }

    func render(cssClass: String) -> String {
        var s = "<svg class=\"\(cssClass)\" xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" role=\"img\" aria-label=\"\(escapeHTML(title))\">\n"
        s += "<rect x=\"0\" y=\"0\" width=\"\(Int(width))\" height=\"\(Int(height))\" fill=\"#fff\"/>\n"
        s += "<text x=\"\(SVGPlot.c(width / 2))\" y=\"18\" text-anchor=\"middle\" font-size=\"14\" font-weight=\"bold\">\(escapeHTML(title))</text>\n"
        let fx = SVGPlot.c(left), fy = SVGPlot.c(top), fw = SVGPlot.c(width - left - right), fh = SVGPlot.c(height - top - bottom)
        s += "<rect x=\"\(fx)\" y=\"\(fy)\" width=\"\(fw)\" height=\"\(fh)\" fill=\"none\" stroke=\"#999\"/>\n"
        for t in SVGPlot.ticks(x0, x1) {
            let x = SVGPlot.c(px(t))
            s += "<line x1=\"\(x)\" y1=\"\(SVGPlot.c(height - bottom))\" x2=\"\(x)\" y2=\"\(SVGPlot.c(height - bottom + 4))\" stroke=\"#666\"/>"
            s += "<text x=\"\(x)\" y=\"\(SVGPlot.c(height - bottom + 16))\" text-anchor=\"middle\" font-size=\"11\">\(fmtTick(t))</text>\n"
        }
        for t in SVGPlot.ticks(y0, y1) {
            let y = SVGPlot.c(py(t))
            s += "<line x1=\"\(SVGPlot.c(left - 4))\" y1=\"\(y)\" x2=\"\(fx)\" y2=\"\(y)\" stroke=\"#666\"/>"
            s += "<text x=\"\(SVGPlot.c(left - 7))\" y=\"\(y)\" dy=\"4\" text-anchor=\"end\" font-size=\"11\">\(fmtTick(t))</text>\n"
        }
        s += "<text x=\"\(SVGPlot.c(left + (width - left - right) / 2))\" y=\"\(SVGPlot.c(height - bottom + 34))\" text-anchor=\"middle\" font-size=\"12\">\(escapeHTML(xLabel))</text>\n"
        s += "<text transform=\"translate(14,\(SVGPlot.c(top + (height - top - bottom) / 2))) rotate(-90)\" text-anchor=\"middle\" font-size=\"12\">\(escapeHTML(yLabel))</text>\n"
        s += body
        s += "</svg>\n"
        return s
    }

    func fmtTick(_ t: Double) -> String {
        if t == 0 { return "0" }
        if abs(t) >= 1000 || abs(t) < 0.01 { return String(format: "%.0e", t) }
        var s = String(format: "%.2f", t)
        while s.contains(".") && (s.hasSuffix("0") || s.hasSuffix(".")) { s.removeLast() }
        return s
    }
}

/// At most `limit` points of a curve, evenly strided, always keeping the last.
func decimate<T>(_ points: [T], limit: Int) -> [T] {
    guard points.count > limit else { return points }
    let stride = Double(points.count - 1) / Double(limit - 1)
    return (0..<limit).map { points[Int((Double($0) * stride).rounded())] }
}

extension ContrastResult {
    func rocSVG() -> String {
        var plot = SVGPlot(x0: 0, x1: 1, y0: 0, y1: 1, title: "ROC on test rows", xLabel: "false positive rate",
                           yLabel: "true positive rate")
        plot.width = 520; plot.right = 24
        plot.bottom = 56 + 18 * Double(layers.count + 1); plot.height = 360 + plot.bottom
        plot.polyline([(0, 0), (1, 1)], color: "#bbb", width: 1, dash: "3 3")
        var legend = [(String, String, String?)]()
        for (i, layer) in layers.enumerated() {
            let color = palette[i % palette.count]
            plot.polyline(decimate(layer.model.testROC, limit: 400).map { ($0.fpr, $0.tpr) }, color: color)
            legend.append(("\(layer.name) (AUC \(fmt(layer.model.testAUC)))", color, nil))
        }
        plot.polyline(decimate(baseline.testROC, limit: 400).map { ($0.fpr, $0.tpr) }, color: "#555", width: 2, dash: "6 4")
        legend.append(("seq_len baseline (AUC \(fmt(baseline.testAUC)))", "#555", "6 4"))
        for (i, entry) in legend.enumerated() {
            let y = plot.height - plot.bottom + 50 + Double(i) * 18, x = plot.left
            plot.body += "<line x1=\"\(SVGPlot.c(x))\" y1=\"\(SVGPlot.c(y))\" x2=\"\(SVGPlot.c(x + 22))\" y2=\"\(SVGPlot.c(y))\" stroke=\"\(entry.1)\" stroke-width=\"2\"\(entry.2.map { " stroke-dasharray=\"\($0)\"" } ?? "")/>"
            plot.body += "<text x=\"\(SVGPlot.c(x + 27))\" y=\"\(SVGPlot.c(y))\" dy=\"4\" font-size=\"10.5\">\(escapeHTML(entry.0))</text>\n"
        }
        return plot.render(cssClass: "roc")
    }

    func distributionSVG() -> String {
        let lo = labelValues.min()!, hi = labelValues.max()!
        let bins = 40
        let width = hi > lo ? (hi - lo) / Double(bins) : 1
        var topCounts = [Double](repeating: 0, count: bins), restCounts = [Double](repeating: 0, count: bins)
        for i in labelValues.indices {
            let b = min(bins - 1, max(0, Int((labelValues[i] - lo) / width)))
            if labels[i] == 1 { topCounts[b] += 1 } else { restCounts[b] += 1 }
        }
        let nTop = Double(k), nRest = Double(n - k)
        let topFrac = topCounts.map { $0 / nTop }, restFrac = restCounts.map { $0 / nRest }
        let yMax = max(topFrac.max()!, restFrac.max()!) * 1.08
        let source = options.residualizeSeqLen ? "score residual after seq_len" : "attribution score"
        var plot = SVGPlot(x0: lo, x1: hi > lo ? hi : lo + 1, y0: 0, y1: yMax > 0 ? yMax : 1,
                           title: "Distribution: top \(k) vs rest \(n - k)", xLabel: source, yLabel: "fraction of group")
        plot.width = 520; plot.height = 420; plot.right = 110
        for (counts, color) in [(restFrac, "#1f77b4"), (topFrac, "#d62728")] {
            for b in 0..<bins where counts[b] > 0 {
                let x = plot.px(lo + Double(b) * width), x2 = plot.px(lo + Double(b + 1) * width)
                let y = plot.py(counts[b]), y0 = plot.py(0)
                plot.body += "<rect x=\"\(SVGPlot.c(x))\" y=\"\(SVGPlot.c(y))\" width=\"\(SVGPlot.c(max(0.5, x2 - x - 0.5)))\" height=\"\(SVGPlot.c(y0 - y))\" fill=\"\(color)\" fill-opacity=\"0.5\"/>\n"
            }
        }
        let kx = plot.px(kthValue)
        plot.body += "<line x1=\"\(SVGPlot.c(kx))\" y1=\"\(SVGPlot.c(plot.top))\" x2=\"\(SVGPlot.c(kx))\" y2=\"\(SVGPlot.c(plot.height - plot.bottom))\" stroke=\"#000\" stroke-dasharray=\"4 3\"/>\n"
        for (i, entry) in [("top \(k)", "#d62728"), ("rest", "#1f77b4"), ("rank-k cut", "#000")].enumerated() {
            let y = plot.top + 14 + Double(i) * 18, x = plot.width - plot.right + 10
            plot.body += "<rect x=\"\(SVGPlot.c(x))\" y=\"\(SVGPlot.c(y - 6))\" width=\"14\" height=\"12\" fill=\"\(entry.1)\" fill-opacity=\"\(i == 2 ? 1 : 0.5)\"/>"
            plot.body += "<text x=\"\(SVGPlot.c(x + 19))\" y=\"\(SVGPlot.c(y))\" dy=\"4\" font-size=\"11\">\(entry.0)</text>\n"
        }
        return plot.render(cssClass: "distribution")
    }

    func volcanoSVG(_ layer: LayerResult) -> String {
        let points = layer.tested
        let ys = points.map { negLog10($0.logQ) }
        let xMax = max(1, points.map { abs($0.lor) }.max() ?? 1) * 1.05
        let yMax = max(2, (ys.max() ?? 1) * 1.08)
        var plot = SVGPlot(x0: -xMax, x1: xMax, y0: 0, y1: yMax, title: "Enrichment: \(layer.name)",
                           xLabel: "log odds ratio (top vs rest, +0.5)", yLabel: "−log10 q (BH)")
        plot.width = 520; plot.height = 420
        // All significant features, then an even stride of the others (at most 4000 dots).
        let order = points.indices.sorted { points[$0].logQ < points[$1].logQ || (points[$0].logQ == points[$1].logQ && $0 < $1) }
        let shown = Array(order.prefix(2000)) + decimate(Array(order.dropFirst(2000)), limit: 2000)
        let threshold = -log10(0.05)
        let ty = plot.py(threshold)
        plot.body += "<line x1=\"\(SVGPlot.c(plot.left))\" y1=\"\(SVGPlot.c(ty))\" x2=\"\(SVGPlot.c(plot.width - plot.right))\" y2=\"\(SVGPlot.c(ty))\" stroke=\"#888\" stroke-dasharray=\"4 3\"/>\n"
        plot.body += "<text x=\"\(SVGPlot.c(plot.width - plot.right - 4))\" y=\"\(SVGPlot.c(ty - 4))\" text-anchor=\"end\" font-size=\"10\" fill=\"#666\">q = 0.05</text>\n"
        plot.body += "<g class=\"dots\">"
        for t in shown.reversed() {
            let f = points[t], y = ys[t]
            let color = y > threshold ? (f.lor > 0 ? "#d62728" : "#1f77b4") : "#aaa"
            plot.body += "<circle cx=\"\(SVGPlot.c(plot.px(f.lor)))\" cy=\"\(SVGPlot.c(plot.py(y)))\" r=\"2.2\" fill=\"\(color)\" fill-opacity=\"0.7\"/>"
        }
        plot.body += "</g>\n"
        for f in ranked(layer, enriched: true).prefix(5) + ranked(layer, enriched: false).prefix(5) where f.logQ < log(0.05) {
            let x = plot.px(f.lor), y = plot.py(negLog10(f.logQ))
            plot.body += "<text class=\"feature-label\" x=\"\(SVGPlot.c(x + (f.lor > 0 ? 4 : -4)))\" y=\"\(SVGPlot.c(y - 3))\" text-anchor=\"\(f.lor > 0 ? "start" : "end")\" font-size=\"10\">f\(f.feature)</text>\n"
        }
        return plot.render(cssClass: "volcano")
    }

    /// The self-contained HTML report.
    public func reportHTML() -> String {
        var h = """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8">
        <title>pp-contrast: top \(k) vs rest</title>
        <style>
        body{font-family:-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:24px auto;max-width:1120px;color:#222;line-height:1.4}
        h1{font-size:22px}h2{font-size:18px;margin-top:28px;border-bottom:1px solid #ddd}h3{font-size:15px}
        table{border-collapse:collapse;font-size:13px;margin:8px 0}th,td{border:1px solid #ddd;padding:3px 8px;text-align:right}
        th{background:#f4f4f4}td.l,th.l{text-align:left}.plots{display:flex;flex-wrap:wrap;gap:12px}
        .meta{color:#555;font-size:13px}.note{background:#fff8e1;border-left:3px solid #f0b400;padding:4px 10px;font-size:13px}
        svg{border:1px solid #eee}
        </style></head><body>
        <h1>Top-attributed rows vs the rest: statistics and SAE features</h1>

        """
        let o = options
        let source = o.residualizeSeqLen ? "scores with seq_len regressed out (R² = \(fmt(residualization?.rSquared ?? 0)))" : "attribution scores"
        let nTrainTop = split.train.reduce(0) { $0 + Int(labels[$1]) }, nTestTop = split.test.reduce(0) { $0 + Int(labels[$1]) }
        h += "<p class=\"meta\">\(n) rows; top \(k) by \(source) (ties at rank k: \(tiesAtK) rows share the value, \(tiesAtKInTop) kept, lower row index first). "
        h += "\(o.split == .grouped ? "Grouped split by experiment::task_id (\(split.testGroups.count) test groups of \(split.testGroups.count + split.trainGroups.count))" : "Stratified split"), "
        h += "train \(split.train.count) rows (\(nTrainTop) top), test \(split.test.count) rows (\(nTestTop) top), seed \(o.seed). "
        h += "Model: standardised statistics, class-balanced L2 logistic regression (C = 1), Newton. "
        h += "CI: \(o.bootstrap) stratified bootstrap replicates; p: \(o.permutations) label permutations.</p>\n"
        for note in notes { h += "<p class=\"note\">\(escapeHTML(note))</p>\n" }

        h += "<h2>Layer summary</h2>\n<table class=\"layers\"><tr><th class=\"l\">layer</th><th>train AUC</th><th>test AUC [95% CI]</th><th>full AUC</th><th>perm. p</th><th>seq_len baseline test AUC [95% CI]</th><th>features tested</th><th>q &lt; 0.05 (enriched / depleted)</th></tr>\n"
        for layer in layers {
            let sig = layer.tested.filter { $0.logQ < log(0.05) }
            let up = sig.filter { $0.lor > 0 }.count
            let m = layer.model
            h += "<tr><td class=\"l\">\(escapeHTML(layer.name))</td><td>\(fmt(m.trainAUC))</td><td>\(fmt(m.testAUC)) [\(fmt(m.testCI.lower)), \(fmt(m.testCI.upper))]</td><td>\(fmt(m.fullAUC))</td><td>\(fmt(m.permutationP))</td>"
            h += "<td>\(fmt(baseline.testAUC)) [\(fmt(baseline.testCI.lower)), \(fmt(baseline.testCI.upper))]</td><td>\(layer.tested.count)</td><td>\(sig.count) (\(up) / \(sig.count - up))</td></tr>\n"
        }
        h += "</table>\n"

        h += "<h2>Separation and labels</h2>\n<div class=\"plots\">\n" + rocSVG() + distributionSVG() + "</div>\n"
        h += "<h2>Feature enrichment (Fisher exact, BH)</h2>\n<div class=\"plots\">\n"
        for layer in layers { h += volcanoSVG(layer) }
        h += "</div>\n"

        for layer in layers {
            h += "<h2>\(escapeHTML(layer.name))</h2>\n<div class=\"plots\"><div><h3>Coefficients (standardised) and effect sizes</h3>\n"
            h += "<table><tr><th class=\"l\">statistic</th><th>coef</th><th>Cohen's d</th><th>top mean</th><th>rest mean</th></tr>\n"
            let m = layer.model
            let order = m.features.indices.sorted { abs(m.model.coefficients[$0]) > abs(m.model.coefficients[$1]) || (abs(m.model.coefficients[$0]) == abs(m.model.coefficients[$1]) && $0 < $1) }
            for j in order {
                let e = layer.effectSizes[j]
                h += "<tr><td class=\"l\">\(escapeHTML(e.name))\(e.constant ? " (constant)" : "")</td><td>\(fmt(m.model.coefficients[j]))</td><td>\(e.d.map { fmt($0) } ?? "n/a")</td><td>\(fmt(e.topMean))</td><td>\(fmt(e.restMean))</td></tr>\n"
            }
            h += "</table></div>\n"
            for enriched in [true, false] {
                h += "<div><h3>Top \(enriched ? "enriched" : "depleted") features</h3>\n<table><tr><th>feature</th><th>top</th><th>rest</th><th>LOR ± SE</th><th>q</th></tr>\n"
                for f in ranked(layer, enriched: enriched).prefix(12) {
                    h += "<tr><td>\(f.feature)</td><td>\(f.a)/\(f.a + f.b) (\(fmt(100 * f.rateTop, 1))%)</td><td>\(f.c)/\(f.c + f.d) (\(fmt(100 * f.rateRest, 1))%)</td><td>\(fmt(f.lor, 2)) ± \(fmt(f.se, 2))</td><td>\(fmtProbability(logValue: f.logQ))</td></tr>\n"
                }
                h += "</table></div>\n"
            }
            h += "</div>\n"
        }
        h += "<p class=\"meta\">Written by pp-contrast (report version \(contrastReportVersion)).</p>\n</body></html>\n"
        return h
    }
}
