import Foundation
import PlaypenData
import PlaypenIO

/// One evaluation record (a pp-filter example: row_id, index, split, prompt, completion,
/// messages, meta).
public struct EvalExample: Sendable {
    /// `row_id` as it appears in the record (string or integer).
    public var rowId: JSONValue
    /// The record's `index`, else its 0-based position in the file.
    public var index: Int
    public var prompt: String
    public var completion: String
    public var row: PlaypenRow
}

public enum EvalData {
    /// Reads pp-filter example records (JSON Lines, plain or zstd, `-` = stdin); with `split`,
    /// only records whose `split` equals it. Errors name the file and line.
    public static func load(path: String, split: String? = nil) throws -> [EvalExample] {
        let reader = try JSONLinesReader(path: path)
        var out: [EvalExample] = []
        var position = 0
        while let line = try reader.nextLine() {
            defer { position += 1 }
            let location = "\(reader.name):\(reader.lineNumber)"
            let value: JSONValue
            do { value = try JSONValue.parse(line) } catch { throw PlaypenError("\(location): \(error)") }
            guard value.object != nil else { throw PlaypenError("\(location): expected a JSON object (a pp-filter example record)") }
            if let split {
                guard let s = value["split"]?.string else {
                    throw PlaypenError("\(location): --split \(split) given but the record has no string \"split\"")
                }
                if s != split { continue }
            }
            guard let prompt = value["prompt"]?.string, let completion = value["completion"]?.string else {
                throw PlaypenError("\(location): expected string \"prompt\" and \"completion\" (pp-filter example records)")
            }
            guard value["messages"] != nil, value["meta"] != nil else {
                throw PlaypenError("\(location): expected \"messages\" and \"meta\" (pp-filter example records)")
            }
            let row = try line.withMemoryRebound(to: UInt8.self) { try PlaypenRow.decode($0, location: location) }
            let rowId: JSONValue
            switch value["row_id"] {
            case .string(let s)?: rowId = .string(s)
            case .int(let i)?: rowId = .int(i)
            case nil, .null?: rowId = .int(position)
            case let other?: throw PlaypenError("\(location): \"row_id\" must be a string or an integer, found \(other.kindName)")
            }
            out.append(EvalExample(rowId: rowId, index: value["index"]?.int ?? position, prompt: prompt,
                                   completion: completion, row: row))
        }
        return out
    }
}

/// Target words by (experiment, task_id).
public struct TargetTable: Sendable {
    public private(set) var instances: [String: TabooInstance] = [:]
    public let source: String

    static func key(_ experiment: String, _ taskID: Int) -> String { "\(experiment)#\(taskID)" }

    public init(_ list: [TabooInstance], source: String) {
        self.source = source
        for i in list { instances[TargetTable.key(i.experiment, i.taskID)] = i }
    }

    /// The 60 clembench v2.0 taboo instances built into PlaypenData (checked against
    /// taboo_instances_v2.0.json by its tests).
    public static let v2 = TargetTable(TabooInstance.v2, source: "clembench v2.0 taboo instances (built in)")

    /// A clembench `instances.json`: {"experiments": [{"name", "game_instances": [{"game_id",
    /// "target_word", "related_word"}]}]}. Experiment names may carry a numeric prefix ("0_high_en").
    public static func load(path: String) throws -> TargetTable {
        guard let data = FileManager.default.contents(atPath: path) else { throw PlaypenError("\(path): cannot read") }
        let value: JSONValue
        do { value = try JSONValue.parse(data) } catch { throw PlaypenError("\(path): \(error)") }
        guard let experiments = value["experiments"]?.array else {
            throw PlaypenError("\(path): expected {\"experiments\": [...]} (a clembench instances.json)")
        }
        var list: [TabooInstance] = []
        for (e, experiment) in experiments.enumerated() {
            guard var name = experiment["name"]?.string, let games = experiment["game_instances"]?.array else {
                throw PlaypenError("\(path): experiments[\(e)] needs \"name\" and \"game_instances\"")
            }
            if let underscore = name.firstIndex(of: "_"), Int(name[..<underscore]) != nil {
                name = String(name[name.index(after: underscore)...])
            }
            for (g, game) in games.enumerated() {
                guard let id = game["game_id"]?.int, let target = game["target_word"]?.string else {
                    throw PlaypenError("\(path): experiments[\(e)].game_instances[\(g)] needs integer \"game_id\" and string \"target_word\"")
                }
                let related = game["related_word"]?.array?.compactMap(\.string) ?? []
                list.append(TabooInstance(experiment: name, taskID: id, target: target, related: related))
            }
        }
        return TargetTable(list, source: path)
    }

    public func instance(experiment: String, taskID: Int) -> TabooInstance? {
        instances[TargetTable.key(experiment, taskID)]
    }

    /// The target of an example, or an error naming the row.
    public func target(for example: EvalExample, file: String) throws -> TabooInstance {
        let m = example.row.meta
        guard let i = instance(experiment: m.experiment, taskID: m.taskID) else {
            throw PlaypenError("\(file): record \(example.index) (row_id \(example.rowId.serialized())): no taboo instance for experiment \"\(m.experiment)\" task_id \(m.taskID) in \(source) (pass --instances)")
        }
        return i
    }
}
