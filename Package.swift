// swift-tools-version: 6.1
//
// swift-netstack: the Linux kernel's network stack rebuilt in Swift.
// Layout and module boundaries are described in ../shared/DESIGN.md §3.
// Benchmarks live in their own package (Benchmarks/Package.swift) so that the
// benchmark framework is not a dependency of the library or its tests.
import PackageDescription

let strict: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
]

let package = Package(
    name: "swift-netstack",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "NetWire", targets: ["NetWire"]),
        .library(name: "Netstack", targets: ["Netstack"]),
        .library(name: "NetstackControl", targets: ["NetstackControl"]),
        .library(name: "NetstackHost", targets: ["NetstackHost"]),
        .library(name: "NetstackTesting", targets: ["NetstackTesting"]),
        .executable(name: "netstack", targets: ["netstack"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/ordo-one/malloc-interposer", from: "1.6.1"),
    ],
    targets: [
        .target(name: "NetWire", swiftSettings: strict),
        .target(name: "Netstack", dependencies: ["NetWire"], swiftSettings: strict),
        .target(name: "NetstackControl", dependencies: ["Netstack", "NetWire"], swiftSettings: strict),
        // The Linux headers Glibc's module leaves out (epoll, signalfd, if_tun).
        .target(name: "CNetstackHost"),
        .target(name: "NetstackHost", dependencies: ["Netstack", "NetWire", "CNetstackHost"], swiftSettings: strict),
        .target(name: "NetstackTesting", dependencies: ["Netstack", "NetWire"], swiftSettings: strict),
        .executableTarget(
            name: "netstack",
            dependencies: [
                "NetWire", "Netstack", "NetstackControl", "NetstackHost",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict
        ),
        .testTarget(name: "NetWireTests", dependencies: ["NetWire"],
                    resources: [.copy("Fixtures")], swiftSettings: strict),
        .testTarget(
            name: "NetstackTests",
            dependencies: [
                "Netstack", "NetWire", "NetstackTesting",
                .product(name: "MallocInterposerSwift", package: "malloc-interposer"),
            ],
            swiftSettings: strict
        ),
        .testTarget(name: "NetstackControlTests", dependencies: ["NetstackControl", "Netstack", "NetWire", "NetstackTesting"], swiftSettings: strict),
        .testTarget(name: "NetstackTestingTests", dependencies: ["NetstackTesting", "Netstack", "NetWire"], swiftSettings: strict),
        .testTarget(name: "NetstackHostTests", dependencies: ["NetstackHost", "NetstackControl", "Netstack", "NetWire"], swiftSettings: strict),
        .testTarget(name: "CLITests", dependencies: ["netstack"], swiftSettings: strict),
    ]
)
