// Sched: queueing disciplines on the transmit path. Kernel counterpart:
// net/sched/ (sch_generic.c for noqueue, noop and pfifo_fast; sch_fifo.c for
// pfifo/bfifo; sch_netem.c; sch_api.c for handles and the add/change/
// replace/delete rules, which live in NetstackControl/TC.swift here).
//
// What it promises
// - `Qdisc` is one device's root qdisc: a closed set of kinds (an enum of
//   options, no `any`), its queues, its statistics as `tc -s` shows them.
// - The transmit path calls `enqueue(_:now:pool:)` (dev_queue_xmit →
//   q->enqueue) and `dequeue(now:)` (qdisc_restart → q->dequeue), and asks
//   `nextDeadline` when to come back (qdisc_watchdog). A packet the qdisc
//   refuses comes back in `EnqueueResult.dropped` with its DropReason for
//   the caller's `Shard.drop`; nothing is freed silently.
// - Sans-IO: time is a parameter; netem's randomness comes from its own
//   seeded generator (the kernel's per-qdisc prng, q->prng), so the same
//   seed and the same traffic give the same schedule.
//
// Which kind a device starts with (attach_one_default_qdisc): devices with
// IFF_NO_QUEUE — loopback, veth, dummy, bridge, VLAN, VXLAN, VRF, ifb is NOT
// one — get `noqueue`; others (TAP, a real NIC, ifb) get `pfifo_fast` with
// handle 0:. Before a device is first brought up its qdisc is `noop`
// (`ip link` prints "qdisc noop"). Checked on Linux 6.18: lo, veth, bridge
// show noqueue; tap and ifb show pfifo_fast.

/// A qdisc handle, major:0 (TC_H_MAJ). `0:` is the default qdisc's.
public struct QdiscHandle: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The full 32-bit tcm_handle (major << 16).
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue & 0xFFFF_0000 }
    public init(major: UInt16) { rawValue = UInt32(major) << 16 }
    public var major: UInt16 { UInt16(rawValue >> 16) }
    public static let none = QdiscHandle(rawValue: 0)
    public static func < (a: QdiscHandle, b: QdiscHandle) -> Bool { a.rawValue < b.rawValue }
    /// As tc prints it: `8001:`.
    public var description: String { String(major, radix: 16) + ":" }
}

/// qdisc_alloc_handle(): 8001:, 8002:, … wrapping after ffff: to 8000:.
/// Linux keeps one counter for the whole kernel (a static in sch_api.c), so
/// handles keep counting across devices and namespaces (checked on 6.18: a
/// qdisc added in a second namespace got the next number). Share one
/// allocator where the kernel would.
public struct QdiscHandleAllocator: Sendable {
    var last: UInt32 = 0x8000_0000
    public init() {}

    /// The next free handle; `isInUse` says whether the device already has it.
    /// Nil when all 0x8000 automatic handles are taken.
    public mutating func allocate(isInUse: (QdiscHandle) -> Bool = { _ in false }) -> QdiscHandle? {
        for _ in 0..<0x8000 {
            last &+= 0x1_0000
            if last == 0xFFFF_0000 { last = 0x8000_0000 }
            let h = QdiscHandle(rawValue: last)
            if !isInUse(h) { return h }
        }
        return nil
    }
}

/// What a qdisc needs to know about its device.
public struct QdiscDeviceInfo: Sendable, Equatable {
    /// dev->tx_queue_len (`qlen` in `ip link`): pfifo_fast's per-band ring
    /// size and the default pfifo/bfifo limit.
    public var txQueueLength: UInt32
    public var mtu: UInt32
    /// dev->hard_header_len (14 for Ethernet, 0 for lo/tun); bfifo's default
    /// limit is txqueuelen · (mtu + hard_header_len) (psched_mtu).
    public var hardHeaderLength: UInt32
    /// numtxqueues: a root qdisc grafted on every queue holds one reference
    /// per queue plus one (`refcnt 3` on a 2-queue veth).
    public var txQueueCount: UInt32
    /// IFF_NO_QUEUE: the device's default qdisc is noqueue.
    public var noQueue: Bool

    public init(txQueueLength: UInt32 = 1000, mtu: UInt32 = 1500, hardHeaderLength: UInt32 = 14,
                txQueueCount: UInt32 = 1, noQueue: Bool = false) {
        self.txQueueLength = txQueueLength
        self.mtu = mtu
        self.hardHeaderLength = hardHeaderLength
        self.txQueueCount = txQueueCount
        self.noQueue = noQueue
    }

    /// The kind attach_one_default_qdisc() gives the device.
    public var defaultKind: QdiscKind { noQueue ? .noqueue : .pfifoFast }
}

/// The qdisc kinds this stack implements (TCA_KIND strings as rawValue).
public enum QdiscKind: String, Sendable, Equatable, CaseIterable {
    case noop
    case noqueue
    case pfifoFast = "pfifo_fast"
    case pfifo
    case bfifo
    case netem

    /// Whether `tc qdisc change` can modify it in place (Qdisc_ops.change).
    public var canChange: Bool {
        switch self {
        case .pfifo, .bfifo, .netem: true
        case .noop, .noqueue, .pfifoFast: false
        }
    }
}

/// A qdisc's configuration.
public enum QdiscOptions: Sendable, Equatable {
    case noop
    case noqueue
    /// Three bands, the fixed priomap; each band holds txqueuelen packets.
    case pfifoFast
    /// At most `limit` packets.
    case pfifo(limit: UInt32)
    /// At most `limit` bytes of backlog.
    case bfifo(limit: UInt32)
    case netem(NetemOptions)

    public var kind: QdiscKind {
        switch self {
        case .noop: .noop
        case .noqueue: .noqueue
        case .pfifoFast: .pfifoFast
        case .pfifo: .pfifo
        case .bfifo: .bfifo
        case .netem: .netem
        }
    }
}

/// gnet_stats_basic + gnet_stats_queue, as `tc -s qdisc` prints them.
public struct QdiscStats: Sendable, Equatable {
    /// Bytes and packets dequeued ("Sent").
    public var bytes: UInt64 = 0
    public var packets: UInt64 = 0
    public var drops: UInt32 = 0
    public var overlimits: UInt32 = 0
    public var requeues: UInt32 = 0
    /// Bytes and packets queued now.
    public var backlog: UInt32 = 0
    public var qlen: UInt32 = 0
    public init() {}
}

/// A copyable picture of a qdisc for printers and the control socket.
public struct QdiscSnapshot: Sendable, Equatable {
    public var handle: QdiscHandle
    public var options: QdiscOptions
    /// tcm_info: 2 for a root on a one-queue device.
    public var refcount: UInt32
    public var stats: QdiscStats
    public var kind: QdiscKind { options.kind }
}

/// What `enqueue` did with a packet.
public enum EnqueueResult: ~Copyable {
    /// Queued (or, for netem, queued and possibly duplicated).
    case queued
    /// Refused: the caller passes it to `Shard.drop(_:reason:now:)`.
    case dropped(PacketBuffer, DropReason)

    public var isQueued: Bool {
        switch self {
        case .queued: true
        case .dropped: false
        }
    }
}

/// pfifo_fast's prio2band: skb->priority & 15 → band, two bits per entry
/// (1 2 2 2 1 2 0 0 1 1 1 1 1 1 1 1).
public let pfifoFastPriomap: [UInt8] = [1, 2, 2, 2, 1, 2, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1]

@usableFromInline let pfifoFastPackedPriomap: UInt32 = {
    var m: UInt32 = 0
    for (i, b) in [UInt32(1), 2, 2, 2, 1, 2, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1].enumerated() { m |= b << (2 * UInt32(i)) }
    return m
}()

/// One device's root qdisc.
public struct Qdisc: ~Copyable {
    public internal(set) var handle: QdiscHandle
    public internal(set) var options: QdiscOptions {
        didSet {
            bypassesQueue = Qdisc.bypasses(options)
            cutsGSO = Qdisc.cuts(options)
            orphansOnEnqueue = Qdisc.orphans(options)
        }
    }
    /// netem with a delay, jitter or rate: a packet's socket charge is
    /// released as it is queued (skb_orphan_partial in netem_enqueue —
    /// the emulated link's transit time is not the sender's queue), so TCP
    /// Small Queues do not hold a sender back by the emulated delay.
    /// Other kinds keep the charge until the driver takes the packet.
    public private(set) var orphansOnEnqueue: Bool
    /// netem with loss, duplication, reordering, corruption, a rate or
    /// slots: a GSO packet is cut into MSS segments before it, so those act
    /// on wire-sized packets (Linux's netem acts on whole GSO skbs and cuts
    /// only to corrupt one, netem_segment; a lab impairing a link means the
    /// wire's packets). Delay and jitter alone keep it whole.
    public private(set) var cutsGSO: Bool
    /// noqueue: the caller transmits directly (dev_queue_xmit skips enqueue
    /// when q->enqueue is NULL). `enqueue` still works, passing packets
    /// through without statistics, as Linux counts nothing on noqueue.
    /// Stored, not computed: dev_queue_xmit asks it per packet and a
    /// switch over `options` copies the whole options enum first.
    public private(set) var bypassesQueue: Bool
    /// tcm_info as `tc qdisc show` prints it (`refcnt 2`).
    public internal(set) var refcount: UInt32
    /// The device's txqueuelen when the qdisc was made (pfifo_fast's rings).
    public internal(set) var txQueueLength: UInt32
    var sent: UInt64 = 0
    var sentPackets: UInt64 = 0
    var drops: UInt32 = 0
    var overlimits: UInt32 = 0
    var requeues: UInt32 = 0
    /// Band 0 (pfifo_fast), the FIFO (pfifo/bfifo/noqueue), netem's sch->q.
    var band0 = PacketRing()
    var band1 = PacketRing()
    var band2 = PacketRing()
    /// netem's time-ordered queue.
    var tfifo = TimedPacketQueue()
    var netem = NetemState(seed: 0)

    /// A qdisc of `options` on a device. `seed` seeds netem's generator.
    public init(_ options: QdiscOptions, handle: QdiscHandle, device: QdiscDeviceInfo, isDefault: Bool = false,
                seed: UInt64 = 0) {
        self.options = options
        bypassesQueue = Qdisc.bypasses(options)
        cutsGSO = Qdisc.cuts(options)
        orphansOnEnqueue = Qdisc.orphans(options)
        self.handle = handle
        // A default qdisc holds 2 (dev->qdisc and the queue's); a grafted
        // root one per tx queue plus one.
        refcount = isDefault ? 2 : device.txQueueCount + 1
        txQueueLength = device.txQueueLength
        netem = NetemState(seed: seed)
        if case .netem(let o) = options { netem.configure(o, previous: nil) }
    }

    /// The device's default qdisc (handle 0:), as dev_activate attaches it.
    public static func makeDefault(for device: QdiscDeviceInfo) -> Qdisc {
        Qdisc(device.noQueue ? .noqueue : .pfifoFast, handle: .none, device: device, isDefault: true)
    }

    public var kind: QdiscKind { options.kind }

    static func cuts(_ options: QdiscOptions) -> Bool {
        guard case .netem(let o) = options else { return false }
        // Delay and jitter alone treat a whole packet as they would its
        // segments: the GSO packet stays whole, as Linux's netem keeps it,
        // and the limit counts it once (cut, a window of segments would
        // overflow a limit Linux's GSO skbs never reach).
        return o.loss != 0 || o.lossModel != nil || o.duplicate != 0 || o.reorder != 0 || o.corrupt != 0
            || o.rate != 0 || o.slot != nil
    }

    static func orphans(_ options: QdiscOptions) -> Bool {
        if case .netem(let o) = options { return o.latency != 0 || o.jitter != 0 || o.rate != 0 }
        return false
    }

    static func bypasses(_ options: QdiscOptions) -> Bool {
        switch options {
        case .noqueue, .noop: true
        default: false
        }
    }

    /// Packets queued (qlen).
    public var count: Int { band0.count + band1.count + band2.count + tfifo.count }
    /// Bytes queued (backlog).
    public var backlogBytes: Int { band0.bytes + band1.bytes + band2.bytes + tfifo.bytes }

    public var stats: QdiscStats {
        var s = QdiscStats()
        s.bytes = sent
        s.packets = sentPackets
        s.drops = drops
        s.overlimits = overlimits
        s.requeues = requeues
        s.backlog = UInt32(truncatingIfNeeded: backlogBytes)
        s.qlen = UInt32(truncatingIfNeeded: count)
        return s
    }

    public var snapshot: QdiscSnapshot {
        QdiscSnapshot(handle: handle, options: options, refcount: refcount, stats: stats)
    }

    // MARK: the transmit path

    /// q->enqueue. `pool` supplies copies when netem duplicates or must
    /// unshare a packet before corrupting it.
    public mutating func enqueue(_ p: consuming PacketBuffer, now: Instant, pool: PacketPool) -> EnqueueResult {
        switch options {
        case .noop:
            // noop_enqueue: everything is dropped (device not up).
            drops &+= 1
            return .dropped(p, .qdiscDrop)
        case .noqueue:
            band0.append(p)
            return .queued
        case .pfifoFast:
            let band = (pfifoFastPackedPriomap >> ((p.metadata.priority & 15) &* 2)) & 3
            let full: Bool
            switch band {
            case 0: full = band0.count >= Int(txQueueLength)
            case 1: full = band1.count >= Int(txQueueLength)
            default: full = band2.count >= Int(txQueueLength)
            }
            if full {
                drops &+= 1
                return .dropped(p, .qdiscDrop)
            }
            switch band {
            case 0: band0.append(p)
            case 1: band1.append(p)
            default: band2.append(p)
            }
            return .queued
        case .pfifo(let limit):
            guard band0.count < Int(limit) else {
                drops &+= 1
                return .dropped(p, .qdiscDrop)
            }
            band0.append(p)
            return .queued
        case .bfifo(let limit):
            guard band0.bytes + p.count <= Int(limit) else {
                drops &+= 1
                return .dropped(p, .qdiscDrop)
            }
            band0.append(p)
            return .queued
        case .netem:
            return netemEnqueue(p, now: now, pool: pool, isDuplicate: false)
        }
    }

    /// q->dequeue: the next packet to hand the device, or nil when none is
    /// due yet (see `nextDeadline`).
    public mutating func dequeue(now: Instant) -> PacketBuffer? {
        switch options {
        case .noop:
            return nil
        case .noqueue:
            return band0.popFirst()
        case .pfifoFast:
            if let p = band0.popFirst() { return delivered(p) }
            if let p = band1.popFirst() { return delivered(p) }
            if let p = band2.popFirst() { return delivered(p) }
            return nil
        case .pfifo, .bfifo:
            guard let p = band0.popFirst() else { return nil }
            return delivered(p)
        case .netem:
            return netemDequeue(now: now)
        }
    }

    /// When `dequeue` next has something: nil when empty; a time at or
    /// before `now` means a packet is ready (`.zero` for FIFO kinds).
    public var nextDeadline: Instant? {
        switch options {
        case .netem:
            if let t = netem.directTailTime, !band0.isEmpty { return t }
            guard let t = tfifo.earliestTime else { return nil }
            return netem.slotNext > t ? netem.slotNext : t
        default:
            return count > 0 ? .zero : nil
        }
    }

    @inline(__always)
    mutating func delivered(_ p: consuming PacketBuffer) -> PacketBuffer {
        sent &+= UInt64(p.count)
        sentPackets &+= 1
        return p
    }

    // MARK: control

    /// Removes every queued packet (qdisc_reset), oldest band first; the
    /// caller drops each (Linux frees them when a qdisc is replaced or deleted).
    public mutating func purge() -> PacketBuffer? {
        if let p = band0.popFirst() { return p }
        if let p = band1.popFirst() { return p }
        if let p = band2.popFirst() { return p }
        return tfifo.popEarliest()
    }

    /// Applies new options of the same kind in place (Qdisc_ops.change).
    /// Queued packets stay; netem keeps what a partial request leaves out
    /// (see `NetemChange`).
    public mutating func change(_ options: QdiscOptions) {
        switch (self.options, options) {
        case (.netem(let old), .netem(let new)):
            netem.configure(new, previous: old)
        default: break
        }
        self.options = options
    }
}
