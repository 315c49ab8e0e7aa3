// TEMPORARY seams, replaced as Route/, Neighbour/, Sched/ and the fragment
// code land: a connected-routes-only lookup, broadcast-MAC neighbour
// output, no ARP, no IPv6, no fragments.
import NetWire

extension NetworkNamespace {
    func ipv6Receive(_ packet: consuming PacketBuffer, on dev: NetDevice) { drop(packet, .ipv6disabled) }

    func ipv6SendLocal(_ payload: consuming PacketBuffer, source: IPv6Address?, destination: IPv6Address,
                       proto: IPProtocol, hopLimit: UInt8? = nil, boundDevice: Int32 = 0,
                       icmpChecksum: Bool = false) -> Errno? {
        drop(payload, .ipv6disabled)
        return .ENETUNREACH
    }

    func ipv4Reassemble(_ packet: consuming PacketBuffer, header: IPv4Header) -> PacketBuffer? {
        drop(packet, .fragReasmTimeout)
        return nil
    }

    func ipv4Fragment(_ packet: consuming PacketBuffer, mtu: Int, device: NetDevice, nextHop: IPAddress) {
        count(.ipFragFails)
        drop(packet, .pktTooBig)
    }

    /// The qdisc watchdogs: netem releases delayed packets when they are due.
    func runQdiscs(now: Instant) -> Bool {
        var progress = false
        for d in devices where !d.qdisc.bypassesQueue && d.qdisc.count > 0 {
            if let due = d.qdisc.nextDeadline, due <= now {
                qdiscRun(d)
                progress = true
            }
        }
        return progress
    }

    func ndpTransmit(_ message: NDPOutput) {}

    func nextDeadline(now: Instant) -> Instant? {
        var best: Instant? = neighbourDeadline()
        for d in devices where !d.qdisc.bypassesQueue && d.qdisc.count > 0 {
            if let t = d.qdisc.nextDeadline, best.map({ t < $0 }) ?? true { best = t }
        }
        return best
    }
    func shutdown() {
        udpSockets.removeAll()
        pingSockets.removeAll()
    }
}
