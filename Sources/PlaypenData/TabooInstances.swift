// Generated from taboo_instances_v2.0.json (clp-research/clembench taboo/in/instances.json, v2.0);
// Tests/PlaypenDataTests/SynthTests.swift checks it against that file.

extension TabooInstance {
    /// The 60 taboo instances of clembench v2.0, in file order (experiment, then game_id).
    public static let v2: [TabooInstance] = [
        TabooInstance(experiment: "high_en", taskID: 0, target: "winter", related: ["cold", "snow", "season"]),
        TabooInstance(experiment: "high_en", taskID: 1, target: "independent", related: ["autarkical", "strong-minded", "separate"]),
        TabooInstance(experiment: "high_en", taskID: 2, target: "fly", related: ["action", "insect", "bug"]),
        TabooInstance(experiment: "high_en", taskID: 3, target: "fort", related: ["meet", "garrison", "fortify"]),
        TabooInstance(experiment: "high_en", taskID: 4, target: "jan", related: ["January", "nickname", "not"]),
        TabooInstance(experiment: "high_en", taskID: 5, target: "energy", related: ["solar", "power", "electricity"]),
        TabooInstance(experiment: "high_en", taskID: 6, target: "gate", related: ["door", "fence", "opening"]),
        TabooInstance(experiment: "high_en", taskID: 7, target: "suck", related: ["blow", "absorb", "sucking"]),
        TabooInstance(experiment: "high_en", taskID: 8, target: "int", related: ["rpg", "intelligence", "programming"]),
        TabooInstance(experiment: "high_en", taskID: 9, target: "half", related: ["football", "basketball", "part"]),
        TabooInstance(experiment: "high_en", taskID: 10, target: "song", related: ["entertainment", "musical", "music"]),
        TabooInstance(experiment: "high_en", taskID: 11, target: "consist", related: ["be", "dwell", "match"]),
        TabooInstance(experiment: "high_en", taskID: 12, target: "sure", related: ["indisputable", "certain", "trusted"]),
        TabooInstance(experiment: "high_en", taskID: 13, target: "pool", related: ["swiming", "group", "Swimming"]),
        TabooInstance(experiment: "high_en", taskID: 14, target: "council", related: ["decide", "group", "government"]),
        TabooInstance(experiment: "high_en", taskID: 15, target: "sexy", related: ["toothsome", "autoerotic", "titillating"]),
        TabooInstance(experiment: "high_en", taskID: 16, target: "word", related: ["sentence", "language", "unit"]),
        TabooInstance(experiment: "high_en", taskID: 17, target: "care", related: ["concern", "loving", "love"]),
        TabooInstance(experiment: "high_en", taskID: 18, target: "market", related: ["store", "place", "shopping"]),
        TabooInstance(experiment: "high_en", taskID: 19, target: "little", related: ["big", "small", "tiny"]),
        TabooInstance(experiment: "medium_en", taskID: 0, target: "ordinary", related: ["common", "normal", "plain"]),
        TabooInstance(experiment: "medium_en", taskID: 1, target: "chicken", related: ["hen", "rooster", "bird"]),
        TabooInstance(experiment: "medium_en", taskID: 2, target: "impose", related: ["enforce", "levy", "inflict"]),
        TabooInstance(experiment: "medium_en", taskID: 3, target: "nelson", related: ["hold", "nell", "wrestling"]),
        TabooInstance(experiment: "medium_en", taskID: 4, target: "rough", related: ["ciliated", "sensation", "roughish"]),
        TabooInstance(experiment: "medium_en", taskID: 5, target: "chapel", related: ["praying", "worshipping", "meditation"]),
        TabooInstance(experiment: "medium_en", taskID: 6, target: "translate", related: ["equal", "physics", "genetics"]),
        TabooInstance(experiment: "medium_en", taskID: 7, target: "primarily", related: ["primary", "focus", "principally"]),
        TabooInstance(experiment: "medium_en", taskID: 8, target: "retrieve", related: ["remember", "recover", "bring"]),
        TabooInstance(experiment: "medium_en", taskID: 9, target: "fault", related: ["blame", "electronics", "geology"]),
        TabooInstance(experiment: "medium_en", taskID: 10, target: "karen", related: ["Tibeto-Burman", "historical", "human"]),
        TabooInstance(experiment: "medium_en", taskID: 11, target: "ferry", related: ["boat", "cargo", "bring"]),
        TabooInstance(experiment: "medium_en", taskID: 12, target: "coastal", related: ["maritime", "coastwise", "inshore"]),
        TabooInstance(experiment: "medium_en", taskID: 13, target: "ordinance", related: ["law", "regulation", "ordination"]),
        TabooInstance(experiment: "medium_en", taskID: 14, target: "setup", related: ["frame-up", "manner", "apparatus"]),
        TabooInstance(experiment: "medium_en", taskID: 15, target: "institutional", related: ["institutionalised", "institution", "uninteresting"]),
        TabooInstance(experiment: "medium_en", taskID: 16, target: "colored", related: ["garnet-coloured", "straw-coloured", "indigo"]),
        TabooInstance(experiment: "medium_en", taskID: 17, target: "dozen", related: ["hundredweight", "12", "twelve"]),
        TabooInstance(experiment: "medium_en", taskID: 18, target: "debug", related: ["correct", "electronic", "bug"]),
        TabooInstance(experiment: "medium_en", taskID: 19, target: "dependent", related: ["dependant", "subordinate", "parasitical"]),
        TabooInstance(experiment: "low_en", taskID: 0, target: "chan", related: ["chinese", "internet", "irc"]),
        TabooInstance(experiment: "low_en", taskID: 1, target: "rifle", related: ["shooting", "long", "gun"]),
        TabooInstance(experiment: "low_en", taskID: 2, target: "ugly", related: ["displeasing", "despicable", "unattractive"]),
        TabooInstance(experiment: "low_en", taskID: 3, target: "feather", related: ["fledge", "bird", "rotation"]),
        TabooInstance(experiment: "low_en", taskID: 4, target: "hatch", related: ["inlay", "hatchback", "shading"]),
        TabooInstance(experiment: "low_en", taskID: 5, target: "richardson", related: ["richard", "texas", "usa"]),
        TabooInstance(experiment: "low_en", taskID: 6, target: "stranger", related: ["know", "person", "meeting"]),
        TabooInstance(experiment: "low_en", taskID: 7, target: "bradley", related: ["brad", "england", "bradlea"]),
        TabooInstance(experiment: "low_en", taskID: 8, target: "gibson", related: ["gin", "son", "vermouth"]),
        TabooInstance(experiment: "low_en", taskID: 9, target: "angry", related: ["wrathful", "unhealthy", "black"]),
        TabooInstance(experiment: "low_en", taskID: 10, target: "harmful", related: ["bruising", "harm", "mischievous"]),
        TabooInstance(experiment: "low_en", taskID: 11, target: "brandon", related: ["florida", "england", "colorado"]),
        TabooInstance(experiment: "low_en", taskID: 12, target: "hyundai", related: ["car", "seoul", "company"]),
        TabooInstance(experiment: "low_en", taskID: 13, target: "surrey", related: ["motorized", "England", "carriage"]),
        TabooInstance(experiment: "low_en", taskID: 14, target: "parse", related: ["closely", "grammar", "analyze"]),
        TabooInstance(experiment: "low_en", taskID: 15, target: "halifax", related: ["fax", "yorkshire", "virginia"]),
        TabooInstance(experiment: "low_en", taskID: 16, target: "characterization", related: ["portrayal", "description", "characterize"]),
        TabooInstance(experiment: "low_en", taskID: 17, target: "landmark", related: ["position", "juncture", "surgery"]),
        TabooInstance(experiment: "low_en", taskID: 18, target: "troubleshoot", related: ["debug", "trouble-shoot", "troubleshooting"]),
        TabooInstance(experiment: "low_en", taskID: 19, target: "realistic", related: ["down-to-earth", "practical", "hard-nosed"]),
    ]

    /// Describer prompt template ($N$, $TARGET_WORD$, $REL_WORD$ placeholders; no trailing newline).
    public static let describerTemplate = "You are playing a collaborative word guessing game in which you have to describe a target word for another player to guess.\n\nRules:\n(a) You have to reply in the form: CLUE: <some text>. Guesses from the other player will start with GUESS.\n(b) You cannot use the target word itself, parts or morphological variants of it in your description.\n(c) In addition, the same rules apply for related words which are provided below.\n\nEnd conditions:\n(i) If you use the target word or a related word in your description, then you lose.\n(ii) If the other player can guess the target word in $N$ tries, you both win.\n\nLet us start.\n\nThis is the target word that you need to describe and that the other player needs to guess:\n\n$TARGET_WORD$\n\nRelated words are:\n\n$REL_WORD$\n\nImportant: You are under time pressure, give short descriptions that are to the point!"

    /// Guesser prompt template (ends with "Let us start.\n").
    public static let guesserTemplate = "You are playing a collaborative word guessing game in which you have to guess a target word that another player describes to you.\n\nYou can make one guess at each trial. You win when you guess the target word. You lose when you cannot guess it in $N$ tries.\n\nAfter each trial you will get a new hint from the other player which starts with CLUE.\n\nMake your guesses by just saying the word using the following form: GUESS: <a word>\n\nLet us start.\n"
}
