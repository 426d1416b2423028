import Dispatch
import Foundation
import PlaypenIO

// ------------------------------------------------------------------------------------------------
// pp-filter end to end: JSON Lines (plain or zstd, files or stdin) in, example records out.
//
// Three stages, so that on a few cores decompression, conversion and compression run at the same
// time: a reader thread decompresses the input into chunks of whole lines, `threads` workers
// screen and convert chunks, and the calling thread takes the chunks back in input order, numbers
// and tallies the records and compresses them into the output. A fixed set of chunks circulates,
// so memory is bounded by their number times (chunk size + longest line), whatever the input
// size. The output is what the sequential loop (`threads` 1) writes, byte for byte: records are
// only ordered, numbered and compressed on the one merging thread.

public struct FilterRun {
    /// Filters `inputs` (`-` = stdin; empty means stdin) into `output` (`-` = stdout; zstd when
    /// the name ends in `.zst`). On any error, including an empty result, nothing appears under
    /// the output name; the error reported is the first in input order (a bad line names its file
    /// and line), and it stops every stage. `threads` workers (0 = one per core) convert chunks of
    /// lines; records, counts and errors come out in input order whatever the thread count, so the
    /// output is byte-identical for any `threads`. `progress` gets the rows read so far, on the
    /// calling thread.
    ///
    /// `fastPath: false` converts kept rows through `PlaypenRow`/`ExampleRecord` instead of the
    /// byte-level converter (same bytes; for tests).
    @discardableResult
    public static func run(inputs: [String], output: String, options: FilterOptions, threads: Int = 1,
                           fastPath: Bool = true, progress: ((Int) -> Void)? = nil) throws -> FilterCounts {
        let inputs = inputs.isEmpty ? ["-"] : inputs
        let workers = threads > 0 ? threads : max(ProcessInfo.processInfo.activeProcessorCount, 1)
        // Open every input first, so a missing one fails before the output exists.
        let readers = try inputs.map { try JSONLinesReader(path: $0) }
        let file = try OutputFile(path: output)
        do {
            var merger = RecordMerger(filter: ExampleFilter(options: options))
            let job = ChunkJob(names: readers.map(\.name), filter: merger.filter, fastPath: fastPath)
            let consume = { (chunk: FilterChunk) throws in
                try merger.merge(chunk, into: file)
                progress?(merger.filter.counts.read)
            }
            if workers == 1 {
                let chunk = FilterChunk()
                for (source, reader) in readers.enumerated() {
                    chunk.source = source
                    while try reader.nextChunk(into: chunk.lines) {
                        chunk.process(job)
                        try consume(chunk)
                    }
                }
            } else {
                try FilterPipeline(readers: readers, job: job, workers: workers).run(consume)
            }
            try merger.filter.checkNotEmpty(input: inputs.map { $0 == "-" ? "<stdin>" : $0 }.joined(separator: ", "))
            try merger.flush(into: file)
            try file.commit()
            return merger.filter.counts
        } catch {
            file.abort()
            throw error
        }
    }
}

/// What every worker needs to convert a chunk (immutable, shared).
struct ChunkJob: Sendable {
    let names: [String]
    let filter: ExampleFilter
    let fastPath: Bool
}

/// Lines of one input and, once processed, their verdicts and records. Owned by one stage at a
/// time: the reader fills `lines`, a worker `results`, the merger reads both.
final class FilterChunk: @unchecked Sendable {
    let lines = LineChunk()
    var source = 0
    let results = WorkerSlot()
    /// Set on the chunk after the last: why the input ended early, if it did.
    var readError: Error?
    var isEnd = false
    /// Signalled by the worker when `results` is ready.
    let processed = DispatchSemaphore(value: 0)

    func process(_ job: ChunkJob) {
        results.fast = job.fastPath
        results.process(lines, source: source, filter: job.filter, names: job.names)
    }
}

/// Numbers, tallies and writes the records of processed chunks, in input order.
struct RecordMerger {
    var filter: ExampleFilter
    /// Records staged for the output, small enough to stay in cache until compressed.
    private var out = JSONBytesWriter(capacity: 1 << 18)

    init(filter: ExampleFilter) { self.filter = filter }

    mutating func merge(_ chunk: FilterChunk, into file: OutputFile) throws {
        let slot = chunk.results
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
                if out.bytes.count >= 1 << 17 { try flush(into: file) }
            }
        }
    }

    mutating func flush(into file: OutputFile) throws {
        try out.bytes.withUnsafeBytes { try file.write($0) }
        out.bytes.removeAll(keepingCapacity: true)
    }
}

/// The threads of a run with several workers: a reader, `workers` converters, and the caller as
/// the ordered consumer. Chunks go reader -> (`pending` for workers, `ordered` for the
/// consumer) -> consumer -> `free` -> reader; there are a fixed number of them.
final class FilterPipeline: @unchecked Sendable {
    private let readers: [JSONLinesReader]
    private let job: ChunkJob
    private let workers: Int
    private let free: BlockingQueue<FilterChunk>
    private let pending = BlockingQueue<FilterChunk?>()
    private let ordered = BlockingQueue<FilterChunk>()
    private let stopLock = NSLock()
    private var stopRequested = false
    private let threadsDone = DispatchGroup()

    init(readers: [JSONLinesReader], job: ChunkJob, workers: Int) {
        self.readers = readers
        self.job = job
        self.workers = workers
        // One being read, one being merged, and two per worker: one in hand and one queued, so a
        // worker need not wait for the reader while the merger catches up.
        free = BlockingQueue((0..<(2 * workers + 2)).map { _ in FilterChunk() })
    }

    private var stopped: Bool {
        stopLock.lock()
        defer { stopLock.unlock() }
        return stopRequested
    }

    private func stop() {
        stopLock.lock()
        stopRequested = true
        stopLock.unlock()
    }

    /// Runs the reader and workers and hands `consume` every processed chunk in input order.
    /// When anything fails (a read, a line, `consume`), the other threads stop at their next
    /// chunk and the first error in input order is thrown once they have all ended.
    func run(_ consume: (FilterChunk) throws -> Void) throws {
        for _ in 0..<workers { spawn { self.convertChunks() } }
        spawn { self.readChunks() }
        var failure: Error?
        while true {
            let chunk = ordered.pop()
            if chunk.isEnd {
                if failure == nil, let error = chunk.readError { failure = error }
                break
            }
            chunk.processed.wait()
            if failure == nil {
                do { try consume(chunk) } catch {
                    failure = error
                    stop()
                }
            }
            free.push(chunk)
        }
        threadsDone.wait()
        if let failure { throw failure }
    }

    private func spawn(_ body: @escaping @Sendable () -> Void) {
        threadsDone.enter()
        let thread = Thread {
            body()
            self.threadsDone.leave()
        }
        thread.start()
    }

    private func readChunks() {
        var readError: Error?
        reading: for (source, reader) in readers.enumerated() {
            while !stopped {
                let chunk = free.pop()
                chunk.source = source
                let more: Bool
                do { more = try reader.nextChunk(into: chunk.lines) } catch {
                    readError = error
                    free.push(chunk)
                    break reading
                }
                guard more else {
                    free.push(chunk)
                    continue reading
                }
                ordered.push(chunk)
                pending.push(chunk)
            }
            break
        }
        for _ in 0..<workers { pending.push(nil) }
        let end = free.pop()
        end.isEnd = true
        end.readError = readError
        ordered.push(end)
    }

    private func convertChunks() {
        while let chunk = pending.pop() {
            // After a failure nobody merges the results.
            if !stopped { chunk.process(job) }
            chunk.processed.signal()
        }
    }
}

/// A first-in first-out queue whose `pop` waits for an element.
final class BlockingQueue<Element>: @unchecked Sendable {
    private var elements: [Element]
    private var head = 0
    private let condition = NSCondition()

    init(_ elements: [Element] = []) { self.elements = elements }

    func push(_ element: Element) {
        condition.lock()
        elements.append(element)
        condition.signal()
        condition.unlock()
    }

    func pop() -> Element {
        condition.lock()
        defer { condition.unlock() }
        while head == elements.count { condition.wait() }
        let element = elements[head]
        head += 1
        if head == elements.count {
            elements.removeAll(keepingCapacity: true)
            head = 0
        }
        return element
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

    func process(_ lines: LineChunk, source: Int, filter: ExampleFilter, names: [String]) {
        out.bytes.removeAll(keepingCapacity: true)
        items.removeAll(keepingCapacity: true)
        for i in 0..<lines.count {
            let line = lines.line(i).assumingMemoryBound(to: UInt8.self)
            let location = { "\(names[source]):\(lines.lineNumbers[i])" }
            do {
                let (meta, hasAssistant, messages) = try PlaypenRow.screen(line, location: location())
                let verdict = filter.classify(meta, hasAssistantMessage: hasAssistant)
                guard case .pass(let split) = verdict else {
                    items.append(.rejected(verdict))
                    continue
                }
                if fast {
                    switch try converter.convert(line, messagesAt: messages, meta: meta, split: split, out: &out) {
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
                return  // later lines of this chunk do not matter: the merge stops here
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
