// ------------------------------------------------------------------------------------------------
// Prompt/completion and history text, exactly as the original pipeline built them
// (original-pipeline.md sections 2 and 5.2). Everything works on UTF-8 bytes; `strip` is
// Python's `str.strip()` (Unicode whitespace as `str.isspace` defines it).

/// True for the code points Python's `str.isspace()` accepts.
@inline(__always) public func isPythonWhitespace(_ c: UInt32) -> Bool {
    switch c {
    case 0x09...0x0D, 0x1C...0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F,
         0x205F, 0x3000:
        return true
    default:
        return false
    }
}

/// Python's `str.strip()` on valid UTF-8: the byte range left after removing leading and
/// trailing whitespace.
public func pythonStripRange(_ u: UnsafeBufferPointer<UInt8>) -> Range<Int> {
    var lo = 0
    var hi = u.count
    // Leading: decode forward.
    while lo < hi {
        let (c, n) = decodeScalar(u, lo)
        if !isPythonWhitespace(c) { break }
        lo += n
    }
    // Trailing: step back to the start of the last scalar.
    while hi > lo {
        var s = hi - 1
        while s > lo && (u[s] & 0xC0) == 0x80 { s -= 1 }
        let (c, _) = decodeScalar(u, s)
        if !isPythonWhitespace(c) { break }
        hi = s
    }
    return lo..<hi
}

@inline(__always) func decodeScalar(_ u: UnsafeBufferPointer<UInt8>, _ i: Int) -> (UInt32, Int) {
    let b0 = UInt32(u[i])
    if b0 < 0x80 { return (b0, 1) }
    if b0 < 0xE0, i + 1 < u.count { return (((b0 & 0x1F) << 6) | (UInt32(u[i + 1]) & 0x3F), 2) }
    if b0 < 0xF0, i + 2 < u.count {
        return (((b0 & 0x0F) << 12) | ((UInt32(u[i + 1]) & 0x3F) << 6) | (UInt32(u[i + 2]) & 0x3F), 3)
    }
    if i + 3 < u.count {
        return (((b0 & 0x07) << 18) | ((UInt32(u[i + 1]) & 0x3F) << 12) | ((UInt32(u[i + 2]) & 0x3F) << 6)
                | (UInt32(u[i + 3]) & 0x3F), 4)
    }
    return (0xFFFD, 1)
}

/// Python's `s.strip()`.
public func pythonStrip(_ s: String) -> String {
    var s = s
    return s.withUTF8 { u in
        let r = pythonStripRange(u)
        if r.count == u.count { return String(decoding: u, as: UTF8.self) }
        return String(decoding: UnsafeBufferPointer(rebasing: u[r]), as: UTF8.self)
    }
}

/// Python's `role.upper()` for the role label; ASCII roles take the fast path.
func roleLabel(_ role: String) -> String {
    if role == "user" { return "USER" }
    if role == "assistant" { return "ASSISTANT" }
    return role.uppercased()
}

/// Appends `"\n\n".join(f"{ROLE}: {content}" for m in messages)` (unstripped) to `out`.
func appendTranscript(_ messages: ArraySlice<Message>, into out: inout [UInt8]) {
    var first = true
    for m in messages {
        if !first { out.append(0x0A); out.append(0x0A) }
        first = false
        out.append(contentsOf: roleLabel(m.role).utf8)
        out.append(UInt8(ascii: ":"))
        out.append(UInt8(ascii: " "))
        var c = m.content
        c.withUTF8 { out.append(contentsOf: $0) }
    }
}

public struct PromptCompletion: Sendable, Equatable {
    public var prompt: String
    public var completion: String
}

extension PlaypenRow {
    /// Index of the last message with role "assistant", if any.
    public var lastAssistantIndex: Int? {
        messages.lastIndex { $0.role == "assistant" }
    }

    /// The original pipeline's flattening (original-pipeline.md section 2): with `a` the last
    /// assistant message, `prompt = "\n\n".join(f"{ROLE}: {content}" for m in messages[:a]).strip()`
    /// and `completion = messages[a].content.strip()`. Without an assistant message both are "".
    /// (Callers drop rows whose completion is "".)
    public func promptCompletion() -> PromptCompletion {
        guard let a = lastAssistantIndex else { return PromptCompletion(prompt: "", completion: "") }
        var buffer: [UInt8] = []
        buffer.reserveCapacity(2048)
        appendTranscript(messages[..<a], into: &buffer)
        let prompt = buffer.withUnsafeBufferPointer { u in
            String(decoding: UnsafeBufferPointer(rebasing: u[pythonStripRange(u)]), as: UTF8.self)
        }
        return PromptCompletion(prompt: prompt, completion: pythonStrip(messages[a].content))
    }

    /// The full history text the SAE stage reads (original-pipeline.md section 5.2):
    /// `"\n\n".join(f"{ROLE}: {content}" for all messages).strip()`, final assistant message
    /// included. For a row without messages see `historyText(prompt:completion:)`.
    public func historyText() -> String {
        var buffer: [UInt8] = []
        buffer.reserveCapacity(2048)
        appendTranscript(messages[...], into: &buffer)
        return buffer.withUnsafeBufferPointer { u in
            String(decoding: UnsafeBufferPointer(rebasing: u[pythonStripRange(u)]), as: UTF8.self)
        }
    }
}

/// The SAE stage's text for a record with no messages: `prompt + "\n\nASSISTANT: " + completion`
/// when both are non-empty, otherwise whichever is non-empty, then stripped ("" if both are).
public func historyText(prompt: String, completion: String) -> String {
    if !prompt.isEmpty && !completion.isEmpty { return pythonStrip(prompt + "\n\nASSISTANT: " + completion) }
    return pythonStrip(prompt.isEmpty ? completion : prompt)
}
