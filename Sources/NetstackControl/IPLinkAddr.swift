// `ip link`, `ip addr` and `ip netns`: parsers and printers, text and -j
// JSON, as iproute2 6.1 prints them (ip/iplink.c, ip/ipaddress.c,
// ip/ipnetns.c). Errors are worded as iproute2 words them.
import NetWire
import Netstack

/// iproute2's flag names in print_link_flags order.
private let linkFlagNames: [(DeviceFlags, String)] = [
    (.loopback, "LOOPBACK"), (.broadcast, "BROADCAST"), (.pointToPoint, "POINTOPOINT"),
    (.multicast, "MULTICAST"), (.noARP, "NOARP"), (.allMulti, "ALLMULTI"), (.promisc, "PROMISC"),
    (.noTrailers, "NOTRAILERS"), (.debug, "DEBUG"), (.up, "UP"), (.lowerUp, "LOWER_UP"), (.dormant, "DORMANT"),
]

enum LinkPrinter {
    static func flagNames(_ d: NetDevice) -> [String] {
        let f = d.flags
        var names: [String] = []
        if f.contains(.up) && !f.contains(.running) { names.append("NO-CARRIER") }
        for (flag, name) in linkFlagNames where f.contains(flag) { names.append(name) }
        // M-DOWN: the link (IFLA_LINK, a veth's peer) is down — iproute2
        // resolves it in the viewer's namespace only.
        if let p = d.peer, p.namespace === d.namespace, !p.isUp { names.append("M-DOWN") }
        return names
    }

    static func qdiscName(_ d: NetDevice) -> String {
        d.hasBeenUp ? d.qdisc.kind.rawValue : "noop"
    }

    /// `v0@if2`, `v0@v1`, or just the name.
    static func displayName(_ d: NetDevice, viewer: NetworkNamespace) -> String {
        guard let p = d.peer else { return d.name }
        return p.namespace === viewer ? "\(d.name)@\(p.name)" : "\(d.name)@if\(p.ifindex)"
    }

    /// The first line and the link/ line of `ip link` / `ip addr`.
    static func header(_ d: NetDevice, ns: NetworkNamespace, withMode: Bool, oneline: Bool = false) -> String {
        var s = "\(d.ifindex): \(displayName(d, viewer: ns)): <\(flagNames(d).joined(separator: ","))> mtu \(d.mtu) qdisc \(qdiscName(d)) state \(d.operState.name) "
        if withMode { s += "mode DEFAULT " }
        s += "group default qlen \(d.txQueueLength)"
        s += oneline ? "\\    " : "\n    "
        // ARPHRD_NONE (TUN): no address to print.
        s += d.hasLinkHeader ? "link/\(d.linkTypeName) \(d.mac) brd \(d.broadcastMAC)" : "link/none "
        if let p = d.peer, p.namespace !== ns {
            s += p.namespace.name.isEmpty ? " link-netnsid \(ns.netnsID(of: p.namespace))" : " link-netns \(p.namespace.name)"
        }
        return s
    }

    static func statistics(_ s: DeviceStatistics, level: Int) -> String {
        var cols = ["*X errors:".count, "packets".count, "errors".count, "dropped".count, "overrun".count,
                    "compressed".count]
        func size(_ values: [UInt64]) {
            for (i, v) in values.enumerated() where i < cols.count { cols[i] = max(cols[i], String(v).count) }
        }
        size([s.rxBytes, s.rxPackets, s.rxErrors, s.rxDropped, s.rxMissedErrors, s.multicast])
        size([s.txBytes, s.txPackets, s.txErrors, s.txDropped, s.txCarrierErrors, s.collisions])
        if level > 1 {
            size([0, s.rxLengthErrors, s.rxCRCErrors, s.rxFrameErrors, s.rxFIFOErrors, s.rxOverErrors])
            size([0, 0, s.txAbortedErrors, s.txFIFOErrors, s.txWindowErrors, s.txHeartbeatErrors])
        }
        func pad(_ t: String, _ w: Int) -> String { String(repeating: " ", count: max(0, w - t.count)) + t }
        func nums(_ v: [UInt64]) -> String { "    " + v.enumerated().map { pad(String($1), cols[$0]) + " " }.joined() }
        var out = "\n    RX: \(pad("bytes", cols[0] - 4)) \(pad("packets", cols[1])) \(pad("errors", cols[2])) \(pad("dropped", cols[3])) \(pad("missed", cols[4])) \(pad("mcast", cols[5])) \(pad("", cols[5] - 2))"
        out += "\n" + nums([s.rxBytes, s.rxPackets, s.rxErrors, s.rxDropped, s.rxMissedErrors, s.multicast])
        if level > 1 {
            out += "\n    RX errors:\(pad("length", cols[1])) \(pad("crc", cols[2])) \(pad("frame", cols[3])) \(pad("fifo", cols[4])) \(pad("overrun", cols[5]))"
            out += "\n    " + pad("", cols[0]) + " " + [s.rxLengthErrors, s.rxCRCErrors, s.rxFrameErrors, s.rxFIFOErrors, s.rxOverErrors]
                .enumerated().map { pad(String($1), cols[$0 + 1]) + " " }.joined()
        }
        out += "\n    TX: \(pad("bytes", cols[0] - 4)) \(pad("packets", cols[1])) \(pad("errors", cols[2])) \(pad("dropped", cols[3])) \(pad("carrier", cols[4])) \(pad("collsns", cols[5])) \(pad("", cols[5] - 2))"
        out += "\n" + nums([s.txBytes, s.txPackets, s.txErrors, s.txDropped, s.txCarrierErrors, s.collisions])
        if level > 1 {
            out += "\n    TX errors:\(pad("aborted", cols[1])) \(pad("fifo", cols[2])) \(pad("window", cols[3])) \(pad("heartbt", cols[4])) \(pad("transns", cols[5]))"
            out += "\n    " + pad("", cols[0]) + " " + [s.txAbortedErrors, s.txFIFOErrors, s.txWindowErrors, s.txHeartbeatErrors, 0]
                .enumerated().map { pad(String($1), cols[$0 + 1]) + " " }.joined()
        }
        return out
    }

    static func statisticsJSON(_ s: DeviceStatistics, level: Int) -> JSONValue {
        var rx = JSONObject()
        rx["bytes"] = .uint(s.rxBytes); rx["packets"] = .uint(s.rxPackets); rx["errors"] = .uint(s.rxErrors)
        rx["dropped"] = .uint(s.rxDropped); rx["over_errors"] = .uint(s.rxOverErrors); rx["multicast"] = .uint(s.multicast)
        if level > 1 {
            rx["length_errors"] = .uint(s.rxLengthErrors); rx["crc_errors"] = .uint(s.rxCRCErrors)
            rx["frame_errors"] = .uint(s.rxFrameErrors); rx["fifo_errors"] = .uint(s.rxFIFOErrors)
            rx["missed_errors"] = .uint(s.rxMissedErrors)
        }
        var tx = JSONObject()
        tx["bytes"] = .uint(s.txBytes); tx["packets"] = .uint(s.txPackets); tx["errors"] = .uint(s.txErrors)
        tx["dropped"] = .uint(s.txDropped); tx["carrier_errors"] = .uint(s.txCarrierErrors); tx["collisions"] = .uint(s.collisions)
        if level > 1 {
            tx["aborted_errors"] = .uint(s.txAbortedErrors); tx["fifo_errors"] = .uint(s.txFIFOErrors)
            tx["window_errors"] = .uint(s.txWindowErrors); tx["heartbeat_errors"] = .uint(s.txHeartbeatErrors)
        }
        var o = JSONObject()
        o["rx"] = rx.value
        o["tx"] = tx.value
        return o.value
    }

    static func json(_ d: NetDevice, ns: NetworkNamespace, withMode: Bool, stats: Int) -> JSONObject {
        var o = JSONObject()
        o["ifindex"] = .number(d.ifindex)
        if let p = d.peer {
            if p.namespace === ns { o["link"] = .string(p.name) } else { o["link_index"] = .number(p.ifindex) }
        }
        o["ifname"] = .string(d.name)
        o["flags"] = .array(flagNames(d).map { .string($0) })
        o["mtu"] = .number(d.mtu)
        o["qdisc"] = .string(qdiscName(d))
        o["operstate"] = .string(d.operState.name)
        if withMode { o["linkmode"] = .string("DEFAULT") }
        o["group"] = .string("default")
        o["txqlen"] = .number(d.txQueueLength)
        o["link_type"] = .string(d.linkTypeName)
        if d.hasLinkHeader {
            o["address"] = .string(d.mac.description)
            o["broadcast"] = .string(d.broadcastMAC.description)
        }
        if let p = d.peer, p.namespace !== ns { o["link_netnsid"] = .number(ns.netnsID(of: p.namespace)) }
        if stats > 0 { o["stats64"] = statisticsJSON(d.statistics, level: stats) }
        return o
    }
}

enum AddressPrinter {
    static func family(_ a: InterfaceAddress) -> String { a.isIPv4 ? "inet" : "inet6" }

    /// The addresses of a device in the order `ip addr` lists them: IPv4 in
    /// insertion order, then IPv6 ordered by scope (global first) and, within
    /// a scope, newest first (ipv6_link_dev_addr).
    static func ordered(_ d: NetDevice) -> [InterfaceAddress] {
        // in_dev->ifa_list: primaries in insertion order, then secondaries.
        let v4 = d.addresses.filter { $0.isIPv4 && !$0.flags.contains(.secondary) }
            + d.addresses.filter { $0.isIPv4 && $0.flags.contains(.secondary) }
        let v6 = d.addresses.enumerated().filter { !$0.element.isIPv4 }
            .sorted { a, b in
                let sa = scopeRank(a.element), sb = scopeRank(b.element)
                return sa != sb ? sa < sb : a.offset > b.offset
            }.map(\.element)
        return v4 + v6
    }

    static func scopeRank(_ a: InterfaceAddress) -> Int {
        switch a.scope {
        case .universe: 0
        case .site: 1
        case .link: 2
        default: 3
        }
    }

    static func flagWords(_ a: InterfaceAddress) -> [String] {
        var w: [String] = []
        if a.isIPv4 {
            if a.flags.contains(.secondary) { w.append("secondary") }
        } else {
            if a.flags.contains(.tentative) && !a.flags.contains(.dadFailed) { w.append("tentative") }
            if a.flags.contains(.dadFailed) { w.append("dadfailed"); w.append("tentative") }
            if a.flags.contains(.deprecated) { w.append("deprecated") }
        }
        if a.flags.contains(.nodad) { w.append("nodad") }
        if a.flags.contains(.noPrefixRoute) { w.append("noprefixroute") }
        if !a.flags.contains(.permanent) && !a.isIPv4 { w.append("dynamic") }
        return w
    }

    static func lifetime(_ v: UInt32?) -> String { v.map { "\($0)sec" } ?? "forever" }

    static func text(_ a: InterfaceAddress, device d: NetDevice, oneline: Bool) -> String {
        var s = "    \(family(a)) \(a.address)/\(a.prefix.length) "
        if let b = a.broadcast { s += "brd \(b) " }
        s += "scope \(a.scope.name) "
        for w in flagWords(a) { s += "\(w) " }
        if a.isIPv4 { s += a.label ?? d.name }
        s += oneline ? "\\" : "\n"
        s += "       valid_lft \(lifetime(a.validLifetime)) preferred_lft \(lifetime(a.preferredLifetime))"
        return s
    }

    static func json(_ a: InterfaceAddress, device d: NetDevice) -> JSONValue {
        var o = JSONObject()
        o["family"] = .string(family(a))
        o["local"] = .string(a.address.description)
        o["prefixlen"] = .number(a.prefix.length)
        if let b = a.broadcast { o["broadcast"] = .string(b.description) }
        o["scope"] = .string(a.scope.name)
        if a.flags.contains(.secondary) && a.isIPv4 { o["secondary"] = .bool(true) }
        if !a.isIPv4 {
            if a.flags.contains(.tentative) { o["tentative"] = .bool(true) }
            if a.flags.contains(.dadFailed) { o["dadfailed"] = .bool(true) }
        }
        if a.flags.contains(.nodad) { o["nodad"] = .bool(true) }
        if a.flags.contains(.noPrefixRoute) { o["noprefixroute"] = .bool(true) }
        if !a.flags.contains(.permanent) && !a.isIPv4 { o["dynamic"] = .bool(true) }
        if a.isIPv4 { o["label"] = .string(a.label ?? d.name) }
        o["valid_life_time"] = .uint(UInt64(a.validLifetime ?? 0xFFFF_FFFF))
        o["preferred_life_time"] = .uint(UInt64(a.preferredLifetime ?? 0xFFFF_FFFF))
        return o.value
    }
}
