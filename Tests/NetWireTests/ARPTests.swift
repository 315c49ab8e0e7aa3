import Testing
@testable import NetWire

/// Random values for round-trip properties.
extension SplitMix64 {
    mutating func u8() -> UInt8 { UInt8(truncatingIfNeeded: next()) }
    mutating func u16() -> UInt16 { UInt16(truncatingIfNeeded: next()) }
    mutating func u32() -> UInt32 { UInt32(truncatingIfNeeded: next()) }
    mutating func bool() -> Bool { next() & 1 == 1 }
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
    mutating func mac() -> MACAddress { MACAddress(rawValue: next()) }
    mutating func ipv4() -> IPv4Address { IPv4Address(rawValue: u32()) }
    mutating func ipv6() -> IPv6Address { IPv6Address(high: next(), low: next()) }
    mutating func bytes(_ n: Int) -> [UInt8] { (0..<n).map { _ in u8() } }
}

@Suite struct ARPTests {
    /// Frames 1 and 2: "Who has 10.99.0.2? Tell 10.99.0.1" and its reply.
    @Test func parsesAndEmitsCapturedRequestAndReply() throws {
        let cases: [([UInt8], ARPRepr)] = [
            (Golden.arpRequest, ARPRepr(operation: .request,
                senderHardwareAddress: MACAddress("fa:e1:d5:28:db:ff")!, senderProtocolAddress: IPv4Address("10.99.0.1")!,
                targetHardwareAddress: .zero, targetProtocolAddress: IPv4Address("10.99.0.2")!)),
            (Golden.arpReply, ARPRepr(operation: .reply,
                senderHardwareAddress: MACAddress("1a:a9:95:e9:1b:fe")!, senderProtocolAddress: IPv4Address("10.99.0.2")!,
                targetHardwareAddress: MACAddress("fa:e1:d5:28:db:ff")!, targetProtocolAddress: IPv4Address("10.99.0.1")!)),
        ]
        for (frame, expected) in cases {
            let (eth, arp) = try withBytes(frame) { raw in
                let f = try EthernetFrame(raw)
                let p = try ARPPacket(f.payload)
                // tshark: Hardware type Ethernet (1), Protocol type IPv4, sizes 6 and 4.
                #expect(p.hardwareType == 1 && p.protocolType == .ipv4)
                #expect(p.hardwareLength == 6 && p.protocolLength == 4)
                return (EthernetRepr.parse(f), ARPRepr.parse(p))
            }
            #expect(eth.etherType == .arp)
            #expect(arp == expected)
            let out = try emitted(size: frame.count) { out in
                try eth.emit(into: out)
                try arp.emit(into: out.bytes(14, out.count))
            }
            #expect(out == frame)
        }
        #expect(ARPOperation(rawValue: 1).description == "request")
    }

    @Test func roundTripsRandomReprs() throws {
        var rng = SplitMix64(seed: 0xA4F)
        for _ in 0..<1000 {
            let repr = ARPRepr(operation: ARPOperation(rawValue: rng.bool() ? UInt16(1 + rng.below(2)) : rng.u16()),
                               senderHardwareAddress: rng.mac(), senderProtocolAddress: rng.ipv4(),
                               targetHardwareAddress: rng.mac(), targetProtocolAddress: rng.ipv4())
            let out = try emitted(size: 28) { try repr.emit(into: $0) }
            let back = try withBytes(out) { ARPRepr.parse(try ARPPacket($0)) }
            #expect(back == repr)
        }
    }

    @Test func rejectsMalformed() {
        func parse(_ b: [UInt8]) -> WireError? {
            wireError { try withBytes(b) { _ = ARPRepr.parse(try ARPPacket($0)) } }
        }
        let arp = Array(Golden.arpRequest[14...])
        for n in 0..<arp.count { #expect(parse(Array(arp[0..<n])) == .truncated, "\(n) bytes") }
        for n in 0..<Golden.arpRequest.count {
            #expect(wireError { try withBytes(Array(Golden.arpRequest[0..<n])) {
                _ = ARPRepr.parse(try ARPPacket(try EthernetFrame($0).payload)) } } == .truncated)
        }
        var b = arp
        b[1] = 6; #expect(parse(b) == .unsupported)          // IEEE 802 hardware type
        b = arp; b[2] = 0x86; b[3] = 0xDD; #expect(parse(b) == .unsupported)
        b = arp; b[4] = 8; #expect(parse(b) == .badField)    // hardware length ≠ 6
        b = arp; b[5] = 16; #expect(parse(b) == .badField)   // protocol length ≠ 4
        #expect(parse(arp + [0, 0, 0]) == nil)                // Ethernet padding is fine
        let repr = ARPRepr(operation: .request, senderHardwareAddress: .zero, senderProtocolAddress: .any,
                           targetHardwareAddress: .zero, targetProtocolAddress: .any)
        #expect(wireError { _ = try emitted(size: 27) { try repr.emit(into: $0) } } == .bufferTooSmall)
    }
}
