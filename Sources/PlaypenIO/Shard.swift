
/// `--shard i/N`: row-wise tools process the i-th of N contiguous blocks of their input rows, so
/// the shards' outputs, concatenated in shard order, hold the rows of the unsharded run in order.
public struct Shard: Sendable, Equatable {
    public let index: Int
    public let count: Int

    public init(_ text: String) throws {
        let parts = text.split(separator: "/")
        guard parts.count == 2, let i = Int(parts[0]), let n = Int(parts[1]), n > 0, i >= 0, i < n else {
            throw PlaypenError("--shard \(text): expected i/N with 0 <= i < N")
        }
        index = i
        count = n
    }

    /// The rows of `total` that belong to this shard: [i·total/N, (i+1)·total/N).
    public func range(of total: Int) -> Range<Int> {
        (index * total / count)..<((index + 1) * total / count)
    }
}
