// FragmentQueue: the machinery IPv4 and IPv6 reassembly share.
// Kernel counterpart: net/ipv4/inet_fragment.c (struct fqdir,
// struct inet_frag_queue, inet_frag_find, inet_frag_queue_insert,
// inet_frag_kill/destroy) and include/net/inet_frag.h.
//
// What it promises (as Linux ≥ 4.19 does):
// - Queues are found by a protocol key (IPv4: source, destination, id,
//   protocol, defrag user, VRF; IPv6: source, destination, id, user,
//   interface for link-local/multicast destinations).
// - Memory is accounted per fragment (its buffer's slot plus a fixed
//   sk_buff-like overhead) and per queue. While the total is above
//   `highThresh`, every fragment is refused — inet_frag_find() returns
//   NULL and the caller counts ReasmFails. There is no LRU eviction down to
//   `lowThresh`: Linux removed that evictor in 4.17 and the sysctl
//   `ipfrag_low_thresh` is documented as obsolete; it is kept here as a
//   value only. Memory comes back as queues complete, fail or time out.
// - A queue lives `timeout` (ipfrag_time, 30 s) from its creation; a
//   fragment does not extend it (RFC 791's advice, which Linux rejects).
// - Overlap (RFC 5722 for IPv6; Linux applies it to IPv4 too since 4.19):
//   a fragment that overlaps data already queued kills the whole datagram.
//   A fragment that lies wholly inside one *run* of contiguous fragments is a
//   duplicate and only that fragment is dropped. Runs are built as Linux
//   builds them: a fragment appended exactly at the tail joins the tail's
//   run; any other insertion starts a run of its own. So whether a fragment
//   that spans two queued fragments is a duplicate or an overlap depends on
//   arrival order, as it does in the kernel.
//
// Storage, and what allocates:
// - Fragments stay in their receive buffers (noncopyable `PacketBuffer`s),
//   moved into a slab of optional buffers indexed by node; nodes form a
//   per-queue list sorted by offset, with an O(1) tail fast path for
//   in-order arrival (the kernel's rb-tree of runs; the list's worst case is
//   O(n) per insertion, n bounded by the memory limit).
// - The node slab, the queue records and the key dictionary grow by
//   doubling up to their high-water mark and are then reused: no heap
//   allocation per fragment in steady state. Nothing is allocated per packet.
// - Queued fragments released because their datagram failed (overlap,
//   inconsistent length, oversize) are consumed silently, as
//   inet_frag_destroy() consumes them; fragments flushed by a timeout or by
//   ipfrag_max_dist are dropped with FRAG_REASM_TIMEOUT / FRAG_TOO_FAR
//   through `Shard.drop`, as the kernel does.
import NetWire

/// The net.ipv4.ipfrag_* / net.ipv6.ip6frag_* sysctls of one namespace.
public struct FragmentLimits: Sendable, Equatable {
    /// ipfrag_high_thresh: above this many bytes held, fragments are refused.
    public var highThresh: Int
    /// ipfrag_low_thresh: obsolete since Linux 4.17; kept as a value.
    public var lowThresh: Int
    /// ipfrag_time: how long a datagram may take to arrive.
    public var timeout: TimeDelta
    /// ipfrag_max_dist (IPv4 only; 0 disables): how many fragments from the
    /// same source may arrive between two fragments of one datagram before
    /// the datagram's queue is flushed and restarted.
    public var maxDistance: Int

    public init(highThresh: Int = 4 * 1024 * 1024, lowThresh: Int = 3 * 1024 * 1024,
                timeout: TimeDelta = .seconds(30), maxDistance: Int = 64) {
        self.highThresh = highThresh
        self.lowThresh = lowThresh
        self.timeout = timeout
        self.maxDistance = maxDistance
    }
}

/// What happened to a fragment handed to reassembly.
public enum ReassemblyResult: ~Copyable {
    /// Queued; the datagram is not complete yet. The buffer is held.
    case incomplete
    /// The whole datagram, network header at the front: deliver it as if it
    /// had arrived unfragmented (IPv6: the fragment header is removed).
    case complete(PacketBuffer)
    /// Discarded: the caller passes it to `Shard.drop(_:reason:now:)`.
    case dropped(PacketBuffer, DropReason)
    /// IPv6 only: the caller sends ICMPv6 Parameter Problem with this code
    /// and pointer (quoting the packet), then drops it with `reason`.
    case parameterProblem(PacketBuffer, code: UInt8, pointer: UInt32, reason: DropReason)
}

/// ECN of a fragment as inet_frag tracks it (IPFRAG_ECN_*): one bit per
/// codepoint, OR-ed over the datagram and resolved by `ecnResolve`.
@inline(__always)
func fragmentECNBit(_ ecn: UInt8) -> UInt8 { 1 << (ecn & 3) }

/// ip_frag_ecn_table (RFC 3168 §5.3): nil = drop the datagram, else the
/// bits to OR into the reassembled header's ECN field.
@inline(__always)
func fragmentECNResolve(_ bits: UInt8) -> UInt8? {
    let notECT: UInt8 = 1, ce: UInt8 = 8
    if bits & notECT != 0 && bits & ~notECT != 0 { return nil }
    if bits & ce != 0 && bits & ~ce != 0 { return 3 }
    return 0
}

// MARK: - the queue table

@usableFromInline
struct FragmentNode {
    /// Byte range of the datagram this fragment carries.
    var offset: Int32 = 0
    var end: Int32 = 0
    /// Where the fragment's data starts in its buffer (from the front).
    var dataStart: Int32 = 0
    /// Next node of the queue by offset, or of the free list; -1 ends.
    var next: Int32 = -1
    /// The run (inet_frag "run" of adjacent tail appends) it belongs to.
    var run: UInt32 = 0
    var truesize: Int32 = 0
}

@usableFromInline
struct FragmentQueueRecord<Key: Hashable> {
    var key: Key
    var head: Int32 = -1
    var tail: Int32 = -1
    /// q->len: the datagram's known length (of the fragmentable part).
    var len: Int32 = 0
    /// q->meat: bytes received.
    var meat: Int32 = 0
    var firstIn = false
    var lastIn = false
    var deadline: Instant
    var timerPrev: Int32 = -1
    var timerNext: Int32 = -1
    /// Bytes accounted to this queue (queue overhead + fragments).
    var memory: Int = 0
    var ecn: UInt8 = 0
    /// Largest fragment, and largest with DF set (IPv4), header included.
    var maxSize: Int32 = 0
    var maxDFSize: Int32 = 0
    var runCounter: UInt32 = 0
    /// qp->rid: the source's fragment counter at this queue's last fragment.
    var rid: UInt32 = 0
    /// Every fragment arrived with CHECKSUM_UNNECESSARY.
    var allUnnecessary = true
    /// IPv6: the offset of the next-header field naming the fragment header
    /// in the offset-0 fragment (fq->nhoffset).
    var nextHeaderOffset: Int32 = 0
    /// The queue holds a reference on its source's peer record (IPv4).
    var hasPeer = false
    var live = false
    /// The next free record when not live.
    var nextFree: Int32 = -1

    init(key: Key, deadline: Instant) {
        self.key = key
        self.deadline = deadline
    }
}

/// The result of placing a fragment in a queue (inet_frag_queue_insert):
/// IPFRAG_OK, IPFRAG_DUP, IPFRAG_OVERLAP. A refused buffer comes back.
enum FragmentPlacement: ~Copyable {
    case queued(node: Int32)
    case duplicate(PacketBuffer)
    case overlap(PacketBuffer)
}

/// Queues of one protocol in one namespace: an fqdir.
struct FragmentQueueTable<Key: Hashable>: ~Copyable {
    /// Bytes charged per queue (sizeof(struct ipq) is 200 on x86-64).
    static var queueOverhead: Int { 200 }
    /// Bytes charged per fragment on top of its slot (the sk_buff and
    /// skb_shared_info a kernel buffer carries).
    static var bufferOverhead: Int { 576 }

    var limits: FragmentLimits
    /// frag_mem_limit(): bytes held.
    private(set) var memory = 0
    private(set) var queueCount = 0

    var queues: [FragmentQueueRecord<Key>] = []
    var queueFree: Int32 = -1
    var index: [Key: Int32] = [:]
    var nodes: [FragmentNode] = []
    var nodeFree: Int32 = -1
    /// One optional buffer per node (nil when the node is free).
    var buffers: UnsafeMutablePointer<PacketBuffer?>
    var bufferCapacity: Int
    /// Deadline-ordered list of live queues.
    var timerHead: Int32 = -1
    var timerTail: Int32 = -1

    init(limits: FragmentLimits, reservingFragments: Int = 64) {
        self.limits = limits
        bufferCapacity = max(1, reservingFragments)
        buffers = .allocate(capacity: bufferCapacity)
        for i in 0..<bufferCapacity { (buffers + i).initialize(to: nil) }
        nodes.reserveCapacity(bufferCapacity)
    }

    deinit {
        buffers.deinitialize(count: bufferCapacity)
        buffers.deallocate()
    }

    var nextDeadline: Instant { timerHead < 0 ? .distantFuture : queues[Int(timerHead)].deadline }

    // MARK: find / create (inet_frag_find)

    /// The queue for `key` (and whether it was just created); nil while
    /// memory is above the high threshold (then nothing is looked up, as in
    /// Linux).
    mutating func find(_ key: Key, now: Instant) -> (queue: Int32, created: Bool)? {
        guard limits.highThresh > 0, memory <= limits.highThresh else { return nil }
        if let q = index[key] { return (q, false) }
        let q: Int32
        let record = FragmentQueueRecord(key: key, deadline: now + limits.timeout)
        if queueFree >= 0 {
            q = queueFree
            queueFree = queues[Int(q)].nextFree
            queues[Int(q)] = record
        } else {
            q = Int32(queues.count)
            queues.append(record)
        }
        queues[Int(q)].live = true
        queues[Int(q)].memory = Self.queueOverhead
        memory &+= Self.queueOverhead
        queueCount &+= 1
        index[key] = q
        timerInsert(q)
        return (q, true)
    }

    // MARK: timers

    private mutating func timerInsert(_ q: Int32) {
        let d = queues[Int(q)].deadline
        var after = timerTail
        while after >= 0 && queues[Int(after)].deadline > d { after = queues[Int(after)].timerPrev }
        let before = after >= 0 ? queues[Int(after)].timerNext : timerHead
        queues[Int(q)].timerPrev = after
        queues[Int(q)].timerNext = before
        if after >= 0 { queues[Int(after)].timerNext = q } else { timerHead = q }
        if before >= 0 { queues[Int(before)].timerPrev = q } else { timerTail = q }
    }

    private mutating func timerRemove(_ q: Int32) {
        let p = queues[Int(q)].timerPrev, n = queues[Int(q)].timerNext
        if p >= 0 { queues[Int(p)].timerNext = n } else { timerHead = n }
        if n >= 0 { queues[Int(n)].timerPrev = p } else { timerTail = p }
        queues[Int(q)].timerPrev = -1
        queues[Int(q)].timerNext = -1
    }

    /// mod_timer: re-arm a queue's deadline.
    mutating func rearm(_ q: Int32, deadline: Instant) {
        timerRemove(q)
        queues[Int(q)].deadline = deadline
        timerInsert(q)
    }

    /// The oldest queue whose deadline has come, if any.
    func firstExpired(now: Instant) -> Int32? {
        guard timerHead >= 0, queues[Int(timerHead)].deadline <= now else { return nil }
        return timerHead
    }

    // MARK: nodes

    private mutating func allocateNode() -> Int32 {
        if nodeFree >= 0 {
            let i = nodeFree
            nodeFree = nodes[Int(i)].next
            return i
        }
        let i = nodes.count
        if i == bufferCapacity {
            let capacity = bufferCapacity * 2
            let grown = UnsafeMutablePointer<PacketBuffer?>.allocate(capacity: capacity)
            grown.moveInitialize(from: buffers, count: bufferCapacity)
            for i in bufferCapacity..<capacity { (grown + i).initialize(to: nil) }
            buffers.deallocate()
            buffers = grown
            bufferCapacity = capacity
        }
        nodes.append(FragmentNode())
        return Int32(i)
    }

    /// Moves a node's buffer out and frees the node (not unlinking it).
    mutating func takeBuffer(_ i: Int32) -> PacketBuffer? {
        let b = (buffers + Int(i)).move()
        (buffers + Int(i)).initialize(to: nil)
        nodes[Int(i)].next = nodeFree
        nodeFree = i
        return b
    }

    // MARK: insertion (inet_frag_queue_insert)

    /// Places [offset, end) in queue `q`. On `.ok` the buffer is held;
    /// otherwise it is handed back untouched.
    mutating func insert(_ q: Int32, _ packet: consuming PacketBuffer, offset: Int32, end: Int32,
                         dataStart: Int32) -> FragmentPlacement {
        let tail = queues[Int(q)].tail
        var prev: Int32 = -1
        var run: UInt32
        if tail < 0 {
            run = newRun(q)
        } else if nodes[Int(tail)].end < end {
            // The common case: the fragment goes at the end.
            let tailEnd = nodes[Int(tail)].end
            if offset < tailEnd { return .overlap(packet) }
            prev = tail
            run = offset == tailEnd ? nodes[Int(tail)].run : newRun(q)
        } else {
            // Somewhere before the tail: compare with each run's extent.
            var i = queues[Int(q)].head
            while i >= 0 {
                let runID = nodes[Int(i)].run
                let runStart = nodes[Int(i)].offset
                var last = i
                while nodes[Int(last)].next >= 0 && nodes[Int(nodes[Int(last)].next)].run == runID {
                    last = nodes[Int(last)].next
                }
                let runEnd = nodes[Int(last)].end
                if end <= runStart { break }
                if offset < runEnd {
                    if offset >= runStart && end <= runEnd { return .duplicate(packet) }
                    return .overlap(packet)
                }
                prev = last
                i = nodes[Int(last)].next
            }
            run = newRun(q)
        }
        let truesize = Int32(truncatingIfNeeded: packet.slotCapacity &+ Self.bufferOverhead)
        let n = allocateNode()
        (buffers + Int(n)).pointee = consume packet
        let next = prev >= 0 ? nodes[Int(prev)].next : queues[Int(q)].head
        nodes[Int(n)] = FragmentNode(offset: offset, end: end, dataStart: dataStart, next: next,
                                     run: run, truesize: truesize)
        if prev >= 0 { nodes[Int(prev)].next = n } else { queues[Int(q)].head = n }
        if next < 0 { queues[Int(q)].tail = n }
        queues[Int(q)].memory &+= Int(truesize)
        memory &+= Int(truesize)
        return .queued(node: n)
    }

    /// Takes the buffer out of a node that stays linked (its queue is about
    /// to be killed): the caller drops it with its own reason.
    mutating func extractBuffer(_ i: Int32) -> PacketBuffer {
        let b = (buffers + Int(i)).move()
        (buffers + Int(i)).initialize(to: nil)
        switch consume b {
        case .some(let p): return p
        case .none: preconditionFailure("FragmentQueueTable.extractBuffer(\(i)) of an empty node")
        }
    }

    private mutating func newRun(_ q: Int32) -> UInt32 {
        queues[Int(q)].runCounter &+= 1
        return queues[Int(q)].runCounter
    }

    // MARK: release

    /// Releases every fragment of `q` (keeping the queue): dropped through
    /// `shard` with `reason`, or consumed when `reason` is nil.
    mutating func purge(_ q: Int32, reason: DropReason?, shard: Shard, now: Instant) {
        var i = queues[Int(q)].head
        while i >= 0 {
            let next = nodes[Int(i)].next
            let ts = Int(nodes[Int(i)].truesize)
            if let b = takeBuffer(i) {
                if let reason { shard.drop(b, reason: reason, now: now) } else { _ = consume b }
            }
            memory &-= ts
            queues[Int(q)].memory &-= ts
            i = next
        }
        queues[Int(q)].head = -1
        queues[Int(q)].tail = -1
    }

    /// inet_frag_kill + inet_frag_destroy: unhash, stop the timer, release
    /// the fragments that are still held, free the record.
    mutating func kill(_ q: Int32, reason: DropReason?, shard: Shard, now: Instant) {
        precondition(queues[Int(q)].live, "FragmentQueueTable.kill(\(q)) of a dead queue")
        purge(q, reason: reason, shard: shard, now: now)
        timerRemove(q)
        index.removeValue(forKey: queues[Int(q)].key)
        memory &-= queues[Int(q)].memory
        queues[Int(q)].memory = 0
        queues[Int(q)].live = false
        queues[Int(q)].nextFree = queueFree
        queueFree = q
        queueCount &-= 1
    }

    /// Unlinks the first node (offset 0) and returns its buffer, adjusting
    /// the memory accounting (inet_frag_pull_head).
    mutating func pullHead(_ q: Int32) -> PacketBuffer? {
        let h = queues[Int(q)].head
        guard h >= 0 else { return nil }
        let ts = Int(nodes[Int(h)].truesize)
        let next = nodes[Int(h)].next
        queues[Int(q)].head = next
        if next < 0 { queues[Int(q)].tail = -1 }
        memory &-= ts
        queues[Int(q)].memory &-= ts
        return takeBuffer(h)
    }

    /// Resets a queue to empty (ip_frag_reinit), keeping its key and timer.
    mutating func reset(_ q: Int32) {
        queues[Int(q)].len = 0
        queues[Int(q)].meat = 0
        queues[Int(q)].firstIn = false
        queues[Int(q)].lastIn = false
        queues[Int(q)].ecn = 0
        queues[Int(q)].maxSize = 0
        queues[Int(q)].maxDFSize = 0
        queues[Int(q)].allUnnecessary = true
    }

    /// Lends a held fragment's bytes (from the buffer's front).
    func withFragment<R>(_ i: Int32, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        switch buffers[Int(i)] {
        case .some(let p): return p.withUnsafeReadableBytes { body($0) }
        case .none: preconditionFailure("FragmentQueueTable.withFragment(\(i)) of a free node")
        }
    }

    func fragmentMetadata(_ i: Int32) -> PacketMetadata {
        switch buffers[Int(i)] {
        case .some(let p): return p.metadata
        case .none: preconditionFailure("FragmentQueueTable.fragmentMetadata(\(i)) of a free node")
        }
    }

    /// Copies the data of every fragment of `q`, in order, to `out` at
    /// `start` (the datagram's offset 0 lands at `start`).
    func copyData(_ q: Int32, into out: UnsafeMutableRawBufferPointer, at start: Int) {
        var i = queues[Int(q)].head
        while i >= 0 {
            let n = nodes[Int(i)]
            withFragment(i) { bytes in
                let data = UnsafeRawBufferPointer(rebasing: bytes[Int(n.dataStart)..<(Int(n.dataStart) &+ Int(n.end &- n.offset))])
                UnsafeMutableRawBufferPointer(rebasing: out[(start &+ Int(n.offset))...]).copyMemory(from: data)
            }
            i = n.next
        }
    }
}

// MARK: - byte helpers (NetWire's are internal to it)

enum FragmentBytes {
    @inline(__always)
    static func be16(_ b: UnsafeRawBufferPointer, _ o: Int) -> UInt16 {
        UInt16(bigEndian: b.loadUnaligned(fromByteOffset: o, as: UInt16.self))
    }
    @inline(__always)
    static func be32(_ b: UnsafeRawBufferPointer, _ o: Int) -> UInt32 {
        UInt32(bigEndian: b.loadUnaligned(fromByteOffset: o, as: UInt32.self))
    }
    @inline(__always)
    static func setBE16(_ b: UnsafeMutableRawBufferPointer, _ o: Int, _ v: UInt16) {
        b.storeBytes(of: v.bigEndian, toByteOffset: o, as: UInt16.self)
    }
    @inline(__always)
    static func setBE32(_ b: UnsafeMutableRawBufferPointer, _ o: Int, _ v: UInt32) {
        b.storeBytes(of: v.bigEndian, toByteOffset: o, as: UInt32.self)
    }
}

// MARK: - fragmentation results

/// Why a packet was not fragmented; the packet comes back with it.
public enum FragmentationError: Error, Equatable, Sendable {
    /// IPv4 DF set (and not `ignoreDF`): the caller sends ICMP
    /// "fragmentation needed" with this MTU (ip_fragment → icmp_send).
    case dontFragment(mtu: Int)
    /// The MTU leaves fewer than 8 bytes of data per fragment after the
    /// headers (IPv6: the caller sends Packet Too Big to the local sender).
    case mtuTooSmall(mtu: Int)
    /// The header (chain) could not be parsed.
    case malformed
    /// The batch has room for fewer fragments than needed.
    case batchTooSmall(needed: Int)
    /// The pool has too few buffers, or its slots are smaller than a
    /// fragment plus the headroom (ENOMEM).
    case noBuffers
}

/// The outcome of fragmenting one packet.
public enum FragmentationResult: ~Copyable {
    /// The packet was consumed; this many packets were appended to the
    /// batch (1 when it already fit the MTU and was appended unchanged).
    case sent(fragments: Int)
    /// Nothing was appended; the packet comes back.
    case refused(PacketBuffer, FragmentationError)
}

/// Fills in a CHECKSUM_PARTIAL checksum before the packet is cut
/// (skb_checksum_help). The caller has unshared the bytes.
func completePartialChecksum(_ packet: inout PacketBuffer) {
    packet.completePartialChecksum()
}
