// swift-tools-version: 6.0
import PackageDescription

// Numeric targets are always optimised: debug Swift is 10-100x slower in the inner loops.
let numericSettings: [SwiftSetting] = [.unsafeFlags(["-Ounchecked"])]

let package = Package(
    name: "playpen-attribution",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "PlaypenIO", targets: ["PlaypenIO"]),
        .library(name: "PlaypenTensor", targets: ["PlaypenTensor"]),
        .library(name: "PlaypenModel", targets: ["PlaypenModel"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd",
                       providers: [.apt(["libzstd-dev"])]),
        .target(name: "PlaypenIO", dependencies: ["CZstd"]),
        .testTarget(name: "PlaypenIOTests", dependencies: ["PlaypenIO"]),
        // Model core (issue 4): fp32 ops, Gemma-3 weights/tokenizer/forward/generation, pp-model.
        .target(name: "PlaypenTensor", dependencies: ["CBLAS"], swiftSettings: numericSettings),
        .target(name: "PlaypenModel", dependencies: ["PlaypenIO", "PlaypenTensor", "CBLAS"],
                swiftSettings: numericSettings),
        .executableTarget(name: "pp-model", dependencies: [
            "PlaypenModel", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        .testTarget(name: "PlaypenTensorTests", dependencies: ["PlaypenTensor"]),
        .testTarget(name: "PlaypenModelTests", dependencies: ["PlaypenModel", "PlaypenIO", "PlaypenTensor", "CZstd"]),
    ]
)
