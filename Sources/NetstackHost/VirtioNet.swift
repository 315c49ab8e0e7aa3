// The virtio_net_hdr in front of every frame on a TAP opened with
// IFF_VNET_HDR (include/uapi/linux/virtio_net.h), and what the stack does
// with the kernel's offloads: a frame whose checksum the kernel left
// partial (VIRTIO_NET_HDR_F_NEEDS_CSUM) gets it completed, and a TCP
// super-frame (gso_type TCPV4/TCPV6, up to 64 KiB from one read) is cut
// into gso_size segments with their own IP and TCP headers and checksums —
// skb_gso_segment done as the frames enter, so the rest of the stack sees
// ordinary packets. One read then brings up to 64 KiB instead of one MTU.
// A UDP super-frame (gso_type UDP_L4, USO: a kernel socket's UDP_SEGMENT
// send, negotiated with TUN_F_USO4|TUN_F_USO6) is cut the same way into
// gso_size datagrams, each with its own IP header, UDP length and checksum.
//
// Kernel counterparts: tun_get_user/virtio_net_hdr_to_skb on the way in,
// tcp_gso_segment/__udp_gso_segment/inet_gso_segment for the cutting.
#if canImport(Glibc)
import Glibc
#endif
import NetWire
import Netstack

/// struct virtio_net_hdr: 10 bytes, little-endian fields.
public struct VirtioNetHeader: Equatable, Sendable {
    public static let size = 10
    public static let needsChecksum: UInt8 = 1
    public static let dataValid: UInt8 = 2
    public static let gsoNone: UInt8 = 0
    public static let gsoTCPv4: UInt8 = 1
    public static let gsoUDP: UInt8 = 3
    public static let gsoTCPv6: UInt8 = 4
    /// VIRTIO_NET_HDR_GSO_UDP_L4: USO, UDP datagrams of gso_size payload.
    public static let gsoUDPL4: UInt8 = 5
    public static let gsoECN: UInt8 = 0x80

    public var flags: UInt8 = 0
    public var gsoType: UInt8 = 0
    public var headerLength: UInt16 = 0
    public var gsoSize: UInt16 = 0
    public var checksumStart: UInt16 = 0
    public var checksumOffset: UInt16 = 0

    public init() {}

    public init(_ b: UnsafeRawBufferPointer) {
        flags = b[0]
        gsoType = b[1]
        headerLength = UInt16(b[2]) | UInt16(b[3]) << 8
        gsoSize = UInt16(b[4]) | UInt16(b[5]) << 8
        checksumStart = UInt16(b[6]) | UInt16(b[7]) << 8
        checksumOffset = UInt16(b[8]) | UInt16(b[9]) << 8
    }

    /// The header of a TSO frame: NEEDS_CSUM with the TCP checksum at
    /// `tcp` + 16, cut into `segmentSize` payloads behind `headers` bytes.
    public static func tso(v6: Bool, headers: Int, segmentSize: Int, tcp: Int) -> VirtioNetHeader {
        gso(v6 ? gsoTCPv6 : gsoTCPv4, headers: headers, segmentSize: segmentSize, transport: tcp, field: 16)
    }

    /// The header of a USO frame: NEEDS_CSUM with the UDP checksum at
    /// `udp` + 6, cut into `segmentSize` datagrams behind `headers` bytes.
    public static func uso(headers: Int, segmentSize: Int, udp: Int) -> VirtioNetHeader {
        gso(gsoUDPL4, headers: headers, segmentSize: segmentSize, transport: udp, field: 6)
    }

    static func gso(_ type: UInt8, headers: Int, segmentSize: Int, transport: Int, field: UInt16) -> VirtioNetHeader {
        var h = VirtioNetHeader()
        h.flags = needsChecksum
        h.gsoType = type
        h.headerLength = UInt16(truncatingIfNeeded: headers)
        h.gsoSize = UInt16(truncatingIfNeeded: segmentSize)
        h.checksumStart = UInt16(truncatingIfNeeded: transport)
        h.checksumOffset = field
        return h
    }

    /// Writes the 10 bytes (little-endian fields) at the start of `b`.
    public func write(into b: UnsafeMutableRawBufferPointer) {
        b[0] = flags
        b[1] = gsoType
        for (i, v) in [headerLength, gsoSize, checksumStart, checksumOffset].enumerated() {
            b[2 + 2 * i] = UInt8(v & 0xFF)
            b[3 + 2 * i] = UInt8(v >> 8)
        }
    }
}

public enum VirtioNet {
    /// Why a frame read with a virtio_net_hdr was refused.
    public enum Refusal: Error, Equatable, Sendable {
        case truncated
        case badChecksumOffsets
        case unsupportedGSO(UInt8)
        case malformedSuperFrame
        /// A USO frame of more than UDP_MAX_SEGMENTS segments (or 64 KiB).
        case tooManySegments
        case noBuffer
    }

    /// Hands `emit` the frames the stack takes for one frame read after a
    /// virtio_net_hdr. Returns the number of frames emitted, or the refusal.
    public static func deliver(_ frame: UnsafeRawBufferPointer, header h: VirtioNetHeader, pool: PacketPool,
                               emit: (consuming PacketBuffer) -> Void) -> Result<Int, Refusal> {
        let gso = h.gsoType & ~VirtioNetHeader.gsoECN
        if gso == VirtioNetHeader.gsoNone {
            guard var p = pool.allocate(copying: frame) else { return .failure(.noBuffer) }
            if h.flags & VirtioNetHeader.needsChecksum != 0 {
                let start = Int(h.checksumStart), at = start + Int(h.checksumOffset)
                guard start < frame.count, at + 2 <= frame.count else { return .failure(.badChecksumOffsets) }
                p.withUnsafeMutableReadableBytes { b in
                    // The field holds the pseudo-header sum (the CHECKSUM_PARTIAL
                    // contract): summing over it and complementing completes it.
                    var c = InternetChecksum()
                    c.add(UnsafeRawBufferPointer(rebasing: b[start...]))
                    b.setBE16(at, c.value)
                }
                p.metadata.checksum = .unnecessary
            } else if h.flags & VirtioNetHeader.dataValid != 0 {
                p.metadata.checksum = .unnecessary
            }
            emit(p)
            return .success(1)
        }
        if gso == VirtioNetHeader.gsoUDPL4 {
            // VIRTIO_NET_HDR_GSO_ECN means nothing for UDP: refused, as the kernel does.
            guard h.gsoType == VirtioNetHeader.gsoUDPL4 else { return .failure(.unsupportedGSO(h.gsoType)) }
            return segmentUDP(frame, header: h, pool: pool, emit: emit)
        }
        guard gso == VirtioNetHeader.gsoTCPv4 || gso == VirtioNetHeader.gsoTCPv6 else {
            return .failure(.unsupportedGSO(h.gsoType))
        }
        return segmentTCP(frame, mss: Int(h.gsoSize), v6: gso == VirtioNetHeader.gsoTCPv6, pool: pool, emit: emit)
    }

    /// dev_gro_receive for a super-frame the kernel already built: the
    /// GSO metadata (gso_size, gso_type) to hand it to the stack whole, or
    /// nil when it must be cut (not TCP, lengths that disagree with the
    /// read, no payload). The IP header's length covers the whole frame and
    /// its checksum is the kernel's; the TCP checksum holds the pseudo-header
    /// sum of a partial checksum, which local delivery does not read.
    public static func wholeSuperFrame(_ frame: UnsafeRawBufferPointer, header h: VirtioNetHeader)
        -> (gsoSize: UInt16, gsoType: GSOType)? {
        let gso = h.gsoType & ~VirtioNetHeader.gsoECN
        guard h.gsoSize > 0, gso == VirtioNetHeader.gsoTCPv4 || gso == VirtioNetHeader.gsoTCPv6 else { return nil }
        let v6 = gso == VirtioNetHeader.gsoTCPv6
        guard let l = GSO.tcpLayout(frame, network: EthernetFrame.headerLength, v6: v6), frame.count > l.headers else { return nil }
        let eth = EthernetFrame.headerLength
        if v6 {
            guard Int(frame.be16(eth + 4)) == frame.count - eth - 40 else { return nil }
        } else {
            guard Int(frame.be16(eth + 2)) == frame.count - eth else { return nil }
        }
        var type: GSOType = v6 ? .tcpv6 : .tcpv4
        if h.gsoType & VirtioNetHeader.gsoECN != 0 { type.insert(.tcpECN) }
        return (h.gsoSize, type)
    }

    /// tcp_gso_segment on a super-frame read from the TAP (GSO.segmentTCP
    /// after the Ethernet header): segments whose checksums are filled in.
    static func segmentTCP(_ frame: UnsafeRawBufferPointer, mss: Int, v6: Bool, pool: PacketPool,
                           emit: (consuming PacketBuffer) -> Void) -> Result<Int, Refusal> {
        // nil: nothing was emitted, for want of a buffer or a sound frame.
        guard let n = GSO.segmentTCP(frame, network: EthernetFrame.headerLength, mss: mss, v6: v6,
                                     metadata: PacketMetadata(), checksum: .unnecessary, pool: pool, emit: emit) else {
            return .failure(pool.available == 0 ? .noBuffer : .malformedSuperFrame)
        }
        return .success(n)
    }

    /// virtio_net_hdr_to_skb's checks for GSO_UDP_L4 (gso_size set,
    /// NEEDS_CSUM with the checksum at the UDP header's offset 6, at most
    /// UDP_MAX_SEGMENTS segments), then __udp_gso_segment (GSO.segmentUDP
    /// after the Ethernet header): datagrams whose checksums are filled in.
    static func segmentUDP(_ frame: UnsafeRawBufferPointer, header h: VirtioNetHeader, pool: PacketPool,
                           emit: (consuming PacketBuffer) -> Void) -> Result<Int, Refusal> {
        let eth = EthernetFrame.headerLength
        guard h.gsoSize > 0, frame.count >= eth else { return .failure(.malformedSuperFrame) }
        let type = frame.be16(12)
        guard type == 0x0800 || type == 0x86DD else { return .failure(.malformedSuperFrame) }
        let v6 = type == 0x86DD
        guard let l = GSO.udpLayout(frame, network: eth, v6: v6) else { return .failure(.malformedSuperFrame) }
        guard h.flags & VirtioNetHeader.needsChecksum != 0, Int(h.checksumStart) == l.transport,
              h.checksumOffset == 6 else { return .failure(.badChecksumOffsets) }
        let payload = frame.count - l.headers
        guard frame.count - eth <= 0xFFFF + (v6 ? 40 : 0),
              payload <= Int(h.gsoSize) * GSO.udpMaximumSegments else { return .failure(.tooManySegments) }
        guard GSO.ipLengthAgrees(frame, layout: l, v6: v6) else { return .failure(.malformedSuperFrame) }
        guard let n = GSO.segmentUDP(frame, network: eth, segmentSize: Int(h.gsoSize), v6: v6,
                                     metadata: PacketMetadata(), checksum: .unnecessary, pool: pool, emit: emit) else {
            return .failure(pool.available == 0 ? .noBuffer : .malformedSuperFrame)
        }
        return .success(n)
    }
}

/// The transmit side of a vnet_hdr TAP: consecutive TCP segments of one
/// flow that the stack queued in a burst are joined into one super-frame
/// handed to the kernel with gso_type TCPV4/TCPV6 (what a TSO-capable NIC
/// driver receives from the kernel, here in the other direction), so one
/// write carries up to 64 KiB and the kernel takes it as one skb.
///
/// Segments join when everything but the sequence number, the IP length
/// (and identification and header checksum) and PSH is the same, the
/// sequence numbers follow each other, and every segment but the last has
/// the first one's payload size (gso_size). Anything else goes out alone.
public struct TSOCoalescer: ~Copyable {
    /// virtio_net_hdr + the super-frame being built.
    let buffer: UnsafeMutableRawBufferPointer
    /// Bytes of headers (Ethernet + IP + TCP) in the frame being built.
    private var headerLength = 0
    private var ipLength = 0
    private var v6 = false
    private var segments = 0
    private var segmentSize = 0
    private var lastSize = 0
    private var nextSeq: UInt32 = 0
    private var frameLength = 0   // bytes after the virtio_net_hdr
    private var pushed = false
    static let limit = 65535 - 60

    public init() {
        buffer = .allocate(byteCount: VirtioNetHeader.size + 65536 + 128, alignment: 16)
    }

    deinit { buffer.deallocate() }

    public var isEmpty: Bool { segments == 0 }
    /// Segments in the frame being built.
    public var segmentCount: Int { segments }

    /// Where the TCP header starts in a candidate frame, or nil when the
    /// frame cannot join a super-frame (not TCP data with ACK alone/PSH).
    static func tcpCandidate(_ b: UnsafeRawBufferPointer) -> (ip: Int, tcp: Int, headers: Int, v6: Bool)? {
        guard b.count >= 14 + 40 else { return nil }
        let type = b.be16(12)
        var ip = 0, v6 = false
        if type == 0x0800 {
            guard b[14] == 0x45, b[23] == 6, b.be16(20) & 0x3FFF == 0 else { return nil }  // no options, TCP, not a fragment
            ip = 20
            guard Int(b.be16(16)) == b.count - 14 else { return nil }
        } else if type == 0x86DD {
            guard b[14] >> 4 == 6, b[20] == 6 else { return nil }
            ip = 40
            guard Int(b.be16(18)) == b.count - 54 else { return nil }
            v6 = true
        } else {
            return nil
        }
        let tcp = 14 + ip
        guard b.count >= tcp + 20 else { return nil }
        let headers = tcp + Int(b[tcp + 12] >> 4) * 4
        // ACK, optionally PSH; nothing else (no SYN/FIN/RST/URG/ECE/CWR).
        guard headers >= tcp + 20, b.count > headers, b[tcp + 13] & ~0x08 == 0x10 else { return nil }
        return (ip, tcp, headers, v6)
    }

    /// Adds the frame to the super-frame being built; false when it cannot
    /// join (the caller then flushes and offers it again, or sends it alone).
    public mutating func append(_ b: UnsafeRawBufferPointer) -> Bool {
        guard let c = TSOCoalescer.tcpCandidate(b) else { return false }
        let payload = b.count - c.headers
        let out = UnsafeMutableRawBufferPointer(rebasing: buffer[VirtioNetHeader.size...])
        if segments == 0 {
            out.copyMemory(from: b)
            headerLength = c.headers
            ipLength = c.ip
            v6 = c.v6
            segments = 1
            segmentSize = payload
            lastSize = payload
            frameLength = b.count
            nextSeq = b.be32(c.tcp + 4) &+ UInt32(payload)
            pushed = b[c.tcp + 13] & 0x08 != 0
            return true
        }
        let tcp = 14 + ipLength
        guard !pushed, c.headers == headerLength, c.v6 == v6, lastSize == segmentSize, payload <= segmentSize,
              frameLength + payload <= TSOCoalescer.limit, b.be32(tcp + 4) == nextSeq else { return false }
        let built = UnsafeRawBufferPointer(out)
        // Same Ethernet header, addresses, ports, ack, window, options.
        guard memcmp(built.baseAddress!, b.baseAddress!, 14) == 0,
              // TOS, flags, TTL, protocol / traffic class, flow label, hop limit.
              v6 ? (memcmp(built.baseAddress! + 14, b.baseAddress! + 14, 4) == 0
                    && memcmp(built.baseAddress! + 20, b.baseAddress! + 20, 2) == 0)
                 : (built[15] == b[15] && memcmp(built.baseAddress! + 20, b.baseAddress! + 20, 4) == 0),
              memcmp(built.baseAddress! + (v6 ? 22 : 26), b.baseAddress! + (v6 ? 22 : 26), v6 ? 32 : 8) == 0,
              memcmp(built.baseAddress! + tcp, b.baseAddress! + tcp, 4) == 0,
              memcmp(built.baseAddress! + tcp + 8, b.baseAddress! + tcp + 8, 5) == 0,
              memcmp(built.baseAddress! + tcp + 14, b.baseAddress! + tcp + 14, 2) == 0,
              headerLength == tcp + 20 || memcmp(built.baseAddress! + tcp + 20, b.baseAddress! + tcp + 20, headerLength - tcp - 20) == 0
        else { return false }
        UnsafeMutableRawBufferPointer(rebasing: out[frameLength..<(frameLength + payload)])
            .copyMemory(from: UnsafeRawBufferPointer(rebasing: b[c.headers...]))
        frameLength += payload
        segments += 1
        lastSize = payload
        nextSeq &+= UInt32(payload)
        if b[tcp + 13] & 0x08 != 0 { pushed = true }
        return true
    }

    /// The pending frame with its virtio_net_hdr, ready to write; empty after.
    public mutating func take() -> UnsafeRawBufferPointer {
        guard segments > 0 else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        let out = UnsafeMutableRawBufferPointer(rebasing: buffer[VirtioNetHeader.size...])
        var header = VirtioNetHeader()
        if segments > 1 {
            let tcp = 14 + ipLength
            if pushed { out[tcp + 13] |= 0x08 }
            let tcpLength = frameLength - tcp
            var c = InternetChecksum()
            if v6 {
                out.setBE16(18, UInt16(tcpLength))
                c.addPseudoHeader(source: IPv6Address(reading: UnsafeRawBufferPointer(out), at: 22),
                                  destination: IPv6Address(reading: UnsafeRawBufferPointer(out), at: 38),
                                  nextHeader: 6, length: tcpLength)
            } else {
                out.setBE16(16, UInt16(frameLength - 14))
                out.setBE16(24, 0)
                out.setBE16(24, InternetChecksum.checksum(UnsafeRawBufferPointer(rebasing: out[14..<34])))
                c.addPseudoHeader(source: IPv4Address(rawValue: UnsafeRawBufferPointer(out).be32(26)),
                                  destination: IPv4Address(rawValue: UnsafeRawBufferPointer(out).be32(30)),
                                  protocol: 6, length: tcpLength)
            }
            // CHECKSUM_PARTIAL: the field holds the pseudo-header sum.
            out.setBE16(tcp + 16, c.folded)
            header = .tso(v6: v6, headers: headerLength, segmentSize: segmentSize, tcp: tcp)
        }
        header.write(into: buffer)
        let n = VirtioNetHeader.size + frameLength
        segments = 0
        frameLength = 0
        return UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(buffer)[0..<n])
    }
}
