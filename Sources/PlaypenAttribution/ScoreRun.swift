import Foundation
import PlaypenIO

/// Scores of every train row, in stream order.
public struct ScoreResult: Sendable {
    public var rowIds: [String]
    public var scores: [Float]
    /// 1 = highest score; ties by index.
    public var ranks: [Int]

    public var records: [ScoreRecord] {
        rowIds.indices.map { ScoreRecord(rowId: rowIds[$0], index: $0, score: scores[$0], rank: ranks[$0]) }
    }
}

/// The pp-score computation, independent of files: check compatibility, reduce the query if it
/// is per-example, build the (preconditioned) scorer, stream the train rows.
public enum ScoreRun {
    /// Reduces a per-example query source to one row (`MeanReducer`); a reduced one is read as is.
    public static func queryRow(_ query: GradientSource, options: ScoreOptions) throws -> [Float] {
        let width = query.info.layout.rowWidth
        var rows = 0
        var reducer = MeanReducer(width: width, unitNormalize: options.unitNormalize, semantics: options.semantics)
        var single: [Float] = []
        try query.forEachChunk(maxRows: 8) { chunk in
            for r in 0..<chunk.count {
                let row = UnsafeBufferPointer(start: chunk.values + r * chunk.rowStride, count: width)
                if let bad = row.firstIndex(where: { !$0.isFinite }) {
                    throw PlaypenError("\(query.name): query row \(chunk.firstIndex + r) (row_id \(chunk.rowIds[chunk.rowIds.startIndex + r])) has a non-finite gradient at column \(bad)")
                }
                reducer.add(row)
                if rows == 0 { single = Array(row) }
                rows += 1
            }
        }
        guard rows > 0 else { throw PlaypenError("\(query.name): the query has no rows") }
        if query.info.kind == .reduced {
            guard rows == 1 else { throw PlaypenError("\(query.name): a reduced query must have 1 row, found \(rows)") }
            return single
        }
        return reducer.mean
    }

    public static func run(query: GradientSource, train: GradientSource, queryMoment: SecondMoment?,
                           indexMoment: SecondMoment?, options: ScoreOptions, threads: Int = 1,
                           allowZeroRows: Bool = false, chunkRows: Int = 64,
                           progress: ((Int) -> Void)? = nil) throws -> ScoreResult
    {
        try query.info.checkCompatible(name: query.name, with: train.info, otherName: train.name)
        if train.info.kind != .perExample {
            throw PlaypenError("\(train.name): train gradients must be per-example, this stream is \(train.info.kind.rawValue)")
        }
        if query.info.kind == .reduced, let u = query.info.unitNormalized, u != options.unitNormalize {
            throw PlaypenError("\(query.name): the query was reduced with unit normalisation \(u ? "on" : "off") but scoring has it \(options.unitNormalize ? "on" : "off")")
        }
        let layout = train.info.layout
        let q = try queryRow(query, options: options)
        let scorer = try AttributionScorer(layout: layout, query: q, queryMoment: queryMoment,
                                           indexMoment: indexMoment, options: options)
        var rowIds: [String] = []
        var scores: [Float] = []
        var bad: [(index: Int, rowId: String, zero: Bool)] = []
        let workers = max(1, threads)
        // Rows are scored in blocks of `chunkRows` aligned to multiples of `chunkRows` in the
        // stream, whatever the thread count: BLAS results for a row can depend on the block it is
        // in, so fixed blocks keep scores byte-identical across --threads and sharding.
        let block = max(1, chunkRows)
        try train.forEachChunk(maxRows: block * workers) { chunk in
            let base = scores.count
            guard chunk.firstIndex == base, base % block == 0 else {
                throw PlaypenError("\(train.name): rows out of order at \(chunk.firstIndex)")
            }
            rowIds.append(contentsOf: chunk.rowIds)
            scores.append(contentsOf: repeatElement(Float.nan, count: chunk.count))
            let blocks = (chunk.count + block - 1) / block
            var parts = [[AttributionScorer.BadRow]](repeating: [], count: blocks)
            scores.withUnsafeMutableBufferPointer { out in
                parts.withUnsafeMutableBufferPointer { partsPointer in
                    nonisolated(unsafe) let o = out.baseAddress! + base
                    nonisolated(unsafe) let pp = partsPointer
                    nonisolated(unsafe) let values = chunk.values
                    let stride = chunk.rowStride, count = chunk.count
                    let work: @Sendable (Int) -> Void = { b in
                        let start = b * block, end = min(count, start + block)
                        pp[b] = scorer.score(rows: values + start * stride, count: end - start, rowStride: stride,
                                             scores: o + start, zeroRowsScoreZero: allowZeroRows)
                            .map { AttributionScorer.BadRow(position: $0.position + start, zero: $0.zero) }
                    }
                    if workers == 1 || blocks == 1 {
                        for b in 0..<blocks { work(b) }
                    } else {
                        DispatchQueue.concurrentPerform(iterations: blocks, execute: work)
                    }
                }
            }
            for part in parts {
                for r in part {
                    bad.append((base + r.position, chunk.rowIds[chunk.rowIds.startIndex + r.position], r.zero))
                }
            }
            progress?(scores.count)
        }
        if !bad.isEmpty {
            let shown = bad.prefix(10).map { "\($0.rowId) (index \($0.index), \($0.zero ? "all zero" : "NaN/inf"))" }
                .joined(separator: ", ")
            let hint = bad.contains { $0.zero } ? "; all-zero rows have no target tokens: --allow-zero-rows scores them 0" : ""
            throw PlaypenError("\(train.name): \(bad.count) train row(s) cannot be scored: \(shown)\(bad.count > 10 ? ", ..." : "")\(hint)")
        }
        return ScoreResult(rowIds: rowIds, scores: scores, ranks: rankScores(scores))
    }
}
