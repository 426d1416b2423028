import Foundation
import PlaypenIO

// The presence matrix can be larger than memory: MappedNpy reads only the header and maps the
// file, so callers can stream rows (PlaypenIO's `Npy.read` loads whole arrays; it is used for
// the small ones).

/// A memory-mapped, C-ordered `.npy` array (header parsed, data not read).
public final class MappedNpy: @unchecked Sendable {
    public typealias DType = NpyDType
    public let path: String
    public let dtype: DType
    public let shape: [Int]
    public let dataOffset: Int
    public let file: MappedFile

    public var count: Int { shape.reduce(1, *) }
    public var itemSize: Int { dtype.size }
    public var data: UnsafeRawPointer { file.base! + dataOffset }

    public init(path: String) throws {
        self.path = path
        file = try MappedFile(path: path)
        let magic = try file.bytes(at: 0, count: 8, "npy magic")
        guard magic.count == 8, Array(magic[0..<6]) == [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59] else {
            throw PlaypenError("\(path): not a .npy file (bad magic)")
        }
        let major = magic[6]
        let headerLength: Int, headerStart: Int
        if major == 1 {
            headerLength = Int(try file.load(UInt16.self, at: 8, "npy header length")); headerStart = 10
        } else if major == 2 || major == 3 {
            headerLength = Int(try file.load(UInt32.self, at: 8, "npy header length")); headerStart = 12
        } else {
            throw PlaypenError("\(path): unsupported .npy version \(major)")
        }
        let headerBytes = try file.bytes(at: headerStart, count: headerLength, "npy header")
        let header = String(decoding: headerBytes, as: UTF8.self)
        func field(_ key: String) throws -> String {
            guard let range = header.range(of: "'\(key)':") else {
                throw PlaypenError("\(path): .npy header lacks '\(key)': \(header)")
            }
            return String(header[range.upperBound...]).trimmingCharacters(in: .whitespaces)
        }
        let descrField = try field("descr")
        guard let q1 = descrField.firstIndex(of: "'"),
              let q2 = descrField[descrField.index(after: q1)...].firstIndex(of: "'") else {
            throw PlaypenError("\(path): cannot read dtype from .npy header \(header)")
        }
        let descr = String(descrField[descrField.index(after: q1)..<q2])
        guard let dt = DType(rawValue: descr == "<b1" ? "|b1" : (descr == "<u1" ? "|u1" : descr)) else {
            throw PlaypenError("\(path): unsupported dtype '\(descr)' (expected bool)")
        }
        dtype = dt
        guard try field("fortran_order").hasPrefix("False") else {
            throw PlaypenError("\(path): Fortran-ordered arrays are not supported; save with np.ascontiguousarray")
        }
        let shapeField = try field("shape")
        guard let open = shapeField.firstIndex(of: "("), let close = shapeField.firstIndex(of: ")") else {
            throw PlaypenError("\(path): cannot read shape from .npy header \(header)")
        }
        shape = try shapeField[shapeField.index(after: open)..<close].split(separator: ",")
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            .map { guard let v = Int($0), v >= 0 else { throw PlaypenError("\(path): bad shape \(shapeField)") }; return v }
        dataOffset = headerStart + headerLength
        let (bytes, overflow) = shape.reduce(1, *).multipliedReportingOverflow(by: itemSize)
        guard !overflow else { throw PlaypenError("\(path): shape \(shape) is too large") }
        try file.checkRange(dataOffset, bytes, "array data of shape \(shape) dtype \(descr)")
        if file.count != dataOffset + bytes {
            throw PlaypenError("\(path): file has \(file.count - dataOffset - bytes) trailing bytes after the array data")
        }
    }
}
