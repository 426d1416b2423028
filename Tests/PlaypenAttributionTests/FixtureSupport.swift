import Foundation
import PlaypenIO

/// Test-side access to Tests/Fixtures/attribution (goldens made by scripts/reference/attribution_*.py).
enum Fixture {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/attribution")

    static func url(_ name: String) -> URL { directory.appendingPathComponent(name) }

    static func json(_ name: String) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(contentsOf: url(name)))
    }

    /// A float32 or float64 .npy fixture as Doubles and Floats, with its shape (PlaypenIO's reader).
    static func npy(_ name: String) throws -> (shape: [Int], values: [Double], float32: [Float]) {
        let array = try Npy.read(path: url(name).path)
        return (array.shape, array.doubles(), array.floats())
    }
}
