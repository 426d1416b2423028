import Foundation
import Testing
@testable import PlaypenIO

let ioFixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures/io").path

@Suite struct SafetensorsTests {
    let fixture = ioFixtures + "/reference.safetensors"

    /// Values as torch reports them after its own dtype conversion (scripts/reference/make_io_fixtures.py).
    @Test func readsTheReferenceWritersFile() throws {
        let file = try SafetensorsFile(path: fixture)
        #expect(file.metadata == ["format": "pt"])
        #expect(file.names == ["bytes", "emb", "empty", "ids", "layer.bias", "layer.weight", "mask", "pos"])
        #expect(try file.info("layer.weight").shape == [2, 3])
        #expect(try file.floats("layer.weight") == [1.5, -2.25, 0.1, 3.0e-8, 1e30, -0.0])
        #expect(try file.floats("layer.bias") == [0.0999755859375, -1.5, 65504.0])
        #expect(try file.floats("emb") == [0.10009765625, Float(3.00405527047391e+38), -2.0, 0.333984375])
        #expect(try file.int64s("ids") == [0, -1, 1 << 40])
        #expect(try file.int64s("pos") == [7, -8])
        #expect(try file.int64s("mask") == [1, 0, 1])
        #expect(try file.int64s("bytes") == [0, 255])
        #expect(try file.floats("empty") == [])
        #expect(try file.info("empty").shape == [0, 3])
        expectPlaypenError([fixture, "no tensor \"nope\""]) { _ = try file.info("nope") }
        expectPlaypenError([fixture, "\"ids\" is I64"]) { _ = try file.floats("ids") }
    }

    /// Our writer reproduces the reference file byte for byte (layout order, header, padding).
    @Test func writerMatchesTheReferenceBytes() throws {
        let reference = try SafetensorsFile(path: fixture)
        var writer = SafetensorsWriter(metadata: reference.metadata)
        // Added in another order on purpose: the layout must not depend on it.
        for name in reference.names.reversed() {
            let info = try reference.info(name)
            try writer.add(name, dtype: info.dtype, shape: info.shape, bytes: Array(try reference.bytes(name)))
        }
        let dir = try TempDir()
        defer { dir.cleanup() }
        try writer.write(to: dir.file("ours.safetensors"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir.file("ours.safetensors"))) == Data(contentsOf: URL(fileURLWithPath: fixture)))
        #expect(writer.header().count % 8 == 0)
    }

    @Test func rejectsInconsistentHeaders() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        func file(_ header: String, data: Int) throws -> String {
            var bytes = withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { Array($0) }
            bytes += Array(header.utf8) + [UInt8](repeating: 0, count: data)
            let path = dir.file("h\(UUID()).safetensors")
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            return path
        }
        let cases: [(String, Int, String)] = [
            (#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#, 12, "overlap"),
            (#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, 4, "outside the data section"),
            (#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, 8, "needs 12"),
            (#"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,8]}}"#, 8, "bad dimension"),
            (#"{"a":{"dtype":"C64","shape":[1],"data_offsets":[0,8]}}"#, 8, "unsupported dtype C64"),
            (#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}}"#, 8, "outside"),
            (#"{"__metadata__":{"k":1}}"#, 0, "expected a string"),
            (#"{"a": [1, 2}"#, 0, "not JSON"),
            (#"[]"#, 0, "expected an object"),
        ]
        for (header, data, message) in cases {
            let path = try file(header, data: data)
            expectPlaypenError([path, message]) { _ = try SafetensorsFile(path: path) }
        }
        // A header length that runs past the end, and a file shorter than 8 bytes.
        var lying = withUnsafeBytes(of: UInt64(1000).littleEndian) { Array($0) }
        lying += Array("{}".utf8)
        try Data(lying).write(to: URL(fileURLWithPath: dir.file("lying.safetensors")))
        expectPlaypenError([dir.file("lying.safetensors"), "exceeds the file"]) { _ = try SafetensorsFile(path: dir.file("lying.safetensors")) }
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: dir.file("tiny.safetensors")))
        expectPlaypenError([dir.file("tiny.safetensors"), "shorter"]) { _ = try SafetensorsFile(path: dir.file("tiny.safetensors")) }
        // Truncating the reference file cuts into its data section.
        let full = try Data(contentsOf: URL(fileURLWithPath: fixture))
        try full.dropLast(2).write(to: URL(fileURLWithPath: dir.file("cut.safetensors")))
        expectPlaypenError([dir.file("cut.safetensors"), "\"mask\"", "outside"]) { _ = try SafetensorsFile(path: dir.file("cut.safetensors")) }
    }
}
