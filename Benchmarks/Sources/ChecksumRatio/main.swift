// ChecksumRatio: the Swift Internet checksum against the same algorithm in C
// (-O3), side by side in one process, so the ratio holds even when the shared
// machine's absolute speed moves.
//
//     ChecksumRatio [--budget FILE] [--rounds N]    measure, print, check budget
//     ChecksumRatio --count swift|acc32|adc64 SIZE CALLS
//                                                   run CALLS checksums only
//                                                   (for valgrind --tool=callgrind)
//
// Exit status: 0 when Swift/C(acc32) ≥ the budget for every size, 1 when a
// ratio is under budget, 2 on a wrong checksum or bad arguments.
import CChecksum
import Foundation
import NetWire

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - The functions under test

/// The library's one-shot checksum behind a call boundary, as a caller in
/// another module sees it (NetWire's code is @inlinable and lands here).
@inline(never)
func swiftChecksum(_ bytes: UnsafeRawBufferPointer) -> UInt16 {
    InternetChecksum.checksum(bytes)
}

enum Implementation: String, CaseIterable {
    case swift, acc32, adc64

    var label: String {
        switch self {
        case .swift: "Swift InternetChecksum"
        case .acc32: "C acc32 (-O3)"
        case .adc64: "C adc64 (-O3, asm)"
        }
    }

    @inline(__always)
    func run(_ bytes: UnsafeRawBufferPointer) -> UInt16 {
        switch self {
        case .swift: swiftChecksum(bytes)
        case .acc32: netstack_c_checksum_acc32(bytes.baseAddress, bytes.count)
        case .adc64: netstack_c_checksum_adc64(bytes.baseAddress, bytes.count)
        }
    }
}

/// Keeps results alive so no call can be dropped as dead code.
nonisolated(unsafe) var sink: UInt32 = 0

/// `calls` checksums of `buffer`. One byte of the buffer changes before each
/// call so the compiler cannot hoist the (pure) checksum out of the loop; the
/// same store is paid by every implementation.
@inline(never)
func runCalls(_ impl: Implementation, _ buffer: UnsafeMutableRawBufferPointer, _ calls: Int) {
    let bytes = UnsafeRawBufferPointer(buffer)
    var acc: UInt32 = 0
    for k in 0..<calls {
        buffer.storeBytes(of: UInt8(truncatingIfNeeded: k), toByteOffset: 0, as: UInt8.self)
        acc &+= UInt32(impl.run(bytes))
    }
    sink &+= acc
}

// MARK: - Setup

func monotonicNanoseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
}

/// A cache-line-aligned buffer of deterministic pseudo-random bytes.
func makeBuffer(_ size: Int, seed: UInt64) -> UnsafeMutableRawBufferPointer {
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(size, 1), alignment: 64)
    var state = seed
    for i in 0..<size {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        buffer[i] = UInt8(truncatingIfNeeded: state >> 56)
    }
    return UnsafeMutableRawBufferPointer(rebasing: buffer[0..<size])
}

/// Every implementation must agree on every length 0…2048 at offsets 0…3,
/// and on the benchmark sizes, before anything is timed.
func crossCheck() -> Bool {
    let pool = makeBuffer(65536 + 8, seed: 1071)
    defer { pool.deallocate() }
    var lengths = Array(0...2048)
    lengths += [1500, 9000, 65535, 65536]
    for length in lengths {
        for offset in 0..<4 {
            let bytes = UnsafeRawBufferPointer(rebasing: pool[offset..<(offset + length)])
            let expected = Implementation.acc32.run(bytes)
            for impl in Implementation.allCases where impl.run(bytes) != expected {
                print("MISMATCH \(impl.rawValue) length \(length) offset \(offset): " +
                      "\(impl.run(bytes)) != acc32 \(expected)")
                return false
            }
        }
    }
    return true
}

/// Budget lines `min_ratio_<SIZE> = <value>`; '#' starts a comment.
func readBudget(_ path: String) -> [Int: Double]? {
    guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
    var budget: [Int: Double] = [:]
    for rawLine in text.split(separator: "\n") {
        let line = rawLine.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false)[0]
        let parts = line.split(separator: "=").map { $0.trimmingCharacters(in: .whitespaces) }
        guard parts.count == 2, parts[0].hasPrefix("min_ratio_"),
              let size = Int(parts[0].dropFirst("min_ratio_".count)), let ratio = Double(parts[1])
        else { continue }
        budget[size] = ratio
    }
    return budget
}

func fixed(_ value: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", value) }
func padded(_ text: String, _ width: Int) -> String {
    text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
}

// MARK: - Main

let arguments = Array(CommandLine.arguments.dropFirst())

if arguments.first == "--count" {
    guard arguments.count == 4, let impl = Implementation(rawValue: arguments[1]),
          let size = Int(arguments[2]), let calls = Int(arguments[3]) else {
        print("usage: ChecksumRatio --count swift|acc32|adc64 SIZE CALLS")
        exit(2)
    }
    let buffer = makeBuffer(size, seed: 7)
    runCalls(impl, buffer, calls)
    print("RESULT sink \(sink)")
    exit(0)
}

var budgetPath = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("ChecksumRatio.budget").path
var rounds = 31
var index = 0
while index < arguments.count {
    switch arguments[index] {
    case "--budget" where index + 1 < arguments.count:
        budgetPath = arguments[index + 1]; index += 2
    case "--rounds" where index + 1 < arguments.count:
        rounds = max(1, Int(arguments[index + 1]) ?? rounds); index += 2
    default:
        print("usage: ChecksumRatio [--budget FILE] [--rounds N] | --count IMPL SIZE CALLS")
        exit(2)
    }
}

guard crossCheck() else { exit(2) }
guard let budget = readBudget(budgetPath) else {
    print("cannot read budget file \(budgetPath)")
    exit(2)
}

let sizes = [1500, 65536]
var failed = false
print("Internet checksum, cache-resident buffer, best of \(rounds) rounds of ~10 ms each (GB = 1e9 B)")
print(padded("size", 7) + padded("implementation", 25) + padded("ns/call", 11) + padded("GB/s", 9) + "vs C acc32")
for size in sizes {
    let buffer = makeBuffer(size, seed: UInt64(size))
    defer { buffer.deallocate() }
    // Calibrate: calls per round so a round takes about 10 ms with acc32.
    var calls = 16
    while true {
        let start = monotonicNanoseconds()
        runCalls(.acc32, buffer, calls)
        if monotonicNanoseconds() - start > 10_000_000 || calls > 1 << 28 { break }
        calls *= 2
    }
    // Warm up every implementation, then interleave rounds so a burst of load
    // from the other core lands on all of them alike; keep the best round.
    for impl in Implementation.allCases { runCalls(impl, buffer, calls) }
    var best: [Implementation: Double] = [:]
    for _ in 0..<rounds {
        for impl in Implementation.allCases {
            let start = monotonicNanoseconds()
            runCalls(impl, buffer, calls)
            let perCall = Double(monotonicNanoseconds() - start) / Double(calls)
            best[impl] = min(best[impl] ?? .infinity, perCall)
        }
    }
    let cNs = best[.acc32]!
    for impl in Implementation.allCases {
        let ns = best[impl]!
        print(padded("\(size)", 7) + padded(impl.label, 25) + padded(fixed(ns, 1), 11)
              + padded(fixed(Double(size) / ns, 2), 9) + fixed(cNs / ns, 2))
    }
    let ratio = cNs / best[.swift]!
    let floor = budget[size] ?? 0
    let verdict = ratio >= floor ? "ok" : "UNDER BUDGET"
    print("RESULT checksum_swift_over_c_\(size)B \(fixed(ratio, 3)) (budget ≥ \(fixed(floor, 2)): \(verdict))")
    if ratio < floor { failed = true }
}
exit(failed ? 1 : 0)
