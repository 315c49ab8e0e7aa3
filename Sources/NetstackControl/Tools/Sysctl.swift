// `sysctl` (procps-ng 4.0.2) over a namespace's /proc/sys/net.
// Kernel counterparts: net/ipv4/sysctl_net_ipv4.c, net/ipv4/devinet.c
// (devinet_sysctl_forward, inet_forward_change), net/ipv6/addrconf.c
// (addrconf_fixup_forwarding, addrconf_sysctl_mtu/hop_limit/disable),
// net/core/sysctl_net_core.c.
//
// Values the stack reads live in `NetworkNamespace.config`, `ipv4All`,
// `ipv4Default`, `ipv6All`, `ipv6Default` and each device's `ipv4`/`ipv6`.
// Values Linux has and the stack does not read yet live in this table's
// extras, per namespace, so that reads and writes still round-trip.
// Writes are validated as the kernel's proc handlers validate them
// (proc_dointvec accepts any int; minmax handlers their ranges) and fail
// with EINVAL as the kernel does.
import Netstack
import NetWire

/// The sysctl tree of every namespace of a stack. Keep one per Stack.
public final class SysctlTable {
    /// Values the stack does not read yet: namespace → full name → value.
    private var extras: [ObjectIdentifier: [String: String]] = [:]

    public init() {}

    /// `sysctl ARGS…` in `ns` (argv[0] is "sysctl").
    public func run(_ argv: [String], namespace ns: NetworkNamespace) -> CommandResult {
        // forwarding, rp_filter, …: cached route decisions may be stale.
        defer { ns.stack.routeConfigurationChanged() }
        var out = ""
        var err = ""
        var status: Int32 = 0
        var valuesOnly = false, namesOnly = false, quiet = false, write = false, all = false
        var ignoreUnknown = false, binary = false, deprecated = false
        var operands: [String] = []
        var i = 1
        while i < argv.count {
            let a = argv[i]
            i += 1
            if a.hasPrefix("--") {
                switch a {
                case "--all": all = true
                case "--values": valuesOnly = true
                case "--names": namesOnly = true
                case "--quiet": quiet = true
                case "--write": write = true
                case "--ignore": ignoreUnknown = true
                case "--binary": binary = true
                case "--deprecated": deprecated = true
                default:
                    return .failure("sysctl: unrecognized option '\(a)'\n" + Self.usage)
                }
                continue
            }
            guard a.hasPrefix("-"), a.count > 1 else { operands.append(a); continue }
            for c in a.dropFirst() {
                switch c {
                case "a", "A", "X": all = true
                case "n": valuesOnly = true
                case "N": namesOnly = true
                case "q": quiet = true
                case "w": write = true
                case "e": ignoreUnknown = true
                case "b": binary = true
                case "o", "x": break
                case "p", "f":
                    // -p FILE: a lab has no files to load.
                    let file = i < argv.count ? argv[i] : "/etc/sysctl.conf"
                    return .failure("sysctl: cannot open \"\(file)\": No such file or directory")
                case "h", "d": return CommandResult(stdout: Self.usage)
                case "V": return CommandResult(stdout: "sysctl from procps-ng 4.0.2\n")
                default:
                    return .failure("sysctl: invalid option -- '\(c)'\n" + Self.usage)
                }
            }
        }
        let end = binary ? "" : "\n"
        func show(_ name: String, _ value: String) {
            if namesOnly { out += name + end } else if valuesOnly { out += value + end } else { out += "\(name) = \(value)\(end)" }
        }
        // Listings leave out the deprecated jiffies-valued neigh files
        // unless --deprecated (procps' DEPRECATED list); naming one reads it.
        func listed(_ name: String) -> Bool {
            deprecated || !Self.deprecatedLeaves.contains(where: { name.hasSuffix("." + $0) })
        }
        if all {
            for name in names(in: ns) where listed(name) { if let v = read(name, in: ns) { show(name, v) } }
            return CommandResult(stdout: out, stderr: err, status: status)
        }
        if operands.isEmpty {
            if valuesOnly || namesOnly || quiet || write {
                return .failure("sysctl: no variables specified\nTry `sysctl --help' for more information.")
            }
            return CommandResult(stderr: Self.usage, status: 1)
        }
        for op in operands {
            if let eq = op.firstIndex(of: "=") {
                let name = Self.normalise(String(op[..<eq]).trimmingBlanks)
                let value = String(op[op.index(after: eq)...]).trimmingBlanks
                guard !name.isEmpty else {
                    err += "sysctl: malformed setting \"\(op)\"\n"; status = 1; continue
                }
                guard exists(name, in: ns) else {
                    if !ignoreUnknown { err += "sysctl: cannot stat \(Self.path(name)): No such file or directory\n"; status = 1 }
                    continue
                }
                if let e = set(name, value, in: ns) {
                    if e == .EACCES || e == .EPERM {
                        err += "sysctl: permission denied on key \"\(name)\"\n"
                    } else {
                        err += "sysctl: setting key \"\(name)\": \(e.message)\n"
                    }
                    status = 1
                    continue
                }
                if !quiet { show(name, value) }
            } else if write {
                err += "sysctl: command line(0): invalid syntax, continuing...\n"
                status = 1
            } else {
                let name = Self.normalise(op.trimmingBlanks)
                if let v = read(name, in: ns) {
                    show(name, v)
                } else {
                    let under = names(in: ns).filter { $0.hasPrefix(name + ".") && listed($0) }
                    if under.isEmpty {
                        if !ignoreUnknown { err += "sysctl: cannot stat \(Self.path(name)): No such file or directory\n"; status = 1 }
                    } else {
                        for n in under { if let v = read(n, in: ns) { show(n, v) } }
                    }
                }
            }
        }
        return CommandResult(stdout: out, stderr: err, status: status)
    }

    static let deprecatedLeaves = ["base_reachable_time", "retrans_time"]

    static let usage = """

        Usage:
         sysctl [options] [variable[=value] ...]

        Options:
          -a, --all            display all variables
          -A                   alias of -a
          -X                   alias of -a
              --deprecated     include deprecated parameters to listing
              --dry-run        Print the key and values but do not write
          -b, --binary         print value without new line
          -e, --ignore         ignore unknown variables errors
          -N, --names          print variable names without values
          -n, --values         print only values of the given variable(s)
          -p, --load[=<file>]  read values from file
          -f                   alias of -p
              --system         read values from all system directories
          -r, --pattern <expression>
                               select setting that match expression
          -q, --quiet          do not echo variable set
          -w, --write          enable writing a value to variable
          -o                   does nothing
          -x                   does nothing
          -d                   alias of -h

         -h, --help     display this help and exit
         -V, --version  output version information and exit

        For more details see sysctl(8).

        """

    /// `net/ipv4/ip_forward` → `net.ipv4.ip_forward`.
    static func normalise(_ name: String) -> String {
        var n = name
        while n.hasPrefix("/") { n.removeFirst() }
        if n.hasPrefix("proc/sys/") { n.removeFirst(9) }
        return n.contains("/") ? n.replacingAll("/", with: ".") : n
    }

    static func path(_ name: String) -> String { "/proc/sys/" + name.replacingAll(".", with: "/") }

    // MARK: the tree

    /// Every name in `ns`, in /proc/sys order (each directory sorted by name).
    public func names(in ns: NetworkNamespace) -> [String] {
        entries(ns).map(\.name).sorted { a, b in
            let x = a.split(separator: "."), y = b.split(separator: ".")
            for (p, q) in zip(x, y) where p != q {
                // namecmp(): bytes first, then the shorter name.
                let pu = Array(p.utf8), qu = Array(q.utf8)
                for (u, v) in zip(pu, qu) where u != v { return u < v }
                return pu.count < qu.count
            }
            return x.count < y.count
        }
    }

    /// The value `cat /proc/sys/NAME` shows (without the newline), or nil.
    public func read(_ name: String, in ns: NetworkNamespace) -> String? {
        entries(ns).first { $0.name == name }?.get()
    }

    /// Writes `value` as `echo VALUE > /proc/sys/NAME` does; nil on success.
    @discardableResult
    public func set(_ name: String, _ value: String, in ns: NetworkNamespace) -> Errno? {
        guard let e = entries(ns).first(where: { $0.name == name }) else { return .ENOENT }
        return e.set(value)
    }

    func exists(_ name: String, in ns: NetworkNamespace) -> Bool { entries(ns).contains { $0.name == name } }

    struct Entry {
        let name: String
        let get: () -> String
        let set: (String) -> Errno?
    }

    /// proc_dointvec's parse of one int (base 0, surrounding blanks allowed).
    static func parseInt(_ s: String) -> Int? {
        let t = s.trimmingBlanks
        guard let v = CNumber.strtol(Substring(t), base: 0), v >= Int64(Int32.min), v <= Int64(Int32.max) else { return nil }
        return Int(v)
    }

    static func parseInts(_ s: String) -> [Int]? {
        let parts = s.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" })
        var r: [Int] = []
        for p in parts {
            guard let v = parseInt(String(p)) else { return nil }
            r.append(v)
        }
        return r.isEmpty ? nil : r
    }

    func extraValue(_ ns: NetworkNamespace, _ name: String) -> String? { extras[ObjectIdentifier(ns)]?[name] }
    func storeExtra(_ ns: NetworkNamespace, _ name: String, _ value: String) { setExtra(ns, name, value) }

    private func extra(_ ns: NetworkNamespace, _ name: String, _ initial: String) -> String {
        extras[ObjectIdentifier(ns)]?[name] ?? initial
    }
    private func setExtra(_ ns: NetworkNamespace, _ name: String, _ value: String) {
        extras[ObjectIdentifier(ns), default: [:]][name] = value
    }

    func intEntry(_ name: String, _ get: @escaping () -> Int, _ set: @escaping (Int) -> Void,
                          _ range: ClosedRange<Int>? = nil) -> Entry {
        Entry(name: name, get: { String(get()) }, set: { s in
            guard let v = Self.parseInt(s) else { return .EINVAL }
            if let r = range, !r.contains(v) { return .EINVAL }
            set(v)
            return nil
        })
    }

    func extraInt(_ ns: NetworkNamespace, _ name: String, _ initial: Int, _ range: ClosedRange<Int>? = nil,
                          readOnly: Bool = false) -> Entry {
        Entry(name: name, get: { self.extra(ns, name, String(initial)) }, set: { s in
            if readOnly { return .EACCES }
            guard let v = Self.parseInt(s) else { return .EINVAL }
            if let r = range, !r.contains(v) { return .EINVAL }
            self.setExtra(ns, name, String(v))
            return nil
        })
    }

    /// Per-device IPv4 keys the stack holds (struct ipv4_devconf).
    static var ipv4ConfKeys: [(String, WritableKeyPath<IPv4DeviceConfig, Int>)] { [
        ("accept_local", \.acceptLocal), ("accept_redirects", \.acceptRedirects),
        ("accept_source_route", \.acceptSourceRoute), ("arp_accept", \.arpAccept),
        ("arp_announce", \.arpAnnounce), ("arp_filter", \.arpFilter), ("arp_ignore", \.arpIgnore),
        ("arp_notify", \.arpNotify), ("disable_policy", \.disablePolicy),
        ("ignore_routes_with_linkdown", \.ignoreRoutesWithLinkdown), ("log_martians", \.logMartians),
        ("proxy_arp", \.proxyARP), ("route_localnet", \.routeLocalnet), ("rp_filter", \.rpFilter),
        ("secure_redirects", \.secureRedirects), ("send_redirects", \.sendRedirects),
    ] }
    /// Per-device IPv4 keys Linux has and the stack does not read yet, with
    /// their defaults (lo differs for disable_xfrm); mc_forwarding is read-only.
    static let ipv4ConfExtras: [(String, Int)] = [
        ("arp_evict_nocarrier", 1), ("bc_forwarding", 0), ("bootp_relay", 0), ("disable_xfrm", 0),
        ("drop_gratuitous_arp", 0), ("drop_unicast_in_l2_multicast", 0), ("force_igmp_version", 0),
        ("igmpv2_unsolicited_report_interval", 10000), ("igmpv3_unsolicited_report_interval", 1000),
        ("mc_forwarding", 0), ("medium_id", 0), ("promote_secondaries", 0), ("proxy_arp_pvlan", 0),
        ("shared_media", 1), ("src_valid_mark", 0), ("tag", 0),
    ]
    static var ipv6ConfKeys: [(String, WritableKeyPath<IPv6DeviceConfig, Int>)] { [
        ("accept_dad", \.acceptDAD), ("accept_ra", \.acceptRA), ("accept_redirects", \.acceptRedirects),
        ("addr_gen_mode", \.addrGenMode), ("autoconf", \.autoconf), ("dad_transmits", \.dadTransmits),
        ("router_solicitation_interval", \.routerSolicitationInterval),
        ("router_solicitations", \.routerSolicitations),
    ] }

    /// ip_forward / conf.all.forwarding: inet_forward_change().
    private func ipv4ForwardAll(_ ns: NetworkNamespace, _ v: Int) {
        guard ns.ipv4All.forwarding != v else { return }
        ns.ipv4All.forwarding = v
        ns.ipv4All.acceptRedirects = v == 0 ? 1 : 0
        ns.ipv4Default.forwarding = v
        for d in ns.devices { d.ipv4.forwarding = v }
    }

    /// Keys whose handler is ipv4_doint_and_flush: a `default` write is not
    /// copied to devices (they take `default` only when created).
    static let ipv4FlushingKeys: Set<String> = [
        "disable_xfrm", "disable_policy", "promote_secondaries", "route_localnet", "drop_unicast_in_l2_multicast",
    ]

    /// net.ipv4.conf keys each device wrote itself (in_device->cnf.state),
    /// per namespace and ifindex.
    private var ipv4Explicit: [ObjectIdentifier: [Int32: Set<String>]] = [:]

    /// devinet_conf_proc: a device's write marks the key as its own; a
    /// `default` write is copied to every device that has not
    /// (devinet_copy_dflt_conf). IPv6 has no such copy.
    private func ipv4ConfWritten(_ ns: NetworkNamespace, label: String, device: NetDevice?, key: String,
                                 apply: (NetDevice) -> Void) {
        if let d = device {
            ipv4Explicit[ObjectIdentifier(ns), default: [:]][d.ifindex, default: []].insert(key)
        } else if label == "default" {
            guard !Self.ipv4FlushingKeys.contains(key) else { return }
            for d in ns.devices {
                if ipv4Explicit[ObjectIdentifier(ns)]?[d.ifindex]?.contains(key) ?? false { continue }
                apply(d)
            }
        }
    }

    /// conf.all.forwarding for IPv6: addrconf_fixup_forwarding().
    private func ipv6ForwardAll(_ ns: NetworkNamespace, _ v: Int) {
        ns.ipv6All.forwarding = v
        ns.ipv6Default.forwarding = v
        for d in ns.devices { d.ipv6.forwarding = v }
    }

    func entries(_ ns: NetworkNamespace) -> [Entry] {
        var e: [Entry] = []
        func cfg(_ name: String, _ kp: WritableKeyPath<NamespaceConfig, Int>, _ range: ClosedRange<Int>? = nil) {
            e.append(intEntry(name, { ns.config[keyPath: kp] }, { ns.config[keyPath: kp] = $0 }, range))
        }
        // net.ipv4.neigh.{default,DEV}.* and net.ipv6.neigh.* (neigh_sysctl_register).
        // The `default` directory (and the table-wide gc_* files in it)
        // exists in init_net only: neigh_sysctl_register(NULL, …) runs once.
        for (family, table) in [("ipv4", ns.arpTable), ("ipv6", ns.ndTable)] {
            var dirs: [(String, Int32?)] = ns === ns.stack.initial ? [("default", nil)] : []
            for d in ns.devices { dirs.append((d.name, d.ifindex)) }
            for (dir, index) in dirs {
                for leaf in NeighbourParameters.sysctlNames {
                    let name = "net.\(family).neigh.\(dir).\(leaf)"
                    e.append(Entry(name: name, get: {
                        let p = index.map { table.parameters(device: $0) } ?? table.defaultParameters
                        return p.sysctlValue(leaf, family: table.family).map { String($0) } ?? "0"
                    }, set: { text in
                        guard let v = Self.parseInt(text) else { return .EINVAL }
                        return table.setSysctl(leaf, value: Int64(v), device: index) ? nil : .EINVAL
                    }))
                }
            }
        }
        // net.core (netdev_max_backlog, netdev_budget and busy_poll exist in init_net only).
        e.append(intEntry("net.core.somaxconn", { ns.tcp.somaxconn }, { ns.tcp.somaxconn = $0 }, 0...Int(Int32.max)))
        e.append(extraInt(ns, "net.core.rmem_default", 212_992, 2304...Int(Int32.max)))
        e.append(extraInt(ns, "net.core.rmem_max", 4_194_304, 2304...Int(Int32.max)))
        e.append(extraInt(ns, "net.core.wmem_default", 212_992, 4608...Int(Int32.max)))
        e.append(extraInt(ns, "net.core.wmem_max", 4_194_304, 4608...Int(Int32.max)))
        if ns === ns.stack.initial {
            e.append(extraInt(ns, "net.core.netdev_max_backlog", 1000))
            e.append(extraInt(ns, "net.core.netdev_budget", 300))
            e.append(intEntry("net.core.busy_poll", { ns.stack.busyPollMicroseconds },
                              { ns.stack.busyPollMicroseconds = $0 }, 0...Int(Int32.max)))
        }
        // net.ipv4
        e.append(intEntry("net.ipv4.ip_forward", { ns.ipv4All.forwarding }, { self.ipv4ForwardAll(ns, $0) }))
        cfg("net.ipv4.ip_default_ttl", \.ipDefaultTTL, 1...255)
        cfg("net.ipv4.ip_no_pmtu_disc", \.ipNoPMTUDisc, 0...255)
        cfg("net.ipv4.icmp_echo_ignore_all", \.icmpEchoIgnoreAll, 0...1)
        cfg("net.ipv4.icmp_echo_ignore_broadcasts", \.icmpEchoIgnoreBroadcasts, 0...1)
        cfg("net.ipv4.icmp_ignore_bogus_error_responses", \.icmpIgnoreBogusErrorResponses, 0...1)
        cfg("net.ipv4.icmp_ratelimit", \.icmpRatelimit)
        cfg("net.ipv4.icmp_ratemask", \.icmpRatemask)
        cfg("net.ipv4.icmp_msgs_per_sec", \.icmpMsgsPerSec, 0...Int(Int32.max))
        cfg("net.ipv4.icmp_msgs_burst", \.icmpMsgsBurst, 0...Int(Int32.max))
        cfg("net.ipv4.fib_multipath_hash_policy", \.fibMultipathHashPolicy, 0...3)
        cfg("net.ipv4.ipfrag_time", \.ipfragTime)
        cfg("net.ipv4.ipfrag_max_dist", \.ipfragMaxDist, 0...Int(Int32.max))
        cfg("net.ipv4.udp_rmem_min", \.udpRmemMin, 1...Int(Int32.max))
        e.append(intEntry("net.ipv4.ipfrag_high_thresh", { ns.config.ipfragHighThresh }, { ns.config.ipfragHighThresh = $0 }))
        e.append(intEntry("net.ipv4.ipfrag_low_thresh", { ns.config.ipfragLowThresh }, { ns.config.ipfragLowThresh = $0 }))
        e.append(extraInt(ns, "net.ipv4.ip_unprivileged_port_start", 1024, 0...65535))
        e.append(extraInt(ns, "net.ipv4.ip_nonlocal_bind", 0))
        e.append(extraInt(ns, "net.ipv4.udp_wmem_min", 4096, 1...Int(Int32.max)))
        e.append(extraInt(ns, "net.ipv4.icmp_errors_use_inbound_ifaddr", 0))
        e.append(extraInt(ns, "net.ipv4.fib_multipath_use_neigh", 0, 0...1))
        e.append(extraInt(ns, "net.ipv4.ip_forward_use_pmtu", 0))
        e.append(extraInt(ns, "net.ipv4.fwmark_reflect", 0))
        e.append(extraInt(ns, "net.ipv4.ip_early_demux", 1, 0...1))
        e.append(extraInt(ns, "net.ipv4.route.min_pmtu", 552, 68...Int(Int32.max)))
        e.append(extraInt(ns, "net.ipv4.route.mtu_expires", 600))
        e.append(Entry(name: "net.ipv4.ip_local_port_range", get: {
            "\(ns.config.localPortRange.lowerBound)\t\(ns.config.localPortRange.upperBound)"
        }, set: { s in
            // ipv4_local_port_range(): each 1…65535, low ≤ high, low ≥ ip_unprivileged_port_start.
            guard let v = Self.parseInts(s), v.count <= 2 else { return .EINVAL }
            let low = v[0], high = v.count > 1 ? v[1] : Int(ns.config.localPortRange.upperBound)
            let prot = Int(self.extra(ns, "net.ipv4.ip_unprivileged_port_start", "1024")) ?? 1024
            guard (1...65535).contains(low), (1...65535).contains(high), low <= high, low >= prot else { return .EINVAL }
            ns.config.localPortRange = UInt16(low)...UInt16(high)
            return nil
        }))
        e.append(Entry(name: "net.ipv4.ping_group_range", get: {
            "\(ns.config.pingGroupRange.0)\t\(ns.config.pingGroupRange.1)"
        }, set: { s in
            // ipv4_ping_group_range(): a reversed range means "nobody" (1 0).
            guard let v = Self.parseInts(s), v.count <= 2 else { return .EINVAL }
            let low = v[0], high = v.count > 1 ? v[1] : Int(ns.config.pingGroupRange.1)
            guard low >= 0, high >= 0 else { return .EINVAL }
            ns.config.pingGroupRange = high < low ? (1, 0) : (Int64(low), Int64(high))
            return nil
        }))
        tcpEntries(ns, into: &e)
        // net.ipv4.conf.{all,default,DEV}
        let v4: [(String, ReferenceWritableKeyPath<NetworkNamespace, IPv4DeviceConfig>?, NetDevice?)] =
            [("all", \NetworkNamespace.ipv4All, nil), ("default", \NetworkNamespace.ipv4Default, nil)]
            + ns.devices.map { ($0.name, nil, $0) }
        for (label, nsPath, dev) in v4 {
            let prefix = "net.ipv4.conf.\(label)."
            func get(_ kp: WritableKeyPath<IPv4DeviceConfig, Int>) -> Int {
                if let p = nsPath { return ns[keyPath: p][keyPath: kp] }
                return dev!.ipv4[keyPath: kp]
            }
            func put(_ kp: WritableKeyPath<IPv4DeviceConfig, Int>, _ v: Int) {
                if let p = nsPath { ns[keyPath: p][keyPath: kp] = v } else { dev!.ipv4[keyPath: kp] = v }
            }
            for (k, kp) in Self.ipv4ConfKeys {
                e.append(intEntry(prefix + k, { get(kp) }, { v in
                    put(kp, v)
                    self.ipv4ConfWritten(ns, label: label, device: dev, key: k) { $0.ipv4[keyPath: kp] = v }
                }))
            }
            if label == "all" {
                e.append(intEntry(prefix + "forwarding", { ns.ipv4All.forwarding }, { self.ipv4ForwardAll(ns, $0) }))
            } else {
                e.append(intEntry(prefix + "forwarding", { get(\.forwarding) }, { put(\.forwarding, $0) }))
            }
            for (k, initial) in Self.ipv4ConfExtras {
                if dev?.kind == .loopback && k == "disable_xfrm" {
                    e.append(extraInt(ns, prefix + k, 1))
                } else if dev != nil && !Self.ipv4FlushingKeys.contains(k) && k != "mc_forwarding" {
                    // A device's value is its own once written, else `default`'s
                    // (inherited at creation, copied on each default write).
                    let dflt = "net.ipv4.conf.default." + k
                    e.append(Entry(name: prefix + k, get: {
                        self.extra(ns, prefix + k, self.extra(ns, dflt, String(initial)))
                    }, set: { text in
                        guard let v = Self.parseInt(text) else { return .EINVAL }
                        self.setExtra(ns, prefix + k, String(v))
                        return nil
                    }))
                } else {
                    e.append(extraInt(ns, prefix + k, initial, readOnly: k == "mc_forwarding"))
                }
            }
        }
        // net.ipv6
        cfg("net.ipv6.fib_multipath_hash_policy", \.ipv6FibMultipathHashPolicy, 0...3)
        cfg("net.ipv6.icmp.ratelimit", \.ipv6IcmpRatelimit)
        cfg("net.ipv6.icmp.echo_ignore_all", \.ipv6IcmpEchoIgnoreAll, 0...1)
        let v6: [(String, ReferenceWritableKeyPath<NetworkNamespace, IPv6DeviceConfig>?, NetDevice?)] =
            [("all", \NetworkNamespace.ipv6All, nil), ("default", \NetworkNamespace.ipv6Default, nil)]
            + ns.devices.map { ($0.name, nil, $0) }
        for (label, nsPath, dev) in v6 {
            let prefix = "net.ipv6.conf.\(label)."
            func get(_ kp: WritableKeyPath<IPv6DeviceConfig, Int>) -> Int {
                if let p = nsPath { return ns[keyPath: p][keyPath: kp] }
                return dev!.ipv6[keyPath: kp]
            }
            func put(_ kp: WritableKeyPath<IPv6DeviceConfig, Int>, _ v: Int) {
                if let p = nsPath { ns[keyPath: p][keyPath: kp] = v } else { dev!.ipv6[keyPath: kp] = v }
            }
            for (k, kp) in Self.ipv6ConfKeys {
                e.append(intEntry(prefix + k, { get(kp) }, { put(kp, $0) }))
            }
            // addrconf_sysctl_hop_limit: 1…255; addrconf_sysctl_mtu: IPV6_MIN_MTU…the device's MTU.
            e.append(intEntry(prefix + "hop_limit", { get(\.hopLimit) }, { put(\.hopLimit, $0) }, 1...255))
            let maxMTU = dev.map { max($0.mtu, 1280) } ?? 65575
            e.append(intEntry(prefix + "mtu", { get(\.mtu) }, { put(\.mtu, $0) }, 1280...maxMTU))
            switch (label, dev) {
            case ("all", _):
                e.append(intEntry(prefix + "keep_addr_on_down", { ns.ipv6KeepAddrOnDownAll },
                                  { ns.ipv6KeepAddrOnDownAll = $0 }))
            case (_, let d?):
                e.append(intEntry(prefix + "keep_addr_on_down", { ns.ipv6KeepAddrOnDown(d) },
                                  { ns.setIPv6KeepAddrOnDown(d, $0) }))
            default:
                e.append(intEntry(prefix + "keep_addr_on_down", { ns.ipv6KeepAddrOnDownDefault },
                                  { ns.ipv6KeepAddrOnDownDefault = $0 }))
            }
            if label == "all" {
                e.append(intEntry(prefix + "forwarding", { ns.ipv6All.forwarding }, { self.ipv6ForwardAll(ns, $0) }))
                e.append(intEntry(prefix + "disable_ipv6", { ns.ipv6All.disableIPv6 }, { ns.setIPv6DisabledAll($0) }))
            } else {
                e.append(intEntry(prefix + "forwarding", { get(\.forwarding) }, { put(\.forwarding, $0) }))
                if let d = dev {
                    e.append(intEntry(prefix + "disable_ipv6", { d.ipv6.disableIPv6 }, { ns.setIPv6Disabled(d, $0) }))
                } else {
                    e.append(intEntry(prefix + "disable_ipv6", { get(\.disableIPv6) }, { put(\.disableIPv6, $0) }))
                }
            }
        }
        return e
    }
}

// MARK: net.ipv4.tcp_* (net/ipv4/sysctl_net_ipv4.c ipv4_net_table)

extension SysctlTable {
    /// A key whose value maps (possibly lossily) onto the stack's state.
    /// The written integer is kept so that `sysctl` shows it back (Linux
    /// stores `tcp_sack = 5` as 5); when the state was changed some other
    /// way, the value derived from it is shown instead.
    private func mirrored(_ ns: NetworkNamespace, _ name: String, _ range: ClosedRange<Int>,
                          derive: @escaping () -> Int, apply: @escaping (Int) -> Void,
                          normalise: @escaping (Int) -> Int = { $0 }) -> Entry {
        Entry(name: name, get: {
            let d = derive()
            if let raw = self.extraValue(ns, name).flatMap({ Int($0) }), normalise(raw) == d { return String(raw) }
            return String(d)
        }, set: { s in
            guard let v = Self.parseInt(s), range.contains(v) else { return .EINVAL }
            self.storeExtra(ns, name, String(v))
            apply(v)
            return nil
        })
    }

    /// proc_dou8vec_minmax: 0…255 unless narrower.
    static let u8 = 0...255
    static let anyInt = Int(Int32.min)...Int(Int32.max)

    /// The congestion control algorithms built in, in registration order
    /// (tcp_available_congestion_control; reno is always first).
    static let congestionNames: [(String, TCPCongestionAlgorithm)] = [("reno", .reno), ("cubic", .cubic)]

    func tcpEntries(_ ns: NetworkNamespace, into e: inout [Entry]) {
        let p = "net.ipv4."
        // Flags (u8; any non-zero value turns the feature on).
        func flag(_ key: String, _ kp: WritableKeyPath<TCPConfiguration, Bool>) {
            e.append(mirrored(ns, p + key, Self.u8, derive: { ns.tcp.configuration[keyPath: kp] ? 1 : 0 },
                              apply: { ns.tcp.configuration[keyPath: kp] = $0 != 0 }, normalise: { $0 != 0 ? 1 : 0 }))
        }
        // Seconds (proc_dointvec_jiffies: any int; a negative time acts as 0).
        func seconds(_ key: String, _ kp: WritableKeyPath<TCPConfiguration, TimeDelta>) {
            e.append(mirrored(ns, p + key, Self.anyInt,
                              derive: { Int(ns.tcp.configuration[keyPath: kp].nanoseconds / 1_000_000_000) },
                              apply: { ns.tcp.configuration[keyPath: kp] = .seconds(Int64(max($0, 0))) },
                              normalise: { max($0, 0) }))
        }
        func count(_ key: String, _ kp: WritableKeyPath<TCPConfiguration, Int>, _ range: ClosedRange<Int>) {
            e.append(intEntry(p + key, { ns.tcp.configuration[keyPath: kp] }, { ns.tcp.configuration[keyPath: kp] = $0 }, range))
        }
        flag("tcp_sack", \.sack)
        flag("tcp_timestamps", \.timestamps)
        flag("tcp_window_scaling", \.windowScaling)
        flag("tcp_dsack", \.dsack)
        seconds("tcp_fin_timeout", \.finTimeout)
        seconds("tcp_keepalive_time", \.keepaliveTime)
        seconds("tcp_keepalive_intvl", \.keepaliveInterval)
        count("tcp_keepalive_probes", \.keepaliveProbes, Self.u8)
        // MAX_TCP_SYNCNT is 127.
        count("tcp_syn_retries", \.synRetries, 1...127)
        count("tcp_synack_retries", \.synAckRetries, Self.u8)
        count("tcp_retries2", \.retries2, Self.u8)
        e.append(intEntry(p + "tcp_syncookies", { ns.tcp.syncookies }, { ns.tcp.syncookies = $0 }, Self.u8))
        count("tcp_ecn", \.ecn, 0...2)
        e.append(intEntry(p + "tcp_ecn_fallback", { ns.tcp.configuration.ecnFallback ? 1 : 0 },
                          { ns.tcp.configuration.ecnFallback = $0 != 0 }, 0...1))
        e.append(intEntry(p + "tcp_tw_reuse", { ns.tcp.twReuse }, { ns.tcp.twReuse = $0 }, 0...2))
        // proc_dointvec: any int, per namespace (a new one starts at 4 MiB).
        e.append(intEntry(p + "tcp_limit_output_bytes", { ns.tcp.limitOutputBytes }, { ns.tcp.limitOutputBytes = $0 }, Self.anyInt))
        e.append(intEntry(p + "tcp_tw_reuse_delay", { Int(ns.tcp.twReuseDelay.nanoseconds / 1_000_000) },
                          { ns.tcp.twReuseDelay = .milliseconds(Int64($0)) }, 1...60_000))
        // Stored only: the stack does not read these yet.
        e.append(extraInt(ns, p + "tcp_max_syn_backlog", 2048))
        e.append(extraInt(ns, p + "tcp_no_metrics_save", 0, Self.u8))
        // tcp_rmem / tcp_wmem: three ints, each ≥ 1; a shorter write
        // changes only the leading values, and a bad value fails the write
        // after the values before it were stored (proc_dointvec_minmax on a
        // vector converts and stores one value at a time).
        func memory(_ key: String, _ minimumDefault: Int,
                    _ initial: WritableKeyPath<TCPConfiguration, Int>, _ maximum: WritableKeyPath<TCPConfiguration, Int>) {
            let name = p + key, minName = name + "[0]"
            e.append(Entry(name: name, get: {
                let c = ns.tcp.configuration
                return "\(self.extraValue(ns, minName) ?? String(minimumDefault))\t\(c[keyPath: initial])\t\(c[keyPath: maximum])"
            }, set: { s in
                let words = s.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" })
                guard !words.isEmpty else { return .EINVAL }
                for (i, w) in words.prefix(3).enumerated() {
                    guard let v = Self.parseInt(String(w)), v >= 1 else { return .EINVAL }
                    switch i {
                    case 0: self.storeExtra(ns, minName, String(v))
                    case 1: ns.tcp.configuration[keyPath: initial] = v
                    default: ns.tcp.configuration[keyPath: maximum] = v
                    }
                }
                return nil
            }))
        }
        memory("tcp_rmem", 4096, \.receiveBufferInitial, \.receiveBufferMax)
        memory("tcp_wmem", 4096, \.sendBufferInitial, \.sendBufferMax)
        // tcp_moderate_rcvbuf (u8): receive-buffer autotuning when non-zero.
        e.append(mirrored(ns, p + "tcp_moderate_rcvbuf", Self.u8, derive: { ns.tcp.moderateRcvbuf ? 1 : 0 },
                          apply: { ns.tcp.moderateRcvbuf = $0 != 0 }, normalise: { $0 != 0 ? 1 : 0 }))
        // tcp_mem: the stack-wide limits in pages (min, pressure, max). As
        // in Linux the file exists in the initial namespace only (it is in
        // the global ipv4 table); one account serves every namespace.
        // proc_doulongvec_minmax: a shorter write changes the leading values.
        if ns === ns.stack.initial {
            let m = ns.tcpMemory
            e.append(Entry(name: p + "tcp_mem", get: {
                "\(m.limits.minimum)\t\(m.limits.pressure)\t\(m.limits.maximum)"
            }, set: { s in
                let words = s.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" })
                guard !words.isEmpty else { return .EINVAL }
                for (i, w) in words.prefix(3).enumerated() {
                    guard let v = Self.parseInt(String(w)), v >= 0 else { return .EINVAL }
                    switch i {
                    case 0: m.limits.minimum = v
                    case 1: m.limits.pressure = v
                    default: m.limits.maximum = v
                    }
                }
                return nil
            }))
        }
        // tcp_congestion_control: tcp_set_default_congestion_control();
        // an unknown name is ENOENT (no module to load).
        e.append(Entry(name: p + "tcp_congestion_control", get: {
            let a = ns.tcp.configuration.congestionControl
            return Self.congestionNames.first { $0.1 == a }?.0 ?? "cubic"
        }, set: { s in
            let t = s.trimmingBlanks
            guard let a = Self.congestionNames.first(where: { $0.0 == t })?.1 else { return .ENOENT }
            ns.tcp.configuration.congestionControl = a
            return nil
        }))
        let names = Self.congestionNames.map(\.0).joined(separator: " ")
        // Read-only files: procps reports the failed write as EINVAL.
        e.append(Entry(name: p + "tcp_available_congestion_control", get: { names }, set: { _ in .EINVAL }))
        e.append(extraString(ns, p + "tcp_allowed_congestion_control", names))
    }

    /// tcp_allowed_congestion_control: a list of known names.
    private func extraString(_ ns: NetworkNamespace, _ name: String, _ initial: String) -> Entry {
        Entry(name: name, get: { self.extraValue(ns, name) ?? initial }, set: { s in
            let words = s.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).map(String.init)
            guard words.allSatisfy({ w in Self.congestionNames.contains { $0.0 == w } }) else { return .ENOENT }
            self.storeExtra(ns, name, words.joined(separator: " "))
            return nil
        })
    }
}

extension String {
    func replacingAll(_ a: Character, with b: Character) -> String {
        String(map { $0 == a ? b : $0 })
    }
}

/// `sysctl` as a plain command for callers without a table (extras are not kept).
public func sysctlCommand(_ argv: [String], namespace: NetworkNamespace, table: SysctlTable) -> CommandResult {
    table.run(argv, namespace: namespace)
}
