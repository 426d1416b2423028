import Foundation
import Synchronization
import Testing
import PlaypenTensor

// runParts on the spinning worker pool: every part runs exactly once, whoever calls and however
// the calls nest or overlap, and a thread limit of one keeps the work on the calling thread.
// (The pool, once switched on, serves every later caller in this process; the other tests'
// results do not depend on which runs their parts.)

private final class PartCounts: @unchecked Sendable {
    private var counts: [Int]
    private let lock = NSLock()
    init(_ n: Int) { counts = [Int](repeating: 0, count: n) }
    func hit(_ i: Int) { lock.withLock { counts[i] += 1 } }
    var values: [Int] { lock.withLock { counts } }
}

@Suite(.serialized) struct WorkerPoolTests {
    init() { useSpinningWorkers() }

    @Test func everyPartRunsOnceOverManyJobs() {
        for parts in [2, 3, 7, 64, 501] {
            for _ in 0..<200 {
                let seen = PartCounts(parts)
                runParts(parts) { seen.hit($0) }
                #expect(seen.values == [Int](repeating: 1, count: parts))
            }
        }
    }

    @Test func overlappingCallersAndNestedCallsEachRunEveryPartOnce() {
        // four threads start jobs at once (one holds the pool, the others fall back to GCD), and
        // every part of every job starts a nested job (the pool is busy with its parent)
        let outer = 4, parts = 9, inner = 5
        let seen = PartCounts(outer * 50 * parts * inner)
        DispatchQueue.concurrentPerform(iterations: outer) { caller in
            for job in 0..<50 {
                runParts(parts) { part in
                    let base = ((caller * 50 + job) * parts + part) * inner
                    runParts(inner) { seen.hit(base + $0) }
                }
            }
        }
        #expect(seen.values == [Int](repeating: 1, count: outer * 50 * parts * inner))
    }

    @Test func oneThreadKeepsThePartsOnTheCallingThread() {
        setComputeThreads(1)
        defer { setComputeThreads(0) }
        let caller = pthread_self()
        let elsewhere = Atomic(0)
        runParts(32) { _ in if pthread_equal(pthread_self(), caller) == 0 { elsewhere.add(1, ordering: .relaxed) } }
        #expect(elsewhere.load(ordering: .relaxed) == 0)
    }

    @Test func bothCoresTakePartsOfALongJob() throws {
        try #require(ProcessInfo.processInfo.activeProcessorCount > 1)
        let caller = pthread_self()
        let elsewhere = Atomic(0)
        // each part sleeps, so the worker has time to wake and take some
        runParts(16) { _ in
            usleep(2000)
            if pthread_equal(pthread_self(), caller) == 0 { elsewhere.add(1, ordering: .relaxed) }
        }
        #expect(elsewhere.load(ordering: .relaxed) > 0)
    }
}
