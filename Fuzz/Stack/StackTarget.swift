// libFuzzer target for the whole receive path: arbitrary frames arrive on a
// router namespace's devices (IPv4 and IPv6, forwarding on, a UDP socket
// and a TCP listener on port 7 whose connections are accepted and read,
// ping and reassembly reachable), then virtual time runs long enough
// for every queue and timer to drain (fragment reassembly 60 s, neighbour
// resolution, ICMP rate limits). Nothing may trap; after the drain no
// packet may still be held (a stranded timer is a bug), and after the
// namespaces are deleted every buffer must be back in the pool.
//
// Built by Fuzz/run.sh against Netstack and NetWire compiled as static
// libraries with the same sanitizers (-enable-testing so @testable reaches
// the internal seams a harness needs).
#if canImport(Glibc)
import Glibc
#endif
import NetWire
@testable import Netstack

/// a ── e0 · e0 ── r ── e1 · e0 ── b, 10.1.0.0/24 + 2001:db8:1::/64 and
/// 10.2.0.0/24 + 2001:db8:2::/64; r forwards both families.
func makeRouter() -> (Stack, NetworkNamespace, NetworkNamespace, NetworkNamespace) {
    do {
        let stack = Stack(seed: 11)
        let a = try stack.addNamespace("a"), r = try stack.addNamespace("r"), b = try stack.addNamespace("b")
        let ae = try a.addLink(name: "e0", kind: .veth, peerName: "e0", peerNamespace: r)
        let be = try b.addLink(name: "e0", kind: .veth, peerName: "e1", peerNamespace: r)
        guard let r0 = r.device(named: "e0"), let r1 = r.device(named: "e1") else { fatalError("no router devices") }
        let flags: AddressFlags = [.permanent, .nodad]
        for (ns, d, text) in [(a, ae, "10.1.0.2/24"), (r, r0, "10.1.0.1/24"), (r, r1, "10.2.0.1/24"), (b, be, "10.2.0.2/24"),
                              (a, ae, "2001:db8:1::2/64"), (r, r0, "2001:db8:1::1/64"), (r, r1, "2001:db8:2::1/64"),
                              (b, be, "2001:db8:2::2/64")] {
            guard let prefix = IPPrefix(text) else { fatalError("bad prefix \(text)") }
            try ns.addAddress(InterfaceAddress(prefix: prefix, flags: flags), to: d, now: .zero)
        }
        for ns in [a, r, b] {
            ns.setUp(ns.loopback)
            for d in ns.devices where d.kind == .veth { ns.setUp(d) }
        }
        r.ipv4All.forwarding = 1
        r.ipv6All.forwarding = 1
        for d in r.devices { d.ipv4.forwarding = 1; d.ipv6.forwarding = 1 }
        return (stack, a, r, b)
    } catch {
        fatalError("router setup failed: \(error)")
    }
}

/// The input is a list of frames: one selector byte (bit 0: which router
/// device; bit 1: keep the fuzzer's destination MAC instead of the
/// device's), a length byte, then that many bytes.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    let (stack, a, r, b) = makeRouter()
    let udp = r.udpSocket()
    try? udp.bind(nil, port: 7)
    let listener = r.tcpSocket(ipv6: true)
    try? listener.bind(nil, port: 7)
    try? listener.listen(backlog: 8)
    var accepted: [TCPSocket] = []
    func serve() {
        while let c = (try? listener.accept()) ?? nil, accepted.count < 64 { accepted.append(c) }
        for c in accepted { _ = try? c.receive(max: 4096) }
    }
    let devices = [r.device(named: "e0")!, r.device(named: "e1")!]
    var i = 0
    var now = Instant.zero
    var frames = 0
    while i &+ 2 <= input.count, frames < 64 {
        let selector = input[i], length = Int(input[i &+ 1])
        i &+= 2
        let end = min(i &+ length, input.count)
        var frame = Array(input[i..<end])
        i = end
        let dev = devices[Int(selector & 1)]
        if selector & 2 == 0, frame.count >= 6 {
            let mac = dev.mac.rawValue
            for k in 0..<6 { frame[k] = UInt8(truncatingIfNeeded: mac >> (40 &- 8 &* UInt64(k))) }
        }
        guard let p = stack.shard.pool.allocate(copying: frame) else { break }
        r.enqueueReceive(p, on: dev)
        frames &+= 1
        if selector & 4 != 0 {
            now = now + .milliseconds(Int64(selector >> 3) &* 10)
            stack.poll(now: now)
            serve()
        }
    }
    // Drain: run every timer for two minutes of virtual time, bounded.
    let end = now + .seconds(120)
    var rounds = 0
    stack.poll(now: now)
    while let d = stack.nextDeadline, d <= end, rounds < 100_000 {
        now = max(now, d)
        stack.poll(now: now)
        rounds &+= 1
    }
    serve()
    while (try? udp.receive()).flatMap({ $0 }) != nil {}
    for c in accepted { c.close() }
    listener.close()
    stack.poll(now: now)
    // Two idle minutes later nothing may still hold a packet: reassembly
    // has expired, every resolution has succeeded or failed.
    if stack.shard.pool.outstanding != 0 {
        fatalError("stranded: \(stack.shard.pool.outstanding) packet buffers held after 120 idle virtual seconds")
    }
    for ns in [a, r, b] { stack.deleteNamespace(ns) }
    stack.poll(now: end)
    if stack.shard.pool.outstanding != 0 {
        fatalError("leak: \(stack.shard.pool.outstanding) packet buffers outstanding after the namespaces were deleted")
    }
    return 0
}
