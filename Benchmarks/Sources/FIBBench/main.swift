// FIB benchmark: a BGP-like table of 1,000,000 IPv4 and 200,000 IPv6
// prefixes (seeded; length mix after the public DFZ: /24 ≈ 60 %, /22–/23
// ≈ 20 %, /16–/21 ≈ 17 %, rest /8–/15; IPv6 /48 ≈ 45 %, /32–/47 ≈ 35 %,
// /29–/31 and /49–/64 the rest). Reports load time, IPv4 longest-match
// lookups per second on one core, full `FIBTable.lookup` rate, IPv6 rate,
// and approximate bytes per prefix.
//
//   swift build -c release --product FIBBench && .build/release/FIBBench
import BenchSupport
import Netstack
import NetWire
#if canImport(Glibc)
import Glibc
#endif

var rng = SplitMix(s: 42)
let v4Count = 1_000_000, v6Count = 200_000
let (v4, v6) = bgpLikePrefixes(v4: v4Count, v6: v6Count, rng: &rng)
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
