// NeighbourTable: one neigh_table (arp_tbl for IPv4, nd_tbl for IPv6) with
// the NUD state machine as Linux runs it.
// Kernel counterpart: net/core/neighbour.c — __neigh_event_send (output of
// an unresolved entry), neigh_timer_handler (REACHABLE→STALE, DELAY→PROBE,
// probes→FAILED), __neigh_update (confirmations and admin changes),
// neigh_forced_gc / neigh_periodic_work (gc_thresh1/2/3, gc_stale_time),
// neigh_invalidate (queued packets fail when resolution fails).
//
// Sans-IO: the table never transmits. Output answers "send to MAC", "queued"
// or "drop"; timers and updates hand work to a `NeighbourSink` the caller
// passes in (solicitations to send, queued packets now resolved, packets
// whose resolution failed). No closure per packet; the sink is generic.
//
// Deviations, on purpose:
// - Queued packets count a fixed `NeighbourParameters.queuedPacketTruesize`
//   each against unres_qlen_bytes (Linux counts skb->truesize).
// - refcnt (shown by `ip -s neigh`) is 1 while a timer is armed, else 0:
//   no dst caches hold entries here.
// - The periodic gc runs every 15 s (base_reachable_time/2 of the default
//   parameters, as neigh_periodic_work); gc_interval is kept for sysctl only,
//   as in Linux ≥ 4.x where it is unused.
import NetWire

/// (ifindex, address): the key of an entry (primary_key + dev).
public struct NeighbourKey: Hashable, Sendable, Comparable {
    public var device: Int32
    public var address: IPAddress
    public init(device: Int32, address: IPAddress) {
        self.device = device
        self.address = address
    }
    public static func < (a: NeighbourKey, b: NeighbourKey) -> Bool {
        (a.device, a.address) < (b.device, b.address)
    }
}

/// One entry (struct neighbour), as a value: dumps return these.
public struct NeighbourEntry: Hashable, Sendable {
    public var key: NeighbourKey
    public var state: NUDState
    public var flags: NeighbourFlags
    public var linkAddress: MACAddress?
    public var used: Instant
    public var confirmed: Instant
    public var updated: Instant
    /// neigh->probes: solicitations sent (INCOMPLETE starts at ucast_solicit).
    public var probes: Int
    /// The armed timer's deadline, if any.
    public var timer: Instant?
    /// The unresolved queue (arp_queue).
    public var queuedPackets: Int
    public var queuedBytes: Int
    /// neigh->protocol (`ip neigh … protocol`), 0 when unset.
    public var proto: UInt8 = 0

    /// ndm_refcnt as iproute2 shows it.
    public var referenceCount: Int { timer == nil ? 0 : 1 }

    @usableFromInline var queueHead: Int32 = -1
    @usableFromInline var queueTail: Int32 = -1
}

/// A solicitation the table asks the caller to send (neigh->ops->solicit).
public struct NeighbourSolicitation: Hashable, Sendable {
    public var device: Int32
    public var target: IPAddress
    /// Unicast probe to the cached address (PROBE state), or nil: broadcast
    /// ARP / multicast NS to the solicited-node group.
    public var unicast: MACAddress?
    /// The source address of the newest queued packet (arp_solicit and
    /// ndisc_solicit consider it first), if any.
    public var sourceHint: IPAddress?
    public init(device: Int32, target: IPAddress, unicast: MACAddress?, sourceHint: IPAddress?) {
        self.device = device
        self.target = target
        self.unicast = unicast
        self.sourceHint = sourceHint
    }
}

/// Where the table puts the work it cannot do itself. The lead implements
/// this over its device/IP output; `NeighbourWork` collects for tests.
public protocol NeighbourSink: ~Copyable {
    /// Send an ARP request / NS for `solicitation.target`.
    mutating func solicit(_ solicitation: NeighbourSolicitation)
    /// A queued packet whose next hop is now resolved: add the L2 header
    /// (destination `destination`) and transmit on `device`.
    mutating func transmit(_ packet: consuming PacketBuffer, device: Int32, destination: MACAddress)
    /// A queued packet whose resolution failed (neigh_invalidate →
    /// error_report): the caller sends ICMP host/address unreachable for
    /// it and drops it with `reason` (.neighFailed).
    mutating func unreachable(_ packet: consuming PacketBuffer, device: Int32, reason: DropReason)
    /// A packet to drop (e.g. the oldest queued one on overflow, .neighQueuefull).
    mutating func drop(_ packet: consuming PacketBuffer, reason: DropReason)
    /// An ARP packet to send on `device` to Ethernet `destination`
    /// (`ARP.frame` builds the frame).
    mutating func transmitARP(_ arp: ARPRepr, device: Int32, destination: MACAddress)
    /// An NDP message to send through IPv6 output (hop limit 255).
    mutating func transmitNDP(_ message: NDPOutput)
}

/// An NDP message for the IPv6 output path: ICMPv6 over IPv6 with hop limit
/// 255 from `source` to `destination` on `device`. `linkDestination` is set
/// when the link-layer destination is already known (multicast mapping or a
/// unicast probe to the cached address); otherwise resolve `destination`.
public struct NDPOutput: Hashable, Sendable {
    public var device: Int32
    public var source: IPv6Address
    public var destination: IPv6Address
    public var linkDestination: MACAddress?
    public var message: NDPRepr
    public init(device: Int32, source: IPv6Address, destination: IPv6Address, linkDestination: MACAddress?,
                message: NDPRepr) {
        self.device = device
        self.source = source
        self.destination = destination
        self.linkDestination = linkDestination
        self.message = message
    }
}

/// What `output` decided (neigh_resolve_output / neigh_event_send).
public enum NeighbourOutputResult: ~Copyable {
    /// Add the L2 header with this destination and transmit.
    case transmit(PacketBuffer, MACAddress)
    /// Queued until resolution; nothing more to do.
    case queued
    /// Drop (and for .neighFailed, send an ICMP unreachable).
    case drop(PacketBuffer, DropReason)
}

/// Why an entry could not be created or changed (the errno rtnetlink answers).
public enum NeighbourError: Error, Hashable, Sendable {
    /// ENOBUFS: "neighbour table overflow" (gc_thresh3 reached).
    case tableOverflow
    /// EEXIST (add of an existing entry).
    case exists
    /// ENOENT.
    case notFound
    /// EINVAL, with the extack message if Linux gives one.
    case invalid(String?)

    /// The text after "RTNETLINK answers: " or the extack "Error: …" line.
    public var message: String {
        switch self {
        case .tableOverflow: "RTNETLINK answers: No buffer space available"
        case .exists: "RTNETLINK answers: File exists"
        case .notFound: "RTNETLINK answers: No such file or directory"
        case .invalid(let m): m.map { "Error: \($0)" } ?? "RTNETLINK answers: Invalid argument"
        }
    }
}

public final class NeighbourTable {
    public let family: NeighbourFamily
    @exclusivity(unchecked) public var defaultParameters: NeighbourParameters
    @exclusivity(unchecked) public var gc: NeighbourGCParameters
    @exclusivity(unchecked) public private(set) var random: NeighbourRandom
    @exclusivity(unchecked) var deviceParameters: [Int32: NeighbourParameters] = [:]
    /// parms->reachable_time per device (0 = the default parameters).
    @exclusivity(unchecked) var reachableTimes: [Int32: TimeDelta] = [:]
    @exclusivity(unchecked) var defaultReachableTime: TimeDelta
    @exclusivity(unchecked) var index: [NeighbourKey: Int] = [:]
    @exclusivity(unchecked) var slots: [NeighbourEntry?] = []
    @exclusivity(unchecked) var freeSlots: [Int] = []
    @exclusivity(unchecked) var queue = PacketSlab()
    /// A lower bound on the earliest timer (recomputed by `expire`).
    @exclusivity(unchecked) var earliest: Instant = .distantFuture
    @exclusivity(unchecked) var nextPeriodicGC: Instant
    @exclusivity(unchecked) var nextReachableRandomise: Instant
    @exclusivity(unchecked) var lastForcedGC: Instant = .zero
    /// Statistics as /proc/net/stat/arp_cache names them.
    @exclusivity(unchecked) public private(set) var statistics = Statistics()

    public struct Statistics: Hashable, Sendable {
        public var allocs = 0, destroys = 0, lookups = 0, hits = 0, resFailed = 0
        public var periodicGCRuns = 0, forcedGCRuns = 0, tableFulls = 0, unresolvedDiscards = 0
    }

    /// `parameters` nil: the family's defaults (`NeighbourParameters.defaults(for:)`).
    public init(family: NeighbourFamily, parameters: NeighbourParameters? = nil,
                gc: NeighbourGCParameters = NeighbourGCParameters(), randomSeed: UInt64 = 1, now: Instant = .zero) {
        let parameters = parameters ?? NeighbourParameters.defaults(for: family)
        self.family = family
        self.defaultParameters = parameters
        self.gc = gc
        random = NeighbourRandom(seed: randomSeed)
        defaultReachableTime = parameters.randomisedReachableTime(random: random.next())
        nextPeriodicGC = now + TimeDelta(nanoseconds: parameters.baseReachableTime.nanoseconds / 2)
        nextReachableRandomise = now + .seconds(300)
    }

    // MARK: parameters

    public func parameters(device: Int32) -> NeighbourParameters {
        deviceParameters[device] ?? defaultParameters
    }

    /// Sets a device's parameters and re-randomises its reachable_time, as
    /// a write to base_reachable_time does.
    public func setParameters(_ p: NeighbourParameters, device: Int32) {
        deviceParameters[device] = p
        reachableTimes[device] = p.randomisedReachableTime(random: random.next())
    }

    /// Leaves each device set itself (neigh_parms->data_state): a write to
    /// `default` no longer reaches those on that device.
    var explicitlySet: [Int32: Set<String>] = [:]

    /// A write to net.ipv{4,6}.neigh.DIR.LEAF, DIR being `default` (device
    /// nil) or a device (neigh_proc_update, neigh_proc_base_reachable_time):
    /// - base_reachable_time{,_ms} re-randomises that parms' reachable_time
    ///   at once (other leaves leave it alone);
    /// - a device's write marks the leaf as its own;
    /// - a `default` write is copied to every device that has not set the
    ///   leaf itself (neigh_copy_dflt_parms).
    /// False for an unknown leaf or a value out of range (EINVAL).
    public func setSysctl(_ leaf: String, value: Int64, device: Int32?) -> Bool {
        let key = NeighbourParameters.sysctlVariable(leaf)
        let rerandomise = key == "base_reachable_time"
        if let device {
            var p = parameters(device: device)
            guard p.setSysctl(leaf, value, family: family) else { return false }
            let previous = reachableTime(device: device)
            deviceParameters[device] = p
            reachableTimes[device] = rerandomise ? p.randomisedReachableTime(random: random.next()) : previous
            explicitlySet[device, default: []].insert(key)
            return true
        }
        var d = defaultParameters
        guard d.setSysctl(leaf, value, family: family) else { return false }
        // Devices without parameters of their own follow `default` (and its
        // reachable_time); give them their own copy first.
        defaultParameters = d
        if rerandomise {
            // Only the default parms' reachable_time is drawn again; devices
            // keep theirs (drawn when their parms were made) until the
            // periodic re-draw. Devices seen so far keep the old value.
            for k in index.keys where reachableTimes[k.device] == nil {
                reachableTimes[k.device] = defaultReachableTime
            }
            defaultReachableTime = d.randomisedReachableTime(random: random.next())
        }
        for (dev, var p) in deviceParameters.sorted(by: { $0.key < $1.key })
        where !(explicitlySet[dev]?.contains(key) ?? false) {
            _ = p.setSysctl(leaf, value, family: family)
            deviceParameters[dev] = p
        }
        return true
    }

    /// parms->reachable_time now in force on `device`.
    public func reachableTime(device: Int32) -> TimeDelta {
        reachableTimes[device] ?? defaultReachableTime
    }

    /// An RA's reachable time / retrans timer (ndisc_router_discovery).
    public func applyRouterAdvertisement(device: Int32, reachableTimeMs: UInt32, retransTimerMs: UInt32) {
        var p = parameters(device: device)
        if retransTimerMs != 0 { p.retransTime = .milliseconds(Int64(retransTimerMs)) }
        if reachableTimeMs != 0, p.baseReachableTime != .milliseconds(Int64(reachableTimeMs)) {
            p.baseReachableTime = .milliseconds(Int64(reachableTimeMs))
            setParameters(p, device: device)
        } else {
            deviceParameters[device] = p
        }
    }

    // MARK: lookup and dump

    public var count: Int { index.count }

    public func lookup(device: Int32, address: IPAddress) -> NeighbourEntry? {
        guard let i = index[NeighbourKey(device: device, address: address)] else { return nil }
        return slots[i]
    }

    /// All entries, in creation-independent key order.
    public func entries() -> [NeighbourEntry] {
        slots.compactMap { $0 }.sorted { $0.key < $1.key }
    }

    /// neigh_ifdown / device removal: drop every entry of `device`
    /// (queued packets are dropped with .neighDead).
    public func removeDevice(_ device: Int32, into sink: inout some NeighbourSink & ~Copyable) {
        for key in index.keys.sorted() where key.device == device { remove(key, sink: &sink, reason: .neighDead) }
        proxies = proxies.filter { $0.device != device }
        deviceParameters[device] = nil
        reachableTimes[device] = nil
        explicitlySet[device] = nil
    }

    /// neigh_ifdown (NETDEV_DOWN, `keepPermanent` false) and
    /// neigh_carrier_down (`keepPermanent` true): the device's entries go,
    /// their queued packets dropped with .neighDead; its parameters stay.
    public func flush(device: Int32, keepPermanent: Bool, into sink: inout some NeighbourSink & ~Copyable) {
        for key in index.keys.sorted() where key.device == device {
            if keepPermanent, let s = index[key], slots[s]?.state.contains(.permanent) == true { continue }
            remove(key, sink: &sink, reason: .neighDead)
        }
        // pneigh_ifdown_and_unlock.
        if !keepPermanent { proxies = proxies.filter { $0.device != device } }
    }

    // MARK: output (neigh_resolve_output)

    /// The IP output path's question for next hop `nextHop` on `device`.
    /// `broadcast` marks an RTN_BROADCAST next hop (ARP maps it to
    /// ff:ff:ff:ff:ff:ff with NOARP, as arp_constructor does).
    public func output(_ packet: consuming PacketBuffer, device: Int32, nextHop: IPAddress, now: Instant,
                       broadcast: Bool = false,
                       into sink: inout some NeighbourSink & ~Copyable) -> NeighbourOutputResult {
        statistics.lookups &+= 1
        let key = NeighbourKey(device: device, address: nextHop)
        var slot: Int
        if let s = index[key] {
            slot = s
            statistics.hits &+= 1
        } else {
            switch create(key, now: now, broadcast: broadcast, sink: &sink) {
            case .success(let s): slot = s
            case .failure: return .drop(packet, .neighCreatefail)
            }
        }
        var e = slots[slot]!
        // A connected entry sends through its cached header (neigh_output →
        // neigh_hh_output / neigh_connected_output), which leaves `used`
        // alone; only neigh_resolve_output's neigh_event_send marks it used.
        // So steady traffic does not keep an entry REACHABLE: it goes STALE
        // when reachable_time runs out, and the next packet moves it to DELAY.
        if e.state.isDisjoint(with: .connected) { e.used = now }
        if e.state.isDisjoint(with: [.reachable, .permanent, .noarp, .delay, .probe]) {
            // __neigh_event_send
            let p = parameters(device: device)
            if e.state.isDisjoint(with: [.stale, .incomplete]) {
                if p.mcastSolicit + p.appSolicit > 0 {
                    e.probes = p.ucastSolicit
                    e.state = .incomplete
                    e.updated = now
                    addTimer(&e, now + max(p.retransTime, .milliseconds(10)))
                    slots[slot] = e
                    enqueue(packet, slot: slot, parameters: p, sink: &sink)
                    probe(slot: slot, sink: &sink)
                    return .queued
                }
                e.state = .failed
                e.updated = now
                slots[slot] = e
                return .drop(packet, .neighFailed)
            }
            if e.state == .stale {
                e.state = .delay
                e.updated = now
                addTimer(&e, now + p.delayFirstProbeTime)
            } else {
                slots[slot] = e
                enqueue(packet, slot: slot, parameters: p, sink: &sink)
                return .queued
            }
        }
        slots[slot] = e
        guard let mac = e.linkAddress else { return .drop(packet, .neighFailed) }
        return .transmit(packet, mac)
    }

    /// neigh_event_send with no packet (NTF_USE, `ip neigh … use`): start
    /// resolution / move STALE to DELAY.
    public func use(device: Int32, address: IPAddress, now: Instant, into sink: inout some NeighbourSink & ~Copyable) {
        let key = NeighbourKey(device: device, address: address)
        guard let slot = index[key], var e = slots[slot] else { return }
        let p = parameters(device: device)
        e.used = now
        if e.state.isDisjoint(with: [.stale, .incomplete, .reachable, .permanent, .noarp, .delay, .probe]),
           p.mcastSolicit + p.appSolicit > 0 {
            e.probes = p.ucastSolicit
            e.state = .incomplete
            e.updated = now
            addTimer(&e, now + max(p.retransTime, .milliseconds(10)))
            slots[slot] = e
            probe(slot: slot, sink: &sink)
            return
        }
        if e.state == .stale {
            e.state = .delay
            e.updated = now
            addTimer(&e, now + p.delayFirstProbeTime)
        }
        slots[slot] = e
    }

    /// Upper-layer confirmation (dst_confirm / neigh_confirm, used by TCP
    /// on forward progress): refreshes `confirmed` only.
    public func confirm(device: Int32, address: IPAddress, now: Instant) {
        guard let slot = index[NeighbourKey(device: device, address: address)] else { return }
        if slots[slot]!.confirmed != now { slots[slot]!.confirmed = now }
    }

    // MARK: update (neigh_update)

    /// Looks up, optionally creating (state NONE), the entry for `address`
    /// (__neigh_lookup with creat). nil when absent and not created.
    @discardableResult
    public func lookupOrCreate(device: Int32, address: IPAddress, now: Instant,
                               into sink: inout some NeighbourSink & ~Copyable) -> Result<NeighbourEntry, NeighbourError> {
        let key = NeighbourKey(device: device, address: address)
        if let s = index[key] { return .success(slots[s]!) }
        switch create(key, now: now, broadcast: false, sink: &sink) {
        case .success(let s): return .success(slots[s]!)
        case .failure(let e): return .failure(e)
        }
    }

    /// __neigh_update: `linkAddress` nil means "none supplied". Returns false
    /// when the entry does not exist or the update was refused (EINVAL/EPERM).
    @discardableResult
    public func update(device: Int32, address: IPAddress, linkAddress: MACAddress?, state new: NUDState,
                       flags: NeighbourUpdateFlags, now: Instant,
                       into sink: inout some NeighbourSink & ~Copyable) -> Bool {
        let key = NeighbourKey(device: device, address: address)
        guard let slot = index[key], var e = slots[slot] else { return false }
        let old = e.state
        var new = new
        var ok = true
        defer { slots[slot] = slots[slot].map { _ in e } }
        var updateIsRouter = flags.contains(.overrideIsRouter)
        if flags.contains(.externLearned) { e.flags.insert(.externLearned) }
        if !flags.contains(.admin) && !old.isDisjoint(with: [.noarp, .permanent]) {
            return false
        }
        if new.isDisjoint(with: .valid) {
            disarm(&e)
            e.state = new
            if !old.isDisjoint(with: [.incomplete, .probe]) && new.contains(.failed) {
                slots[slot] = e
                invalidate(slot: slot, sink: &sink)
                e = slots[slot]!
            }
            return true
        }
        var lladdr: MACAddress
        if let l = linkAddress {
            lladdr = l
        } else {
            guard !old.isDisjoint(with: .valid), let cached = e.linkAddress else { return false }
            lladdr = cached
        }
        if !new.isDisjoint(with: .connected) { e.confirmed = now }
        if !old.isDisjoint(with: .valid) {
            if lladdr != e.linkAddress && !flags.contains(.override) {
                updateIsRouter = false
                if flags.contains(.weakOverride) && !old.isDisjoint(with: .connected) {
                    lladdr = e.linkAddress!
                    new = .stale
                } else {
                    ok = false
                }
            } else if lladdr == e.linkAddress && new == .stale && !flags.contains(.admin) {
                new = old
            }
        }
        if ok {
            if new != old || lladdr != e.linkAddress { e.updated = now }
            if new != old {
                disarm(&e)
                if new.contains(.probe) { e.probes = 0 }
                if !new.isDisjoint(with: .inTimer) {
                    addTimer(&e, now + (new.contains(.reachable) ? reachableTime(device: device) : .zero))
                }
                e.state = new
            }
            if lladdr != e.linkAddress {
                e.linkAddress = lladdr
                if new.isDisjoint(with: .connected) {
                    e.confirmed = now - parameters(device: device).baseReachableTime * 2
                }
            }
            if new != old && old.isDisjoint(with: .valid) {
                slots[slot] = e
                flushQueue(slot: slot, destination: lladdr, sink: &sink)
                e = slots[slot]!
            }
        }
        if updateIsRouter {
            if flags.contains(.isRouter) { e.flags.insert(.router) } else { e.flags.remove(.router) }
        }
        return ok
    }

    // MARK: administrative changes (RTM_NEWNEIGH / RTM_DELNEIGH)

    /// neigh_add: `create`/`replace`/`exclusive` are NLM_F_CREATE/REPLACE/EXCL.
    public func add(device: Int32, address: IPAddress, linkAddress: MACAddress?, state: NUDState,
                    flags: NeighbourFlags, proto: UInt8 = 0, create: Bool, replace: Bool, exclusive: Bool,
                    now: Instant, into sink: inout some NeighbourSink & ~Copyable) -> Result<Void, NeighbourError> {
        let key = NeighbourKey(device: device, address: address)
        if !state.isDisjoint(with: [.permanent, .noarp, .reachable, .stale, .delay, .probe]), linkAddress == nil,
           !address.isMulticast {
            return .failure(.invalid("No link layer address given."))
        }
        var updateFlags: NeighbourUpdateFlags = [.admin]
        if let slot = index[key] {
            if exclusive { return .failure(.exists) }
            _ = slot
        } else {
            guard create else { return .failure(.notFound) }
            if case .failure(let e) = self.create(key, now: now, broadcast: false, sink: &sink) { return .failure(e) }
            updateFlags.insert(.override)
        }
        let slot = index[key]!
        if flags.contains(.externLearned) { updateFlags.insert(.externLearned) }
        // neigh_add: without NLM_F_REPLACE neither address nor router flag change.
        if replace || updateFlags.contains(.override) { updateFlags.formUnion([.override, .overrideIsRouter]) }
        if flags.contains(.router) { updateFlags.insert(.isRouter) }
        if proto != 0 { slots[slot]!.proto = proto }
        if flags.contains(.use) {
            use(device: device, address: address, now: now, into: &sink)
        } else {
            update(device: device, address: address, linkAddress: linkAddress, state: state, flags: updateFlags,
                   now: now, into: &sink)
        }
        return .success(())
    }

    /// neigh_delete: the entry goes (after a FAILED transition failing its queue).
    public func delete(device: Int32, address: IPAddress, into sink: inout some NeighbourSink & ~Copyable)
        -> Result<Void, NeighbourError> {
        let key = NeighbourKey(device: device, address: address)
        guard index[key] != nil else { return .failure(.notFound) }
        remove(key, sink: &sink, reason: .neighDead)
        return .success(())
    }

    // MARK: proxy entries (pneigh)

    /// Proxy entries (`ip neigh add proxy ADDR dev D`), the pneigh table.
    public private(set) var proxies: Set<NeighbourKey> = []

    public func addProxy(device: Int32, address: IPAddress, exclusive: Bool) -> Result<Void, NeighbourError> {
        let key = NeighbourKey(device: device, address: address)
        if proxies.contains(key) { return exclusive ? .failure(.exists) : .success(()) }
        proxies.insert(key)
        return .success(())
    }

    public func deleteProxy(device: Int32, address: IPAddress) -> Result<Void, NeighbourError> {
        proxies.remove(NeighbourKey(device: device, address: address)) == nil ? .failure(.notFound) : .success(())
    }

    // MARK: timers

    /// The earliest time `expire` has work (a lower bound: an early call is harmless).
    public var nextDeadline: Instant { min(earliest, nextPeriodicGC) }

    /// Runs every timer due at `now` (neigh_timer_handler) and the periodic gc.
    public func expire(now: Instant, into sink: inout some NeighbourSink & ~Copyable) {
        var next = Instant.distantFuture
        if now >= earliest {
            // A fired timer can re-enter the table through the sink (a failed
            // entry's queued packet becomes an ICMP error that resolves its
            // own source, creating an entry in a slot already passed), so
            // `arm` lowers `earliest` from scratch while the loop runs.
            earliest = .distantFuture
            for slot in slots.indices {
                guard let e = slots[slot], let t = e.timer else { continue }
                if t <= now { timerFired(slot: slot, now: now, sink: &sink) }
                if let t2 = slots[slot]?.timer { next = min(next, t2) }
            }
            earliest = min(earliest, next)
        }
        if now >= nextReachableRandomise {
            defaultReachableTime = defaultParameters.randomisedReachableTime(random: random.next())
            for (d, p) in deviceParameters.sorted(by: { $0.key < $1.key }) {
                reachableTimes[d] = p.randomisedReachableTime(random: random.next())
            }
            nextReachableRandomise = now + .seconds(300)
        }
        if now >= nextPeriodicGC {
            periodicGC(now: now, sink: &sink)
            nextPeriodicGC = now + TimeDelta(nanoseconds: defaultParameters.baseReachableTime.nanoseconds / 2)
        }
    }

    func timerFired(slot: Int, now: Instant, sink: inout some NeighbourSink & ~Copyable) {
        var e = slots[slot]!
        e.timer = nil
        let p = parameters(device: e.key.device)
        var next = now + .seconds(1)
        if e.state.contains(.reachable) {
            let reach = reachableTime(device: e.key.device)
            if now <= e.confirmed + reach {
                next = e.confirmed + reach
            } else if now <= e.used + p.delayFirstProbeTime {
                e.state = .delay
                e.updated = now
                next = now + p.delayFirstProbeTime
            } else {
                e.state = .stale
                e.updated = now
            }
        } else if e.state.contains(.delay) {
            if now <= e.confirmed + p.delayFirstProbeTime {
                e.state = .reachable
                e.updated = now
                next = e.confirmed + reachableTime(device: e.key.device)
            } else {
                e.state = .probe
                e.updated = now
                e.probes = 0
                next = now + max(p.retransTime, .milliseconds(10))
            }
        } else {
            next = now + max(p.retransTime, .milliseconds(10))
        }
        if !e.state.isDisjoint(with: [.incomplete, .probe]) && e.probes >= maxProbes(e.state, p) {
            e.state = .failed
            e.updated = now
            slots[slot] = e
            statistics.resFailed &+= 1
            invalidate(slot: slot, sink: &sink)
            return
        }
        if !e.state.isDisjoint(with: .inTimer) {
            arm(&e, max(next, now + .milliseconds(10)))
        }
        slots[slot] = e
        if !e.state.isDisjoint(with: [.incomplete, .probe]) { probe(slot: slot, sink: &sink) }
    }

    /// neigh_max_probes.
    func maxProbes(_ state: NUDState, _ p: NeighbourParameters) -> Int {
        p.ucastSolicit + p.appSolicit + (state.contains(.probe) ? p.mcastResolicit : p.mcastSolicit)
    }

    /// neigh_probe + arp_solicit/ndisc_solicit's unicast-or-broadcast choice.
    func probe(slot: Int, sink: inout some NeighbourSink & ~Copyable) {
        var e = slots[slot]!
        let p = parameters(device: e.key.device)
        let unicast = e.probes < p.ucastSolicit && !e.state.isDisjoint(with: .valid) ? e.linkAddress : nil
        let hint = e.queueTail >= 0 ? queue.sourceAddress(e.queueTail, family: family) : nil
        e.probes &+= 1
        slots[slot] = e
        sink.solicit(NeighbourSolicitation(device: e.key.device, target: e.key.address, unicast: unicast,
                                           sourceHint: hint))
    }

    // MARK: garbage collection

    /// Entries the gc counts (gc_entries): not PERMANENT, not extern_learn.
    public var gcEntryCount: Int {
        slots.reduce(0) { n, e in
            guard let e else { return n }
            return e.state.contains(.permanent) || e.flags.contains(.externLearned) ? n : n + 1
        }
    }

    /// neigh_forced_gc: remove unreferenced FAILED/NOARP entries or ones not
    /// updated for 5 s, down to gc_thresh2. Returns how many went.
    @discardableResult
    public func forcedGC(now: Instant, into sink: inout some NeighbourSink & ~Copyable) -> Int {
        statistics.forcedGCRuns &+= 1
        var toClean = gcEntryCount - gc.thresh2
        var removed = 0
        let tref = now - .seconds(5)
        for slot in slots.indices where toClean > 0 {
            guard let e = slots[slot], !e.state.contains(.permanent), !e.flags.contains(.externLearned),
                  e.timer == nil else { continue }
            if e.state == .failed || e.state == .noarp || e.updated < tref {
                remove(e.key, sink: &sink, reason: .neighDead)
                removed += 1
                toClean -= 1
            }
        }
        lastForcedGC = now
        return removed
    }

    func periodicGC(now: Instant, sink: inout some NeighbourSink & ~Copyable) {
        statistics.periodicGCRuns &+= 1
        guard count >= gc.thresh1 else { return }
        for slot in slots.indices {
            guard let e = slots[slot], !e.state.contains(.permanent), !e.flags.contains(.externLearned),
                  e.timer == nil else { continue }
            // neigh_periodic_work: a confirmation counts as use here too.
            if e.used < e.confirmed && e.confirmed <= now { slots[slot]!.used = e.confirmed }
            let p = parameters(device: e.key.device)
            if e.state.contains(.failed) || now >= slots[slot]!.used + p.gcStaleTime {
                remove(e.key, sink: &sink, reason: .neighDead)
            }
        }
    }

    // MARK: internals

    func create(_ key: NeighbourKey, now: Instant, broadcast: Bool,
                sink: inout some NeighbourSink & ~Copyable) -> Result<Int, NeighbourError> {
        let entries = gcEntryCount
        if entries >= gc.thresh3 || (entries >= gc.thresh2 && now > lastForcedGC + .seconds(5)) {
            forcedGC(now: now, into: &sink)
            if gcEntryCount >= gc.thresh3 {
                statistics.tableFulls &+= 1
                return .failure(.tableOverflow)
            }
        }
        statistics.allocs &+= 1
        var e = NeighbourEntry(key: key, state: .none, flags: [], linkAddress: nil, used: now,
                               confirmed: now - parameters(device: key.device).baseReachableTime * 2,
                               updated: now, probes: 0, timer: nil, queuedPackets: 0, queuedBytes: 0)
        // arp_constructor / ndisc_constructor: multicast and broadcast map statically.
        switch key.address {
        case .v4(let a):
            if a.isMulticast { e.state = .noarp; e.linkAddress = MACAddress(multicastFor: a) }
            if a.isLimitedBroadcast || broadcast { e.state = .noarp; e.linkAddress = .broadcast }
        case .v6(let a):
            if a.isMulticast { e.state = .noarp; e.linkAddress = MACAddress(multicastFor: a) }
        }
        let slot: Int
        if let s = freeSlots.popLast() { slot = s; slots[s] = e } else { slot = slots.count; slots.append(e) }
        index[key] = slot
        return .success(slot)
    }

    func remove(_ key: NeighbourKey, sink: inout some NeighbourSink & ~Copyable, reason: DropReason) {
        guard let slot = index[key] else { return }
        var e = slots[slot]!
        while e.queueHead >= 0 {
            let next = queue.next(of: e.queueHead)
            let p = queue.take(e.queueHead)
            e.queueHead = next
            sink.drop(p, reason: reason)
        }
        slots[slot] = nil
        index[key] = nil
        freeSlots.append(slot)
        statistics.destroys &+= 1
    }

    /// neigh_add_timer: arming a timer from an event (not from the timer
    /// itself, which re-arms with mod_timer) first moves `used` up to
    /// `confirmed`. So a confirmation that makes an entry REACHABLE also
    /// counts as use: when reachable_time runs out within
    /// delay_first_probe_time of it, the entry goes DELAY, not STALE.
    func addTimer(_ e: inout NeighbourEntry, _ deadline: Instant) {
        if e.used < e.confirmed { e.used = e.confirmed }
        arm(&e, deadline)
    }

    func arm(_ e: inout NeighbourEntry, _ deadline: Instant) {
        e.timer = deadline
        if deadline < earliest { earliest = deadline }
    }

    func disarm(_ e: inout NeighbourEntry) { e.timer = nil }

    func enqueue(_ packet: consuming PacketBuffer, slot: Int, parameters p: NeighbourParameters,
                 sink: inout some NeighbourSink & ~Copyable) {
        var e = slots[slot]!
        let size = NeighbourParameters.queuedPacketTruesize
        while e.queuedBytes + size > p.unresQueueBytes, e.queueHead >= 0 {
            let next = queue.next(of: e.queueHead)
            let old = queue.take(e.queueHead)
            e.queueHead = next
            if next < 0 { e.queueTail = -1 }
            e.queuedBytes -= size
            e.queuedPackets -= 1
            statistics.unresolvedDiscards &+= 1
            sink.drop(old, reason: .neighQueuefull)
        }
        if size > p.unresQueueBytes {
            slots[slot] = e
            sink.drop(packet, reason: .neighQueuefull)
            return
        }
        let n = queue.put(packet)
        if e.queueTail >= 0 { queue.setNext(e.queueTail, n) } else { e.queueHead = n }
        e.queueTail = n
        e.queuedBytes += size
        e.queuedPackets += 1
        slots[slot] = e
    }

    func flushQueue(slot: Int, destination: MACAddress, sink: inout some NeighbourSink & ~Copyable) {
        var e = slots[slot]!
        while e.queueHead >= 0 {
            let next = queue.next(of: e.queueHead)
            let p = queue.take(e.queueHead)
            e.queueHead = next
            sink.transmit(p, device: e.key.device, destination: destination)
        }
        e.queueTail = -1
        e.queuedBytes = 0
        e.queuedPackets = 0
        slots[slot] = e
    }

    /// neigh_invalidate: every queued packet fails.
    func invalidate(slot: Int, sink: inout some NeighbourSink & ~Copyable) {
        var e = slots[slot]!
        while e.queueHead >= 0 {
            let next = queue.next(of: e.queueHead)
            let p = queue.take(e.queueHead)
            e.queueHead = next
            sink.unreachable(p, device: e.key.device, reason: .neighFailed)
        }
        e.queueTail = -1
        e.queuedBytes = 0
        e.queuedPackets = 0
        slots[slot] = e
    }
}

/// The unresolved queues' storage: one growable slab of packet slots shared
/// by all entries, each queue a singly linked list through `next`. Growing
/// moves packets (no copy); steady state allocates nothing.
struct PacketSlab: ~Copyable {
    var storage: UnsafeMutablePointer<PacketBuffer>
    var next: [Int32] = []
    var occupied: [Bool] = []
    var free: [Int32] = []
    var capacity: Int

    init() {
        capacity = 16
        storage = .allocate(capacity: 16)
        next = Array(repeating: -1, count: 16)
        occupied = Array(repeating: false, count: 16)
        free = (0..<16).reversed().map { Int32($0) }
    }

    deinit {
        for i in 0..<capacity where occupied[i] { (storage + i).deinitialize(count: 1) }
        storage.deallocate()
    }

    mutating func put(_ packet: consuming PacketBuffer) -> Int32 {
        if free.isEmpty {
            let newCapacity = capacity * 2
            let s = UnsafeMutablePointer<PacketBuffer>.allocate(capacity: newCapacity)
            for i in 0..<capacity where occupied[i] { (s + i).initialize(to: (storage + i).move()) }
            storage.deallocate()
            storage = s
            next += Array(repeating: -1, count: newCapacity - capacity)
            occupied += Array(repeating: false, count: newCapacity - capacity)
            free = (capacity..<newCapacity).reversed().map { Int32($0) }
            capacity = newCapacity
        }
        let i = free.removeLast()
        (storage + Int(i)).initialize(to: packet)
        occupied[Int(i)] = true
        next[Int(i)] = -1
        return i
    }

    mutating func setNext(_ i: Int32, _ n: Int32) { next[Int(i)] = n }

    func next(of i: Int32) -> Int32 { next[Int(i)] }

    mutating func take(_ i: Int32) -> PacketBuffer {
        let p = (storage + Int(i)).move()
        occupied[Int(i)] = false
        free.append(i)
        return p
    }

    /// The IPv4/IPv6 source address of a queued packet (its data starts at
    /// the network header on the output path).
    func sourceAddress(_ i: Int32, family: NeighbourFamily) -> IPAddress? {
        (storage + Int(i)).pointee.withUnsafeReadableBytes { b -> IPAddress? in
            switch family {
            case .ipv4:
                guard b.count >= 20, b[0] >> 4 == 4 else { return nil }
                return .v4(IPv4Address(b[12], b[13], b[14], b[15]))
            case .ipv6:
                guard b.count >= 40, b[0] >> 4 == 6 else { return nil }
                return .v6(IPv6Address(reading: b, at: 8))
            }
        }
    }
}
