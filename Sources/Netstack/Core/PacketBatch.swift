// PacketBatch: a bounded FIFO of packets moved between layers as a unit
// (NAPI's budget, a qdisc's dequeue burst, a TAP read of many frames).
// Storage is allocated once when the batch is made and reused; pushing and
// popping packets allocates nothing.

public struct PacketBatch: ~Copyable {
    /// NAPI_POLL_WEIGHT, the kernel's default budget.
    public static let defaultCapacity = 64

    @usableFromInline let storage: UnsafeMutablePointer<PacketBuffer>
    public let capacity: Int
    @usableFromInline var start = 0
    @usableFromInline var storedCount = 0
    /// Packets held.
    @inlinable public var count: Int { storedCount }

    public init(capacity: Int = PacketBatch.defaultCapacity) {
        precondition(capacity > 0, "PacketBatch(capacity: \(capacity)) must hold at least one packet")
        storage = .allocate(capacity: capacity)
        self.capacity = capacity
    }

    deinit {
        for i in 0..<storedCount {
            (storage + (start + i) % capacity).deinitialize(count: 1)
        }
        storage.deallocate()
    }

    @inlinable public var isEmpty: Bool { count == 0 }
    @inlinable public var isFull: Bool { count == capacity }

    /// Appends a packet; when full, hands it back so the caller can drop it
    /// with a reason (the batch never drops silently).
    @inlinable
    public mutating func append(_ packet: consuming PacketBuffer) -> PacketBuffer? {
        guard count < capacity else { return packet }
        var i = start &+ count
        if i >= capacity { i &-= capacity }
        (storage + i).initialize(to: packet)
        storedCount &+= 1
        return nil
    }

    /// Removes and returns the oldest packet.
    @inlinable
    public mutating func popFirst() -> PacketBuffer? {
        guard count > 0 else { return nil }
        let packet = (storage + start).move()
        start &+= 1
        if start == capacity { start = 0 }
        storedCount &-= 1
        return packet
    }

    /// Returns every packet to its pool.
    public mutating func removeAll() {
        while let packet = popFirst() { _ = consume packet }
    }

    /// Calls `body` with each packet in order, emptying the batch.
    @inlinable
    public mutating func drain(_ body: (consuming PacketBuffer) -> Void) {
        while let packet = popFirst() { body(packet) }
    }
}
