import CSHA256
import Foundation

// ------------------------------------------------------------------------------------------------
// pp-filter's hot path for a row that passed the meta screen: decode the messages into one byte
// buffer (no Swift Strings), escape each role and content once, and assemble the canonical JSON
// (for row_id) and the output record from those pieces. Produces exactly the bytes of
// `ExampleFilter.convert` + `ExampleRecord.write` (the tests run both paths on the same rows);
// a row with invalid UTF-8 is left to that String-based path, which repairs it the same way
// `String(decoding:)` does everywhere else.

struct FastConverter {
    private var text: [UInt8] = []
    private var roles: [Range<Int>] = []
    private var contents: [Range<Int>] = []
    private var escaped = JSONBytesWriter(capacity: 1 << 14)
    private var escapedRoles: [Range<Int>] = []
    private var escapedContents: [Range<Int>] = []
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

    /// Appends the record for `line` (already screened: valid JSON, valid schema) to `out`.
    mutating func convert(_ line: UnsafeBufferPointer<UInt8>, meta: RowMeta, split: String,
                          out: inout JSONBytesWriter) throws -> Result {
        text.removeAll(keepingCapacity: true)
        roles.removeAll(keepingCapacity: true)
        contents.removeAll(keepingCapacity: true)
        var s = RowScanner(line)
        defer { s.releaseKeys() }
        try s.forEachMember { s, key in
            guard bytesEqual(key, "messages") else { try s.skipValue(); return }
            roles.removeAll(keepingCapacity: true)
            contents.removeAll(keepingCapacity: true)
            try s.forEachElement { s, _ in
                var role = 0..<0, content = 0..<0
                try s.forEachMember { s, key in
                    if bytesEqual(key, "role") {
                        let start = text.count
                        try s.appendString(to: &text)
                        role = start..<text.count
                    } else if bytesEqual(key, "content") {
                        let start = text.count
                        try s.appendString(to: &text)
                        content = start..<text.count
                    } else {
                        try s.skipValue()
                    }
                }
                roles.append(role)
                contents.append(content)
            }
        }
        guard isValidUTF8(text) else { return .fallback }
        return text.withUnsafeBufferPointer { t in
            let assistant: StaticString = "assistant"
            guard let a = roles.lastIndex(where: { r in
                r.count == 9 && memcmp(t.baseAddress! + r.lowerBound, assistant.utf8Start, 9) == 0
            }) else { return .fallback }
            let completion = rebase(t, contents[a])
            let completionRange = pythonStripRange(completion)
            if completionRange.isEmpty { return .emptyCompletion }

            // The prompt, decoded, then stripped.
            prompt.removeAll(keepingCapacity: true)
            for i in 0..<a {
                if i > 0 { prompt.append(0x0A); prompt.append(0x0A) }
                appendRoleLabel(rebase(t, roles[i]))
                prompt.append(UInt8(ascii: ":"))
                prompt.append(UInt8(ascii: " "))
                prompt.append(contentsOf: rebase(t, contents[i]))
            }

            // Each role and content escaped once.
            escaped.bytes.removeAll(keepingCapacity: true)
            escapedRoles.removeAll(keepingCapacity: true)
            escapedContents.removeAll(keepingCapacity: true)
            for i in roles.indices {
                var start = escaped.bytes.count
                escaped.stringBody(utf8: rebase(t, roles[i]))
                escapedRoles.append(start..<escaped.bytes.count)
                start = escaped.bytes.count
                escaped.stringBody(utf8: rebase(t, contents[i]))
                escapedContents.append(start..<escaped.bytes.count)
            }

            // row_id: sha256 of the canonical JSON.
            canonical.bytes.removeAll(keepingCapacity: true)
            canonical.raw("{\"messages\":[")
            escaped.bytes.withUnsafeBufferPointer { e in
                for i in roles.indices {
                    if i > 0 { canonical.byte(UInt8(ascii: ",")) }
                    canonical.raw("{\"content\":\"")
                    canonical.bytes.append(contentsOf: rebase(e, escapedContents[i]))
                    canonical.raw("\",\"role\":\"")
                    canonical.bytes.append(contentsOf: rebase(e, escapedRoles[i]))
                    canonical.raw("\"}")
                }
            }
            canonical.raw("],")
            PlaypenRow.writeCanonicalMeta(meta, &canonical)
            canonical.byte(UInt8(ascii: "}"))
            var digest = [UInt8](repeating: 0, count: 32)
            canonical.bytes.withUnsafeBytes { c in
                digest.withUnsafeMutableBufferPointer { d in csha256(c.baseAddress, c.count, d.baseAddress!) }
            }

            // The record.
            let start = out.bytes.count
            out.raw("{\"row_id\":\"")
            appendHex(digest, 8, &out)
            out.raw("\",\"index\":")
            let mid = out.bytes.count
            out.raw(",\"split\":")
            out.string(split)
            out.raw(",\"prompt\":\"")
            prompt.withUnsafeBufferPointer { p in out.stringBody(utf8: rebase(p, pythonStripRange(p))) }
            out.raw("\",\"completion\":\"")
            out.stringBody(utf8: rebase(completion, completionRange))
            out.raw("\",\"messages\":[")
            escaped.bytes.withUnsafeBufferPointer { e in
                for i in roles.indices {
                    if i > 0 { out.byte(UInt8(ascii: ",")) }
                    out.raw("{\"role\":\"")
                    out.bytes.append(contentsOf: rebase(e, escapedRoles[i]))
                    out.raw("\",\"content\":\"")
                    out.bytes.append(contentsOf: rebase(e, escapedContents[i]))
                    out.raw("\"}")
                }
            }
            out.raw("],")
            PlaypenRow.writeMeta(meta, &out)
            out.byte(UInt8(ascii: "}"))
            return .record(start: start, mid: mid, end: out.bytes.count)
        }
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
func isValidUTF8(_ bytes: [UInt8]) -> Bool {
    bytes.withUnsafeBufferPointer { b in
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
