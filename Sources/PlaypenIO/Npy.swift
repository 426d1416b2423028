import Foundation

/// Element types of `.npy` files this library reads and writes (little-endian, C order).
public enum NpyDType: String, Sendable, CaseIterable {
    case bool = "|b1"
    case uint8 = "|u1"
    case uint16 = "<u2"
    case int32 = "<i4"
    case int64 = "<i8"
    case float16 = "<f2"
    case float32 = "<f4"
    case float64 = "<f8"

    public var size: Int {
        switch self {
        case .bool, .uint8: return 1
        case .uint16, .float16: return 2
        case .int32, .float32: return 4
        case .int64, .float64: return 8
        }
    }

    /// Accepts numpy's spellings of the same type ('<f4', '=f4' and, for 1-byte types, '<b1').
    init?(descr: String) {
        var d = descr
        if d.hasPrefix("=") { d = "<" + d.dropFirst() }
        if d.count == 3, d.hasSuffix("1"), d.first == "<" || d.first == ">" { d = "|" + d.dropFirst() }
        self.init(rawValue: d)
    }
}

/// An n-dimensional array as stored in a `.npy` file: raw little-endian element bytes in C order.
public struct NpyArray: Equatable, Sendable {
    public var dtype: NpyDType
    public var shape: [Int]
    public var bytes: [UInt8]

    public var count: Int { shape.reduce(1, *) }

    public init(dtype: NpyDType, shape: [Int], bytes: [UInt8]) throws {
        guard shape.allSatisfy({ $0 >= 0 }) else { throw PlaypenError("npy: negative dimension in shape \(shape)") }
        let (count, overflow) = shape.reduce((1, false)) { acc, d in
            let (p, o) = acc.0.multipliedReportingOverflow(by: d)
            return (p, acc.1 || o)
        }
        guard !overflow, count.multipliedReportingOverflow(by: dtype.size).partialValue == bytes.count,
              !count.multipliedReportingOverflow(by: dtype.size).overflow
        else {
            throw PlaypenError("npy: shape \(shape) of \(dtype.rawValue) needs \(count) elements, got \(bytes.count) bytes")
        }
        self.dtype = dtype
        self.shape = shape
        self.bytes = bytes
    }

    private init<T>(_ values: [T], _ dtype: NpyDType, _ shape: [Int]?) throws {
        try self.init(dtype: dtype, shape: shape ?? [values.count],
                      bytes: values.withUnsafeBytes { Array($0) })
    }

    // Little-endian hosts only (x86-64, arm64): element bytes are copied as is.
    public init(floats: [Float], shape: [Int]? = nil) throws { try self.init(floats, .float32, shape) }
    public init(doubles: [Double], shape: [Int]? = nil) throws { try self.init(doubles, .float64, shape) }
    public init(int32s: [Int32], shape: [Int]? = nil) throws { try self.init(int32s, .int32, shape) }
    public init(int64s: [Int64], shape: [Int]? = nil) throws { try self.init(int64s, .int64, shape) }
    public init(bools: [Bool], shape: [Int]? = nil) throws {
        try self.init(dtype: .bool, shape: shape ?? [bools.count], bytes: bools.map { $0 ? 1 : 0 })
    }

    private func elements<T>(_ type: T.Type) -> [T] {
        [T](unsafeUninitializedCapacity: count) { buffer, initialized in
            bytes.withUnsafeBytes { raw in
                if count > 0 { UnsafeMutableRawPointer(buffer.baseAddress!).copyMemory(from: raw.baseAddress!, byteCount: count * MemoryLayout<T>.size) }
            }
            initialized = count
        }
    }

    /// The elements as Float, converted from any numeric dtype (float64 rounds to nearest).
    public func floats() -> [Float] {
        switch dtype {
        case .float32: return elements(Float.self)
        case .float64: return elements(Double.self).map { Float($0) }
        case .float16: return elements(UInt16.self).map { halfToFloat($0) }
        case .int32: return elements(Int32.self).map { Float($0) }
        case .int64: return elements(Int64.self).map { Float($0) }
        case .uint16: return elements(UInt16.self).map { Float($0) }
        case .uint8, .bool: return bytes.map { Float($0) }
        }
    }

    public func doubles() -> [Double] {
        switch dtype {
        case .float64: return elements(Double.self)
        case .int64: return elements(Int64.self).map { Double($0) }
        case .int32: return elements(Int32.self).map { Double($0) }
        default: return floats().map { Double($0) }
        }
    }

    /// Integer elements; throws for floating-point dtypes (no silent truncation).
    public func int64s() throws -> [Int64] {
        switch dtype {
        case .int64: return elements(Int64.self)
        case .int32: return elements(Int32.self).map { Int64($0) }
        case .uint16: return elements(UInt16.self).map { Int64($0) }
        case .uint8, .bool: return bytes.map { Int64($0) }
        default: throw PlaypenError("npy: expected an integer array, found \(dtype.rawValue)")
        }
    }

    public func int32s() throws -> [Int32] {
        if dtype == .int32 { return elements(Int32.self) }
        return try int64s().map {
            guard let v = Int32(exactly: $0) else { throw PlaypenError("npy: value \($0) does not fit in int32") }
            return v
        }
    }

    public func bools() throws -> [Bool] {
        guard dtype == .bool else { throw PlaypenError("npy: expected a bool array, found \(dtype.rawValue)") }
        return bytes.map { $0 != 0 }
    }
}

/// IEEE half precision to single precision (exact).
public func halfToFloat(_ h: UInt16) -> Float {
    let sign = UInt32(h & 0x8000) << 16
    let exponent = Int(h >> 10) & 0x1F
    let mantissa = UInt32(h & 0x3FF)
    if exponent == 0 {
        // Zero or subnormal: mantissa * 2^-24.
        let magnitude = Float(mantissa) * Float(sign: .plus, exponent: -24, significand: 1)
        return sign != 0 ? -magnitude : magnitude
    }
    if exponent == 31 { return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13)) }
    return Float(bitPattern: sign | UInt32(exponent - 15 + 127) << 23 | (mantissa << 13))
}

/// bfloat16 to single precision (exact: the top 16 bits of a float).
@inline(__always) public func bfloat16ToFloat(_ b: UInt16) -> Float { Float(bitPattern: UInt32(b) << 16) }

/// Reads and writes numpy's `.npy` format (version 1.0 written; 1.0, 2.0, 3.0 read).
public enum Npy {
    static let magic: [UInt8] = [0x93] + Array("NUMPY".utf8)

    /// The header numpy's `np.save` writes, padded with spaces and a newline to a multiple of 64.
    public static func header(dtype: NpyDType, shape: [Int]) -> [UInt8] {
        let shapeText = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var dict = Array("{'descr': '\(dtype.rawValue)', 'fortran_order': False, 'shape': \(shapeText), }".utf8)
        let unpadded = magic.count + 2 + 2 + dict.count + 1
        dict += [UInt8](repeating: 0x20, count: (64 - unpadded % 64) % 64)
        dict.append(0x0A)
        return magic + [1, 0, UInt8(dict.count & 0xFF), UInt8(dict.count >> 8)] + dict
    }

    public static func encode(_ array: NpyArray) -> [UInt8] {
        header(dtype: array.dtype, shape: array.shape) + array.bytes
    }

    /// Writes atomically (nothing under `path` unless complete); `-` writes to stdout.
    public static func write(_ array: NpyArray, to path: String) throws {
        let out = try OutputFile(path: path, compressed: false)
        try out.write(header(dtype: array.dtype, shape: array.shape))
        try out.write(array.bytes)
        try out.commit()
    }

    public static func read(path: String) throws -> NpyArray {
        let data = try FileDescriptorSource(path: path).readAll()
        return try decode([UInt8](data), name: path)
    }

    public static func decode(_ file: [UInt8], name: String) throws -> NpyArray {
        func fail(_ what: String) -> PlaypenError { PlaypenError("\(name): not a valid .npy file: \(what)") }
        guard file.count >= 10, Array(file[0..<6]) == magic else { throw fail("missing the \\x93NUMPY magic") }
        let major = file[6]
        let headerLength: Int, headerStart: Int
        switch major {
        case 1:
            headerLength = Int(file[8]) | Int(file[9]) << 8
            headerStart = 10
        case 2, 3:
            guard file.count >= 12 else { throw fail("truncated header") }
            headerLength = Int(file[8]) | Int(file[9]) << 8 | Int(file[10]) << 16 | Int(file[11]) << 24
            headerStart = 12
        default:
            throw fail("unsupported format version \(major).\(file[7])")
        }
        guard file.count >= headerStart + headerLength else { throw fail("truncated header") }
        let text = String(decoding: file[headerStart..<headerStart + headerLength], as: UTF8.self)

        guard let descr = dictValue(text, "descr"), descr.count >= 2, descr.first == "'" || descr.first == "\"" else {
            throw fail("header lacks 'descr': \(text.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        let descrName = String(descr.dropFirst().dropLast())
        guard let dtype = NpyDType(descr: descrName) else {
            throw fail("unsupported dtype '\(descrName)' (supported: \(NpyDType.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        guard let order = dictValue(text, "fortran_order") else { throw fail("header lacks 'fortran_order'") }
        if order == "True" { throw PlaypenError("\(name): Fortran-order arrays are not supported; save with np.ascontiguousarray") }
        guard let shapeText = dictValue(text, "shape"), shapeText.hasPrefix("("), shapeText.hasSuffix(")") else {
            throw fail("header lacks 'shape'")
        }
        var shape: [Int] = []
        for part in shapeText.dropFirst().dropLast().split(separator: ",") {
            let trimmed = part.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty { continue }
            guard let d = Int(trimmed.hasSuffix("L") ? String(trimmed.dropLast()) : trimmed), d >= 0 else {
                throw fail("bad shape \(shapeText)")
            }
            shape.append(d)
        }
        let dataStart = headerStart + headerLength
        let count = shape.reduce(1) { $0.multipliedReportingOverflow(by: $1).overflow ? Int.max : $0 * $1 }
        let (needed, overflow) = count.multipliedReportingOverflow(by: dtype.size)
        guard !overflow, file.count - dataStart == needed else {
            throw PlaypenError("\(name): .npy data is \(file.count - dataStart) bytes, shape \(shape) of \(descrName) needs \(overflow ? "too many" : String(needed))")
        }
        return try NpyArray(dtype: dtype, shape: shape, bytes: Array(file[dataStart...]))
    }

    /// The text of a value in numpy's header dict literal: a quoted string, a word, or a tuple.
    static func dictValue(_ text: String, _ key: String) -> String? {
        for quote in ["'", "\""] {
            guard let keyRange = text.range(of: quote + key + quote) else { continue }
            var rest = text[keyRange.upperBound...].drop { $0 == " " }
            guard rest.first == ":" else { return nil }
            rest = rest.dropFirst().drop { $0 == " " }
            guard let first = rest.first else { return nil }
            if first == "(" {
                guard let close = rest.firstIndex(of: ")") else { return nil }
                return String(rest[...close])
            }
            if first == "'" || first == "\"" {
                guard let close = rest.dropFirst().firstIndex(of: first) else { return nil }
                return String(rest[...close])
            }
            return String(rest.prefix { $0 != "," && $0 != "}" && $0 != " " })
        }
        return nil
    }
}
