// The namespace's deferred work and its joins to the IP layers:
// reassembly and fragmentation (ip_defrag, ip_fragment), the qdisc
// watchdogs, the namespace's next deadline, and shutdown.
//
// IPv6 receive and output are still stubs here: IPv6 packets are dropped
// with `ipv6disabled` (counted) until the IPv6 datapath lands.
import NetWire

extension NetworkNamespace {
    func ipv6Receive(_ packet: consuming PacketBuffer, on dev: NetDevice) { drop(packet, .ipv6disabled) }

    func ipv6SendLocal(_ payload: consuming PacketBuffer, source: IPv6Address?, destination: IPv6Address,
                       proto: IPProtocol, hopLimit: UInt8? = nil, boundDevice: Int32 = 0,
                       icmpChecksum: Bool = false) -> Errno? {
        drop(payload, .ipv6disabled)
        return .ENETUNREACH
    }

    /// ip_defrag(): queue the fragment; the whole datagram when complete.
    func ipv4Reassemble(_ packet: consuming PacketBuffer, header: IPv4Header) -> PacketBuffer? {
        switch ipv4Fragments.insert(packet, now: stack.now, shard: stack.shard) {
        case .incomplete:
            return nil
        case .complete(let whole):
            return whole
        case .dropped(let p, let reason):
            drop(p, reason)
            return nil
        case .parameterProblem(let p, _, _, let reason):
            drop(p, reason)
            return nil
        }
    }

    /// ip_fragment(): cut to the MTU and send each piece to the neighbour.
    func ipv4Fragment(_ packet: consuming PacketBuffer, mtu: Int, device: NetDevice, nextHop: IPAddress, route: Route) {
        var batch = PacketBatch(capacity: 64)
        switch IPv4Fragmenter.fragment(packet, mtu: mtu, pool: stack.shard.pool, into: &batch, counters: stack.shard.counters) {
        case .sent:
            while let f = batch.popFirst() {
                count(.ipOutTransmits)
                neighbourOutput(f, device: device, nextHop: nextHop, route: route)
            }
        case .refused(let p, _):
            drop(p, .pktTooBig)
        }
    }

    /// Reassembly timeouts: ICMP time exceeded (fragment reassembly) for
    /// datagrams whose first fragment arrived, then the drop.
    func expireFragments(now: Instant) {
        guard ipv4Fragments.nextDeadline <= now else { return }
        var expired = PacketBatch(capacity: 64)
        _ = ipv4Fragments.expire(now: now, shard: stack.shard, timeExceeded: &expired)
        while var p = expired.popFirst() {
            p.resetNetworkHeader()
            icmpSend(p, type: ICMPv4Type.timeExceeded, code: ICMPv4TimeExceededCode.fragmentReassemblyTimeExceeded,
                     info: 0, inbound: nil)
            drop(p, .fragReasmTimeout)
        }
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
        var best: Instant? = min(neighbourDeadline(), ipv4Fragments.nextDeadline)
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
