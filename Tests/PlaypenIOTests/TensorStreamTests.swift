import Foundation
import Testing
@testable import PlaypenIO

let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path

@Suite struct TensorStreamTests {
    let layout: JSONValue = ["tool": "test", "layout": [["module": "q_proj", "shape": [2, 3]], ["module": "v_proj", "shape": [3]]]]

    func rows(_ n: Int, _ length: Int, seed: Float) -> [[Float]] {
        (0..<n).map { r in (0..<length).map { k in seed * Float(r + 1) - Float(k) * 0.375 + (k == 0 ? 1e-7 : 0) } }
    }

    @Test func roundTripsAndConcatenatedShardsReadInNumpy() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let a = rows(3, 9, seed: 1.5), b = rows(2, 9, seed: -2.5)
        for (name, data, shard) in [("a.ppt", a, 0), ("b.ppt", b, 1)] {
            var manifest = layout.object!
            manifest["shard"] = .int(shard)
            let writer = try TensorStreamWriter(path: dir.file(name), header: TensorStreamHeader(rowShape: [9], manifest: .object(manifest)))
            for (k, row) in data.enumerated() { try writer.append(rowID: "\(name)-row-\(k)-é", row) }
            #expect(!FileManager.default.fileExists(atPath: dir.file(name)))
            try writer.commit()
        }
        // cat concatenates shards.
        var cat = try Data(contentsOf: URL(fileURLWithPath: dir.file("a.ppt")))
        cat.append(try Data(contentsOf: URL(fileURLWithPath: dir.file("b.ppt"))))
        try cat.write(to: URL(fileURLWithPath: dir.file("all.ppt")))
        try TensorStream.merge(inputs: [dir.file("a.ppt"), dir.file("b.ppt")], output: dir.file("merged.ppt"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir.file("merged.ppt"))) == cat)

        let reader = try TensorStreamReader(path: dir.file("all.ppt"))
        let (ids, values) = try reader.readAll()
        #expect(ids == (0..<3).map { "a.ppt-row-\($0)-é" } + (0..<2).map { "b.ppt-row-\($0)-é" })
        #expect(values == (a + b).flatMap { $0 })
        #expect(reader.segments.count == 2)
        #expect(reader.segments[1].manifest["shard"]?.int == 1)
        #expect(reader.header.manifest["layout"]?[0]?["module"]?.string == "q_proj")

        // The numpy reader in scripts/ sees the same ids, values and manifests.
        let (status, out, err) = try runProcess(["python3", repoRoot + "/scripts/ppt.py", dir.file("all.ppt")])
        #expect(status == 0, "\(err)")
        let summary = try JSONValue.parse(out)
        #expect(summary["rows"]?.int == 5)
        #expect(summary["row_shape"] == [9])
        #expect(summary["ids"]?.array?.compactMap(\.string) == ids)
        let numpyValues = summary["values"]!.array!.flatMap { $0.array!.map { Float($0.double!) } }
        #expect(numpyValues == values)
        #expect(summary["manifests"]?[1]?["shard"]?.int == 1)
    }

    @Test func halfAndBFloat16RowsMatchNumpyRounding() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let row: [Float] = [0.1, -1.0 / 3.0, 65504, 65519, 1e-6, 3.0e-8, -0.0, 1e-30, 123.456, 2.5]
        for dtype in [TensorStreamDType.f16, .bf16] {
            let path = dir.file("\(dtype.name).ppt")
            let writer = try TensorStreamWriter(path: path, header: TensorStreamHeader(dtype: dtype, rowShape: [2, 5], manifest: [:]))
            try writer.append(rowID: "r", row)
            try writer.commit()
            let ours = try TensorStreamReader(path: path).readAll().values
            // numpy rounds f32 -> f16 to nearest even; bf16 by the same rule on the top 16 bits.
            let script = dtype == .f16
                ? "import numpy as np, json, sys; a = np.array(json.loads(sys.argv[1]), dtype=np.float32); print(json.dumps(a.astype(np.float16).astype(np.float32).tolist()))"
                : "import numpy as np, json, sys; a = np.array(json.loads(sys.argv[1]), dtype=np.float32).view(np.uint32).astype(np.uint64); r = ((a + 0x7FFF + ((a >> 16) & 1)) >> 16).astype(np.uint32) << 16; print(json.dumps(r.view(np.float32).tolist()))"
            let (status, out, err) = try runProcess(["python3", "-c", script, JSONValue.array(row.map { .double(Double($0)) }).serialized()])
            #expect(status == 0, "\(err)")
            let expected = try JSONValue.parse(out).array!.map { Float($0.double!) }
            #expect(ours.map(\.bitPattern) == expected.map(\.bitPattern), "\(dtype.name)")
            let (pstatus, pout, perr) = try runProcess(["python3", repoRoot + "/scripts/ppt.py", path])
            #expect(pstatus == 0, "\(perr)")
            #expect(try JSONValue.parse(pout)["values"]?[0]?.array?.map { Float($0.double!) } == ours)
        }
    }

    @Test func truncationAnywhereIsAClearError() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let writer = try TensorStreamWriter(path: dir.file("s.ppt"), header: TensorStreamHeader(rowShape: [4], manifest: layout))
        for k in 0..<3 { try writer.append(rowID: "id\(k)", [1, 2, 3, Float(k)]) }
        try writer.commit()
        let full = try Data(contentsOf: URL(fileURLWithPath: dir.file("s.ppt")))
        // Every proper prefix (including cuts exactly between rows) is rejected.
        for keep in 1..<full.count {
            try full.prefix(keep).write(to: URL(fileURLWithPath: dir.file("cut.ppt")))
            do {
                let reader = try TensorStreamReader(path: dir.file("cut.ppt"))
                _ = try reader.readAll()
                Issue.record("prefix of \(keep) bytes was accepted")
            } catch let error as PlaypenError {
                #expect(error.message.contains(dir.file("cut.ppt")))
                #expect(error.message.contains("truncated") || error.message.contains("not a tensor stream"), "\(error.message)")
            }
        }
        // A row of the wrong length, and incompatible shards.
        let other = try TensorStreamWriter(path: dir.file("o.ppt"), header: TensorStreamHeader(rowShape: [5], manifest: [:]))
        expectPlaypenError(["has 4 values", "have 5"]) { try other.append(rowID: "x", [1, 2, 3, 4]) }
        try other.commit()
        expectPlaypenError([dir.file("o.ppt"), "shape [5]", "shape [4]"]) {
            try TensorStream.merge(inputs: [dir.file("s.ppt"), dir.file("o.ppt")], output: dir.file("m.ppt"))
        }
        #expect(!FileManager.default.fileExists(atPath: dir.file("m.ppt")))
        var cat = full
        cat.append(try Data(contentsOf: URL(fileURLWithPath: dir.file("o.ppt"))))
        try cat.write(to: URL(fileURLWithPath: dir.file("bad-cat.ppt")))
        expectPlaypenError(["segment 2", "shape [5]"]) { _ = try TensorStreamReader(path: dir.file("bad-cat.ppt")).readAll() }
    }

    @Test func compressedStreamsAndEmptySegments() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let writer = try TensorStreamWriter(path: dir.file("z.ppt.zst"), header: TensorStreamHeader(rowShape: [3], manifest: [:]))
        try writer.append(rowID: "only", [1, 2, 3])
        try writer.commit()
        let empty = try TensorStreamWriter(path: dir.file("e.ppt"), header: TensorStreamHeader(rowShape: [3], manifest: [:]))
        try empty.commit()
        let reader = try TensorStreamReader(path: dir.file("z.ppt.zst"))
        #expect(try reader.next()?.values == [1, 2, 3])
        #expect(try reader.next() == nil)
        #expect(try TensorStreamReader(path: dir.file("e.ppt")).readAll().rowIDs == [])
    }
}
