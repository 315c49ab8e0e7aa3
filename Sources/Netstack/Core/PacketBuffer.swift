// PacketBuffer: the sk_buff. Kernel counterpart: struct sk_buff
// (include/linux/skbuff.h) with skb_push/skb_pull/skb_put/skb_trim/
// skb_reserve/skb_headroom/skb_tailroom, skb_clone (shared data) and
// skb_copy (private data).
//
//     slot start          head                      tail                 slot end
//       |<--- headroom --->|<-------- data -------->|<--- tailroom --->|
//       |                  |                        |                  |
//       |    push(n) ◀─────┤ pull(n) ─▶      trim ◀─┤ put(n) ─▶        |
//
// - `reserve(n)` moves head and tail together on an empty buffer (room for
//   headers that later layers push).
// - `push(n)` grows the data at the front into the headroom and returns the
//   new bytes to fill; `pull(n)` drops bytes from the front (a parsed header).
// - `put(n)` grows the data at the back into the tailroom; `trim(to:)` cuts
//   the data to a length (Ethernet padding, IPv4 total length).
// - Header offsets (`macHeader`, `networkHeader`, `transportHeader`) are
//   recorded as positions from the slot start, as skb->network_header is,
//   so a layer never re-parses what an earlier one found.
//
// Misuse (pushing past the headroom, pulling past the data, writing to a
// shared buffer) is a precondition failure whose message names the
// operation: it is a bug in the stack, never a property of the input —
// untrusted lengths are validated by NetWire views before anyone pulls.
//
// Ownership: a PacketBuffer is noncopyable. It moves through the stack as
// `consuming` (or `inout`), and its slot goes back to its pool when it is
// destroyed — on every path, including drops. `share()` is skb_clone: a second
// buffer over the same bytes, both read-only until `unshare` copies;
// `copy(from:)` is skb_copy. Buffers are returned on the shard that owns their
// pool (cross-shard handoff moves them back through an SPSC ring).
import NetWire

/// What the stack knows about a packet besides its bytes (skb fields).
public struct PacketMetadata: Sendable, Equatable {
    /// skb->skb_iif: the ifindex the packet arrived on (0: locally generated).
    public var ingressDevice: Int32 = 0
    /// skb->mark (fwmark), set by netfilter/tc, matched by policy rules.
    public var mark: UInt32 = 0
    /// skb->hash: the RSS/flow hash, 0 when not computed.
    public var flowHash: UInt32 = 0
    /// skb->priority (SO_PRIORITY, tc classification).
    public var priority: UInt32 = 0
    public var checksum: ChecksumState = .none
    /// skb_shinfo->gso_size: the MSS a GSO packet is cut to (0: not GSO).
    public var gsoSize: UInt16 = 0
    public var gsoType: GSOType = []
    /// The bytes this packet charges to its sending TCP socket's small
    /// queue (`tsqOwner`): its skb->truesize share of sk_wmem_alloc.
    /// Declared here to fill the 2 bytes of padding after `gsoType`.
    public var tsqCharge: UInt16 = 0
    /// A per-packet trace id; 0 when the packet is not traced.
    public var traceID: UInt32 = 0
    /// skb->pkt_type, set by eth_type_trans().
    public var packetType: PacketType = .host
    /// skb->protocol: the EtherType of the network header.
    public var networkProtocol: EtherType = EtherType(rawValue: 0)
    /// skb->sk with the tcp_wfree destructor: the TCP socket (its TSQ slot,
    /// `TCPSmallQueues`, generation in the top byte) this packet is charged
    /// to until it leaves the host's queues; 0 for none (forwarded and
    /// received packets, pure ACKs, orphaned packets). Declared here to
    /// fill the padding before `timestamp`.
    public var tsqOwner: UInt32 = 0
    /// When the packet entered the stack (SO_TIMESTAMP, captures).
    public var timestamp: Instant = .zero

    @inlinable public init() {}
}

/// skb->ip_summed.
public enum ChecksumState: Sendable, Equatable {
    /// CHECKSUM_NONE: nothing verified; software must check.
    case none
    /// CHECKSUM_UNNECESSARY: the device (or a trusted path like loopback) verified it.
    case unnecessary
    /// CHECKSUM_COMPLETE: the device summed the whole packet from the network header.
    case complete(UInt16)
    /// CHECKSUM_PARTIAL: the transport checksum is still to be filled in
    /// (TX checksum offload). `start` is the position of the first byte the
    /// checksum covers (the transport header), measured from the start of
    /// the buffer's slot as skb->csum_start is from skb->head, so pushing
    /// or pulling headers never moves it; `offset` is from `start` to the
    /// 16-bit checksum field (skb->csum_offset: 16 for TCP, 6 for UDP). The
    /// field holds the folded pseudo-header sum, not complemented, so
    /// summing from `start` to the end of the data and complementing
    /// completes it (`PacketBuffer.completePartialChecksum`).
    ///
    /// Receivers trust it (skb_csum_unnecessary): the bytes never left the
    /// host. Everything that hands the bytes to something that needs them
    /// real completes it first: a device without `.hwChecksum`, IP
    /// fragmentation, netem corruption, packet capture. A host driver of a
    /// device with `.hwChecksum` gets it as is and reads
    /// `PacketBuffer.partialChecksum` (offsets from the frame's first byte).
    case partial(start: UInt16, offset: UInt16)
}

extension ChecksumState {
    /// skb_csum_unnecessary(): the transport checksum need not be checked —
    /// a device verified it, or the packet is CHECKSUM_PARTIAL (made by
    /// this host and passed over offloading devices only).
    @inlinable public var isTrusted: Bool {
        switch self {
        case .unnecessary, .partial: true
        case .none, .complete: false
        }
    }
}

/// skb_shinfo->gso_type.
public struct GSOType: OptionSet, Sendable, Hashable {
    public var rawValue: UInt16
    @inlinable public init(rawValue: UInt16) { self.rawValue = rawValue }
    public static let tcpv4 = GSOType(rawValue: 1 << 0)
    public static let udp = GSOType(rawValue: 1 << 1)
    public static let dodgy = GSOType(rawValue: 1 << 2)
    public static let tcpECN = GSOType(rawValue: 1 << 3)
    public static let tcpv6 = GSOType(rawValue: 1 << 4)
    public static let udpL4 = GSOType(rawValue: 1 << 5)
}

/// skb->pkt_type (PACKET_HOST …, include/uapi/linux/if_packet.h).
public enum PacketType: UInt8, Sendable {
    case host = 0, broadcast = 1, multicast = 2, otherHost = 3, outgoing = 4, loopback = 5
}

public struct PacketBuffer: ~Copyable {
    @usableFromInline let pool: UnsafeMutablePointer<PacketPoolState>
    @usableFromInline let slot: Int32
    /// Start of the slot's bytes.
    @usableFromInline let base: UnsafeMutableRawPointer
    @usableFromInline let capacity: Int32
    @usableFromInline var head: Int32
    @usableFromInline var tail: Int32
    @usableFromInline var macHeaderPosition: Int32 = -1
    @usableFromInline var networkHeaderPosition: Int32 = -1
    @usableFromInline var transportHeaderPosition: Int32 = -1
    public var metadata: PacketMetadata

    @inlinable
    init(pool: UnsafeMutablePointer<PacketPoolState>, slot: Int32, base: UnsafeMutableRawPointer,
         capacity: Int32, head: Int32, tail: Int32, metadata: PacketMetadata) {
        self.pool = pool
        self.slot = slot
        self.base = base
        self.capacity = capacity
        self.head = head
        self.tail = tail
        self.metadata = metadata
    }

    @inlinable
    deinit { pool.pointee.release(slot: slot) }

    // MARK: geometry

    /// Bytes of data (skb->len).
    @inlinable public var count: Int { Int(tail &- head) }
    @inlinable public var isEmpty: Bool { tail == head }
    @inlinable public var headroom: Int { Int(head) }
    @inlinable public var tailroom: Int { Int(capacity &- tail) }
    /// Total bytes of the slot.
    @inlinable public var slotCapacity: Int { Int(capacity) }
    /// True while another buffer shares these bytes (after `share()`).
    @inlinable public var isShared: Bool { pool.pointee.referenceCount(slot: slot) > 1 }

    /// skb_reserve: move head and tail together; only on an empty buffer.
    @inlinable
    public mutating func reserve(_ n: Int) {
        precondition(head == tail, "PacketBuffer.reserve(\(n)) on a buffer holding \(count) bytes")
        precondition(n >= 0 && Int(tail) &+ n <= Int(capacity), "PacketBuffer.reserve(\(n)) past the tailroom \(tailroom)")
        head &+= Int32(truncatingIfNeeded: n)
        tail = head
    }

    /// skb_push: grow the data at the front by `n` and return those bytes.
    @inlinable
    @discardableResult
    public mutating func push(_ n: Int) -> UnsafeMutableRawBufferPointer {
        precondition(n >= 0 && n <= Int(head), "PacketBuffer.push(\(n)) past the headroom \(head)")
        precondition(!isShared, "PacketBuffer.push(\(n)) on a shared buffer: unshare first")
        head &-= Int32(truncatingIfNeeded: n)
        return UnsafeMutableRawBufferPointer(start: base + Int(head), count: n)
    }

    /// skb_pull: drop `n` bytes from the front (a header that was parsed).
    @inlinable
    public mutating func pull(_ n: Int) {
        precondition(n >= 0 && n <= count, "PacketBuffer.pull(\(n)) past the data length \(count)")
        head &+= Int32(truncatingIfNeeded: n)
    }

    /// skb_put: grow the data at the back by `n` and return those bytes.
    @inlinable
    @discardableResult
    public mutating func put(_ n: Int) -> UnsafeMutableRawBufferPointer {
        precondition(n >= 0 && n <= tailroom, "PacketBuffer.put(\(n)) past the tailroom \(tailroom)")
        precondition(!isShared, "PacketBuffer.put(\(n)) on a shared buffer: unshare first")
        let start = base + Int(tail)
        tail &+= Int32(truncatingIfNeeded: n)
        return UnsafeMutableRawBufferPointer(start: start, count: n)
    }

    /// skb_trim: cut the data to `length` bytes (no-op if already shorter).
    @inlinable
    public mutating func trim(to length: Int) {
        precondition(length >= 0, "PacketBuffer.trim(to: \(length)) with a negative length")
        if length < count { tail = head &+ Int32(truncatingIfNeeded: length) }
    }

    /// Appends a copy of `bytes` (skb_put_data).
    @inlinable
    public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        let room = put(bytes.count)
        if bytes.count > 0 { room.copyMemory(from: bytes) }
    }

    // MARK: access

    /// Lends the data bytes; views made from them must not escape `body`.
    @inlinable
    public func withUnsafeReadableBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try body(UnsafeRawBufferPointer(start: base + Int(head), count: count))
    }

    /// Lends the data bytes for writing; fails on a shared buffer.
    @inlinable
    public mutating func withUnsafeMutableReadableBytes<R, E: Error>(
        _ body: (UnsafeMutableRawBufferPointer) throws(E) -> R
    ) throws(E) -> R {
        precondition(!isShared, "PacketBuffer.withUnsafeMutableReadableBytes on a shared buffer: unshare first")
        return try body(UnsafeMutableRawBufferPointer(start: base + Int(head), count: count))
    }

    /// The data as a fresh array (tests and control paths only).
    public var bytes: [UInt8] { withUnsafeReadableBytes { Array($0) } }

    // MARK: header offsets (skb_reset_*_header / skb_*_offset)

    /// Records the current front of the data as the MAC header.
    @inlinable public mutating func resetMACHeader() { macHeaderPosition = head }
    @inlinable public mutating func resetNetworkHeader() { networkHeaderPosition = head }
    @inlinable public mutating func resetTransportHeader() { transportHeaderPosition = head }

    /// Offsets of the recorded headers from the current front of the data
    /// (negative once pulled past; nil when not recorded), like skb_network_offset.
    @inlinable public var macHeaderOffset: Int? { macHeaderPosition < 0 ? nil : Int(macHeaderPosition &- head) }
    @inlinable public var networkHeaderOffset: Int? { networkHeaderPosition < 0 ? nil : Int(networkHeaderPosition &- head) }
    @inlinable public var transportHeaderOffset: Int? { transportHeaderPosition < 0 ? nil : Int(transportHeaderPosition &- head) }

    /// Lends the bytes from a recorded header position to the end of the data.
    @inlinable
    public func withHeaderBytes<R>(at position: HeaderPosition, _ body: (UnsafeRawBufferPointer) -> R) -> R? {
        let p: Int32
        switch position {
        case .mac: p = macHeaderPosition
        case .network: p = networkHeaderPosition
        case .transport: p = transportHeaderPosition
        }
        guard p >= 0, p <= tail else { return nil }
        return body(UnsafeRawBufferPointer(start: base + Int(p), count: Int(tail &- p)))
    }

    // MARK: sharing and copying

    /// skb_clone: a second buffer over the same bytes with its own geometry
    /// and metadata. Both are read-only until one calls `unshare(from:)`.
    @inlinable
    public func share() -> PacketBuffer {
        pool.pointee.retain(slot: slot)
        var other = PacketBuffer(pool: pool, slot: slot, base: base, capacity: capacity,
                                 head: head, tail: tail, metadata: metadata)
        other.macHeaderPosition = macHeaderPosition
        other.networkHeaderPosition = networkHeaderPosition
        other.transportHeaderPosition = transportHeaderPosition
        return other
    }

    /// skb_copy: a private copy (same headroom, data, offsets, metadata) in a
    /// slot of `pool`; nil when the pool is empty or its slots are too small.
    public func copy(into pool: PacketPool) -> PacketBuffer? {
        guard Int(capacity) <= pool.slotSize, var other = pool.allocate(headroom: 0) else { return nil }
        other.head = head
        other.tail = tail
        (other.base + Int(head)).copyMemory(from: base + Int(head), byteCount: count)
        other.macHeaderPosition = macHeaderPosition
        other.networkHeaderPosition = networkHeaderPosition
        other.transportHeaderPosition = transportHeaderPosition
        other.metadata = metadata
        return other
    }

    /// skb_unshare: make this buffer's bytes private (copying if shared).
    /// Returns false, leaving the buffer shared, if `pool` has no slot.
    @inlinable
    public mutating func unshare(from pool: PacketPool) -> Bool {
        guard isShared else { return true }
        guard let private_ = copy(into: pool) else { return false }
        self = private_
        return true
    }
}

// MARK: checksum offload (CHECKSUM_PARTIAL)

extension PacketBuffer {
    /// Marks the transport checksum as left to offload (CHECKSUM_PARTIAL):
    /// the sum covers the data from `dataOffset` (from the data front, the
    /// transport header) to the end, and the field is `field` bytes past
    /// it. The field must already hold the folded pseudo-header sum. A
    /// start beyond what the state can hold is completed at once instead.
    @inlinable
    public mutating func setPartialChecksum(from dataOffset: Int, field: Int) {
        let start = Int(head) &+ dataOffset
        guard start <= Int(UInt16.max), field <= Int(UInt16.max) else {
            metadata.checksum = .none
            return
        }
        metadata.checksum = .partial(start: UInt16(truncatingIfNeeded: start), offset: UInt16(truncatingIfNeeded: field))
    }

    /// For a CHECKSUM_PARTIAL packet, where the checksum's coverage starts
    /// and where its field is, both measured from the first byte of the
    /// data (a host driver's frame: the Ethernet header for a TAP, the IP
    /// header for a TUN — virtio_net_hdr's csum_start and csum_offset);
    /// nil otherwise.
    @inlinable
    public var partialChecksum: (start: Int, offset: Int)? {
        guard case .partial(let start, let offset) = metadata.checksum else { return nil }
        return (Int(start) &- Int(head), Int(offset))
    }

    /// skb_checksum_help(): fills in a CHECKSUM_PARTIAL checksum in
    /// software (a zero result is written as 0xFFFF, CSUM_MANGLED_0, as
    /// Linux does) and leaves CHECKSUM_NONE. Returns false, changing
    /// nothing, when the bytes are shared (unshare first) or the offsets
    /// fall outside the data; a packet that is not partial returns true.
    @discardableResult
    public mutating func completePartialChecksum() -> Bool {
        guard let (start, offset) = partialChecksum else { return true }
        guard !isShared else { return false }
        let at = start &+ offset
        guard start >= 0, at &+ 2 <= count else { return false }
        withUnsafeMutableReadableBytes { b in
            var c = InternetChecksum()
            c.add(UnsafeRawBufferPointer(rebasing: b[start...]))
            var v = c.value
            if v == 0 { v = 0xFFFF }
            b.setBE16(at, v)
        }
        metadata.checksum = .none
        return true
    }
}

/// Which recorded header `withHeaderBytes(at:)` starts from.
public enum HeaderPosition: Sendable { case mac, network, transport }
