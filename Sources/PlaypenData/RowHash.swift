import CSHA256
import PlaypenIO

// SHA-256 for row ids and task hashes, via the CSHA256 C target (SHA-NI when the CPU has it:
// row ids hash every kept row, and a Swift SHA-256 was 30% of pp-filter's time).

func sha256(_ message: [UInt8]) -> [UInt8] {
    var digest = [UInt8](repeating: 0, count: 32)
    message.withUnsafeBytes { m in
        digest.withUnsafeMutableBufferPointer { d in csha256(m.baseAddress, m.count, d.baseAddress!) }
    }
    return digest
}

/// The lowercase hex SHA-256 of `bytes`.
public func sha256Hex(_ bytes: [UInt8]) -> String {
    hexPrefix(sha256(bytes), bytes: 32)
}

/// The lowercase hex SHA-256 of a file's bytes (as stored, not decompressed), streamed with the
/// SHA-NI-capable CSHA256 (manifests of large inputs).
public func sha256File(path: String) throws -> String {
    let source = try FileDescriptorSource(path: path)
    var ctx = csha256_ctx()
    csha256_init(&ctx)
    var chunk = [UInt8](repeating: 0, count: 1 << 20)
    while true {
        let n = try chunk.withUnsafeMutableBytes { try source.read(into: $0) }
        if n == 0 { break }
        chunk.withUnsafeBytes { csha256_update(&ctx, $0.baseAddress, n) }
    }
    var digest = [UInt8](repeating: 0, count: 32)
    digest.withUnsafeMutableBufferPointer { csha256_final(&ctx, $0.baseAddress!) }
    return hexPrefix(digest, bytes: 32)
}
