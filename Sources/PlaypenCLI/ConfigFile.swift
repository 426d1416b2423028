import ArgumentParser
import Foundation
import PlaypenIO

/// What the parser knows about one flag or option of a command (from its help description).
public struct ArgumentSpec: Sendable, Equatable {
    public enum Kind: String, Sendable { case positional, option, flag }
    public var kind: Kind
    /// Long names without dashes (first = preferred); for a flag with an inversion, `--no-x` too.
    public var longNames: [String]
    public var shortNames: [Character]
    public var isRepeating: Bool
    public var defaultValue: String?
    /// The key used in config files and manifests: the first long name (or the value name).
    public var key: String
}

/// `--config file.json`: a JSON object whose keys are long flag names (or a manifest, whose
/// effective `config` is used), applied by rewriting
/// argv before parsing. Values: a string or number for an option, an array for a repeatable
/// option or for positionals (key = the argument's value name, e.g. "input"), true/false for a
/// flag. Any flag given on the command line wins over the file, and an unknown key is an error.
public enum ConfigFile {
    /// The flags and options of `command` (of the subcommand that `arguments` selects, if it has
    /// subcommands), from ArgumentParser's own description of it.
    public static func specs<C: ParsableArguments>(of command: C.Type, arguments argv: [String] = []) -> [ArgumentSpec] {
        guard let arguments = commandNode(of: command, arguments: argv).node?["arguments"]?.array else { return [] }
        var specs: [ArgumentSpec] = []
        for argument in arguments {
            guard let kindName = argument["kind"]?.string, let kind = ArgumentSpec.Kind(rawValue: kindName) else { continue }
            let names = argument["names"]?.array ?? []
            let longNames = names.filter { $0["kind"]?.string == "long" }.compactMap { $0["name"]?.string }
            let shortNames = names.filter { $0["kind"]?.string == "short" }.compactMap { $0["name"]?.string?.first }
            if longNames.contains("help") || longNames.contains("version") { continue }
            let key = longNames.first ?? argument["valueName"]?.string ?? "arguments"
            specs.append(ArgumentSpec(kind: kind, longNames: longNames, shortNames: shortNames,
                                      isRepeating: argument["isRepeating"]?.bool ?? false,
                                      defaultValue: argument["defaultValue"]?.string, key: key))
        }
        return specs
    }

    /// The help description of the (sub)command `argv` selects, and how many leading words of
    /// `argv` name subcommands.
    static func commandNode<C: ParsableArguments>(of command: C.Type, arguments argv: [String]) -> (node: JSONValue?, depth: Int) {
        guard let info = try? JSONValue.parse(C._dumpHelp()), var node = info["command"] else { return (nil, 0) }
        var depth = 0
        for word in argv {
            guard let sub = node["subcommands"]?.array?.first(where: { $0["commandName"]?.string == word }) else { break }
            node = sub
            depth += 1
        }
        return (node, depth)
    }

    /// The path given with `--config` (either `--config x` or `--config=x`), if any.
    public static func configPath(in arguments: [String]) -> String? {
        for (i, argument) in arguments.enumerated() {
            if argument == "--" { return nil }
            if argument == "--config", i + 1 < arguments.count { return arguments[i + 1] }
            if argument.hasPrefix("--config=") { return String(argument.dropFirst("--config=".count)) }
        }
        return nil
    }

    /// Reads the JSON object of a config file.
    public static func load(_ path: String) throws -> JSONObject {
        let data = try FileDescriptorSource(path: path).readAll()
        let value: JSONValue
        do {
            value = try JSONValue.parse(data)
        } catch {
            throw PlaypenError("\(path): invalid config: \(error.description)")
        }
        guard let object = value.object else {
            throw PlaypenError("\(path): invalid config: a JSON \(value.kindName), expected an object of flag names")
        }
        // A manifest (<artifact>.manifest.json) works as a config: its effective "config" is used,
        // so `--config out.manifest.json` repeats the run that made `out`.
        if object["tool"]?.string != nil, let config = object["config"]?.object, object["argv"] != nil {
            return config
        }
        return object
    }

    /// argv (without the program name) with the config file's entries added in front of the
    /// command-line flags, skipping every key the command line already sets.
    public static func expand<C: ParsableArguments>(_ arguments: [String], for command: C.Type) throws -> [String] {
        guard let path = configPath(in: arguments) else { return arguments }
        let depth = commandNode(of: command, arguments: arguments).depth
        let expanded = try expand(Array(arguments[depth...]), config: try load(path), path: path,
                                  specs: specs(of: command, arguments: arguments))
        return Array(arguments[..<depth]) + expanded
    }

    public static func expand(_ arguments: [String], config: JSONObject, path: String, specs: [ArgumentSpec]) throws -> [String] {
        let given = Set(givenKeys(arguments, specs: specs))
        var prefix: [String] = []
        var positionals: [String] = []
        for (key, value) in config.pairs {
            guard let spec = specs.first(where: { $0.key == key || $0.longNames.contains(key) }), key != "config" else {
                let known = specs.map(\.key).filter { $0 != "config" }.joined(separator: ", ")
                throw PlaypenError("\(path): unknown config key \"\(key)\" (known: \(known))")
            }
            if given.contains(spec.key) { continue }
            func text(_ v: JSONValue) throws -> String {
                switch v {
                case .string(let s): return s
                case .int(let i): return String(i)
                case .double(let d): return String(d)
                case .bool(let b): return String(b)
                default: throw PlaypenError("\(path): config key \"\(key)\" is a \(v.kindName), expected a string or number")
                }
            }
            switch spec.kind {
            case .flag:
                guard let on = value.bool else {
                    throw PlaypenError("\(path): config key \"\(key)\" is a \(value.kindName), expected true or false")
                }
                if on {
                    prefix.append("--" + (spec.longNames.first(where: { $0 == key }) ?? spec.longNames[0]))
                } else if let inverse = spec.longNames.first(where: { $0 == "no-" + key }) {
                    prefix.append("--" + inverse)
                }
            case .option:
                let values = try (value.array ?? [value]).map(text)
                if values.count > 1 && !spec.isRepeating {
                    throw PlaypenError("\(path): config key \"\(key)\" takes one value, got \(values.count)")
                }
                for v in values { prefix += ["--" + spec.longNames[0], v] }
            case .positional:
                if !given.contains(spec.key) { positionals += try (value.array ?? [value]).map(text) }
            }
        }
        // Config positionals go last (after a terminator so they cannot be mistaken for flags),
        // unless the command line gives positionals itself.
        let hasCommandLinePositionals = given.contains(where: { key in specs.contains { $0.kind == .positional && $0.key == key } })
        var result = prefix + arguments
        if !positionals.isEmpty && !hasCommandLinePositionals {
            if !result.contains("--") { result.append("--") }
            result += positionals
        }
        return result
    }

    /// Keys of the specs that `arguments` sets (positionals under their key).
    static func givenKeys(_ arguments: [String], specs: [ArgumentSpec]) -> [String] {
        var keys: [String] = []
        var i = 0
        var afterTerminator = false
        let positional = specs.first { $0.kind == .positional }
        while i < arguments.count {
            let a = arguments[i]
            i += 1
            if afterTerminator || a == "-" || !a.hasPrefix("-") {
                if let positional { keys.append(positional.key) }
                continue
            }
            if a == "--" {
                afterTerminator = true
                continue
            }
            if a.hasPrefix("--") {
                let name = String(a.dropFirst(2).prefix { $0 != "=" })
                if let spec = specs.first(where: { $0.longNames.contains(name) }) {
                    keys.append(spec.key)
                    if spec.kind == .option && !a.contains("=") { i += 1 }
                }
            } else if let c = a.dropFirst().first, let spec = specs.first(where: { $0.shortNames.contains(c) }) {
                keys.append(spec.key)
                if spec.kind == .option && a.count == 2 { i += 1 }
            }
        }
        return keys
    }

    /// The effective value of every flag and option after expansion: what was given, else the
    /// default. Keys are long names (config-file keys), so this map is itself a valid config.
    public static func effectiveConfig(_ arguments: [String], specs: [ArgumentSpec]) -> JSONObject {
        var given: [String: [String]] = [:]
        var flags: [String: Bool] = [:]
        var positionals: [String] = []
        var i = 0
        var afterTerminator = false
        while i < arguments.count {
            let a = arguments[i]
            i += 1
            if afterTerminator || a == "-" || !a.hasPrefix("-") {
                positionals.append(a)
                continue
            }
            if a == "--" {
                afterTerminator = true
                continue
            }
            var spec: ArgumentSpec?
            var name = ""
            var inline: String?
            if a.hasPrefix("--") {
                name = String(a.dropFirst(2).prefix { $0 != "=" })
                if let eq = a.firstIndex(of: "=") { inline = String(a[a.index(after: eq)...]) }
                spec = specs.first { $0.longNames.contains(name) }
            } else if let c = a.dropFirst().first {
                spec = specs.first { $0.shortNames.contains(c) }
                if a.count > 2 { inline = String(a.dropFirst(2)) }
            }
            guard let spec else { continue }
            switch spec.kind {
            case .flag: flags[spec.key] = !(name.hasPrefix("no-") && spec.longNames.first != name)
            case .option:
                var value = inline
                if value == nil, i < arguments.count {
                    value = arguments[i]
                    i += 1
                }
                given[spec.key, default: []].append(value ?? "")
            case .positional: break
            }
        }
        var config = JSONObject()
        for spec in specs where spec.key != "config" {
            switch spec.kind {
            case .flag:
                config[spec.key] = .bool(flags[spec.key] ?? (spec.defaultValue == "true"))
            case .option:
                if let values = given[spec.key] {
                    config[spec.key] = spec.isRepeating ? .array(values.map { .string($0) }) : .string(values.last!)
                } else if let d = spec.defaultValue {
                    // ArgumentParser describes an array default as its elements joined by ", ".
                    config[spec.key] = spec.isRepeating
                        ? .array(d.isEmpty ? [] : d.components(separatedBy: ", ").map { .string($0) }) : .string(d)
                } else {
                    config[spec.key] = spec.isRepeating ? .array([]) : .null
                }
            case .positional:
                config[spec.key] = spec.isRepeating ? .array(positionals.map { .string($0) }) : (positionals.first.map { .string($0) } ?? .null)
            }
        }
        return config
    }
}
