import CZstd
import Foundation

/// The four bytes every zstd frame starts with (0xFD2FB528, little-endian).
public let zstdMagic: [UInt8] = [0x28, 0xB5, 0x2F, 0xFD]

private func zstdErrorName(_ code: Int) -> String { String(cString: ZSTD_getErrorName(code)) }

/// Decompresses a zstd stream (one or more concatenated frames) as it is read.
/// Memory: one input block (~128 KiB) plus zstd's window, whatever the size of the input.
public final class ZstdDecompressingSource: ByteSource {
    public var name: String { inner.name }
    private let inner: ByteSource
    private let context: OpaquePointer
    private let inputBuffer: UnsafeMutableRawBufferPointer
    private var input = ZSTD_inBuffer(src: nil, size: 0, pos: 0)
    private var innerEnded = false
    private var outputWasFull = false
    /// zstd's hint from the last call: 0 when the last frame ended cleanly.
    private var frameRemaining = 0
    private var sawData = false

    public init(inner: ByteSource) throws {
        self.inner = inner
        guard let context = ZSTD_createDCtx() else { throw PlaypenError("\(inner.name): cannot create zstd context") }
        self.context = context
        inputBuffer = .allocate(byteCount: ZSTD_DStreamInSize(), alignment: 16)
    }

    deinit {
        ZSTD_freeDCtx(context)
        inputBuffer.deallocate()
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard buffer.count > 0 else { return 0 }
        var output = ZSTD_outBuffer(dst: buffer.baseAddress, size: buffer.count, pos: 0)
        while true {
            if input.pos < input.size || outputWasFull {
                let consumedBefore = input.pos
                let code = ZSTD_decompressStream(context, &output, &input)
                if ZSTD_isError(code) != 0 {
                    throw PlaypenError("\(name): corrupt zstd stream: \(zstdErrorName(code))")
                }
                // A call that made no progress after a frame ended reports the next frame's
                // header size; only calls that moved data tell where we are in a frame.
                if input.pos > consumedBefore || output.pos > 0 { frameRemaining = code }
                outputWasFull = output.pos == output.size
                if output.pos > 0 { return output.pos }
                if input.pos < input.size { continue }
            }
            if innerEnded {
                if frameRemaining != 0 || !sawData {
                    throw PlaypenError("\(name): truncated zstd stream: the input ends inside a frame")
                }
                return 0
            }
            let n = try inner.read(into: inputBuffer)
            if n == 0 {
                innerEnded = true
            } else {
                sawData = true
                input = ZSTD_inBuffer(src: UnsafeRawPointer(inputBuffer.baseAddress), size: n, pos: 0)
            }
        }
    }
}

/// Compresses everything written into one zstd frame (with a content checksum) on `inner`.
/// Single-threaded and deterministic: the same bytes and level give the same output.
public final class ZstdCompressingSink: ByteSink {
    public var name: String { inner.name }
    private let inner: ByteSink
    private let context: OpaquePointer
    private let outputBuffer: UnsafeMutableRawBufferPointer

    public init(inner: ByteSink, level: Int32 = 3) throws {
        self.inner = inner
        guard let context = ZSTD_createCCtx() else { throw PlaypenError("\(inner.name): cannot create zstd context") }
        self.context = context
        outputBuffer = .allocate(byteCount: ZSTD_CStreamOutSize(), alignment: 16)
        ZSTD_CCtx_setParameter(context, ZSTD_c_compressionLevel, level)
        ZSTD_CCtx_setParameter(context, ZSTD_c_checksumFlag, 1)
    }

    deinit {
        ZSTD_freeCCtx(context)
        outputBuffer.deallocate()
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard bytes.count > 0 else { return }
        var input = ZSTD_inBuffer(src: bytes.baseAddress, size: bytes.count, pos: 0)
        while input.pos < input.size {
            try step(&input, ZSTD_e_continue)
        }
    }

    public func finish() throws {
        var input = ZSTD_inBuffer(src: nil, size: 0, pos: 0)
        while try step(&input, ZSTD_e_end) != 0 {}
        try inner.finish()
    }

    @discardableResult
    private func step(_ input: inout ZSTD_inBuffer, _ mode: ZSTD_EndDirective) throws -> Int {
        var output = ZSTD_outBuffer(dst: outputBuffer.baseAddress, size: outputBuffer.count, pos: 0)
        let code = ZSTD_compressStream2(context, &output, &input, mode)
        if ZSTD_isError(code) != 0 {
            throw PlaypenError("\(name): zstd compression failed: \(zstdErrorName(code))")
        }
        if output.pos > 0 {
            try inner.write(UnsafeRawBufferPointer(rebasing: outputBuffer[0..<output.pos]))
        }
        return code
    }
}
