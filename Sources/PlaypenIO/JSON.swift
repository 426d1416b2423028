import Foundation

// ---------------------------------------------------------------------------------------------
// A small, fast JSON value type with its own parser and serializer.
//
// Why not Foundation: on the real playpen rows JSONSerialization parses ~120k rows/s and
// JSONDecoder ~100k rows/s on this machine, while CPython's C json.loads does ~276k rows/s;
// the pipeline's stages must beat a Python reference severalfold, so parsing is done here on
// raw bytes. Objects keep their key order (output is byte-for-byte deterministic).
// ---------------------------------------------------------------------------------------------

/// A JSON object: keys in document order, looked up by linear scan (records have few keys).
public struct JSONObject: Equatable, Sendable, ExpressibleByDictionaryLiteral {
    public private(set) var keys: [String]
    public private(set) var values: [JSONValue]

    public init() {
        keys = []
        values = []
    }

    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self.init()
        for (key, value) in elements { self[key] = value }
    }

    public init(_ pairs: [(String, JSONValue)]) {
        self.init()
        for (key, value) in pairs { self[key] = value }
    }

    public var count: Int { keys.count }
    public var pairs: Zip2Sequence<[String], [JSONValue]> { zip(keys, values) }

    /// Getting returns nil for a missing key; setting replaces in place or appends; nil removes.
    public subscript(key: String) -> JSONValue? {
        get {
            for i in keys.indices where keys[i] == key { return values[i] }
            return nil
        }
        set {
            if let index = keys.firstIndex(of: key) {
                if let newValue { values[index] = newValue } else {
                    keys.remove(at: index)
                    values.remove(at: index)
                }
            } else if let newValue {
                keys.append(key)
                values.append(newValue)
            }
        }
    }

    /// Appends without checking for a duplicate key (the parser uses this; last one wins on lookup
    /// is not guaranteed, first one is).
    mutating func appendUnchecked(_ key: String, _ value: JSONValue) {
        keys.append(key)
        values.append(value)
    }
}

public enum JSONValue: Equatable, Sendable {
    case null
    case bool(Bool)
    /// A number written without fraction or exponent that fits in 64 bits (larger integers
    /// become `.double`, unlike Python's unbounded ints).
    case int(Int)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)

    public var string: String? { if case .string(let s) = self { return s } else { return nil } }
    public var bool: Bool? { if case .bool(let b) = self { return b } else { return nil } }
    public var array: [JSONValue]? { if case .array(let a) = self { return a } else { return nil } }
    public var object: JSONObject? { if case .object(let o) = self { return o } else { return nil } }
    public var isNull: Bool { self == .null }
    /// An integer, also from a double with an integral value.
    public var int: Int? {
        switch self {
        case .int(let i): return i
        case .double(let d) where d.rounded() == d && abs(d) < 9.0e15: return Int(d)
        default: return nil
        }
    }
    public var double: Double? {
        switch self {
        case .int(let i): return Double(i)
        case .double(let d): return d
        default: return nil
        }
    }

    /// Member of an object (nil for a missing key or a non-object).
    public subscript(key: String) -> JSONValue? { object?[key] }
    /// Element of an array (nil when out of range or a non-array).
    public subscript(index: Int) -> JSONValue? {
        guard case .array(let a) = self, a.indices.contains(index) else { return nil }
        return a[index]
    }

    /// A short name of the kind of value, for error messages ("string", "object", ...).
    public var kindName: String {
        switch self {
        case .null: return "null"
        case .bool: return "boolean"
        case .int, .double: return "number"
        case .string: return "string"
        case .array: return "array"
        case .object: return "object"
        }
    }
}

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral,
    ExpressibleByBooleanLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByNilLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .int(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) { self = .object(JSONObject(elements)) }
    public init(nilLiteral: ()) { self = .null }
}

// ---------------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------------

/// Where and why a JSON text is malformed; `offset` is a 0-based byte offset into the text.
public struct JSONSyntaxError: Error, CustomStringConvertible, Sendable {
    public let offset: Int
    public let reason: String
    public var description: String { "invalid JSON at byte \(offset + 1): \(reason)" }
}

extension JSONValue {
    /// Parses one JSON text (surrounding whitespace allowed, nothing else).
    public static func parse(_ bytes: UnsafeRawBufferPointer) throws(JSONSyntaxError) -> JSONValue {
        var parser = JSONParser(bytes)
        return try parser.parseDocument()
    }

    public static func parse(_ data: Data) throws(JSONSyntaxError) -> JSONValue {
        do {
            return try data.withUnsafeBytes { try JSONValue.parse($0) }
        } catch let error as JSONSyntaxError {
            throw error
        } catch {
            fatalError("unreachable")
        }
    }

    public static func parse(_ text: String) throws(JSONSyntaxError) -> JSONValue {
        try parse(Data(text.utf8))
    }
}

private let maxDepth = 512

struct JSONParser {
    let base: UnsafePointer<UInt8>
    let end: Int
    var pos = 0
    var depth = 0
    var scratch: [UInt8] = []

    init(_ bytes: UnsafeRawBufferPointer) {
        // An empty buffer may have a nil base; point at a static byte instead.
        base = bytes.baseAddress.map { $0.assumingMemoryBound(to: UInt8.self) } ?? emptyByte
        end = bytes.count
    }

    func fail(_ reason: String, at offset: Int? = nil) -> JSONSyntaxError {
        JSONSyntaxError(offset: offset ?? pos, reason: reason)
    }

    mutating func parseDocument() throws(JSONSyntaxError) -> JSONValue {
        skipWhitespace()
        if pos >= end { throw fail("empty text, expected a JSON value") }
        let value = try parseValue()
        skipWhitespace()
        if pos < end { throw fail("unexpected \(describe(base[pos])) after the value") }
        return value
    }

    @inline(__always) mutating func skipWhitespace() {
        while pos < end {
            let c = base[pos]
            if c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 { pos += 1 } else { return }
        }
    }

    func describe(_ c: UInt8) -> String {
        (0x21...0x7E).contains(c) ? "'\(Character(UnicodeScalar(c)))'" : String(format: "byte 0x%02X", c)
    }

    mutating func parseValue() throws(JSONSyntaxError) -> JSONValue {
        guard pos < end else { throw fail("unexpected end of text, expected a value") }
        switch base[pos] {
        case UInt8(ascii: "{"): return try parseObject()
        case UInt8(ascii: "["): return try parseArray()
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
        default: throw fail("unexpected \(describe(base[pos])), expected a value")
        }
    }

    mutating func literal(_ word: StaticString) throws(JSONSyntaxError) {
        let n = word.utf8CodeUnitCount
        guard end - pos >= n, memcmp(base + pos, word.utf8Start, n) == 0 else {
            throw fail("invalid literal, expected \(word)")
        }
        pos += n
    }

    mutating func parseObject() throws(JSONSyntaxError) -> JSONValue {
        depth += 1
        if depth > maxDepth { throw fail("nesting deeper than \(maxDepth)") }
        pos += 1
        var object = JSONObject()
        skipWhitespace()
        if pos < end, base[pos] == UInt8(ascii: "}") {
            pos += 1
            depth -= 1
            return .object(object)
        }
        while true {
            skipWhitespace()
            guard pos < end, base[pos] == UInt8(ascii: "\"") else {
                throw fail(pos < end ? "unexpected \(describe(base[pos])), expected a string key" : "unexpected end of text inside an object")
            }
            let key = try parseString()
            skipWhitespace()
            guard pos < end, base[pos] == UInt8(ascii: ":") else { throw fail("expected ':' after key \"\(key)\"") }
            pos += 1
            skipWhitespace()
            let value = try parseValue()
            object.appendUnchecked(key, value)
            skipWhitespace()
            guard pos < end else { throw fail("unexpected end of text inside an object") }
            let c = base[pos]
            pos += 1
            if c == UInt8(ascii: ",") { continue }
            if c == UInt8(ascii: "}") { break }
            throw fail("unexpected \(describe(c)), expected ',' or '}'", at: pos - 1)
        }
        depth -= 1
        return .object(object)
    }

    mutating func parseArray() throws(JSONSyntaxError) -> JSONValue {
        depth += 1
        if depth > maxDepth { throw fail("nesting deeper than \(maxDepth)") }
        pos += 1
        var array: [JSONValue] = []
        skipWhitespace()
        if pos < end, base[pos] == UInt8(ascii: "]") {
            pos += 1
            depth -= 1
            return .array(array)
        }
        while true {
            skipWhitespace()
            array.append(try parseValue())
            skipWhitespace()
            guard pos < end else { throw fail("unexpected end of text inside an array") }
            let c = base[pos]
            pos += 1
            if c == UInt8(ascii: ",") { continue }
            if c == UInt8(ascii: "]") { break }
            throw fail("unexpected \(describe(c)), expected ',' or ']'", at: pos - 1)
        }
        depth -= 1
        return .array(array)
    }

    /// Index of the next '"', '\\' or control byte at or after `from` (or `end`); ORs every
    /// byte passed over into `seen` so the caller knows whether any was non-ASCII.
    @inline(__always) func scanPlain(from: Int, seen: inout UInt64) -> Int {
        var i = from
        let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
        while i + 8 <= end {
            let word = UnsafeRawPointer(base + i).loadUnaligned(as: UInt64.self)
            let quote = word ^ (ones &* 0x22), slash = word ^ (ones &* 0x5C)
            let special = ((quote &- ones) & ~quote | (slash &- ones) & ~slash | (word &- ones &* 0x20) & ~word) & highs
            if special != 0 { break }
            seen |= word
            i += 8
        }
        while i < end {
            let c = base[i]
            if c == 0x22 || c == 0x5C || c < 0x20 { return i }
            seen |= UInt64(c)
            i += 1
        }
        return i
    }

    mutating func parseString() throws(JSONSyntaxError) -> String {
        let start = pos + 1
        var seen: UInt64 = 0
        var i = scanPlain(from: start, seen: &seen)
        // Fast path: no escapes, the string is a slice of the input.
        if i < end, base[i] == 0x22 {
            pos = i + 1
            let bytes = UnsafeBufferPointer(start: base + start, count: i - start)
            if seen & 0x8080_8080_8080_8080 == 0 { return String(decoding: bytes, as: UTF8.self) }
            return try makeString(bytes, at: start)
        }
        // Escapes: copy plain runs in bulk, decode each escape.
        scratch.removeAll(keepingCapacity: true)
        var runStart = start
        while true {
            guard i < end else { throw fail("unterminated string", at: start - 1) }
            let c = base[i]
            scratch.append(contentsOf: UnsafeBufferPointer(start: base + runStart, count: i - runStart))
            if c == 0x22 {
                pos = i + 1
                let bytes = scratch
                return try bytes.withUnsafeBufferPointer { buffer throws(JSONSyntaxError) in
                    seen & 0x8080_8080_8080_8080 == 0 ? String(decoding: buffer, as: UTF8.self) : try makeString(buffer, at: start)
                }
            }
            if c < 0x20 { throw fail("control character \(describe(c)) inside a string (must be escaped)", at: i) }
            // c is a backslash.
            guard i + 1 < end else { throw fail("unterminated string", at: start - 1) }
            let e = base[i + 1]
            i += 2
            switch e {
            case UInt8(ascii: "\""): scratch.append(0x22)
            case UInt8(ascii: "\\"): scratch.append(0x5C)
            case UInt8(ascii: "/"): scratch.append(0x2F)
            case UInt8(ascii: "b"): scratch.append(0x08)
            case UInt8(ascii: "f"): scratch.append(0x0C)
            case UInt8(ascii: "n"): scratch.append(0x0A)
            case UInt8(ascii: "r"): scratch.append(0x0D)
            case UInt8(ascii: "t"): scratch.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try hex4(at: i)
                i += 4
                if (0xD800..<0xDC00).contains(scalar) {
                    // A high surrogate must be followed by \u and a low surrogate.
                    if i + 6 <= end, base[i] == UInt8(ascii: "\\"), base[i + 1] == UInt8(ascii: "u") {
                        let low = try hex4(at: i + 2)
                        if (0xDC00..<0xE000).contains(low) {
                            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                            i += 6
                        } else {
                            scalar = 0xFFFD
                        }
                    } else {
                        scalar = 0xFFFD
                    }
                } else if (0xDC00..<0xE000).contains(scalar) {
                    scalar = 0xFFFD
                }
                appendUTF8(UInt32(scalar))
            default:
                throw fail("invalid escape '\\\(Character(UnicodeScalar(e)))' in a string", at: i - 2)
            }
            runStart = i
            i = scanPlain(from: i, seen: &seen)
        }
    }

    func hex4(at offset: Int) throws(JSONSyntaxError) -> Int {
        guard offset + 4 <= end else { throw fail("truncated \\u escape", at: offset) }
        var value = 0
        for k in 0..<4 {
            let c = base[offset + k]
            let digit: Int
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = Int(c) - 48
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = Int(c) - 87
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = Int(c) - 55
            default: throw fail("invalid hex digit in \\u escape", at: offset + k)
            }
            value = value * 16 + digit
        }
        return value
    }

    mutating func appendUTF8(_ v: UInt32) {
        if v < 0x80 {
            scratch.append(UInt8(v))
        } else if v < 0x800 {
            scratch.append(UInt8(0xC0 | (v >> 6)))
            scratch.append(UInt8(0x80 | (v & 0x3F)))
        } else if v < 0x10000 {
            scratch.append(UInt8(0xE0 | (v >> 12)))
            scratch.append(UInt8(0x80 | ((v >> 6) & 0x3F)))
            scratch.append(UInt8(0x80 | (v & 0x3F)))
        } else {
            scratch.append(UInt8(0xF0 | (v >> 18)))
            scratch.append(UInt8(0x80 | ((v >> 12) & 0x3F)))
            scratch.append(UInt8(0x80 | ((v >> 6) & 0x3F)))
            scratch.append(UInt8(0x80 | (v & 0x3F)))
        }
    }

    @inline(__always) func containsNonASCII(_ p: UnsafePointer<UInt8>, _ n: Int) -> Bool {
        var k = 0
        while k < n {
            if p[k] >= 0x80 { return true }
            k += 1
        }
        return false
    }

    /// Validates UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF), then builds the String.
    func makeString(_ bytes: UnsafeBufferPointer<UInt8>, at offset: Int) throws(JSONSyntaxError) -> String {
        var i = 0
        let n = bytes.count
        while i < n {
            let c = bytes[i]
            if c < 0x80 {
                i += 1
                continue
            }
            var length = 0
            var lower: UInt8 = 0x80, upper: UInt8 = 0xBF
            switch c {
            case 0xC2...0xDF: length = 2
            case 0xE0: length = 3; lower = 0xA0
            case 0xE1...0xEC, 0xEE...0xEF: length = 3
            case 0xED: length = 3; upper = 0x9F
            case 0xF0: length = 4; lower = 0x90
            case 0xF1...0xF3: length = 4
            case 0xF4: length = 4; upper = 0x8F
            default: throw fail("invalid UTF-8 in a string", at: offset + i)
            }
            guard i + length <= n, bytes[i + 1] >= lower, bytes[i + 1] <= upper else {
                throw fail("invalid UTF-8 in a string", at: offset + i)
            }
            var k = 2
            while k < length {
                guard bytes[i + k] & 0xC0 == 0x80 else { throw fail("invalid UTF-8 in a string", at: offset + i) }
                k += 1
            }
            i += length
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    mutating func parseNumber() throws(JSONSyntaxError) -> JSONValue {
        let start = pos
        var i = pos
        var negative = false
        if base[i] == UInt8(ascii: "-") {
            negative = true
            i += 1
        }
        guard i < end, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(base[i]) else {
            throw fail("invalid number, expected a digit", at: i)
        }
        var magnitude: UInt64 = 0
        var overflow = false
        if base[i] == UInt8(ascii: "0") {
            i += 1
        } else {
            while i < end, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(base[i]) {
                let (m1, o1) = magnitude.multipliedReportingOverflow(by: 10)
                let (m2, o2) = m1.addingReportingOverflow(UInt64(base[i] - 48))
                magnitude = m2
                overflow = overflow || o1 || o2
                i += 1
            }
        }
        var integral = true
        if i < end, base[i] == UInt8(ascii: ".") {
            integral = false
            i += 1
            guard i < end, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(base[i]) else {
                throw fail("invalid number, expected a digit after '.'", at: i)
            }
            while i < end, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(base[i]) { i += 1 }
        }
        if i < end, base[i] == UInt8(ascii: "e") || base[i] == UInt8(ascii: "E") {
            integral = false
            i += 1
            if i < end, base[i] == UInt8(ascii: "+") || base[i] == UInt8(ascii: "-") { i += 1 }
            guard i < end, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(base[i]) else {
                throw fail("invalid number, expected a digit in the exponent", at: i)
            }
            while i < end, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(base[i]) { i += 1 }
        }
        pos = i
        if integral && !overflow {
            if negative, magnitude <= UInt64(Int.max) + 1 { return .int(magnitude == UInt64(Int.max) + 1 ? Int.min : -Int(magnitude)) }
            if !negative, magnitude <= UInt64(Int.max) { return .int(Int(magnitude)) }
        }
        let text = String(decoding: UnsafeBufferPointer(start: base + start, count: i - start), as: UTF8.self)
        guard let value = Double(text) else { throw fail("invalid number \(text)", at: start) }
        return .double(value)
    }
}

nonisolated(unsafe) private let emptyByte: UnsafePointer<UInt8> = {
    let p = UnsafeMutablePointer<UInt8>.allocate(capacity: 1)
    p.initialize(to: 0)
    return UnsafePointer(p)
}()

// ---------------------------------------------------------------------------------------------
// Serialization
// ---------------------------------------------------------------------------------------------

public struct JSONWriteOptions: Sendable {
    /// Sort object keys (by UTF-8 bytes, as Python's sort_keys does for ASCII keys).
    public var sortedKeys = false
    /// Escape every non-ASCII character as \uXXXX (Python's ensure_ascii=True); default keeps UTF-8.
    public var asciiOnly = false
    /// Python's default separators ", " and ": " instead of compact "," and ":".
    public var spaced = false
    public init(sortedKeys: Bool = false, asciiOnly: Bool = false, spaced: Bool = false) {
        self.sortedKeys = sortedKeys
        self.asciiOnly = asciiOnly
        self.spaced = spaced
    }
}

extension JSONValue {
    /// Appends the serialized value to `out` (no trailing newline).
    public func write(to out: inout [UInt8], options: JSONWriteOptions = JSONWriteOptions()) {
        switch self {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
        case .int(let i): out.append(contentsOf: String(i).utf8)
        case .double(let d):
            // Python's json writes NaN/Infinity; these are not JSON, so refuse quietly as null.
            if !d.isFinite { out.append(contentsOf: "null".utf8) } else {
                out.append(contentsOf: d.description.utf8)
            }
        case .string(let s): JSONValue.writeString(s, to: &out, asciiOnly: options.asciiOnly)
        case .array(let a):
            out.append(UInt8(ascii: "["))
            for (k, element) in a.enumerated() {
                if k > 0 { out.append(contentsOf: options.spaced ? ", ".utf8 : ",".utf8) }
                element.write(to: &out, options: options)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let o):
            out.append(UInt8(ascii: "{"))
            var order = Array(o.keys.indices)
            if options.sortedKeys { order.sort { o.keys[$0].utf8.lexicographicallyPrecedes(o.keys[$1].utf8) } }
            for (k, index) in order.enumerated() {
                if k > 0 { out.append(contentsOf: options.spaced ? ", ".utf8 : ",".utf8) }
                JSONValue.writeString(o.keys[index], to: &out, asciiOnly: options.asciiOnly)
                out.append(contentsOf: options.spaced ? ": ".utf8 : ":".utf8)
                o.values[index].write(to: &out, options: options)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    /// The serialized value as a string.
    public func serialized(options: JSONWriteOptions = JSONWriteOptions()) -> String {
        var out: [UInt8] = []
        write(to: &out, options: options)
        return String(decoding: out, as: UTF8.self)
    }

    static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    public static func writeString(_ s: String, to out: inout [UInt8], asciiOnly: Bool = false) {
        out.append(UInt8(ascii: "\""))
        var s = s
        s.withUTF8 { bytes in
            var runStart = 0
            var i = 0
            let n = bytes.count
            while i < n {
                let c = bytes[i]
                if c >= 0x20 && c != 0x22 && c != 0x5C && (c < 0x7F || !asciiOnly) {
                    i += 1
                    continue
                }
                out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<i]))
                if c >= 0x80 {
                    // Decode one scalar and write it as \uXXXX (a surrogate pair above U+FFFF).
                    var iterator = bytes[i...].makeIterator()
                    var decoder = UTF8()
                    guard case .scalarValue(let scalar) = decoder.decode(&iterator) else { i += 1; runStart = i; continue }
                    let length = scalar.value < 0x800 ? 2 : scalar.value < 0x10000 ? 3 : 4
                    if scalar.value >= 0x10000 {
                        let v = scalar.value - 0x10000
                        appendEscapedUnit(UInt16(0xD800 + (v >> 10)), to: &out)
                        appendEscapedUnit(UInt16(0xDC00 + (v & 0x3FF)), to: &out)
                    } else {
                        appendEscapedUnit(UInt16(scalar.value), to: &out)
                    }
                    i += length
                    runStart = i
                    continue
                }
                switch c {
                case 0x22: out.append(contentsOf: [0x5C, 0x22])
                case 0x5C: out.append(contentsOf: [0x5C, 0x5C])
                case 0x0A: out.append(contentsOf: [0x5C, UInt8(ascii: "n")])
                case 0x0D: out.append(contentsOf: [0x5C, UInt8(ascii: "r")])
                case 0x09: out.append(contentsOf: [0x5C, UInt8(ascii: "t")])
                case 0x08: out.append(contentsOf: [0x5C, UInt8(ascii: "b")])
                case 0x0C: out.append(contentsOf: [0x5C, UInt8(ascii: "f")])
                default: appendEscapedUnit(UInt16(c), to: &out)
                }
                i += 1
                runStart = i
            }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<n]))
        }
        out.append(UInt8(ascii: "\""))
    }

    private static func appendEscapedUnit(_ unit: UInt16, to out: inout [UInt8]) {
        out.append(contentsOf: [0x5C, UInt8(ascii: "u"),
                                hexDigits[Int(unit >> 12) & 15], hexDigits[Int(unit >> 8) & 15],
                                hexDigits[Int(unit >> 4) & 15], hexDigits[Int(unit) & 15]])
    }
}

// ---------------------------------------------------------------------------------------------
// Codable bridge, so a JSONValue can sit inside Codable structs (configs, manifests).
// ---------------------------------------------------------------------------------------------

extension JSONValue: Codable {
    private struct MemberKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    public init(from decoder: Decoder) throws {
        if let container = try? decoder.container(keyedBy: MemberKey.self) {
            var object = JSONObject()
            for key in container.allKeys { object[key.stringValue] = try container.decode(JSONValue.self, forKey: key) }
            self = .object(object)
            return
        }
        if var container = try? decoder.unkeyedContainer() {
            var array: [JSONValue] = []
            while !container.isAtEnd { array.append(try container.decode(JSONValue.self)) }
            self = .array(array)
            return
        }
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null }
        else if let b = try? container.decode(Bool.self) { self = .bool(b) }
        else if let i = try? container.decode(Int.self) { self = .int(i) }
        else if let d = try? container.decode(Double.self) { self = .double(d) }
        else { self = .string(try container.decode(String.self)) }
    }

    public func encode(to encoder: Encoder) throws {
        switch self {
        case .null:
            var c = encoder.singleValueContainer()
            try c.encodeNil()
        case .bool(let b):
            var c = encoder.singleValueContainer()
            try c.encode(b)
        case .int(let i):
            var c = encoder.singleValueContainer()
            try c.encode(i)
        case .double(let d):
            var c = encoder.singleValueContainer()
            try c.encode(d)
        case .string(let s):
            var c = encoder.singleValueContainer()
            try c.encode(s)
        case .array(let a):
            var c = encoder.unkeyedContainer()
            for element in a { try c.encode(element) }
        case .object(let o):
            var c = encoder.container(keyedBy: MemberKey.self)
            for (key, value) in o.pairs { try c.encode(value, forKey: MemberKey(stringValue: key)) }
        }
    }
}
