import Foundation

/// An output file that appears under its final name only when `commit()` succeeds.
///
/// Data are written to a temporary sibling (`.<name>.tmp-<pid>-<n>`) in the same directory,
/// so the final `rename(2)` is atomic; `abort()` (or deinit without commit) removes it.
/// This is how every tool avoids leaving a half-written artifact behind on error.
public final class AtomicFile {
    public let finalPath: String
    public let temporaryPath: String
    private var committed = false
    private nonisolated(unsafe) static var counter = 0

    public init(path: String) throws {
        finalPath = path
        let url = URL(fileURLWithPath: path)
        let directory = url.deletingLastPathComponent().path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory),
              isDirectory.boolValue
        else {
            throw PlaypenError("\(path): cannot write: directory \(directory) does not exist")
        }
        AtomicFile.counter += 1
        temporaryPath = directory + "/." + url.lastPathComponent
            + ".tmp-\(getpid())-\(AtomicFile.counter)"
        guard FileManager.default.createFile(atPath: temporaryPath, contents: nil) else {
            throw PlaypenError("\(path): cannot write: permission denied or read-only directory")
        }
    }

    /// Moves the temporary file to its final name.
    public func commit() throws {
        guard !committed else { return }
        if rename(temporaryPath, finalPath) != 0 {
            let reason = String(cString: strerror(errno))
            unlink(temporaryPath)
            throw PlaypenError("\(finalPath): cannot rename temporary file into place: \(reason)")
        }
        committed = true
    }

    /// Removes the temporary file; the final name is left untouched.
    public func abort() {
        if !committed { unlink(temporaryPath) }
        committed = true
    }

    deinit { abort() }
}
