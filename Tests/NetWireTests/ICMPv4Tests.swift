import Testing
@testable import NetWire

@Suite struct ICMPv4Tests {
    /// Parses Ethernet → IPv4 → ICMPv4 of a captured frame.
    static func layers(_ frame: [UInt8]) throws -> (EthernetRepr, IPv4Repr, ICMPv4Repr) {
        try withBytes(frame) { raw in
            let f = try EthernetFrame(raw)
            let p = try IPv4Packet(f.payload)
            return (EthernetRepr.parse(f), try IPv4Repr.parse(p), try ICMPv4Repr.parse(try ICMPv4Packet(p.payload)))
        }
    }

    /// Zeroes the three headers of a frame, emits them again over the body
    /// left in place, and returns the result.
    static func reemit(_ frame: [UInt8], _ eth: EthernetRepr, _ ip: IPv4Repr, _ icmp: ICMPv4Repr) throws -> [UInt8] {
        var out = frame
        for i in 0..<(14 + 20 + 8) { out[i] = 0 }
        try out.withUnsafeMutableBytes { o in
            try eth.emit(into: o)
            try ip.emit(into: o.bytes(14, o.count))
            try icmp.emit(into: o.bytes(34, o.count))
        }
        return out
    }

    /// Frames 3/4: id 0x1234, seq 1, 24 bytes "netstack"×3.
    /// tshark: Type 8 / 0, Code 0, Checksum 0xb5d9 / 0xbdd9 [correct].
    @Test func parsesAndEmitsCapturedEcho() throws {
        for (frame, expected, checksum) in [(Golden.echoRequest, ICMPv4Repr.echoRequest(identifier: 0x1234, sequenceNumber: 1, dataLength: 24), UInt16(0xB5D9)),
                                            (Golden.echoReply, .echoReply(identifier: 0x1234, sequenceNumber: 1, dataLength: 24), 0xBDD9)] {
            let (eth, ip, icmp) = try Self.layers(frame)
            #expect(icmp == expected)
            try withBytes(frame) { raw in
                let m = try ICMPv4Packet(raw.bytes(34, raw.count))
                #expect(m.checksum == checksum && m.checksumVerifies && m.quotedPacket == nil)
                #expect(Array(m.body) == Array(String(repeating: "netstack", count: 3).utf8))
            }
            #expect(try Self.reemit(frame, eth, ip, icmp) == frame)
        }
    }

    /// Frame 18: port unreachable from 10.99.0.2 (DSCP CS6, as Linux sends
    /// errors) quoting the whole 38-byte UDP datagram to port 5353.
    /// Frame 20: fragmentation needed, MTU of next hop 1280, checksum 0x2b32,
    /// quoting 548 bytes of a 1428-byte DF echo to 10.99.1.2 (576 − 28).
    /// Frame 22: time exceeded in transit, checksum 0xf4ff, quoting the TTL-1 echo.
    @Test func parsesAndEmitsCapturedErrors() throws {
        let cases: [([UInt8], ICMPv4Repr, IPv4Address, IPProtocol, Int)] = [
            (Golden.icmpPortUnreachable, .destinationUnreachable(code: ICMPv4UnreachableCode.port, nextHopMTU: 0, quotedLength: 38),
             IPv4Address(10, 99, 0, 2), .udp, 38),
            (Golden.icmpFragmentationNeeded, .destinationUnreachable(code: ICMPv4UnreachableCode.fragmentationNeeded, nextHopMTU: 1280, quotedLength: 548),
             IPv4Address(10, 99, 1, 2), .icmp, 1428),
            (Golden.icmpTimeExceeded, .timeExceeded(code: ICMPv4TimeExceededCode.ttlExceededInTransit, quotedLength: 44),
             IPv4Address(10, 99, 1, 2), .icmp, 44),
        ]
        for (frame, expected, quotedDestination, quotedProtocol, quotedTotal) in cases {
            let (eth, ip, icmp) = try Self.layers(frame)
            #expect(icmp == expected)
            #expect(ip.dscp == 48 && ip.source == IPv4Address(10, 99, 0, 2) && ip.protocol == .icmp)
            try withBytes(frame) { raw in
                let m = try ICMPv4Packet(raw.bytes(34, raw.count))
                let quote = try #require(m.quotedPacket)
                let q = try ICMPv4QuotedPacket(quote)
                #expect(q.source == IPv4Address(10, 99, 0, 1) && q.destination == quotedDestination)
                #expect(q.protocol == quotedProtocol && q.totalLength == quotedTotal)
                if quotedProtocol == .udp { #expect(q.sourcePort == 40000 && q.destinationPort == 5353) }
                if quotedTotal == 1428 { #expect(m.nextHopMTU == 1280) }
            }
            #expect(try Self.reemit(frame, eth, ip, icmp) == frame)
        }
        // The port-unreachable quote is a whole datagram: it parses fully.
        try withBytes(Golden.icmpPortUnreachable) { raw in
            let p = try IPv4Packet(raw.bytes(42, raw.count))
            #expect(try UDPRepr.parse(try UDPDatagram(p.payload), pseudoHeader: try IPv4Repr.parse(p).pseudoHeader).destinationPort == 5353)
        }
    }

    static func random(_ rng: inout SplitMix64) -> ICMPv4Repr {
        let n = rng.below(120)
        switch rng.below(7) {
        case 0: return .echoRequest(identifier: rng.u16(), sequenceNumber: rng.u16(), dataLength: n)
        case 1: return .echoReply(identifier: rng.u16(), sequenceNumber: rng.u16(), dataLength: n)
        case 2: return .destinationUnreachable(code: UInt8(rng.below(16)), nextHopMTU: rng.u16(), quotedLength: n)
        case 3: return .timeExceeded(code: UInt8(rng.below(2)), quotedLength: n)
        case 4: return .redirect(code: UInt8(rng.below(4)), gateway: rng.ipv4(), quotedLength: n)
        case 5: return .parameterProblem(code: UInt8(rng.below(3)), pointer: rng.u8(), quotedLength: n)
        default:
            let types: [UInt8] = [4, 9, 10, 13, 14, 40, 42, 43, 200]
            return .other(type: types[rng.below(types.count)], code: rng.u8(), restOfHeader: rng.u32(), bodyLength: n)
        }
    }

    @Test func roundTripsRandomReprs() throws {
        var rng = SplitMix64(seed: 792)
        for _ in 0..<1000 {
            let repr = Self.random(&rng)
            var out = [UInt8](repeating: 0, count: 8) + rng.bytes(repr.bodyLength)
            try out.withUnsafeMutableBytes { try repr.emit(into: $0) }
            #expect(try withBytes(out) { try ICMPv4Repr.parse(try ICMPv4Packet($0)) } == repr)
        }
    }

    /// A non-zero unused field is kept: the message still round-trips.
    @Test func unusedBytesRoundTripAsOther() throws {
        var out = hex("0b00 0000 0000 0001") // time exceeded with a non-zero unused word
        try out.withUnsafeMutableBytes { try ICMPv4Repr.other(type: 11, code: 0, restOfHeader: 1, bodyLength: 0).emit(into: $0) }
        #expect(try withBytes(out) { try ICMPv4Repr.parse(try ICMPv4Packet($0)) } == .other(type: 11, code: 0, restOfHeader: 1, bodyLength: 0))
    }

    @Test func rejectsMalformed() {
        for (name, frame) in Golden.all where frame[23] == 1 && frame[12] == 0x08 && frame[13] == 0 {
            for n in 0..<frame.count {
                #expect(wireError { _ = try Self.layers(Array(frame[0..<n])) } != nil, "\(name) \(n) bytes")
            }
            // Any single corrupted bit of the message fails its checksum.
            var rng = SplitMix64(seed: UInt64(frame.count))
            for _ in 0..<20 {
                var b = frame
                b[34 + rng.below(frame.count - 34)] ^= UInt8(1) << UInt8(rng.below(8))
                #expect(wireError { _ = try Self.layers(b) } == .badChecksum, "\(name)")
            }
            // The message alone, cut short: fewer than 8 bytes is .truncated;
            // a shortened body no longer verifies — unless what was cut off
            // is itself a checksummed unit (ICMP has no length field: a time
            // exceeded message minus its quoted IPv4 header's payload, or
            // minus the quoted echo, still sums right).
            let message = Array(frame[34...])
            for n in 0..<message.count {
                let e = wireError { try withBytes(Array(message[0..<n])) { _ = try ICMPv4Repr.parse(try ICMPv4Packet($0)) } }
                let tailSumsToZero = n % 2 == 0 && withBytes(Array(message[n...])) {
                    var c = InternetChecksum(); c.add($0); return c.verifies
                }
                #expect(e == (n < 8 ? .truncated : tailSumsToZero ? nil : .badChecksum), "\(name) \(n) bytes")
            }
        }
        #expect(wireError { try withBytes(hex("4500 0014")) { _ = try ICMPv4QuotedPacket($0) } } == .truncated)
        #expect(wireError { try withBytes(hex("4500 0014 0000 0000 4001 0000 0a000001 0a000002")) { _ = try ICMPv4QuotedPacket($0) } } == .truncated)
        #expect(wireError { _ = try emitted(size: 9) { try ICMPv4Repr.echoRequest(identifier: 1, sequenceNumber: 1, dataLength: 2).emit(into: $0) } } == .bufferTooSmall)
    }
}
