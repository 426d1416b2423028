import Foundation
import Testing
import PlaypenTensor

// The packed inference kernel against a Double reference (plain loops), at shapes that exercise
// the 8-row tiles and their remainders, whole and partial panels, and the in-place and padded packs.

private func reference(_ x: [Double], _ w: [Double], T: Int, rows: Int, cols: Int) -> [Double] {
    var y = [Double](repeating: 0, count: T * rows)
    for t in 0..<T {
        for r in 0..<rows {
            var s = 0.0
            for k in 0..<cols { s += x[t * cols + k] * w[r * cols + k] }
            y[t * rows + r] = s
        }
    }
    return y
}

private func packedProduct(_ x: [Float], _ w: [Float], T: Int, rows: Int, cols: Int) -> [Float] {
    let m = WeightMatrix(Tensor(shape: [rows, cols], values: w))
    m.pack()
    #expect(m.isPacked)
    var y = [Float](repeating: .nan, count: T * rows)
    x.withUnsafeBufferPointer { xp in
        y.withUnsafeMutableBufferPointer { m.multiply($0.baseAddress!, xp.baseAddress!, T: T) }
    }
    return y
}

@Suite struct WeightMatrixTests {
    static let shapes: [(T: Int, rows: Int, cols: Int)] = [
        (1, 32, 16), (7, 64, 13), (8, 96, 64), (9, 40, 33), (17, 5, 7), (23, 160, 48), (3, 33, 1), (10, 64, 600),
    ]

    @Test(arguments: [true, false]) func packedMultiplyMatchesReference(avx512: Bool) {
        let selection = KernelSelection(avx512: avx512)
        defer { selection.end() }
        var rng = Rand(s: 11)
        for s in Self.shapes {
            let x = rng.array(s.T * s.cols), w = rng.array(s.rows * s.cols)
            let y = packedProduct(f32(x), f32(w), T: s.T, rows: s.rows, cols: s.cols)
            expectClose(y, reference(f32(x).map(Double.init), f32(w).map(Double.init), T: s.T, rows: s.rows, cols: s.cols),
                        atol: 2e-6 * Double(s.cols), "T \(s.T) rows \(s.rows) cols \(s.cols) avx512 \(avx512)")
        }
    }

    /// Both kernels sum each output in the same order of fused multiply-adds: equal bits.
    @Test func avx512AndPortableKernelsAgreeBitwise() throws {
        try #require(panelKernelHasAVX512, "this CPU has no AVX-512; the portable kernel is checked above")
        var rng = Rand(s: 5)
        for s in Self.shapes {
            let x = f32(rng.array(s.T * s.cols)), w = f32(rng.array(s.rows * s.cols))
            let selection = KernelSelection(avx512: false)
            let portable = packedProduct(x, w, T: s.T, rows: s.rows, cols: s.cols)
            panelKernelUseAVX512(true)
            let vector = packedProduct(x, w, T: s.T, rows: s.rows, cols: s.cols)
            selection.end()
            #expect(portable.map(\.bitPattern) == vector.map(\.bitPattern), "T \(s.T) rows \(s.rows) cols \(s.cols)")
        }
    }

    /// The fused epilogue is the product, plus the bias in fp32, kept where strictly above both the
    /// floor and 0: bit for bit what the separate steps give, with either kernel.
    @Test(arguments: [true, false]) func fusedBiasAndFloorEqualTheSeparateSteps(avx512: Bool) {
        let selection = KernelSelection(avx512: avx512)
        defer { selection.end() }
        var rng = Rand(s: 21)
        for s in Self.shapes {
            let x = f32(rng.array(s.T * s.cols)), w = f32(rng.array(s.rows * s.cols))
            let bias = f32(rng.array(s.rows)), floor = f32(rng.array(s.rows, 0.5))
            let plain = packedProduct(x, w, T: s.T, rows: s.rows, cols: s.cols)
            let expected = (0..<(s.T * s.rows)).map { i -> Float in
                let v = plain[i] + bias[i % s.rows]
                return v > floor[i % s.rows] && v > 0 ? v : 0
            }
            let m = WeightMatrix(Tensor(shape: [s.rows, s.cols], values: w))
            m.pack()
            var y = [Float](repeating: .nan, count: s.T * s.rows)
            x.withUnsafeBufferPointer { xp in
                y.withUnsafeMutableBufferPointer { m.multiply($0.baseAddress!, xp.baseAddress!, T: s.T, bias: bias, floor: floor) }
            }
            #expect(y.map(\.bitPattern) == expected.map(\.bitPattern), "T \(s.T) rows \(s.rows) cols \(s.cols)")
            #expect(y.contains { $0 > 0 } && y.contains { $0 == 0 })
        }
    }

    /// The gated-MLP kernel (gate and up tiles, then their GELU product) gives the bits of the two
    /// packed products followed by gatedGeluForward, with either kernel; unpacked matrices take
    /// the separate steps and agree as well. Cols past 256 cross the kernel's blocked sums.
    @Test(arguments: [true, false]) func gatedGeluProductEqualsTheSeparateSteps(avx512: Bool) {
        let selection = KernelSelection(avx512: avx512)
        defer { selection.end() }
        var rng = Rand(s: 23)
        for s in Self.shapes + [(T: 20, rows: 96, cols: 300)] {
            let x = f32(rng.array(s.T * s.cols)), wg = f32(rng.array(s.rows * s.cols)), wu = f32(rng.array(s.rows * s.cols))
            let g = packedProduct(x, wg, T: s.T, rows: s.rows, cols: s.cols)
            let u = packedProduct(x, wu, T: s.T, rows: s.rows, cols: s.cols)
            var expected = [Float](repeating: .nan, count: s.T * s.rows)
            gatedGeluForward(&expected, gate: g, up: u, N: g.count)
            for packed in [true, false] {
                let gate = WeightMatrix(Tensor(shape: [s.rows, s.cols], values: wg))
                let up = WeightMatrix(Tensor(shape: [s.rows, s.cols], values: wu))
                if packed { gate.pack(); up.pack() }
                var y = [Float](repeating: .nan, count: s.T * s.rows), scratch = y
                x.withUnsafeBufferPointer { xp in
                    y.withUnsafeMutableBufferPointer { yp in
                        scratch.withUnsafeMutableBufferPointer {
                            WeightMatrix.gatedGelu(yp.baseAddress!, xp.baseAddress!, T: s.T, gate: gate, up: up, scratch: $0.baseAddress!)
                        }
                    }
                }
                if packed {
                    #expect(y.map(\.bitPattern) == expected.map(\.bitPattern), "T \(s.T) rows \(s.rows) cols \(s.cols)")
                } else {
                    // sgemm sums in its own order
                    #expect(zip(y, expected).allSatisfy { abs($0 - $1) <= 1e-4 * max(1, abs($1)) }, "unpacked T \(s.T) rows \(s.rows)")
                }
            }
        }
    }

    /// Two products of one input as one job (an attention layer's keys and values) give the bits
    /// of two separate products, packed or not, of equal or different heights.
    @Test(arguments: [true, false]) func pairOfProductsEqualsTwoProducts(avx512: Bool) {
        let selection = KernelSelection(avx512: avx512)
        defer { selection.end() }
        var rng = Rand(s: 31)
        for (T, rowsA, rowsB, cols) in [(9, 256, 256, 64), (20, 40, 96, 33), (1, 32, 5, 7), (17, 160, 64, 300)] {
            let x = f32(rng.array(T * cols)), wa = f32(rng.array(rowsA * cols)), wb = f32(rng.array(rowsB * cols))
            for packed in [true, false] {
                let a = WeightMatrix(Tensor(shape: [rowsA, cols], values: wa))
                let b = WeightMatrix(Tensor(shape: [rowsB, cols], values: wb))
                if packed { a.pack(); b.pack() }
                var ya = [Float](repeating: .nan, count: T * rowsA), yb = [Float](repeating: .nan, count: T * rowsB)
                var ea = ya, eb = yb
                x.withUnsafeBufferPointer { xp in
                    ya.withUnsafeMutableBufferPointer { yap in
                        yb.withUnsafeMutableBufferPointer {
                            WeightMatrix.multiply(yap.baseAddress!, a, $0.baseAddress!, b, xp.baseAddress!, T: T)
                        }
                    }
                    ea.withUnsafeMutableBufferPointer { a.multiply($0.baseAddress!, xp.baseAddress!, T: T) }
                    eb.withUnsafeMutableBufferPointer { b.multiply($0.baseAddress!, xp.baseAddress!, T: T) }
                }
                #expect(ya.map(\.bitPattern) == ea.map(\.bitPattern), "T \(T) a \(rowsA)x\(cols) packed \(packed)")
                #expect(yb.map(\.bitPattern) == eb.map(\.bitPattern), "T \(T) b \(rowsB)x\(cols) packed \(packed)")
                if packed {
                    #expect(ya.map(\.bitPattern) == packedProduct(x, wa, T: T, rows: rowsA, cols: cols).map(\.bitPattern))
                }
            }
        }
    }

    /// Packing B = Wᵀ straight from its rows gives the panels packing W does.
    @Test func packingTheTransposeEqualsPackingTheMatrix() {
        var rng = Rand(s: 9)
        // 1000 rows: 32 panels, packed by both cores, the second part ending in a partial panel
        for s in Self.shapes + [(T: 5, rows: 1000, cols: 24)] {
            let w = f32(rng.array(s.rows * s.cols)), x = f32(rng.array(s.T * s.cols))
            var b = [Float](repeating: 0, count: w.count)
            for r in 0..<s.rows { for k in 0..<s.cols { b[k * s.rows + r] = w[r * s.cols + k] } }
            let m = b.withUnsafeBufferPointer { WeightMatrix(packingTransposeOf: $0.baseAddress!, rows: s.rows, cols: s.cols) }
            #expect(m.isPacked)
            var y = [Float](repeating: .nan, count: s.T * s.rows)
            x.withUnsafeBufferPointer { xp in
                y.withUnsafeMutableBufferPointer { m.multiply($0.baseAddress!, xp.baseAddress!, T: s.T) }
            }
            #expect(y.map(\.bitPattern) == packedProduct(x, w, T: s.T, rows: s.rows, cols: s.cols).map(\.bitPattern))
        }
    }

    @Test func unpackedMultiplyIsSgemmAndRowsSurvivePacking() {
        var rng = Rand(s: 3)
        let (T, rows, cols) = (5, 40, 24)
        let x = rng.array(T * cols), w = rng.array(rows * cols)
        let m = WeightMatrix(Tensor(shape: [rows, cols], values: f32(w)))
        var y = [Float](repeating: .nan, count: T * rows)
        f32(x).withUnsafeBufferPointer { xp in
            y.withUnsafeMutableBufferPointer { m.multiply($0.baseAddress!, xp.baseAddress!, T: T) }
        }
        expectClose(y, reference(f32(x).map(Double.init), f32(w).map(Double.init), T: T, rows: rows, cols: cols),
                    atol: 1e-5, "row-major sgemm path")
        for packed in [false, true] {
            if packed { m.pack() }
            for r in [0, 1, 31, 32, 39] {
                var row = [Float](repeating: .nan, count: cols)
                row.withUnsafeMutableBufferPointer { m.copyRow(r, into: $0.baseAddress!, scale: 2) }
                #expect(row == f32(w)[(r * cols)..<((r + 1) * cols)].map { $0 * 2 }, "row \(r) packed \(packed)")
            }
        }
    }

    /// Q8_0 rows kept as int8 panels give the bits of the dequantized matrix packed as fp32, on both
    /// kernels, for the products (one row: four panels at a time, then the rest) and for rows
    /// (scales include fp16 subnormals and q = -128).
    @Test(arguments: [true, false]) func q8PanelsEqualTheDequantizedMatrix(avx512: Bool) {
        let selection = KernelSelection(avx512: avx512)
        defer { selection.end() }
        var rng = Rand(s: 21)
        for (T, rows, cols) in [(1, 32, 32), (1, 120, 64), (1, 200, 320), (3, 70, 64), (9, 5, 32), (17, 96, 640), (40, 33, 288)] {
            let blocksPerRow = cols / 32
            var bytes = [UInt8](), scaleBits = [UInt16](), dense = [Float]()
            for r in 0..<rows {
                for b in 0..<blocksPerRow {
                    let d: Float16 = (r + b) % 7 == 0 ? Float16(bitPattern: UInt16(1 + (r * 31 + b) % 1000))
                        : Float16(Float(rng.next()) * 0.05)
                    scaleBits.append(d.bitPattern)
                    bytes += [UInt8(d.bitPattern & 0xFF), UInt8(d.bitPattern >> 8)]
                    for i in 0..<32 {
                        let q = Int8(clamping: i == 0 ? -128 : Int((rng.next() * 127).rounded()))
                        bytes.append(UInt8(bitPattern: q))
                        dense.append(Float(d) * Float(q))
                    }
                }
            }
            let bits = scaleBits
            let q8 = bytes.withUnsafeBytes {
                WeightMatrix(q8_0Blocks: $0, rows: rows, cols: cols) { r, b in Float(Float16(bitPattern: bits[r * blocksPerRow + b])) }
            }
            #expect(q8.isPacked)
            let x = f32(rng.array(T * cols))
            var y = [Float](repeating: .nan, count: T * rows)
            x.withUnsafeBufferPointer { xp in
                y.withUnsafeMutableBufferPointer { q8.multiply($0.baseAddress!, xp.baseAddress!, T: T) }
            }
            let expected = packedProduct(x, dense, T: T, rows: rows, cols: cols)
            #expect(y.map(\.bitPattern) == expected.map(\.bitPattern), "T \(T) rows \(rows) cols \(cols) avx512 \(avx512)")
            for r in Set([0, 1, rows / 2, rows - 1]) {
                var row = [Float](repeating: .nan, count: cols)
                row.withUnsafeMutableBufferPointer { q8.copyRow(r, into: $0.baseAddress!, scale: 25.3) }
                #expect(row.map(\.bitPattern) == dense[(r * cols)..<((r + 1) * cols)].map { ($0 * 25.3).bitPattern }, "row \(r)")
            }
        }
    }
}
