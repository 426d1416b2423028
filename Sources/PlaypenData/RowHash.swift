import PlaypenIO

// SHA-256 for row ids and task hashes (PlaypenIO's SHA256, which uses the CPU's SHA
// instructions: row ids hash every kept row).

func sha256(_ message: [UInt8]) -> [UInt8] {
    message.withUnsafeBytes { SHA256.digest($0) }
}

/// The lowercase hex SHA-256 of `bytes`.
public func sha256Hex(_ bytes: [UInt8]) -> String {
    hexPrefix(sha256(bytes), bytes: 32)
}
