// TCP buffers: the byte rings behind the send and receive queues and the
// retransmission queue's per-segment records.
// Kernel counterparts: sk_write_queue / tcp_rtx_queue (skbs of sent data,
// each with TCP_SKB_CB() sequence range, sacked bits and skb_mstamp) and
// sk_receive_queue / out_of_order_queue (net/ipv4/tcp_input.c).
//
// Linux keeps data in skbs; here the payload lives in one byte ring per
// direction and only 24-byte records describe what was sent. Both rings are
// allocated on first use, grow by doubling up to the socket's buffer limit,
// and are freed when they drain, so an idle connection holds no buffer
// memory (the issue's ≤ 2 KiB per idle established connection).
//
// The receive ring also holds out-of-order data: a segment beyond rcv_nxt is
// written at its offset from rcv_nxt and only its range is recorded, so
// reassembly is a range merge and never copies twice.
import NetWire

/// A growable byte ring over unsafe storage. Offsets are relative to the
/// first stored byte; the owner frees it with `release()` (from its deinit
/// too: this is a value with a pointer inside, so exactly one owner may hold
/// it — the connection, never a copy).
@usableFromInline
struct TCPByteRing {
    @usableFromInline var storage: UnsafeMutableRawPointer?
    /// A power of two (or zero before first use).
    @usableFromInline var capacity = 0
    @usableFromInline var head = 0
    /// Bytes stored contiguously from `head` (for the receive ring: the
    /// in-order readable bytes; out-of-order bytes lie beyond).
    @usableFromInline var count = 0
    /// The capacity the ring had when it was last freed: a ring that drains
    /// and refills (bulk transfer, each read empties it) is allocated at
    /// that size at once instead of doubling up from 4 KiB again, copying
    /// at each step. A number, not memory: an idle ring still holds none.
    @usableFromInline var lastCapacity = 0

    init() {}

    var isAllocated: Bool { storage != nil }

    /// Makes room for `needed` bytes from the head, keeping the bytes of the
    /// first `keep` offsets. Returns false when `needed` exceeds `limit`.
    mutating func reserve(_ needed: Int, keep: Int, limit: Int) -> Bool {
        if needed <= capacity { return true }
        guard needed <= limit else { return false }
        var newCapacity = max(capacity, storage == nil ? min(lastCapacity, max(limit, 4096)) : 0, 4096)
        while newCapacity < needed { newCapacity &<<= 1 }
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
        return true
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
    mutating func release() {
        if capacity > 0 { lastCapacity = capacity }
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
    var head = 0

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
