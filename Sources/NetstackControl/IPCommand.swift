// The `ip` command: global options, then the object (link, addr, route,
// rule, neigh, netns) and its verb, as ip/ip.c dispatches them.
import NetWire
import Netstack

/// `ip` global options (ip/ip.c): -4 -6 -0, -n NS, -j, -p, -s (repeatable),
/// -d, -br, -o, -c (ignored: no colour in labs).
public struct IPGlobalOptions: Sendable, Equatable {
    public var family: Int = 0       // 0 any, 4, 6
    public var namespace: String?
    public var json = false
    public var pretty = false
    public var stats = 0
    public var details = false
    public var brief = false
    public var oneline = false
    public init() {}
}

public enum IPCommand {
    /// Runs `ip ARGS…` (argv without the leading "ip") in `namespace`.
    public static func run(_ argv: [String], stack: Stack, namespace: NetworkNamespace) -> CommandResult {
        // Links, addresses, routes, rules: cached route decisions may be stale.
        defer { stack.routeConfigurationChanged() }
        var o = IPGlobalOptions()
        var i = 0
        while i < argv.count, argv[i].utf8.first == UInt8(ascii: "-"), argv[i] != "-" {
            let a = argv[i]
            switch a {
            case "-n", "-netns", "--netns":  // first: every lab line in a namespace has it
                i += 1
                guard i < argv.count else { return .failure("Option \"\(a)\" requires an argument", status: 255) }
                o.namespace = argv[i]
            case "-4": o.family = 4
            case "-6": o.family = 6
            case "-0": o.family = -1
            case "-j", "-json", "--json": o.json = true
            case "-p", "-pretty", "--pretty": o.pretty = true
            case "-d", "-details", "--details": o.details = true
            case "-br", "-brief", "--brief": o.brief = true
            case "-o", "-oneline", "--oneline": o.oneline = true
            case "-c", "-color", "--color", "-h", "-human", "-N", "-t", "-ts": break
            default:
                if a.hasPrefix("-s") && a.dropFirst().allSatisfy({ $0 == "s" }) {
                    o.stats += a.count - 1
                } else if a == "-stats" || a == "-statistics" {
                    o.stats += 1
                } else {
                    return .failure("Option \"\(a)\" is unknown, try \"ip -help\".", status: 255)
                }
            }
            i += 1
        }
        var ns = namespace
        if let name = o.namespace {
            guard let n = stack.namespace(named: name) else {
                return .failure("Cannot open network namespace \"\(name)\": No such file or directory", status: 255)
            }
            ns = n
        }
        guard i < argv.count else {
            return .failure("Usage: ip [ OPTIONS ] OBJECT { COMMAND | help }", status: 255)
        }
        let object = argv[i]
        let rest = Array(argv[(i + 1)...])
        // utf8.count, not count: every object name is ASCII, so a non-ASCII
        // word fails hasPrefix either way, and counting Characters is slow.
        func matches(_ full: String, min: Int = 1) -> Bool { object.utf8.count >= min && full.hasPrefix(object) }
        if matches("link") { return IPLinkCommand.run(rest, options: o, stack: stack, ns: ns) }
        if matches("address") { return IPAddrCommand.run(rest, options: o, ns: ns) }
        if matches("netns", min: 2) { return IPNetnsCommand.run(rest, options: o, stack: stack) }
        if matches("route") { return ipRoute(rest, options: o.ipOptions, state: &ns.routing, context: ns) }
        if matches("neighbour") || matches("neighbor") {
            var no = IPNeighOptions()
            no.family = o.family == 4 ? .ipv4 : (o.family == 6 ? .ipv6 : nil)
            no.json = o.json
            no.pretty = o.pretty
            no.stats = o.stats
            var sink = ns.neighbourSink
            return IPNeigh.run(rest, options: no, ipv4: ns.arpTable, ipv6: ns.ndTable, devices: NamespaceDevices(ns: ns),
                               now: stack.now, into: &sink)
        }
        if matches("rule", min: 2) { return ipRule(rest, options: o.ipOptions, state: &ns.routing, context: ns) }
        if matches("tuntap", min: 4) || matches("tap", min: 2) { return IPTuntapCommand.run(rest, ns: ns) }
        return .failure("Object \"\(object)\" is unknown, try \"ip help\".", status: 1)
    }

    static func renderJSON(_ items: [JSONValue], _ o: IPGlobalOptions) -> String {
        JSONValue.array(items).rendered(pretty: o.pretty) + "\n"
    }
}

extension KernelError {
    var result: CommandResult { .failure(iproute2Message, status: 2) }
}

enum IPLinkCommand {
    static func run(_ args: [String], options o: IPGlobalOptions, stack: Stack, ns: NetworkNamespace) -> CommandResult {
        let verb = args.first ?? "show"
        let rest = Array(args.dropFirst())
        switch verb {
        case "show", "list", "lst", "sh", "ls", "l": return show(rest, o, ns)
        case "add": return add(rest, o, stack, ns)
        case "delete", "del", "d": return delete(rest, ns)
        case "set", "change", "s": return set(rest, stack, ns)
        default:
            return .failure("Command \"\(verb)\" is unknown, try \"ip link help\".", status: 255)
        }
    }

    static func show(_ args: [String], _ o: IPGlobalOptions, _ ns: NetworkNamespace) -> CommandResult {
        var devName: String?
        var onlyUp = false
        var kind: String?
        var i = 0
        while i < args.count {
            switch args[i] {
            case "dev": i += 1; devName = i < args.count ? args[i] : nil
            case "up": onlyUp = true
            case "type": i += 1; kind = i < args.count ? args[i] : nil
            default: devName = args[i]
            }
            i += 1
        }
        var devices = ns.devices
        if let n = devName {
            guard let d = ns.device(named: n) else { return .failure("Device \"\(n)\" does not exist.", status: 1) }
            devices = [d]
        }
        if onlyUp { devices = devices.filter(\.isUp) }
        if let k = kind { devices = devices.filter { $0.kind.name == k } }
        if o.json {
            return CommandResult(stdout: IPCommand.renderJSON(devices.map {
                LinkPrinter.json($0, ns: ns, withMode: true, stats: o.stats).value
            }, o))
        }
        var out = ""
        for d in devices {
            if o.brief {
                out += pad(LinkPrinter.displayName(d, viewer: ns), 16) + " " + pad(d.operState.name, 14) + " "
                    + (d.hasLinkHeader ? pad(d.mac.description, 17) + " " : "") + "<" + LinkPrinter.flagNames(d).joined(separator: ",") + "> \n"
                continue
            }
            out += LinkPrinter.header(d, ns: ns, withMode: true, oneline: o.oneline)
            if o.stats > 0 { out += LinkPrinter.statistics(d.statistics, level: o.stats) }
            out += "\n"
        }
        return CommandResult(stdout: out)
    }

    static func pad(_ s: String, _ w: Int) -> String { s.count >= w ? s : s + String(repeating: " ", count: w - s.count) }

    static func add(_ args: [String], _ o: IPGlobalOptions, _ stack: Stack, _ ns: NetworkNamespace) -> CommandResult {
        var name: String?
        var kind: String?
        var mtu: Int?, qlen: Int?, mac: MACAddress?
        var peerName: String?, peerNS: NetworkNamespace?, peerMAC: MACAddress?
        // `netns NS` of the new device (rtnl_newlink's dest_net); its veth
        // peer stays in the caller's namespace unless `peer … netns` says.
        var linkNS: NetworkNamespace?
        var i = 0
        var inPeer = false
        while i < args.count {
            let a = args[i]
            func value() -> String? { i + 1 < args.count ? args[i + 1] : nil }
            switch a {
            case "name", "dev":
                guard let v = value() else { return CommandFailure.incompleteCommandLine.result }
                if inPeer { peerName = v } else { name = v }
                i += 1
            case "type":
                guard let v = value() else { return CommandFailure.incompleteCommandLine.result }
                kind = v; i += 1
            case "peer": inPeer = true
            case "mtu":
                guard let v = value(), let n = Int(v) else { return .failure("Error: argument \"\(value() ?? "")\" is wrong: Invalid \"mtu\" value", status: 255) }
                mtu = n; i += 1
            case "txqueuelen", "qlen", "txqlen":
                guard let v = value(), let n = Int(v) else { return .failure("Error: argument \"\(value() ?? "")\" is wrong: Invalid \"txqueuelen\" value", status: 255) }
                qlen = n; i += 1
            case "address":
                guard let v = value(), let m = MACAddress(v) else { return .failure("\"\(value() ?? "")\" is invalid lladdr.", status: 255) }
                if inPeer { peerMAC = m } else { mac = m }
                i += 1
            case "netns":
                guard let v = value() else { return CommandFailure.incompleteCommandLine.result }
                guard let target = stack.namespace(named: v) else { return invalidNetns(v) }
                if inPeer { peerNS = target } else { linkNS = target }
                i += 1
            default:
                if inPeer { peerName = a } else if name == nil { name = a } else {
                    return .failure("Error: either \"dev\" is duplicate, or \"\(a)\" is a garbage.", status: 255)
                }
            }
            i += 1
        }
        guard let k = kind else { return .failure("Not enough information: \"type\" argument is required", status: 255) }
        let dk: DeviceKind
        switch k {
        case "veth": dk = .veth
        case "dummy": dk = .dummy
        default: return .failure("Error: Unknown device type.", status: 2)
        }
        guard let n = name else { return .failure("Not enough information: \"dev\" argument is required.", status: 255) }
        do {
            try (linkNS ?? ns).addLink(name: n, kind: dk, mac: mac, mtu: mtu, txQueueLength: qlen,
                                       peerName: dk == .veth ? peerName : nil, peerNamespace: peerNS ?? ns, peerMAC: peerMAC)
        } catch {
            return error.result
        }
        return CommandResult()
    }

    /// invarg() on a netns that does not exist (netns_get_fd failed).
    static func invalidNetns(_ name: String) -> CommandResult {
        // iproute2 prints an empty line after invarg()'s message.
        CommandResult(stderr: "Error: argument \"\(name)\" is wrong: Invalid \"netns\" value\n\n", status: 255)
    }

    static func delete(_ args: [String], _ ns: NetworkNamespace) -> CommandResult {
        var name: String?
        var i = 0
        while i < args.count {
            if args[i] == "dev" { i += 1 }
            if i < args.count { name = args[i] }
            i += 1
        }
        guard let n = name else { return .failure("Not enough information: \"dev\" argument is required.", status: 255) }
        guard let d = ns.device(named: n) else { return .failure("Cannot find device \"\(n)\"", status: 1) }
        do { try ns.deleteLink(d) } catch { return error.result }
        return CommandResult()
    }

    static func set(_ args: [String], _ stack: Stack, _ ns: NetworkNamespace) -> CommandResult {
        var name: String?
        var i = 0
        enum Change { case up, down, mtu(Int), mac(MACAddress), name(String), netns(NetworkNamespace), qlen(Int), alias(String) }
        var changes: [Change] = []
        while i < args.count {
            let a = args[i]
            func value() -> String? { i + 1 < args.count ? args[i + 1] : nil }
            switch a {
            case "dev": name = value(); i += 1
            case "up": changes.append(.up)
            case "down": changes.append(.down)
            case "mtu":
                guard let v = value(), let n = Int(v) else { return .failure("Error: argument \"\(value() ?? "")\" is wrong: Invalid \"mtu\" value", status: 255) }
                changes.append(.mtu(n)); i += 1
            case "address":
                guard let v = value(), let m = MACAddress(v) else { return .failure("\"\(value() ?? "")\" is invalid lladdr.", status: 255) }
                changes.append(.mac(m)); i += 1
            case "name":
                guard let v = value() else { return CommandFailure.incompleteCommandLine.result }
                changes.append(.name(v)); i += 1
            case "netns":
                guard let v = value() else { return CommandFailure.incompleteCommandLine.result }
                guard let t = stack.namespace(named: v) else { return invalidNetns(v) }
                changes.append(.netns(t)); i += 1
            case "txqueuelen", "qlen", "txqlen":
                guard let v = value(), let n = Int(v) else { return .failure("Error: argument \"\(value() ?? "")\" is wrong: Invalid \"txqueuelen\" value", status: 255) }
                changes.append(.qlen(n)); i += 1
            case "alias":
                guard let v = value() else { return CommandFailure.incompleteCommandLine.result }
                changes.append(.alias(v)); i += 1
            case "arp", "multicast", "promisc", "allmulticast", "dynamic", "trailers":
                i += 1  // on/off flags are accepted but not modelled
            default:
                if name == nil { name = a } else {
                    return .failure("Error: either \"dev\" is duplicate, or \"\(a)\" is a garbage.", status: 255)
                }
            }
            i += 1
        }
        guard let n = name else { return .failure("Not enough information: \"dev\" argument is required.", status: 255) }
        guard let d = ns.device(named: n) else { return .failure("Cannot find device \"\(n)\"", status: 1) }
        // Validate everything first: nothing half-applied.
        for c in changes {
            switch c {
            case .mtu(let m):
                if d.maxMTU != 0 && m > d.maxMTU { return KernelError(.EINVAL, "mtu greater than device maximum").result }
                if m < d.minMTU { return KernelError(.EINVAL, "mtu less than device minimum").result }
            case .mac(let m):
                if m.isMulticast { return KernelError(.EADDRNOTAVAIL).result }
            case .name(let new):
                if new != d.name && ns.device(named: new) != nil { return KernelError(.EEXIST).result }
            case .netns(let t):
                if t !== ns && t.device(named: d.name) != nil { return KernelError(.EEXIST).result }
            default: break
            }
        }
        do {
            for c in changes {
                switch c {
                case .up: ns.setUp(d)
                case .down: ns.setDown(d)
                case .mtu(let m): try ns.setMTU(d, m)
                case .mac(let m): try ns.setMAC(d, m)
                case .name(let new): try ns.rename(d, to: new)
                case .netns(let t): try ns.move(d, to: t)
                case .qlen(let q): d.txQueueLength = q
                case .alias(let s): d.alias = s
                }
            }
        } catch {
            return error.result
        }
        return CommandResult()
    }
}

enum IPAddrCommand {
    static func run(_ args: [String], options o: IPGlobalOptions, ns: NetworkNamespace) -> CommandResult {
        let verb = args.first ?? "show"
        let rest = Array(args.dropFirst())
        switch verb {
        case "show", "list", "lst", "sh", "ls", "l": return show(rest, o, ns)
        case "add", "a": return change(rest, o, ns, add: true)
        case "delete", "del", "d": return change(rest, o, ns, add: false)
        case "flush", "f": return flush(rest, o, ns)
        default: return .failure("Command \"\(verb)\" is unknown, try \"ip address help\".", status: 255)
        }
    }

    static func familyMatches(_ a: InterfaceAddress, _ o: IPGlobalOptions) -> Bool {
        o.family == 0 || (o.family == 4) == a.isIPv4
    }

    static func show(_ args: [String], _ o: IPGlobalOptions, _ ns: NetworkNamespace) -> CommandResult {
        var devName: String?
        var onlyUp = false
        var i = 0
        while i < args.count {
            switch args[i] {
            case "dev": i += 1; devName = i < args.count ? args[i] : nil
            case "up": onlyUp = true
            default: devName = args[i]
            }
            i += 1
        }
        var devices = ns.devices
        if let n = devName {
            guard let d = ns.device(named: n) else { return .failure("Device \"\(n)\" does not exist.", status: 1) }
            devices = [d]
        }
        if onlyUp { devices = devices.filter(\.isUp) }
        if o.json {
            var items: [JSONValue] = []
            for d in devices {
                let addrs = AddressPrinter.ordered(d).filter { familyMatches($0, o) }
                if o.family != 0 && addrs.isEmpty { continue }
                var obj = LinkPrinter.json(d, ns: ns, withMode: false, stats: o.stats)
                obj["addr_info"] = .array(addrs.map { AddressPrinter.json($0, device: d) })
                items.append(obj.value)
            }
            return CommandResult(stdout: IPCommand.renderJSON(items, o))
        }
        var out = ""
        for d in devices {
            let addrs = AddressPrinter.ordered(d).filter { familyMatches($0, o) }
            if o.brief {
                out += IPLinkCommand.pad(LinkPrinter.displayName(d, viewer: ns), 16) + " "
                    + IPLinkCommand.pad(d.operState.name, 14) + " "
                    + addrs.map { "\($0.address)/\($0.prefix.length) " }.joined() + "\n"
                continue
            }
            if o.family != 0 && addrs.isEmpty { continue }
            if o.oneline {
                for a in addrs {
                    out += "\(d.ifindex): \(d.name)" + AddressPrinter.text(a, device: d, oneline: true) + "\n"
                }
                continue
            }
            if o.family == 0 {
                out += LinkPrinter.header(d, ns: ns, withMode: false) + "\n"
            } else {
                var line = "\(d.ifindex): \(LinkPrinter.displayName(d, viewer: ns)): <\(LinkPrinter.flagNames(d).joined(separator: ","))> mtu \(d.mtu) qdisc \(LinkPrinter.qdiscName(d)) state \(d.operState.name) group default qlen \(d.txQueueLength)"
                if let p = d.peer, p.namespace !== ns {
                    line += p.namespace.name.isEmpty ? " link-netnsid \(ns.netnsID(of: p.namespace))" : " link-netns \(p.namespace.name)"
                }
                out += line + "\n"
            }
            for a in addrs { out += AddressPrinter.text(a, device: d, oneline: false) + "\n" }
        }
        return CommandResult(stdout: out)
    }

    static func change(_ args: [String], _ o: IPGlobalOptions, _ ns: NetworkNamespace, add: Bool) -> CommandResult {
        var prefix: IPPrefix?
        var devName: String?
        var broadcast: IPv4Address?
        var broadcastPlus = false
        var scope: RouteScope?
        var label: String?
        var flags: AddressFlags = [.permanent]
        var valid: UInt32?, preferred: UInt32?
        var i = 0
        while i < args.count {
            let a = args[i]
            func value() -> String? { i + 1 < args.count ? args[i + 1] : nil }
            switch a {
            case "dev": devName = value(); i += 1
            case "local": prefix = value().flatMap(IPPrefix.init); i += 1
            case "broadcast", "brd":
                guard let v = value() else { return CommandFailure.incompleteCommandLine.result }
                if v == "+" { broadcastPlus = true } else if v != "-" {
                    guard let b = IPv4Address(v) else { return .failure("Error: inet address is expected rather than \"\(v)\".", status: 1) }
                    broadcast = b
                }
                i += 1
            case "scope":
                guard let v = value(), let s = RouteScope(name: v) else {
                    return .failure("Error: argument \"\(value() ?? "")\" is wrong: invalid scope value.", status: 255)
                }
                scope = s; i += 1
            case "label": label = value(); i += 1
            case "nodad": flags.insert(.nodad)
            case "noprefixroute": flags.insert(.noPrefixRoute)
            case "valid_lft", "preferred_lft":
                guard let v = value() else { return CommandFailure.incompleteCommandLine.result }
                let n: UInt32? = v == "forever" ? nil : UInt32(v)
                if v != "forever" && n == nil { return .failure("Error: argument \"\(v)\" is wrong: \(a) value", status: 255) }
                if a == "valid_lft" { valid = n } else { preferred = n }
                i += 1
            default:
                guard prefix == nil else { return .failure("Error: either \"local\" is duplicate, or \"\(a)\" is a garbage.", status: 255) }
                guard let p = IPPrefix(a) else {
                    return .failure("Error: any valid prefix is expected rather than \"\(a)\".", status: 1)
                }
                prefix = p
            }
            i += 1
        }
        guard let n = devName else { return .failure("Not enough information: \"dev\" argument is required.", status: 1) }
        guard let p = prefix else { return .failure("Not enough information: \"local\" argument is required.", status: 1) }
        guard let d = ns.device(named: n) else { return .failure("Cannot find device \"\(n)\"", status: 1) }
        if (o.family == 4 && !p.isIPv4) || (o.family == 6 && p.isIPv4) {
            return .failure("Error: an inet prefix is expected rather than \"\(p)\".", status: 1)
        }
        if !add {
            do { try ns.deleteAddress(p, from: d) } catch { return error.result }
            return CommandResult()
        }
        if broadcastPlus, case .v4(let a) = p.address, p.length < 31 {
            broadcast = IPv4Address(rawValue: a.rawValue | ~IPv4Address.mask(prefixLength: p.length))
        }
        if valid != nil && preferred == nil { preferred = valid }
        if valid != nil || preferred != nil { flags.remove(.permanent) }
        let addr = InterfaceAddress(prefix: p, broadcast: broadcast, scope: scope ?? .universe, label: label,
                                    flags: flags, validLifetime: valid, preferredLifetime: preferred)
        do { try ns.addAddress(addr, to: d, now: ns.stack.now) } catch { return error.result }
        return CommandResult()
    }

    static func flush(_ args: [String], _ o: IPGlobalOptions, _ ns: NetworkNamespace) -> CommandResult {
        var devName: String?
        var i = 0
        while i < args.count {
            if args[i] == "dev" { i += 1 }
            if i < args.count { devName = args[i] }
            i += 1
        }
        guard let n = devName else {
            return .failure("Flush requires arguments.", status: 1)
        }
        guard let d = ns.device(named: n) else { return .failure("Device \"\(n)\" does not exist.", status: 1) }
        for a in d.addresses where familyMatches(a, o) {
            try? ns.deleteAddress(a.prefix, from: d)
        }
        return CommandResult()
    }
}

enum IPNetnsCommand {
    static func run(_ args: [String], options o: IPGlobalOptions, stack: Stack) -> CommandResult {
        let verb = args.first ?? "list"
        switch verb {
        case "list", "show", "ls":
            let names = stack.namespaces.dropFirst().map(\.name)
            if o.json {
                return CommandResult(stdout: IPCommand.renderJSON(names.reversed().map { .object([("name", .string($0))]) }, o))
            }
            return CommandResult(stdout: names.reversed().map { $0 + "\n" }.joined())
        case "add":
            guard args.count >= 2 else { return .failure("No netns name specified", status: 1) }
            do { try stack.addNamespace(args[1]) } catch {
                if error.errno == .EEXIST {
                    return .failure("Cannot create namespace file \"/run/netns/\(args[1])\": File exists", status: 1)
                }
                return .failure("Invalid netns name \"\(args[1])\"", status: 1)
            }
            return CommandResult()
        case "delete", "del":
            guard args.count >= 2 else { return .failure("No netns name specified", status: 1) }
            guard let ns = stack.namespace(named: args[1]) else {
                return .failure("Cannot remove namespace file \"/run/netns/\(args[1])\": No such file or directory", status: 1)
            }
            stack.deleteNamespace(ns)
            return CommandResult()
        default:
            return .failure("Command \"\(verb)\" is unknown, try \"ip netns help\".", status: 255)
        }
    }
}


extension IPGlobalOptions {
    /// The options as the route/rule/neigh printers take them.
    var ipOptions: IPOptions {
        IPOptions(family: family == 4 ? .inet : (family == 6 ? .inet6 : nil), json: json, pretty: pretty,
                  details: details, stats: stats, oneline: oneline, brief: brief)
    }
}

/// Device names ↔ indexes for `ip neigh`.
struct NamespaceDevices: IPNeighDevices {
    let ns: NetworkNamespace
    func index(of name: String) -> Int32? { ns.device(named: name)?.ifindex }
    func name(of index: Int32) -> String? { ns.device(index: index)?.name }
}
