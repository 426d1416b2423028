import Foundation
import PlaypenIO

/// How a ±1 projection matrix is scaled (Bergson's `projection_scale`).
public enum ProjectionScale: String, Sendable, Codable, CaseIterable {
    /// Every entry divided by √m (m = rows = projection dim): Bergson 2.x default.
    case jl
    /// Every row divided by its L2 norm (√n for ±1 entries): Bergson 0.5.1's only behaviour.
    case rowNorm = "row_norm"
}

/// Which random generator fills the matrix.
public enum ProjectionGenerator: String, Sendable, Codable, CaseIterable {
    /// Bergson 2.5.1 ("projection version 2"): Philox4x32-10 keyed by md5(identifier), Rademacher.
    case philox = "philox4x32-10-rademacher"
    /// Bergson 0.5.1 ("projection version 1"): NumPy SeedSequence → PCG64 → `Generator.bytes`, MSB-first bits.
    case pcg64 = "pcg64-bytes-rademacher"
}

/// Philox4x32-10 (Salmon et al. 2011) exactly as Bergson's `philox4x32`.
@inline(__always)
public func philox4x32(_ counter: (UInt32, UInt32, UInt32, UInt32), key: (UInt32, UInt32))
    -> (UInt32, UInt32, UInt32, UInt32)
{
    var (x0, x1, x2, x3) = counter
    var (k0, k1) = key
    for round in 0..<10 {
        if round > 0 {
            k0 &+= 0x9E37_79B9
            k1 &+= 0xBB67_AE85
        }
        let p0 = UInt64(0xD251_1F53) &* UInt64(x0)
        let p1 = UInt64(0xCD9E_8D57) &* UInt64(x2)
        (x0, x1, x2, x3) = (
            UInt32(truncatingIfNeeded: p1 >> 32) ^ x1 ^ k0, UInt32(truncatingIfNeeded: p1),
            UInt32(truncatingIfNeeded: p0 >> 32) ^ x3 ^ k1, UInt32(truncatingIfNeeded: p0)
        )
    }
    return (x0, x1, x2, x3)
}

/// Projection matrices generated from an identifier, never stored: every shard, query run and
/// train run regenerates identical matrices from the module name.
public enum ProjectionMatrix {
    /// Bergson's identifier for a module's `left` (output side) or `right` (input side) matrix.
    public static func identifier(module: String, side: Side, seed: Int?) -> String {
        var id = "\(module)/\(side.rawValue)"
        if let seed { id += "/seed\(seed)" }
        return id
    }

    public enum Side: String, Sendable { case left, right }

    /// The Philox key: first two little-endian 32-bit words of md5(identifier).
    public static func philoxKey(_ identifier: String) -> (UInt32, UInt32) {
        let d = MD5.digest(identifier)
        let k0 = UInt32(d[0]) | UInt32(d[1]) << 8 | UInt32(d[2]) << 16 | UInt32(d[3]) << 24
        let k1 = UInt32(d[4]) | UInt32(d[5]) << 8 | UInt32(d[6]) << 16 | UInt32(d[7]) << 24
        return (k0, k1)
    }

    /// Unscaled ±1 entries, row-major [rows, cols].
    public static func signs(identifier: String, rows: Int, cols: Int, generator: ProjectionGenerator) -> [Float] {
        var out = [Float](repeating: 0, count: rows * cols)
        switch generator {
        case .philox:
            let key = philoxKey(identifier)
            out.withUnsafeMutableBufferPointer { buffer in
                for r in 0..<rows {
                    var c0 = 0
                    while c0 < cols {
                        let x = philox4x32((UInt32(c0 >> 7), UInt32(r), 0, 0), key: key)
                        let words = [x.0, x.1, x.2, x.3]
                        let end = min(cols, c0 + 128)
                        for c in c0..<end {
                            let b = c & 127
                            let bit = (words[b >> 5] >> UInt32(b & 31)) & 1
                            buffer[r * cols + c] = bit == 1 ? 1 : -1
                        }
                        c0 = end
                    }
                }
            }
        case .pcg64:
            let d = MD5.digest(identifier)
            // int.from_bytes(digest, "big") mod (2^63 - 1), computed by Horner's rule.
            let modulus = UInt64(Int64.max)
            var seed: UInt64 = 0
            for byte in d {
                // seed * 256 + byte mod (2^63-1), without overflow: seed < 2^63.
                let wide = seed.multipliedFullWidth(by: 256)
                let (_, r) = modulus.dividingFullWidth((wide.high, wide.low))
                var value = r &+ UInt64(byte)
                if value >= modulus { value -= modulus }
                seed = value
            }
            var pcg = PCG64(seed: seed)
            let bitCount = rows * cols
            let bytes = pcg.bytes((bitCount + 7) / 8)
            for k in 0..<bitCount {
                let bit = (bytes[k >> 3] >> UInt8(7 - (k & 7))) & 1
                out[k] = bit == 1 ? 1 : -1
            }
        }
        return out
    }

    /// A scaled projection matrix [rows = projection dim, cols = module dim], row-major.
    public static func make(identifier: String, rows: Int, cols: Int,
                            generator: ProjectionGenerator = .philox, scale: ProjectionScale = .jl) -> [Float]
    {
        var a = signs(identifier: identifier, rows: rows, cols: cols, generator: generator)
        switch scale {
        case .jl:
            // Bergson divides in the matrix dtype: A /= sqrt(m), i.e. ±1 / fp32(sqrt(m)).
            let s = Float(Double(rows).squareRoot())
            for k in a.indices { a[k] = a[k] / s }
        case .rowNorm:
            for r in 0..<rows {
                // torch norm of a ±1 fp32 row is exactly fp32(sqrt(cols)) for any realistic cols.
                var sum: Double = 0
                for c in 0..<cols { sum += Double(a[r * cols + c] * a[r * cols + c]) }
                let norm = Float(sum.squareRoot())
                for c in 0..<cols { a[r * cols + c] = a[r * cols + c] / norm }
            }
        }
        return a
    }
}

/// NumPy's SeedSequence → PCG64 → `Generator.bytes` chain (attribution.md 4.1).
struct PCG64 {
    var stateHi: UInt64 = 0, stateLo: UInt64 = 0
    var incHi: UInt64 = 0, incLo: UInt64 = 0
    var saved: UInt32? = nil

    static let multHi: UInt64 = 0x2360_ED05_1FC6_5DA4
    static let multLo: UInt64 = 0x4385_DF64_9FCC_F645

    init(seed: UInt64) {
        let words = PCG64.seedSequenceState(entropy: seed, count: 8)
        var u = [UInt64](repeating: 0, count: 4)
        for k in 0..<4 { u[k] = UInt64(words[2 * k]) | UInt64(words[2 * k + 1]) << 32 }
        let (initHi, initLo) = (u[0], u[1])
        let (seqHi, seqLo) = (u[2], u[3])
        incHi = (seqHi << 1) | (seqLo >> 63)
        incLo = (seqLo << 1) | 1
        step()
        let (lo, carry) = stateLo.addingReportingOverflow(initLo)
        stateLo = lo
        stateHi = stateHi &+ initHi &+ (carry ? 1 : 0)
        step()
    }

    mutating func step() {
        // state = state * mult + inc (mod 2^128)
        let low = stateLo.multipliedFullWidth(by: PCG64.multLo)
        var hi = low.high &+ stateHi &* PCG64.multLo &+ stateLo &* PCG64.multHi
        let (lo, carry) = low.low.addingReportingOverflow(incLo)
        hi = hi &+ incHi &+ (carry ? 1 : 0)
        stateHi = hi
        stateLo = lo
    }

    mutating func next64() -> UInt64 {
        step()
        let x = stateHi ^ stateLo
        let r = stateHi >> 58
        return (x >> r) | (x << ((64 - r) & 63))
    }

    mutating func next32() -> UInt32 {
        if let s = saved {
            saved = nil
            return s
        }
        let v = next64()
        saved = UInt32(truncatingIfNeeded: v >> 32)
        return UInt32(truncatingIfNeeded: v)
    }

    mutating func bytes(_ n: Int) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(n + 4)
        let words = n == 0 ? 0 : (n - 1) / 4 + 1
        for _ in 0..<words {
            let w = next32()
            for i in 0..<4 { out.append(UInt8(truncatingIfNeeded: w >> (8 * UInt32(i)))) }
        }
        return Array(out.prefix(n))
    }

    static func seedSequenceState(entropy seed: UInt64, count: Int) -> [UInt32] {
        let initA: UInt32 = 0x43b0_d7e5, multA: UInt32 = 0x931e_8875
        let initB: UInt32 = 0x8b51_f9dd, multB: UInt32 = 0x58f3_8ded
        let mixL: UInt32 = 0xca01_f9dd, mixR: UInt32 = 0x4973_f715
        var entropy: [UInt32] = []
        var s = seed
        while s > 0 {
            entropy.append(UInt32(truncatingIfNeeded: s))
            s >>= 32
        }
        if entropy.isEmpty { entropy = [0] }
        var hc = initA
        func hashmix(_ value: UInt32) -> UInt32 {
            var v = value ^ hc
            hc = hc &* multA
            v = v &* hc
            v ^= v >> 16
            return v
        }
        func mix(_ x: UInt32, _ y: UInt32) -> UInt32 {
            var r = (mixL &* x) &- (mixR &* y)
            r ^= r >> 16
            return r
        }
        var pool = [UInt32](repeating: 0, count: 4)
        for i in 0..<4 { pool[i] = hashmix(i < entropy.count ? entropy[i] : 0) }
        for src in 0..<4 {
            for dst in 0..<4 where src != dst {
                pool[dst] = mix(pool[dst], hashmix(pool[src]))
            }
        }
        if entropy.count > 4 {
            for e in entropy[4...] {
                for dst in 0..<4 { pool[dst] = mix(pool[dst], hashmix(e)) }
            }
        }
        var out = [UInt32](repeating: 0, count: count)
        var hcb = initB
        for k in 0..<count {
            var v = pool[k % 4]
            v ^= hcb
            hcb = hcb &* multB
            v = v &* hcb
            v ^= v >> 16
            out[k] = v
        }
        return out
    }
}
