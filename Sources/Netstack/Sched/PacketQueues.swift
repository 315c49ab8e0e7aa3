// Packet queues the qdiscs are built from. Kernel counterparts: struct
// qdisc_skb_head (sch->q, a singly linked FIFO with head insertion for
// requeues), the skb_array rings of pfifo_fast, and netem's tfifo (an rbtree
// ordered by time_to_send plus a linear list for in-order arrivals).
//
// Both hold noncopyable PacketBuffers in storage allocated on first use and
// doubled when full, so a queue that never fills past its high-water mark
// allocates nothing per packet. Neither enforces a limit: the qdisc does,
// and counts the drop.

/// A double-ended FIFO of packets (sch->q): tail insertion for enqueue, head
/// insertion for netem's reorder and for requeues.
public struct PacketRing: ~Copyable {
    @usableFromInline var storage: UnsafeMutablePointer<PacketBuffer>? = nil
    @usableFromInline var capacity = 0
    @usableFromInline var start = 0
    /// Packets held (qlen).
    public private(set) var count = 0
    /// Bytes held (backlog).
    public private(set) var bytes = 0

    public init() {}

    deinit {
        if let s = storage {
            for i in 0..<count { (s + (start + i) % capacity).deinitialize(count: 1) }
            s.deallocate()
        }
    }

    @inlinable public var isEmpty: Bool { count == 0 }

    mutating func grow() {
        let newCapacity = capacity == 0 ? 16 : capacity * 2
        let n = UnsafeMutablePointer<PacketBuffer>.allocate(capacity: newCapacity)
        if let s = storage {
            for i in 0..<count { (n + i).moveInitialize(from: s + (start + i) % capacity, count: 1) }
            s.deallocate()
        }
        storage = n
        capacity = newCapacity
        start = 0
    }

    /// Appends at the tail (__qdisc_enqueue_tail).
    public mutating func append(_ p: consuming PacketBuffer) {
        if count == capacity { grow() }
        bytes += p.count
        var i = start + count
        if i >= capacity { i -= capacity }
        (storage! + i).initialize(to: p)
        count += 1
    }

    /// Inserts at the head (__qdisc_enqueue_head).
    public mutating func prepend(_ p: consuming PacketBuffer) {
        if count == capacity { grow() }
        bytes += p.count
        start = start == 0 ? capacity - 1 : start - 1
        (storage! + start).initialize(to: p)
        count += 1
    }

    /// Removes the head (__qdisc_dequeue_head).
    public mutating func popFirst() -> PacketBuffer? {
        guard count > 0, let s = storage else { return nil }
        let p = (s + start).move()
        start += 1
        if start == capacity { start = 0 }
        count -= 1
        bytes -= p.count
        return p
    }

    /// The head packet's length, nil when empty.
    public var firstLength: Int? {
        guard count > 0, let s = storage else { return nil }
        return s[start].count
    }
}

/// Packets ordered by a send time, FIFO among equal times: netem's tfifo.
/// A binary min-heap of (time, arrival sequence) keys over a slab of
/// packets, so the heap moves small copyable keys, never the buffers.
public struct TimedPacketQueue: ~Copyable {
    @usableFromInline struct Key {
        var time: Int64
        var sequence: UInt64
        var slot: Int32
        @inline(__always) func before(_ o: Key) -> Bool {
            time < o.time || (time == o.time && sequence < o.sequence)
        }
    }

    var heap: UnsafeMutablePointer<Key>? = nil
    var packets: UnsafeMutablePointer<PacketBuffer>? = nil
    /// Free slab slots (a stack).
    var free: UnsafeMutablePointer<Int32>? = nil
    var freeCount = 0
    var capacity = 0
    var nextSequence: UInt64 = 0
    public private(set) var count = 0
    public private(set) var bytes = 0
    /// The latest send time of any packet held (skb_rb_last / t_tail), nil when empty.
    public private(set) var latestTime: Instant? = nil

    public init() {}

    deinit {
        if let h = heap, let p = packets {
            for i in 0..<count { (p + Int(h[i].slot)).deinitialize(count: 1) }
        }
        heap?.deallocate()
        packets?.deallocate()
        free?.deallocate()
    }

    mutating func grow() {
        let newCapacity = capacity == 0 ? 16 : capacity * 2
        let h = UnsafeMutablePointer<Key>.allocate(capacity: newCapacity)
        let p = UnsafeMutablePointer<PacketBuffer>.allocate(capacity: newCapacity)
        let f = UnsafeMutablePointer<Int32>.allocate(capacity: newCapacity)
        if let oh = heap, let op = packets {
            // Compact: heap entry i's packet moves to slot i.
            for i in 0..<count {
                (p + i).moveInitialize(from: op + Int(oh[i].slot), count: 1)
                h[i] = oh[i]
                h[i].slot = Int32(i)
            }
            oh.deallocate()
            op.deallocate()
            free?.deallocate()
        }
        freeCount = 0
        for s in stride(from: newCapacity - 1, through: count, by: -1) {
            f[freeCount] = Int32(s)
            freeCount += 1
        }
        heap = h
        packets = p
        free = f
        capacity = newCapacity
    }

    /// Adds a packet to be sent at `time` (tfifo_enqueue).
    public mutating func insert(_ p: consuming PacketBuffer, at time: Instant) {
        if count == capacity { grow() }
        freeCount -= 1
        let slot = free![freeCount]
        bytes += p.count
        (packets! + Int(slot)).initialize(to: p)
        let key = Key(time: time.nanoseconds, sequence: nextSequence, slot: slot)
        nextSequence &+= 1
        let h = heap!
        var i = count
        count += 1
        while i > 0 {
            let parent = (i - 1) / 2
            if !key.before(h[parent]) { break }
            h[i] = h[parent]
            i = parent
        }
        h[i] = key
        if latestTime == nil || time > latestTime! { latestTime = time }
    }

    /// The earliest send time held (netem_peek), nil when empty.
    public var earliestTime: Instant? {
        guard count > 0 else { return nil }
        return Instant(nanoseconds: heap![0].time)
    }

    /// The earliest packet's length, nil when empty.
    public var earliestLength: Int? {
        guard count > 0 else { return nil }
        return packets![Int(heap![0].slot)].count
    }

    /// Removes the earliest packet (netem_erase_head).
    public mutating func popEarliest() -> PacketBuffer? {
        guard count > 0, let h = heap, let ps = packets else { return nil }
        let top = h[0]
        let p = (ps + Int(top.slot)).move()
        free![freeCount] = top.slot
        freeCount += 1
        count -= 1
        bytes -= p.count
        if count > 0 {
            let last = h[count]
            var i = 0
            while true {
                let l = 2 * i + 1
                if l >= count { break }
                var c = l
                if l + 1 < count && h[l + 1].before(h[l]) { c = l + 1 }
                if !h[c].before(last) { break }
                h[i] = h[c]
                i = c
            }
            h[i] = last
        } else {
            latestTime = nil
        }
        return p
    }
}
