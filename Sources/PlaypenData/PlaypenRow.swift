import PlaypenIO

// ------------------------------------------------------------------------------------------------
// The playpen `interactions` row: one episode of one game seen from one player.
//
//   {"messages": [{"role": "user"|"assistant", "content": "..."}, ...],
//    "meta": {"game", "experiment", "task_id", "player_name", "game_role", "model", "outcome"}}
//
// Decoding validates the shape and names the first offending field. Unknown keys are ignored,
// so pp-filter's own example records (which carry `messages` and `meta` too) decode as rows.

public struct Message: Sendable, Equatable, Hashable {
    public var role: String
    public var content: String

    public init(role: String, content: String) {
        self.role = role
        self.content = content
    }
}

public struct RowMeta: Sendable, Equatable, Hashable {
    public var game: String
    public var experiment: String
    public var taskID: Int
    public var playerName: String?
    public var gameRole: String
    public var model: String?
    /// "success", "failure", "aborted", or nil (no readable scores in the source episode).
    public var outcome: String?

    public init(game: String, experiment: String, taskID: Int, playerName: String?, gameRole: String,
                model: String?, outcome: String?) {
        self.game = game
        self.experiment = experiment
        self.taskID = taskID
        self.playerName = playerName
        self.gameRole = gameRole
        self.model = model
        self.outcome = outcome
    }
}

public struct PlaypenRow: Sendable, Equatable, Hashable {
    public var messages: [Message]
    public var meta: RowMeta

    public init(messages: [Message], meta: RowMeta) {
        self.messages = messages
        self.meta = meta
    }
}

// MARK: - decoding

/// A schema violation (the JSON itself is well-formed).
struct RowSchemaError: Error {
    let message: String
}

extension PlaypenRow {
    /// Decodes one JSON Lines record. `location` (e.g. "rows.jsonl:12") prefixes every error:
    /// `rows.jsonl:12: invalid JSON at column 40: expected ',' or '}', found ']'` or
    /// `rows.jsonl:12: meta.game_role is missing (expected a string)`.
    public static func decode(_ bytes: UnsafeBufferPointer<UInt8>, location: @autoclosure () -> String) throws -> PlaypenRow {
        var messages: [Message] = []
        let (meta, _, _) = try scan(bytes, location: location(), messages: &messages, full: true)
        return PlaypenRow(messages: messages, meta: meta)
    }

    /// Validates a whole line like `decode` but materialises only `meta`; message strings are
    /// checked and skipped. Returns the meta, whether any message has role "assistant", and where
    /// in `bytes` the messages array (the one `decode` reads) lies, `[` to `]`.
    /// (pp-filter screens every row this way and converts only the rows it keeps.)
    public static func screen(_ bytes: UnsafeBufferPointer<UInt8>, location: @autoclosure () -> String) throws
        -> (meta: RowMeta, hasAssistantMessage: Bool, messages: Range<Int>)
    {
        var messages: [Message] = []
        return try scan(bytes, location: location(), messages: &messages, full: false)
    }

    private static func scan(_ bytes: UnsafeBufferPointer<UInt8>, location: @autoclosure () -> String,
                             messages: inout [Message], full: Bool) throws -> (RowMeta, Bool, Range<Int>) {
        var scanner = RowScanner(bytes)
        defer { scanner.releaseKeys() }
        do {
            let result = try decodeRow(&scanner, messages: &messages, full: full)
            try scanner.expectEnd()
            return result
        } catch let e as RowSyntaxError {
            throw PlaypenError("\(location()): invalid JSON at byte \(e.column): \(e.message)")
        } catch let e as RowSchemaError {
            // A syntax error later in the line is the more useful message.
            var check = RowScanner(bytes)
            defer { check.releaseKeys() }
            do {
                try check.skipValue()
                try check.expectEnd()
            } catch let syntax as RowSyntaxError {
                throw PlaypenError("\(location()): invalid JSON at byte \(syntax.column): \(syntax.message)")
            } catch {}
            throw PlaypenError("\(location()): \(e.message)")
        }
    }

    /// Decodes a line as handed out by `JSONLinesReader.nextLine()`.
    public static func decode(_ line: UnsafeRawBufferPointer, location: @autoclosure () -> String) throws -> PlaypenRow {
        try decode(line.assumingMemoryBound(to: UInt8.self), location: location())
    }

    /// Decodes a row from a Swift string (tests, small inputs).
    public static func decode(_ text: String, location: @autoclosure () -> String = "<string>") throws -> PlaypenRow {
        var text = text
        return try text.withUTF8 { try decode($0, location: location()) }
    }

    static func kindName(_ k: RowJSONKind) -> String {
        switch k {
        case .object: return "an object"
        case .array: return "an array"
        case .string: return "a string"
        case .number: return "a number"
        case .boolean: return "a boolean"
        case .null: return "null"
        }
    }

    static func requireKind(_ s: inout RowScanner, _ kind: RowJSONKind, _ field: @autoclosure () -> String) throws {
        let found = try s.peekKind()
        if found != kind {
            throw RowSchemaError(message: "\(field()) is \(kindName(found)), expected \(kindName(kind))")
        }
    }

    static func string(_ s: inout RowScanner, _ field: @autoclosure () -> String) throws -> String {
        try requireKind(&s, .string, field())
        return try s.string()
    }

    private static func optionalString(_ s: inout RowScanner, _ field: @autoclosure () -> String) throws -> String? {
        if try s.null() { return nil }
        let found = try s.peekKind()
        if found != .string {
            throw RowSchemaError(message: "\(field()) is \(kindName(found)), expected a string or null")
        }
        return try s.string()
    }

    static func decodeRow(_ s: inout RowScanner, messages: inout [Message], full: Bool) throws -> (RowMeta, Bool, Range<Int>) {
        let top = try s.peekKind()
        if top != .object { throw RowSchemaError(message: "row is \(kindName(top)), expected an object with \"messages\" and \"meta\"") }
        var messagesRange: Range<Int>? = nil
        var hasAssistant = false
        var meta: RowMeta? = nil
        try s.forEachMember { s, key in
            if bytesEqual(key, "messages") {
                try requireKind(&s, .array, "messages")
                let start = s.pos
                messages.removeAll(keepingCapacity: true)
                hasAssistant = false
                try s.forEachElement { s, i in
                    if full {
                        let m = try decodeMessage(&s, i)
                        hasAssistant = hasAssistant || m.role == "assistant"
                        messages.append(m)
                    } else {
                        hasAssistant = try skipMessage(&s, i) || hasAssistant
                    }
                }
                messagesRange = start..<s.pos
            } else if bytesEqual(key, "meta") {
                meta = try decodeMeta(&s)
            } else {
                try s.skipValue()
            }
        }
        guard let messagesRange else { throw RowSchemaError(message: "\"messages\" is missing (expected an array of {role, content})") }
        guard let meta else { throw RowSchemaError(message: "\"meta\" is missing (expected an object with game, experiment, task_id, game_role, ...)") }
        return (meta, hasAssistant, messagesRange)
    }

    static func decodeMessage(_ s: inout RowScanner, _ i: Int) throws -> Message {
        let kind = try s.peekKind()
        if kind != .object { throw RowSchemaError(message: "messages[\(i)] is \(kindName(kind)), expected an object with role and content") }
        var role: String? = nil
        var content: String? = nil
        try s.forEachMember { s, key in
            if bytesEqual(key, "role") {
                role = try string(&s, "messages[\(i)].role")
            } else if bytesEqual(key, "content") {
                content = try string(&s, "messages[\(i)].content")
            } else {
                try s.skipValue()
            }
        }
        guard let role else { throw RowSchemaError(message: "messages[\(i)].role is missing (expected a string)") }
        guard let content else { throw RowSchemaError(message: "messages[\(i)].content is missing (expected a string)") }
        return Message(role: role, content: content)
    }

    /// Validates a message without materialising it; true if its role is "assistant".
    private static func skipMessage(_ s: inout RowScanner, _ i: Int) throws -> Bool {
        let kind = try s.peekKind()
        if kind != .object { throw RowSchemaError(message: "messages[\(i)] is \(kindName(kind)), expected an object with role and content") }
        var isAssistant: Bool? = nil
        var sawContent = false
        try s.forEachMember { s, key in
            if bytesEqual(key, "role") {
                try requireKind(&s, .string, "messages[\(i)].role")
                let (raw, escaped) = try s.skipString()
                isAssistant = escaped ? (try decodedRole(raw) == "assistant") : bytesEqual(raw, "assistant")
            } else if bytesEqual(key, "content") {
                try requireKind(&s, .string, "messages[\(i)].content")
                _ = try s.skipString()
                sawContent = true
            } else {
                try s.skipValue()
            }
        }
        guard let isAssistant else { throw RowSchemaError(message: "messages[\(i)].role is missing (expected a string)") }
        guard sawContent else { throw RowSchemaError(message: "messages[\(i)].content is missing (expected a string)") }
        return isAssistant
    }

    private static func decodedRole(_ raw: UnsafeBufferPointer<UInt8>) throws -> String {
        var quoted: [UInt8] = [0x22]
        quoted.append(contentsOf: raw)
        quoted.append(0x22)
        return try quoted.withUnsafeBufferPointer { buffer in
            var s = RowScanner(buffer)
            return try s.string()
        }
    }

    static func decodeMeta(_ s: inout RowScanner) throws -> RowMeta {
        try requireKind(&s, .object, "meta")
        var game: String?, experiment: String?, role: String?
        var player: String?, model: String?, outcome: String?
        var taskID: Int?
        try s.forEachMember { s, key in
            if bytesEqual(key, "game") {
                game = try string(&s, "meta.game")
            } else if bytesEqual(key, "game_role") {
                role = try string(&s, "meta.game_role")
            } else if bytesEqual(key, "experiment") {
                experiment = try string(&s, "meta.experiment")
            } else if bytesEqual(key, "task_id") {
                try requireKind(&s, .number, "meta.task_id")
                guard let v = try s.integer() else {
                    throw RowSchemaError(message: "meta.task_id is not an integer")
                }
                taskID = v
            } else if bytesEqual(key, "player_name") {
                player = try optionalString(&s, "meta.player_name")
            } else if bytesEqual(key, "model") {
                model = try optionalString(&s, "meta.model")
            } else if bytesEqual(key, "outcome") {
                outcome = try optionalString(&s, "meta.outcome")
            } else {
                try s.skipValue()
            }
        }
        guard let game else { throw RowSchemaError(message: "meta.game is missing (expected a string such as \"taboo\")") }
        guard let role else { throw RowSchemaError(message: "meta.game_role is missing (expected a string such as \"WordGuesser\")") }
        guard let experiment else { throw RowSchemaError(message: "meta.experiment is missing (expected a string such as \"high_en\")") }
        guard let taskID else { throw RowSchemaError(message: "meta.task_id is missing (expected an integer)") }
        return RowMeta(game: game, experiment: experiment, taskID: taskID, playerName: player,
                       gameRole: role, model: model, outcome: outcome)
    }
}

// MARK: - encoding

extension PlaypenRow {
    /// `"messages":[...]` as it appears in rows and example records (keys role, content).
    func writeMessages(_ w: inout JSONBytesWriter) {
        w.raw("\"messages\":[")
        for (i, m) in messages.enumerated() {
            if i > 0 { w.byte(UInt8(ascii: ",")) }
            w.raw("{\"role\":")
            w.string(m.role)
            w.raw(",\"content\":")
            w.string(m.content)
            w.byte(UInt8(ascii: "}"))
        }
        w.byte(UInt8(ascii: "]"))
    }

    /// `"meta":{...}` in the dataset's key order.
    func writeMeta(_ w: inout JSONBytesWriter) { PlaypenRow.writeMeta(meta, &w) }

    static func writeMeta(_ meta: RowMeta, _ w: inout JSONBytesWriter) {
        w.raw("\"meta\":{\"game\":")
        w.string(meta.game)
        w.raw(",\"experiment\":")
        w.string(meta.experiment)
        w.raw(",\"task_id\":")
        w.int(meta.taskID)
        w.raw(",\"player_name\":")
        w.optionalString(meta.playerName)
        w.raw(",\"game_role\":")
        w.string(meta.gameRole)
        w.raw(",\"model\":")
        w.optionalString(meta.model)
        w.raw(",\"outcome\":")
        w.optionalString(meta.outcome)
        w.byte(UInt8(ascii: "}"))
    }

    /// The row as one compact JSON line (no newline), in the dataset's key order.
    public func write(_ w: inout JSONBytesWriter) {
        w.byte(UInt8(ascii: "{"))
        writeMessages(&w)
        w.byte(UInt8(ascii: ","))
        writeMeta(&w)
        w.byte(UInt8(ascii: "}"))
    }

    /// The canonical serialization that `row_id` hashes: Python's
    /// `json.dumps({"messages": [{"role", "content"}...], "meta": {the 7 meta keys}},
    /// ensure_ascii=False, sort_keys=True, separators=(",", ":"))`, UTF-8. Unknown keys of the
    /// source line do not take part; absent optional meta keys count as null.
    public func canonicalJSON(_ w: inout JSONBytesWriter) {
        w.raw("{\"messages\":[")
        for (i, m) in messages.enumerated() {
            if i > 0 { w.byte(UInt8(ascii: ",")) }
            w.raw("{\"content\":")
            w.string(m.content)
            w.raw(",\"role\":")
            w.string(m.role)
            w.byte(UInt8(ascii: "}"))
        }
        w.raw("],")
        PlaypenRow.writeCanonicalMeta(meta, &w)
        w.byte(UInt8(ascii: "}"))
    }

    /// `"meta":{...}` of the canonical form (sorted keys).
    static func writeCanonicalMeta(_ meta: RowMeta, _ w: inout JSONBytesWriter) {
        w.raw("\"meta\":{\"experiment\":")
        w.string(meta.experiment)
        w.raw(",\"game\":")
        w.string(meta.game)
        w.raw(",\"game_role\":")
        w.string(meta.gameRole)
        w.raw(",\"model\":")
        w.optionalString(meta.model)
        w.raw(",\"outcome\":")
        w.optionalString(meta.outcome)
        w.raw(",\"player_name\":")
        w.optionalString(meta.playerName)
        w.raw(",\"task_id\":")
        w.int(meta.taskID)
        w.byte(UInt8(ascii: "}"))
    }
}
