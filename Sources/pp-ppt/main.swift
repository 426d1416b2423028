import ArgumentParser
import Foundation
import PlaypenCLI
import PlaypenIO

struct PPPpt: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pp-ppt",
        abstract: "Inspect and merge tensor streams (.ppt).",
        discussion: """
            Examples:
              pp-ppt info runs/demo/train_grads.ppt
              pp-ppt merge -o runs/demo/train_grads.ppt shard-0.ppt shard-1.ppt
            """,
        subcommands: [Info.self, Merge.self])
}

struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a JSON summary of a tensor stream: dtype, row shape, rows, segments, manifests.")

    @Argument(help: "Tensor stream ('-' = stdin).") var input: String
    @Flag(name: .long, help: "Also print every row id.") var ids = false

    func run() throws {
        let reader = try TensorStreamReader(path: input)
        var rowIDs: [JSONValue] = []
        var row = [Float](repeating: 0, count: reader.header.rowLength)
        while let id = try row.withUnsafeMutableBufferPointer({ try reader.next(into: $0) }) {
            if ids { rowIDs.append(.string(id)) }
        }
        var summary: JSONObject = [
            "path": .string(input), "dtype": .string(reader.header.dtype.name),
            "row_shape": .array(reader.header.rowShape.map { .int($0) }), "rows": .int(reader.count),
            "segments": .int(reader.segments.count), "manifests": .array(reader.segments.map(\.manifest)),
        ]
        if ids { summary["row_ids"] = .array(rowIDs) }
        print(JSONValue.object(summary).serialized(options: JSONWriteOptions(spaced: true)))
    }
}

struct Merge: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Concatenate complete, compatible shards into one stream (like cat, but checked).")

    @OptionGroup var common: CommonOptions
    @OptionGroup var output: OutputOptions
    @Argument(help: "Shards, in order.") var inputs: [String]

    func run() throws {
        try TensorStream.merge(inputs: inputs, output: output.output)
        var manifest = RunContext.current.manifest(seed: nil)
        for path in inputs { try manifest.addInput(path) }
        try manifest.write(for: output.output)
        common.log("merged \(inputs.count) shards into \(output.output)")
    }
}

PlaypenMain.run(PPPpt.self)
