import Foundation

/// A validator for the subset of JSON Schema (draft 2020-12) that `schemas/*.schema.json` use:
/// type (one or a list), enum, const, required, properties, additionalProperties (bool or schema),
/// items, minItems, maxItems, minLength, maxLength, pattern, minimum, maximum,
/// exclusiveMinimum, exclusiveMaximum, anyOf, oneOf, allOf, and local `$ref` to `#/$defs/...`.
/// Annotations (title, description, $id, $schema) are ignored; any other keyword is an error, so
/// a schema never silently checks less than it says.
public struct JSONSchema {
    public let root: JSONValue
    public let name: String

    static let annotations: Set<String> = ["$schema", "$id", "title", "description", "$comment", "examples", "default", "$defs", "definitions"]
    static let keywords: Set<String> = ["type", "enum", "const", "required", "properties", "additionalProperties", "items",
                                        "minItems", "maxItems", "minLength", "maxLength", "pattern", "minimum", "maximum",
                                        "exclusiveMinimum", "exclusiveMaximum", "anyOf", "oneOf", "allOf", "$ref"]

    public init(_ schema: JSONValue, name: String = "schema") throws {
        root = schema
        self.name = name
        try JSONSchema.checkKeywords(schema, at: "#", name: name)
    }

    public init(path: String) throws {
        let data = try FileDescriptorSource(path: path).readAll()
        do {
            try self.init(try JSONValue.parse(data), name: path)
        } catch let error as JSONSyntaxError {
            throw PlaypenError("\(path): \(error.description)")
        }
    }

    static func checkKeywords(_ schema: JSONValue, at path: String, name: String) throws {
        if schema.bool != nil { return }
        guard let object = schema.object else { throw PlaypenError("\(name): schema at \(path) is a \(schema.kindName)") }
        for (key, value) in object.pairs {
            if annotations.contains(key) {
                if key == "$defs" || key == "definitions", let defs = value.object {
                    for (k, v) in defs.pairs { try checkKeywords(v, at: "\(path)/\(key)/\(k)", name: name) }
                }
                continue
            }
            guard keywords.contains(key) else { throw PlaypenError("\(name): unsupported schema keyword \"\(key)\" at \(path)") }
            switch key {
            case "properties":
                for (k, v) in value.object?.pairs ?? JSONObject().pairs { try checkKeywords(v, at: "\(path)/properties/\(k)", name: name) }
            case "items", "additionalProperties":
                try checkKeywords(value, at: "\(path)/\(key)", name: name)
            case "anyOf", "oneOf", "allOf":
                for (k, v) in (value.array ?? []).enumerated() { try checkKeywords(v, at: "\(path)/\(key)/\(k)", name: name) }
            default: break
            }
        }
    }

    /// Every violation, each as "<json path>: <what>" (empty when the value is valid).
    public func violations(of value: JSONValue) -> [String] {
        var out: [String] = []
        check(value, root, "$", &out)
        return out
    }

    /// Throws a PlaypenError naming `context` (e.g. "file:line") and the first violation.
    public func validate(_ value: JSONValue, context: String) throws {
        let problems = violations(of: value)
        if let first = problems.first {
            throw PlaypenError("\(context): does not match \(name): \(first)\(problems.count > 1 ? " (and \(problems.count - 1) more)" : "")")
        }
    }

    private func resolve(_ ref: String) -> JSONValue? {
        guard ref.hasPrefix("#/") else { return nil }
        var node: JSONValue? = root
        for part in ref.dropFirst(2).split(separator: "/") { node = node?[String(part)] }
        return node
    }

    private func typeMatches(_ value: JSONValue, _ type: String) -> Bool {
        switch type {
        case "null": return value.isNull
        case "boolean": return value.bool != nil
        case "integer":
            if case .int = value { return true }
            if case .double(let d) = value { return d.rounded() == d }
            return false
        case "number": return value.double != nil
        case "string": return value.string != nil
        case "array": return value.array != nil
        case "object": return value.object != nil
        default: return false
        }
    }

    private func check(_ value: JSONValue, _ schema: JSONValue, _ path: String, _ out: inout [String]) {
        if let b = schema.bool {
            if !b { out.append("\(path): no value is allowed here") }
            return
        }
        guard let s = schema.object else { return }
        if let ref = s["$ref"]?.string {
            if let target = resolve(ref) { check(value, target, path, &out) } else { out.append("\(path): unresolvable $ref \(ref)") }
        }
        if let type = s["type"] {
            let types = type.array?.compactMap(\.string) ?? [type.string ?? ""]
            if !types.contains(where: { typeMatches(value, $0) }) {
                out.append("\(path): expected \(types.joined(separator: " or ")), found \(value.kindName)")
                return
            }
        }
        if let options = s["enum"]?.array, !options.contains(where: { equal($0, value) }) {
            out.append("\(path): \(value.serialized()) is not one of \(JSONValue.array(options).serialized())")
        }
        if let constant = s["const"], !equal(constant, value) {
            out.append("\(path): expected \(constant.serialized()), found \(value.serialized())")
        }
        if let x = value.double, value.bool == nil {
            if let m = s["minimum"]?.double, x < m { out.append("\(path): \(value.serialized()) is below the minimum \(m)") }
            if let m = s["maximum"]?.double, x > m { out.append("\(path): \(value.serialized()) is above the maximum \(m)") }
            if let m = s["exclusiveMinimum"]?.double, x <= m { out.append("\(path): \(value.serialized()) is not above \(m)") }
            if let m = s["exclusiveMaximum"]?.double, x >= m { out.append("\(path): \(value.serialized()) is not below \(m)") }
        }
        if let text = value.string {
            let length = text.unicodeScalars.count
            if let m = s["minLength"]?.int, length < m { out.append("\(path): string shorter than \(m)") }
            if let m = s["maxLength"]?.int, length > m { out.append("\(path): string longer than \(m)") }
            if let pattern = s["pattern"]?.string {
                if text.range(of: pattern, options: .regularExpression) == nil {
                    out.append("\(path): \(value.serialized()) does not match the pattern \(pattern)")
                }
            }
        }
        if let array = value.array {
            if let m = s["minItems"]?.int, array.count < m { out.append("\(path): fewer than \(m) items") }
            if let m = s["maxItems"]?.int, array.count > m { out.append("\(path): more than \(m) items") }
            if let items = s["items"] {
                for (k, element) in array.enumerated() { check(element, items, "\(path)[\(k)]", &out) }
            }
        }
        if let object = value.object {
            for key in s["required"]?.array?.compactMap(\.string) ?? [] where object[key] == nil {
                out.append("\(path): missing required key \"\(key)\"")
            }
            let properties = s["properties"]?.object ?? JSONObject()
            for (key, member) in object.pairs {
                if let sub = properties[key] {
                    check(member, sub, "\(path).\(key)", &out)
                } else if let extra = s["additionalProperties"] {
                    if extra.bool == false { out.append("\(path): unexpected key \"\(key)\"") } else { check(member, extra, "\(path).\(key)", &out) }
                }
            }
        }
        if let all = s["allOf"]?.array { for sub in all { check(value, sub, path, &out) } }
        if let any = s["anyOf"]?.array, !any.contains(where: { violations(value, $0, path).isEmpty }) {
            out.append("\(path): matches none of anyOf")
        }
        if let one = s["oneOf"]?.array {
            let matching = one.filter { violations(value, $0, path).isEmpty }.count
            if matching != 1 { out.append("\(path): matches \(matching) of oneOf, expected exactly 1") }
        }
    }

    private func violations(_ value: JSONValue, _ schema: JSONValue, _ path: String) -> [String] {
        var out: [String] = []
        check(value, schema, path, &out)
        return out
    }

    /// JSON equality with 1 == 1.0.
    private func equal(_ a: JSONValue, _ b: JSONValue) -> Bool {
        if let x = a.double, let y = b.double, a.bool == nil, b.bool == nil { return x == y }
        return a == b
    }
}
