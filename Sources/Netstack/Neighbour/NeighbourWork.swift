// NeighbourWork: a NeighbourSink that records everything it is handed, for
// tests, the lab's tracing and callers that prefer to act after the call.
// Packets are kept in a PacketBatch-like ring grown on demand.
import NetWire

public struct NeighbourWork: NeighbourSink, ~Copyable {
    /// What happened to one packet, in order.
    public enum PacketOutcome: Hashable, Sendable {
        case transmit(device: Int32, destination: MACAddress)
        case unreachable(device: Int32, reason: DropReason)
        case drop(DropReason)
    }

    public var solicitations: [NeighbourSolicitation] = []
    public var arp: [(ARPRepr, device: Int32, destination: MACAddress)] = []
    public var ndp: [NDPOutput] = []
    public var outcomes: [PacketOutcome] = []
    /// The packets, in the order of `outcomes`.
    public var packets: PacketBatch

    public init(capacity: Int = 256) { packets = PacketBatch(capacity: capacity) }

    public mutating func solicit(_ solicitation: NeighbourSolicitation) { solicitations.append(solicitation) }

    public mutating func transmit(_ packet: consuming PacketBuffer, device: Int32, destination: MACAddress) {
        outcomes.append(.transmit(device: device, destination: destination))
        keep(packet)
    }

    public mutating func unreachable(_ packet: consuming PacketBuffer, device: Int32, reason: DropReason) {
        outcomes.append(.unreachable(device: device, reason: reason))
        keep(packet)
    }

    public mutating func drop(_ packet: consuming PacketBuffer, reason: DropReason) {
        outcomes.append(.drop(reason))
        keep(packet)
    }

    public mutating func transmitARP(_ arp: ARPRepr, device: Int32, destination: MACAddress) {
        self.arp.append((arp, device, destination))
    }

    public mutating func transmitNDP(_ message: NDPOutput) { ndp.append(message) }

    mutating func keep(_ packet: consuming PacketBuffer) {
        if let p = packets.append(packet) { _ = consume p }
    }

    /// Empties the record (packets return to their pool).
    public mutating func clear() {
        solicitations.removeAll()
        arp.removeAll()
        ndp.removeAll()
        outcomes.removeAll()
        packets.removeAll()
    }
}
