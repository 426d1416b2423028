import Foundation
import Testing
@testable import PlaypenIO

@Suite struct MappedFileTests {
    @Test func readsLittleEndianValuesAndRejectsOutOfRange() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("mapped-\(UUID()).bin").path
        defer { unlink(path) }
        try Data([0x01, 0x02, 0x03, 0x04, 0xFF]).write(to: URL(fileURLWithPath: path))
        let file = try MappedFile(path: path)
        #expect(file.count == 5)
        #expect(try file.load(UInt32.self, at: 0, "word") == 0x0403_0201)
        #expect(try file.load(UInt8.self, at: 4, "byte") == 0xFF)
        #expect(throws: PlaypenError.self) { try file.load(UInt32.self, at: 2, "word") }
        #expect(throws: PlaypenError.self) { try file.bytes(at: -1, count: 1, "span") }
        #expect(throws: PlaypenError.self) { try file.bytes(at: 1, count: Int.max, "span") }
    }

    @Test func missingFileNamesThePath() {
        do {
            _ = try MappedFile(path: "/nonexistent/file.gguf")
            Issue.record("expected an error")
        } catch let error as PlaypenError {
            #expect(error.message.contains("/nonexistent/file.gguf"))
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }
}
