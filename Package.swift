// swift-tools-version: 6.0
import PackageDescription

// Numeric targets are always optimised: debug Swift is 10-100x slower in the inner loops.
let numericSettings: [SwiftSetting] = [.unsafeFlags(["-Ounchecked"])]

let package = Package(
    name: "playpen-attribution",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "PlaypenIO", targets: ["PlaypenIO"]),
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
        .target(name: "PlaypenIO", dependencies: ["CZstd"]),
        .testTarget(name: "PlaypenIOTests", dependencies: ["PlaypenIO"]),

        // Shared CLI plumbing (flags, --config, progress, manifests, main wrapper) and pp-ppt.
        .target(name: "PlaypenCLI", dependencies: [
            "PlaypenIO", "CBLAS", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "pp-ppt", dependencies: [
            "PlaypenIO", "PlaypenCLI", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .testTarget(name: "PlaypenCLITests", dependencies: [
            "PlaypenCLI", "PlaypenIO", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
    ]
)
