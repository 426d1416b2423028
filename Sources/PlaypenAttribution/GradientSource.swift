import Foundation
import PlaypenIO

/// What a gradient stream says about how it was made. pp-grad writes this (as JSON) into the
/// tensor stream header's producer metadata under the key `"attribution"`; pp-score compares the
/// query's and train's before scoring.
public struct GradientStreamInfo: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable {
        /// One row per example.
        case perExample = "per-example"
        /// One row: the mean over examples (`pp-grad --reduce mean`).
        case reduced
    }

    public var layout: GradientLayout
    public var kind: Kind
    /// For `reduced`: whether each example was unit-normalised first, by which semantics' ε rule,
    /// and over how many rows.
    public var unitNormalized: Bool?
    public var reduceSemantics: ScoreSemantics?
    public var reducedRows: Int?
    /// "mean" (over completion tokens) or "sum".
    public var lossReduction: String
    /// sha256 of the adapter weights (adapter_model.safetensors); nil = base model only.
    public var adapterSHA256: String?
    /// sha256 of the base model file (GGUF or the safetensors index).
    public var modelSHA256: String?

    enum CodingKeys: String, CodingKey {
        case layout, kind, unitNormalized = "unit_normalized", reduceSemantics = "reduce_semantics"
        case reducedRows = "reduced_rows", lossReduction = "loss_reduction", adapterSHA256 = "adapter_sha256"
        case modelSHA256 = "model_sha256"
    }

    public init(layout: GradientLayout, kind: Kind = .perExample, unitNormalized: Bool? = nil,
                reduceSemantics: ScoreSemantics? = nil, reducedRows: Int? = nil, lossReduction: String = "mean",
                adapterSHA256: String? = nil, modelSHA256: String? = nil)
    {
        self.layout = layout
        self.kind = kind
        self.unitNormalized = unitNormalized
        self.reduceSemantics = reduceSemantics
        self.reducedRows = reducedRows
        self.lossReduction = lossReduction
        self.adapterSHA256 = adapterSHA256
        self.modelSHA256 = modelSHA256
    }

    /// Throws unless gradients described by `self` (at `name`) and `other` (at `otherName`) can be
    /// scored against each other: same module layout and projection, adapter, base model.
    public func checkCompatible(name: String, with other: GradientStreamInfo, otherName: String) throws {
        if let why = layout.mismatch(other.layout) {
            throw PlaypenError("\(name) and \(otherName) were made with different gradient layouts: \(why)")
        }
        if adapterSHA256 != other.adapterSHA256 {
            throw PlaypenError("\(name) and \(otherName) were made with different adapters (sha256 \(adapterSHA256 ?? "none") vs \(other.adapterSHA256 ?? "none"))")
        }
        if modelSHA256 != other.modelSHA256 {
            throw PlaypenError("\(name) and \(otherName) were made with different base models (sha256 \(modelSHA256 ?? "none") vs \(other.modelSHA256 ?? "none"))")
        }
        if lossReduction != other.lossReduction {
            throw PlaypenError("\(name) and \(otherName) use different loss reductions (\(lossReduction) vs \(other.lossReduction))")
        }
    }
}

/// A chunk of consecutive gradient rows, valid only during the callback that receives it.
public struct GradientChunk {
    /// Position of the first row in the stream (0-based).
    public let firstIndex: Int
    public let rowIds: ArraySlice<String>
    /// `rowIds.count` rows, `rowStride` floats apart, each `layout.rowWidth` wide.
    public let values: UnsafePointer<Float>
    public let rowStride: Int

    public init(firstIndex: Int, rowIds: ArraySlice<String>, values: UnsafePointer<Float>, rowStride: Int) {
        self.firstIndex = firstIndex
        self.rowIds = rowIds
        self.values = values
        self.rowStride = rowStride
    }

    public var count: Int { rowIds.count }
}

/// Where per-example gradient rows come from: a tensor stream on disk (pp-grad's output), or
/// memory. Readers hand out chunks so memory stays independent of the row count.
public protocol GradientSource: AnyObject {
    /// File name (or a label) for error messages.
    var name: String { get }
    var info: GradientStreamInfo { get }
    func forEachChunk(maxRows: Int, _ body: (GradientChunk) throws -> Void) throws
}

/// Gradient rows held in memory.
public final class InMemoryGradients: GradientSource {
    public let name: String
    public let info: GradientStreamInfo
    public let rowIds: [String]
    public let values: [Float]

    public init(name: String, info: GradientStreamInfo, rowIds: [String], values: [Float]) throws {
        guard values.count == rowIds.count * info.layout.rowWidth else {
            throw PlaypenError("\(name): \(values.count) values for \(rowIds.count) rows of \(info.layout.rowWidth)")
        }
        self.name = name
        self.info = info
        self.rowIds = rowIds
        self.values = values
    }

    public func forEachChunk(maxRows: Int, _ body: (GradientChunk) throws -> Void) throws {
        let width = info.layout.rowWidth
        try values.withUnsafeBufferPointer { v in
            var start = 0
            while start < rowIds.count {
                let end = min(rowIds.count, start + maxRows)
                try body(GradientChunk(firstIndex: start, rowIds: rowIds[start..<end],
                                       values: v.baseAddress! + start * width, rowStride: width))
                start = end
            }
        }
    }
}

extension GradientStreamInfo {
    /// The manifest key under which pp-grad stores this in a tensor stream header.
    public static let manifestKey = "attribution"

    public func jsonValue() throws -> JSONValue {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = try encoder.encode(self)
        return try JSONValue.parse(data)
    }

    public static func from(_ value: JSONValue, source: String) throws -> GradientStreamInfo {
        do {
            return try JSONDecoder().decode(GradientStreamInfo.self, from: Data(value.serialized().utf8))
        } catch {
            throw PlaypenError("\(source): the \"\(manifestKey)\" manifest entry is not a gradient stream description: \(error)")
        }
    }
}
