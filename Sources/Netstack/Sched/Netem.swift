// netem: the network emulator qdisc. Kernel counterpart: net/sched/sch_netem.c
// (read against Linux 6.18; the enqueue/dequeue logic is the same in 6.1).
//
// How a packet goes through (netem_enqueue):
// 1. duplicate? (only for packets that are not themselves duplicates)
// 2. loss? (random with correlation, or the 4-state / Gilbert-Elliott
//    models). With `ecn` a lost packet that is ECN-capable is marked CE and
//    kept instead. Duplicate + loss sends one copy.
// 3. corrupt? The packet is unshared (it may be a clone) and one random bit
//    of it is flipped.
// 4. sch->q.qlen ≥ limit: dropped. (Linux makes the duplicate's clone
//    before this check and frees it here; this port checks first and makes
//    the copy after, so the clone is never made only to be freed.)
// 5. The duplicate (a clone, shared bytes) is enqueued at the root again —
//    before the original, through steps 2–7 on its own draws.
// 6. reorder: when reordering is on (gap ≥ 1), after gap−1 packets in a row
//    were delayed, a packet is chosen with probability `reorder` to skip the
//    delay: it goes to the head of sch->q and is sent at once (counted as a
//    requeue). Reordering needs a delay to show.
// 7. Otherwise its send time is now + tabledist(latency, jitter): uniform in
//    [latency − jitter, latency + jitter) without a distribution table, so
//    jitter reorders packets. With `rate`, the send time is counted from
//    the last queued packet's send time instead of now (the time it is
//    already waiting is taken off the delay), plus the serialisation time
//    (len + packetoverhead, in cells if cellsize)·1s/rate: send times then
//    never go backwards, so jitter does not reorder when rate is set.
//    The packet joins the tfifo, ordered by send time, FIFO among equals.
//
// netem_dequeue: packets at the head of sch->q (reordered ones) first; then
// the tfifo's earliest once its time has come (and, with `slot`, while the
// current slot has packets and bytes left); otherwise the watchdog is set
// for that time — `nextDeadline` here.
//
// Probabilities are kept as the kernel keeps them: u32 scaled so 0xFFFFFFFF
// is 100%; a draw "hits" when probability ≥ a (correlated) random u32.

/// The loss generators besides "loss random".
public enum NetemLossModel: Sendable, Equatable {
    /// `loss state P13 [P31 [P32 [P23 P14]]]`: the 4-state Markov model.
    case state(p13: UInt32, p31: UInt32, p32: UInt32, p23: UInt32, p14: UInt32)
    /// `loss gemodel P [R [1-H [1-K]]]`: Gilbert-Elliott; `h` and `k1` as the
    /// kernel stores them (h = 1 − the `1-H` argument).
    case gilbertElliott(p: UInt32, r: UInt32, h: UInt32, k1: UInt32)
}

/// `slot MIN [MAX] [packets N] [bytes B]` or
/// `slot distribution D DELAY JITTER [packets N] [bytes B]`.
public struct NetemSlot: Sendable, Equatable {
    public var minDelay: Int64 = 0
    public var maxDelay: Int64 = 0
    public var distribution: NetemDistribution? = nil
    public var distributionDelay: Int64 = 0
    public var distributionJitter: Int64 = 0
    /// 0: unlimited.
    public var maxPackets: Int32 = 0
    public var maxBytes: Int32 = 0
    public init() {}
}

/// netem's configuration, in the units the kernel keeps (ns, u32-scaled
/// probabilities, bytes per second).
public struct NetemOptions: Sendable, Equatable {
    public var limit: UInt32 = 1000
    public var latency: Int64 = 0
    public var jitter: Int64 = 0
    public var delayCorrelation: UInt32 = 0
    public var distribution: NetemDistribution = .uniform
    /// "loss random" probability (when `lossModel` is nil).
    public var loss: UInt32 = 0
    public var lossCorrelation: UInt32 = 0
    public var lossModel: NetemLossModel? = nil
    public var duplicate: UInt32 = 0
    public var duplicateCorrelation: UInt32 = 0
    public var reorder: UInt32 = 0
    public var reorderCorrelation: UInt32 = 0
    public var gap: UInt32 = 0
    public var corrupt: UInt32 = 0
    public var corruptCorrelation: UInt32 = 0
    /// Bytes per second; 0: no rate limit.
    public var rate: UInt64 = 0
    public var packetOverhead: Int32 = 0
    public var cellSize: UInt32 = 0
    public var cellOverhead: Int32 = 0
    public var ecn: Bool = false
    public var slot: NetemSlot? = nil

    public init() {}

    /// A percentage (0…100) as netem's scaled u32 (rint(p/100 · 0xFFFFFFFF)).
    public static func probability(percent: Double) -> UInt32 {
        let v = (percent / 100 * Double(UInt32.max)).rounded(.toNearestOrEven)
        return v <= 0 ? 0 : (v >= Double(UInt32.max) ? .max : UInt32(v))
    }
}

/// A correlated random source (struct crndstate, get_crandom): each value
/// leans on the previous one by rho.
struct CorrelatedRandom {
    var rho: UInt32 = 0
    var last: UInt32 = 0
    var seeded = false

    @inline(__always)
    mutating func next(_ rng: inout Random) -> UInt32 {
        if rho == 0 { return rng.nextUInt32() }
        if !seeded {
            // init_crandom seeds `last` from the entropy pool.
            last = rng.nextUInt32()
            seeded = true
        }
        let value = UInt64(rng.nextUInt32())
        let r = UInt64(rho) + 1
        let answer = UInt32(truncatingIfNeeded: (value &* ((1 << 32) - r) &+ UInt64(last) &* r) >> 32)
        last = answer
        return answer
    }
}

/// netem's run-time state beside its options.
struct NetemState {
    var rng: Random
    var counter: UInt32 = 0
    var delayCorrelation = CorrelatedRandom()
    var lossCorrelation = CorrelatedRandom()
    var duplicateCorrelation = CorrelatedRandom()
    var reorderCorrelation = CorrelatedRandom()
    var corruptCorrelation = CorrelatedRandom()
    /// Markov state of the loss models (1-based as in the kernel).
    var lossState: UInt8 = 1
    /// The send time of the packet at the tail of sch->q (reordered ones).
    var directTailTime: Instant? = nil
    /// The slot: when the next one opens (0: slots off), and what is left.
    var slotNext: Instant = .zero
    var slotPacketsLeft: Int32 = 0
    var slotBytesLeft: Int32 = 0
    var table: [Int16]? = nil
    var slotTable: [Int16]? = nil

    init(seed: UInt64) { rng = Random(seed: seed) }

    /// netem_change's effect on the run-time state.
    mutating func configure(_ o: NetemOptions, previous: NetemOptions?) {
        counter = 0
        delayCorrelation.rho = o.delayCorrelation
        lossCorrelation.rho = o.lossCorrelation
        duplicateCorrelation.rho = o.duplicateCorrelation
        reorderCorrelation.rho = o.reorderCorrelation
        corruptCorrelation.rho = o.corruptCorrelation
        if o.lossModel != previous?.lossModel || previous == nil {
            switch o.lossModel {
            case .state: lossState = 1       // TX_IN_GAP_PERIOD
            case .gilbertElliott: lossState = 1  // GOOD_STATE
            case nil: break
            }
        }
        table = o.distribution.table
        if let s = o.slot {
            slotTable = s.distribution?.table
            if s != previous?.slot {
                slotPacketsLeft = s.maxPackets == 0 ? .max : s.maxPackets
                slotBytesLeft = s.maxBytes == 0 ? .max : s.maxBytes
                // get_slot sets slot_next to "now": the first slot opens at
                // the first dequeue. Any non-zero past time does that.
                let active = s.minDelay != 0 || s.maxDelay != 0 || s.distributionJitter != 0
                slotNext = active ? Instant(nanoseconds: 1) : .zero
            }
        } else {
            slotTable = nil
        }
    }
}

extension Qdisc {
    var netemOptions: NetemOptions {
        if case .netem(let o) = options { return o }
        return NetemOptions()
    }

    /// loss_event().
    mutating func netemLossEvent(_ o: NetemOptions) -> Bool {
        switch o.lossModel {
        case nil:
            return o.loss != 0 && o.loss >= netem.lossCorrelation.next(&netem.rng)
        case .state(let p13, let p31, let p32, let p23, let p14):
            // a1 = p13, a2 = p31, a3 = p32, a4 = p14, a5 = p23
            let rnd = netem.rng.nextUInt32()
            switch netem.lossState {
            case 1: // TX_IN_GAP_PERIOD
                if rnd < p14 { netem.lossState = 3; return true }
                if rnd < p13 &+ p14 { netem.lossState = 4; return true }
                netem.lossState = 1
            case 2: // TX_IN_BURST_PERIOD
                if rnd < p23 { netem.lossState = 4; return true }
                netem.lossState = 2
            case 4: // LOST_IN_BURST_PERIOD
                if rnd < p32 {
                    netem.lossState = 2
                } else if rnd < p31 &+ p32 {
                    netem.lossState = 1
                } else {
                    netem.lossState = 4
                    return true
                }
            default: // LOST_IN_GAP_PERIOD
                netem.lossState = 1
            }
            return false
        case .gilbertElliott(let p, let r, let h, let k1):
            if netem.lossState == 1 { // GOOD
                if netem.rng.nextUInt32() < p { netem.lossState = 2 }
                if netem.rng.nextUInt32() < k1 { return true }
            } else {
                if netem.rng.nextUInt32() < r { netem.lossState = 1 }
                if netem.rng.nextUInt32() > h { return true }
            }
            return false
        }
    }

    /// tabledist(): a delay with mean mu and spread sigma.
    static func tableDistribution(mu: Int64, sigma: Int32, correlation: inout CorrelatedRandom,
                                  rng: inout Random, table: [Int16]?) -> Int64 {
        if sigma == 0 { return mu }
        let rnd = correlation.next(&rng)
        guard let table, !table.isEmpty else {
            return Int64(rnd % (2 &* UInt32(sigma))) + mu - Int64(sigma)
        }
        let t = Int64(table[Int(rnd % UInt32(table.count))])
        let scale = NetemDistribution.scale
        var x = (Int64(sigma) % scale) * t
        x += x >= 0 ? scale / 2 : -scale / 2
        return x / scale + (Int64(sigma) / scale) * t + mu
    }

    /// packet_time_ns(): serialisation time of `length` bytes at the rate.
    static func packetTime(_ length: Int, _ o: NetemOptions) -> Int64 {
        var len = Int64(length) + Int64(o.packetOverhead)
        if o.cellSize != 0 {
            let size = Int64(o.cellSize)
            var cells = len / size
            if len > cells * size { cells += 1 }
            len = cells * (size + Int64(o.cellOverhead))
        }
        guard o.rate > 0, len > 0 else { return 0 }
        return Int64((UInt64(len).multipliedFullWidth(by: 1_000_000_000).low) / o.rate)
    }

    /// INET_ECN_set_ce on the packet's IP header: true when it is (now) CE.
    static func setCE(_ p: inout PacketBuffer, pool: PacketPool) -> Bool {
        guard let offset = p.networkHeaderOffset, offset >= 0 else { return false }
        let proto = p.metadata.networkProtocol.rawValue
        guard proto == 0x0800 || proto == 0x86DD else { return false }
        let current: UInt8? = p.withUnsafeReadableBytes { b in
            if proto == 0x0800 {
                guard b.count >= offset + 20 else { return nil }
                return b[offset + 1] & 3
            }
            guard b.count >= offset + 2 else { return nil }
            return (b[offset + 1] >> 4) & 3
        }
        guard let ecn = current, ecn != 0 else { return false }
        if ecn == 3 { return true }
        guard p.unshare(from: pool) else { return false }
        p.withUnsafeMutableReadableBytes { b in
            if proto == 0x0800 {
                // RFC 1624 incremental update of the header checksum.
                let oldWord = UInt16(b[offset]) << 8 | UInt16(b[offset + 1])
                b[offset + 1] |= 3
                let newWord = UInt16(b[offset]) << 8 | UInt16(b[offset + 1])
                let oldSum = UInt16(b[offset + 10]) << 8 | UInt16(b[offset + 11])
                var sum = UInt32(~oldSum) + UInt32(~oldWord) + UInt32(newWord)
                sum = (sum & 0xFFFF) + (sum >> 16)
                sum = (sum & 0xFFFF) + (sum >> 16)
                let newSum = ~UInt16(sum)
                b[offset + 10] = UInt8(newSum >> 8)
                b[offset + 11] = UInt8(newSum & 0xFF)
            } else {
                b[offset + 1] |= 0x30
            }
        }
        return true
    }

    /// skb_checksum_help for a CHECKSUM_PARTIAL packet before corruption:
    /// the checksum is filled in software, so the corruption shows.
    static func completeChecksum(_ p: inout PacketBuffer) {
        p.completePartialChecksum()
    }

    mutating func netemEnqueue(_ packet: consuming PacketBuffer, now: Instant, pool: PacketPool,
                               isDuplicate: Bool) -> EnqueueResult {
        var p = packet
        let o = netemOptions
        var copies = 1
        if o.duplicate != 0 && !isDuplicate && o.duplicate >= netem.duplicateCorrelation.next(&netem.rng) {
            copies += 1
        }
        if netemLossEvent(o) {
            if o.ecn && Qdisc.setCE(&p, pool: pool) {
                drops &+= 1  // marked, counted as a drop, kept
            } else {
                copies -= 1
            }
        }
        if copies == 0 {
            drops &+= 1
            return .dropped(p, .qdiscDrop)
        }
        let corrupt = o.corrupt != 0 && o.corrupt >= netem.corruptCorrelation.next(&netem.rng)
        if band0.count + tfifo.count >= Int(o.limit) {
            drops &+= 1
            return .dropped(p, .qdiscDrop)
        }
        var duplicate: PacketBuffer? = copies > 1 ? p.share() : nil
        // skb_clone: the clone has no owner (no TSQ charge of its own).
        duplicate?.metadata.tsqOwner = 0
        if corrupt {
            guard p.unshare(from: pool) else {
                drops &+= 1
                return .dropped(p, .nomem)
            }
            Qdisc.completeChecksum(&p)
            if p.count > 0 {
                let at = Int(netem.rng.below(UInt32(p.count)))
                let bit = UInt8(1) << UInt8(netem.rng.below(8))
                p.withUnsafeMutableReadableBytes { $0[at] ^= bit }
            }
        }
        var duplicateOutcome: EnqueueResult = .queued
        if let d = duplicate.take() {
            duplicateOutcome = netemEnqueue(d, now: now, pool: pool, isDuplicate: true)
        }
        _ = consume duplicate

        if o.gap == 0 || netem.counter < o.gap &- 1
            || o.reorder < netem.reorderCorrelation.next(&netem.rng) {
            var delay = Qdisc.tableDistribution(mu: o.latency, sigma: Int32(clamping: o.jitter),
                                                correlation: &netem.delayCorrelation, rng: &netem.rng,
                                                table: netem.table)
            var start = now.nanoseconds
            if o.rate != 0 {
                var last: Int64? = nil
                if !band0.isEmpty, let t = netem.directTailTime { last = t.nanoseconds }
                if let t = tfifo.latestTime, last == nil || t.nanoseconds > last! { last = t.nanoseconds }
                if let last {
                    delay -= last - start
                    delay = max(0, delay)
                    start = last
                }
                delay += Qdisc.packetTime(p.count, o)
            }
            netem.counter &+= 1
            tfifo.insert(p, at: Instant(nanoseconds: start &+ delay))
        } else {
            netem.counter = 0
            if band0.isEmpty { netem.directTailTime = now }
            band0.prepend(p)
            requeues &+= 1
        }
        return duplicateOutcome
    }

    /// get_slot_next().
    mutating func netemNextSlot(now: Instant) {
        guard case .netem(let o) = options, let s = o.slot else { return }
        let next: Int64
        if s.distribution == nil || s.distributionJitter == 0 {
            let span = UInt64(max(0, s.maxDelay - s.minDelay))
            // mul_u64_u32_shr(span, rnd, 32)
            let (high, low) = span.multipliedFullWidth(by: UInt64(netem.rng.nextUInt32()))
            next = s.minDelay + Int64(truncatingIfNeeded: (high << 32) | (low >> 32))
        } else {
            var none = CorrelatedRandom()
            next = Qdisc.tableDistribution(mu: s.distributionDelay, sigma: Int32(clamping: s.distributionJitter),
                                           correlation: &none, rng: &netem.rng, table: netem.slotTable)
        }
        netem.slotNext = now + TimeDelta(nanoseconds: next)
        netem.slotPacketsLeft = s.maxPackets == 0 ? .max : s.maxPackets
        netem.slotBytesLeft = s.maxBytes == 0 ? .max : s.maxBytes
    }

    mutating func netemDequeue(now: Instant) -> PacketBuffer? {
        if let p = band0.popFirst() {
            if band0.isEmpty { netem.directTailTime = nil }
            return delivered(p)
        }
        guard let t = tfifo.earliestTime else { return nil }
        if netem.slotNext != .zero && netem.slotNext < t { netemNextSlot(now: now) }
        guard t <= now && netem.slotNext <= now, let p = tfifo.popEarliest() else { return nil }
        if netem.slotNext != .zero {
            netem.slotPacketsLeft &-= 1
            netem.slotBytesLeft &-= Int32(truncatingIfNeeded: p.count)
            if netem.slotPacketsLeft <= 0 || netem.slotBytesLeft <= 0 { netemNextSlot(now: now) }
        }
        return delivered(p)
    }
}
