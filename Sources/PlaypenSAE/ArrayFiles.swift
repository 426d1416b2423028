import Foundation
import PlaypenIO

// Minimal readers and writers for the array containers SAE files come in: safetensors, .npy and
// the zip archive behind .npz. Internal to PlaypenSAE; PlaypenIO's general readers can replace
// them once they land, the on-disk formats are the same.

// ---------------------------------------------------------------------------------------------
// MARK: Half-precision conversion

@inline(__always) func floatFromHalf(_ h: UInt16) -> Float {
    let sign = UInt32(h & 0x8000) << 16
    let exponent = Int((h >> 10) & 0x1F)
    let mantissa = UInt32(h & 0x3FF)
    if exponent == 0 {
        if mantissa == 0 { return Float(bitPattern: sign) }
        let value = Float(mantissa) * Float(sign: .plus, exponent: -24, significand: 1)
        return sign != 0 ? -value : value
    }
    if exponent == 31 { return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13)) }
    return Float(bitPattern: sign | (UInt32(exponent - 15 + 127) << 23) | (mantissa << 13))
}

@inline(__always) func floatFromBFloat16(_ h: UInt16) -> Float { Float(bitPattern: UInt32(h) << 16) }

// ---------------------------------------------------------------------------------------------
// MARK: A named array read from a file, converted to Float

struct LoadedArray {
    var shape: [Int]
    var values: [Float]
}

/// Converts `count` little-endian elements of `dtype` at `raw` to Float.
func convertToFloat(_ raw: UnsafeRawBufferPointer, dtype: String, count: Int, what: String) throws -> [Float] {
    switch dtype {
    case "F32", "<f4":
        guard raw.count == count * 4 else { throw PlaypenError("\(what): expected \(count * 4) bytes of f32, found \(raw.count)") }
        return [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            for i in 0..<count { buffer[i] = Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))) }
            initialized = count
        }
    case "F16", "<f2", "BF16":
        guard raw.count == count * 2 else { throw PlaypenError("\(what): expected \(count * 2) bytes of \(dtype), found \(raw.count)") }
        let isBF16 = dtype == "BF16"
        return [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            for i in 0..<count {
                let h = UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
                buffer[i] = isBF16 ? floatFromBFloat16(h) : floatFromHalf(h)
            }
            initialized = count
        }
    case "F64", "<f8":
        guard raw.count == count * 8 else { throw PlaypenError("\(what): expected \(count * 8) bytes of f64, found \(raw.count)") }
        return (0..<count).map { Float(Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * $0, as: UInt64.self)))) }
    case "I32", "<i4":
        guard raw.count == count * 4 else { throw PlaypenError("\(what): expected \(count * 4) bytes of i32, found \(raw.count)") }
        return (0..<count).map { Float(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: Int32.self))) }
    case "I64", "<i8":
        guard raw.count == count * 8 else { throw PlaypenError("\(what): expected \(count * 8) bytes of i64, found \(raw.count)") }
        return (0..<count).map { Float(Int64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * $0, as: Int64.self))) }
    default:
        throw PlaypenError("\(what): unsupported dtype \(dtype) (expected F32, F16, BF16, F64, I32 or I64)")
    }
}

// ---------------------------------------------------------------------------------------------
// MARK: safetensors

/// Reads every tensor of a safetensors file as Float (F32, F16, BF16, F64 accepted).
func readSafetensors(path: String) throws -> (tensors: [String: LoadedArray], metadata: [String: String]) {
    let file = try MappedFile(path: path)
    let headerLength = Int(try file.load(UInt64.self, at: 0, "safetensors header length"))
    guard headerLength > 0, headerLength <= 100_000_000 else {
        throw PlaypenError("\(path): safetensors header length \(headerLength) is not plausible")
    }
    let headerBytes = try file.bytes(at: 8, count: headerLength, "safetensors header")
    guard let header = try? JSONSerialization.jsonObject(with: Data(headerBytes)) as? [String: Any] else {
        throw PlaypenError("\(path): safetensors header is not a JSON object")
    }
    let dataStart = 8 + headerLength
    var tensors: [String: LoadedArray] = [:]
    var metadata: [String: String] = [:]
    for (name, entry) in header {
        if name == "__metadata__" {
            for (k, v) in entry as? [String: Any] ?? [:] { metadata[k] = v as? String ?? "\(v)" }
            continue
        }
        guard let info = entry as? [String: Any], let dtype = info["dtype"] as? String,
              let shape = (info["shape"] as? [Any])?.compactMap({ ($0 as? NSNumber)?.intValue }),
              let offsets = (info["data_offsets"] as? [Any])?.compactMap({ ($0 as? NSNumber)?.intValue }),
              offsets.count == 2
        else { throw PlaypenError("\(path): tensor \(name): malformed safetensors header entry") }
        let count = shape.reduce(1, *)
        let raw = try file.bytes(at: dataStart + offsets[0], count: offsets[1] - offsets[0], "tensor \(name)")
        tensors[name] = LoadedArray(shape: shape, values: try convertToFloat(raw, dtype: dtype, count: count, what: "\(path): tensor \(name)"))
    }
    return (tensors, metadata)
}

/// Writes F32 tensors in safetensors layout (names sorted, 8-byte aligned header).
func writeSafetensors(path: String, tensors: [(name: String, shape: [Int], values: [Float])],
                      metadata: [String: String] = [:]) throws {
    var entries: [String] = []
    var offset = 0
    let sorted = tensors.sorted { $0.name < $1.name }
    if !metadata.isEmpty {
        let items = metadata.keys.sorted().map { "\(jsonString($0)):\(jsonString(metadata[$0]!))" }
        entries.append("\"__metadata__\":{\(items.joined(separator: ","))}")
    }
    for t in sorted {
        precondition(t.shape.reduce(1, *) == t.values.count, "tensor \(t.name) shape mismatch")
        let bytes = t.values.count * 4
        entries.append("\(jsonString(t.name)):{\"dtype\":\"F32\",\"shape\":[\(t.shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(offset),\(offset + bytes)]}")
        offset += bytes
    }
    var header = Array(("{" + entries.joined(separator: ",") + "}").utf8)
    while header.count % 8 != 0 { header.append(0x20) }
    let out = try AtomicFile(path: path)
    let handle = try FileHandleWriter(path: out.temporaryPath)
    var length = UInt64(header.count).littleEndian
    try withUnsafeBytes(of: &length) { try handle.write($0) }
    try header.withUnsafeBytes { try handle.write($0) }
    for t in sorted { try t.values.withUnsafeBytes { try handle.write($0) } }
    try handle.close()
    try out.commit()
}

// ---------------------------------------------------------------------------------------------
// MARK: .npy

struct NpyHeader {
    var descr: String
    var fortranOrder: Bool
    var shape: [Int]
    var dataOffset: Int
}

/// Parses a .npy header from the start of `bytes`.
func parseNpyHeader(_ bytes: UnsafeRawBufferPointer, what: String) throws -> NpyHeader {
    let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]
    guard bytes.count >= 10, Array(bytes[0..<6]) == magic else { throw PlaypenError("\(what): not a .npy array (bad magic)") }
    let major = bytes[6]
    let headerLength: Int
    let start: Int
    if major == 1 {
        headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
        start = 10
    } else if major == 2 || major == 3 {
        guard bytes.count >= 12 else { throw PlaypenError("\(what): truncated .npy header") }
        headerLength = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
        start = 12
    } else {
        throw PlaypenError("\(what): unsupported .npy version \(major)")
    }
    guard bytes.count >= start + headerLength else { throw PlaypenError("\(what): truncated .npy header") }
    let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<(start + headerLength)]), as: UTF8.self)
    func field(_ key: String) -> Substring? {
        guard let range = text.range(of: "'\(key)':") else { return nil }
        return text[range.upperBound...].drop(while: { $0 == " " })
    }
    guard let descrField = field("descr"), descrField.first == "'",
          let end = descrField.dropFirst().firstIndex(of: "'") else { throw PlaypenError("\(what): .npy header has no descr") }
    let descr = String(descrField[descrField.index(after: descrField.startIndex)..<end])
    guard let fortranField = field("fortran_order") else { throw PlaypenError("\(what): .npy header has no fortran_order") }
    let fortran = fortranField.hasPrefix("True")
    guard let shapeField = field("shape"), shapeField.first == "(", let close = shapeField.firstIndex(of: ")") else {
        throw PlaypenError("\(what): .npy header has no shape")
    }
    let inner = shapeField[shapeField.index(after: shapeField.startIndex)..<close]
    var shape: [Int] = []
    for part in inner.split(separator: ",") {
        let trimmed = part.trimmingCharacters(in: .whitespaces)
        if trimmed.isEmpty { continue }
        guard let v = Int(trimmed), v >= 0 else { throw PlaypenError("\(what): bad .npy shape \(inner)") }
        shape.append(v)
    }
    return NpyHeader(descr: descr, fortranOrder: fortran, shape: shape, dataOffset: start + headerLength)
}

/// Reads a float .npy array held in memory (C order; f4, f2 or f8).
func readNpyFloat(_ bytes: UnsafeRawBufferPointer, what: String) throws -> LoadedArray {
    let header = try parseNpyHeader(bytes, what: what)
    guard !header.fortranOrder else { throw PlaypenError("\(what): Fortran-order .npy arrays are not supported") }
    let count = header.shape.reduce(1, *)
    let data = UnsafeRawBufferPointer(rebasing: bytes[header.dataOffset...])
    let descr = header.descr == "<f4" || header.descr == "<f2" || header.descr == "<f8" ? header.descr : header.descr
    let width = descr.hasSuffix("4") ? 4 : descr.hasSuffix("2") ? 2 : 8
    guard data.count >= count * width else { throw PlaypenError("\(what): .npy data truncated") }
    let values = try convertToFloat(UnsafeRawBufferPointer(rebasing: data[0..<(count * width)]), dtype: descr, count: count, what: what)
    return LoadedArray(shape: header.shape, values: values)
}

/// Builds a version-1 .npy header whose total length is exactly `size` bytes (padded with spaces),
/// so a streamed array can rewrite its shape at the end without moving the data.
func npyHeader(descr: String, shape: [Int], size: Int = 128) -> [UInt8] {
    let shapeText = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
    var dict = Array("{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shapeText), }".utf8)
    let total = max(size, ((10 + dict.count + 1 + 63) / 64) * 64)
    while 10 + dict.count + 1 < total { dict.append(0x20) }
    dict.append(0x0A)
    let length = dict.count
    return [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0, UInt8(length & 0xFF), UInt8(length >> 8)] + dict
}

// ---------------------------------------------------------------------------------------------
// MARK: Streamed .npy writer

/// Writes a C-order .npy array whose leading dimension grows row by row; the header is rewritten
/// with the final row count on `finish()`. The file lives under `path` directly (the caller
/// writes into a temporary directory that is renamed as a whole).
final class NpyRowWriter {
    let path: String
    let descr: String
    let rowShape: [Int]
    private(set) var rows = 0
    private let handle: FileHandleWriter

    init(path: String, descr: String, rowShape: [Int]) throws {
        self.path = path
        self.descr = descr
        self.rowShape = rowShape
        handle = try FileHandleWriter(path: path)
        try npyHeader(descr: descr, shape: [0] + rowShape).withUnsafeBytes { try handle.write($0) }
    }

    func append(_ bytes: UnsafeRawBufferPointer) throws {
        try handle.write(bytes)
        rows += 1
    }

    func finish() throws {
        let header = npyHeader(descr: descr, shape: [rows] + rowShape)
        precondition(header.count == 128, "npy header outgrew its reserved size")
        try header.withUnsafeBytes { try handle.write($0, at: 0) }
        try handle.close()
    }
}

/// Writes a whole .npy array at once.
func writeNpy(path: String, descr: String, shape: [Int], bytes: UnsafeRawBufferPointer) throws {
    let handle = try FileHandleWriter(path: path)
    try npyHeader(descr: descr, shape: shape).withUnsafeBytes { try handle.write($0) }
    try handle.write(bytes)
    try handle.close()
}

// ---------------------------------------------------------------------------------------------
// MARK: A small buffered POSIX writer

final class FileHandleWriter {
    let path: String
    private var fd: Int32
    private var buffer: [UInt8] = []

    init(path: String) throws {
        self.path = path
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw PlaypenError("\(path): cannot write: \(String(cString: strerror(errno)))") }
        buffer.reserveCapacity(1 << 20)
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        if buffer.count + bytes.count > (1 << 20) { try flush() }
        if bytes.count >= (1 << 20) { try rawWrite(bytes) } else { buffer.append(contentsOf: bytes) }
    }

    func write(_ string: String) throws {
        var s = string
        try s.withUTF8 { try write(UnsafeRawBufferPointer($0)) }
    }

    /// Overwrites bytes at an absolute offset (after flushing pending data).
    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws {
        try flush()
        guard pwrite(fd, bytes.baseAddress, bytes.count, off_t(offset)) == bytes.count else {
            throw PlaypenError("\(path): write failed: \(String(cString: strerror(errno)))")
        }
    }

    private func rawWrite(_ bytes: UnsafeRawBufferPointer) throws {
        var done = 0
        while done < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + done, bytes.count - done)
            guard n > 0 else { throw PlaypenError("\(path): write failed: \(String(cString: strerror(errno)))") }
            done += n
        }
    }

    func flush() throws {
        if buffer.isEmpty { return }
        try buffer.withUnsafeBytes { try rawWrite($0) }
        buffer.removeAll(keepingCapacity: true)
    }

    func close() throws {
        try flush()
        if fd >= 0 { Glibc.close(fd); fd = -1 }
    }

    deinit { if fd >= 0 { Glibc.close(fd) } }
}

// ---------------------------------------------------------------------------------------------
// MARK: zip (for .npz)

/// Lists the members of a zip archive and returns each one's bytes, decompressed.
/// Supports stored (method 0) and deflated (method 8) members and zip64 size fields.
func readZipMembers(path: String) throws -> [String: [UInt8]] {
    let file = try MappedFile(path: path)
    // End of central directory: signature 0x06054b50 within the last 64 KiB + 22 bytes.
    var eocd = -1
    var position = file.count - 22
    let lowest = max(0, file.count - 22 - 65535)
    while position >= lowest {
        if try file.load(UInt32.self, at: position, "zip end record") == 0x0605_4B50 { eocd = position; break }
        position -= 1
    }
    guard eocd >= 0 else { throw PlaypenError("\(path): not a zip archive (no end-of-central-directory record)") }
    var entryCount = Int(try file.load(UInt16.self, at: eocd + 10, "zip entry count"))
    var directoryOffset = Int(try file.load(UInt32.self, at: eocd + 16, "zip directory offset"))
    if directoryOffset == 0xFFFF_FFFF || entryCount == 0xFFFF {
        // zip64 end-of-central-directory locator sits just before the end record.
        let locator = eocd - 20
        guard try file.load(UInt32.self, at: locator, "zip64 locator") == 0x0706_4B50 else {
            throw PlaypenError("\(path): zip64 archive without a zip64 locator")
        }
        let record = Int(try file.load(UInt64.self, at: locator + 8, "zip64 end record offset"))
        guard try file.load(UInt32.self, at: record, "zip64 end record") == 0x0606_4B50 else {
            throw PlaypenError("\(path): bad zip64 end record")
        }
        entryCount = Int(try file.load(UInt64.self, at: record + 32, "zip64 entry count"))
        directoryOffset = Int(try file.load(UInt64.self, at: record + 48, "zip64 directory offset"))
    }
    var members: [String: [UInt8]] = [:]
    var cursor = directoryOffset
    for _ in 0..<entryCount {
        guard try file.load(UInt32.self, at: cursor, "zip directory entry") == 0x0201_4B50 else {
            throw PlaypenError("\(path): bad zip central directory entry at byte \(cursor)")
        }
        let method = Int(try file.load(UInt16.self, at: cursor + 10, "zip method"))
        var compressedSize = Int(try file.load(UInt32.self, at: cursor + 20, "zip size"))
        var uncompressedSize = Int(try file.load(UInt32.self, at: cursor + 24, "zip size"))
        let nameLength = Int(try file.load(UInt16.self, at: cursor + 28, "zip name length"))
        let extraLength = Int(try file.load(UInt16.self, at: cursor + 30, "zip extra length"))
        let commentLength = Int(try file.load(UInt16.self, at: cursor + 32, "zip comment length"))
        var localOffset = Int(try file.load(UInt32.self, at: cursor + 42, "zip local offset"))
        let name = String(decoding: try file.bytes(at: cursor + 46, count: nameLength, "zip member name"), as: UTF8.self)
        // zip64 extended information: only the fields that are saturated appear, in this order.
        var extra = cursor + 46 + nameLength
        let extraEnd = extra + extraLength
        while extra + 4 <= extraEnd {
            let id = try file.load(UInt16.self, at: extra, "zip extra id")
            let size = Int(try file.load(UInt16.self, at: extra + 2, "zip extra size"))
            if id == 0x0001 {
                var field = extra + 4
                if uncompressedSize == 0xFFFF_FFFF { uncompressedSize = Int(try file.load(UInt64.self, at: field, "zip64 size")); field += 8 }
                if compressedSize == 0xFFFF_FFFF { compressedSize = Int(try file.load(UInt64.self, at: field, "zip64 size")); field += 8 }
                if localOffset == 0xFFFF_FFFF { localOffset = Int(try file.load(UInt64.self, at: field, "zip64 offset")) }
            }
            extra += 4 + size
        }
        cursor = extraEnd + commentLength
        guard try file.load(UInt32.self, at: localOffset, "zip local header") == 0x0403_4B50 else {
            throw PlaypenError("\(path): member \(name): bad local header")
        }
        let localName = Int(try file.load(UInt16.self, at: localOffset + 26, "zip local name length"))
        let localExtra = Int(try file.load(UInt16.self, at: localOffset + 28, "zip local extra length"))
        let data = try file.bytes(at: localOffset + 30 + localName + localExtra, count: compressedSize, "zip member \(name)")
        switch method {
        case 0:
            guard compressedSize == uncompressedSize else { throw PlaypenError("\(path): member \(name): stored sizes differ") }
            members[name] = Array(data)
        case 8:
            let out = try inflate(data, expectedSize: uncompressedSize, what: "\(path): member \(name)")
            members[name] = out
        default:
            throw PlaypenError("\(path): member \(name): unsupported zip compression method \(method) (stored and deflate are supported)")
        }
    }
    return members
}

func jsonString(_ s: String) -> String {
    var out = "\""
    for scalar in s.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        default:
            if scalar.value < 0x20 { out += String(format: "\\u%04x", scalar.value) } else { out.unicodeScalars.append(scalar) }
        }
    }
    return out + "\""
}
