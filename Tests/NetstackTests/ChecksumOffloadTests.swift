// TX checksum offload (CHECKSUM_PARTIAL): TCP leaves its checksum partial,
// a veth carries it so and the receiver trusts it, and every exit that needs
// real bytes completes it to exactly the checksum a full computation gives.
import Testing
import NetWire
@testable import Netstack

private let src4 = IPv4Address(10, 77, 0, 1)
private let dst4 = IPv4Address(10, 77, 0, 2)

/// A TCP segment with `payload`: once with its checksum computed over
/// everything, once as CHECKSUM_PARTIAL leaves it (the field holds the
/// folded pseudo-header sum).
private func tcpSegment(_ payload: [UInt8], src: IPv4Address = src4, dst: IPv4Address = dst4) -> (full: [UInt8], partial: [UInt8]) {
    let repr = TCPRepr(sourcePort: 40000, destinationPort: 5201, sequenceNumber: TCPSeqNumber(12345),
                       acknowledgmentNumber: TCPSeqNumber(777), flags: [.ack, .psh], windowSize: 501,
                       options: TCPOptions(), payloadLength: payload.count)
    let pseudo = PseudoHeader.ipv4(source: src, destination: dst)
    var full = [UInt8](repeating: 0, count: 20) + payload
    full.withUnsafeMutableBytes { try! repr.emit(into: $0, pseudoHeader: pseudo) }
    var partial = full
    let seed = pseudo.seed(protocol: IPProtocol.tcp.rawValue, length: full.count).folded
    partial[16] = UInt8(seed >> 8)
    partial[17] = UInt8(seed & 0xFF)
    return (full, partial)
}

/// An IPv4 header (checksummed) for a TCP payload of `length` bytes.
private func ipv4Header(payloadLength: Int, dontFragment: Bool = false) -> [UInt8] {
    let repr = IPv4Repr(source: src4, destination: dst4, protocol: .tcp, payloadLength: payloadLength,
                        ttl: 64, dscp: 0, ecn: 0, identification: 0x4242, dontFragment: dontFragment)
    var h = [UInt8](repeating: 0, count: 20)
    h.withUnsafeMutableBytes { try! repr.emit(into: $0) }
    return h
}

private func tcpVerifies(_ segment: [UInt8], src: IPv4Address = src4, dst: IPv4Address = dst4) -> Bool {
    segment.withUnsafeBytes { b in
        guard let s = try? TCPSegment(b) else { return false }
        return s.checksumVerifies(.ipv4(source: src, destination: dst))
    }
}

private func isPartial(_ s: ChecksumState) -> Bool {
    if case .partial = s { return true }
    return false
}

@Suite struct ChecksumOffloadTests {
    /// The contract: `start` stays on the transport header while headers
    /// are pushed in front of it, `partialChecksum` reads it from the
    /// frame's first byte (34 for Ethernet + IPv4), and completing it gives
    /// the fully computed checksum, for even and odd lengths.
    @Test func completingEqualsTheFullChecksumBehindPushedHeaders() {
        let pool = PacketPool(count: 16)
        for size in [0, 1, 2, 999, 1448] {
            let payload = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
            let (full, partial) = tcpSegment(payload)
            #expect(full != partial)
            var p = pool.allocate(copying: partial)!
            p.setPartialChecksum(from: 0, field: 16)
            #expect(p.partialChecksum?.start == 0 && p.partialChecksum?.offset == 16)
            let ip = ipv4Header(payloadLength: full.count)
            let ipSpace = p.push(20)
            ip.withUnsafeBytes { ipSpace.copyMemory(from: $0) }
            p.push(14).initializeMemory(as: UInt8.self, repeating: 0xEE)
            #expect(p.partialChecksum?.start == 34)
            #expect(p.partialChecksum?.offset == 16)
            let done = p.completePartialChecksum()
            #expect(done)
            #expect(p.metadata.checksum == .none)
            let bytes = p.bytes
            #expect(Array(bytes[34...]) == full)
            #expect(Array(bytes[14..<34]) == ip)
            #expect(tcpVerifies(Array(bytes[34...])))
        }
    }

    /// A shared buffer is not written: completion asks for unsharing first.
    @Test func completionRefusesSharedBytes() {
        let pool = PacketPool(count: 4)
        var p = pool.allocate(copying: tcpSegment([1, 2, 3]).partial)!
        p.setPartialChecksum(from: 0, field: 16)
        let clone = p.share()
        let done = p.completePartialChecksum()
        #expect(!done)
        #expect(isPartial(p.metadata.checksum))
        _ = consume clone
    }

    /// netem corrupt completes the checksum before flipping a bit, so the
    /// frame differs from the fully checksummed one in exactly that bit.
    @Test func netemCorruptCompletesFirst() {
        let pool = PacketPool(count: 64)
        var o = NetemOptions()
        o.corrupt = .max
        var q = Qdisc(.netem(o), handle: QdiscHandle(major: 0x8001),
                      device: QdiscDeviceInfo(txQueueLength: 1000, mtu: 1500), seed: 3)
        for i in 0..<20 {
            let (full, partial) = tcpSegment((0..<(100 + i)).map { UInt8(truncatingIfNeeded: $0 ^ i) })
            let ip = ipv4Header(payloadLength: full.count)
            var p = pool.allocate(copying: ip + partial)!
            p.setPartialChecksum(from: 20, field: 16)
            let queued = q.enqueue(p, now: .zero, pool: pool).isQueued
            #expect(queued)
            let out = q.dequeue(now: .zero)!
            #expect(out.metadata.checksum == .none)
            var bits = 0
            for (a, b) in zip(ip + full, out.bytes) { bits += (a ^ b).nonzeroBitCount }
            #expect(bits == 1)
        }
    }

    /// IP fragmentation completes the checksum before cutting: the
    /// fragments' payloads put together are the fully checksummed segment.
    @Test func fragmentationCompletesFirst() {
        let pool = PacketPool(count: 64)
        let shard = Shard(pool: pool)
        let (full, partial) = tcpSegment((0..<3000).map { UInt8(truncatingIfNeeded: $0 % 251) })
        let big = PacketPool(slotSize: 8192, count: 4)
        var p = big.allocate(copying: ipv4Header(payloadLength: full.count) + partial)!
        p.setPartialChecksum(from: 20, field: 16)
        var batch = PacketBatch(capacity: 16)
        let r = IPv4Fragmenter.fragment(p, mtu: 1500, pool: pool, into: &batch, counters: shard.counters)
        var n = 0
        switch consume r {
        case .sent(let k): n = k
        case .refused: break
        }
        #expect(n == 3)
        var joined: [UInt8] = []
        while let f = batch.popFirst() {
            #expect(f.metadata.checksum == .none)
            joined += f.bytes[20...]
        }
        #expect(joined == full)
    }

    /// veth to veth: the segments cross the pair still partial (their
    /// checksum field holds the pseudo-header sum, so nobody summed the
    /// payload), the receiver trusts them, and the data arrives intact.
    @Test func vethCarriesTCPPartialAndTheReceiverTrustsIt() throws {
        let (stack, a, b, v0, v1) = try twoHosts()
        // One MSS segment per packet here (GSOTests covers GSO packets).
        v0.genericSegmentation = false
        let (client, srv) = try tcpAcceptedPair(stack, client: a, server: b, address: .v4(IPv4Address(10, 0, 0, 2)), port: 5001)
        let data = (0..<4000).map { UInt8(truncatingIfNeeded: $0 &* 13) }
        #expect(try client.send(data) == data.count)
        // The segments sit in the peer's receive ring, not yet processed.
        var frames = PacketBatch(capacity: 16)
        var partials = 0, unsummed = 0, completes = 0
        while let f = v1.receiveRing.popFirst() {
            if isPartial(f.metadata.checksum) { partials += 1 }
            let segment = Array(f.bytes[34...])
            if !tcpVerifies(segment, src: IPv4Address(10, 0, 0, 1), dst: IPv4Address(10, 0, 0, 2)) { unsummed += 1 }
            var copy = f.copy(into: stack.shard.pool)!
            if copy.completePartialChecksum(),
               tcpVerifies(Array(copy.bytes[34...]), src: IPv4Address(10, 0, 0, 1), dst: IPv4Address(10, 0, 0, 2)) {
                completes += 1
            }
            _ = frames.append(f)
        }
        #expect(frames.count == 3)
        #expect(partials == 3 && unsummed == 3 && completes == 3)
        while let f = frames.popFirst() { v1.receive(f) }
        let errorsBefore = stack.shard.counters[.tcpInCsumErrors]
        var got: [UInt8] = []
        tcpRun(stack) {
            while let chunk = try? srv.receive(max: 65536), !chunk.isEmpty { got += chunk }
            return got.count == data.count
        }
        #expect(got == data)
        #expect(stack.shard.counters[.tcpInCsumErrors] == errorsBefore)
    }

    /// A TUN device without offload hands the host a complete checksum; with
    /// `.hwChecksum` the packet stays partial and `partialChecksum` gives
    /// where the host must sum (from the packet's first byte: the IP header).
    @Test func hostPortCompletesUnlessItOffloads() throws {
        for offload in [false, true] {
            let stack = Stack(seed: 1)
            let a = try stack.addNamespace("a")
            let tun = try a.addTunTap(name: "tun0", kind: .tun, options: TunTapOptions())
            #expect(!tun.features.contains(.hwChecksum))
            if offload { tun.features.insert(.hwChecksum) }
            stack.setHostAttached(tun, true)
            a.setUp(a.loopback)
            a.setUp(tun)
            try a.addAddress(InterfaceAddress(prefix: try #require(IPPrefix("10.8.0.1/24"))), to: tun, now: .zero)
            let s = a.tcpSocket()
            try tcpStartConnect(s, .v4(IPv4Address(10, 8, 0, 2)), 80)
            var seen = 0
            tun.takeHostTransmit { p in
                var p = p
                seen += 1
                if offload {
                    #expect(p.partialChecksum?.start == 20 && p.partialChecksum?.offset == 16)
                    let done = p.completePartialChecksum()
                    #expect(done)
                } else {
                    #expect(p.metadata.checksum == .none)
                }
                #expect(tcpVerifies(Array(p.bytes[20...]), src: IPv4Address(10, 8, 0, 1), dst: IPv4Address(10, 8, 0, 2)))
            }
            #expect(seen == 1)
        }
    }

    /// A capture records real checksums: every TCP frame in the pcap of a
    /// veth transfer verifies.
    @Test func captureRecordsCompletedChecksums() throws {
        let (stack, a, b, _, _) = try twoHosts()
        stack.capture = PacketCapture()
        let (_, _, got) = try tcpPairAfterTransfer(stack, client: a, server: b, address: .v4(IPv4Address(10, 0, 0, 2)))
        #expect(got == 5000)
        var tcpFrames = 0, good = 0
        stack.capture!.drain { _, bytes in
            for frame in pcapFrames(bytes) {
                guard frame.count > 34, frame[12] == 0x08, frame[13] == 0x00, frame[23] == 6 else { continue }
                let ihl = Int(frame[14] & 0x0F) * 4
                let s = IPv4Address(frame[26], frame[27], frame[28], frame[29])
                let d = IPv4Address(frame[30], frame[31], frame[32], frame[33])
                tcpFrames += 1
                if tcpVerifies(Array(frame[(14 + ihl)...]), src: s, dst: d) { good += 1 }
            }
        }
        #expect(tcpFrames > 8)
        #expect(good == tcpFrames)
    }
}
