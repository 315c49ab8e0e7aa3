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
