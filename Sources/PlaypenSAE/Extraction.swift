import Foundation
import PlaypenIO

// The extraction loop, independent of how activations are produced: tokenized samples go through
// a residual-stream provider (the Gemma forward that stops after the deepest requested layer) in
// batches, each requested layer's resid_post is encoded by its SAEs, and every SAE's per-sample
// directory is written. Everything is checked before the first forward.

/// Produces resid_post (output of decoder layer L, before the final norm) for token sequences.
public protocol ResidualStreamProvider {
    var hiddenSize: Int { get }
    var layerCount: Int { get }
    /// For each requested layer, resid_post of all the batch's sequences, their rows one after
    /// another in batch order ([Σ tokens, hiddenSize]), so a batch is encoded without regathering.
    /// Implementations may stop the forward after `layers.max()`.
    func residPost(_ batch: [[Int32]], layers: [Int]) throws -> [Int: [Float]]
}

/// One tokenized sample: its examples.jsonl record and the token ids fed to the model (BOS first).
public struct ExtractionSample: Sendable {
    public var info: SampleInfo
    public var tokens: [Int32]
    public init(info: SampleInfo, tokens: [Int32]) {
        self.info = info
        self.tokens = tokens
    }
}

/// One SAE to run: where its per-sample directory goes and which layer it reads.
public struct SAEJob {
    public var id: String
    public var sae: SparseAutoencoder
    public var layer: Int
    public var output: String
    public init(id: String, sae: SparseAutoencoder, layer: Int, output: String) {
        self.id = id
        self.sae = sae
        self.layer = layer
        self.output = output
    }
}

/// `safe(sae_id)` of the original: each run of characters outside `[A-Za-z0-9_.-]` becomes `_`.
public func safeSAEName(_ id: String) -> String {
    var out = ""
    var inRun = false
    for scalar in id.unicodeScalars {
        let ok = (scalar.value < 128) && (CharacterSet.alphanumerics.contains(scalar) || "_.-".unicodeScalars.contains(scalar))
        if ok { out.unicodeScalars.append(scalar); inRun = false } else if !inRun { out += "_"; inRun = true }
    }
    return out
}

/// Checks every job against the model before any work: d_in equals the hidden size and the layer
/// exists.
public func validateJobs(_ jobs: [SAEJob], hiddenSize: Int, layerCount: Int) throws {
    guard !jobs.isEmpty else { throw PlaypenError("no SAE given (use --sae)") }
    var outputs = Set<String>()
    for job in jobs {
        guard job.sae.dIn == hiddenSize else {
            throw PlaypenError("\(job.sae.source): SAE d_in \(job.sae.dIn) does not match the model's hidden size \(hiddenSize)")
        }
        guard job.layer >= 0, job.layer < layerCount else {
            throw PlaypenError("\(job.sae.source): layer \(job.layer) is beyond the model's depth (layers 0...\(layerCount - 1))")
        }
        guard outputs.insert(job.output).inserted else { throw PlaypenError("\(job.output): two SAEs write to the same directory") }
    }
}

/// Runs the jobs over the samples in batches of `batchSize` sequences (packing any encoder not
/// packed yet, which tools do as they load the SAEs); each SAE encodes a batch
/// in groups of whole samples of up to `encodeGroupRows` rows (a longer sample alone), which
/// changes no output. Every output directory appears only when all samples are done; on any
/// error none does.
public func runExtraction<Samples: Sequence>(
    samples: Samples, model: ResidualStreamProvider, jobs: [SAEJob], options: PerSampleOptions,
    batchSize: Int = 8, encodeGroupRows: Int = 512, decode: (([Int32]) -> String)? = nil,
    summaryExtra: [(String, String)] = [], progress: (Int, Int) -> Void = { _, _ in }
) throws where Samples.Element == ExtractionSample {
    try validateJobs(jobs, hiddenSize: model.hiddenSize, layerCount: model.layerCount)
    let jobs = jobs.map { job in
        var packed = job
        packed.sae.packEncoder()
        return packed
    }
    let layers = Array(Set(jobs.map(\.layer))).sorted()
    let writers = try jobs.map {
        try PerSampleWriter(directory: $0.output, saeId: $0.id, dSAE: $0.sae.dSAE, layer: $0.layer, options: options)
    }
    var done = 0, tokens = 0
    var batch: [ExtractionSample] = []
    func flush() throws {
        guard !batch.isEmpty else { return }
        let acts = try model.residPost(batch.map(\.tokens), layers: layers)
        let batchTokens = batch.reduce(0) { $0 + $1.tokens.count }
        // Groups of samples: one product per group reads the encoder once for hundreds of rows,
        // and a group's codes (64 KB a row for a 16k SAE) are a buffer small enough to be reused
        // from group to group rather than freshly mapped for the whole batch (137 MB less peak
        // RSS for 8 taboo transcripts). Every row's codes are the bits of a per-sample encode.
        for (job, writer) in zip(jobs, writers) {
            guard let x = acts[job.layer], x.count == batchTokens * job.sae.dIn else {
                throw PlaypenError("layer \(job.layer): the model returned no resid_post of \(batchTokens) x \(job.sae.dIn) for samples \(batch.first!.info.index)...\(batch.last!.info.index)")
            }
            let (dIn, dSAE) = (job.sae.dIn, job.sae.dSAE)
            var row = 0
            for sample in batch {
                let T = sample.tokens.count
                try job.sae.checkFinite(x[(row * dIn)..<((row + T) * dIn)],
                                        what: "layer \(job.layer) resid_post of sample \(sample.info.index)")
                row += T
            }
            try x.withUnsafeBufferPointer { rows in
                var first = 0, row = 0
                while first < batch.count {
                    var end = first + 1, count = batch[first].tokens.count
                    while end < batch.count && count + batch[end].tokens.count <= encodeGroupRows {
                        count += batch[end].tokens.count
                        end += 1
                    }
                    let codes = job.sae.encodeFinite(UnsafeBufferPointer(rebasing: rows[(row * dIn)..<((row + count) * dIn)]), tokens: count)
                    try codes.withUnsafeBufferPointer { all in
                        var r = 0
                        for sample in batch[first..<end] {
                            let T = sample.tokens.count
                            try writer.add(sample.info, codes: UnsafeBufferPointer(rebasing: all[(r * dSAE)..<((r + T) * dSAE)]),
                                           tokens: T, tokenIds: sample.tokens)
                            r += T
                        }
                    }
                    row += count
                    first = end
                }
            }
        }
        tokens += batchTokens
        done += batch.count
        progress(done, tokens)
        batch.removeAll(keepingCapacity: true)
    }
    do {
        for sample in samples {
            guard !sample.tokens.isEmpty else { continue }
            batch.append(sample)
            if batch.count == batchSize { try flush() }
        }
        try flush()
        for (job, writer) in zip(jobs, writers) {
            var extra = summaryExtra
            extra.append(("sae_source", job.sae.source))
            try writer.finish(decode: decode, extra: extra)
        }
    } catch {
        for writer in writers { writer.abort() }
        throw error
    }
}

/// Throws, naming `what`, the token and the dimension, at the first NaN or infinity of the rows
/// `x` [tokens, width] (resid_post of one sample, say).
func checkFiniteRows(_ x: ArraySlice<Float>, width: Int, what: String) throws {
    for (i, v) in x.enumerated() where !v.isFinite {
        throw PlaypenError("\(what): non-finite activation \(v) at token \(i / width), dimension \(i % width)")
    }
}

/// Writes resid_post rows of `layer` for all samples to a raw f32 file [rows, hiddenSize] (the
/// training cache), optionally without the first position (BOS). Returns the row count.
@discardableResult
public func cacheActivations<Samples: Sequence>(
    samples: Samples, model: ResidualStreamProvider, layer: Int, dropBOS: Bool, path: String, batchSize: Int = 8,
    progress: (Int, Int) -> Void = { _, _ in }
) throws -> Int where Samples.Element == ExtractionSample {
    guard layer >= 0, layer < model.layerCount else {
        throw PlaypenError("layer \(layer) is beyond the model's depth (layers 0...\(model.layerCount - 1))")
    }
    let out = try AtomicFile(path: path)
    let writer = try FileHandleWriter(path: out.temporaryPath)
    var rows = 0, done = 0
    var batch: [ExtractionSample] = []
    func flush() throws {
        guard !batch.isEmpty else { return }
        let D = model.hiddenSize, batchTokens = batch.reduce(0) { $0 + $1.tokens.count }
        guard let x = try model.residPost(batch.map(\.tokens), layers: [layer])[layer], x.count == batchTokens * D else {
            throw PlaypenError("layer \(layer): the model returned no resid_post of \(batchTokens) x \(D) for samples \(batch.first!.info.index)...\(batch.last!.info.index)")
        }
        var first = 0
        for sample in batch {
            let T = sample.tokens.count
            try checkFiniteRows(x[(first * D)..<((first + T) * D)], width: D,
                                what: "layer \(layer) resid_post of sample \(sample.info.index)")
            let start = dropBOS ? 1 : 0
            if T > start {
                try x.withUnsafeBytes { try writer.write(UnsafeRawBufferPointer(rebasing: $0[((first + start) * D * 4)..<((first + T) * D * 4)])) }
                rows += T - start
            }
            first += T
        }
        done += batch.count
        progress(done, rows)
        batch.removeAll(keepingCapacity: true)
    }
    for sample in samples {
        guard !sample.tokens.isEmpty else { continue }
        batch.append(sample)
        if batch.count == batchSize { try flush() }
    }
    try flush()
    try writer.close()
    try out.commit()
    return rows
}
