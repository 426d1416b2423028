import Dispatch
import Foundation
import PlaypenIO

// ------------------------------------------------------------------------------------------------
// pp-filter end to end: JSON Lines (plain or zstd, files or stdin) in, example records out.
// Memory is bounded by the longest line and one output chunk, whatever the input size.

public struct FilterRun {
    /// Filters `inputs` (`-` = stdin; empty means stdin) into `output` (`-` = stdout; zstd when
    /// the name ends in `.zst`). On any error, including an empty result, nothing appears under
    /// the output name. `threads` workers (0 = one per core) decode and convert batches of lines;
    /// records, counts and errors come out in input order whatever the thread count, so the
    /// output is byte-identical for any `threads`. `progress` gets the rows read so far.
    @discardableResult
    ///
    /// `fastPath: false` converts kept rows through `PlaypenRow`/`ExampleRecord` instead of the
    /// byte-level converter (same bytes; for tests).
    public static func run(inputs: [String], output: String, options: FilterOptions, threads: Int = 1,
                           fastPath: Bool = true, progress: ((Int) -> Void)? = nil) throws -> FilterCounts {
        let inputs = inputs.isEmpty ? ["-"] : inputs
        let workers = threads > 0 ? threads : max(ProcessInfo.processInfo.activeProcessorCount, 1)
        // Open every input first, so a missing one fails before the output exists.
        let readers = try inputs.map { try JSONLinesReader(path: $0) }
        let file = try OutputFile(path: output)
        let sink = BackgroundWriter(file, overlapped: workers > 1)
        do {
            var filter = ExampleFilter(options: options)
            let batch = LineBatch()
            let slots = (0..<workers).map { _ in WorkerSlot() }
            for slot in slots { slot.fast = fastPath }
            var out = JSONBytesWriter(capacity: 1 << 17)
            for (source, reader) in readers.enumerated() {
                var exhausted = false
                while !exhausted {
                    batch.clear()
                    while batch.count < 4096 && batch.data.count < 8 << 20 {
                        guard let line = try reader.nextLine() else { exhausted = true; break }
                        batch.append(line, lineNumber: reader.lineNumber, source: source)
                    }
                    if batch.count == 0 { break }
                    let names = readers.map(\.name)
                    let classifier = filter
                    let chunk = (batch.count + workers - 1) / workers
                    let work = { @Sendable (w: Int) in
                        slots[w].process(batch, range: min(w * chunk, batch.count)..<min((w + 1) * chunk, batch.count),
                                         filter: classifier, names: names)
                    }
                    if workers == 1 { work(0) } else { DispatchQueue.concurrentPerform(iterations: workers, execute: work) }
                    // Merge in input order.
                    for slot in slots {
                        for item in slot.items {
                            switch item {
                            case .failed(let error):
                                throw error
                            case .rejected(let verdict):
                                _ = filter.tally(verdict)
                            case .emptyCompletion(let split):
                                _ = filter.tally(.pass(split))
                                filter.countEmptyCompletion()
                            case .kept(let split, let start, let mid, let end):
                                _ = filter.tally(.pass(split))
                                slot.out.bytes.withUnsafeBufferPointer { b in
                                    out.bytes.append(contentsOf: UnsafeBufferPointer(rebasing: b[start..<mid]))
                                    out.int(filter.nextIndex())
                                    out.bytes.append(contentsOf: UnsafeBufferPointer(rebasing: b[mid..<end]))
                                }
                                out.byte(0x0A)
                            }
                        }
                    }
                    if out.bytes.count >= 1 << 20 {
                        try sink.write(out.bytes)
                        out.bytes.removeAll(keepingCapacity: true)
                    }
                    progress?(filter.counts.read)
                }
            }
            try filter.checkNotEmpty(input: inputs.map { $0 == "-" ? "<stdin>" : $0 }.joined(separator: ", "))
            try sink.write(out.bytes)
            try sink.finish()
            try file.commit()
            return filter.counts
        } catch {
            sink.drain()
            file.abort()
            throw error
        }
    }
}

/// Writes (and so compresses) output chunks on a serial background queue, at most two chunks in
/// flight, so compression overlaps parsing. `overlapped: false` writes inline.
final class BackgroundWriter: @unchecked Sendable {
    private let file: OutputFile
    private let overlapped: Bool
    private let queue = DispatchQueue(label: "playpen.background-writer")
    private let inFlight = DispatchSemaphore(value: 2)
    private let lock = NSLock()
    private var failure: Error?

    init(_ file: OutputFile, overlapped: Bool) {
        self.file = file
        self.overlapped = overlapped
    }

    private func check() throws {
        lock.lock()
        defer { lock.unlock() }
        if let failure { throw failure }
    }

    func write(_ bytes: [UInt8]) throws {
        guard overlapped else {
            try bytes.withUnsafeBytes { try file.write($0) }
            return
        }
        try check()
        inFlight.wait()
        queue.async {
            defer { self.inFlight.signal() }
            self.lock.lock()
            let failed = self.failure != nil
            self.lock.unlock()
            if failed { return }
            do {
                try bytes.withUnsafeBytes { try self.file.write($0) }
            } catch {
                self.lock.lock()
                self.failure = error
                self.lock.unlock()
            }
        }
    }

    /// Waits for every queued chunk; throws the first write error.
    func finish() throws {
        drain()
        try check()
    }

    func drain() {
        if overlapped { queue.sync {} }
    }
}

/// Lines copied out of the reader so workers can read them while the reader moves on.
final class LineBatch: @unchecked Sendable {
    var data: [UInt8] = []
    var starts: [Int] = [0]
    var lineNumbers: [Int] = []
    var sources: [Int] = []
    var count: Int { lineNumbers.count }

    func clear() {
        data.removeAll(keepingCapacity: true)
        starts.removeAll(keepingCapacity: true)
        starts.append(0)
        lineNumbers.removeAll(keepingCapacity: true)
        sources.removeAll(keepingCapacity: true)
    }

    func append(_ line: UnsafeRawBufferPointer, lineNumber: Int, source: Int) {
        data.append(contentsOf: line)
        starts.append(data.count)
        lineNumbers.append(lineNumber)
        sources.append(source)
    }
}

/// One worker's results for its share of a batch: per line a verdict, and for kept rows the
/// serialized record around its (not yet known) index.
final class WorkerSlot: @unchecked Sendable {
    enum Item {
        case failed(Error)
        case rejected(ExampleFilter.Verdict)
        case emptyCompletion(String)
        /// out.bytes[start..<mid] + index + out.bytes[mid..<end]
        case kept(String, Int, Int, Int)
    }

    var out = JSONBytesWriter(capacity: 1 << 20)
    var items: [Item] = []
    var converter = FastConverter()
    /// Use the byte-level converter (false: the String-based path, for tests).
    var fast = true

    func process(_ batch: LineBatch, range: Range<Int>, filter: ExampleFilter, names: [String]) {
        out.bytes.removeAll(keepingCapacity: true)
        items.removeAll(keepingCapacity: true)
        batch.data.withUnsafeBufferPointer { data in
            for i in range {
                let line = UnsafeBufferPointer(rebasing: data[batch.starts[i]..<batch.starts[i + 1]])
                let location = { "\(names[batch.sources[i]]):\(batch.lineNumbers[i])" }
                do {
                    let (meta, hasAssistant) = try PlaypenRow.screen(line, location: location())
                    let verdict = filter.classify(meta, hasAssistantMessage: hasAssistant)
                    guard case .pass(let split) = verdict else {
                        items.append(.rejected(verdict))
                        continue
                    }
                    if fast {
                        switch try converter.convert(line, meta: meta, split: split, out: &out) {
                        case .record(let start, let mid, let end):
                            items.append(.kept(split, start, mid, end))
                            continue
                        case .emptyCompletion:
                            items.append(.emptyCompletion(split))
                            continue
                        case .fallback:
                            break
                        }
                    }
                    let row = try PlaypenRow.decode(line, location: location())
                    let pc = row.promptCompletion()
                    if pc.completion.isEmpty {
                        items.append(.emptyCompletion(split))
                        continue
                    }
                    let record = ExampleRecord(rowID: row.rowID(), index: 0, split: split,
                                               prompt: pc.prompt, completion: pc.completion, row: row)
                    let start = out.bytes.count
                    ExampleRecord.writeHead(&out, rowID: record.rowID)
                    let mid = out.bytes.count
                    record.writeTail(&out)
                    items.append(.kept(split, start, mid, out.bytes.count))
                } catch {
                    items.append(.failed(error))
                    return  // later lines of this share do not matter: the merge stops here
                }
            }
        }
    }
}

extension UnsafeRawBufferPointer {
    func assumingMemoryBound(to: UInt8.Type) -> UnsafeBufferPointer<UInt8> {
        guard let base = baseAddress else { return UnsafeBufferPointer(start: nil, count: 0) }
        return UnsafeBufferPointer(start: base.assumingMemoryBound(to: UInt8.self), count: count)
    }
}

public struct SynthRun {
    /// Writes `rows` synthetic taboo rows (seeded) to `output` as JSON Lines, streaming.
    public static func run(rows: Int, seed: UInt64, output: String, progress: ((Int) -> Void)? = nil) throws {
        let sink = try OutputFile(path: output)
        do {
            var synth = TabooSynth(seed: seed)
            var w = JSONBytesWriter(capacity: 1 << 17)
            var n = 0
            try synth.generate(rows: rows) { row in
                row.write(&w)
                w.byte(0x0A)
                n += 1
                if w.bytes.count >= 1 << 16 {
                    try w.bytes.withUnsafeBytes { try sink.write($0) }
                    w.bytes.removeAll(keepingCapacity: true)
                }
                if let progress, n & 4095 == 0 { progress(n) }
            }
            try w.bytes.withUnsafeBytes { try sink.write($0) }
            try sink.commit()
        } catch {
            sink.abort()
            throw error
        }
    }
}
