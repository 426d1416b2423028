import Foundation
import PlaypenIO

public enum PlaypenVersion {
    public static let string = "0.1.0"

    /// `git describe --always --dirty --abbrev=40` of the checkout the executable was built in
    /// (found from the executable's own path), or PP_GIT_SHA when set; nil when unavailable.
    public static let gitSHA: String? = {
        if let sha = ProcessInfo.processInfo.environment["PP_GIT_SHA"], !sha.isEmpty { return sha }
        let executable = URL(fileURLWithPath: CommandLine.arguments.first ?? ".").resolvingSymlinksInPath()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["git", "-C", executable.deletingLastPathComponent().path, "describe", "--always", "--dirty", "--abbrev=40"]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        do { try process.run() } catch { return nil }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { return nil }
        let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? nil : text
    }()
}

/// What produced an artifact, written next to it as `<artifact>.manifest.json`:
/// tool, version, git SHA, argv, effective config, seed, inputs with sha256, wall time, and any
/// tool-specific results (counts, metrics) under `results`.
public struct Manifest {
    public var tool: String
    public var version = PlaypenVersion.string
    public var gitSHA: String? = PlaypenVersion.gitSHA
    public var argv: [String]
    /// Effective flag values (long names as keys): usable again as `--config`.
    public var config: JSONObject
    public var seed: UInt64?
    public var inputs: [(path: String, sha256: String?, bytes: Int?)] = []
    public var startedAt: Date
    public var wallSeconds: Double?
    public var results = JSONObject()

    public init(tool: String, argv: [String], config: JSONObject, seed: UInt64?, startedAt: Date = Date()) {
        self.tool = tool
        self.argv = argv
        self.config = config
        self.seed = seed
        self.startedAt = startedAt
    }

    /// Records an input with its sha256 (stdin is recorded without one). A directory (a model or
    /// adapter folder) gets a tree hash: the sha256 of `sha256sum`'s listing of its regular files
    /// in byte order of their relative paths, i.e.
    /// `cd DIR && find . -type f -printf '%P\n' | LC_ALL=C sort | xargs -d '\n' sha256sum | sha256sum`.
    public mutating func addInput(_ path: String) throws {
        if path == "-" {
            inputs.append((path: "-", sha256: nil, bytes: nil))
            return
        }
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            let (hash, bytes) = try Manifest.treeHash(path)
            inputs.append((path: path, sha256: hash, bytes: bytes))
            return
        }
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? nil
        inputs.append((path: path, sha256: try SHA256.hash(path: path), bytes: size))
    }

    /// The tree hash of a directory (see `addInput`) and the total size of its files.
    public static func treeHash(_ directory: String) throws -> (String, Int) {
        guard let walker = FileManager.default.enumerator(atPath: directory) else {
            throw PlaypenError("\(directory): cannot list directory")
        }
        var files: [String] = []
        while let relative = walker.nextObject() as? String {
            var isDirectory: ObjCBool = false
            let full = directory + "/" + relative
            if FileManager.default.fileExists(atPath: full, isDirectory: &isDirectory), !isDirectory.boolValue {
                files.append(relative)
            }
        }
        files.sort { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        var listing = ""
        var total = 0
        for relative in files {
            let full = directory + "/" + relative
            listing += try SHA256.hash(path: full) + "  " + relative + "\n"
            total += (try? FileManager.default.attributesOfItem(atPath: full)[.size] as? Int) ?? 0
        }
        return (SHA256.hash(Array(listing.utf8)), total)
    }

    public var json: JSONValue {
        var o = JSONObject()
        o["tool"] = .string(tool)
        o["version"] = .string(version)
        o["git_sha"] = gitSHA.map { .string($0) } ?? .null
        o["argv"] = .array(argv.map { .string($0) })
        o["config"] = .object(config)
        o["seed"] = seed.map { .int(Int(truncatingIfNeeded: $0)) } ?? .null
        o["inputs"] = .array(inputs.map { input in
            ["path": .string(input.path), "sha256": input.sha256.map { .string($0) } ?? .null,
             "bytes": input.bytes.map { .int($0) } ?? .null]
        })
        let formatter = ISO8601DateFormatter()
        o["started_at"] = .string(formatter.string(from: startedAt))
        o["wall_seconds"] = .double(((wallSeconds ?? Date().timeIntervalSince(startedAt)) * 1000).rounded() / 1000)
        o["results"] = .object(results)
        return .object(o)
    }

    /// The manifest path for an artifact (a file or a directory).
    public static func path(for artifact: String) -> String {
        var a = artifact
        while a.count > 1 && a.hasSuffix("/") { a.removeLast() }
        return a + ".manifest.json"
    }

    /// Writes `<artifact>.manifest.json` atomically; for stdout (`-`) nothing is written.
    /// Sets `wallSeconds` from `startedAt` when not set.
    @discardableResult
    public func write(for artifact: String) throws -> String? {
        guard artifact != "-" else { return nil }
        let path = Manifest.path(for: artifact)
        let out = try OutputFile(path: path, compressed: false)
        var bytes: [UInt8] = []
        json.write(to: &bytes, options: JSONWriteOptions(sortedKeys: false, spaced: true))
        bytes.append(0x0A)
        try out.write(bytes)
        try out.commit()
        return path
    }
}
