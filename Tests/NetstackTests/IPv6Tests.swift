import Testing
import NetWire
@testable import Netstack

/// a ── e0 · e0 ── r ── e1 · e0 ── b, with 2001:db8:1::/64 and 2001:db8:2::/64,
/// default routes via r, all.forwarding on r. `nodad` skips DAD.
func ipv6Router(nodad: Bool = true, bMTU: Int? = nil) throws -> (Stack, NetworkNamespace, NetworkNamespace, NetworkNamespace) {
    let stack = Stack(seed: 3)
    let a = try stack.addNamespace("a"), r = try stack.addNamespace("r"), b = try stack.addNamespace("b")
    let ae = try a.addLink(name: "e0", kind: .veth, peerName: "e0", peerNamespace: r)
    let be = try b.addLink(name: "e0", kind: .veth, peerName: "e1", peerNamespace: r)
    let r0 = try #require(r.device(named: "e0")), r1 = try #require(r.device(named: "e1"))
    if let m = bMTU { try r.setMTU(r1, m); try b.setMTU(be, m) }
    let flags: AddressFlags = nodad ? [.permanent, .nodad] : [.permanent]
    for (ns, d, text) in [(a, ae, "2001:db8:1::2/64"), (r, r0, "2001:db8:1::1/64"), (r, r1, "2001:db8:2::1/64"),
                          (b, be, "2001:db8:2::2/64")] {
        try ns.addAddress(InterfaceAddress(prefix: try #require(IPPrefix(text)), flags: flags), to: d, now: .zero)
    }
    for ns in [a, r, b] {
        ns.setUp(ns.loopback)
        for d in ns.devices where d.kind == .veth { ns.setUp(d) }
    }
    r.ipv6All.forwarding = 1
    for d in r.devices { d.ipv6.forwarding = 1 }
    for (ns, gw, dev) in [(a, "2001:db8:1::1", ae), (b, "2001:db8:2::1", be)] {
        try ns.routing.tables.insert(Route(destination: .defaultRoute(v6: true), metric: 1024,
                                           nextHops: [NextHop(gateway: IPAddress(gw), device: dev.ifindex)],
                                           preference: 0), mode: .append)
    }
    return (stack, a, r, b)
}

let a1 = IPv6Address("2001:db8:1::2")!, r1 = IPv6Address("2001:db8:1::1")!
let b2 = IPv6Address("2001:db8:2::2")!

@Suite struct IPv6Tests {
    @Test func pingAcrossTheRouter() throws {
        let (stack, a, r, b) = try ipv6Router()
        settle(stack, limit: .seconds(3))
        let s = a.pingSocket(ipv6: true)
        try s.sendEcho(to: .v6(b2), sequence: 1, dataLength: 56)
        settle(stack, from: stack.now, limit: .seconds(3))
        let reply = try #require(s.takeReply())
        #expect(reply.from == .v6(b2))
        #expect(reply.ttl == 63)
        #expect(reply.dataLength == 56)
        // NDP resolved both hops; a learned r as a router (R flag in the NA).
        let e = try #require(a.ndTable.lookup(device: 2, address: .v6(r1)))
        #expect(e.state == .reachable)
        #expect(e.flags.contains(.router))
        #expect(r.ndTable.lookup(device: r.device(named: "e1")!.ifindex, address: .v6(b2))?.state == .reachable)
        #expect(stack.shard.counters[.ip6OutForwDatagrams] >= 2)
        #expect(b.ndTable.count >= 1)
    }

    /// net.ipv6.icmp.echo_ignore_all: no reply, and the request is consumed
    /// (consume_skb), not counted as a drop — as IPv4's icmp_echo.
    @Test func echoIgnoreAllConsumesTheRequest() throws {
        let (stack, a, _, b) = try ipv6Router()
        settle(stack, limit: .seconds(3))
        b.config.ipv6IcmpEchoIgnoreAll = 1
        let dropsBefore = stack.shard.counters[drop: .notSpecified]
        let echosBefore = stack.shard.counters[.icmp6InEchos]
        let s = a.pingSocket(ipv6: true)
        try s.sendEcho(to: .v6(b2), sequence: 1, dataLength: 56)
        settle(stack, from: stack.now, limit: .seconds(3))
        #expect(s.takeReply() == nil)
        #expect(stack.shard.counters[.icmp6InEchos] == echosBefore + 1)
        #expect(stack.shard.counters[drop: .notSpecified] == dropsBefore)
        #expect(stack.shard.pool.outstanding == 0)
    }

    @Test func hopLimitExceededAndNoRoute() throws {
        let (stack, a, _, _) = try ipv6Router()
        settle(stack, limit: .seconds(3))
        let s = a.pingSocket(ipv6: true)
        s.ttl = 1
        try s.sendEcho(to: .v6(b2), sequence: 1, dataLength: 8)
        settle(stack, from: stack.now, limit: .seconds(3))
        let te = try #require(s.takeError())
        #expect(te.type == ICMPv6Type.timeExceeded && te.code == ICMPv6Code.hopLimitExceeded)
        #expect(te.from == .v6(r1))
        #expect(te.quotedSequence == 1)
        s.ttl = nil
        try s.sendEcho(to: .v6(IPv6Address("2001:db8:3::1")!), sequence: 2, dataLength: 8)
        settle(stack, from: stack.now, limit: .seconds(3))
        let nr = try #require(s.takeError())
        #expect(nr.type == ICMPv6Type.destinationUnreachable && nr.code == ICMPv6Code.noRoute)
        #expect(nr.quotedSequence == 2)
        #expect(stack.shard.counters[.ip6InNoRoutes] == 1)
        #expect(stack.shard.counters[drop: .ipInnoroutes] == 1)
    }

    @Test func noForwardingWithoutAllForwarding() throws {
        let (stack, a, r, _) = try ipv6Router()
        r.ipv6All.forwarding = 0
        settle(stack, limit: .seconds(3))
        let s = a.pingSocket(ipv6: true)
        try s.sendEcho(to: .v6(b2), sequence: 1, dataLength: 8)
        settle(stack, from: stack.now, limit: .seconds(3))
        #expect(s.takeReply() == nil)
        #expect(s.takeError() == nil)
        #expect(stack.shard.counters[.ip6InAddrErrors] == 1)
    }

    @Test func dadMakesAddressesTentativeThenUsable() throws {
        let (stack, a, _, _) = try ipv6Router(nodad: false)
        let e0 = try #require(a.device(named: "e0"))
        let global = try #require(e0.addresses.first { $0.address == .v6(a1) })
        #expect(global.flags.contains(.tentative))
        #expect(e0.addresses.contains { $0.scope == .link && $0.flags.contains(.tentative) })
        // Tentative: not a source, and no local route yet (only the prefix route).
        #expect(a.routeInput(FlowKey(destination: .v6(a1), source: .v6(r1)), device: e0).map(\.type) != .success(.local))
        let early = a.pingSocket(ipv6: true)
        #expect(throws: Errno.self) { try early.sendEcho(to: .v6(b2), sequence: 1, dataLength: 8) }
        // DAD: random delay < 1 s, one NS, retrans_time 1 s.
        settle(stack, limit: .seconds(3))
        #expect(e0.addresses.allSatisfy { !$0.flags.contains(.tentative) })
        #expect(stack.shard.counters[.icmp6OutNeighborSolicits] >= 4)
        #expect(a.routeInput(FlowKey(destination: .v6(a1), source: .v6(r1)), device: e0).map(\.type) == .success(.local))
        let s = a.pingSocket(ipv6: true)
        try s.sendEcho(to: .v6(b2), sequence: 1, dataLength: 8)
        settle(stack, from: stack.now, limit: .seconds(3))
        #expect(s.takeReply()?.from == .v6(b2))
    }

    @Test func duplicateAddressFailsDAD() throws {
        let (stack, a, r, _) = try ipv6Router()
        settle(stack, limit: .seconds(3))
        let r0 = try #require(r.device(named: "e0"))
        try r.addAddress(InterfaceAddress(prefix: try #require(IPPrefix("2001:db8:1::2/64"))), to: r0, now: stack.now)
        settle(stack, from: stack.now, limit: .seconds(3))
        let dup = try #require(r0.addresses.first { $0.address == .v6(a1) })
        #expect(dup.flags.contains(.dadFailed) && dup.flags.contains(.tentative))
        // The owner keeps its address.
        let mine = try #require(a.device(named: "e0")?.addresses.first { $0.address == .v6(a1) })
        #expect(!mine.flags.contains(.tentative) && !mine.flags.contains(.dadFailed))
    }

    @Test func udpOverIPv6AndPortUnreachable() throws {
        let (stack, a, _, b) = try ipv6Router()
        settle(stack, limit: .seconds(3))
        let server = b.udpSocket(ipv6: true)
        try server.bind(nil, port: 9000)
        let client = a.udpSocket(ipv6: true)
        try client.connect(.v6(b2), port: 9000)
        #expect(client.localAddress == .v6(a1))
        try client.send(Array("hello".utf8))
        settle(stack, from: stack.now, limit: .seconds(3))
        let d = try #require(try server.receive())
        #expect(d.payload == Array("hello".utf8))
        #expect(d.source == .v6(a1))
        #expect(stack.shard.counters[.udp6InDatagrams] == 1)
        let closed = a.udpSocket(ipv6: true)
        try closed.connect(.v6(b2), port: 9001)
        try closed.send([1])
        settle(stack, from: stack.now, limit: .seconds(3))
        #expect(throws: Errno.ECONNREFUSED) { _ = try closed.receive() }
        #expect(stack.shard.counters[.udp6NoPorts] == 1)
        #expect(stack.shard.counters[.icmp6OutDestUnreachs] == 1)
    }

    @Test func packetTooBigTeachesThePathMTUAndTheSourceFragments() throws {
        let (stack, a, _, b) = try ipv6Router(bMTU: 1280)
        settle(stack, limit: .seconds(3))
        let s = a.pingSocket(ipv6: true)
        try s.sendEcho(to: .v6(b2), sequence: 1, dataLength: 1400)
        settle(stack, from: stack.now, limit: .seconds(3))
        let ptb = try #require(s.takeError())
        #expect(ptb.type == ICMPv6Type.packetTooBig && ptb.info == 1280)
        #expect(a.pmtu.mtu(for: .v6(b2), now: stack.now) == 1280)
        // The next one leaves a in fragments that b reassembles.
        try s.sendEcho(to: .v6(b2), sequence: 2, dataLength: 1400)
        settle(stack, from: stack.now, limit: .seconds(3))
        let reply = try #require(s.takeReply())
        #expect(reply.sequence == 2 && reply.dataLength == 1400)
        #expect(stack.shard.counters[.ip6FragCreates] >= 2)
        #expect(stack.shard.counters[.ip6ReasmOKs] >= 1)
        _ = b
    }

    @Test func malformedPacketsAreDroppedWithReasons() throws {
        let (stack, _, r, _) = try ipv6Router()
        settle(stack, limit: .seconds(3))
        let r0 = try #require(r.device(named: "e0"))
        func inject(_ edit: (inout [UInt8]) -> Void) {
            var f = [UInt8](repeating: 0, count: 14 + 40 + 8)
            for i in 0..<6 { f[i] = UInt8(truncatingIfNeeded: r0.mac.rawValue >> (40 - 8 * UInt64(i))) }
            f[12] = 0x86; f[13] = 0xDD
            f[14] = 0x60
            f[18] = 0; f[19] = 8           // payload length 8
            f[20] = 59                     // no next header
            f[21] = 64
            f.withUnsafeMutableBytes { b in a1.write(into: b, at: 22); r1.write(into: b, at: 38) }
            edit(&f)
            r.enqueueReceive(stack.shard.pool.allocate(copying: f)!, on: r0)
        }
        inject { $0[14] = 0x40 }                                   // version 4
        inject { $0[19] = 200 }                                    // longer than the frame
        inject { $0[22] = 0xFF }                                   // multicast source
        inject { f in f.withUnsafeMutableBytes { IPv6Address.loopback.write(into: $0, at: 38) } }  // ::1 off lo
        inject { $0[20] = 200 }                                    // unknown next header
        stack.poll(now: stack.now)
        #expect(stack.shard.counters[drop: .unhandledProto] == 1)
        #expect(stack.shard.counters[drop: .pktTooSmall] == 1)
        #expect(stack.shard.counters[.ip6InTruncatedPkts] == 1)
        #expect(stack.shard.counters[drop: .ipInhdr] == 2)
        #expect(stack.shard.counters[drop: .ipNoproto] == 1)
        #expect(stack.shard.counters[.ip6InUnknownProtos] == 1)
        #expect(stack.shard.counters[.icmp6OutParmProblems] == 1)
    }

    @Test func errorsAreRateLimitedPerDestination() throws {
        let (stack, a, _, _) = try ipv6Router()
        settle(stack, limit: .seconds(3))
        let s = a.pingSocket(ipv6: true)
        s.ttl = 1
        for i in 1...20 { try s.sendEcho(to: .v6(b2), sequence: UInt16(i), dataLength: 8) }
        settle(stack, from: stack.now, limit: .milliseconds(100))
        var errors = 0
        while s.takeError() != nil { errors += 1 }
        // A /64 route: 1000 ms >> 2 = 250 ms per token, a burst of six.
        #expect(errors == 6)
        #expect(stack.shard.counters[.icmp6OutRateLimitHost] == 14)
    }

    @Test func routerAdvertisementInstallsRoutesOnHostsOnly() throws {
        let (stack, a, r, _) = try ipv6Router(nodad: false)
        settle(stack, limit: .seconds(3))
        let r0 = try #require(r.device(named: "e0"))
        let ll = try #require(r0.addresses.compactMap { x -> IPv6Address? in
            if case .v6(let v) = x.address, v.isLinkLocal { return v } else { return nil } }.first)
        let prefix = NDPPrefixInformation(prefixLength: 64, onLink: true, autonomous: false, validLifetime: 86400,
                                          preferredLifetime: 14400, prefix: IPv6Address("2001:db8:99::")!)
        r.ndpTransmit(NDPOutput(device: r0.ifindex, source: ll, destination: .allNodes,
                                linkDestination: MACAddress(multicastFor: IPv6Address.allNodes),
                                message: .routerAdvertisement(NDPRouterAdvertisement(
                                    routerLifetime: 1800, sourceLinkLayerAddress: r0.mac, prefixes: [prefix]))))
        settle(stack, from: stack.now, limit: .milliseconds(10))
        let main = try #require(a.routing.tables[RouteTableID.main]).routes(ipv4: false)
        let ra = main.filter { $0.proto == .ra }
        #expect(ra.count == 1)
        #expect(ra.first?.destination.length == 0)
        #expect(ra.first?.nextHops.first?.gateway == .v6(ll))
        #expect(main.contains { $0.destination == IPPrefix("2001:db8:99::/64")! && $0.metric == 256 })
        #expect(a.ndTable.lookup(device: 2, address: .v6(ll))?.flags.contains(.router) == true)
        #expect(stack.shard.counters[.icmp6InRouterAdvertisements] == 1)
    }

    @Test func hostsSolicitRoutersAfterLinkLocalDAD() throws {
        let (stack, a, r, _) = try ipv6Router(nodad: false)
        // The hosts' link-local DAD ends within 2 s, then each sends an RS;
        // r (forwarding) learns their link-local addresses as STALE.
        settle(stack, limit: .seconds(3))
        #expect(stack.shard.counters[.icmp6OutRouterSolicits] == 2)
        let ll = try #require(a.device(named: "e0")?.addresses.compactMap { x -> IPv6Address? in
            if case .v6(let v) = x.address, v.isLinkLocal { return v } else { return nil } }.first)
        #expect(r.ndTable.lookup(device: r.device(named: "e0")!.ifindex, address: .v6(ll))?.state == .stale)
        // The next one 4 s later.
        settle(stack, from: stack.now, limit: .seconds(4))
        #expect(stack.shard.counters[.icmp6OutRouterSolicits] == 4)
    }
}

/// Found by the stack fuzzer: a forwarded packet to an unresolvable
/// neighbour fails; its ICMPv6 address-unreachable goes back to a source
/// that needs resolving too, from inside the table's timer run. That new
/// entry's timer must not be lost, or its queued error is held for ever.
@Suite struct NeighbourTimerReentryTests {
    @Test func errorToUnresolvedSourceIsNotStranded() throws {
        let (stack, _, r, _) = try ipv6Router()
        let dev = try #require(r.device(named: "e0"))
        // 2001:db8:1:0:f900::2 → 2001:db8:1::8e, both on-link behind e0, nobody answers.
        let ip = IPv6Repr(source: IPv6Address("2001:db8:1:0:f900::2")!, destination: IPv6Address("2001:db8:1::8e")!,
                          nextHeader: .udp, payloadLength: 12, hopLimit: 64)
        var frame = [UInt8](repeating: 0, count: 14 + 40 + 12)
        for k in 0..<6 { frame[k] = UInt8(truncatingIfNeeded: dev.mac.rawValue >> (40 - 8 * UInt64(k))) }
        frame[6] = 2; frame[11] = 1; frame[12] = 0x86; frame[13] = 0xDD
        try frame.withUnsafeMutableBytes { try ip.emit(into: UnsafeMutableRawBufferPointer(rebasing: $0[14..<54])) }
        r.enqueueReceive(stack.shard.pool.allocate(copying: frame)!, on: dev)
        settle(stack, limit: .seconds(30))
        let states = r.ndTable.entries().filter { $0.key.address.isIPv6 && !$0.key.address.description.hasPrefix("fe80") }
            .map { ($0.key.address.description, $0.state) }
        #expect(states.count == 2)
        #expect(states.allSatisfy { $0.1 == .failed })
        #expect(stack.shard.pool.outstanding == 0)
    }
}
