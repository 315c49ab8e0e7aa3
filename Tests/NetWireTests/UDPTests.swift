import Testing
@testable import NetWire

@Suite struct UDPTests {
    /// Frame 17: 10.99.0.1:40000 → 10.99.0.2:5353, "hello udp\n".
    /// tshark: Source Port 40000, Destination Port 5353, Length 18, Checksum 0x1077 [correct].
    @Test func parsesAndEmitsCapturedDatagram() throws {
        let frame = Golden.udp
        let (ip, udp, payload) = try withBytes(frame) { raw in
            let p = try IPv4Packet(try EthernetFrame(raw).payload)
            let ip = try IPv4Repr.parse(p)
            let d = try UDPDatagram(p.payload)
            #expect(d.length == 18 && d.checksum == 0x1077 && d.hasChecksum)
            #expect(d.checksumVerifies(ip.pseudoHeader))
            return (ip, try UDPRepr.parse(d, pseudoHeader: ip.pseudoHeader), Array(d.payload))
        }
        #expect(udp == UDPRepr(sourcePort: 40000, destinationPort: 5353, payloadLength: 10))
        #expect(payload == Array("hello udp\n".utf8))
        var out = frame
        for i in 34..<42 { out[i] = 0 }
        try out.withUnsafeMutableBytes { try udp.emit(into: $0.bytes(34, $0.count), pseudoHeader: ip.pseudoHeader) }
        #expect(out == frame)
    }

    @Test func roundTripsRandomReprs() throws {
        var rng = SplitMix64(seed: 768)
        for i in 0..<1000 {
            let repr = UDPRepr(sourcePort: rng.u16(), destinationPort: rng.u16(), payloadLength: rng.below(200))
            let pseudo: PseudoHeader = i % 2 == 0 ? .ipv4(source: rng.ipv4(), destination: rng.ipv4())
                                                  : .ipv6(source: rng.ipv6(), destination: rng.ipv6())
            var out = [UInt8](repeating: 0, count: 8) + rng.bytes(repr.payloadLength)
            try out.withUnsafeMutableBytes { try repr.emit(into: $0, pseudoHeader: pseudo) }
            #expect(try withBytes(out) { try UDPRepr.parse(try UDPDatagram($0), pseudoHeader: pseudo) } == repr)
        }
    }

    /// RFC 768: a computed checksum of 0 goes out as 0xFFFF (which verifies);
    /// a zero field means "none" over IPv4 and is invalid over IPv6.
    @Test func zeroChecksumRules() throws {
        let v4 = PseudoHeader.ipv4(source: IPv4Address(10, 0, 0, 1), destination: IPv4Address(10, 0, 0, 2))
        let repr = UDPRepr(sourcePort: 1, destinationPort: 2, payloadLength: 2)
        var found = false
        for v in 0...0xFFFF {
            var out: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 0, UInt8(v >> 8), UInt8(v & 0xFF)]
            try out.withUnsafeMutableBytes { try repr.emit(into: $0, pseudoHeader: v4) }
            if out[6] == 0xFF && out[7] == 0xFF {
                found = true
                #expect(try withBytes(out) { try UDPRepr.parse(try UDPDatagram($0), pseudoHeader: v4) } == repr)
                break
            }
        }
        #expect(found, "some payload sums to a zero checksum")
        let none = try emitted(size: 8) { try UDPRepr(sourcePort: 7, destinationPort: 9, payloadLength: 0).emit(into: $0, pseudoHeader: nil) }
        #expect(none == hex("0007 0009 0008 0000"))
        try withBytes(none) { raw in
            let d = try UDPDatagram(raw)
            #expect(!d.hasChecksum && d.checksumVerifies(v4))
            #expect(!d.checksumVerifies(.ipv6(source: .loopback, destination: .loopback)))
        }
        #expect(wireError { try withBytes(none) { _ = try UDPRepr.parse(try UDPDatagram($0), pseudoHeader: .ipv6(source: .any, destination: .any)) } } == .badChecksum)
    }

    @Test func rejectsMalformed() throws {
        let v4 = PseudoHeader.ipv4(source: IPv4Address(10, 99, 0, 1), destination: IPv4Address(10, 99, 0, 2))
        let udp = Array(Golden.udp[34...])
        func parse(_ b: [UInt8]) -> WireError? {
            wireError { try withBytes(b) { _ = try UDPRepr.parse(try UDPDatagram($0), pseudoHeader: v4) } }
        }
        #expect(parse(udp) == nil)
        for n in 0..<udp.count { #expect(parse(Array(udp[0..<n])) != nil, "\(n) bytes") }
        for n in 0..<8 { #expect(parse(Array(udp[0..<n])) == .truncated) }
        for n in 0..<Golden.udp.count {
            #expect(wireError { try withBytes(Array(Golden.udp[0..<n])) { raw in
                let p = try IPv4Packet(try EthernetFrame(raw).payload)
                _ = try UDPRepr.parse(try UDPDatagram(p.payload), pseudoHeader: try IPv4Repr.parse(p).pseudoHeader)
            } } != nil, "\(n) bytes")
        }
        var b = udp; b[5] = 7; #expect(parse(b) == .badLength)     // length < 8
        b = udp; b[5] = 19; #expect(parse(b) == .truncated)         // past the bytes
        b = udp; b[17] ^= 1; #expect(parse(b) == .badChecksum)
        b = udp; b[7] ^= 0x80; #expect(parse(b) == .badChecksum)
        // Bytes past the length field are not payload (and not checksummed).
        try withBytes(udp + [0xEE, 0xEE]) { raw in
            let d = try UDPDatagram(raw)
            #expect(d.payload.count == 10 && d.checksumVerifies(v4))
        }
        #expect(wireError { _ = try emitted(size: 16) { try UDPRepr(sourcePort: 1, destinationPort: 2, payloadLength: 9).emit(into: $0, pseudoHeader: v4) } } == .bufferTooSmall)
        #expect(wireError { _ = try emitted(size: 8) { try UDPRepr(sourcePort: 1, destinationPort: 2, payloadLength: 65528).emit(into: $0, pseudoHeader: nil) } } == .badField)
    }
}
