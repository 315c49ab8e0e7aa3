import Testing
@testable import NetWire

@Suite struct VXLANTests {
    /// Frames 23–26: kernel VXLAN (VNI 42) between 10.99.0.1 and 10.99.0.2,
    /// carrying ARP for 192.168.42.2 and an echo request/reply.
    /// tshark: UDP 35646/40476 → 4789, VXLAN Flags 0x0800 (VNI valid), VNI 42.
    @Test func parsesAndEmitsCapturedFrames() throws {
        let cases: [([UInt8], UInt16, UInt16, EtherType)] = [
            (Golden.vxlanARPRequest, 35646, 0x7AEA, .arp), (Golden.vxlanARPReply, 35646, 0x4CB5, .arp),
            (Golden.vxlanEchoRequest, 40476, 0x8E7C, .ipv4), (Golden.vxlanEchoReply, 40476, 0x8E7C, .ipv4),
        ]
        for (frame, sport, checksum, innerType) in cases {
            let (eth, ip, udp, vx) = try withBytes(frame) { raw in
                let f = try EthernetFrame(raw)
                let p = try IPv4Packet(f.payload)
                let ip = try IPv4Repr.parse(p)
                let d = try UDPDatagram(p.payload)
                #expect(d.checksum == checksum)
                let udp = try UDPRepr.parse(d, pseudoHeader: ip.pseudoHeader)
                let h = try VXLANHeader(d.payload)
                #expect(h.flags == 0x08 && h.hasVNI && h.reservedBitsAreZero)
                #expect(try EthernetFrame(h.payload).etherType == innerType)
                return (EthernetRepr.parse(f), ip, udp, try VXLANRepr.parse(h))
            }
            #expect(udp.sourcePort == sport && udp.destinationPort == VXLANHeader.udpPort)
            #expect(udp.payloadLength == frame.count - 14 - 20 - 8)
            #expect(vx == VXLANRepr(vni: 42))
            // Re-emit every outer header over the inner frame; the UDP
            // checksum covers it all.
            var out = frame
            for i in 0..<(14 + 20 + 8 + 8) { out[i] = 0 }
            try out.withUnsafeMutableBytes { o in
                try eth.emit(into: o)
                try ip.emit(into: o.bytes(14, o.count))
                try vx.emit(into: o.bytes(42, o.count))
                try udp.emit(into: o.bytes(34, o.count), pseudoHeader: ip.pseudoHeader)
            }
            #expect(out == frame)
        }
    }

    @Test func innerARPIsTheRequest() throws {
        let arp = try withBytes(Golden.vxlanARPRequest) { raw in
            ARPRepr.parse(try ARPPacket(try EthernetFrame(raw.bytes(50, raw.count)).payload))
        }
        #expect(arp.operation == .request)
        #expect(arp.senderProtocolAddress == IPv4Address(192, 168, 42, 1))
        #expect(arp.senderHardwareAddress == MACAddress("0a:92:04:d9:4a:ce"))
        #expect(arp.targetProtocolAddress == IPv4Address(192, 168, 42, 2))
    }

    @Test func roundTripsRandomReprs() throws {
        var rng = SplitMix64(seed: 0x7348)
        for _ in 0..<1000 {
            let repr = VXLANRepr(vni: rng.u32() & 0xFF_FFFF)
            let out = try emitted(size: 8) { try repr.emit(into: $0) }
            #expect(out[0] == 0x08 && out[7] == 0)
            #expect(try withBytes(out) { try VXLANRepr.parse(try VXLANHeader($0)) } == repr)
        }
    }

    @Test func rejectsMalformed() {
        func parse(_ b: [UInt8]) -> WireError? {
            wireError { try withBytes(b) { _ = try VXLANRepr.parse(try VXLANHeader($0)) } }
        }
        let header = hex("0800 0000 0000 2a00")
        #expect(parse(header) == nil)
        for n in 0..<8 { #expect(parse(Array(header[0..<n])) == .truncated) }
        #expect(parse(hex("0000 0000 0000 2a00")) == .badField)     // no I flag
        #expect(parse(hex("8800 0000 0000 2a00")) == .unsupported)  // GBP G bit
        #expect(parse(hex("0800 0000 0000 2a01")) == .unsupported)  // reserved byte 7
        #expect(wireError { _ = try emitted(size: 8) { try VXLANRepr(vni: 1 << 24).emit(into: $0) } } == .badField)
        #expect(wireError { _ = try emitted(size: 7) { try VXLANRepr(vni: 1).emit(into: $0) } } == .bufferTooSmall)
        // Every truncation of a captured VXLAN frame fails at some layer.
        for frame in [Golden.vxlanARPRequest, Golden.vxlanEchoReply] {
            for n in 0..<frame.count {
                let e = wireError { try withBytes(Array(frame[0..<n])) { raw in
                    let p = try IPv4Packet(try EthernetFrame(raw).payload)
                    let d = try UDPDatagram(p.payload)
                    _ = try UDPRepr.parse(d, pseudoHeader: try IPv4Repr.parse(p).pseudoHeader)
                    _ = try VXLANRepr.parse(try VXLANHeader(d.payload))
                } }
                #expect(e != nil, "\(n) bytes")
            }
        }
    }
}
