import Foundation

// ---------------------------------------------------------------------------------------------
// Byte sources and sinks: the one abstraction every reader and writer sits on, so a format can
// read a file, stdin or a zstd stream, and write an atomic file, stdout or a zstd stream alike.
// ---------------------------------------------------------------------------------------------

/// Something bytes can be read from, in order, until it ends.
public protocol ByteSource: AnyObject {
    /// Names the input in error messages (a path, or `<stdin>`).
    var name: String { get }
    /// Copies up to `buffer.count` bytes into `buffer`; returns 0 only at the end of the input.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int
}

/// Something bytes can be written to.
public protocol ByteSink: AnyObject {
    /// Names the output in error messages (a path, or `<stdout>`).
    var name: String { get }
    func write(_ bytes: UnsafeRawBufferPointer) throws
    /// Pushes everything buffered (and any compressor epilogue) to the destination.
    /// For an `OutputFile` this also moves the file into place.
    func finish() throws
}

extension ByteSink {
    public func write(_ data: Data) throws {
        try data.withUnsafeBytes { try write($0) }
    }

    public func write(_ string: String) throws {
        var string = string
        try string.withUTF8 { try write(UnsafeRawBufferPointer($0)) }
    }

    public func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write($0) }
    }

    /// Writes a fixed-width integer in little-endian byte order.
    public func writeLittleEndian<T: FixedWidthInteger>(_ value: T) throws {
        var le = value.littleEndian
        try withUnsafeBytes(of: &le) { try write($0) }
    }
}

extension ByteSource {
    /// Reads until `buffer` is full or the input ends; returns how many bytes were read.
    public func readFully(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        var filled = 0
        while filled < buffer.count {
            let n = try read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[filled...]))
            if n == 0 { break }
            filled += n
        }
        return filled
    }

    /// Reads the whole remaining input into memory (for small inputs such as configs).
    public func readAll() throws -> Data {
        var result = Data()
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = try chunk.withUnsafeMutableBytes { try read(into: $0) }
            if n == 0 { return result }
            result.append(contentsOf: chunk[0..<n])
        }
    }
}

func systemError() -> String { String(cString: strerror(errno)) }

/// Reads a file descriptor (a file, a pipe, stdin).
public final class FileDescriptorSource: ByteSource {
    public let name: String
    private let fd: Int32
    private let ownsDescriptor: Bool

    public init(fd: Int32, name: String, ownsDescriptor: Bool) {
        self.fd = fd
        self.name = name
        self.ownsDescriptor = ownsDescriptor
    }

    /// Opens `path` for reading; `-` is stdin.
    public convenience init(path: String) throws {
        if path == "-" {
            self.init(fd: 0, name: "<stdin>", ownsDescriptor: false)
            return
        }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw PlaypenError("\(path): cannot open: \(systemError())") }
        var info = stat()
        if fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR {
            close(fd)
            throw PlaypenError("\(path): cannot read: is a directory")
        }
        self.init(fd: fd, name: path, ownsDescriptor: true)
    }

    deinit { if ownsDescriptor { close(fd) } }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard buffer.count > 0 else { return 0 }
        while true {
            let n = Foundation.read(fd, buffer.baseAddress, buffer.count)
            if n >= 0 { return n }
            if errno == EINTR { continue }
            throw PlaypenError("\(name): cannot read: \(systemError())")
        }
    }
}

/// Serves `prefix` first, then the rest of `inner` (used after sniffing magic numbers).
final class PrefixedSource: ByteSource {
    let inner: ByteSource
    private var prefix: [UInt8]
    private var offset = 0
    var name: String { inner.name }

    init(prefix: [UInt8], inner: ByteSource) {
        self.prefix = prefix
        self.inner = inner
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        if offset < prefix.count {
            let n = min(buffer.count, prefix.count - offset)
            prefix.withUnsafeBytes { buffer.baseAddress!.copyMemory(from: $0.baseAddress! + offset, byteCount: n) }
            offset += n
            return n
        }
        return try inner.read(into: buffer)
    }
}

/// Writes to a file descriptor through a buffer of `capacity` bytes.
public final class FileDescriptorSink: ByteSink {
    public let name: String
    private let fd: Int32
    private let ownsDescriptor: Bool
    private var buffer: UnsafeMutableRawBufferPointer
    private var used = 0

    public init(fd: Int32, name: String, ownsDescriptor: Bool, capacity: Int = 1 << 20) {
        self.fd = fd
        self.name = name
        self.ownsDescriptor = ownsDescriptor
        buffer = .allocate(byteCount: capacity, alignment: 16)
    }

    deinit {
        buffer.deallocate()
        if ownsDescriptor { close(fd) }
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        if used + bytes.count <= buffer.count {
            if bytes.count > 0 { (buffer.baseAddress! + used).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count) }
            used += bytes.count
            return
        }
        try flushBuffer()
        if bytes.count >= buffer.count {
            try writeAll(bytes)
        } else {
            buffer.baseAddress!.copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
            used = bytes.count
        }
    }

    public func finish() throws { try flushBuffer() }

    private func flushBuffer() throws {
        guard used > 0 else { return }
        let n = used
        used = 0
        try writeAll(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
    }

    private func writeAll(_ bytes: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < bytes.count {
            let n = Foundation.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                throw PlaypenError("\(name): cannot write: \(systemError())")
            }
            offset += n
        }
    }
}

/// Collects written bytes in memory (tests, hashing, small headers).
public final class MemorySink: ByteSink {
    public let name: String
    public private(set) var data = Data()
    public init(name: String = "<memory>") { self.name = name }
    public func write(_ bytes: UnsafeRawBufferPointer) throws { data.append(contentsOf: bytes) }
    public func finish() throws {}
}

/// Reads from bytes held in memory.
public final class MemorySource: ByteSource {
    public let name: String
    private let data: [UInt8]
    private var offset = 0
    public init(_ data: [UInt8], name: String = "<memory>") {
        self.data = data
        self.name = name
    }
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let n = min(buffer.count, data.count - offset)
        if n > 0 { data.withUnsafeBytes { buffer.baseAddress!.copyMemory(from: $0.baseAddress! + offset, byteCount: n) } }
        offset += n
        return n
    }
}

// ---------------------------------------------------------------------------------------------
// The two entry points tools use.
// ---------------------------------------------------------------------------------------------

/// An input path (`-` = stdin), transparently decompressed when it starts with the zstd magic
/// number 0xFD2FB528, whatever its name. Memory stays bounded on inputs of any size.
public final class InputFile: ByteSource {
    public let path: String
    public let isCompressed: Bool
    private let source: ByteSource
    public var name: String { source.name }

    public init(path: String) throws {
        self.path = path
        let raw = try FileDescriptorSource(path: path)
        var magic = [UInt8](repeating: 0, count: 4)
        let n = try magic.withUnsafeMutableBytes { try raw.readFully(into: $0) }
        magic.removeLast(4 - n)
        let prefixed = PrefixedSource(prefix: magic, inner: raw)
        isCompressed = magic == zstdMagic
        source = isCompressed ? try ZstdDecompressingSource(inner: prefixed) : prefixed
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        try source.read(into: buffer)
    }
}

/// An output path (`-` = stdout). A file is written under a temporary name and moved into place
/// by `commit()`; if the object goes away uncommitted (an error was thrown), nothing appears
/// under the final name. Compressed with zstd when `compressed` is true, or by default when the
/// path ends in `.zst`.
public final class OutputFile: ByteSink {
    public let path: String
    public let isCompressed: Bool
    private let atomic: AtomicFile?
    private let sink: ByteSink
    private var finished = false
    public var name: String { path == "-" ? "<stdout>" : path }

    public init(path: String, compressed: Bool? = nil, level: Int32 = 3) throws {
        self.path = path
        isCompressed = compressed ?? path.hasSuffix(".zst")
        let base: ByteSink
        if path == "-" {
            atomic = nil
            base = FileDescriptorSink(fd: 1, name: "<stdout>", ownsDescriptor: false)
        } else {
            let atomic = try AtomicFile(path: path)
            let fd = open(atomic.temporaryPath, O_WRONLY | O_TRUNC | O_CLOEXEC)
            guard fd >= 0 else { throw PlaypenError("\(path): cannot write: \(systemError())") }
            self.atomic = atomic
            base = FileDescriptorSink(fd: fd, name: path, ownsDescriptor: true)
        }
        sink = isCompressed ? try ZstdCompressingSink(inner: base, level: level) : base
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        precondition(!finished, "write after commit to \(name)")
        try sink.write(bytes)
    }

    /// Flushes everything and moves the file into place.
    public func commit() throws {
        guard !finished else { return }
        finished = true
        do {
            try sink.finish()
            try atomic?.commit()
        } catch {
            atomic?.abort()
            throw error
        }
    }

    public func finish() throws { try commit() }

    /// Drops the output: the temporary file is removed, the final name untouched.
    public func abort() {
        finished = true
        atomic?.abort()
    }
}
