// The --trace filter language: parsing (errors included) and matching over
// frames built with NetWire's Reprs.
import NetWire
import Netstack
import NetstackControl
import Testing

@Suite struct TraceFilterTests {
    static let macA = MACAddress(2, 0, 0, 0, 0, 1), macB = MACAddress(2, 0, 0, 0, 0, 2)
    static let a = IPv4Address(10, 1, 0, 2), b = IPv4Address(10, 2, 0, 2)

    static func frame(_ type: EtherType, _ payload: [UInt8]) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 14)
        try out.withUnsafeMutableBytes { try EthernetRepr(destination: macB, source: macA, etherType: type).emit(into: $0) }
        return out + payload
    }

    static func ipv4(_ proto: IPProtocol, _ transport: [UInt8], src: IPv4Address = a, dst: IPv4Address = b,
                     fragmentOffset: Int = 0) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 20) + transport
        let repr = IPv4Repr(source: src, destination: dst, protocol: proto, payloadLength: transport.count,
                            fragmentOffset: fragmentOffset)
        try out.withUnsafeMutableBytes { try repr.emit(into: $0) }
        return out
    }

    static func ipv6(_ proto: IPProtocol, _ transport: [UInt8]) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 40) + transport
        let repr = IPv6Repr(source: IPv6Address("2001:db8::1")!, destination: IPv6Address("2001:db8::2")!,
                            nextHeader: proto, payloadLength: transport.count)
        try out.withUnsafeMutableBytes { try repr.emit(into: $0) }
        return out
    }

    static func udp(_ sport: UInt16, _ dport: UInt16) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 8 + 4)
        try out.withUnsafeMutableBytes {
            try UDPRepr(sourcePort: sport, destinationPort: dport, payloadLength: 4).emit(into: $0, pseudoHeader: nil)
        }
        return out
    }

    static let echo: [UInt8] = [8, 0, 0xF7, 0xFE, 0, 1, 0, 0]

    static func arp() throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 28)
        try out.withUnsafeMutableBytes {
            try ARPRepr(operation: .request, senderHardwareAddress: macA, senderProtocolAddress: a,
                        targetHardwareAddress: .zero, targetProtocolAddress: IPv4Address(10, 1, 0, 1)).emit(into: $0)
        }
        return out
    }

    /// Frames every test matches against.
    static func frames() throws -> [String: [UInt8]] {
        [
            "icmp": try frame(.ipv4, try ipv4(.icmp, echo)),
            "dns": try frame(.ipv4, try ipv4(.udp, try udp(40000, 53))),
            "dnsReply": try frame(.ipv4, try ipv4(.udp, try udp(53, 40000), src: b, dst: a)),
            "fragment": try frame(.ipv4, try ipv4(.udp, try udp(40000, 53), fragmentOffset: 8)),
            "udp6": try frame(.ipv6, try ipv6(.udp, try udp(1000, 2000))),
            "icmp6": try frame(.ipv6, try ipv6(.icmpv6, [128, 0, 0, 0, 0, 1, 0, 1])),
            "arp": try frame(.arp, try arp()),
        ]
    }

    /// The names of the frames `text` matches.
    static func matching(_ text: String) throws -> Set<String> {
        let filter = try TraceFilter.parse(text)
        return Set(try frames().filter { _, bytes in bytes.withUnsafeBytes { filter.matches(frame: $0) } }.keys)
    }

    @Test func protocols() throws {
        #expect(try Self.matching("ip") == ["icmp", "dns", "dnsReply", "fragment"])
        #expect(try Self.matching("ip6") == ["udp6", "icmp6"])
        #expect(try Self.matching("arp") == ["arp"])
        #expect(try Self.matching("icmp") == ["icmp"])
        #expect(try Self.matching("icmp6") == ["icmp6"])
        #expect(try Self.matching("udp") == ["dns", "dnsReply", "fragment", "udp6"])
        #expect(try Self.matching("tcp") == [])
        #expect(try Self.matching("proto 17") == ["dns", "dnsReply", "fragment", "udp6"])
        #expect(try Self.matching("ip proto 17") == ["dns", "dnsReply", "fragment"])
        #expect(try Self.matching("proto icmp") == ["icmp"])
    }

    @Test func hostsNetsAndPorts() throws {
        // host matches IPv4 and ARP addresses, as libpcap's `ip host or arp host`.
        #expect(try Self.matching("host 10.1.0.2") == ["icmp", "dns", "dnsReply", "fragment", "arp"])
        #expect(try Self.matching("src host 10.1.0.2") == ["icmp", "dns", "fragment", "arp"])
        #expect(try Self.matching("dst host 10.1.0.2") == ["dnsReply"])
        #expect(try Self.matching("src 10.2.0.2") == ["dnsReply"])
        #expect(try Self.matching("host 2001:db8::2") == ["udp6", "icmp6"])
        #expect(try Self.matching("net 10.2.0.0/16") == ["icmp", "dns", "dnsReply", "fragment"])
        #expect(try Self.matching("dst net 10.1.0.0/24") == ["dnsReply", "arp"])
        // A fragment with a non-zero offset carries no ports.
        #expect(try Self.matching("port 53") == ["dns", "dnsReply"])
        #expect(try Self.matching("dst port 53") == ["dns"])
        #expect(try Self.matching("src port 53") == ["dnsReply"])
        #expect(try Self.matching("udp port 2000") == ["udp6"])
        #expect(try Self.matching("tcp port 53") == [])
    }

    @Test func booleanOperatorsAndPrecedence() throws {
        #expect(try Self.matching("icmp or arp") == ["icmp", "arp"])
        #expect(try Self.matching("icmp || arp") == ["icmp", "arp"])
        #expect(try Self.matching("udp and not ip6") == ["dns", "dnsReply", "fragment"])
        #expect(try Self.matching("udp && !ip6") == ["dns", "dnsReply", "fragment"])
        #expect(try Self.matching("!(icmp||arp||udp)") == ["icmp6"])
        // pcap-filter: and/or have equal precedence, left to right.
        #expect(try Self.matching("arp or icmp and ip") == ["icmp"])
        #expect(try Self.matching("arp or (icmp and ip)") == ["icmp", "arp"])
        #expect(try Self.matching("not not arp") == ["arp"])
    }

    @Test func compiledShape() throws {
        let f = try TraceFilter.parse("icmp and not host 10.1.0.2")
        #expect(f.nodes == [
            .primitive(.ipProtocol(1, .v4)),
            .primitive(.host(.v4(Self.a), .either)),
            .not(1),
            .and(0, 2),
        ])
        #expect(f.root == 3)
    }

    static func error(_ text: String) -> String? {
        do {
            _ = try TraceFilter.parse(text)
            return nil
        } catch {
            return error.description
        }
    }

    @Test func errors() {
        #expect(Self.error("icmp and (x") == "syntax error near 'x'")
        #expect(Self.error("icmp and") == "syntax error at end of filter")
        #expect(Self.error("(icmp") == "syntax error at end of filter")
        #expect(Self.error("icmp)") == "syntax error near ')'")
        #expect(Self.error("bogus") == "syntax error near 'bogus'")
        #expect(Self.error("host example.com") == "unknown host 'example.com'")
        #expect(Self.error("port 70000") == "illegal port number 70000 > 65535")
        #expect(Self.error("net 10.1.0.1/8") == "non-network bits set in \"10.1.0.1/8\"")
        #expect(Self.error("proto 300") == "illegal protocol number 300 > 255")
        #expect(Self.error("") == "empty filter expression")
        #expect(Self.error(String(repeating: "(", count: 100) + "ip" + String(repeating: ")", count: 100))
            == "expression too deeply nested")
    }

    /// Locally generated packets are matched on their flow key before the
    /// IP header exists.
    @Test func flowKeyFields() throws {
        let f = try TraceFilter.parse("udp and dst port 53 and dst host 10.2.0.2")
        #expect(f.matches(PacketFields(source: nil, destination: .v4(Self.b), ipProtocol: 17, sourcePort: 4000, destinationPort: 53)))
        #expect(!f.matches(PacketFields(source: nil, destination: .v4(Self.a), ipProtocol: 17, sourcePort: 4000, destinationPort: 53)))
        #expect(!f.matches(PacketFields(source: nil, destination: .v4(Self.b), ipProtocol: 1)))
    }
}
