import Foundation
import Testing
import PlaypenIO

/// A fresh temporary directory, removed by `cleanup()`.
struct TempDir {
    let path: String
    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("pp-test-\(UUID())").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    func file(_ name: String) -> String { path + "/" + name }
    func cleanup() { try? FileManager.default.removeItem(atPath: path) }
    func listing() -> [String] { ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted() }
}

/// Runs a command, returning (exit status, stdout, stderr).
@discardableResult
func runProcess(_ arguments: [String], stdin: Data? = nil) throws -> (Int32, Data, String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    let out = Pipe()
    let errPath = FileManager.default.temporaryDirectory.appendingPathComponent("pp-stderr-\(UUID())").path
    _ = FileManager.default.createFile(atPath: errPath, contents: nil)
    defer { unlink(errPath) }
    let err = FileHandle(forWritingAtPath: errPath)!
    process.standardOutput = out
    process.standardError = err
    let input = Pipe()
    process.standardInput = input
    try process.run()
    if let stdin { input.fileHandleForWriting.write(stdin) }
    try input.fileHandleForWriting.close()
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    try err.close()
    let errData = FileManager.default.contents(atPath: errPath) ?? Data()
    return (process.terminationStatus, outData, String(decoding: errData, as: UTF8.self))
}

/// Expects `body` to throw a PlaypenError whose message contains every fragment.
func expectPlaypenError(_ fragments: [String], sourceLocation: SourceLocation = #_sourceLocation,
                        _ body: () throws -> Void) {
    do {
        try body()
        Issue.record("expected a PlaypenError containing \(fragments)", sourceLocation: sourceLocation)
    } catch let error as PlaypenError {
        for fragment in fragments {
            #expect(error.message.contains(fragment), "\(error.message) lacks \(fragment)", sourceLocation: sourceLocation)
        }
        #expect(!error.message.contains("\n"), "error must be one line", sourceLocation: sourceLocation)
    } catch {
        Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
    }
}

/// Deterministic pseudo-random bytes with some redundancy (so zstd has work to do).
func sampleBytes(_ count: Int, seed: UInt64 = 1) -> [UInt8] {
    var state = seed
    var bytes = [UInt8](repeating: 0, count: count)
    for i in 0..<count {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        bytes[i] = (state >> 60) < 4 ? UInt8(truncatingIfNeeded: state >> 33) : UInt8(ascii: "a") + UInt8(i % 7)
    }
    return bytes
}
