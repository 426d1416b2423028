import Foundation
import PlaypenIO
import PlaypenTensor
import Testing
@testable import PlaypenModel

// Goldens from scripts/reference/tiny_gemma3.py and gemma3_270m_goldens.py (transformers 5.24, fp32, eager).

@Suite struct TinyModelTests {
    let model: GemmaModel
    let golden: SafetensorsSet
    init() throws {
        model = try GemmaModel.load(Fixtures.path("tiny-gemma3"))
        golden = try Fixtures.safetensors("model/tiny-golden.safetensors")
    }

    @Test func configFromConfigJSON() {
        let c = model.config
        #expect(c.hiddenSize == 64 && c.numLayers == 4 && c.numHeads == 4 && c.numKVHeads == 2 && c.headDim == 16)
        #expect(c.layerIsGlobal == [false, true, false, true])
        #expect(c.slidingWindow == 8 && c.queryPreAttnScalar == 24 && c.ropeTheta == 1e6 && c.ropeLocalTheta == 1e4)
        #expect(c.vocabSize == 320 && model.tokenizer == nil)
    }

    /// Row-major weights (sgemm) and weights packed for inference (the panel kernel the tools use).
    @Test(arguments: [false, true]) func logitsAndHiddenStatesMatchTransformers(packed: Bool) throws {
        let ids = try golden.ints("ids")
        let model = try GemmaModel.load(Fixtures.path("tiny-gemma3"))
        if packed { model.packForInference() }
        let r = try model.forward(ids, options: ForwardOptions(captureLayers: [0, 1, 2, 3]))
        let ref = try golden.floats("logits").array
        #expect(r.logits.count == ref.count)
        let d = maxAbsDiff(r.logits[...], ref[...])
        #expect(d <= 1e-4, "max |Δlogit| = \(d)")
        // hidden_states[i] (1 ≤ i < L) = resid_post(i-1); the last layer's output via a hook.
        for i in 1..<4 {
            let h = try golden.floats("hidden_\(i)").array
            #expect(maxAbsDiff(r.residPost[i - 1]![...], h[...]) <= 1e-4, "resid_post(\(i - 1))")
        }
        let last = try golden.floats("resid_post_last").array
        #expect(maxAbsDiff(r.residPost[3]![...], last[...]) <= 1e-4, "resid_post(3)")
    }

    /// With some positions asked for, the last layer runs its queries and MLP at those rows only:
    /// unsorted, repeated and consecutive positions give the rows of the full forward.
    @Test(arguments: [false, true]) func lastLayerAtRequestedRowsEqualsFullForward(packed: Bool) throws {
        let ids = try golden.ints("ids")
        let model = try GemmaModel.load(Fixtures.path("tiny-gemma3"))
        if packed { model.packForInference() }
        let V = model.config.vocabSize
        let full = try model.forward(ids).logits
        // position 1 comes after 7, 6 and 5: its row must not be read after the gather overwrote it
        let positions = [7, 6, 5, 1, 5, 0, 8, 9, ids.count - 1]
        let sub = try model.forward(ids, options: ForwardOptions(logitPositions: positions)).logits
        for (i, p) in positions.enumerated() {
            let d = maxAbsDiff(sub[(i * V)..<((i + 1) * V)], full[(p * V)..<((p + 1) * V)])
            #expect(d <= 1e-5, "position \(p): max |Δlogit| = \(d)")
        }
        let cache = KVCache(config: model.config, capacity: ids.count)
        _ = try model.forward(Array(ids[0..<10]), cache: cache, options: ForwardOptions(logitPositions: [9]))
        let next = try model.forward(Array(ids[10...]), cache: cache, options: ForwardOptions(logitPositions: [0])).logits
        #expect(maxAbsDiff(next[...], full[(10 * V)..<(11 * V)]) <= 1e-5, "decoding after a pruned prefill")
    }

    /// A forward without a cache runs all layers on one layer's key/value storage; a forward
    /// filling a cache of its own per layer gives the same bits (global and sliding layers).
    @Test(arguments: [false, true]) func cachelessForwardEqualsForwardWithAFullCache(packed: Bool) throws {
        let ids = try golden.ints("ids")
        let model = try GemmaModel.load(Fixtures.path("tiny-gemma3"))
        if packed { model.packForInference() }
        let layers = Set(0..<model.config.numLayers)
        let options = ForwardOptions(captureLayers: layers)
        let scratch = try model.forward(ids, options: options)
        let full = try model.forward(ids, cache: KVCache(config: model.config, capacity: ids.count), options: options)
        #expect(scratch.logits.map(\.bitPattern) == full.logits.map(\.bitPattern))
        for layer in layers {
            #expect(scratch.residPost[layer]!.map(\.bitPattern) == full.residPost[layer]!.map(\.bitPattern), "layer \(layer)")
        }
    }

    /// The packed forward splits its kernels over `computeThreads` cores; one core gives the same bits.
    @Test func packedForwardIsTheSameOnOneCore() throws {
        let ids = try golden.ints("ids")
        let model = try GemmaModel.load(Fixtures.path("tiny-gemma3"))
        model.packForInference()
        let all = try model.forward(ids).logits
        setComputeThreads(1)
        defer { setComputeThreads(0) }
        let one = try model.forward(ids).logits
        #expect(one.map(\.bitPattern) == all.map(\.bitPattern))
    }

    /// One forward over several sequences (each attending only to itself; lengths past the
    /// sliding window of 8, an empty one) gives each sequence the bits of its own forward with
    /// packed weights (sgemm's sums depend on the row count: within 1e-5 there); and the hidden
    /// states of layer 1 match transformers.
    @Test(arguments: [false, true]) func batchedResidualStreamsEqualOneForwardPerSequence(packed: Bool) throws {
        let ids = try golden.ints("ids")
        let model = try GemmaModel.load(Fixtures.path("tiny-gemma3"))
        if packed { model.packForInference() }
        let sequences = [ids, Array(ids[3..<12]), [], Array(ids[5...]), [ids[0]]]
        let layers: Set<Int> = [0, 1, 3]
        let batch = try model.residualStreams(sequences, layers: layers)
        #expect(batch.count == sequences.count)
        for (i, s) in sequences.enumerated() {
            guard !s.isEmpty else { #expect(batch[i].isEmpty); continue }
            let one = try model.forward(s, options: ForwardOptions(logitPositions: [], captureLayers: layers, stopAfterLayer: 3))
            for l in layers {
                if packed {
                    #expect(batch[i][l]!.map(\.bitPattern) == one.residPost[l]!.map(\.bitPattern), "sequence \(i) layer \(l)")
                } else {
                    #expect(maxAbsDiff(batch[i][l]![...], one.residPost[l]![...]) <= 1e-5, "sequence \(i) layer \(l)")
                }
            }
        }
        let h1 = try golden.floats("hidden_2").array
        #expect(maxAbsDiff(batch[0][1]![...], h1[...]) <= 1e-4)
    }

    /// Sequences sharing prefixes (two branches, one that ends where others go on, a duplicate,
    /// ones sharing only BOS, rows past the sliding window of 8 and across query blocks, a branch
    /// starting mid-block): the shared-prefix forward computes fewer rows and gives the arrays of
    /// the unshared one, each sequence the bits of its own forward (packed weights).
    @Test func sharedPrefixesGiveTheBitsOfOneForwardPerSequence() throws {
        let model = try GemmaModel.load(Fixtures.path("tiny-gemma3"))
        model.packForInference()
        var state: UInt64 = 3
        func tokens(_ n: Int) -> [Int] {
            (0..<n).map { _ in
                state = state &* 6364136223846793005 &+ 1442695040888963407
                return 3 + Int(state >> 33) % 317
            }
        }
        let prefix = [2] + tokens(36), branch = tokens(11)
        let sequences = [prefix + branch + tokens(40), prefix + branch + tokens(3), prefix + tokens(20), prefix, [],
                         prefix + branch + tokens(1), [2] + tokens(9), tokens(50)]
        let withDuplicate = sequences + [sequences[0]]
        let forest = PrefixForest(withDuplicate)
        let total = withDuplicate.reduce(0) { $0 + $1.count }
        #expect(forest.ids.count == 37 + 11 + 40 + 3 + 20 + 1 + 9 + 50 && forest.ids.count < total)
        let layers: Set<Int> = [0, 2, 3]
        let shared = try model.residualStreamRows(withDuplicate, layers: layers)
        let unshared = try model.residualStreamRows(withDuplicate, layers: layers, sharePrefixes: false)
        let d = model.config.hiddenSize
        for l in layers {
            #expect(shared[l]!.count == total * d)
            #expect(shared[l]!.map(\.bitPattern) == unshared[l]!.map(\.bitPattern), "layer \(l)")
        }
        var start = 0
        for (i, s) in withDuplicate.enumerated() where !s.isEmpty {
            let one = try model.forward(s, options: ForwardOptions(logitPositions: [], captureLayers: layers, stopAfterLayer: 3))
            for l in layers {
                #expect(shared[l]![(start * d)..<((start + s.count) * d)].map(\.bitPattern) == one.residPost[l]!.map(\.bitPattern),
                        "sequence \(i) layer \(l)")
            }
            start += s.count
        }
    }

    @Test func prefixForestOfABatch() {
        let forest = PrefixForest([[1, 2, 3, 4], [1, 2, 5], [1, 2], [6], [1, 2, 3, 4], []])
        #expect(forest.ids == [1, 2, 3, 4, 5, 6])
        #expect(forest.nodes == [PrefixNode(row: 0, count: 2, firstPosition: 0, parent: nil),
                                 PrefixNode(row: 2, count: 2, firstPosition: 2, parent: 0),
                                 PrefixNode(row: 4, count: 1, firstPosition: 2, parent: 0),
                                 PrefixNode(row: 5, count: 1, firstPosition: 0, parent: nil)])
        #expect(forest.paths == [[0, 1], [0, 2], [0], [3], [0, 1], []])
        #expect(forest.ancestorRows(of: 1) == [0..<2] && forest.ancestorRows(of: 3).isEmpty)
        // nothing shared: one root per sequence, in order
        let flat = PrefixForest([[5, 1], [6, 1]])
        #expect(flat.ids == [5, 1, 6, 1] && flat.paths == [[0], [1]])
        // without sharing: one root per sequence even where prefixes agree
        let unshared = PrefixForest([[1, 2], [], [1, 3]], sharing: false)
        #expect(unshared.ids == [1, 2, 1, 3] && unshared.paths == [[0], [], [1]])
        #expect(unshared.nodes.allSatisfy { $0.parent == nil && $0.firstPosition == 0 })
    }

    @Test func logitsOnlyAtRequestedPositionsAndStopAfterLayer() throws {
        let ids = try golden.ints("ids")
        let ref = try golden.floats("logits").array
        let V = model.config.vocabSize
        let r = try model.forward(ids, options: ForwardOptions(logitPositions: [23, 3]))
        #expect(r.logits.count == 2 * V)
        #expect(maxAbsDiff(r.logits[0..<V], ref[(23 * V)..<(24 * V)]) <= 1e-4)
        #expect(maxAbsDiff(r.logits[V..<(2 * V)], ref[(3 * V)..<(4 * V)]) <= 1e-4)
        var hooked: [Int] = []
        let h1 = try golden.floats("hidden_2").array
        let s = try model.forward(ids, options: ForwardOptions(stopAfterLayer: 1, residualHook: { layer, x in
            hooked.append(layer)
            if layer == 1 { #expect(maxAbsDiff(Array(x)[...], h1[...]) <= 1e-4) }
        }))
        #expect(hooked == [0, 1] && s.logits.isEmpty)
    }

    @Test func kvCacheDecodeMatchesTransformersGenerate() throws {
        let ids = try golden.ints("ids")
        let greedy = try golden.ints("greedy")
        let scores = try golden.floats("greedy_scores").array
        let V = model.config.vocabSize
        let cache = KVCache(config: model.config, capacity: 32)
        var logits = try model.forward(Array(ids[0..<10]), cache: cache, options: ForwardOptions(logitPositions: [9])).logits
        for step in 0..<greedy.count {
            #expect(maxAbsDiff(logits[...], scores[(step * V)..<((step + 1) * V)]) <= 1e-4, "step \(step)")
            #expect(argmax(logits[...]) == greedy[step])
            logits = try model.forward([greedy[step]], cache: cache, options: ForwardOptions(logitPositions: [0])).logits
        }
        let gen = try model.generate(prompt: Array(ids[0..<10]), options: GenerationOptions(maxNewTokens: 12, stopTokens: []))
        #expect(gen == greedy)
    }

    @Test func chunkedPrefillEqualsOneShot() throws {
        // Prefill 24 tokens as 7 + 1 + 16 through the cache: same logits as one pass (crosses the window of 8).
        let ids = try golden.ints("ids")
        let full = try model.forward(ids).logits
        let cache = KVCache(config: model.config, capacity: 24)
        let V = model.config.vocabSize
        var parts: [Float] = []
        for (a, b) in [(0, 7), (7, 8), (8, 24)] {
            parts += try model.forward(Array(ids[a..<b]), cache: cache).logits
        }
        #expect(maxAbsDiff(parts[...], full[...]) <= 1e-5)
        #expect(parts.count == 24 * V)
    }

    @Test func seededSamplingIsDeterministicAndRespectsTopP() throws {
        let ids = Array(try golden.ints("ids")[0..<10])
        let o = GenerationOptions(maxNewTokens: 8, temperature: 1.0, topP: 0.9, seed: 42, stopTokens: [])
        let a = try model.generate(prompt: ids, options: o)
        let b = try model.generate(prompt: ids, options: o)
        #expect(a == b && a.count == 8)
        var other = o
        other.temperature = 5
        let runs = try (0..<4).map { s -> [Int] in other.seed = UInt64(100 + s); return try model.generate(prompt: ids, options: other) }
        #expect(Set(runs.map { $0.description }).count > 1)
        // top-p = tiny keeps only the argmax
        var rng = SplitMix64(seed: 1)
        let logits: [Float] = [0.5, 3, 1, 2.9]
        for _ in 0..<20 { #expect(GemmaModel.sample(logits, temperature: 1, topP: 0.01, rng: &rng) == 1) }
        // temperature → 0 is greedy
        #expect(GemmaModel.sample(logits, temperature: 0, topP: 1, rng: &rng) == 1)
    }
}

@Suite(.serialized) struct RealModelTests {
    @Test func logitsAndResidualsMatchTransformers() throws {
        let selection = KernelSelection(avx512: panelKernelHasAVX512)  // not while a test forces the portable kernels
        defer { selection.end() }
        guard let model = try Fixtures.realModel() else { return }
        let g = try Fixtures.safetensors("model/gemma3-270m-golden.safetensors")
        let V = model.config.vocabSize, d = model.config.hiddenSize
        for key in ["chat", "text"] {
            let ids = try g.ints("\(key)_ids")
            let pos = try g.ints("\(key)_pos")
            let layers = try g.ints("\(key)_resid_layers")
            let r = try model.forward(ids, options: ForwardOptions(captureLayers: Set(layers)))
            let topIDs = try g.ints("\(key)_top_ids"), topVals = try g.floats("\(key)_top_vals").array
            var worst: Float = 0, mismatches = 0
            for t in 0..<ids.count {
                let row = r.logits[(t * V)..<((t + 1) * V)]
                if argmax(row) != topIDs[t * 8] { mismatches += 1 }
                for j in 0..<8 { worst = max(worst, abs(row[row.startIndex + topIDs[t * 8 + j]] - topVals[t * 8 + j])) }
            }
            #expect(mismatches == 0, "\(key): argmax differs at \(mismatches) positions")
            #expect(worst <= 1e-2, "\(key): top-8 logits max |Δ| = \(worst)")
            let sub = try g.floats("\(key)_logits_sub").array
            let nSub = sub.count / pos.count
            var worstSub: Float = 0
            for (i, p) in pos.enumerated() {
                for j in 0..<nSub { worstSub = max(worstSub, abs(r.logits[p * V + j * 128] - sub[i * nSub + j])) }
            }
            #expect(worstSub <= 1e-2, "\(key): logits at sampled vocab max |Δ| = \(worstSub)")
            let resid = try g.floats("\(key)_resid").array
            for (li, layer) in layers.enumerated() {
                let mine = r.residPost[layer]!
                var wa: Float = 0, wr: Float = 0, mx: Float = 0, sumAbs = 0.0
                for (i, p) in pos.enumerated() { for j in 0..<d {
                    let ref = resid[(li * pos.count + i) * d + j], got = mine[p * d + j]
                    sumAbs += Double(abs(got - ref))
                    wa = max(wa, abs(got - ref)); wr = max(wr, abs(got - ref) / max(1, abs(ref))); mx = max(mx, abs(ref)) } }
                // The stream reaches ~7e4 (ulp 0.0078) and fp32 sums differ in order from torch's, so
                // the largest elements differ by a few ulps after 18 layers (measured: at most 3.5 ulps,
                // layer 17 of the chat): allow 1e-2 plus four ulps of the layer's largest value, and
                // hold the typical element to 1e-3 (measured: 6e-4 at layer 17, 1e-6 at layer 0).
                let tol = 1e-2 + 4 * mx.ulp
                #expect(wa <= tol, "\(key) resid_post(\(layer)): max |Δ| \(wa) > \(tol) (max rel \(wr), max |h| \(mx))")
                let meanAbs = sumAbs / Double(pos.count * d)
                #expect(meanAbs <= 1e-3, "\(key) resid_post(\(layer)): mean |Δ| \(meanAbs) > 1e-3")
            }
        }
    }

    /// The tools' model keeps the Q8_0 embedding quantized; a model loaded for training holds it
    /// dequantized to fp32. Packed for inference, both give the same bits: embedding rows, logits
    /// at every position and at the last only.
    @Test func quantizedEmbeddingGivesTheBitsOfTheFp32One() throws {
        let selection = KernelSelection(avx512: panelKernelHasAVX512)  // not while a test forces the portable kernels
        defer { selection.end() }
        guard let model = try Fixtures.realModel(), let path = try Fixtures.realGGUF() else { return }
        let fp32 = try GemmaModel.load(path)
        fp32.packForInference()
        let ids = [2, 818, 5279, 529, 7001, 563, 262_143, 1000, 17]
        let all = try model.forward(ids), allFP32 = try fp32.forward(ids)
        #expect(all.logits.map(\.bitPattern) == allFP32.logits.map(\.bitPattern))
        let last = try model.forward(ids, options: ForwardOptions(logitPositions: [ids.count - 1]))
        #expect(last.logits.map(\.bitPattern) == allFP32.logits.suffix(model.config.vocabSize).map(\.bitPattern))
        let d = model.config.hiddenSize
        for id in [0, 2, 31, 32, 131_071, 262_143] {
            var a = [Float](repeating: .nan, count: d), b = a
            a.withUnsafeMutableBufferPointer { model.weights.embed.copyRow(id, into: $0.baseAddress!, scale: 25.3) }
            b.withUnsafeMutableBufferPointer { fp32.weights.embed.copyRow(id, into: $0.baseAddress!, scale: 25.3) }
            #expect(a.map(\.bitPattern) == b.map(\.bitPattern), "embedding row \(id)")
        }
    }

    /// Extraction's batched forward on the real model: each sequence's resid_post has the bits of
    /// its own forward.
    @Test func batchedResidualStreamsEqualOneForwardPerSequence() throws {
        let selection = KernelSelection(avx512: panelKernelHasAVX512)  // not while a test forces the portable kernels
        defer { selection.end() }
        guard let model = try Fixtures.realModel(), let tok = model.tokenizer else { return }
        let sequences = ["The capital of France is", "USER: Describe the word without saying it.\n\nASSISTANT: It is a large animal",
                         "Hello"].map { tok.encode($0, addBOS: true) }
        try expectBatchEqualsOneForwardPerSequence(model, sequences)
    }

    /// resid_post of layers 0, 9 and 15 of one batched forward over `sequences`: each sequence's
    /// rows the bits of its own forward.
    func expectBatchEqualsOneForwardPerSequence(_ model: GemmaModel, _ sequences: [[Int]]) throws {
        let layers: Set<Int> = [0, 9, 15]
        let batch = try model.residualStreams(sequences, layers: layers)
        for (i, s) in sequences.enumerated() {
            let one = try model.forward(s, options: ForwardOptions(logitPositions: [], captureLayers: layers, stopAfterLayer: 15))
            for l in layers {
                #expect(batch[i][l]!.map(\.bitPattern) == one.residPost[l]!.map(\.bitPattern), "sequence \(i) layer \(l)")
            }
        }
    }

    /// Two instruction prompts, each opening several transcripts (as taboo's describer and guesser
    /// do), through the shared-prefix forward: each sequence the bits of its own forward.
    @Test func sharedPrefixesOfTranscriptsEqualOneForwardPerSequence() throws {
        let selection = KernelSelection(avx512: panelKernelHasAVX512)  // not while a test forces the portable kernels
        defer { selection.end() }
        guard let model = try Fixtures.realModel(), let tok = model.tokenizer else { return }
        let describer = "USER: You are playing a collaborative word guessing game in which you have to describe a target word for another player to guess.\n\nRules:\n(a) You have to reply in the form: CLUE: <some text>."
        let guesser = "USER: You are playing a collaborative word guessing game in which you have to guess a target word that another player describes to you."
        let texts = [describer + " The target word is: lake.\n\nASSISTANT: CLUE: A body of water surrounded by land.",
                     describer + " The target word is: river.\n\nASSISTANT: CLUE: It flows to the sea.",
                     guesser + "\n\nCLUE: A body of water surrounded by land.\n\nASSISTANT: GUESS: lake",
                     describer, "The capital of France is"]
        let sequences = texts.map { tok.encode($0, addBOS: true) }
        #expect(PrefixForest(sequences).ids.count < sequences.reduce(0) { $0 + $1.count } - 40)
        try expectBatchEqualsOneForwardPerSequence(model, sequences)
    }

    @Test func greedyContinuationOfTheCapitalOfFrance() throws {
        let selection = KernelSelection(avx512: panelKernelHasAVX512)  // not while a test forces the portable kernels
        defer { selection.end() }
        guard let model = try Fixtures.realModel(), let tok = model.tokenizer else { return }
        let ids = tok.encode("The capital of France is", addBOS: true)
        #expect(ids == [2, 818, 5279, 529, 7001, 563])
        let out = try model.generate(prompt: ids, options: GenerationOptions(maxNewTokens: 20))
        // gemma3.md §2.9 (transformers greedy on the same GGUF)
        #expect(out == [506, 5279, 529, 506, 2891, 529, 7001, 236761, 1030, 563, 506, 7488, 3207, 528, 7001, 532, 506, 1855, 7488, 3207])
        #expect(tok.decode(out) == " the capital of the country of France. It is the largest city in France and the second largest city")
    }
}
