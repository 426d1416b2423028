import Foundation

/// Wraps a value (a raw pointer into memory whose disjoint parts workers write) for use inside
/// `DispatchQueue.concurrentPerform`; the caller guarantees there is no data race.
struct SendableBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

/// Runs `body(worker)` for `workers` workers in parallel.
func parallelWorkers(_ workers: Int, _ body: @Sendable (Int) -> Void) {
    if workers <= 1 { body(0); return }
    DispatchQueue.concurrentPerform(iterations: workers, execute: body)
}
