// swift-tools-version: 6.0
import PackageDescription

// Numeric targets are always optimised: debug Swift is 10-100x slower in the inner loops.
let numericSettings: [SwiftSetting] = [.unsafeFlags(["-Ounchecked"])]

let package = Package(
    name: "playpen-attribution",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "PlaypenIO", targets: ["PlaypenIO"]),
        .library(name: "PlaypenData", targets: ["PlaypenData"]),
        .library(name: "PlaypenStats", targets: ["PlaypenStats"]),
        .executable(name: "pp-contrast", targets: ["pp-contrast"]),
        .library(name: "PlaypenTrain", targets: ["PlaypenTrain"]),
        .library(name: "PlaypenTensor", targets: ["PlaypenTensor"]),
        .library(name: "PlaypenModel", targets: ["PlaypenModel"]),
        .library(name: "PlaypenCLI", targets: ["PlaypenCLI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd",
                       providers: [.apt(["libzstd-dev"])]),
        .target(name: "PlaypenIO", dependencies: ["CZstd", "CSHA256"]),
        .testTarget(name: "PlaypenIOTests", dependencies: ["PlaypenIO"]),

        // Playpen rows, filtering, prompt/completion, splits, synthetic taboo rows (data helper).
        .target(name: "CSHA256"),
        .target(name: "PlaypenData", dependencies: ["PlaypenIO"]),
        .testTarget(name: "PlaypenDataTests", dependencies: ["PlaypenData", "CSHA256"]),
        .executableTarget(name: "pp-filter", dependencies: [
            "PlaypenData", "PlaypenIO", "PlaypenCLI", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        .executableTarget(name: "pp-synth", dependencies: [
            "PlaypenData", "PlaypenIO", "PlaypenCLI", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        // contrast: statistics library, the pp-contrast pipeline and its executable
        .target(name: "PlaypenStats", dependencies: ["PlaypenIO"], swiftSettings: numericSettings),
        .executableTarget(name: "pp-contrast", dependencies: [
            "PlaypenStats", "PlaypenIO", "PlaypenCLI", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        .testTarget(name: "PlaypenStatsTests", dependencies: ["PlaypenStats", "PlaypenIO", "pp-contrast"]),
        // attribution: projections, preconditioners, scoring, rank comparison; pp-score
        .target(name: "PlaypenAttribution", dependencies: ["PlaypenIO", "PlaypenStats", "PlaypenTrain", "CBLAS"], swiftSettings: numericSettings),
        .executableTarget(name: "pp-grad", dependencies: [
            "PlaypenAttribution", "PlaypenTrain", "PlaypenModel", "PlaypenIO", "PlaypenCLI",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "pp-score", dependencies: [
            "PlaypenAttribution", "PlaypenIO", "PlaypenCLI", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .testTarget(name: "PlaypenAttributionTests", dependencies: ["PlaypenAttribution", "PlaypenIO", "PlaypenTrain", "PlaypenModel"]),
        // --- SAE (helper sae) ---
        .target(name: "PlaypenSAE", dependencies: ["PlaypenIO", "CBLAS", "PlaypenModel", "PlaypenTensor", "PlaypenData"],
                swiftSettings: numericSettings),
        .testTarget(name: "PlaypenSAETests", dependencies: ["PlaypenSAE", "PlaypenIO", "PlaypenModel"]),
        .executableTarget(name: "pp-sae", dependencies: [
            "PlaypenSAE", "PlaypenIO", "PlaypenCLI", "PlaypenModel", "PlaypenTrain", "CBLAS", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        // --- end SAE ---
        // PlaypenTrain: LoRA parameters, loss, AdamW, schedules, data order, adapters, checkpoints.
        .target(name: "PlaypenTrain", dependencies: ["PlaypenIO", "PlaypenTensor", "PlaypenModel", "CBLAS"],
                swiftSettings: numericSettings),
        .testTarget(name: "PlaypenTrainTests", dependencies: ["PlaypenTrain", "PlaypenModel", "PlaypenIO", "pp-model", "pp-train"]),
        .executableTarget(name: "pp-train", dependencies: [
            "PlaypenTrain", "PlaypenModel", "PlaypenCLI", "PlaypenIO",
            .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        // Model core (issue 4): fp32 ops, Gemma-3 weights/tokenizer/forward/generation, pp-model.
        // The inference matrix kernel over weights packed once (AVX-512 with a portable fallback).
        .target(name: "CKernels", cSettings: [.unsafeFlags(["-O3", "-ffp-contract=off"])]),
        .target(name: "PlaypenTensor", dependencies: ["CBLAS", "CKernels"], swiftSettings: numericSettings),
        .target(name: "PlaypenModel", dependencies: ["PlaypenIO", "PlaypenTensor", "CBLAS"],
                swiftSettings: numericSettings),
        .executableTarget(name: "pp-model", dependencies: [
            "PlaypenModel", "PlaypenTrain", "PlaypenCLI", "PlaypenIO", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        .testTarget(name: "PlaypenTensorTests", dependencies: ["PlaypenTensor", "CBLAS"]),
        // Shared CLI plumbing (flags, --config, progress, manifests, main wrapper) and pp-ppt.
        .target(name: "PlaypenCLI", dependencies: [
            "PlaypenIO", "CBLAS", "CKernels", "PlaypenTensor", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "pp-ppt", dependencies: [
            "PlaypenIO", "PlaypenCLI", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .testTarget(name: "PlaypenCLITests", dependencies: [
            "PlaypenCLI", "PlaypenIO", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // --- pipeline: pp-eval (word success, game replay), shard/reproducibility tests ---
        .target(name: "PlaypenEval", dependencies: ["PlaypenIO", "PlaypenData", "PlaypenModel", "PlaypenTrain", "PlaypenAttribution"]),
        .executableTarget(name: "pp-eval", dependencies: [
            "PlaypenEval", "PlaypenCLI", "PlaypenIO", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        .testTarget(name: "PlaypenEvalTests", dependencies: [
            "PlaypenEval", "PlaypenIO", "PlaypenData", "PlaypenModel", "PlaypenAttribution", "pp-eval", "pp-filter", "pp-train", "pp-sae", "pp-grad"]),
        // --- end pipeline ---
        .testTarget(name: "PlaypenModelTests", dependencies: ["PlaypenModel", "PlaypenIO", "PlaypenTensor", "CZstd"]),
    ]
)
