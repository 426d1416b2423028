import PlaypenIO

// ------------------------------------------------------------------------------------------------
// Filtering rows into example records (pp-filter's logic, minus the I/O).
//
//   keep(row) = meta.game in GAMES and meta.game_role in ROLES and meta.outcome not in DROP
//               and the row has an assistant message
// then a split label (rows of other splits are skipped when one split is selected), then the
// prompt/completion, dropping rows whose stripped completion is empty, and `index` = the position among the records written. Each rejected row is
// counted under the first test it fails, in the order above.

/// How rows get their `split` label.
public enum SplitRule: Sendable, Equatable {
    /// Every row gets this label (the dataset's own split files: "train", "validation").
    case label(String)
    /// A task-level split: `(game, experiment, task_id)` is hashed with the seed and the task goes
    /// to `validation` with probability `valFraction`, so no task appears in both splits.
    case hashed(valFraction: Double, seed: UInt64)

    public static let trainName = "train"
    public static let validationName = "validation"

    /// The split of a row's task. Hash: the first 8 bytes (big-endian) of
    /// `sha256("<seed>\t<game>\t<experiment>\t<task_id>")` as a fraction of 2^64;
    /// below `valFraction` means validation.
    public func split(of meta: RowMeta) -> String {
        switch self {
        case .label(let name):
            return name
        case .hashed(let fraction, let seed):
            return SplitRule.taskUnit(seed: seed, meta: meta) < fraction ? SplitRule.validationName : SplitRule.trainName
        }
    }

    /// The task's hash as a number in [0, 1).
    public static func taskUnit(seed: UInt64, meta: RowMeta) -> Double {
        let key = "\(seed)\t\(meta.game)\t\(meta.experiment)\t\(meta.taskID)"
        let digest = sha256(Array(key.utf8))
        var v: UInt64 = 0
        for k in 0..<8 { v = v << 8 | UInt64(digest[k]) }
        return Double(v) / 18446744073709551616.0
    }
}

public struct FilterOptions: Sendable, Equatable {
    /// Keep rows whose meta.game is one of these ("*" keeps every game).
    public var games: [String] = ["taboo"]
    /// Keep rows whose meta.game_role is one of these ("*" keeps every role).
    public var roles: [String] = ["WordGuesser"]
    /// Drop rows whose meta.outcome is one of these ("null" matches a null outcome).
    public var dropOutcomes: [String] = ["aborted"]
    public var split: SplitRule = .label(SplitRule.trainName)
    /// Write only the rows assigned to this split (nil: all rows).
    public var select: String? = nil

    public init() {}
}

/// Rows per outcome of the filter; `read` is the sum of all the others.
public struct FilterCounts: Sendable, Equatable {
    public var read = 0
    public var kept = 0
    public var wrongGame = 0
    public var wrongRole = 0
    public var droppedOutcome = 0
    public var noAssistantMessage = 0
    public var emptyCompletion = 0
    public var otherSplit = 0

    public init() {}

    /// (reason, count) in the order the filter applies them, with the manifest's key names.
    public var entries: [(String, Int)] {
        [("read", read), ("kept", kept), ("wrong_game", wrongGame), ("wrong_role", wrongRole),
         ("dropped_outcome", droppedOutcome), ("no_assistant_message", noAssistantMessage),
         ("other_split", otherSplit), ("empty_completion", emptyCompletion)]
    }

    /// One line for stderr: `read 452, kept 185; wrong game 0, wrong role 235, ...`.
    public var summary: String {
        "read \(read), kept \(kept); wrong game \(wrongGame), wrong role \(wrongRole), "
            + "dropped outcome \(droppedOutcome), no assistant message \(noAssistantMessage), "
            + "other split \(otherSplit), empty completion \(emptyCompletion)"
    }
}

/// One output record of pp-filter (schemas/example.schema.json).
public struct ExampleRecord: Sendable, Equatable {
    /// First 16 hex digits of sha256 of the row's canonical JSON (`PlaypenRow.canonicalJSON`).
    public var rowID: String
    /// Position in the filtered output (0-based), the original pipeline's row_id.
    public var index: Int
    public var split: String
    public var prompt: String
    public var completion: String
    public var row: PlaypenRow

    public init(rowID: String, index: Int, split: String, prompt: String, completion: String, row: PlaypenRow) {
        self.rowID = rowID
        self.index = index
        self.split = split
        self.prompt = prompt
        self.completion = completion
        self.row = row
    }

    /// `{"row_id","index","split","prompt","completion","messages","meta"}` as one compact line
    /// (no trailing newline).
    public func write(_ w: inout JSONBytesWriter) {
        ExampleRecord.writeHead(&w, rowID: rowID)
        w.int(index)
        writeTail(&w)
    }

    /// Everything before the index value.
    static func writeHead(_ w: inout JSONBytesWriter, rowID: String) {
        w.raw("{\"row_id\":")
        w.string(rowID)
        w.raw(",\"index\":")
    }

    /// Everything after the index value.
    func writeTail(_ w: inout JSONBytesWriter) {
        w.raw(",\"split\":")
        w.string(split)
        w.raw(",\"prompt\":")
        w.string(prompt)
        w.raw(",\"completion\":")
        w.string(completion)
        w.byte(UInt8(ascii: ","))
        row.writeMessages(&w)
        w.byte(UInt8(ascii: ","))
        row.writeMeta(&w)
        w.byte(UInt8(ascii: "}"))
    }
}

extension PlaypenRow {
    /// The stable content id: the first 16 hex digits of sha256 of `canonicalJSON`.
    public func rowID() -> String {
        var w = JSONBytesWriter(capacity: 4096)
        canonicalJSON(&w)
        return hexPrefix(sha256(w.bytes), bytes: 8)
    }
}

func hexPrefix(_ digest: [UInt8], bytes n: Int) -> String {
    let hex: [UInt8] = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    out.reserveCapacity(2 * n)
    for b in digest.prefix(n) { out.append(hex[Int(b >> 4)]); out.append(hex[Int(b & 15)]) }
    return String(decoding: out, as: UTF8.self)
}

/// The streaming filter: feed rows in input order, get records in output order.
public struct ExampleFilter: Sendable {
    public let options: FilterOptions
    public private(set) var counts = FilterCounts()
    private let anyGame: Bool
    private let anyRole: Bool
    private let dropNull: Bool
    // Values seen at each stage, for the message when a filter empties the output.
    private var gamesSeen = Set<String>()
    private var rolesSeen = Set<String>()
    private var splitsSeen = Set<String>()

    public init(options: FilterOptions) {
        self.options = options
        anyGame = options.games.contains("*")
        anyRole = options.roles.contains("*")
        dropNull = options.dropOutcomes.contains("null")
    }

    /// Decides one row; returns its record if kept.
    public mutating func process(_ row: PlaypenRow) -> ExampleRecord? {
        guard let split = screen(row.meta, hasAssistantMessage: row.lastAssistantIndex != nil) else { return nil }
        return convert(row, split: split)
    }

    /// What the meta-only tests decided for one row.
    public enum Verdict: Sendable, Equatable {
        case wrongGame(String)
        case wrongRole(String)
        case droppedOutcome
        case noAssistantMessage
        case otherSplit(String)
        /// Passed; the row's split.
        case pass(String)
    }

    /// The tests that need only the meta (game, role, outcome, an assistant message, the selected
    /// split), without counting (safe to call from several threads).
    public func classify(_ meta: RowMeta, hasAssistantMessage: Bool) -> Verdict {
        if !anyGame && !options.games.contains(meta.game) { return .wrongGame(meta.game) }
        if !anyRole && !options.roles.contains(meta.gameRole) { return .wrongRole(meta.gameRole) }
        if let outcome = meta.outcome {
            if options.dropOutcomes.contains(outcome) { return .droppedOutcome }
        } else if dropNull {
            return .droppedOutcome
        }
        guard hasAssistantMessage else { return .noAssistantMessage }
        let split = options.split.split(of: meta)
        if let select = options.select, split != select { return .otherSplit(split) }
        return .pass(split)
    }

    /// Counts a verdict (rows must be tallied in input order); returns the split if it passed.
    public mutating func tally(_ verdict: Verdict) -> String? {
        counts.read += 1
        switch verdict {
        case .wrongGame(let game):
            counts.wrongGame += 1
            if gamesSeen.count < 64 { gamesSeen.insert(game) }
        case .wrongRole(let role):
            counts.wrongRole += 1
            if rolesSeen.count < 64 { rolesSeen.insert(role) }
        case .droppedOutcome:
            counts.droppedOutcome += 1
        case .noAssistantMessage:
            counts.noAssistantMessage += 1
        case .otherSplit(let split):
            counts.otherSplit += 1
            if splitsSeen.count < 64 { splitsSeen.insert(split) }
        case .pass(let split):
            return split
        }
        return nil
    }

    /// `classify` and `tally`: returns the row's split if it passes, else counts the reason.
    public mutating func screen(_ meta: RowMeta, hasAssistantMessage: Bool) -> String? {
        tally(classify(meta, hasAssistantMessage: hasAssistantMessage))
    }

    /// The rest for a row that passed `screen`: prompt/completion (dropping an empty completion),
    /// row id and index.
    public mutating func convert(_ row: PlaypenRow, split: String) -> ExampleRecord? {
        let pc = row.promptCompletion()
        if pc.completion.isEmpty { countEmptyCompletion(); return nil }
        let record = ExampleRecord(rowID: row.rowID(), index: counts.kept, split: split,
                                   prompt: pc.prompt, completion: pc.completion, row: row)
        counts.kept += 1
        return record
    }

    /// For callers that convert rows themselves (the parallel path): the next record's index.
    public mutating func nextIndex() -> Int {
        counts.kept += 1
        return counts.kept - 1
    }

    public mutating func countEmptyCompletion() { counts.emptyCompletion += 1 }

    /// Throws when nothing was kept, naming the filter that removed the last rows.
    public func checkNotEmpty(input: String) throws {
        guard counts.kept == 0 else { return }
        let c = counts
        func list(_ s: Set<String>) -> String { s.sorted().joined(separator: ", ") }
        var remaining = c.read
        if remaining == 0 {
            throw PlaypenError("\(input): empty input: no rows to filter")
        }
        remaining -= c.wrongGame
        if remaining == 0 {
            throw PlaypenError("\(input): no rows kept: --game \(options.games.joined(separator: ",")) matched none of the \(c.read) rows (games seen: \(list(gamesSeen)))")
        }
        let afterGame = remaining
        remaining -= c.wrongRole
        if remaining == 0 {
            throw PlaypenError("\(input): no rows kept: --role \(options.roles.joined(separator: ",")) matched none of the \(afterGame) rows of the selected game (roles seen: \(list(rolesSeen)))")
        }
        let afterRole = remaining
        remaining -= c.droppedOutcome
        if remaining == 0 {
            throw PlaypenError("\(input): no rows kept: --drop-outcome \(options.dropOutcomes.joined(separator: ",")) dropped all \(afterRole) rows of the selected game and role")
        }
        let afterOutcome = remaining
        remaining -= c.noAssistantMessage
        if remaining == 0 {
            throw PlaypenError("\(input): no rows kept: none of the \(afterOutcome) remaining rows has an assistant message")
        }
        let afterAssistant = remaining
        remaining -= c.otherSplit
        if remaining == 0 {
            throw PlaypenError("\(input): no rows kept: --select \(options.select ?? "") matched no row; all \(afterAssistant) remaining rows went to split \(list(splitsSeen))")
        }
        throw PlaypenError("\(input): no rows kept: all \(remaining) remaining rows have an empty completion")
    }
}
