import Foundation

/// A one-line progress display on stderr: count (of total), percent, rate and ETA, redrawn at
/// most every `interval` seconds. Off unless stderr is a terminal, or forced with `--progress`.
public final class ProgressReporter {
    public let label: String
    public let unit: String
    public var total: Int?
    public let enabled: Bool
    public private(set) var done = 0
    private let start: Double
    private var lastDraw: Double = -1
    private let interval: Double
    private let write: (String) -> Void
    private let clock: () -> Double

    public static func shouldShow(quiet: Bool, forced: Bool) -> Bool {
        if quiet { return false }
        return forced || isatty(2) != 0
    }

    public init(label: String, total: Int? = nil, unit: String = "rows", enabled: Bool, interval: Double = 0.25,
                clock: @escaping () -> Double = { ProcessInfo.processInfo.systemUptime },
                write: @escaping (String) -> Void = { FileHandle.standardError.write(Data($0.utf8)) })
    {
        self.label = label
        self.total = total
        self.unit = unit
        self.enabled = enabled
        self.interval = interval
        self.clock = clock
        self.write = write
        start = clock()
    }

    public func advance(by n: Int = 1) {
        done += n
        guard enabled else { return }
        let now = clock()
        if now - lastDraw >= interval {
            lastDraw = now
            write("\r" + line(now: now) + "\u{1B}[K")
        }
    }

    /// Draws the final state and ends the line.
    public func finish() {
        guard enabled else { return }
        write("\r" + line(now: clock()) + "\u{1B}[K\n")
    }

    /// The text of the progress line at time `now`.
    public func line(now: Double) -> String {
        let elapsed = max(now - start, 1e-9)
        let rate = Double(done) / elapsed
        var text = "\(label): \(done)"
        if let total, total > 0 {
            text += "/\(total) (\(String(format: "%.1f", 100 * Double(done) / Double(total)))%)"
        }
        text += " \(ProgressReporter.formatRate(rate)) \(unit)/s"
        if let total, total > 0, rate > 0, done < total {
            text += " ETA \(ProgressReporter.formatDuration(Double(total - done) / rate))"
        } else {
            text += " elapsed \(ProgressReporter.formatDuration(elapsed))"
        }
        return text
    }

    public static func formatRate(_ rate: Double) -> String {
        rate >= 100 ? String(Int(rate.rounded())) : String(format: "%.2f", rate)
    }

    /// h:mm:ss, or m:ss under an hour.
    public static func formatDuration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        let (h, m, r) = (s / 3600, (s % 3600) / 60, s % 60)
        return h > 0 ? String(format: "%d:%02d:%02d", h, m, r) : String(format: "%d:%02d", m, r)
    }
}
