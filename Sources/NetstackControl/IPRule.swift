// `ip rule`: add|del|show|list|flush with iproute2 6.1's syntax, text and
// -j output, errors and exit statuses.
import Netstack
import NetWire

private struct RuleFail: Error {
    var failure: CommandFailure
    init(_ m: String, _ s: Int32 = 1) { failure = CommandFailure(m, status: s) }
}

/// The parsed selectors and action of one `ip rule` command.
public struct RuleRequest: Sendable {
    public var rule: RoutingRule
    public var priorityGiven = false
    public var actionGiven = false
    public var tableGiven = false
}

public func ipRule(_ args: [String], options: IPOptions, state: inout RoutingState, context: some RouteContext) -> CommandResult {
    var args = args
    let verb = args.isEmpty ? "show" : args.removeFirst()
    let v4 = options.family != .inet6
    do {
        switch verb {
        case "add", "a":
            let req = try parseRule(args, ipv4: v4, forDelete: false)
            do {
                try state.policy.add(req.rule, explicitPriority: req.priorityGiven)
            } catch {
                throw RuleFail(error.text, 2)
            }
            return CommandResult()
        case "delete", "del", "d":
            let req = try parseRule(args, ipv4: v4, forDelete: true)
            do {
                try state.policy.delete(ipv4: v4) { r in ruleMatchesDelete(r, req) }
            } catch {
                throw RuleFail(error.text, 2)
            }
            return CommandResult()
        case "flush", "f":
            state.policy.flush(ipv4: v4)
            return CommandResult()
        case "show", "list", "lst", "ls", "l", "s":
            let rules = state.policy.rules(ipv4: v4)
            let prefs = Set(rules.map(\.priority))
            if options.json {
                return CommandResult(stdout: JSONValue.array(rules.map { ruleJSON($0, priorities: prefs) }).rendered(pretty: options.pretty) + "\n")
            }
            return CommandResult(stdout: rules.map { ruleText($0, priorities: prefs) }.joined())
        default:
            return .failure("Command \"\(verb)\" is unknown, try \"ip rule help\".", status: 255)
        }
    } catch let e as RuleFail {
        return e.failure.result
    } catch {
        return .failure("\(error)")
    }
}

private func ruleMatchesDelete(_ r: RoutingRule, _ q: RuleRequest) -> Bool {
    let w = q.rule
    if q.priorityGiven && r.priority != w.priority { return false }
    if q.actionGiven && r.action != w.action {
        if case .table = w.action, case .table = r.action {} else { return false }
    }
    if q.tableGiven, case .table(let a) = w.action, r.action != .table(a) { return false }
    if w.invert && !r.invert { return false }
    if let s = w.source, r.source != s { return false }
    if let d = w.destination, r.destination != d { return false }
    if let i = w.iif, r.iif != i { return false }
    if let o = w.oif, r.oif != o { return false }
    if let m = w.fwmark, r.fwmark != m || r.fwmask != w.fwmask { return false }
    if w.tos != 0 && r.tos != w.tos { return false }
    if let p = w.ipproto, r.ipproto != p { return false }
    if let p = w.sourcePorts, r.sourcePorts != p { return false }
    if let p = w.destinationPorts, r.destinationPorts != p { return false }
    if let s = w.suppressPrefixLength, r.suppressPrefixLength != s { return false }
    return true
}

private func parseRule(_ args: [String], ipv4: Bool, forDelete: Bool) throws -> RuleRequest {
    var rule = RoutingRule(isIPv4: ipv4, priority: 0, action: .table(RouteTableID.main))
    var req = RuleRequest(rule: rule)
    var i = 0
    func value() throws -> String {
        i += 1
        guard i < args.count else { throw RuleFail("Command line is not complete. Try option \"help\"", 255) }
        return args[i]
    }
    func prefix(_ t: String) throws -> IPPrefix? {
        if t == "all" || t == "any" || t == "default" { return nil }
        guard let p = IPPrefix(t), p.isIPv4 == ipv4 else {
            throw RuleFail("Error: any valid prefix is expected rather than \"\(t)\".")
        }
        return p
    }
    func number(_ t: String, _ what: String) throws -> UInt32 {
        let v = t.hasPrefix("0x") ? UInt32(t.dropFirst(2), radix: 16) : UInt32(t)
        guard let n = v else { throw RuleFail("Error: argument \"\(t)\" is wrong: \(what)\n", 255) }
        return n
    }
    func range(_ t: String, _ what: String) throws -> ClosedRange<UInt16> {
        let parts = t.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count <= 2, let a = UInt16(parts[0]), let b = parts.count == 2 ? UInt16(parts[1]) : a, a <= b else {
            throw RuleFail("Error: argument \"\(t)\" is wrong: invalid \(what)\n", 255)
        }
        return a...b
    }
    while i < args.count {
        let tok = args[i]
        switch tok {
        case "not": rule.invert = true
        case "from": rule.source = try prefix(try value())
        case "to": rule.destination = try prefix(try value())
        case "preference", "pref", "priority", "order":
            rule.priority = try number(try value(), "preference value is invalid")
            req.priorityGiven = true
        case "tos", "dsfield":
            let t = try value()
            guard let v = t.hasPrefix("0x") ? UInt8(t.dropFirst(2), radix: 16) : UInt8(t, radix: 16) else {
                throw RuleFail("Error: argument \"\(t)\" is wrong: TOS value is invalid\n", 255)
            }
            rule.tos = v
        case "fwmark":
            let t = try value()
            let parts = t.split(separator: "/", maxSplits: 1)
            rule.fwmark = try number(String(parts[0]), "fwmark value is invalid")
            rule.fwmask = parts.count == 2 ? try number(String(parts[1]), "fwmask value is invalid") : 0xFFFF_FFFF
        case "iif", "dev": rule.iif = try value()
        case "oif": rule.oif = try value()
        case "ipproto":
            let t = try value()
            guard let p = ipProtocolNumber(t) else { throw RuleFail("Error: argument \"\(t)\" is wrong: Invalid \"ipproto\"\n", 255) }
            rule.ipproto = p
        case "sport": rule.sourcePorts = try range(try value(), "sport")
        case "dport": rule.destinationPorts = try range(try value(), "dport")
        case "table", "lookup":
            let t = try value()
            guard let id = RouteTableID.parse(t) else { throw RuleFail("Error: argument \"\(t)\" is wrong: invalid table ID\n", 255) }
            rule.action = .table(id)
            req.tableGiven = true
            req.actionGiven = true
        case "goto":
            rule.action = .goto(try number(try value(), "invalid goto target"))
            req.actionGiven = true
        case "nop": rule.action = .nop; req.actionGiven = true
        case "blackhole": rule.action = .blackhole; req.actionGiven = true
        case "unreachable": rule.action = .unreachable; req.actionGiven = true
        case "prohibit": rule.action = .prohibit; req.actionGiven = true
        case "suppress_prefixlength", "sup_pl":
            let t = try value()
            guard let n = Int(t), n >= -1 else { throw RuleFail("Error: argument \"\(t)\" is wrong: suppress_prefixlength value is invalid\n", 255) }
            rule.suppressPrefixLength = n < 0 ? nil : n
        case "protocol", "proto":
            let t = try value()
            guard let p = RouteProtocol(name: t) else { throw RuleFail("Error: argument \"\(t)\" is wrong: invalid protocol\n", 255) }
            rule.proto = p
        default:
            throw RuleFail("Error: argument \"\(tok)\" is wrong: Failed to parse rule type\n", 255)
        }
        i += 1
    }
    if !forDelete, !req.actionGiven {
        // iproute2 defaults `add` with no action to `lookup main`.
        rule.action = .table(RouteTableID.main)
    }
    req.rule = rule
    return req
}

private func hexMark(_ v: UInt32) -> String { "0x" + String(v, radix: 16) }

private func ruleSelectors(_ r: RoutingRule, priorities: Set<UInt32>?) -> [(String, String, JSONValue)] {
    var f: [(String, String, JSONValue)] = []
    if r.invert { f.append(("not", "not", .null)) }
    if let s = r.source {
        let t = s.isHostPrefix ? "\(s.address)" : "\(s.network)"
        f.append(("src", "from \(t)", .string("\(s.network.address)")))
        if !s.isHostPrefix { f.append(("srclen", "", .number(s.length))) }
    } else {
        f.append(("src", "from all", .string("all")))
    }
    if let d = r.destination {
        let t = d.isHostPrefix ? "\(d.address)" : "\(d.network)"
        f.append(("dst", "to \(t)", .string("\(d.network.address)")))
        if !d.isHostPrefix { f.append(("dstlen", "", .number(d.length))) }
    }
    if r.tos != 0 { f.append(("tos", "tos 0x" + hex2(r.tos), .string("0x" + hex2(r.tos)))) }
    if let m = r.fwmark {
        if r.fwmask == 0xFFFF_FFFF {
            f.append(("fwmark", "fwmark \(hexMark(m))", .string(hexMark(m))))
        } else {
            f.append(("fwmark", "fwmark \(hexMark(m))/\(hexMark(r.fwmask))", .string(hexMark(m))))
            f.append(("fwmask", "", .string(hexMark(r.fwmask))))
        }
    }
    if let i = r.iif { f.append(("iif", "iif \(i)", .string(i))) }
    if let o = r.oif { f.append(("oif", "oif \(o)", .string(o))) }
    if let p = r.ipproto {
        let n = ipProtocolNames[p] ?? "\(p)"
        f.append(("ipproto", "ipproto \(n)", .string(n)))
    }
    for (name, range) in [("sport", r.sourcePorts), ("dport", r.destinationPorts)] {
        guard let rg = range else { continue }
        if rg.lowerBound == rg.upperBound {
            f.append((name, "\(name) \(rg.lowerBound)", .number(rg.lowerBound)))
        } else {
            f.append(("\(name)_start", "\(name) \(rg.lowerBound)-\(rg.upperBound)", .number(rg.lowerBound)))
            f.append(("\(name)_end", "", .number(rg.upperBound)))
        }
    }
    switch r.action {
    case .table(let t):
        let n = RouteTableID.name(t)
        f.append(("table", "lookup \(n)", .string(n)))
        if let s = r.suppressPrefixLength { f.append(("suppress_prefixlen", "suppress_prefixlength \(s)", .number(s))) }
    case .goto(let t):
        f.append(("goto", "goto \(t)", .number(t)))
        // FIB_RULE_UNRESOLVED: no rule has the target priority.
        if let p = priorities, !p.contains(t) { f.append(("unresolved", "[unresolved]", .null)) }
    case .nop: f.append(("nop", "nop", .null))
    case .blackhole: f.append(("action", "blackhole", .string("blackhole")))
    case .unreachable: f.append(("action", "unreachable", .string("unreachable")))
    case .prohibit: f.append(("action", "prohibit", .string("prohibit")))
    }
    if r.proto != .unspec && r.proto != .kernel {
        f.append(("protocol", "proto \(r.proto.name)", .string(r.proto.name)))
    }
    return f
}

/// One `ip rule show` line; `priorities` (of the whole list) marks
/// unresolved gotos.
public func ruleText(_ r: RoutingRule, priorities: Set<UInt32>? = nil) -> String {
    let parts = ruleSelectors(r, priorities: priorities).map(\.1).filter { !$0.isEmpty }
    return "\(r.priority):\t" + parts.joined(separator: " ") + "\n"
}

/// One `ip -j rule show` object.
public func ruleJSON(_ r: RoutingRule, priorities: Set<UInt32>? = nil) -> JSONValue {
    var o = JSONObject()
    o["priority"] = .number(r.priority)
    for (k, _, v) in ruleSelectors(r, priorities: priorities) { o[k] = v }
    return o.value
}
