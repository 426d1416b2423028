import PlaypenIO
import Foundation

// ------------------------------------------------------------------------------------------------
// pp-filter's hot path for a row that passed the meta screen: decode the messages into one byte
// buffer (no Swift Strings), escape each role and content once, and assemble the canonical JSON
// (for row_id) and the output record from those pieces. Produces exactly the bytes of
// `ExampleFilter.convert` + `ExampleRecord.write` (the tests run both paths on the same rows);
// a row with invalid UTF-8 is left to that String-based path, which repairs it the same way
// `String(decoding:)` does everywhere else.

struct FastConverter {
    /// Where a string's bytes lie: in the line itself (a string without escapes, or one escaped
    /// exactly as we would write it), or in one of the converter's buffers.
    struct Piece {
        var inLine: Bool
        var range: Range<Int>
    }

    /// Decoded bytes of strings with escapes.
    private var text: [UInt8] = []
    private var roles: [Piece] = []
    private var contents: [Piece] = []
    /// The escaped form in the line, where the line's escapes are exactly ours.
    private var rawRoles: [Piece?] = []
    private var rawContents: [Piece?] = []
    /// Escaped bytes of the other strings.
    private var escaped = JSONBytesWriter(capacity: 1 << 14)
    private var escapedRoles: [Piece] = []
    private var escapedContents: [Piece] = []
    private var prompt: [UInt8] = []
    private var canonical = JSONBytesWriter(capacity: 1 << 14)

    enum Result {
        /// out.bytes[start..<mid] + index + out.bytes[mid..<end]
        case record(start: Int, mid: Int, end: Int)
        case emptyCompletion
        /// Not handled here (invalid UTF-8, no assistant message): use the String path.
        case fallback
    }

    init() {}

    /// Appends the record for `line` (already screened: valid JSON, valid schema, its messages
    /// array at `messagesRange`) to `out`.
    mutating func convert(_ line: UnsafeBufferPointer<UInt8>, messagesAt messagesRange: Range<Int>, meta: RowMeta,
                          split: String, out: inout JSONBytesWriter) throws -> Result {
        text.removeAll(keepingCapacity: true)
        roles.removeAll(keepingCapacity: true)
        contents.removeAll(keepingCapacity: true)
        rawRoles.removeAll(keepingCapacity: true)
        rawContents.removeAll(keepingCapacity: true)
        escapedRoles.removeAll(keepingCapacity: true)
        escapedContents.removeAll(keepingCapacity: true)
        escaped.bytes.removeAll(keepingCapacity: true)
        let lineStart = line.baseAddress!
        var s = RowScanner(line)
        defer { s.releaseKeys() }
        s.pos = messagesRange.lowerBound
        /// The string value here, decoded and escaped, each in place when it can be.
        func piece(_ s: inout RowScanner) throws -> (decoded: Piece, raw: Piece?) {
            let decoded = try s.stringBytes { bytes -> Piece in
                if let base = bytes.baseAddress, base >= lineStart, base < lineStart + line.count {
                    let offset = base - lineStart
                    return Piece(inLine: true, range: offset..<(offset + bytes.count))
                }
                let start = text.count
                text.append(contentsOf: bytes)
                return Piece(inLine: false, range: start..<text.count)
            }
            return (decoded, s.lastStringCanonical ? Piece(inLine: true, range: s.lastStringRaw) : nil)
        }
        try s.forEachElement { s, _ in
            var role: (decoded: Piece, raw: Piece?) = (Piece(inLine: true, range: 0..<0), nil)
            var content = role
            try s.forEachMember { s, key in
                if bytesEqual(key, "role") {
                    role = try piece(&s)
                } else if bytesEqual(key, "content") {
                    content = try piece(&s)
                } else {
                    try s.skipValue()
                }
            }
            roles.append(role.decoded)
            contents.append(content.decoded)
            rawRoles.append(role.raw)
            rawContents.append(content.raw)
        }
        return text.withUnsafeBufferPointer { t in
            func decoded(_ p: Piece) -> UnsafeBufferPointer<UInt8> { rebase(p.inLine ? line : t, p.range) }
            for i in roles.indices where !isValidUTF8(decoded(roles[i])) || !isValidUTF8(decoded(contents[i])) {
                return .fallback
            }
            let assistant: StaticString = "assistant"
            guard let a = roles.lastIndex(where: { r in
                r.range.count == 9 && memcmp(decoded(r).baseAddress!, assistant.utf8Start, 9) == 0
            }) else { return .fallback }
            let completion = decoded(contents[a])
            let completionRange = pythonStripRange(completion)
            if completionRange.isEmpty { return .emptyCompletion }

            // Strings whose escapes in the line differ from ours, escaped once.
            for i in roles.indices {
                escapedRoles.append(rawRoles[i] ?? escape(decoded(roles[i])))
                escapedContents.append(rawContents[i] ?? escape(decoded(contents[i])))
            }
            return escaped.bytes.withUnsafeBufferPointer { e in
                func escapedBytes(_ p: Piece) -> UnsafeBufferPointer<UInt8> { rebase(p.inLine ? line : e, p.range) }

                // row_id: sha256 of the canonical JSON.
                canonical.bytes.removeAll(keepingCapacity: true)
                canonical.raw("{\"messages\":[")
                for i in roles.indices {
                    if i > 0 { canonical.byte(UInt8(ascii: ",")) }
                    canonical.raw("{\"content\":\"")
                    canonical.bytes.append(contentsOf: escapedBytes(escapedContents[i]))
                    canonical.raw("\",\"role\":\"")
                    canonical.bytes.append(contentsOf: escapedBytes(escapedRoles[i]))
                    canonical.raw("\"}")
                }
                canonical.raw("],")
                PlaypenRow.writeCanonicalMeta(meta, &canonical)
                canonical.byte(UInt8(ascii: "}"))
                let digest = canonical.bytes.withUnsafeBytes { SHA256.digest($0) }

                // The record.
                let start = out.bytes.count
                out.raw("{\"row_id\":\"")
                appendHex(digest, 8, &out)
                out.raw("\",\"index\":")
                let mid = out.bytes.count
                out.raw(",\"split\":")
                out.string(split)
                out.raw(",\"prompt\":\"")
                writePrompt(upTo: a, decoded: decoded, escaped: escapedBytes, &out)
                out.raw("\",\"completion\":\"")
                // The escaped content minus the escaped forms of what strip removed at either end.
                let head = escapedLength(rebase(completion, 0..<completionRange.lowerBound))
                let tail = escapedLength(rebase(completion, completionRange.upperBound..<completion.count))
                let escapedCompletion = escapedBytes(escapedContents[a])
                out.bytes.append(contentsOf: rebase(escapedCompletion, head..<(escapedCompletion.count - tail)))
                out.raw("\",\"messages\":[")
                for i in roles.indices {
                    if i > 0 { out.byte(UInt8(ascii: ",")) }
                    out.raw("{\"role\":\"")
                    out.bytes.append(contentsOf: escapedBytes(escapedRoles[i]))
                    out.raw("\",\"content\":\"")
                    out.bytes.append(contentsOf: escapedBytes(escapedContents[i]))
                    out.raw("\"}")
                }
                out.raw("],")
                PlaypenRow.writeMeta(meta, &out)
                out.byte(UInt8(ascii: "}"))
                return .record(start: start, mid: mid, end: out.bytes.count)
            }
        }
    }

    private mutating func escape(_ bytes: UnsafeBufferPointer<UInt8>) -> Piece {
        let start = escaped.bytes.count
        escaped.stringBody(utf8: bytes)
        return Piece(inLine: false, range: start..<escaped.bytes.count)
    }

    /// The escaped prompt: `"\n\n".join(f"{ROLE}: {content}" for messages[:a]).strip()`. Built from
    /// the escaped pieces when strip can only touch the end of the last content (the usual case:
    /// the first role starts with a letter and the last content is not all whitespace); otherwise
    /// decoded, stripped and escaped as a whole.
    private mutating func writePrompt(upTo a: Int, decoded: (Piece) -> UnsafeBufferPointer<UInt8>,
                                      escaped: (Piece) -> UnsafeBufferPointer<UInt8>, _ out: inout JSONBytesWriter) {
        guard a > 0 else { return }
        let firstRole = decoded(roles[0])
        let last = decoded(contents[a - 1])
        let lastRange = pythonStripRange(last)
        let simple = !firstRole.isEmpty && isASCIILetter(firstRole[0]) && !lastRange.isEmpty
        if simple {
            for i in 0..<a {
                if i > 0 { out.raw("\\n\\n") }
                let role = decoded(roles[i])
                if role.allSatisfy({ $0 >= 0x61 && $0 <= 0x7A }) {
                    for c in role { out.byte(c - 0x20) }
                } else {
                    prompt.removeAll(keepingCapacity: true)
                    appendRoleLabel(role)
                    prompt.withUnsafeBufferPointer { out.stringBody(utf8: $0) }
                }
                out.raw(": ")
                var piece = escaped(escapedContents[i])
                if i == a - 1 {
                    piece = rebase(piece, 0..<(piece.count - escapedLength(rebase(last, lastRange.upperBound..<last.count))))
                }
                out.bytes.append(contentsOf: piece)
            }
            return
        }
        prompt.removeAll(keepingCapacity: true)
        for i in 0..<a {
            if i > 0 { prompt.append(0x0A); prompt.append(0x0A) }
            appendRoleLabel(decoded(roles[i]))
            prompt.append(UInt8(ascii: ":"))
            prompt.append(UInt8(ascii: " "))
            prompt.append(contentsOf: decoded(contents[i]))
        }
        prompt.withUnsafeBufferPointer { p in out.stringBody(utf8: rebase(p, pythonStripRange(p))) }
    }

    /// Python's `role.upper()`: ASCII letters directly, anything else through Swift's uppercasing.
    private mutating func appendRoleLabel(_ role: UnsafeBufferPointer<UInt8>) {
        if role.allSatisfy({ $0 < 0x80 }) {
            for c in role { prompt.append(c >= 0x61 && c <= 0x7A ? c - 0x20 : c) }
        } else {
            prompt.append(contentsOf: roleLabel(String(decoding: role, as: UTF8.self)).utf8)
        }
    }
}

@inline(__always) func isASCIILetter(_ c: UInt8) -> Bool {
    (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
}

/// How many bytes `JSONBytesWriter.stringBody` writes for these bytes.
func escapedLength(_ bytes: UnsafeBufferPointer<UInt8>) -> Int {
    var n = 0
    for c in bytes {
        if c >= 0x20 { n += (c == 0x22 || c == 0x5C) ? 2 : 1 }
        else if c == 0x08 || c == 0x09 || c == 0x0A || c == 0x0C || c == 0x0D { n += 2 }
        else { n += 6 }
    }
    return n
}

@inline(__always) func rebase(_ b: UnsafeBufferPointer<UInt8>, _ r: Range<Int>) -> UnsafeBufferPointer<UInt8> {
    UnsafeBufferPointer(rebasing: b[r])
}

func appendHex(_ digest: [UInt8], _ n: Int, _ out: inout JSONBytesWriter) {
    let hex: StaticString = "0123456789abcdef"
    for b in digest.prefix(n) {
        out.byte(hex.utf8Start[Int(b >> 4)])
        out.byte(hex.utf8Start[Int(b & 15)])
    }
}

/// Strict UTF-8 validation (no overlongs, no surrogates, nothing above U+10FFFF), ASCII runs
/// eight bytes at a time.
func isValidUTF8(_ b: UnsafeBufferPointer<UInt8>) -> Bool {
    do {
        let n = b.count
        guard let p = b.baseAddress else { return true }
        var i = 0
        while i < n {
            if i + 8 <= n && UnsafeRawPointer(p + i).loadUnaligned(as: UInt64.self) & 0x8080_8080_8080_8080 == 0 {
                i += 8
                continue
            }
            let c = p[i]
            if c < 0x80 { i += 1; continue }
            @inline(__always) func cont(_ k: Int) -> Bool { i + k < n && p[i + k] & 0xC0 == 0x80 }
            if c >= 0xC2 && c <= 0xDF {
                guard cont(1) else { return false }
                i += 2
            } else if c >= 0xE0 && c <= 0xEF {
                guard cont(1), cont(2) else { return false }
                let c1 = p[i + 1]
                if c == 0xE0 && c1 < 0xA0 { return false }  // overlong
                if c == 0xED && c1 >= 0xA0 { return false }  // surrogate
                i += 3
            } else if c >= 0xF0 && c <= 0xF4 {
                guard cont(1), cont(2), cont(3) else { return false }
                let c1 = p[i + 1]
                if c == 0xF0 && c1 < 0x90 { return false }
                if c == 0xF4 && c1 >= 0x90 { return false }
                i += 4
            } else {
                return false
            }
        }
        return true
    }
}
