import Foundation

/// A read-only memory map of a whole file.
///
/// Weight files (GGUF, safetensors) and tensor streams are read through this, so loading a
/// model costs page faults rather than copies. Every accessor checks bounds and throws a
/// `PlaypenError` naming the file, never traps, because offsets come from untrusted headers.
public final class MappedFile: @unchecked Sendable {
    public let path: String
    public let count: Int
    public let base: UnsafeRawPointer?
    private let mappedLength: Int

    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else {
            throw PlaypenError("\(path): cannot open: \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw PlaypenError("\(path): cannot stat: \(String(cString: strerror(errno)))")
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw PlaypenError("\(path): not a regular file")
        }
        count = Int(info.st_size)
        if count == 0 {
            base = nil
            mappedLength = 0
            return
        }
        let pointer = mmap(nil, count, PROT_READ, MAP_PRIVATE, fd, 0)
        guard let pointer, pointer != MAP_FAILED else {
            throw PlaypenError("\(path): cannot map: \(String(cString: strerror(errno)))")
        }
        base = UnsafeRawPointer(pointer)
        mappedLength = count
    }

    deinit {
        if let base { munmap(UnsafeMutableRawPointer(mutating: base), mappedLength) }
    }

    /// Throws unless `[offset, offset + length)` lies inside the file.
    public func checkRange(_ offset: Int, _ length: Int, _ what: @autoclosure () -> String) throws {
        guard offset >= 0, length >= 0, offset <= count, length <= count - offset else {
            throw PlaypenError(
                "\(path): \(what()) at bytes [\(offset), \(offset &+ length)) lies outside the file of \(count) bytes")
        }
    }

    /// A bounds-checked view of `length` bytes at `offset`.
    public func bytes(at offset: Int, count length: Int, _ what: @autoclosure () -> String) throws
        -> UnsafeRawBufferPointer
    {
        try checkRange(offset, length, what())
        guard let base else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return UnsafeRawBufferPointer(start: base + offset, count: length)
    }

    /// Reads a little-endian fixed-width integer or float at `offset`.
    public func load<T: FixedWidthInteger>(_ type: T.Type, at offset: Int, _ what: @autoclosure () -> String) throws -> T {
        let raw = try bytes(at: offset, count: MemoryLayout<T>.size, what())
        return T(littleEndian: raw.loadUnaligned(as: T.self))
    }
}
