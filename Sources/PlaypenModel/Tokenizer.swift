import Foundation
import PlaypenIO

/// Gemma's SentencePiece BPE with byte fallback (gemma3.md §4), built from GGUF
/// (`tokenizer.ggml.tokens/scores/token_type`, merge rank = token id) or from an HF
/// `tokenizer.json` (merge rank = position in `merges`).
///
/// Encode: spaces become `▁`; CONTROL and USER_DEFINED tokens are matched atomically (longest
/// match, anywhere in the text); each segment between them is BPE-merged (best-ranked adjacent
/// pair first, leftmost on ties); symbols missing from the vocab fall back to byte tokens.
public final class GemmaTokenizer: @unchecked Sendable {
    public enum TokenType: Int32 { case normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6 }

    public let pieces: [String]
    public let types: [Int32]
    public let bosID: Int
    public let eosID: Int
    public let padID: Int
    public var vocabSize: Int { pieces.count }

    /// Piece -> id (space runs respelled with ▁). In GGUF mode the merge rank of a concatenated
    /// pair is the id of the merged piece when that piece is mergeable (`mergeable[id]`).
    private let pieceToID: [String: Int32]
    private let mergeable: [Bool]
    /// Merge rank by pair (tokenizer.json mode): "left right" -> position.
    private let pairRank: [String: Int32]?
    private let byteID: [Int32]
    // Trie over Unicode scalars of the atomic tokens.
    private var trieChildren: [[UInt32: Int32]] = [[:]]
    private var trieID: [Int32] = [-1]

    public static let startOfTurn = 105
    public static let endOfTurn = 106

    /// From the tokenizer arrays of a GGUF file.
    public convenience init(gguf: GGUFFile) throws {
        let m = gguf.metadata
        guard let toks = m["tokenizer.ggml.tokens"]?.arrayValue else {
            throw PlaypenError("\(gguf.path): missing metadata key tokenizer.ggml.tokens")
        }
        let model = m["tokenizer.ggml.model"]?.stringValue ?? ""
        guard model == "llama" else {
            throw PlaypenError("\(gguf.path): tokenizer.ggml.model is \"\(model)\", expected \"llama\" (SentencePiece)")
        }
        var pieces: [String] = []
        pieces.reserveCapacity(toks.count)
        for (i, t) in toks.enumerated() {
            guard let s = t.stringValue else { throw PlaypenError("\(gguf.path): tokenizer.ggml.tokens[\(i)] is not a string") }
            pieces.append(s)
        }
        guard let typeValues = m["tokenizer.ggml.token_type"]?.arrayValue, typeValues.count == pieces.count else {
            throw PlaypenError("\(gguf.path): tokenizer.ggml.token_type is missing or does not have \(pieces.count) entries")
        }
        let types = typeValues.map { Int32(truncatingIfNeeded: $0.intValue ?? 1) }
        try self.init(pieces: pieces, types: types, merges: nil,
                      bos: m["tokenizer.ggml.bos_token_id"]?.intValue ?? 2,
                      eos: m["tokenizer.ggml.eos_token_id"]?.intValue ?? 1,
                      pad: m["tokenizer.ggml.padding_token_id"]?.intValue ?? 0, source: gguf.path)
    }

    /// From a Hugging Face `tokenizer.json` (BPE model with byte fallback, added tokens).
    public convenience init(tokenizerJSON path: String) throws {
        guard let data = FileManager.default.contents(atPath: path),
              let obj = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
              let model = obj["model"] as? [String: Any], let vocab = model["vocab"] as? [String: NSNumber]
        else { throw PlaypenError("\(path): expected a tokenizers JSON with model.vocab") }
        if let t = model["type"] as? String, t != "BPE" {
            throw PlaypenError("\(path): model.type is \(t), expected BPE")
        }
        var pieces = [String](repeating: "", count: vocab.count)
        var types = [Int32](repeating: 1, count: vocab.count)
        for (p, id) in vocab {
            let i = id.intValue
            guard i >= 0, i < pieces.count else { throw PlaypenError("\(path): vocab id \(i) of \(p) out of range") }
            pieces[i] = p
            if p.count == 6, p.hasPrefix("<0x"), p.hasSuffix(">") { types[i] = 6 }
        }
        for t in (obj["added_tokens"] as? [[String: Any]]) ?? [] {
            guard let id = (t["id"] as? NSNumber)?.intValue, let content = t["content"] as? String else { continue }
            while pieces.count <= id { pieces.append(""); types.append(5) }
            pieces[id] = content
            types[id] = (t["special"] as? Bool) == true ? 3 : 4
        }
        var merges: [(String, String)] = []
        for m in (model["merges"] as? [Any]) ?? [] {
            if let s = m as? String {
                let parts = s.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: false)
                if parts.count == 2 { merges.append((String(parts[0]), String(parts[1]))) }
            } else if let a = m as? [String], a.count == 2 {
                merges.append((a[0], a[1]))
            }
        }
        func id(_ s: String, _ d: Int) -> Int { vocab[s]?.intValue ?? d }
        try self.init(pieces: pieces, types: types, merges: merges, bos: id("<bos>", 2), eos: id("<eos>", 1),
                      pad: id("<pad>", 0), source: path)
    }

    init(pieces: [String], types: [Int32], merges: [(String, String)]?, bos: Int, eos: Int, pad: Int, source: String) throws {
        self.pieces = pieces
        self.types = types
        bosID = bos
        eosID = eos
        padID = pad
        var p2i: [String: Int32] = [:]
        p2i.reserveCapacity(pieces.count)
        var canMerge = [Bool](repeating: false, count: pieces.count)
        var bytes = [Int32](repeating: -1, count: 256)
        for (i, p) in pieces.enumerated() {
            let t = types[i]
            if t == 6 {
                // "<0xAB>"
                if p.count == 6, let b = UInt8(p.dropFirst(3).prefix(2), radix: 16) { bytes[Int(b)] = Int32(i) }
                continue
            }
            // Runs of 2-31 spaces are stored with U+0020; transformers respells them as ▁ runs and
            // (unlike the other user-defined tokens) keeps them in the BPE vocab, so they merge
            // pairwise by rank: 40 spaces give 16 + 24, not SentencePiece's 31 + 9.
            let spaceRun = t == 4 && Self.isSpaceRun(p)
            let piece = spaceRun ? p.replacingOccurrences(of: " ", with: "\u{2581}") : p
            if p2i[piece] == nil { p2i[piece] = Int32(i) }
            canMerge[i] = t == 1 || (spaceRun && merges == nil)
        }
        pieceToID = p2i
        mergeable = canMerge
        if let merges {
            var r: [String: Int32] = [:]
            r.reserveCapacity(merges.count)
            for (i, m) in merges.enumerated() where r[m.0 + " " + m.1] == nil { r[m.0 + " " + m.1] = Int32(i) }
            pairRank = r
        } else {
            pairRank = nil
        }
        for b in 0..<256 where bytes[b] < 0 {
            throw PlaypenError("\(source): tokenizer has no byte-fallback token <0x\(String(format: "%02X", b))>")
        }
        byteID = bytes
        for (i, p) in pieces.enumerated() where types[i] == 3 || types[i] == 4 {
            guard !p.isEmpty, merges != nil || !(types[i] == 4 && Self.isSpaceRun(p)) else { continue }
            insertAtomic(p.replacingOccurrences(of: " ", with: "\u{2581}"), Int32(i))
        }
    }

    private static func isSpaceRun(_ p: String) -> Bool {
        p.utf8.count >= 2 && p.utf8.allSatisfy { $0 == 0x20 }
    }

    private func insertAtomic(_ s: String, _ id: Int32) {
        var node = 0
        for u in s.unicodeScalars {
            if let next = trieChildren[node][u.value] {
                node = Int(next)
            } else {
                trieChildren.append([:])
                trieID.append(-1)
                let n = Int32(trieChildren.count - 1)
                trieChildren[node][u.value] = n
                node = Int(n)
            }
        }
        if trieID[node] < 0 { trieID[node] = id }
    }

    // ---- encode ------------------------------------------------------------------------------

    /// Token ids of `text`; `addBOS` prepends `<bos>` (never appends `<eos>`).
    public func encode(_ text: String, addBOS: Bool = false) -> [Int] {
        var out: [Int] = addBOS ? [bosID] : []
        let scalars = text.unicodeScalars.map { $0.value == 0x20 ? 0x2581 : $0.value }
        var segStart = 0
        var i = 0
        while i < scalars.count {
            // longest atomic match at i
            var node = 0, bestID: Int32 = -1, bestEnd = i, j = i
            while j < scalars.count, let next = trieChildren[node][scalars[j]] {
                node = Int(next)
                j += 1
                if trieID[node] >= 0 { bestID = trieID[node]; bestEnd = j }
            }
            if bestID >= 0 {
                if segStart < i { bpe(scalars[segStart..<i], into: &out) }
                out.append(Int(bestID))
                i = bestEnd
                segStart = i
            } else {
                i += 1
            }
        }
        if segStart < scalars.count { bpe(scalars[segStart..<scalars.count], into: &out) }
        return out
    }

    private struct Candidate: Comparable {
        let rank: Int32, left: Int32, right: Int32, rightEnd: Int32
        static func < (a: Candidate, b: Candidate) -> Bool {
            a.rank != b.rank ? a.rank < b.rank : a.left < b.left
        }
    }

    private func string(_ s: ArraySlice<UInt32>) -> String {
        var r = String.UnicodeScalarView()
        for v in s { r.append(Unicode.Scalar(v) ?? "\u{FFFD}") }
        return String(r)
    }

    private func rank(_ seg: ArraySlice<UInt32>, _ a: Int, _ mid: Int, _ b: Int) -> Int32? {
        let base = seg.startIndex
        if let pairRank {
            return pairRank[string(seg[(base + a)..<(base + mid)]) + " " + string(seg[(base + mid)..<(base + b)])]
        }
        guard let id = pieceToID[string(seg[(base + a)..<(base + b)])], mergeable[Int(id)] else { return nil }
        return id
    }

    /// BPE over one segment (priority queue with lazy invalidation).
    private func bpe(_ seg: ArraySlice<UInt32>, into out: inout [Int]) {
        let n = seg.count
        var start = Array(0..<n), end = Array(1...n)
        var next = Array(1...n), prev = Array(-1..<(n - 1))
        var alive = [Bool](repeating: true, count: n)
        var heap = Heap<Candidate>()
        func push(_ l: Int, _ r: Int) {
            if let rk = rank(seg, start[l], end[l], end[r]) {
                heap.push(Candidate(rank: rk, left: Int32(l), right: Int32(r), rightEnd: Int32(end[r])))
            }
        }
        for i in 0..<(n - 1) { push(i, i + 1) }
        while let c = heap.pop() {
            let l = Int(c.left), r = Int(c.right)
            guard alive[l], alive[r], next[l] == r, end[r] == Int(c.rightEnd) else { continue }
            end[l] = end[r]
            alive[r] = false
            next[l] = next[r]
            if next[r] < n { prev[next[r]] = l }
            if prev[l] >= 0 { push(prev[l], l) }
            if next[l] < n { push(l, next[l]) }
        }
        var i = 0
        while i < n {
            let s = string(seg[(seg.startIndex + start[i])..<(seg.startIndex + end[i])])
            if let id = pieceToID[s], types[Int(id)] == 1 || types[Int(id)] == 4 || pairRank != nil {
                out.append(Int(id))
            } else {
                for b in s.utf8 { out.append(Int(byteID[Int(b)])) }
            }
            i = next[i]
        }
    }

    // ---- decode ------------------------------------------------------------------------------

    /// Text of `ids`: pieces concatenated, `▁` as space, byte tokens reassembled into UTF-8.
    /// Control tokens are kept as their text unless `skipSpecial`.
    public func decode(_ ids: [Int], skipSpecial: Bool = false) -> String {
        var bytes: [UInt8] = []
        for id in ids {
            guard id >= 0, id < pieces.count else { continue }
            let t = types[id]
            if t == 6 {
                if let b = UInt8(pieces[id].dropFirst(3).prefix(2), radix: 16) { bytes.append(b) }
                continue
            }
            if skipSpecial, t == 3 { continue }
            bytes.append(contentsOf: Array(pieces[id].replacingOccurrences(of: "\u{2581}", with: " ").utf8))
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    public func id(of piece: String) -> Int? { pieceToID[piece].map(Int.init) }
}

/// A binary min-heap.
struct Heap<Element: Comparable> {
    private var items: [Element] = []
    mutating func push(_ x: Element) {
        items.append(x)
        var i = items.count - 1
        while i > 0 {
            let p = (i - 1) / 2
            if items[i] < items[p] { items.swapAt(i, p); i = p } else { break }
        }
    }
    mutating func pop() -> Element? {
        guard !items.isEmpty else { return nil }
        let top = items[0]
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var i = 0
            while true {
                let l = 2 * i + 1, r = l + 1
                var m = i
                if l < items.count, items[l] < items[m] { m = l }
                if r < items.count, items[r] < items[m] { m = r }
                if m == i { break }
                items.swapAt(i, m)
                i = m
            }
        }
        return top
    }
}
