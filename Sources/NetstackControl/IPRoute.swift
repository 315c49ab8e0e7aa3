// `ip route`: argv → typed request → applied to a namespace's RoutingState,
// and the replies printed as iproute2 6.1 prints them (text and -j JSON),
// errors worded as iproute2 with its exit status (1 parse, 255 invarg,
// 2 kernel refusal). A failing command changes nothing.
import Netstack
import NetWire

/// The parsed form of `ip route add|del|… ARGS`.
public struct RouteRequest: Sendable {
    public var route: Route
    /// Which fields were given (for `del`'s matching and defaults).
    public var hasType = false, hasScope = false, hasProto = false, hasMetric = false, hasTable = false
    public var devices: [String] = []
}

public enum IPRouteCommand: Sendable {
    case write(RouteWriteMode, RouteRequest)
    case delete(RouteRequest)
}

private struct Fail: Error {
    var failure: CommandFailure
    init(_ m: String, _ s: Int32 = 1) { failure = CommandFailure(m, status: s) }
}

/// `ip route …`: the entry point the lead calls.
public func ipRoute(_ args: [String], options: IPOptions, state: inout RoutingState, context: some RouteContext) -> CommandResult {
    let verb = args.first ?? "show"
    let rest = args.dropFirst()  // a slice: `ip route add` is the lab's hot path, no copy
    do {
        switch verb {
        case "add", "a": return try routeWrite(.add, rest, options, &state, context)
        case "replace": return try routeWrite(.replace, rest, options, &state, context)
        case "change", "chg": return try routeWrite(.change, rest, options, &state, context)
        case "append": return try routeWrite(.append, rest, options, &state, context)
        case "prepend": return try routeWrite(.prepend, rest, options, &state, context)
        case "delete", "del", "d": return try routeDelete(rest, options, &state, context)
        case "show", "list", "lst", "ls", "l", "sh": return try routeShow(Array(rest), options, state, context, flush: false)
        case "flush", "f": return try routeShow(Array(rest), options, state, context, flush: true, mutate: &state)
        case "get", "g": return try routeGet(Array(rest), options, state, context)
        case "help":
            return CommandResult(stderr: "Usage: ip route { list | flush } SELECTOR\n", status: 255)
        default:
            return .failure("Command \"\(verb)\" is unknown, try \"ip route help\".", status: 1)
        }
    } catch let e as Fail {
        return e.failure.result
    } catch {
        return .failure("\(error)")
    }
}

// MARK: - Parsing helpers

private func familyV6(_ options: IPOptions) -> Bool? {
    switch options.family {
    case .inet: false
    case .inet6: true
    case nil: nil
    }
}

/// A dotted quad exactly as `IPv4Address(String)` accepts it (four parts of
/// one to three ASCII digits, each ≤ 255), read straight from UTF-8. The
/// general parser (generic over StringProtocol, splitting into substrings)
/// cost ~30k instructions per address, most of a lab's `ip route add`; nil
/// here means "let the general parser decide", never "invalid".
func quickIPv4(_ u: Substring.UTF8View) -> IPv4Address? {
    var value: UInt32 = 0, part: UInt32 = 0, digits = 0, parts = 0
    for c in u {
        if c == UInt8(ascii: ".") {
            guard digits > 0, part <= 255, parts < 3 else { return nil }
            value = value << 8 | part
            part = 0; digits = 0; parts += 1
        } else if c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") {
            guard digits < 3 else { return nil }
            part = part &* 10 &+ UInt32(c &- UInt8(ascii: "0"))
            digits += 1
        } else {
            return nil
        }
    }
    guard parts == 3, digits > 0, part <= 255 else { return nil }
    return IPv4Address(rawValue: value << 8 | part)
}

/// `IPPrefix(text)` for `A.B.C.D` and `A.B.C.D/N` (N: one or two digits,
/// ≤ 32), the common case, without the general parser; anything else
/// (IPv6, odd spellings) goes to `IPPrefix(text)`, so the results agree.
func quickPrefix(_ text: String) -> IPPrefix? {
    // One pass over the bytes: the quad as in `quickIPv4`, then the length.
    var value: UInt32 = 0, part: UInt32 = 0, digits = 0, parts = 0
    var length = 0, lengthDigits = 0, slash = false
    for c in text.utf8 {
        let isDigit = c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")
        if slash {
            guard isDigit, lengthDigits < 2 else { return IPPrefix(text) }
            length = length * 10 + Int(c &- UInt8(ascii: "0"))
            lengthDigits += 1
        } else if isDigit {
            guard digits < 3 else { return IPPrefix(text) }
            part = part &* 10 &+ UInt32(c &- UInt8(ascii: "0"))
            digits += 1
        } else if c == UInt8(ascii: "."), digits > 0, part <= 255, parts < 3 {
            value = value << 8 | part
            part = 0; digits = 0; parts += 1
        } else if c == UInt8(ascii: "/") {
            slash = true
        } else {
            return IPPrefix(text)
        }
    }
    guard parts == 3, digits > 0, part <= 255, !slash || (lengthDigits > 0 && length <= 32) else { return IPPrefix(text) }
    return IPPrefix(.v4(IPv4Address(rawValue: value << 8 | part)), length: slash ? length : 32)
}

/// `IPAddress(text)` with the dotted-quad fast path of `quickIPv4`.
func quickAddress(_ text: String) -> IPAddress? {
    if let a = quickIPv4(Substring(text).utf8) { return .v4(a) }
    return IPAddress(text)
}

private func parsePrefix(_ text: String, v6: Bool?, what: String = "any valid prefix") throws -> IPPrefix {
    if text == "default" || text == "all" || text == "any" {
        return IPPrefix.defaultRoute(v6: v6 ?? false)
    }
    guard let p = quickPrefix(text), v6 == nil || p.address.isIPv6 == v6! else {
        throw Fail("Error: \(what) is expected rather than \"\(text)\".")
    }
    return p
}

private func parseAddress(_ text: String, v6: Bool?) throws -> IPAddress {
    guard let a = quickAddress(text), v6 == nil || a.isIPv6 == v6! else {
        throw Fail("Error: \(v6 == true ? "inet6" : "inet") address is expected rather than \"\(text)\".")
    }
    return a
}

private func parseUInt(_ text: String, _ what: String, hex: Bool = false) throws -> UInt32 {
    let v: UInt32?
    if text.hasPrefix("0x") || text.hasPrefix("0X") { v = UInt32(text.dropFirst(2), radix: 16) } else { v = UInt32(text) }
    guard let r = v else { throw Fail("Error: argument \"\(text)\" is wrong: \"\(what)\" value is invalid\n", 255) }
    return r
}

private func parseTOS(_ text: String) throws -> UInt8 {
    let v = text.hasPrefix("0x") ? UInt8(text.dropFirst(2), radix: 16) : UInt8(text, radix: 16)
    guard let t = v else { throw Fail("Error: argument \"\(text)\" is wrong: TOS value is invalid\n", 255) }
    return t
}

private func device(_ name: String, _ ctx: some RouteContext) throws -> Int32 {
    guard let i = ctx.deviceIndex(named: name) else { throw Fail("Cannot find device \"\(name)\"") }
    return i
}

private struct ArgReader {
    var args: ArraySlice<String>
    var i: Int
    init(args: ArraySlice<String>) {
        self.args = args
        i = args.startIndex
    }
    init(args: [String]) { self.init(args: args[...]) }
    mutating func next() -> String? {
        guard i < args.endIndex else { return nil }
        defer { i += 1 }
        return args[i]
    }
    mutating func value(_ key: String) throws -> String {
        guard let v = next() else { throw Fail("Command line is not complete. Try option \"help\"", 255) }
        return v
    }
}

/// Parses the route attributes of add/del/replace…
private func parseRoute(_ args: ArraySlice<String>, _ options: IPOptions, _ ctx: some RouteContext, forDelete: Bool) throws -> RouteRequest {
    var r = ArgReader(args: args)
    var v6 = familyV6(options)
    var dst: IPPrefix?
    var req = RouteRequest(route: Route(destination: .defaultRoute(v6: false)))
    var route = Route(destination: .defaultRoute(v6: false), proto: forDelete ? .unspec : .boot)
    var gw: IPAddress?
    var dev: Int32?
    var hops: [NextHop] = []
    var onlink = false
    var pendingV6Gateway: String?
    /// The destination (`[to] [TYPE] PREFIX`), the one argument without a keyword.
    func destination(_ tok: String) throws {
        var t = tok
        if t == "to" { t = try r.value(tok) }
        if let ty = RouteType(name: t), dst == nil, t != "none" {
            route.type = ty
            req.hasType = true
            t = try r.value(tok)
        }
        if dst != nil { throw Fail("Error: either \"to\" is duplicate, or \"\(t)\" is a garbage.", 255) }
        dst = try parsePrefix(t, v6: v6)
        if v6 == nil { v6 = !dst!.isIPv4 }
    }
    while let tok = r.next() {
        // No keyword or route type starts with a digit: a prefix skips the
        // keyword comparisons (the lab's `ip route add` hot path).
        if let f = tok.utf8.first, f >= UInt8(ascii: "0"), f <= UInt8(ascii: "9"), dst == nil {
            dst = try parsePrefix(tok, v6: v6)
            if v6 == nil { v6 = !dst!.isIPv4 }
            continue
        }
        switch tok {
        case "via":
            var t = try r.value(tok)
            if t == "inet" || t == "inet6" { t = try r.value(tok) }
            if familyV6(options) == nil && (dst == nil || dst!.length == 0) { pendingV6Gateway = t; v6 = t.contains(":") }
            gw = try parseAddress(t, v6: v6)
        case "dev", "oif":
            let n = try r.value(tok)
            dev = try device(n, ctx)
            req.devices.append(n)
        case "src":
            route.preferredSource = try parseAddress(try r.value(tok), v6: v6)
        case "metric", "preference", "priority":
            route.metric = try parseUInt(try r.value(tok), "metric")
            req.hasMetric = true
        case "table":
            let t = try r.value(tok)
            guard let id = RouteTableID.parse(t) else { throw Fail("Error: argument \"\(t)\" is wrong: \"table\" value is invalid\n", 255) }
            route.table = id
            req.hasTable = true
        case "proto", "protocol":
            let t = try r.value(tok)
            guard let p = RouteProtocol(name: t) else { throw Fail("Error: argument \"\(t)\" is wrong: \"protocol\" value is invalid\n", 255) }
            route.proto = p
            req.hasProto = true
        case "scope":
            let t = try r.value(tok)
            guard let s = RouteScope(name: t) else { throw Fail("Error: argument \"\(t)\" is wrong: invalid \"scope\" value\n", 255) }
            route.scope = s
            req.hasScope = true
        case "tos", "dsfield":
            route.tos = try parseTOS(try r.value(tok))
        case "mtu":
            var t = try r.value(tok)
            if t == "lock" { route.mtuLocked = true; t = try r.value(tok) }
            route.mtu = try parseUInt(t, "mtu")
        case "advmss":
            route.advmss = try parseUInt(try r.value(tok), "mss")
        case "onlink":
            onlink = true
        case "pref":
            let t = try r.value(tok)
            switch t {
            case "low": route.preference = -1
            case "medium": route.preference = 0
            case "high": route.preference = 1
            default: throw Fail("Error: argument \"\(t)\" is wrong: \"pref\" value is invalid\n", 255)
            }
        case "nexthop":
            var nh = NextHop()
            var sawAny = false
            loop: while let t = r.next() {
                switch t {
                case "via":
                    var a = try r.value(t)
                    if a == "inet" || a == "inet6" { a = try r.value(t) }
                    nh.gateway = try parseAddress(a, v6: v6 ?? dst.map { !$0.isIPv4 })
                    sawAny = true
                case "dev":
                    nh.device = try device(try r.value(t), ctx)
                    sawAny = true
                case "weight":
                    let w = try r.value(t)
                    guard let n = Int(w), n >= 1, n <= 256 else { throw Fail("Error: argument \"\(w)\" is wrong: \"weight\" is invalid\n", 255) }
                    nh.weight = n
                case "onlink":
                    nh.flags.insert(.onlink)
                case "nexthop":
                    r.i -= 1
                    break loop
                default:
                    throw Fail("Error: \"nexthop\" or end of line is expected instead of \"\(t)\"", 255)
                }
            }
            _ = sawAny
            hops.append(nh)
        default:
            try destination(tok)
        }
    }
    _ = pendingV6Gateway
    guard var d = dst else { throw Fail("Error: argument is required: destination", 255) }
    if d.length == 0 && (v6 ?? false) != !d.isIPv4 { d = .defaultRoute(v6: v6 ?? false) }
    route.destination = d
    if !d.isIPv4 {
        if !req.hasMetric && !forDelete { route.metric = 1024 }
        if route.preference == nil { route.preference = 0 }
    }
    if let g = gw, g.isIPv4 != d.isIPv4 { throw Fail("Error: inet address is expected rather than \"\(g)\".") }
    if !hops.isEmpty {
        route.nextHops = hops
    } else if gw != nil || dev != nil {
        var nh = NextHop(gateway: gw, device: dev ?? 0)
        if onlink { nh.flags.insert(.onlink) }
        route.nextHops = [nh]
    }
    if !req.hasScope {
        switch route.type {
        case .local, .nat: route.scope = .host
        case .broadcast, .multicast, .anycast: route.scope = .link
        case .unicast, .unspec:
            if forDelete { route.scope = .nowhere } else if gw == nil && hops.isEmpty { route.scope = .link }
        default: break
        }
        if !d.isIPv4 && !forDelete { route.scope = .universe }
    }
    req.route = route
    return req
}

// MARK: - Writes

private func routeWrite(_ mode: RouteWriteMode, _ args: ArraySlice<String>, _ options: IPOptions,
                        _ state: inout RoutingState, _ ctx: some RouteContext) throws -> CommandResult {
    var req = try parseRoute(args, options, ctx, forDelete: false)
    var route = req.route
    let v4 = route.isIPv4
    // fib_create_info / ip6_route_info_create validation.
    if route.destination.address != route.destination.network.address {
        if v4 { throw Fail("Error: Invalid prefix for given prefix length.", 2) }
        route.destination = route.destination.network
    }
    switch route.type {
    case .unreachable, .prohibit, .blackhole, .throw:
        if !route.nextHops.isEmpty, v4 {
            throw Fail("Error: Gateway, device and multipath can not be specified for this route type.", 2)
        }
        if !v4 {
            // IPv6 reject routes live on lo.
            route.nextHops = [NextHop(device: ctx.loopbackIndex)]
        }
    default:
        if route.nextHops.isEmpty { throw Fail("RTNETLINK answers: No such device", 2) }
        for i in route.nextHops.indices {
            route.nextHops[i] = try resolveNextHop(route.nextHops[i], route: route, state: state, ctx)
            if !ctx.isUp(route.nextHops[i].device) && !route.nextHops[i].flags.contains(.onlink) {
                throw Fail("Error: Nexthop device is not up.", 2)
            }
        }
    }
    if let s = route.preferredSource, v4, route.type != .local, !RoutingPolicy.isLocalAddressPublic(s, context: ctx) {
        throw Fail("Error: Invalid prefsrc address.", 2)
    }
    req.route = route
    do {
        try state.tables.insert(route, mode: mode)
    } catch {
        throw Fail(error.text, 2)
    }
    return CommandResult()
}

/// fib_check_nh: a gateway must resolve through a link-scope route
/// (or the given device); the next hop takes that route's device.
private func resolveNextHop(_ nh: NextHop, route: Route, state: RoutingState, _ ctx: some RouteContext) throws -> NextHop {
    var nh = nh
    guard let gw = nh.gateway else {
        if nh.device == 0 { throw Fail("RTNETLINK answers: No such device", 2) }
        return nh
    }
    if nh.flags.contains(.onlink) {
        if nh.device == 0 { throw Fail("Error: Nexthop device required for onlink.", 2) }
        return nh
    }
    let key = FlowKey(destination: gw)
    let lookup: Result<PolicyMatch, RouteError>
    if route.isIPv4 {
        if route.table != RouteTableID.main, let t = state.tables[route.table],
           case .found(let m) = t.lookup(FIBLookupKey(destination: gw, oif: nh.device, minimumScope: RouteScope(rawValue: route.scope.rawValue + 1))) {
            lookup = .success(PolicyMatch(match: m, table: route.table, rulePriority: 0))
        } else {
            lookup = state.policy.fibLookup(key, iif: ctx.loopbackIndex, oif: nh.device,
                                            minimumScope: RouteScope(rawValue: route.scope.rawValue + 1),
                                            tables: state.tables, context: ctx)
        }
    } else {
        if nh.device != 0 { return nh }
        lookup = state.policy.fibLookup(key, iif: ctx.loopbackIndex, oif: 0, tables: state.tables, context: ctx)
    }
    guard case .success(let m) = lookup, m.match.route.type == .unicast || m.match.route.type == .local,
          !m.match.route.nextHops.isEmpty else {
        throw Fail("Error: Nexthop has invalid gateway.", 2)
    }
    if !route.isIPv4 && m.match.route.nextHops[m.match.nextHopIndex].gateway != nil {
        throw Fail("Error: Nexthop has invalid gateway.", 2)
    }
    if nh.device == 0 { nh.device = m.match.route.nextHops[m.match.nextHopIndex].device }
    return nh
}

extension RoutingPolicy {
    public static func isLocalAddressPublic(_ a: IPAddress, context: some RouteContext) -> Bool {
        context.deviceIndexes.contains { d in context.addresses(d, ipv4: a.isIPv4).contains { $0.address == a } }
    }
}

private func routeDelete(_ args: ArraySlice<String>, _ options: IPOptions, _ state: inout RoutingState,
                         _ ctx: some RouteContext) throws -> CommandResult {
    let req = try parseRoute(args, options, ctx, forDelete: true)
    let r = req.route
    var f = FIBTable.DeleteFilter(destination: r.destination)
    f.tos = r.tos
    f.metric = req.hasMetric ? r.metric : nil
    f.type = req.hasType ? r.type : nil
    f.scope = req.hasScope ? r.scope : nil
    f.proto = req.hasProto ? r.proto : nil
    f.preferredSource = r.preferredSource
    if let nh = r.nextHops.first {
        f.gateway = nh.gateway
        f.device = nh.device == 0 ? nil : nh.device
    }
    if r.isIPv4 && r.destination.address != r.destination.network.address {
        throw Fail("Error: Invalid prefix for given prefix length.", 2)
    }
    guard var t = state.tables[r.table] else { throw Fail("RTNETLINK answers: No such process", 2) }
    do {
        try t.delete(f)
    } catch {
        throw Fail(error.text, 2)
    }
    state.tables[r.table] = t
    return CommandResult()
}

// MARK: - show / flush

private struct ShowFilter {
    var table: UInt32? = RouteTableID.main  // nil: all
    var dev: Int32?
    var proto: RouteProtocol?
    var scope: RouteScope?
    var type: RouteType?
    var root: IPPrefix?
    var match: IPPrefix?
    var exact: IPPrefix?
    var via: IPAddress?
    var src: IPAddress?
    var metric: UInt32?
    var tableGiven = false
    var hasPrefix: Bool { root != nil || match != nil || exact != nil || via != nil || src != nil }

    func accepts(_ r: Route) -> Bool {
        // iproute2 filters on RTA_OIF, which multipath routes do not carry.
        if let d = dev, !(r.nextHops.count == 1 && r.nextHops[0].device == d) { return false }
        if let p = proto, r.proto != p { return false }
        if let s = scope, r.scope != s { return false }
        if let t = type, r.type != t { return false }
        if let p = root, !(r.destination.length >= p.length && p.contains(r.destination.address)) { return false }
        if let p = match, !(r.destination.length <= p.length && r.destination.contains(p.address)) { return false }
        if let p = exact, r.destination != p.network { return false }
        if let g = via, !r.nextHops.contains(where: { $0.gateway == g }) { return false }
        if let s = src, r.preferredSource != s { return false }
        if let m = metric, r.metric != m { return false }
        return true
    }
}

private func routeShow(_ args: [String], _ options: IPOptions, _ state: RoutingState, _ ctx: some RouteContext,
                       flush: Bool) throws -> CommandResult {
    var dummy = state
    return try routeShow(args, options, state, ctx, flush: flush, mutate: &dummy)
}

private func routeShow(_ args: [String], _ options: IPOptions, _ state: RoutingState, _ ctx: some RouteContext,
                       flush: Bool, mutate: inout RoutingState) throws -> CommandResult {
    var r = ArgReader(args: args)
    var v6 = familyV6(options) ?? false
    var f = ShowFilter()
    var any = false
    while let tok = r.next() {
        any = true
        switch tok {
        case "table":
            let t = try r.value(tok)
            f.tableGiven = true
            if t == "all" || t == "0" { f.table = nil } else if t == "cache" { f.table = RouteTableID.main } else {
                guard let id = RouteTableID.parse(t) else { throw Fail("Error: argument \"\(t)\" is wrong: \"table\" value is invalid\n", 255) }
                f.table = id
            }
        case "dev", "oif": f.dev = try device(try r.value(tok), ctx)
        case "proto", "protocol":
            let t = try r.value(tok)
            guard let p = RouteProtocol(name: t) else { throw Fail("Error: argument \"\(t)\" is wrong: \"protocol\" value is invalid\n", 255) }
            f.proto = p
        case "scope":
            let t = try r.value(tok)
            guard let s = RouteScope(name: t) else { throw Fail("Error: argument \"\(t)\" is wrong: invalid \"scope\" value\n", 255) }
            f.scope = s
        case "type":
            let t = try r.value(tok)
            guard let ty = RouteType(name: t) else { throw Fail("Error: argument \"\(t)\" is wrong: node type value is invalid\n", 255) }
            f.type = ty
        case "root": f.root = try parsePrefix(try r.value(tok), v6: options.family == nil ? nil : v6)
        case "match": f.match = try parsePrefix(try r.value(tok), v6: options.family == nil ? nil : v6)
        case "exact": f.exact = try parsePrefix(try r.value(tok), v6: options.family == nil ? nil : v6)
        case "via": f.via = try parseAddress(try r.value(tok), v6: options.family == nil ? nil : v6)
        case "src": f.src = try parseAddress(try r.value(tok), v6: options.family == nil ? nil : v6)
        case "metric", "preference", "priority": f.metric = try parseUInt(try r.value(tok), "metric")
        default:
            let t = tok == "to" ? try r.value(tok) : tok
            f.exact = try parsePrefix(t, v6: options.family == nil ? nil : v6)
        }
        for p in [f.root, f.match, f.exact] { if let p { v6 = !p.isIPv4 } }
    }
    if flush && !any { throw Fail("Flush requires arguments.", 255) }
    let ids: [UInt32]
    if let t = f.table {
        guard state.tables[t] != nil else {
            if flush { return CommandResult() }
            if !v6 { return CommandResult(stderr: "Error: ipv4: FIB table does not exist.\nDump terminated\n", status: 2) }
            return CommandResult()
        }
        ids = [t]
    } else {
        ids = state.tables.dumpOrder
    }
    var routes: [Route] = []
    // With no -4/-6, `table all` dumps IPv4 then IPv6; otherwise one family.
    let families = options.family == nil && f.table == nil && !f.hasPrefix ? [true, false] : [!v6]
    for ipv4 in families {
        for id in ids { routes += state.tables[id]!.routes(ipv4: ipv4).filter(f.accepts) }
    }
    if flush {
        let doomed = routes
        mutate.tables.removeAll { r in doomed.contains(r) }
        return CommandResult()
    }
    let printer = RoutePrinter(context: ctx, filterDev: f.dev != nil, filterProto: f.proto != nil,
                               filterScope: f.scope != nil, showTable: f.table == nil)
    if options.json {
        let items = routes.map { printer.json($0) }
        return CommandResult(stdout: JSONValue.array(items).rendered(pretty: options.pretty) + "\n")
    }
    return CommandResult(stdout: routes.map { printer.text($0) }.joined())
}

// MARK: - Printing

/// Renders routes and `ip route get` answers as iproute2's print_route.
public struct RoutePrinter<Context: RouteContext> {
    public var context: Context
    public var filterDev = false, filterProto = false, filterScope = false
    /// Print `table N` for tables other than main (`table all` dumps).
    public var showTable = true

    public init(context: Context, filterDev: Bool = false, filterProto: Bool = false, filterScope: Bool = false, showTable: Bool = true) {
        self.context = context
        self.filterDev = filterDev
        self.filterProto = filterProto
        self.filterScope = filterScope
        self.showTable = showTable
    }

    func devName(_ i: Int32) -> String { context.deviceName(i) ?? "if\(i)" }

    static func dst(_ r: Route) -> String {
        if r.destination.length == 0 { return "default" }
        return r.destination.isHostPrefix ? "\(r.destination.address)" : "\(r.destination.network)"
    }

    static func prefName(_ p: Int8?) -> String {
        switch p ?? 0 {
        case -1: "low"
        case 1: "high"
        default: "medium"
        }
    }

    func nhFlags(_ f: NextHopFlags, device: Int32) -> [String] {
        var out: [String] = []
        if f.contains(.dead) { out.append("dead") }
        if f.contains(.onlink) { out.append("onlink") }
        if f.contains(.linkdown) || (device != 0 && !context.hasCarrier(device) && context.deviceName(device) != nil) {
            out.append("linkdown")
        }
        return out
    }

    /// One `ip route show` line (with its nexthop lines), newline included.
    public func text(_ r: Route) -> String {
        var s = ""
        if r.type != .unicast { s += r.type.name + " " }
        s += RoutePrinter.dst(r) + " "
        if r.tos != 0 { s += "tos 0x" + hex2(r.tos) + " " }
        var flags: [String] = []
        if r.nextHops.count == 1 {
            let nh = r.nextHops[0]
            if let g = nh.gateway { s += "via \(g) " }
            if nh.device != 0 && !filterDev && !(r.type.isReject && !r.isIPv4) { s += "dev \(devName(nh.device)) " }
            flags = nhFlags(nh.flags, device: nh.device)
        }
        if r.table != RouteTableID.main && showTable { s += "table \(RouteTableID.name(r.table)) " }
        if r.proto != .boot && !filterProto { s += "proto \(r.proto.name) " }
        if r.scope != .universe && !filterScope { s += "scope \(r.scope.name) " }
        if let p = r.preferredSource { s += "src \(p) " }
        if r.metric != 0 || !r.isIPv4 { s += "metric \(r.metric) " }
        for f in flags { s += f + " " }
        if let m = r.mtu { s += r.mtuLocked ? "mtu lock \(m) " : "mtu \(m) " }
        if let a = r.advmss { s += "advmss \(a) " }
        if !r.isIPv4 { s += "pref \(RoutePrinter.prefName(r.preference))" }
        if r.nextHops.count > 1 {
            for nh in r.nextHops {
                s += "\n\tnexthop "
                if let g = nh.gateway { s += "via \(g) " }
                if nh.device != 0 { s += "dev \(devName(nh.device)) " }
                s += "weight \(nh.weight) "
                for f in nhFlags(nh.flags, device: nh.device) { s += f + " " }
            }
        }
        return s + "\n"
    }

    public func json(_ r: Route) -> JSONValue {
        var o = JSONObject()
        if r.type != .unicast { o["type"] = .string(r.type.name) }
        o["dst"] = .string(RoutePrinter.dst(r))
        if r.tos != 0 { o["tos"] = .string("0x" + hex2(r.tos)) }
        var flags: [String] = []
        if r.nextHops.count == 1 {
            let nh = r.nextHops[0]
            if let g = nh.gateway { o["gateway"] = .string("\(g)") }
            if nh.device != 0 && !filterDev && !(r.type.isReject && !r.isIPv4) { o["dev"] = .string(devName(nh.device)) }
            flags = nhFlags(nh.flags, device: nh.device)
        }
        if r.table != RouteTableID.main && showTable { o["table"] = .string(RouteTableID.name(r.table)) }
        if r.proto != .boot && !filterProto { o["protocol"] = .string(r.proto.name) }
        if r.scope != .universe && !filterScope { o["scope"] = .string(r.scope.name) }
        if let p = r.preferredSource { o["prefsrc"] = .string("\(p)") }
        if r.metric != 0 || !r.isIPv4 { o["metric"] = .number(r.metric) }
        o["flags"] = .array(flags.map { .string($0) })
        if r.mtu != nil || r.advmss != nil {
            var m = JSONObject()
            if let v = r.mtu { m["mtu"] = .number(v) }
            if let v = r.advmss { m["advmss"] = .number(v) }
            o["metrics"] = .array([m.value])
        }
        if !r.isIPv4 { o["pref"] = .string(RoutePrinter.prefName(r.preference)) }
        if r.nextHops.count > 1 {
            o["nexthops"] = .array(r.nextHops.map { nh in
                var n = JSONObject()
                if let g = nh.gateway { n["gateway"] = .string("\(g)") }
                if nh.device != 0 { n["dev"] = .string(devName(nh.device)) }
                n["weight"] = .number(nh.weight)
                n["flags"] = .array(nhFlags(nh.flags, device: nh.device).map { .string($0) })
                return n.value
            })
        }
        return o.value
    }
}

extension RouteType {
    var isReject: Bool { self == .unreachable || self == .prohibit || self == .blackhole || self == .throw }
}

func hex2(_ b: UInt8) -> String {
    let d = Array("0123456789abcdef")
    return String([d[Int(b >> 4)], d[Int(b & 0xF)]])
}

// MARK: - get

/// The request of `ip route get`.
public struct RouteGetRequest: Sendable {
    public var key: FlowKey
    /// `from` was given.
    public var sourceGiven: Bool
    public var fibmatch: Bool
}

public func parseRouteGet(_ args: [String], options: IPOptions, context: some RouteContext) throws(CommandFailure) -> RouteGetRequest {
    do { return try parseGet(args, options, context) } catch let e as Fail { throw e.failure } catch { throw CommandFailure("\(error)") }
}

private func parseGet(_ args: [String], _ options: IPOptions, _ ctx: some RouteContext) throws -> RouteGetRequest {
    var r = ArgReader(args: args)
    let v6 = familyV6(options)
    var dst: IPAddress?
    var src: IPAddress?
    var key = FlowKey(destination: .v4(.any))
    var fibmatch = false
    while let tok = r.next() {
        switch tok {
        case "from":
            src = try parsePrefix(try r.value(tok), v6: v6 ?? dst.map(\.isIPv6)).address
        case "iif": key.iif = try device(try r.value(tok), ctx)
        case "oif", "dev": key.oif = try device(try r.value(tok), ctx)
        case "mark": key.mark = try parseUInt(try r.value(tok), "mark")
        case "tos", "dsfield": key.tos = try parseTOS(try r.value(tok))
        case "ipproto":
            let t = try r.value(tok)
            guard let p = ipProtocolNumber(t) else { throw Fail("Error: argument \"\(t)\" is wrong: Invalid \"ipproto\" value\n", 255) }
            key.ipproto = p
        case "sport":
            let t = try r.value(tok)
            guard let p = UInt16(t) else { throw Fail("Error: argument \"\(t)\" is wrong: invalid sport\n", 255) }
            key.sourcePort = p
        case "dport":
            let t = try r.value(tok)
            guard let p = UInt16(t) else { throw Fail("Error: argument \"\(t)\" is wrong: invalid dport\n", 255) }
            key.destinationPort = p
        case "uid": _ = try r.value(tok)
        case "fibmatch": fibmatch = true
        case "connected", "notify", "cloned", "cached": break
        default:
            let t = tok == "to" ? try r.value(tok) : tok
            dst = try parsePrefix(t, v6: v6).address
        }
    }
    guard let d = dst else { throw Fail("need at least a destination address", 1) }
    key.destination = d
    key.source = src ?? (d.isIPv4 ? .v4(.any) : .v6(.any))
    // inet_rtm_getroute builds a UDP packet when no ipproto is given.
    if d.isIPv4 && !args.contains("ipproto") { key.ipproto = 17 }
    return RouteGetRequest(key: key, sourceGiven: src != nil, fibmatch: fibmatch)
}

/// IANA protocol names iproute2 knows for `ipproto`.
func ipProtocolNumber(_ t: String) -> UInt8? {
    if let n = UInt8(t) { return n }
    return ipProtocolNames.first { $0.value == t }?.key
}
let ipProtocolNames: [UInt8: String] = [1: "icmp", 2: "igmp", 6: "tcp", 17: "udp", 41: "ipv6", 47: "gre", 50: "esp", 51: "ah", 58: "ipv6-icmp", 132: "sctp", 136: "udplite"]

private func routeGet(_ args: [String], _ options: IPOptions, _ state: RoutingState, _ ctx: some RouteContext) throws -> CommandResult {
    let req = try parseGet(args, options, ctx)
    switch state.lookup(req.key, context: ctx) {
    case .failure(let e):
        return .failure("RTNETLINK answers: \(e.message)", status: 2)
    case .success(let d):
        if req.fibmatch {
            // The table is the one the lookup answered from (fri.tb_id =
            // res.table's id): main for a local route while IPv4's local
            // and main tables are still merged.
            var route = d.route
            if d.table != 0 { route.table = d.table }
            let p = RoutePrinter(context: ctx, showTable: true)
            return CommandResult(stdout: options.json ? JSONValue.array([p.json(route)]).rendered(pretty: options.pretty) + "\n" : p.text(route))
        }
        let g = RouteGetPrinter(context: ctx)
        if options.json {
            return CommandResult(stdout: JSONValue.array([g.json(d, req)]).rendered(pretty: options.pretty) + "\n")
        }
        return CommandResult(stdout: g.text(d, req))
    }
}

/// `ip route get` answers (rt_fill_info / rt6_fill_node as iproute2 prints them).
public struct RouteGetPrinter<Context: RouteContext> {
    public var context: Context
    public init(context: Context) { self.context = context }

    func name(_ i: Int32) -> String { context.deviceName(i) ?? "if\(i)" }

    /// The ordered fields; text and JSON are both rendered from them.
    func fields(_ d: RouteDecision, _ req: RouteGetRequest) -> [(String, String, JSONValue)] {
        var f: [(String, String, JSONValue)] = []
        let k = req.key
        let v4 = k.destination.isIPv4
        let input = k.iif != 0
        if d.route.type != .unicast { f.append(("type", d.route.type.name, .string(d.route.type.name))) }
        f.append(("dst", "\(k.destination)", .string("\(k.destination)")))
        if req.sourceGiven || (!v4 && !input) { f.append(("from", "from \(k.source)", .string("\(k.source)"))) }
        if let g = d.nextHop.gateway, d.route.type == .unicast { f.append(("gateway", "via \(g)", .string("\(g)"))) }
        if d.nextHop.device != 0 { f.append(("dev", "dev \(name(d.nextHop.device))", .string(name(d.nextHop.device)))) }
        if d.table != RouteTableID.main && d.table != 0 {
            let t = RouteTableID.name(d.table)
            f.append(("table", "table \(t)", .string(t)))
        }
        if !v4 && d.route.proto != .boot && d.route.proto != .unspec {
            f.append(("protocol", "proto \(d.route.proto.name)", .string(d.route.proto.name)))
        }
        if !input, let s = d.source, !s.isUnspecified, v4 ? s != k.source : true {
            f.append(("prefsrc", "src \(s)", .string("\(s)")))
        }
        if !v4 { f.append(("metric", "metric \(d.route.metric)", .number(d.route.metric))) }
        f.append(("flags", "", .array([])))
        if v4 {
            if k.mark != 0 { f.append(("mark", "mark \(k.mark)", .number(k.mark))) }
            if !input { f.append(("uid", "uid 0", .number(0))) }
            var cache: [String] = []
            if d.route.type == .local || d.route.type == .broadcast { cache.append("local") }
            if d.route.type == .broadcast { cache.append("brd") }
            if d.redirect { cache.append("redirect") }
            let ct = cache.isEmpty ? "\n    cache" : "\n    cache <\(cache.joined(separator: ","))>"
            f.append(("cache", ct, .array(cache.map { .string($0) })))
        }
        if input { f.append(("iif", "iif \(name(k.iif))", .string(name(k.iif)))) }
        if !v4 { f.append(("pref", "pref \(RoutePrinter<Context>.prefName(d.route.preference))", .string(RoutePrinter<Context>.prefName(d.route.preference)))) }
        return f
    }

    public func text(_ d: RouteDecision, _ req: RouteGetRequest) -> String {
        var parts: [String] = []
        for (k, t, _) in fields(d, req) where !t.isEmpty || k == "flags" {
            if k == "flags" { continue }
            parts.append(t)
        }
        let line = parts.joined(separator: " ")
        return req.key.destination.isIPv4 ? line + " \n" : line + "\n"
    }

    public func json(_ d: RouteDecision, _ req: RouteGetRequest) -> JSONValue {
        var o = JSONObject()
        for (k, _, v) in fields(d, req) { o[k] = v }
        return o.value
    }
}
