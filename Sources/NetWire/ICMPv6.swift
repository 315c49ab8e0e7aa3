// ICMPv6 (RFC 4443): the message header (§2.1), the checksum over the IPv6
// pseudo-header (§2.3, RFC 8200 §8.1), echo (§4) and the error messages (§3).
// Neighbor Discovery messages (RFC 4861) are in NDP.swift.
//
// Kernel counterpart: struct icmp6hdr (include/uapi/linux/icmpv6.h) and
// icmpv6_rcv() (net/ipv6/icmp.c): it verifies the checksum over the whole
// message first ("ICMPv6 checksum failed", Icmp6InCsumErrors), then needs the
// 8-byte struct icmp6hdr, then dispatches on the type. `ICMPv6Packet` needs
// the same 8 bytes; `ICMPv6Repr.parse` verifies the checksum before anything
// else, in the same order.
//
// Payloads stay in the buffer: an echo Repr records the data length, an error
// Repr the length of the invoking packet; both start at offset 8. On emit the
// caller has already placed them there, and the checksum covers them.

/// ICMPv6 type numbers (IANA "ICMPv6 Parameters").
public enum ICMPv6Type {
    public static let destinationUnreachable: UInt8 = 1
    public static let packetTooBig: UInt8 = 2
    public static let timeExceeded: UInt8 = 3
    public static let parameterProblem: UInt8 = 4
    public static let echoRequest: UInt8 = 128
    public static let echoReply: UInt8 = 129
    public static let routerSolicitation: UInt8 = 133
    public static let routerAdvertisement: UInt8 = 134
    public static let neighborSolicitation: UInt8 = 135
    public static let neighborAdvertisement: UInt8 = 136
    public static let redirect: UInt8 = 137

    /// RFC 4443 §2.1: types 0–127 are errors, 128–255 informational. An
    /// unknown error must reach the upper layer (§2.4 (b)); an unknown
    /// informational message is silently discarded (§2.4 (a)).
    @inlinable public static func isError(_ type: UInt8) -> Bool { type < 128 }
}

/// Codes of the error messages (RFC 4443 §3, RFC 7112 for code 3 of
/// Parameter Problem). Codes are kept as numbers in the Repr: unknown ones
/// are valid messages.
public enum ICMPv6Code {
    // Destination Unreachable
    public static let noRoute: UInt8 = 0
    public static let administrativelyProhibited: UInt8 = 1
    public static let beyondScope: UInt8 = 2
    public static let addressUnreachable: UInt8 = 3
    public static let portUnreachable: UInt8 = 4
    public static let sourcePolicyFailed: UInt8 = 5
    public static let rejectRoute: UInt8 = 6
    // Time Exceeded
    public static let hopLimitExceeded: UInt8 = 0
    public static let reassemblyTimeExceeded: UInt8 = 1
    // Parameter Problem
    public static let erroneousHeaderField: UInt8 = 0
    public static let unrecognizedNextHeader: UInt8 = 1
    public static let unrecognizedOption: UInt8 = 2
    public static let incompleteHeaderChain: UInt8 = 3
}

/// A checked view of an ICMPv6 message (the upper-layer bytes of an IPv6
/// packet): at least the 8 bytes of Linux's struct icmp6hdr.
public struct ICMPv6Packet {
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
    /// The 4 bytes after the checksum (identifier/sequence, MTU, pointer…).
    @inlinable public var headerData: UInt32 { bytes.be32(4) }
    /// Everything after type, code and checksum.
    @inlinable public var body: UnsafeRawBufferPointer { bytes.bytes(4, bytes.count) }
    /// Echo data or the invoking packet of an error: everything after byte 8.
    @inlinable public var payload: UnsafeRawBufferPointer { bytes.bytes(8, bytes.count) }

    /// The checksum over the pseudo-header (next header 58, the message
    /// length) and the whole message verifies.
    @inlinable
    public func checksumVerifies(_ pseudoHeader: PseudoHeader) -> Bool {
        var c = pseudoHeader.seed(protocol: IPProtocol.icmpv6.rawValue, length: bytes.count)
        c.add(bytes)
        return c.verifies
    }
}

public enum ICMPv6Repr: Equatable, Hashable, Sendable {
    /// The code is not kept: Linux answers echo requests whatever the code
    /// (icmpv6_echo_reply()), and emit writes 0.
    case echoRequest(identifier: UInt16, sequence: UInt16, dataLength: Int)
    case echoReply(identifier: UInt16, sequence: UInt16, dataLength: Int)
    /// `invokingLength`: bytes of the invoking packet after the 8-byte header.
    case destinationUnreachable(code: UInt8, invokingLength: Int)
    /// The code is not kept (RFC 4443 §3.2: sender sets 0, receiver ignores).
    case packetTooBig(mtu: UInt32, invokingLength: Int)
    case timeExceeded(code: UInt8, invokingLength: Int)
    case parameterProblem(code: UInt8, pointer: UInt32, invokingLength: Int)
    /// Neighbor Discovery (RFC 4861), see NDP.swift.
    case ndp(NDPRepr)
    /// A type this library does not parse (e.g. MLD, or unknown): the 4 bytes
    /// after the checksum and the rest stay in the buffer (`bodyLength` bytes
    /// from offset 4).
    case other(type: UInt8, code: UInt8, bodyLength: Int)

    public var type: UInt8 {
        switch self {
        case .echoRequest: ICMPv6Type.echoRequest
        case .echoReply: ICMPv6Type.echoReply
        case .destinationUnreachable: ICMPv6Type.destinationUnreachable
        case .packetTooBig: ICMPv6Type.packetTooBig
        case .timeExceeded: ICMPv6Type.timeExceeded
        case .parameterProblem: ICMPv6Type.parameterProblem
        case .ndp(let n): n.type
        case .other(let type, _, _): type
        }
    }

    /// The whole message: header, body, options and the payload that stays
    /// in the buffer. The checksum covers exactly these bytes.
    public var bufferLength: Int {
        switch self {
        case .echoRequest(_, _, let n), .echoReply(_, _, let n): 8 &+ n
        case .destinationUnreachable(_, let n), .packetTooBig(_, let n), .timeExceeded(_, let n),
             .parameterProblem(_, _, let n): 8 &+ n
        case .ndp(let n): n.bufferLength
        case .other(_, _, let n): 4 &+ n
        }
    }

    /// Parses a checked view. The checksum is verified first (as icmpv6_rcv()
    /// does) unless `verifyChecksum` is false, e.g. for a message quoted
    /// inside another or a capture.
    public static func parse(_ packet: ICMPv6Packet, pseudoHeader: PseudoHeader,
                             verifyChecksum: Bool = true) throws(WireError) -> ICMPv6Repr {
        if verifyChecksum && !packet.checksumVerifies(pseudoHeader) { throw .badChecksum }
        let rest = packet.bytes.count &- 8
        let data = packet.headerData
        switch packet.type {
        case ICMPv6Type.echoRequest:
            return .echoRequest(identifier: UInt16(truncatingIfNeeded: data >> 16),
                                sequence: UInt16(truncatingIfNeeded: data), dataLength: rest)
        case ICMPv6Type.echoReply:
            return .echoReply(identifier: UInt16(truncatingIfNeeded: data >> 16),
                              sequence: UInt16(truncatingIfNeeded: data), dataLength: rest)
        case ICMPv6Type.destinationUnreachable:
            return .destinationUnreachable(code: packet.code, invokingLength: rest)
        case ICMPv6Type.packetTooBig:
            return .packetTooBig(mtu: data, invokingLength: rest)
        case ICMPv6Type.timeExceeded:
            return .timeExceeded(code: packet.code, invokingLength: rest)
        case ICMPv6Type.parameterProblem:
            return .parameterProblem(code: packet.code, pointer: data, invokingLength: rest)
        case ICMPv6Type.routerSolicitation, ICMPv6Type.routerAdvertisement, ICMPv6Type.neighborSolicitation,
             ICMPv6Type.neighborAdvertisement, ICMPv6Type.redirect:
            return .ndp(try NDPRepr.parse(packet))
        default:
            return .other(type: packet.type, code: packet.code, bodyLength: packet.bytes.count &- 4)
        }
    }

    /// Writes the message header (and for NDP the fixed fields and options)
    /// at the start of `out`, then the checksum over the pseudo-header and
    /// `out[0..<bufferLength]`: the echo data or invoking packet must already
    /// be in place at offset 8.
    public func emit(into out: UnsafeMutableRawBufferPointer, pseudoHeader: PseudoHeader) throws(WireError) {
        let length = bufferLength
        guard length >= 8, length <= 0xFFFF else { throw .badField }
        guard out.count >= length else { throw .bufferTooSmall }
        switch self {
        case let .echoRequest(id, seq, _), let .echoReply(id, seq, _):
            out.setU8(0, type)
            out.setU8(1, 0)
            out.setBE16(4, id)
            out.setBE16(6, seq)
        case let .destinationUnreachable(code, _), let .timeExceeded(code, _):
            out.setU8(0, type)
            out.setU8(1, code)
            out.setBE32(4, 0)
        case let .packetTooBig(mtu, _):
            out.setU8(0, type)
            out.setU8(1, 0)
            out.setBE32(4, mtu)
        case let .parameterProblem(code, pointer, _):
            out.setU8(0, type)
            out.setU8(1, code)
            out.setBE32(4, pointer)
        case .ndp(let n):
            try n.emit(into: out)
        case let .other(type, code, _):
            out.setU8(0, type)
            out.setU8(1, code)
        }
        out.setBE16(2, 0)
        var c = pseudoHeader.seed(protocol: IPProtocol.icmpv6.rawValue, length: length)
        c.add(UnsafeRawBufferPointer(out.bytes(0, length)))
        out.setBE16(2, c.value)
    }
}
