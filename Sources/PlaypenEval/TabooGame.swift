import Foundation
import PlaypenData
import PlaypenIO

// ------------------------------------------------------------------------------------------------
// The taboo game master's rules on the guesser's side (clembench `taboo/master.py`, playpen-data.md
// section 2.3) and the replay of a recorded episode's describer turns.

public enum TabooRules {
    public static let maxTurns = 3

    /// What the game master makes of one guesser utterance.
    public enum GuessCheck: Equatable, Sendable {
        /// The utterance does not start with "GUESS:" (case-sensitive): the episode is aborted.
        case invalidFormat
        /// The normalised guess.
        case guess(String)
    }

    /// `utterance.startswith("GUESS:")`, then `utterance.replace("GUESS:", "").strip().lower()`
    /// with ASCII punctuation (`string.punctuation`) removed.
    public static func check(_ utterance: String) -> GuessCheck {
        guard utterance.hasPrefix("GUESS:") else { return .invalidFormat }
        let rest = utterance.replacingAll("GUESS:", with: "")
        let lowered = pythonLower(pythonStrip(rest))
        var kept = String.UnicodeScalarView()
        for u in lowered.unicodeScalars where !isASCIIPunctuation(u.value) { kept.append(u) }
        return .guess(String(kept))
    }

    /// Python's `str.lower()` (full Unicode lower-case mapping; ASCII fast path).
    public static func pythonLower(_ s: String) -> String {
        var out = String.UnicodeScalarView()
        for u in s.unicodeScalars {
            if u.isASCII {
                let v = u.value
                out.append(v >= 0x41 && v <= 0x5A ? Unicode.Scalar(v + 0x20)! : u)
            } else {
                out.append(contentsOf: u.properties.lowercaseMapping.unicodeScalars)
            }
        }
        return String(out)
    }

    /// `string.punctuation`: !"#$%&'()*+,-./:;<=>?@[\]^_`{|}~
    @inline(__always) public static func isASCIIPunctuation(_ v: UInt32) -> Bool {
        (v >= 0x21 && v <= 0x2F) || (v >= 0x3A && v <= 0x40) || (v >= 0x5B && v <= 0x60) || (v >= 0x7B && v <= 0x7E)
    }
}

extension String {
    /// Every occurrence of a literal substring replaced (Python's `str.replace`), on scalars.
    func replacingAll(_ needle: String, with replacement: String) -> String {
        let hay = Array(unicodeScalars), pat = Array(needle.unicodeScalars)
        guard !pat.isEmpty, hay.count >= pat.count else { return self }
        var out = String.UnicodeScalarView()
        var i = 0
        while i < hay.count {
            if i + pat.count <= hay.count, hay[i] == pat[0], Array(hay[i..<(i + pat.count)]) == pat {
                out.append(contentsOf: replacement.unicodeScalars)
                i += pat.count
            } else {
                out.append(hay[i])
                i += 1
            }
        }
        return String(out)
    }
}

/// One round the replayed describer can play: the user message(s) the guesser receives.
public struct DescriberTurn: Equatable, Sendable {
    public var messages: [String]
}

extension PlaypenRow {
    /// The recorded describer turns of a WordGuesser row: each run of consecutive user messages
    /// (normally one: the guesser prompt + first clue, then "CLUE: ..." messages) is one turn.
    public var describerTurns: [DescriberTurn] {
        var turns: [DescriberTurn] = []
        var current: [String] = []
        for m in messages {
            if m.role == "user" {
                current.append(m.content)
            } else if !current.isEmpty {
                turns.append(DescriberTurn(messages: current))
                current = []
            }
        }
        if !current.isEmpty { turns.append(DescriberTurn(messages: current)) }
        return turns
    }
}

/// How a replayed episode ended.
public enum EpisodeEnd: String, Sendable {
    case correctGuess = "correct guess"
    case invalidFormat = "invalid format"
    case maxTurns = "max turns reached"
    /// The recorded episode had no further describer turn (its guesser had already won, or its
    /// describer's next clue broke the taboo rule and never reached the guesser).
    case outOfClues = "out of recorded clues"

    /// clembench's outcome: success, failure or aborted.
    public var outcome: String {
        switch self {
        case .correctGuess: return "success"
        case .invalidFormat: return "aborted"
        case .maxTurns, .outOfClues: return "failure"
        }
    }
}

/// One round of a replayed episode.
public struct GameRound: Sendable {
    public var describer: [String]
    public var prompt: String
    public var generation: String
    public var reply: String
    public var guess: String?
}

public struct GameEpisode: Sendable {
    public var rounds: [GameRound]
    public var end: EpisodeEnd
    /// clembench's Main Score: 100 / rounds on success, 0 on failure, nil (NaN) when aborted.
    public var mainScore: Double? {
        switch end {
        case .correctGuess: return 100 / Double(rounds.count)
        case .invalidFormat: return nil
        case .maxTurns, .outOfClues: return 0
        }
    }
}

/// The guesser's turn: text in ("USER: ...\n\nASSISTANT: ..." history), generated text out.
public protocol GuesserModel {
    func generate(prompt: String) throws -> String
}

public enum TabooReplay {
    /// The guesser's utterance taken from a raw-text generation: the model's turn in the flattened
    /// format ("USER: ...\n\nASSISTANT: ...") is the text before the next turn marker
    /// ("\n\nUSER:" or "\n\nASSISTANT:"), after a leading "ASSISTANT:" label the model may write
    /// itself; stripped. Everything else (further lines included) reaches the game master as is.
    public static func utterance(fromGeneration text: String) -> String {
        var rest = Substring(pythonStrip(text))
        if rest.hasPrefix("ASSISTANT:") { rest = rest.dropFirst("ASSISTANT:".count) }
        var end = rest.endIndex
        for marker in ["\n\nUSER:", "\n\nASSISTANT:"] {
            if let r = rest.range(of: marker), r.lowerBound < end { end = r.lowerBound }
        }
        return pythonStrip(String(rest[..<end]))
    }

    /// Plays the guesser through the recorded describer turns with the game master's rules: each
    /// round the model sees the history flattened exactly like the training prompts
    /// (`"\n\n".join(f"{ROLE}: {content}").strip()`, PlaypenRow.historyText), its utterance must
    /// start with "GUESS:", the normalised guess must equal the target, at most `maxTurns` rounds.
    public static func play(turns: [DescriberTurn], target: String, meta: RowMeta, model: GuesserModel,
                            maxTurns: Int = TabooRules.maxTurns) throws -> GameEpisode {
        var history: [Message] = []
        var rounds: [GameRound] = []
        for turn in turns.prefix(maxTurns) {
            for m in turn.messages { history.append(Message(role: "user", content: m)) }
            let prompt = PlaypenRow(messages: history, meta: meta).historyText()
            let generation = try model.generate(prompt: prompt)
            let reply = utterance(fromGeneration: generation)
            var round = GameRound(describer: turn.messages, prompt: prompt, generation: generation, reply: reply, guess: nil)
            switch TabooRules.check(reply) {
            case .invalidFormat:
                rounds.append(round)
                return GameEpisode(rounds: rounds, end: .invalidFormat)
            case .guess(let g):
                round.guess = g
                rounds.append(round)
                if g == target { return GameEpisode(rounds: rounds, end: .correctGuess) }
            }
            history.append(Message(role: "assistant", content: reply))
        }
        return GameEpisode(rounds: rounds, end: rounds.count >= maxTurns ? .maxTurns : .outOfClues)
    }
}
