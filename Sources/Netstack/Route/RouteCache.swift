// A small cache of route decisions in front of the policy/FIB lookup, for
// the flows a namespace sends and receives locally.
// Kernel counterparts: the dst a socket caches (sk_dst_cache, checked with
// dst_check / __sk_dst_check against rt_genid) and the input dst early
// demux takes from an established socket (sk_rx_dst, tcp_v4_early_demux).
//
// Linux validates a cached dst with a per-namespace generation (rt_genid,
// bumped by route, rule and address changes) and marks dsts obsolete when a
// device goes down. Here one direct-mapped table per namespace and
// direction holds decisions keyed by the whole FlowKey (rules may match
// ports, protocol, mark, tos; the multipath hash may use ports), each
// stamped with `RouteCache.Stamp`: the routing state's generation (bumped by
// every edit of a table or the rules, RoutingState.generation) and the
// stack's configuration generation (devices up/down, carrier, addresses,
// sysctls: `Stack.routeConfigurationChanged()`). A stale stamp is a miss, so
// a cached answer is always the answer the lookup would give now.
//
// Sockets need no per-connection memory for it (an idle connection stays
// small) and a flow's later segments find its first segment's answer.
import NetWire

struct RouteCache {
    /// What a decision was valid for.
    struct Stamp: Equatable {
        var routing: UInt64
        var configuration: UInt64
        /// An empty slot's stamp: no state ever has it.
        static let empty = Stamp(routing: .max, configuration: .max)
    }

    static let slots = 256
    // Parallel arrays, so a probe compares the stamp and the key (plain
    // values) in place and copies a decision (which holds references) only
    // on a hit. Allocated on the first store: a namespace that never sends
    // keeps none.
    private var stamps: [Stamp] = []
    private var keys: [FlowKey] = []
    private var decisions: [RouteDecision?] = []

    @inline(__always)
    static func slot(_ key: FlowKey) -> Int {
        var h: UInt64
        switch key.destination {
        case .v4(let a): h = UInt64(a.rawValue)
        case .v6(let a): h = a.high ^ a.low
        }
        switch key.source {
        case .v4(let a): h = h &* 0x9E37_79B9_7F4A_7C15 ^ UInt64(a.rawValue)
        case .v6(let a): h = h &* 0x9E37_79B9_7F4A_7C15 ^ a.high ^ a.low
        }
        h = h &* 0x9E37_79B9_7F4A_7C15
            ^ (UInt64(key.sourcePort) << 16 | UInt64(key.destinationPort)) ^ UInt64(UInt32(bitPattern: key.iif)) << 32
        h = h &* 0x9E37_79B9_7F4A_7C15
        return Int(truncatingIfNeeded: h >> 56)
    }

    /// The cached decision for `key`, if one was stored under `stamp`.
    func lookup(_ key: FlowKey, stamp: Stamp) -> RouteDecision? {
        guard !stamps.isEmpty else { return nil }
        let i = Self.slot(key)
        guard stamps[i] == stamp, keys[i] == key else { return nil }
        return decisions[i]
    }

    mutating func store(_ key: FlowKey, _ decision: RouteDecision, stamp: Stamp) {
        if stamps.isEmpty {
            stamps = [Stamp](repeating: .empty, count: Self.slots)
            keys = [FlowKey](repeating: key, count: Self.slots)
            decisions = [RouteDecision?](repeating: nil, count: Self.slots)
        }
        let i = Self.slot(key)
        stamps[i] = stamp
        keys[i] = key
        decisions[i] = decision
    }
}
