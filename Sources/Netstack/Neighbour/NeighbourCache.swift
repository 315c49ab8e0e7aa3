// The neighbour output cache: the kernel's hh_cache (struct hh_cache in
// struct neighbour, filled by neigh_hh_init, used by neigh_hh_output) for
// this stack. A device remembers, for the last few next hops it sent to,
// which table slot holds the entry and the Ethernet header built for it,
// so a packet to a connected neighbour (NUD_CONNECTED: REACHABLE,
// PERMANENT, NOARP) leaves without hashing a `NeighbourKey` or copying the
// entry out of the table.
//
// Validity: a cached line names a slot; the slot's entry is checked on every
// use (same key, a connected state, the same link-layer address). Any state
// change, address change, removal or slot reuse in the table therefore
// makes the line miss and the packet take `NeighbourTable.output`, which is
// what the kernel's seqlock around hh_data achieves. (The table has no
// single place where states change, so the check reads the slot instead of
// comparing a generation counter.)
//
// Kernel counterpart: include/net/neighbour.h (neigh_output, neigh_hh_output),
// net/core/neighbour.c (neigh_hh_init, neigh_update_hhs).
import NetWire

/// One cached next hop of a device: the slot of its entry and the
/// destination MAC its header gets (the source is the device's own).
struct NeighbourHeaderLine: Sendable {
    var nextHop: IPAddress = .v4(.any)
    /// Slot in the family's `NeighbourTable.slots`; -1: empty line.
    var slot: Int = -1
    var destination: MACAddress = .zero
}

/// A device's hh_cache: a few lines, direct-mapped by the next hop.
struct NeighbourHeaderCache: Sendable {
    static let lines = 4
    var storage: [4 of NeighbourHeaderLine] = .init(repeating: NeighbourHeaderLine())

    @inline(__always)
    static func line(_ nextHop: IPAddress) -> Int {
        switch nextHop {
        case .v4(let a): Int(truncatingIfNeeded: (a.rawValue ^ a.rawValue >> 8) & 3)
        case .v6(let a): Int(truncatingIfNeeded: (a.low ^ a.low >> 8) & 3)
        }
    }
}

extension NeighbourTable {
    /// neigh_output's first branch: the link-layer destination for a packet
    /// to `nextHop` on `device` when its entry is connected, through the
    /// device's header cache; nil when the packet must take `output`
    /// (no entry yet, or one that is resolving, stale, probing or failed).
    @inline(__always)
    func connectedDestination(_ cache: inout NeighbourHeaderCache, device: Int32, nextHop: IPAddress,
                              now: Instant) -> MACAddress? {
        let l = NeighbourHeaderCache.line(nextHop)
        var line = cache.storage[l]
        if line.slot < 0 || line.nextHop != nextHop {
            // Fill the line from the index (neigh_hh_init); the entry is
            // checked below like a cached one.
            guard let s = index[NeighbourKey(device: device, address: nextHop)] else { return nil }
            line = NeighbourHeaderLine(nextHop: nextHop, slot: s, destination: .zero)
        }
        // One access to the table's slots: each access to a class's stored
        // array costs a dynamic exclusivity check. A connected entry's
        // output leaves `used` alone (neigh_hh_output), as `output` does.
        let usable: Bool = slots.withUnsafeBufferPointer { b in
            guard line.slot < b.count, let e = b[line.slot], e.key.device == device, e.key.address == nextHop,
                  !e.state.isDisjoint(with: .connected), let mac = e.linkAddress else { return false }
            line.destination = mac
            return true
        }
        guard usable else {
            cache.storage[l].slot = -1
            return nil
        }
        cache.storage[l] = line
        return line.destination
    }
}
