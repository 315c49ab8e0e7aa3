// TCP buffers: the byte rings behind the send and receive queues and the
// retransmission queue's per-segment records.
// Kernel counterparts: sk_write_queue / tcp_rtx_queue (skbs of sent data,
// each with TCP_SKB_CB() sequence range, sacked bits and skb_mstamp) and
// sk_receive_queue / out_of_order_queue (net/ipv4/tcp_input.c).
//
// Linux keeps data in skbs; here the payload lives in one byte ring per
// direction and only 24-byte records describe what was sent. Both rings are
// allocated on first use, grow by doubling as the socket's buffer limits
// (sk_rcvbuf, sk_sndbuf; TCPMemory.swift) let data in, and are freed when
// they drain, so an idle connection holds no buffer memory (the issue's
// ≤ 2 KiB per idle established connection); under memory pressure they
// also shrink to what they hold.
//
// The receive ring also holds out-of-order data: a segment beyond rcv_nxt is
// written at its offset from rcv_nxt and only its range is recorded, so
// reassembly is a range merge and never copies twice.
//
// Memory accounting (net/core/sock.c __sk_mem_raise_allocated /
// __sk_mem_reduce_allocated, tcp_memory_allocated, tcp_memory_pressure):
// every ring charges its allocated capacity to the stack's `TCPMemory`
// when it grows and uncharges it when it shrinks or is freed — an integer
// add per growth step, never per packet. A ring's capacity plays the part
// of skb truesize (the memory held), its byte count the part of skb->len.
import NetWire

/// The stack's TCP memory account (Linux's per-protocol memory_allocated,
/// shared by every namespace) and the net.ipv4.tcp_mem limits, in pages:
/// at or below `minimum` there is no pressure; above `pressure` TCP is
/// under memory pressure (buffers stop growing, rings shrink to what they
/// hold); above `maximum` a growth that is not forced fails (receive data
/// that needs memory is dropped, PROTO_MEM; sends wait).
public final class TCPMemory {
    public static let pageSize = 4096
    /// tcp_mem: min, pressure, max in pages. The defaults are what
    /// tcp_init_mem() computes on a 24 GiB machine (nr_free_buffer_pages / 16
    /// as the pressure mark, ¾ of it as the minimum, twice the minimum as
    /// the maximum): `sysctl net.ipv4.tcp_mem` there prints these.
    @exclusivity(unchecked) public var limits: (minimum: Int, pressure: Int, maximum: Int) = (287_901, 383_868, 575_802)
    /// Bytes of ring capacity allocated now (tcp_memory_allocated, in bytes).
    @exclusivity(unchecked) public private(set) var allocatedBytes = 0
    /// The most ever allocated (for tests and `ss`-like reports).
    @exclusivity(unchecked) public private(set) var peakBytes = 0
    /// tcp_memory_pressure: set while under pressure, since when.
    @exclusivity(unchecked) public private(set) var underPressure = false
    @exclusivity(unchecked) var pressureSince = Instant.zero
    /// The stack whose clock times the pressure chronograph and whose
    /// shard counts TcpExtTCPMemoryPressures(Chrono); nil for a standalone
    /// account, which then uses `now` and keeps only the totals below.
    public weak var stack: Stack?
    @exclusivity(unchecked) public var now = Instant.zero
    /// Lifetime totals: pressure episodes entered, milliseconds spent under
    /// pressure (episodes that ended).
    @exclusivity(unchecked) public private(set) var pressureEpisodes = 0
    @exclusivity(unchecked) public private(set) var pressureMilliseconds = 0

    public init() {}

    /// tcp_mem's pages in use (sk_memory_allocated).
    public var allocatedPages: Int { (allocatedBytes &+ Self.pageSize &- 1) / Self.pageSize }
    /// Above the hard limit (tcp_mem[2]).
    public var overLimit: Bool { allocatedPages > limits.maximum }

    private var clock: Instant { stack?.now ?? now }

    /// __sk_mem_raise_allocated(): charges `bytes`; false (and nothing
    /// charged) when the result is above tcp_mem[2] and `force` is not set.
    /// Crossing tcp_mem[1] enters memory pressure; at or below tcp_mem[0]
    /// it is left.
    func charge(_ bytes: Int, force: Bool) -> Bool {
        let after = allocatedBytes &+ bytes
        let pages = (after &+ Self.pageSize &- 1) / Self.pageSize
        if pages <= limits.minimum {
            allocatedBytes = after
            leavePressure()
        } else {
            if pages > limits.pressure { enterPressure() }
            if pages > limits.maximum && !force { return false }
            allocatedBytes = after
        }
        if allocatedBytes > peakBytes { peakBytes = allocatedBytes }
        return true
    }

    /// __sk_mem_reduce_allocated().
    func uncharge(_ bytes: Int) {
        allocatedBytes &-= bytes
        if underPressure && allocatedPages < limits.minimum { leavePressure() }
    }

    /// tcp_enter_memory_pressure().
    func enterPressure() {
        guard !underPressure else { return }
        underPressure = true
        pressureSince = clock
        pressureEpisodes &+= 1
        stack?.shard.counters.add(.tcpExtTCPMemoryPressures, 1)
    }

    /// tcp_leave_memory_pressure(): the time spent under pressure goes to
    /// TCPMemoryPressuresChrono, in milliseconds.
    func leavePressure() {
        guard underPressure else { return }
        underPressure = false
        let d = clock - pressureSince
        guard d > .zero else { return }
        let ms = Int(d.nanoseconds / 1_000_000)
        pressureMilliseconds &+= ms
        stack?.shard.counters.add(.tcpExtTCPMemoryPressuresChrono, UInt64(ms))
    }
}

/// A growable byte ring over unsafe storage. Offsets are relative to the
/// first stored byte; the owner frees it with `release(account:)` (from its deinit
/// too: this is a value with a pointer inside, so exactly one owner may hold
/// it — the connection, never a copy).
@usableFromInline
struct TCPByteRing {
    @usableFromInline var storage: UnsafeMutableRawPointer?
    /// A power of two (or zero before first use).
    @usableFromInline var capacity: Int {
        @inline(__always) get { Int(_capacity) }
        @inline(__always) set { _capacity = UInt32(truncatingIfNeeded: newValue) }
    }
    @usableFromInline var head: Int {
        @inline(__always) get { Int(_head) }
        @inline(__always) set { _head = UInt32(truncatingIfNeeded: newValue) }
    }
    /// Bytes stored contiguously from `head` (for the receive ring: the
    /// in-order readable bytes; out-of-order bytes lie beyond).
    @usableFromInline var count: Int {
        @inline(__always) get { Int(_count) }
        @inline(__always) set { _count = UInt32(truncatingIfNeeded: newValue) }
    }
    /// The capacity the ring had when it was last freed: a ring that drains
    /// and refills (bulk transfer, each read empties it) is allocated at
    /// that size at once instead of doubling up from 4 KiB again, copying
    /// at each step. A number, not memory: an idle ring still holds none.
    @usableFromInline var lastCapacity: Int {
        @inline(__always) get { Int(_lastCapacity) }
        @inline(__always) set { _lastCapacity = UInt32(truncatingIfNeeded: newValue) }
    }
    /// The four sizes above, stored in 32 bits (16 bytes a ring, not 32,
    /// two rings in every TCB): a ring never exceeds 2 GiB, as a socket
    /// buffer is at most INT_MAX bytes, and none is ever negative.
    @usableFromInline var _capacity: UInt32 = 0
    @usableFromInline var _head: UInt32 = 0
    @usableFromInline var _count: UInt32 = 0
    @usableFromInline var _lastCapacity: UInt32 = 0

    init() {}

    var isAllocated: Bool { storage != nil }

    /// The smallest ring step: a ring is never smaller (SK_MEM_QUANTUM's part).
    static let minimumCapacity = 4096

    /// Makes room for `needed` bytes from the head, keeping the bytes of the
    /// first `keep` offsets. Returns false when the account refuses the
    /// growth (above tcp_mem[2]) and `force` is not set; then nothing changed.
    /// Under memory pressure a ring freed earlier starts at what is needed,
    /// not at its last size.
    mutating func reserve(_ needed: Int, keep: Int, force: Bool = false, account: TCPMemory?) -> Bool {
        if needed <= capacity { return true }
        let pressure = account?.underPressure ?? false
        var newCapacity = max(capacity, storage == nil && !pressure ? lastCapacity : 0, Self.minimumCapacity)
        while newCapacity < needed { newCapacity &<<= 1 }
        if let account, !account.charge(newCapacity &- capacity, force: force) { return false }
        move(to: newCapacity, keep: keep)
        return true
    }

    /// Reallocates at `newCapacity`, linearising the first `keep` bytes.
    private mutating func move(to newCapacity: Int, keep: Int) {
        let newStorage = UnsafeMutableRawPointer.allocate(byteCount: newCapacity, alignment: 16)
        if let old = storage {
            // Linearise the old contents from the head.
            let n = min(keep, capacity)
            let first = min(n, capacity &- head)
            newStorage.copyMemory(from: old + head, byteCount: first)
            if n > first { (newStorage + first).copyMemory(from: old, byteCount: n &- first) }
            old.deallocate()
        }
        storage = newStorage
        capacity = newCapacity
        head = 0
    }

    /// Gives back capacity beyond what the first `keep` bytes need (the
    /// ring's tcp_collapse: the bytes are already compact, so collapsing is
    /// returning the unused part). Returns the bytes freed.
    @discardableResult
    mutating func shrink(keep: Int, account: TCPMemory?) -> Int {
        guard storage != nil else { return 0 }
        var target = Self.minimumCapacity
        while target < keep { target &<<= 1 }
        guard target < capacity else { return 0 }
        let freed = capacity &- target
        move(to: target, keep: keep)
        account?.uncharge(freed)
        return freed
    }

    /// Copies `bytes` in at `offset` from the head; the room was reserved.
    mutating func write(_ bytes: UnsafeRawBufferPointer, at offset: Int) {
        guard let base = bytes.baseAddress, bytes.count > 0, let storage else { return }
        let start = (head &+ offset) & (capacity &- 1)
        let first = min(bytes.count, capacity &- start)
        (storage + start).copyMemory(from: base, byteCount: first)
        if bytes.count > first { storage.copyMemory(from: base + first, byteCount: bytes.count &- first) }
    }

    /// Copies `out.count` bytes out from `offset` past the head.
    func copy(into out: UnsafeMutableRawBufferPointer, from offset: Int) {
        guard let dst = out.baseAddress, out.count > 0, let storage else { return }
        let start = (head &+ offset) & (capacity &- 1)
        let first = min(out.count, capacity &- start)
        dst.copyMemory(from: storage + start, byteCount: first)
        if out.count > first { (dst + first).copyMemory(from: storage, byteCount: out.count &- first) }
    }

    /// Drops `n` bytes from the head.
    mutating func consume(_ n: Int) {
        guard n > 0 else { return }
        head = (head &+ n) & (capacity &- 1)
        count &-= n
    }

    /// Frees the storage (the ring must hold nothing the owner still needs).
    mutating func release(account: TCPMemory?) {
        if capacity > 0 {
            lastCapacity = capacity
            account?.uncharge(capacity)
        }
        storage?.deallocate()
        storage = nil
        capacity = 0
        head = 0
        count = 0
    }
}

/// One transmitted segment of the retransmission queue (what Linux's
/// TCP_SKB_CB() holds for an skb on tcp_rtx_queue).
@usableFromInline
struct TCPSentSegment {
    var start: TCPSeqNumber
    var end: TCPSeqNumber
    /// When it was last (re)transmitted (skb_mstamp_ns).
    var sentAt: Instant
    var flags: Flags
    /// Delivery-rate sampling state at the last transmission (tcp_rate_skb_sent:
    /// TCP_SKB_CB(skb)->tx.delivered and tx.delivered_mstamp).
    var deliveredAtSend: UInt32 = 0
    var deliveredStampAtSend = Instant.zero

    struct Flags: OptionSet {
        var rawValue: UInt8
        /// TCPCB_SACKED_ACKED.
        static let sacked = Flags(rawValue: 1)
        /// TCPCB_LOST: marked lost, waiting to be retransmitted.
        static let lost = Flags(rawValue: 2)
        /// TCPCB_SACKED_RETRANS: a retransmission is in flight.
        static let retransInFlight = Flags(rawValue: 4)
        /// TCPCB_EVER_RETRANS.
        static let everRetransmitted = Flags(rawValue: 8)
        static let syn = Flags(rawValue: 16)
        static let fin = Flags(rawValue: 32)
        /// tx.is_app_limited: sent while the application, not the network,
        /// limited the flight.
        static let appLimited = Flags(rawValue: 64)
    }

    /// Payload bytes (the sequence space less SYN and FIN).
    var payloadLength: Int {
        (end - start) &- (flags.contains(.syn) ? 1 : 0) &- (flags.contains(.fin) ? 1 : 0)
    }
    /// Sequence number of the first payload byte.
    var payloadStart: TCPSeqNumber { flags.contains(.syn) ? start + 1 : start }
}

/// The retransmission queue: records in sequence order, a ring over an
/// array that is dropped when it empties.
@usableFromInline
struct TCPSentQueue {
    var records: [TCPSentSegment] = []
    /// The first live record; stored in 32 bits (a queue holds at most a
    /// window of segments) so the queue takes 12 bytes of its TCB, not 16.
    var head: Int {
        @inline(__always) get { Int(_head) }
        @inline(__always) set { _head = Int32(truncatingIfNeeded: newValue) }
    }
    var _head: Int32 = 0

    var count: Int { records.count &- head }
    var isEmpty: Bool { head == records.count }

    subscript(i: Int) -> TCPSentSegment {
        get { records[head &+ i] }
        set { records[head &+ i] = newValue }
    }

    var first: TCPSentSegment? { isEmpty ? nil : records[head] }
    var last: TCPSentSegment? { isEmpty ? nil : records[records.count &- 1] }

    mutating func append(_ s: TCPSentSegment) {
        if records.isEmpty { records.reserveCapacity(16) }
        records.append(s)
    }

    mutating func removeFirst() {
        head &+= 1
        if head == records.count {
            records = []
            head = 0
        } else if head >= 256 && head &* 2 >= records.count {
            records.removeFirst(head)
            head = 0
        }
    }

    mutating func removeAll() {
        records = []
        head = 0
    }

    /// Splits record `i` at `seq` (strictly inside its payload), as
    /// tcp_fragment() does, so SACK and partial ACKs can mark exact ranges.
    mutating func split(_ i: Int, at seq: TCPSeqNumber) {
        var front = self[i]
        var back = front
        front.end = seq
        front.flags.remove(.fin)
        back.start = seq
        back.flags.remove(.syn)
        self[i] = front
        records.insert(back, at: head &+ i &+ 1)
    }
}
