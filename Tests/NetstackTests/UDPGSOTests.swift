// UDP segmentation offload: GSO.segmentUDP cuts a UDP packet into
// datagrams whose headers and checksums verify; a UDP_SEGMENT send travels
// a veth (or loopback) as one GSO packet and reaches the peer socket as one
// datagram per segment (udp_rcv_segment); a device without USO gets the
// datagrams cut; udp_send_skb's errors.
import Testing
import NetWire
@testable import Netstack

@Suite struct UDPGSOTests {
    /// IPv4 or IPv6 + UDP 4000 → 9000 carrying `payload` bytes, the UDP
    /// length the whole, behind `link` bytes of (zero) link header.
    func udpPacket(payload: Int, v6: Bool, link: Int = 0) -> [UInt8] {
        let ip = v6 ? 40 : 20
        var p = [UInt8](repeating: 0, count: link + ip + 8)
        if link > 0 { p[12] = v6 ? 0x86 : 0x08; p[13] = v6 ? 0xDD : 0x00 }
        let n = link
        if v6 {
            p[n] = 0x60; p[n + 6] = 17; p[n + 7] = 64
            p[n + 4] = UInt8((8 + payload) >> 8); p[n + 5] = UInt8((8 + payload) & 0xFF)
            p[n + 8] = 0xFD; p[n + 23] = 1; p[n + 24] = 0xFD; p[n + 39] = 2
        } else {
            p[n] = 0x45; p[n + 2] = UInt8((28 + payload) >> 8); p[n + 3] = UInt8((28 + payload) & 0xFF)
            p[n + 4] = 0xAB; p[n + 5] = 0xFE                  // id 0xABFE: the count wraps past 0xFFFF
            p[n + 8] = 64; p[n + 9] = 17
            p[n + 12...n + 15] = [10, 0, 0, 1]; p[n + 16...n + 19] = [10, 0, 0, 2]
        }
        let u = n + ip
        p[u] = 0x0F; p[u + 1] = 0xA0; p[u + 2] = 0x23; p[u + 3] = 0x28
        p[u + 4] = UInt8(((8 + payload) >> 8) & 0xFF); p[u + 5] = UInt8((8 + payload) & 0xFF)
        return p + (0..<payload).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 8) }
    }

    /// Cuts `packet` and checks every datagram: lengths, IPv4 ids, both
    /// checksums; returns the payload sizes and the payload rejoined.
    func cutAndCheck(_ packet: [UInt8], link: Int, v6: Bool, size: Int, pool: PacketPool) throws -> (sizes: [Int], joined: [UInt8]) {
        var out: [[UInt8]] = []
        let n = packet.withUnsafeBytes { b in
            GSO.segmentUDP(b, network: link, segmentSize: size, v6: v6, metadata: PacketMetadata(), checksum: .none,
                           pool: pool) { p in out.append(p.bytes) }
        }
        #expect(n == out.count)
        let ip = v6 ? 40 : 20, u = link + ip
        var sizes: [Int] = [], joined: [UInt8] = []
        for (i, s) in out.enumerated() {
            let payload = s.count - u - 8
            sizes.append(payload)
            try s.withUnsafeBytes { b in
                #expect(b.be16(u + 4) == UInt16(8 + payload))                // UDP length
                let pseudo: PseudoHeader
                if v6 {
                    #expect(b.be16(link + 4) == UInt16(8 + payload))          // payload length
                    pseudo = .ipv6(source: IPv6Address(reading: b, at: link + 8), destination: IPv6Address(reading: b, at: link + 24))
                } else {
                    #expect(b.be16(link + 2) == UInt16(28 + payload))         // total length
                    #expect(b.be16(link + 4) == 0xABFE &+ UInt16(i))          // id counting up
                    #expect(InternetChecksum.checksum(UnsafeRawBufferPointer(rebasing: b[link..<u])) == 0)
                    pseudo = .ipv4(source: IPv4Address(rawValue: b.be32(link + 12)), destination: IPv4Address(rawValue: b.be32(link + 16)))
                }
                #expect(b.be16(u + 6) != 0)
                let d = try UDPDatagram(UnsafeRawBufferPointer(rebasing: b[u...]))
                #expect(d.checksumVerifies(pseudo))
            }
            joined += s[(u + 8)...]
        }
        return (sizes, joined)
    }

    @Test func aUDPPacketIsCutIntoDatagramsThatVerify() throws {
        let pool = PacketPool(slotSize: 2048, count: 128, defaultHeadroom: 128)
        for v6 in [false, true] {
            for link in [0, 14] {
                let packet = udpPacket(payload: 14_500, v6: v6, link: link)
                let r = try cutAndCheck(packet, link: link, v6: v6, size: 1400, pool: pool)
                #expect(r.sizes == Array(repeating: 1400, count: 10) + [500])   // the last one shorter
                #expect(r.joined == Array(packet[(link + (v6 ? 48 : 28))...]))
            }
        }
        // Exactly whole segments: no empty tail.
        let even = try cutAndCheck(udpPacket(payload: 4200, v6: false), link: 0, v6: false, size: 1400, pool: pool)
        #expect(even.sizes == [1400, 1400, 1400])
        #expect(pool.outstanding == 0)
    }

    @Test func whatIsNotASoundUDPPacketIsNotCut() {
        let pool = PacketPool(slotSize: 2048, count: 64, defaultHeadroom: 128)
        var emitted = 0
        func cut(_ p: [UInt8], size: Int = 1000, v6: Bool = false) -> Int? {
            p.withUnsafeBytes { b in
                GSO.segmentUDP(b, network: 0, segmentSize: size, v6: v6, metadata: PacketMetadata(), checksum: .none,
                               pool: pool) { _ in emitted += 1 }
            }
        }
        let good = udpPacket(payload: 3000, v6: false)
        #expect(cut(good) == 3)
        emitted = 0
        #expect(cut(good, size: 0) == nil)                     // gso_size 0
        var tcp = good; tcp[9] = 6
        #expect(cut(tcp) == nil)                               // not UDP
        #expect(cut(Array(good.dropLast())) == nil)            // IP length disagrees with the bytes
        var v6Wrong = udpPacket(payload: 3000, v6: true); v6Wrong[5] &+= 1
        #expect(cut(v6Wrong, v6: true) == nil)
        #expect(cut(Array(good.prefix(24))) == nil)           // no room for the UDP header
        #expect(cut(udpPacket(payload: 1000, v6: false), size: 1400) == 1)   // one segment: a plain datagram
        #expect(emitted == 1)
        #expect(pool.outstanding == 0)
    }

    /// Two hosts over a veth; a's socket sends `payload` bytes with
    /// UDP_SEGMENT `size` to b's socket on 9000. Returns what b read, the
    /// packets a's veth sent and the error of the send, if any.
    func send(payload: Int, size: Int, v6: Bool = false, uso: Bool = true, mtu: Int? = nil,
              perSend: Bool = false) throws -> (datagrams: [[UInt8]], txPackets: UInt64, error: Errno?, outDatagrams: UInt64) {
        let (stack, a, b, v0, v1) = try twoHosts()
        if !uso { v0.features.remove(.udpSegmentation) }
        if let mtu { try a.setMTU(v0, mtu); try b.setMTU(v1, mtu) }
        let dst: IPAddress
        if v6 {
            try a.addAddress(InterfaceAddress(prefix: try #require(IPPrefix("fd00::1/64"))), to: v0, now: .zero)
            try b.addAddress(InterfaceAddress(prefix: try #require(IPPrefix("fd00::2/64"))), to: v1, now: .zero)
            settle(stack)   // DAD
            dst = try #require(IPAddress("fd00::2"))
        } else {
            dst = .v4(IPv4Address(10, 0, 0, 2))
        }
        let server = b.udpSocket(ipv6: v6)
        try server.bind(nil, port: 9000)
        let client = a.udpSocket(ipv6: v6)
        if !perSend { try client.setSegmentSize(size) }
        // Resolve the neighbour first, so the send is one packet on the wire.
        try client.send([1], to: (dst, 9000))
        settle(stack, from: stack.now, limit: .milliseconds(10))
        _ = try server.receive()
        let txBefore = v0.statistics.txPackets
        let outBefore = stack.shard.counters[v6 ? .udp6OutDatagrams : .udpOutDatagrams]
        let data = (0..<payload).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 8) }
        do throws(Errno) {
            try client.send(data, to: (dst, 9000), segmentSize: perSend ? size : nil)
        } catch {
            return ([], 0, error, 0)
        }
        settle(stack, from: stack.now, limit: .milliseconds(10))
        var got: [[UInt8]] = []
        while let d = try server.receive() { got.append(d.payload) }
        #expect(got.flatMap { $0 } == data)
        // Cut datagrams are checked by the receiver (CHECKSUM_NONE): none failed.
        #expect(stack.shard.counters[.udpInCsumErrors] == 0 && stack.shard.counters[.udp6InCsumErrors] == 0)
        return (got, v0.statistics.txPackets - txBefore, nil,
                stack.shard.counters[v6 ? .udp6OutDatagrams : .udpOutDatagrams] - outBefore)
    }

    @Test func aUDPSegmentSendCrossesAVethWholeAndArrivesAsDatagrams() throws {
        for v6 in [false, true] {
            let r = try send(payload: 14_000, size: 1400, v6: v6)
            #expect(r.error == nil)
            #expect(r.datagrams.map(\.count) == Array(repeating: 1400, count: 10))
            #expect(r.txPackets == 1)          // one GSO packet on the veth
            #expect(r.outDatagrams == 1)       // UdpOutDatagrams: one per send, as udp_send_skb counts
        }
        // A cmsg-style per-send size, and a shorter last datagram.
        let last = try send(payload: 3500, size: 1000, perSend: true)
        #expect(last.datagrams.map(\.count) == [1000, 1000, 1000, 500])
        #expect(last.txPackets == 1)
    }

    @Test func aDeviceWithoutUSOSeesOneFramePerDatagram() throws {
        for v6 in [false, true] {
            let r = try send(payload: 14_000, size: 1400, v6: v6, uso: false)
            #expect(r.datagrams.map(\.count) == Array(repeating: 1400, count: 10))
            #expect(r.txPackets == 10)
        }
    }

    @Test func udpSendSkbsErrors() throws {
        // Each segment must fit the MTU unfragmented: EMSGSIZE (Linux 6.10+).
        #expect(try send(payload: 3000, size: 1473).error == .EMSGSIZE)
        #expect(try send(payload: 3000, size: 1472).datagrams.count == 3)
        #expect(try send(payload: 3000, size: 1453, v6: true).error == .EMSGSIZE)
        #expect(try send(payload: 3000, size: 1000, mtu: 1000).error == .EMSGSIZE)
        // A payload within one segment goes as a plain datagram, even with
        // a segment size beyond the MTU, if it fits.
        let plain = try send(payload: 1400, size: 1473)
        #expect(plain.error == nil && plain.datagrams.map(\.count) == [1400] && plain.txPackets == 1)
        #expect(try send(payload: 1473, size: 1473).error == .EMSGSIZE)
        // UDP_MAX_SEGMENTS is 128.
        #expect(try send(payload: 12_800, size: 100).datagrams.count == 128)
        #expect(try send(payload: 12_801, size: 100).error == .EINVAL)
        // 64 KiB less the headers is still the limit.
        #expect(try send(payload: 65_507, size: 1472).datagrams.count == 45)
        #expect(try send(payload: 65_508, size: 1472).error == .EMSGSIZE)
        // setsockopt's range, and a per-send size out of range.
        let stack = Stack(seed: 1)
        let s = stack.initial.udpSocket()
        #expect(throws: Errno.EINVAL) { try s.setSegmentSize(-1) }
        #expect(throws: Errno.EINVAL) { try s.setSegmentSize(65_536) }
        try s.setSegmentSize(65_535)
        #expect(s.segmentSize == 65_535)
        #expect(throws: Errno.EINVAL) { try s.send([1], to: (.v4(IPv4Address(127, 0, 0, 1)), 9), segmentSize: 70_000) }
    }

    @Test func loopbackTakesTheGSOPacketWholeToo() throws {
        let stack = Stack(seed: 1)
        let ns = stack.initial
        ns.setUp(ns.loopback)
        let server = ns.udpSocket()
        try server.bind(.v4(IPv4Address(127, 0, 0, 1)), port: 9000)
        let client = ns.udpSocket()
        try client.setSegmentSize(8000)
        let data = (0..<60_000).map { UInt8(truncatingIfNeeded: $0 &* 3) }
        let before = ns.loopback.statistics.txPackets
        try client.send(data, to: (.v4(IPv4Address(127, 0, 0, 1)), 9000))
        settle(stack)
        var got: [[UInt8]] = []
        while let d = try server.receive() { got.append(d.payload) }
        #expect(got.map(\.count) == Array(repeating: 8000, count: 7) + [4000])
        #expect(got.flatMap { $0 } == data)
        #expect(ns.loopback.statistics.txPackets - before == 1)
    }
}
