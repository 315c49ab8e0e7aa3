import Testing
import NetWire
@testable import Netstack

/// The forwarding fast paths give the general path's answers: the input
/// route from the FIB leaf (`routeInputFast4`) agrees with `routeInput`
/// wherever it answers, and the neighbour header cache never sends with a
/// link-layer address the table no longer holds.
struct FastPathRouter {
    let stack: Stack
    let r: NetworkNamespace, b: NetworkNamespace
    let ra: NetDevice, rb: NetDevice, ar: NetDevice, br: NetDevice
    var otherhostDrops: UInt64 { stack.shard.counters[drop: .otherhost] }
}

@Suite struct ForwardFastPathTests {
    typealias Router = FastPathRouter

    /// a ──veth── r ──veth── b, r forwarding, 10.1.0.2 (br) the gateway.
    static func router() throws -> Router {
        let stack = Stack(seed: 5)
        let a = try stack.addNamespace("a"), r = try stack.addNamespace("r"), b = try stack.addNamespace("b")
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
        return Router(stack: stack, r: r, b: b, ra: ra, rb: rb, ar: ar, br: br)
    }

    @Test func fastInputRouteAgreesWithGeneralLookup() throws {
        let t = try Self.router()
        let r = t.r
        let gw = IPAddress.v4(IPv4Address(10, 1, 0, 2))
        let back = IPAddress.v4(IPv4Address(10, 0, 0, 9))
        func add(_ p: String, _ route: (IPPrefix) -> Route) throws {
            try r.routing.tables.insert(route(IPPrefix(p)!), mode: .append)
        }
        // Enough prefixes for the trie, of every shape the leaf summarises.
        for i in 0..<100 {
            try add("198.\(i).0.0/16") { Route(destination: $0, nextHops: [NextHop(gateway: gw, device: t.rb.ifindex)]) }
        }
        try add("198.1.2.0/24") { Route(destination: $0, nextHops: [NextHop(device: t.rb.ifindex)]) }  // on link
        try add("198.2.2.0/24") { Route(destination: $0, nextHops: [NextHop(gateway: gw, device: t.rb.ifindex)], mtu: 1400) }
        try add("198.3.2.0/24") { Route(destination: $0, type: .blackhole) }
        try add("198.4.2.0/24") { Route(destination: $0, type: .unreachable) }
        try add("198.5.2.0/24") { Route(destination: $0, tos: 0x10, nextHops: [NextHop(gateway: gw, device: t.rb.ifindex)]) }
        try add("198.6.2.0/24") {  // multipath
            Route(destination: $0, nextHops: [NextHop(gateway: gw, device: t.rb.ifindex), NextHop(gateway: back, device: t.ra.ifindex)])
        }
        try add("198.7.2.0/24") { Route(destination: $0, nextHops: [NextHop(gateway: back, device: t.ra.ifindex)]) }  // back out: redirect
        try add("198.8.2.0/24") { Route(destination: $0, nextHops: [NextHop(gateway: gw, device: t.rb.ifindex, flags: .dead)]) }
        try add("198.9.2.0/24") { Route(destination: $0, metric: 5, nextHops: [NextHop(gateway: gw, device: t.rb.ifindex)]) }
        try add("198.9.2.0/24") { Route(destination: $0, metric: 9, nextHops: [NextHop(gateway: back, device: t.ra.ifindex)]) }

        var rng = SystemRandomNumberGenerator()
        var answered = 0, declined = 0, noRoute = 0
        let sources: [IPv4Address] = [IPv4Address(10, 0, 0, 2), IPv4Address(10, 1, 0, 1), IPv4Address(0, 0, 0, 0),
                                      IPv4Address(127, 0, 0, 1)]
        for k in 0..<4000 {
            let dst = IPv4Address(rawValue: 0xC600_0000 | UInt32.random(in: 0..<0x80_0000, using: &rng)
                                  | (k % 3 == 0 ? 0x0000_0200 : 0))
            let src = sources[k % sources.count]
            let general = r.routeInput(FlowKey(destination: .v4(dst), source: .v4(src)), device: t.ra)
            switch r.routeInputFast4(destination: dst, source: src, device: t.ra) {
            case .general:
                declined += 1
            case .noRoute:
                noRoute += 1
                #expect(general == .failure(.networkUnreachable), "\(dst)")
            case .forward(let fast):
                answered += 1
                guard case .success(let d) = general else {
                    Issue.record("fast path answered \(dst) from \(src), the general lookup failed: \(general)")
                    continue
                }
                #expect(RouteDst(d) == fast, "\(dst)")
                #expect(d.type == .unicast && !d.redirect)
            }
        }
        #expect(answered > 500)
        #expect(declined > 100)
        #expect(noRoute > 100)

        // Shapes the leaf cannot answer go to the general path.
        for (dst, why) in [("198.3.2.1", "blackhole"), ("198.4.2.1", "unreachable"), ("198.5.2.1", "tos"),
                           ("198.6.2.1", "multipath"), ("198.7.2.1", "redirect"), ("198.8.2.1", "dead"),
                           ("198.9.2.1", "two routes"), ("10.0.0.1", "local"), ("10.0.0.255", "broadcast")] {
            let a = IPv4Address(dst)!
            #expect(r.routeInputFast4(destination: a, source: IPv4Address(10, 0, 0, 2), device: t.ra) == .general, "\(why)")
        }
        // Not forwarding on the input device: the general path decides.
        t.ra.ipv4.forwarding = 0
        #expect(r.routeInputFast4(destination: IPv4Address(198, 1, 2, 3), source: IPv4Address(10, 0, 0, 2), device: t.ra) == .general)
        t.ra.ipv4.forwarding = 1
        #expect(r.routeInputFast4(destination: IPv4Address(198, 1, 2, 3), source: IPv4Address(10, 0, 0, 2), device: t.ra)
                == .forward(RouteDst(type: .unicast, device: t.rb.ifindex, gateway: nil, mtu: 0)))
        // A source that is one of ours is an error the general path reports.
        #expect(r.routeInputFast4(destination: IPv4Address(198, 1, 2, 3), source: IPv4Address(10, 1, 0, 1), device: t.ra) == .general)
        // No route, and no table but local and main: ENETUNREACH from the leaf path.
        #expect(r.routeInputFast4(destination: IPv4Address(203, 0, 113, 1), source: IPv4Address(10, 0, 0, 2), device: t.ra) == .noRoute)
        // A kernel `local` route shorter than /32 outside 127/8 (what an
        // address with a prefix on lo installs in Linux) covers its prefix;
        // a loopback destination is never answered here.
        try r.routing.tables.insert(Route(table: RouteTableID.local, destination: IPPrefix("198.20.0.0/16")!, type: .local,
                                          scope: .host, proto: .kernel, nextHops: [NextHop(device: r.loopback.ifindex)]),
                                    mode: .append)
        #expect(r.routeInputFast4(destination: IPv4Address(198, 20, 9, 9), source: IPv4Address(10, 0, 0, 2), device: t.ra) == .general)
        #expect(r.routeInputFast4(destination: IPv4Address(198, 21, 9, 9), source: IPv4Address(10, 0, 0, 2), device: t.ra) != .general)
        #expect(r.routeInputFast4(destination: IPv4Address(127, 1, 2, 3), source: IPv4Address(10, 0, 0, 2), device: t.ra) == .general)
        // A policy rule of our own turns the fast path off.
        try r.routing.policy.add(RoutingRule(isIPv4: true, priority: 100, fwmark: 7, action: .table(RouteTableID.main)),
                                 explicitPriority: true)
        #expect(r.routeInputFast4(destination: IPv4Address(198, 1, 2, 3), source: IPv4Address(10, 0, 0, 2), device: t.ra) == .general)
    }

    /// Sends one UDP frame from a through r towards 198.51.100.7 (via 10.1.0.2).
    static func forwardOne(_ t: Router, now: inout Instant) {
        var f = [UInt8](repeating: 0, count: 64)
        f.withUnsafeMutableBytes { out in
            try! EthernetRepr(destination: t.ra.mac, source: t.ar.mac, etherType: .ipv4).emit(into: out)
            try! IPv4Repr(source: IPv4Address(10, 0, 0, 2), destination: IPv4Address(198, 51, 100, 7), protocol: .udp,
                          payloadLength: 30).emit(into: UnsafeMutableRawBufferPointer(rebasing: out[14...]))
        }
        var p = t.stack.shard.pool.allocate()!
        f.withUnsafeBytes { p.append($0) }
        t.ra.receive(p)
        now = now + .milliseconds(1)
        t.stack.poll(now: now)
    }

    @Test func neighbourCacheFollowsEntryChanges() throws {
        let t = try Self.router()
        let gw = IPAddress.v4(IPv4Address(10, 1, 0, 2))
        try t.r.routing.tables.insert(Route(destination: IPPrefix("198.51.100.0/24")!,
                                            nextHops: [NextHop(gateway: gw, device: t.rb.ifindex)]), mode: .add)
        var sink = t.r.neighbourSink
        let other = MACAddress(2, 0, 0, 0, 0, 0x99)
        func set(_ mac: MACAddress) {
            _ = t.r.arpTable.add(device: t.rb.ifindex, address: gw, linkAddress: mac, state: .permanent, flags: [],
                                 create: true, replace: true, exclusive: false, now: .zero, into: &sink)
        }
        var now = Instant.zero
        // Not br's MAC: b sees PACKET_OTHERHOST. Twice, so the second goes through the cache.
        set(other)
        for _ in 0..<2 { Self.forwardOne(t, now: &now) }
        #expect(t.otherhostDrops == 2)
        // Output through a connected entry does not mark it used (neigh_hh_output).
        #expect(t.r.arpTable.lookup(device: t.rb.ifindex, address: gw)?.used == .zero)
        // The entry now holds br's MAC: the cached line must not send to the old one.
        set(t.br.mac)
        Self.forwardOne(t, now: &now)
        #expect(t.otherhostDrops == 2)
        #expect(t.br.statistics.rxPackets == 3)
        // Back to the other MAC, then the entry goes: the packet waits for ARP
        // (INCOMPLETE, a request to b), it does not leave with a stale header.
        set(other)
        Self.forwardOne(t, now: &now)
        #expect(t.otherhostDrops == 3)
        #expect((try? t.r.arpTable.delete(device: t.rb.ifindex, address: gw, into: &sink).get()) != nil)
        let arpBefore = t.otherhostDrops
        Self.forwardOne(t, now: &now)
        #expect(t.otherhostDrops == arpBefore, "no frame with the deleted entry's MAC")
        let state = t.r.arpTable.lookup(device: t.rb.ifindex, address: gw)?.state
        #expect(state == .incomplete || state == .reachable, "resolved again through ARP, not the cache")
    }

    /// The 20-byte header check agrees with InternetChecksum on valid
    /// headers, corrupted ones and random bytes.
    @Test func fastHeaderChecksumAgreesWithInternetChecksum() {
        var rng = SystemRandomNumberGenerator()
        var valid = 0
        for k in 0..<20_000 {
            var h = [UInt8](repeating: 0, count: 20)
            for i in 0..<20 { h[i] = UInt8.random(in: 0...255, using: &rng) }
            if k % 2 == 0 {
                // A correct checksum, sometimes with one bit flipped after.
                h[10] = 0; h[11] = 0
                var c = InternetChecksum()
                h.withUnsafeBytes { c.add($0) }
                let v = c.value
                h[10] = UInt8(v >> 8); h[11] = UInt8(v & 0xFF)
                if k % 4 == 2 { h[Int.random(in: 0..<20, using: &rng)] ^= UInt8(1) << UInt8.random(in: 0..<8, using: &rng) }
            }
            let (fast, general) = h.withUnsafeBytes { b -> (Bool, Bool) in
                var c = InternetChecksum()
                c.add(b)
                return (NetworkNamespace.ipv4HeaderChecksumOK20(b), c.value == 0)
            }
            #expect(fast == general, "\(h)")
            if general { valid += 1 }
        }
        #expect(valid >= 5000)
    }
}
