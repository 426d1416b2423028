import Foundation
import PlaypenIO
import Testing
@testable import PlaypenModel

@Suite(.serialized) struct TokenizerTests {
    /// gemma3.md §4.3 (verified against transformers' GGUF tokenizer).
    @Test func documentedGoldenCases() throws {
        guard let tok = try Fixtures.realModel()?.tokenizer else { return }
        let cases: [(String, [Int])] = [
            ("Hello world", [9259, 1902]), (" Hello world", [26352, 1902]), ("Hello  world", [9259, 138, 12392]),
            ("a   b    c", [236746, 139, 236763, 140, 236755]), ("  leading two spaces", [138, 26016, 1156, 9952]),
            ("trailing space ", [136697, 2557, 236743]),
            ("line1\nline2\n\nline3\n\n\n", [1257, 236770, 107, 1257, 236778, 108, 1257, 236800, 109]),
            ("\ttab\t\tdouble tab", [255968, 4823, 255969, 7902, 6937]),
            ("日本語のテキスト、中文文本。", [94951, 236945, 95830, 236951, 55041, 57489, 236924]),
            ("emoji 🤖🎉 and rare 𝔹 and \u{0001} control", [67906, 236743, 246143, 242061, 532, 8401, 236743, 255967, 532, 236743, 249732, 2256]),
            ("<start_of_turn>user\nhi<end_of_turn>\n<start_of_turn>model\n", [105, 2364, 107, 2202, 106, 107, 105, 4368, 107]),
            ("<b>bold</b> <table><tr><td>x</td></tr></table>", [200, 15640, 209, 236743, 168, 173, 175, 236781, 183, 181, 176]),
            ("unbelievably antidisestablishmentarianism", [602, 8145, 20873, 2579, 2314, 33090, 163524, 8225, 1929]),
            ("\u{2581}literal metaspace \u{2581}\u{2581}", [37087, 105834, 6046, 139]),
            ("", []),
        ]
        for (text, ids) in cases { #expect(tok.encode(text) == ids, "\(text.debugDescription)") }
        #expect(tok.encode("Hello world", addBOS: true) == [2, 9259, 1902])
        #expect(tok.decode([37087, 105834, 6046, 139]) == " literal metaspace   ")
        #expect(tok.decode([67906, 236743, 246143, 242061]) == "emoji 🤖🎉")
    }

    /// Every distinct message of taboo_real.jsonl.zst, 60 rendered chats and tricky strings, ids from
    /// transformers (scripts/reference/tokenizer_goldens.py). Decode must round-trip every text.
    @Test func transformersGoldenIDs() throws {
        guard let tok = try Fixtures.realModel()?.tokenizer else { return }
        var failures = 0, count = 0
        for line in try Fixtures.zstdLines("model/tokenizer-golden.jsonl.zst") {
            let obj = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            let text = obj["text"] as! String, ids = (obj["ids"] as! [NSNumber]).map(\.intValue)
            let bos = obj["bos"] as! Bool
            count += 1
            let mine = tok.encode(text, addBOS: bos)
            if mine != ids {
                failures += 1
                if failures <= 5 { Issue.record("\(text.debugDescription.prefix(120)): \(mine.prefix(40)) vs \(ids.prefix(40))") }
            }
            let decoded = tok.decode(mine, skipSpecial: false)
            let expected = (bos ? "<bos>" : "") + text.replacingOccurrences(of: "\u{2581}", with: " ")
            #expect(decoded == expected, "decode round trip of \(text.debugDescription.prefix(80))")
        }
        #expect(count > 1000 && failures == 0, "\(failures) of \(count) texts differ")
    }

    @Test func chatTemplateRendering() throws {
        let msgs = [ChatMessage(role: "system", content: "You are a concise assistant."),
                    ChatMessage(role: "user", content: "What is the capital of France?")]
        let text = try GemmaChatTemplate.render(msgs, addGenerationPrompt: true)
        #expect(text == "<bos><start_of_turn>user\nYou are a concise assistant.\n\nWhat is the capital of France?<end_of_turn>\n<start_of_turn>model\n")
        let two = try GemmaChatTemplate.render([ChatMessage(role: "user", content: "  hi \n"),
                                                ChatMessage(role: "assistant", content: "\nCLUE: cold ")], addGenerationPrompt: false)
        #expect(two == "<bos><start_of_turn>user\nhi<end_of_turn>\n<start_of_turn>model\nCLUE: cold<end_of_turn>\n")
        #expect(throws: PlaypenError.self) {
            try GemmaChatTemplate.render([ChatMessage(role: "assistant", content: "x")], addGenerationPrompt: false)
        }
        #expect(throws: PlaypenError.self) {
            try GemmaChatTemplate.render([ChatMessage(role: "user", content: "a"), ChatMessage(role: "user", content: "b")], addGenerationPrompt: false)
        }
        if let tok = try Fixtures.realModel()?.tokenizer {
            let ids = try GemmaChatTemplate.encode(msgs, addGenerationPrompt: true, tokenizer: tok)
            #expect(ids.prefix(3) == [2, 105, 2364] && ids.suffix(3) == [105, 4368, 107])
            #expect(ids.filter { $0 == 2 }.count == 1)
        }
    }

    @Test func tokenizerJSONMergesPath() throws {
        // A hand-made tokenizers JSON: merge rank comes from `merges` order, not vocab id.
        var vocab: [String: Int] = ["<pad>": 0, "<eos>": 1, "<bos>": 2, "<unk>": 3]
        for b in 0..<256 { vocab[String(format: "<0x%02X>", b)] = 4 + b }
        for (i, p) in ["a", "b", "c", "\u{2581}", "ab", "bc", "abc", "\u{2581}a"].enumerated() { vocab[p] = 260 + i }
        let json: [String: Any] = [
            "model": ["type": "BPE", "vocab": vocab, "merges": ["b c", "a bc", "a b", "\u{2581} a"], "byte_fallback": true],
            "added_tokens": [["id": 2, "content": "<bos>", "special": true], ["id": 1, "content": "<eos>", "special": true]],
        ]
        let path = Fixtures.tempPath("tokenizer.json")
        defer { unlink(path) }
        try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: path))
        let tok = try GemmaTokenizer(tokenizerJSON: path)
        // "abc": merges rank b+c first (rank 0), then a+bc → "abc"; with id ranks "ab" (264) would win first.
        #expect(tok.encode("abc") == [266])
        #expect(tok.encode("<bos>abx") == [2, 264, 4 + 0x78])
        #expect(tok.encode(" a") == [267])
        #expect(tok.decode([2, 264, 4 + 0x78], skipSpecial: true) == "abx")
    }
}
