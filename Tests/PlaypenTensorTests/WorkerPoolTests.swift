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

/// Slots that parts take by worker index; a taken slot or an index out of range is a clash.
private final class WorkerSlots: @unchecked Sendable {
    private var taken: [Bool]
    private(set) var clashes = 0
    private let lock = NSLock()
    init(_ n: Int) { taken = [Bool](repeating: false, count: n) }
    func take(_ worker: Int) -> Bool {
        lock.withLock {
            guard taken.indices.contains(worker), !taken[worker] else { clashes += 1; return false }
            taken[worker] = true
            return true
        }
    }
    func free(_ worker: Int) { lock.withLock { taken[worker] = false } }
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

    @Test func workerIndicesOfPartsRunningAtOnceDiffer() {
        // each part holds its worker's slot while it runs: two parts at once on one slot would
        // find it taken
        let slots = WorkerSlots(computeThreads)
        for _ in 0..<50 {
            runParts(24) { _, worker in
                guard slots.take(worker) else { return }
                usleep(50)
                slots.free(worker)
            }
        }
        #expect(slots.clashes == 0)
    }

    @Test func parallelMapGivesEachPartsResultInOrder() {
        for parts in [0, 1, 2, 37] {
            #expect(parallelMap(parts) { "part \($0)" } == (0..<parts).map { "part \($0)" })
        }
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
        // each part sleeps, so the worker has time to wake and take some; a few tries, as the
        // suites running beside this one may hold the pool and every GCD thread for a while
        for _ in 0..<20 where elsewhere.load(ordering: .relaxed) == 0 {
            runParts(16) { _ in
                usleep(2000)
                if pthread_equal(pthread_self(), caller) == 0 { elsewhere.add(1, ordering: .relaxed) }
            }
        }
        #expect(elsewhere.load(ordering: .relaxed) > 0)
    }
}
