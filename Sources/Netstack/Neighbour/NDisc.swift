// Neighbor Discovery receive and send for the IPv6 neighbour table
// (RFC 4861) and Duplicate Address Detection (RFC 4862 §5.4).
// Kernel counterpart: net/ipv6/ndisc.c — ndisc_rcv (hop limit 255, code 0),
// ndisc_recv_ns / ndisc_recv_na / ndisc_recv_rs / ndisc_router_discovery /
// ndisc_redirect_rcv, ndisc_solicit, ndisc_send_na; net/ipv6/addrconf.c —
// addrconf_dad_start/addrconf_dad_work/addrconf_dad_failure,
// addrconf_prefix_rcv (routes only).
//
// Not here: SLAAC address creation (RA prefixes with A=1 are reported as
// `.autoconfPrefix` for the lead's address code), proxy NDP, enhanced DAD
// nonces (RFC 7527), optimistic DAD, RDNSS.
import NetWire

/// What NDP needs to know about the receiving device.
public struct NDPInterface: Hashable, Sendable {
    public var device: Int32
    public var mac: MACAddress
    /// net.ipv6.conf.DEV.forwarding: we are a router (R flag, RS accepted, RA ignored).
    public var forwarding = false
    /// net.ipv6.conf.DEV.accept_ra (1: only when not forwarding; 2: always).
    public var acceptRA = 1
    /// Addresses configured on the device, best source first (link-local
    /// first), for solicitation sources (ipv6_dev_get_saddr's easy cases).
    public var addresses: [IPv6Address]
    public init(device: Int32, mac: MACAddress, addresses: [IPv6Address]) {
        self.device = device
        self.mac = mac
        self.addresses = addresses
    }

    func source(for destination: IPv6Address) -> IPv6Address? {
        if destination.isLinkLocal || destination.isMulticast {
            return addresses.first { $0.isLinkLocal } ?? addresses.first
        }
        return addresses.first { !$0.isLinkLocal } ?? addresses.first
    }
}

/// What an NDP message asks of the rest of the stack.
public enum NDiscEvent: Hashable, Sendable {
    /// DAD found `address` in use (addrconf_dad_failure: IFA_F_DADFAILED).
    case duplicateAddress(IPv6Address, device: Int32)
    /// Install or refresh this route (RA default router, on-link prefix).
    case addRoute(Route)
    /// Remove this route (router lifetime or valid lifetime 0).
    case deleteRoute(Route)
    /// A redirect: packets to `destination` go via `target` (rt6_redirect).
    case redirect(destination: IPv6Address, target: IPv6Address, device: Int32)
    /// RA MTU option / current hop limit for the device.
    case mtu(UInt32, device: Int32)
    case hopLimit(UInt8, device: Int32)
    /// An RA prefix with A=1: for SLAAC, done by the address code.
    case autoconfPrefix(NDPPrefixInformation, device: Int32)
}

public struct NDiscResult: Hashable, Sendable {
    public var verdict: NeighbourInputVerdict
    public var events: [NDiscEvent]
    public init(_ verdict: NeighbourInputVerdict, _ events: [NDiscEvent] = []) {
        self.verdict = verdict
        self.events = events
    }
}

public enum NDisc {
    /// IP6_RT_PRIO_USER: metric of RA default routes.
    public static let defaultRouteMetric: UInt32 = 1024
    /// IP6_RT_PRIO_ADDRCONF: metric of prefix routes.
    public static let prefixRouteMetric: UInt32 = 256

    /// ndisc_rcv for one ICMPv6 message (checksum already verified by the
    /// ICMPv6 layer) with its IPv6 header's addresses and hop limit.
    public static func receive(_ icmp: UnsafeRawBufferPointer, source: IPv6Address, destination: IPv6Address,
                               hopLimit: UInt8, interface: NDPInterface, lookup: some NeighbourAddressLookup,
                               table: NeighbourTable, now: Instant,
                               into sink: inout some NeighbourSink & ~Copyable) -> NDiscResult {
        guard icmp.count >= ICMPv6Packet.headerLength else { return NDiscResult(.drop(.pktTooSmall)) }
        guard hopLimit == 255 else { return NDiscResult(.drop(.ipv6NdiscHopLimit)) }
        guard icmp[1] == 0 else { return NDiscResult(.drop(.ipv6NdiscBadCode)) }
        let message: NDPRepr
        do throws(WireError) {
            message = try NDPRepr.parse(try ICMPv6Packet(icmp))
        } catch {
            switch error {
            case .truncated: return NDiscResult(.drop(.pktTooSmall))
            case .badOption: return NDiscResult(.drop(.ipv6NdiscBadOptions))
            default: return NDiscResult(.drop(.notSpecified))
            }
        }
        return process(message, source: source, destination: destination, interface: interface, lookup: lookup,
                       table: table, now: now, into: &sink)
    }

    /// The per-type handlers on a parsed message.
    public static func process(_ message: NDPRepr, source: IPv6Address, destination: IPv6Address,
                               interface: NDPInterface, lookup: some NeighbourAddressLookup, table: NeighbourTable,
                               now: Instant, into sink: inout some NeighbourSink & ~Copyable) -> NDiscResult {
        let dev = interface.device
        switch message {
        case let .neighborSolicitation(target, sll):
            // ndisc_recv_ns
            let dad = source.isUnspecified
            if target.isMulticast { return NDiscResult(.drop(.notSpecified)) }
            if dad && destination != target.solicitedNodeMulticast && !(destination.high == 0xFF02 << 48
                && destination.low >> 24 == 0x1_FF) {
                return NDiscResult(.drop(.notSpecified))
            }
            if dad && sll != nil { return NDiscResult(.drop(.notSpecified)) }
            guard let state = lookup.ipv6AddressState(target, device: dev) else {
                return NDiscResult(.drop(.ipv6NdiscNsOtherhost))
            }
            if state == .tentative {
                // RFC 4862 §5.4.3: a DAD probe for our tentative address is a
                // duplicate; any other NS for it is not answered.
                return NDiscResult(.consumed, dad ? [.duplicateAddress(target, device: dev)] : [])
            }
            let multicastDst = destination.isMulticast
            if dad {
                sink.transmitNDP(NDPOutput(device: dev, source: target, destination: .allNodes,
                                           linkDestination: MACAddress(multicastFor: IPv6Address.allNodes),
                                           message: .neighborAdvertisement(router: interface.forwarding, solicited: false,
                                                                           override: state != .anycast, target: target,
                                                                           targetLinkLayerAddress: interface.mac)))
                return NDiscResult(.consumed)
            }
            // Learn the sender as STALE (created unless a multicast NS without SLLA).
            var known = table.lookup(device: dev, address: .v6(source)) != nil
            if !known && (!multicastDst || sll != nil) {
                if case .success = table.lookupOrCreate(device: dev, address: .v6(source), now: now, into: &sink) {
                    known = true
                }
            }
            if known {
                table.update(device: dev, address: .v6(source), linkAddress: sll, state: .stale,
                             flags: [.weakOverride, .override], now: now, into: &sink)
                sink.transmitNDP(NDPOutput(device: dev, source: target, destination: source, linkDestination: nil,
                                           message: .neighborAdvertisement(
                                               router: interface.forwarding, solicited: true,
                                               override: state != .anycast && multicastDst, target: target,
                                               targetLinkLayerAddress: multicastDst ? interface.mac : nil)))
            }
            return NDiscResult(.consumed)

        case let .neighborAdvertisement(router, solicited, override, target, tll):
            // ndisc_recv_na
            if target.isMulticast { return NDiscResult(.drop(.notSpecified)) }
            if destination.isMulticast && solicited { return NDiscResult(.drop(.notSpecified)) }
            if let state = lookup.ipv6AddressState(target, device: dev) {
                if state == .tentative { return NDiscResult(.consumed, [.duplicateAddress(target, device: dev)]) }
                return NDiscResult(.consumed)
            }
            guard let e = table.lookup(device: dev, address: .v6(target)), !e.state.contains(.failed) else {
                return NDiscResult(.consumed)
            }
            var flags: NeighbourUpdateFlags = [.weakOverride, .overrideIsRouter]
            if override { flags.insert(.override) }
            if router { flags.insert(.isRouter) }
            let wasRouter = e.flags.contains(.router)
            table.update(device: dev, address: .v6(target), linkAddress: tll, state: solicited ? .reachable : .stale,
                         flags: flags, now: now, into: &sink)
            var events: [NDiscEvent] = []
            if wasRouter, table.lookup(device: dev, address: .v6(target))?.flags.contains(.router) == false {
                // rt6_clean_tohost: routes via a host that stopped being a router go.
                events.append(.deleteRoute(defaultRoute(via: target, device: dev, lifetime: 0, preference: 0, now: now)))
            }
            return NDiscResult(.consumed, events)

        case .routerSolicitation(let sll):
            // ndisc_recv_rs: only routers listen; the sender is learned.
            guard interface.forwarding else { return NDiscResult(.consumed) }
            guard !source.isUnspecified, let sll else { return NDiscResult(.consumed) }
            if case .success = table.lookupOrCreate(device: dev, address: .v6(source), now: now, into: &sink) {
                table.update(device: dev, address: .v6(source), linkAddress: sll, state: .stale,
                             flags: [.weakOverride, .override, .overrideIsRouter], now: now, into: &sink)
            }
            return NDiscResult(.consumed)

        case .routerAdvertisement(let ra):
            return routerAdvertisement(ra, source: source, interface: interface, table: table, now: now, sink: &sink)

        case let .redirect(target, redirectDestination, tll, _):
            // ndisc_redirect_rcv
            guard source.isLinkLocal, !redirectDestination.isMulticast,
                  target.isLinkLocal || target == redirectDestination else {
                return NDiscResult(.drop(.notSpecified))
            }
            let onLink = target == redirectDestination
            if case .success = table.lookupOrCreate(device: dev, address: .v6(target), now: now, into: &sink) {
                var flags: NeighbourUpdateFlags = [.weakOverride, .overrideIsRouter]
                if !onLink { flags.formUnion([.override, .isRouter]) }
                table.update(device: dev, address: .v6(target), linkAddress: tll, state: .stale, flags: flags,
                             now: now, into: &sink)
            }
            return NDiscResult(.consumed, [.redirect(destination: redirectDestination, target: target, device: dev)])
        }
    }

    static func defaultRoute(via gateway: IPv6Address, device: Int32, lifetime: UInt16, preference: UInt8,
                             now: Instant) -> Route {
        // RFC 4191: 1 high, 3 low, else medium.
        let pref: Int8 = preference == 1 ? 1 : (preference == 3 ? -1 : 0)
        return Route(destination: IPPrefix.defaultRoute(v6: true), proto: .ra, metric: defaultRouteMetric,
                     nextHops: [NextHop(gateway: .v6(gateway), device: device)],
                     expires: now + .seconds(Int64(lifetime)), preference: pref)
    }

    /// ndisc_router_discovery: routes, neighbour entry of the router, parameters.
    static func routerAdvertisement(_ ra: NDPRouterAdvertisement, source: IPv6Address, interface: NDPInterface,
                                    table: NeighbourTable, now: Instant,
                                    sink: inout some NeighbourSink & ~Copyable) -> NDiscResult {
        let dev = interface.device
        guard source.isLinkLocal else { return NDiscResult(.drop(.notSpecified)) }
        guard interface.acceptRA == 2 || (interface.acceptRA == 1 && !interface.forwarding) else {
            return NDiscResult(.consumed)
        }
        var events: [NDiscEvent] = []
        let route = defaultRoute(via: source, device: dev, lifetime: ra.routerLifetime, preference: ra.preference, now: now)
        events.append(ra.routerLifetime == 0 ? .deleteRoute(route) : .addRoute(route))
        if ra.currentHopLimit != 0 { events.append(.hopLimit(ra.currentHopLimit, device: dev)) }
        table.applyRouterAdvertisement(device: dev, reachableTimeMs: ra.reachableTime, retransTimerMs: ra.retransTimer)
        if let sll = ra.sourceLinkLayerAddress,
           case .success = table.lookupOrCreate(device: dev, address: .v6(source), now: now, into: &sink) {
            table.update(device: dev, address: .v6(source), linkAddress: sll, state: .stale,
                         flags: [.weakOverride, .override, .overrideIsRouter, .isRouter], now: now, into: &sink)
        }
        for p in ra.prefixes {
            // addrconf_prefix_rcv: link-local and multicast prefixes are ignored.
            if p.prefix.isLinkLocal || p.prefix.isMulticast { continue }
            if p.validLifetime < p.preferredLifetime { continue }
            if p.onLink {
                let prefix = IPPrefix(.v6(p.prefix), length: Int(p.prefixLength)).network
                let r = Route(destination: prefix, proto: .kernel, metric: prefixRouteMetric,
                              nextHops: [NextHop(device: dev)],
                              expires: p.validLifetime == .max ? nil : now + .seconds(Int64(p.validLifetime)),
                              preference: 0)
                events.append(p.validLifetime == 0 ? .deleteRoute(r) : .addRoute(r))
            }
            if p.autonomous && p.prefixLength == 64 { events.append(.autoconfPrefix(p, device: dev)) }
        }
        if let mtu = ra.mtu, mtu >= 1280 { events.append(.mtu(mtu, device: dev)) }
        return NDiscResult(.consumed, events)
    }

    /// ndisc_solicit: a unicast probe goes to the target with the cached
    /// address; otherwise multicast to the solicited-node group. The source
    /// is the queued packet's source if it is ours, else the device's
    /// link-local address.
    public static func solicit(_ s: NeighbourSolicitation, interface: NDPInterface,
                               lookup: some NeighbourAddressLookup,
                               into sink: inout some NeighbourSink & ~Copyable) {
        guard case .v6(let target) = s.target else { return }
        var source: IPv6Address?
        if case .v6(let hint)? = s.sourceHint, let st = lookup.ipv6AddressState(hint, device: interface.device),
           st != .tentative {
            source = hint
        }
        let destination = s.unicast != nil ? target : target.solicitedNodeMulticast
        // ndisc_send_ns without a usable hint takes the device's link-local
        // address (ipv6_get_lladdr), whatever the target; none: no NS.
        guard let src = source ?? interface.addresses.first(where: { $0.isLinkLocal }) else { return }
        sink.transmitNDP(NDPOutput(device: interface.device, source: src, destination: destination,
                                   linkDestination: s.unicast ?? MACAddress(multicastFor: destination),
                                   message: .neighborSolicitation(target: target,
                                                                  sourceLinkLayerAddress: interface.mac)))
    }
}

/// Duplicate Address Detection for one address (RFC 4862 §5.4; addrconf
/// addrconf_dad_start/addrconf_dad_work). The lead keeps one per tentative
/// address, calls `expire` at `deadline`, and `conflict()` when NDisc
/// reports `.duplicateAddress`.
public struct DADState: Hashable, Sendable {
    public enum Phase: Hashable, Sendable {
        /// IFA_F_TENTATIVE.
        case tentative
        /// DAD passed: the address may be used.
        case preferred
        /// IFA_F_DADFAILED (the address stays tentative and unused).
        case failed
    }

    public var address: IPv6Address
    public var device: Int32
    public private(set) var phase: Phase
    /// NS still to send (ifp->dad_probes).
    public private(set) var probesRemaining: Int
    /// When `expire` must run next; nil once DAD is over.
    public private(set) var deadline: Instant?

    /// addrconf_dad_start: `dadTransmits` (net.ipv6.conf.DEV.dad_transmits,
    /// default 1) probes after a random delay in [0, rtr_solicit_delay = 1 s).
    /// `acceptDAD` 0 or `dadTransmits` 0 make the address preferred at once.
    public init(address: IPv6Address, device: Int32, dadTransmits: Int = 1, acceptDAD: Int = 1, now: Instant,
                random: inout NeighbourRandom, solicitDelay: TimeDelta = .seconds(1)) {
        self.address = address
        self.device = device
        if dadTransmits <= 0 || acceptDAD <= 0 {
            phase = .preferred
            probesRemaining = 0
            deadline = nil
            return
        }
        phase = .tentative
        probesRemaining = dadTransmits
        let delay = Int64((UInt64(random.next()) &* UInt64(max(solicitDelay.nanoseconds, 1))) >> 32)
        deadline = now + TimeDelta(nanoseconds: delay)
    }

    /// addrconf_dad_work: send the next probe (NS from :: to the
    /// solicited-node group, no source link-layer option) or, when all were
    /// sent `retransTime` ago without a conflict, become preferred.
    /// Returns true when the address just became preferred.
    @discardableResult
    public mutating func expire(now: Instant, retransTime: TimeDelta,
                                into sink: inout some NeighbourSink & ~Copyable) -> Bool {
        guard phase == .tentative, let d = deadline, now >= d else { return false }
        if probesRemaining == 0 {
            phase = .preferred
            deadline = nil
            return true
        }
        probesRemaining -= 1
        let group = address.solicitedNodeMulticast
        sink.transmitNDP(NDPOutput(device: device, source: .any, destination: group,
                                   linkDestination: MACAddress(multicastFor: group),
                                   message: .neighborSolicitation(target: address, sourceLinkLayerAddress: nil)))
        deadline = now + max(retransTime, .milliseconds(10))
        return false
    }

    /// addrconf_dad_failure: a conflict while tentative. Returns true if
    /// this changed the state (a conflict after DAD is only logged by Linux).
    @discardableResult
    public mutating func conflict() -> Bool {
        guard phase == .tentative else { return false }
        phase = .failed
        deadline = nil
        return true
    }
}
