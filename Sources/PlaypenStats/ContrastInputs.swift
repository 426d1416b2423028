import Foundation
import PlaypenIO

/// One scored row of the scores JSONL (`row_id`, `index`, `score`, `rank`).
public struct ScoreRecord: Sendable {
    public var rowID: String
    public var index: Int
    public var score: Double
    public var rank: Int?
}

/// One line of an SAE sample directory's `examples.jsonl`.
public struct ExampleRecord: Sendable {
    public var rowID: String
    public var index: Int?
    public var taskID: String?
    public var outcome: String?
    public var experiment: String?
    /// `experiment::task_id` (the grouping key for grouped splits), nil without a task id.
    public var group: String? {
        guard let taskID else { return nil }
        return "\(experiment ?? "")::\(taskID)"
    }
}

/// Reads the scores JSONL (optionally .zst). Throws on a missing or non-finite score, a
/// duplicate row_id, or a malformed line, naming file and line.
public func readScores(path: String) throws -> [ScoreRecord] {
    let reader = try JSONLinesReader(path: path)
    var records = [ScoreRecord]()
    var seen = [String: Int]()
    while let value = try reader.next() {
        guard value.object != nil else { throw reader.error("expected a JSON object, got \(value.kindName)") }
        guard let rowID = scalarString(value["row_id"]) else { throw reader.error("missing or non-string 'row_id'") }
        guard let scoreValue = value["score"], !scoreValue.isNull else {
            throw reader.error("row_id \(rowID): missing or null 'score' (NaN scores are not accepted)")
        }
        guard let score = scoreValue.double, score.isFinite else {
            throw reader.error("row_id \(rowID): 'score' is not a finite number")
        }
        let index = value["index"]?.int ?? records.count
        if let previous = seen[rowID] {
            throw reader.error("duplicate row_id \(rowID) (first on line \(previous))")
        }
        seen[rowID] = reader.lineNumber
        records.append(ScoreRecord(rowID: rowID, index: index, score: score, rank: value["rank"]?.int))
    }
    guard !records.isEmpty else { throw PlaypenError("\(path): no score records") }
    return records
}

func scalarString(_ value: JSONValue?) -> String? {
    switch value {
    case .string(let s): return s
    case .int(let i): return String(i)
    case .double(let d): return d.description
    default: return nil
    }
}

/// An SAE sample directory (one layer/SAE), as written by pp-sae.
public final class SAELayerInput: @unchecked Sendable {
    public let name: String
    public let directory: String
    public let examples: [ExampleRecord]
    public let statNames: [String]
    /// sample_stats as Double, row-major [n, statNames.count].
    public let stats: [Double]
    public let seqLens: [Double]
    public let presence: MappedNpy
    public let summary: JSONValue?
    public var n: Int { examples.count }
    public var dSAE: Int { presence.shape[1] }
    public var saeID: String? { summary?["sae_id"]?.string ?? summary?["layers"]?[0]?["sae_id"]?.string }
    public var layerNumber: Int? { summary?["layer"]?.int ?? summary?["layers"]?[0]?["layer"]?.int }

    /// Loads `DIR` or `NAME=DIR`; the name defaults to the layer summary's sae_id, else the directory name.
    public init(spec: String) throws {
        var dir = spec, explicitName: String? = nil
        if let eq = spec.firstIndex(of: "="), !FileManager.default.fileExists(atPath: spec) {
            explicitName = String(spec[..<eq]); dir = String(spec[spec.index(after: eq)...])
        }
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else {
            throw PlaypenError("\(dir): not a directory (expected an SAE sample directory from pp-sae)")
        }
        directory = dir
        func path(_ file: String) -> String { (dir as NSString).appendingPathComponent(file) }

        // examples.jsonl
        let reader = try JSONLinesReader(path: path("examples.jsonl"))
        var examples = [ExampleRecord]()
        while let v = try reader.next() {
            guard let rowID = scalarString(v["row_id"]) else { throw reader.error("missing or non-string 'row_id'") }
            examples.append(ExampleRecord(rowID: rowID, index: v["index"]?.int ?? v["dataset_index"]?.int,
                                          taskID: scalarString(v["task_id"]), outcome: scalarString(v["outcome"]),
                                          experiment: scalarString(v["experiment"])))
        }
        self.examples = examples
        let n = examples.count
        guard n > 0 else { throw PlaypenError("\(path("examples.jsonl")): no rows") }

        // stat_names.json
        let namesPath = path("stat_names.json")
        let namesData = try Data(contentsOf: URL(fileURLWithPath: namesPath))
        let namesValue: JSONValue
        do { namesValue = try JSONValue.parse(namesData) } catch { throw PlaypenError("\(namesPath): \(error)") }
        guard let names = namesValue.array?.compactMap(\.string), names.count == namesValue.array?.count, !names.isEmpty else {
            throw PlaypenError("\(namesPath): expected a non-empty JSON array of strings")
        }
        statNames = names

        // sample_stats.npy [n, p]
        let statsPath = path("sample_stats.npy"), seqPath = path("seq_lens.npy")
        let statsArray = try Npy.read(path: statsPath)
        guard statsArray.shape == [n, names.count] else {
            throw PlaypenError("\(statsPath): shape \(statsArray.shape), expected [\(n), \(names.count)] (rows of examples.jsonl x stat_names.json)")
        }
        let stats = statsArray.doubles()
        if let bad = stats.firstIndex(where: { !$0.isFinite }) {
            throw PlaypenError("\(statsPath): row \(bad / names.count) statistic '\(names[bad % names.count])' is not finite")
        }
        self.stats = stats

        let seqArray = try Npy.read(path: seqPath)
        guard seqArray.shape == [n] else {
            throw PlaypenError("\(seqPath): shape \(seqArray.shape), expected [\(n)]")
        }
        seqLens = seqArray.doubles()

        presence = try MappedNpy(path: path("feature_presence.npy"))
        guard presence.dtype == .bool || presence.dtype == .uint8, presence.shape.count == 2, presence.shape[0] == n else {
            throw PlaypenError("\(presence.path): dtype \(presence.dtype.rawValue) shape \(presence.shape), expected bool [\(n), d_sae]")
        }

        // Optional layer summary: summary.json (pp-sae), layer_summary.json, else another *.json.
        let others = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [])
            .filter { $0.hasSuffix(".json") && $0 != "stat_names.json" && !$0.hasSuffix(".manifest.json") }.sorted()
        let jsons = ["summary.json", "layer_summary.json"].filter { others.contains($0) } + others
        if let first = jsons.first, let data = FileManager.default.contents(atPath: path(first)) {
            summary = try? JSONValue.parse(data)
        } else {
            summary = nil
        }
        let fallback = URL(fileURLWithPath: dir).standardizedFileURL.lastPathComponent
        name = explicitName ?? summary?["sae_id"]?.string ?? summary?["layers"]?[0]?["sae_id"]?.string ?? fallback
    }
}

/// Joins the scores to the canonical row order (the first SAE directory's examples). Throws
/// unless every SAE row has exactly one score and every score row appears in the SAE rows.
/// Returns, per layer, the canonical position of each of that layer's rows.
public func joinRows(scores: [ScoreRecord], layers: [SAELayerInput], scoresPath: String) throws
    -> (scores: [ScoreRecord], layerMaps: [[Int]])
{
    let canonical = layers[0].examples
    var scoreByID = [String: Int](minimumCapacity: scores.count)
    for (i, s) in scores.enumerated() { scoreByID[s.rowID] = i }
    var joined = [ScoreRecord]()
    joined.reserveCapacity(canonical.count)
    var missing = [String]()
    for e in canonical {
        if let i = scoreByID[e.rowID] { joined.append(scores[i]) } else { missing.append(e.rowID) }
    }
    if !missing.isEmpty || scores.count != canonical.count {
        let extra = scores.count - (canonical.count - missing.count)
        throw PlaypenError("\(scoresPath) and \(layers[0].directory)/examples.jsonl do not hold the same rows: "
            + "\(scores.count) scores vs \(canonical.count) SAE rows; \(missing.count) SAE rows have no score"
            + (missing.isEmpty ? "" : " (first: \(missing[0]))") + ", \(extra) scores have no SAE row")
    }
    var position = [String: Int](minimumCapacity: canonical.count)
    for (i, e) in canonical.enumerated() {
        if position[e.rowID] != nil {
            throw PlaypenError("\(layers[0].directory)/examples.jsonl: duplicate row_id \(e.rowID)")
        }
        position[e.rowID] = i
    }
    var maps = [[Int]]()
    for layer in layers {
        guard layer.n == canonical.count else {
            throw PlaypenError("\(layer.directory): \(layer.n) rows, but \(layers[0].directory) has \(canonical.count)")
        }
        var map = [Int](repeating: 0, count: layer.n)
        var used = [Bool](repeating: false, count: layer.n)
        for (r, e) in layer.examples.enumerated() {
            guard let p = position[e.rowID], !used[p] else {
                throw PlaypenError("\(layer.directory)/examples.jsonl: row_id \(e.rowID) (line \(r + 1)) is not in \(layers[0].directory) or repeats")
            }
            used[p] = true
            map[r] = p
        }
        maps.append(map)
    }
    return (joined, maps)
}

/// Per-feature presence counts over all rows and over the positive rows of a bool [n, d] array.
///
/// Streams the file once with `pread` in blocks of at most 255 rows per worker (so resident
/// memory stays a few MiB however large the matrix): bytes are summed eight at a time in 64-bit
/// words (SWAR), then spread into 32-bit counts; positive rows are also added to the top counts
/// in the same pass. Rows are split across `threads` workers; integer sums make the result
/// independent of the split. Throws if a byte is neither 0 nor 1.
public func presenceCounts(_ array: MappedNpy, positiveRows: [Int], threads: Int) throws -> (total: [Int], top: [Int]) {
    let n = array.shape[0], d = array.shape[1]
    let words = d / 8
    var isPositive = [Bool](repeating: false, count: n)
    for r in positiveRows { isPositive[r] = true }
    let fd = open(array.path, O_RDONLY)
    guard fd >= 0 else { throw PlaypenError("\(array.path): cannot open: \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    let workers = max(1, min(threads, n / 1024 + 1))
    let blockRows = max(1, min(255, (4 << 20) / max(d, 1)))
    let partial = UnsafeMutablePointer<UInt32>.allocate(capacity: workers * d)
    let partialTop = UnsafeMutablePointer<UInt32>.allocate(capacity: workers * d)
    let status = UnsafeMutablePointer<UInt64>.allocate(capacity: 2 * workers)
    defer { partial.deallocate(); partialTop.deallocate(); status.deallocate() }
    let box = SendableBox((partial, partialTop, status, isPositive, array.dataOffset))
    parallelWorkers(workers) { w in
        let (partial, partialTop, status, isPositive, offset) = box.value
        let start = n * w / workers, end = n * (w + 1) / workers
        let counts = partial + w * d, top = partialTop + w * d
        counts.initialize(repeating: 0, count: d)
        top.initialize(repeating: 0, count: d)
        let acc = UnsafeMutablePointer<UInt64>.allocate(capacity: max(words, 1))
        acc.initialize(repeating: 0, count: max(words, 1))
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: blockRows * d, alignment: 64)
        defer { acc.deallocate(); buffer.deallocate() }
        var bad: UInt64 = 0
        status[2 * w + 1] = 0
        var r = start
        while r < end {
            let blockEnd = min(end, r + blockRows)
            let want = (blockEnd - r) * d
            var got = 0
            while got < want {
                let k = pread(fd, buffer + got, want - got, off_t(offset + r * d + got))
                if k <= 0 { status[2 * w + 1] = 1; return }
                got += k
            }
            for row in r..<blockEnd {
                let p = buffer + (row - r) * d
                for k in 0..<words {
                    let v = p.loadUnaligned(fromByteOffset: k * 8, as: UInt64.self)
                    acc[k] &+= v
                    bad |= v
                }
                for j in (words * 8)..<d {
                    let v = p.load(fromByteOffset: j, as: UInt8.self)
                    counts[j] &+= UInt32(v)
                    bad |= UInt64(v)
                }
                if isPositive[row] {
                    let bytes = p.assumingMemoryBound(to: UInt8.self)
                    for j in 0..<d { top[j] &+= UInt32(bytes[j]) }
                }
            }
            for k in 0..<words {
                let v = acc[k]
                if v != 0 {
                    for b in 0..<8 { counts[k * 8 + b] &+= UInt32((v >> (8 * UInt64(b))) & 0xFF) }
                    acc[k] = 0
                }
            }
            r = blockEnd
        }
        status[2 * w] = bad & 0xFEFE_FEFE_FEFE_FEFE
    }
    if (0..<workers).contains(where: { status[2 * $0 + 1] != 0 }) {
        throw PlaypenError("\(array.path): read failed or file shorter than its header says")
    }
    if (0..<workers).contains(where: { status[2 * $0] != 0 }) {
        throw PlaypenError("\(array.path): presence values must be 0 or 1 (found another byte value)")
    }
    var total = [Int](repeating: 0, count: d), top = [Int](repeating: 0, count: d)
    for w in 0..<workers {
        for j in 0..<d { total[j] += Int(partial[w * d + j]); top[j] += Int(partialTop[w * d + j]) }
    }
    return (total, top)
}
