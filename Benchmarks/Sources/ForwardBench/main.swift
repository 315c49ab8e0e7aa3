// Forwarding benchmark: one namespace routing 64-byte UDP frames between two
// veths, in process, with a 1M-prefix BGP-like FIB loaded.
//
//   a: ar ──veth── ra :r: rb ──veth── br :b
//
// Each packet: taken from the shard's pool, a 64-byte frame copied in,
// queued on `ra` (netif_rx), then `Stack.poll` runs netifReceive → ip_rcv →
// route input (rules 0/32766/32767, local then main table, 1M prefixes) →
// ip_forward (TTL, checksum) → neighbourOutput (a permanent entry) → noqueue
// → veth xmit → `br`'s ring in b. b receives it and drops it as
// PACKET_OTHERHOST (the neighbour entry holds a MAC that is not br's), the
// cheapest way for a frame to leave the stack, so b's cost is included.
// Destinations are 4096 addresses drawn from the table's prefixes.
//
//   swift build -c release --product ForwardBench && .build/release/ForwardBench [packets]
import BenchSupport
import MallocInterposerSwift
import Netstack
import NetWire
#if canImport(Glibc)
import Glibc
#endif

let args = CommandLine.arguments
let totalPackets = args.count > 1 ? Int(args[1])! : 4_000_000
let fibSize = args.count > 2 ? Int(args[2])! : 1_000_000

let stack = Stack(seed: 7)
let a = try stack.addNamespace("a")
let r = try stack.addNamespace("r")
let b = try stack.addNamespace("b")
let ra = try r.addLink(name: "ra", kind: .veth, peerName: "ar", peerNamespace: a)
let rb = try r.addLink(name: "rb", kind: .veth, peerName: "br", peerNamespace: b)
let ar = a.device(named: "ar")!, br = b.device(named: "br")!
for (ns, d, addr) in [(r, ra, "10.0.0.1/24"), (r, rb, "10.1.0.1/24"), (a, ar, "10.0.0.2/24"), (b, br, "10.1.0.2/24")] {
    ns.setUp(ns.loopback)
    ns.setUp(d)
    try ns.addAddress(InterfaceAddress(prefix: IPPrefix(addr)!), to: d, now: .zero)
}
ra.ipv4.forwarding = 1
rb.ipv4.forwarding = 1
r.ipv4All.forwarding = 1
let gateway = IPAddress.v4(IPv4Address(10, 1, 0, 2))
var sink = r.neighbourSink
// Not br's MAC: b receives the frames as PACKET_OTHERHOST and drops them.
_ = r.arpTable.add(device: rb.ifindex, address: gateway, linkAddress: MACAddress(2, 0, 0, 0, 0, 0x99), state: .permanent,
                   flags: [], create: true, replace: true, exclusive: false, now: .zero, into: &sink)

var rng = SplitMix(s: 42)
let (v4, _) = bgpLikePrefixes(v4: fibSize, v6: 0, rng: &rng)
func usable(_ raw: UInt32) -> Bool {
    let top = raw >> 24
    return top != 0 && top != 10 && top != 127 && top < 224
}
let hop = [NextHop(gateway: gateway, device: rb.ifindex)]
let t0 = now()
var loaded = 0
for p in v4 where usable(p.address.v4raw) && usable(p.network.address.v4raw) {
    do { try r.routing.tables.insert(Route(destination: p.network, nextHops: hop), mode: .add); loaded += 1 } catch {}
}
let loadTime = now() - t0

// 4096 frames, one per destination inside a loaded prefix.
var frames: [[UInt8]] = []
while frames.count < 4096 {
    let p = v4[Int.random(in: 0..<v4.count, using: &rng)]
    guard usable(p.network.address.v4raw) else { continue }
    let hostBits = UInt32.random(in: 0...UInt32.max, using: &rng) & ~IPv4Address.mask(prefixLength: p.length)
    let dst = IPv4Address(rawValue: p.network.address.v4raw | hostBits)
    var f = [UInt8](repeating: 0, count: 64)
    f.withUnsafeMutableBytes { out in
        try! EthernetRepr(destination: ra.mac, source: ar.mac, etherType: .ipv4).emit(into: out)
        try! IPv4Repr(source: IPv4Address(10, 0, 0, 2), destination: dst, protocol: .udp, payloadLength: 30)
            .emit(into: UnsafeMutableRawBufferPointer(rebasing: out[14...]))
        // UDP 4000 → 4001, length 30, checksum 0 (none).
        out[34] = 0x0F; out[35] = 0xA0; out[36] = 0x0F; out[37] = 0xA1; out[39] = 30
    }
    frames.append(f)
}

nonisolated let batch = 256
var clock = Instant.zero
/// Sends `count` packets through r; returns nothing, state is in counters.
/// Sends `count` packets through r; returns nothing, state is in counters.
/// Not main-actor isolated, and the globals are passed in: inside a
/// main-actor function every closure on the per-packet path (the frame
/// copy) began with a `swift_task_isCurrentExecutor` check, ~220
/// instructions per packet that were the benchmark's, not the stack's.
func run(_ count: Int, stack: Stack, device ra: NetDevice, frames: [[UInt8]], clock: inout Instant) {
    let pool = stack.shard.pool
    frames.withUnsafeBufferPointer { frames in
        var sent = 0
        var k = 0
        while sent < count {
            let n = min(batch, count - sent)
            for _ in 0..<n {
                var p = pool.allocate()!
                frames[k].withUnsafeBytes { p.append($0) }
                k = (k + 1) & 4095
                ra.receive(p)
            }
            clock = clock + .microseconds(1)
            stack.poll(now: clock)
            sent += n
        }
    }
}
@MainActor func run(_ count: Int) { run(count, stack: stack, device: ra, frames: frames, clock: &clock) }

// Warm-up (first use of every frame, caches, lazy metadata).
run(8192)
let forwardedBefore = stack.shard.counters[.ipForwDatagrams]

var best = 0.0
var times: [Double] = []
let rounds = 5
for _ in 0..<rounds {
    let s = now()
    run(totalPackets / rounds)
    let e = now() - s
    times.append(e)
    best = max(best, Double(totalPackets / rounds) / e)
}
let forwarded = stack.shard.counters[.ipForwDatagrams] - forwardedBefore

MallocInterposerSwift.initialize()
MallocInterposerSwift.reset()
MallocInterposerSwift.hook()
run(100_000)
MallocInterposerSwift.unhook()
let mallocs = MallocInterposerSwift.getStatistics().mallocCount

let otherhost = stack.shard.counters[drop: .otherhost]
let expected = UInt64(8192 + (totalPackets / rounds) * rounds + 100_000)
print("FIB: \(loaded) IPv4 prefixes loaded in \(fmt(loadTime, 2)) s")
print("forwarded \(forwarded) packets in \(rounds) rounds: best \(fmt(best / 1e6, 2)) Mpps (\(fmt(1e9 / best, 0)) ns/packet), rounds: "
      + times.map { fmt(Double(totalPackets / rounds) / $0 / 1e6, 2) }.joined(separator: " ") + " Mpps")
print("heap allocations over 100,000 forwarded packets: \(mallocs)")
print("b dropped \(otherhost) as otherhost (expected \(expected)); pool outstanding \(stack.shard.pool.outstanding)")
if otherhost != expected || forwarded != UInt64((totalPackets / rounds) * rounds) {
    print("ERROR: not every packet was forwarded")
    exit(1)
}
if mallocs != 0 {
    print("ERROR: forwarding allocated on the heap (budget: 0 per packet)")
    exit(1)
}
