import Foundation

/// The one error type every stage throws for bad input or a failed operation.
///
/// `message` is a single line that names where (file, line, tensor, key, row) and what was
/// expected, so a CLI can print it as is and exit non-zero.
public struct PlaypenError: Error, CustomStringConvertible, Equatable, Sendable {
    public let message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}
