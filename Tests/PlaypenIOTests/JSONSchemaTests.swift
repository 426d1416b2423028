import Foundation
import Testing
@testable import PlaypenIO

@Suite struct JSONSchemaTests {
    let schema: JSONValue = [
        "$defs": ["id": ["type": "string", "pattern": "^[0-9a-f]{4}$"]],
        "type": "object",
        "required": ["id", "n", "tags"],
        "additionalProperties": false,
        "properties": [
            "id": ["$ref": "#/$defs/id"],
            "n": ["type": "integer", "minimum": 0, "exclusiveMaximum": 10],
            "x": ["type": ["number", "null"]],
            "tags": ["type": "array", "minItems": 1, "maxItems": 3, "items": ["type": "string", "minLength": 1, "maxLength": 4]],
            "kind": ["enum": ["a", "b", 3]],
            "flag": ["const": true],
            "meta": ["type": "object", "additionalProperties": ["type": "integer"]],
            "alt": ["anyOf": [["type": "string"], ["type": "integer"]]],
            "one": ["oneOf": [["type": "integer"], ["type": "number", "minimum": 5]]],
            "both": ["allOf": [["type": "integer"], ["maximum": 2]]],
        ],
    ]

    /// Our verdict on each instance equals the reference validator's (python jsonschema, Draft 2020-12).
    @Test func agreesWithPythonJsonschema() throws {
        let instances: [JSONValue] = [
            ["id": "00af", "n": 3, "tags": ["a"]],
            ["id": "00af", "n": 3.0, "tags": ["a"], "x": nil, "kind": 3, "flag": true, "meta": ["k": 1], "alt": "s", "one": 1, "both": 2],
            ["id": "00AF", "n": 3, "tags": ["a"]],
            ["id": "00af", "n": 10, "tags": ["a"]],
            ["id": "00af", "n": -1, "tags": ["a"]],
            ["id": "00af", "n": 1.5, "tags": ["a"]],
            ["id": "00af", "tags": ["a"]],
            ["id": "00af", "n": 1, "tags": []],
            ["id": "00af", "n": 1, "tags": ["a", "b", "c", "d"]],
            ["id": "00af", "n": 1, "tags": [""]],
            ["id": "00af", "n": 1, "tags": ["abcde"]],
            ["id": "00af", "n": 1, "tags": ["a"], "extra": 1],
            ["id": "00af", "n": 1, "tags": ["a"], "kind": "c"],
            ["id": "00af", "n": 1, "tags": ["a"], "flag": false],
            ["id": "00af", "n": 1, "tags": ["a"], "meta": ["k": "v"]],
            ["id": "00af", "n": 1, "tags": ["a"], "alt": 1.5],
            ["id": "00af", "n": 1, "tags": ["a"], "one": 7],
            ["id": "00af", "n": 1, "tags": ["a"], "one": 7.5],
            ["id": "00af", "n": 1, "tags": ["a"], "both": 3],
            ["id": "00af", "n": 1, "tags": ["a"], "x": "no"],
            ["id": "00af", "n": true, "tags": ["a"]],
            ["id": "00af", "n": 1, "tags": ["é"]],
            [1, 2],
        ]
        let script = """
            import json, sys, jsonschema
            schema = json.loads(sys.argv[1])
            for line in sys.stdin:
                print(json.dumps(jsonschema.Draft202012Validator(schema).is_valid(json.loads(line))))
            """
        let input = instances.map { $0.serialized() }.joined(separator: "\n") + "\n"
        let (status, out, err) = try runProcess(["python3", "-c", script, schema.serialized()], stdin: Data(input.utf8))
        if status != 0, err.contains("No module named 'jsonschema'") {
            // CI installs python3-jsonschema; elsewhere the reference may be absent.
            if ProcessInfo.processInfo.environment["CI"] != nil { Issue.record("python3-jsonschema missing") }
            return
        }
        #expect(status == 0, "\(err)")
        let verdicts = String(decoding: out, as: UTF8.self).split(separator: "\n").map { $0 == "true" }
        #expect(verdicts.count == instances.count)
        let validator = try JSONSchema(schema)
        for (instance, expected) in zip(instances, verdicts) {
            let problems = validator.violations(of: instance)
            #expect(problems.isEmpty == expected, "\(instance.serialized()): \(problems)")
        }
        #expect(verdicts.filter { $0 }.count == 4) // the first two, and "é" (one character), and 7.5 matching only the second oneOf branch
    }

    @Test func messagesNameThePathAndUnknownKeywordsAreRejected() throws {
        let validator = try JSONSchema(schema, name: "t.schema.json")
        expectPlaypenError(["rows.jsonl:7", "t.schema.json", "$.tags[1]", "longer than 4"]) {
            try validator.validate(["id": "00af", "n": 1, "tags": ["a", "abcdef"]], context: "rows.jsonl:7")
        }
        expectPlaypenError(["unsupported schema keyword \"format\""]) { _ = try JSONSchema(["type": "string", "format": "date"]) }
    }

    @Test func schemasInTheRepositoryAreSupported() throws {
        let dir = repoRoot + "/schemas"
        let names = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".schema.json") }
        #expect(!names.isEmpty)
        for name in names { _ = try JSONSchema(path: dir + "/" + name) }
    }
}
