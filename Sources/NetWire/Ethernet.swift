// Ethernet II (IEEE 802.3 clause 3.2.6 type field) and IEEE 802.1Q / 802.1ad
// VLAN tags. Kernel counterpart: struct ethhdr, struct vlan_hdr
// (include/uapi/linux/if_ether.h, include/linux/if_vlan.h), eth_type_trans().
//
// Frames carry no FCS here: like a Linux netdev, the device strips it.

/// The EtherType field. A struct rather than an enum: unknown values are
/// valid frames and must round-trip.
public struct EtherType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt16
    @inlinable @inline(__always) public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let ipv4 = EtherType(rawValue: 0x0800)
    public static let arp = EtherType(rawValue: 0x0806)
    public static let vlan = EtherType(rawValue: 0x8100)     // 802.1Q C-tag
    public static let ipv6 = EtherType(rawValue: 0x86DD)
    public static let qinq = EtherType(rawValue: 0x88A8)     // 802.1ad S-tag
    public static let lldp = EtherType(rawValue: 0x88CC)

    /// Values below 0x0600 are 802.3 lengths, not types.
    public var isLength: Bool { rawValue < 0x0600 }
    public var isVLANTag: Bool { self == .vlan || self == .qinq }

    public var description: String {
        switch self {
        case .ipv4: "IPv4"
        case .arp: "ARP"
        case .vlan: "802.1Q"
        case .ipv6: "IPv6"
        case .qinq: "802.1Q-QinQ"
        case .lldp: "LLDP"
        default: "0x" + String(rawValue, radix: 16, uppercase: false).leftPadded(4)
        }
    }
}

/// A checked view of an Ethernet II header (14 bytes) and what follows it.
public struct EthernetFrame {
    public static let headerLength = 14
    public let bytes: UnsafeRawBufferPointer

    @inlinable
    public init(_ bytes: UnsafeRawBufferPointer) throws(WireError) {
        guard bytes.count >= Self.headerLength else { throw .truncated }
        self.bytes = bytes
    }

    public var destination: MACAddress { MACAddress(reading: bytes, at: 0) }
    public var source: MACAddress { MACAddress(reading: bytes, at: 6) }
    @inlinable public var etherType: EtherType { EtherType(rawValue: bytes.be16(12)) }
    @inlinable public var payload: UnsafeRawBufferPointer { bytes.bytes(Self.headerLength, bytes.count) }
}

public struct EthernetRepr: Equatable, Hashable, Sendable {
    public var destination: MACAddress
    public var source: MACAddress
    public var etherType: EtherType

    public static let headerLength = EthernetFrame.headerLength
    public var headerLength: Int { Self.headerLength }

    public init(destination: MACAddress, source: MACAddress, etherType: EtherType) {
        self.destination = destination
        self.source = source
        self.etherType = etherType
    }

    @inlinable
    public static func parse(_ frame: EthernetFrame) -> EthernetRepr {
        EthernetRepr(destination: frame.destination, source: frame.source, etherType: frame.etherType)
    }

    /// Writes the 14-byte header at the start of `out`.
    @inlinable
    public func emit(into out: UnsafeMutableRawBufferPointer) throws(WireError) {
        guard out.count >= Self.headerLength else { throw .bufferTooSmall }
        destination.write(into: out, at: 0)
        source.write(into: out, at: 6)
        out.setBE16(12, etherType.rawValue)
    }
}

/// A checked view of one 802.1Q/802.1ad tag *after* its TPID: the 2-byte
/// TCI and the 2-byte EtherType of what follows (struct vlan_hdr).
public struct VLANTag {
    public static let headerLength = 4
    public let bytes: UnsafeRawBufferPointer

    @inlinable
    public init(_ bytes: UnsafeRawBufferPointer) throws(WireError) {
        guard bytes.count >= Self.headerLength else { throw .truncated }
        self.bytes = bytes
    }

    /// Priority code point (802.1p), 0…7.
    public var priority: UInt8 { UInt8(truncatingIfNeeded: bytes.be16(0) >> 13) }
    /// Drop eligible indicator (formerly CFI).
    public var dropEligible: Bool { bytes.be16(0) & 0x1000 != 0 }
    /// VLAN identifier, 0…4095 (0: priority tag only; 4095 reserved).
    public var vlanID: UInt16 { bytes.be16(0) & 0x0FFF }
    public var innerEtherType: EtherType { EtherType(rawValue: bytes.be16(2)) }
    public var payload: UnsafeRawBufferPointer { bytes.bytes(Self.headerLength, bytes.count) }
}

public struct VLANRepr: Equatable, Hashable, Sendable {
    public var priority: UInt8
    public var dropEligible: Bool
    public var vlanID: UInt16
    public var innerEtherType: EtherType

    public static let headerLength = VLANTag.headerLength

    public init(priority: UInt8 = 0, dropEligible: Bool = false, vlanID: UInt16, innerEtherType: EtherType) {
        self.priority = priority
        self.dropEligible = dropEligible
        self.vlanID = vlanID
        self.innerEtherType = innerEtherType
    }

    public static func parse(_ tag: VLANTag) -> VLANRepr {
        VLANRepr(priority: tag.priority, dropEligible: tag.dropEligible, vlanID: tag.vlanID,
                 innerEtherType: tag.innerEtherType)
    }

    /// Writes TCI + inner EtherType. Fails on a PCP > 7 or a VID > 4095.
    public func emit(into out: UnsafeMutableRawBufferPointer) throws(WireError) {
        guard priority <= 7, vlanID <= 0x0FFF else { throw .badField }
        guard out.count >= Self.headerLength else { throw .bufferTooSmall }
        out.setBE16(0, UInt16(priority) << 13 | (dropEligible ? 0x1000 : 0) | vlanID)
        out.setBE16(2, innerEtherType.rawValue)
    }
}

extension String {
    func leftPadded(_ width: Int, with pad: Character = "0") -> String {
        count >= width ? self : String(repeating: pad, count: width - count) + self
    }
}
