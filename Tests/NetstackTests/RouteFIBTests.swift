import Netstack
import NetWire
import Testing

private func p(_ s: String) -> IPPrefix { IPPrefix(s)! }
private func a(_ s: String) -> IPAddress { IPAddress(s)! }

private func dev(_ i: Int32, _ gw: String? = nil) -> [NextHop] { [NextHop(gateway: gw.map(a), device: i)] }

@Suite("FIBTable")
struct RouteFIBTests {
    func lookup(_ t: FIBTable, _ d: String, tos: UInt8 = 0, oif: Int32 = 0) -> Route? {
        if case .found(let m) = t.lookup(FIBLookupKey(destination: a(d), tos: tos, oif: oif)) { return m.route }
        return nil
    }

    @Test("longest prefix wins, with and without the IPv4 trie", arguments: [8, 200])
    func longestPrefix(extra: Int) throws {
        var t = FIBTable(id: 254)
        try t.insert(Route(destination: p("10.0.0.0/8"), nextHops: dev(2)), mode: .add)
        try t.insert(Route(destination: p("10.1.0.0/16"), nextHops: dev(3)), mode: .add)
        try t.insert(Route(destination: p("10.1.2.0/24"), nextHops: dev(4)), mode: .add)
        try t.insert(Route(destination: p("10.1.2.128/25"), nextHops: dev(5)), mode: .add)
        try t.insert(Route(destination: p("0.0.0.0/0"), nextHops: dev(6)), mode: .add)
        for i in 0..<extra {  // filler prefixes push the table past the trie threshold
            try t.insert(Route(destination: IPPrefix(.v4(IPv4Address(rawValue: 0xC000_0000 | UInt32(i) << 8)), length: 24), nextHops: dev(7)), mode: .add)
        }
        #expect(lookup(t, "10.1.2.200")?.nextHops[0].device == 5)
        #expect(lookup(t, "10.1.2.1")?.nextHops[0].device == 4)
        #expect(lookup(t, "10.1.3.1")?.nextHops[0].device == 3)
        #expect(lookup(t, "10.2.0.1")?.nextHops[0].device == 2)
        #expect(lookup(t, "11.0.0.1")?.nextHops[0].device == 6)
        // Deleting a prefix exposes the next shorter one.
        var f = FIBTable.DeleteFilter(destination: p("10.1.2.0/24"))
        f.device = 4
        try t.delete(f)
        #expect(lookup(t, "10.1.2.1")?.nextHops[0].device == 3)
        #expect(lookup(t, "10.1.2.200")?.nextHops[0].device == 5)
        try t.delete(FIBTable.DeleteFilter(destination: p("10.1.0.0/16")))
        #expect(lookup(t, "10.1.2.1")?.nextHops[0].device == 2)
    }

    @Test("trie answers equal hash probes on random tables")
    func trieMatchesProbes() throws {
        var rng = SystemRandomNumberGenerator()
        var t = FIBTable(id: 1)
        var prefixes: [IPPrefix] = []
        for _ in 0..<3000 {
            let len = Int.random(in: 0...32, using: &rng)
            let pr = IPPrefix(.v4(IPv4Address(rawValue: UInt32.random(in: 0...UInt32.max, using: &rng))), length: len).network
            try? t.insert(Route(destination: pr, nextHops: dev(2)), mode: .add)
            prefixes.append(pr)
        }
        for pr in prefixes.prefix(1000) { _ = try? t.delete(FIBTable.DeleteFilter(destination: pr)) }
        for _ in 0..<20000 {
            let raw = UInt32.random(in: 0...UInt32.max, using: &rng)
            let fast = t.longestV4(raw)
            var best: IPPrefix?
            for pr in prefixes[1000...] where pr.contains(.v4(IPv4Address(rawValue: raw))) && (best == nil || pr.length > best!.length) {
                if !t.routes(for: pr).isEmpty { best = pr }
            }
            let got = fast.flatMap { _ in t.longestMatch(.v4(IPv4Address(rawValue: raw)))?.prefix }
            #expect(got == best)
        }
    }

    @Test("fast-path leaves follow the routes through replace, delete and dead next hops (shared summaries)", arguments: [40, 3000])
    func leavesFollowRoutes(count: Int) throws {
        var rng = Random(seed: UInt64(count))
        var t = FIBTable(id: 254)
        var prefixes: [IPPrefix] = []
        func hops() -> [NextHop] {
            // Few distinct next hops, so many prefixes share a summary.
            let d = Int32(2 + rng.next() % 3)
            return rng.next() % 4 == 0 ? dev(d) : dev(d, "10.0.\(d).\(1 + rng.next() % 2)")
        }
        for _ in 0..<count {
            let len = Int(8 + rng.next() % 25)
            let pr = IPPrefix(.v4(IPv4Address(rawValue: UInt32(truncatingIfNeeded: rng.next()) & 0x3FFF_FFFF | 0x4000_0000)), length: len).network
            if (try? t.insert(Route(destination: pr, nextHops: hops()), mode: .add)) != nil { prefixes.append(pr) }
        }
        // Replace a third (new next hops: summaries move), delete a sixth,
        // mark every next hop through device 3 dead (no longer simple).
        for pr in prefixes.prefix(count / 3) { try t.insert(Route(destination: pr, nextHops: hops()), mode: .replace) }
        let gone = Set(prefixes.suffix(count / 6).map { $0 })
        for pr in gone { try t.delete(FIBTable.DeleteFilter(destination: pr)) }
        t.updateAll { r in for i in r.nextHops.indices where r.nextHops[i].device == 3 { r.nextHops[i].flags.insert(.dead) } }
        var checked = 0
        for i in 0..<20000 {
            // Half the keys inside a prefix, half random.
            let raw: UInt32
            if i & 1 == 0, let pr = prefixes.randomElement(using: &rng), case .v4(let base) = pr.address {
                raw = base.rawValue | (UInt32(truncatingIfNeeded: rng.next()) & ~IPv4Address.mask(prefixLength: pr.length))
            } else {
                raw = UInt32(truncatingIfNeeded: rng.next())
            }
            let leaf = t.lookupV4Leaf(raw)
            let entry = t.longestMatch(.v4(IPv4Address(rawValue: raw)))
            #expect((leaf == nil) == (entry == nil))
            #expect(t.longestV4Length(raw) == entry?.prefix.length)
            guard let leaf, let entry else { continue }
            checked += 1
            #expect(Int(leaf.length) == entry.prefix.length)
            let r = entry.routes[0]
            let simple = entry.routes.count == 1 && r.nextHops.count == 1 && !r.nextHops[0].flags.contains(.dead)
            #expect(leaf.simple == simple)
            if simple {
                #expect(leaf.device == r.nextHops[0].device)
                let gw: UInt32 = if case .v4(let g)? = r.nextHops[0].gateway { g.rawValue } else { 0 }
                #expect(leaf.gateway == gw)
            }
        }
        #expect(checked > 5000)
    }

    @Test("metrics: lowest usable metric wins; dead next hops are skipped; tos keys")
    func metrics() throws {
        var t = FIBTable(id: 254)
        try t.insert(Route(destination: p("192.168.0.0/16"), metric: 5, nextHops: dev(3, "10.0.0.3")), mode: .add)
        try t.insert(Route(destination: p("192.168.0.0/16"), nextHops: dev(2, "10.0.0.1")), mode: .add)
        #expect(lookup(t, "192.168.1.1")?.metric == 0)
        #expect(lookup(t, "192.168.1.1", oif: 3)?.metric == 5)
        t.updateAll { r in if r.metric == 0 { r.nextHops[0].flags.insert(.dead) } }
        #expect(lookup(t, "192.168.1.1")?.metric == 5)
        try t.insert(Route(destination: p("192.168.0.0/16"), tos: 0x10, nextHops: dev(4)), mode: .add)
        #expect(lookup(t, "192.168.1.1", tos: 0x10)?.nextHops[0].device == 4)
        #expect(lookup(t, "192.168.1.1", tos: 0x08)?.metric == 5)
        // Dump order: tos descending, then metric.
        #expect(t.routes(ipv4: true).map(\.tos) == [0x10, 0, 0])
    }

    @Test("add/replace/change/append/prepend/del errors as rtnetlink")
    func writeModes() throws {
        var t = FIBTable(id: 254)
        let r = Route(destination: p("10.0.0.0/8"), nextHops: dev(2))
        try t.insert(r, mode: .add)
        #expect(throws: RouteWriteError.exists) { try t.insert(r, mode: .add) }
        #expect(throws: RouteWriteError.exists) { try t.insert(r, mode: .append) }
        var r2 = r
        r2.nextHops = dev(3)
        try t.insert(r2, mode: .append)
        #expect(t.routes(for: p("10.0.0.0/8")).map { $0.nextHops[0].device } == [2, 3])
        var r3 = r
        r3.nextHops = dev(4)
        try t.insert(r3, mode: .prepend)
        #expect(t.routes(for: p("10.0.0.0/8")).map { $0.nextHops[0].device } == [4, 2, 3])
        var r5 = r
        r5.nextHops = dev(5)
        try t.insert(r5, mode: .replace)
        #expect(t.routes(for: p("10.0.0.0/8")).map { $0.nextHops[0].device } == [5, 2, 3])
        #expect(throws: RouteWriteError.noSuchEntry) { try t.insert(Route(destination: p("11.0.0.0/8"), nextHops: dev(2)), mode: .change) }
        #expect(throws: RouteWriteError.noSuchRoute) { try t.delete(FIBTable.DeleteFilter(destination: p("12.0.0.0/8"))) }
        #expect(RouteWriteError.noSuchRoute.text == "RTNETLINK answers: No such process")
        #expect(RouteWriteError.exists.text == "RTNETLINK answers: File exists")
    }

    @Test("dump order: IPv4 trie order, IPv6 fib6 post-order")
    func dumpOrder() throws {
        var t = FIBTable(id: 254)
        for s in ["192.168.0.0/16", "10.0.0.0/8", "10.0.0.0/24", "0.0.0.0/0", "10.1.0.0/16"] {
            try t.insert(Route(destination: p(s), nextHops: dev(2)), mode: .add)
        }
        #expect(t.routes(ipv4: true).map { "\($0.destination)" } == ["0.0.0.0/0", "10.0.0.0/24", "10.0.0.0/8", "10.1.0.0/16", "192.168.0.0/16"])
        for s in ["2001:db8::/32", "2001:db8:1::/48", "2001:db8::/64", "fe80::/64"] {
            try t.insert(Route(destination: p(s), metric: 1024, nextHops: dev(2)), mode: .add)
        }
        #expect(t.routes(ipv4: false).map { "\($0.destination)" } == ["2001:db8::/64", "2001:db8:1::/48", "2001:db8::/32", "fe80::/64"])
    }
}

@Suite("RoutingPolicy")
struct RoutePolicyTests {
    func world() throws -> (RoutingState, StaticRouteContext) {
        var ctx = StaticRouteContext(ipv4Forwarding: true)
        let a0 = RouteAddress(a("10.0.0.2"), prefixLength: 24)
        let a1 = RouteAddress(a("10.1.0.1"), prefixLength: 16)
        ctx.addDevice(.init(index: 2, name: "d0", addresses: [a0]))
        ctx.addDevice(.init(index: 3, name: "d1", addresses: [a1]))
        var s = RoutingState()
        s.tables.addressAdded(RouteAddress(.v4(.loopback), prefixLength: 8, scope: .host), device: 1)
        s.tables.addressAdded(a0, device: 2)
        s.tables.addressAdded(a1, device: 3)
        return (s, ctx)
    }

    @Test("default priorities: second rule's priority − 1")
    func defaultPriority() throws {
        var pol = RoutingPolicy()
        try pol.add(RoutingRule(isIPv4: true, priority: 0, action: .table(100)), explicitPriority: false)
        try pol.add(RoutingRule(isIPv4: true, priority: 0, action: .table(101)), explicitPriority: false)
        #expect(pol.rules4.map(\.priority) == [0, 32764, 32765, 32766, 32767])
        #expect(throws: RouteWriteError.exists) { try pol.add(RoutingRule(isIPv4: true, priority: 32765, action: .table(100)), explicitPriority: true) }
        #expect(throws: RouteWriteError.message("Backward goto not supported.")) {
            try pol.add(RoutingRule(isIPv4: true, priority: 50, action: .goto(10)), explicitPriority: true)
        }
    }

    @Test("rules: fwmark to a table, throw falls through, suppress_prefixlength, reject actions")
    func rules() throws {
        var (s, ctx) = try world()
        try s.tables.insert(Route(table: 100, destination: p("172.16.0.0/12"), scope: .link, nextHops: dev(3)), mode: .add)
        try s.tables.insert(Route(table: 100, destination: p("172.16.5.0/24"), type: .throw), mode: .add)
        try s.tables.insert(Route(destination: p("0.0.0.0/0"), nextHops: dev(2, "10.0.0.1")), mode: .add)
        try s.policy.add(RoutingRule(isIPv4: true, priority: 100, fwmark: 0x10, fwmask: 0xff, action: .table(100)), explicitPriority: true)
        func get(_ d: String, mark: UInt32 = 0) -> Result<RouteDecision, RouteError> {
            s.lookup(FlowKey(destination: a(d), mark: mark), context: ctx)
        }
        #expect(try get("172.16.0.1", mark: 0x110).get().table == 100)
        #expect(try get("172.16.0.1", mark: 0x11).get().table == 254)
        // throw: table 100 gives up, main answers.
        #expect(try get("172.16.5.1", mark: 0x10).get().nextHop.gateway == a("10.0.0.1"))
        // suppress_prefixlength 0 rejects main's default route.
        try s.policy.add(RoutingRule(isIPv4: true, priority: 50, action: .table(254), suppressPrefixLength: 0), explicitPriority: true)
        try s.policy.add(RoutingRule(isIPv4: true, priority: 60, destination: p("8.8.8.0/24"), action: .prohibit), explicitPriority: true)
        #expect(get("8.8.8.8") == .failure(.prohibited))
        #expect(try get("10.1.2.3").get().rulePriority == 50)
        try s.policy.add(RoutingRule(isIPv4: true, priority: 70, invert: true, iif: "lo", action: .unreachable), explicitPriority: true)
        #expect(try get("9.9.9.9").get().rulePriority == 32766)  // output lookups carry iif lo
        var input = FlowKey(destination: a("9.9.9.9"), source: a("10.0.0.7"), iif: 2)
        #expect(s.lookup(input, context: ctx) == .failure(.networkUnreachable))
        input.destination = a("10.0.0.2")
        #expect(try s.lookup(input, context: ctx).get().type == .local)
    }

    @Test("ECMP: weights shape the split, one flow keeps one path")
    func ecmp() throws {
        var (s, ctx) = try world()
        let hops = [NextHop(gateway: a("10.0.0.1"), device: 2, weight: 3), NextHop(gateway: a("10.1.0.9"), device: 3, weight: 1)]
        try s.tables.insert(Route(destination: p("0.0.0.0/0"), nextHops: hops), mode: .add)
        for policy in [0, 1] {
            ctx.hashPolicy4 = policy
            var counts = [0, 0]
            for i in 0..<8000 {
                let key = FlowKey(destination: .v4(IPv4Address(rawValue: 0x0800_0000 &+ UInt32(i) &* 7919)), ipproto: 6,
                                  sourcePort: UInt16(i % 60000), destinationPort: 443)
                let d = try s.lookup(key, context: ctx).get()
                counts[d.nextHopIndex] += 1
                #expect(try s.lookup(key, context: ctx).get().nextHopIndex == d.nextHopIndex)
            }
            #expect(counts[0] > 5600 && counts[0] < 6400, "weights 3:1 → ~6000/2000, got \(counts)")
        }
        // L4 policy: the same addresses with other ports spread; L3 does not.
        ctx.hashPolicy4 = 0
        let base = FlowKey(destination: a("8.8.8.8"), ipproto: 6, sourcePort: 1000, destinationPort: 443)
        var seen = Set<Int>()
        for port in 1000..<1100 {
            var k = base
            k.sourcePort = UInt16(port)
            seen.insert(try s.lookup(k, context: ctx).get().nextHopIndex)
        }
        #expect(seen.count == 1)
        ctx.hashPolicy4 = 1
        seen = []
        for port in 1000..<1100 {
            var k = base
            k.sourcePort = UInt16(port)
            seen.insert(try s.lookup(k, context: ctx).get().nextHopIndex)
        }
        #expect(seen.count == 2)
    }

    @Test("address routes as fib_add_ifaddr; device down flushes its routes")
    func localRoutes() throws {
        var (s, _) = try world()
        let local = s.tables[255]!.routes(ipv4: true).map { "\($0.type.name) \($0.destination)" }
        #expect(local == ["local 10.0.0.2/32", "broadcast 10.0.0.255/32", "local 10.1.0.1/32", "broadcast 10.1.255.255/32",
                          "local 127.0.0.0/8", "local 127.0.0.1/32", "broadcast 127.255.255.255/32"])
        #expect(s.tables[254]!.routes(ipv4: true).map { "\($0.destination) \($0.proto.name) \($0.scope.name)" }
                == ["10.0.0.0/24 kernel link", "10.1.0.0/16 kernel link"])
        s.tables.addressRemoved(RouteAddress(a("10.0.0.2"), prefixLength: 24), device: 2, remaining: [])
        #expect(s.tables[254]!.routes(ipv4: true).count == 1)
        #expect(s.tables[255]!.routes(ipv4: true).count == 5)
        s.tables.deviceDown(3)
        #expect(s.tables[254]!.routes(ipv4: true).isEmpty)
    }
}
