// A namespace's routing state: its tables and its policy rules, the value
// `ip route` and `ip rule` act on. A value type: the control plane edits a
// copy and publishes it (DESIGN §4, RCU-like snapshots).

import NetWire

public struct RoutingState: Sendable {
    public var tables: RouteTables
    public var policy: RoutingPolicy

    /// Grows with every edit of a table or a rule (both counters only grow).
    public var generation: UInt64 { tables.generation &+ policy.generation }

    public init() {
        tables = RouteTables()
        policy = RoutingPolicy()
    }

    /// Output (iif 0) or input lookup through rules and tables.
    public func lookup(_ key: FlowKey, context: some RouteContext) -> Result<RouteDecision, RouteError> {
        policy.lookup(key, tables: tables, context: context)
    }

    /// ip_route_output_key / ip6_route_output. The tables are borrowed,
    /// not copied (call it on the stored state).
    public func lookupOutput(_ key: FlowKey, context: some RouteContext) -> Result<RouteDecision, RouteError> {
        policy.lookupOutput(key, tables: tables, context: context)
    }

    /// The IPv4 `local` table as inet_addr_type / __ip_dev_find read it:
    /// while `local` and `main` are merged, the one trie of both.
    public func lookupLocalTable4(_ address: IPAddress) -> FIBLookupResult {
        policy.localTableLookup4(FIBLookupKey(destination: address), tables: tables)
    }

    /// ip_route_input_noref / ip6_route_input (`key.iif` set).
    public func lookupInput(_ key: FlowKey, context: some RouteContext) -> Result<RouteDecision, RouteError> {
        policy.lookupInput(key, tables: tables, context: context)
    }
}

/// What the IPv4 forwarding fast path found (`RoutingState.forwardLeaf4`).
public enum FastInputRoute4: Sendable, Equatable {
    /// A simple unicast route: its leaf.
    case leaf(FIBLeaf)
    /// No route at all: nothing in `local` or `main` covers the
    /// destination and no other table exists (ENETUNREACH).
    case noRoute
    /// Anything else: ask the general lookup.
    case general
}

extension RoutingState {
    /// The input route of a packet to forward, answered from the FIB leaves
    /// when the general lookup (`lookupInput`) is known to give the same
    /// answer: the default rules only (local → main → default), no custom
    /// local routes (so source validation needs no reverse lookup), nothing
    /// in `local` covering the destination, and a `simple` unicast leaf in
    /// `main` (one route, tos 0, one live next hop) — or no covering prefix
    /// anywhere and no table but `local` and `main`.
    ///
    /// The caller still checks what needs the namespace: forwarding on the
    /// input device, a next hop not back out of it (redirects), a source
    /// that is not one of our addresses. No ARC traffic, no `Route` copy.
    ///
    /// `mutating`, and the table queries it calls inlined, so that the
    /// tables' fields it needs are read in place: a call on a borrowed
    /// optional table copied the whole `FIBTable` to the stack (a memcpy
    /// per table per packet).
    ///
    /// Loopback destinations (127/8) take the general path, so the local
    /// table's check skips its prefixes inside 127/8.
    @inlinable @inline(__always)
    public mutating func forwardLeaf4(destination raw: UInt32) -> FastInputRoute4 {
        guard !policy.customRules4, tables.hasLocalAndMain, raw >> 24 != 127 else { return .general }
        // A local/broadcast/custom prefix covering it: the general path.
        // (`unsafelyUnwrapped`: both tables exist, checked above with one
        // flag instead of two out-of-line optional-tag checks.)
        if tables.local.unsafelyUnwrapped.coversV4ForFastPath(raw) { return .general }
        guard let leaf = tables.main.unsafelyUnwrapped.lookupV4Leaf(raw) else {
            return tables.others.isEmpty ? .noRoute : .general
        }
        guard leaf.simple, leaf.type == .unicast else { return .general }
        return .leaf(leaf)
    }
}

extension RoutingState {
    /// What `forwardLeaf4(destination:)` will read from `main` that may
    /// miss the cache (FIBTable.prefetchAddressV4), for a prefetch.
    @inlinable @inline(__always)
    public mutating func forwardPrefetchAddress4(destination raw: UInt32) -> UnsafeRawPointer? {
        tables.main?.prefetchAddressV4(raw)
    }
}
