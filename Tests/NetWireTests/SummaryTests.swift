import Testing
@testable import NetWire

@Suite struct SummaryTests {
    static let a = IPv4Address(10, 0, 0, 1), b = IPv4Address(10, 0, 0, 2)
    static let macA = MACAddress(2, 0, 0, 0, 0, 1), macB = MACAddress(2, 0, 0, 0, 0, 2)

    static func ethernet(_ type: EtherType, _ payload: [UInt8]) throws -> [UInt8] {
        var out = try emitted(size: 14) {
            try EthernetRepr(destination: macB, source: macA, etherType: type).emit(into: $0)
        }
        out += payload
        return out
    }

    static func ipv4(_ proto: IPProtocol, payload: Int, id: UInt16 = 1, more: Bool = false, offset: Int = 0) throws -> [UInt8] {
        let repr = IPv4Repr(source: a, destination: b, protocol: proto, payloadLength: payload,
                            identification: id, moreFragments: more, fragmentOffset: offset)
        return try emitted(size: 20 + payload) { try repr.emit(into: $0) }
    }

    static func summary(_ f: [UInt8], original: Int? = nil, link: LinkType = .ethernet) -> String {
        f.withUnsafeBytes { FrameSummary.line(linkType: link, frame: $0, originalLength: original ?? f.count) }
    }

    static let arpRequest = hex("0001 0800 06 04 0001 020000000001 0a000001 000000000000 0a000002")
    static let arpReply = hex("0001 0800 06 04 0002 020000000002 0a000002 020000000001 0a000001")

    @Test func ethernetIPv4AndARP() throws {
        #expect(Self.summary(try Self.ethernet(.ipv4, try Self.ipv4(.gre, payload: 64)))
            == "IP 10.0.0.1 > 10.0.0.2: gre, length 64")
        #expect(Self.summary(try Self.ethernet(.ipv4, try Self.ipv4(IPProtocol(rawValue: 200), payload: 10)))
            == "IP 10.0.0.1 > 10.0.0.2: ip-proto-200, length 10")
        #expect(Self.summary(try Self.ethernet(.arp, Self.arpRequest))
            == "ARP, Request who-has 10.0.0.2 tell 10.0.0.1, length 28")
        #expect(Self.summary(try Self.ethernet(.arp, Self.arpReply + [UInt8](repeating: 0, count: 18)))
            == "ARP, Reply 10.0.0.2 is-at 02:00:00:00:00:02, length 46")
        #expect(Self.summary(try Self.ethernet(.lldp, [UInt8](repeating: 0, count: 20))) == "LLDP, length 20")
        #expect(Self.summary(try Self.ethernet(EtherType(rawValue: 0x88B5), [1, 2]))
            == "ethertype Unknown (0x88b5), length 2")
    }

    @Test func vlanTagsAndQinQ() throws {
        let ip = try Self.ipv4(.gre, payload: 12)
        #expect(Self.summary(try Self.ethernet(.vlan, hex("0064 0800") + ip))
            == "vlan 100, p 0, ethertype IPv4 (0x0800), IP 10.0.0.1 > 10.0.0.2: gre, length 12")
        #expect(Self.summary(try Self.ethernet(.qinq, hex("60c8 8100 0064 0800") + ip))
            == "vlan 200, p 3, ethertype 802.1Q (0x8100), vlan 100, p 0, ethertype IPv4 (0x0800), "
            + "IP 10.0.0.1 > 10.0.0.2: gre, length 12")
        #expect(Self.summary(try Self.ethernet(.vlan, [0])) == "[|vlan]")
    }

    @Test func fragments() throws {
        #expect(Self.summary(try Self.ethernet(.ipv4, try Self.ipv4(.gre, payload: 24, id: 0x1234, more: true)))
            == "IP 10.0.0.1 > 10.0.0.2: gre, length 24 (frag 4660:24@0+)")
        #expect(Self.summary(try Self.ethernet(.ipv4, try Self.ipv4(.udp, payload: 24, id: 0x1234, offset: 24)))
            == "IP 10.0.0.1 > 10.0.0.2: udp (frag 4660:24@24)")
    }

    @Test func ipv6AndRawLinkType() throws {
        let ip6 = hex("6000 0000 000c 2f 40 20010db8000000000000000000000001 20010db8000000000000000000000002")
            + [UInt8](repeating: 0, count: 12)
        #expect(Self.summary(try Self.ethernet(.ipv6, ip6)) == "IP6 2001:db8::1 > 2001:db8::2: gre, length 12")
        #expect(Self.summary(ip6, link: .raw) == "IP6 2001:db8::1 > 2001:db8::2: gre, length 12")
        #expect(Self.summary(try Self.ipv4(.gre, payload: 20), link: .raw) == "IP 10.0.0.1 > 10.0.0.2: gre, length 20")
        #expect(Self.summary([0x10], link: .raw) == "IP version 1 unknown, length 1")
        #expect(Self.summary([1, 2, 3], link: LinkType(rawValue: 147)) == "linktype 147, length 3")
    }

    @Test func cutFramesAreMarked() throws {
        let full = try Self.ethernet(.ipv4, try Self.ipv4(.gre, payload: 64))
        // Cut by a snaplen: header complete, payload short.
        #expect(Self.summary(Array(full[0..<40]), original: full.count)
            == "IP 10.0.0.1 > 10.0.0.2: gre, length 64 [|gre]")
        // The IP header claims more than was on the wire.
        #expect(Self.summary(Array(full[0..<40]))
            == "IP truncated-ip - 58 bytes missing! 10.0.0.1 > 10.0.0.2: gre, length 64 [|gre]")
        #expect(Self.summary(Array(full[0..<30]), original: full.count) == "IP [|ip]")
        #expect(Self.summary(Array(full[0..<10]), original: full.count) == "[|ether]")
        #expect(Self.summary(try Self.ethernet(.arp, Array(Self.arpRequest[0..<20]))) == "ARP, [|arp]")
        #expect(Self.summary(try Self.ethernet(.ipv6, [0x60, 0])) == "IP6 [|ip6]")
    }

    // Expected lines below are what real `tcpdump -n -S -r` (4.99.3) printed
    // for the same bytes, timestamp removed: the golden frames of
    // transport-veth.pcap, and the IPv6 goldens written to a LINKTYPE_RAW pcap.
    // The VXLAN inner frame tcpdump prints on its own line follows ": " here.

    @Test func transportGoldenFramesMatchTcpdump() throws {
        let expected: [([UInt8], String)] = [
            (Golden.echoRequest, "IP 10.99.0.1 > 10.99.0.2: ICMP echo request, id 4660, seq 1, length 32"),
            (Golden.echoReply, "IP 10.99.0.2 > 10.99.0.1: ICMP echo reply, id 4660, seq 1, length 32"),
            (Golden.tcpSyn, "IP 10.99.0.1.39250 > 10.99.0.2.5000: Flags [S], seq 3685343861, win 64240, "
                + "options [mss 1460,sackOK,TS val 1802951721 ecr 0,nop,wscale 10], length 0"),
            (Golden.tcpSynAck, "IP 10.99.0.2.5000 > 10.99.0.1.39250: Flags [S.], seq 3357265163, ack 3685343862, "
                + "win 65160, options [mss 1460,sackOK,TS val 1653789634 ecr 1802951721,nop,wscale 10], length 0"),
            (Golden.tcpAck, "IP 10.99.0.1.39250 > 10.99.0.2.5000: Flags [.], ack 3357265164, win 63, "
                + "options [nop,nop,TS val 1802951721 ecr 1653789634], length 0"),
            (Golden.tcpData, "IP 10.99.0.1.39250 > 10.99.0.2.5000: Flags [P.], seq 3685343862:3685343867, "
                + "ack 3357265164, win 63, options [nop,nop,TS val 1802951721 ecr 1653789634], length 5"),
            (Golden.tcpFinAck, "IP 10.99.0.1.39250 > 10.99.0.2.5000: Flags [F.], seq 3685343867, ack 3357265169, "
                + "win 63, options [nop,nop,TS val 1802951721 ecr 1653789634], length 0"),
            (Golden.tcpSynClosedPort, "IP 10.99.0.1.60158 > 10.99.0.2.5001: Flags [S], seq 1635434641, win 64240, "
                + "options [mss 1460,sackOK,TS val 179071422 ecr 0,nop,wscale 10], length 0"),
            (Golden.tcpRstAck, "IP 10.99.0.2.5001 > 10.99.0.1.60158: Flags [R.], seq 0, ack 1635434642, win 0, length 0"),
            // tcpdump decodes port 5353 as DNS ("domain [length 10 < 12] (invalid)"); we print generic UDP.
            (Golden.udp, "IP 10.99.0.1.40000 > 10.99.0.2.5353: UDP, length 10"),
            (Golden.icmpPortUnreachable,
             "IP 10.99.0.2 > 10.99.0.1: ICMP 10.99.0.2 udp port 5353 unreachable, length 46"),
            (Golden.icmpFragmentationNeeded,
             "IP 10.99.0.2 > 10.99.0.1: ICMP 10.99.1.2 unreachable - need to frag (mtu 1280), length 556"),
            (Golden.echoRequestTTL1, "IP 10.99.0.1 > 10.99.1.2: ICMP echo request, id 4660, seq 1, length 24"),
            (Golden.icmpTimeExceeded, "IP 10.99.0.2 > 10.99.0.1: ICMP time exceeded in-transit, length 52"),
            (Golden.vxlanARPRequest, "IP 10.99.0.1.35646 > 10.99.0.2.4789: VXLAN, flags [I] (0x08), vni 42: "
                + "ARP, Request who-has 192.168.42.2 tell 192.168.42.1, length 28"),
            (Golden.vxlanARPReply, "IP 10.99.0.2.35646 > 10.99.0.1.4789: VXLAN, flags [I] (0x08), vni 42: "
                + "ARP, Reply 192.168.42.2 is-at da:d5:48:f7:f3:4c, length 28"),
            (Golden.vxlanEchoRequest, "IP 10.99.0.1.40476 > 10.99.0.2.4789: VXLAN, flags [I] (0x08), vni 42: "
                + "IP 192.168.42.1 > 192.168.42.2: ICMP echo request, id 4660, seq 1, length 16"),
            (Golden.vxlanEchoReply, "IP 10.99.0.2.40476 > 10.99.0.1.4789: VXLAN, flags [I] (0x08), vni 42: "
                + "IP 192.168.42.2 > 192.168.42.1: ICMP echo reply, id 4660, seq 1, length 16"),
        ]
        for (frame, line) in expected { #expect(Self.summary(frame) == line) }
    }

    @Test func ipv6GoldensMatchTcpdump() throws {
        let expected: [([UInt8], String)] = [
            (ICMPv6Golden.echo, "IP6 2001:db8::1 > 2001:db8::2: ICMP6, echo request, id 4660, seq 7, length 16"),
            (ICMPv6Golden.ns, "IP6 fe80::200:ff:fe00:1 > ff02::1:ff00:2: ICMP6, neighbor solicitation, "
                + "who has fe80::200:ff:fe00:2, length 32"),
            (ICMPv6Golden.na, "IP6 fe80::200:ff:fe00:2 > fe80::200:ff:fe00:1: ICMP6, neighbor advertisement, "
                + "tgt is fe80::200:ff:fe00:2, length 32"),
            (ICMPv6Golden.ra, "IP6 fe80::200:ff:fe00:1 > ff02::1: ICMP6, router advertisement, length 104"),
            (ICMPv6Golden.rs, "IP6 fe80::200:ff:fe00:1 > ff02::2: ICMP6, router solicitation, length 16"),
            (ICMPv6Golden.redirect, "IP6 fe80::200:ff:fe00:1 > fe80::200:ff:fe00:2: ICMP6, redirect, "
                + "2001:db8::99 to fe80::1, length 96"),
            (ICMPv6Golden.packetTooBig, "IP6 2001:db8::fe > 2001:db8::1: ICMP6, packet too big, mtu 1280, length 88"),
            (ICMPv6Golden.timeExceeded, "IP6 2001:db8::fe > 2001:db8::1: ICMP6, time exceeded in-transit "
                + "for 2001:db8::99, length 56"),
            (ICMPv6Golden.parameterProblem, "IP6 2001:db8::fe > 2001:db8::1: ICMP6, parameter problem, "
                + "next header - octet 40, length 56"),
            (ICMPv6Golden.destinationUnreachable, "IP6 2001:db8::fe > 2001:db8::1: ICMP6, destination unreachable, "
                + "unreachable port, 2001:db8::99 udp port 53, length 56"),
            (IPv6Golden.ext, "IP6 2001:db8::1 > 2001:db8::2: HBH DSTOPT frag (0|20) 5000 > 6000: UDP, length 12"),
            (IPv6Golden.routing, "IP6 2001:db8::1 > 2001:db8::2: RT6 (len=4, type=0 [Deprecated], segleft=2, "
                + "[0]2001:db8::3, [1]2001:db8::4) ICMP6, echo request, id 1, seq 2, length 8"),
        ]
        for (packet, line) in expected { #expect(Self.summary(packet, link: .raw) == line) }
    }

    /// Hand-built segments; lines again from tcpdump -n -S on the same bytes.
    @Test func tcpFlagsOptionsAndCuts() throws {
        func tcp(_ flags: UInt8, options: [UInt8] = [], data: Int = 0, urgent: UInt16 = 0) throws -> [UInt8] {
            var t = hex("04d2 0050 0000007b 000001c8") + [UInt8((20 + options.count) / 4) << 4, flags]
            t += [0xfa, 0xf0, 0, 0, UInt8(urgent >> 8), UInt8(urgent & 0xff)] + options
            t += [UInt8](repeating: 0x61, count: data)
            var ip = try Self.ipv4(.tcp, payload: t.count)
            ip.replaceSubrange(20..., with: t)
            return ip
        }
        let head = "IP 10.0.0.1.1234 > 10.0.0.2.80: "
        #expect(Self.summary(try tcp(0), link: .raw) == head + "Flags [none], win 64240, length 0")
        #expect(Self.summary(try tcp(0x30, urgent: 5), link: .raw)
            == head + "Flags [.U], ack 456, win 64240, urg 5, length 0")
        #expect(Self.summary(try tcp(0xC2), link: .raw) == head + "Flags [SEW], seq 123, win 64240, length 0")
        #expect(Self.summary(try tcp(0x03), link: .raw) == head + "Flags [FS], seq 123, win 64240, length 0")
        #expect(Self.summary(try tcp(0x04), link: .raw) == head + "Flags [R], seq 123, win 64240, length 0")
        // tcpdump appends ": HTTP" for port 80; application protocols are not decoded here.
        #expect(Self.summary(try tcp(0x01, data: 2), link: .raw) == head + "Flags [F], seq 123:125, win 64240, length 2")
        #expect(Self.summary(try tcp(0x12, options: hex("020405b4 0402 080a0000000100000000 01 030307")), link: .raw)
            == head + "Flags [S.], seq 123, ack 456, win 64240, options [mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7], length 0")
        #expect(Self.summary(try tcp(0x10, options: hex("0101050a000000010000000200000000")), link: .raw)
            == head + "Flags [.], ack 456, win 64240, options [nop,nop,sack 1 {1:2},eol], length 0")
        #expect(Self.summary(try tcp(0x10, options: hex("2206010203040101")), link: .raw)
            == head + "Flags [.], ack 456, win 64240, options [tfo  cookie 01020304,nop,nop], length 0")
        #expect(Self.summary(try tcp(0x10, options: hex("6304aabb")), link: .raw)
            == head + "Flags [.], ack 456, win 64240, options [unknown-99 0xaabb], length 0")
        let syn = try tcp(0x02)
        #expect(Self.summary(Array(syn[0..<34]), original: syn.count, link: .raw) == head + " [|tcp]")
    }

    @Test func udpAndICMPWording() throws {
        var u = try Self.ipv4(.udp, payload: 20)
        u.replaceSubrange(20..<28, with: hex("1388 1770 0014 0000"))
        #expect(Self.summary(u, link: .raw) == "IP 10.0.0.1.5000 > 10.0.0.2.6000: UDP, length 12")
        let quoted = Array(u[0..<28])
        func icmp(_ head: [UInt8], _ body: [UInt8]) throws -> [UInt8] {
            var ip = try Self.ipv4(.icmp, payload: head.count + body.count)
            ip.replaceSubrange(20..., with: head + body)
            return ip
        }
        let cases: [([UInt8], String)] = [
            (hex("0300 0000 00000000"), "ICMP net 10.0.0.2 unreachable"),
            (hex("0301 0000 00000000"), "ICMP host 10.0.0.2 unreachable"),
            (hex("0302 0000 00000000"), "ICMP 10.0.0.2 protocol 17 unreachable"),
            (hex("0303 0000 00000000"), "ICMP 10.0.0.2 udp port 6000 unreachable"),
            (hex("0304 0000 00000000"), "ICMP 10.0.0.2 unreachable - need to frag"),
            (hex("030d 0000 00000000"), "ICMP host 10.0.0.2 unreachable - admin prohibited filter"),
            (hex("0501 0000 0a0000fe"), "ICMP redirect 10.0.0.2 to host 10.0.0.254"),
            (hex("0502 0000 0a0000fe"), "ICMP redirect-tos 10.0.0.2 to net 10.0.0.254"),
            (hex("0b01 0000 00000000"), "ICMP ip reassembly time exceeded"),
            (hex("0400 0000 00000000"), "ICMP source quench"),
            (hex("0c00 0000 14000000"), "ICMP parameter problem - octet 20"),
            (hex("0c01 0000 00000000"), "ICMP parameter problem - code 1"),
        ]
        for (head, text) in cases {
            #expect(Self.summary(try icmp(head, quoted), link: .raw) == "IP 10.0.0.1 > 10.0.0.2: \(text), length 36")
        }
        #expect(Self.summary(try icmp(hex("0d00 0000 00010002"), [UInt8](repeating: 0, count: 12)), link: .raw)
            == "IP 10.0.0.1 > 10.0.0.2: ICMP time stamp query id 1 seq 2, length 20")
        #expect(Self.summary(try icmp(hex("0e00 0000 00010002"), [UInt8](repeating: 0, count: 12)), link: .raw)
            == "IP 10.0.0.1 > 10.0.0.2: ICMP time stamp reply id 1 seq 2: org 00:00:00.000, "
            + "recv 00:00:00.000, xmit 00:00:00.000, length 20")
        #expect(Self.summary(try icmp(hex("2a00 0000 00010002"), []), link: .raw)
            == "IP 10.0.0.1 > 10.0.0.2: ICMP type-#42, length 8")
        #expect(Self.summary(try icmp(hex("0800 0000 0001"), []), link: .raw) == "IP 10.0.0.1 > 10.0.0.2:  [|icmp]")
    }

    /// Every prefix and random bytes under every link type summarise without trapping.
    @Test func garbageNeverTraps() throws {
        var rng = SplitMix64(seed: 0x5077_A7E5)
        let seeds = [try Self.ethernet(.qinq, hex("60c8 8100 0064 0800") + (try Self.ipv4(.udp, payload: 12))),
                     try Self.ethernet(.arp, Self.arpRequest), Golden.tcpSyn, Golden.icmpPortUnreachable,
                     Golden.vxlanEchoRequest, try Self.ethernet(.ipv6, IPv6Golden.routing),
                     try Self.ethernet(.ipv6, ICMPv6Golden.destinationUnreachable)]
        for s in seeds {
            for cut in 0...s.count { _ = Self.summary(Array(s[0..<cut]), original: s.count) }
        }
        for _ in 0..<2000 {
            let n = Int.random(in: 0..<80, using: &rng)
            var f = (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }
            if n > 14 { f[12] = [0x08, 0x81, 0x86, 0x88][Int.random(in: 0..<4, using: &rng)] }
            if n > 14 { f[13] = [0x00, 0x06, 0xDD, 0xA8][Int.random(in: 0..<4, using: &rng)] }
            for link in [LinkType.ethernet, .raw] {
                _ = Self.summary(f, original: Int.random(in: 0..<100, using: &rng), link: link)
            }
        }
    }

    @Test func clockTimeIsUTCMicroseconds() {
        #expect(FrameSummary.clockTime(nanoseconds: 1_700_000_000_123_456_789) == "22:13:20.123456")
        #expect(FrameSummary.clockTime(nanoseconds: 0) == "00:00:00.000000")
    }
}
