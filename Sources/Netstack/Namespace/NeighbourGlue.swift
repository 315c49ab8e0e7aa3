// The namespace's side of the neighbour subsystem: neigh_resolve_output for
// the IP layers, ARP receive, the neighbour timers, and the sink through
// which the tables transmit (solicitations, released queues, failures).
import NetWire

/// The tables' way out (NeighbourSink): frames go to the device, failures
/// become ICMP unreachables, drops go through the one drop path.
struct NamespaceNeighbourSink: NeighbourSink {
    unowned let ns: NetworkNamespace

    mutating func solicit(_ s: NeighbourSolicitation) {
        guard let d = ns.device(index: s.device) else { return }
        if s.target.isIPv4 {
            ARP.solicit(s, interface: ns.arpInterface(d), lookup: ns, into: &self)
        } else {
            NDisc.solicit(s, interface: ns.ndpInterface(d), lookup: ns, into: &self)
        }
    }

    mutating func transmit(_ packet: consuming PacketBuffer, device: Int32, destination: MACAddress) {
        guard let d = ns.device(index: device) else { ns.drop(packet, .devReady); return }
        let type: EtherType = packet.withUnsafeReadableBytes { b in b.count > 0 && b.u8(0) >> 4 == 6 } ? .ipv6 : .ipv4
        ns.sendFrame(packet, on: d, destination: destination, type: type)
    }

    mutating func unreachable(_ packet: consuming PacketBuffer, device: Int32, reason: DropReason) {
        var p = packet
        let isV4 = p.withUnsafeReadableBytes { b in b.count > 0 && b.u8(0) >> 4 == 4 }
        if isV4 {
            // ipv4_link_failure → icmp_send(ICMP_DEST_UNREACH, ICMP_HOST_UNREACH).
            p.resetNetworkHeader()
            if p.metadata.packetType != .host { p.metadata.packetType = .outgoing }
            ns.icmpSend(p, type: ICMPv4Type.destinationUnreachable, code: ICMPv4UnreachableCode.host, info: 0, inbound: nil)
        } else {
            // ip6_link_failure → icmpv6_send(ICMPV6_DEST_UNREACH, ICMPV6_ADDR_UNREACH).
            p.resetNetworkHeader()
            if p.metadata.packetType != .host { p.metadata.packetType = .outgoing }
            ns.icmp6Send(p, type: ICMPv6Type.destinationUnreachable, code: ICMPv6Code.addressUnreachable, info: 0,
                         inbound: nil)
        }
        ns.drop(p, reason)
    }

    mutating func drop(_ packet: consuming PacketBuffer, reason: DropReason) {
        ns.drop(packet, reason)
    }

    mutating func transmitARP(_ arp: ARPRepr, device: Int32, destination: MACAddress) {
        guard let d = ns.device(index: device),
              let frame = ARP.frame(arp, source: d.mac, destination: destination, pool: ns.stack.shard.pool) else { return }
        ns.deviceQueueTransmit(frame, on: d)
    }

    mutating func transmitNDP(_ message: NDPOutput) {
        ns.ndpTransmit(message)
    }
}

extension NetworkNamespace {
    /// NETDEV_DOWN (arp_netdev_event, ndisc_netdev_event → neigh_ifdown):
    /// every neighbour entry of the device goes, PERMANENT ones too.
    func neighbourDeviceDown(_ d: NetDevice) {
        var sink = NamespaceNeighbourSink(ns: self)
        arpTable.flush(device: d.ifindex, keepPermanent: false, into: &sink)
        ndTable.flush(device: d.ifindex, keepPermanent: false, into: &sink)
    }

    /// NETDEV_CHANGE to no carrier (arp_netdev_event with
    /// arp_evict_nocarrier, ndisc_netdev_event with ndisc_evict_nocarrier,
    /// both 1 by default → neigh_carrier_down): entries go but PERMANENT
    /// and proxy ones. Linux does it from linkwatch, a moment later.
    func neighbourCarrierDown(_ d: NetDevice) {
        guard d.isUp else { return }
        var sink = NamespaceNeighbourSink(ns: self)
        arpTable.flush(device: d.ifindex, keepPermanent: true, into: &sink)
        ndTable.flush(device: d.ifindex, keepPermanent: true, into: &sink)
    }

    /// NETDEV_UNREGISTER: entries, proxy entries and parameters go.
    func neighbourDeviceGone(_ d: NetDevice) {
        var sink = NamespaceNeighbourSink(ns: self)
        arpTable.removeDevice(d.ifindex, into: &sink)
        ndTable.removeDevice(d.ifindex, into: &sink)
    }
}

extension NetworkNamespace: NeighbourAddressLookup {
    public func addressType(_ address: IPAddress, device: Int32) -> RouteType {
        if address.isMulticast { return .multicast }
        if case .v4(let a) = address {
            if a.isLimitedBroadcast { return .broadcast }
            for d in devices {
                for x in d.addresses where x.isIPv4 {
                    if x.address == address { return .local }
                    if x.broadcast == a { return .broadcast }
                }
            }
            return .unicast
        }
        return isLocal(address) ? .local : .unicast
    }

    public func ipv6AddressState(_ address: IPv6Address, device: Int32) -> IPv6AddressState? {
        guard let d = self.device(index: device), let a = d.addresses.first(where: { $0.address == .v6(address) }) else { return nil }
        return a.flags.contains(.tentative) ? .tentative : .preferred
    }

    /// The sink the control plane passes to neighbour commands (`ip neigh flush` drops queued packets).
    public var neighbourSink: some NeighbourSink { NamespaceNeighbourSink(ns: self) }

    /// The ARP view of a device (rebuilt per use; devices and addresses are few).
    func arpInterface(_ d: NetDevice) -> ARPInterface {
        var i = ARPInterface(device: d.ifindex, mac: d.mac, addresses: d.addresses.compactMap { a in
            guard case .v4(let v4) = a.address else { return nil }
            return IPv4InterfaceAddress(v4, prefixLength: a.prefix.length, scope: a.scope, secondary: a.flags.contains(.secondary))
        })
        i.noARP = !d.usesARP
        i.arpIgnore = max(ipv4All.arpIgnore, d.ipv4.arpIgnore)
        i.arpAnnounce = max(ipv4All.arpAnnounce, d.ipv4.arpAnnounce)
        i.arpAccept = d.ipv4.arpAccept
        i.arpNotify = d.ipv4.arpNotify != 0
        i.routeLocalnet = d.ipv4.routeLocalnet != 0
        return i
    }

    /// neigh_resolve_output(): the next hop's MAC, or the packet waits in
    /// the entry's queue while ARP/NDP resolves it.
    func neighbourOutput(_ packet: consuming PacketBuffer, device: NetDevice, nextHop: IPAddress, route: Route) {
        neighbourOutput(packet, device: device, nextHop: nextHop, broadcast: route.type == .broadcast)
    }

    /// neigh_output(): a connected entry's packets go out through the
    /// device's header cache (neigh_hh_output); the rest take
    /// neigh_resolve_output. `broadcast`: an RTN_BROADCAST next hop.
    func neighbourOutput(_ packet: consuming PacketBuffer, device: NetDevice, nextHop: IPAddress, broadcast: Bool) {
        let type: EtherType = nextHop.isIPv4 ? .ipv4 : .ipv6
        if device.kind == .loopback || !device.usesARP {
            sendFrame(packet, on: device, destination: device.kind == .loopback ? .zero : device.broadcastMAC, type: type)
            return
        }
        let table = nextHop.isIPv4 ? arpTable : ndTable
        if packet.metadata.traceID == 0,
           let mac = table.connectedDestination(&device.neighbourCache, device: device.ifindex, nextHop: nextHop, now: stack.now) {
            sendFrame(packet, on: device, destination: mac, type: type)
            return
        }
        var sink = NamespaceNeighbourSink(ns: self)
        let (traceID, ingress) = (packet.metadata.traceID, packet.metadata.ingressDevice)
        let result = table.output(packet, device: device.ifindex, nextHop: nextHop, now: stack.now, broadcast: broadcast, into: &sink)
        if traceID != 0 {
            record(traceID, device: ingress, .neighbourOutput(nextHop: nextHop, device: device.ifindex,
                                                             state: table.lookup(device: device.ifindex, address: nextHop)?.state ?? .none))
        }
        switch consume result {
        case .transmit(let p, let mac):
            sendFrame(p, on: device, destination: mac, type: type)
        case .queued:
            break
        case .drop(let p, let reason):
            drop(p, reason)
        }
    }

    /// arp_rcv → arp_process.
    func arpReceive(_ packet: consuming PacketBuffer, on dev: NetDevice) {
        var sink = NamespaceNeighbourSink(ns: self)
        let verdict = ARP.receive(packet, interface: arpInterface(dev), lookup: self, table: arpTable, now: stack.now, into: &sink)
        switch verdict {
        case .consumed: _ = consume packet
        case .drop(let reason): drop(packet, reason)
        }
    }

    /// The per-namespace timers: neighbours, reassembly, DAD.
    func runTimers(now: Instant) -> Bool {
        var sink = NamespaceNeighbourSink(ns: self)
        if arpTable.nextDeadline <= now { arpTable.expire(now: now, into: &sink) }
        if ndTable.nextDeadline <= now { ndTable.expire(now: now, into: &sink) }
        expireFragments(now: now)
        dadExpire(now: now)
        tcpRunTimers(now: now)
        // Not "progress" for the stack loop: frames the timers send mark
        // their rings pending, which is what keeps the loop going.
        return false
    }

    func neighbourDeadline() -> Instant { min(arpTable.nextDeadline, ndTable.nextDeadline) }
}
