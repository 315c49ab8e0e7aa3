// ARP (RFC 826) for Ethernet hardware and IPv4 protocol addresses — the only
// pairing Linux's IPv4 neighbour code resolves.
// Kernel counterpart: struct arphdr (include/uapi/linux/if_arp.h); the checks
// of arp_rcv() and arp_process() (net/ipv4/arp.c). arp_rcv() drops a header
// whose hardware length differs from the device's or whose protocol length is
// not 4; arp_process() then only handles hardware type Ethernet, protocol
// 0x0800, and operations request/reply. Here the first two are `.badField`,
// a foreign hardware or protocol type is `.unsupported`, and the operation is
// kept raw (an unknown opcode is a valid packet this view still reads; the
// neighbour code decides to ignore it, as arp_process() does).
//
// Wire layout (28 bytes; an Ethernet frame pads it to 46 — the padding is not
// part of the packet):
//
//     0      2      4    5    6      8          14      18         24      28
//     | htype| ptype|hlen|plen|  op  | sender MAC |sender IP| target MAC |target IP|

/// The ARP operation code (IANA "ARP Operation Codes"). A struct so that any
/// value round-trips.
public struct ARPOperation: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt16
    @inlinable @inline(__always) public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let request = ARPOperation(rawValue: 1)
    public static let reply = ARPOperation(rawValue: 2)

    public var description: String {
        switch self {
        case .request: "request"
        case .reply: "reply"
        default: "op \(rawValue)"
        }
    }
}

/// A checked view of an Ethernet/IPv4 ARP packet.
public struct ARPPacket {
    /// The length of an Ethernet/IPv4 ARP packet.
    public static let length = 28
    /// ARPHRD_ETHER.
    public static let hardwareTypeEthernet: UInt16 = 1
    public let bytes: UnsafeRawBufferPointer

    @inlinable
    public init(_ bytes: UnsafeRawBufferPointer) throws(WireError) {
        guard bytes.count >= 8 else { throw .truncated }
        guard bytes.be16(0) == Self.hardwareTypeEthernet, bytes.be16(2) == EtherType.ipv4.rawValue else {
            throw .unsupported
        }
        guard bytes.u8(4) == 6, bytes.u8(5) == 4 else { throw .badField }
        guard bytes.count >= Self.length else { throw .truncated }
        self.bytes = bytes
    }

    @inlinable public var hardwareType: UInt16 { bytes.be16(0) }
    @inlinable public var protocolType: EtherType { EtherType(rawValue: bytes.be16(2)) }
    @inlinable public var hardwareLength: Int { Int(bytes.u8(4)) }
    @inlinable public var protocolLength: Int { Int(bytes.u8(5)) }
    @inlinable public var operation: ARPOperation { ARPOperation(rawValue: bytes.be16(6)) }
    @inlinable public var senderHardwareAddress: MACAddress { MACAddress(reading: bytes, at: 8) }
    @inlinable public var senderProtocolAddress: IPv4Address { IPv4Address(rawValue: bytes.be32(14)) }
    @inlinable public var targetHardwareAddress: MACAddress { MACAddress(reading: bytes, at: 18) }
    @inlinable public var targetProtocolAddress: IPv4Address { IPv4Address(rawValue: bytes.be32(24)) }
}

public struct ARPRepr: Equatable, Hashable, Sendable {
    public var operation: ARPOperation
    public var senderHardwareAddress: MACAddress
    public var senderProtocolAddress: IPv4Address
    public var targetHardwareAddress: MACAddress
    public var targetProtocolAddress: IPv4Address

    public init(operation: ARPOperation, senderHardwareAddress: MACAddress, senderProtocolAddress: IPv4Address,
                targetHardwareAddress: MACAddress, targetProtocolAddress: IPv4Address) {
        self.operation = operation
        self.senderHardwareAddress = senderHardwareAddress
        self.senderProtocolAddress = senderProtocolAddress
        self.targetHardwareAddress = targetHardwareAddress
        self.targetProtocolAddress = targetProtocolAddress
    }

    public static let headerLength = ARPPacket.length
    public var headerLength: Int { Self.headerLength }

    @inlinable
    public static func parse(_ packet: ARPPacket) -> ARPRepr {
        ARPRepr(operation: packet.operation,
                senderHardwareAddress: packet.senderHardwareAddress, senderProtocolAddress: packet.senderProtocolAddress,
                targetHardwareAddress: packet.targetHardwareAddress, targetProtocolAddress: packet.targetProtocolAddress)
    }

    /// Writes the 28-byte packet at the start of `out`.
    @inlinable
    public func emit(into out: UnsafeMutableRawBufferPointer) throws(WireError) {
        guard out.count >= Self.headerLength else { throw .bufferTooSmall }
        out.setBE16(0, ARPPacket.hardwareTypeEthernet)
        out.setBE16(2, EtherType.ipv4.rawValue)
        out.setU8(4, 6)
        out.setU8(5, 4)
        out.setBE16(6, operation.rawValue)
        senderHardwareAddress.write(into: out, at: 8)
        out.setBE32(14, senderProtocolAddress.rawValue)
        targetHardwareAddress.write(into: out, at: 18)
        out.setBE32(24, targetProtocolAddress.rawValue)
    }
}
