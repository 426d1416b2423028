import Foundation
import PlaypenIO

// ----------------------------------------------------------------------------------------------
// Float tensors in and out of safetensors files, through PlaypenIO's reader and writer.

struct NamedTensor {
    var name: String
    var shape: [Int]
    var values: [Float]
}

enum SafetensorsLite {
    /// Writes F32 tensors and string metadata atomically (reference writer's layout).
    static func write(_ tensors: [NamedTensor], metadata: [String: String], to path: String) throws {
        var w = SafetensorsWriter(metadata: metadata)
        for t in tensors { try w.add(t.name, floats: t.values, shape: t.shape) }
        try w.write(to: path)
    }

    /// Reads every tensor as Float (F32/F16/BF16/F64), plus the metadata.
    static func read(_ path: String) throws -> (tensors: [String: NamedTensor], metadata: [String: String]) {
        let file = try SafetensorsFile(path: path)
        var tensors: [String: NamedTensor] = [:]
        for name in file.names {
            tensors[name] = NamedTensor(name: name, shape: try file.info(name).shape, values: try file.floats(name))
        }
        return (tensors, file.metadata)
    }
}
