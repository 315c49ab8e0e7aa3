// The routes the kernel installs for addresses (fib_add_ifaddr /
// fib_del_ifaddr, addrconf_prefix_route / the IPv6 `local` routes) and the
// clean-up when a device goes down or away (fib_sync_down_dev, fib_flush,
// rt6_sync_down_dev). The namespace calls these on address and link events.
import NetWire

extension RouteTables {
    /// fib_add_ifaddr: `local ADDR`, the prefix route `proto kernel scope
    /// link src ADDR` (unless a host prefix or `noprefixroute`), and for
    /// IPv4 the subnet `broadcast` route (prefix ≤ /30); IPv6 gets `local
    /// ADDR` (metric 0) and the prefix route with metric 256.
    public mutating func addressAdded(_ a: RouteAddress, device: Int32, loopback: Int32 = 1, prefixRoute: Bool = true) {
        let local = RouteTableID.local
        if case .v4(let v4) = a.address {
            let host = IPPrefix(a.address, length: 32)
            try? insert(Route(table: local, destination: host, type: .local, scope: .host, proto: .kernel,
                              preferredSource: a.address, nextHops: [NextHop(device: device)]), mode: .append)
            guard !a.secondary else { return }
            let net = a.prefix
            // On a loopback device the prefix route is RTN_LOCAL in the local
            // table (every address in it is ours), for any prefix, not only
            // 127/8; `noprefixroute` leaves it out either way.
            let onLoopback = device == loopback
            if prefixRoute && a.prefixLength < 32 && !onLoopback {
                try? insert(Route(table: RouteTableID.main, destination: net, scope: .link, proto: .kernel,
                                  preferredSource: a.address, nextHops: [NextHop(device: device)]), mode: .append)
            }
            if onLoopback && a.prefixLength < 32 && (prefixRoute || v4.isLoopback) {
                try? insert(Route(table: local, destination: net, type: .local, scope: .host, proto: .kernel,
                                  preferredSource: a.address, nextHops: [NextHop(device: device)]), mode: .append)
            }
            if a.prefixLength <= 30 {
                let bcast = IPv4Address(rawValue: v4.rawValue | ~IPv4Address.mask(prefixLength: a.prefixLength))
                try? insert(Route(table: local, destination: IPPrefix(.v4(bcast), length: 32), type: .broadcast, scope: .link,
                                  proto: .kernel, preferredSource: a.address, nextHops: [NextHop(device: device)]), mode: .append)
            }
        } else {
            try? insert(Route(table: local, destination: IPPrefix(a.address, length: 128), type: .local, scope: .universe,
                              proto: .kernel, metric: 0, nextHops: [NextHop(device: device)], preference: 0), mode: .append)
            if prefixRoute && a.prefixLength < 128 {
                try? insert(Route(table: RouteTableID.main, destination: a.prefix, scope: .universe, proto: .kernel, metric: 256,
                                  nextHops: [NextHop(device: device)], preference: 0), mode: .append)
            }
        }
    }

    /// fib_del_ifaddr: removes what `addressAdded` installed for this
    /// address. `remaining` are the device's other addresses (a broadcast
    /// or prefix route shared with another address stays).
    public mutating func addressRemoved(_ a: RouteAddress, device: Int32, remaining: [RouteAddress]) {
        let others = remaining.filter { $0.address.isIPv4 == a.address.isIPv4 && $0.address != a.address }
        removeAll { r in
            guard r.proto == .kernel, r.nextHops.first?.device == device else { return false }
            if r.type == .local && r.destination.isHostPrefix && r.destination.address == a.address { return true }
            if a.address.isIPv4 {
                guard r.preferredSource == a.address else { return false }
                if r.type == .broadcast { return !others.contains { $0.prefix == a.prefix } }
                return r.destination == a.prefix
            }
            return r.destination == a.prefix && r.metric == 256 && !others.contains { $0.prefix == a.prefix }
        }
    }

    /// NETDEV_DOWN: routes whose every next hop uses `device` are removed
    /// (IPv4 fib_flush, IPv6 fib6_ifdown); multipath routes keep their
    /// other next hops, with this one marked `dead linkdown`.
    public mutating func deviceDown(_ device: Int32) {
        removeAll { r in !r.nextHops.isEmpty && r.nextHops.allSatisfy { $0.device == device } }
        forEachTable { t in
            t.updateAll { r in
                for i in r.nextHops.indices where r.nextHops[i].device == device {
                    r.nextHops[i].flags.insert([.dead, .linkdown])
                }
            }
        }
    }

    /// NETDEV_UP (fib_sync_up): next hops through `device` live again. The
    /// caller re-adds the address routes with `addressAdded`.
    public mutating func deviceUp(_ device: Int32) {
        forEachTable { t in
            t.updateAll { r in
                for i in r.nextHops.indices where r.nextHops[i].device == device {
                    r.nextHops[i].flags.remove([.dead, .linkdown])
                }
            }
        }
    }

    /// NETDEV_UNREGISTER: every route through the device goes, multipath
    /// routes included.
    public mutating func deviceRemoved(_ device: Int32) {
        removeAll { r in r.nextHops.contains { $0.device == device } }
    }
}
