// Shard: one core's share of the stack — the softnet_data / NAPI context.
// Kernel counterpart: struct softnet_data (include/linux/netdevice.h) and
// the per-CPU SNMP MIBs; kfree_skb_reason() for `drop`.
//
// A shard owns a packet pool, its counters, its timer wheel and the flows
// that hash to it; only its own thread touches it, so nothing here is
// atomic. Readers sum counters across shards at the edge.
//
// The one exit for discarded packets is `drop(_:reason:)`: it counts the
// reason, records a trace entry when the packet is traced, and returns the
// buffer to its pool. No packet disappears without a reason.

/// A fixed-size record of one decision about a traced packet; a lab's
/// `--trace` renders these in kernel words. No strings on the packet path.
public struct TraceRecord: Sendable, Equatable {
    public enum Event: Sendable, Equatable {
        case drop(DropReason)
        /// netif_receive_skb on a device.
        case receive(device: Int32)
        /// dev_queue_xmit on a device.
        case transmit(device: Int32)
        /// A netfilter hook was traversed (the verdict is always accept
        /// until netfilter rules exist).
        case hook(NetfilterHook)
        /// A route lookup's answer: the rule priority, the table and the route type.
        case route(rulePriority: UInt32, table: UInt32, type: RouteType, outputDevice: Int32)
        /// A route lookup failed.
        case noRoute(RouteError)
        /// Local delivery to a protocol (IPPROTO number).
        case deliver(protocolNumber: UInt8)
        /// The packet is forwarded.
        case forward
        /// An ICMP error was generated (type, code).
        case icmpError(type: UInt8, code: UInt8)
        /// Neighbour resolution: the state the entry was in.
        case neighbour(state: UInt16)
    }
    public var time: Instant
    public var traceID: UInt32
    public var device: Int32
    public var event: Event
}

public final class Shard {
    /// The shard's index (its "CPU" in softnet_stat, RSS and RPS maps).
    public let id: Int
    public let pool: PacketPool
    public let counters = Counters()
    /// Trace records of traced packets, oldest first, bounded.
    public private(set) var traces: TraceRing

    public init(id: Int = 0, pool: PacketPool = PacketPool(), traceCapacity: Int = 4096) {
        self.id = id
        self.pool = pool
        traces = TraceRing(capacity: traceCapacity)
    }

    /// kfree_skb_reason(): count, trace, and return the buffer to its pool.
    public func drop(_ packet: consuming PacketBuffer, reason: DropReason, now: Instant) {
        counters.count(drop: reason)
        if packet.metadata.traceID != 0 {
            record(TraceRecord(time: now, traceID: packet.metadata.traceID,
                               device: packet.metadata.ingressDevice, event: .drop(reason)))
        }
        _ = consume packet
    }

    public func record(_ r: TraceRecord) { traces.append(r) }

    /// Removes and returns the recorded traces (the lab prints them).
    public func takeTraces() -> [TraceRecord] { traces.removeAll() }
}

/// A bounded ring of trace records; when full the oldest is overwritten and
/// counted in `overwritten` (like a perf ring buffer losing events).
public struct TraceRing: Sendable {
    @usableFromInline var records: [TraceRecord] = []
    @usableFromInline var start = 0
    public let capacity: Int
    public private(set) var overwritten: UInt64 = 0

    public init(capacity: Int) {
        precondition(capacity > 0, "TraceRing capacity must be positive")
        self.capacity = capacity
    }

    public var count: Int { records.count }

    public mutating func append(_ r: TraceRecord) {
        if records.count < capacity {
            records.append(r)
        } else {
            records[start] = r
            start = (start + 1) % capacity
            overwritten += 1
        }
    }

    public mutating func removeAll() -> [TraceRecord] {
        let ordered = Array(records[start...] + records[..<start])
        records.removeAll(keepingCapacity: true)
        start = 0
        return ordered
    }
}
