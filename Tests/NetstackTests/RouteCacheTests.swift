import Testing
import NetWire
@testable import Netstack

/// The per-namespace route decision cache (Route/RouteCache.swift): a
/// cached answer must always be the answer a fresh lookup gives, so every
/// change a decision depends on has to make it stale.
@Suite struct RouteCacheTests {
    static let b = IPAddress.v4(IPv4Address(10, 0, 0, 2))
    static let far = IPAddress.v4(IPv4Address(192, 0, 2, 9))

    func key(_ d: IPAddress, port: UInt16 = 80) -> FlowKey {
        FlowKey(destination: d, ipproto: 6, sourcePort: 40000, destinationPort: port)
    }

    func fresh(_ ns: NetworkNamespace, _ k: FlowKey) -> Result<RouteDecision, RouteError> {
        NetworkNamespace.withRouting(&ns.routing) { $0.lookupOutput(k, context: ns) }
    }

    @Test func aRepeatedLookupIsAnsweredFromTheCache() throws {
        let (stack, a, _, v0, _) = try twoHosts()
        defer { withExtendedLifetime(stack) {} }
        let k = key(Self.b)
        let first = try a.routeOutput(k).get()
        #expect(first.nextHop.device == v0.ifindex)
        // Same stamp, same key: the cache answers (and equals a fresh lookup).
        #expect(a.outputRouteCache.lookup(k, stamp: a.routeCacheStamp) == first)
        #expect(try a.routeOutput(k).get() == (try fresh(a, k).get()))
        // Another port is another flow: not cached yet.
        #expect(a.outputRouteCache.lookup(key(Self.b, port: 81), stamp: a.routeCacheStamp) == nil)
    }

    @Test func aRouteAddedOrRemovedMakesTheCachedAnswerStale() throws {
        let (stack, a, b, v0, _) = try twoHosts()
        defer { withExtendedLifetime(stack) {} }
        // A second link, and a route to 192.0.2.0/24 over the first.
        let w0 = try a.addLink(name: "w0", kind: .veth, peerName: "w1", peerNamespace: b)
        a.setUp(w0)
        try a.addAddress(InterfaceAddress(prefix: try #require(IPPrefix("10.9.0.1/24"))), to: w0, now: .zero)
        try a.routing.tables.insert(Route(table: RouteTableID.main, destination: try #require(IPPrefix("192.0.2.0/24")),
                                          nextHops: [NextHop(gateway: Self.b, device: v0.ifindex)]), mode: .append)
        let k = key(Self.far)
        #expect(try a.routeOutput(k).get().nextHop.device == v0.ifindex)
        // A more specific route over w0: the next lookup must see it.
        try a.routing.tables.insert(Route(table: RouteTableID.main, destination: try #require(IPPrefix("192.0.2.9/32")),
                                          nextHops: [NextHop(device: w0.ifindex)]), mode: .append)
        #expect(try a.routeOutput(k).get().nextHop.device == w0.ifindex)
        // And gone again.
        _ = a.routing.tables.removeAll(where: { $0.destination.length == 32 && $0.table == RouteTableID.main })
        #expect(try a.routeOutput(k).get().nextHop.device == v0.ifindex)
    }

    @Test func aDeviceGoingDownOrAnAddressGoingAwayMakesItStale() throws {
        let (stack, a, _, v0, _) = try twoHosts()
        defer { withExtendedLifetime(stack) {} }
        let k = key(Self.b)
        let d = try a.routeOutput(k).get()
        #expect(d.source == .v4(IPv4Address(10, 0, 0, 1)))
        // A second address on the same prefix does not change the preferred
        // source, but the answer must still be recomputed, not trusted.
        let stamp = a.routeCacheStamp
        try a.addAddress(InterfaceAddress(prefix: try #require(IPPrefix("10.0.0.7/24"))), to: v0, now: .zero)
        #expect(a.routeCacheStamp != stamp)
        #expect(try a.routeOutput(k).get() == (try fresh(a, k).get()))
        // Deleting the primary takes its secondaries and the prefix route
        // with it (promote_secondaries is off): unreachable, cached or not.
        try a.deleteAddress(try #require(IPPrefix("10.0.0.1/24")), from: v0)
        #expect((try? fresh(a, k).get()) == nil)
        #expect((try? a.routeOutput(k).get()) == nil)
        try a.addAddress(InterfaceAddress(prefix: try #require(IPPrefix("10.0.0.7/24"))), to: v0, now: .zero)
        #expect(try a.routeOutput(k).get().source == .v4(IPv4Address(10, 0, 0, 7)))
        a.setDown(v0)
        // No route once the device is down (the connected route went with it).
        #expect((try? a.routeOutput(k).get()) == nil)
        #expect((try? fresh(a, k).get()) == nil)
    }

    @Test func localDeliveryIsCachedAndForgottenWhenTheAddressGoes() throws {
        let (stack, _, b, _, v1) = try twoHosts()
        defer { withExtendedLifetime(stack) {} }
        var k = FlowKey(destination: Self.b, source: .v4(IPv4Address(10, 0, 0, 1)), ipproto: 6,
                        sourcePort: 40000, destinationPort: 80)
        #expect(try b.routeInput(k, device: v1).get().type == .local)
        k.iif = v1.ifindex
        #expect(b.inputRouteCache.lookup(k, stamp: b.routeCacheStamp)?.type == .local)
        try b.deleteAddress(try #require(IPPrefix("10.0.0.2/24")), from: v1)
        #expect((try? b.routeInput(k, device: v1).get().type) != .local)
    }

    @Test func aRuleChangeMakesItStale() throws {
        let (stack, a, _, _, _) = try twoHosts()
        defer { withExtendedLifetime(stack) {} }
        let k = key(Self.b)
        #expect(try a.routeOutput(k).get().table == RouteTableID.main)
        let g = a.routing.generation
        // ip rule add to 10.0.0.2 prohibit
        var rules = a.routing.policy.rules4
        var r = RoutingRule.defaults(ipv4: true)[0]
        r.priority = 100
        r.destination = IPPrefix(Self.b, length: 32)
        r.action = .prohibit
        rules.insert(r, at: 1)
        a.routing.policy.rules4 = rules
        #expect(a.routing.generation != g)
        #expect(a.routeOutput(k).map(\.type) == fresh(a, k).map(\.type))
        #expect((try? a.routeOutput(k).get()) == nil)
    }
}
