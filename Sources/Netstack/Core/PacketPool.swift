// PacketPool: per-shard slab of packet slots (the role of the kernel's
// skbuff_head_cache + page_pool). One allocation when the pool is built;
// `allocate` and the return on PacketBuffer's deinit are a pop and a push on
// an unsafe free stack — no malloc, no atomics, no ARC per packet.
//
// A pool belongs to one shard and is used from that shard's thread only.
// When it runs dry, `allocate` returns nil and the caller drops the packet
// with `.nomem` — the kernel's answer to a failed alloc_skb.

/// The pool's state, addressed by raw pointer from every buffer it lends.
public struct PacketPoolState {
    @usableFromInline let memory: UnsafeMutableRawPointer
    @usableFromInline let slotSize: Int
    @usableFromInline let slotCount: Int32
    @usableFromInline let freeStack: UnsafeMutablePointer<Int32>
    @usableFromInline var freeCount: Int32
    /// Buffers (shared ones included) referring to each slot.
    @usableFromInline let references: UnsafeMutablePointer<UInt32>
    /// Allocation attempts that found the pool empty.
    @usableFromInline var failures: UInt64 = 0

    @inlinable
    mutating func release(slot: Int32) {
        let r = references[Int(slot)] &- 1
        references[Int(slot)] = r
        if r == 0 {
            freeStack[Int(freeCount)] = slot
            freeCount &+= 1
        }
    }

    @inlinable
    func retain(slot: Int32) { references[Int(slot)] &+= 1 }

    @inlinable
    func referenceCount(slot: Int32) -> UInt32 { references[Int(slot)] }
}

public final class PacketPool {
    @usableFromInline let state: UnsafeMutablePointer<PacketPoolState>
    /// Headroom `allocate()` reserves by default: room for Ethernet + VLAN +
    /// IPv6 + TCP with options and a tunnel header in front (NET_SKB_PAD-like).
    public let defaultHeadroom: Int

    /// - Parameters:
    ///   - slotSize: bytes per buffer (headroom + largest frame + tailroom).
    ///   - count: number of buffers.
    public init(slotSize: Int = 2048, count: Int = 4096, defaultHeadroom: Int = 128) {
        precondition(slotSize > 0 && slotSize <= Int(Int32.max) && count > 0 && count <= Int(Int32.max),
                     "PacketPool(slotSize: \(slotSize), count: \(count)): out of range")
        precondition(defaultHeadroom >= 0 && defaultHeadroom <= slotSize,
                     "PacketPool default headroom \(defaultHeadroom) larger than the slot \(slotSize)")
        let memory = UnsafeMutableRawPointer.allocate(byteCount: slotSize * count, alignment: 64)
        let free = UnsafeMutablePointer<Int32>.allocate(capacity: count)
        let refs = UnsafeMutablePointer<UInt32>.allocate(capacity: count)
        refs.initialize(repeating: 0, count: count)
        // Lowest slot on top of the stack: first allocations walk memory in order.
        for i in 0..<count { free[i] = Int32(count - 1 - i) }
        state = .allocate(capacity: 1)
        state.initialize(to: PacketPoolState(memory: memory, slotSize: slotSize, slotCount: Int32(count),
                                             freeStack: free, freeCount: Int32(count), references: refs))
        self.defaultHeadroom = defaultHeadroom
    }

    deinit {
        // Buffers still out point into this memory: leak it rather than let
        // them write into freed memory. A correct stack returns everything.
        guard state.pointee.freeCount == state.pointee.slotCount else { return }
        state.pointee.memory.deallocate()
        state.pointee.freeStack.deallocate()
        state.pointee.references.deallocate()
        state.deinitialize(count: 1)
        state.deallocate()
    }

    public var slotSize: Int { state.pointee.slotSize }
    public var capacity: Int { Int(state.pointee.slotCount) }
    /// Buffers ready to lend.
    public var available: Int { Int(state.pointee.freeCount) }
    /// Buffers lent and not yet returned.
    public var outstanding: Int { capacity - available }
    /// Times `allocate` found the pool empty.
    public var failures: UInt64 { state.pointee.failures }

    /// An empty buffer with `defaultHeadroom` reserved, or nil when empty.
    @inlinable
    public func allocate() -> PacketBuffer? { allocate(headroom: defaultHeadroom) }

    /// An empty buffer with `headroom` reserved, or nil when the pool is empty.
    @inlinable
    public func allocate(headroom: Int) -> PacketBuffer? {
        let s = state
        guard s.pointee.freeCount > 0 else {
            s.pointee.failures &+= 1
            return nil
        }
        precondition(headroom >= 0 && headroom <= s.pointee.slotSize,
                     "PacketPool.allocate(headroom: \(headroom)) larger than the slot \(s.pointee.slotSize)")
        s.pointee.freeCount &-= 1
        let slot = s.pointee.freeStack[Int(s.pointee.freeCount)]
        s.pointee.references[Int(slot)] = 1
        let base = s.pointee.memory + Int(slot) &* s.pointee.slotSize
        let h = Int32(truncatingIfNeeded: headroom)
        return PacketBuffer(pool: s, slot: slot, base: base, capacity: Int32(truncatingIfNeeded: s.pointee.slotSize),
                            head: h, tail: h, metadata: PacketMetadata())
    }

    /// A buffer holding a copy of `bytes` after `headroom`, or nil when the
    /// pool is empty or the bytes do not fit.
    public func allocate(copying bytes: UnsafeRawBufferPointer, headroom: Int? = nil) -> PacketBuffer? {
        let h = headroom ?? defaultHeadroom
        guard h + bytes.count <= slotSize, var buffer = allocate(headroom: h) else { return nil }
        buffer.append(bytes)
        return buffer
    }

    public func allocate(copying bytes: [UInt8], headroom: Int? = nil) -> PacketBuffer? {
        let h = headroom ?? defaultHeadroom
        guard h + bytes.count <= slotSize, var buffer = allocate(headroom: h) else { return nil }
        bytes.withUnsafeBytes { buffer.append($0) }
        return buffer
    }
}
