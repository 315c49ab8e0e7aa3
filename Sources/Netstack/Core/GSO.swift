// Generic segmentation offload for TCP: one packet carrying up to 64 KiB
// of one flow's data (metadata.gsoSize = the MSS it is cut to) travels the
// stack once — TCP builds it, IP routes it once, a veth hands it whole to
// its peer, a vnet_hdr TAP gives it to the kernel as a TSO frame — and is
// cut into MSS segments, each with its own IP and TCP headers and
// checksums, only where something needs wire-sized packets: a device
// without segmentation offload, or netem about to corrupt it.
//
// Kernel counterparts: skb_gso_segment → inet_gso_segment / ipv6_gso_segment
// → tcp_gso_segment (net/ipv4/tcp_offload.c), validate_xmit_skb
// (net/core/dev.c) deciding where it happens, NETIF_F_GSO_SOFTWARE /
// NETIF_F_TSO in a device's features.
import NetWire

public enum GSO {
    /// The largest packet GSO builds (IP total length): 64 KiB less room
    /// for the largest IP and TCP headers.
    public static let maximumLength = 65_535 - 120

    /// Where a TCP packet's headers end, after the checks segmentation needs
    /// (IPv4/IPv6 carrying TCP, header lengths within the bytes).
    public struct TCPLayout: Sendable, Equatable {
        public var network: Int
        public var ipLength: Int
        public var tcpLength: Int
        public var tcp: Int { network &+ ipLength }
        public var headers: Int { tcp &+ tcpLength }
    }

    /// The layout of an IPv4/IPv6 TCP packet whose network header starts at
    /// `network`, or nil.
    public static func tcpLayout(_ b: UnsafeRawBufferPointer, network: Int, v6: Bool) -> TCPLayout? {
        guard network >= 0, b.count >= network &+ 20 else { return nil }
        let ipLength: Int
        if v6 {
            guard b.count >= network &+ 40, b[network] >> 4 == 6, b[network &+ 6] == 6 else { return nil }
            ipLength = 40
        } else {
            guard b[network] >> 4 == 4, b[network &+ 9] == 6 else { return nil }
            ipLength = Int(b[network] & 0x0F) &* 4
            guard ipLength >= 20 else { return nil }
        }
        let tcp = network &+ ipLength
        guard b.count >= tcp &+ 20 else { return nil }
        let tcpLength = Int(b[tcp &+ 12] >> 4) &* 4
        guard tcpLength >= 20, b.count >= tcp &+ tcpLength else { return nil }
        return TCPLayout(network: network, ipLength: ipLength, tcpLength: tcpLength)
    }

    /// tcp_gso_segment: cuts `packet` (network header at `network` bytes
    /// from its front; an Ethernet header or nothing before it) into
    /// segments of `mss` payload bytes from `pool`, every header and
    /// checksum filled in, the IPv4 identification counting up. FIN and PSH
    /// stay on the last segment, CWR on the first. Each segment keeps the
    /// packet's metadata with no GSO and `checksum`. Returns the segments
    /// emitted, or nil (nothing emitted) when the packet is not TCP over
    /// IP, `mss` is 0, a segment would not fit a pool buffer, or the pool
    /// runs dry before the first.
    public static func segmentTCP(_ b: UnsafeRawBufferPointer, network: Int, mss: Int, v6: Bool,
                                  metadata: PacketMetadata, checksum: ChecksumState, pool: PacketPool,
                                  emit: (consuming PacketBuffer) -> Void) -> Int? {
        guard mss > 0, let l = tcpLayout(b, network: network, v6: v6) else { return nil }
        let headers = l.headers, tcp = l.tcp, tcpLength = l.tcpLength
        let payload = b.count &- headers
        guard headers &+ min(mss, max(payload, 0)) <= pool.slotSize &- pool.defaultHeadroom else { return nil }
        let seq = b.be32(tcp &+ 4)
        let flags = b[tcp &+ 13]
        let id = v6 ? 0 : b.be16(network &+ 4)
        let count = max(1, (payload &+ mss &- 1) / mss)
        var meta = metadata
        meta.gsoSize = 0
        meta.gsoType = []
        meta.checksum = checksum
        var emitted = 0
        for i in 0..<count {
            let offset = i &* mss
            let length = min(mss, payload &- offset)
            guard var p = pool.allocate() else { return emitted > 0 ? emitted : nil }
            let out = p.put(headers &+ length)
            out.copyMemory(from: UnsafeRawBufferPointer(rebasing: b[0..<headers]))
            if length > 0 {
                UnsafeMutableRawBufferPointer(rebasing: out[headers...])
                    .copyMemory(from: UnsafeRawBufferPointer(rebasing: b[(headers &+ offset)..<(headers &+ offset &+ length)]))
            }
            var f = flags
            if i != count &- 1 { f &= ~0x09 }   // FIN, PSH: last only
            if i != 0 { f &= ~0x80 }             // CWR: first only
            out[tcp &+ 13] = f
            out.setBE32(tcp &+ 4, seq &+ UInt32(truncatingIfNeeded: offset))
            out.setBE16(tcp &+ 16, 0)
            let ro = UnsafeRawBufferPointer(out)
            if v6 {
                out.setBE16(network &+ 4, UInt16(tcpLength &+ length))
            } else {
                out.setBE16(network &+ 2, UInt16(l.ipLength &+ tcpLength &+ length))
                out.setBE16(network &+ 4, id &+ UInt16(truncatingIfNeeded: i))
                out.setBE16(network &+ 10, 0)
                out.setBE16(network &+ 10, InternetChecksum.checksum(UnsafeRawBufferPointer(rebasing: ro[network..<tcp])))
            }
            // The segment's buffer ends with its payload: the pseudo-header
            // length is this segment's.
            var c = pseudoHeader(ro, layout: l, v6: v6)
            c.add(UnsafeRawBufferPointer(rebasing: ro[tcp...]))
            out.setBE16(tcp &+ 16, c.value)
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
    public static func fillTCPChecksum(_ b: UnsafeMutableRawBufferPointer, layout l: TCPLayout, v6: Bool) {
        b.setBE16(l.tcp &+ 16, 0)
        let ro = UnsafeRawBufferPointer(b)
        var c = pseudoHeader(ro, layout: l, v6: v6)
        c.add(UnsafeRawBufferPointer(rebasing: ro[l.tcp...]))
        b.setBE16(l.tcp &+ 16, c.value)
    }

    /// The pseudo-header sum (not complemented) of a TCP packet's whole
    /// length: what a CHECKSUM_PARTIAL / NEEDS_CSUM checksum field holds.
    public static func pseudoHeaderSum(_ b: UnsafeRawBufferPointer, layout l: TCPLayout, v6: Bool) -> UInt16 {
        pseudoHeader(b, layout: l, v6: v6).folded
    }

    /// The pseudo-header of the TCP packet in `b` (its addresses, the TCP
    /// length to the end of `b`).
    static func pseudoHeader(_ b: UnsafeRawBufferPointer, layout l: TCPLayout, v6: Bool) -> InternetChecksum {
        var c = InternetChecksum()
        let tcpLength = b.count &- l.tcp
        if v6 {
            c.addPseudoHeader(source: IPv6Address(reading: b, at: l.network &+ 8),
                              destination: IPv6Address(reading: b, at: l.network &+ 24), nextHeader: 6, length: tcpLength)
        } else {
            c.addPseudoHeader(source: IPv4Address(rawValue: b.be32(l.network &+ 12)),
                              destination: IPv4Address(rawValue: b.be32(l.network &+ 16)), protocol: 6, length: tcpLength)
        }
        return c
    }
}

extension PacketBuffer {
    /// Turns a GSO TCP packet (network header recorded) into one ordinary
    /// packet with its whole TCP checksum, for a path that fragments it.
    public mutating func dropGSO() {
        guard metadata.gsoSize != 0, let n = networkHeaderOffset else { return }
        let v6 = metadata.gsoType.contains(.tcpv6)
        withUnsafeMutableReadableBytes { b in
            if let l = GSO.tcpLayout(UnsafeRawBufferPointer(b), network: n, v6: v6) { GSO.fillTCPChecksum(b, layout: l, v6: v6) }
        }
        metadata.gsoSize = 0
        metadata.gsoType = []
        metadata.checksum = .none
    }

    /// skb_gso_network_seglen: the IP length of the largest segment of a
    /// GSO TCP packet — `ipHeaderLength` + its TCP header + gso_size — with
    /// the TCP header `transportOffset` bytes from the data front. 0 for a
    /// packet without GSO; Int.max when the TCP header is not there.
    public func gsoSegmentLength(transportOffset t: Int, ipHeaderLength: Int) -> Int {
        guard metadata.gsoSize != 0 else { return 0 }
        return withUnsafeReadableBytes { b in
            guard t >= 0, t &+ 13 <= b.count else { return Int.max }
            return ipHeaderLength &+ Int(b[t &+ 12] >> 4) &* 4 &+ Int(metadata.gsoSize)
        }
    }
}
