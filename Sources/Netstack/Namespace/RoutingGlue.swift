// The namespace as the routing code sees it (RouteContext), the lookups the
// IP layers call, and the netdev/inetaddr notifier reactions that keep the
// kernel routes in step (fib_netdev_event, fib_inetaddr_event, addrconf).
import NetWire

extension NetworkNamespace: RouteContext {
    public var deviceIndexes: [Int32] { devices.map(\.ifindex) }
    public var loopbackIndex: Int32 { loopback.ifindex }
    public func deviceName(_ ifindex: Int32) -> String? { device(index: ifindex)?.name }
    public func deviceIndex(named name: String) -> Int32? { device(named: name)?.ifindex }
    public func isUp(_ ifindex: Int32) -> Bool { device(index: ifindex)?.isUp ?? false }
    /// RTNH_F_LINKDOWN semantics: false only for a device that is up without carrier.
    public func hasCarrier(_ ifindex: Int32) -> Bool { device(index: ifindex).map { !$0.isUp || $0.hasCarrier } ?? false }
    public func addresses(_ ifindex: Int32, ipv4: Bool) -> [RouteAddress] {
        guard let d = device(index: ifindex) else { return [] }
        return d.addresses.filter { $0.isIPv4 == ipv4 && !$0.flags.contains(.tentative) && !$0.flags.contains(.dadFailed) }
            .map(NetworkNamespace.routeAddress)
    }
    public func forwarding(_ ifindex: Int32, ipv4: Bool) -> Bool {
        guard let d = device(index: ifindex) else { return false }
        return ipv4 ? d.ipv4.forwarding != 0 : (d.ipv6.forwarding != 0 || ipv6All.forwarding != 0)
    }
    public func multipathHashPolicy(ipv4: Bool) -> Int {
        ipv4 ? config.fibMultipathHashPolicy : config.ipv6FibMultipathHashPolicy
    }
    /// `addresses(_:ipv4:)` contains it, asked without building arrays (the
    /// input route's source validation asks this per packet).
    public func isLocalAddress(_ address: IPAddress) -> Bool {
        if case .v4(let a) = address { return isLocalIPv4(a.rawValue) }
        for d in devices {
            for x in d.addresses where x.address == address {
                if !x.flags.contains(.tentative) && !x.flags.contains(.dadFailed) { return true }
            }
        }
        return false
    }

    static func routeAddress(_ a: InterfaceAddress) -> RouteAddress {
        RouteAddress(a.address, prefixLength: a.prefix.length, scope: a.scope,
                     secondary: a.flags.contains(.secondary), deprecated: a.flags.contains(.deprecated))
    }

    /// ip_route_output_key / ip6_route_output.
    public func routeOutput(_ key: FlowKey) -> Result<RouteDecision, RouteError> {
        // A flow's earlier answer, if nothing changed since (sk_dst_cache).
        let stamp = routeCacheStamp
        if let d = outputRouteCache.lookup(key, stamp: stamp) { return .success(d) }
        // An inout (modify) access borrows the stored state in place: a
        // plain read of a class's stored struct would copy every table.
        let r = NetworkNamespace.withRouting(&routing) { $0.lookupOutput(key, context: self) }
        if case .success(let d) = r { outputRouteCache.store(key, d, stamp: stamp) }
        return r
    }

    /// ip_route_input_noref / ip6_route_input.
    public func routeInput(_ key: FlowKey, device: NetDevice) -> Result<RouteDecision, RouteError> {
        var k = key
        k.iif = device.ifindex
        // Local deliveries are remembered per flow (early demux's sk_rx_dst);
        // forwarded packets have their own fast path (routeInputFast4).
        let stamp = routeCacheStamp
        if let d = inputRouteCache.lookup(k, stamp: stamp) { return .success(d) }
        let r = NetworkNamespace.withRouting(&routing) { $0.lookupInput(k, context: self) }
        if case .success(let d) = r, d.type == .local { inputRouteCache.store(k, d, stamp: stamp) }
        return r
    }

    /// What a cached route decision must have been stored under to be current.
    var routeCacheStamp: RouteCache.Stamp {
        RouteCache.Stamp(routing: routing.generation, configuration: stack.routeConfigurationGeneration)
    }

    /// ip_route_input_noref's common case for a packet to forward, without
    /// a `Route` or `RouteDecision`: `.general` when the general
    /// `routeInput` must answer (it gives the same answer for every packet
    /// this one answers). Checks, as `input4` + `validateSource4` would:
    /// forwarding enabled on `device`, the next hop not back out of
    /// `device` (that may redirect), a source that is none of our addresses.
    @inline(__always)
    public func routeInputFast4(destination: IPv4Address, source: IPv4Address, device: NetDevice) -> FastInputDecision4 {
        guard device.ipv4.forwarding != 0, !source.isUnspecified, !source.isLoopback, !destination.isLoopback
        else { return .general }
        switch NetworkNamespace.withRouting(&routing, { $0.forwardLeaf4(destination: destination.rawValue) }) {
        case .general:
            return .general
        case .noRoute:
            // input4 fails before validating the source: ENETUNREACH.
            return .noRoute
        case .leaf(let leaf):
            guard leaf.device != device.ifindex, !isLocalIPv4(source.rawValue) else { return .general }
            return .forward(RouteDst(leaf: leaf))
        }
    }

    /// Starts loading the FIB data `routeInputFast4` will read for
    /// `destination` (a prefetch, no result): call it a few packets ahead
    /// when a batch's destinations are known.
    @inline(__always)
    public func prefetchRouteInput4(destination: IPv4Address) {
        // The address is taken inside the routing access, the prefetch
        // issued after it (see FIBTable.prefetchAddressV4).
        if let a = NetworkNamespace.withRouting(&routing, { $0.forwardPrefetchAddress4(destination: destination.rawValue) }) {
            fibPrefetch(a, 0, 3, 1)
        }
    }

    @inline(__always)
    static func withRouting<R>(_ state: inout RoutingState, _ body: (inout RoutingState) -> R) -> R { body(&state) }

    /// NETDEV_UP / NETDEV_DOWN: an administratively down device has no
    /// routes; coming up re-adds the routes of its addresses.
    func deviceChanged(_ d: NetDevice) {
        if d.isUp && !d.routesInstalled {
            d.routesInstalled = true
            routing.tables.deviceUp(d.ifindex)
            for a in d.addresses where !a.flags.contains(.tentative) {
                routing.tables.addressAdded(NetworkNamespace.routeAddress(a), device: d.ifindex,
                                            loopback: loopback.ifindex, prefixRoute: !a.flags.contains(.noPrefixRoute))
            }
            for a in d.addresses where !a.isIPv4 && a.flags.contains(.tentative) && !a.flags.contains(.dadFailed) {
                ipv6AddressTentative(a, on: d)
            }
        } else if !d.isUp && d.routesInstalled {
            d.routesInstalled = false
            routing.tables.deviceDown(d.ifindex)
            dadStop(d)
        }
        dadRun(d)
    }

    func deviceGone(_ d: NetDevice) {
        routing.tables.deviceRemoved(d.ifindex)
        udpSockets.removeAll { $0.boundDevice == d.ifindex }
    }

    func addressAdded(_ a: InterfaceAddress, on d: NetDevice) {
        guard let current = d.addresses.first(where: { $0.address == a.address }) else { return }
        if !current.isIPv4 && current.flags.contains(.tentative) {
            // The prefix route now, the local route when DAD completes.
            if d.routesInstalled { ipv6AddressTentative(current, on: d) }
            return
        }
        guard d.isUp else {
            // fib_add_ifaddr adds the local route before it checks IFF_UP.
            if a.isIPv4 {
                try? routing.tables.insert(Route(table: RouteTableID.local, destination: IPPrefix(a.address, length: 32),
                                                 type: .local, scope: .host, proto: .kernel, preferredSource: a.address,
                                                 nextHops: [NextHop(device: d.ifindex)]), mode: .append)
            }
            return
        }
        routing.tables.addressAdded(NetworkNamespace.routeAddress(current), device: d.ifindex,
                                    loopback: loopback.ifindex,
                                    prefixRoute: !a.flags.contains(.noPrefixRoute))
    }

    func addressRemoved(_ a: InterfaceAddress, from d: NetDevice) {
        routing.tables.addressRemoved(NetworkNamespace.routeAddress(a), device: d.ifindex,
                                      remaining: d.addresses.filter { $0.isIPv4 == a.isIPv4 }.map(NetworkNamespace.routeAddress))
    }
}
