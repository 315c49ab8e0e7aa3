// Neighbour subsystem vocabulary: NUD states, entry flags, neigh_update
// flags, per-device parameters and their sysctl names.
// Kernel counterpart: include/net/neighbour.h, include/uapi/linux/neighbour.h
// (NUD_*, NTF_*), net/core/neighbour.c (neigh_sysctl_template,
// NEIGH_UPDATE_F_*), net/ipv4/arp.c and net/ipv6/ndisc.c (arp_tbl/nd_tbl
// defaults).
import NetWire

/// NUD_* states, with Linux's bit values (one bit set per entry; the
/// composite masks below are the kernel's NUD_IN_TIMER, NUD_VALID,
/// NUD_CONNECTED). `none` is NUD_NONE (0).
public struct NUDState: OptionSet, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt16
    @inlinable public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let none: NUDState = []
    public static let incomplete = NUDState(rawValue: 0x01)
    public static let reachable = NUDState(rawValue: 0x02)
    public static let stale = NUDState(rawValue: 0x04)
    public static let delay = NUDState(rawValue: 0x08)
    public static let probe = NUDState(rawValue: 0x10)
    public static let failed = NUDState(rawValue: 0x20)
    public static let noarp = NUDState(rawValue: 0x40)
    public static let permanent = NUDState(rawValue: 0x80)

    /// NUD_IN_TIMER: states whose timer runs.
    public static let inTimer: NUDState = [.incomplete, .reachable, .delay, .probe]
    /// NUD_VALID: the entry holds a usable link-layer address.
    public static let valid: NUDState = [.permanent, .noarp, .reachable, .probe, .stale, .delay]
    /// NUD_CONNECTED: packets go out without a check.
    public static let connected: NUDState = [.permanent, .noarp, .reachable]

    /// The names iproute2 prints, in its order (print_neigh_state).
    public static let printOrder: [(NUDState, String)] = [
        (.incomplete, "INCOMPLETE"), (.reachable, "REACHABLE"), (.stale, "STALE"), (.delay, "DELAY"),
        (.probe, "PROBE"), (.failed, "FAILED"), (.noarp, "NOARP"), (.permanent, "PERMANENT"),
    ]

    /// "REACHABLE", "NONE" for 0.
    public var description: String {
        let names = Self.printOrder.filter { contains($0.0) }.map(\.1)
        return names.isEmpty ? "NONE" : names.joined(separator: ",")
    }
}

/// NTF_* flags of an entry (ndm_flags).
public struct NeighbourFlags: OptionSet, Hashable, Sendable {
    public var rawValue: UInt8
    @inlinable public init(rawValue: UInt8) { self.rawValue = rawValue }
    /// NTF_USE: mark used (a request flag, never stored).
    public static let use = NeighbourFlags(rawValue: 0x01)
    public static let proxy = NeighbourFlags(rawValue: 0x08)
    public static let externLearned = NeighbourFlags(rawValue: 0x10)
    public static let router = NeighbourFlags(rawValue: 0x80)
}

/// NEIGH_UPDATE_F_*: how much an update may change (neigh_update()).
public struct NeighbourUpdateFlags: OptionSet, Hashable, Sendable {
    public var rawValue: UInt32
    @inlinable public init(rawValue: UInt32) { self.rawValue = rawValue }
    /// Replace a different cached link-layer address.
    public static let override = NeighbourUpdateFlags(rawValue: 0x01)
    /// A different address only demotes a connected entry to STALE.
    public static let weakOverride = NeighbourUpdateFlags(rawValue: 0x02)
    /// The router flag may change (to `isRouter`).
    public static let overrideIsRouter = NeighbourUpdateFlags(rawValue: 0x04)
    public static let externLearned = NeighbourUpdateFlags(rawValue: 0x08)
    public static let isRouter = NeighbourUpdateFlags(rawValue: 0x4000_0000)
    /// An administrative change (`ip neigh`): may touch PERMANENT/NOARP.
    public static let admin = NeighbourUpdateFlags(rawValue: 0x8000_0000)
}

/// Address family of a neighbour table: ARP (arp_tbl) or ND (nd_tbl).
public enum NeighbourFamily: Sendable, Hashable {
    case ipv4, ipv6
    /// The sysctl directory: `net.ipv4.neigh` or `net.ipv6.neigh`.
    public var sysctlPrefix: String { self == .ipv4 ? "net.ipv4.neigh" : "net.ipv6.neigh" }
}

/// struct neigh_parms: per-device (and `default`) parameters, Linux's
/// defaults. Times are `TimeDelta`s; `sysctlNames` maps the files under
/// net.ipv{4,6}.neigh.DEV to them.
public struct NeighbourParameters: Hashable, Sendable {
    public var baseReachableTime: TimeDelta = .milliseconds(30_000)
    public var retransTime: TimeDelta = .milliseconds(1000)
    public var delayFirstProbeTime: TimeDelta = .seconds(5)
    public var gcStaleTime: TimeDelta = .seconds(60)
    /// An entry updated less than `locktime` ago is not overridden by an ARP
    /// reply that is not gratuitous (arp.c: first reply wins).
    public var locktime: TimeDelta = .seconds(1)
    public var anycastDelay: TimeDelta = .seconds(1)
    public var proxyDelay: TimeDelta = .milliseconds(800)
    public var intervalProbeTime: TimeDelta = .milliseconds(5000)
    public var ucastSolicit: Int = 3
    public var mcastSolicit: Int = 3
    public var appSolicit: Int = 0
    public var mcastResolicit: Int = 0
    /// Bytes queued per unresolved entry; each packet counts
    /// `NeighbourParameters.queuedPacketTruesize`.
    public var unresQueueBytes: Int = 212_992
    public var proxyQueueLength: Int = 64

    /// The fixed size one queued packet counts against `unresQueueBytes`.
    /// Linux counts skb->truesize; here every packet counts as a full
    /// Ethernet frame's buffer, the figure Linux divides by to show
    /// `unres_qlen` (212992 / 2108 = 101 packets, as `unres_qlen` reads).
    public static let queuedPacketTruesize = 2108

    public init() {}

    /// arp_tbl's and nd_tbl's parms: the same but for locktime, which
    /// nd_tbl leaves at 0.
    public static func defaults(for family: NeighbourFamily) -> NeighbourParameters {
        var p = NeighbourParameters()
        if family == .ipv6 { p.locktime = .zero }
        return p
    }

    /// The names under net.ipv{4,6}.neigh.DEV/ (neigh_sysctl_template).
    public static let sysctlNames = [
        "anycast_delay", "app_solicit", "base_reachable_time", "base_reachable_time_ms",
        "delay_first_probe_time", "gc_stale_time", "interval_probe_time_ms", "locktime",
        "mcast_resolicit", "mcast_solicit", "proxy_delay", "proxy_qlen", "retrans_time",
        "retrans_time_ms", "ucast_solicit", "unres_qlen", "unres_qlen_bytes",
    ]

    /// The parameter a sysctl leaf writes (NEIGH_VAR index): the pairs
    /// base_reachable_time{,_ms}, retrans_time{,_ms} and unres_qlen{,_bytes}
    /// are one variable each.
    public static func sysctlVariable(_ leaf: String) -> String {
        switch leaf {
        case "base_reachable_time_ms": "base_reachable_time"
        case "retrans_time_ms": "retrans_time"
        case "unres_qlen_bytes": "unres_qlen"
        default: leaf
        }
    }

    /// The sysctl's value as `sysctl` prints it (USER_HZ = 100 for the
    /// jiffies-valued files), nil for an unknown name.
    /// nd_tbl's deprecated retrans_time is in kernel jiffies
    /// (ndisc_ifinfo_sysctl_change: neigh_proc_dointvec), not USER_HZ; the
    /// Linux this mirrors runs with CONFIG_HZ=250.
    public static let kernelHZ: Int64 = 250

    public func sysctlValue(_ name: String, family: NeighbourFamily = .ipv4) -> Int64? {
        if family == .ipv6 && name == "retrans_time" { return retransTime.nanoseconds * Self.kernelHZ / 1_000_000_000 }
        func ticks(_ t: TimeDelta) -> Int64 { t.nanoseconds / 10_000_000 }
        func secs(_ t: TimeDelta) -> Int64 { t.nanoseconds / 1_000_000_000 }
        func ms(_ t: TimeDelta) -> Int64 { t.nanoseconds / 1_000_000 }
        switch name {
        case "anycast_delay": return ticks(anycastDelay)
        case "app_solicit": return Int64(appSolicit)
        case "base_reachable_time": return secs(baseReachableTime)
        case "base_reachable_time_ms": return ms(baseReachableTime)
        case "delay_first_probe_time": return secs(delayFirstProbeTime)
        case "gc_stale_time": return secs(gcStaleTime)
        case "interval_probe_time_ms": return ms(intervalProbeTime)
        case "locktime": return ticks(locktime)
        case "mcast_resolicit": return Int64(mcastResolicit)
        case "mcast_solicit": return Int64(mcastSolicit)
        case "proxy_delay": return ticks(proxyDelay)
        case "proxy_qlen": return Int64(proxyQueueLength)
        case "retrans_time": return ticks(retransTime)
        case "retrans_time_ms": return ms(retransTime)
        case "ucast_solicit": return Int64(ucastSolicit)
        case "unres_qlen": return Int64(unresQueueBytes / Self.queuedPacketTruesize)
        case "unres_qlen_bytes": return Int64(unresQueueBytes)
        default: return nil
        }
    }

    /// Sets a sysctl; false for an unknown name or a negative value
    /// (the kernel answers EINVAL).
    public mutating func setSysctl(_ name: String, _ value: Int64, family: NeighbourFamily = .ipv4) -> Bool {
        guard value >= 0, value <= Int64(Int32.max) else { return false }
        if family == .ipv6 && name == "retrans_time" {
            retransTime = .milliseconds(value * 1000 / Self.kernelHZ)
            return true
        }
        let v = Int(value)
        switch name {
        case "anycast_delay": anycastDelay = .milliseconds(value * 10)
        case "app_solicit": appSolicit = v
        case "base_reachable_time": baseReachableTime = .seconds(value)
        case "base_reachable_time_ms": baseReachableTime = .milliseconds(value)
        case "delay_first_probe_time": delayFirstProbeTime = .seconds(value)
        case "gc_stale_time": gcStaleTime = .seconds(value)
        case "interval_probe_time_ms": intervalProbeTime = .milliseconds(value)
        case "locktime": locktime = .milliseconds(value * 10)
        case "mcast_resolicit": mcastResolicit = v
        case "mcast_solicit": mcastSolicit = v
        case "proxy_delay": proxyDelay = .milliseconds(value * 10)
        case "proxy_qlen": proxyQueueLength = v
        case "retrans_time": retransTime = .milliseconds(value * 10)
        case "retrans_time_ms": retransTime = .milliseconds(value)
        case "ucast_solicit": ucastSolicit = v
        case "unres_qlen": unresQueueBytes = v * Self.queuedPacketTruesize
        case "unres_qlen_bytes": unresQueueBytes = v
        default: return false
        }
        return true
    }

    /// neigh_rand_reach_time(): uniformly in [base/2, 3·base/2). `random`
    /// is a 32-bit random value supplied by the caller (deterministic tests).
    public func randomisedReachableTime(random: UInt32) -> TimeDelta {
        let base = baseReachableTime.nanoseconds
        guard base > 0 else { return .zero }
        let offset = Int64((UInt64(random) &* UInt64(base)) >> 32)
        return TimeDelta(nanoseconds: base / 2 &+ offset)
    }
}

/// Table-wide garbage-collection settings (net.ipv{4,6}.neigh.default.gc_*).
public struct NeighbourGCParameters: Hashable, Sendable {
    public var thresh1 = 128
    public var thresh2 = 512
    public var thresh3 = 1024
    public var interval: TimeDelta = .seconds(30)
    public init() {}

    public static let sysctlNames = ["gc_interval", "gc_thresh1", "gc_thresh2", "gc_thresh3"]

    public func sysctlValue(_ name: String) -> Int64? {
        switch name {
        case "gc_interval": interval.nanoseconds / 1_000_000_000
        case "gc_thresh1": Int64(thresh1)
        case "gc_thresh2": Int64(thresh2)
        case "gc_thresh3": Int64(thresh3)
        default: nil
        }
    }

    public mutating func setSysctl(_ name: String, _ value: Int64) -> Bool {
        guard value >= 0, value <= Int64(Int32.max) else { return false }
        switch name {
        case "gc_interval": interval = .seconds(value)
        case "gc_thresh1": thresh1 = Int(value)
        case "gc_thresh2": thresh2 = Int(value)
        case "gc_thresh3": thresh3 = Int(value)
        default: return false
        }
        return true
    }
}

/// A random source for reachable_time (neigh_rand_reach_time) and DAD
/// delays; a small PRNG the caller seeds, so labs are deterministic.
public struct NeighbourRandom: Sendable {
    public var state: UInt64
    public init(seed: UInt64) { state = seed == 0 ? 0x9E37_79B9_7F4A_7C15 : seed }
    /// splitmix64, upper 32 bits.
    public mutating func next() -> UInt32 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return UInt32(truncatingIfNeeded: (z ^ (z >> 31)) >> 32)
    }
}
