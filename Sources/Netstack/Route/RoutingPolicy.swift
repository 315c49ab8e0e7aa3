// RoutingPolicy: the policy database (struct fib_rules_ops per family) and
// the lookups that combine it with the tables: output (ip_route_output_key,
// ip6_route_output) and input (ip_route_input_slow, ip6_route_input).
//
// What it promises
// - Rules kept sorted by priority; `add` without a priority takes the
//   second rule's priority − 1 (fib_default_rule_pref); duplicates EEXIST.
// - fib_rules_lookup: match (with `not`), goto/nop/table/blackhole/
//   unreachable/prohibit, a table without a match (or a `throw` route) makes
//   the walk go on, `suppress_prefixlength` rejects short answers.
// - Output lookups match rules with iif = lo, as Linux does.
// - Source address: route `src`, else inet_select_addr (IPv4) or a reduced
//   RFC 6724 selection (IPv6).
// - Multipath: hash-threshold over the next hops' weights (fib_select_multipath),
//   hash policy 0 = L3, 1 = L4; stable per flow (not Linux's keyed hash).
//
// Kernel counterpart: net/core/fib_rules.c, net/ipv4/fib_rules.c,
// net/ipv4/route.c, net/ipv4/fib_frontend.c (fib_validate_source),
// net/ipv6/fib6_rules.c, net/ipv6/route.c.
import NetWire

/// All tables of a namespace. `local` and `main` (which every lookup with
/// the default rules reads) are stored fields, so a lookup reaches them
/// without a hash probe or a copy; other tables live in a dictionary.
public struct RouteTables: Sendable {
    // `didSet` without `oldValue` keeps in-place mutation (`local!.insert`)
    // in place; it only refreshes the flag the forwarding fast path tests
    // instead of two optional-tag checks per packet, and counts the edit.
    @usableFromInline var local: FIBTable? { didSet { hasLocalAndMain = local != nil && main != nil; generation &+= 1 } }
    @usableFromInline var main: FIBTable? { didSet { hasLocalAndMain = local != nil && main != nil; generation &+= 1 } }
    /// Both `local` and `main` exist (the fast path reads them unwrapped).
    @usableFromInline private(set) var hasLocalAndMain = true
    @usableFromInline var others: [UInt32: FIBTable] = [:] { didSet { generation &+= 1 } }
    /// Counts every edit of any table (rt_genid's route half): a cached
    /// route decision stamped with an older value is stale (RouteCache).
    public private(set) var generation: UInt64 = 0

    /// A namespace starts with `local` and `main`.
    public init() {
        local = FIBTable(id: RouteTableID.local)
        main = FIBTable(id: RouteTableID.main)
    }

    /// Every table by id (a copy; control-plane use).
    public var tables: [UInt32: FIBTable] {
        get {
            var all = others
            if let t = local { all[RouteTableID.local] = t }
            if let t = main { all[RouteTableID.main] = t }
            return all
        }
        set {
            local = newValue[RouteTableID.local]
            main = newValue[RouteTableID.main]
            others = newValue.filter { $0.key != RouteTableID.local && $0.key != RouteTableID.main }
        }
    }

    public subscript(id: UInt32) -> FIBTable? {
        get {
            switch id {
            case RouteTableID.local: local
            case RouteTableID.main: main
            default: others[id]
            }
        }
        set {
            switch id {
            case RouteTableID.local: local = newValue
            case RouteTableID.main: main = newValue
            default: others[id] = newValue
            }
        }
    }

    /// fib_table_lookup in table `id` without copying the table; nil when
    /// the table does not exist.
    @inlinable
    public func lookup(table id: UInt32, _ key: FIBLookupKey) -> FIBLookupResult? {
        switch id {
        case RouteTableID.local: local?.lookup(key)
        case RouteTableID.main: main?.lookup(key)
        default: others[id]?.lookup(key)
        }
    }

    /// Inserts into table `route.table`, creating it (fib_new_table).
    public mutating func insert(_ route: Route, mode: RouteWriteMode) throws(RouteWriteError) {
        switch route.table {
        case RouteTableID.local:
            if local == nil { local = FIBTable(id: RouteTableID.local) }
            try local!.insert(route, mode: mode)
        case RouteTableID.main:
            if main == nil { main = FIBTable(id: RouteTableID.main) }
            try main!.insert(route, mode: mode)
        default:
            var t = others.removeValue(forKey: route.table) ?? FIBTable(id: route.table)
            defer { others[route.table] = t }
            try t.insert(route, mode: mode)
        }
    }

    /// Ids of the tables that exist.
    public var ids: [UInt32] {
        var all = Array(others.keys)
        if local != nil { all.append(RouteTableID.local) }
        if main != nil { all.append(RouteTableID.main) }
        return all
    }

    /// Applies `body` to every table in place.
    public mutating func forEachTable(_ body: (inout FIBTable) -> Void) {
        if local != nil { body(&local!) }
        if main != nil { body(&main!) }
        for id in Array(others.keys) { body(&others[id]!) }
    }

    /// Table ids in the order `ip route show table all` walks them
    /// (the kernel's hash of 256 buckets on the id).
    public var dumpOrder: [UInt32] { ids.sorted { ($0 & 0xFF, $0) < ($1 & 0xFF, $1) } }

    /// Removes every route matching `predicate` in every table.
    @discardableResult
    public mutating func removeAll(where predicate: (Route) -> Bool) -> [Route] {
        var out: [Route] = []
        forEachTable { out += $0.removeAll(where: predicate) }
        return out
    }

    /// True when the local table holds routes not put there by the kernel
    /// (net->ipv4.fib_has_custom_local_routes).
    public func hasCustomLocalRoutes(ipv4: Bool) -> Bool {
        guard let t = local else { return false }
        return ipv4 ? t.customRoutes4 != 0 : t.routes(ipv4: false).contains { $0.proto != .kernel }
    }
}

/// Why a rule write failed, worded as iproute2 prints it.
public typealias RuleWriteError = RouteWriteError

public struct RoutingPolicy: Sendable {
    public var rules4: [RoutingRule] {
        didSet {
            customRules4 = rules4 != RoutingRule.defaults(ipv4: true)
            if customRules4 { unmerged4 = true }
            generation &+= 1
        }
    }
    public var rules6: [RoutingRule] { didSet { customRules6 = rules6 != RoutingRule.defaults(ipv4: false); generation &+= 1 } }
    /// Counts every edit of the rules (see `RouteTables.generation`).
    public private(set) var generation: UInt64 = 0
    /// Whether the rules differ from the defaults, kept by every write so
    /// that lookups ask it without comparing lists.
    @usableFromInline var customRules4 = false
    @usableFromInline var customRules6 = false
    /// Whether the IPv4 `local` and `main` tables have been split
    /// (fib_unmerge). Until the first IPv4 rule write they are one trie,
    /// looked up as `main`: the longest prefix of either wins and the answer
    /// names table main. Every rule write leaves the list unlike the
    /// defaults at least for a moment, and Linux never merges again, so the
    /// flag only ever goes from false to true (net->ipv4.fib_has_custom_rules).
    @usableFromInline var unmerged4 = false

    public init() {
        rules4 = RoutingRule.defaults(ipv4: true)
        rules6 = RoutingRule.defaults(ipv4: false)
    }

    public func rules(ipv4: Bool) -> [RoutingRule] { ipv4 ? rules4 : rules6 }

    /// True once a rule other than the defaults exists (fib_has_custom_rules).
    @inlinable
    public func hasCustomRules(ipv4: Bool) -> Bool { ipv4 ? customRules4 : customRules6 }

    /// True while the IPv4 `local` and `main` tables are one trie: no IPv4
    /// rule has been added or deleted yet (fib_unmerge has not run).
    public var localMainMerged4: Bool { !unmerged4 }

    /// fib_default_rule_pref.
    public func defaultPriority(ipv4: Bool) -> UInt32 {
        let r = rules(ipv4: ipv4)
        if r.count >= 2, r[1].priority != 0 { return r[1].priority - 1 }
        return 0
    }

    /// fib_nl_newrule with NLM_F_EXCL. `rule.priority` is used as given;
    /// pass `explicitPriority: false` to take the default priority.
    public mutating func add(_ rule: RoutingRule, explicitPriority: Bool) throws(RuleWriteError) {
        var rule = rule
        if !explicitPriority { rule.priority = defaultPriority(ipv4: rule.isIPv4) }
        if case .goto(let target) = rule.action, target <= rule.priority {
            throw .message("Backward goto not supported.")
        }
        var list = rules(ipv4: rule.isIPv4)
        if list.contains(where: { $0 == rule }) { throw .exists }
        let at = list.firstIndex { $0.priority > rule.priority } ?? list.count
        list.insert(rule, at: at)
        if rule.isIPv4 { rules4 = list } else { rules6 = list }
    }

    /// fib_nl_delrule: the first rule matching every given field.
    @discardableResult
    public mutating func delete(ipv4: Bool, where matches: (RoutingRule) -> Bool) throws(RuleWriteError) -> RoutingRule {
        var list = rules(ipv4: ipv4)
        guard let i = list.firstIndex(where: matches) else { throw .noSuchEntry }
        let r = list.remove(at: i)
        if ipv4 { rules4 = list } else { rules6 = list }
        return r
    }

    /// `ip rule flush`: every rule but priority 0 goes; the defaults
    /// 32766/32767 are removed too, as on Linux.
    public mutating func flush(ipv4: Bool) {
        if ipv4 { rules4.removeAll { $0.priority != 0 } } else { rules6.removeAll { $0.priority != 0 } }
    }
}

// MARK: - Rule matching and the rule walk

/// A table answer with the rule that produced it.
public struct PolicyMatch: Sendable {
    public var match: FIBMatch
    public var table: UInt32
    public var rulePriority: UInt32
    public init(match: FIBMatch, table: UInt32, rulePriority: UInt32) {
        self.match = match
        self.table = table
        self.rulePriority = rulePriority
    }
}

extension RoutingPolicy {
    /// fib_rule_match + fib4_rule_match / fib6_rule_match.
    public static func matches(_ rule: RoutingRule, _ key: FlowKey, iif: Int32, context: some RouteContext) -> Bool {
        func selectors() -> Bool {
            if let name = rule.iif {
                guard let i = context.deviceIndex(named: name), i == iif else { return false }
            }
            if let name = rule.oif {
                guard let i = context.deviceIndex(named: name), i == key.oif else { return false }
            }
            if let m = rule.fwmark, (m ^ key.mark) & rule.fwmask != 0 { return false }
            if let s = rule.source, !s.contains(key.source) { return false }
            if let d = rule.destination, !d.contains(key.destination) { return false }
            if rule.tos != 0 && rule.tos != key.tos { return false }
            if let p = rule.ipproto, p != key.ipproto { return false }
            if let r = rule.sourcePorts, !r.contains(key.sourcePort) { return false }
            if let r = rule.destinationPorts, !r.contains(key.destinationPort) { return false }
            return true
        }
        return selectors() != rule.invert
    }

    /// fib_lookup through the rules. `iif` is the ifindex rules see (lo for
    /// output lookups); `oif` filters next hops.
    public func fibLookup(_ key: FlowKey, iif: Int32, oif: Int32, minimumScope: RouteScope = .universe,
                          tables: RouteTables, context: some RouteContext) -> Result<PolicyMatch, RouteError> {
        let fk = FIBLookupKey(destination: key.destination, tos: key.tos, oif: oif, minimumScope: minimumScope)
        if key.destination.isIPv4 && !unmerged4 {
            return RoutingPolicy.mergedLookup4(fk, tables: tables)
        }
        if !hasCustomRules(ipv4: key.destination.isIPv4) {
            // The default rules (0 local, 32766 main, 32767 default for
            // IPv4) match every packet and carry no selectors: walk the
            // tables directly.
            if case let r? = tables.lookup(table: RouteTableID.local, fk), let m = RoutingPolicy.answer(r, table: RouteTableID.local, priority: 0) {
                return m
            }
            if case let r? = tables.lookup(table: RouteTableID.main, fk), let m = RoutingPolicy.answer(r, table: RouteTableID.main, priority: 32766) {
                return m
            }
            if key.destination.isIPv4, case let r? = tables.lookup(table: RouteTableID.default, fk),
               let m = RoutingPolicy.answer(r, table: RouteTableID.default, priority: 32767) {
                return m
            }
            return .failure(.networkUnreachable)
        }
        let list = rules(ipv4: key.destination.isIPv4)
        var i = 0
        var steps = 0
        while i < list.count, steps < 4 * list.count + 8 {
            steps += 1
            let rule = list[i]
            i += 1
            guard RoutingPolicy.matches(rule, key, iif: iif, context: context) else { continue }
            switch rule.action {
            case .goto(let target):
                // Jump to the rule with exactly that priority; it must match too.
                if let t = list.firstIndex(where: { $0.priority == target }) { i = t }
                continue
            case .nop:
                continue
            case .unreachable: return .failure(.networkUnreachable)
            case .prohibit: return .failure(.prohibited)
            case .blackhole: return .failure(.blackhole)
            case .table(let id):
                guard let result = tables.lookup(table: id, fk) else { continue }
                switch result {
                case .noMatch: continue
                case .failed(let e, _): return .failure(e)
                case .found(let m):
                    if let s = rule.suppressPrefixLength, m.route.destination.length <= s { continue }
                    return .success(PolicyMatch(match: m, table: id, rulePriority: rule.priority))
                }
            }
        }
        return .failure(.networkUnreachable)
    }

    /// fib_lookup while `local` and `main` are one trie (IPv4, before the
    /// first rule write): the longest prefix of either table wins, on a tie
    /// the `local` route (fib_find_alias keeps a leaf's aliases in
    /// descending table id), and the answer names table main, as the trie
    /// it came from. A `throw` (or nothing) goes on to table default; a
    /// reject route answers.
    static func mergedLookup4(_ fk: FIBLookupKey, tables: RouteTables) -> Result<PolicyMatch, RouteError> {
        let r = mergedTableLookup4(fk, tables: tables)
        if let m = RoutingPolicy.answer(r, table: RouteTableID.main, priority: 32766) { return m }
        if case let d? = tables.lookup(table: RouteTableID.default, fk),
           let m = RoutingPolicy.answer(d, table: RouteTableID.default, priority: 32767) {
            return m
        }
        return .failure(.networkUnreachable)
    }

    /// The merged trie's answer: `local` and `main` looked up apart, the
    /// longer prefix kept (each table already backtracks past prefixes
    /// whose routes the key rules out, as the one trie would). A host
    /// route in `local` (an address of ours, a broadcast) needs no second
    /// lookup. Not modelled: a `throw` route in one table hides a shorter
    /// prefix of the other in the one trie; here that prefix answers.
    static func mergedTableLookup4(_ fk: FIBLookupKey, tables: RouteTables) -> FIBLookupResult {
        func length(_ r: FIBLookupResult) -> Int {
            switch r {
            case .found(let f): f.route.destination.length
            case .failed(_, let route): route.destination.length
            case .noMatch: -1
            }
        }
        let l = tables.lookup(table: RouteTableID.local, fk) ?? .noMatch
        let ll = length(l)
        if ll == 32 { return l }
        let m = tables.lookup(table: RouteTableID.main, fk) ?? .noMatch
        return ll >= length(m) ? l : m
    }

    /// The `local` table as __ip_dev_find sees it: while merged, the one
    /// trie of `local` and `main`.
    func localTableLookup4(_ fk: FIBLookupKey, tables: RouteTables) -> FIBLookupResult {
        unmerged4 ? tables.lookup(table: RouteTableID.local, fk) ?? .noMatch : RoutingPolicy.mergedTableLookup4(fk, tables: tables)
    }

    /// A table's answer under a rule without selectors or suppression:
    /// nil to go on to the next rule.
    @inline(__always)
    static func answer(_ r: FIBLookupResult, table: UInt32, priority: UInt32) -> Result<PolicyMatch, RouteError>? {
        switch r {
        case .noMatch: nil
        case .failed(let e, _): .failure(e)
        case .found(let m): .success(PolicyMatch(match: m, table: table, rulePriority: priority))
        }
    }

    // MARK: Output

    /// The route for a locally generated packet (ip_route_output_key_hash /
    /// ip6_route_output). `key.iif` is ignored; `key.oif` binds the device.
    public func lookupOutput(_ key: FlowKey, tables: RouteTables, context: some RouteContext) -> Result<RouteDecision, RouteError> {
        key.destination.isIPv4 ? output4(key, tables: tables, context: context) : output6(key, tables: tables, context: context)
    }

    /// The route for a received packet (ip_route_input_slow / ip6_route_input).
    public func lookupInput(_ key: FlowKey, tables: RouteTables, context: some RouteContext) -> Result<RouteDecision, RouteError> {
        key.destination.isIPv4 ? input4(key, tables: tables, context: context) : input6(key, tables: tables, context: context)
    }

    /// Input when `key.iif` is set, output otherwise.
    public func lookup(_ key: FlowKey, tables: RouteTables, context: some RouteContext) -> Result<RouteDecision, RouteError> {
        key.iif != 0 ? lookupInput(key, tables: tables, context: context) : lookupOutput(key, tables: tables, context: context)
    }

    static func isLocalAddress(_ a: IPAddress, context: some RouteContext) -> Bool {
        context.isLocalAddress(a)
    }

    func output4(_ key: FlowKey, tables: RouteTables, context: some RouteContext) -> Result<RouteDecision, RouteError> {
        guard case .v4(let dst) = key.destination, case .v4(let src) = key.source else { return .failure(.invalid) }
        if !src.isUnspecified {
            // 0.0.0.0/8 is a valid unicast range since Linux 5.3; only 0.0.0.0 means "unset".
            if src.isMulticast || src.isLimitedBroadcast { return .failure(.invalid) }
            // __ip_dev_find: an address of a device, or a `local` route (127/8).
            let localRoute: Bool
            if case .found(let m) = localTableLookup4(FIBLookupKey(destination: key.source), tables: tables) {
                localRoute = m.route.type == .local
            } else {
                localRoute = false
            }
            if !localRoute && !RoutingPolicy.isLocalAddress(key.source, context: context) { return .failure(.networkUnreachable) }
        }
        if key.oif != 0 {
            guard context.deviceName(key.oif) != nil else { return .failure(.invalid) }
            if !context.isUp(key.oif) { return .failure(.networkUnreachable) }
        }
        let lo = context.loopbackIndex
        if dst.isUnspecified {
            // No destination: talk to ourselves (daddr = saddr, or 127.0.0.1), via lo.
            let s: IPAddress = src.isUnspecified ? .v4(.loopback) : key.source
            let route = Route(destination: IPPrefix(s, length: 32), type: .local, scope: .host, nextHops: [NextHop(device: lo)])
            return .success(RouteDecision(route: route, nextHop: NextHop(device: lo), nextHopIndex: 0, table: RouteTableID.main,
                                          rulePriority: 0, source: s))
        }
        var matched: PolicyMatch
        switch fibLookup(key, iif: lo, oif: key.oif, tables: tables, context: context) {
        case .success(let m): matched = m
        case .failure(let e):
            guard key.oif != 0 else { return .failure(e) }
            // "Routing tables are wrong: assume the destination is on link."
            let nh = NextHop(device: key.oif)
            let route = Route(table: RouteTableID.main, destination: IPPrefix(key.destination, length: 32), scope: .link, nextHops: [nh])
            let s = src.isUnspecified ? RoutingPolicy.selectSource4(device: key.oif, gateway: nil, scope: .link, context: context) : key.source
            return .success(RouteDecision(route: route, nextHop: nh, nextHopIndex: 0, table: 0, rulePriority: 0, source: s))
        }
        let route = matched.match.route
        if route.type == .local {
            let s: IPAddress = !src.isUnspecified ? key.source : (route.preferredSource ?? key.destination)
            let nh = NextHop(device: lo)
            return .success(RouteDecision(route: route, nextHop: nh, nextHopIndex: 0, table: matched.table,
                                          rulePriority: matched.rulePriority, source: s))
        }
        var n = matched.match.nextHopIndex
        if route.isMultipath && key.oif == 0 {
            n = RoutingPolicy.selectMultipath(route, hash: RoutingPolicy.multipathHash(key, policy: context.multipathHashPolicy(ipv4: true)))
        }
        let nh = route.nextHops.isEmpty ? NextHop() : route.nextHops[n]
        var s = key.source
        if src.isUnspecified {
            s = route.preferredSource
                ?? RoutingPolicy.selectSource4(device: nh.device, gateway: nh.gateway, scope: route.scope, context: context)
                ?? .v4(.any)
        }
        _ = dst
        return .success(RouteDecision(route: route, nextHop: nh, nextHopIndex: n, table: matched.table,
                                      rulePriority: matched.rulePriority, source: s))
    }

    /// inet_select_addr: a primary address of `device` with a scope no wider
    /// than `scope`, preferring one on the gateway's subnet; else the first
    /// suitable address of any device (scope below link).
    public static func selectSource4(device: Int32, gateway: IPAddress?, scope: RouteScope, context: some RouteContext) -> IPAddress? {
        var first: IPAddress?
        for a in context.addresses(device, ipv4: true) where !a.secondary {
            if min(a.scope, .link) > scope { continue }
            if let g = gateway, g.isIPv4, !g.isUnspecified {
                if a.prefix.contains(g) { return a.address }
            } else {
                return a.address
            }
            if first == nil { first = a.address }
        }
        if let f = first { return f }
        for d in context.deviceIndexes {
            for a in context.addresses(d, ipv4: true) where !a.secondary && a.scope < .link && a.scope <= scope {
                return a.address
            }
        }
        return nil
    }

    // MARK: Input (IPv4)

    func input4(_ key: FlowKey, tables: RouteTables, context: some RouteContext) -> Result<RouteDecision, RouteError> {
        guard case .v4(let dst) = key.destination, case .v4(let src) = key.source else { return .failure(.invalid) }
        let lo = context.loopbackIndex
        if src.isMulticast || src.isLimitedBroadcast { return .failure(.invalid) }
        if dst.isLimitedBroadcast || (src.isUnspecified && dst.isUnspecified) {
            let route = Route(table: 0, destination: IPPrefix(key.destination, length: 32), type: .broadcast, scope: .link)
            return .success(RouteDecision(route: route, nextHop: NextHop(device: lo), nextHopIndex: 0, table: 0, rulePriority: 0))
        }
        if src.isUnspecified || src.isLoopback || dst.isLoopback { return .failure(.invalid) }
        let forwarding = context.forwarding(key.iif, ipv4: true)
        var flow = key
        flow.oif = 0
        let matched: PolicyMatch
        switch fibLookup(flow, iif: key.iif, oif: 0, tables: tables, context: context) {
        case .success(let m): matched = m
        case .failure(let e): return .failure(forwarding ? e : .hostUnreachable)
        }
        let route = matched.match.route
        switch route.type {
        case .broadcast, .local:
            if route.type == .local || !src.isUnspecified {
                if case .failure(let e) = validateSource4(key, oif: 0, tables: tables, context: context) { return .failure(e) }
            }
            return .success(RouteDecision(route: route, nextHop: NextHop(device: lo), nextHopIndex: 0, table: matched.table,
                                          rulePriority: matched.rulePriority))
        case .unicast: break
        default: return .failure(.invalid)
        }
        if !forwarding { return .failure(.hostUnreachable) }
        var n = matched.match.nextHopIndex
        if route.isMultipath {
            n = RoutingPolicy.selectMultipath(route, hash: RoutingPolicy.multipathHash(key, policy: context.multipathHashPolicy(ipv4: true)))
        }
        let nh = route.nextHops[n]
        switch validateSource4(key, oif: nh.device, tables: tables, context: context) {
        case .failure(let e): return .failure(e)
        case .success(let v):
            var d = RouteDecision(route: route, nextHop: nh, nextHopIndex: n, table: matched.table, rulePriority: matched.rulePriority)
            d.redirect = v == 1 && nh.device == key.iif
            return .success(d)
        }
    }

    /// fib_validate_source with rp_filter off: 0 or 1 (the next hop back is
    /// on-link), or an error for a local or broadcast source.
    func validateSource4(_ key: FlowKey, oif: Int32, tables: RouteTables, context: some RouteContext) -> Result<Int, RouteError> {
        // The fast path skips the reverse lookup unless the packet would
        // leave by its input device (tx_redirects, on by default).
        if oif != key.iif && !hasCustomRules(ipv4: true) && !tables.hasCustomLocalRoutes(ipv4: true) {
            return RoutingPolicy.isLocalAddress(key.source, context: context) ? .failure(.invalid) : .success(0)
        }
        var back = FlowKey(destination: key.source, source: key.destination, tos: key.tos)
        back.oif = 0
        let iif = oif != 0 ? oif : context.loopbackIndex
        guard case .success(let m) = fibLookup(back, iif: iif, oif: 0, tables: tables, context: context) else { return .success(0) }
        if m.match.route.type != .unicast { return .failure(.invalid) }
        func scope(_ r: Route, _ i: Int) -> Int { r.nextHops.isEmpty || r.nextHops[i].gateway == nil ? 1 : 0 }
        if m.match.route.nextHops.contains(where: { $0.device == key.iif }) {
            return .success(scope(m.match.route, m.match.nextHopIndex))
        }
        if context.addresses(key.iif, ipv4: true).isEmpty { return .success(0) }
        guard case .success(let m2) = fibLookup(back, iif: iif, oif: key.iif, tables: tables, context: context),
              m2.match.route.type == .unicast else { return .success(0) }
        return .success(scope(m2.match.route, m2.match.nextHopIndex))
    }

    // MARK: IPv6

    func output6(_ key: FlowKey, tables: RouteTables, context: some RouteContext) -> Result<RouteDecision, RouteError> {
        let lo = context.loopbackIndex
        let matched: PolicyMatch
        switch fibLookup(key, iif: lo, oif: key.oif, tables: tables, context: context) {
        case .success(let m): matched = m
        case .failure(let e): return .failure(e)
        }
        let route = matched.match.route
        var n = matched.match.nextHopIndex
        if route.isMultipath && key.oif == 0 {
            n = RoutingPolicy.selectMultipath(route, hash: RoutingPolicy.multipathHash(key, policy: context.multipathHashPolicy(ipv4: false)))
        }
        var nh = route.nextHops.isEmpty ? NextHop(device: lo) : route.nextHops[n]
        if route.type == .local { nh.device = lo }
        var s = key.source
        if s.isUnspecified {
            s = route.preferredSource
                ?? RoutingPolicy.selectSource6(destination: key.destination, device: route.type == .local ? (route.nextHops.first?.device ?? lo) : nh.device, context: context)
                ?? .v6(.any)
        }
        return .success(RouteDecision(route: route, nextHop: nh, nextHopIndex: n, table: matched.table,
                                      rulePriority: matched.rulePriority, source: s))
    }

    func input6(_ key: FlowKey, tables: RouteTables, context: some RouteContext) -> Result<RouteDecision, RouteError> {
        let lo = context.loopbackIndex
        var flow = key
        flow.oif = 0
        let matched: PolicyMatch
        switch fibLookup(flow, iif: key.iif, oif: 0, tables: tables, context: context) {
        case .success(let m): matched = m
        case .failure(let e): return .failure(e)
        }
        let route = matched.match.route
        var n = matched.match.nextHopIndex
        if route.isMultipath {
            n = RoutingPolicy.selectMultipath(route, hash: RoutingPolicy.multipathHash(key, policy: context.multipathHashPolicy(ipv4: false)))
        }
        var nh = route.nextHops.isEmpty ? NextHop(device: lo) : route.nextHops[n]
        if route.type == .local { nh.device = lo }
        return .success(RouteDecision(route: route, nextHop: nh, nextHopIndex: n, table: matched.table, rulePriority: matched.rulePriority))
    }

    /// IPv6 source selection (RFC 6724 §5, reduced): candidates of the
    /// outgoing device first, then every device; prefer the same scope as the
    /// destination, not deprecated, then the longest common prefix.
    public static func selectSource6(destination: IPAddress, device: Int32, context: some RouteContext) -> IPAddress? {
        guard case .v6(let d) = destination else { return nil }
        func scopeOf(_ a: IPv6Address) -> Int {
            if a.isLoopback { return 1 }
            if a.isLinkLocal { return 2 }
            if a.isMulticast { return Int((a.high >> 48) & 0xF) }
            return 14
        }
        func commonPrefix(_ a: IPv6Address) -> Int {
            let h = a.high ^ d.high
            if h != 0 { return h.leadingZeroBitCount }
            return 64 + (a.low ^ d.low).leadingZeroBitCount
        }
        let dscope = scopeOf(d)
        func best(_ cands: [RouteAddress]) -> IPAddress? {
            var pick: (IPv6Address, Int, Bool, Int)?
            for c in cands {
                guard case .v6(let a) = c.address else { continue }
                let s = scopeOf(a)
                if s < dscope { continue }
                let candidate = (a, s, c.deprecated, commonPrefix(a))
                guard let p = pick else { pick = candidate; continue }
                if s != p.1 { if s < p.1 { pick = candidate }; continue }
                if c.deprecated != p.2 { if !c.deprecated { pick = candidate }; continue }
                if candidate.3 > p.3 { pick = candidate }
            }
            return pick.map { .v6($0.0) }
        }
        if let a = best(context.addresses(device, ipv4: false)) { return a }
        var all: [RouteAddress] = []
        for i in context.deviceIndexes { all += context.addresses(i, ipv4: false) }
        return best(all)
    }

    // MARK: Multipath

    /// A flow hash (31 bits): addresses (L3) or the 5-tuple (L4); IPv6 L3
    /// adds the flow label and protocol, as fib_multipath_hash does.
    public static func multipathHash(_ key: FlowKey, policy: Int) -> UInt32 {
        var h: UInt64 = 0x9E37_79B9_7F4A_7C15
        @inline(__always) func mix(_ v: UInt64) {
            h ^= v &+ 0x9E37_79B9_7F4A_7C15 &+ (h << 6) &+ (h >> 2)
            h = (h ^ (h >> 30)) &* 0xBF58_476D_1CE4_E5B9
            h = (h ^ (h >> 27)) &* 0x94D0_49BB_1331_11EB
            h ^= h >> 31
        }
        for a in [key.source, key.destination] {
            switch a {
            case .v4(let x): mix(UInt64(x.rawValue))
            case .v6(let x): mix(x.high); mix(x.low)
            }
        }
        if policy == 1 {
            mix(UInt64(key.ipproto) << 32 | UInt64(key.sourcePort) << 16 | UInt64(key.destinationPort))
        } else if key.destination.isIPv6 {
            mix(UInt64(key.flowLabel) << 8 | UInt64(key.ipproto))
        }
        return UInt32(truncatingIfNeeded: h >> 33)
    }

    /// fib_select_multipath: the first live next hop whose upper bound
    /// (cumulative weight scaled to 2^31) is ≥ the hash.
    public static func selectMultipath(_ route: Route, hash: UInt32) -> Int {
        let total = route.nextHops.reduce(0) { $0 + ($1.flags.contains(.dead) ? 0 : max(1, $1.weight)) }
        guard total > 0 else { return 0 }
        var w = 0
        var firstLive: Int?
        for (i, nh) in route.nextHops.enumerated() where !nh.flags.contains(.dead) {
            if firstLive == nil { firstLive = i }
            w += max(1, nh.weight)
            let upper = Int64((UInt64(w) << 31 + UInt64(total) / 2) / UInt64(total)) - 1
            if Int64(hash) <= upper { return i }
        }
        return firstLive ?? 0
    }
}
