import Foundation

// ---------------------------------------------------------------------------------------------
// GGUF v3 reader (llama.cpp's weight format), memory-mapped.
//
// Layout (little endian): "GGUF", u32 version, u64 n_tensors, u64 n_kv; n_kv key/values;
// n_tensors tensor infos (name, n_dims, ne[n_dims], ggml type, offset); padding to
// `general.alignment` (default 32); data section. `ne[0]` is the contiguous dimension, so a
// tensor with ne = [in, out] is a row-major [out, in] matrix. Every offset and size read from
// the header is checked against the file before use.
// ---------------------------------------------------------------------------------------------

/// A metadata value of a GGUF file.
public enum GGUFValue: Sendable {
    case uint(UInt64)
    case int(Int64)
    case float(Double)
    case bool(Bool)
    case string(String)
    case array([GGUFValue])

    public var intValue: Int? {
        switch self {
        case .uint(let v): return v <= UInt64(Int.max) ? Int(v) : nil
        case .int(let v): return Int(v)
        default: return nil
        }
    }
    public var doubleValue: Double? {
        switch self {
        case .float(let v): return v
        case .uint(let v): return Double(v)
        case .int(let v): return Double(v)
        default: return nil
        }
    }
    public var stringValue: String? { if case .string(let s) = self { return s } else { return nil } }
    public var boolValue: Bool? { if case .bool(let b) = self { return b } else { return nil } }
    public var arrayValue: [GGUFValue]? { if case .array(let a) = self { return a } else { return nil } }
}

/// ggml tensor types this reader knows the block layout of.
public enum GGMLType: UInt32, Sendable, CaseIterable {
    case f32 = 0, f16 = 1, q4_0 = 2, q4_1 = 3, q5_0 = 6, q5_1 = 7, q8_0 = 8, q8_1 = 9
    case q2_K = 10, q3_K = 11, q4_K = 12, q5_K = 13, q6_K = 14, q8_K = 15, bf16 = 30

    /// (elements per block, bytes per block)
    public var block: (elements: Int, bytes: Int) {
        switch self {
        case .f32: return (1, 4)
        case .f16, .bf16: return (1, 2)
        case .q4_0: return (32, 18)
        case .q4_1: return (32, 20)
        case .q5_0: return (32, 22)
        case .q5_1: return (32, 24)
        case .q8_0: return (32, 34)
        case .q8_1: return (32, 40)
        case .q2_K: return (256, 84)
        case .q3_K: return (256, 110)
        case .q4_K: return (256, 144)
        case .q5_K: return (256, 176)
        case .q6_K: return (256, 210)
        case .q8_K: return (256, 292)
        }
    }

    /// Whether `GGUFFile.dequantize` supports this type.
    public var canDequantize: Bool {
        switch self {
        case .f32, .f16, .bf16, .q4_0, .q5_0, .q8_0, .q4_K, .q5_K, .q6_K: return true
        default: return false
        }
    }
}

/// One tensor's header entry. `shape` is row-major (outermost first), i.e. reversed `ne`.
public struct GGUFTensorInfo: Sendable {
    public let name: String
    public let ne: [Int]
    public let type: GGMLType
    /// Absolute byte offset of the data in the file.
    public let offset: Int
    public let byteCount: Int
    public var elementCount: Int { ne.reduce(1, *) }
    public var shape: [Int] { ne.reversed() }
}

/// A parsed, memory-mapped GGUF file.
public final class GGUFFile: @unchecked Sendable {
    public let file: MappedFile
    public let version: UInt32
    public let metadata: [String: GGUFValue]
    /// Metadata keys in file order.
    public let metadataKeys: [String]
    public let tensors: [GGUFTensorInfo]
    public let tensorIndex: [String: Int]
    public let alignment: Int
    public let dataOffset: Int
    public var path: String { file.path }

    public convenience init(path: String) throws {
        try self.init(file: MappedFile(path: path))
    }

    public init(file: MappedFile) throws {
        self.file = file
        var r = Reader(file: file)
        let magic = try r.u32("magic")
        guard magic == 0x4655_4747 else {  // "GGUF"
            throw PlaypenError("\(file.path): not a GGUF file (magic bytes are not \"GGUF\")")
        }
        version = try r.u32("version")
        guard version == 2 || version == 3 else {
            throw PlaypenError("\(file.path): unsupported GGUF version \(version) (expected 3)")
        }
        let nTensors = try r.u64("tensor count")
        let nKV = try r.u64("metadata count")
        // Every tensor info and key/value takes well over 8 bytes, so counts above size/8 are corrupt.
        guard nTensors <= UInt64(file.count / 8), nKV <= UInt64(file.count / 8) else {
            throw PlaypenError("\(file.path): header claims \(nTensors) tensors and \(nKV) metadata entries, more than the file of \(file.count) bytes can hold")
        }
        var meta: [String: GGUFValue] = [:]
        var keys: [String] = []
        for i in 0..<Int(nKV) {
            let key = try r.string("metadata key #\(i)")
            let type = try r.u32("type of metadata \(key)")
            meta[key] = try r.value(type: type, key: key, depth: 0)
            keys.append(key)
        }
        metadata = meta
        metadataKeys = keys
        var align = 32
        if let a = meta["general.alignment"] {
            guard let v = a.intValue, v > 0, v <= 1 << 20, v & (v - 1) == 0 else {
                throw PlaypenError("\(file.path): metadata general.alignment must be a power of two, got \(a)")
            }
            align = v
        }
        alignment = align
        struct Raw { let name: String; let ne: [Int]; let type: GGMLType; let rel: Int }
        var raws: [Raw] = []
        raws.reserveCapacity(Int(nTensors))
        for i in 0..<Int(nTensors) {
            let name = try r.string("name of tensor #\(i)")
            let nDims = try r.u32("dimension count of tensor \(name)")
            guard nDims >= 1, nDims <= 4 else {
                throw PlaypenError("\(file.path): tensor \(name) has \(nDims) dimensions (expected 1 to 4)")
            }
            var ne: [Int] = []
            var total = 1
            for d in 0..<Int(nDims) {
                let n = try r.u64("dimension \(d) of tensor \(name)")
                guard n >= 1, n <= UInt64(Int32.max) else {
                    throw PlaypenError("\(file.path): tensor \(name) dimension \(d) is \(n) (expected 1 to 2^31-1)")
                }
                let (p, overflow) = total.multipliedReportingOverflow(by: Int(n))
                guard !overflow, p <= Int(1) << 40 else {
                    throw PlaypenError("\(file.path): tensor \(name) has an impossible element count")
                }
                total = p
                ne.append(Int(n))
            }
            let typeID = try r.u32("type of tensor \(name)")
            guard let type = GGMLType(rawValue: typeID) else {
                throw PlaypenError("\(file.path): tensor \(name) has unknown ggml type \(typeID)")
            }
            let rel = try r.u64("offset of tensor \(name)")
            guard rel <= UInt64(file.count) else {
                throw PlaypenError("\(file.path): tensor \(name) offset \(rel) lies outside the file of \(file.count) bytes")
            }
            guard ne[0] % type.block.elements == 0 else {
                throw PlaypenError("\(file.path): tensor \(name) row length \(ne[0]) is not a multiple of the \(type) block size \(type.block.elements)")
            }
            raws.append(Raw(name: name, ne: ne, type: type, rel: Int(rel)))
        }
        let headerEnd = r.offset
        dataOffset = (headerEnd + align - 1) / align * align
        var infos: [GGUFTensorInfo] = []
        var index: [String: Int] = [:]
        for raw in raws {
            let count = raw.ne.reduce(1, *)
            let bytes = count / raw.type.block.elements * raw.type.block.bytes
            let abs = dataOffset + raw.rel
            try file.checkRange(abs, bytes, "data of tensor \(raw.name)")
            guard index[raw.name] == nil else {
                throw PlaypenError("\(file.path): tensor \(raw.name) appears twice")
            }
            index[raw.name] = infos.count
            infos.append(GGUFTensorInfo(name: raw.name, ne: raw.ne, type: raw.type, offset: abs, byteCount: bytes))
        }
        tensors = infos
        tensorIndex = index
    }

    public func tensor(_ name: String) throws -> GGUFTensorInfo {
        guard let i = tensorIndex[name] else {
            throw PlaypenError("\(file.path): tensor \(name) not found")
        }
        return tensors[i]
    }

    /// Dequantizes a tensor to fp32 into `out` (which must hold `elementCount` floats).
    public func dequantize(_ info: GGUFTensorInfo, into out: UnsafeMutablePointer<Float>) throws {
        guard info.type.canDequantize else {
            throw PlaypenError("\(file.path): tensor \(info.name) has ggml type \(info.type), which cannot be dequantized (supported: F32, F16, BF16, Q4_0, Q5_0, Q8_0, Q4_K, Q5_K, Q6_K)")
        }
        let raw = try file.bytes(at: info.offset, count: info.byteCount, "data of tensor \(info.name)")
        let blocks = info.elementCount / info.type.block.elements
        let type = info.type
        guard let src = raw.baseAddress else { return }
        // Split the blocks into chunks; each chunk is independent, so the result does not depend on threading.
        let chunk = max(1, 65536 / type.block.elements)
        let nChunks = (blocks + chunk - 1) / chunk
        // Pointers cross into the worker closure as addresses (each chunk writes a disjoint range).
        let dstAddress = Int(bitPattern: out), srcAddress = Int(bitPattern: src)
        DispatchQueue.concurrentPerform(iterations: nChunks) { c in
            let b0 = c * chunk, b1 = min(blocks, b0 + chunk)
            let o = UnsafeMutablePointer<Float>(bitPattern: dstAddress)!
            let s = UnsafeRawPointer(bitPattern: srcAddress)!
            GGUFDequant.run(type, s + b0 * type.block.bytes, o + b0 * type.block.elements, b1 - b0)
        }
    }

    /// Drops the tensor's pages of the mapping from memory (they are re-read from the file on the
    /// next access); used after dequantizing so the mapped file does not add to peak RSS.
    public func releasePages(_ info: GGUFTensorInfo) {
        guard let base = file.base else { return }
        let page = Int(getpagesize())
        let start = (info.offset + page - 1) / page * page
        let end = (info.offset + info.byteCount) / page * page
        if end > start { _ = madvise(UnsafeMutableRawPointer(mutating: base + start), end - start, Int32(MADV_DONTNEED)) }
    }

    /// Dequantizes a tensor to a new fp32 array.
    public func dequantize(_ name: String) throws -> [Float] {
        let info = try tensor(name)
        var out = [Float](repeating: 0, count: info.elementCount)
        try out.withUnsafeMutableBufferPointer { try dequantize(info, into: $0.baseAddress!) }
        return out
    }

    // A cursor over the header.
    private struct Reader {
        let file: MappedFile
        var offset = 0
        mutating func u32(_ what: @autoclosure () -> String) throws -> UInt32 {
            let v = try file.load(UInt32.self, at: offset, what()); offset += 4; return v
        }
        mutating func u64(_ what: @autoclosure () -> String) throws -> UInt64 {
            let v = try file.load(UInt64.self, at: offset, what()); offset += 8; return v
        }
        mutating func string(_ what: @autoclosure () -> String) throws -> String {
            let n = try u64(what())
            guard n <= UInt64(file.count) else {
                throw PlaypenError("\(file.path): \(what()) has length \(n), longer than the file")
            }
            let raw = try file.bytes(at: offset, count: Int(n), what())
            offset += Int(n)
            return String(decoding: raw, as: UTF8.self)
        }
        mutating func value(type: UInt32, key: String, depth: Int) throws -> GGUFValue {
            switch type {
            case 0: let v = try file.load(UInt8.self, at: offset, key); offset += 1; return .uint(UInt64(v))
            case 1: let v = try file.load(Int8.self, at: offset, key); offset += 1; return .int(Int64(v))
            case 2: let v = try file.load(UInt16.self, at: offset, key); offset += 2; return .uint(UInt64(v))
            case 3: let v = try file.load(Int16.self, at: offset, key); offset += 2; return .int(Int64(v))
            case 4: return .uint(UInt64(try u32(key)))
            case 5: let v = try file.load(Int32.self, at: offset, key); offset += 4; return .int(Int64(v))
            case 6: return .float(Double(Float(bitPattern: try u32(key))))
            case 7:
                let v = try file.load(UInt8.self, at: offset, key); offset += 1
                return .bool(v != 0)
            case 8: return .string(try string(key))
            case 9:
                guard depth == 0 else { throw PlaypenError("\(file.path): metadata \(key) nests arrays") }
                let elem = try u32(key)
                let n = try u64(key)
                guard n <= UInt64(file.count - offset) else {
                    throw PlaypenError("\(file.path): metadata \(key) claims \(n) elements, more than the file holds")
                }
                var out: [GGUFValue] = []
                out.reserveCapacity(Int(n))
                for _ in 0..<Int(n) { out.append(try value(type: elem, key: key, depth: depth + 1)) }
                return .array(out)
            case 10: return .uint(try u64(key))
            case 11: return .int(Int64(bitPattern: try u64(key)))
            case 12: return .float(Double(bitPattern: try u64(key)))
            default:
                throw PlaypenError("\(file.path): metadata \(key) has unknown value type \(type)")
            }
        }
    }
}

/// Block dequantizers (ggml `dequantize_row_*`); products in fp32 in ggml's order.
enum GGUFDequant {
    @inline(__always) static func half(_ p: UnsafeRawPointer, _ o: Int) -> Float {
        halfToFloat(p.loadUnaligned(fromByteOffset: o, as: UInt16.self).littleEndian)
    }

    static func run(_ type: GGMLType, _ src: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>, _ nb: Int) {
        let q = src.assumingMemoryBound(to: UInt8.self)
        switch type {
        case .f32:
            for i in 0..<nb { y[i] = Float(bitPattern: src.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self).littleEndian) }
        case .f16:
            for i in 0..<nb { y[i] = halfToFloat(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self).littleEndian) }
        case .bf16:
            for i in 0..<nb { y[i] = bfloat16ToFloat(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self).littleEndian) }
        case .q8_0:
            for b in 0..<nb {
                let d = half(src, 34 * b), out = y + 32 * b
                for i in 0..<32 { out[i] = d * Float(Int8(bitPattern: q[34 * b + 2 + i])) }
            }
        case .q4_0:
            for b in 0..<nb {
                let base = 18 * b, d = half(src, base), out = y + 32 * b
                for j in 0..<16 {
                    let x = q[base + 2 + j]
                    out[j] = d * Float(Int(x & 0xF) - 8)
                    out[j + 16] = d * Float(Int(x >> 4) - 8)
                }
            }
        case .q5_0:
            for b in 0..<nb {
                let base = 22 * b, d = half(src, base), out = y + 32 * b
                let qh = src.loadUnaligned(fromByteOffset: base + 2, as: UInt32.self).littleEndian
                for j in 0..<16 {
                    let x = q[base + 6 + j]
                    let x0 = Int(x & 0xF) | Int((qh >> UInt32(j)) & 1) << 4
                    let x1 = Int(x >> 4) | Int((qh >> UInt32(j + 16)) & 1) << 4
                    out[j] = d * Float(x0 - 16)
                    out[j + 16] = d * Float(x1 - 16)
                }
            }
        case .q4_K, .q5_K:
            let bs = type == .q4_K ? 144 : 176
            for b in 0..<nb {
                let base = bs * b, out = y + 256 * b
                let d = half(src, base), dmin = half(src, base + 2)
                let sc = q + base + 4
                let qh = q + base + 16  // Q5_K only
                let qs = q + base + (type == .q4_K ? 16 : 48)
                for j in 0..<8 {
                    let s: UInt8, m: UInt8
                    if j < 4 {
                        s = sc[j] & 63; m = sc[j + 4] & 63
                    } else {
                        s = (sc[j + 4] & 0xF) | ((sc[j - 4] >> 6) << 4)
                        m = (sc[j + 4] >> 4) | ((sc[j] >> 6) << 4)
                    }
                    let d1 = d * Float(s), m1 = dmin * Float(m)
                    let chunk = qs + 32 * (j / 2)
                    for l in 0..<32 {
                        var v = Int(j % 2 == 0 ? chunk[l] & 0xF : chunk[l] >> 4)
                        if type == .q5_K { v |= Int((qh[l] >> UInt8(j)) & 1) << 4 }
                        out[32 * j + l] = d1 * Float(v) - m1
                    }
                }
            }
        case .q6_K:
            for b in 0..<nb {
                let base = 210 * b, out = y + 256 * b
                let d = half(src, base + 208)
                let scales = UnsafeRawPointer(q + base + 192).assumingMemoryBound(to: Int8.self)
                for h in 0..<2 {
                    let ql = q + base + 64 * h, qh = q + base + 128 + 32 * h, o = 128 * h
                    for l in 0..<32 {
                        let q0 = Int((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32
                        let q1 = Int((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32
                        let q2 = Int((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32
                        let q3 = Int((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32
                        let i = o + l
                        out[i] = (d * Float(scales[i / 16])) * Float(q0)
                        out[i + 32] = (d * Float(scales[(i + 32) / 16])) * Float(q1)
                        out[i + 64] = (d * Float(scales[(i + 64) / 16])) * Float(q2)
                        out[i + 96] = (d * Float(scales[(i + 96) / 16])) * Float(q3)
                    }
                }
            }
        default:
            break
        }
    }
}
