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
let v4Count = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1])! : 1_000_000
let v6Count = CommandLine.arguments.count > 2 ? Int(CommandLine.arguments[2])! : 200_000
/// Lookup keys per pass (a small count for callgrind: instructions per lookup).
let keyCount = CommandLine.arguments.count > 3 ? Int(CommandLine.arguments[3])! : 1 << 20
let (v4, v6) = bgpLikePrefixes(v4: v4Count, v6: v6Count, rng: &rng)
let hops = [NextHop(gateway: .v4(IPv4Address(10, 1, 0, 2)), device: 3)]
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
var keys = [UInt32](repeating: 0, count: keyCount)
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
        for k in keys { if table.longestV4Length(k) != nil { h &+= 1 } }
    }
    let e = now() - s
    best = max(best, Double(keys.count * 8) / e)
    hits = h
}
print("IPv4 longest match: \(fmt(best / 1e6, 1)) M lookups/s (best of 5 × \(keys.count * 8)), hits \(hits)")

/// Best rate over `rounds` passes of `body` over the keys (a function, so
/// the table is borrowed rather than re-read from a global per call).
@inline(never)
func rate(_ keys: [UInt32], rounds: Int, _ body: (UInt32) -> Int) -> (Double, Int) {
    var best = 0.0
    var h = 0
    for _ in 0..<rounds {
        let s = now()
        h = 0
        for k in keys { h &+= body(k) }
        best = max(best, Double(keys.count) / (now() - s))
    }
    return (best, h)
}

@inline(never)
func fullLookupRate(_ table: FIBTable, _ keys: [UInt32]) -> Double {
    rate(keys, rounds: 3) { k in
        if case .found = table.lookup(FIBLookupKey(destination: .v4(IPv4Address(rawValue: k)))) { return 1 }
        return 0
    }.0
}
let bestFull = fullLookupRate(table, keys)
print("IPv4 FIBTable.lookup (route + usable next hop): \(fmt(bestFull / 1e6, 1)) M lookups/s")

@inline(never)
func leafRate(_ table: FIBTable, _ keys: [UInt32]) -> Double {
    rate(keys, rounds: 5) { k in Int(table.lookupV4Leaf(k)?.device ?? 0) }.0
}
print("IPv4 lookupV4Leaf (LPM + next-hop summary): \(fmt(leafRate(table, keys) / 1e6, 1)) M lookups/s")

var keys6: [IPAddress] = []
for i in 0..<(v6.isEmpty ? 0 : keyCount / 4) {
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

// The full IPv4 input route as the stack asks it for a forwarded packet
// (NetworkNamespace.routeInput, what ip_rcv_finish calls): rules
// 0/32766/32767 → local table (lo and two interfaces' routes) → main (this
// table) → source validation → RouteDecision.
let stack = Stack()
let ns = try! stack.addNamespace("r")
let eth0 = try! ns.addLink(name: "eth0", kind: .veth, peerName: "p0")
let eth1 = try! ns.addLink(name: "eth1", kind: .veth, peerName: "p1")
for (d, a) in [(eth0, "10.0.0.1/24"), (eth1, "10.1.0.1/24")] {
    ns.setUp(d)
    try! ns.addAddress(InterfaceAddress(prefix: IPPrefix(a)!), to: d, now: .zero)
}
ns.setUp(ns.loopback)
for n in ["p0", "p1"] { ns.setUp(ns.device(named: n)!) }
eth0.ipv4.forwarding = 1
eth1.ipv4.forwarding = 1
// The BGP table's routes go out eth1 (ifindex 3 in the table above is p0 here; rewrite).
var big = table
table = FIBTable(id: 0)
big.updateAll { r in r.nextHops = [NextHop(gateway: .v4(IPv4Address(10, 1, 0, 2)), device: eth1.ifindex)] }
for r in ns.routing.tables[RouteTableID.main]!.routes(ipv4: true) { try? big.insert(r, mode: .add) }
ns.routing.tables[RouteTableID.main] = big
big = FIBTable(id: 0)

@inline(never)
func inputRate(_ ns: NetworkNamespace, _ dev: NetDevice, _ keys: [UInt32]) -> (Double, Int) {
    let source = IPAddress.v4(IPv4Address(10, 0, 0, 2))
    return rate(keys, rounds: 3) { k in
        if case .success(let d) = ns.routeInput(FlowKey(destination: .v4(IPv4Address(rawValue: k)), source: source), device: dev) {
            return d.nextHop.device == dev.ifindex ? 0 : 1
        }
        return 0
    }
}
let (bestInput, routed) = inputRate(ns, eth0, keys)
print("IPv4 full input route (NetworkNamespace.routeInput: rules → local/main → LPM → RouteDecision): \(fmt(bestInput / 1e6, 1)) M lookups/s (\(routed) routed)")

// The input route as ip_rcv_finish now asks it for a packet to forward:
// the FIB-leaf fast path (NetworkNamespace.routeInputFast4 → RouteDst, no
// Route copy, no ARC), falling back to routeInput when it declines.
@inline(never)
func fastInputRate(_ ns: NetworkNamespace, _ dev: NetDevice, _ keys: [UInt32]) -> (Double, Int, Int) {
    let source = IPv4Address(10, 0, 0, 2)
    var declined = 0
    let (r, h) = rate(keys, rounds: 5) { k in
        let dst = IPv4Address(rawValue: k)
        switch ns.routeInputFast4(destination: dst, source: source, device: dev) {
        case .forward(let d): return d.device == dev.ifindex ? 0 : 1
        case .noRoute: return 0
        case .general: declined &+= 1
        }
        if case .success(let d) = ns.routeInput(FlowKey(destination: .v4(dst), source: .v4(source)), device: dev) {
            return d.nextHop.device == dev.ifindex ? 0 : 1
        }
        return 0
    }
    return (r, h, declined / 5)
}
let (bestFast, routedFast, declinedFast) = fastInputRate(ns, eth0, keys)
print("IPv4 forwarding input route (routeInputFast4 from the FIB leaf, routeInput when it declines): \(fmt(bestFast / 1e6, 1)) M lookups/s (\(routedFast) routed, \(declinedFast) of \(keys.count) declined)")

// The same, driven as a batch: the route of the key eight ahead is
// prefetched (NetworkNamespace.prefetchRouteInput4) before each lookup, so
// the trie misses of several lookups overlap instead of one at a time.
@inline(never)
func fastInputRatePrefetched(_ ns: NetworkNamespace, _ dev: NetDevice, _ keys: [UInt32]) -> (Double, Int) {
    let source = IPv4Address(10, 0, 0, 2)
    let ahead = 8
    var best = 0.0
    var h = 0
    keys.withUnsafeBufferPointer { keys in
        for _ in 0..<5 {
            let s = now()
            h = 0
            for i in keys.indices {
                if i &+ ahead < keys.count { ns.prefetchRouteInput4(destination: IPv4Address(rawValue: keys[i &+ ahead])) }
                let dst = IPv4Address(rawValue: keys[i])
                switch ns.routeInputFast4(destination: dst, source: source, device: dev) {
                case .forward(let d): h &+= d.device == dev.ifindex ? 0 : 1
                case .noRoute: break
                case .general:
                    if case .success(let d) = ns.routeInput(FlowKey(destination: .v4(dst), source: .v4(source)), device: dev) {
                        h &+= d.nextHop.device == dev.ifindex ? 0 : 1
                    }
                }
            }
            best = max(best, Double(keys.count) / (now() - s))
        }
    }
    return (best, h)
}
let (bestPrefetched, routedPrefetched) = fastInputRatePrefetched(ns, eth0, keys)
print("IPv4 forwarding input route, batch with prefetch 8 ahead (prefetchRouteInput4 + routeInputFast4): \(fmt(bestPrefetched / 1e6, 1)) M lookups/s (\(routedPrefetched) routed)")
