import Foundation
import Testing
@testable import PlaypenTrain

/// pp-train killed with SIGKILL mid-run and started again ends with the same adapter bytes as an
/// uninterrupted run (tiny Gemma-3 fixture, dropout on, checkpoint every step).
@Suite struct ResumeCLITests {
    @Test func sigkillThenResumeGivesTheSameAdapterBytes() throws {
        let bin = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
            .appendingPathComponent("pp-train").path
        guard FileManager.default.isExecutableFile(atPath: bin) else {
            if ProcessInfo.processInfo.environment["CI"] != nil { Issue.record("pp-train not built at \(bin)") }
            else { print("skipping: pp-train not built at \(bin) (swift build -c release first)") }
            return
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("resume-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let golden = try JSONDecoder().decode(TinyGolden.self, from: Data(contentsOf: trainFixtures.appendingPathComponent("tiny-train-golden.json")))
        var lines = ""
        for r in golden.rows {
            lines += "{\"row_id\":\"\(r.row_id)\",\"input_ids\":\(r.input_ids),\"completion_start\":\(r.completion_start)}\n"
        }
        try lines.write(toFile: dir + "/rows.jsonl", atomically: true, encoding: .utf8)
        let model = trainFixtures.deletingLastPathComponent().appendingPathComponent("tiny-gemma3").path
        func args(_ out: String) -> [String] {
            ["--model", model, "--train", dir + "/rows.jsonl", "--epochs", "60", "--batch-size", "2", "--grad-accum", "2",
             "--rank", "4", "--dropout", "0.1", "--lr", "1e-3", "--seed", "7", "--checkpoint-every", "1",
             "--threads", "1", "--quiet", "-o", out]
        }
        func launch(_ a: [String]) throws -> Process {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: bin)
            p.arguments = a
            try p.run()
            return p
        }
        let straight = try launch(args(dir + "/a"))
        straight.waitUntilExit()
        #expect(straight.terminationStatus == 0)

        let killed = try launch(args(dir + "/b"))
        let log = dir + "/b.state/steps.jsonl"
        var steps = 0
        for _ in 0..<20_000 {
            if let text = try? String(contentsOfFile: log, encoding: .utf8) { steps = text.split(separator: "\n").count }
            if steps >= 20 { break }
            usleep(1_000)
        }
        kill(killed.processIdentifier, SIGKILL)
        killed.waitUntilExit()
        #expect(killed.terminationReason == .uncaughtSignal, "the run finished before it could be killed")
        #expect(!FileManager.default.fileExists(atPath: dir + "/b/adapter_model.safetensors"))

        let resumed = try launch(args(dir + "/b"))
        resumed.waitUntilExit()
        #expect(resumed.terminationStatus == 0)
        let a = FileManager.default.contents(atPath: dir + "/a/adapter_model.safetensors")
        let b = FileManager.default.contents(atPath: dir + "/b/adapter_model.safetensors")
        #expect(a != nil && a == b)
        let logLines = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n")
        #expect(logLines.count == 180)  // one line per step: 60 epochs × 3 steps
    }
}
