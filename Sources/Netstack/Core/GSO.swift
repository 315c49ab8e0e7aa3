// Generic segmentation offload for TCP and UDP: one packet carrying up to
// 64 KiB of one flow's data (metadata.gsoSize = the payload each segment
// gets: TCP's MSS, UDP_SEGMENT's segment size) travels the stack once — the
// transport builds it, IP routes it once, a veth hands it whole to its
// peer, a vnet_hdr TAP gives it to the kernel as a TSO/USO frame — and is
// cut into segments, each with its own IP and transport headers and
// checksums, only where something needs wire-sized packets: a device
// without the offload, or netem about to corrupt it. TCP segments continue
// the sequence space; UDP segments are independent datagrams (UDP_SEGMENT,
// gso_type SKB_GSO_UDP_L4), each with its own UDP length and checksum.
//
// Kernel counterparts: skb_gso_segment → inet_gso_segment / ipv6_gso_segment
// → tcp_gso_segment (net/ipv4/tcp_offload.c) or __udp_gso_segment
// (net/ipv4/udp_offload.c), validate_xmit_skb (net/core/dev.c) deciding
// where it happens, NETIF_F_GSO_SOFTWARE / NETIF_F_TSO / NETIF_F_GSO_UDP_L4
// in a device's features.
import NetWire

public enum GSO {
    /// The largest packet GSO builds (IP total length): 64 KiB less room
    /// for the largest IP and TCP headers.
    public static let maximumLength = 65_535 - 120
    /// UDP_MAX_SEGMENTS (include/linux/udp.h): the most segments one
    /// UDP_SEGMENT send may make, 128 since Linux 6.11 (64 before).
    public static let udpMaximumSegments = 128

    /// Where a packet's headers end, after the checks segmentation needs
    /// (IPv4/IPv6 carrying the transport, header lengths within the bytes).
    public struct Layout: Sendable, Equatable {
        public var network: Int
        public var ipLength: Int
        public var transportLength: Int
        public var transport: Int { network &+ ipLength }
        public var headers: Int { transport &+ transportLength }
        /// The TCP names of `transport` and `transportLength`.
        public var tcp: Int { transport }
        public var tcpLength: Int { transportLength }
    }
    public typealias TCPLayout = Layout

    /// The IP header's length when `b` holds, at `network`, an IPv4/IPv6
    /// header whose (next) protocol is `proto`, or nil.
    @inline(__always)
    static func ipHeaderLength(_ b: UnsafeRawBufferPointer, network: Int, v6: Bool, proto: UInt8) -> Int? {
        guard network >= 0, b.count >= network &+ 20 else { return nil }
        if v6 {
            guard b.count >= network &+ 40, b[network] >> 4 == 6, b[network &+ 6] == proto else { return nil }
            return 40
        }
        guard b[network] >> 4 == 4, b[network &+ 9] == proto else { return nil }
        let ipLength = Int(b[network] & 0x0F) &* 4
        return ipLength >= 20 ? ipLength : nil
    }

    /// The layout of an IPv4/IPv6 TCP packet whose network header starts at
    /// `network`, or nil.
    public static func tcpLayout(_ b: UnsafeRawBufferPointer, network: Int, v6: Bool) -> Layout? {
        guard let ipLength = ipHeaderLength(b, network: network, v6: v6, proto: 6) else { return nil }
        let tcp = network &+ ipLength
        guard b.count >= tcp &+ 20 else { return nil }
        let tcpLength = Int(b[tcp &+ 12] >> 4) &* 4
        guard tcpLength >= 20, b.count >= tcp &+ tcpLength else { return nil }
        return Layout(network: network, ipLength: ipLength, transportLength: tcpLength)
    }

    /// The layout of an IPv4/IPv6 UDP packet whose network header starts at
    /// `network`, or nil.
    public static func udpLayout(_ b: UnsafeRawBufferPointer, network: Int, v6: Bool) -> Layout? {
        guard let ipLength = ipHeaderLength(b, network: network, v6: v6, proto: 17),
              b.count >= network &+ ipLength &+ 8 else { return nil }
        return Layout(network: network, ipLength: ipLength, transportLength: 8)
    }

    /// The layout of a TCP (`udp` false) or UDP packet, as `tcpLayout` and
    /// `udpLayout`.
    public static func layout(_ b: UnsafeRawBufferPointer, network: Int, v6: Bool, udp: Bool) -> Layout? {
        udp ? udpLayout(b, network: network, v6: v6) : tcpLayout(b, network: network, v6: v6)
    }

    /// Whether the IP header's length field covers exactly the bytes from
    /// `network` to the end of `b` (no more than 64 KiB of IP then).
    public static func ipLengthAgrees(_ b: UnsafeRawBufferPointer, layout l: Layout, v6: Bool) -> Bool {
        let ip = b.count &- l.network
        return v6 ? Int(b.be16(l.network &+ 4)) == ip &- 40 : Int(b.be16(l.network &+ 2)) == ip
    }

    /// tcp_gso_segment: cuts `packet` (network header at `network` bytes
    /// from its front; an Ethernet header or nothing before it) into
    /// segments of `mss` payload bytes from `pool`, every header and
    /// checksum filled in, the IPv4 identification counting up from the
    /// packet's (inet_gso_segment without SKB_GSO_TCP_FIXEDID: the sender
    /// advanced its inet_id by the segment count, a TSO NIC and the
    /// kernel cutting a vnet_hdr TAP frame count the same way). FIN and PSH
    /// stay on the last segment, CWR on the first. Each segment keeps the
    /// packet's metadata with no GSO and `checksum`. Returns the segments
    /// emitted, or nil (nothing emitted) when the packet is not TCP over
    /// IP, `mss` is 0, a segment would not fit a pool buffer, or the pool
    /// runs dry before the first.
    public static func segmentTCP(_ b: UnsafeRawBufferPointer, network: Int, mss: Int, v6: Bool,
                                  metadata: PacketMetadata, checksum: ChecksumState, pool: PacketPool,
                                  emit: (consuming PacketBuffer) -> Void) -> Int? {
        guard let l = tcpLayout(b, network: network, v6: v6) else { return nil }
        let tcp = l.tcp
        let seq = b.be32(tcp &+ 4)
        let flags = b[tcp &+ 13]
        return cut(b, layout: l, segmentSize: mss, v6: v6, proto: 6, field: 16, metadata: metadata, checksum: checksum,
                   pool: pool, emit: emit) { out, i, count, offset, _ in
            var f = flags
            if i != count &- 1 { f &= ~0x09 }   // FIN, PSH: last only
            if i != 0 { f &= ~0x80 }             // CWR: first only
            out[tcp &+ 13] = f
            out.setBE32(tcp &+ 4, seq &+ UInt32(truncatingIfNeeded: offset))
        }
    }

    /// __udp_gso_segment: cuts a UDP packet (network header at `network`)
    /// into datagrams of `segmentSize` payload bytes, the last one the
    /// rest, each with its own IP header (IPv4 identification counting up,
    /// total length, header checksum) and UDP length and checksum. As
    /// `segmentTCP` for metadata, `checksum` and the result; nil also when
    /// the IP length field disagrees with the bytes.
    public static func segmentUDP(_ b: UnsafeRawBufferPointer, network: Int, segmentSize: Int, v6: Bool,
                                  metadata: PacketMetadata, checksum: ChecksumState, pool: PacketPool,
                                  emit: (consuming PacketBuffer) -> Void) -> Int? {
        guard let l = udpLayout(b, network: network, v6: v6), ipLengthAgrees(b, layout: l, v6: v6) else { return nil }
        let udp = l.transport
        return cut(b, layout: l, segmentSize: segmentSize, v6: v6, proto: 17, field: 6, metadata: metadata,
                   checksum: checksum, pool: pool, emit: emit) { out, _, _, _, length in
            out.setBE16(udp &+ 4, UInt16(truncatingIfNeeded: 8 &+ length))
        }
    }

    /// What TCP and UDP segmentation share (skb_segment and the IP half of
    /// inet_gso_segment / ipv6_gso_segment): each segment is the headers
    /// and its slice of the payload, its IP length (IPv4: identification
    /// and header checksum too) set, `transport` fixing the transport
    /// header (the segment, its index, the count, its payload offset and
    /// length), then the transport checksum at `field` computed whole.
    static func cut(_ b: UnsafeRawBufferPointer, layout l: Layout, segmentSize: Int, v6: Bool, proto: UInt8, field: Int,
                    metadata: PacketMetadata, checksum: ChecksumState, pool: PacketPool,
                    emit: (consuming PacketBuffer) -> Void,
                    transport: (UnsafeMutableRawBufferPointer, Int, Int, Int, Int) -> Void) -> Int? {
        guard segmentSize > 0 else { return nil }
        let headers = l.headers, network = l.network, th = l.transport
        let payload = b.count &- headers
        guard headers &+ min(segmentSize, max(payload, 0)) <= pool.slotSize &- pool.defaultHeadroom else { return nil }
        let id = v6 ? 0 : b.be16(network &+ 4)
        let count = max(1, (payload &+ segmentSize &- 1) / segmentSize)
        var meta = metadata
        meta.gsoSize = 0
        meta.gsoType = []
        meta.checksum = checksum
        var emitted = 0
        for i in 0..<count {
            let offset = i &* segmentSize
            let length = min(segmentSize, payload &- offset)
            guard var p = pool.allocate() else { return emitted > 0 ? emitted : nil }
            let out = p.put(headers &+ length)
            out.copyMemory(from: UnsafeRawBufferPointer(rebasing: b[0..<headers]))
            if length > 0 {
                UnsafeMutableRawBufferPointer(rebasing: out[headers...])
                    .copyMemory(from: UnsafeRawBufferPointer(rebasing: b[(headers &+ offset)..<(headers &+ offset &+ length)]))
            }
            transport(out, i, count, offset, length)
            out.setBE16(th &+ field, 0)
            let ro = UnsafeRawBufferPointer(out)
            if v6 {
                out.setBE16(network &+ 4, UInt16(truncatingIfNeeded: l.transportLength &+ length))
            } else {
                out.setBE16(network &+ 2, UInt16(truncatingIfNeeded: l.ipLength &+ l.transportLength &+ length))
                out.setBE16(network &+ 4, id &+ UInt16(truncatingIfNeeded: i))
                out.setBE16(network &+ 10, 0)
                out.setBE16(network &+ 10, InternetChecksum.checksum(UnsafeRawBufferPointer(rebasing: ro[network..<th])))
            }
            // The segment's buffer ends with its payload: the pseudo-header
            // length is this segment's.
            var c = pseudoHeader(ro, layout: l, v6: v6, proto: proto)
            c.add(UnsafeRawBufferPointer(rebasing: ro[th...]))
            var sum = c.value
            if sum == 0 && proto == 17 { sum = 0xFFFF }   // UDP: 0 means "no checksum" (CSUM_MANGLED_0)
            out.setBE16(th &+ field, sum)
            p.metadata = meta
            if network > 0 {
                p.resetMACHeader()
                p.pull(network)
                p.resetNetworkHeader()
                p.push(network)
            } else {
                p.resetNetworkHeader()
            }
            emit(p)
            emitted &+= 1
        }
        return emitted
    }

    /// Whether `a` and `b` hold the same `count` bytes from `offset`.
    @inline(__always)
    static func sameBytes(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer, _ offset: Int, _ count: Int) -> Bool {
        var i = offset
        let end = offset &+ count
        while i < end {
            if a[i] != b[i] { return false }
            i &+= 1
        }
        return true
    }

    /// Fills in the TCP checksum of a whole packet (a GSO packet that will
    /// be fragmented rather than cut, so its receiver checks one sum).
    public static func fillTCPChecksum(_ b: UnsafeMutableRawBufferPointer, layout l: Layout, v6: Bool) {
        fillChecksum(b, layout: l, v6: v6, proto: 6)
    }

    /// Fills in the transport checksum (TCP `proto` 6, UDP 17) of a whole packet.
    public static func fillChecksum(_ b: UnsafeMutableRawBufferPointer, layout l: Layout, v6: Bool, proto: UInt8) {
        let field = l.transport &+ (proto == 17 ? 6 : 16)
        b.setBE16(field, 0)
        let ro = UnsafeRawBufferPointer(b)
        var c = pseudoHeader(ro, layout: l, v6: v6, proto: proto)
        c.add(UnsafeRawBufferPointer(rebasing: ro[l.transport...]))
        var sum = c.value
        if sum == 0 && proto == 17 { sum = 0xFFFF }
        b.setBE16(field, sum)
    }

    /// The pseudo-header sum (not complemented) of a TCP (or, with `proto`
    /// 17, UDP) packet's whole length: what a CHECKSUM_PARTIAL / NEEDS_CSUM
    /// checksum field holds.
    public static func pseudoHeaderSum(_ b: UnsafeRawBufferPointer, layout l: Layout, v6: Bool, proto: UInt8 = 6) -> UInt16 {
        pseudoHeader(b, layout: l, v6: v6, proto: proto).folded
    }

    /// The pseudo-header of the transport packet in `b` (its addresses, the
    /// transport length to the end of `b`).
    static func pseudoHeader(_ b: UnsafeRawBufferPointer, layout l: Layout, v6: Bool, proto: UInt8 = 6) -> InternetChecksum {
        var c = InternetChecksum()
        let length = b.count &- l.transport
        if v6 {
            c.addPseudoHeader(source: IPv6Address(reading: b, at: l.network &+ 8),
                              destination: IPv6Address(reading: b, at: l.network &+ 24), nextHeader: proto, length: length)
        } else {
            c.addPseudoHeader(source: IPv4Address(rawValue: b.be32(l.network &+ 12)),
                              destination: IPv4Address(rawValue: b.be32(l.network &+ 16)), protocol: proto, length: length)
        }
        return c
    }
}

extension PacketBuffer {
    /// Turns a GSO packet (network header recorded) into one ordinary
    /// packet with its whole transport checksum, for a path that fragments
    /// it whole: the IP output paths' fallback when `segmentGSO` cannot cut
    /// it (a UDP GSO packet then reaches its receiver as one datagram).
    public mutating func dropGSO() {
        guard metadata.gsoSize != 0, let n = networkHeaderOffset else { return }
        let udp = metadata.gsoType.contains(.udpL4)
        let v6 = gsoIsIPv6(network: n)
        withUnsafeMutableReadableBytes { b in
            let ro = UnsafeRawBufferPointer(b)
            if let l = GSO.layout(ro, network: n, v6: v6, udp: udp) {
                GSO.fillChecksum(b, layout: l, v6: v6, proto: udp ? 17 : 6)
            }
        }
        metadata.gsoSize = 0
        metadata.gsoType = []
        metadata.checksum = .none
    }

    /// skb_gso_segment on the IP output path (the slow path of
    /// ip_finish_output_gso and ip6_finish_output_gso_slowpath_drop, taken
    /// when a segment would not fit the egress MTU): cuts this GSO packet
    /// (network header recorded, else at the front) into its segments,
    /// every header and checksum filled in, each handed to `emit` to be
    /// fragmented if still too big. A TCP small-queue charge goes whole
    /// with the first segment, so it is released once. Returns the
    /// segments emitted, or nil (nothing emitted) when it could not be cut.
    public func segmentGSO(pool: PacketPool, emit: (consuming PacketBuffer) -> Void) -> Int? {
        guard metadata.gsoSize != 0 else { return nil }
        let network = networkHeaderOffset ?? 0
        var meta = metadata
        let owner = meta.tsqOwner, charge = meta.tsqCharge
        meta.tsqOwner = 0
        meta.tsqCharge = 0
        var first = true
        return cutGSO(network: network, metadata: meta, pool: pool) { p in
            var p = p
            if first {
                first = false
                p.metadata.tsqOwner = owner
                p.metadata.tsqCharge = charge
            }
            emit(p)
        }
    }

    /// skb_gso_segment's choice by gso_type: cuts this GSO packet (network
    /// header at `network`) into UDP datagrams or TCP segments, each
    /// carrying `metadata` without GSO and with CHECKSUM_NONE (its sums
    /// filled in). The segments, or nil when it could not be cut.
    func cutGSO(network: Int, metadata meta: PacketMetadata, pool: PacketPool,
                emit: (consuming PacketBuffer) -> Void) -> Int? {
        let v6 = gsoIsIPv6(network: network)
        return withUnsafeReadableBytes { b in
            if meta.gsoType.contains(.udpL4) {
                return GSO.segmentUDP(b, network: network, segmentSize: Int(meta.gsoSize), v6: v6,
                                      metadata: meta, checksum: .none, pool: pool, emit: emit)
            }
            return GSO.segmentTCP(b, network: network, mss: Int(meta.gsoSize), v6: v6,
                                  metadata: meta, checksum: .none, pool: pool, emit: emit)
        }
    }

    /// Whether a GSO packet is IPv6: TCP says so in its gso_type; UDP's
    /// (SKB_GSO_UDP_L4) is one type for both, so the IP version is read
    /// at `network`.
    public func gsoIsIPv6(network: Int) -> Bool {
        guard metadata.gsoType.contains(.udpL4) else { return metadata.gsoType.contains(.tcpv6) }
        return withUnsafeReadableBytes { network >= 0 && network < $0.count && $0[network] >> 4 == 6 }
    }

    /// skb_gso_network_seglen: the IP length of the largest segment of a
    /// GSO packet — `ipHeaderLength` + its transport header (TCP's length,
    /// UDP's 8 bytes) + gso_size — with the transport header
    /// `transportOffset` bytes from the data front. 0 for a packet without
    /// GSO; Int.max when the TCP header is not there.
    public func gsoSegmentLength(transportOffset t: Int, ipHeaderLength: Int) -> Int {
        guard metadata.gsoSize != 0 else { return 0 }
        if metadata.gsoType.contains(.udpL4) { return ipHeaderLength &+ 8 &+ Int(metadata.gsoSize) }
        return withUnsafeReadableBytes { b in
            guard t >= 0, t &+ 13 <= b.count else { return Int.max }
            return ipHeaderLength &+ Int(b[t &+ 12] >> 4) &* 4 &+ Int(metadata.gsoSize)
        }
    }
}
