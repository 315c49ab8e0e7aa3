// GSO through the stack: TCP over a veth builds packets of many segments,
// the peer takes them whole, and where a device has no segmentation
// offload (or its netem needs wire packets) they are cut into MSS
// segments whose checksums verify — the data arriving intact either way.
import Testing
import NetWire
@testable import Netstack

@Suite struct GSOTests {
    struct Outcome {
        var intact: Bool
        var txPackets: UInt64      // on the sender's veth
        var rxPackets: UInt64      // on the receiver's veth
        var dataSegmentsOut: Int
        var dataSegmentsIn: Int
    }

    /// 1 MiB a → b over the veth with the sender's device features as given.
    func transfer(tso: Bool = true, gso: Bool = true, mtu: Int? = nil) throws -> Outcome {
        let (stack, a, b, v0, v1) = try twoHosts()
        v0.segmentationOffload = tso
        v0.genericSegmentation = gso
        if let mtu {
            try a.setMTU(v0, mtu)
            try b.setMTU(v1, mtu)
        }
        let (client, srv) = try tcpAcceptedPair(stack, client: a, server: b, address: .v4(IPv4Address(10, 0, 0, 2)), port: 5001)
        let total = 1 << 20
        let data = (0..<total).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ $0 >> 9) }
        var sent = 0
        var received: [UInt8] = []
        received.reserveCapacity(total)
        tcpRun(stack, for: .seconds(30)) {
            while sent < total, let n = try? data[sent..<min(sent + 65536, total)].withUnsafeBytes({ try client.send($0) }), n > 0 {
                sent += n
            }
            while let chunk = try? srv.receive(max: 65536), !chunk.isEmpty { received += chunk }
            return received.count == total
        }
        let ci = try #require(client.info)
        let si = try #require(srv.info)
        return Outcome(intact: received == data, txPackets: v0.statistics.txPackets, rxPackets: v1.statistics.rxPackets,
                       dataSegmentsOut: ci.dataSegsOut, dataSegmentsIn: si.dataSegsIn)
    }

    @Test func aVethCarriesGSOPacketsWholeAndTheDataArrivesIntact() throws {
        let o = try transfer()
        #expect(o.intact)
        // 1 MiB is about 725 segments; they went in far fewer packets.
        #expect(o.dataSegmentsOut >= (1 << 20) / 1448)
        #expect(o.txPackets * 4 < UInt64(o.dataSegmentsOut))
        // The receiver counts the segments a GRO packet was built of (tcp_segs_in).
        #expect(o.dataSegmentsIn == o.dataSegmentsOut)
    }

    /// A GSO packet in the peer's ring: partial over its whole length, so
    /// completing it gives the sum of the whole TCP packet.
    @Test func aGSOPacketIsPartialOverItsWholeLength() throws {
        let (stack, a, b, _, v1) = try twoHosts()
        let (client, _) = try tcpAcceptedPair(stack, client: a, server: b, address: .v4(IPv4Address(10, 0, 0, 2)), port: 5001)
        let data = (0..<6000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        #expect(try client.send(data) == data.count)
        var gsoPackets = 0, completes = 0
        while var f = v1.receiveRing.popFirst() {
            guard f.metadata.gsoSize != 0 else { continue }
            gsoPackets += 1
            #expect(f.count == 14 + 20 + 32 + 6000)      // timestamps: a 32-byte TCP header
            if f.completePartialChecksum() {
                let ok = f.withUnsafeReadableBytes { b in
                    (try? TCPSegment(UnsafeRawBufferPointer(rebasing: b[34...])))?
                        .checksumVerifies(.ipv4(source: IPv4Address(10, 0, 0, 1), destination: IPv4Address(10, 0, 0, 2))) ?? false
                }
                if ok { completes += 1 }
            }
        }
        #expect(gsoPackets == 1 && completes == 1)
    }

    @Test func withoutTSOTheDeviceGetsMSSSegments() throws {
        let o = try transfer(tso: false)
        #expect(o.intact)
        // Cut before the device: every wire packet one segment (ACKs aside).
        #expect(o.txPackets >= UInt64(o.dataSegmentsOut))
        #expect(o.dataSegmentsIn == o.dataSegmentsOut)
    }

    @Test func withoutGSOTCPSendsSegments() throws {
        let o = try transfer(gso: false)
        #expect(o.intact)
        #expect(o.txPackets >= UInt64(o.dataSegmentsOut))
    }

    @Test func aSmallerMTUStillGetsWholeSegmentsThatFit() throws {
        let o = try transfer(mtu: 1280)
        #expect(o.intact)
        #expect(o.txPackets * 4 < UInt64(o.dataSegmentsOut))
    }

    /// The cut segments of a GSO packet, checked one by one: lengths, the
    /// sequence numbers, flags only where they belong, both checksums.
    @Test func segmentingFillsEveryHeaderAndChecksum() throws {
        let pool = PacketPool(slotSize: 2048, count: 64, defaultHeadroom: 128)
        let payload = 4000, mss = 1448
        var p = [UInt8](repeating: 0, count: 20 + 20)
        p[0] = 0x45; p[2] = UInt8((40 + payload) >> 8); p[3] = UInt8((40 + payload) & 0xFF)
        p[4] = 0x12; p[5] = 0x34; p[6] = 0x40; p[8] = 64; p[9] = 6
        p[12...15] = [10, 0, 0, 1]; p[16...19] = [10, 0, 0, 2]
        p[20] = 0x13; p[21] = 0x89; p[22] = 0x00; p[23] = 0x50
        p[24...27] = [0, 0, 0x10, 0]                          // seq 4096
        p[32] = 0x50; p[33] = 0x19; p[34] = 0xFF; p[35] = 0xFF  // ACK|PSH|FIN
        p += (0..<payload).map { UInt8(truncatingIfNeeded: $0 &* 3) }
        var meta = PacketMetadata()
        meta.gsoSize = UInt16(mss)
        meta.mark = 7
        var segments: [[UInt8]] = []
        var marks: [UInt32] = []
        let n = p.withUnsafeBytes { b in
            GSO.segmentTCP(b, network: 0, mss: mss, v6: false, metadata: meta, checksum: .none, pool: pool) { s in
                segments.append(s.bytes)
                marks.append(s.metadata.gsoSize == 0 ? s.metadata.mark : 0)
            }
        }
        #expect(n == 3)
        #expect(marks == [7, 7, 7])
        var joined: [UInt8] = []
        for (i, s) in segments.enumerated() {
            let length = min(mss, payload - i * mss)
            #expect(s.count == 40 + length)
            #expect(Int(s[2]) << 8 | Int(s[3]) == 40 + length)
            #expect(Int(s[4]) << 8 | Int(s[5]) == 0x1234 + i)         // identification counts up
            let seq = s[24...27].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            #expect(seq == 4096 + UInt32(i * mss))
            #expect(s[33] == (i == 2 ? 0x19 : 0x10))                 // FIN/PSH on the last only
            let ipOK = s.withUnsafeBytes { b in (try? IPv4Packet(b))?.headerChecksumVerifies ?? false }
            #expect(ipOK)
            let ok = s.withUnsafeBytes { b in
                (try? TCPSegment(UnsafeRawBufferPointer(rebasing: b[20...])))?
                    .checksumVerifies(.ipv4(source: IPv4Address(10, 0, 0, 1), destination: IPv4Address(10, 0, 0, 2))) ?? false
            }
            #expect(ok)
            joined += s[40...]
        }
        #expect(joined == Array(p[40...]))
        #expect(pool.outstanding == 0)
    }
}
