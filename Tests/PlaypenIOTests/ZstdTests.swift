import Foundation
import Testing
@testable import PlaypenIO

@Suite struct ZstdTests {
    func readAll(_ path: String, chunk: Int = 777) throws -> [UInt8] {
        let input = try InputFile(path: path)
        var result: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: chunk)
        while true {
            let n = try buffer.withUnsafeMutableBytes { try input.read(into: $0) }
            if n == 0 { break }
            result += buffer[0..<n]
        }
        return result
    }

    @Test func roundTripsThroughTheZstdCommandLineTool() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let bytes = sampleBytes(3_000_000)
        let out = try OutputFile(path: dir.file("a.bin.zst"))
        #expect(out.isCompressed)
        // Many small writes and one big one.
        for i in stride(from: 0, to: 1_000_000, by: 1000) { try bytes[i..<i + 1000].withUnsafeBytes { try out.write($0) } }
        try bytes[1_000_000...].withUnsafeBytes { try out.write($0) }
        #expect(!FileManager.default.fileExists(atPath: dir.file("a.bin.zst")))
        try out.commit()

        // The reference decoder agrees, and the file is really smaller.
        let (status, decoded, _) = try runProcess(["zstd", "-dc", dir.file("a.bin.zst")])
        #expect(status == 0)
        #expect([UInt8](decoded) == bytes)
        let size = try FileManager.default.attributesOfItem(atPath: dir.file("a.bin.zst"))[.size] as! Int
        #expect(size < bytes.count)

        // And we read it back, detected by magic, not by name.
        try FileManager.default.moveItem(atPath: dir.file("a.bin.zst"), toPath: dir.file("plain-name"))
        let input = try InputFile(path: dir.file("plain-name"))
        #expect(input.isCompressed)
        #expect(try readAll(dir.file("plain-name")) == bytes)
        #expect(try readAll(dir.file("plain-name"), chunk: 1 << 20) == bytes)
        // Reads that end exactly at the end of the content (then one more read) are not truncation.
        for chunk in [1, 2, 3, 4, 8, 1000] {
            let small = try OutputFile(path: dir.file("small.zst"))
            try [UInt8](repeating: 7, count: 64).withUnsafeBytes { try small.write($0) }
            try small.commit()
            #expect(try readAll(dir.file("small.zst"), chunk: chunk) == [UInt8](repeating: 7, count: 64))
        }
    }

    @Test func readsFilesCompressedByTheZstdToolAndConcatenatedFrames() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let first = sampleBytes(200_000, seed: 2), second = sampleBytes(50_000, seed: 3)
        try Data(first).write(to: URL(fileURLWithPath: dir.file("x")))
        try Data(second).write(to: URL(fileURLWithPath: dir.file("y")))
        try runProcess(["zstd", "-q", "-19", dir.file("x"), "-o", dir.file("x.zst")])
        try runProcess(["zstd", "-q", dir.file("y"), "-o", dir.file("y.zst")])
        var cat = try Data(contentsOf: URL(fileURLWithPath: dir.file("x.zst")))
        cat.append(try Data(contentsOf: URL(fileURLWithPath: dir.file("y.zst"))))
        try cat.write(to: URL(fileURLWithPath: dir.file("xy.zst")))
        #expect(try readAll(dir.file("xy.zst")) == first + second)
    }

    @Test func plainInputPassesThroughAndPlainOutputIsNotCompressed() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let out = try OutputFile(path: dir.file("plain.jsonl"))
        #expect(!out.isCompressed)
        try out.write("ab")
        try out.commit()
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir.file("plain.jsonl"))) == Data("ab".utf8))
        #expect(try readAll(dir.file("plain.jsonl")) == Array("ab".utf8))
        // Shorter than the magic number, and empty.
        try Data().write(to: URL(fileURLWithPath: dir.file("empty")))
        #expect(try readAll(dir.file("empty")) == [])
    }

    @Test func truncatedStreamNamesTheFile() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let out = try OutputFile(path: dir.file("t.zst"))
        try sampleBytes(500_000).withUnsafeBytes { try out.write($0) }
        try out.commit()
        let full = try Data(contentsOf: URL(fileURLWithPath: dir.file("t.zst")))
        for keep in [full.count - 1, full.count / 2, 6] {
            try full.prefix(keep).write(to: URL(fileURLWithPath: dir.file("cut.zst")))
            expectPlaypenError([dir.file("cut.zst"), "truncated zstd stream"]) { _ = try readAll(dir.file("cut.zst")) }
        }
        var corrupt = full
        corrupt[full.count / 2] ^= 0xFF
        corrupt[full.count / 2 + 1] ^= 0xFF
        try corrupt.write(to: URL(fileURLWithPath: dir.file("bad.zst")))
        expectPlaypenError([dir.file("bad.zst"), "zstd"]) { _ = try readAll(dir.file("bad.zst")) }
    }

    @Test func missingInputAndUnwritableOutputAreClearErrors() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        expectPlaypenError([dir.file("missing.jsonl"), "No such file"]) { _ = try InputFile(path: dir.file("missing.jsonl")) }
        expectPlaypenError([dir.file("no-dir/out.zst"), "does not exist"]) { _ = try OutputFile(path: dir.file("no-dir/out.zst")) }
        expectPlaypenError([dir.path, "directory"]) { _ = try InputFile(path: dir.path) }
        // An output that is abandoned (error mid-way) leaves nothing behind.
        do {
            let out = try OutputFile(path: dir.file("half.zst"))
            try out.write("partial")
        }
        #expect(dir.listing() == [])
    }
}
