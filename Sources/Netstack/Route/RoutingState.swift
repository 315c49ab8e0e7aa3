// A namespace's routing state: its tables and its policy rules, the value
// `ip route` and `ip rule` act on. A value type: the control plane edits a
// copy and publishes it (DESIGN §4, RCU-like snapshots).

public struct RoutingState: Sendable {
    public var tables: RouteTables
    public var policy: RoutingPolicy

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

    /// ip_route_input_noref / ip6_route_input (`key.iif` set).
    public func lookupInput(_ key: FlowKey, context: some RouteContext) -> Result<RouteDecision, RouteError> {
        policy.lookupInput(key, tables: tables, context: context)
    }
}

extension RoutingState {
    /// The input route of a packet to forward, answered from the FIB leaves
    /// when the general lookup (`lookupInput`) is known to give the same
    /// answer: the default rules only (local → main), no custom local
    /// routes (so source validation needs no reverse lookup), nothing in
    /// `local` covering the destination, and a `simple` unicast leaf in
    /// `main` (one route, tos 0, one live next hop). nil: ask `lookupInput`.
    ///
    /// The caller still checks what needs the namespace: forwarding on the
    /// input device, a next hop not back out of it (redirects), a source
    /// that is not one of our addresses. No ARC traffic, no `Route` copy.
    @inlinable
    public func forwardLeaf4(destination raw: UInt32) -> FIBLeaf? {
        guard !policy.customRules4 else { return nil }
        // A local/broadcast/custom prefix covering it: the general path.
        if tables.local?.v4LeafIfCovered(raw) != nil { return nil }
        guard let leaf = tables.main?.lookupV4Leaf(raw), leaf.simple, leaf.type == .unicast else { return nil }
        return leaf
    }
}
