import CSHA256

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
