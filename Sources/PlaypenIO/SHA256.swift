import CSHA256
import Foundation

/// SHA-256 (FIPS 180-4), incremental. Used for row ids and for input checksums in manifests,
/// where inputs reach GBs: the work is done by the CSHA256 C target, which uses the CPU's SHA
/// instructions when it has them (checked once at run time) and portable C otherwise.
public struct SHA256 {
    private var context = csha256_ctx()

    public init() { csha256_init(&context) }

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        csha256_update(&context, base, bytes.count)
    }

    public mutating func update(_ data: Data) { data.withUnsafeBytes { update($0) } }
    public mutating func update(_ bytes: [UInt8]) { bytes.withUnsafeBytes { update($0) } }

    /// The 32-byte digest (the hasher is consumed).
    public mutating func finalize() -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: 32)
        digest.withUnsafeMutableBufferPointer { csha256_final(&context, $0.baseAddress!) }
        return digest
    }

    public static func hex(_ digest: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(digest.count * 2)
        for byte in digest {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The 32-byte digest of `bytes` in one call.
    public static func digest(_ bytes: UnsafeRawBufferPointer) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: 32)
        digest.withUnsafeMutableBufferPointer { csha256(bytes.baseAddress, bytes.count, $0.baseAddress!) }
        return digest
    }

    public static func hash(_ bytes: [UInt8]) -> String {
        bytes.withUnsafeBytes { hex(digest($0)) }
    }

    /// Hex SHA-256 of a file's bytes as stored (compressed files are hashed compressed).
    public static func hash(path: String) throws -> String {
        let source = try FileDescriptorSource(path: path)
        var hasher = SHA256()
        var buffer = [UInt8](repeating: 0, count: 1 << 22)
        while true {
            let n = try buffer.withUnsafeMutableBytes { try source.read(into: $0) }
            if n == 0 { break }
            buffer.withUnsafeBytes { hasher.update(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
        }
        return hex(hasher.finalize())
    }
}
