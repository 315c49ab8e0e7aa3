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
import NetWire

/// A fixed-size record of one decision about a traced packet; a lab's
/// `--trace` renders these in kernel words (NetstackControl/Lab/TraceRender.swift).
/// No strings on the packet path: names (namespace, device, table) are
/// looked up by the renderer from the ids recorded here.
public struct TraceRecord: Sendable, Equatable {
    public enum Event: Sendable, Equatable {
        /// kfree_skb_reason().
        case drop(DropReason)
        /// netif_receive_skb on a device (no snapshot: kept for callers
        /// that do not have the frame; `receivedFrame` is what the link layer records).
        case receive(device: Int32)
        /// netif_receive_skb with the frame's length and first bytes.
        case receivedFrame(device: Int32, length: UInt32, snapshot: TraceSnapshot)
        /// A locally generated packet entered the stack (ping/udp sendmsg,
        /// icmp_reply): its destination, protocol, the payload's first byte
        /// (the ICMP type) and length, before the route lookup.
        case localSend(destination: IPAddress, protocolNumber: UInt8, firstByte: UInt8, length: UInt32)
        /// ip_local_out: the built packet, snapshot from the network header.
        case localOut(length: UInt32, snapshot: TraceSnapshot)
        /// A frame that first matched at dev_queue_xmit (ARP, NDP):
        /// snapshot from the Ethernet header.
        case queuedFrame(length: UInt32, snapshot: TraceSnapshot)
        /// dev_queue_xmit on a device (the root qdisc's kind as the packet met it).
        case transmit(device: Int32)
        case queueTransmit(device: Int32, qdisc: QdiscKind)
        /// The root qdisc queued the packet (qdisc_enqueue) / released it (dequeue_skb).
        case qdiscEnqueue(device: Int32, qdisc: QdiscKind)
        case qdiscDequeue(device: Int32, qdisc: QdiscKind)
        /// ndo_start_xmit: the driver took the frame.
        case driverTransmit(device: Int32)
        /// A netfilter hook was traversed (the verdict is always accept
        /// until netfilter rules exist).
        case hook(NetfilterHook)
        /// A route lookup's answer: the rule priority, the table and the route type.
        case route(rulePriority: UInt32, table: UInt32, type: RouteType, outputDevice: Int32)
        /// A route lookup's answer with the matched route (fib_lookup).
        case fibResult(TraceRoute)
        /// A route lookup failed.
        case noRoute(RouteError)
        /// Local delivery to a protocol (IPPROTO number).
        case deliver(protocolNumber: UInt8)
        /// The packet is forwarded.
        case forward
        /// An ICMP error was generated (type, code).
        case icmpError(type: UInt8, code: UInt8)
        /// An ICMPv6 error was generated (icmp6_send; type, code).
        case icmpv6Error(type: UInt8, code: UInt8)
        /// Neighbour resolution: the state the entry was in.
        case neighbour(state: UInt16)
        /// neigh_resolve_output: the next hop, its device and the entry's
        /// NUD state after the decision (INCOMPLETE: the packet waits).
        case neighbourOutput(nextHop: IPAddress, device: Int32, state: NUDState)
    }
    public var time: Instant
    public var traceID: UInt32
    /// NetworkNamespace.id where the decision was taken (-1: not known).
    public var namespace: Int32
    /// The packet's ingress device (0: locally generated).
    public var device: Int32
    public var event: Event

    public init(time: Instant, traceID: UInt32, namespace: Int32 = -1, device: Int32, event: Event) {
        self.time = time
        self.traceID = traceID
        self.namespace = namespace
        self.device = device
        self.event = event
    }
}

/// A route decision as a trace keeps it: fixed size (no next-hop array).
public struct TraceRoute: Sendable, Equatable {
    public var rulePriority: UInt32
    public var table: UInt32
    public var destination: IPPrefix
    public var type: RouteType
    public var scope: RouteScope
    public var gateway: IPAddress?
    public var outputDevice: Int32
    /// The route's preferred source / the chosen source, if any.
    public var source: IPAddress?

    public init(_ d: RouteDecision) {
        rulePriority = d.rulePriority
        table = d.table
        destination = d.route.destination
        type = d.route.type
        scope = d.route.scope
        gateway = d.nextHop.gateway
        outputDevice = d.nextHop.device
        source = d.source
    }
}

/// The first bytes of a traced packet (what the renderer summarises like
/// tcpdump): enough for Ethernet + IPv4 with options + a transport header
/// + an ICMP error's quote.
public struct TraceSnapshot: Sendable, Equatable {
    public static let capacity = 128
    /// Ethernet frame or bare IP packet.
    public enum Start: UInt8, Sendable, Equatable { case ethernet, network }
    public var start: Start
    public private(set) var count: UInt8
    @usableFromInline var storage: [128 of UInt8]

    public init(start: Start, bytes: UnsafeRawBufferPointer) {
        self.start = start
        let n = min(bytes.count, Self.capacity)
        count = UInt8(n)
        storage = .init(repeating: 0)
        for i in 0..<n { storage[i] = bytes[i] }
    }

    /// The captured bytes.
    public var bytes: [UInt8] { (0..<Int(count)).map { storage[$0] } }

    public static func == (a: TraceSnapshot, b: TraceSnapshot) -> Bool {
        guard a.start == b.start, a.count == b.count else { return false }
        for i in 0..<Int(a.count) where a.storage[i] != b.storage[i] { return false }
        return true
    }
}

public final class Shard {
    /// The shard's index (its "CPU" in softnet_stat, RSS and RPS maps).
    public let id: Int
    public let pool: PacketPool
    /// Buffers for GSO packets — TCP's up-to-64 KiB sends and super-frames
    /// read from vnet_hdr TAPs — made on first use (4 MiB).
    public private(set) lazy var gsoPool = PacketPool(slotSize: 128 &+ 65_536 &+ 256, count: 64, defaultHeadroom: 128)
    public let counters = Counters()
    /// Bytes each TCP socket of this shard has below TCP (TSQ).
    public let smallQueues = TCPSmallQueues()
    /// Trace records of traced packets, oldest first, bounded.
    public private(set) var traces: TraceRing

    public init(id: Int = 0, pool: PacketPool = PacketPool(), traceCapacity: Int = 4096) {
        self.id = id
        self.pool = pool
        traces = TraceRing(capacity: traceCapacity)
    }

    /// kfree_skb_reason(): count, trace, and return the buffer to its pool.
    /// `namespace` is the NetworkNamespace.id the drop happened in (-1 when
    /// the caller does not know it), for the trace.
    public func drop(_ packet: consuming PacketBuffer, reason: DropReason, now: Instant, namespace: Int32 = -1) {
        counters.count(drop: reason)
        // kfree_skb runs the destructor: a TCP packet's charge goes back
        // (tcp_wfree), or its socket would wait for it forever.
        if packet.metadata.tsqOwner != 0 { smallQueues.release(packet.metadata.tsqOwner, packet.metadata.tsqCharge) }
        if packet.metadata.traceID != 0 {
            record(TraceRecord(time: now, traceID: packet.metadata.traceID, namespace: namespace,
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
