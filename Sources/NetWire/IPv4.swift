// IPv4 (RFC 791; options RFC 791 §3.1, RFC 7126 for what to accept).
// Kernel counterpart: struct iphdr (include/uapi/linux/ip.h); the checks of
// ip_rcv_core() (net/ipv4/ip_input.c) and ip_options_compile()
// (net/ipv4/ip_options.c). Like Linux, bytes past the total length are
// padding and are not part of `payload`.

/// The IP protocol / IPv6 next-header number (IANA "Assigned Internet
/// Protocol Numbers"). A struct: unknown numbers are valid and round-trip.
public struct IPProtocol: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt8
    @inlinable @inline(__always) public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let hopByHop = IPProtocol(rawValue: 0)
    public static let icmp = IPProtocol(rawValue: 1)
    public static let igmp = IPProtocol(rawValue: 2)
    public static let ipip = IPProtocol(rawValue: 4)
    public static let tcp = IPProtocol(rawValue: 6)
    public static let udp = IPProtocol(rawValue: 17)
    public static let ipv6 = IPProtocol(rawValue: 41)
    public static let routing = IPProtocol(rawValue: 43)
    public static let fragment = IPProtocol(rawValue: 44)
    public static let gre = IPProtocol(rawValue: 47)
    public static let esp = IPProtocol(rawValue: 50)
    public static let ah = IPProtocol(rawValue: 51)
    public static let icmpv6 = IPProtocol(rawValue: 58)
    public static let noNextHeader = IPProtocol(rawValue: 59)
    public static let destinationOptions = IPProtocol(rawValue: 60)
    public static let sctp = IPProtocol(rawValue: 132)
    public static let udplite = IPProtocol(rawValue: 136)

    /// The name as /etc/protocols and iproute2 spell it, else the number.
    public var description: String {
        switch self {
        case .hopByHop: "hopopt"
        case .icmp: "icmp"
        case .igmp: "igmp"
        case .ipip: "ipip"
        case .tcp: "tcp"
        case .udp: "udp"
        case .ipv6: "ipv6"
        case .routing: "ipv6-route"
        case .fragment: "ipv6-frag"
        case .gre: "gre"
        case .esp: "esp"
        case .ah: "ah"
        case .icmpv6: "ipv6-icmp"
        case .noNextHeader: "ipv6-nonxt"
        case .destinationOptions: "ipv6-opts"
        case .sctp: "sctp"
        case .udplite: "udplite"
        default: String(rawValue)
        }
    }
}

/// A checked view of an IPv4 header and its payload.
///
/// The initialiser enforces what ip_rcv_core() enforces structurally:
/// version 4, IHL ≥ 5, IHL·4 ≤ total length ≤ bytes present. It does not
/// verify the header checksum (`headerChecksumVerifies`) or the options
/// (`IPv4Repr.parse`) so a receive path can count each failure separately.
public struct IPv4Packet {
    public static let minimumHeaderLength = 20
    public let bytes: UnsafeRawBufferPointer

    @inlinable
    public init(_ bytes: UnsafeRawBufferPointer) throws(WireError) {
        guard bytes.count >= Self.minimumHeaderLength else { throw .truncated }
        let vihl = bytes.u8(0)
        guard vihl >> 4 == 4 else { throw .badVersion }
        let ihl = Int(vihl & 0x0F) &* 4
        guard ihl >= Self.minimumHeaderLength else { throw .badHeaderLength }
        let total = Int(bytes.be16(2))
        guard total >= ihl else { throw .badLength }
        guard total <= bytes.count else { throw .truncated }
        self.bytes = bytes
    }

    @inlinable public var headerLength: Int { Int(bytes.u8(0) & 0x0F) &* 4 }
    /// The type-of-service byte: DSCP (upper 6 bits) and ECN (lower 2).
    @inlinable public var tos: UInt8 { bytes.u8(1) }
    @inlinable public var dscp: UInt8 { bytes.u8(1) >> 2 }
    @inlinable public var ecn: UInt8 { bytes.u8(1) & 0x03 }
    @inlinable public var totalLength: Int { Int(bytes.be16(2)) }
    @inlinable public var identification: UInt16 { bytes.be16(4) }
    @inlinable public var reservedFlag: Bool { bytes.u8(6) & 0x80 != 0 }
    @inlinable public var dontFragment: Bool { bytes.u8(6) & 0x40 != 0 }
    @inlinable public var moreFragments: Bool { bytes.u8(6) & 0x20 != 0 }
    /// The fragment offset in bytes (the field counts 8-byte units).
    @inlinable public var fragmentOffset: Int { Int(bytes.be16(6) & 0x1FFF) &* 8 }
    @inlinable public var isFragment: Bool { bytes.be16(6) & 0x3FFF != 0 }
    @inlinable public var ttl: UInt8 { bytes.u8(8) }
    @inlinable public var `protocol`: IPProtocol { IPProtocol(rawValue: bytes.u8(9)) }
    @inlinable public var headerChecksum: UInt16 { bytes.be16(10) }
    @inlinable public var source: IPv4Address { IPv4Address(rawValue: bytes.be32(12)) }
    @inlinable public var destination: IPv4Address { IPv4Address(rawValue: bytes.be32(16)) }
    public var options: UnsafeRawBufferPointer { bytes.bytes(Self.minimumHeaderLength, headerLength) }
    @inlinable public var header: UnsafeRawBufferPointer { bytes.bytes(0, headerLength) }
    /// The bytes after the header up to the total length (padding excluded).
    @inlinable public var payload: UnsafeRawBufferPointer { bytes.bytes(headerLength, totalLength) }

    /// ip_fast_csum(iph, ihl) == 0.
    @inlinable
    public var headerChecksumVerifies: Bool {
        var c = InternetChecksum()
        c.add(header)
        return c.verifies
    }
}

/// Option types RFC 791 defines that Linux also knows (ip_options_compile).
public enum IPv4OptionType {
    public static let endOfList: UInt8 = 0
    public static let noOperation: UInt8 = 1
    public static let recordRoute: UInt8 = 7
    public static let timestamp: UInt8 = 68
    public static let looseSourceRoute: UInt8 = 131
    public static let strictSourceRoute: UInt8 = 137
    public static let routerAlert: UInt8 = 148
}

public struct IPv4Repr: Equatable, Hashable, Sendable {
    public var source: IPv4Address
    public var destination: IPv4Address
    public var `protocol`: IPProtocol
    public var ttl: UInt8
    public var dscp: UInt8
    public var ecn: UInt8
    public var identification: UInt16
    public var dontFragment: Bool
    public var moreFragments: Bool
    /// In bytes; a multiple of 8, at most 65528.
    public var fragmentOffset: Int
    public var payloadLength: Int
    /// Raw option bytes as on the wire (padded to a multiple of 4 on emit).
    public var options: OptionBytes

    public init(source: IPv4Address, destination: IPv4Address, protocol: IPProtocol,
                payloadLength: Int, ttl: UInt8 = 64, dscp: UInt8 = 0, ecn: UInt8 = 0,
                identification: UInt16 = 0, dontFragment: Bool = false, moreFragments: Bool = false,
                fragmentOffset: Int = 0, options: OptionBytes = OptionBytes()) {
        self.source = source
        self.destination = destination
        self.protocol = `protocol`
        self.payloadLength = payloadLength
        self.ttl = ttl
        self.dscp = dscp
        self.ecn = ecn
        self.identification = identification
        self.dontFragment = dontFragment
        self.moreFragments = moreFragments
        self.fragmentOffset = fragmentOffset
        self.options = options
    }

    /// Header length on the wire: 20 plus the options padded to 4 bytes.
    @inlinable
    public var headerLength: Int { IPv4Packet.minimumHeaderLength &+ (options.count &+ 3) & ~3 }

    /// Parses a checked view. `verifyChecksum` mirrors the receive path; a
    /// forwarding or capture path may skip it.
    public static func parse(_ packet: IPv4Packet, verifyChecksum: Bool = true) throws(WireError) -> IPv4Repr {
        if verifyChecksum && !packet.headerChecksumVerifies { throw .badChecksum }
        let optionBytes = packet.options
        try validateOptions(optionBytes)
        return IPv4Repr(source: packet.source, destination: packet.destination, protocol: packet.protocol,
                        payloadLength: packet.totalLength &- packet.headerLength, ttl: packet.ttl,
                        dscp: packet.dscp, ecn: packet.ecn, identification: packet.identification,
                        dontFragment: packet.dontFragment, moreFragments: packet.moreFragments,
                        fragmentOffset: packet.fragmentOffset, options: OptionBytes(optionBytes) ?? OptionBytes())
    }

    /// The walk ip_options_compile() does: single-byte EOL/NOP; every other
    /// option has a length ≥ 2 that stays inside the header, and the options
    /// Linux interprets have a sane length and pointer.
    public static func validateOptions(_ bytes: UnsafeRawBufferPointer) throws(WireError) {
        var i = 0
        while i < bytes.count {
            let type = bytes.u8(i)
            if type == IPv4OptionType.endOfList { return }
            if type == IPv4OptionType.noOperation { i &+= 1; continue }
            guard i &+ 1 < bytes.count else { throw .badOption }
            let length = Int(bytes.u8(i &+ 1))
            guard length >= 2, i &+ length <= bytes.count else { throw .badOption }
            // The per-option pointer checks ip_options_compile() makes;
            // unknown options are skipped, as Linux does on receive.
            switch type {
            case IPv4OptionType.recordRoute, IPv4OptionType.looseSourceRoute, IPv4OptionType.strictSourceRoute:
                guard length >= 3, bytes.u8(i &+ 2) >= 4 else { throw .badOption }
            case IPv4OptionType.timestamp:
                guard length >= 4, bytes.u8(i &+ 2) >= 5 else { throw .badOption }
            case IPv4OptionType.routerAlert:
                guard length == 4 else { throw .badOption }
            default:
                break
            }
            i &+= length
        }
    }

    /// Writes the header (with checksum) at the start of `out`. The payload,
    /// if any, is the caller's: it follows at `headerLength`.
    public func emit(into out: UnsafeMutableRawBufferPointer) throws(WireError) {
        let hl = headerLength
        guard hl &+ payloadLength <= 0xFFFF, fragmentOffset & 7 == 0, fragmentOffset <= 0xFFF8,
              dscp < 64, ecn < 4 else { throw .badField }
        guard out.count >= hl else { throw .bufferTooSmall }
        out.setU8(0, 0x40 | UInt8(hl / 4))
        out.setU8(1, dscp << 2 | ecn)
        out.setBE16(2, UInt16(hl &+ payloadLength))
        out.setBE16(4, identification)
        out.setBE16(6, (dontFragment ? 0x4000 : 0) | (moreFragments ? 0x2000 : 0) | UInt16(fragmentOffset / 8))
        out.setU8(8, ttl)
        out.setU8(9, self.protocol.rawValue)
        out.setBE16(10, 0)
        out.setBE32(12, source.rawValue)
        out.setBE32(16, destination.rawValue)
        options.write(into: out, at: 20)
        var i = 20 &+ options.count
        while i < hl { out.setU8(i, 0); i &+= 1 } // pad with EOL
        var c = InternetChecksum()
        c.add(UnsafeRawBufferPointer(out.bytes(0, hl)))
        out.setBE16(10, c.value)
    }

    public var pseudoHeader: PseudoHeader { .ipv4(source: source, destination: destination) }
}
