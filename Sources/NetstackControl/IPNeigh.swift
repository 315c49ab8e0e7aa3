// `ip neigh` (iproute2 6.1 ip/ipneigh.c): add | del | change | replace |
// show | flush, text and -j JSON exactly as iproute2 prints them, errors
// worded as iproute2 and the kernel's rtnetlink word them, with the same
// exit statuses (1 for iproute2's own failures, 2 for kernel refusals, 255
// for usage errors).
//
// Entries print in (device, address) order, IPv4 table first; the kernel
// prints in hash-bucket order, which no one should rely on.
import NetWire
import Netstack

/// The global `ip` options `ip neigh` reads (a stand-in until the shared
/// IPOptions exists: same fields).
public struct IPNeighOptions: Sendable {
    /// -4 / -6; nil for both.
    public var family: NeighbourFamily?
    public var json = false
    public var pretty = false
    /// The number of -s flags.
    public var stats = 0
    public init(family: NeighbourFamily? = nil, json: Bool = false, pretty: Bool = false, stats: Int = 0) {
        self.family = family
        self.json = json
        self.pretty = pretty
        self.stats = stats
    }
}

/// Device names ↔ indexes (ll_name_to_index / ll_index_to_name).
public protocol IPNeighDevices {
    func index(of name: String) -> Int32?
    func name(of index: Int32) -> String?
}

public enum IPNeigh {
    /// Runs `ip [options] neigh ARGS…` against the two tables.
    public static func run(_ args: [String], options: IPNeighOptions, ipv4: NeighbourTable, ipv6: NeighbourTable,
                           devices: some IPNeighDevices, now: Instant,
                           into sink: inout some NeighbourSink & ~Copyable) -> CommandResult {
        do throws(CommandFailure) {
            guard let verb = args.first else {
                return try show([], flush: false, options, ipv4, ipv6, devices, now, &sink)
            }
            let rest = Array(args.dropFirst())
            if matches(verb, "add") { return try modify(rest, create: true, replace: false, exclusive: true, delete: false, options, ipv4, ipv6, devices, now, &sink) }
            if matches(verb, "change") || verb == "chg" { return try modify(rest, create: false, replace: true, exclusive: false, delete: false, options, ipv4, ipv6, devices, now, &sink) }
            if matches(verb, "replace") { return try modify(rest, create: true, replace: true, exclusive: false, delete: false, options, ipv4, ipv6, devices, now, &sink) }
            if matches(verb, "delete") { return try modify(rest, create: false, replace: false, exclusive: false, delete: true, options, ipv4, ipv6, devices, now, &sink) }
            if matches(verb, "show") || matches(verb, "lst") || matches(verb, "list") {
                return try show(rest, flush: false, options, ipv4, ipv6, devices, now, &sink)
            }
            if matches(verb, "flush") { return try show(rest, flush: true, options, ipv4, ipv6, devices, now, &sink) }
            if matches(verb, "help") { return usage }
            return .failure("Command \"\(verb)\" is unknown, try \"ip neigh help\".", status: 255)
        } catch {
            return error.result
        }
    }

    static let usage = CommandResult.failure("""
        Usage: ip neigh { add | del | change | replace }
                        { ADDR [ lladdr LLADDR ] [ nud STATE ] proxy ADDR }
                        [ dev DEV ] [ router ] [ use ] [ managed ] [ extern_learn ]
                        [ protocol PROTO ]

        \tip neigh { show | flush } [ proxy ] [ to PREFIX ] [ dev DEV ] [ nud STATE ]
        \t\t\t\t  [ vrf NAME ] [ nomaster ]
        \tip neigh get { ADDR | proxy ADDR } dev DEV

        STATE := { delay | failed | incomplete | noarp | none |
                   permanent | probe | reachable | stale }
        """, status: 255)

    /// iproute2's matches(): `arg` is a non-empty prefix of `word`.
    static func matches(_ arg: String, _ word: String) -> Bool { !arg.isEmpty && word.hasPrefix(arg) }

    static let incomplete = CommandFailure.incompleteCommandLine

    /// nud_state_a2n; nil for a bad name.
    static func nudState(_ arg: String) -> NUDState? {
        if matches(arg, "permanent") { return .permanent }
        if matches(arg, "reachable") { return .reachable }
        switch arg {
        case "noarp": return .noarp
        case "none": return NUDState.none
        case "stale": return .stale
        case "incomplete": return .incomplete
        case "delay": return .delay
        case "probe": return .probe
        default: break
        }
        if matches(arg, "failed") { return .failed }
        if let n = UInt16(arg), n < 0x100, n & (n &- 1) == 0 { return NUDState(rawValue: n) }
        return nil
    }

    static func familyName(_ f: NeighbourFamily?) -> String {
        switch f {
        case .ipv4: "inet"
        case .ipv6: "inet6"
        case nil: "any valid"
        }
    }

    /// get_addr: exits 1 with iproute2's message.
    static func address(_ text: String, _ family: NeighbourFamily?) throws(CommandFailure) -> IPAddress {
        guard let a = IPAddress(text), family == nil || (family == .ipv4) == a.isIPv4 else {
            throw CommandFailure("Error: \(familyName(family)) address is expected rather than \"\(text)\".")
        }
        return a
    }

    static func modify(_ args: [String], create: Bool, replace: Bool, exclusive: Bool, delete: Bool,
                       _ o: IPNeighOptions, _ v4: NeighbourTable, _ v6: NeighbourTable, _ devices: some IPNeighDevices,
                       _ now: Instant, _ sink: inout some NeighbourSink & ~Copyable) throws(CommandFailure) -> CommandResult {
        var state = NUDState.permanent
        var flags: NeighbourFlags = []
        var dev: String?
        var dst: IPAddress?
        var lla: String?
        var proto: UInt8 = 0
        var i = 0
        func next() throws(CommandFailure) -> String {
            i += 1
            guard i < args.count else { throw incomplete }
            return args[i]
        }
        while i < args.count {
            let a = args[i]
            if matches(a, "lladdr") {
                let v = try next()
                if lla != nil { throw CommandFailure("Error: duplicate \"lladdr\": \"\(v)\" is the second value.", status: 255) }
                lla = v
            } else if a == "nud" {
                let v = try next()
                guard let s = nudState(v) else {
                    throw CommandFailure("Error: argument \"\(v)\" is wrong: nud state is bad", status: 255)
                }
                state = s
            } else if matches(a, "proxy") {
                let v = try next()
                if matches(v, "help") { return usage }
                if dst != nil { throw CommandFailure("Error: duplicate \"address\": \"\(v)\" is the second value.", status: 255) }
                dst = try address(v, o.family)
                flags.insert(.proxy)
            } else if a == "router" {
                flags.insert(.router)
            } else if a == "use" {
                flags.insert(.use)
            } else if matches(a, "extern_learn") {
                flags.insert(.externLearned)
            } else if a == "dev" {
                dev = try next()
            } else if matches(a, "protocol") {
                let v = try next()
                guard let p = RouteProtocol(name: v) else {
                    throw CommandFailure("Error: argument \"\(v)\" is wrong: \"protocol\" value is invalid\n", status: 255)
                }
                proto = p.rawValue
            } else {
                var v = a
                if a == "to" { v = try next() }
                if matches(v, "help") { v = try next() }
                if dst != nil { throw CommandFailure("Error: either \"to\" is duplicate, or \"\(v)\" is a garbage.", status: 255) }
                dst = try address(v, o.family)
            }
            i += 1
        }
        guard let dst, dev != nil || flags.contains(.proxy) else {
            throw CommandFailure("Device and destination are required arguments.", status: 255)
        }
        var mac: MACAddress?
        if let lla, lla != "null" {
            guard let m = MACAddress(lla) else { throw CommandFailure("\"\(lla)\" is invalid lladdr.") }
            mac = m
        }
        var index: Int32 = 0
        if let dev {
            guard let x = devices.index(of: dev) else { throw CommandFailure("Cannot find device \"\(dev)\"") }
            index = x
        }
        let table = dst.isIPv4 ? v4 : v6
        let result: Result<Void, NeighbourError>
        if flags.contains(.proxy) {
            result = delete ? table.deleteProxy(device: index, address: dst)
                : table.addProxy(device: index, address: dst, exclusive: exclusive)
        } else if delete {
            result = table.delete(device: index, address: dst, into: &sink)
        } else {
            result = table.add(device: index, address: dst, linkAddress: mac, state: state, flags: flags, proto: proto,
                               create: create, replace: replace, exclusive: exclusive, now: now, into: &sink)
        }
        if case .failure(let e) = result { throw CommandFailure(e.message, status: 2) }
        return CommandResult()
    }

    struct Filter {
        var family: NeighbourFamily?
        var index: Int32 = 0
        var state: UInt32
        var prefix: IPPrefix?
        var proxy = false
        var unused = false
    }

    static func show(_ args: [String], flush: Bool, _ o: IPNeighOptions, _ v4: NeighbourTable, _ v6: NeighbourTable,
                     _ devices: some IPNeighDevices, _ now: Instant,
                     _ sink: inout some NeighbourSink & ~Copyable) throws(CommandFailure) -> CommandResult {
        var f = Filter(family: o.family, state: flush ? ~UInt32(0x80 | 0x40) : 0xFF & ~UInt32(0x40))
        if flush && args.isEmpty { throw CommandFailure("Flush requires arguments.") }
        var dev: String?
        var stateGiven = false
        var i = 0
        func next() throws(CommandFailure) -> String {
            i += 1
            guard i < args.count else { throw incomplete }
            return args[i]
        }
        while i < args.count {
            let a = args[i]
            if a == "dev" {
                let v = try next()
                if dev != nil { throw CommandFailure("Error: duplicate \"dev\": \"\(v)\" is the second value.", status: 255) }
                dev = v
            } else if a == "unused" {
                f.unused = true
            } else if a == "nud" {
                let v = try next()
                if !stateGiven { stateGiven = true; f.state = 0 }
                var s: UInt32
                if let n = nudState(v) {
                    s = UInt32(n.rawValue)
                } else {
                    guard v == "all" else { throw CommandFailure("Error: argument \"\(v)\" is wrong: nud state is bad", status: 255) }
                    s = ~0
                    if flush { s &= ~UInt32(0x40) }
                }
                if s == 0 { s = 0x100 }
                f.state |= s
            } else if a == "proxy" {
                f.proxy = true
            } else {
                var v = a
                if a == "to" { v = try next() }
                if matches(v, "help") { return usage }
                guard let p = IPPrefix(v), f.family == nil || (f.family == .ipv4) == p.isIPv4 else {
                    throw CommandFailure("Error: \(familyName(f.family)) prefix is expected rather than \"\(v)\".")
                }
                f.prefix = p
                if f.family == nil { f.family = p.isIPv4 ? .ipv4 : .ipv6 }
            }
            i += 1
        }
        if let dev {
            guard let x = devices.index(of: dev) else { throw CommandFailure("Cannot find device \"\(dev)\"") }
            f.index = x
        }
        var tables: [NeighbourTable] = []
        if f.family != .ipv6 { tables.append(v4) }
        if f.family != .ipv4 { tables.append(v6) }

        if f.proxy {
            var records: [Record] = []
            for t in tables {
                for key in t.proxies.sorted() where selected(key, f) {
                    records.append(Record(key: key, state: .none, flags: .proxy, linkAddress: nil, stats: nil))
                }
            }
            if flush {
                for r in records {
                    _ = (r.key.address.isIPv4 ? v4 : v6).deleteProxy(device: r.key.device, address: r.key.address)
                }
                return flushReport(count: records.count, o)
            }
            return render(records, o, filterIndex: f.index, devices)
        }

        var records: [Record] = []
        for t in tables {
            for e in t.entries() where selected(e.key, f) {
                let state = UInt32(e.state.rawValue)
                if state & f.state == 0 && !e.flags.contains(.proxy) && !e.flags.contains(.externLearned)
                    && (state != 0 || f.state & 0x100 == 0) { continue }
                if f.unused && e.referenceCount != 0 { continue }
                records.append(Record(entry: e, now: now))
            }
        }
        if flush {
            for r in records {
                _ = (r.key.address.isIPv4 ? v4 : v6).delete(device: r.key.device, address: r.key.address, into: &sink)
            }
            return flushReport(count: records.count, o)
        }
        return render(records, o, filterIndex: f.index, devices)
    }

    static func selected(_ key: NeighbourKey, _ f: Filter) -> Bool {
        if f.index != 0 && key.device != f.index { return false }
        if let p = f.prefix, !p.contains(key.address) { return false }
        return true
    }

    static func flushReport(count: Int, _ o: IPNeighOptions) -> CommandResult {
        guard o.stats > 0 else { return CommandResult() }
        if count == 0 { return CommandResult(stdout: "Nothing to flush.\n") }
        return CommandResult(stdout: "\n*** Round 1, deleting \(count) entries ***\n*** Flush is complete after 1 round ***\n")
    }

    /// One line of `ip neigh show` (RTM_NEWNEIGH as print_neigh reads it).
    public struct Record: Sendable {
        public var key: NeighbourKey
        public var state: NUDState
        public var flags: NeighbourFlags
        public var linkAddress: MACAddress?
        /// refcnt, used, confirmed, updated (seconds ago), probes; nil for proxies.
        public var stats: (refcnt: Int, used: Int64, confirmed: Int64, updated: Int64, probes: Int)?
        public var proto: UInt8 = 0

        init(key: NeighbourKey, state: NUDState, flags: NeighbourFlags, linkAddress: MACAddress?,
             stats: (refcnt: Int, used: Int64, confirmed: Int64, updated: Int64, probes: Int)?) {
            self.key = key
            self.state = state
            self.flags = flags
            self.linkAddress = linkAddress
            self.stats = stats
        }

        public init(entry e: NeighbourEntry, now: Instant) {
            func ago(_ t: Instant) -> Int64 { max(0, (now - t).nanoseconds / 1_000_000_000) }
            self.init(key: e.key, state: e.state, flags: e.flags, linkAddress: e.linkAddress,
                      stats: (e.referenceCount, ago(e.used), ago(e.confirmed), ago(e.updated), e.probes))
            proto = e.proto
        }
    }

    /// print_neigh for a dump, text or JSON.
    public static func render(_ records: [Record], _ o: IPNeighOptions, filterIndex: Int32,
                              _ devices: some IPNeighDevices) -> CommandResult {
        if o.json {
            var items: [JSONValue] = []
            for r in records {
                var j = JSONObject()
                j["dst"] = .string(r.key.address.description)
                if filterIndex == 0 && r.key.device != 0 {
                    j["dev"] = .string(devices.name(of: r.key.device) ?? "if\(r.key.device)")
                }
                if let m = r.linkAddress { j["lladdr"] = .string(m.description) }
                if r.flags.contains(.router) { j["router"] = .null }
                if r.flags.contains(.proxy) { j["proxy"] = .null }
                if r.flags.contains(.externLearned) { j["extern_learn"] = .null }
                if o.stats > 0, let s = r.stats {
                    if s.refcnt != 0 { j["refcnt"] = .number(s.refcnt) }
                    j["used"] = .number(s.used)
                    j["confirmed"] = .number(s.confirmed)
                    j["updated"] = .number(s.updated)
                    j["probes"] = .number(s.probes)
                }
                if r.state != .none {
                    j["state"] = .array(NUDState.printOrder.filter { r.state.contains($0.0) }.map { .string($0.1) })
                }
                if r.proto != 0 { j["protocol"] = .string(RouteProtocol(rawValue: r.proto).name) }
                items.append(j.value)
            }
            return CommandResult(stdout: JSONValue.array(items).rendered(pretty: o.pretty) + "\n")
        }
        var out = ""
        for r in records {
            out += "\(r.key.address) "
            if filterIndex == 0 && r.key.device != 0 {
                out += "dev \(devices.name(of: r.key.device) ?? "if\(r.key.device)") "
            }
            if let m = r.linkAddress { out += "lladdr \(m) " }
            if r.flags.contains(.router) { out += "router " }
            if r.flags.contains(.proxy) { out += "proxy " }
            if r.flags.contains(.externLearned) { out += "extern_learn " }
            if o.stats > 0, let s = r.stats {
                if s.refcnt != 0 { out += " ref \(s.refcnt)" }
                out += " used \(s.used)/\(s.confirmed)/\(s.updated)"
                out += "probes \(s.probes) "
            }
            for (bit, name) in NUDState.printOrder where r.state.contains(bit) { out += "\(name) " }
            if r.proto != 0 { out += "proto \(RouteProtocol(rawValue: r.proto).name) " }
            out += "\n"
        }
        return CommandResult(stdout: out)
    }
}
