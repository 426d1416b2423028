import CKernels
import Foundation

/// A weight matrix W `[rows, cols]` (`[out, in]`, as HF's `nn.Linear.weight`) in one of three
/// layouts: row-major, what training, gradients and adapter merges read and write; packed once
/// into panels for the inference kernel (`pack()`), which computes `y = x · Wᵀ` without repacking
/// the weights on every call; or, for GGUF Q8_0 weights, int8 panels that stay quantized
/// (`init(q8_0Blocks:…)`), a quarter of the memory, read as the dequantized matrix would be.
/// Packing reorders the values in place (rows a multiple of the panel width, as every Gemma-3
/// projection) or into one padded copy, so memory stays one matrix.
public final class WeightMatrix: @unchecked Sendable {
    public let rows: Int
    public let cols: Int
    private var storage: Tensor
    private var q8: Q8Panels?
    /// True when the matrix is in an inference layout (fp32 or Q8_0 panels).
    public private(set) var isPacked = false

    /// Wraps a row-major `[rows, cols]` tensor.
    public init(_ tensor: Tensor) {
        precondition(tensor.shape.count == 2, "WeightMatrix: shape \(tensor.shape) is not [rows, cols]")
        rows = tensor.shape[0]
        cols = tensor.shape[1]
        storage = tensor
    }

    /// The packed matrix W = Bᵀ for B `[cols, rows]` row-major (e.g. an SAE's W_enc [d_in, d_sae]
    /// for `y = x · W_enc`): the panels are runs of B's rows, so no transpose is needed.
    public init(packingTransposeOf b: ConstFloatPtr, rows: Int, cols: Int) {
        self.rows = rows
        self.cols = cols
        storage = Tensor(uninitializedShape: [pp_panel_floats(rows, cols)])
        let width = Self.panelWidth, panels = SendablePointer(storage.data), source = SendablePointer(b)
        parallelChunks((rows + width - 1) / width, minChunk: 16) { lo, hi in
            pp_pack_panels_from_columns(panels.pointer! + lo * width * cols, source.const! + lo * width, cols,
                                        min(rows, hi * width) - lo * width, rows)
        }
        isPacked = true
    }

    /// A matrix given as ggml Q8_0 rows (`cols / 32` blocks of 34 bytes each: fp16 scale, 32 int8),
    /// kept as int8 panels. `blockScale(row, block)` is the block's scale as fp32. Inference only:
    /// products and rows give exactly the values of the dequantized, packed matrix.
    public init(q8_0Blocks blocks: UnsafeRawBufferPointer, rows: Int, cols: Int,
                blockScale: @Sendable (_ row: Int, _ block: Int) -> Float) {
        precondition(cols % 32 == 0 && blocks.count == rows * cols / 32 * 34,
                     "WeightMatrix: \(blocks.count) bytes are not Q8_0 rows of [\(rows), \(cols)]")
        self.rows = rows
        self.cols = cols
        storage = Tensor(uninitializedShape: [0])
        let panels = Q8Panels(rows: rows, cols: cols)
        let width = Self.panelWidth, blocksPerRow = cols / 32
        let values = panels.values, scales = SendablePointer(panels.scales.data)
        let src = Int(bitPattern: blocks.baseAddress)
        parallelChunks((rows + width - 1) / width, minChunk: 64) { lo, hi in
            pp_q8_pack_panels(values.pointer, UnsafePointer(bitPattern: src), rows, cols, lo, hi)
            for p in lo..<hi {
                let panelScales = scales.pointer! + p * blocksPerRow * width
                for j in 0..<width {
                    let row = p * width + j
                    for b in 0..<blocksPerRow { panelScales[b * width + j] = row < rows ? blockScale(row, b) : 0 }
                }
            }
        }
        q8 = panels
        isPacked = true
    }

    public var count: Int { rows * cols }
    public var shape: [Int] { [rows, cols] }
    private static let panelWidth = Int(PP_PANEL_WIDTH)
    private var panelCount: Int { (rows + Self.panelWidth - 1) / Self.panelWidth }

    /// The row-major values. Only before `pack()`: a packed matrix belongs to a forward-only tool.
    public var rowMajor: Tensor {
        precondition(!isPacked, "WeightMatrix [\(rows), \(cols)] was packed for inference; load the model without packing to train or merge into it")
        return storage
    }

    /// Reorders the weights into panels for `multiply` (both cores, one panel of scratch each).
    public func pack() {
        guard !isPacked else { return }
        if rows % Self.panelWidth == 0 {
            let w = SendablePointer(storage.data), k = cols, width = Self.panelWidth
            parallelChunks(panelCount, minChunk: 16) { lo, hi in
                let scratch = UnsafeMutablePointer<Float>.allocate(capacity: max(width * k, 1))
                defer { scratch.deallocate() }
                pp_pack_panels_in_place(w.pointer!, k, lo, hi, scratch)
            }
        } else {
            let packed = Tensor(uninitializedShape: [pp_panel_floats(rows, cols)])
            pp_pack_panels(packed.data, storage.data, rows, cols, cols)
            storage = packed
        }
        isPacked = true
    }

    /// `out[T, rows] = inp[T, cols] · Wᵀ`: the panel kernel with the panels split over the cores
    /// when packed, one sgemm otherwise.
    public func multiply(_ out: FloatPtr, _ inp: ConstFloatPtr, T: Int) {
        guard isPacked else {
            matmulForward(out, inp, storage.data, T: T, C: cols, OC: rows)
            return
        }
        if let q8 {
            guard T > 0, rows > 0 else { return }
            let o = SendablePointer(out), i = SendablePointer(inp), s = SendablePointer(q8.scales.data)
            let (r, c, values) = (rows, cols, q8.values)
            parallelChunks(panelCount, minChunk: 1) { lo, hi in
                let scratch = UnsafeMutablePointer<Float>.allocate(capacity: Self.panelWidth * c)
                defer { scratch.deallocate() }
                pp_q8_panel_gemm(o.pointer!, r, i.const!, c, values.pointer, s.const!, c, T, r, lo, hi, scratch)
            }
            return
        }
        multiplyPacked(out, inp, T: T, bias: nil, floor: nil)
    }

    /// `out = inp · Wᵀ + bias` (bias [rows]), then with `floor` [rows] each value kept only where it
    /// is strictly above both floor[j] and 0 (0 elsewhere, NaN included): an SAE's ReLU or JumpReLU
    /// encoder in one pass over the output. Packed matrices only.
    public func multiply(_ out: FloatPtr, _ inp: ConstFloatPtr, T: Int, bias: ConstFloatPtr, floor: ConstFloatPtr?) {
        precondition(isPacked && q8 == nil, "WeightMatrix: the fused bias/floor product needs an fp32 packed matrix")
        multiplyPacked(out, inp, T: T, bias: bias, floor: floor)
    }

    private func multiplyPacked(_ out: FloatPtr, _ inp: ConstFloatPtr, T: Int, bias: ConstFloatPtr?, floor: ConstFloatPtr?) {
        guard T > 0, rows > 0 else { return }
        let o = SendablePointer(out), i = SendablePointer(inp), w = SendablePointer(storage.data)
        let b = SendablePointer(bias), f = SendablePointer(floor)
        let (r, c, width) = (rows, cols, Self.panelWidth)
        parallelChunks(panelCount, minChunk: 1) { lo, hi in
            pp_panel_gemm(o.pointer!, r, i.const!, c, w.const!, width, width * c, c, T, r, lo, hi, b.const, f.const)
        }
    }

    /// `outA = inp · aᵀ` and `outB = inp · bᵀ` (two matrices of the same width, such as an
    /// attention layer's keys and values) as one job: the panels of both shared out between the
    /// cores together, so two narrow products keep both cores busy and wait at one barrier. The
    /// bits of two `multiply` calls.
    public static func multiply(_ outA: FloatPtr, _ a: WeightMatrix, _ outB: FloatPtr, _ b: WeightMatrix,
                                _ inp: ConstFloatPtr, T: Int) {
        precondition(a.cols == b.cols, "WeightMatrix: products of one input with widths \(a.cols) and \(b.cols)")
        guard a.isPacked, b.isPacked, a.q8 == nil, b.q8 == nil, T > 0 else {
            a.multiply(outA, inp, T: T)
            b.multiply(outB, inp, T: T)
            return
        }
        let i = SendablePointer(inp), width = Self.panelWidth, c = a.cols, first = a.panelCount
        let (oa, wa, ra) = (SendablePointer(outA), SendablePointer(a.storage.data), a.rows)
        let (ob, wb, rb) = (SendablePointer(outB), SendablePointer(b.storage.data), b.rows)
        // panels 0 ..< first are a's, the rest b's; a chunk may take some of each
        parallelChunks(first + b.panelCount, minChunk: 1) { lo, hi in
            if lo < first {
                pp_panel_gemm(oa.pointer!, ra, i.const!, c, wa.const!, width, width * c, c, T, ra, lo, min(hi, first), nil, nil)
            }
            if hi > first {
                pp_panel_gemm(ob.pointer!, rb, i.const!, c, wb.const!, width, width * c, c, T, rb,
                              max(lo, first) - first, hi - first, nil, nil)
            }
        }
    }

    /// `out[T, rows] = gelu_tanh(inp · gateᵀ) ⊙ (inp · upᵀ)`, a gated MLP's first half. With both
    /// matrices packed (fp32 panels) one kernel computes each gate/up tile pair and their product,
    /// so the two [T, rows] products never reach memory; otherwise two products and the GELU,
    /// through `scratch` ([T, rows]). The same bits either way.
    public static func gatedGelu(_ out: FloatPtr, _ inp: ConstFloatPtr, T: Int, gate: WeightMatrix, up: WeightMatrix,
                                 scratch: FloatPtr) {
        precondition(gate.rows == up.rows && gate.cols == up.cols, "WeightMatrix: gate \(gate.rows)x\(gate.cols), up \(up.rows)x\(up.cols)")
        guard gate.isPacked, up.isPacked, gate.q8 == nil, up.q8 == nil else {
            gate.multiply(out, inp, T: T)
            up.multiply(scratch, inp, T: T)
            gatedGeluForward(out, gate: out, up: scratch, N: T * gate.rows)
            return
        }
        guard T > 0, gate.rows > 0 else { return }
        let o = SendablePointer(out), i = SendablePointer(inp)
        let g = SendablePointer(gate.storage.data), u = SendablePointer(up.storage.data)
        let (r, c) = (gate.rows, gate.cols)
        parallelChunks(gate.panelCount, minChunk: 1) { lo, hi in
            pp_panel_gemm_gated_gelu(o.pointer!, r, i.const!, c, g.const!, u.const!, c, T, r, lo, hi)
        }
    }

    /// `dst[0 ..< cols] = W[row, :] · scale` (the embedding lookup of a tied head).
    public func copyRow(_ row: Int, into dst: FloatPtr, scale: Float = 1) {
        precondition(row >= 0 && row < rows, "WeightMatrix: row \(row) outside 0..<\(rows)")
        if let q8 {
            pp_q8_panel_row(dst, q8.values.pointer, q8.scales.data, cols, row, scale)
            return
        }
        guard isPacked else {
            let src = storage.data + row * cols
            for k in 0..<cols { dst[k] = src[k] * scale }
            return
        }
        let width = Self.panelWidth
        let src = storage.data + (row / width) * width * cols + row % width
        for k in 0..<cols { dst[k] = src[k * width] * scale }
    }
}

/// The int8 values (`pp_q8_pack_panels`) and fp32 block scales of a Q8_0 matrix in panels.
private final class Q8Panels: @unchecked Sendable {
    let values: Int8Pointer
    let scales: Tensor

    init(rows: Int, cols: Int) {
        let count = pp_panel_floats(rows, cols)
        values = Int8Pointer(pointer: UnsafeMutablePointer<Int8>.allocate(capacity: max(count, 1)))
        scales = Tensor(uninitializedShape: [pp_panel_floats(rows, cols / 32)])
    }

    deinit { values.pointer.deallocate() }
}

private struct Int8Pointer: @unchecked Sendable { let pointer: UnsafeMutablePointer<Int8> }

/// Holds the kernel selection for a stretch of work on one thread: sets the CKernels paths
/// (`avx512`) under a process-wide lock and restores them in `end()`. The selection is global, so
/// tests that force the portable paths (slow: a libm fmaf per multiply-add) hold it, and so do
/// tests that run heavy forwards, or those would run portable whenever the two overlapped.
public final class KernelSelection {
    private static let lock = NSRecursiveLock()
    private let before: Bool

    public init(avx512: Bool) {
        Self.lock.lock()
        before = panelKernelUseAVX512(avx512)
    }

    public func end() {
        panelKernelUseAVX512(before)
        Self.lock.unlock()
    }
}

/// Selects the instruction set of the CKernels kernels (panel products, Q8_0 panels, the gated
/// GELU; tests check the portable paths on AVX-512 machines); returns whether AVX-512 was in use.
@discardableResult
public func panelKernelUseAVX512(_ enable: Bool) -> Bool { pp_panel_gemm_use_avx512(enable ? 1 : 0) != 0 }
public var panelKernelHasAVX512: Bool { pp_panel_gemm_has_avx512() != 0 }
