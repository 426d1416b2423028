import Foundation

// ----------------------------------------------------------------------------------------------
// Flat fp32 storage and stateless, keyed random numbers.

/// One owned, contiguous fp32 allocation (llm.c style): parameters, gradients and optimizer
/// moments each live in one of these, and named views are offsets into it.
public final class FloatBuffer: @unchecked Sendable {
    public let count: Int
    public let pointer: UnsafeMutablePointer<Float>

    public init(count: Int) {
        self.count = count
        pointer = .allocate(capacity: max(count, 1))
        pointer.initialize(repeating: 0, count: max(count, 1))
    }

    public convenience init(_ values: [Float]) {
        self.init(count: values.count)
        values.withUnsafeBufferPointer { pointer.update(from: $0.baseAddress!, count: values.count) }
    }

    deinit { pointer.deallocate() }

    public var buffer: UnsafeMutableBufferPointer<Float> { .init(start: pointer, count: count) }
    public var array: [Float] { Array(buffer) }
    public func zero() { pointer.update(repeating: 0, count: count) }
    public func copy(from other: FloatBuffer) {
        precondition(other.count == count)
        pointer.update(from: other.pointer, count: count)
    }
    public subscript(i: Int) -> Float {
        get { pointer[i] }
        set { pointer[i] = newValue }
    }
}

/// Counter-based random numbers: value `i` of stream `key` is a pure function of `(key, i)`,
/// so a dropout mask can be regenerated in backward and a resumed run draws the same numbers
/// as an uninterrupted one, with no generator state to save.
public enum KeyedRandom {
    /// SplitMix64 finaliser: a bijective 64-bit mixer.
    @inline(__always) public static func mix(_ z0: UInt64) -> UInt64 {
        var z = z0 &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Stream key from a seed and stable identifiers (module names, step numbers), never from
    /// iteration order.
    public static func key(_ seed: UInt64, _ parts: String...) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325  // FNV-1a over the parts, then mixed with the seed
        for part in parts {
            for byte in part.utf8 { h = (h ^ UInt64(byte)) &* 0x100_0000_01B3 }
            h = (h ^ 0xFF) &* 0x100_0000_01B3
        }
        return mix(h ^ mix(seed))
    }

    /// Uniform in [0, 1) with 24 random bits (exactly representable in Float).
    @inline(__always) public static func uniform(_ key: UInt64, _ index: Int) -> Float {
        Float(mix(key ^ mix(UInt64(truncatingIfNeeded: index))) >> 40) * 0x1p-24
    }

    /// 64 random bits.
    @inline(__always) public static func bits(_ key: UInt64, _ index: Int) -> UInt64 {
        mix(key ^ mix(UInt64(truncatingIfNeeded: index)))
    }

    /// Output `index` of SplitMix64 seeded with `key`: one mix per 64 bits, half the cost of
    /// `bits`, for streams drawn in bulk (dropout masks).
    @inline(__always) public static func sequenceBits(_ key: UInt64, _ index: Int) -> UInt64 {
        mix(key &+ UInt64(truncatingIfNeeded: index) &* 0x9E37_79B9_7F4A_7C15)
    }
}
