// DeadlineHeap: a binary min-heap of (deadline, key) with lazy removal —
// the per-namespace queue of TCP connection timers (the job the kernel's
// per-socket timer_list entries do on its timer wheel).
//
// Entries are never updated in place: when a deadline moves earlier a new
// entry is pushed, and the owner tells stale entries apart when they pop
// (it remembers the deadline of each key's live entry). Deadlines that move
// later leave the old entry, which pops early and is re-queued. A heap
// that fills with stale entries is rebuilt from the owner's live set.
//
// O(log n) push and pop; exact deadlines (no tick rounding), so virtual
// time stays exact.

public struct DeadlineHeap<Key> {
    @usableFromInline var entries: [(deadline: Instant, key: Key)] = []

    public init() {}

    public var count: Int { entries.count }
    public var isEmpty: Bool { entries.isEmpty }
    /// The earliest deadline queued (possibly a stale entry's).
    public var earliest: Instant? { entries.first?.deadline }

    public mutating func push(_ deadline: Instant, _ key: Key) {
        entries.append((deadline, key))
        var i = entries.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            if entries[parent].deadline <= entries[i].deadline { break }
            entries.swapAt(parent, i)
            i = parent
        }
    }

    /// Removes and returns the earliest entry if it is due at `now`.
    public mutating func popDue(_ now: Instant) -> (deadline: Instant, key: Key)? {
        guard let first = entries.first, first.deadline <= now else { return nil }
        let last = entries.removeLast()
        if !entries.isEmpty {
            entries[0] = last
            var i = 0
            let n = entries.count
            while true {
                let l = 2 * i + 1, r = l + 1
                var m = i
                if l < n && entries[l].deadline < entries[m].deadline { m = l }
                if r < n && entries[r].deadline < entries[m].deadline { m = r }
                if m == i { break }
                entries.swapAt(i, m)
                i = m
            }
        }
        return first
    }

    public mutating func removeAll() { entries.removeAll() }
}
