// FIBTable: one routing table (struct fib_table for IPv4, struct fib6_table
// for IPv6 — one value holds both families, as `table N` names both).
//
// What it promises
// - Longest-prefix match. Several routes may share a prefix: Linux keys them
//   by (prefix, tos, metric); the lookup takes the first usable one in
//   (tos descending, metric ascending, insertion) order and backtracks to a
//   shorter prefix when none is usable (fib_table_lookup's backtrace).
// - rtnetlink write semantics: add (CREATE|EXCL), replace, change, append,
//   prepend, delete, flush, with the kernel's errno.
// - Dump order as `ip route show`: IPv4 in trie order (network address
//   ascending, longer prefix first for equal addresses); IPv6 in fib6 walk
//   order (post-order: more specifics before the prefix that covers them).
//
// Layout
// - `entries` holds one `PrefixEntry` (the route list) per prefix; `index`
//   maps a prefix key to its entry. That is the authority and serves IPv6
//   (one hash probe per distinct prefix length present, longest first).
// - IPv4 gets an accelerator once it holds more than `acceleratorThreshold`
//   prefixes: a 16-8-8 multibit trie with leaf pushing. Every slot is a
//   UInt32: 0 = no prefix, high bit set = child chunk of 256 slots, else
//   `(summary + 1) << 6 | length` of the longest prefix covering the slot.
//   A lookup is at most three array loads. Updates write the prefix's slot
//   range, recursing into child chunks whose pushed prefix is shorter.
// - `leaves[i]` summarises entry i without references (`FIBLeaf`: prefix
//   length, and for the common one-route-one-next-hop prefix its type,
//   device and gateway). Equal summaries (length aside) are stored once in
//   `summaries`, the way fib_info is shared by the prefixes that use the
//   same next hop: a BGP table of a million prefixes has a handful, so the
//   IPv4 fast path (`lookupV4Leaf`) reads a trie slot and a summary that
//   stays in cache — one dependent memory miss per lookup instead of two,
//   no ARC traffic. A slot's (summary, length) names its prefix uniquely
//   (two prefixes of one length never overlap); the general lookup finds
//   the entry with one hash probe for that prefix.
//
// Kernel counterpart: net/ipv4/fib_trie.c (fib_table_insert/delete/lookup,
// fib_find_alias), net/ipv6/ip6_fib.c (fib6_add_rt2node, fib6_walk).
import NetWire

/// The key of a prefix: masked address bits and length (IPv4 in `low`).
public struct PrefixKey: Hashable, Sendable {
    public var high: UInt64
    public var low: UInt64
    public var length: UInt8
    public var isIPv6: Bool

    @inline(__always)
    public init(v4 raw: UInt32, length: Int) {
        high = 0
        low = UInt64(raw & IPv4Address.mask(prefixLength: length))
        self.length = UInt8(length)
        isIPv6 = false
    }
    @inline(__always)
    public init(v6 a: IPv6Address, length: Int) {
        let m = a.masked(prefixLength: length)
        high = m.high
        low = m.low
        self.length = UInt8(length)
        isIPv6 = true
    }
    public init(_ p: IPPrefix) {
        switch p.address {
        case .v4(let a): self.init(v4: a.rawValue, length: p.length)
        case .v6(let a): self.init(v6: a, length: p.length)
        }
    }
}

/// How an RTM_NEWROUTE treats an existing route with the same key
/// (the NLM_F_* combinations `ip route` sends).
public enum RouteWriteMode: Sendable {
    /// `add`: CREATE|EXCL.
    case add
    /// `replace`: CREATE|REPLACE.
    case replace
    /// `change`: REPLACE.
    case change
    /// `append`: CREATE|APPEND.
    case append
    /// `prepend`: CREATE.
    case prepend
}

/// rtnetlink errors of table writes, with iproute2's wording.
public enum RouteWriteError: Error, Hashable, Sendable {
    /// EEXIST.
    case exists
    /// ESRCH (delete of a missing route).
    case noSuchRoute
    /// ENOENT (`change` of a missing route).
    case noSuchEntry
    /// An extack message, printed as `Error: MESSAGE.`
    case message(String)
    /// Another errno, with its strerror text.
    case errno(String)

    /// The line iproute2 prints on stderr.
    public var text: String {
        switch self {
        case .exists: "RTNETLINK answers: File exists"
        case .noSuchRoute: "RTNETLINK answers: No such process"
        case .noSuchEntry: "RTNETLINK answers: No such file or directory"
        case .message(let m): "Error: \(m)"
        case .errno(let e): "RTNETLINK answers: \(e)"
        }
    }
}

/// The routes of one prefix, in lookup order.
public struct PrefixEntry: Sendable {
    public var prefix: IPPrefix
    public var routes: [Route]
}

/// A route selected by a table lookup.
public struct FIBMatch: Sendable {
    public var route: Route
    /// The first usable next hop (multipath selection happens later).
    public var nextHopIndex: Int
}

/// What a table lookup filters on (the parts of struct flowi a table sees).
public struct FIBLookupKey: Sendable {
    public var destination: IPAddress
    public var tos: UInt8
    /// Only next hops through this device (0: any).
    public var oif: Int32
    /// Routes with a scope below this are skipped (flowi4_scope).
    public var minimumScope: RouteScope

    public init(destination: IPAddress, tos: UInt8 = 0, oif: Int32 = 0, minimumScope: RouteScope = .universe) {
        self.destination = destination
        self.tos = tos
        self.oif = oif
        self.minimumScope = minimumScope
    }
}

/// The outcome of a table lookup, as fib_table_lookup returns it.
public enum FIBLookupResult: Sendable {
    case found(FIBMatch)
    /// A `throw` route or no match at all (-EAGAIN: the rules go on).
    case noMatch
    /// An `unreachable`/`prohibit`/`blackhole` route.
    case failed(RouteError, Route)
}

/// A prefix's routes as the IPv4 fast path sees them: a plain value beside
/// the trie leaf (the entry id indexes both), kept in step by every write.
public struct FIBLeaf: Sendable, Hashable {
    /// The gateway of the single next hop (0: none, the destination is on link).
    public var gateway: UInt32 = 0
    /// The output device of the single next hop.
    public var device: Int32 = 0
    /// The route's `mtu` metric (0: unset).
    public var mtu: UInt32 = 0
    /// Prefix length (IPv4 and IPv6).
    public var length: UInt8 = 0
    public var type: RouteType = .unspec
    public var scope: RouteScope = .universe
    /// One IPv4 route with tos 0 and one next hop that is not dead, whose
    /// gateway is IPv4 or absent: the fast path may answer from this leaf.
    /// Anything else (several routes, multipath, tos keys, dead next hops,
    /// no next hop) takes the general lookup.
    public var simple = false
    /// Routes of the prefix not installed by the kernel (proto != kernel).
    var customRoutes: UInt16 = 0
    public init() {}
}

/// One IPv4 prefix of a small table (`FIBTable.smallV4`).
@usableFromInline struct SmallV4Prefix: Sendable {
    @usableFromInline var network: UInt32
    @usableFromInline var mask: UInt32
    @usableFromInline var entry: Int
    @usableFromInline var length: UInt8
}

public struct FIBTable: Sendable {
    public let id: UInt32
    @usableFromInline var entries: [PrefixEntry?] = []
    @usableFromInline var freeEntries: [Int] = []
    @usableFromInline var index: [PrefixKey: Int] = [:]
    /// IPv4 prefixes while the table has no trie, longest first: a linear
    /// scan of a few words beats hash probes per length for the handful of
    /// routes a `local` table or a small lab table holds.
    @usableFromInline var smallV4: [SmallV4Prefix] = []
    /// One summary per entry slot (same index as `entries`).
    @usableFromInline var leaves: [FIBLeaf] = []
    /// The shared summary of each IPv4 entry (`FIBTable.noSummary` for a
    /// free slot or an IPv6 entry); same index as `entries`.
    @usableFromInline var leafSummary: [UInt32] = []
    /// Distinct IPv4 leaves with `length` and `customRoutes` zeroed, what
    /// the trie's slots point at; reference-counted by entries.
    @usableFromInline var summaries: [FIBLeaf] = []
    @usableFromInline var summaryRefs: [UInt32] = []
    @usableFromInline var summaryIDs: [FIBLeaf: UInt32] = [:]
    @usableFromInline var freeSummaries: [UInt32] = []
    /// While the table has no trie: a 64-bit filter of its IPv4 host (/32)
    /// prefixes and the shorter prefixes outside 127/8, so that "does any
    /// prefix cover this non-loopback address" (the local table's part in
    /// the forwarding fast path) checks one bit, and scans the /32s only
    /// when the bit is set and the few shorter prefixes (usually none:
    /// a local table's only short prefix is 127.0.0.0/8) always.
    @usableFromInline var smallV4HostFilter: UInt64 = 0
    @usableFromInline var smallV4ShortPrefixes: [SmallV4Prefix] = []
    /// IPv4 routes whose protocol is not `kernel` (fib_has_custom_local_routes).
    public private(set) var customRoutes4 = 0
    /// Number of prefixes per length, IPv4 (0…32) and IPv6 (0…128).
    @usableFromInline var v4Lengths = [Int](repeating: 0, count: 33)
    @usableFromInline var v6Lengths = [Int](repeating: 0, count: 129)
    @usableFromInline var v4Count = 0
    @usableFromInline var v6Count = 0
    /// The IPv4 16-8-8 trie (empty until the table is large enough).
    @usableFromInline var trie: [UInt32] = []
    @usableFromInline var trieFree: [UInt32] = []
    /// Insertion counter, kept so equal keys dump in insertion order.
    var sequence: UInt64 = 0

    /// Below this many IPv4 prefixes hash probes are as fast as the trie and
    /// a small table does not pay for 256 KiB of slots.
    public static let acceleratorThreshold = 64
    @usableFromInline static let noSummary = UInt32.max
    /// Summaries the trie's slot encoding can name.
    static let maximumSummaries = (1 << 25) - 2

    public init(id: UInt32) { self.id = id }

    public var isEmpty: Bool { v4Count == 0 && v6Count == 0 }
    public var prefixCount: Int { v4Count + v6Count }
    public func prefixCount(ipv4: Bool) -> Int { ipv4 ? v4Count : v6Count }

    /// Every route, in `ip route show` order, for one family.
    public func routes(ipv4: Bool) -> [Route] {
        var list: [PrefixEntry] = entries.compactMap { $0 }.filter { $0.prefix.isIPv4 == ipv4 }
        list.sort { FIBTable.dumpOrder($0.prefix, $1.prefix) }
        return list.flatMap { $0.routes }
    }

    /// The routes of exactly this prefix (any host bits are masked).
    public func routes(for prefix: IPPrefix) -> [Route] {
        guard let i = index[PrefixKey(prefix)] else { return [] }
        return entries[i]!.routes
    }

    static func dumpOrder(_ a: IPPrefix, _ b: IPPrefix) -> Bool {
        let x = a.network.address, y = b.network.address
        if a.isIPv4 {
            if x != y { return x < y }
            return a.length > b.length
        }
        // fib6 walk: post-order over the radix tree.
        let common = min(a.length, b.length)
        if x.masked(prefixLength: common) == y.masked(prefixLength: common) {
            return a.length > b.length
        }
        return x < y
    }

    // MARK: Writes

    /// Inserts `route` (its destination is masked by the caller's validation)
    /// as rtnetlink's RTM_NEWROUTE with `mode`'s flags.
    public mutating func insert(_ route: Route, mode: RouteWriteMode) throws(RouteWriteError) {
        var route = route
        route.table = id
        let key = PrefixKey(route.destination)
        route.destination = route.destination.network
        if let i = index[key] {
            var routes = entries[i]!.routes
            let same = routes.firstIndex { $0.tos == route.tos && $0.metric == route.metric }
            switch mode {
            case .add:
                if same != nil { throw .exists }
            case .replace, .change:
                if let s = same {
                    routes[s] = route
                    entries[i]!.routes = routes
                    refreshLeaf(i)
                    return
                }
                if mode == .change { throw .noSuchEntry }
            case .append, .prepend:
                if routes.contains(where: { FIBTable.sameInfo($0, route) }) { throw .exists }
            }
            routes.insert(route, at: FIBTable.position(of: route, in: routes, append: mode == .append || route.destination.isIPv4 == false))
            entries[i]!.routes = routes
            refreshLeaf(i)
            return
        }
        if mode == .change { throw .noSuchEntry }
        addEntry(PrefixEntry(prefix: route.destination, routes: [route]), key: key)
    }

    /// Where a new route goes among the routes of its prefix: after those
    /// with a higher tos or a lower metric; among equals first (prepend) or
    /// last (append).
    static func position(of r: Route, in routes: [Route], append: Bool) -> Int {
        for (i, x) in routes.enumerated() {
            if x.tos > r.tos { continue }
            if x.tos < r.tos { return i }
            if x.metric < r.metric { continue }
            if x.metric > r.metric { return i }
            if !append { return i }
        }
        return routes.count
    }

    /// fib_info equality for the duplicate check of append/prepend.
    static func sameInfo(_ a: Route, _ b: Route) -> Bool {
        a.type == b.type && a.tos == b.tos && a.metric == b.metric && a.nextHops == b.nextHops
            && a.preferredSource == b.preferredSource && a.scope == b.scope && a.proto == b.proto
    }

    /// What `ip route del` matches on: fields left nil match anything.
    public struct DeleteFilter: Sendable {
        public var destination: IPPrefix
        public var tos: UInt8 = 0
        public var metric: UInt32?
        public var type: RouteType?
        public var scope: RouteScope?
        public var proto: RouteProtocol?
        public var preferredSource: IPAddress?
        public var gateway: IPAddress?
        public var device: Int32?
        public init(destination: IPPrefix) { self.destination = destination }

        func matches(_ r: Route) -> Bool {
            if r.tos != tos && destination.isIPv4 { return false }
            if let m = metric, r.metric != m { return false }
            if let t = type, t != .unspec, r.type != t { return false }
            if let s = scope, s != .nowhere, r.scope != s { return false }
            if let p = proto, p != .unspec, r.proto != p { return false }
            if let s = preferredSource, r.preferredSource != s { return false }
            if gateway != nil || device != nil {
                guard r.nextHops.contains(where: { nh in
                    (gateway == nil || nh.gateway == gateway) && (device == nil || nh.device == device)
                }) else { return false }
            }
            return true
        }
    }

    /// Deletes the first route matching `filter` (fib_table_delete).
    @discardableResult
    public mutating func delete(_ filter: DeleteFilter) throws(RouteWriteError) -> Route {
        let key = PrefixKey(filter.destination)
        guard let i = index[key], let r = entries[i]!.routes.firstIndex(where: filter.matches) else {
            throw .noSuchRoute
        }
        let removed = entries[i]!.routes.remove(at: r)
        if entries[i]!.routes.isEmpty { removeEntry(i, key: key) } else { refreshLeaf(i) }
        return removed
    }

    /// Removes every route for which `predicate` holds; returns them.
    @discardableResult
    public mutating func removeAll(where predicate: (Route) -> Bool) -> [Route] {
        var removed: [Route] = []
        for i in entries.indices {
            guard var e = entries[i] else { continue }
            let before = e.routes.count
            e.routes.removeAll { r in
                if predicate(r) { removed.append(r); return true }
                return false
            }
            if e.routes.count == before { continue }
            if e.routes.isEmpty {
                removeEntry(i, key: PrefixKey(e.prefix))
            } else {
                entries[i] = e
                refreshLeaf(i)
            }
        }
        return removed
    }

    /// Rewrites routes in place (used to mark next hops dead or alive).
    public mutating func updateAll(_ body: (inout Route) -> Void) {
        for i in entries.indices where entries[i] != nil {
            for j in entries[i]!.routes.indices { body(&entries[i]!.routes[j]) }
            refreshLeaf(i)
        }
    }

    mutating func addEntry(_ e: PrefixEntry, key: PrefixKey) {
        let i: Int
        if let f = freeEntries.popLast() {
            i = f
            entries[i] = e
        } else {
            i = entries.count
            entries.append(e)
            leaves.append(FIBLeaf())
            leafSummary.append(FIBTable.noSummary)
        }
        refreshLeaf(i)
        index[key] = i
        if key.isIPv6 {
            v6Lengths[Int(key.length)] += 1
            v6Count += 1
        } else {
            v4Lengths[Int(key.length)] += 1
            v4Count += 1
            if !trie.isEmpty {
                trieInsert(UInt32(truncatingIfNeeded: key.low), length: Int(key.length), leaf: slotValue(entry: i))
            } else if v4Count > FIBTable.acceleratorThreshold {
                buildTrie()
                smallV4 = []
                refreshSmallV4Filter()
            } else {
                let len = Int(key.length)
                let at = smallV4.firstIndex { Int($0.length) < len } ?? smallV4.count
                smallV4.insert(SmallV4Prefix(network: UInt32(truncatingIfNeeded: key.low), mask: IPv4Address.mask(prefixLength: len),
                                             entry: i, length: key.length), at: at)
                refreshSmallV4Filter()
            }
        }
    }

    mutating func removeEntry(_ i: Int, key: PrefixKey) {
        let oldSlot = key.isIPv6 ? 0 : slotValue(entry: i)
        index[key] = nil
        entries[i] = nil
        refreshLeaf(i)
        freeEntries.append(i)
        if key.isIPv6 {
            v6Lengths[Int(key.length)] -= 1
            v6Count -= 1
        } else {
            v4Lengths[Int(key.length)] -= 1
            v4Count -= 1
            if !trie.isEmpty {
                let raw = UInt32(truncatingIfNeeded: key.low)
                let replacement = longestV4Entry(raw, shorterThan: Int(key.length)).map { slotValue(entry: $0) } ?? 0
                trieReplace(raw, length: Int(key.length), old: oldSlot, new: replacement)
            } else {
                smallV4.removeAll { $0.entry == i }
                refreshSmallV4Filter()
            }
        }
    }

    /// Recomputes `leaves[i]` (and the custom-route count) after entry i changed.
    mutating func refreshLeaf(_ i: Int) {
        var leaf = FIBLeaf()
        if let e = entries[i] {
            leaf.length = UInt8(e.prefix.length)
            let v4 = e.prefix.isIPv4
            if v4 {
                var custom = 0
                for r in e.routes where r.proto != .kernel { custom += 1 }
                leaf.customRoutes = UInt16(truncatingIfNeeded: min(custom, 0xFFFF))
            }
            if let r = e.routes.first {
                leaf.type = r.type
                leaf.scope = r.scope
                leaf.mtu = r.mtu ?? 0
                if v4, e.routes.count == 1, r.tos == 0, r.nextHops.count == 1, !r.nextHops[0].flags.contains(.dead) {
                    let nh = r.nextHops[0]
                    switch nh.gateway {
                    case nil:
                        leaf.simple = true
                    case .v4(let g)?:
                        leaf.gateway = g.rawValue
                        leaf.simple = g.rawValue != 0
                    case .v6?:
                        leaf.simple = false
                    }
                    leaf.device = nh.device
                }
            }
        }
        customRoutes4 += Int(leaf.customRoutes) - Int(leaves[i].customRoutes)
        leaves[i] = leaf
        // The shared summary; slots naming the old one move to the new one.
        let old = leafSummary[i]
        var new = FIBTable.noSummary
        if let e = entries[i], e.prefix.isIPv4 {
            var key = leaf
            key.length = 0
            key.customRoutes = 0
            new = acquireSummary(key)
        }
        leafSummary[i] = new
        if old != FIBTable.noSummary {
            if new != FIBTable.noSummary && new != old && !trie.isEmpty, let e = entries[i], case .v4(let a) = e.prefix.address {
                let length = Int(leaf.length)
                trieReplace(a.rawValue, length: length,
                            old: FIBTable.slot(summary: old, length: length), new: FIBTable.slot(summary: new, length: length))
            }
            releaseSummary(old)
        }
    }

    mutating func acquireSummary(_ key: FIBLeaf) -> UInt32 {
        if let s = summaryIDs[key] {
            summaryRefs[Int(s)] += 1
            return s
        }
        let s: UInt32
        if let f = freeSummaries.popLast() {
            s = f
            summaries[Int(s)] = key
            summaryRefs[Int(s)] = 1
        } else {
            precondition(summaries.count < FIBTable.maximumSummaries, "FIBTable: more distinct IPv4 next-hop summaries than the trie can name")
            s = UInt32(summaries.count)
            summaries.append(key)
            summaryRefs.append(1)
        }
        summaryIDs[key] = s
        return s
    }

    mutating func releaseSummary(_ s: UInt32) {
        summaryRefs[Int(s)] -= 1
        if summaryRefs[Int(s)] == 0 {
            summaryIDs[summaries[Int(s)]] = nil
            freeSummaries.append(s)
        }
    }

    /// A trie slot naming a prefix: its summary and length.
    @inline(__always)
    static func slot(summary: UInt32, length: Int) -> UInt32 { (summary &+ 1) << 6 | UInt32(length) }

    /// The trie slot of IPv4 entry `i`.
    func slotValue(entry i: Int) -> UInt32 {
        FIBTable.slot(summary: leafSummary[i], length: Int(leaves[i].length))
    }

    mutating func refreshSmallV4Filter() {
        var filter: UInt64 = 0
        var short: [SmallV4Prefix] = []
        for p in smallV4 {
            if p.length == 32 {
                filter |= 1 << FIBTable.hostFilterBit(p.network)
            } else if !(p.length >= 8 && p.network >> 24 == 127) {
                short.append(p)
            }
        }
        smallV4HostFilter = filter
        smallV4ShortPrefixes = short
    }

    @inlinable @inline(__always)
    static func hostFilterBit(_ raw: UInt32) -> UInt64 { UInt64((raw &* 0x9E37_79B1) >> 26) }

    // MARK: Lookup

    /// The IPv4 fast path: the leaf of the longest prefix covering `raw`, or
    /// nil when none covers it. A leaf that is not `simple` means the
    /// general `lookup` must answer. No ARC traffic, no allocation.
    @inlinable @inline(__always)
    public func lookupV4Leaf(_ raw: UInt32) -> FIBLeaf? {
        if trie.isEmpty {
            guard let i = smallV4Entry(raw) else { return nil }
            return leaves.withUnsafeBufferPointer { $0[i] }
        }
        let s = trieSlot(raw)
        if s == 0 { return nil }
        var leaf = summaries.withUnsafeBufferPointer { $0[Int(s >> 6) &- 1] }
        leaf.length = UInt8(truncatingIfNeeded: s & 63)
        return leaf
    }

    /// The address of the trie slot `lookupV4Leaf(raw)` will read in the
    /// second level, for a prefetch (`fibPrefetch`), or nil when the first
    /// level answers. A caller with a batch of destinations prefetches a few
    /// packets ahead, so the chunk misses of several lookups overlap (the
    /// way DPDK's and VPP's FIB lookups are driven). Reads the first level
    /// (256 KiB, usually cached).
    ///
    /// The pointer outlives the buffer access on purpose: it is only ever
    /// prefetched, never dereferenced, and a prefetch of any address is
    /// harmless. Issuing the prefetch inside the access made the compiler
    /// copy the whole table around the opaque call.
    @inlinable @inline(__always)
    public func prefetchAddressV4(_ raw: UInt32) -> UnsafeRawPointer? {
        if trie.isEmpty { return nil }
        return trie.withUnsafeBufferPointer { t -> UnsafeRawPointer? in
            let s = t[Int(raw >> 16)]
            guard s & 0x8000_0000 != 0 else { return nil }
            return UnsafeRawPointer(t.baseAddress! + (Int(s & 0x7FFF_FFFF) &* 256 &+ Int((raw >> 8) & 0xFF)))
        }
    }

    /// For the local table's part in the forwarding fast path: whether a
    /// prefix covers `raw` or the table holds custom routes — either means
    /// "take the general lookup". `raw` must not be in 127/8 (the caller
    /// sends loopback destinations to the general path first): prefixes
    /// inside 127/8 are not looked at.
    @inlinable @inline(__always)
    public func coversV4ForFastPath(_ raw: UInt32) -> Bool {
        if customRoutes4 != 0 { return true }
        if !trie.isEmpty { return trieSlot(raw) != 0 }
        if smallV4HostFilter & (1 << FIBTable.hostFilterBit(raw)) != 0 && smallV4Entry(raw) != nil { return true }
        return smallV4ShortPrefixes.withUnsafeBufferPointer { list -> Bool in
            for p in list where raw & p.mask == p.network { return true }
            return false
        }
    }

    /// The length of the longest IPv4 prefix covering `raw` (the trie walk
    /// alone).
    @inlinable
    public func longestV4Length(_ raw: UInt32) -> Int? {
        if trie.isEmpty {
            guard let i = smallV4Entry(raw) else { return nil }
            return Int(leaves[i].length)
        }
        let s = trieSlot(raw)
        return s == 0 ? nil : Int(s & 63)
    }

    /// The entry index of the longest IPv4 prefix covering `raw` whose length
    /// is below `limit` (hash probes).
    @usableFromInline
    func longestV4Entry(_ raw: UInt32, shorterThan limit: Int) -> Int? {
        var len = limit - 1
        while len >= 0 {
            if v4Lengths[len] != 0, let i = index[PrefixKey(v4: raw, length: len)] { return i }
            len -= 1
        }
        return nil
    }

    @usableFromInline
    func longestV6Entry(_ a: IPv6Address, shorterThan limit: Int) -> Int? {
        var len = limit - 1
        while len >= 0 {
            if v6Lengths[len] != 0, let i = index[PrefixKey(v6: a, length: len)] { return i }
            len -= 1
        }
        return nil
    }

    /// The entry of the longest prefix covering `destination` (no usability
    /// checks): the fast path the benchmark measures.
    @inlinable
    public func longestMatch(_ destination: IPAddress) -> PrefixEntry? {
        switch destination {
        case .v4(let a):
            guard let i = longestV4(a.rawValue) else { return nil }
            return entries[i]
        case .v6(let a):
            guard let i = longestV6Entry(a, shorterThan: 129) else { return nil }
            return entries[i]
        }
    }

    /// Entry index of the longest IPv4 match: three loads with the trie,
    /// then one hash probe for the prefix the slot names.
    @inlinable
    public func longestV4(_ raw: UInt32) -> Int? {
        if trie.isEmpty { return smallV4Entry(raw) }
        let s = trieSlot(raw)
        if s == 0 { return nil }
        return index[PrefixKey(v4: raw, length: Int(s & 63))]
    }

    @inlinable @inline(__always)
    func smallV4Entry(_ raw: UInt32) -> Int? {
        smallV4.withUnsafeBufferPointer { list -> Int? in
            for p in list where raw & p.mask == p.network { return p.entry }
            return nil
        }
    }

    /// The trie slot for `raw` (0: no prefix): at most three loads.
    @inlinable @inline(__always)
    func trieSlot(_ raw: UInt32) -> UInt32 {
        trie.withUnsafeBufferPointer { t -> UInt32 in
            var s = t[Int(raw >> 16)]
            if s & 0x8000_0000 != 0 {
                s = t[Int(s & 0x7FFF_FFFF) &* 256 &+ Int((raw >> 8) & 0xFF)]
                if s & 0x8000_0000 != 0 {
                    s = t[Int(s & 0x7FFF_FFFF) &* 256 &+ Int(raw & 0xFF)]
                }
            }
            return s
        }
    }

    /// fib_table_lookup: the first usable route of the longest matching
    /// prefix, backtracking to shorter prefixes.
    public func lookup(_ key: FIBLookupKey) -> FIBLookupResult {
        var limit = key.destination.bitWidth + 1
        var candidate: Int?
        switch key.destination {
        case .v4(let a): candidate = limit == 33 ? longestV4(a.rawValue) : nil
        case .v6(let a): candidate = longestV6Entry(a, shorterThan: limit)
        }
        var guardCount = 0
        while let i = candidate, guardCount < 130 {
            guardCount += 1
            if key.destination.isIPv4 && key.oif == 0 {
                // The common case answered from the leaf: the one route's
                // scope and type checks below, without walking the routes.
                let leaf = leaves[i]
                if leaf.simple && leaf.scope >= key.minimumScope {
                    switch leaf.type {
                    case .unreachable, .prohibit, .blackhole, .throw: break
                    default: return .found(FIBMatch(route: entries[i]!.routes[0], nextHopIndex: 0))
                    }
                }
            }
            let entry = entries[i]!
            for route in entry.routes {
                if key.destination.isIPv4 && route.tos != 0 && route.tos != key.tos { continue }
                if route.scope < key.minimumScope { continue }
                switch route.type {
                case .unreachable:
                    return .failed(key.destination.isIPv4 ? .hostUnreachable : .hostUnreachable, route)
                case .prohibit: return .failed(.prohibited, route)
                case .blackhole: return .failed(.blackhole, route)
                case .throw: return .noMatch
                default: break
                }
                if route.nextHops.isEmpty {
                    if key.oif != 0 { continue }
                    return .found(FIBMatch(route: route, nextHopIndex: 0))
                }
                for (n, nh) in route.nextHops.enumerated() {
                    if nh.flags.contains(.dead) { continue }
                    if key.oif != 0 && nh.device != key.oif { continue }
                    return .found(FIBMatch(route: route, nextHopIndex: n))
                }
            }
            limit = entry.prefix.length
            switch key.destination {
            case .v4(let a): candidate = longestV4Entry(a.rawValue, shorterThan: limit)
            case .v6(let a): candidate = longestV6Entry(a, shorterThan: limit)
            }
        }
        return .noMatch
    }

    // MARK: IPv4 trie maintenance

    mutating func buildTrie() {
        trie = [UInt32](repeating: 0, count: 65536)
        trieFree = []
        // Shorter prefixes first, so longer ones overwrite them.
        var order: [(Int, UInt32, Int)] = []
        for (k, i) in index where !k.isIPv6 { order.append((Int(k.length), UInt32(truncatingIfNeeded: k.low), i)) }
        order.sort { $0.0 < $1.0 }
        for (len, raw, i) in order { trieInsert(raw, length: len, leaf: slotValue(entry: i)) }
    }

    /// Length of the prefix whose leaf is in a slot (0 for none, -1 so that
    /// any prefix beats an empty slot).
    func leafLength(_ leaf: UInt32) -> Int {
        leaf == 0 ? -1 : Int(leaf & 63)
    }

    mutating func newChunk(filledWith leaf: UInt32) -> UInt32 {
        if let c = trieFree.popLast() {
            for j in 0..<256 { trie[Int(c) * 256 + j] = leaf }
            return c
        }
        let c = UInt32(trie.count / 256)
        trie.append(contentsOf: repeatElement(leaf, count: 256))
        return c
    }

    /// Slot range of a prefix at a level: level 0 covers bits 0–15 (slots of
    /// chunk 0), level 1 bits 16–23, level 2 bits 24–31.
    mutating func trieInsert(_ raw: UInt32, length: Int, leaf: UInt32) {
        var chunk: UInt32 = 0
        var shift = 16  // bits below this level's index
        var width = 16
        var base = 0
        while true {
            let levelEnd = 32 - shift
            let idx = Int((raw >> UInt32(shift)) & ((1 << UInt32(width)) - 1))
            if length <= levelEnd {
                let span = 1 << (levelEnd - length)
                let first = idx & ~(span - 1)
                for s in first..<(first + span) { pushDown(slot: base + s, leaf: leaf, length: length) }
                return
            }
            // Descend, creating a child chunk that inherits the slot's leaf.
            let slot = base + idx
            let v = trie[slot]
            if v & 0x8000_0000 != 0 {
                chunk = v & 0x7FFF_FFFF
            } else {
                chunk = newChunk(filledWith: v)
                trie[slot] = chunk | 0x8000_0000
            }
            base = Int(chunk) * 256
            shift -= 8
            width = 8
        }
    }

    mutating func pushDown(slot: Int, leaf: UInt32, length: Int) {
        let v = trie[slot]
        if v & 0x8000_0000 != 0 {
            let b = Int(v & 0x7FFF_FFFF) * 256
            for j in 0..<256 { pushDown(slot: b + j, leaf: leaf, length: length) }
        } else if leafLength(v) <= length {
            trie[slot] = leaf
        }
    }

    mutating func trieReplace(_ raw: UInt32, length: Int, old: UInt32, new: UInt32) {
        var shift = 16
        var width = 16
        var base = 0
        while true {
            let levelEnd = 32 - shift
            let idx = Int((raw >> UInt32(shift)) & ((1 << UInt32(width)) - 1))
            if length <= levelEnd {
                let span = 1 << (levelEnd - length)
                let first = idx & ~(span - 1)
                for s in first..<(first + span) { replaceDown(slot: base + s, old: old, new: new) }
                return
            }
            let v = trie[base + idx]
            guard v & 0x8000_0000 != 0 else { return }
            base = Int(v & 0x7FFF_FFFF) * 256
            shift -= 8
            width = 8
        }
    }

    mutating func replaceDown(slot: Int, old: UInt32, new: UInt32) {
        let v = trie[slot]
        if v & 0x8000_0000 != 0 {
            let b = Int(v & 0x7FFF_FFFF) * 256
            for j in 0..<256 { replaceDown(slot: b + j, old: old, new: new) }
        } else if v == old {
            trie[slot] = new
        }
    }

    /// Approximate heap bytes: entries, index, trie, leaves.
    public var approximateBytes: Int {
        let routeBytes = entries.reduce(0) { acc, e in
            acc + MemoryLayout<PrefixEntry?>.stride + (e.map { $0.routes.count * MemoryLayout<Route>.stride + 32 } ?? 0)
        }
        let nhBytes = entries.reduce(0) { acc, e in
            acc + (e?.routes.reduce(0) { $0 + $1.nextHops.count * MemoryLayout<NextHop>.stride + 32 } ?? 0)
        }
        // Dictionary: key + value per bucket at ~75% load.
        let indexBytes = index.capacity * (MemoryLayout<PrefixKey>.stride + MemoryLayout<Int>.stride) * 4 / 3
        return routeBytes + nhBytes + indexBytes + trie.capacity * 4 + leaves.capacity * MemoryLayout<FIBLeaf>.stride
            + leafSummary.capacity * 4 + summaries.capacity * (MemoryLayout<FIBLeaf>.stride + 4)
    }
}

/// LLVM's prefetch (read, keep in all cache levels, data): `prefetcht0` on
/// x86-64, a hint with no architectural effect. The standard library has no
/// prefetch; the intrinsic is reached by name.
@_silgen_name("llvm.prefetch.p0")
func fibPrefetch(_ address: UnsafeRawPointer, _ rw: Int32, _ locality: Int32, _ cache: Int32)
