// The token sequences of a batch as a forest of their distinct prefixes (a compressed trie):
// a causal model's rows at a position depend only on the tokens up to it, so the rows of a
// prefix several sequences share (taboo transcripts all open with one of two instruction
// prompts) need computing once.

/// A run of consecutive tokens of the forest: the tokens at positions
/// `firstPosition ..< firstPosition + count` of every sequence through it, stored at rows
/// `row ..< row + count`; the tokens before `firstPosition` are those of its ancestors.
struct PrefixNode: Equatable {
    let row, count, firstPosition: Int
    let parent: Int?
}

struct PrefixForest {
    /// The nodes' tokens, node after node; a parent comes before its children.
    private(set) var ids: [Int] = []
    private(set) var nodes: [PrefixNode] = []
    /// For each input sequence, its nodes from the root down (empty for an empty sequence): the
    /// sequence is their tokens, in order.
    private(set) var paths: [[Int]]

    /// The forest of `sequences`; without `sharing`, one root per sequence (no row shared).
    init(_ sequences: [[Int]], sharing: Bool = true) {
        paths = Array(repeating: [], count: sequences.count)
        let nonEmpty = sequences.indices.filter { !sequences[$0].isEmpty }
        guard sharing else {
            for m in nonEmpty {
                paths[m] = [nodes.count]
                nodes.append(PrefixNode(row: ids.count, count: sequences[m].count, firstPosition: 0, parent: nil))
                ids += sequences[m]
            }
            return
        }
        for group in Self.byToken(nonEmpty, at: 0, of: sequences) {
            add(group, depth: 0, parent: nil, sequences: sequences, path: [])
        }
    }

    /// Groups of `members` with the same token at `depth` (each member longer than depth), in
    /// order of first appearance: the forest's layout follows the batch's order.
    private static func byToken(_ members: [Int], at depth: Int, of sequences: [[Int]]) -> [[Int]] {
        var groups: [[Int]] = [], index: [Int: Int] = [:]
        for m in members {
            let token = sequences[m][depth]
            if let g = index[token] { groups[g].append(m) } else { index[token] = groups.count; groups.append([m]) }
        }
        return groups
    }

    /// Adds the node of `members` (all longer than `depth`, sharing tokens up to and at `depth`):
    /// their common run from `depth`, then a child per next token among those that go on.
    private mutating func add(_ members: [Int], depth: Int, parent: Int?, sequences: [[Int]], path: [Int]) {
        let first = sequences[members[0]]
        var end = depth + 1
        while members.allSatisfy({ sequences[$0].count > end && sequences[$0][end] == first[end] }) { end += 1 }
        let node = nodes.count
        nodes.append(PrefixNode(row: ids.count, count: end - depth, firstPosition: depth, parent: parent))
        ids += first[depth..<end]
        let path = path + [node]
        var longer: [Int] = []
        for m in members {
            if sequences[m].count == end { paths[m] = path } else { longer.append(m) }
        }
        for group in Self.byToken(longer, at: end, of: sequences) {
            add(group, depth: end, parent: node, sequences: sequences, path: path)
        }
    }

    /// The rows of `node`'s ancestors, root first: the rows of positions 0 ..< its firstPosition.
    func ancestorRows(of node: Int) -> [Range<Int>] {
        var rows: [Range<Int>] = [], p = nodes[node].parent
        while let a = p {
            rows.append(nodes[a].row..<(nodes[a].row + nodes[a].count))
            p = nodes[a].parent
        }
        return rows.reversed()
    }
}
