// TimerWheel: a hierarchical timing wheel (Varghese & Lauck), the shape of
// Linux's timer wheel (kernel/time/timer.c): levels of 64 slots, each level
// 64 times coarser than the one below. Timers far away sit in coarse slots
// and cascade down as their time approaches.
//
// - O(1) schedule, cancel and reschedule (mod_timer); nodes live in one array
//   reused through a free list, so steady-state timer churn allocates nothing.
// - Never early: a deadline is rounded *up* to the tick; a timer fires at the
//   first `popExpired(now:)` whose `now` has reached its tick.
// - Idle time is skipped, not stepped: a 64-bit occupancy bitmap per level
//   finds the next slot to visit, so a virtual clock can jump hours at once.
// - `nextDeadline` is the next tick the wheel must look at — a timer's tick or
//   a cascade point — which may be earlier than the next timer (never later):
//   waking then is cheap and safe. `Shard.run` returns it to the host.
//
// Time is a parameter: the wheel never reads a clock.

/// Names one scheduled timer. Stale handles (fired or cancelled) are
/// recognised by their generation and ignored.
public struct TimerHandle: Hashable, Sendable {
    @usableFromInline let index: Int32
    @usableFromInline let generation: UInt32
}

public struct TimerWheel<Payload> {
    public static var levels: Int { 6 }           // 64^6 ticks: > 2 years at 1 ms
    @usableFromInline static var slotsPerLevel: Int { 64 }
    @usableFromInline static var expiredList: Int { levels * slotsPerLevel }
    @usableFromInline static var freeLocation: Int32 { -1 }

    @usableFromInline struct Node {
        var payload: Payload?
        var expiry: Int64
        var next: Int32
        var prev: Int32
        var generation: UInt32
        /// The list holding the node (slot or expired list), or -1 when free.
        var location: Int32
    }

    /// The tick length: deadlines are rounded up to a multiple of it.
    public let tick: TimeDelta
    @usableFromInline var nodes: [Node] = []
    @usableFromInline var freeHead: Int32 = -1
    @usableFromInline var heads: [Int32]
    @usableFromInline var expiredTail: Int32 = -1
    @usableFromInline var occupancy: [UInt64]
    /// The next tick not yet processed: every timer due before it has expired.
    @usableFromInline var currentTick: Int64
    /// Timers scheduled and not yet fired or cancelled.
    public private(set) var count = 0

    public init(tick: TimeDelta = .milliseconds(1), now: Instant = .zero, reservingCapacity: Int = 0) {
        precondition(tick.nanoseconds > 0, "TimerWheel tick must be positive")
        self.tick = tick
        heads = Array(repeating: -1, count: Self.levels * Self.slotsPerLevel + 1)
        occupancy = Array(repeating: 0, count: Self.levels)
        currentTick = max(0, now.nanoseconds / tick.nanoseconds)
        nodes.reserveCapacity(reservingCapacity)
    }

    public var isEmpty: Bool { count == 0 }

    // MARK: scheduling

    /// Schedules `payload` to fire at `deadline` (rounded up to the tick).
    /// A deadline already past fires at the next `popExpired`.
    @discardableResult
    public mutating func schedule(_ payload: Payload, at deadline: Instant) -> TimerHandle {
        let i: Int32
        if freeHead >= 0 {
            i = freeHead
            freeHead = nodes[Int(i)].next
            nodes[Int(i)].payload = payload
            nodes[Int(i)].expiry = expiryTick(deadline)
        } else {
            i = Int32(nodes.count)
            nodes.append(Node(payload: payload, expiry: expiryTick(deadline), next: -1, prev: -1,
                              generation: 0, location: Self.freeLocation))
        }
        count += 1
        place(i)
        return TimerHandle(index: i, generation: nodes[Int(i)].generation)
    }

    /// Cancels a timer; returns its payload, or nil if it already fired or
    /// was cancelled (del_timer's return value, with the payload).
    @discardableResult
    public mutating func cancel(_ handle: TimerHandle) -> Payload? {
        guard isLive(handle) else { return nil }
        let i = handle.index
        unlink(i)
        let payload = nodes[Int(i)].payload
        free(i)
        return payload
    }

    /// mod_timer: moves a pending timer to a new deadline, keeping its
    /// handle. Returns false if the handle is stale.
    @discardableResult
    public mutating func reschedule(_ handle: TimerHandle, to deadline: Instant) -> Bool {
        guard isLive(handle) else { return false }
        unlink(handle.index)
        nodes[Int(handle.index)].expiry = expiryTick(deadline)
        place(handle.index)
        return true
    }

    /// True while the timer is pending (not fired, not cancelled).
    public func isPending(_ handle: TimerHandle) -> Bool { isLive(handle) }

    /// The deadline a pending timer will fire at (its rounded-up tick).
    public func deadline(of handle: TimerHandle) -> Instant? {
        guard isLive(handle) else { return nil }
        return instant(ofTick: nodes[Int(handle.index)].expiry)
    }

    // MARK: firing

    /// Returns the next timer due at `now`, in deadline order, or nil. Call
    /// until nil; new timers scheduled in between (even already due) are seen.
    public mutating func popExpired(now: Instant) -> (handle: TimerHandle, payload: Payload)? {
        if heads[Self.expiredList] < 0 { advance(to: now) }
        let i = heads[Self.expiredList]
        guard i >= 0 else { return nil }
        unlink(i)
        let handle = TimerHandle(index: i, generation: nodes[Int(i)].generation)
        let payload = nodes[Int(i)].payload!
        free(i)
        return (handle, payload)
    }

    /// When the wheel next needs `popExpired`: nil if no timers are pending.
    public var nextDeadline: Instant? {
        if heads[Self.expiredList] >= 0 { return instant(ofTick: currentTick - 1) }
        guard let t = nextEventTick() else { return nil }
        return instant(ofTick: t)
    }

    // MARK: internals

    @usableFromInline
    func isLive(_ h: TimerHandle) -> Bool {
        h.index >= 0 && Int(h.index) < nodes.count && nodes[Int(h.index)].generation == h.generation
            && nodes[Int(h.index)].location != Self.freeLocation
    }

    func expiryTick(_ deadline: Instant) -> Int64 {
        let ns = max(0, deadline.nanoseconds)
        let t = tick.nanoseconds
        let q = ns / t
        return ns % t == 0 ? q : q + 1
    }

    func instant(ofTick t: Int64) -> Instant {
        let (ns, overflow) = t.multipliedReportingOverflow(by: tick.nanoseconds)
        return overflow ? .distantFuture : Instant(nanoseconds: ns)
    }

    /// Puts node `i` in the list its expiry calls for, relative to currentTick.
    mutating func place(_ i: Int32) {
        let e = nodes[Int(i)].expiry
        if e < currentTick {
            append(i, toList: Self.expiredList)
            return
        }
        for level in 0..<Self.levels {
            let shift = Int64(6 * level)
            if (e >> shift) - (currentTick >> shift) < 64 {
                let slot = Int((e >> shift) & 63)
                push(i, toList: level * Self.slotsPerLevel + slot, level: level, slot: slot)
                return
            }
        }
        // Further than the top level reaches: park in the top level's last
        // slot; it cascades there and is placed again, closer.
        let top = Self.levels - 1
        let slot = Int(((currentTick >> Int64(6 * top)) + 63) & 63)
        push(i, toList: top * Self.slotsPerLevel + slot, level: top, slot: slot)
    }

    mutating func push(_ i: Int32, toList list: Int, level: Int, slot: Int) {
        let head = heads[list]
        nodes[Int(i)].next = head
        nodes[Int(i)].prev = -1
        nodes[Int(i)].location = Int32(list)
        if head >= 0 { nodes[Int(head)].prev = i }
        heads[list] = i
        occupancy[level] |= 1 << UInt64(slot)
    }

    mutating func append(_ i: Int32, toList list: Int) {
        precondition(list == Self.expiredList, "TimerWheel: only the expired list is FIFO")
        nodes[Int(i)].next = -1
        nodes[Int(i)].prev = expiredTail
        nodes[Int(i)].location = Int32(list)
        if expiredTail >= 0 { nodes[Int(expiredTail)].next = i } else { heads[list] = i }
        expiredTail = i
    }

    mutating func unlink(_ i: Int32) {
        let list = Int(nodes[Int(i)].location)
        let next = nodes[Int(i)].next, prev = nodes[Int(i)].prev
        if prev >= 0 { nodes[Int(prev)].next = next } else { heads[list] = next }
        if next >= 0 { nodes[Int(next)].prev = prev }
        if list == Self.expiredList {
            if expiredTail == i { expiredTail = prev }
        } else if heads[list] < 0 {
            occupancy[list / Self.slotsPerLevel] &= ~(1 << UInt64(list % Self.slotsPerLevel))
        }
        nodes[Int(i)].location = Self.freeLocation
    }

    mutating func free(_ i: Int32) {
        nodes[Int(i)].payload = nil
        nodes[Int(i)].generation &+= 1
        nodes[Int(i)].location = Self.freeLocation
        nodes[Int(i)].next = freeHead
        freeHead = i
        count -= 1
    }

    /// The next tick at which a slot must be visited (a level-0 slot to fire
    /// or a higher-level slot to cascade), at or after currentTick.
    func nextEventTick() -> Int64? {
        var best: Int64?
        for level in 0..<Self.levels where occupancy[level] != 0 {
            let shift = Int64(6 * level)
            // First tick ≥ currentTick aligned to this level's granularity.
            let start = (currentTick + (Int64(1) << shift) - 1) >> shift
            let r = UInt64(start & 63)
            let bits = occupancy[level]
            let rotated = (bits >> r) | (bits << (64 - r))
            let candidate = (start + Int64(rotated.trailingZeroBitCount)) << shift
            if best == nil || candidate < best! { best = candidate }
        }
        return best
    }

    /// Processes every tick up to `now`'s: cascades coarse slots and moves
    /// due timers to the expired list, in order.
    mutating func advance(to now: Instant) {
        let nowTick = now.nanoseconds < 0 ? -1 : now.nanoseconds / tick.nanoseconds
        while currentTick <= nowTick {
            guard let t = nextEventTick(), t <= nowTick else {
                currentTick = nowTick + 1
                return
            }
            currentTick = t
            // Cascade from the top down: a level-L slot is due when t is
            // aligned to 64^L and the slot index matches.
            for level in stride(from: Self.levels - 1, through: 1, by: -1) {
                let shift = Int64(6 * level)
                guard t & ((Int64(1) << shift) - 1) == 0 else { continue }
                let slot = Int((t >> shift) & 63)
                let list = level * Self.slotsPerLevel + slot
                var i = heads[list]
                while i >= 0 {
                    let next = nodes[Int(i)].next
                    unlink(i)
                    place(i)
                    i = next
                }
            }
            // Fire level 0's slot for t.
            let list = Int(t & 63)
            var i = heads[list]
            while i >= 0 {
                let next = nodes[Int(i)].next
                unlink(i)
                append(i, toList: Self.expiredList)
                i = next
            }
            currentTick = t + 1
        }
    }
}
