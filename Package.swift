// swift-tools-version: 6.0
import PackageDescription

// Numeric targets are always optimised: debug Swift is 10-100x slower in the inner loops.
let numericSettings: [SwiftSetting] = [.unsafeFlags(["-Ounchecked"])]

let package = Package(
    name: "playpen-attribution",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "PlaypenIO", targets: ["PlaypenIO"]),
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
        // --- SAE (helper sae) ---
        .target(name: "PlaypenSAE", dependencies: ["PlaypenIO", "CBLAS"], swiftSettings: numericSettings),
        .testTarget(name: "PlaypenSAETests", dependencies: ["PlaypenSAE", "PlaypenIO"]),
        .executableTarget(name: "pp-sae", dependencies: [
            "PlaypenSAE", "PlaypenIO", "CBLAS", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        // --- end SAE ---
    ]
)
