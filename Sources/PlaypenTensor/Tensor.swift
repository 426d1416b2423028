import Foundation

/// Allocates `count` floats with malloc (released with free in deinit). Transparent huge pages
/// were tried (madvise MADV_HUGEPAGE): direct compaction stalled loading for 5-8 s on a busy
/// machine, so plain pages it is.
func allocateFloats(_ count: Int) -> UnsafeMutablePointer<Float> {
    let bytes = max(count, 1) * 4
    guard let raw = malloc(bytes) else { fatalError("out of memory allocating \(bytes) bytes") }
    return raw.bindMemory(to: Float.self, capacity: max(count, 1))
}

/// An owned, zero-initialised fp32 buffer with a row-major shape.
///
/// Weights and activations live in these so that ops get stable raw pointers (`data`) without
/// Swift array exclusivity rules getting in the way of in-place kernels.
public final class Tensor: @unchecked Sendable {
    public let shape: [Int]
    public let count: Int
    public let data: UnsafeMutablePointer<Float>

    public init(shape: [Int]) {
        self.shape = shape
        count = shape.reduce(1, *)
        data = allocateFloats(count)
        data.initialize(repeating: 0, count: max(count, 1))
    }

    /// Uninitialised storage, for buffers that are fully overwritten right away (weights being loaded).
    public init(uninitializedShape shape: [Int]) {
        self.shape = shape
        count = shape.reduce(1, *)
        data = allocateFloats(count)
    }

    public convenience init(shape: [Int], values: [Float]) {
        precondition(values.count == shape.reduce(1, *), "Tensor: \(values.count) values for shape \(shape)")
        self.init(uninitializedShape: shape)
        values.withUnsafeBufferPointer { data.update(from: $0.baseAddress!, count: values.count) }
    }

    deinit { free(data) }

    public subscript(i: Int) -> Float {
        get { data[i] }
        set { data[i] = newValue }
    }

    /// A copy of the values.
    public var array: [Float] { Array(UnsafeBufferPointer(start: data, count: count)) }

    public var buffer: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: data, count: count) }

    public func zero() { data.update(repeating: 0, count: count) }
}
