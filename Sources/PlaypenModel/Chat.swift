import Foundation
import PlaypenIO

/// One chat message (role "system", "user", "assistant"/"model", or other).
public struct ChatMessage: Sendable, Equatable, Codable {
    public var role: String
    public var content: String
    public init(role: String, content: String) {
        self.role = role
        self.content = content
    }
}

/// The official Gemma-3 chat template (gemma3.md §5), the one rendering every tool uses.
public enum GemmaChatTemplate {
    /// Renders messages to text that starts with the literal `<bos>`; tokenize the result with
    /// `addBOS: false`. A leading system message becomes a prefix (content + "\n\n") of the first
    /// remaining message; the rest must alternate user/assistant starting with user.
    public static func render(_ messages: [ChatMessage], addGenerationPrompt: Bool) throws -> String {
        var msgs = messages[...]
        var prefix = ""
        if let first = msgs.first, first.role == "system" {
            prefix = first.content + "\n\n"
            msgs = msgs.dropFirst()
        }
        var out = "<bos>"
        for (i, m) in msgs.enumerated() {
            let isUser = m.role == "user"
            guard isUser == (i % 2 == 0) else {
                throw PlaypenError("chat template: conversation roles must alternate user/assistant/user/...; message \(i + (prefix.isEmpty ? 0 : 1)) has role \"\(m.role)\"")
            }
            let role = m.role == "assistant" ? "model" : m.role
            out += "<start_of_turn>" + role + "\n" + (i == 0 ? prefix : "")
                + m.content.trimmingCharacters(in: .whitespacesAndNewlines) + "<end_of_turn>\n"
        }
        if addGenerationPrompt { out += "<start_of_turn>model\n" }
        return out
    }

    /// Token ids of the rendered conversation (no extra `<bos>`: the text carries it).
    public static func encode(_ messages: [ChatMessage], addGenerationPrompt: Bool, tokenizer: GemmaTokenizer) throws -> [Int] {
        tokenizer.encode(try render(messages, addGenerationPrompt: addGenerationPrompt), addBOS: false)
    }
}
