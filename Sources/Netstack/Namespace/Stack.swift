// Stack: every namespace, the shard that runs them, and the loop that moves
// packets. Kernel counterpart: the set of `struct net`s plus the softirq
// (net_rx_action polling NAPI instances with a budget, the timer softirq).
//
// Time is a parameter: `poll(now:)` does all work due at `now` (drains
// device rings with a NAPI budget per device per round, runs expired
// timers, dequeues qdiscs whose packets are due) and `nextDeadline` says
// when it next has work. The lab's virtual clock jumps to that deadline;
// a host sleeps in epoll until it.
import NetWire

public final class Stack {
    public let shard: Shard
    // `namespaces`, `now` and `napiBudget` are read per packet; one thread
    // runs the stack (control calls happen between polls), so accesses never
    // overlap: no dynamic exclusivity check.
    @exclusivity(unchecked) public private(set) var namespaces: [NetworkNamespace] = []
    /// The time of the last `poll`.
    @exclusivity(unchecked) public private(set) var now: Instant = .zero
    /// NAPI weight: frames taken from one device ring per round (netdev_budget's share).
    @exclusivity(unchecked) public var napiBudget = 64
    /// net.core.busy_poll (µs): how long a host loop polls its devices
    /// before it sleeps (`netstack run`); 0 sleeps at once, as Linux's default.
    public var busyPollMicroseconds = 0
    private var nextNamespaceID = 0
    /// Two streams from the seed, so that creating a device does not shift
    /// the ports and ids chosen later (and vice versa).
    private var macRandom: Random
    private var random: Random
    /// Pool for reassembled datagrams (64 KiB slots).
    public let largePool: PacketPool

    /// `--trace FILTER`: packets matching it get a trace id where they
    /// enter the stack (device receive, local output, dev_queue_xmit) and
    /// every decision about them is recorded in the shard's trace ring.
    /// Read per packet; written only between polls (single-threaded).
    @exclusivity(unchecked) public var traceFilter: PacketFilter? {
        didSet { isTracing = traceFilter != nil }
    }
    /// `traceFilter != nil`, as a flag the packet path tests (one branch).
    @exclusivity(unchecked) public private(set) var isTracing = false
    private var lastTraceID: UInt32 = 0
    /// `--pcap DIR`: frames received and transmitted by every device.
    @exclusivity(unchecked) public var capture: PacketCapture?

    /// The host side of TUN/TAP devices (NetstackHost in `netstack run`);
    /// nil in a lab, where `ip tuntap add` makes a device nobody attaches.
    public var hostDriver: (any HostDeviceDriver)?
    /// Set when a TUN/TAP device queued frames for its host side; the host
    /// clears it after writing them (`takeHostTransmit`).
    @exclusivity(unchecked) public var hostTransmitPending = false

    public init(seed: UInt64 = 1, poolSlots: Int = 8192) {
        shard = Shard(id: 0, pool: PacketPool(slotSize: 2048, count: poolSlots, defaultHeadroom: 128))
        largePool = PacketPool(slotSize: 65536 + 256, count: 64, defaultHeadroom: 128)
        macRandom = Random(seed: seed)
        random = Random(seed: seed ^ 0x5DEE_CE66_D1CE_4E5B)
        let initial = NetworkNamespace(name: "", id: 0, stack: self)
        nextNamespaceID = 1
        namespaces.append(initial)
    }

    /// init_net: the namespace a script starts in.
    public var initial: NetworkNamespace { namespaces[0] }

    /// Named namespaces by name: every `ip -n NAME …` line of a lab asks
    /// this, and a scan over a hundred namespaces was a third of the command.
    private var namespacesByName: [String: NetworkNamespace] = [:]

    public func namespace(named name: String) -> NetworkNamespace? {
        name.isEmpty ? nil : namespacesByName[name]
    }

    /// `ip netns add NAME`.
    @discardableResult
    public func addNamespace(_ name: String) throws(KernelError) -> NetworkNamespace {
        guard !name.isEmpty, !name.contains("/"), name != ".", name != ".." else {
            throw KernelError(.EINVAL)
        }
        guard namespace(named: name) == nil else { throw KernelError(.EEXIST) }
        let ns = NetworkNamespace(name: name, id: nextNamespaceID, stack: self)
        nextNamespaceID += 1
        namespaces.append(ns)
        namespacesByName[name] = ns
        return ns
    }

    /// `ip netns del NAME`: its devices go (a veth takes its peer along).
    public func deleteNamespace(_ ns: NetworkNamespace) {
        guard ns !== initial else { return }
        for d in ns.devices.reversed() where d.kind != .loopback {
            try? ns.deleteLink(d)
        }
        ns.shutdown()
        namespaces.removeAll { $0 === ns }
        for other in namespaces { other.peerNetnsIDs[ns.id] = nil }
        if namespacesByName[ns.name] === ns { namespacesByName[ns.name] = nil }
    }

    /// A locally administered unicast MAC (eth_random_addr), from the seed.
    func randomMAC() -> MACAddress {
        let z = macRandom.next()
        // Clear multicast, set locally administered (as eth_random_addr).
        return MACAddress(rawValue: (z & 0xFEFF_FFFF_FFFF & ~(1 << 40)) | (2 << 40))
    }

    /// The next trace id (1, 2, …; 0 means "not traced", so it is skipped on wrap).
    func nextTraceID() -> UInt32 {
        lastTraceID &+= 1
        if lastTraceID == 0 { lastTraceID = 1 }
        return lastTraceID
    }

    /// The stack's deterministic random source (ephemeral ports, echo ids).
    func nextRandom() -> UInt64 { random.next() }

    // MARK: the loop

    /// Does all work due at `now`. Bounded: at most `maxRounds` passes over
    /// the rings; anything left is reported by `nextDeadline` as due now.
    public func poll(now: Instant, maxRounds: Int = 1024) {
        if now > self.now { self.now = now }
        var rounds = 0
        // Borrowed for the whole poll: elements of a `let` array need no
        // retain per round (namespaces are added and removed by commands,
        // between polls).
        let all = namespaces
        while rounds < maxRounds {
            rounds += 1
            var progress = false
            for ns in all {
                if ns.runTimers(now: self.now) { progress = true }
                if ns.hasPendingReceive {
                    ns.hasPendingReceive = false
                    let devices = ns.devices
                    for d in devices where !d.receiveRing.isEmpty {
                        progress = true
                        var n = 0
                        ns.inReceiveBatch = true
                        while n < napiBudget, let p = d.receiveRing.popFirst() {
                            n += 1
                            ns.netifReceive(p, on: d)
                        }
                        ns.inReceiveBatch = false
                        if !ns.tcpDeferredOutput.isEmpty { ns.tcpFlushDeferredOutput() }
                        if !d.receiveRing.isEmpty { ns.hasPendingReceive = true }
                    }
                }
                if ns.runQdiscs(now: self.now) { progress = true }
            }
            // Every backlog was drained by up to a NAPI budget this round:
            // TCP output that stopped on a nearly full one goes on.
            backlogFull = false
            for ns in all where !ns.tcpBlockedOutput.isEmpty {
                if ns.tcpResumeBlockedOutput() { progress = true }
            }
            // Packets of sockets TCP Small Queues held back left this
            // round: those sockets go on (the TSQ tasklet).
            if shard.smallQueues.hasReady, tcpResumeSmallQueues() { progress = true }
            if !progress { break }
        }
    }

    /// A device backlog came within a NAPI budget of full this round: TCP
    /// stops sending (TCPSockets.tcpTransmit) and resumes at the round's
    /// end, after every receiver drained up to a budget. Linux's veth
    /// transmit runs the receiving softirq as soon as the sender leaves its
    /// bh-disabled section, so a sender never outruns the 1,000-packet
    /// backlog; here the receiver runs later in the round, and a burst of a
    /// whole congestion window would overflow it instead.
    @exclusivity(unchecked) var backlogFull = false

    /// When `poll` next has work; nil when idle.
    public var nextDeadline: Instant? {
        if shard.smallQueues.hasReady { return now }
        var best: Instant? = nil
        for ns in namespaces {
            if ns.hasPendingReceive || !ns.tcpBlockedOutput.isEmpty { return now }
            if let d = ns.nextDeadline(now: now), best.map({ d < $0 }) ?? true { best = d }
        }
        return best
    }

    // MARK: host ports (TUN/TAP)

    /// tun_attach / tun_detach: a host file descriptor now carries (or no
    /// longer carries) the device's traffic; carrier follows.
    public func setHostAttached(_ d: NetDevice, _ attached: Bool) {
        guard d.kind.isHostPort, d.hostAttached != attached else { return }
        d.hostAttached = attached
        if !attached {
            d.hostTransmitRing.removeAll()
            d.namespace.neighbourCarrierDown(d)
        }
        deviceStateChanged(d)
    }

    // MARK: notifications from namespaces (netdev notifier chain)

    /// Grows whenever something a route decision depends on besides the
    /// tables and rules changes: a device's state or carrier, an address, a
    /// sysctl, a device moved or deleted (the rest of rt_genid and dst
    /// obsolescence). Cached decisions stamped with an older value are
    /// stale (Route/RouteCache.swift).
    @exclusivity(unchecked) public private(set) var routeConfigurationGeneration: UInt64 = 0

    /// Something route decisions depend on changed; the control plane calls
    /// it after every command that may change state (sysctls, links).
    public func routeConfigurationChanged() { routeConfigurationGeneration &+= 1 }

    func deviceStateChanged(_ d: NetDevice) {
        routeConfigurationChanged()
        if d.isUp && d.hasCarrier { d.namespace.addAutomaticAddresses(d) }
        d.namespace.deviceChanged(d)
    }
    func deviceRemoved(_ d: NetDevice, from ns: NetworkNamespace) {
        routeConfigurationChanged()
        capture?.forget(namespace: ns.id, ifindex: d.ifindex)
        ns.deviceGone(d)
    }
    // Address changes need no bump here: NetDevice.addresses bumps the
    // generation on every edit, flags included.
    func addressAdded(_ a: InterfaceAddress, on d: NetDevice) { d.namespace.addressAdded(a, on: d) }
    func addressRemoved(_ a: InterfaceAddress, from d: NetDevice) { d.namespace.addressRemoved(a, from: d) }
}

/// What a host offers for TUN/TAP devices: `ip tuntap add` asks it to open
/// (or attach to) the host device of that name, `ip link del` to let it go.
/// Kernel counterpart: the file side of drivers/net/tun.c (TUNSETIFF).
public protocol HostDeviceDriver: AnyObject {
    /// Open the host device for `device` (its name, kind and namespace are
    /// set; it is not yet visible). Throw to refuse: the device is not made.
    func attach(_ device: NetDevice, options: TunTapOptions) throws(KernelError)
    /// The device is going away: close its host side.
    func detach(_ device: NetDevice)
}

/// `ip tuntap add … [multi_queue] [vnet_hdr] [user U] [group G]`.
public struct TunTapOptions: Sendable, Equatable {
    public var multiQueue = false
    public var vnetHeader = false
    public var packetInfo = false
    public var user: UInt32?
    public var group: UInt32?
    public init() {}
}
