import Foundation
import PlaypenIO

/// A JSON Schema (2020-12) validator for the subset our schemas use: type (incl. arrays of
/// types), const, enum, required, properties, additionalProperties (bool), items, minItems,
/// maxItems, minimum, maximum, exclusiveMinimum, exclusiveMaximum, minLength, $ref to #/$defs.
/// Returns the list of violations with their JSON paths.
struct SchemaValidator {
    let root: JSONValue

    func validate(_ value: JSONValue) -> [String] {
        var errors = [String]()
        check(value, root, "$", &errors)
        return errors
    }

    private func resolve(_ schema: JSONValue) -> JSONValue {
        guard let ref = schema["$ref"]?.string else { return schema }
        precondition(ref.hasPrefix("#/$defs/"), "unsupported $ref \(ref)")
        return root["$defs"]![String(ref.dropFirst(8))]!
    }

    private func typeMatches(_ value: JSONValue, _ type: String) -> Bool {
        switch (type, value) {
        case ("object", .object), ("array", .array), ("string", .string), ("boolean", .bool), ("null", .null): return true
        case ("number", .int), ("number", .double), ("integer", .int): return true
        case ("integer", .double(let d)): return d.rounded() == d
        default: return false
        }
    }

    private func check(_ value: JSONValue, _ rawSchema: JSONValue, _ path: String, _ errors: inout [String]) {
        var schema = rawSchema
        if schema["$ref"] != nil {
            check(value, resolve(schema), path, &errors)
            var rest = JSONObject()
            for (k, v) in schema.object!.pairs where k != "$ref" { rest = JSONObject(Array(rest.pairs) + [(k, v)]) }
            schema = .object(rest)
        }
        if let type = schema["type"] {
            let types = type.array?.compactMap(\.string) ?? [type.string!]
            if !types.contains(where: { typeMatches(value, $0) }) {
                errors.append("\(path): expected \(types.joined(separator: "|")), got \(value.kindName)")
                return
            }
        }
        if let c = schema["const"], c != value { errors.append("\(path): expected const \(c.serialized())") }
        if let e = schema["enum"]?.array, !e.contains(value) { errors.append("\(path): \(value.serialized()) not in enum") }
        if let number = value.double, value.bool == nil, value.string == nil {
            if let m = schema["minimum"]?.double, number < m { errors.append("\(path): \(number) < minimum \(m)") }
            if let m = schema["maximum"]?.double, number > m { errors.append("\(path): \(number) > maximum \(m)") }
            if let m = schema["exclusiveMinimum"]?.double, number <= m { errors.append("\(path): \(number) <= exclusiveMinimum \(m)") }
            if let m = schema["exclusiveMaximum"]?.double, number >= m { errors.append("\(path): \(number) >= exclusiveMaximum \(m)") }
        }
        if let s = value.string, let m = schema["minLength"]?.int, s.count < m { errors.append("\(path): shorter than \(m)") }
        if let object = value.object {
            for key in schema["required"]?.array?.compactMap(\.string) ?? [] where object[key] == nil {
                errors.append("\(path): missing required '\(key)'")
            }
            let properties = schema["properties"]?.object
            for (key, child) in object.pairs {
                if let sub = properties?[key] {
                    check(child, sub, path + "." + key, &errors)
                } else if schema["additionalProperties"]?.bool == false {
                    errors.append("\(path): unexpected property '\(key)'")
                }
            }
        }
        if let array = value.array {
            if let m = schema["minItems"]?.int, array.count < m { errors.append("\(path): fewer than \(m) items") }
            if let m = schema["maxItems"]?.int, array.count > m { errors.append("\(path): more than \(m) items") }
            if let items = schema["items"] {
                for (i, element) in array.enumerated() { check(element, items, "\(path)[\(i)]", &errors) }
            }
        }
    }
}
