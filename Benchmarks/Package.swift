// swift-tools-version: 6.1
//
// Benchmarks for swift-netstack, as their own package so that the benchmark
// framework (ordo-one/benchmark) never becomes a dependency of the library or
// its tests. Run from this folder; see README.md and run.sh.
import Foundation
import PackageDescription

// A path dependency's identity is its folder's name (`swift-netstack` in a
// plain clone, something else in a git worktree), so read it rather than
// hard-coding it.
let root = URL(fileURLWithPath: Context.packageDirectory).deletingLastPathComponent()
let rootIdentity = root.lastPathComponent.lowercased()

let package = Package(
    name: "swift-netstack-benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        // The C baseline: the same algorithm as InternetChecksum.nativeSum,
        // compiled at -O3 as a kernel or DPDK build would be.
        .target(
            name: "CChecksum",
            cSettings: [.unsafeFlags(["-O3"])]
        ),
        // ordo-one/benchmark suite: absolute ns and malloc counts per operation.
        .executableTarget(
            name: "NetWireBenchmarks",
            dependencies: [
                "CChecksum",
                .product(name: "NetWire", package: rootIdentity),
                .product(name: "Netstack", package: rootIdentity),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/NetWireBenchmarks",
            swiftSettings: [.swiftLanguageMode(.v6)],
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        // FIB: load 1M IPv4 + 200k IPv6 prefixes, lookups/s, bytes/prefix.
        .executableTarget(
            name: "FIBBench",
            dependencies: [
                .product(name: "NetWire", package: rootIdentity),
                .product(name: "Netstack", package: rootIdentity),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        // Swift vs C in one process: GB/s, ratio, and a checked-in budget.
        .executableTarget(
            name: "ChecksumRatio",
            dependencies: [
                "CChecksum",
                .product(name: "NetWire", package: rootIdentity),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
    ]
)
