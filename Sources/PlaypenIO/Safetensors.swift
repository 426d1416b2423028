import Foundation

// safetensors: u64 little-endian header length N, N bytes of JSON header
// {"__metadata__": {str: str}, name: {"dtype", "shape", "data_offsets": [begin, end]}, ...}
// (offsets relative to the data section that follows), then the tensor bytes.

public enum SafetensorsDType: String, Sendable, CaseIterable {
    case BOOL, U8, I8, I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64

    public var size: Int {
        switch self {
        case .BOOL, .U8, .I8: return 1
        case .I16, .U16, .F16, .BF16: return 2
        case .I32, .U32, .F32: return 4
        case .F64, .I64, .U64: return 8
        }
    }

    /// Position in the reference implementation's dtype enum; its writer lays tensors out by
    /// descending rank, then by name.
    var rank: Int { SafetensorsDType.allCases.firstIndex(of: self)! }
}

public struct SafetensorsTensorInfo: Sendable, Equatable {
    public let name: String
    public let dtype: SafetensorsDType
    public let shape: [Int]
    /// Absolute byte offset in the file.
    public let offset: Int
    public let byteCount: Int
    public var count: Int { shape.reduce(1, *) }
}

/// A memory-mapped safetensors file with a fully validated header: known dtypes, sizes equal to
/// product(shape) * dtype size, every tensor inside the data section, no two overlapping.
public final class SafetensorsFile: @unchecked Sendable {
    public let path: String
    public let metadata: [String: String]
    public let tensors: [String: SafetensorsTensorInfo]
    private let file: MappedFile

    /// Tensor names, sorted.
    public var names: [String] { tensors.keys.sorted() }

    public init(path: String) throws {
        self.path = path
        file = try MappedFile(path: path)
        func fail(_ what: String) -> PlaypenError { PlaypenError("\(path): invalid safetensors file: \(what)") }
        guard file.count >= 8 else { throw fail("\(file.count) bytes, shorter than the 8-byte header length") }
        let headerLength = try file.load(UInt64.self, at: 0, "header length")
        guard headerLength <= UInt64(file.count - 8), headerLength <= 100_000_000 else {
            throw fail("header length \(headerLength) exceeds the file (\(file.count) bytes)")
        }
        let headerBytes = try file.bytes(at: 8, count: Int(headerLength), "header")
        let header: JSONValue
        do {
            header = try JSONValue.parse(headerBytes)
        } catch {
            throw fail("header is not JSON: \(error.description)")
        }
        guard let object = header.object else { throw fail("header is a JSON \(header.kindName), expected an object") }
        let dataStart = 8 + Int(headerLength)
        let dataLength = file.count - dataStart
        var metadata: [String: String] = [:]
        var tensors: [String: SafetensorsTensorInfo] = [:]
        for (name, value) in object.pairs {
            if name == "__metadata__" {
                guard let map = value.object else { throw fail("__metadata__ is not an object") }
                for (key, entry) in map.pairs {
                    guard let text = entry.string else { throw fail("__metadata__[\"\(key)\"] is a \(entry.kindName), expected a string") }
                    metadata[key] = text
                }
                continue
            }
            guard let spec = value.object else { throw fail("tensor \"\(name)\" is a \(value.kindName), expected an object") }
            guard let dtypeName = spec["dtype"]?.string else { throw fail("tensor \"\(name)\" lacks a string dtype") }
            guard let dtype = SafetensorsDType(rawValue: dtypeName) else {
                throw fail("tensor \"\(name)\" has unsupported dtype \(dtypeName)")
            }
            guard let dims = spec["shape"]?.array else { throw fail("tensor \"\(name)\" lacks a shape array") }
            var shape: [Int] = []
            var count = 1
            for dim in dims {
                guard let d = dim.int, d >= 0 else { throw fail("tensor \"\(name)\" has a bad dimension \(dim.serialized())") }
                let (product, overflow) = count.multipliedReportingOverflow(by: d)
                guard !overflow else { throw fail("tensor \"\(name)\" shape overflows") }
                count = product
                shape.append(d)
            }
            guard let offsets = spec["data_offsets"]?.array, offsets.count == 2,
                  let begin = offsets[0].int, let end = offsets[1].int
            else { throw fail("tensor \"\(name)\" lacks data_offsets [begin, end]") }
            guard begin >= 0, begin <= end, end <= dataLength else {
                throw fail("tensor \"\(name)\" data_offsets [\(begin), \(end)] lie outside the data section of \(dataLength) bytes")
            }
            let (expected, overflow) = count.multipliedReportingOverflow(by: dtype.size)
            guard !overflow, end - begin == expected else {
                throw fail("tensor \"\(name)\" has \(end - begin) bytes, shape \(shape) of \(dtypeName) needs \(expected)")
            }
            tensors[name] = SafetensorsTensorInfo(name: name, dtype: dtype, shape: shape, offset: dataStart + begin, byteCount: end - begin)
        }
        let ordered = tensors.values.sorted { ($0.offset, $0.byteCount) < ($1.offset, $1.byteCount) }
        for (a, b) in zip(ordered, ordered.dropFirst()) where b.offset < a.offset + a.byteCount {
            throw fail("tensors \"\(a.name)\" and \"\(b.name)\" overlap")
        }
        self.metadata = metadata
        self.tensors = tensors
    }

    public func info(_ name: String) throws -> SafetensorsTensorInfo {
        guard let info = tensors[name] else {
            let known = names.prefix(8).joined(separator: ", ")
            throw PlaypenError("\(path): no tensor \"\(name)\" (has \(tensors.count): \(known)\(tensors.count > 8 ? ", ..." : ""))")
        }
        return info
    }

    /// The tensor's raw bytes inside the mapping (valid while this object lives).
    public func bytes(_ name: String) throws -> UnsafeRawBufferPointer {
        let info = try info(name)
        return try file.bytes(at: info.offset, count: info.byteCount, "tensor \(name)")
    }

    /// The tensor as Float: F32 as is, F16/BF16 widened exactly, F64 rounded.
    public func floats(_ name: String) throws -> [Float] {
        let info = try info(name)
        let raw = try bytes(name)
        let n = info.count
        switch info.dtype {
        case .F32:
            return [Float](unsafeUninitializedCapacity: n) { buffer, initialized in
                if n > 0 { UnsafeMutableRawPointer(buffer.baseAddress!).copyMemory(from: raw.baseAddress!, byteCount: n * 4) }
                initialized = n
            }
        case .F16: return (0..<n).map { halfToFloat(raw.loadUnaligned(fromByteOffset: 2 * $0, as: UInt16.self)) }
        case .BF16: return (0..<n).map { bfloat16ToFloat(raw.loadUnaligned(fromByteOffset: 2 * $0, as: UInt16.self)) }
        case .F64: return (0..<n).map { Float(raw.loadUnaligned(fromByteOffset: 8 * $0, as: Double.self)) }
        default:
            throw PlaypenError("\(path): tensor \"\(name)\" is \(info.dtype.rawValue), expected F32, F16, BF16 or F64")
        }
    }

    /// Integer tensors (I64, I32, I16, I8, U8, U16, U32, BOOL) as Int64.
    public func int64s(_ name: String) throws -> [Int64] {
        let info = try info(name)
        let raw = try bytes(name)
        let n = info.count
        switch info.dtype {
        case .I64: return (0..<n).map { raw.loadUnaligned(fromByteOffset: 8 * $0, as: Int64.self) }
        case .I32: return (0..<n).map { Int64(raw.loadUnaligned(fromByteOffset: 4 * $0, as: Int32.self)) }
        case .U32: return (0..<n).map { Int64(raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self)) }
        case .I16: return (0..<n).map { Int64(raw.loadUnaligned(fromByteOffset: 2 * $0, as: Int16.self)) }
        case .U16: return (0..<n).map { Int64(raw.loadUnaligned(fromByteOffset: 2 * $0, as: UInt16.self)) }
        case .I8: return (0..<n).map { Int64(Int8(bitPattern: raw[$0])) }
        case .U8, .BOOL: return (0..<n).map { Int64(raw[$0]) }
        default:
            throw PlaypenError("\(path): tensor \"\(name)\" is \(info.dtype.rawValue), expected an integer dtype")
        }
    }
}

/// Builds a safetensors file the way the reference writer does: tensors laid out by descending
/// dtype rank then name, header keys in that order after `__metadata__`, compact JSON padded with
/// spaces to a multiple of 8 bytes. (Metadata keys are sorted; the reference uses hash order.)
public struct SafetensorsWriter {
    public var metadata: [String: String] = [:]
    private var entries: [(name: String, dtype: SafetensorsDType, shape: [Int], bytes: [UInt8])] = []

    public init(metadata: [String: String] = [:]) { self.metadata = metadata }

    public mutating func add(_ name: String, dtype: SafetensorsDType, shape: [Int], bytes: [UInt8]) throws {
        guard name != "__metadata__", !entries.contains(where: { $0.name == name }) else {
            throw PlaypenError("safetensors: duplicate or reserved tensor name \"\(name)\"")
        }
        let count = shape.reduce(1, *)
        guard shape.allSatisfy({ $0 >= 0 }), count * dtype.size == bytes.count else {
            throw PlaypenError("safetensors: tensor \"\(name)\" shape \(shape) of \(dtype.rawValue) needs \(count * dtype.size) bytes, got \(bytes.count)")
        }
        entries.append((name, dtype, shape, bytes))
    }

    public mutating func add(_ name: String, floats: [Float], shape: [Int]) throws {
        try add(name, dtype: .F32, shape: shape, bytes: floats.withUnsafeBytes { Array($0) })
    }

    public mutating func add(_ name: String, int64s: [Int64], shape: [Int]) throws {
        try add(name, dtype: .I64, shape: shape, bytes: int64s.withUnsafeBytes { Array($0) })
    }

    public mutating func add(_ name: String, int32s: [Int32], shape: [Int]) throws {
        try add(name, dtype: .I32, shape: shape, bytes: int32s.withUnsafeBytes { Array($0) })
    }

    private var ordered: [(name: String, dtype: SafetensorsDType, shape: [Int], bytes: [UInt8])] {
        entries.sorted { $0.dtype.rank != $1.dtype.rank ? $0.dtype.rank > $1.dtype.rank : $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }
    }

    /// The 8-byte length and the padded JSON header.
    public func header() -> [UInt8] {
        var object = JSONObject()
        if !metadata.isEmpty {
            object["__metadata__"] = .object(JSONObject(metadata.keys.sorted().map { ($0, JSONValue.string(metadata[$0]!)) }))
        }
        var offset = 0
        for entry in ordered {
            object[entry.name] = [
                "dtype": .string(entry.dtype.rawValue),
                "shape": .array(entry.shape.map { .int($0) }),
                "data_offsets": [.int(offset), .int(offset + entry.bytes.count)],
            ]
            offset += entry.bytes.count
        }
        var json: [UInt8] = []
        JSONValue.object(object).write(to: &json)
        json += [UInt8](repeating: 0x20, count: (8 - json.count % 8) % 8)
        var length = UInt64(json.count).littleEndian
        return withUnsafeBytes(of: &length) { Array($0) } + json
    }

    public func write(to sink: ByteSink) throws {
        try sink.write(header())
        for entry in ordered { try sink.write(entry.bytes) }
    }

    /// Writes atomically to `path`.
    public func write(to path: String) throws {
        let out = try OutputFile(path: path, compressed: false)
        try write(to: out)
        try out.commit()
    }
}
