// FIB benchmark: a BGP-like table of 1,000,000 IPv4 and 200,000 IPv6
// prefixes (seeded; length mix after the public DFZ: /24 ≈ 60 %, /22–/23
// ≈ 20 %, /16–/21 ≈ 17 %, rest /8–/15; IPv6 /48 ≈ 45 %, /32–/47 ≈ 35 %,
// /29–/31 and /49–/64 the rest). Reports load time, IPv4 longest-match
// lookups per second on one core, full `FIBTable.lookup` rate, IPv6 rate,
// and approximate bytes per prefix.
//
//   swift build -c release --product FIBBench && .build/release/FIBBench
import Netstack
import NetWire
#if canImport(Glibc)
import Glibc
#endif

struct SplitMix: RandomNumberGenerator {
    var s: UInt64
    mutating func next() -> UInt64 {
        s &+= 0x9E37_79B9_7F4A_7C15
        var z = s
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

func fmt(_ v: Double, _ digits: Int) -> String {
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let n = Int((v * scale).rounded())
    let whole = n / Int(scale), frac = n % Int(scale)
    guard digits > 0 else { return String(whole) }
    let f = String(frac)
    return "\(whole)." + String(repeating: "0", count: digits - f.count) + f
}

func now() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
}

func v4Length(_ r: inout SplitMix) -> Int {
    let x = Int.random(in: 0..<100, using: &r)
    switch x {
    case 0..<60: return 24
    case 60..<80: return Int.random(in: 22...23, using: &r)
    case 80..<97: return Int.random(in: 16...21, using: &r)
    default: return Int.random(in: 8...15, using: &r)
    }
}

func v6Length(_ r: inout SplitMix) -> Int {
    let x = Int.random(in: 0..<100, using: &r)
    switch x {
    case 0..<45: return 48
    case 45..<80: return Int.random(in: 32...47, using: &r)
    case 80..<90: return Int.random(in: 29...31, using: &r)
    default: return Int.random(in: 49...64, using: &r)
    }
}

var rng = SplitMix(s: 42)
let v4Count = 1_000_000, v6Count = 200_000
// Public unicast space, clustered as the DFZ is: addresses drawn from 4096
// random /12-ish blocks.
let blocks = (0..<4096).map { _ in UInt32.random(in: 0x0100_0000...0xDFFF_FFFF, using: &rng) & 0xFFF0_0000 }
var v4: [IPPrefix] = []
v4.reserveCapacity(v4Count)
for _ in 0..<v4Count {
    let raw = blocks[Int.random(in: 0..<blocks.count, using: &rng)] | UInt32.random(in: 0..<0x0010_0000, using: &rng)
    v4.append(IPPrefix(.v4(IPv4Address(rawValue: raw)), length: v4Length(&rng)))
}
var v6: [IPPrefix] = []
for _ in 0..<v6Count {
    let hi = 0x2000_0000_0000_0000 | (UInt64.random(in: 0...UInt64.max, using: &rng) >> 4)
    v6.append(IPPrefix(.v6(IPv6Address(high: hi, low: 0)), length: v6Length(&rng)))
}
let hops = [NextHop(gateway: .v4(IPv4Address(10, 0, 0, 1)), device: 2)]
let hops6 = [NextHop(gateway: IPAddress("fe80::1"), device: 2)]

let t0 = now()
var table = FIBTable(id: 254)
var inserted4 = 0, inserted6 = 0
for p in v4 {
    do { try table.insert(Route(destination: p, nextHops: hops), mode: .add); inserted4 += 1 } catch {}
}
let t1 = now()
for p in v6 {
    do { try table.insert(Route(destination: p, metric: 1024, nextHops: hops6), mode: .add); inserted6 += 1 } catch {}
}
let t2 = now()
print("load: \(inserted4) IPv4 prefixes (distinct) in \(fmt(t1 - t0, 2)) s, \(inserted6) IPv6 in \(fmt(t2 - t1, 2)) s, total \(fmt(t2 - t0, 2)) s")

// Lookup keys: half inside announced space, half random.
var keys = [UInt32](repeating: 0, count: 1 << 20)
for i in keys.indices {
    keys[i] = i & 1 == 0 ? v4[Int.random(in: 0..<v4.count, using: &rng)].address.masked(prefixLength: 32).v4raw | UInt32.random(in: 0...255, using: &rng)
        : UInt32.random(in: 0...UInt32.max, using: &rng)
}
extension IPAddress { var v4raw: UInt32 { if case .v4(let a) = self { a.rawValue } else { 0 } } }

var best = 0.0
var hits = 0
for _ in 0..<5 {
    let s = now()
    var h = 0
    for _ in 0..<8 {
        for k in keys { if table.longestV4(k) != nil { h &+= 1 } }
    }
    let e = now() - s
    best = max(best, Double(keys.count * 8) / e)
    hits = h
}
print("IPv4 longest match: \(fmt(best / 1e6, 1)) M lookups/s (best of 5 × \(keys.count * 8)), hits \(hits)")

var bestFull = 0.0
for _ in 0..<3 {
    let s = now()
    var h = 0
    for k in keys {
        if case .found = table.lookup(FIBLookupKey(destination: .v4(IPv4Address(rawValue: k)))) { h &+= 1 }
    }
    bestFull = max(bestFull, Double(keys.count) / (now() - s))
    _ = h
}
print("IPv4 FIBTable.lookup (route + usable next hop): \(fmt(bestFull / 1e6, 1)) M lookups/s")

var keys6: [IPAddress] = []
for i in 0..<(1 << 18) {
    let p = v6[Int.random(in: 0..<v6.count, using: &rng)]
    if case .v6(let a) = p.address { keys6.append(.v6(IPv6Address(high: a.high | UInt64(i & 0xFF), low: UInt64(i)))) }
}
var best6 = 0.0
for _ in 0..<3 {
    let s = now()
    var h = 0
    for k in keys6 { if table.longestMatch(k) != nil { h &+= 1 } }
    best6 = max(best6, Double(keys6.count) / (now() - s))
    _ = h
}
print("IPv6 longest match: \(fmt(best6 / 1e6, 1)) M lookups/s")
let bytes = table.approximateBytes
print("memory: ~\(bytes / 1_000_000) MB, \(bytes / (inserted4 + inserted6)) bytes/prefix (entries + routes + index + trie)")

do {
    let s = now()
    var h = 0
    for k in keys { if let e = table.longestMatch(.v4(IPv4Address(rawValue: k))) { h &+= e.routes.count } }
    print("IPv4 longestMatch (entry copy): \(fmt(Double(keys.count) / (now() - s) / 1e6, 1)) M/s \(h)")
}
