// ------------------------------------------------------------------------------------------------
// Synthetic playpen taboo rows at any scale, following the clembench v2.0 game
// (playpen-data.md sections 1.3, 2 and 3): the 60 instances, the real prompt templates, CLUE/GUESS
// turns forwarded verbatim, success/failure/aborted episodes in roughly the real mix, both roles.
// The words in the clues are made up; the structure (message counts per outcome, which rows exist,
// what each user message holds) is the game's.

/// One taboo instance: the target word and its related (taboo) words.
public struct TabooInstance: Sendable, Equatable {
    public var experiment: String
    public var taskID: Int
    public var target: String
    public var related: [String]

    public init(experiment: String, taskID: Int, target: String, related: [String]) {
        self.experiment = experiment
        self.taskID = taskID
        self.target = target
        self.related = related
    }

    /// The filled describer prompt: `$N$` = 3, `$TARGET_WORD$`, `$REL_WORD$` = "- w1\n- w2\n- w3"
    /// (first three related words).
    public var describerPrompt: String {
        TabooInstance.describerTemplate
            .replacingAll("$N$", with: "3")
            .replacingAll("$TARGET_WORD$", with: target)
            .replacingAll("$REL_WORD$", with: related.prefix(3).map { "- " + $0 }.joined(separator: "\n"))
    }

    /// The guesser's first user message: prompt + "\n\n" + the describer's raw first answer.
    public func guesserFirstMessage(clue: String) -> String {
        TabooInstance.guesserTemplate.replacingAll("$N$", with: "3") + "\n\n" + clue
    }
}

extension String {
    /// Replaces every occurrence of a literal substring (no Foundation needed).
    func replacingAll(_ needle: String, with replacement: String) -> String {
        var out = ""
        var rest = Substring(self)
        while let r = rest.range(of: needle) {
            out += rest[..<r.lowerBound]
            out += replacement
            rest = rest[r.upperBound...]
        }
        out += rest
        return out
    }
}

extension Substring {
    func range(of needle: String) -> Range<Substring.Index>? {
        guard let first = needle.first else { return nil }
        var i = startIndex
        while let start = self[i...].firstIndex(of: first) {
            if self[start...].hasPrefix(needle) {
                return start..<index(start, offsetBy: needle.count)
            }
            i = index(after: start)
        }
        return nil
    }
}

/// SplitMix64: a small, fast, platform-independent generator (same seed, same sequence).
public struct SplitMix64: Sendable {
    public private(set) var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, n) (multiply-shift; bias below 2^-40 for the small n used here).
    public mutating func below(_ n: Int) -> Int {
        Int((next() >> 11) % UInt64(n))
    }

    /// Uniform in [0, 1).
    public mutating func unit() -> Double {
        Double(next() >> 11) * (1.0 / 9007199254740992.0)
    }

    public mutating func pick<T>(_ items: [T]) -> T { items[below(items.count)] }
}

/// Generates playpen taboo rows: per episode the describer row, then the guesser row if the
/// episode reached the guesser.
public struct TabooSynth: Sendable {
    public var rng: SplitMix64
    public let instances: [TabooInstance]
    public private(set) var episodes = 0

    /// Outcome mix per episode, close to the shared real sample (132 / 71 / 32 of 235).
    public static let successRate = 0.56
    public static let failureRate = 0.30

    public init(seed: UInt64, instances: [TabooInstance] = TabooInstance.v2) {
        rng = SplitMix64(seed: seed)
        self.instances = instances
    }

    /// Streams exactly `count` rows (the last episode may be cut after its describer row).
    public mutating func generate(rows count: Int, _ body: (PlaypenRow) throws -> Void) rethrows {
        var emitted = 0
        while emitted < count {
            for row in nextEpisode() where emitted < count {
                try body(row)
                emitted += 1
            }
        }
    }

    /// One episode: 1 row (the guesser never spoke) or 2 rows (describer, guesser).
    public mutating func nextEpisode() -> [PlaypenRow] {
        episodes += 1
        let instance = rng.pick(instances)
        let model = rng.pick(TabooSynth.models)
        let u = rng.unit()
        // The game as a list of rounds; each round is the describer's answer and, if it was
        // forwarded, the guesser's answer.
        var clues: [String] = []
        var guesses: [String] = []
        let outcome: String
        if u < TabooSynth.successRate {
            outcome = "success"
            let v = rng.unit()
            let winning = v < 0.77 ? 1 : (v < 0.96 ? 2 : 3)
            for round in 1...winning {
                clues.append(validClue(instance))
                guesses.append(round == winning ? guessAnswer(surface(instance.target)) : wrongGuess(instance))
            }
        } else if u < TabooSynth.successRate + TabooSynth.failureRate {
            outcome = "failure"
            let v = rng.unit()
            if v < 0.70 {
                // Three wrong guesses: max turns reached.
                for _ in 1...3 {
                    clues.append(validClue(instance))
                    guesses.append(wrongGuess(instance))
                }
            } else {
                // A clue with a taboo word in round k ends the game; the guesser never sees it.
                let k = v < 0.95 ? 1 : (v < 0.98 ? 2 : 3)
                for _ in 1..<k {
                    clues.append(validClue(instance))
                    guesses.append(wrongGuess(instance))
                }
                clues.append(tabooClue(instance))
            }
        } else {
            outcome = "aborted"
            let describerBreaks = rng.unit() < 0.75
            let k = describerBreaks ? [1, 2, 2, 2, 3].randomElement(using: &rng) : [1, 1, 1, 2].randomElement(using: &rng)
            for round in 1...k {
                if describerBreaks && round == k {
                    clues.append(brokenClue(instance))
                } else {
                    clues.append(validClue(instance))
                    guesses.append(!describerBreaks && round == k ? brokenGuess(instance) : wrongGuess(instance))
                }
            }
        }
        let base = RowMeta(game: "taboo", experiment: instance.experiment, taskID: instance.taskID,
                           playerName: "Player 1", gameRole: "WordDescriber", model: model, outcome: outcome)
        // Describer: prompt, clue 1, guess 1, clue 2, ... (never sees the last guess).
        var describer: [Message] = [Message(role: "user", content: instance.describerPrompt)]
        for (i, clue) in clues.enumerated() {
            if i > 0 { describer.append(Message(role: "user", content: guesses[i - 1])) }
            describer.append(Message(role: "assistant", content: clue))
        }
        var rows = [PlaypenRow(messages: describer, meta: base)]
        // Guesser: only the clues that were forwarded (those with a guess after them).
        if !guesses.isEmpty {
            var guesser: [Message] = []
            for (i, guess) in guesses.enumerated() {
                let user = i == 0 ? instance.guesserFirstMessage(clue: clues[0]) : clues[i]
                guesser.append(Message(role: "user", content: user))
                guesser.append(Message(role: "assistant", content: guess))
            }
            var meta = base
            meta.playerName = "Player 2"
            meta.gameRole = "WordGuesser"
            rows.append(PlaypenRow(messages: guesser, meta: meta))
        }
        return rows
    }

    // MARK: utterances

    private mutating func surface(_ word: String) -> String {
        let v = rng.below(10)
        if v < 5 { return word }
        if v < 8 { return word.prefix(1).uppercased() + word.dropFirst() }
        return word.uppercased()
    }

    private func mentionsTaboo(_ text: String, _ instance: TabooInstance) -> Bool {
        let words = text.lowercased().split { !$0.isLetter && !$0.isNumber }
        let taboo = ([instance.target] + instance.related).map { $0.lowercased() }
        return words.contains { w in taboo.contains { t in w.hasPrefix(t) || t.hasPrefix(w) && w.count > 3 } }
    }

    private mutating func validClue(_ instance: TabooInstance) -> String {
        for _ in 0..<16 {
            let template = rng.pick(TabooSynth.clueTemplates)
            var text = template
            while let r = text[...].range(of: "{w}") {
                text.replaceSubrange(r, with: rng.pick(TabooSynth.clueWords))
            }
            if !mentionsTaboo(text, instance) { return "CLUE: " + text }
        }
        return "CLUE: Think about it."
    }

    private mutating func tabooClue(_ instance: TabooInstance) -> String {
        let word = rng.pick(instance.related)
        return "CLUE: " + rng.pick(TabooSynth.tabooTemplates).replacingAll("{r}", with: word)
    }

    private mutating func brokenClue(_ instance: TabooInstance) -> String {
        rng.pick(TabooSynth.describerBreaks).replacingAll("{clue}", with: validClue(instance))
    }

    private mutating func guessAnswer(_ word: String) -> String { "GUESS: " + word }

    private mutating func wrongGuess(_ instance: TabooInstance) -> String {
        while true {
            let w = rng.unit() < 0.5 ? rng.pick(instances).target : rng.pick(TabooSynth.guessWords)
            if w.lowercased() != instance.target.lowercased() { return guessAnswer(surface(w)) }
        }
    }

    private mutating func brokenGuess(_ instance: TabooInstance) -> String {
        let word = rng.pick(TabooSynth.guessWords)
        return rng.pick(TabooSynth.guesserBreaks).replacingAll("{w}", with: word)
    }

    // MARK: word banks (made up, in the style of the real transcripts)

    public static let models = [
        "Meta-Llama-3.1-8B-Instruct", "Meta-Llama-3.1-70B-Instruct", "Llama-3.3-70B-Instruct", "llama-3.1-405b",
        "Qwen2.5-7B-Instruct", "Qwen2.5-72B-Instruct", "Qwen2.5-Coder-7B-Instruct", "Qwen2.5-Coder-32B-Instruct",
        "qwen-max", "QwQ-32B-Preview", "gemini-2.0-flash-exp", "o3-mini-2025-01-31", "claude-3-7-sonnet-20250219",
        "claude-3-5-sonnet-20241022", "gpt-4o-2024-08-06", "gpt-4o-mini-2024-07-18", "mistral-large-2411",
        "Mistral-Small-24B-Instruct-2501", "phi-4", "aya-expanse-32b", "deepseek-v3", "deepseek-r1",
        "gemma-2-27b-it", "Llama-3.1-Nemotron-70B-Instruct",
    ]

    static let clueTemplates = [
        "Something you might find {w} {w}.",
        "It's a {w} that people {w} every day.",
        "Often associated with {w} and {w}.",
        "A common {w} in many {w}.",
        "You might see this near {w}.",
        "Think of a {w} {w} with a {w} {w}.",
        "It's what you do when you feel {w}.",
        "A word describing something {w}, not {w}.",
        "Used by {w} to {w} things.",
        "Opposite of {w}.",
        "It's related to {w}, but smaller and more {w}.",
        "A place where {w} gather for {w}.",
        "Something that can lead to {w} {w}.",
        "Part of a {w}, usually found in {w}.",
    ]

    static let clueWords = [
        "kitchen", "garden", "people", "morning", "water", "light", "stone", "paper", "window", "music",
        "friends", "travel", "metal", "history", "cities", "quiet", "bright", "heavy", "round", "green",
        "ancient", "modern", "children", "workers", "animals", "machines", "weather", "evening", "story",
        "map", "road", "river", "mountain", "office", "school", "doctors", "games", "colors", "numbers",
        "letters", "shape", "sound", "touch", "warmth", "speed", "distance", "surface", "pattern",
    ]

    static let tabooTemplates = [
        "It's like {r}, but different.", "Think of {r}.", "Something connected to {r}.",
        "A kind of {r} you might know.",
    ]

    static let describerBreaks = [
        "You're close, but not quite there. \n\n{clue}",
        "I used a related word, so I lose. Well played! Would you like to play again?",
        "I used a related word. Let's start again.\n\n {clue}",
        "Congratulations! You've guessed the word correctly. You both win!",
        "Close, but not quite! Try again.\n\n{clue}",
    ]

    static let guesserBreaks = [
        "I'll analyze the clue to guess the target word.\n\nThe clue describes something that:\n- fits {w}\n\nGUESS: {w}",
        "guess: {w}",
        "Let me think about this. The answer might be {w}.",
        "My guess is {w}.",
    ]

    static let guessWords = [
        "apple", "bend", "river", "cloud", "bridge", "candle", "mirror", "engine", "garden", "ladder",
        "planet", "ticket", "wallet", "blanket", "castle", "desert", "island", "jacket", "kettle", "lemon",
        "magnet", "needle", "orange", "pencil", "rocket", "saddle", "tunnel", "violin", "wagon", "anchor",
    ]
}

extension Array {
    fileprivate func randomElement(using rng: inout SplitMix64) -> Element { rng.pick(self) }
}
