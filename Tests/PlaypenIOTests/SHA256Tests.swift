import Foundation
import Testing
@testable import PlaypenIO

@Suite struct SHA256Tests {
    @Test func fipsTestVectors() {
        #expect(SHA256.hash([]) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hash(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256.hash(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))
            == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(SHA256.hash([UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000))
            == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    /// Files of many sizes, hashed in odd-sized updates and from disk, agree with sha256sum.
    @Test func agreesWithSha256sum() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        for size in [0, 55, 56, 63, 64, 65, 119, 120, 1000, 3_000_001] {
            let bytes = sampleBytes(size, seed: UInt64(size + 1))
            let path = dir.file("f\(size)")
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            let (_, out, _) = try runProcess(["sha256sum", path])
            let expected = String(String(decoding: out, as: UTF8.self).prefix(64))
            #expect(try SHA256.hash(path: path) == expected, "size \(size)")
            var hasher = SHA256()
            var offset = 0, step = 1
            while offset < size {
                let end = min(size, offset + step)
                bytes[offset..<end].withUnsafeBytes { hasher.update($0) }
                offset = end
                step = step * 3 + 1
            }
            #expect(SHA256.hex(hasher.finalize()) == expected, "size \(size) incremental")
        }
    }
}
