// UDP (RFC 768), checksum over the IPv4 (RFC 768) or IPv6 (RFC 8200 §8.1)
// pseudo-header.
// Kernel counterpart: struct udphdr (include/uapi/linux/udp.h); the checks of
// __udp4_lib_rcv() / __udp6_lib_rcv() (net/ipv4/udp.c, net/ipv6/udp.c):
// a length field below 8 or above the bytes present is a short packet; bytes
// past the length field are trimmed (here: excluded from `payload`).
//
// Checksum zero: over IPv4 it means "no checksum" (RFC 768) and a sender
// whose computed checksum is 0 sends 0xFFFF instead. Over IPv6 a zero
// checksum is invalid (RFC 8200 §8.1; Linux drops it unless the socket set
// UDP_NO_CHECK6_RX, RFC 6935/6936 tunnels) — `checksumVerifies` returns false
// for it and `hasChecksum` lets such a socket tell the cases apart.

public struct UDPDatagram {
    public static let headerLength = 8
    public let bytes: UnsafeRawBufferPointer

    /// `bytes` is the IP payload (IPv4 total length or IPv6 payload length
    /// already applied); the UDP length field must fit in it.
    @inlinable
    public init(_ bytes: UnsafeRawBufferPointer) throws(WireError) {
        guard bytes.count >= Self.headerLength else { throw .truncated }
        let length = Int(bytes.be16(4))
        guard length >= Self.headerLength else { throw .badLength }
        guard length <= bytes.count else { throw .truncated }
        self.bytes = bytes
    }

    @inlinable public var sourcePort: UInt16 { bytes.be16(0) }
    @inlinable public var destinationPort: UInt16 { bytes.be16(2) }
    /// The length field: header plus payload.
    @inlinable public var length: Int { Int(bytes.be16(4)) }
    @inlinable public var checksum: UInt16 { bytes.be16(6) }
    /// False when the checksum field is 0 (meaningful over IPv4 only).
    @inlinable public var hasChecksum: Bool { bytes.be16(6) != 0 }
    /// The datagram as the length field delimits it.
    @inlinable public var datagram: UnsafeRawBufferPointer { bytes.bytes(0, length) }
    @inlinable public var payload: UnsafeRawBufferPointer { bytes.bytes(Self.headerLength, length) }

    /// True when the checksum verifies against `pseudoHeader`; over IPv4 a
    /// zero field (no checksum) verifies, over IPv6 it does not.
    @inlinable
    public func checksumVerifies(_ pseudoHeader: PseudoHeader) -> Bool {
        if !hasChecksum {
            if case .ipv4 = pseudoHeader { return true }
            return false
        }
        var c = pseudoHeader.seed(protocol: IPProtocol.udp.rawValue, length: length)
        c.add(datagram)
        return c.verifies
    }
}

public struct UDPRepr: Equatable, Hashable, Sendable {
    public var sourcePort: UInt16
    public var destinationPort: UInt16
    public var payloadLength: Int

    public init(sourcePort: UInt16, destinationPort: UInt16, payloadLength: Int) {
        self.sourcePort = sourcePort
        self.destinationPort = destinationPort
        self.payloadLength = payloadLength
    }

    public static let headerLength = UDPDatagram.headerLength
    public var headerLength: Int { Self.headerLength }

    /// Parses a checked view; with a pseudo-header the checksum is verified
    /// (`.badChecksum`), with nil it is not (a forwarding or capture path).
    @inlinable
    public static func parse(_ datagram: UDPDatagram, pseudoHeader: PseudoHeader?) throws(WireError) -> UDPRepr {
        if let pseudoHeader, !datagram.checksumVerifies(pseudoHeader) { throw .badChecksum }
        return UDPRepr(sourcePort: datagram.sourcePort, destinationPort: datagram.destinationPort,
                       payloadLength: datagram.length &- UDPDatagram.headerLength)
    }

    /// Writes the header at the start of `out`. With a pseudo-header the
    /// checksum is computed over the header and the `payloadLength` bytes
    /// that must already follow it in `out`; a computed 0 is sent as 0xFFFF.
    /// With nil the checksum field is 0 ("none": valid over IPv4 only).
    @inlinable
    public func emit(into out: UnsafeMutableRawBufferPointer, pseudoHeader: PseudoHeader?) throws(WireError) {
        let length = Self.headerLength &+ payloadLength
        guard payloadLength >= 0, length <= 0xFFFF else { throw .badField }
        guard out.count >= (pseudoHeader == nil ? Self.headerLength : length) else { throw .bufferTooSmall }
        out.setBE16(0, sourcePort)
        out.setBE16(2, destinationPort)
        out.setBE16(4, UInt16(truncatingIfNeeded: length))
        out.setBE16(6, 0)
        guard let pseudoHeader else { return }
        var c = pseudoHeader.seed(protocol: IPProtocol.udp.rawValue, length: length)
        c.add(UnsafeRawBufferPointer(out.bytes(0, length)))
        let sum = c.value
        out.setBE16(6, sum == 0 ? 0xFFFF : sum)
    }
}
