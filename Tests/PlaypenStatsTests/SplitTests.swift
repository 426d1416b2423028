import Foundation
import Testing
@testable import PlaypenStats

@Suite struct SplitTests {
    @Test func stratifiedCountsFollowTheOriginal() throws {
        // 25 positives, 175 negatives, f = 0.2: round(5.0) = 5 and round(35.0) = 35 test rows.
        let y = (0..<200).map { UInt8($0 % 8 == 0 ? 1 : 0) }
        let split = try stratifiedSplit(labels: y, testFraction: 0.2, seed: 42)
        #expect(split.test.filter { y[$0] == 1 }.count == 5)
        #expect(split.test.count == 40 && split.train.count == 160)
        #expect(Set(split.train).isDisjoint(with: split.test))
        #expect(try stratifiedSplit(labels: y, testFraction: 0.2, seed: 42) == split)
        #expect(try stratifiedSplit(labels: y, testFraction: 0.2, seed: 43) != split)
        // Python's round: 2.5 -> 2, 3.5 -> 4.
        #expect(roundHalfEven(2.5) == 2 && roundHalfEven(3.5) == 4 && roundHalfEven(0.5) == 0)
        // 0.1 · 30 is 3.0000000000000004 in binary: still 3 groups; 3.2 still rounds up.
        #expect(ceilTolerant(0.1 * 30) == 3 && ceilTolerant(3.2) == 4 && ceilTolerant(3) == 3)
    }

    @Test func stratifiedNeedsTwoOfEachClass() {
        let y: [UInt8] = [1] + [UInt8](repeating: 0, count: 20)
        #expect(throws: (any Error).self) { try stratifiedSplit(labels: y, testFraction: 0.2, seed: 1) }
    }

    @Test func groupedKeepsGroupsTogether() throws {
        let groups = (0..<300).map { "exp::task\($0 % 37)" }
        let y = (0..<300).map { UInt8($0 % 5 == 0 ? 1 : 0) }
        let split = try groupedSplit(labels: y, groups: groups, testFraction: 0.2, seed: 42)
        #expect(split.testGroups.count == 8)  // ceil(0.2 · 37)
        let trainGroups = Set(split.train.map { groups[$0] }), testGroups = Set(split.test.map { groups[$0] })
        #expect(trainGroups.isDisjoint(with: testGroups))
        #expect(Array(testGroups).sorted() == split.testGroups)
        #expect(split.train.count + split.test.count == 300)
        #expect(try groupedSplit(labels: y, groups: groups, testFraction: 0.2, seed: 42) == split)
    }

    @Test func groupedFailsClearlyWhenPositivesShareOneGroup() {
        let groups = (0..<100).map { "g\($0 % 10)" }
        let y = (0..<100).map { UInt8($0 % 10 == 3 ? 1 : 0) }
        #expect(throws: (any Error).self) {
            try groupedSplit(labels: y, groups: groups, testFraction: 0.2, seed: 1, maxDraws: 50)
        }
    }

    @Test func generatorIsDeterministicAndUniform() {
        var a = SeededGenerator(seed: 7), b = SeededGenerator(seed: 7)
        var counts = [Int](repeating: 0, count: 5)
        for _ in 0..<50_000 {
            let v = a.below(5)
            #expect(v == b.below(5))
            counts[v] += 1
        }
        // Each bin within 4 sigma of 10000 (sigma ≈ 89).
        #expect(counts.allSatisfy { abs($0 - 10_000) < 360 })
    }
}
