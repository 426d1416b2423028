import Foundation
import PlaypenIO

/// Per-example gradient rows from a tensor stream (`.ppt`, plain or zstd; shards concatenated
/// with `cat` read as one). The header manifest must carry a `GradientStreamInfo` under
/// `"attribution"`; every segment (shard) must agree with the first.
public final class TensorStreamGradients: GradientSource {
    public let path: String
    public let info: GradientStreamInfo
    public var name: String { path }

    public init(path: String) throws {
        self.path = path
        let reader = try TensorStreamReader(path: path)
        info = try Self.info(reader.header, path: path)
    }

    static func info(_ header: TensorStreamHeader, path: String) throws -> GradientStreamInfo {
        guard let value = header.manifest[GradientStreamInfo.manifestKey] else {
            throw PlaypenError("\(path): tensor stream manifest has no \"\(GradientStreamInfo.manifestKey)\" entry: not a gradient stream from pp-grad")
        }
        let info = try GradientStreamInfo.from(value, source: path)
        guard header.rowLength == info.layout.rowWidth else {
            throw PlaypenError("\(path): rows have \(header.rowLength) values but the module layout needs \(info.layout.rowWidth)")
        }
        return info
    }

    public func forEachChunk(maxRows: Int, _ body: (GradientChunk) throws -> Void) throws {
        let reader = try TensorStreamReader(path: path)
        let width = info.layout.rowWidth
        var buffer = [Float](repeating: 0, count: max(1, maxRows) * width)
        var ids: [String] = []
        ids.reserveCapacity(maxRows)
        var first = 0
        var checkedSegments = 1
        func flush() throws {
            guard !ids.isEmpty else { return }
            try buffer.withUnsafeBufferPointer { b in
                try body(GradientChunk(firstIndex: first, rowIds: ids[...], values: b.baseAddress!, rowStride: width))
            }
            first += ids.count
            ids.removeAll(keepingCapacity: true)
        }
        while true {
            let id = try buffer.withUnsafeMutableBufferPointer { b in
                try reader.next(into: UnsafeMutableBufferPointer(rebasing: b[(ids.count * width)..<((ids.count + 1) * width)]))
            }
            while checkedSegments < reader.segments.count {
                let other = try Self.info(reader.segments[checkedSegments], path: path)
                do {
                    try info.checkCompatible(name: "segment 1", with: other, otherName: "segment \(checkedSegments + 1)")
                } catch let e as PlaypenError {
                    throw PlaypenError("\(path): shards disagree: \(e.message)")
                }
                guard other.kind == info.kind else {
                    throw PlaypenError("\(path): shards disagree: segment 1 is \(info.kind.rawValue), segment \(checkedSegments + 1) is \(other.kind.rawValue)")
                }
                checkedSegments += 1
            }
            guard let id else { break }
            ids.append(id)
            if ids.count == maxRows { try flush() }
        }
        try flush()
    }
}

/// Writes gradient rows as a tensor stream with the `GradientStreamInfo` in its manifest.
public final class GradientStreamWriter {
    public let writer: TensorStreamWriter

    /// `manifest` holds the producer's other keys (tool, version, argv, config...).
    public init(path: String, info: GradientStreamInfo, manifest: JSONObject = JSONObject(),
                dtype: TensorStreamDType = .f32) throws
    {
        var m = manifest
        m[GradientStreamInfo.manifestKey] = try info.jsonValue()
        writer = try TensorStreamWriter(path: path, header: TensorStreamHeader(
            dtype: dtype, rowShape: [info.layout.rowWidth], manifest: .object(m)))
    }

    public func append(rowId: String, _ row: UnsafeBufferPointer<Float>) throws {
        try writer.append(rowID: rowId, row)
    }

    public func commit() throws { try writer.commit() }
}

extension SecondMoment {
    /// Safetensors: one F32 [d, d] tensor of sums Σ v vᵀ per module (named by the module), and
    /// metadata `format = pp-second-moment`, `count` = rows, `attribution` = the gradient stream
    /// description (JSON). Shards merge by adding sums and counts.
    public func write(to path: String, info: GradientStreamInfo) throws {
        var full = self
        full.symmetrize()
        var info = info
        info.layout = layout
        var w = SafetensorsWriter(metadata: [
            "format": "pp-second-moment", "count": String(count),
            GradientStreamInfo.manifestKey: try info.jsonValue().serialized(),
        ])
        for (m, module) in layout.modules.enumerated() {
            let d = layout.width(m)
            try w.add(module.name, floats: full.sums[m], shape: [d, d])
        }
        try w.write(to: path)
    }

    /// Reads a second-moment file, with the gradient stream description it was made from.
    public static func read(path: String) throws -> (moment: SecondMoment, info: GradientStreamInfo) {
        let file = try SafetensorsFile(path: path)
        guard file.metadata["format"] == "pp-second-moment" else {
            throw PlaypenError("\(path): not a second-moment (preconditioner) file from pp-grad (metadata format is \(file.metadata["format"] ?? "missing"))")
        }
        guard let countText = file.metadata["count"], let count = Int(countText), count >= 0 else {
            throw PlaypenError("\(path): metadata \"count\" is missing or not a row count")
        }
        guard let infoText = file.metadata[GradientStreamInfo.manifestKey] else {
            throw PlaypenError("\(path): metadata has no \"\(GradientStreamInfo.manifestKey)\" entry")
        }
        let value: JSONValue
        do { value = try JSONValue.parse(infoText) } catch {
            throw PlaypenError("\(path): metadata \"\(GradientStreamInfo.manifestKey)\" is not JSON: \(error)")
        }
        let info = try GradientStreamInfo.from(value, source: path)
        var sums: [[Float]] = []
        for (m, module) in info.layout.modules.enumerated() {
            let d = info.layout.width(m)
            let t = try file.info(module.name)
            guard t.dtype == .F32, t.shape == [d, d] else {
                throw PlaypenError("\(path): tensor \(module.name) is \(t.dtype.rawValue) \(t.shape), expected F32 [\(d), \(d)]")
            }
            sums.append(try file.floats(module.name))
        }
        return (try SecondMoment(layout: info.layout, sums: sums, count: count), info)
    }
}
