// The namespace's deferred work and its joins to the IP layers:
// reassembly and fragmentation (ip_defrag, ip_fragment, ipv6_frag_rcv,
// ip6_fragment), NDP transmission (ndisc_send_skb), the qdisc watchdogs,
// the namespace's next deadline, and shutdown.
import NetWire

extension NetworkNamespace {
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

    /// ipv6_frag_rcv(): queue the fragment; the whole datagram when complete.
    func ipv6Reassemble(_ packet: consuming PacketBuffer, on dev: NetDevice) -> PacketBuffer? {
        switch ipv6Fragments.insert(packet, ingressDevice: dev.ifindex, now: stack.now, shard: stack.shard) {
        case .incomplete:
            return nil
        case .complete(let whole):
            return whole
        case .dropped(let p, let reason):
            drop(p, reason)
            return nil
        case .parameterProblem(let p, let code, let pointer, let reason):
            icmp6Send(p, type: ICMPv6Type.parameterProblem, code: code, info: pointer, inbound: dev)
            drop(p, reason)
            return nil
        }
    }

    /// ip6_fragment(): only sources fragment in IPv6; each piece goes to the neighbour.
    func ipv6Fragment(_ packet: consuming PacketBuffer, mtu: Int, device: NetDevice, nextHop: IPAddress, route: Route,
                      destination: IPv6Address) {
        var batch = PacketBatch(capacity: 64)
        switch IPv6Fragmenter.fragment(packet, mtu: mtu, identification: nextIPv6Identification(destination),
                                       pool: stack.shard.pool, into: &batch, counters: stack.shard.counters) {
        case .sent:
            while let f = batch.popFirst() {
                count(.ip6OutTransmits)
                neighbourOutput(f, device: device, nextHop: nextHop, route: route)
            }
        case .refused(let p, _):
            count(.ip6OutDiscards)
            drop(p, .pktTooBig)
        }
    }

    /// Reassembly timeouts: ICMP time exceeded (fragment reassembly) for
    /// datagrams whose first fragment arrived, then the drop.
    func expireFragments(now: Instant) {
        if ipv4Fragments.nextDeadline <= now {
            var expired = PacketBatch(capacity: 64)
            _ = ipv4Fragments.expire(now: now, shard: stack.shard, timeExceeded: &expired)
            while var p = expired.popFirst() {
                p.resetNetworkHeader()
                icmpSend(p, type: ICMPv4Type.timeExceeded, code: ICMPv4TimeExceededCode.fragmentReassemblyTimeExceeded,
                         info: 0, inbound: nil)
                drop(p, .fragReasmTimeout)
            }
        }
        guard ipv6Fragments.nextDeadline <= now else { return }
        var expired6 = PacketBatch(capacity: 64)
        _ = ipv6Fragments.expire(now: now, shard: stack.shard, timeExceeded: &expired6)
        while var p = expired6.popFirst() {
            p.resetNetworkHeader()
            icmp6Send(p, type: ICMPv6Type.timeExceeded, code: ICMPv6Code.reassemblyTimeExceeded, info: 0, inbound: nil)
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


    func nextDeadline(now: Instant) -> Instant? {
        var best: Instant? = min(neighbourDeadline(), ipv4Fragments.nextDeadline, ipv6Fragments.nextDeadline)
        if let t = ipv6State.nextDeadline, t < best! { best = t }
        if let t = tcpNextDeadline, t < best! { best = t }
        for d in devices where !d.qdisc.bypassesQueue && d.qdisc.count > 0 {
            if let t = d.qdisc.nextDeadline, best.map({ t < $0 }) ?? true { best = t }
        }
        return best
    }
    func shutdown() {
        udpSockets.removeAll()
        pingSockets.removeAll()
        tcpShutdownAll()
    }
}
