// The virtio_net_hdr path of a vnet_hdr TAP: partial checksums completed,
// TCP super-frames cut into segments whose headers and checksums verify,
// bad headers refused.
import Testing
@testable import NetWire
@testable import Netstack
@testable import NetstackHost

@Suite struct VirtioNetTests {
    /// Ethernet + IPv4 + TCP (PSH|ACK) carrying `payload` bytes 0, 1, 2…;
    /// the TCP checksum field holds only the pseudo-header sum (partial).
    func superFrame(payload: Int, v6: Bool = false) -> [UInt8] {
        var f = [UInt8](repeating: 0, count: 14) + [UInt8](repeating: 0, count: v6 ? 40 : 20) + [UInt8](repeating: 0, count: 20)
        f[12] = v6 ? 0x86 : 0x08; f[13] = v6 ? 0xDD : 0x00
        let tcp = v6 ? 54 : 34
        if v6 {
            f[14] = 0x60; f[20] = 6; f[21] = 64
            f[22 + 15] = 1; f[38 + 15] = 2   // ::1 -> ::2 (enough for a pseudo-header)
            f[18] = UInt8((20 + payload) >> 8); f[19] = UInt8((20 + payload) & 0xFF)
        } else {
            f[14] = 0x45; f[22] = 64; f[23] = 6
            f[18] = 0x12; f[19] = 0x34             // IP id
            f[26] = 10; f[29] = 1; f[30] = 10; f[33] = 2
        }
        f[tcp] = 0x1F; f[tcp + 1] = 0x90; f[tcp + 3] = 7
        f[tcp + 4] = 0; f[tcp + 5] = 0; f[tcp + 6] = 0x10; f[tcp + 7] = 0   // seq 4096
        f[tcp + 12] = 0x50; f[tcp + 13] = 0x18; f[tcp + 14] = 0xFF; f[tcp + 15] = 0xFF
        return f + (0..<payload).map { UInt8(truncatingIfNeeded: $0) }
    }

    @Test func aSuperFrameBecomesSegmentsThatVerify() throws {
        let pool = PacketPool(slotSize: 2048, count: 64, defaultHeadroom: 128)
        for v6 in [false, true] {
            let frame = superFrame(payload: 3000, v6: v6)
            var h = VirtioNetHeader()
            h.flags = VirtioNetHeader.needsChecksum
            h.gsoType = v6 ? VirtioNetHeader.gsoTCPv6 : VirtioNetHeader.gsoTCPv4
            h.gsoSize = 1000
            var segments: [[UInt8]] = []
            var trusted = true
            let r = frame.withUnsafeBytes { b in
                VirtioNet.deliver(b, header: h, pool: pool) { p in
                    trusted = trusted && p.metadata.checksum == .unnecessary
                    segments.append(p.bytes)
                }
            }
            #expect(r == .success(3))
            #expect(trusted)
            let tcp = v6 ? 54 : 34
            var payload: [UInt8] = []
            for (i, s) in segments.enumerated() {
                let seq = UInt32(s[tcp + 4]) << 24 | UInt32(s[tcp + 5]) << 16 | UInt32(s[tcp + 6]) << 8 | UInt32(s[tcp + 7])
                #expect(seq == 4096 + UInt32(i * 1000))
                #expect(s[tcp + 13] == (i == 2 ? 0x18 : 0x10))   // PSH on the last only
                var c = InternetChecksum()
                s.withUnsafeBytes { b in
                    if v6 {
                        c.addPseudoHeader(source: IPv6Address(reading: b, at: 22), destination: IPv6Address(reading: b, at: 38),
                                          nextHeader: 6, length: s.count - tcp)
                    } else {
                        c.addPseudoHeader(source: IPv4Address(rawValue: b.be32(26)), destination: IPv4Address(rawValue: b.be32(30)),
                                          protocol: 6, length: s.count - tcp)
                        #expect(InternetChecksum.checksum(UnsafeRawBufferPointer(rebasing: b[14..<34])) == 0)
                        #expect(b.be16(16) == UInt16(s.count - 14))
                        #expect(b.be16(18) == 0x1234 + UInt16(i))
                    }
                    c.add(UnsafeRawBufferPointer(rebasing: b[tcp...]))
                }
                #expect(c.verifies)
                payload += s[(tcp + 20)...]
            }
            #expect(payload == Array(frame[(tcp + 20)...]))
        }
        #expect(pool.outstanding == 0)
    }

    @Test func onlyATCPSuperFrameWhoseLengthsAgreeIsTakenWhole() {
        for v6 in [false, true] {
            var frame = superFrame(payload: 3000, v6: v6)
            if !v6 { frame[16] = UInt8((40 + 3000) >> 8); frame[17] = UInt8((40 + 3000) & 0xFF) }
            var h = VirtioNetHeader()
            h.gsoType = v6 ? VirtioNetHeader.gsoTCPv6 : VirtioNetHeader.gsoTCPv4
            h.gsoSize = 1448
            let ok = frame.withUnsafeBytes { VirtioNet.wholeSuperFrame($0, header: h) }
            #expect(ok?.gsoSize == 1448)
            #expect(ok?.gsoType == (v6 ? GSOType.tcpv6 : GSOType.tcpv4))
            // A length field that disagrees with the read: cut (and checked) instead.
            var short = frame
            short.removeLast()
            #expect(short.withUnsafeBytes { VirtioNet.wholeSuperFrame($0, header: h) } == nil)
            // Not a GSO frame, or UDP GSO: not taken whole.
            var none = h
            none.gsoType = VirtioNetHeader.gsoNone
            #expect(frame.withUnsafeBytes { VirtioNet.wholeSuperFrame($0, header: none) } == nil)
            var udp = h
            udp.gsoType = VirtioNetHeader.gsoUDP
            #expect(frame.withUnsafeBytes { VirtioNet.wholeSuperFrame($0, header: udp) } == nil)
        }
    }

    @Test func aPartialChecksumIsCompleted() throws {
        let pool = PacketPool(slotSize: 2048, count: 8, defaultHeadroom: 128)
        var frame = superFrame(payload: 100)
        // The field holds the pseudo-header sum, not complemented (CHECKSUM_PARTIAL).
        var pseudo = InternetChecksum()
        pseudo.addPseudoHeader(source: IPv4Address(10, 0, 0, 1), destination: IPv4Address(10, 0, 0, 2), protocol: 6, length: 120)
        let sum = pseudo.folded
        frame[34 + 16] = UInt8(sum >> 8); frame[34 + 17] = UInt8(sum & 0xFF)
        var h = VirtioNetHeader()
        h.flags = VirtioNetHeader.needsChecksum
        h.checksumStart = 34
        h.checksumOffset = 16
        var out: [UInt8] = []
        let r = frame.withUnsafeBytes { b in VirtioNet.deliver(b, header: h, pool: pool) { p in out = p.bytes } }
        #expect(r == .success(1))
        var c = InternetChecksum()
        c.addPseudoHeader(source: IPv4Address(10, 0, 0, 1), destination: IPv4Address(10, 0, 0, 2), protocol: 6, length: 120)
        out.withUnsafeBytes { c.add(UnsafeRawBufferPointer(rebasing: $0[34...])) }
        #expect(c.verifies)
    }

    @Test func badHeadersAreRefused() {
        let pool = PacketPool(slotSize: 2048, count: 8, defaultHeadroom: 128)
        let frame = superFrame(payload: 10)
        var h = VirtioNetHeader()
        h.flags = VirtioNetHeader.needsChecksum
        h.checksumStart = 200   // past the frame
        var r = frame.withUnsafeBytes { b in VirtioNet.deliver(b, header: h, pool: pool) { _ in } }
        #expect(r == .failure(.badChecksumOffsets))
        h = VirtioNetHeader()
        h.gsoType = VirtioNetHeader.gsoUDP
        h.gsoSize = 100
        r = frame.withUnsafeBytes { b in VirtioNet.deliver(b, header: h, pool: pool) { _ in } }
        #expect(r == .failure(.unsupportedGSO(VirtioNetHeader.gsoUDP)))
        h.gsoType = VirtioNetHeader.gsoTCPv4
        h.gsoSize = 0
        r = frame.withUnsafeBytes { b in VirtioNet.deliver(b, header: h, pool: pool) { _ in } }
        #expect(r == .failure(.malformedSuperFrame))
        h.gsoSize = 100
        r = Array(frame.prefix(30)).withUnsafeBytes { b in VirtioNet.deliver(b, header: h, pool: pool) { _ in } }
        #expect(r == .failure(.malformedSuperFrame))
        #expect(pool.outstanding == 0)
    }

    /// Segments cut from a super-frame and joined again give the same
    /// super-frame: cut(join(cut(x))) == cut(x), for IPv4 and IPv6.
    @Test func segmentsJoinIntoASuperFrameThatCutsBackTheSame() throws {
        let pool = PacketPool(slotSize: 2048, count: 256, defaultHeadroom: 128)
        for v6 in [false, true] {
            var h = VirtioNetHeader()
            h.flags = VirtioNetHeader.needsChecksum
            h.gsoType = v6 ? VirtioNetHeader.gsoTCPv6 : VirtioNetHeader.gsoTCPv4
            h.gsoSize = 1448
            var cut: [[UInt8]] = []
            _ = superFrame(payload: 40_000, v6: v6).withUnsafeBytes { b in
                VirtioNet.deliver(b, header: h, pool: pool) { p in cut.append(p.bytes) }
            }
            #expect(cut.count == 28)
            var joiner = TSOCoalescer()
            for s in cut { #expect(s.withUnsafeBytes { joiner.append($0) }) }
            let joinedCount = joiner.segmentCount
            #expect(joinedCount == 28)
            let joined = Array(joiner.take())
            let emptied = joiner.isEmpty
            #expect(emptied)
            let header = joined.withUnsafeBytes { VirtioNetHeader(UnsafeRawBufferPointer(rebasing: $0[0..<10])) }
            #expect(header.gsoType == h.gsoType && header.gsoSize == 1448 && header.flags == VirtioNetHeader.needsChecksum)
            #expect(Int(header.checksumStart) == (v6 ? 54 : 34) && header.checksumOffset == 16)
            var again: [[UInt8]] = []
            let r = joined.withUnsafeBytes { b in
                VirtioNet.deliver(UnsafeRawBufferPointer(rebasing: b[10...]), header: header, pool: pool) { p in again.append(p.bytes) }
            }
            #expect(r == .success(28))
            #expect(again == cut)
        }
        #expect(pool.outstanding == 0)
    }

    @Test func onlyFollowingSegmentsOfOneFlowJoin() throws {
        let pool = PacketPool(slotSize: 2048, count: 64, defaultHeadroom: 128)
        var h = VirtioNetHeader()
        h.gsoType = VirtioNetHeader.gsoTCPv4
        h.gsoSize = 1000
        var cut: [[UInt8]] = []
        _ = superFrame(payload: 3000).withUnsafeBytes { b in VirtioNet.deliver(b, header: h, pool: pool) { p in cut.append(p.bytes) } }
        var joiner = TSOCoalescer()
        #expect(cut[0].withUnsafeBytes { joiner.append($0) })
        #expect(!cut[2].withUnsafeBytes { joiner.append($0) })    // a gap in the sequence
        var other = cut[1]
        other[34 + 1] ^= 1                                           // another source port
        #expect(!other.withUnsafeBytes { joiner.append($0) })
        #expect(cut[1].withUnsafeBytes { joiner.append($0) })
        #expect(cut[2].withUnsafeBytes { joiner.append($0) })      // PSH: the run ends here
        #expect(!cut[0].withUnsafeBytes { joiner.append($0) })
        // A lone segment goes with an all-zero header, unchanged.
        var single = TSOCoalescer()
        #expect(cut[0].withUnsafeBytes { single.append($0) })
        let alone = Array(single.take())
        #expect(alone == [UInt8](repeating: 0, count: 10) + cut[0])
        #expect(pool.outstanding == 0)
    }

    // MARK: USO

    /// Ethernet + IPv4/IPv6 + UDP carrying `payload` bytes, as a kernel
    /// UDP_SEGMENT send hands it to the TAP: the UDP checksum field holding
    /// the pseudo-header sum, IP length the whole.
    func udpSuperFrame(payload: Int, v6: Bool = false) -> [UInt8] {
        let ip = v6 ? 40 : 20, udp = 14 + ip
        var f = [UInt8](repeating: 0, count: udp + 8)
        f[12] = v6 ? 0x86 : 0x08; f[13] = v6 ? 0xDD : 0x00
        if v6 {
            f[14] = 0x60; f[20] = 17; f[21] = 64
            f[22 + 15] = 1; f[38 + 15] = 2
            f[18] = UInt8(((8 + payload) >> 8) & 0xFF); f[19] = UInt8((8 + payload) & 0xFF)
        } else {
            f[14] = 0x45; f[22] = 64; f[23] = 17
            f[16] = UInt8(((28 + payload) >> 8) & 0xFF); f[17] = UInt8((28 + payload) & 0xFF)
            f[18] = 0x12; f[19] = 0x34
            f[26] = 10; f[29] = 1; f[30] = 10; f[33] = 2
        }
        f[udp] = 0x13; f[udp + 1] = 0x88; f[udp + 2] = 0x23; f[udp + 3] = 0x28
        f[udp + 4] = UInt8(((8 + payload) >> 8) & 0xFF); f[udp + 5] = UInt8((8 + payload) & 0xFF)
        return f + (0..<payload).map { UInt8(truncatingIfNeeded: $0 &* 3 &+ 1) }
    }

    func usoHeader(v6: Bool, size: Int) -> VirtioNetHeader {
        VirtioNetHeader.uso(headers: v6 ? 62 : 42, segmentSize: size, udp: v6 ? 54 : 34)
    }

    @Test func aUSOFrameBecomesDatagramsThatVerify() throws {
        let pool = PacketPool(slotSize: 2048, count: 64, defaultHeadroom: 128)
        for v6 in [false, true] {
            let frame = udpSuperFrame(payload: 3500, v6: v6)
            var datagrams: [[UInt8]] = []
            var trusted = true
            let r = frame.withUnsafeBytes { b in
                VirtioNet.deliver(b, header: usoHeader(v6: v6, size: 1000), pool: pool) { p in
                    trusted = trusted && p.metadata.checksum == .unnecessary && p.metadata.gsoSize == 0
                    datagrams.append(p.bytes)
                }
            }
            #expect(r == .success(4))
            #expect(trusted)
            let udp = v6 ? 54 : 34
            var payload: [UInt8] = []
            for (i, d) in datagrams.enumerated() {
                let length = i == 3 ? 500 : 1000          // the last one shorter
                #expect(d.count == udp + 8 + length)
                d.withUnsafeBytes { b in
                    #expect(b.be16(udp + 4) == UInt16(8 + length))
                    let pseudo: PseudoHeader
                    if v6 {
                        #expect(b.be16(18) == UInt16(8 + length))
                        pseudo = .ipv6(source: IPv6Address(reading: b, at: 22), destination: IPv6Address(reading: b, at: 38))
                    } else {
                        #expect(b.be16(16) == UInt16(28 + length))
                        #expect(b.be16(18) == 0x1234 + UInt16(i))
                        #expect(InternetChecksum.checksum(UnsafeRawBufferPointer(rebasing: b[14..<34])) == 0)
                        pseudo = .ipv4(source: IPv4Address(10, 0, 0, 1), destination: IPv4Address(10, 0, 0, 2))
                    }
                    let verifies = (try? UDPDatagram(UnsafeRawBufferPointer(rebasing: b[udp...])))?.checksumVerifies(pseudo) ?? false
                    #expect(verifies)
                }
                payload += d[(udp + 8)...]
            }
            #expect(payload == Array(frame[(udp + 8)...]))
        }
        #expect(pool.outstanding == 0)
    }

    @Test func malformedUSOFramesAreRefusedWithAReason() {
        let pool = PacketPool(slotSize: 2048, count: 256, defaultHeadroom: 128)
        let frame = udpSuperFrame(payload: 3000)
        func deliver(_ f: [UInt8], _ h: VirtioNetHeader) -> Result<Int, VirtioNet.Refusal> {
            f.withUnsafeBytes { b in VirtioNet.deliver(b, header: h, pool: pool) { _ in } }
        }
        let good = usoHeader(v6: false, size: 1000)
        #expect(deliver(frame, good) == .success(3))
        var h = good; h.gsoSize = 0
        #expect(deliver(frame, h) == .failure(.malformedSuperFrame))             // gso_size 0
        h = good; h.flags = 0
        #expect(deliver(frame, h) == .failure(.badChecksumOffsets))              // USO needs NEEDS_CSUM
        h = good; h.checksumOffset = 16
        #expect(deliver(frame, h) == .failure(.badChecksumOffsets))              // not the UDP checksum
        h = good; h.checksumStart = 14
        #expect(deliver(frame, h) == .failure(.badChecksumOffsets))              // not at the UDP header
        h = good; h.gsoType |= VirtioNetHeader.gsoECN
        #expect(deliver(frame, h) == .failure(.unsupportedGSO(VirtioNetHeader.gsoUDPL4 | VirtioNetHeader.gsoECN)))
        var tcp = frame; tcp[23] = 6
        #expect(deliver(tcp, good) == .failure(.malformedSuperFrame))           // not UDP
        #expect(deliver(Array(frame.dropLast()), good) == .failure(.malformedSuperFrame))   // IP length wrong
        var arp = frame; arp[12] = 0x08; arp[13] = 0x06
        #expect(deliver(arp, good) == .failure(.malformedSuperFrame))
        #expect(deliver(Array(frame.prefix(20)), good) == .failure(.malformedSuperFrame))
        // UDP_MAX_SEGMENTS: 128 segments of 100 bytes, not 129.
        #expect(deliver(udpSuperFrame(payload: 12_800), usoHeader(v6: false, size: 100)) == .success(128))
        #expect(deliver(udpSuperFrame(payload: 12_801), usoHeader(v6: false, size: 100)) == .failure(.tooManySegments))
        // More than 64 KiB of IP.
        var huge = udpSuperFrame(payload: 65_600)
        huge[16] = 0xFF; huge[17] = 0xFF
        #expect(deliver(huge, usoHeader(v6: false, size: 1400)) == .failure(.tooManySegments))
        #expect(pool.outstanding == 0)
    }
}
