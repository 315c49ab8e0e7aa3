// The namespace's IPv6 address life and Neighbor Discovery wiring:
// Duplicate Address Detection runs (RFC 4862 §5.4), NDP receive into
// NDisc and the routes it asks for, and NDP transmission.
// Kernel counterparts: net/ipv6/addrconf.c (inet6_addr_add →
// addrconf_prefix_route + addrconf_dad_start, addrconf_dad_begin /
// addrconf_dad_kick / addrconf_dad_work / addrconf_dad_completed /
// addrconf_dad_failure, addrconf_notify on NETDEV_UP/CHANGE) and
// net/ipv6/ndisc.c (ndisc_rcv, ndisc_send_skb).
//
// As Linux: an address added with DAD is `tentative` (not a source, not
// answered for) and gets its prefix route at once; its `local` route
// appears when DAD completes, a random delay in [0, 1 s) plus
// dad_transmits × retrans_time (1 s) later. DAD waits for the device to be
// up with carrier. A conflict leaves the address `dadfailed tentative`.
//
// Router solicitations go out when the link-local address completes DAD
// on a host. Not here: SLAAC addresses from RA prefixes, MLD reports,
// optimistic DAD.
//
// A device going down loses its IPv6 addresses (addrconf_ifdown): all of
// them with keep_addr_on_down 0 (the default), else the link-local and
// loopback ones and those with a finite lifetime; kept ones are tentative
// again (unless nodad) and redo DAD when the link comes back. The
// link-local address is made again on NETDEV_UP with carrier.
import NetWire

/// Per-namespace IPv6 state that is not a table of its own.
struct IPv6NamespaceState {
    /// Running DAD, one per tentative address with carrier.
    var dad: [DADState] = []
    /// Fragment identifications per destination (ipv6_select_ident).
    var idents: [IPv6Address: UInt32] = [:]
    /// DAD delays (addrconf_dad_kick's get_random_u32_below).
    var random = NeighbourRandom(seed: 1)

    /// Router solicitation schedules per device (idev->rs_timer).
    var solicitations: [RouterSolicitationRun] = []

    /// net.ipv6.conf.{all,default,DEV}.keep_addr_on_down (ipv6_devconf;
    /// kept here until IPv6DeviceConfig holds it). A device takes
    /// `default`'s value when it is registered.
    var keepAddrOnDownAll = 0
    var keepAddrOnDownDefault = 0
    var keepAddrOnDown: [Int32: Int] = [:]

    var nextDeadline: Instant? {
        var best: Instant? = nil
        for d in dad { if let t = d.deadline, best.map({ t < $0 }) ?? true { best = t } }
        for r in solicitations where best.map({ r.next < $0 }) ?? true { best = r.next }
        return best
    }
}

/// One device's router solicitations: sent at link-local DAD completion,
/// then after rtr_solicit_interval (4 s), doubling up to
/// rtr_solicit_max_interval (3600 s); rtr_solicits (−1: no limit) bounds
/// the count. Linux adds ±10 % jitter to the intervals (RFC 3315 §14
/// backoff); here they are exact.
struct RouterSolicitationRun {
    var device: Int32
    var next: Instant
    var interval: TimeDelta
    var sent: Int
}

extension NetworkNamespace {
    // MARK: device configuration

    /// A device registered in this namespace (ipv6_add_dev / inetdev_init):
    /// its ipv4/ipv6 settings are copies of `default`'s, and mtu6 is the
    /// device's MTU.
    func inheritDeviceConfig(_ d: NetDevice) {
        d.ipv4 = ipv4Default
        d.ipv6 = ipv6Default
        d.ipv6.mtu = d.mtu
        if d.kind == .loopback {
            // inetdev_init: no IPsec policy on lo; ipv6_add_dev: no DAD.
            d.ipv4.disablePolicy = 1
            d.ipv6.acceptDAD = -1
        }
        ipv6State.keepAddrOnDown[d.ifindex] = ipv6State.keepAddrOnDownDefault
    }

    /// net.ipv6.conf.all.keep_addr_on_down.
    public var ipv6KeepAddrOnDownAll: Int {
        get { ipv6State.keepAddrOnDownAll }
        set { ipv6State.keepAddrOnDownAll = newValue }
    }

    /// net.ipv6.conf.default.keep_addr_on_down.
    public var ipv6KeepAddrOnDownDefault: Int {
        get { ipv6State.keepAddrOnDownDefault }
        set { ipv6State.keepAddrOnDownDefault = newValue }
    }

    /// net.ipv6.conf.DEV.keep_addr_on_down.
    public func ipv6KeepAddrOnDown(_ d: NetDevice) -> Int {
        ipv6State.keepAddrOnDown[d.ifindex] ?? ipv6State.keepAddrOnDownDefault
    }

    public func setIPv6KeepAddrOnDown(_ d: NetDevice, _ value: Int) {
        ipv6State.keepAddrOnDown[d.ifindex] = value
    }

    /// addrconf_ifdown(dev, unregister: false) on NETDEV_DOWN: `all`'s
    /// keep_addr_on_down decides unless 0, then the device's; > 0 keeps
    /// permanent (infinite lifetime) addresses that are neither link-local
    /// nor loopback, marked tentative again unless nodad. The rest go.
    func ipv6AddressesDown(_ d: NetDevice) {
        var keep = false
        if d.ipv6.disableIPv6 == 0 {
            let k = ipv6State.keepAddrOnDownAll != 0 ? ipv6State.keepAddrOnDownAll : ipv6KeepAddrOnDown(d)
            keep = k > 0
        }
        var removed: [InterfaceAddress] = []
        var kept: [InterfaceAddress] = []
        for a in d.addresses {
            guard case .v6(let address) = a.address else { kept.append(a); continue }
            if keep && a.validLifetime == nil && !address.isLinkLocal && !address.isLoopback {
                var a = a
                if !a.flags.contains(.nodad) { a.flags.insert(.tentative) }
                kept.append(a)
            } else {
                removed.append(a)
            }
        }
        guard !removed.isEmpty || kept != d.addresses else { return }
        d.addresses = kept
        ipv6State.dad.removeAll { $0.device == d.ifindex }
        for a in removed { stack.addressRemoved(a, from: d) }
    }

    /// net.ipv6.conf.DEV.disable_ipv6 (addrconf_disable_ipv6 →
    /// dev_disable_change): turning it on is NETDEV_DOWN for IPv6 alone
    /// (every address goes, keep_addr_on_down notwithstanding, with the
    /// device's IPv6 routes and ND entries); turning it off is NETDEV_UP
    /// (the link-local address and multicast route again, when up with
    /// carrier). Other values than 0/1 count as on.
    public func setIPv6Disabled(_ d: NetDevice, _ value: Int) {
        let changed = (d.ipv6.disableIPv6 != 0) != (value != 0)
        d.ipv6.disableIPv6 = value
        guard changed else { return }
        if value != 0 {
            ipv6AddressesDown(d)
            routing.tables.removeAll { r in
                !r.destination.isIPv4 && !r.nextHops.isEmpty && r.nextHops.allSatisfy { $0.device == d.ifindex }
            }
            var sink = NamespaceNeighbourSink(ns: self)
            ndTable.flush(device: d.ifindex, keepPermanent: false, into: &sink)
            ipv6State.solicitations.removeAll { $0.device == d.ifindex }
        } else if d.isUp && d.hasCarrier {
            addAutomaticAddresses(d)
            dadRun(d)
        }
    }

    /// net.ipv6.conf.all.disable_ipv6 (addrconf_disable_change): `default`
    /// and every device take the value, each device changing as above.
    public func setIPv6DisabledAll(_ value: Int) {
        ipv6All.disableIPv6 = value
        ipv6Default.disableIPv6 = value
        for d in devices { setIPv6Disabled(d, value) }
    }

    // MARK: DAD

    /// inet6_addr_add for a tentative address: the prefix route now, DAD
    /// when the device can send.
    func ipv6AddressTentative(_ a: InterfaceAddress, on d: NetDevice) {
        guard d.isUp else { return }
        if !a.flags.contains(.noPrefixRoute) && a.prefix.length < 128 {
            let ra = NetworkNamespace.routeAddress(a)
            try? routing.tables.insert(Route(table: RouteTableID.main, destination: ra.prefix, scope: .universe,
                                             proto: .kernel, metric: 256, nextHops: [NextHop(device: d.ifindex)],
                                             preference: 0), mode: .append)
        }
        dadStart(a, on: d)
    }

    /// addrconf_dad_start / addrconf_dad_begin.
    func dadStart(_ a: InterfaceAddress, on d: NetDevice) {
        guard case .v6(let address) = a.address, a.flags.contains(.tentative), !a.flags.contains(.dadFailed) else { return }
        guard d.isUp && d.hasCarrier else { return }
        if ipv6State.dad.contains(where: { $0.address == address && $0.device == d.ifindex }) { return }
        let acceptDAD = max(ipv6All.acceptDAD, d.ipv6.acceptDAD)
        let s = DADState(address: address, device: d.ifindex, dadTransmits: d.ipv6.dadTransmits, acceptDAD: acceptDAD,
                         now: stack.now, random: &ipv6State.random)
        if s.phase == .preferred {
            dadCompleted(address, on: d)
        } else {
            ipv6State.dad.append(s)
        }
    }

    /// Starts DAD for every tentative address of a device that can now send
    /// (NETDEV_UP / NETDEV_CHANGE with carrier: addrconf_dad_run).
    func dadRun(_ d: NetDevice) {
        guard d.isUp && d.hasCarrier else { return }
        for a in d.addresses where !a.isIPv4 && a.flags.contains(.tentative) && !a.flags.contains(.dadFailed) {
            dadStart(a, on: d)
        }
    }

    /// Stops DAD on a device that went down (its addresses stay tentative).
    func dadStop(_ d: NetDevice) {
        ipv6State.dad.removeAll { $0.device == d.ifindex }
        ipv6State.solicitations.removeAll { $0.device == d.ifindex }
    }

    /// addrconf_dad_work for every run that is due.
    func dadExpire(now: Instant) {
        guard let due = ipv6State.nextDeadline, due <= now else { return }
        routerSolicitationExpire(now: now)
        var sink = NamespaceNeighbourSink(ns: self)
        var completed: [(IPv6Address, Int32)] = []
        var i = 0
        while i < ipv6State.dad.count {
            let retrans = ndTable.parameters(device: ipv6State.dad[i].device).retransTime
            if ipv6State.dad[i].expire(now: now, retransTime: retrans, into: &sink) {
                completed.append((ipv6State.dad[i].address, ipv6State.dad[i].device))
            }
            if ipv6State.dad[i].deadline == nil {
                ipv6State.dad.remove(at: i)
            } else {
                i += 1
            }
        }
        for (a, dev) in completed {
            if let d = device(index: dev) { dadCompleted(a, on: d) }
        }
    }

    /// addrconf_dad_completed: the address is usable; its `local` route
    /// goes in (ipv6_ifa_notify RTM_NEWADDR).
    func dadCompleted(_ address: IPv6Address, on d: NetDevice) {
        guard let i = d.addresses.firstIndex(where: { $0.address == .v6(address) }) else { return }
        d.addresses[i].flags.remove(.tentative)
        guard d.isUp else { return }
        if address.isLinkLocal { routerSolicitationStart(d, source: address) }
        try? routing.tables.insert(Route(table: RouteTableID.local, destination: IPPrefix(.v6(address), length: 128),
                                         type: .local, scope: .universe, proto: .kernel, metric: 0,
                                         nextHops: [NextHop(device: d.ifindex)], preference: 0), mode: .append)
    }

    /// addrconf_dad_completed's RS: only a host (accept_ra and not
    /// forwarding) on a device with a link layer.
    func routerSolicitationStart(_ d: NetDevice, source: IPv6Address) {
        let acceptRA = d.ipv6.acceptRA
        let host = acceptRA == 2 || (acceptRA == 1 && d.ipv6.forwarding == 0)
        guard host, d.usesARP, d.ipv6.routerSolicitations != 0 else { return }
        ipv6State.solicitations.removeAll { $0.device == d.ifindex }
        routerSolicitationSend(d, source: source)
        let interval = TimeDelta.seconds(Int64(max(1, d.ipv6.routerSolicitationInterval)))
        if d.ipv6.routerSolicitations < 0 || d.ipv6.routerSolicitations > 1 {
            ipv6State.solicitations.append(RouterSolicitationRun(device: d.ifindex, next: stack.now + interval,
                                                                 interval: interval, sent: 1))
        }
    }

    func routerSolicitationSend(_ d: NetDevice, source: IPv6Address) {
        ndpTransmit(NDPOutput(device: d.ifindex, source: source, destination: .allRouters,
                              linkDestination: MACAddress(multicastFor: IPv6Address.allRouters),
                              message: .routerSolicitation(sourceLinkLayerAddress: d.mac)))
    }

    /// addrconf_rs_timer.
    func routerSolicitationExpire(now: Instant) {
        var i = 0
        while i < ipv6State.solicitations.count {
            var run = ipv6State.solicitations[i]
            guard run.next <= now else { i += 1; continue }
            guard let d = device(index: run.device), d.isUp,
                  let ll = d.addresses.first(where: {
                      if case .v6(let x) = $0.address { return x.isLinkLocal && !$0.flags.contains(.tentative) }
                      return false
                  }), case .v6(let source) = ll.address,
                  d.ipv6.routerSolicitations < 0 || run.sent < d.ipv6.routerSolicitations else {
                ipv6State.solicitations.remove(at: i)
                continue
            }
            routerSolicitationSend(d, source: source)
            run.sent += 1
            run.interval = min(run.interval * 2, .seconds(3600))
            run.next = now + run.interval
            ipv6State.solicitations[i] = run
            i += 1
        }
    }

    /// addrconf_dad_failure: `dadfailed`, and the address stays tentative.
    func dadFailed(_ address: IPv6Address, device: Int32) {
        guard let i = ipv6State.dad.firstIndex(where: { $0.address == address && $0.device == device }) else { return }
        guard ipv6State.dad[i].conflict() else { return }
        ipv6State.dad.remove(at: i)
        guard let d = self.device(index: device),
              let j = d.addresses.firstIndex(where: { $0.address == .v6(address) }) else { return }
        d.addresses[j].flags.insert(.dadFailed)
    }

    /// addrconf_add_mroute(): `multicast ff00::/8 dev D table local proto
    /// kernel metric 256`, installed with the link-local address.
    func ipv6AddMulticastRoute(_ d: NetDevice) {
        guard d.isUp, let ff = IPPrefix("ff00::/8") else { return }
        try? routing.tables.insert(Route(table: RouteTableID.local, destination: ff, type: .multicast, scope: .universe,
                                         proto: .kernel, metric: 256, nextHops: [NextHop(device: d.ifindex)],
                                         preference: 0), mode: .append)
    }

    // MARK: NDP

    /// What NDisc needs to know about a device: its usable addresses
    /// (link-local first), whether it routes, accept_ra.
    func ndpInterface(_ d: NetDevice) -> NDPInterface {
        var linkLocal: [IPv6Address] = [], other: [IPv6Address] = []
        for a in d.addresses where !a.flags.contains(.tentative) && !a.flags.contains(.dadFailed) {
            guard case .v6(let x) = a.address else { continue }
            if x.isLinkLocal { linkLocal.append(x) } else { other.append(x) }
        }
        var i = NDPInterface(device: d.ifindex, mac: d.mac, addresses: linkLocal + other)
        i.forwarding = d.ipv6.forwarding != 0
        i.acceptRA = d.ipv6.acceptRA
        return i
    }

    /// ndisc_rcv(): an NDP message (the packet starts at its ICMPv6 header,
    /// checksum verified) through NDisc, then what it asks of the stack.
    func ndiscReceive(_ packet: consuming PacketBuffer, header h: IPv6Header, on dev: NetDevice) {
        guard dev.usesARP else {
            _ = consume packet
            return
        }
        var sink = NamespaceNeighbourSink(ns: self)
        let interface = ndpInterface(dev)
        let table = ndTable
        let now = stack.now
        let result: NDiscResult = packet.withUnsafeReadableBytes { b in
            NDisc.receive(b, source: h.source, destination: h.destination, hopLimit: h.hopLimit, interface: interface,
                          lookup: self, table: table, now: now, into: &sink)
        }
        switch result.verdict {
        case .consumed: _ = consume packet
        case .drop(let reason): drop(packet, reason)
        }
        for e in result.events {
            switch e {
            case .duplicateAddress(let a, let device):
                dadFailed(a, device: device)
            case .addRoute(let r):
                try? routing.tables.insert(r, mode: .replace)
                // An RA with a router lifetime ends the solicitations.
                if r.proto == .ra { ipv6State.solicitations.removeAll { $0.device == dev.ifindex } }
            case .deleteRoute(let r):
                _ = routing.tables.removeAll { x in
                    x.destination == r.destination && x.proto == r.proto && x.nextHops == r.nextHops
                }
            case .hopLimit(let v, let device):
                self.device(index: device)?.ipv6.hopLimit = Int(v)
            case .mtu, .redirect, .autoconfPrefix:
                // Not modelled yet: RA MTU, redirect route exceptions, SLAAC.
                break
            }
        }
    }

    /// ndisc_send_skb(): an NDP message as ICMPv6 over IPv6 with hop limit
    /// 255, straight to its link-layer destination when known, else
    /// through the neighbour table.
    func ndpTransmit(_ message: NDPOutput) {
        guard let d = device(index: message.device), d.isUp, d.hasCarrier else { return }
        let icmp = ICMPv6Repr.ndp(message.message)
        let length = icmp.bufferLength
        guard var p = stack.shard.pool.allocate() else { return }
        guard p.tailroom >= length, p.headroom >= IPv6Packet.headerLength + 16 else {
            drop(p, .nomem)
            return
        }
        let out = p.put(length)
        try? icmp.emit(into: out, pseudoHeader: .ipv6(source: message.source, destination: message.destination))
        p.resetTransportHeader()
        let repr = IPv6Repr(source: message.source, destination: message.destination, nextHeader: .icmpv6,
                            payloadLength: length, hopLimit: 255)
        try? repr.emit(into: p.push(IPv6Packet.headerLength))
        p.resetNetworkHeader()
        p.metadata.packetType = .outgoing
        count(.ip6OutRequests)
        count(.icmp6OutMsgs)
        switch message.message {
        case .neighborSolicitation: count(.icmp6OutNeighborSolicits)
        case .neighborAdvertisement: count(.icmp6OutNeighborAdvertisements)
        case .routerSolicitation: count(.icmp6OutRouterSolicits)
        case .routerAdvertisement: count(.icmp6OutRouterAdvertisements)
        case .redirect: count(.icmp6OutRedirects)
        }
        if message.destination.isMulticast { count(.ip6OutMcastPkts) }
        count(.ip6OutTransmits)
        if let mac = message.linkDestination {
            sendFrame(p, on: d, destination: mac, type: .ipv6)
            return
        }
        var sink = NamespaceNeighbourSink(ns: self)
        switch ndTable.output(p, device: d.ifindex, nextHop: .v6(message.destination), now: stack.now, into: &sink) {
        case .transmit(let q, let mac):
            sendFrame(q, on: d, destination: mac, type: .ipv6)
        case .queued:
            break
        case .drop(let q, let reason):
            drop(q, reason)
        }
    }
}
