// TCP Small Queues: how many bytes each TCP socket has below TCP — in IP
// output, a neighbour's queue, the qdisc — and who to wake when some leave.
// Kernel counterpart: sk_wmem_alloc with the tcp_wfree destructor,
// TSQ_THROTTLED / TSQ_QUEUED and the per-CPU tsq tasklet (tcp_wfree,
// tcp_tsq_handler, tcp_tasklet_func in net/ipv4/tcp_output.c); the check
// itself, tcp_small_queue_check, is in TCPSockets.swift (tcpTransmit).
//
// No class or closure per packet: a packet carries its socket's slot here
// (`PacketMetadata.tsqOwner`, 0 for none) and its charge
// (`PacketMetadata.tsqCharge`). The charge is released — skb_orphan — where
// the packet leaves the host's queues for good:
// - a driver's transmit (NetworkNamespace.deviceTransmit): loopback, veth
//   and tun orphan at xmit in Linux, dummy frees;
// - netem with a delay, jitter or rate, at enqueue (skb_orphan_partial:
//   "orphaning usually takes place at TX completion time, so before the
//   link transit delay");
// - any drop (Shard.drop);
// - GSO segmentation hands the charge on to the segments
//   (NetworkNamespace.segmentForDevice), as tcp_gso_segment moves the
//   destructor to each segment.
// A netem duplicate (skb_clone) carries no owner.
//
// An owner id is the slot index (low 24 bits) and the slot's generation
// (top 8 bits): a socket frees its slot when its TCB is destroyed, and a
// packet still queued then releases nothing when it leaves (a stale id,
// its generation is past). The table is per shard: the shard owns the
// flows that hash to it, as tsq_tasklet is per CPU.
//
// Resuming: a release on a throttled socket queues it once (TSQ_QUEUED);
// the stack resumes queued sockets at the end of its poll round
// (Stack.tcpResumeSmallQueues), as the tasklet runs after the softirq
// that freed the packets — not once per packet.
public final class TCPSmallQueues {
    /// One socket's entry: bytes charged (sk_wmem_alloc without its
    /// initial 1), the slot's generation, TSQ_THROTTLED (bit 0) and
    /// TSQ_QUEUED (bit 1). Eight bytes, in one buffer the shard's thread
    /// alone reads and writes per packet: one bounds test, no copy-on-write
    /// test (three arrays cost rr 4 % more instructions per transaction).
    struct Slot {
        var bytes: Int32 = 0
        var generation: UInt8 = 0
        var flags: UInt8 = 0
    }
    @exclusivity(unchecked) private var slots: UnsafeMutablePointer<Slot>
    @exclusivity(unchecked) private var slotCount = 1
    private var slotCapacity = 64
    /// The socket of a throttled slot (held only while throttled, so a
    /// slot never keeps a socket alive otherwise).
    private var sockets: [TCPSocket?] = [nil]
    private var freeSlots: [Int32] = []
    /// Slots released while throttled, to resume at the round's end;
    /// `spare` is the list a resume walks (the two swap: no allocation).
    @exclusivity(unchecked) private var ready: [Int32] = []
    private var spare: [Int32] = []

    /// Off, no socket is ever held back (the accounting goes on): for
    /// measuring what TSQ saves; Linux has no such switch.
    var isEnabled = true

    static let throttled: UInt8 = 1
    static let queued: UInt8 = 2

    public init() {
        slots = .allocate(capacity: slotCapacity)
        slots.initialize(repeating: Slot(), count: slotCapacity)
    }

    deinit { slots.deallocate() }

    /// Slots held by sockets now.
    public var allocatedSlots: Int { slotCount - 1 - freeSlots.count }
    /// Bytes charged to sockets now, all slots together (0 when every
    /// charged packet has left).
    public var totalBytes: Int { (0..<slotCount).reduce(0) { $0 + Int(slots[$1].bytes) } }
    /// Whether a socket waits to be resumed.
    public var hasReady: Bool { !ready.isEmpty }

    /// A new owner id (never 0).
    func allocate() -> UInt32 {
        let i: Int
        if let f = freeSlots.popLast() {
            i = Int(f)
        } else {
            guard slotCount < 1 << 24 else { return 0 }
            if slotCount == slotCapacity {
                let bigger = UnsafeMutablePointer<Slot>.allocate(capacity: slotCapacity &* 2)
                bigger.moveInitialize(from: slots, count: slotCapacity)
                (bigger + slotCapacity).initialize(repeating: Slot(), count: slotCapacity)
                slots.deallocate()
                slots = bigger
                slotCapacity &*= 2
            }
            i = slotCount
            slotCount &+= 1
            sockets.append(nil)
        }
        return UInt32(i) | UInt32(slots[i].generation) << 24
    }

    /// The socket is gone: its packets still queued become strangers.
    func free(_ owner: UInt32) {
        guard let i = index(owner) else { return }
        slots[i].generation &+= 1
        slots[i].bytes = 0
        slots[i].flags = 0
        sockets[i] = nil
        freeSlots.append(Int32(i))
    }

    @inline(__always)
    func index(_ owner: UInt32) -> Int? {
        let i = Int(owner & 0xFF_FFFF)
        guard owner != 0, i < slotCount, slots[i].generation == UInt8(truncatingIfNeeded: owner >> 24) else { return nil }
        return i
    }

    /// Bytes `owner` has below TCP now (0 for a stale or absent owner).
    @inline(__always)
    public func queuedBytes(_ owner: UInt32) -> Int {
        guard let i = index(owner) else { return 0 }
        return Int(slots[i].bytes)
    }

    /// skb_set_owner_w's accounting: `charge` more bytes below TCP.
    @inline(__always)
    func charge(_ owner: UInt32, _ charge: Int) {
        guard let i = index(owner) else { return }
        slots[i].bytes &+= Int32(truncatingIfNeeded: charge)
    }

    /// tcp_wfree: the packet left; wake the socket if it was throttled.
    /// Never below 0 (an IPv4 fragment train carries its packet's owner
    /// on every fragment and would release it more than once).
    @inline(__always)
    public func release(_ owner: UInt32, _ charge: UInt16) {
        guard let i = index(owner) else { return }
        let left = slots[i].bytes &- Int32(charge)
        slots[i].bytes = left > 0 ? left : 0
        if slots[i].flags == Self.throttled {
            slots[i].flags = Self.throttled | Self.queued
            ready.append(Int32(i))
        }
    }

    /// skb_orphan: release `meta`'s charge and clear its owner.
    @inline(__always)
    public func orphan(_ meta: inout PacketMetadata) {
        guard meta.tsqOwner != 0 else { return }
        release(meta.tsqOwner, meta.tsqCharge)
        meta.tsqOwner = 0
        meta.tsqCharge = 0
    }

    /// set_bit(TSQ_THROTTLED): `s` stopped over its limit.
    func throttle(_ owner: UInt32, _ s: TCPSocket) {
        guard let i = index(owner) else { return }
        if slots[i].flags & Self.throttled == 0 {
            slots[i].flags |= Self.throttled
            sockets[i] = s
        }
    }

    /// The tasklet's list (`beginResume` fills it, `endResume` empties
    /// it, keeping its storage: no allocation per round).
    private(set) var resuming: [TCPSocket] = []

    /// The sockets queued since the last resume go to `resuming`, their
    /// flags cleared and the table's hold on them dropped. Sockets that
    /// queue again while these are resumed wait for the next round.
    func beginResume() {
        swap(&ready, &spare)
        for i in spare {
            let i = Int(i)
            slots[i].flags = 0
            if let s = sockets[i] {
                sockets[i] = nil
                resuming.append(s)
            }
        }
        spare.removeAll(keepingCapacity: true)
    }

    func endResume() { resuming.removeAll(keepingCapacity: true) }
}
