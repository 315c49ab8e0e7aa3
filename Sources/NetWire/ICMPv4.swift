// ICMP for IPv4: RFC 792 (messages), RFC 1191 §4 (next-hop MTU in
// "fragmentation needed"), RFC 1812 §4.3.2 (what routers send and quote).
// Kernel counterpart: struct icmphdr (include/uapi/linux/icmp.h); icmp_rcv()
// and the per-type handlers (net/ipv4/icmp.c). icmp_rcv() requires the
// 8-byte header and a checksum over the whole message; the error handlers
// (icmp_unreach()) then require the quoted IPv4 header to be present — a
// check left to the caller here through `quotedPacket` and `IPv4Packet`.
//
//     0      1      2            4                          8
//     | type | code |  checksum  | rest of header (4 bytes) | body …
//
// Echo: rest = identifier, sequence; body = data.
// Errors (unreachable, time exceeded, redirect, parameter problem): body =
// the invoking packet's IPv4 header and at least 8 bytes of its payload
// (Linux quotes as much as fits in 576 bytes, as RFC 1812 §4.3.2.3 asks).
// Body bytes stay in the buffer: a Repr records only their length.

/// ICMPv4 type numbers (IANA "ICMP Type Numbers").
public enum ICMPv4Type {
    public static let echoReply: UInt8 = 0
    public static let destinationUnreachable: UInt8 = 3
    public static let sourceQuench: UInt8 = 4
    public static let redirect: UInt8 = 5
    public static let echoRequest: UInt8 = 8
    public static let timeExceeded: UInt8 = 11
    public static let parameterProblem: UInt8 = 12
    public static let timestampRequest: UInt8 = 13
    public static let timestampReply: UInt8 = 14
}

/// Destination-unreachable codes (RFC 792, RFC 1812 §5.2.7.1).
public enum ICMPv4UnreachableCode {
    public static let network: UInt8 = 0
    public static let host: UInt8 = 1
    public static let `protocol`: UInt8 = 2
    public static let port: UInt8 = 3
    /// "Fragmentation needed and DF set": carries the next-hop MTU (RFC 1191).
    public static let fragmentationNeeded: UInt8 = 4
    public static let sourceRouteFailed: UInt8 = 5
    public static let networkUnknown: UInt8 = 6
    public static let hostUnknown: UInt8 = 7
    public static let networkProhibited: UInt8 = 9
    public static let hostProhibited: UInt8 = 10
    public static let administrativelyProhibited: UInt8 = 13
}

/// Time-exceeded codes.
public enum ICMPv4TimeExceededCode {
    public static let ttlExceededInTransit: UInt8 = 0
    public static let fragmentReassemblyTimeExceeded: UInt8 = 1
}

/// A checked view of an ICMPv4 message (the whole IPv4 payload).
public struct ICMPv4Packet {
    public static let headerLength = 8
    public let bytes: UnsafeRawBufferPointer

    @inlinable
    public init(_ bytes: UnsafeRawBufferPointer) throws(WireError) {
        guard bytes.count >= Self.headerLength else { throw .truncated }
        self.bytes = bytes
    }

    @inlinable public var type: UInt8 { bytes.u8(0) }
    @inlinable public var code: UInt8 { bytes.u8(1) }
    @inlinable public var checksum: UInt16 { bytes.be16(2) }
    /// Bytes 4…7, whatever the type makes of them.
    @inlinable public var restOfHeader: UInt32 { bytes.be32(4) }
    /// Echo / timestamp identifier.
    @inlinable public var identifier: UInt16 { bytes.be16(4) }
    /// Echo / timestamp sequence number.
    @inlinable public var sequenceNumber: UInt16 { bytes.be16(6) }
    /// Redirect gateway.
    @inlinable public var gateway: IPv4Address { IPv4Address(rawValue: bytes.be32(4)) }
    /// Parameter-problem pointer: the octet of the invoking header at fault.
    @inlinable public var pointer: UInt8 { bytes.u8(4) }
    /// "Fragmentation needed" next-hop MTU (RFC 1191; 0 from pre-1191 routers).
    @inlinable public var nextHopMTU: UInt16 { bytes.be16(6) }
    /// Everything after the 8-byte header: echo data, or the quoted packet.
    @inlinable public var body: UnsafeRawBufferPointer { bytes.bytes(Self.headerLength, bytes.count) }

    /// True for the types whose body quotes an invoking packet.
    @inlinable public var isError: Bool {
        switch type {
        case ICMPv4Type.destinationUnreachable, ICMPv4Type.sourceQuench, ICMPv4Type.redirect,
             ICMPv4Type.timeExceeded, ICMPv4Type.parameterProblem: true
        default: false
        }
    }

    /// The quoted invoking packet of an error message (nil for other types).
    /// It is usually cut short, so read it with `IPv4Packet` only after
    /// checking what the caller needs (its header and 8 transport bytes).
    @inlinable public var quotedPacket: UnsafeRawBufferPointer? { isError ? body : nil }

    /// The Internet checksum over the whole message verifies.
    @inlinable
    public var checksumVerifies: Bool {
        var c = InternetChecksum()
        c.add(bytes)
        return c.verifies
    }
}

/// A checked view of the invoking packet an ICMP error quotes: an IPv4
/// header and at least the first 8 bytes of its payload (RFC 792; the ports
/// of TCP/UDP). Unlike `IPv4Packet` it accepts a quote shorter than the
/// quoted total length — that is the normal case (a 1428-byte packet quoted
/// in 548 bytes). Mirrors icmp_unreach()'s pull of the IPv4 header and
/// icmp_socket_deliver()'s pull of ihl·4 + 8 bytes.
public struct ICMPv4QuotedPacket {
    public let bytes: UnsafeRawBufferPointer

    @inlinable
    public init(_ bytes: UnsafeRawBufferPointer) throws(WireError) {
        guard bytes.count >= IPv4Packet.minimumHeaderLength else { throw .truncated }
        let vihl = bytes.u8(0)
        guard vihl >> 4 == 4 else { throw .badVersion }
        let ihl = Int(vihl & 0x0F) &* 4
        guard ihl >= IPv4Packet.minimumHeaderLength else { throw .badHeaderLength }
        guard bytes.count >= ihl &+ 8 else { throw .truncated }
        self.bytes = bytes
    }

    @inlinable public var headerLength: Int { Int(bytes.u8(0) & 0x0F) &* 4 }
    /// The quoted packet's total length as it was sent (more than is quoted).
    @inlinable public var totalLength: Int { Int(bytes.be16(2)) }
    @inlinable public var identification: UInt16 { bytes.be16(4) }
    @inlinable public var ttl: UInt8 { bytes.u8(8) }
    @inlinable public var `protocol`: IPProtocol { IPProtocol(rawValue: bytes.u8(9)) }
    @inlinable public var source: IPv4Address { IPv4Address(rawValue: bytes.be32(12)) }
    @inlinable public var destination: IPv4Address { IPv4Address(rawValue: bytes.be32(16)) }
    @inlinable public var header: UnsafeRawBufferPointer { bytes.bytes(0, headerLength) }
    /// The quoted payload bytes (at least 8; TCP/UDP ports are the first 4).
    @inlinable public var payload: UnsafeRawBufferPointer { bytes.bytes(headerLength, bytes.count) }
    @inlinable public var sourcePort: UInt16 { bytes.be16(headerLength) }
    @inlinable public var destinationPort: UInt16 { bytes.be16(headerLength &+ 2) }
}

/// An ICMPv4 message. Bodies (echo data, quoted packets) stay in the buffer;
/// the Repr records their length, and `emit` checksums the body it finds
/// after the header in `out`.
public enum ICMPv4Repr: Equatable, Hashable, Sendable {
    case echoRequest(identifier: UInt16, sequenceNumber: UInt16, dataLength: Int)
    case echoReply(identifier: UInt16, sequenceNumber: UInt16, dataLength: Int)
    /// `nextHopMTU` is RFC 1191's field, meaningful for code 4
    /// (`ICMPv4UnreachableCode.fragmentationNeeded`); for other codes those
    /// bytes are unused and normally 0, kept so that they round-trip.
    case destinationUnreachable(code: UInt8, nextHopMTU: UInt16, quotedLength: Int)
    case timeExceeded(code: UInt8, quotedLength: Int)
    case redirect(code: UInt8, gateway: IPv4Address, quotedLength: Int)
    case parameterProblem(code: UInt8, pointer: UInt8, quotedLength: Int)
    /// Any other type/code (timestamp, source quench, an unused field that
    /// is not zero, …), kept byte-exact: the 4 header bytes after the
    /// checksum and the body length.
    case other(type: UInt8, code: UInt8, restOfHeader: UInt32, bodyLength: Int)

    public static let headerLength = ICMPv4Packet.headerLength

    /// The bytes after the 8-byte header.
    @inlinable
    public var bodyLength: Int {
        switch self {
        case let .echoRequest(_, _, n), let .echoReply(_, _, n): n
        case let .destinationUnreachable(_, _, n), let .timeExceeded(_, n),
             let .redirect(_, _, n), let .parameterProblem(_, _, n): n
        case let .other(_, _, _, n): n
        }
    }

    /// Header plus body.
    @inlinable public var messageLength: Int { Self.headerLength &+ bodyLength }

    /// Parses a checked view; `verifyChecksum` mirrors icmp_rcv() (a capture
    /// or a quoted ICMP message may skip it). Types whose unused header bytes
    /// are not zero become `.other` so that they still round-trip.
    public static func parse(_ packet: ICMPv4Packet, verifyChecksum: Bool = true) throws(WireError) -> ICMPv4Repr {
        if verifyChecksum && !packet.checksumVerifies { throw .badChecksum }
        let n = packet.bytes.count &- ICMPv4Packet.headerLength
        let rest = packet.restOfHeader
        let type = packet.type, code = packet.code
        switch type {
        case ICMPv4Type.echoRequest where code == 0:
            return .echoRequest(identifier: packet.identifier, sequenceNumber: packet.sequenceNumber, dataLength: n)
        case ICMPv4Type.echoReply where code == 0:
            return .echoReply(identifier: packet.identifier, sequenceNumber: packet.sequenceNumber, dataLength: n)
        case ICMPv4Type.destinationUnreachable where rest >> 16 == 0:
            return .destinationUnreachable(code: code, nextHopMTU: packet.nextHopMTU, quotedLength: n)
        case ICMPv4Type.timeExceeded where rest == 0:
            return .timeExceeded(code: code, quotedLength: n)
        case ICMPv4Type.redirect:
            return .redirect(code: code, gateway: packet.gateway, quotedLength: n)
        case ICMPv4Type.parameterProblem where rest & 0x00FF_FFFF == 0:
            return .parameterProblem(code: code, pointer: packet.pointer, quotedLength: n)
        default:
            return .other(type: type, code: code, restOfHeader: rest, bodyLength: n)
        }
    }

    /// Writes the 8-byte header at the start of `out` and the checksum over
    /// it and the `bodyLength` bytes that must already follow it in `out`.
    public func emit(into out: UnsafeMutableRawBufferPointer) throws(WireError) {
        let type: UInt8, code: UInt8, rest: UInt32
        switch self {
        case let .echoRequest(id, seq, _):
            (type, code, rest) = (ICMPv4Type.echoRequest, 0, UInt32(id) << 16 | UInt32(seq))
        case let .echoReply(id, seq, _):
            (type, code, rest) = (ICMPv4Type.echoReply, 0, UInt32(id) << 16 | UInt32(seq))
        case let .destinationUnreachable(c, mtu, _):
            (type, code, rest) = (ICMPv4Type.destinationUnreachable, c, UInt32(mtu))
        case let .timeExceeded(c, _):
            (type, code, rest) = (ICMPv4Type.timeExceeded, c, 0)
        case let .redirect(c, gateway, _):
            (type, code, rest) = (ICMPv4Type.redirect, c, gateway.rawValue)
        case let .parameterProblem(c, pointer, _):
            (type, code, rest) = (ICMPv4Type.parameterProblem, c, UInt32(pointer) << 24)
        case let .other(t, c, r, _):
            (type, code, rest) = (t, c, r)
        }
        let length = messageLength
        guard bodyLength >= 0, length <= 0xFFFF else { throw .badField }
        guard out.count >= length else { throw .bufferTooSmall }
        out.setU8(0, type)
        out.setU8(1, code)
        out.setBE16(2, 0)
        out.setBE32(4, rest)
        var c = InternetChecksum()
        c.add(UnsafeRawBufferPointer(out.bytes(0, length)))
        out.setBE16(2, c.value)
    }
}
