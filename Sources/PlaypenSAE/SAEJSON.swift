import Foundation

/// A JSON value written deterministically: keys in insertion order, doubles in Swift's shortest
/// round-trip form, non-finite numbers as null.
indirect enum SAEJSON: Sendable, Equatable {
    case null
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([SAEJSON])
    case object([(String, SAEJSON)])

    static func == (a: SAEJSON, b: SAEJSON) -> Bool { a.text() == b.text() }

    func text(indent: Int? = nil, level: Int = 0) -> String {
        switch self {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .int(let i): return String(i)
        case .double(let d):
            guard d.isFinite else { return "null" }
            if d == d.rounded(), abs(d) < 1e15 { return String(Int(d)) + ".0" }
            return "\(d)"
        case .string(let s): return jsonString(s)
        case .array(let items):
            if items.isEmpty { return "[]" }
            guard let indent else { return "[" + items.map { $0.text() }.joined(separator: ",") + "]" }
            let pad = String(repeating: " ", count: indent * (level + 1))
            return "[\n" + items.map { pad + $0.text(indent: indent, level: level + 1) }.joined(separator: ",\n")
                + "\n" + String(repeating: " ", count: indent * level) + "]"
        case .object(let pairs):
            if pairs.isEmpty { return "{}" }
            guard let indent else { return "{" + pairs.map { jsonString($0.0) + ":" + $0.1.text() }.joined(separator: ",") + "}" }
            let pad = String(repeating: " ", count: indent * (level + 1))
            return "{\n" + pairs.map { pad + jsonString($0.0) + ": " + $0.1.text(indent: indent, level: level + 1) }.joined(separator: ",\n")
                + "\n" + String(repeating: " ", count: indent * level) + "}"
        }
    }
}
