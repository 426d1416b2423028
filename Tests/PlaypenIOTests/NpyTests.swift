import Foundation
import Testing
@testable import PlaypenIO

@Suite struct NpyTests {
    /// Our writer produces exactly the bytes of np.save, for each dtype and several shapes.
    @Test func writesTheSameBytesAsNumpy() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let floats: [Float] = [1.5, -2.25, 3.0e-8, .infinity, 0, 7, 1e30, -0.0, 42, 0.1, 0.2, 0.3]
        let arrays: [(String, NpyArray, String)] = [
            ("f", try NpyArray(floats: floats, shape: [3, 4]),
             "np.array([1.5, -2.25, 3.0e-8, np.inf, 0, 7, 1e30, -0.0, 42, 0.1, 0.2, 0.3], dtype=np.float32).reshape(3, 4)"),
            ("i", try NpyArray(int32s: [1, -2, 2_147_483_647, -2_147_483_648]), "np.array([1, -2, 2147483647, -2147483648], dtype=np.int32)"),
            ("b", try NpyArray(bools: [true, false, true, true, false, false], shape: [2, 1, 3]),
             "np.array([True, False, True, True, False, False]).reshape(2, 1, 3)"),
            ("d", try NpyArray(doubles: [0.1, 1e-300]), "np.array([0.1, 1e-300])"),
            ("l", try NpyArray(int64s: [Int64.min, 5]), "np.array([-9223372036854775808, 5], dtype=np.int64)"),
            ("e", try NpyArray(floats: [], shape: [0, 4]), "np.zeros((0, 4), dtype=np.float32)"),
            ("s", try NpyArray(floats: [2.5], shape: []), "np.array(2.5, dtype=np.float32)"),
        ]
        var script = "import numpy as np\n"
        for (name, array, expr) in arrays {
            try Npy.write(array, to: dir.file("swift-\(name).npy"))
            script += "np.save('\(dir.file("numpy-\(name).npy"))', \(expr))\n"
        }
        let (status, _, err) = try runProcess(["python3", "-c", script])
        #expect(status == 0, "\(err)")
        for (name, array, _) in arrays {
            let ours = try Data(contentsOf: URL(fileURLWithPath: dir.file("swift-\(name).npy")))
            let theirs = try Data(contentsOf: URL(fileURLWithPath: dir.file("numpy-\(name).npy")))
            #expect(ours == theirs, "\(name)")
            #expect(try Npy.read(path: dir.file("numpy-\(name).npy")) == array, "\(name)")
        }
    }

    /// Arrays numpy writes in the other dtypes and in format version 2.0 read back with the same values.
    @Test func readsNumpyDtypesAndVersion2() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let script = """
            import numpy as np
            from numpy.lib import format as f
            np.save('\(dir.file("h.npy"))', np.array([1.0, -0.5, 65504, 6e-8, 1e-4], dtype=np.float16))
            np.save('\(dir.file("u.npy"))', np.array([[0, 65535], [7, 8]], dtype=np.uint16))
            np.save('\(dir.file("b.npy"))', np.array([3, 250], dtype=np.uint8))
            with open('\(dir.file("v2.npy"))', 'wb') as fh:
                f.write_array(fh, np.arange(6, dtype=np.float32).reshape(2, 3), version=(2, 0))
            np.save('\(dir.file("fortran.npy"))', np.asfortranarray(np.ones((2, 3), dtype=np.float32)))
            np.save('\(dir.file("big.npy"))', np.ones(2, dtype='>f4'))
            """
        let (status, _, err) = try runProcess(["python3", "-c", script])
        #expect(status == 0, "\(err)")
        let half = try Npy.read(path: dir.file("h.npy"))
        #expect(half.floats() == [1.0, -0.5, 65504, Float(5.9604645e-08), Float(0.000100016594)])
        let u16 = try Npy.read(path: dir.file("u.npy"))
        #expect(u16.shape == [2, 2])
        #expect(try u16.int64s() == [0, 65535, 7, 8])
        #expect(try Npy.read(path: dir.file("b.npy")).int32s() == [3, 250])
        let v2 = try Npy.read(path: dir.file("v2.npy"))
        #expect(v2.shape == [2, 3])
        #expect(v2.floats() == [0, 1, 2, 3, 4, 5])
        expectPlaypenError([dir.file("fortran.npy"), "Fortran"]) { _ = try Npy.read(path: dir.file("fortran.npy")) }
        expectPlaypenError([dir.file("big.npy"), "unsupported dtype '>f4'"]) { _ = try Npy.read(path: dir.file("big.npy")) }
        #expect(throws: PlaypenError.self) { try half.int32s() }
    }

    @Test func truncatedOrForeignFilesAreClearErrors() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let full = Npy.encode(try NpyArray(floats: [1, 2, 3]))
        try Data(full.dropLast(1)).write(to: URL(fileURLWithPath: dir.file("cut.npy")))
        expectPlaypenError([dir.file("cut.npy"), "11 bytes", "needs 12"]) { _ = try Npy.read(path: dir.file("cut.npy")) }
        try Data("hello".utf8).write(to: URL(fileURLWithPath: dir.file("text.npy")))
        expectPlaypenError([dir.file("text.npy"), "magic"]) { _ = try Npy.read(path: dir.file("text.npy")) }
        #expect(throws: PlaypenError.self) { try NpyArray(floats: [1, 2, 3], shape: [2, 2]) }
        expectPlaypenError(["no-such-dir/x.npy"]) { try Npy.write(try NpyArray(floats: [1]), to: dir.file("no-such-dir/x.npy")) }
    }
}
