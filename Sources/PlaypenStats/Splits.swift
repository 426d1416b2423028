import Foundation
import PlaypenIO

/// A train/test partition of row indices (both ascending).
public struct Split: Sendable, Equatable {
    public var train: [Int]
    public var test: [Int]
    /// For grouped splits: the test groups (sorted) and the number of draws it took.
    public var testGroups: [String] = []
    public var trainGroups: [String] = []
    public var draws: Int = 1
}

/// `ceil(x)` that forgives binary rounding just above an integer (0.1·30 = 3.0000000000000004 → 3).
public func ceilTolerant(_ x: Double) -> Int { Int((x - 1e-9 * max(1, abs(x))).rounded(.up)) }

/// Python's `round` (half to even) for non-negative values.
func roundHalfEven(_ v: Double) -> Int {
    let f = v.rounded(.down)
    let r = v - f
    if r > 0.5 { return Int(f) + 1 }
    if r < 0.5 { return Int(f) }
    return Int(f).isMultiple(of: 2) ? Int(f) : Int(f) + 1
}

/// Stratified split with the original pipeline's counts: per class,
/// `n_test = max(1, round(f·n_c))` (half to even), capped at `n_c − 1` when `n_c > 1` and 0 when
/// `n_c = 1`; each class is shuffled with a seeded generator and its first `n_test` rows go to test.
/// Throws unless both classes end up on both sides.
public func stratifiedSplit(labels: [UInt8], testFraction: Double, seed: UInt64) throws -> Split {
    var rng = SeededGenerator(seed: seed)
    var train = [Int](), test = [Int]()
    for cls in [UInt8(1), UInt8(0)] {
        var rows = labels.indices.filter { labels[$0] == cls }
        var nTest = max(1, roundHalfEven(testFraction * Double(rows.count)))
        if rows.count > 1 { nTest = min(nTest, rows.count - 1) } else { nTest = 0 }
        rng.shuffle(&rows)
        test += rows[0..<nTest]
        train += rows[nTest...]
    }
    let split = Split(train: train.sorted(), test: test.sorted())
    try checkBothClasses(split, labels: labels, what: "stratified split")
    return split
}

/// Grouped split: no group (e.g. `experiment::task_id`) on both sides. Groups are ordered by
/// `stableHash(group, seed ⊕ draw)` (ties by name) and the first `ceil(f·n_groups)` are test.
/// If either side lacks a class, the next draw is tried, up to `maxDraws`; then it throws.
public func groupedSplit(labels: [UInt8], groups: [String], testFraction: Double, seed: UInt64,
                         maxDraws: Int = 1000) throws -> Split {
    precondition(labels.count == groups.count)
    let unique = Array(Set(groups)).sorted()
    guard unique.count >= 2 else {
        throw PlaypenError("grouped split: need at least 2 groups, found \(unique.count)")
    }
    let nTest = min(unique.count - 1, max(1, ceilTolerant(testFraction * Double(unique.count))))
    for draw in 0..<maxDraws {
        let drawSeed = seed ^ (UInt64(draw) &* 0x9E37_79B9_7F4A_7C15)
        let keys: [UInt64] = unique.map { stableHash($0, seed: drawSeed) }
        let ranked: [Int] = unique.indices.sorted { (i: Int, j: Int) -> Bool in
            keys[i] != keys[j] ? keys[i] < keys[j] : unique[i] < unique[j]
        }
        let testSet = Set(ranked.prefix(nTest).map { unique[$0] })
        var train = [Int](), test = [Int]()
        for i in groups.indices { if testSet.contains(groups[i]) { test.append(i) } else { train.append(i) } }
        var split = Split(train: train, test: test)
        if (try? checkBothClasses(split, labels: labels, what: "")) != nil {
            split.testGroups = testSet.sorted()
            split.trainGroups = unique.filter { !testSet.contains($0) }
            split.draws = draw + 1
            return split
        }
    }
    let positiveGroups = Set(groups.indices.filter { labels[$0] == 1 }.map { groups[$0] }).count
    throw PlaypenError("grouped split: no draw in \(maxDraws) put both classes on both sides "
        + "(positives lie in \(positiveGroups) of \(unique.count) groups); increase --top-k or use --split stratified")
}

func checkBothClasses(_ split: Split, labels: [UInt8], what: String) throws {
    for (name, rows) in [("train", split.train), ("test", split.test)] {
        let pos = rows.reduce(0) { $0 + Int(labels[$1]) }
        if pos == 0 || pos == rows.count {
            throw PlaypenError("\(what): the \(name) side has \(pos) positive and \(rows.count - pos) negative rows; both classes are needed")
        }
    }
}
