// IPv6 (RFC 8200): the fixed header (§3), extension headers (§4) —
// hop-by-hop options (§4.3), routing (§4.4), fragment (§4.5), destination
// options (§4.6) with the option TLVs of §4.2 — and a walker over the chain.
//
// Kernel counterpart: struct ipv6hdr, ipv6_opt_hdr, ipv6_rt_hdr, frag_hdr
// (include/uapi/linux/ipv6.h, include/net/ipv6.h); the checks of ipv6_rcv()
// (net/ipv6/ip6_input.c), ipv6_parse_hopopts() / ip6_parse_tlv()
// (net/ipv6/exthdrs.c) and the walk of ipv6_skip_exthdr()
// (net/ipv6/exthdrs_core.c).
//
// Like Linux, bytes past the payload length are link padding and are not part
// of `payload`. Jumbograms (RFC 2675: payload length 0 plus a hop-by-hop Jumbo
// Payload option) are not supported: a zero payload length means an empty
// payload, so the walker reports such a packet as truncated.

/// A checked view of the 40-byte IPv6 header and its payload.
///
/// The initialiser enforces what ipv6_rcv() enforces structurally: version 6
/// and 40 + payload length ≤ bytes present (Linux counts the latter as
/// InTruncatedPkts). Extension headers are walked by `IPv6ExtensionHeaders`.
public struct IPv6Packet {
    public static let headerLength = 40
    public let bytes: UnsafeRawBufferPointer

    @inlinable
    public init(_ bytes: UnsafeRawBufferPointer) throws(WireError) {
        guard bytes.count >= Self.headerLength else { throw .truncated }
        guard bytes.u8(0) >> 4 == 6 else { throw .badVersion }
        guard Self.headerLength &+ Int(bytes.be16(4)) <= bytes.count else { throw .truncated }
        self.bytes = bytes
    }

    /// The traffic class byte: DSCP (upper 6 bits) and ECN (lower 2).
    @inlinable public var trafficClass: UInt8 { UInt8(truncatingIfNeeded: bytes.be16(0) >> 4) }
    @inlinable public var dscp: UInt8 { trafficClass >> 2 }
    @inlinable public var ecn: UInt8 { trafficClass & 0x03 }
    /// The 20-bit flow label (RFC 6437).
    @inlinable public var flowLabel: UInt32 { bytes.be32(0) & 0xF_FFFF }
    @inlinable public var payloadLength: Int { Int(bytes.be16(4)) }
    @inlinable public var nextHeader: IPProtocol { IPProtocol(rawValue: bytes.u8(6)) }
    @inlinable public var hopLimit: UInt8 { bytes.u8(7) }
    @inlinable public var source: IPv6Address { IPv6Address(reading: bytes, at: 8) }
    @inlinable public var destination: IPv6Address { IPv6Address(reading: bytes, at: 24) }
    @inlinable public var header: UnsafeRawBufferPointer { bytes.bytes(0, Self.headerLength) }
    /// The bytes after the fixed header up to the payload length (padding excluded).
    @inlinable public var payload: UnsafeRawBufferPointer {
        bytes.bytes(Self.headerLength, Self.headerLength &+ payloadLength)
    }
}

public struct IPv6Repr: Equatable, Hashable, Sendable {
    public static let headerLength = IPv6Packet.headerLength

    public var source: IPv6Address
    public var destination: IPv6Address
    /// The first next-header value: an extension header or the upper layer.
    public var nextHeader: IPProtocol
    /// Bytes after the fixed header (extension headers included).
    public var payloadLength: Int
    public var hopLimit: UInt8
    public var dscp: UInt8
    public var ecn: UInt8
    /// 20 bits.
    public var flowLabel: UInt32

    public init(source: IPv6Address, destination: IPv6Address, nextHeader: IPProtocol,
                payloadLength: Int, hopLimit: UInt8 = 64, dscp: UInt8 = 0, ecn: UInt8 = 0,
                flowLabel: UInt32 = 0) {
        self.source = source
        self.destination = destination
        self.nextHeader = nextHeader
        self.payloadLength = payloadLength
        self.hopLimit = hopLimit
        self.dscp = dscp
        self.ecn = ecn
        self.flowLabel = flowLabel
    }

    public var headerLength: Int { Self.headerLength }

    /// Every field of a checked view is representable: parsing cannot fail.
    @inlinable
    public static func parse(_ packet: IPv6Packet) -> IPv6Repr {
        IPv6Repr(source: packet.source, destination: packet.destination, nextHeader: packet.nextHeader,
                 payloadLength: packet.payloadLength, hopLimit: packet.hopLimit, dscp: packet.dscp,
                 ecn: packet.ecn, flowLabel: packet.flowLabel)
    }

    /// Writes the 40-byte header at the start of `out`; the payload is the
    /// caller's and follows at 40.
    public func emit(into out: UnsafeMutableRawBufferPointer) throws(WireError) {
        guard payloadLength >= 0, payloadLength <= 0xFFFF, dscp < 64, ecn < 4,
              flowLabel <= 0xF_FFFF else { throw .badField }
        guard out.count >= Self.headerLength else { throw .bufferTooSmall }
        let tc = UInt32(dscp << 2 | ecn)
        out.setBE32(0, 6 << 28 | tc << 20 | flowLabel)
        out.setBE16(4, UInt16(payloadLength))
        out.setU8(6, nextHeader.rawValue)
        out.setU8(7, hopLimit)
        source.write(into: out, at: 8)
        destination.write(into: out, at: 24)
    }

    /// The transport pseudo-header. With a routing header, RFC 8200 §8.1 says
    /// the destination is the final one (the last routing-header address);
    /// the caller substitutes it.
    public var pseudoHeader: PseudoHeader { .ipv6(source: source, destination: destination) }
}

// MARK: - Inline storage for extension-header bodies

/// Up to 126 bytes of an extension header's body kept inline, so option and
/// routing-header Reprs allocate nothing. 126 covers a hop-by-hop or
/// destination-options header of up to 128 bytes (Hdr Ext Len ≤ 15) and a
/// routing header of up to 130 bytes (for example an SRH with 7 segments).
/// Longer headers are valid on the wire and the views and the chain walker
/// handle them; only their Reprs refuse them with `.unsupported`.
public typealias ExtensionHeaderBytes = InlineBytes<126>

// MARK: - Hop-by-hop and destination options (RFC 8200 §4.2, §4.3, §4.6)

/// Option types with a meaning on the wire (IANA "Destination Options and
/// Hop-by-Hop Options").
public enum IPv6OptionType {
    public static let pad1: UInt8 = 0x00
    public static let padN: UInt8 = 0x01
    /// RFC 2711, hop-by-hop only; Linux drops the packet unless its length is 2.
    public static let routerAlert: UInt8 = 0x05
    /// RFC 2675, hop-by-hop only (not supported here, see the file comment).
    public static let jumboPayload: UInt8 = 0xC2
}

/// What RFC 8200 §4.2 says a node does with an option type it does not
/// recognise, from the type's two high-order bits (Linux ip6_tlvopt_unknown()).
public enum IPv6UnknownOptionAction: Equatable, Sendable {
    /// 00: skip the option and continue.
    case skip
    /// 01: discard the packet.
    case discard
    /// 10: discard and send Parameter Problem code 2 pointing at the option.
    case discardSendParameterProblem
    /// 11: as 10, unless the destination is multicast.
    case discardSendParameterProblemUnlessMulticast

    @inlinable
    public init(optionType: UInt8) {
        switch optionType >> 6 {
        case 0: self = .skip
        case 1: self = .discard
        case 2: self = .discardSendParameterProblem
        default: self = .discardSendParameterProblemUnlessMulticast
        }
    }
}

/// The TLV area of a hop-by-hop or destination-options header.
public enum IPv6Options {
    /// The structural walk ip6_parse_tlv() does before acting on options:
    /// - Pad1 is one byte; every other option has a length byte and stays
    ///   inside the area (else `.badOption`);
    /// - consecutive padding (Pad1 and PadN together) is at most 7 bytes and
    ///   PadN carries only zeros (RFC 4942 §2.1.9.5; Linux drops otherwise);
    /// - in a hop-by-hop header, Router Alert has length 2 (ipv6_hop_ra()).
    ///
    /// What to do with an unknown option (`IPv6UnknownOptionAction`) and the
    /// sysctls net.ipv6.max_{hbh,dst}_opts_number (default 8) are
    /// receive-path policy and are not checked here.
    public static func validate(_ bytes: UnsafeRawBufferPointer, hopByHop: Bool) throws(WireError) {
        var i = 0
        var padding = 0
        while i < bytes.count {
            let type = bytes.u8(i)
            if type == IPv6OptionType.pad1 {
                padding &+= 1
                guard padding <= 7 else { throw .badOption }
                i &+= 1
                continue
            }
            guard i &+ 1 < bytes.count else { throw .badOption }
            let length = Int(bytes.u8(i &+ 1)) &+ 2
            guard length <= bytes.count &- i else { throw .badOption }
            if type == IPv6OptionType.padN {
                padding &+= length
                guard padding <= 7 else { throw .badOption }
                var j = 2
                while j < length {
                    guard bytes.u8(i &+ j) == 0 else { throw .badOption }
                    j &+= 1
                }
            } else {
                padding = 0
                if hopByHop && type == IPv6OptionType.routerAlert && length != 4 { throw .badOption }
            }
            i &+= length
        }
    }
}

/// One option of a validated TLV area: its type, its offset from the start
/// of the area, and its data.
public struct IPv6Option {
    public var type: UInt8
    public var offset: Int
    public var data: UnsafeRawBufferPointer
}

/// Iterates the options of an area that `IPv6Options.validate` accepted
/// (on an unvalidated area it stops at the first option that does not fit).
/// Padding is skipped.
public struct IPv6OptionIterator: IteratorProtocol, Sequence {
    @usableFromInline let bytes: UnsafeRawBufferPointer
    @usableFromInline var offset = 0

    public init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    public mutating func next() -> IPv6Option? {
        while offset < bytes.count {
            let type = bytes.u8(offset)
            if type == IPv6OptionType.pad1 { offset &+= 1; continue }
            guard offset &+ 1 < bytes.count else { offset = bytes.count; return nil }
            let length = Int(bytes.u8(offset &+ 1)) &+ 2
            guard length <= bytes.count &- offset else { offset = bytes.count; return nil }
            let start = offset
            offset &+= length
            if type == IPv6OptionType.padN { continue }
            return IPv6Option(type: type, offset: start, data: bytes.bytes(start &+ 2, start &+ length))
        }
        return nil
    }
}

/// A checked view of a hop-by-hop or destination-options header: at least 8
/// bytes and (Hdr Ext Len + 1)·8 ≤ bytes present. The TLVs are validated by
/// `IPv6OptionsRepr.parse` / `IPv6Options.validate`, as ip6_parse_tlv() does
/// after the length check of ipv6_parse_hopopts() / ipv6_destopt_rcv().
public struct IPv6OptionsHeader {
    public static let minimumLength = 8
    public let bytes: UnsafeRawBufferPointer

    @inlinable
    public init(_ bytes: UnsafeRawBufferPointer) throws(WireError) {
        guard bytes.count >= Self.minimumLength else { throw .truncated }
        guard (Int(bytes.u8(1)) &+ 1) &* 8 <= bytes.count else { throw .truncated }
        self.bytes = bytes
    }

    @inlinable public var nextHeader: IPProtocol { IPProtocol(rawValue: bytes.u8(0)) }
    /// (Hdr Ext Len + 1) · 8.
    @inlinable public var headerLength: Int { (Int(bytes.u8(1)) &+ 1) &* 8 }
    /// The option TLVs, padding included.
    @inlinable public var options: UnsafeRawBufferPointer { bytes.bytes(2, headerLength) }
    @inlinable public var payload: UnsafeRawBufferPointer { bytes.bytes(headerLength, bytes.count) }
}

public typealias IPv6HopByHopHeader = IPv6OptionsHeader
public typealias IPv6DestinationOptionsHeader = IPv6OptionsHeader

/// A hop-by-hop or destination-options header: the next header and the raw
/// option TLVs (padding included) as on the wire.
public struct IPv6OptionsRepr: Equatable, Hashable, Sendable {
    public var nextHeader: IPProtocol
    /// Raw TLVs. On emit they are padded to the 8-byte boundary with Pad1 or
    /// PadN, so a Repr parsed from the wire emits the same bytes.
    public var options: ExtensionHeaderBytes

    public init(nextHeader: IPProtocol, options: ExtensionHeaderBytes = ExtensionHeaderBytes()) {
        self.nextHeader = nextHeader
        self.options = options
    }

    /// 2 + options, rounded up to a multiple of 8.
    @inlinable public var headerLength: Int { (2 &+ options.count &+ 7) & ~7 }

    /// Validates the TLVs (`IPv6Options.validate`); `.unsupported` when the
    /// header is longer than `ExtensionHeaderBytes.capacity` allows.
    public static func parse(_ header: IPv6OptionsHeader, hopByHop: Bool) throws(WireError) -> IPv6OptionsRepr {
        let area = header.options
        try IPv6Options.validate(area, hopByHop: hopByHop)
        guard let options = ExtensionHeaderBytes(area) else { throw .unsupported }
        return IPv6OptionsRepr(nextHeader: header.nextHeader, options: options)
    }

    public func emit(into out: UnsafeMutableRawBufferPointer) throws(WireError) {
        let hl = headerLength
        guard out.count >= hl else { throw .bufferTooSmall }
        out.setU8(0, nextHeader.rawValue)
        out.setU8(1, UInt8(hl / 8 &- 1))
        options.write(into: out, at: 2)
        let pad = hl &- 2 &- options.count
        let at = 2 &+ options.count
        if pad == 1 {
            out.setU8(at, IPv6OptionType.pad1)
        } else if pad >= 2 {
            out.setU8(at, IPv6OptionType.padN)
            out.setU8(at &+ 1, UInt8(pad &- 2))
            var i = 2
            while i < pad { out.setU8(at &+ i, 0); i &+= 1 }
        }
    }
}

// MARK: - Routing header (RFC 8200 §4.4)

/// A checked view of a routing header: at least 8 bytes and
/// (Hdr Ext Len + 1)·8 ≤ bytes present.
///
/// What to do with it is the receive path's (Linux ipv6_rthdr_rcv()): with
/// Segments Left 0 the header is ignored whatever its type; an unknown type
/// with Segments Left > 0 gets Parameter Problem code 0 pointing at the
/// Routing Type field; type 0 is deprecated (RFC 5095) and treated as unknown.
public struct IPv6RoutingHeader {
    public static let minimumLength = 8
    public let bytes: UnsafeRawBufferPointer

    @inlinable
    public init(_ bytes: UnsafeRawBufferPointer) throws(WireError) {
        guard bytes.count >= Self.minimumLength else { throw .truncated }
        guard (Int(bytes.u8(1)) &+ 1) &* 8 <= bytes.count else { throw .truncated }
        self.bytes = bytes
    }

    @inlinable public var nextHeader: IPProtocol { IPProtocol(rawValue: bytes.u8(0)) }
    @inlinable public var headerLength: Int { (Int(bytes.u8(1)) &+ 1) &* 8 }
    @inlinable public var routingType: UInt8 { bytes.u8(2) }
    @inlinable public var segmentsLeft: UInt8 { bytes.u8(3) }
    /// The type-specific data (bytes 4 to the end of the header).
    @inlinable public var data: UnsafeRawBufferPointer { bytes.bytes(4, headerLength) }
    @inlinable public var payload: UnsafeRawBufferPointer { bytes.bytes(headerLength, bytes.count) }
}

public struct IPv6RoutingRepr: Equatable, Hashable, Sendable {
    /// Routing types (IANA "Routing Types").
    public static let typeSourceRoute: UInt8 = 0      // deprecated, RFC 5095
    public static let typeMobileIPv6: UInt8 = 2       // RFC 6275
    public static let typeRPL: UInt8 = 3              // RFC 6554
    public static let typeSegmentRouting: UInt8 = 4   // RFC 8754

    public var nextHeader: IPProtocol
    public var routingType: UInt8
    public var segmentsLeft: UInt8
    /// Type-specific data; 4 + count must be a multiple of 8 to emit.
    public var data: ExtensionHeaderBytes

    public init(nextHeader: IPProtocol, routingType: UInt8, segmentsLeft: UInt8,
                data: ExtensionHeaderBytes = ExtensionHeaderBytes()) {
        self.nextHeader = nextHeader
        self.routingType = routingType
        self.segmentsLeft = segmentsLeft
        self.data = data
    }

    @inlinable public var headerLength: Int { 4 &+ data.count }

    /// `.unsupported` when the data is longer than `ExtensionHeaderBytes.capacity`.
    public static func parse(_ header: IPv6RoutingHeader) throws(WireError) -> IPv6RoutingRepr {
        guard let data = ExtensionHeaderBytes(header.data) else { throw .unsupported }
        return IPv6RoutingRepr(nextHeader: header.nextHeader, routingType: header.routingType,
                               segmentsLeft: header.segmentsLeft, data: data)
    }

    /// Type-specific data is opaque here, so it is not padded: data whose
    /// length does not end the header on an 8-byte boundary is `.badField`.
    public func emit(into out: UnsafeMutableRawBufferPointer) throws(WireError) {
        let hl = headerLength
        guard hl & 7 == 0 else { throw .badField }
        guard out.count >= hl else { throw .bufferTooSmall }
        out.setU8(0, nextHeader.rawValue)
        out.setU8(1, UInt8(hl / 8 &- 1))
        out.setU8(2, routingType)
        out.setU8(3, segmentsLeft)
        data.write(into: out, at: 4)
    }
}

// MARK: - Fragment header (RFC 8200 §4.5)

/// A checked view of the 8-byte fragment header. The reserved fields are
/// ignored on receipt, as RFC 8200 says and Linux does.
public struct IPv6FragmentHeader {
    public static let headerLength = 8
    public let bytes: UnsafeRawBufferPointer

    @inlinable
    public init(_ bytes: UnsafeRawBufferPointer) throws(WireError) {
        guard bytes.count >= Self.headerLength else { throw .truncated }
        self.bytes = bytes
    }

    @inlinable public var nextHeader: IPProtocol { IPProtocol(rawValue: bytes.u8(0)) }
    /// The fragment offset in bytes (the field counts 8-byte units).
    @inlinable public var fragmentOffset: Int { Int(bytes.be16(2) & 0xFFF8) }
    /// The M flag.
    @inlinable public var moreFragments: Bool { bytes.be16(2) & 1 != 0 }
    @inlinable public var identification: UInt32 { bytes.be32(4) }
    @inlinable public var payload: UnsafeRawBufferPointer { bytes.bytes(Self.headerLength, bytes.count) }
}

public struct IPv6FragmentRepr: Equatable, Hashable, Sendable {
    public static let headerLength = IPv6FragmentHeader.headerLength

    public var nextHeader: IPProtocol
    /// In bytes; a multiple of 8, at most 65528.
    public var fragmentOffset: Int
    public var moreFragments: Bool
    public var identification: UInt32

    public init(nextHeader: IPProtocol, fragmentOffset: Int, moreFragments: Bool, identification: UInt32) {
        self.nextHeader = nextHeader
        self.fragmentOffset = fragmentOffset
        self.moreFragments = moreFragments
        self.identification = identification
    }

    public var headerLength: Int { Self.headerLength }
    /// Offset 0 and M clear: an atomic fragment (RFC 6946), which Linux
    /// delivers without reassembly.
    public var isAtomic: Bool { fragmentOffset == 0 && !moreFragments }

    @inlinable
    public static func parse(_ header: IPv6FragmentHeader) -> IPv6FragmentRepr {
        IPv6FragmentRepr(nextHeader: header.nextHeader, fragmentOffset: header.fragmentOffset,
                         moreFragments: header.moreFragments, identification: header.identification)
    }

    public func emit(into out: UnsafeMutableRawBufferPointer) throws(WireError) {
        guard fragmentOffset >= 0, fragmentOffset & 7 == 0, fragmentOffset <= 0xFFF8 else { throw .badField }
        guard out.count >= Self.headerLength else { throw .bufferTooSmall }
        out.setU8(0, nextHeader.rawValue)
        out.setU8(1, 0)
        out.setBE16(2, UInt16(fragmentOffset) | (moreFragments ? 1 : 0))
        out.setBE32(4, identification)
    }
}

// MARK: - The extension-header chain

/// The walk from the fixed header's next-header value to the upper-layer
/// protocol (RFC 8200 §4.1), in the shape of Linux ipv6_skip_exthdr():
///
/// - Hop-by-hop, routing, destination options, fragment and AH headers are
///   followed; any other value (TCP, UDP, ICMPv6, ESP, No Next Header, an
///   unknown number) ends the walk and is reported as `upperLayer`.
/// - A fragment header with a non-zero offset ends the walk too: what follows
///   is the middle of the original payload, so `upperLayer` is the fragment's
///   next-header value and `upperLayerOffset` the start of the fragment data.
/// - Each header must fit in the payload (`.truncated`); hop-by-hop and
///   destination-options TLVs are validated (`.badOption`,
///   `IPv6Options.validate`).
/// - Hop-by-hop anywhere but first is `.badOption`. Linux registers no
///   protocol handler for next header 0, so ip6_protocol_deliver_rcu() treats
///   it as an unknown protocol: Parameter Problem code 1 (unrecognised Next
///   Header) pointing at the next-header field that named it, counted as
///   InUnknownProtos. After a throw, `nextHeaderFieldOffset` is that pointer.
/// - At most `limit` headers are followed (`.unsupported` past it). Linux
///   bounds the walk only by the packet length; the bound here keeps the
///   cost of a hostile chain fixed. RFC 8200 §4.1's order has at most 7.
///
/// Offsets are from the start of the IPv6 header.
public struct IPv6ExtensionHeaders: Equatable, Hashable, Sendable {
    public static let defaultLimit = 8

    /// The protocol after the last extension header.
    public private(set) var upperLayer: IPProtocol = .noNextHeader
    /// Where the upper-layer header (or the fragment data) starts.
    public private(set) var upperLayerOffset: Int = IPv6Packet.headerLength
    /// The offset of the next-header field naming the header being examined:
    /// after a successful walk, the one naming `upperLayer` (Linux's nhoff);
    /// after a throw, the Parameter Problem pointer.
    public private(set) var nextHeaderFieldOffset: Int = 6
    /// The fragment header, if the chain has one.
    public private(set) var fragment: IPv6FragmentRepr?
    public private(set) var fragmentHeaderOffset: Int?
    public private(set) var hasHopByHop = false
    public private(set) var routingHeaderOffset: Int?
    /// Extension headers followed.
    public private(set) var headerCount = 0

    public init() {}

    /// Walks `packet`'s chain, or throws with `nextHeaderFieldOffset` set.
    public static func parse(_ packet: IPv6Packet, limit: Int = defaultLimit) throws(WireError) -> IPv6ExtensionHeaders {
        var chain = IPv6ExtensionHeaders()
        try chain.walk(packet, limit: limit)
        return chain
    }

    /// The upper-layer bytes of `packet` (up to the payload length).
    @inlinable
    public func upperLayerPayload(of packet: IPv6Packet) -> UnsafeRawBufferPointer {
        packet.bytes.bytes(upperLayerOffset, IPv6Packet.headerLength &+ packet.payloadLength)
    }

    public mutating func walk(_ packet: IPv6Packet, limit: Int = defaultLimit) throws(WireError) {
        self = IPv6ExtensionHeaders()
        let end = IPv6Packet.headerLength &+ packet.payloadLength
        var next = packet.nextHeader
        var offset = IPv6Packet.headerLength
        while true {
            let rest = packet.bytes.bytes(offset, end)
            let length: Int
            switch next {
            case .hopByHop, .destinationOptions:
                if next == .hopByHop && offset != IPv6Packet.headerLength { throw .badOption }
                guard headerCount < limit else { throw .unsupported }
                let header = try IPv6OptionsHeader(rest)
                try IPv6Options.validate(header.options, hopByHop: next == .hopByHop)
                if next == .hopByHop { hasHopByHop = true }
                next = header.nextHeader
                length = header.headerLength
            case .routing:
                guard headerCount < limit else { throw .unsupported }
                let header = try IPv6RoutingHeader(rest)
                routingHeaderOffset = offset
                next = header.nextHeader
                length = header.headerLength
            case .fragment:
                guard headerCount < limit else { throw .unsupported }
                let header = try IPv6FragmentHeader(rest)
                let repr = IPv6FragmentRepr.parse(header)
                fragment = repr
                fragmentHeaderOffset = offset
                next = header.nextHeader
                length = IPv6FragmentHeader.headerLength
                if repr.fragmentOffset != 0 {
                    headerCount &+= 1
                    nextHeaderFieldOffset = offset
                    upperLayer = next
                    upperLayerOffset = offset &+ length
                    return
                }
            case .ah:
                // RFC 4302 §2.2: Payload Len counts 4-byte words, minus 2.
                guard headerCount < limit else { throw .unsupported }
                guard rest.count >= 8 else { throw .truncated }
                length = (Int(rest.u8(1)) &+ 2) &* 4
                guard length <= rest.count else { throw .truncated }
                next = IPProtocol(rawValue: rest.u8(0))
            default:
                upperLayer = next
                upperLayerOffset = offset
                return
            }
            headerCount &+= 1
            nextHeaderFieldOffset = offset
            offset &+= length
        }
    }
}
