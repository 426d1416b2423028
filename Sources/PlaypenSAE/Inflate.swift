import PlaypenIO

// Raw DEFLATE decoder (RFC 1951), enough for `np.savez_compressed` archives. A straightforward
// canonical-Huffman decoder in the style of zlib's `puff.c`: bit reader, code-length counts and
// symbol tables, stored / fixed / dynamic blocks.

private struct BitReader {
    let data: UnsafeRawBufferPointer
    var position = 0
    var bitBuffer: UInt64 = 0
    var bitCount = 0
    let what: String

    mutating func bits(_ need: Int) throws -> Int {
        while bitCount < need {
            guard position < data.count else { throw PlaypenError("\(what): deflate stream ends early") }
            bitBuffer |= UInt64(data[position]) << UInt64(bitCount)
            position += 1
            bitCount += 8
        }
        let value = Int(bitBuffer & ((1 << UInt64(need)) - 1))
        bitBuffer >>= UInt64(need)
        bitCount -= need
        return value
    }
}

private struct Huffman {
    var counts = [Int](repeating: 0, count: 16)
    var symbols: [Int]

    /// Builds the decoding tables from code lengths; incomplete codes are allowed (as zlib does
    /// for a single distance code), over-subscribed ones are rejected.
    init(lengths: [Int], what: String) throws {
        symbols = [Int](repeating: 0, count: lengths.count)
        for l in lengths { counts[l] += 1 }
        var left = 1
        for len in 1..<16 {
            left <<= 1
            left -= counts[len]
            if left < 0 { throw PlaypenError("\(what): over-subscribed Huffman code in deflate stream") }
        }
        var offsets = [Int](repeating: 0, count: 16)
        for len in 1..<15 { offsets[len + 1] = offsets[len] + counts[len] }
        for (symbol, l) in lengths.enumerated() where l != 0 {
            symbols[offsets[l]] = symbol
            offsets[l] += 1
        }
    }

    func decode(_ reader: inout BitReader) throws -> Int {
        var code = 0, first = 0, index = 0
        for len in 1..<16 {
            code |= try reader.bits(1)
            let count = counts[len]
            if code - count < first { return symbols[index + (code - first)] }
            index += count
            first += count
            first <<= 1
            code <<= 1
        }
        throw PlaypenError("\(reader.what): invalid Huffman code in deflate stream")
    }
}

private let lengthBase = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258]
private let lengthExtra = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0]
private let distanceBase = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577]
private let distanceExtra = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13]

/// Decompresses a raw deflate stream. `expectedSize` (from the zip directory) is checked.
func inflate(_ data: UnsafeRawBufferPointer, expectedSize: Int, what: String) throws -> [UInt8] {
    var reader = BitReader(data: data, what: what)
    var out: [UInt8] = []
    out.reserveCapacity(expectedSize)
    let fixedLengths: [Int] = (0..<288).map { $0 < 144 ? 8 : $0 < 256 ? 9 : $0 < 280 ? 7 : 8 }
    let fixedLiteral = try Huffman(lengths: fixedLengths, what: what)
    let fixedDistance = try Huffman(lengths: [Int](repeating: 5, count: 30), what: what)
    var last = 0
    repeat {
        last = try reader.bits(1)
        let type = try reader.bits(2)
        switch type {
        case 0:
            reader.bitBuffer = 0
            reader.bitCount = 0
            guard reader.position + 4 <= data.count else { throw PlaypenError("\(what): deflate stored block truncated") }
            let len = Int(data[reader.position]) | Int(data[reader.position + 1]) << 8
            let nlen = Int(data[reader.position + 2]) | Int(data[reader.position + 3]) << 8
            guard len == (~nlen & 0xFFFF) else { throw PlaypenError("\(what): deflate stored block length check failed") }
            reader.position += 4
            guard reader.position + len <= data.count else { throw PlaypenError("\(what): deflate stored block truncated") }
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: data[reader.position..<(reader.position + len)]))
            reader.position += len
        case 1:
            try inflateBlock(&reader, &out, fixedLiteral, fixedDistance)
        case 2:
            let nlen = try reader.bits(5) + 257
            let ndist = try reader.bits(5) + 1
            let ncode = try reader.bits(4) + 4
            guard nlen <= 286, ndist <= 30 else { throw PlaypenError("\(what): bad dynamic block header") }
            let order = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15]
            var codeLengths = [Int](repeating: 0, count: 19)
            for i in 0..<ncode { codeLengths[order[i]] = try reader.bits(3) }
            let lencode = try Huffman(lengths: codeLengths, what: what)
            var lengths = [Int](repeating: 0, count: nlen + ndist)
            var index = 0
            while index < nlen + ndist {
                var symbol = try lencode.decode(&reader)
                if symbol < 16 {
                    lengths[index] = symbol
                    index += 1
                } else {
                    var value = 0
                    if symbol == 16 {
                        guard index > 0 else { throw PlaypenError("\(what): repeat with no previous length") }
                        value = lengths[index - 1]
                        symbol = 3 + (try reader.bits(2))
                    } else if symbol == 17 {
                        symbol = 3 + (try reader.bits(3))
                    } else {
                        symbol = 11 + (try reader.bits(7))
                    }
                    guard index + symbol <= nlen + ndist else { throw PlaypenError("\(what): too many code lengths") }
                    for _ in 0..<symbol { lengths[index] = value; index += 1 }
                }
            }
            guard lengths[256] != 0 else { throw PlaypenError("\(what): dynamic block without end-of-block code") }
            let literal = try Huffman(lengths: Array(lengths[0..<nlen]), what: what)
            let distance = try Huffman(lengths: Array(lengths[nlen...]), what: what)
            try inflateBlock(&reader, &out, literal, distance)
        default:
            throw PlaypenError("\(what): invalid deflate block type 3")
        }
    } while last == 0
    guard out.count == expectedSize else {
        throw PlaypenError("\(what): inflated to \(out.count) bytes, expected \(expectedSize)")
    }
    return out
}

private func inflateBlock(_ reader: inout BitReader, _ out: inout [UInt8], _ literal: Huffman, _ distance: Huffman) throws {
    while true {
        var symbol = try literal.decode(&reader)
        if symbol < 256 {
            out.append(UInt8(symbol))
        } else if symbol == 256 {
            return
        } else {
            symbol -= 257
            guard symbol < 29 else { throw PlaypenError("\(reader.what): bad length symbol in deflate stream") }
            let length = lengthBase[symbol] + (try reader.bits(lengthExtra[symbol]))
            let dsym = try distance.decode(&reader)
            guard dsym < 30 else { throw PlaypenError("\(reader.what): bad distance symbol in deflate stream") }
            let dist = distanceBase[dsym] + (try reader.bits(distanceExtra[dsym]))
            guard dist <= out.count else { throw PlaypenError("\(reader.what): deflate distance too far back") }
            let start = out.count - dist
            for i in 0..<length { out.append(out[start + i]) }
        }
    }
}
