// ARP receive and send for the IPv4 neighbour table (RFC 826).
// Kernel counterpart: net/ipv4/arp.c — arp_rcv/arp_process (validation,
// replies to requests for local addresses, learning from requests, replies
// and gratuitous ARP), arp_ignore, arp_accept, arp_is_garp, arp_solicit
// (source choice by arp_announce, unicast vs broadcast probes),
// inet_gratuitous_arp (arp_notify).
//
// Deviations: proxy ARP (proxy_arp, pneigh entries, proxy_delay) and
// arp_filter are not implemented; arp_ignore 3 (no replies for host-scope
// addresses) treats 127.0.0.0/8 as the host-scope addresses.
import NetWire

/// One IPv4 address on a device (struct in_ifaddr).
public struct IPv4InterfaceAddress: Hashable, Sendable {
    public var address: IPv4Address
    public var prefixLength: Int
    public var scope: RouteScope
    /// IFA_F_SECONDARY: not used as a source by inet_select_addr.
    public var secondary: Bool
    public init(_ address: IPv4Address, prefixLength: Int, scope: RouteScope = .universe, secondary: Bool = false) {
        self.address = address
        self.prefixLength = prefixLength
        self.scope = scope
        self.secondary = secondary
    }
    /// inet_ifa_match: `a` is in this address's subnet.
    public func matches(_ a: IPv4Address) -> Bool {
        a.masked(prefixLength: prefixLength) == address.masked(prefixLength: prefixLength)
    }
}

/// What ARP needs to know about the receiving device (in_device + the
/// net.ipv4.conf.DEV.arp_* sysctls). The lead rebuilds it when addresses or
/// sysctls change, not per packet.
public struct ARPInterface: Hashable, Sendable {
    public var device: Int32
    public var mac: MACAddress
    /// Primary addresses first, as `ip addr` lists them.
    public var addresses: [IPv4InterfaceAddress]
    /// IFF_NOARP: ARP frames are dropped.
    public var noARP = false
    public var arpIgnore = 0
    public var arpAnnounce = 0
    public var arpAccept = 0
    public var arpNotify = false
    /// route_localnet: loopback targets allowed.
    public var routeLocalnet = false
    public init(device: Int32, mac: MACAddress, addresses: [IPv4InterfaceAddress]) {
        self.device = device
        self.mac = mac
        self.addresses = addresses
    }

    /// inet_confirm_addr on this device: an address equal to `local`
    /// (any when nil) with scope ≤ `scope`, whose subnet holds `peer` (any when nil).
    func confirm(peer: IPv4Address?, local: IPv4Address?, scope: RouteScope) -> Bool {
        addresses.contains { a in
            a.scope <= scope && (local == nil || a.address == local!) && (peer == nil || a.matches(peer!))
        }
    }

    /// inet_select_addr(dev, dst, RT_SCOPE_LINK): a primary address in
    /// `destination`'s subnet, else the first primary one.
    public func selectSource(for destination: IPv4Address) -> IPv4Address? {
        let primaries = addresses.filter { !$0.secondary && $0.scope <= .link }
        return (primaries.first { $0.matches(destination) } ?? primaries.first)?.address
    }
}

/// The namespace's answer to "what is this address?" (inet_addr_type /
/// ip_route_input's rt_type, ipv6_get_ifaddr), without closures.
public protocol NeighbourAddressLookup {
    /// RTN_LOCAL / RTN_BROADCAST / RTN_MULTICAST / RTN_UNICAST for `address`
    /// as seen from `device`'s table (inet_addr_type_dev_table).
    func addressType(_ address: IPAddress, device: Int32) -> RouteType
    /// The state of an IPv6 address configured on `device`, nil when it is not.
    func ipv6AddressState(_ address: IPv6Address, device: Int32) -> IPv6AddressState?
}

/// How a local IPv6 address answers Neighbor Solicitations.
public enum IPv6AddressState: Hashable, Sendable {
    /// IFA_F_TENTATIVE: DAD running; NS for it are not answered.
    case tentative
    case preferred
    /// An anycast address: NAs without the override flag.
    case anycast
}

/// arp_process's verdict: the packet was used (consume_skb), or the caller
/// drops it with this reason (kfree_skb_reason).
public enum NeighbourInputVerdict: Hashable, Sendable {
    case consumed
    case drop(DropReason)
}

public enum ARP {
    /// arp_rcv + arp_process for an ARP packet whose data starts at the ARP
    /// header (Ethernet header pulled, `metadata.packetType` set).
    public static func receive(_ packet: borrowing PacketBuffer, interface: ARPInterface,
                               lookup: some NeighbourAddressLookup, table: NeighbourTable, now: Instant,
                               into sink: inout some NeighbourSink & ~Copyable) -> NeighbourInputVerdict {
        if interface.noARP { return .drop(.notSpecified) }
        switch packet.metadata.packetType {
        case .otherHost, .loopback: return .drop(.otherhost)
        default: break
        }
        let parsed: Result<ARPRepr, WireError> = packet.withUnsafeReadableBytes { b in
            do throws(WireError) {
                return .success(ARPRepr.parse(try ARPPacket(b)))
            } catch {
                return .failure(error)
            }
        }
        let arp: ARPRepr
        switch parsed {
        case .success(let r): arp = r
        case .failure(.truncated): return .drop(.pktTooSmall)
        case .failure: return .drop(.notSpecified)
        }
        return process(arp, packetType: packet.metadata.packetType, interface: interface, lookup: lookup,
                       table: table, now: now, into: &sink)
    }

    /// arp_process on a parsed packet.
    public static func process(_ arp: ARPRepr, packetType: PacketType, interface: ARPInterface,
                               lookup: some NeighbourAddressLookup, table: NeighbourTable, now: Instant,
                               into sink: inout some NeighbourSink & ~Copyable) -> NeighbourInputVerdict {
        guard arp.operation == .request || arp.operation == .reply else { return .drop(.notSpecified) }
        let sip = arp.senderProtocolAddress, tip = arp.targetProtocolAddress, sha = arp.senderHardwareAddress
        let dev = interface.device
        if tip.isMulticast || (!interface.routeLocalnet && tip.isLoopback) { return .drop(.notSpecified) }

        // RFC 5227 probe (sender 0.0.0.0): answer if the target is ours.
        if sip.isUnspecified {
            if arp.operation == .request, lookup.addressType(.v4(tip), device: dev) == .local,
               !ignore(interface, sip: sip, tip: tip) {
                sink.transmitARP(ARPRepr(operation: .reply, senderHardwareAddress: interface.mac,
                                         senderProtocolAddress: tip, targetHardwareAddress: sha,
                                         targetProtocolAddress: sip), device: dev, destination: sha)
            }
            return .consumed
        }

        if arp.operation == .request, routeInputAccepts(sip: sip, lookup: lookup, device: dev),
           lookup.addressType(.v4(tip), device: dev) == .local {
            if !ignore(interface, sip: sip, tip: tip) {
                // neigh_event_ns: learn the asker as STALE, then reply.
                if case .success = table.lookupOrCreate(device: dev, address: .v4(sip), now: now, into: &sink) {
                    table.update(device: dev, address: .v4(sip), linkAddress: sha, state: .stale, flags: [.override],
                                 now: now, into: &sink)
                    sink.transmitARP(ARPRepr(operation: .reply, senderHardwareAddress: interface.mac,
                                             senderProtocolAddress: tip, targetHardwareAddress: sha,
                                             targetProtocolAddress: sip), device: dev, destination: sha)
                }
            }
            return .consumed
        }

        // Update our ARP tables.
        var entry = table.lookup(device: dev, address: .v4(sip))
        let accept = accepts(interface, sip: sip)
        var isGARP = false
        var senderType: RouteType?
        if entry != nil || accept {
            isGARP = tip == sip && (arp.operation != .reply || arp.targetHardwareAddress == sha)
            if isGARP {
                senderType = lookup.addressType(.v4(sip), device: dev)
                if senderType != .unicast { isGARP = false }
            }
        }
        if accept && entry == nil {
            let unicast = (senderType ?? lookup.addressType(.v4(sip), device: dev)) == .unicast
            if isGARP || (arp.operation == .reply && unicast) {
                if case .success(let e) = table.lookupOrCreate(device: dev, address: .v4(sip), now: now, into: &sink) {
                    entry = e
                }
            }
        }
        if let e = entry {
            let p = table.parameters(device: dev)
            let override = now > e.updated + p.locktime || isGARP
            let state: NUDState = arp.operation != .reply || packetType != .host ? .stale : .reachable
            table.update(device: dev, address: .v4(sip), linkAddress: sha, state: state,
                         flags: override ? [.override] : [], now: now, into: &sink)
        }
        return .consumed
    }

    /// ip_route_input's source checks that matter here: a martian or local
    /// sender makes the lookup fail, and the request is not answered.
    static func routeInputAccepts(sip: IPv4Address, lookup: some NeighbourAddressLookup, device: Int32) -> Bool {
        if sip.isMulticast || sip.isLimitedBroadcast || sip.isZeroNet || sip.isLoopback { return false }
        let t = lookup.addressType(.v4(sip), device: device)
        return t != .local && t != .broadcast
    }

    /// arp_ignore(): true when the request must not be answered.
    public static func ignore(_ i: ARPInterface, sip: IPv4Address, tip: IPv4Address) -> Bool {
        switch i.arpIgnore {
        case 1: !i.confirm(peer: nil, local: tip, scope: .host)
        case 2: !i.confirm(peer: sip, local: tip, scope: .host)
        case 3: tip.isLoopback
        case 8: true
        default: false
        }
    }

    /// arp_accept(): 0 never, 1 always, 2 when the sender is in a subnet of
    /// this device.
    public static func accepts(_ i: ARPInterface, sip: IPv4Address) -> Bool {
        switch i.arpAccept {
        case 1: true
        case 2: i.confirm(peer: sip, local: nil, scope: .link)
        default: false
        }
    }

    /// arp_solicit: the request for a table solicitation, source chosen by
    /// arp_announce; broadcast unless it is a unicast probe.
    public static func solicit(_ s: NeighbourSolicitation, interface: ARPInterface,
                               lookup: some NeighbourAddressLookup,
                               into sink: inout some NeighbourSink & ~Copyable) {
        guard case .v4(let target) = s.target else { return }
        var source: IPv4Address?
        if case .v4(let hint)? = s.sourceHint {
            let local = lookup.addressType(.v4(hint), device: interface.device) == .local
            switch interface.arpAnnounce {
            case 0: if local { source = hint }
            case 1:
                if local, interface.addresses.contains(where: { $0.matches(target) && $0.matches(hint) }) {
                    source = hint
                }
            default: break
            }
        }
        let saddr = source ?? interface.selectSource(for: target) ?? .any
        sink.transmitARP(ARPRepr(operation: .request, senderHardwareAddress: interface.mac,
                                 senderProtocolAddress: saddr, targetHardwareAddress: .zero,
                                 targetProtocolAddress: target),
                         device: interface.device, destination: s.unicast ?? .broadcast)
    }

    /// inet_gratuitous_arp for arp_notify (link up, address change):
    /// one broadcast request per primary address, sender = target.
    public static func announce(interface: ARPInterface, into sink: inout some NeighbourSink & ~Copyable) {
        guard interface.arpNotify, !interface.noARP else { return }
        for a in interface.addresses where !a.secondary {
            sink.transmitARP(ARPRepr(operation: .request, senderHardwareAddress: interface.mac,
                                     senderProtocolAddress: a.address, targetHardwareAddress: .zero,
                                     targetProtocolAddress: a.address),
                             device: interface.device, destination: .broadcast)
        }
    }

    /// arp_create: the Ethernet frame for `arp` (42 bytes; the device pads
    /// if it must), from `source` to `destination`. nil when the pool is empty.
    public static func frame(_ arp: ARPRepr, source: MACAddress, destination: MACAddress,
                             pool: PacketPool) -> PacketBuffer? {
        guard var b = pool.allocate() else { return nil }
        let out = b.put(EthernetRepr.headerLength + ARPRepr.headerLength)
        do throws(WireError) {
            try EthernetRepr(destination: destination, source: source, etherType: .arp).emit(into: out)
            try arp.emit(into: UnsafeMutableRawBufferPointer(rebasing: out[EthernetRepr.headerLength...]))
        } catch {
            return nil
        }
        b.metadata.networkProtocol = .arp
        return b
    }
}
