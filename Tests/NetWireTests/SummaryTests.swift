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
        #expect(Self.summary(try Self.ethernet(.ipv4, try Self.ipv4(.icmp, payload: 64)))
            == "IP 10.0.0.1 > 10.0.0.2: icmp, length 64")
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
        let ip = try Self.ipv4(.udp, payload: 12)
        #expect(Self.summary(try Self.ethernet(.vlan, hex("0064 0800") + ip))
            == "vlan 100, p 0, ethertype IPv4 (0x0800), IP 10.0.0.1 > 10.0.0.2: udp, length 12")
        #expect(Self.summary(try Self.ethernet(.qinq, hex("60c8 8100 0064 0800") + ip))
            == "vlan 200, p 3, ethertype 802.1Q (0x8100), vlan 100, p 0, ethertype IPv4 (0x0800), "
            + "IP 10.0.0.1 > 10.0.0.2: udp, length 12")
        #expect(Self.summary(try Self.ethernet(.vlan, [0])) == "[|vlan]")
    }

    @Test func fragments() throws {
        #expect(Self.summary(try Self.ethernet(.ipv4, try Self.ipv4(.udp, payload: 24, id: 0x1234, more: true)))
            == "IP 10.0.0.1 > 10.0.0.2: udp, length 24 (frag 4660:24@0+)")
        #expect(Self.summary(try Self.ethernet(.ipv4, try Self.ipv4(.udp, payload: 24, id: 0x1234, offset: 24)))
            == "IP 10.0.0.1 > 10.0.0.2: udp (frag 4660:24@24)")
    }

    @Test func ipv6AndRawLinkType() throws {
        let ip6 = hex("6000 0000 000c 11 40 20010db8000000000000000000000001 20010db8000000000000000000000002")
            + [UInt8](repeating: 0, count: 12)
        #expect(Self.summary(try Self.ethernet(.ipv6, ip6)) == "IP6 2001:db8::1 > 2001:db8::2: udp, length 12")
        #expect(Self.summary(ip6, link: .raw) == "IP6 2001:db8::1 > 2001:db8::2: udp, length 12")
        #expect(Self.summary(try Self.ipv4(.tcp, payload: 20), link: .raw) == "IP 10.0.0.1 > 10.0.0.2: tcp, length 20")
        #expect(Self.summary([0x10], link: .raw) == "IP version 1 unknown, length 1")
        #expect(Self.summary([1, 2, 3], link: LinkType(rawValue: 147)) == "linktype 147, length 3")
    }

    @Test func cutFramesAreMarked() throws {
        let full = try Self.ethernet(.ipv4, try Self.ipv4(.icmp, payload: 64))
        // Cut by a snaplen: header complete, payload short.
        #expect(Self.summary(Array(full[0..<40]), original: full.count)
            == "IP 10.0.0.1 > 10.0.0.2: icmp, length 64 [|icmp]")
        // The IP header claims more than was on the wire.
        #expect(Self.summary(Array(full[0..<40]))
            == "IP truncated-ip - 58 bytes missing! 10.0.0.1 > 10.0.0.2: icmp, length 64 [|icmp]")
        #expect(Self.summary(Array(full[0..<30]), original: full.count) == "IP [|ip]")
        #expect(Self.summary(Array(full[0..<10]), original: full.count) == "[|ether]")
        #expect(Self.summary(try Self.ethernet(.arp, Array(Self.arpRequest[0..<20]))) == "ARP, [|arp]")
        #expect(Self.summary(try Self.ethernet(.ipv6, [0x60, 0])) == "IP6 [|ip6]")
    }

    /// Every prefix and random bytes under every link type summarise without trapping.
    @Test func garbageNeverTraps() throws {
        var rng = SplitMix64(seed: 0x5077_A7E5)
        let seeds = [try Self.ethernet(.qinq, hex("60c8 8100 0064 0800") + (try Self.ipv4(.udp, payload: 12))),
                     try Self.ethernet(.arp, Self.arpRequest)]
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
