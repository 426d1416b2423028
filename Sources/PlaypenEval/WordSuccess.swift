import PlaypenData

// ------------------------------------------------------------------------------------------------
// The original project's word-success extraction (original-pipeline.md section 7, `eval_words.py`):
//
//   _GUESS_RE = re.compile(r"GUESS\s*:\s*([^\n\r]+)", re.IGNORECASE)
//   _WORD_RE  = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*")
//   m = _GUESS_RE.search(text)
//   candidate = m.group(1).strip() if m else (text.strip().splitlines()[0] if text.strip() else "")
//   w = _WORD_RE.search(candidate.lower());  word = w.group(0) if w else ""
//
// Implemented on Unicode scalars with Python's semantics: `\s` and `strip` are `str.isspace`,
// IGNORECASE lets `s` also match U+017F (long s), `splitlines` breaks at \n \r \v \f \x1c-\x1e
// \x85 U+2028 U+2029, and `lower` is the full Unicode lower-case mapping (U+0130 -> "i̇",
// U+212A -> "k").

public enum WordSuccess {
    /// The guessed word of a model reply or recorded completion ("" when there is none).
    public static func extractGuess(_ text: String) -> String {
        firstWord(candidate(text))
    }

    /// The text the word is taken from: the rest of the line after the first `GUESS:`, stripped,
    /// or else the first line of the stripped text.
    public static func candidate(_ text: String) -> String {
        let s = Array(text.unicodeScalars)
        if let r = guessGroup(s) { return pythonStrip(string(s[r])) }
        let stripped = Array(pythonStrip(text).unicodeScalars)
        guard !stripped.isEmpty else { return "" }
        var end = 0
        while end < stripped.count, !isLineBreak(stripped[end].value) { end += 1 }
        return string(stripped[0..<end])
    }

    /// The first match of `[a-z0-9]+(?:[-'][a-z0-9]+)*` in the lower-cased text.
    public static func firstWord(_ text: String) -> String {
        var lowered: [UInt32] = []
        lowered.reserveCapacity(text.unicodeScalars.count)
        for u in text.unicodeScalars {
            if u.isASCII {
                let v = u.value
                lowered.append(v >= 0x41 && v <= 0x5A ? v + 0x20 : v)
            } else {
                for l in u.properties.lowercaseMapping.unicodeScalars { lowered.append(l.value) }
            }
        }
        guard var i = lowered.firstIndex(where: isWordChar) else { return "" }
        let start = i
        while i < lowered.count, isWordChar(lowered[i]) { i += 1 }
        while i + 1 < lowered.count, lowered[i] == 0x2D || lowered[i] == 0x27, isWordChar(lowered[i + 1]) {
            i += 1
            while i < lowered.count, isWordChar(lowered[i]) { i += 1 }
        }
        return String(String.UnicodeScalarView(lowered[start..<i].compactMap(Unicode.Scalar.init)))
    }

    /// Range of group 1 of the leftmost match of `GUESS\s*:\s*([^\n\r]+)` (IGNORECASE), if any.
    static func guessGroup(_ s: [Unicode.Scalar]) -> Range<Int>? {
        let n = s.count
        var i = 0
        while i + 6 <= n {
            defer { i += 1 }
            guard matchesGUESS(s, at: i) else { continue }
            var j = i + 5
            while j < n, isPythonWhitespace(s[j].value) { j += 1 }      // \s* (greedy; ':' is not space)
            guard j < n, s[j] == ":" else { continue }
            let colon = j
            j += 1
            while j < n, isPythonWhitespace(s[j].value) { j += 1 }      // \s* greedy
            // [^\n\r]+ must take at least one character; backtrack \s* from the right if needed.
            var p = j
            if p == n || isCRLF(s[p].value) {
                p = -1
                var q = j - 1
                while q > colon {
                    if !isCRLF(s[q].value) { p = q; break }
                    q -= 1
                }
                if p < 0 { continue }
            }
            var e = p
            while e < n, !isCRLF(s[e].value) { e += 1 }
            return p..<e
        }
        return nil
    }

    @inline(__always) static func matchesGUESS(_ s: [Unicode.Scalar], at i: Int) -> Bool {
        func eq(_ c: Unicode.Scalar, _ upper: UInt32) -> Bool {
            let v = c.value
            return v == upper || v == upper + 0x20 || (upper == 0x53 && v == 0x17F)
        }
        return eq(s[i], 0x47) && eq(s[i + 1], 0x55) && eq(s[i + 2], 0x45) && eq(s[i + 3], 0x53) && eq(s[i + 4], 0x53)
    }

    @inline(__always) static func isCRLF(_ v: UInt32) -> Bool { v == 0x0A || v == 0x0D }

    /// Line boundaries of Python's `str.splitlines()`.
    @inline(__always) static func isLineBreak(_ v: UInt32) -> Bool {
        switch v {
        case 0x0A...0x0D, 0x1C...0x1E, 0x85, 0x2028, 0x2029: return true
        default: return false
        }
    }

    @inline(__always) static func isWordChar(_ v: UInt32) -> Bool {
        (v >= 0x61 && v <= 0x7A) || (v >= 0x30 && v <= 0x39)
    }

    static func string<S: Sequence>(_ scalars: S) -> String where S.Element == Unicode.Scalar {
        var view = String.UnicodeScalarView()
        view.append(contentsOf: scalars)
        return String(view)
    }
}
