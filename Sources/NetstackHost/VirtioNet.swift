// The virtio_net_hdr in front of every frame on a TAP opened with
// IFF_VNET_HDR (include/uapi/linux/virtio_net.h), and what the stack does
// with the kernel's offloads: a frame whose checksum the kernel left
// partial (VIRTIO_NET_HDR_F_NEEDS_CSUM) gets it completed, and a TCP
// super-frame (gso_type TCPV4/TCPV6, up to 64 KiB from one read) is cut
// into gso_size segments with their own IP and TCP headers and checksums —
// skb_gso_segment done as the frames enter, so the rest of the stack sees
// ordinary packets. One read then brings up to 64 KiB instead of one MTU.
//
// Kernel counterparts: tun_get_user/virtio_net_hdr_to_skb on the way in,
// tcp_gso_segment/inet_gso_segment for the cutting.
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
}

public enum VirtioNet {
    /// Why a frame read with a virtio_net_hdr was refused.
    public enum Refusal: Error, Equatable, Sendable {
        case truncated
        case badChecksumOffsets
        case unsupportedGSO(UInt8)
        case malformedSuperFrame
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
        guard gso == VirtioNetHeader.gsoTCPv4 || gso == VirtioNetHeader.gsoTCPv6 else {
            return .failure(.unsupportedGSO(h.gsoType))
        }
        return segmentTCP(frame, mss: Int(h.gsoSize), v6: gso == VirtioNetHeader.gsoTCPv6, pool: pool, emit: emit)
    }

    /// tcp_gso_segment: one Ethernet + IPv4/IPv6 + TCP super-frame into
    /// segments of `mss` payload bytes, every header and checksum filled in.
    static func segmentTCP(_ frame: UnsafeRawBufferPointer, mss: Int, v6: Bool, pool: PacketPool,
                           emit: (consuming PacketBuffer) -> Void) -> Result<Int, Refusal> {
        let eth = EthernetFrame.headerLength
        guard mss > 0, frame.count >= eth + 20 else { return .failure(.malformedSuperFrame) }
        let ethType = frame.be16(12)
        let ipLength: Int
        if v6 {
            guard ethType == 0x86DD, frame.count >= eth + 40, frame[eth + 6] == 6 else { return .failure(.malformedSuperFrame) }
            ipLength = 40
        } else {
            guard ethType == 0x0800, frame[eth] >> 4 == 4, frame[eth + 9] == 6 else { return .failure(.malformedSuperFrame) }
            ipLength = Int(frame[eth] & 0x0F) * 4
            guard ipLength >= 20 else { return .failure(.malformedSuperFrame) }
        }
        let tcp = eth + ipLength
        guard frame.count >= tcp + 20 else { return .failure(.malformedSuperFrame) }
        let tcpLength = Int(frame[tcp + 12] >> 4) * 4
        let headers = tcp + tcpLength
        guard tcpLength >= 20, frame.count >= headers else { return .failure(.malformedSuperFrame) }
        let payload = frame.count - headers
        guard headers + min(mss, max(payload, 0)) <= pool.slotSize - pool.defaultHeadroom else { return .failure(.malformedSuperFrame) }
        let seq = frame.be32(tcp + 4)
        let flags = frame[tcp + 13]
        let id = v6 ? 0 : frame.be16(eth + 4)
        let count = max(1, (payload + mss - 1) / mss)
        var emitted = 0
        for i in 0..<count {
            let offset = i * mss
            let length = min(mss, payload - offset)
            guard var p = pool.allocate() else { return emitted > 0 ? .success(emitted) : .failure(.noBuffer) }
            let out = p.put(headers + length)
            out.copyMemory(from: UnsafeRawBufferPointer(rebasing: frame[0..<headers]))
            if length > 0 {
                UnsafeMutableRawBufferPointer(rebasing: out[headers...])
                    .copyMemory(from: UnsafeRawBufferPointer(rebasing: frame[(headers + offset)..<(headers + offset + length)]))
            }
            let first = i == 0, last = i == count - 1
            // FIN and PSH stay on the last segment, CWR on the first.
            var f = flags
            if !last { f &= ~0x09 }
            if !first { f &= ~0x80 }
            out[tcp + 13] = f
            out.setBE32(tcp + 4, seq &+ UInt32(truncatingIfNeeded: offset))
            out.setBE16(tcp + 16, 0)
            var c = InternetChecksum()
            if v6 {
                out.setBE16(eth + 4, UInt16(tcpLength + length))
                c.addPseudoHeader(source: IPv6Address(reading: UnsafeRawBufferPointer(out), at: eth + 8),
                                  destination: IPv6Address(reading: UnsafeRawBufferPointer(out), at: eth + 24),
                                  nextHeader: 6, length: tcpLength + length)
            } else {
                out.setBE16(eth + 2, UInt16(ipLength + tcpLength + length))
                out.setBE16(eth + 4, id &+ UInt16(truncatingIfNeeded: i))
                out.setBE16(eth + 10, 0)
                out.setBE16(eth + 10, InternetChecksum.checksum(UnsafeRawBufferPointer(rebasing: out[eth..<tcp])))
                c.addPseudoHeader(source: IPv4Address(rawValue: UnsafeRawBufferPointer(out).be32(eth + 12)),
                                  destination: IPv4Address(rawValue: UnsafeRawBufferPointer(out).be32(eth + 16)),
                                  protocol: 6, length: tcpLength + length)
            }
            c.add(UnsafeRawBufferPointer(rebasing: out[tcp...]))
            out.setBE16(tcp + 16, c.value)
            p.metadata.checksum = .unnecessary
            emit(p)
            emitted += 1
        }
        return .success(emitted)
    }
}
