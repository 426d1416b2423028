import Foundation

// ---------------------------------------------------------------------------------------------
// Tensor stream (.ppt): rows of one fixed shape, each with a string row_id, appended one at a
// time by a producer that need not know how many there will be. Byte layout in
// schemas/tensor-stream.md. A file is one or more segments (header, rows, end marker), so shards
// concatenate with `cat`; a reader checks that every segment agrees on dtype and row shape.
// ---------------------------------------------------------------------------------------------

public enum TensorStreamDType: UInt32, Sendable {
    case f32 = 0
    case f16 = 1
    case bf16 = 2

    public var size: Int { self == .f32 ? 4 : 2 }
    public var name: String { self == .f32 ? "f32" : self == .f16 ? "f16" : "bf16" }
}

public struct TensorStreamHeader: Equatable, Sendable {
    public static let version: UInt32 = 1
    public var dtype: TensorStreamDType
    public var rowShape: [Int]
    /// The producer manifest: any JSON object (tool, version, config, layout of the row, ...).
    public var manifest: JSONValue
    /// Elements per row: the product of `rowShape`.
    public var rowLength: Int { rowShape.reduce(1, *) }

    public init(dtype: TensorStreamDType = .f32, rowShape: [Int], manifest: JSONValue = [:]) {
        self.dtype = dtype
        self.rowShape = rowShape
        self.manifest = manifest
    }
}

enum TensorStreamMarker {
    /// "\x89PPT\r\n\x1a\n": a segment header; the CR/LF/EOF bytes catch text-mode mangling.
    static let segment: [UInt8] = [0x89, 0x50, 0x50, 0x54, 0x0D, 0x0A, 0x1A, 0x0A]
    static let row: [UInt8] = Array("ROW\0".utf8)
    static let end: [UInt8] = Array("END\0".utf8)
}

/// Float to IEEE half, rounding to nearest even (overflow to infinity).
@inline(__always) public func floatToHalf(_ f: Float) -> UInt16 {
    #if arch(x86_64) && os(macOS)
    // Float16 is unavailable on Intel macOS; do the rounding by hand.
    let bits = f.bitPattern
    let sign = UInt16((bits >> 16) & 0x8000)
    let exponent = Int((bits >> 23) & 0xFF) - 127 + 15
    var mantissa = bits & 0x7F_FFFF
    if (bits >> 23) & 0xFF == 0xFF { return sign | 0x7C00 | (mantissa != 0 ? 0x200 : 0) }
    if exponent >= 31 { return sign | 0x7C00 }
    if exponent <= 0 {
        if exponent < -10 { return sign }
        mantissa |= 0x80_0000
        let shift = UInt32(14 - exponent)
        let half = mantissa >> shift
        let remainder = mantissa & ((1 << shift) - 1), midpoint = UInt32(1) << (shift - 1)
        return sign | UInt16(half + ((remainder > midpoint || (remainder == midpoint && half & 1 == 1)) ? 1 : 0))
    }
    let half = UInt32(exponent) << 10 | (mantissa >> 13)
    let remainder = mantissa & 0x1FFF
    return sign | UInt16(half + ((remainder > 0x1000 || (remainder == 0x1000 && half & 1 == 1)) ? 1 : 0))
    #else
    return Float16(f).bitPattern
    #endif
}

/// Float to bfloat16, rounding to nearest even (NaN stays NaN).
@inline(__always) public func floatToBFloat16(_ f: Float) -> UInt16 {
    let bits = f.bitPattern
    if f.isNaN { return UInt16(bits >> 16) | 0x40 }
    return UInt16((bits &+ 0x7FFF &+ ((bits >> 16) & 1)) >> 16)
}

/// Writes a tensor stream (one segment) to a file (atomically; zstd if `.zst`) or stdout (`-`).
public final class TensorStreamWriter {
    public let header: TensorStreamHeader
    public let sink: ByteSink
    public private(set) var count = 0
    private var scratch: [UInt8] = []
    private var finished = false

    public init(sink: ByteSink, header: TensorStreamHeader) throws {
        guard header.rowShape.allSatisfy({ $0 > 0 }) else {
            throw PlaypenError("\(sink.name): tensor stream row shape \(header.rowShape) must have positive dimensions")
        }
        guard header.manifest.object != nil else {
            throw PlaypenError("\(sink.name): tensor stream manifest must be a JSON object")
        }
        self.sink = sink
        self.header = header
        var bytes = TensorStreamMarker.segment
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
        func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
        u32(TensorStreamHeader.version)
        u32(header.dtype.rawValue)
        u32(UInt32(header.rowShape.count))
        for d in header.rowShape { u64(UInt64(d)) }
        var manifest: [UInt8] = []
        header.manifest.write(to: &manifest, options: JSONWriteOptions(sortedKeys: true))
        u32(UInt32(manifest.count))
        bytes += manifest
        try sink.write(bytes)
        scratch.reserveCapacity(header.rowLength * header.dtype.size)
    }

    public convenience init(path: String, header: TensorStreamHeader) throws {
        try self.init(sink: try OutputFile(path: path), header: header)
    }

    /// Appends one row of `rowLength` values (converted to the stream's dtype).
    public func append(rowID: String, _ values: UnsafeBufferPointer<Float>) throws {
        precondition(!finished, "append after commit")
        guard values.count == header.rowLength else {
            throw PlaypenError("\(sink.name): row \"\(rowID)\" has \(values.count) values, the stream's rows have \(header.rowLength)")
        }
        var id = rowID
        let idLength = id.utf8.count
        guard idLength <= Int(UInt32.max) else { throw PlaypenError("\(sink.name): row id too long") }
        try sink.write(TensorStreamMarker.row)
        try sink.writeLittleEndian(UInt32(idLength))
        try id.withUTF8 { try sink.write(UnsafeRawBufferPointer($0)) }
        switch header.dtype {
        case .f32:
            try sink.write(UnsafeRawBufferPointer(values))
        case .f16, .bf16:
            scratch.removeAll(keepingCapacity: true)
            for v in values {
                let h = header.dtype == .f16 ? floatToHalf(v) : floatToBFloat16(v)
                scratch.append(UInt8(h & 0xFF))
                scratch.append(UInt8(h >> 8))
            }
            try sink.write(scratch)
        }
        count += 1
    }

    public func append(rowID: String, _ values: [Float]) throws {
        try values.withUnsafeBufferPointer { try append(rowID: rowID, $0) }
    }

    /// Writes the end marker with the row count and moves the file into place.
    public func commit() throws {
        guard !finished else { return }
        finished = true
        try sink.write(TensorStreamMarker.end)
        try sink.writeLittleEndian(UInt64(count))
        try sink.finish()
    }
}

/// Reads a tensor stream row by row, from a file or stdin, plain or zstd, one segment after another.
public final class TensorStreamReader {
    public let source: ByteSource
    /// The first segment's header; `segments` lists every header met so far.
    public private(set) var header: TensorStreamHeader
    public private(set) var segments: [TensorStreamHeader] = []
    /// Rows read so far, over all segments.
    public private(set) var count = 0
    private var rowsInSegment = 0
    private var scratch: [UInt8] = []
    private var atEnd = false

    public var name: String { source.name }

    public init(source: ByteSource) throws {
        self.source = source
        header = TensorStreamHeader(rowShape: [1])
        guard let first = try readSegmentHeader(atStart: true) else {
            throw PlaypenError("\(source.name): empty file, expected a tensor stream")
        }
        header = first
        segments = [first]
    }

    public convenience init(path: String) throws {
        try self.init(source: try InputFile(path: path))
    }

    private func truncated(_ what: String) -> PlaypenError {
        PlaypenError("\(name): truncated tensor stream: the file ends inside \(what) (after \(count) complete rows)")
    }

    private func readExactly(_ n: Int, _ what: @autoclosure () -> String) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: n)
        let got = try bytes.withUnsafeMutableBytes { try source.readFully(into: $0) }
        guard got == n else { throw truncated(what()) }
        return bytes
    }

    private func u32(_ bytes: [UInt8], _ at: Int) -> UInt32 {
        bytes.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: at, as: UInt32.self)) }
    }

    private func u64(_ bytes: [UInt8], _ at: Int) -> UInt64 {
        bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: at, as: UInt64.self)) }
    }

    /// Reads a segment header; the 4 bytes already consumed (when not at the start) are `lead`.
    private func readSegmentHeader(atStart: Bool, lead: [UInt8] = []) throws -> TensorStreamHeader? {
        var magic = lead
        if atStart {
            var first = [UInt8](repeating: 0, count: 8)
            let got = try first.withUnsafeMutableBytes { try source.readFully(into: $0) }
            if got == 0 { return nil }
            magic = Array(first[0..<got])
        } else {
            magic += try readExactly(4, "a segment header")
        }
        guard magic == TensorStreamMarker.segment else {
            throw PlaypenError("\(name): not a tensor stream (expected the \\x89PPT magic at segment \(segments.count + 1))")
        }
        let fixed = try readExactly(12, "a segment header")
        let version = u32(fixed, 0), dtypeCode = u32(fixed, 4), ndim = Int(u32(fixed, 8))
        guard version == TensorStreamHeader.version else {
            throw PlaypenError("\(name): tensor stream format version \(version), this reader knows \(TensorStreamHeader.version)")
        }
        guard let dtype = TensorStreamDType(rawValue: dtypeCode) else {
            throw PlaypenError("\(name): tensor stream dtype code \(dtypeCode) is unknown (0 f32, 1 f16, 2 bf16)")
        }
        guard ndim <= 16 else { throw PlaypenError("\(name): tensor stream row has \(ndim) dimensions (at most 16)") }
        let dims = try readExactly(8 * ndim + 4, "a segment header")
        var shape: [Int] = []
        var total = 1
        for k in 0..<ndim {
            let d = u64(dims, 8 * k)
            guard d > 0, d < 1 << 40 else { throw PlaypenError("\(name): tensor stream row dimension \(d) is invalid") }
            let (p, o) = total.multipliedReportingOverflow(by: Int(d))
            guard !o, p < 1 << 40 else { throw PlaypenError("\(name): tensor stream row shape is too large") }
            total = p
            shape.append(Int(d))
        }
        let manifestLength = Int(u32(dims, 8 * ndim))
        let manifestBytes = try readExactly(manifestLength, "a segment header")
        let manifest: JSONValue
        do {
            manifest = try manifestBytes.withUnsafeBytes { try JSONValue.parse($0) }
        } catch let error as JSONSyntaxError {
            throw PlaypenError("\(name): tensor stream manifest is not JSON: \(error.description)")
        }
        let header = TensorStreamHeader(dtype: dtype, rowShape: shape, manifest: manifest)
        if !atStart {
            guard dtype == self.header.dtype, shape == self.header.rowShape else {
                throw PlaypenError("\(name): segment \(segments.count + 1) has \(dtype.name) rows of shape \(shape), segment 1 has \(self.header.dtype.name) rows of shape \(self.header.rowShape)")
            }
        }
        rowsInSegment = 0
        return header
    }

    /// Reads the next row's values into `values` (which must hold `rowLength` floats) and
    /// returns its row id; nil at the end of the stream.
    public func next(into values: UnsafeMutableBufferPointer<Float>) throws -> String? {
        precondition(values.count == header.rowLength, "buffer must hold one row")
        while true {
            if atEnd { return nil }
            var marker = [UInt8](repeating: 0, count: 4)
            let got = try marker.withUnsafeMutableBytes { try source.readFully(into: $0) }
            if got == 0 {
                throw PlaypenError("\(name): truncated tensor stream: segment \(segments.count) has no end marker (after \(count) complete rows)")
            }
            guard got == 4 else { throw truncated("a record marker") }
            if marker == TensorStreamMarker.row { break }
            if marker == TensorStreamMarker.end {
                let countBytes = try readExactly(8, "an end marker")
                let declared = u64(countBytes, 0)
                guard declared == UInt64(rowsInSegment) else {
                    throw PlaypenError("\(name): segment \(segments.count) declares \(declared) rows but holds \(rowsInSegment)")
                }
                // Another segment (a concatenated shard), or the end of the file.
                var lead = [UInt8](repeating: 0, count: 4)
                let more = try lead.withUnsafeMutableBytes { try source.readFully(into: $0) }
                if more == 0 {
                    atEnd = true
                    return nil
                }
                guard more == 4 else { throw truncated("a segment header") }
                let next = try readSegmentHeader(atStart: false, lead: lead)!
                segments.append(next)
                continue
            }
            throw PlaypenError("\(name): corrupt tensor stream: unexpected bytes \(marker) after row \(count)")
        }
        let idLength = Int(u32(try readExactly(4, "a row header"), 0))
        guard idLength < 1 << 20 else { throw PlaypenError("\(name): corrupt tensor stream: row id of \(idLength) bytes after row \(count)") }
        let idBytes = try readExactly(idLength, "a row id")
        let rowID = String(decoding: idBytes, as: UTF8.self)
        let n = header.rowLength
        switch header.dtype {
        case .f32:
            let got = try source.readFully(into: UnsafeMutableRawBufferPointer(values))
            guard got == 4 * n else { throw truncated("row \"\(rowID)\"") }
        case .f16, .bf16:
            if scratch.count != 2 * n { scratch = [UInt8](repeating: 0, count: 2 * n) }
            let got = try scratch.withUnsafeMutableBytes { try source.readFully(into: $0) }
            guard got == 2 * n else { throw truncated("row \"\(rowID)\"") }
            let half = header.dtype == .f16
            scratch.withUnsafeBytes { raw in
                for k in 0..<n {
                    let h = raw.loadUnaligned(fromByteOffset: 2 * k, as: UInt16.self)
                    values[k] = half ? halfToFloat(h) : bfloat16ToFloat(h)
                }
            }
        }
        count += 1
        rowsInSegment += 1
        return rowID
    }

    /// The next row as an id and a fresh array; nil at the end.
    public func next() throws -> (rowID: String, values: [Float])? {
        var values = [Float](repeating: 0, count: header.rowLength)
        guard let id = try values.withUnsafeMutableBufferPointer({ try next(into: $0) }) else { return nil }
        return (id, values)
    }

    /// Every remaining row: ids and a row-major [rows x rowLength] matrix.
    public func readAll() throws -> (rowIDs: [String], values: [Float]) {
        var ids: [String] = []
        var matrix: [Float] = []
        var row = [Float](repeating: 0, count: header.rowLength)
        while let id = try row.withUnsafeMutableBufferPointer({ try next(into: $0) }) {
            ids.append(id)
            matrix += row
        }
        return (ids, matrix)
    }
}

public enum TensorStream {
    /// Concatenates shards into one stream (what `cat` does, but validated: every input must be a
    /// complete stream with the same dtype and row shape). Segments and manifests are kept.
    public static func merge(inputs: [String], output: String) throws {
        guard let first = inputs.first else { throw PlaypenError("merge: no input tensor streams") }
        let reference = try TensorStreamReader(path: first).header
        for path in inputs {
            let reader = try TensorStreamReader(path: path)
            guard reader.header.dtype == reference.dtype, reader.header.rowShape == reference.rowShape else {
                throw PlaypenError("\(path): \(reader.header.dtype.name) rows of shape \(reader.header.rowShape), \(first) has \(reference.dtype.name) rows of shape \(reference.rowShape)")
            }
            var row = [Float](repeating: 0, count: reader.header.rowLength)
            while try row.withUnsafeMutableBufferPointer({ try reader.next(into: $0) }) != nil {}
        }
        let out = try OutputFile(path: output)
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        for path in inputs {
            let input = try InputFile(path: path)
            while true {
                let n = try buffer.withUnsafeMutableBytes { try input.read(into: $0) }
                if n == 0 { break }
                try buffer.withUnsafeBytes { try out.write(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            }
        }
        try out.commit()
    }
}
