// VXLAN (RFC 7348 §5): an 8-byte header after UDP (IANA port 4789).
// Kernel counterpart: struct vxlanhdr (include/net/vxlan.h) and vxlan_rcv()
// (drivers/net/vxlan/vxlan_core.c).
//
//     0        1                4                        7        8
//     |R R R R I R R R| reserved (24) |     VNI (24)       |reserved|
//
// RFC 7348 says reserved bits are ignored on receipt; Linux is stricter:
// vxlan_rcv() drops a header without the I flag, and after the extensions a
// device was configured for (GBP, GPE, remote checksum offload) have claimed
// their bits, drops any header with bits left over. This parser follows
// Linux with no extension configured: no I flag → `.badField`; any other bit
// set → `.unsupported` (an extension this Repr does not model). The view
// reads every field regardless, for a caller that does handle extensions.

public struct VXLANHeader {
    public static let length = 8
    /// The IANA-assigned UDP destination port.
    public static let udpPort: UInt16 = 4789
    /// The I flag: the VNI field is valid.
    public static let flagVNI: UInt8 = 0x08
    public let bytes: UnsafeRawBufferPointer

    @inlinable
    public init(_ bytes: UnsafeRawBufferPointer) throws(WireError) {
        guard bytes.count >= Self.length else { throw .truncated }
        self.bytes = bytes
    }

    @inlinable public var flags: UInt8 { bytes.u8(0) }
    @inlinable public var hasVNI: Bool { bytes.u8(0) & Self.flagVNI != 0 }
    /// The 24-bit VXLAN network identifier.
    @inlinable public var vni: UInt32 { bytes.be32(4) >> 8 }
    /// Every bit RFC 7348 reserves (flags other than I, bytes 1–3, byte 7).
    @inlinable public var reservedBitsAreZero: Bool {
        bytes.be32(0) & 0xF7FF_FFFF == 0 && bytes.u8(7) == 0
    }
    /// The inner Ethernet frame.
    @inlinable public var payload: UnsafeRawBufferPointer { bytes.bytes(Self.length, bytes.count) }
}

public struct VXLANRepr: Equatable, Hashable, Sendable {
    /// The 24-bit VXLAN network identifier (0…0xFFFFFF).
    public var vni: UInt32

    public init(vni: UInt32) { self.vni = vni }

    public static let headerLength = VXLANHeader.length
    public var headerLength: Int { Self.headerLength }

    @inlinable
    public static func parse(_ header: VXLANHeader) throws(WireError) -> VXLANRepr {
        guard header.hasVNI else { throw .badField }
        guard header.reservedBitsAreZero else { throw .unsupported }
        return VXLANRepr(vni: header.vni)
    }

    /// Writes the 8-byte header at the start of `out`.
    @inlinable
    public func emit(into out: UnsafeMutableRawBufferPointer) throws(WireError) {
        guard vni <= 0xFF_FFFF else { throw .badField }
        guard out.count >= Self.headerLength else { throw .bufferTooSmall }
        out.setBE32(0, UInt32(VXLANHeader.flagVNI) << 24)
        out.setBE32(4, vni << 8)
    }
}
