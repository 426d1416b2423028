import Foundation
import PlaypenIO

// ----------------------------------------------------------------------------------------------
// Minimal safetensors read/write for adapters and checkpoints (F32 out; F32/F16/BF16 in).
// TODO(foundation): switch to PlaypenIO's safetensors module once it is on main.

struct NamedTensor {
    var name: String
    var shape: [Int]
    var values: [Float]
}

enum SafetensorsLite {
    /// Writes tensors (sorted by name, F32 little-endian) and string metadata atomically.
    static func write(_ tensors: [NamedTensor], metadata: [String: String], to path: String) throws {
        let sorted = tensors.sorted { $0.name < $1.name }
        var header: [String: Any] = [:]
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var offset = 0
        for t in sorted {
            precondition(t.shape.reduce(1, *) == t.values.count, "tensor \(t.name): shape/count mismatch")
            header[t.name] = ["dtype": "F32", "shape": t.shape, "data_offsets": [offset, offset + 4 * t.values.count]]
            offset += 4 * t.values.count
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while json.count % 8 != 0 { json.append(0x20) }
        var data = Data(capacity: 8 + json.count + offset)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { data.append(contentsOf: $0) }
        data.append(json)
        for t in sorted {
            t.values.withUnsafeBytes { data.append(contentsOf: $0) }  // x86-64 / arm64: little-endian
        }
        let file = try AtomicFile(path: path)
        guard FileManager.default.createFile(atPath: file.temporaryPath, contents: data) else {
            throw PlaypenError("\(path): cannot write")
        }
        try file.commit()
    }

    /// Reads every tensor as Float, plus the metadata.
    static func read(_ path: String) throws -> (tensors: [String: NamedTensor], metadata: [String: String]) {
        let file = try MappedFile(path: path)
        let headerLength = Int(try file.load(UInt64.self, at: 0, "safetensors header length"))
        let headerBytes = try file.bytes(at: 8, count: headerLength, "safetensors header")
        guard let header = try? JSONSerialization.jsonObject(with: Data(headerBytes)) as? [String: Any] else {
            throw PlaypenError("\(path): safetensors header is not a JSON object")
        }
        let dataStart = 8 + headerLength
        var tensors: [String: NamedTensor] = [:]
        var metadata: [String: String] = [:]
        for (name, value) in header {
            if name == "__metadata__" {
                metadata = (value as? [String: String]) ?? [:]
                continue
            }
            guard let info = value as? [String: Any], let dtype = info["dtype"] as? String,
                  let shape = info["shape"] as? [Int], let offsets = info["data_offsets"] as? [Int], offsets.count == 2
            else { throw PlaypenError("\(path): tensor \(name): malformed header entry") }
            let count = shape.reduce(1, *)
            let width = ["F32": 4, "F16": 2, "BF16": 2][dtype]
            guard let width else { throw PlaypenError("\(path): tensor \(name): dtype \(dtype), expected F32, F16 or BF16") }
            guard offsets[1] - offsets[0] == count * width else {
                throw PlaypenError("\(path): tensor \(name): \(offsets[1] - offsets[0]) bytes for shape \(shape) of \(dtype)")
            }
            let raw = try file.bytes(at: dataStart + offsets[0], count: count * width, "tensor \(name)")
            var values = [Float](repeating: 0, count: count)
            for i in 0..<count {
                switch dtype {
                case "F32": values[i] = Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
                case "BF16": values[i] = Float(bitPattern: UInt32(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) << 16)
                default: values[i] = Float(Float16(bitPattern: UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))))
                }
            }
            tensors[name] = NamedTensor(name: name, shape: shape, values: values)
        }
        return (tensors, metadata)
    }
}
