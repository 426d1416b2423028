import Foundation
import PlaypenIO
import Testing
@testable import PlaypenStats

/// The built pp-contrast next to the test bundle (the test target depends on it).
func ppContrastBinary() -> String? {
    var candidates = [URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent(), Bundle.main.bundleURL]
    candidates += [Bundle.main.bundleURL.deletingLastPathComponent()]
    for dir in candidates {
        let path = dir.appendingPathComponent("pp-contrast").path
        if FileManager.default.isExecutableFile(atPath: path) { return path }
    }
    return nil
}

func runProcess(_ executable: String, _ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
}

/// Chromium (Debian's `chromium`) for rendering the HTML report; nil when absent.
func chromiumBinary() -> String? {
    for path in ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"]
    where FileManager.default.isExecutableFile(atPath: path) { return path }
    return nil
}

@Suite struct ContrastCLITests {
    @Test func writesReportHTMLAndManifest() throws {
        let binary = try #require(ppContrastBinary(), "pp-contrast binary not found next to the tests")
        let dir = try e2eCopy()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let args = ["--scores", dir + "/scores.jsonl", "--sae", dir + "/layer_3", "--sae", "L5=" + dir + "/layer_5",
                    "--top-k", "20", "--residualize", "seq_len", "--test-fraction", "0.25", "--seed", "42",
                    "--bootstrap", "100", "--permutations", "100", "--quiet", "-o", dir + "/report.json", "--html", dir + "/report.html"]
        let run = try runProcess(binary, args)
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stderr.isEmpty)
        let report = try JSONValue.parse(try Data(contentsOf: URL(fileURLWithPath: dir + "/report.json")))
        #expect(report["layers"]?[1]?["name"]?.string == "L5")
        #expect(report["config"]?["seed"]?.int == 42)
        let manifest = try JSONValue.parse(try Data(contentsOf: URL(fileURLWithPath: dir + "/report.json.manifest.json")))
        #expect(manifest["tool"]?.string == "pp-contrast")
        #expect(manifest["inputs"]?[0]?["sha256"]?.string?.count == 64)
        #expect(FileManager.default.fileExists(atPath: dir + "/report.html.manifest.json"))
        // A config file gives the same report; the command line overrides it.
        let config = "{\"top-k\": 20, \"residualize\": \"seq_len\", \"test-fraction\": 0.25, \"seed\": 42, \"bootstrap\": 100, \"permutations\": 100}"
        try config.write(toFile: dir + "/config.json", atomically: true, encoding: .utf8)
        let viaConfig = try runProcess(binary, ["--config", dir + "/config.json", "--scores", dir + "/scores.jsonl",
                                                "--sae", dir + "/layer_3", "--sae", "L5=" + dir + "/layer_5", "--quiet", "-o", "-"])
        #expect(viaConfig.status == 0, "\(viaConfig.stderr)")
        #expect(try JSONValue.parse(viaConfig.stdout) == report)
    }

    /// Bad input: one line on stderr, exit status 1, and nothing written under the output names.
    @Test func badInputExitsWithoutWriting() throws {
        let binary = try #require(ppContrastBinary(), "pp-contrast binary not found next to the tests")
        let dir = try e2eCopy()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for (extra, words) in [(["--top-k", "161"], ["larger than the number of rows 160"]),
                               (["--top-k", "160"], ["only one class"])] {
            let run = try runProcess(binary, ["--scores", dir + "/scores.jsonl", "--sae", dir + "/layer_3", "-o", dir + "/r.json",
                                              "--html", dir + "/r.html", "--quiet"] + extra)
            #expect(run.status == 1)
            #expect(run.stderr.hasPrefix("error: ") && run.stderr.split(separator: "\n").count == 1, "\(run.stderr)")
            for w in words { #expect(run.stderr.contains(w), "\(run.stderr)") }
            let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasPrefix("r.") || $0.hasPrefix(".r.") }
            #expect(leftovers.isEmpty, "\(leftovers)")
        }
        let usage = try runProcess(binary, ["--scores", dir + "/scores.jsonl", "--sae", dir + "/layer_3", "--top-k", "5", "--quantile", "0.5"])
        #expect(usage.status != 0 && usage.stderr.contains("exactly one of --top-k and --quantile"))
    }

    /// The HTML opens in headless Chromium with its plots: the ROC and distribution charts, one
    /// volcano per layer, the layer table, labelled features, and no external resources.
    @Test func htmlRendersInChromium() throws {
        let dir = try e2eCopy()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let result = try runContrast(e2eOptions(dir))
        let html = result.reportHTML()
        let stripped = html.replacingOccurrences(of: "xmlns=\"http://www.w3.org/2000/svg\"", with: "")
        #expect(!stripped.contains("http") && !html.contains("<script") && !html.contains("<link") && !html.contains("<img"))
        let path = dir + "/report.html"
        try html.write(toFile: path, atomically: true, encoding: .utf8)
        guard let chromium = chromiumBinary() else {
            if ProcessInfo.processInfo.environment["CI"] != nil {
                Issue.record("chromium is not installed (make chromium-deps)")
            } else {
                print("skipping the Chromium render: chromium is not installed (make chromium-deps)")
            }
            return
        }
        let run = try runProcess(chromium, ["--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", "file://" + path])
        #expect(run.status == 0, "\(run.stderr.suffix(500))")
        let dom = run.stdout
        func count(_ needle: String) -> Int { dom.components(separatedBy: needle).count - 1 }
        #expect(count("<svg") == 2 + result.layers.count)
        #expect(count("class=\"roc\"") == 1 && count("class=\"distribution\"") == 1)
        #expect(count("class=\"volcano\"") == result.layers.count)
        #expect(count("<polyline") == result.layers.count + 2)  // one curve per layer, the baseline, the diagonal
        #expect(count("<circle") >= result.layers.map(\.tested.count).reduce(0, +) / 2)
        #expect(count("class=\"feature-label\"") >= 1)
        #expect(count("<table class=\"layers\"") == 1 && dom.contains(result.layers[0].name))
    }
}
