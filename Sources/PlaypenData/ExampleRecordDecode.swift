import PlaypenIO

// Reading pp-filter's output back (for the stages downstream: training, gradients, SAE).

extension ExampleRecord {
    /// Decodes one line of pp-filter output (schemas/example.schema.json). Errors name the
    /// location and the field, like `PlaypenRow.decode`.
    public static func decode(_ bytes: UnsafeBufferPointer<UInt8>, location: @autoclosure () -> String) throws -> ExampleRecord {
        var s = RowScanner(bytes)
        defer { s.releaseKeys() }
        do {
            let top = try s.peekKind()
            if top != .object { throw RowSchemaError(message: "record is \(PlaypenRow.kindName(top)), expected an object") }
            var rowID: String?, split: String?, prompt: String?, completion: String?
            var index: Int?
            var messages: [Message]?
            var meta: RowMeta?
            try s.forEachMember { s, key in
                if bytesEqual(key, "row_id") {
                    rowID = try PlaypenRow.string(&s, "row_id")
                } else if bytesEqual(key, "index") {
                    try PlaypenRow.requireKind(&s, .number, "index")
                    guard let v = try s.integer() else { throw RowSchemaError(message: "index is not an integer") }
                    index = v
                } else if bytesEqual(key, "split") {
                    split = try PlaypenRow.string(&s, "split")
                } else if bytesEqual(key, "prompt") {
                    prompt = try PlaypenRow.string(&s, "prompt")
                } else if bytesEqual(key, "completion") {
                    completion = try PlaypenRow.string(&s, "completion")
                } else if bytesEqual(key, "messages") {
                    try PlaypenRow.requireKind(&s, .array, "messages")
                    var list: [Message] = []
                    try s.forEachElement { s, i in list.append(try PlaypenRow.decodeMessage(&s, i)) }
                    messages = list
                } else if bytesEqual(key, "meta") {
                    meta = try PlaypenRow.decodeMeta(&s)
                } else {
                    try s.skipValue()
                }
            }
            try s.expectEnd()
            func missing(_ key: String) -> RowSchemaError { RowSchemaError(message: "\"\(key)\" is missing (not a pp-filter example record?)") }
            guard let rowID else { throw missing("row_id") }
            guard let index else { throw missing("index") }
            guard let split else { throw missing("split") }
            guard let prompt else { throw missing("prompt") }
            guard let completion else { throw missing("completion") }
            guard let messages else { throw missing("messages") }
            guard let meta else { throw missing("meta") }
            return ExampleRecord(rowID: rowID, index: index, split: split, prompt: prompt, completion: completion,
                                 row: PlaypenRow(messages: messages, meta: meta))
        } catch let e as RowSyntaxError {
            throw PlaypenError("\(location()): invalid JSON at byte \(e.column): \(e.message)")
        } catch let e as RowSchemaError {
            throw PlaypenError("\(location()): \(e.message)")
        }
    }

    /// Decodes a line as handed out by `JSONLinesReader.nextLine()`.
    public static func decode(_ line: UnsafeRawBufferPointer, location: @autoclosure () -> String) throws -> ExampleRecord {
        try decode(line.assumingMemoryBound(to: UInt8.self), location: location())
    }

    /// Every record of a pp-filter output file (`-` = stdin; zstd detected), in order.
    public static func readAll(path: String) throws -> [ExampleRecord] {
        let reader = try JSONLinesReader(path: path)
        var records: [ExampleRecord] = []
        while let line = try reader.nextLine() {
            records.append(try decode(line, location: "\(reader.name):\(reader.lineNumber)"))
        }
        return records
    }
}
