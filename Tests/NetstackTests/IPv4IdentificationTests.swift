// The IPv4 header's Identification and DF of locally generated packets,
// as Linux 6.18 sets them (include/net/ip.h ip_select_ident_segs,
// ip_dont_fragment; net/ipv4/ip_output.c ip_queue_xmit, __ip_make_skb,
// ip_build_and_send_pkt, ip_send_unicast_reply; net/ipv4/route.c
// __ip_select_ident), each case checked on the kernel with tcpdump -v
// between two namespaces over a veth:
// - a TCP connection counts its own inet_id (random at connect, and for
//   an accepted child), one per packet or the segments of a GSO packet,
//   DF set: SYN 34200, ACK 34201, a 3,000-byte GSO packet 34202, next 34205;
// - a SYN-ACK, an RST for no connection and a TIME-WAIT ACK: id 0, DF,
//   net.ipv4.ip_no_pmtu_disc = 1 or not;
// - a connected UDP socket counts its own id (one per send, a UDP_SEGMENT
//   send included); an unconnected one takes the shared generator, even
//   with DF (IP_PMTUDISC_WANT lets the datagram be fragmented, so
//   skb->ignore_df); DF only on datagrams that fit the path;
// - IP_PMTUDISC_DO on an unconnected socket (ping -M do): id 0, DF;
// - ICMP echo replies and errors: no DF, the shared generator.
import Testing
import NetWire
@testable import Netstack

private let addrA = IPAddress.v4(IPv4Address(10, 0, 0, 1))
private let addrB = IPAddress.v4(IPv4Address(10, 0, 0, 2))

/// One IPv4 packet as the capture shows it.
struct WireIPv4: CustomStringConvertible {
    var id: UInt16
    var df: Bool
    var mf: Bool
    var offset: Int
    var proto: UInt8
    var tos: UInt8
    var fromA: Bool
    var totalLength: Int
    /// TCP: flags and payload length; UDP/ICMP: the transport length.
    var tcpFlags: UInt8 = 0
    var payload = 0

    var isSyn: Bool { proto == 6 && tcpFlags & 0x02 != 0 }
    var isRst: Bool { proto == 6 && tcpFlags & 0x04 != 0 }
    var description: String {
        "\(fromA ? "a→b" : "b→a") proto \(proto) id \(id)\(df ? " DF" : "")\(mf ? " MF" : "") off \(offset) len \(totalLength) flags \(tcpFlags) payload \(payload)"
    }
}

/// The IPv4 packets captured on a's veth (`a-v0`), in order, both ways.
func capturedIPv4(_ stack: Stack, device: String = "a-v0") -> [WireIPv4] {
    var out: [WireIPv4] = []
    stack.capture?.drain { name, bytes in
        guard name == device else { return }
        for f in pcapFrames(bytes) {
            guard f.count >= 34, f[12] == 0x08, f[13] == 0x00 else { continue }
            let ip = 14
            let ihl = Int(f[ip] & 0x0F) * 4
            let frag = UInt16(f[ip + 6]) << 8 | UInt16(f[ip + 7])
            var w = WireIPv4(id: UInt16(f[ip + 4]) << 8 | UInt16(f[ip + 5]), df: frag & 0x4000 != 0,
                             mf: frag & 0x2000 != 0, offset: Int(frag & 0x1FFF) * 8, proto: f[ip + 9], tos: f[ip + 1],
                             fromA: f[ip + 12] == 10 && f[ip + 15] == 1,
                             totalLength: Int(f[ip + 2]) << 8 | Int(f[ip + 3]))
            let t = ip + ihl
            if w.proto == 6, f.count >= t + 20 {
                w.tcpFlags = f[t + 13]
                w.payload = w.totalLength - ihl - Int(f[t + 12] >> 4) * 4
            } else {
                w.payload = w.totalLength - ihl
            }
            out.append(w)
        }
    }
    return out
}

/// Each packet's id follows the one before by the segments that one
/// stood for (ceil(payload / mss) for a GSO packet).
func idsCount(_ packets: [WireIPv4], mss: Int) -> Bool {
    for (p, q) in zip(packets, packets.dropFirst()) {
        let segments = max(1, (p.payload + mss - 1) / mss)
        if q.id != p.id &+ UInt16(segments) { return false }
    }
    return true
}

@Suite struct IPv4IdentificationTests {
    /// The capture at the top of this file, through the stack: the
    /// client's packets (SYN, ACK, a GSO packet of 3,000 bytes, more data,
    /// pure ACKs) count one id per segment from a random start, DF on all;
    /// the SYN-ACK is id 0 with DF; the accepted child counts its own ids.
    @Test func tcpConnectionCountsItsOwnIdsBySegments() throws {
        let (stack, a, b, _, _) = try twoHosts()
        defer { withExtendedLifetime(stack) {} }
        stack.capture = PacketCapture()
        let (c, s) = try tcpAcceptedPair(stack, client: a, server: b, address: addrB, port: 5001)
        var got = 0
        _ = try c.send([UInt8](repeating: 1, count: 3000))
        tcpRun(stack, for: .milliseconds(100)) {
            while let d = try? s.receive(max: 65536), !d.isEmpty { got += d.count }
            return false
        }
        _ = try c.send([UInt8](repeating: 2, count: 10))
        _ = try s.send([UInt8](repeating: 3, count: 100))
        tcpRun(stack, for: .milliseconds(300)) {
            while let d = try? s.receive(max: 65536), !d.isEmpty { got += d.count }
            return false
        }
        #expect(got == 3010)
        let mss = try #require(c.connection?.mss)
        let tcp = capturedIPv4(stack).filter { $0.proto == 6 }
        let client = tcp.filter(\.fromA)
        let server = tcp.filter { !$0.fromA }
        #expect(client.count >= 4)
        #expect(client.first?.isSyn == true)
        #expect(client.allSatisfy { $0.df })
        #expect(idsCount(client, mss: mss), "\(client)")
        // A packet of several segments was sent and counted as such.
        #expect(client.contains { $0.payload > mss })
        let synAck = try #require(server.first)
        #expect(synAck.isSyn && synAck.id == 0 && synAck.df)
        let child = Array(server.dropFirst())
        #expect(child.count >= 2)
        #expect(child.allSatisfy { $0.df })
        #expect(idsCount(child, mss: mss), "\(child)")
        #expect(c.connection?.inetID == client.last!.id &+ 1)
    }

    /// A device without GSO: TCP sends MSS-sized packets, one id each.
    /// Without TSO but with GSO, TCP still sends one GSO packet, cut where
    /// it leaves (validate_xmit_skb, inet_gso_segment): the segments count
    /// up from its id, and the next packet continues after them (kernel,
    /// tso off: 65134, 65135, 65136, ACK 65137).
    @Test(arguments: [false, true]) func tcpWithoutOffloadCountsOnePerSegment(gso: Bool) throws {
        let (stack, a, b, v0, _) = try twoHosts()
        defer { withExtendedLifetime(stack) {} }
        if gso { v0.segmentationOffload = false } else { v0.genericSegmentation = false }
        stack.capture = PacketCapture()
        let (c, s) = try tcpAcceptedPair(stack, client: a, server: b, address: addrB, port: 5001)
        var got = 0
        _ = try c.send([UInt8](repeating: 1, count: 3000))
        tcpRun(stack, for: .milliseconds(300)) {
            while let d = try? s.receive(max: 65536), !d.isEmpty { got += d.count }
            return false
        }
        #expect(got == 3000)
        let mss = try #require(c.connection?.mss)
        let client = capturedIPv4(stack).filter { $0.proto == 6 && $0.fromA }
        #expect(client.allSatisfy { $0.payload <= mss && $0.df })
        #expect(client.filter { $0.payload > 0 }.count == 3)
        for (p, q) in zip(client, client.dropFirst()) { #expect(q.id == p.id &+ 1) }
    }

    /// An RST for a port nobody listens on leaves from the control socket:
    /// id 0 with DF (tcp_v4_send_reset, IP_PMTUDISC_DO).
    @Test func resetForNoConnectionIsIdZeroWithDF() throws {
        let (stack, a, _, _, _) = try twoHosts()
        defer { withExtendedLifetime(stack) {} }
        stack.capture = PacketCapture()
        let c = a.tcpSocket()
        try tcpStartConnect(c, addrB, 5999)
        tcpRun(stack, for: .milliseconds(100))
        let tcp = capturedIPv4(stack).filter { $0.proto == 6 }
        let rst = try #require(tcp.first { !$0.fromA && $0.isRst })
        #expect(rst.id == 0 && rst.df)
        let syn = try #require(tcp.first { $0.fromA })
        #expect(syn.df)
    }

    /// The close of an orphan: its FIN-WAIT-2 became a TIME-WAIT sock when
    /// its FIN was acknowledged, so the ACK of the peer's FIN leaves from
    /// the control socket, id 0 with DF. After shutdown(SHUT_WR) instead
    /// the socket is whole in FIN-WAIT-2 and that ACK takes its next id
    /// (both as the kernel does: `id 0` vs `id 55623`).
    @Test func timeWaitAckOfAnOrphanIsIdZero() throws {
        for orphan in [true, false] {
            let (stack, a, b, _, _) = try twoHosts()
            defer { withExtendedLifetime(stack) {} }
            stack.capture = PacketCapture()
            let (c, s) = try tcpAcceptedPair(stack, client: a, server: b, address: addrB, port: 5001)
            _ = try c.send([UInt8](repeating: 1, count: 2))
            tcpRun(stack, for: .milliseconds(50)) { _ = try? s.receive(max: 100); return false }
            if orphan { c.close() } else { try c.shutdown(.write) }
            tcpRun(stack, for: .milliseconds(300)) { _ = try? s.receive(max: 100); return false }
            s.close()
            tcpRun(stack, for: .milliseconds(300))
            #expect(c.connection?.state == .timeWait)
            let client = capturedIPv4(stack).filter { $0.proto == 6 && $0.fromA }
            let last = try #require(client.last)
            #expect(last.tcpFlags == 0x10 && last.df)
            let before = Array(client.dropLast())
            #expect(idsCount(before, mss: 1448), "\(before)")
            if orphan {
                #expect(last.id == 0)
            } else {
                #expect(last.id == before.last!.id &+ 1)
            }
        }
    }

    /// net.ipv4.ip_no_pmtu_disc = 1: the connection's packets go without
    /// DF but keep counting their own ids; a small SYN-ACK is still id 0
    /// with DF (IPV4_MIN_MTU), an RST too (the control socket's DO).
    @Test func noPMTUDiscoveryDropsDFButKeepsTheSocketIds() throws {
        let (stack, a, b, _, _) = try twoHosts()
        defer { withExtendedLifetime(stack) {} }
        a.config.ipNoPMTUDisc = 1
        b.config.ipNoPMTUDisc = 1
        stack.capture = PacketCapture()
        let (c, s) = try tcpAcceptedPair(stack, client: a, server: b, address: addrB, port: 5001)
        _ = try c.send([UInt8](repeating: 1, count: 3000))
        tcpRun(stack, for: .milliseconds(300)) { _ = try? s.receive(max: 65536); return false }
        let r = a.tcpSocket()
        try tcpStartConnect(r, addrB, 5999)
        tcpRun(stack, for: .milliseconds(100))
        let mss = try #require(c.connection?.mss)
        let tcp = capturedIPv4(stack).filter { $0.proto == 6 }
        let fromA = tcp.filter(\.fromA)
        // The connection's packets: those before the second SYN (to 5999).
        let end = try #require(fromA.indices.dropFirst().first { fromA[$0].isSyn })
        let conn = Array(fromA[..<end])
        #expect(conn.count >= 3)
        #expect(fromA.allSatisfy { !$0.df })
        #expect(idsCount(conn, mss: mss), "\(conn)")
        let synAck = try #require(tcp.first { !$0.fromA && $0.isSyn })
        #expect(synAck.id == 0 && synAck.df)
        let rst = try #require(tcp.first { !$0.fromA && $0.isRst })
        #expect(rst.id == 0 && rst.df)
    }

    /// UDP, connected: its own ids, one per datagram; DF on those that fit,
    /// none on the 3,000-byte one, whose fragments share its id.
    /// Unconnected: the same pattern from the namespace's generator (DF
    /// does not make it 0: IP_PMTUDISC_WANT lets it be fragmented).
    @Test func udpConnectedAndUnconnected() throws {
        for connected in [true, false] {
            let (stack, a, b, _, _) = try twoHosts()
            defer { withExtendedLifetime(stack) {} }
            let sink = b.udpSocket()
            try sink.bind(nil, port: 6000)
            tcpRun(stack, for: .milliseconds(10))
            stack.capture = PacketCapture()
            let u = a.udpSocket()
            if connected { try u.connect(addrB, port: 6000) }
            for n in [10, 10, 3000, 10] {
                try u.send([UInt8](repeating: 7, count: n), to: connected ? nil : (addrB, 6000))
                tcpRun(stack, for: .milliseconds(1))
            }
            tcpRun(stack, for: .milliseconds(50))
            let udp = capturedIPv4(stack).filter { $0.proto == 17 && $0.fromA }
            try #require(udp.count == 6, "\(udp)")
            let n = udp[0].id
            #expect(udp.map(\.id) == [n, n &+ 1, n &+ 2, n &+ 2, n &+ 2, n &+ 3])
            #expect(udp.map(\.df) == [true, true, false, false, false, true])
            #expect(udp[2...4].map(\.offset) == [0, 1480, 2960])
            #expect(udp[2...4].map(\.mf) == [true, true, false])
            if connected { #expect(u.inetID == n &+ 3) }
        }
    }

    /// IP_MTU_DISCOVER on an unconnected socket: DO sets DF with id 0 and
    /// refuses what does not fit (EMSGSIZE); DONT clears DF; INTERFACE
    /// sends without DF yet refuses to fragment.
    @Test func udpPMTUDiscoveryModes() throws {
        let (stack, a, b, _, _) = try twoHosts()
        defer { withExtendedLifetime(stack) {} }
        let sink = b.udpSocket()
        try sink.bind(nil, port: 6000)
        tcpRun(stack, for: .milliseconds(10))
        stack.capture = PacketCapture()
        for mode in [IPPMTUDiscovery.do, .dont, .interface, .probe, .omit] {
            let u = a.udpSocket()
            u.pmtuDiscovery = mode
            try u.send([UInt8](repeating: 7, count: 10), to: (addrB, 6000))
            var error: Errno?
            do { try u.send([UInt8](repeating: 7, count: 3000), to: (addrB, 6000)) } catch let e { error = e }
            #expect((error == .EMSGSIZE) == (mode == .do || mode == .interface || mode == .probe), "\(mode)")
            tcpRun(stack, for: .milliseconds(1))
        }
        tcpRun(stack, for: .milliseconds(50))
        let small = capturedIPv4(stack).filter { $0.proto == 17 && $0.fromA && $0.totalLength == 38 }
        try #require(small.count == 5)
        #expect(small[0].df && small[0].id == 0)          // do
        #expect(!small[1].df && small[1].id != 0)         // dont
        #expect(!small[2].df)                             // interface
        #expect(small[3].df && small[3].id == 0)          // probe
        #expect(!small[4].df)                             // omit
        #expect(small[2].id == small[1].id &+ 2)          // one generator, fragments between
    }

    /// UDP_SEGMENT: a send counts one id however many datagrams it is cut
    /// into; they count up from it where they are cut, so the next send
    /// repeats an id (kernel: 51024, 51025, 51026, then 51025), and the
    /// GSO packet, larger than the path, carries no DF.
    @Test func udpSegmentationCountsOneIdPerSend() throws {
        for deviceCuts in [false, true] {
            let (stack, a, b, v0, _) = try twoHosts()
            defer { withExtendedLifetime(stack) {} }
            if deviceCuts { v0.features.remove(.udpSegmentation) }   // ethtool -K tx-udp-segmentation off
            let sink = b.udpSocket()
            try sink.bind(nil, port: 6000)
            tcpRun(stack, for: .milliseconds(10))
            stack.capture = PacketCapture()
            let u = a.udpSocket()
            try u.connect(addrB, port: 6000)
            try u.send([UInt8](repeating: 1, count: 10))
            try u.send([UInt8](repeating: 2, count: 3000), segmentSize: 1000)
            try u.send([UInt8](repeating: 3, count: 10))
            tcpRun(stack, for: .milliseconds(50))
            let udp = capturedIPv4(stack).filter { $0.proto == 17 && $0.fromA }
            let n = try #require(udp.first).id
            if deviceCuts {
                try #require(udp.count == 5, "\(udp)")
                #expect(udp.map(\.id) == [n, n &+ 1, n &+ 2, n &+ 3, n &+ 2])
                #expect(udp.map(\.df) == [true, false, false, false, true])
            } else {
                try #require(udp.count == 3, "\(udp)")
                #expect(udp.map(\.id) == [n, n &+ 1, n &+ 2])
                #expect(udp.map(\.df) == [true, false, true])
            }
        }
    }

    /// Ping sockets are not connected: the generator with DF by default
    /// (IP_PMTUDISC_WANT), id 0 with -M do, no DF with -M dont. The echo
    /// replies leave from icmp_sk (IP_PMTUDISC_DONT): no DF, the
    /// generator's ids. A port unreachable likewise, with tos 0xc0.
    @Test func pingAndICMP() throws {
        let (stack, a, b, _, _) = try twoHosts()
        defer { withExtendedLifetime(stack) {} }
        stack.capture = PacketCapture()
        let p = a.pingSocket()
        #expect(p.pmtuDiscovery == .want)
        for (i, mode) in [IPPMTUDiscovery.want, .want, .do, .dont].enumerated() {
            p.pmtuDiscovery = mode
            try p.sendEcho(to: addrB, sequence: UInt16(i + 1), dataLength: 56)
            tcpRun(stack, for: .milliseconds(10))
        }
        let u = a.udpSocket()
        try u.send([1], to: (addrB, 5999))
        tcpRun(stack, for: .milliseconds(10))
        let packets = capturedIPv4(stack)
        let requests = packets.filter { $0.proto == 1 && $0.fromA }
        let replies = packets.filter { $0.proto == 1 && !$0.fromA && $0.tos == 0 }
        try #require(requests.count == 4 && replies.count == 4)
        #expect(requests.map(\.df) == [true, true, true, false])
        #expect(requests[1].id == requests[0].id &+ 1)
        #expect(requests[2].id == 0)
        #expect(requests[3].id == requests[1].id &+ 1)
        #expect(replies.allSatisfy { !$0.df })
        #expect(replies.map(\.id) == (0..<4).map { replies[0].id &+ UInt16($0) })
        let unreachable = try #require(packets.first { $0.proto == 1 && !$0.fromA && $0.tos == 0xC0 })
        #expect(!unreachable.df)
        #expect(unreachable.id == replies[3].id &+ 1)
        _ = b
    }

    /// A route with `mtu lock`: IP_PMTUDISC_WANT sets no DF (ip_dont_fragment),
    /// for UDP, ping and TCP alike; the ids are chosen as ever (kernel:
    /// UDP 25859 [none], ping [none], TCP SYN 15603 [none], SYN-ACK 0 DF).
    @Test func lockedRouteMTUClearsDF() throws {
        let (stack, a, b, v0, _) = try twoHosts()
        defer { withExtendedLifetime(stack) {} }
        try a.routing.tables.insert(Route(destination: IPPrefix("10.0.0.2/32")!, nextHops: [NextHop(device: v0.ifindex)],
                                          mtu: 1500, mtuLocked: true), mode: .add)
        let sink = b.udpSocket()
        try sink.bind(nil, port: 6000)
        tcpRun(stack, for: .milliseconds(10))
        stack.capture = PacketCapture()
        let u = a.udpSocket()
        try u.send([1], to: (addrB, 6000))
        try u.send([2], to: (addrB, 6000))
        try a.pingSocket().sendEcho(to: addrB, sequence: 1, dataLength: 56)
        let (c, _) = try tcpAcceptedPair(stack, client: a, server: b, address: addrB, port: 5001)
        tcpRun(stack, for: .milliseconds(50))
        let all = capturedIPv4(stack)
        let fromA = all.filter(\.fromA)
        let udp = fromA.filter { $0.proto == 17 }, icmp = fromA.filter { $0.proto == 1 }
        let tcp = fromA.filter { $0.proto == 6 }
        try #require(udp.count == 2 && icmp.count == 1 && tcp.count >= 2)
        #expect(fromA.allSatisfy { !$0.df })
        #expect(udp[1].id == udp[0].id &+ 1)
        #expect(icmp[0].id != 0)
        #expect(idsCount(tcp, mss: try #require(c.connection?.mss)))
        let synAck = try #require(all.first { !$0.fromA && $0.isSyn })
        #expect(synAck.id == 0 && synAck.df)
    }
}
