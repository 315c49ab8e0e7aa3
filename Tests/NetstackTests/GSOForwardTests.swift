// A router forwarding a UDP_SEGMENT packet it received whole over a veth
// onto a link of a smaller MTU checks each segment, not the whole packet,
// as Linux does (ip_forward's ip_exceeds_mtu, ip_finish_output_gso,
// ip6_forward's ip6_pkt_too_big): segments that fit go on as GSO; IPv4
// segments that do not fit are cut into datagrams first and each is
// fragmented (without DF) or answered with ICMP frag-needed (DF); IPv6
// answers Packet Too Big.
import Testing
import NetWire
@testable import Netstack

@Suite struct GSOForwardTests {
    func snapshot(_ stack: Stack) -> CounterSnapshot {
        var s = CounterSnapshot()
        stack.shard.counters.accumulate(into: &s)
        return s
    }

    /// a ──veth(1500)── r ──veth(`mtu`)── b over IPv4, r forwarding.
    /// a's socket sends 14,000 bytes with UDP_SEGMENT 1400 to b's socket
    /// (`df`: IP_PMTUDISC_DO). Returns what b read, the packets r sent to b,
    /// and the counter deltas over the send.
    func forward4(mtu: Int, df: Bool = false) throws
        -> (sizes: [Int], joined: [UInt8], sent: [UInt8], rbPackets: UInt64, delta: (MIBCounter) -> UInt64) {
        let stack = Stack(seed: 7)
        let a = try stack.addNamespace("a"), r = try stack.addNamespace("r"), b = try stack.addNamespace("b")
        let ra = try r.addLink(name: "ra", kind: .veth, peerName: "ar", peerNamespace: a)
        let rb = try r.addLink(name: "rb", kind: .veth, peerName: "br", peerNamespace: b)
        let ar = try #require(a.device(named: "ar")), br = try #require(b.device(named: "br"))
        try r.setMTU(rb, mtu)
        try b.setMTU(br, mtu)
        for (ns, d, addr) in [(r, ra, "10.0.0.1/24"), (r, rb, "10.1.0.1/24"), (a, ar, "10.0.0.2/24"), (b, br, "10.1.0.2/24")] {
            ns.setUp(ns.loopback)
            ns.setUp(d)
            try ns.addAddress(InterfaceAddress(prefix: try #require(IPPrefix(addr))), to: d, now: .zero)
        }
        ra.ipv4.forwarding = 1
        rb.ipv4.forwarding = 1
        for (ns, gw, dev) in [(a, IPv4Address(10, 0, 0, 1), ar), (b, IPv4Address(10, 1, 0, 1), br)] {
            try ns.routing.tables.insert(Route(destination: .defaultRoute(v6: false),
                                               nextHops: [NextHop(gateway: .v4(gw), device: dev.ifindex)]), mode: .add)
        }
        let dst = IPAddress.v4(IPv4Address(10, 1, 0, 2))
        let server = b.udpSocket(ipv6: false)
        try server.bind(nil, port: 9000)
        let client = a.udpSocket(ipv6: false)
        if df { client.pmtuDiscovery = .do }
        // Resolve the neighbours first, so the send is one packet on a's wire.
        try client.send([1], to: (dst, 9000))
        settle(stack, limit: .milliseconds(50))
        #expect(try server.receive()?.payload == [1])
        let before = snapshot(stack)
        let rbBefore = rb.statistics.txPackets
        let data = (0..<14_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 8) }
        try client.setSegmentSize(1400)
        try client.send(data, to: (dst, 9000))
        settle(stack, from: stack.now, limit: .milliseconds(50))
        var got: [[UInt8]] = []
        while let d = try server.receive(), got.count < 100 { got.append(d.payload) }
        #expect(stack.shard.counters[.udpInCsumErrors] == 0)
        let after = snapshot(stack)
        return (got.map(\.count), got.flatMap { $0 }, data, rb.statistics.txPackets - rbBefore,
                { after[$0] - before[$0] })
    }

    @Test func segmentsThatFitTheSmallerLinkGoOnWhole() throws {
        // 1400 + 28 fits 1428: one GSO packet on r's veth, ten datagrams.
        let r = try forward4(mtu: 1428)
        #expect(r.sizes == Array(repeating: 1400, count: 10))
        #expect(r.joined == r.sent)
        #expect(r.rbPackets == 1)
        #expect(r.delta(.ipFragCreates) == 0 && r.delta(.ipReasmOKs) == 0)
        #expect(r.delta(.ipForwDatagrams) == 1)
    }

    @Test func segmentsThatDoNotFitAreCutThenFragmented() throws {
        // 1428 > 1000, no DF (a UDP_SEGMENT send longer than the path goes
        // without it): ip_finish_output_gso cuts ten datagrams and
        // fragments each into two; b reassembles ten datagrams.
        let r = try forward4(mtu: 1000)
        #expect(r.sizes == Array(repeating: 1400, count: 10))
        #expect(r.joined == r.sent)
        #expect(r.rbPackets == 20)
        #expect(r.delta(.ipFragOKs) == 10)
        #expect(r.delta(.ipFragCreates) == 20)
        #expect(r.delta(.ipReasmOKs) == 10)
        // One more byte of MTU and the segments fit: no fragments at all.
        let fit = try forward4(mtu: 1429)
        #expect(fit.sizes == Array(repeating: 1400, count: 10))
        #expect(fit.rbPackets == 1 && fit.delta(.ipFragCreates) == 0)
    }

    @Test func segmentsThatDoNotFitWithDFAreRefused() throws {
        // IP_PMTUDISC_DO: DF on the GSO packet; a segment exceeds the
        // link: ip_forward sends frag-needed and drops it.
        let r = try forward4(mtu: 1000, df: true)
        #expect(r.sizes.isEmpty)
        #expect(r.rbPackets == 0)
        #expect(r.delta(.ipFragFails) == 1)
        #expect(r.delta(.icmpOutDestUnreachs) == 1 && r.delta(.icmpInDestUnreachs) == 1)
    }

    @Test func ipv6SegmentsThatDoNotFitAreAnsweredPacketTooBig() throws {
        for (mtu, fits) in [(1448, true), (1280, false)] {
            let (stack, a, r, b) = try ipv6Router(bMTU: mtu)
            settle(stack, limit: .seconds(3))
            let server = b.udpSocket(ipv6: true)
            try server.bind(nil, port: 9000)
            let client = a.udpSocket(ipv6: true)
            try client.send([1], to: (.v6(b2), 9000))
            settle(stack, from: stack.now, limit: .seconds(3))
            #expect(try server.receive()?.payload == [1])
            let before = snapshot(stack)
            let r1 = try #require(r.device(named: "e1"))
            let txBefore = r1.statistics.txPackets
            try client.setSegmentSize(1400)
            try client.send([UInt8](repeating: 0x5A, count: 14_000), to: (.v6(b2), 9000))
            settle(stack, from: stack.now, limit: .seconds(3))
            var sizes: [Int] = []
            while let d = try? server.receive(), sizes.count < 100 { sizes.append(d.payload.count) }
            let after = snapshot(stack)
            if fits {
                #expect(sizes == Array(repeating: 1400, count: 10))
                #expect(r1.statistics.txPackets - txBefore == 1)
                #expect(after[.icmp6OutPktTooBigs] == before[.icmp6OutPktTooBigs])
            } else {
                #expect(sizes.isEmpty)
                #expect(r1.statistics.txPackets == txBefore)
                #expect(after[.icmp6OutPktTooBigs] - before[.icmp6OutPktTooBigs] == 1)
                #expect(after[.icmp6InPktTooBigs] - before[.icmp6InPktTooBigs] == 1)
                #expect(after[.ip6FragCreates] == before[.ip6FragCreates])
            }
        }
    }
}
