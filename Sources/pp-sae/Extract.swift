import ArgumentParser

/// Subcommands that need the model (extract, train-model) register here.
let extraSubcommands: [ParsableCommand.Type] = []
