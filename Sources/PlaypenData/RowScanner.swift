import Foundation
import PlaypenIO

// ------------------------------------------------------------------------------------------------
// A pull parser over the bytes of one JSON text (one JSON Lines record).
//
// The playpen row decoder walks a line with it key by key, so a row is decoded in one pass with
// no intermediate tree. Strings come back as Swift `String`s (UTF-8 validated, invalid sequences
// and lone surrogates replaced by U+FFFD). Errors carry the byte column; the caller prefixes the
// file and line.

/// A JSON syntax error at a 1-based byte position of the current line.
struct RowSyntaxError: Error, Sendable {
    let column: Int
    let message: String
}

/// The JSON type found where something else was expected, for schema errors.
enum RowJSONKind: String, Sendable {
    case object, array, string, number, boolean = "boolean", null
}

struct RowScanner {
    let base: UnsafePointer<UInt8>
    let end: Int
    var pos = 0
    /// Scratch for strings with escapes.
    var scratch: [UInt8] = []
    /// After `stringBytes`: the string's raw bytes (between the quotes) are exactly what
    /// `JSONBytesWriter` would write for its decoded bytes (Python's ensure_ascii=False escaping),
    /// so they can be copied instead of re-escaped. Lone/invalid surrogates count as not canonical.
    var lastStringCanonical = true
    /// After `stringBytes`: the raw bytes' range in the line.
    var lastStringRaw = 0..<0

    init(_ bytes: UnsafeBufferPointer<UInt8>) {
        // An empty buffer may have a nil base; point at a static byte instead.
        base = bytes.baseAddress ?? RowScanner.emptyByte
        end = bytes.count
        scratch.reserveCapacity(256)
    }

    private nonisolated(unsafe) static let emptyByte: UnsafePointer<UInt8> = {
        let p = UnsafeMutablePointer<UInt8>.allocate(capacity: 1)
        p.pointee = 0
        return UnsafePointer(p)
    }()

    @inline(__always) func fail(_ message: String, at position: Int? = nil) -> RowSyntaxError {
        RowSyntaxError(column: (position ?? pos) + 1, message: message)
    }

    private func describeHere() -> String {
        if pos >= end { return "end of line" }
        let c = base[pos]
        if c >= 0x20 && c < 0x7f { return "'\(Character(UnicodeScalar(c)))'" }
        return "byte 0x" + String(c, radix: 16)
    }

    @inline(__always) public mutating func skipWhitespace() {
        while pos < end {
            let c = base[pos]
            if c == 0x20 || c == 0x0a || c == 0x0d || c == 0x09 { pos += 1 } else { return }
        }
    }

    /// Next non-whitespace byte, or nil at the end.
    @inline(__always) public mutating func peek() -> UInt8? {
        skipWhitespace()
        return pos < end ? base[pos] : nil
    }

    @inline(__always) mutating func expect(_ byte: UInt8, _ what: @autoclosure () -> String) throws(RowSyntaxError) {
        // Compact JSON has the byte right here; everything else takes the general path.
        if pos < end && base[pos] == byte {
            pos += 1
            return
        }
        try expectAfterWhitespace(byte, what())
    }

    private mutating func expectAfterWhitespace(_ byte: UInt8, _ what: String) throws(RowSyntaxError) {
        skipWhitespace()
        guard pos < end, base[pos] == byte else {
            throw fail("expected \(what), found \(describeHere())")
        }
        pos += 1
    }

    /// After the last value: only whitespace may follow.
    mutating func expectEnd() throws(RowSyntaxError) {
        skipWhitespace()
        if pos < end { throw fail("unexpected \(describeHere()) after the end of the JSON value") }
    }

    /// The kind of the value that starts here (without consuming it).
    @inline(__always) mutating func peekKind() throws(RowSyntaxError) -> RowJSONKind {
        if pos < end {
            switch base[pos] {
            case UInt8(ascii: "{"): return .object
            case UInt8(ascii: "["): return .array
            case UInt8(ascii: "\""): return .string
            default: break
            }
        }
        return try peekKindAfterWhitespace()
    }

    private mutating func peekKindAfterWhitespace() throws(RowSyntaxError) -> RowJSONKind {
        guard let c = peek() else { throw fail("expected a value, found end of line") }
        switch c {
        case UInt8(ascii: "{"): return .object
        case UInt8(ascii: "["): return .array
        case UInt8(ascii: "\""): return .string
        case UInt8(ascii: "t"), UInt8(ascii: "f"): return .boolean
        case UInt8(ascii: "n"): return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number
        default: throw fail("expected a value, found \(describeHere())")
        }
    }

    // MARK: objects and arrays

    /// Iterates the members of an object: calls `body` with the raw key bytes (valid until the
    /// next scanner call) positioned at the value, which `body` must consume.
    mutating func forEachMember(
        _ body: (inout RowScanner, UnsafeBufferPointer<UInt8>) throws -> Void
    ) throws {
        try expect(UInt8(ascii: "{"), "'{'")
        if peek() == UInt8(ascii: "}") { pos += 1; return }
        while true {
            skipWhitespace()
            guard pos < end, base[pos] == UInt8(ascii: "\"") else {
                throw fail("expected a string key, found \(describeHere())")
            }
            let key = try rawKey()
            try expect(UInt8(ascii: ":"), "':'")
            try body(&self, key)
            guard let c = peek() else { throw fail("expected ',' or '}', found end of line") }
            pos += 1
            if c == UInt8(ascii: "}") { return }
            if c != UInt8(ascii: ",") { pos -= 1; throw fail("expected ',' or '}', found \(describeHere())") }
        }
    }

    /// Iterates array elements; `body` gets the element index and must consume the element.
    mutating func forEachElement(_ body: (inout RowScanner, Int) throws -> Void) throws {
        try expect(UInt8(ascii: "["), "'['")
        if peek() == UInt8(ascii: "]") { pos += 1; return }
        var index = 0
        while true {
            try body(&self, index)
            index += 1
            guard let c = peek() else { throw fail("expected ',' or ']', found end of line") }
            pos += 1
            if c == UInt8(ascii: "]") { return }
            if c != UInt8(ascii: ",") { pos -= 1; throw fail("expected ',' or ']', found \(describeHere())") }
        }
    }

    /// Key bytes without the quotes. Keys with escapes are decoded into a fresh buffer.
    private mutating func rawKey() throws(RowSyntaxError) -> UnsafeBufferPointer<UInt8> {
        let start = pos + 1
        let i = nextSpecial(from: start)
        if i < end {
            let c = base[i]
            if c == UInt8(ascii: "\"") {
                pos = i + 1
                return UnsafeBufferPointer(start: base + start, count: i - start)
            }
            if c < 0x20 { throw fail("control character in string", at: i) }
        }
        // Rare: escaped key. Decode and keep it alive in a leaked-once buffer per call.
        let s = try string()
        let bytes = Array(s.utf8)
        let p = UnsafeMutablePointer<UInt8>.allocate(capacity: max(bytes.count, 1))
        p.initialize(from: bytes, count: bytes.count)
        keyBuffers.append(p)
        return UnsafeBufferPointer(start: p, count: bytes.count)
    }
    var keyBuffers: [UnsafeMutablePointer<UInt8>] = []

    /// Frees buffers of escaped keys (call when done with the line).
    mutating func releaseKeys() {
        for p in keyBuffers { p.deallocate() }
        keyBuffers.removeAll()
    }

    // MARK: scalars

    /// A string value. Throws a syntax error on malformed strings.
    mutating func string() throws(RowSyntaxError) -> String {
        try stringBytes { String(decoding: $0, as: UTF8.self) }
    }

    /// Appends the decoded bytes of a string value to `out` (UTF-8 as found: not validated).
    mutating func appendString(to out: inout [UInt8]) throws(RowSyntaxError) {
        try stringBytes { out.append(contentsOf: $0) }
    }

    /// Calls `body` with the decoded bytes of a string value (valid only during the call).
    @inline(__always)
    mutating func stringBytes<R>(_ body: (UnsafeBufferPointer<UInt8>) -> R) throws(RowSyntaxError) -> R {
        skipWhitespace()
        guard pos < end, base[pos] == UInt8(ascii: "\"") else {
            throw fail("expected a string, found \(describeHere())")
        }
        let start = pos + 1
        var i = nextSpecial(from: start)
        // Fast path: no escapes.
        while i < end {
            let c = base[i]
            if c == UInt8(ascii: "\"") {
                pos = i + 1
                lastStringCanonical = true
                lastStringRaw = start..<i
                return body(UnsafeBufferPointer(start: base + start, count: i - start))
            }
            if c == UInt8(ascii: "\\") { break }
            if c < 0x20 { throw fail("control character 0x\(String(c, radix: 16)) in string (must be escaped)", at: i) }
            i += 1
        }
        if i >= end { throw fail("unterminated string", at: pos) }
        var canonical = true
        scratch.removeAll(keepingCapacity: true)
        scratch.append(contentsOf: UnsafeBufferPointer(start: base + start, count: i - start))
        while i < end {
            let c = base[i]
            if c == UInt8(ascii: "\"") {
                pos = i + 1
                lastStringCanonical = canonical
                lastStringRaw = start..<i
                return scratch.withUnsafeBufferPointer { body($0) }
            }
            if c < 0x20 { throw fail("control character 0x\(String(c, radix: 16)) in string (must be escaped)", at: i) }
            if c != UInt8(ascii: "\\") {
                // An ordinary run up to the next special byte, copied in bulk.
                let next = nextSpecial(from: i + 1)
                scratch.append(contentsOf: UnsafeBufferPointer(start: base + i, count: next - i))
                i = next
                continue
            }
            i += 1
            guard i < end else { break }
            let e = base[i]
            i += 1
            switch e {
            case UInt8(ascii: "\""): scratch.append(0x22)
            case UInt8(ascii: "\\"): scratch.append(0x5c)
            case UInt8(ascii: "/"): scratch.append(0x2f); canonical = false
            case UInt8(ascii: "b"): scratch.append(0x08)
            case UInt8(ascii: "f"): scratch.append(0x0c)
            case UInt8(ascii: "n"): scratch.append(0x0a)
            case UInt8(ascii: "r"): scratch.append(0x0d)
            case UInt8(ascii: "t"): scratch.append(0x09)
            case UInt8(ascii: "u"):
                var code = try hex4(at: i)
                // Canonical only for control characters without a short form, in lowercase hex.
                if code >= 0x20 || code == 0x08 || code == 0x09 || code == 0x0A || code == 0x0C || code == 0x0D
                    || (base[i + 2] >= UInt8(ascii: "A") && base[i + 2] <= UInt8(ascii: "F"))
                    || (base[i + 3] >= UInt8(ascii: "A") && base[i + 3] <= UInt8(ascii: "F")) {
                    canonical = false
                }
                i += 4
                if code >= 0xD800 && code < 0xDC00 {
                    // High surrogate: combine with a following low surrogate if present.
                    if i + 6 <= end, base[i] == UInt8(ascii: "\\"), base[i + 1] == UInt8(ascii: "u") {
                        let low = try hex4(at: i + 2)
                        if low >= 0xDC00 && low < 0xE000 {
                            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                            i += 6
                        } else {
                            code = 0xFFFD
                        }
                    } else {
                        code = 0xFFFD
                    }
                } else if code >= 0xDC00 && code < 0xE000 {
                    code = 0xFFFD
                }
                appendUTF8(code)
            default:
                throw fail("invalid escape '\\\(Character(UnicodeScalar(e)))' in string", at: i - 2)
            }
        }
        throw fail("unterminated string", at: start - 1)
    }

    /// Index of the first byte at or after `i` that is '"', '\\' or a control character
    /// (< 0x20), or `end`. Eight bytes at a time (SWAR): the lowest flagged byte is exact.
    @inline(__always) func nextSpecial(from start: Int) -> Int {
        var i = start
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        while i + 8 <= end {
            let x = UnsafeRawPointer(base + i).loadUnaligned(as: UInt64.self)
            let q = x ^ (ones &* 0x22)
            let b = x ^ (ones &* 0x5C)
            let flags = ((q &- ones) & ~q | (b &- ones) & ~b | (x &- ones &* 0x20) & ~x) & highs
            if flags != 0 { return i + flags.trailingZeroBitCount >> 3 }
            i += 8
        }
        while i < end {
            let c = base[i]
            if c == 0x22 || c == 0x5C || c < 0x20 { return i }
            i += 1
        }
        return end
    }

    /// Skips a string value, validating its syntax; returns its raw bytes (without quotes, escapes
    /// not decoded) and whether it contains escapes.
    mutating func skipString() throws(RowSyntaxError) -> (UnsafeBufferPointer<UInt8>, escaped: Bool) {
        skipWhitespace()
        guard pos < end, base[pos] == UInt8(ascii: "\"") else {
            throw fail("expected a string, found \(describeHere())")
        }
        let start = pos + 1
        var i = start
        var escaped = false
        while true {
            i = nextSpecial(from: i)
            guard i < end else { throw fail("unterminated string", at: start - 1) }
            let c = base[i]
            if c == 0x22 {
                pos = i + 1
                return (UnsafeBufferPointer(start: base + start, count: i - start), escaped)
            }
            if c < 0x20 { throw fail("control character 0x\(String(c, radix: 16)) in string (must be escaped)", at: i) }
            // A backslash: validate the escape.
            escaped = true
            guard i + 1 < end else { throw fail("unterminated string", at: start - 1) }
            switch base[i + 1] {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                 UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                i += 2
            case UInt8(ascii: "u"):
                _ = try hex4(at: i + 2)
                i += 6
            default:
                throw fail("invalid escape '\\\(Character(UnicodeScalar(base[i + 1])))' in string", at: i)
            }
        }
    }

    private func hex4(at i: Int) throws(RowSyntaxError) -> UInt32 {
        guard i + 4 <= end else { throw fail("truncated \\u escape", at: i - 2) }
        var v: UInt32 = 0
        for k in 0..<4 {
            let c = base[i + k]
            let d: UInt32
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt32(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt32(c - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = UInt32(c - UInt8(ascii: "A") + 10)
            default: throw fail("invalid \\u escape", at: i - 2)
            }
            v = v << 4 | d
        }
        return v
    }

    private mutating func appendUTF8(_ code: UInt32) {
        if code < 0x80 {
            scratch.append(UInt8(code))
        } else if code < 0x800 {
            scratch.append(UInt8(0xC0 | (code >> 6)))
            scratch.append(UInt8(0x80 | (code & 0x3F)))
        } else if code < 0x10000 {
            scratch.append(UInt8(0xE0 | (code >> 12)))
            scratch.append(UInt8(0x80 | ((code >> 6) & 0x3F)))
            scratch.append(UInt8(0x80 | (code & 0x3F)))
        } else {
            scratch.append(UInt8(0xF0 | (code >> 18)))
            scratch.append(UInt8(0x80 | ((code >> 12) & 0x3F)))
            scratch.append(UInt8(0x80 | ((code >> 6) & 0x3F)))
            scratch.append(UInt8(0x80 | (code & 0x3F)))
        }
    }

    /// An integer value (JSON number without fraction or exponent, fitting Int64).
    /// Returns nil, consuming the number, when the number is not an integer.
    mutating func integer() throws(RowSyntaxError) -> Int? {
        skipWhitespace()
        let start = pos
        var i = pos
        var negative = false
        if i < end && base[i] == UInt8(ascii: "-") { negative = true; i += 1 }
        let digitsStart = i
        var value = 0
        var overflow = false
        while i < end, base[i] >= 0x30, base[i] <= 0x39 {
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(Int(base[i] - 0x30))
            overflow = overflow || o1 || o2
            value = a
            i += 1
        }
        if i == digitsStart { throw fail("invalid number", at: start) }
        if base[digitsStart] == 0x30 && i - digitsStart > 1 { throw fail("invalid number (leading zero)", at: start) }
        var isInteger = !overflow
        if i < end && base[i] == UInt8(ascii: ".") {
            isInteger = false
            i += 1
            let s = i
            while i < end, base[i] >= 0x30, base[i] <= 0x39 { i += 1 }
            if i == s { throw fail("invalid number", at: start) }
        }
        if i < end && (base[i] == UInt8(ascii: "e") || base[i] == UInt8(ascii: "E")) {
            isInteger = false
            i += 1
            if i < end && (base[i] == UInt8(ascii: "+") || base[i] == UInt8(ascii: "-")) { i += 1 }
            let s = i
            while i < end, base[i] >= 0x30, base[i] <= 0x39 { i += 1 }
            if i == s { throw fail("invalid number", at: start) }
        }
        pos = i
        return isInteger ? (negative ? -value : value) : nil
    }

    private mutating func literal(_ text: StaticString) throws(RowSyntaxError) {
        let n = text.utf8CodeUnitCount
        guard pos + n <= end else { throw fail("invalid literal") }
        let p = text.utf8Start
        for k in 0..<n where base[pos + k] != p[k] { throw fail("invalid literal") }
        pos += n
    }

    /// Consumes `null` and returns true if the next value is null.
    mutating func null() throws(RowSyntaxError) -> Bool {
        if peek() == UInt8(ascii: "n") { try literal("null"); return true }
        return false
    }

    /// Skips any value, validating its syntax.
    mutating func skipValue(depth: Int = 0) throws {
        if depth > 512 { throw fail("nesting too deep") }
        switch try peekKind() {
        case .object: try forEachMember { s, _ in try s.skipValue(depth: depth + 1) }
        case .array: try forEachElement { s, _ in try s.skipValue(depth: depth + 1) }
        case .string: _ = try skipString()
        case .number: _ = try integer()
        case .boolean:
            if base[pos] == UInt8(ascii: "t") { try literal("true") } else { try literal("false") }
        case .null: try literal("null")
        }
    }
}

@inline(__always) func bytesEqual(_ a: UnsafeBufferPointer<UInt8>, _ b: StaticString) -> Bool {
    let n = b.utf8CodeUnitCount
    guard a.count == n else { return false }
    return memcmp(a.baseAddress!, b.utf8Start, n) == 0
}
