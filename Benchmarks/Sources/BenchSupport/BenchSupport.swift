// Shared pieces of the executable benchmarks: a seeded generator, the
// BGP-like prefix tables, a monotonic clock and number formatting.
import NetWire
#if canImport(Glibc)
import Glibc
#endif

public struct SplitMix: RandomNumberGenerator {
    public var s: UInt64
    public init(s: UInt64) { self.s = s }
    public mutating func next() -> UInt64 {
        s &+= 0x9E37_79B9_7F4A_7C15
        var z = s
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// `v` with `digits` decimals (no Foundation).
public func fmt(_ v: Double, _ digits: Int) -> String {
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let n = Int((v * scale).rounded())
    let whole = n / Int(scale), frac = n % Int(scale)
    guard digits > 0 else { return String(whole) }
    let f = String(frac)
    return "\(whole)." + String(repeating: "0", count: digits - f.count) + f
}

/// Seconds on CLOCK_MONOTONIC.
public func now() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
}

/// DFZ-like IPv4 length mix: /24 ≈ 60 %, /22–/23 ≈ 20 %, /16–/21 ≈ 17 %, rest /8–/15.
public func v4Length(_ r: inout SplitMix) -> Int {
    let x = Int.random(in: 0..<100, using: &r)
    switch x {
    case 0..<60: return 24
    case 60..<80: return Int.random(in: 22...23, using: &r)
    case 80..<97: return Int.random(in: 16...21, using: &r)
    default: return Int.random(in: 8...15, using: &r)
    }
}

/// IPv6: /48 ≈ 45 %, /32–/47 ≈ 35 %, /29–/31 and /49–/64 the rest.
public func v6Length(_ r: inout SplitMix) -> Int {
    let x = Int.random(in: 0..<100, using: &r)
    switch x {
    case 0..<45: return 48
    case 45..<80: return Int.random(in: 32...47, using: &r)
    case 80..<90: return Int.random(in: 29...31, using: &r)
    default: return Int.random(in: 49...64, using: &r)
    }
}

/// A seeded BGP-like table: IPv4 prefixes clustered in 4096 random /12-ish
/// blocks of public unicast space (as the DFZ is), and IPv6 prefixes in 2000::/3.
public func bgpLikePrefixes(v4 v4Count: Int, v6 v6Count: Int, rng: inout SplitMix) -> (v4: [IPPrefix], v6: [IPPrefix]) {
    let blocks = (0..<4096).map { _ in UInt32.random(in: 0x0100_0000...0xDFFF_FFFF, using: &rng) & 0xFFF0_0000 }
    var v4: [IPPrefix] = []
    v4.reserveCapacity(v4Count)
    for _ in 0..<v4Count {
        let raw = blocks[Int.random(in: 0..<blocks.count, using: &rng)] | UInt32.random(in: 0..<0x0010_0000, using: &rng)
        v4.append(IPPrefix(.v4(IPv4Address(rawValue: raw)), length: v4Length(&rng)))
    }
    var v6: [IPPrefix] = []
    v6.reserveCapacity(v6Count)
    for _ in 0..<v6Count {
        let hi = 0x2000_0000_0000_0000 | (UInt64.random(in: 0...UInt64.max, using: &rng) >> 4)
        v6.append(IPPrefix(.v6(IPv6Address(high: hi, low: 0)), length: v6Length(&rng)))
    }
    return (v4, v6)
}

extension IPAddress {
    /// The IPv4 address as a UInt32 (0 for IPv6).
    public var v4raw: UInt32 { if case .v4(let a) = self { a.rawValue } else { 0 } }
}
