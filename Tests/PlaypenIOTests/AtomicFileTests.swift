import Foundation
import Testing
@testable import PlaypenIO

@Suite struct AtomicFileTests {
    @Test func commitMovesIntoPlaceAndAbortLeavesNothing() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("atomic-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }

        let kept = try AtomicFile(path: dir + "/kept.txt")
        try Data("hello".utf8).write(to: URL(fileURLWithPath: kept.temporaryPath))
        #expect(!FileManager.default.fileExists(atPath: dir + "/kept.txt"))
        try kept.commit()
        #expect(try String(contentsOfFile: dir + "/kept.txt", encoding: .utf8) == "hello")

        let dropped = try AtomicFile(path: dir + "/dropped.txt")
        dropped.abort()
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["kept.txt"])
    }

    @Test func missingDirectoryIsAClearError() {
        #expect(throws: PlaypenError.self) { try AtomicFile(path: "/nonexistent-dir-xyz/out.bin") }
    }
}
