import Foundation

/// Test-side access to Tests/Fixtures/attribution (goldens made by scripts/reference/attribution_*.py).
enum Fixture {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/attribution")

    static func url(_ name: String) -> URL { directory.appendingPathComponent(name) }

    static func json(_ name: String) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(contentsOf: url(name)))
    }

    /// A little-endian float32 or float64 C-order .npy file as Doubles, with its shape.
    static func npy(_ name: String) throws -> (shape: [Int], values: [Double], float32: [Float]) {
        let data = try Data(contentsOf: url(name))
        let bytes = [UInt8](data)
        precondition(bytes.count > 10 && bytes[0] == 0x93, "\(name): not an npy file")
        let major = bytes[6]
        let headerLength: Int
        let start: Int
        if major == 1 {
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
            start = 10
        } else {
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
            start = 12
        }
        let header = String(decoding: bytes[start..<(start + headerLength)], as: UTF8.self)
        precondition(header.contains("'fortran_order': False"), "\(name): Fortran order")
        let shapeText = header.components(separatedBy: "'shape': (")[1].components(separatedBy: ")")[0]
        let shape = shapeText.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        let count = shape.reduce(1, *)
        let body = start + headerLength
        var doubles = [Double](repeating: 0, count: count)
        var floats = [Float](repeating: 0, count: count)
        if header.contains("'<f4'") {
            for i in 0..<count {
                var bits: UInt32 = 0
                for b in 0..<4 { bits |= UInt32(bytes[body + 4 * i + b]) << (8 * UInt32(b)) }
                floats[i] = Float(bitPattern: bits)
                doubles[i] = Double(floats[i])
            }
        } else if header.contains("'<f8'") {
            for i in 0..<count {
                var bits: UInt64 = 0
                for b in 0..<8 { bits |= UInt64(bytes[body + 8 * i + b]) << (8 * UInt64(b)) }
                doubles[i] = Double(bitPattern: bits)
                floats[i] = Float(doubles[i])
            }
        } else {
            preconditionFailure("\(name): unsupported dtype in \(header)")
        }
        return (shape, doubles, floats)
    }
}
