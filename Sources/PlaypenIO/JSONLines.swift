import Foundation

/// Reads JSON Lines (plain or zstd, from a file or stdin) one record at a time.
///
/// Lines are handed out as views into one growing buffer (no per-line copy); blank lines are
/// skipped but counted, so `lineNumber` is always the 1-based line of the file. Errors read
/// `<file>:<line>: <what>`.
public final class JSONLinesReader {
    public let source: ByteSource
    /// 1-based line number of the line most recently returned (0 before the first).
    public private(set) var lineNumber = 0
    private var buffer: UnsafeMutableRawBufferPointer
    private var start = 0
    private var end = 0
    private var scanned = 0
    private var ended = false

    public var name: String { source.name }

    public init(source: ByteSource, bufferSize: Int = 1 << 20) {
        self.source = source
        buffer = .allocate(byteCount: max(bufferSize, 16), alignment: 16)
    }

    /// `-` reads stdin. zstd input is detected by its magic number.
    public convenience init(path: String) throws {
        self.init(source: try InputFile(path: path))
    }

    deinit { buffer.deallocate() }

    /// An error message located at the current line.
    public func error(_ what: String) -> PlaypenError {
        PlaypenError("\(name):\(lineNumber): \(what)")
    }

    /// The next non-blank line without its line terminator, valid until the next call.
    public func nextLine() throws -> UnsafeRawBufferPointer? {
        while true {
            guard let line = try nextRawLine() else { return nil }
            if !isBlank(line) { return line }
        }
    }

    private func isBlank(_ line: UnsafeRawBufferPointer) -> Bool {
        for c in line where !(c == 0x20 || c == 0x09 || c == 0x0D) { return false }
        return true
    }

    /// The next line, blank or not; with `refilling: false`, nil also when the buffered input
    /// holds no further complete line (the input may go on).
    private func nextRawLine(refilling: Bool = true) throws -> UnsafeRawBufferPointer? {
        while true {
            if scanned < end,
               let hit = memchr(buffer.baseAddress! + scanned, 0x0A, end - scanned)
            {
                let newline = buffer.baseAddress!.distance(to: hit)
                var lineEnd = newline
                if lineEnd > start, buffer[lineEnd - 1] == 0x0D { lineEnd -= 1 }
                let line = UnsafeRawBufferPointer(rebasing: buffer[start..<lineEnd])
                start = newline + 1
                scanned = start
                lineNumber += 1
                return line
            }
            scanned = end
            if ended {
                guard start < end else { return nil }
                let line = UnsafeRawBufferPointer(rebasing: buffer[start..<end])
                start = end
                lineNumber += 1
                return line
            }
            guard refilling else { return nil }
            try refill()
        }
    }

    /// Reads the non-blank lines that fit the buffer (at least one, however long) into `chunk`,
    /// which takes the buffer over: the bytes are decompressed once, into memory the caller can
    /// hand to another thread, and not copied again (only a trailing partial line moves to the
    /// buffer the reader takes back from `chunk`). False, with `chunk` empty, at the end.
    public func nextChunk(into chunk: LineChunk) throws -> Bool {
        chunk.removeAll()
        while true {
            while !ended && end < buffer.count {
                let n = try source.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[end...]))
                if n == 0 { ended = true } else { end += n }
            }
            while let line = try nextRawLine(refilling: false) {
                if !isBlank(line) {
                    let offset = UnsafeRawPointer(buffer.baseAddress!).distance(to: line.baseAddress!)
                    chunk.append(offset..<(offset + line.count), lineNumber: lineNumber)
                }
            }
            if chunk.count > 0 { break }
            if ended && start == end { return false }
            try refill()  // only blank lines so far, or one line longer than the buffer
        }
        // Swap buffers: the chunk keeps the lines, the reader continues in the chunk's old memory.
        var next = chunk.storage
        if next.count < buffer.count {
            next.deallocate()
            next = .allocate(byteCount: buffer.count, alignment: 16)
        }
        let pending = end - start
        if pending > 0 { next.baseAddress!.copyMemory(from: buffer.baseAddress! + start, byteCount: pending) }
        chunk.storage = buffer
        buffer = next
        scanned -= start
        end = pending
        start = 0
        return true
    }

    private func refill() throws {
        if start > 0 {
            let pending = end - start
            if pending > 0 { buffer.baseAddress!.copyMemory(from: buffer.baseAddress! + start, byteCount: pending) }
            end = pending
            scanned -= start
            start = 0
        }
        if end == buffer.count {
            let bigger = UnsafeMutableRawBufferPointer.allocate(byteCount: buffer.count * 2, alignment: 16)
            bigger.baseAddress!.copyMemory(from: buffer.baseAddress!, byteCount: end)
            buffer.deallocate()
            buffer = bigger
        }
        let n = try source.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[end...]))
        if n == 0 { ended = true } else { end += n }
    }

    /// The next record parsed as a JSONValue; nil at the end.
    public func next() throws -> JSONValue? {
        guard let line = try nextLine() else { return nil }
        do {
            return try JSONValue.parse(line)
        } catch {
            throw self.error(error.description)
        }
    }

    /// The next record decoded with JSONDecoder (convenient, slower than `next()`).
    public func next<T: Decodable>(_ type: T.Type, decoder: JSONDecoder = JSONDecoder()) throws -> T? {
        guard let line = try nextLine() else { return nil }
        do {
            return try decoder.decode(T.self, from: Data(line))
        } catch let error as DecodingError {
            throw self.error("cannot decode \(T.self): \(describe(error))")
        }
    }

    /// Calls `body` with every record in order.
    public func forEach(_ body: (JSONValue) throws -> Void) throws {
        while let value = try next() { try body(value) }
    }
}

/// Complete lines in one block of memory, filled by `JSONLinesReader.nextChunk(into:)`; a chunk
/// and its memory are reused from one call to the next.
public final class LineChunk: @unchecked Sendable {
    fileprivate var storage: UnsafeMutableRawBufferPointer = .allocate(byteCount: 0, alignment: 16)
    private var ranges: [Range<Int>] = []
    /// 1-based line numbers in the file, one per line.
    public private(set) var lineNumbers: [Int] = []
    public var count: Int { ranges.count }

    public init() {}
    deinit { storage.deallocate() }

    /// Line `i` without its line terminator.
    public func line(_ i: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: storage[ranges[i]])
    }

    fileprivate func removeAll() {
        ranges.removeAll(keepingCapacity: true)
        lineNumbers.removeAll(keepingCapacity: true)
    }

    fileprivate func append(_ range: Range<Int>, lineNumber: Int) {
        ranges.append(range)
        lineNumbers.append(lineNumber)
    }
}

func describe(_ error: DecodingError) -> String {
    func path(_ context: DecodingError.Context) -> String {
        let keys = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? "." + $0.stringValue }.joined()
        return keys.isEmpty ? "" : " at \(keys.hasPrefix(".") ? String(keys.dropFirst()) : keys)"
    }
    switch error {
    case .keyNotFound(let key, let context): return "missing key \"\(key.stringValue)\"\(path(context))"
    case .typeMismatch(let type, let context): return "expected \(type)\(path(context))"
    case .valueNotFound(let type, let context): return "expected \(type), found null\(path(context))"
    case .dataCorrupted(let context): return "\(context.debugDescription)\(path(context))"
    @unknown default: return "\(error)"
    }
}

/// Writes JSON Lines to a file (atomically; zstd when the path ends in `.zst`) or stdout (`-`).
public final class JSONLinesWriter {
    public let sink: ByteSink
    public let options: JSONWriteOptions
    public private(set) var count = 0
    private var line: [UInt8] = []

    public init(sink: ByteSink, options: JSONWriteOptions = JSONWriteOptions()) {
        self.sink = sink
        self.options = options
        line.reserveCapacity(1 << 16)
    }

    public convenience init(path: String, options: JSONWriteOptions = JSONWriteOptions()) throws {
        self.init(sink: try OutputFile(path: path), options: options)
    }

    public func write(_ value: JSONValue) throws {
        line.removeAll(keepingCapacity: true)
        value.write(to: &line, options: options)
        line.append(0x0A)
        try line.withUnsafeBytes { try sink.write($0) }
        count += 1
    }

    /// Writes an Encodable record through JSONEncoder (keys sorted for determinism).
    public func write<T: Encodable>(encoding value: T) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var data = try encoder.encode(value)
        data.append(0x0A)
        try sink.write(data)
        count += 1
    }

    /// Writes one already-serialized line (a newline is appended).
    public func writeLine(_ bytes: UnsafeRawBufferPointer) throws {
        try sink.write(bytes)
        try [UInt8(0x0A)].withUnsafeBytes { try sink.write($0) }
        count += 1
    }

    /// Flushes and moves the file into place.
    public func commit() throws { try sink.finish() }
}
