// NetworkNamespace: struct net. Kernel counterparts: include/net/net_namespace.h,
// net/core/net_namespace.c (pernet_operations), net/core/dev.c (the
// namespace's device list and ifindex allocation).
//
// A namespace owns its devices, their addresses, its FIB tables and policy
// rules, its neighbour tables, its sysctls and its sockets. Subsystems keep
// their per-namespace state as stored properties created in `init` — the
// pernet_operations of this stack — so a namespace is one object whose
// parts are reached without lookups on the packet path.
import NetWire

/// Namespace-wide IPv4/IPv6 settings (struct netns_ipv4 / netns_ipv6 sysctls).
public struct NamespaceConfig: Sendable, Equatable {
    public var ipDefaultTTL = 64
    public var ipNoPMTUDisc = 0
    public var icmpEchoIgnoreAll = 0
    public var icmpEchoIgnoreBroadcasts = 1
    public var icmpIgnoreBogusErrorResponses = 1
    /// icmp_ratelimit in ms and icmp_ratemask (dest unreach, source quench,
    /// time exceeded, parameter problem).
    public var icmpRatelimit = 1000
    public var icmpRatemask = 6168
    public var icmpMsgsPerSec = 1000
    public var icmpMsgsBurst = 50
    public var localPortRange: ClosedRange<UInt16> = 32768...60999
    public var pingGroupRange: (Int64, Int64) = (1, 0)
    public var fibMultipathHashPolicy = 0
    public var ipfragHighThresh = 4 * 1024 * 1024
    public var ipfragLowThresh = 3 * 1024 * 1024
    public var ipfragTime = 30
    public var ipfragMaxDist = 64
    public var udpRmemMin = 4096
    public var ipv6HopLimit = 64
    public var ipv6FibMultipathHashPolicy = 0
    /// 100 ms since Linux 6.x (icmpv6_time; it was 1 s).
    public var ipv6IcmpRatelimit = 100
    public var ipv6IcmpEchoIgnoreAll = 0
    public init() {}

    public static func == (a: NamespaceConfig, b: NamespaceConfig) -> Bool {
        a.ipDefaultTTL == b.ipDefaultTTL && a.localPortRange == b.localPortRange
            && a.pingGroupRange == b.pingGroupRange && a.icmpRatelimit == b.icmpRatelimit
    }
}

/// A network namespace.
public final class NetworkNamespace {
    /// The name `ip netns` knows it by ("" for the initial namespace).
    public let name: String
    /// A stable id (the lab's netnsid), in creation order.
    public let id: Int
    /// The ids this namespace gives its peer namespaces (peernet2id:
    /// `link-netnsid N`), by the peer's `id`; allocated on first use,
    /// lowest free first, as the kernel's per-net idr.
    var peerNetnsIDs: [Int: Int32] = [:]

    /// peernet2id_alloc(): this namespace's id for `other`.
    public func netnsID(of other: NetworkNamespace) -> Int32 {
        if let id = peerNetnsIDs[other.id] { return id }
        let used = Set(peerNetnsIDs.values)
        var id: Int32 = 0
        while used.contains(id) { id += 1 }
        peerNetnsIDs[other.id] = id
        return id
    }
    /// The stack that owns this namespace. unowned(unsafe): the packet path
    /// reads it many times per packet and a checked unowned load is an
    /// atomic retain/release pair each time. Safe because a `Stack` holds
    /// every namespace it made in `namespaces` and a namespace is used only
    /// through its stack's poll and control calls, which the stack outlives.
    public unowned(unsafe) let stack: Stack
    /// The shard's TCP Small Queues table, read and written per TCP segment:
    /// unowned(unsafe) as `stack` (the shard outlives its namespaces), so a
    /// charge or release costs no retain/release of the table.
    unowned(unsafe) let smallQueues: TCPSmallQueues
    // Fields marked @exclusivity(unchecked) are read or written per packet.
    // One shard thread owns the namespace (the control plane runs between
    // polls on that same thread), so accesses never overlap and the dynamic
    // exclusivity check (swift_beginAccess) would only cost time.
    @exclusivity(unchecked) public var config = NamespaceConfig()
    /// net.ipv4.conf.all / default and net.ipv6.conf.all / default.
    /// Linux's ipv4_devconf / ipv4_devconf_dflt / ipv6_devconf /
    /// ipv6_devconf_dflt differ in accept_source_route (default 1) and
    /// accept_dad (all 0).
    @exclusivity(unchecked) public var ipv4All = IPv4DeviceConfig()
    public var ipv4Default: IPv4DeviceConfig = {
        var c = IPv4DeviceConfig()
        c.acceptSourceRoute = 1
        return c
    }()
    @exclusivity(unchecked) public var ipv6All: IPv6DeviceConfig = {
        var c = IPv6DeviceConfig()
        c.acceptDAD = 0
        return c
    }()
    public var ipv6Default = IPv6DeviceConfig()

    /// The ARP and ND neighbour tables (neigh_table arp_tbl / nd_tbl).
    public let arpTable: NeighbourTable
    public let ndTable: NeighbourTable

    /// IPv4 reassembly queues (netns_frags, ipfrag_* limits).
    @exclusivity(unchecked) var ipv4Fragments: IPv4Reassembly
    /// IPv6 reassembly queues (net->ipv6.fqdir, ip6frag_* limits).
    @exclusivity(unchecked) var ipv6Fragments: IPv6Reassembly
    /// IPv6 per-namespace state: DAD runs, fragment identifications.
    @exclusivity(unchecked) var ipv6State = IPv6NamespaceState()

    /// FIB tables and policy rules (`ip route`, `ip rule`).
    @exclusivity(unchecked) public var routing = RoutingState()
    /// Route decisions of recent local flows (RouteCache.swift).
    @exclusivity(unchecked) var outputRouteCache = RouteCache()
    @exclusivity(unchecked) var inputRouteCache = RouteCache()

    /// Sockets (the namespace's part of the socket hash tables).
    @exclusivity(unchecked) public internal(set) var udpSockets: [UDPSocket] = []
    @exclusivity(unchecked) public internal(set) var pingSockets: [PingSocket] = []
    /// TCP: connection and listener tables, bound ports, tcp sysctls.
    public let tcp = TCPNamespaceState()
    /// IPv4 identification counters per destination (ip_idents).
    @exclusivity(unchecked) var ipIdents: [IPv4Address: UInt16] = [:]
    /// Learned path MTUs (route exceptions).
    @exclusivity(unchecked) public internal(set) var pmtu = PMTUCache()
    @exclusivity(unchecked) var icmpRate = ICMPRateLimiter()
    @exclusivity(unchecked) var icmp6Rate = ICMPRateLimiter()

    /// Devices in ifindex order.
    @exclusivity(unchecked) public private(set) var devices: [NetDevice] = [] {
        didSet { reindexDevices(); localIPv4Dirty = true }
    }
    /// The usable (not tentative, not DAD-failed) IPv4 addresses of every
    /// device, rebuilt when `localIPv4Dirty` (set by device and address
    /// changes): `isLocalAddress` asks it per forwarded packet.
    @exclusivity(unchecked) private var localIPv4: [UInt32] = []
    @exclusivity(unchecked) var localIPv4Dirty = true
    /// Whether TCP should build GSO packets for the device the last locally
    /// sent IP packet was routed out of (read after each send: sk_can_gso).
    @exclusivity(unchecked) var lastOutputTakesGSO = false
    /// True while a device's receive batch is processed (Stack.poll).
    @exclusivity(unchecked) var inReceiveBatch = false
    /// TCP sockets whose output waits for the end of the receive batch.
    @exclusivity(unchecked) var tcpDeferredOutput: [TCPSocket] = []
    /// Sockets whose output stopped on a full device backlog
    /// (`Stack.backlogFull`), resumed at the end of the poll round.
    @exclusivity(unchecked) var tcpBlockedOutput: [TCPSocket] = []
    /// Devices by ifindex (nil: no such device), for the O(1) `device(index:)`
    /// the packet path asks; ifindexes past `maxIndexedIfindex` are found by
    /// scanning `devices`.
    @exclusivity(unchecked) private var devicesByIndex: [NetDevice?] = []
    private static let maxIndexedIfindex: Int32 = 4096
    private var nextIfindex: Int32 = 1
    /// Whether any packet is waiting in a device ring of this namespace.
    @exclusivity(unchecked) var hasPendingReceive = false

    init(name: String, id: Int, stack: Stack) {
        self.name = name
        self.id = id
        self.stack = stack
        smallQueues = stack.shard.smallQueues
        arpTable = NeighbourTable(family: .ipv4, randomSeed: UInt64(id) &+ 1, now: stack.now)
        ndTable = NeighbourTable(family: .ipv6, randomSeed: UInt64(id) &+ 1001, now: stack.now)
        ipv4Fragments = IPv4Reassembly(pool: stack.largePool)
        ipv6Fragments = IPv6Reassembly(pool: stack.largePool)
        ipv6State.random = NeighbourRandom(seed: UInt64(id) &+ 7001)
        let lo = NetDevice(kind: .loopback, ifindex: 1, name: "lo", mac: .zero, namespace: self)
        nextIfindex = 2
        devices.append(lo)
        reindexDevices()  // observers do not run in init
        inheritDeviceConfig(lo)
    }

    public var loopback: NetDevice { devices[0] }

    public func device(named name: String) -> NetDevice? { devices.first { $0.name == name } }
    @inline(__always)
    public func device(index: Int32) -> NetDevice? {
        if index >= 0 && index < Int32(truncatingIfNeeded: devicesByIndex.count) {
            return devicesByIndex[Int(index)]
        }
        if index < NetworkNamespace.maxIndexedIfindex { return nil }
        for d in devices where d.ifindex == index { return d }
        return nil
    }

    /// Whether an IPv4 address (raw, host order) is a usable address of a
    /// device here (RouteContext.isLocalAddress for IPv4).
    @inline(__always)
    func isLocalIPv4(_ raw: UInt32) -> Bool {
        if localIPv4Dirty {
            var list: [UInt32] = []
            for d in devices {
                for x in d.addresses where !x.flags.contains(.tentative) && !x.flags.contains(.dadFailed) {
                    if case .v4(let a) = x.address { list.append(a.rawValue) }
                }
            }
            localIPv4 = list
            localIPv4Dirty = false
        }
        return localIPv4.withUnsafeBufferPointer { $0.contains(raw) }
    }

    /// Rebuilds `devicesByIndex` after `devices` changed (device add,
    /// remove, move: control-plane events).
    private func reindexDevices() {
        var table: [NetDevice?] = []
        for d in devices where d.ifindex >= 0 && d.ifindex < NetworkNamespace.maxIndexedIfindex {
            let i = Int(d.ifindex)
            if i >= table.count { table.append(contentsOf: repeatElement(nil, count: i + 1 - table.count)) }
            table[i] = d
        }
        devicesByIndex = table
    }

    // MARK: links (rtnl_newlink / rtnl_dellink / do_setlink)

    static func validName(_ name: String) -> Bool {
        // dev_valid_name(): 1…15 bytes, not "." or "..", no '/', ':' or whitespace.
        let u = Array(name.utf8)
        guard !u.isEmpty, u.count < 16, name != ".", name != ".." else { return false }
        return !u.contains { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: ":") || $0 <= 0x20 || $0 == 0x7F }
    }

    func allocateIfindex(preferred: Int32? = nil) -> Int32 {
        if let p = preferred, device(index: p) == nil { return p }
        while device(index: nextIfindex) != nil { nextIfindex &+= 1 }
        defer { nextIfindex &+= 1 }
        return nextIfindex
    }

    func insert(_ d: NetDevice) {
        let i = devices.firstIndex { $0.ifindex > d.ifindex } ?? devices.endIndex
        devices.insert(d, at: i)
        inheritDeviceConfig(d)
    }

    /// `ip link add NAME type dummy|veth [peer name P [netns NS]]`.
    @discardableResult
    public func addLink(name: String, kind: DeviceKind, mac: MACAddress? = nil, mtu: Int? = nil,
                        txQueueLength: Int? = nil, peerName: String? = nil,
                        peerNamespace: NetworkNamespace? = nil, peerMAC: MACAddress? = nil) throws(KernelError) -> NetDevice {
        guard NetworkNamespace.validName(name) else { throw KernelError(.EINVAL, "Invalid device name") }
        guard device(named: name) == nil else { throw KernelError(.EEXIST) }
        switch kind {
        case .loopback:
            throw KernelError(.EOPNOTSUPP, "Unknown device type")
        case .dummy:
            let d = NetDevice(kind: .dummy, ifindex: allocateIfindex(), name: name,
                              mac: mac ?? stack.randomMAC(), namespace: self)
            if let m = mtu { d.mtu = m }
            if let q = txQueueLength { d.txQueueLength = q }
            insert(d)
            return d
        case .veth:
            let peerNS = peerNamespace ?? self
            let pName = peerName ?? peerNS.nextFreeName(prefix: "veth")
            guard NetworkNamespace.validName(pName) else { throw KernelError(.EINVAL, "Invalid device name") }
            guard peerNS.device(named: pName) == nil, !(peerNS === self && pName == name) else {
                throw KernelError(.EEXIST)
            }
            if let m = mtu, m < 68 || m > 65535 {
                throw KernelError(.EINVAL, m < 68 ? "mtu less than device minimum" : "mtu greater than device maximum")
            }
            // veth_newlink registers the peer first, so it takes the lower ifindex.
            let p = NetDevice(kind: .veth, ifindex: peerNS.allocateIfindex(), name: pName,
                              mac: peerMAC ?? stack.randomMAC(), namespace: peerNS)
            peerNS.insert(p)
            let d = NetDevice(kind: .veth, ifindex: allocateIfindex(), name: name,
                              mac: mac ?? stack.randomMAC(), namespace: self)
            insert(d)
            if let m = mtu { d.mtu = m; p.mtu = m; d.ipv6.mtu = m; p.ipv6.mtu = m }
            if let q = txQueueLength { d.txQueueLength = q }
            d.peer = p
            p.peer = d
            // The link notifications allocate the peers' netns ids, the
            // peer (registered first) before the device.
            if peerNS !== self {
                _ = peerNS.netnsID(of: self)
                _ = netnsID(of: peerNS)
            }
            return d
        case .tap, .tun:
            return try addTunTap(name: name, kind: kind, options: TunTapOptions(), mac: mac)
        }
    }

    /// `ip tuntap add dev NAME mode tap|tun`: the device, attached to the
    /// host's TUN/TAP of that name when the stack has a host driver
    /// (`netstack run`); in a lab, a persistent device with no carrier.
    @discardableResult
    public func addTunTap(name: String, kind: DeviceKind, options: TunTapOptions,
                          mac: MACAddress? = nil) throws(KernelError) -> NetDevice {
        precondition(kind.isHostPort)
        guard NetworkNamespace.validName(name) else { throw KernelError(.EINVAL, "Invalid device name") }
        // TUNSETIFF on a name that is not a free TUN/TAP: EBUSY.
        guard device(named: name) == nil else { throw KernelError(.EBUSY) }
        let d = NetDevice(kind: kind, ifindex: allocateIfindex(), name: name,
                          mac: kind == .tun ? .zero : (mac ?? stack.randomMAC()), namespace: self)
        d.tunTapOptions = options
        if let host = stack.hostDriver {
            try host.attach(d, options: options)
            d.hostAttached = true
        }
        insert(d)
        return d
    }

    public func nextFreeDeviceName(prefix: String) -> String { nextFreeName(prefix: prefix) }

    func nextFreeName(prefix: String) -> String {
        var i = 0
        while device(named: "\(prefix)\(i)") != nil && i < 1 << 16 { i += 1 }
        return "\(prefix)\(i)"
    }

    /// `ip link del NAME`: a veth takes its peer with it.
    public func deleteLink(_ d: NetDevice) throws(KernelError) {
        guard d.kind != .loopback else { throw KernelError(.EOPNOTSUPP) }
        if let p = d.peer {
            p.namespace.remove(p)
            remove(d)
            // `peer` is unowned(unsafe): unlink the pair before either goes.
            d.peer = nil
            p.peer = nil
            return
        }
        remove(d)
    }

    func remove(_ d: NetDevice) {
        if d.kind.isHostPort, d.hostAttached {
            stack.hostDriver?.detach(d)
            d.hostAttached = false
            d.hostTransmitRing.removeAll()
        }
        setDown(d)
        d.addresses.removeAll()
        ipv6State.keepAddrOnDown[d.ifindex] = nil
        neighbourDeviceGone(d)
        d.receiveRing.removeAll()
        devices.removeAll { $0 === d }
        stack.deviceRemoved(d, from: self)
    }

    /// dev_open(): IFF_UP; a veth peer gains carrier.
    public func setUp(_ d: NetDevice) {
        guard !d.isUp else { return }
        d.adminFlags.insert(.up)
        d.hasBeenUp = true
        stack.deviceStateChanged(d)
        if let p = d.peer { stack.deviceStateChanged(p) }
    }

    /// NETDEV_UP in inetdev_event / addrconf_notify: loopback gets
    /// 127.0.0.1/8 and ::1; an Ethernet device its EUI-64 link-local address.
    func addAutomaticAddresses(_ d: NetDevice) {
        if d.kind == .loopback {
            if !d.addresses.contains(where: { $0.address == .v4(.loopback) }) {
                try? addAddress(InterfaceAddress(prefix: IPPrefix(.v4(.loopback), length: 8), scope: .host), to: d, now: stack.now)
            }
            if d.ipv6.disableIPv6 == 0 && !d.addresses.contains(where: { $0.address == .v6(.loopback) }) {
                try? addAddress(InterfaceAddress(prefix: IPPrefix(.v6(.loopback), length: 128), scope: .host), to: d, now: stack.now)
            }
        } else if d.ipv6.disableIPv6 == 0 && d.ipv6.addrGenMode == 0 && d.hasCarrier {
            let m = d.mac.rawValue
            let iid = ((m >> 24) << 40 | 0xFF_FE << 24 | (m & 0xFF_FFFF)) ^ (0x02 << 56)
            let ll = IPv6Address(high: 0xFE80 << 48, low: iid)
            if !d.addresses.contains(where: { $0.address == .v6(ll) }) {
                try? addAddress(InterfaceAddress(prefix: IPPrefix(.v6(ll), length: 64), scope: .link), to: d, now: stack.now)
            }
            ipv6AddMulticastRoute(d)
        }
    }

    /// dev_close(): clears IFF_UP, flushes its routes and neighbours.
    public func setDown(_ d: NetDevice) {
        guard d.isUp else { return }
        d.adminFlags.remove(.up)
        d.receiveRing.removeAll()
        stack.deviceStateChanged(d)
        ipv6AddressesDown(d)
        neighbourDeviceDown(d)
        if let p = d.peer {
            stack.deviceStateChanged(p)
            p.namespace.neighbourCarrierDown(p)
        }
    }

    public func setMTU(_ d: NetDevice, _ mtu: Int) throws(KernelError) {
        if d.maxMTU != 0 || d.minMTU != 0 {
            if mtu < d.minMTU { throw KernelError(.EINVAL, "mtu less than device minimum") }
            if mtu > d.maxMTU { throw KernelError(.EINVAL, "mtu greater than device maximum") }
        } else if mtu < 0 {
            throw KernelError(.EINVAL)
        }
        d.mtu = mtu
        // addrconf_notify NETDEV_CHANGEMTU: mtu6 follows the device.
        if mtu >= 1280 { d.ipv6.mtu = mtu }
        stack.deviceStateChanged(d)
    }

    public func setMAC(_ d: NetDevice, _ mac: MACAddress) throws(KernelError) {
        guard d.kind != .loopback else { throw KernelError(.EOPNOTSUPP) }
        guard !mac.isMulticast, mac != .zero else { throw KernelError(.EADDRNOTAVAIL) }
        d.mac = mac
    }

    public func rename(_ d: NetDevice, to name: String) throws(KernelError) {
        guard NetworkNamespace.validName(name) else { throw KernelError(.EINVAL, "Invalid device name") }
        if name == d.name { return }
        guard device(named: name) == nil else { throw KernelError(.EEXIST) }
        d.name = name
    }

    /// `ip link set DEV netns NS`: the device leaves this namespace, down,
    /// with its addresses and routes gone, and keeps its ifindex if free there.
    public func move(_ d: NetDevice, to target: NetworkNamespace) throws(KernelError) {
        guard target !== self else { return }
        guard d.kind != .loopback else { throw KernelError(.EINVAL, "The loopback device can not be moved") }
        guard target.device(named: d.name) == nil else { throw KernelError(.EEXIST) }
        remove(d)
        d.ifindex = target.allocateIfindex(preferred: d.ifindex)
        d.namespace = target
        target.insert(d)
    }

    // MARK: addresses (inet_rtm_newaddr / inet6_rtm_newaddr)

    /// `ip addr add PREFIX dev D [broadcast B] [scope S] [label L]`.
    public func addAddress(_ a: InterfaceAddress, to d: NetDevice, now: Instant) throws(KernelError) {
        var a = a
        if a.isIPv4 {
            if d.addresses.contains(where: { $0.address == a.address && $0.prefix.length == a.prefix.length }) {
                throw KernelError(.EEXIST, "ipv4: Address already assigned")
            }
            // A second address in an existing subnet is secondary.
            if d.addresses.contains(where: {
                $0.isIPv4 && $0.prefix.length == a.prefix.length
                    && $0.prefix.network == a.prefix.network && !$0.flags.contains(.secondary)
            }) {
                a.flags.insert(.secondary)
            }
            if case .v4(let addr) = a.address, addr.isLoopback, a.scope == .universe {
                a.scope = .host
            }
        } else {
            if d.addresses.contains(where: { $0.address == a.address }) {
                throw KernelError(.EEXIST)
            }
            if case .v6(let addr) = a.address {
                if addr.isLoopback { a.scope = .host } else if addr.isLinkLocal { a.scope = .link }
            }
            if d.ipv6.acceptDAD > 0 && d.ipv6.dadTransmits > 0 && !a.flags.contains(.nodad) && d.usesARP {
                a.flags.insert(.tentative)
            }
        }
        a.created = now
        d.addresses.append(a)
        stack.addressAdded(a, on: d)
    }

    public func deleteAddress(_ prefix: IPPrefix, from d: NetDevice) throws(KernelError) {
        guard let i = d.addresses.firstIndex(where: {
            $0.address == prefix.address && $0.prefix.length == prefix.length
        }) ?? d.addresses.firstIndex(where: { $0.address == prefix.address && prefix.isHostPrefix })
        else {
            throw prefix.isIPv4 ? KernelError(.EADDRNOTAVAIL, "ipv4: Address not found") : KernelError(.EADDRNOTAVAIL)
        }
        let a = d.addresses.remove(at: i)
        stack.addressRemoved(a, from: d)
        // Without promote_secondaries, deleting a primary deletes the
        // secondaries of its subnet (__inet_del_ifa).
        if a.isIPv4 && !a.flags.contains(.secondary) {
            for s in d.addresses where s.isIPv4 && s.flags.contains(.secondary)
                && s.prefix.length == a.prefix.length && s.prefix.network == a.prefix.network {
                d.addresses.removeAll { $0 == s }
                stack.addressRemoved(s, from: d)
            }
        }
    }

    /// Every address of the namespace with its device, in device order.
    public var allAddresses: [(NetDevice, InterfaceAddress)] {
        devices.flatMap { d in d.addresses.map { (d, $0) } }
    }

    /// Whether `a` is one of this namespace's addresses (inet_addr_type == RTN_LOCAL).
    public func isLocal(_ a: IPAddress) -> Bool {
        for d in devices { for x in d.addresses where x.address == a { return true } }
        return false
    }
}
