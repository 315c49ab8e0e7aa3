import Testing
@testable import NetWire

@Suite struct AddressTests {
    @Test func ipv6TextFollowsRFC5952() {
        let cases: [(String, String)] = [
            ("2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"),
            ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"),
            ("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"),
            ("::", "::"), ("::1", "::1"), ("fe80::", "fe80::"),
            ("::ffff:10.0.0.1", "::ffff:10.0.0.1"),
            ("ff02::1:ff00:1", "ff02::1:ff00:1"),
        ]
        for (input, printed) in cases {
            #expect(IPv6Address(input)?.description == printed, "\(input)")
        }
        for bad in ["", ":::", "1::2::3", "12345::", "1:2:3:4:5:6:7:8:9", "g::1", "1.2.3.4"] {
            #expect(IPv6Address(bad) == nil, "\(bad)")
        }
    }

    @Test func ipv4AndMACText() {
        #expect(IPv4Address("192.168.0.1") == IPv4Address(192, 168, 0, 1))
        for bad in ["", "1.2.3", "1.2.3.4.5", "256.1.1.1", "+1.2.3.4", "1..2.3"] {
            #expect(IPv4Address(bad) == nil, "\(bad)")
        }
        #expect(MACAddress("02:00:00:00:00:01")?.description == "02:00:00:00:00:01")
        #expect(MACAddress("02:00:00:00:00") == nil)
        #expect(MACAddress(multicastFor: IPv6Address("ff02::1:ff12:3456")!).description == "33:33:ff:12:34:56")
        #expect(IPv6Address("fe80::1234:5678")!.solicitedNodeMulticast == IPv6Address("ff02::1:ff34:5678"))
    }
}

@Suite struct EthernetIPv4Tests {
    /// A UDP/IPv4 header whose checksum is well known (0xb861).
    static let ipv4Header = hex("4500 0073 0000 4000 4011 b861 c0a8 0001 c0a8 00c7")

    @Test func parsesKnownIPv4Header() throws {
        var bytes = Self.ipv4Header
        bytes += [UInt8](repeating: 0, count: 0x73 - 20)
        try bytes.withUnsafeBytes { raw in
            let packet = try IPv4Packet(raw)
            #expect(packet.headerChecksumVerifies)
            let repr = try IPv4Repr.parse(packet)
            #expect(repr.source == IPv4Address(192, 168, 0, 1))
            #expect(repr.destination == IPv4Address(192, 168, 0, 199))
            #expect(repr.protocol == .udp)
            #expect(repr.dontFragment && !repr.moreFragments)
            #expect(repr.payloadLength == 0x73 - 20)
            let out = try emitted(size: 20) { try repr.emit(into: $0) }
            #expect(out == Self.ipv4Header)
        }
    }

    @Test func rejectsMalformedIPv4() {
        func parse(_ b: [UInt8]) -> WireError? {
            wireError { try withBytes(b) { _ = try IPv4Repr.parse(try IPv4Packet($0)) } }
        }
        var b = Self.ipv4Header + [UInt8](repeating: 0, count: 0x73 - 20)
        #expect(parse(Array(b[0..<19])) == .truncated)
        b[0] = 0x65; #expect(parse(b) == .badVersion)
        b[0] = 0x44; #expect(parse(b) == .badHeaderLength)
        b[0] = 0x4F; b[3] = 0x28; #expect(parse(b) == .badLength) // IHL 60 > total 40
        b[0] = 0x45; b[3] = 0x74; #expect(parse(b) == .truncated)  // total past the bytes
        b[3] = 0x73; b[8] = 0x41; #expect(parse(b) == .badChecksum)
    }

    @Test func ipv4OptionsRoundTripAndPad() throws {
        let rr: [UInt8] = [IPv4OptionType.routerAlert, 4, 0, 0, 1, 7, 3] // RA + NOP + bad RR
        var repr = IPv4Repr(source: .loopback, destination: IPv4Address(10, 0, 0, 1), protocol: .igmp,
                            payloadLength: 0, options: OptionBytes(Array(rr[0..<5]))!)
        #expect(repr.headerLength == 28)
        let out = try emitted(size: 28) { try repr.emit(into: $0) }
        try out.withUnsafeBytes { raw in
            let parsed = try IPv4Repr.parse(try IPv4Packet(raw))
            #expect(parsed.options.array == [148, 4, 0, 0, 1, 0, 0, 0]) // padded with EOL
        }
        repr.options = OptionBytes(rr)!
        let bad = try emitted(size: 28) { try repr.emit(into: $0) }
        #expect(wireError { try withBytes(bad) { _ = try IPv4Repr.parse(try IPv4Packet($0)) } } == .badOption)
    }

    @Test func ethernetAndVLANRoundTrip() throws {
        let eth = EthernetRepr(destination: .broadcast, source: MACAddress(2, 0, 0, 0, 0, 1), etherType: .vlan)
        let tag = VLANRepr(priority: 5, dropEligible: true, vlanID: 100, innerEtherType: .arp)
        let out = try emitted(size: 18) { out in
            try eth.emit(into: out)
            try tag.emit(into: out.bytes(14, 18))
        }
        #expect(out == hex("ffffffffffff 020000000001 8100 b064 0806"))
        try out.withUnsafeBytes { raw in
            let frame = try EthernetFrame(raw)
            #expect(EthernetRepr.parse(frame) == eth)
            #expect(VLANRepr.parse(try VLANTag(frame.payload)) == tag)
        }
        #expect(wireError { _ = try emitted(size: 4) { try VLANRepr(vlanID: 4096, innerEtherType: .ipv4).emit(into: $0) } } == .badField)
    }
}
