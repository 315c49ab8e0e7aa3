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
        .package(url: "https://github.com/ordo-one/malloc-interposer", from: "1.6.1"),
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
        // Seeded generators, BGP-like tables, clock and formatting.
        .target(
            name: "BenchSupport",
            dependencies: [.product(name: "NetWire", package: rootIdentity)],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        // FIB: load 1M IPv4 + 200k IPv6 prefixes, lookups/s, bytes/prefix.
        .executableTarget(
            name: "FIBBench",
            dependencies: [
                "BenchSupport",
                .product(name: "NetWire", package: rootIdentity),
                .product(name: "Netstack", package: rootIdentity),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        // Forwarding through a namespace between two veths, 1M-prefix FIB: Mpps, mallocs.
        .executableTarget(
            name: "ForwardBench",
            dependencies: [
                "BenchSupport",
                .product(name: "NetWire", package: rootIdentity),
                .product(name: "Netstack", package: rootIdentity),
                .product(name: "MallocInterposerSwift", package: "malloc-interposer"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        // Lab start-up: 100 namespaces × 1,000 routes through `ip` and the lab interpreter.
        .executableTarget(
            name: "LabBench",
            dependencies: [
                "BenchSupport",
                .product(name: "NetWire", package: rootIdentity),
                .product(name: "Netstack", package: rootIdentity),
                .product(name: "NetstackControl", package: rootIdentity),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        // TCP soak in release: ≥ 100 MB transfers under netem impairments,
        // a SYN flood, connection churn; the harness is shared with
        // Tests/NetstackTests (Sources/TCPSoak/TCPStressHarness.swift is a symlink).
        .executableTarget(
            name: "TCPSoak",
            dependencies: [
                "BenchSupport",
                .product(name: "NetWire", package: rootIdentity),
                .product(name: "Netstack", package: rootIdentity),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        // The peers harness's in-process workloads (bulk, rr, crr, idle) on
        // two namespaces joined by a veth, in real time: RESULT lines.
        .executableTarget(
            name: "InprocBench",
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
