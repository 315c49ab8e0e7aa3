// NDP (ndisc.c) and DAD (addrconf.c) transcripts.
import Testing
import NetWire
@testable import Netstack

@Suite struct NeighbourNDiscTests {
    let macA = MACAddress(2, 0, 0, 0, 0, 1)
    let macB = MACAddress(2, 0, 0, 0, 0, 2)
    let llA = IPv6Address("fe80::1")!
    let llB = IPv6Address("fe80::2")!
    let gB = IPv6Address("2001:db8::2")!
    var hostA: NDPInterface { NDPInterface(device: 2, mac: macA, addresses: [llA, IPv6Address("2001:db8::1")!]) }
    var lookupA: FakeLookup { FakeLookup(local: [.v6(llA), .v6(IPv6Address("2001:db8::1")!)]) }

    @Test func multicastNSIsAnsweredWithSolicitedOverrideNAAndSenderLearned() {
        let table = NeighbourTable(family: .ipv6)
        var work = NeighbourWork()
        let r = NDisc.process(.neighborSolicitation(target: llA, sourceLinkLayerAddress: macB), source: llB,
                              destination: llA.solicitedNodeMulticast, interface: hostA, lookup: lookupA,
                              table: table, now: .zero, into: &work)
        #expect(r == NDiscResult(.consumed))
        #expect(work.ndp == [NDPOutput(device: 2, source: llA, destination: llB, linkDestination: nil,
                                       message: .neighborAdvertisement(router: false, solicited: true, override: true,
                                                                       target: llA, targetLinkLayerAddress: macA))])
        let e = table.lookup(device: 2, address: .v6(llB))
        #expect(e?.state == .stale && e?.linkAddress == macB)
    }

    @Test func unicastProbeIsAnsweredWithoutOverrideOrOption() {
        let table = NeighbourTable(family: .ipv6)
        var work = NeighbourWork()
        _ = NDisc.process(.neighborSolicitation(target: llA, sourceLinkLayerAddress: nil), source: llB,
                          destination: llA, interface: hostA, lookup: lookupA, table: table, now: .zero, into: &work)
        #expect(work.ndp.map(\.message) == [.neighborAdvertisement(router: false, solicited: true, override: false,
                                                                   target: llA, targetLinkLayerAddress: nil)])
    }

    @Test func naResolvesAnIncompleteEntry() {
        let table = NeighbourTable(family: .ipv6)
        var work = NeighbourWork()
        let pool = PacketPool(slotSize: 256, count: 8)
        var pkt = [UInt8](repeating: 0, count: 40)
        pkt[0] = 0x60
        var b = pool.allocate(copying: pkt)!
        b.withUnsafeMutableReadableBytes { llA.write(into: $0, at: 8) }
        switch table.output(b, device: 2, nextHop: .v6(gB), now: .zero, into: &work) {
        case .queued: break
        case .transmit(let p, _): _ = consume p
        case .drop(let p, _): _ = consume p
        }
        NDisc.solicit(work.solicitations[0], interface: hostA, lookup: lookupA, into: &work)
        #expect(work.ndp.first?.destination == gB.solicitedNodeMulticast)
        #expect(work.ndp.first?.source == llA)
        #expect(work.ndp.first?.linkDestination == MACAddress(0x33, 0x33, 0xFF, 0, 0, 2))
        // An NA without the target option cannot resolve it (RFC 4861 §7.2.5).
        _ = NDisc.process(.neighborAdvertisement(router: true, solicited: true, override: true, target: gB,
                                                 targetLinkLayerAddress: nil),
                          source: gB, destination: llA, interface: hostA, lookup: lookupA, table: table, now: .zero,
                          into: &work)
        #expect(table.lookup(device: 2, address: .v6(gB))?.state == .incomplete)
        _ = NDisc.process(.neighborAdvertisement(router: true, solicited: true, override: true, target: gB,
                                                 targetLinkLayerAddress: macB),
                          source: gB, destination: llA, interface: hostA, lookup: lookupA, table: table, now: .zero,
                          into: &work)
        let e = table.lookup(device: 2, address: .v6(gB))
        #expect(e?.state == .reachable && e?.linkAddress == macB && e?.flags.contains(.router) == true)
        #expect(work.outcomes == [.transmit(device: 2, destination: macB)])
        // An unsolicited NA with override and a new address: STALE with the new address.
        let macC = MACAddress(2, 0, 0, 0, 0, 3)
        _ = NDisc.process(.neighborAdvertisement(router: false, solicited: false, override: true, target: gB,
                                                 targetLinkLayerAddress: macC),
                          source: gB, destination: .allNodes, interface: hostA, lookup: lookupA, table: table,
                          now: Instant(nanoseconds: 1), into: &work)
        let e2 = table.lookup(device: 2, address: .v6(gB))
        #expect(e2?.state == .stale && e2?.linkAddress == macC && e2?.flags.contains(.router) == false)
    }

    @Test func dadRunsAndPasses() {
        var random = NeighbourRandom(seed: 7)
        var work = NeighbourWork()
        let addr = IPv6Address("2001:db8::1")!
        var dad = DADState(address: addr, device: 2, now: .zero, random: &random)
        #expect(dad.phase == .tentative)
        let first = dad.deadline!
        #expect(first < Instant(nanoseconds: 1_000_000_000))
        dad.expire(now: first, retransTime: .seconds(1), into: &work)
        #expect(work.ndp == [NDPOutput(device: 2, source: .any, destination: addr.solicitedNodeMulticast,
                                       linkDestination: MACAddress(multicastFor: addr.solicitedNodeMulticast),
                                       message: .neighborSolicitation(target: addr, sourceLinkLayerAddress: nil))])
        #expect(dad.deadline == first + .seconds(1))
        let done = dad.expire(now: first + .seconds(1), retransTime: .seconds(1), into: &work)
        #expect(done)
        #expect(dad.phase == .preferred && work.ndp.count == 1)
    }

    @Test func dadConflictFromNSAndNA() {
        let addr = IPv6Address("2001:db8::1")!
        let lookup = FakeLookup(local: [.v6(llA)], tentative: [addr])
        let table = NeighbourTable(family: .ipv6)
        var work = NeighbourWork()
        // Another node's DAD probe for the same address.
        let r = NDisc.process(.neighborSolicitation(target: addr, sourceLinkLayerAddress: nil), source: .any,
                              destination: addr.solicitedNodeMulticast, interface: hostA, lookup: lookup,
                              table: table, now: .zero, into: &work)
        #expect(r.events == [.duplicateAddress(addr, device: 2)])
        #expect(work.ndp.isEmpty)
        // A non-DAD NS for a tentative address is silently ignored.
        let r2 = NDisc.process(.neighborSolicitation(target: addr, sourceLinkLayerAddress: macB), source: llB,
                               destination: addr.solicitedNodeMulticast, interface: hostA, lookup: lookup,
                               table: table, now: .zero, into: &work)
        #expect(r2.events.isEmpty && work.ndp.isEmpty)
        // An NA for it.
        let r3 = NDisc.process(.neighborAdvertisement(router: false, solicited: false, override: true, target: addr,
                                                      targetLinkLayerAddress: macB),
                               source: llB, destination: .allNodes, interface: hostA, lookup: lookup, table: table,
                               now: .zero, into: &work)
        #expect(r3.events == [.duplicateAddress(addr, device: 2)])
        var random = NeighbourRandom(seed: 1)
        var dad = DADState(address: addr, device: 2, now: .zero, random: &random)
        let changed = dad.conflict()
        #expect(changed)
        #expect(dad.phase == .failed && dad.deadline == nil)
        // A DAD NS from :: for an address we own answers to all-nodes.
        work.clear()
        _ = NDisc.process(.neighborSolicitation(target: llA, sourceLinkLayerAddress: nil), source: .any,
                          destination: llA.solicitedNodeMulticast, interface: hostA, lookup: lookup, table: table,
                          now: .zero, into: &work)
        #expect(work.ndp.map(\.destination) == [.allNodes])
    }

    @Test func validationDropsWithNdiscReasons() {
        let table = NeighbourTable(family: .ipv6)
        var work = NeighbourWork()
        var bytes = [UInt8](repeating: 0, count: 32)
        let ns = NDPRepr.neighborSolicitation(target: llA, sourceLinkLayerAddress: macB)
        bytes.withUnsafeMutableBytes { try? ns.emit(into: $0) }
        func rx(_ b: [UInt8], hop: UInt8 = 255) -> NeighbourInputVerdict {
            b.withUnsafeBytes {
                NDisc.receive($0, source: llB, destination: llA.solicitedNodeMulticast, hopLimit: hop,
                              interface: hostA, lookup: lookupA, table: table, now: .zero, into: &work).verdict
            }
        }
        #expect(rx(bytes, hop: 64) == .drop(.ipv6NdiscHopLimit))
        var code = bytes
        code[1] = 1
        #expect(rx(code) == .drop(.ipv6NdiscBadCode))
        var opt = bytes
        opt[25] = 0 // option length 0
        #expect(rx(opt) == .drop(.ipv6NdiscBadOptions))
        #expect(rx(bytes) == .consumed)
        // NS for an address that is not ours.
        var other = [UInt8](repeating: 0, count: 24)
        other.withUnsafeMutableBytes { try? NDPRepr.neighborSolicitation(target: gB, sourceLinkLayerAddress: nil).emit(into: $0) }
        #expect(rx(other) == .drop(.ipv6NdiscNsOtherhost))
    }

    @Test func routerAdvertisementGivesRoutes() {
        let table = NeighbourTable(family: .ipv6)
        var work = NeighbourWork()
        let prefix = NDPPrefixInformation(prefixLength: 64, onLink: true, autonomous: true, validLifetime: 86400,
                                          preferredLifetime: 14400, prefix: IPv6Address("2001:db8:1::")!)
        let ra = NDPRouterAdvertisement(routerLifetime: 1800, sourceLinkLayerAddress: macB, prefixes: [prefix])
        let r = NDisc.process(.routerAdvertisement(ra), source: llB, destination: .allNodes, interface: hostA,
                              lookup: lookupA, table: table, now: .zero, into: &work)
        let def = Route(destination: IPPrefix.defaultRoute(v6: true), proto: .ra, metric: 1024,
                        nextHops: [NextHop(gateway: .v6(llB), device: 2)], expires: Instant.zero + .seconds(1800),
                        preference: 0)
        #expect(r.events.first == .addRoute(def))
        #expect(r.events.contains(.addRoute(Route(destination: IPPrefix("2001:db8:1::/64")!, proto: .kernel, metric: 256,
                                                  nextHops: [NextHop(device: 2)],
                                                  expires: Instant.zero + .seconds(86400), preference: 0))))
        #expect(r.events.contains(.autoconfPrefix(prefix, device: 2)))
        let e = table.lookup(device: 2, address: .v6(llB))
        #expect(e?.state == .stale && e?.flags.contains(.router) == true)
        // Forwarding with accept_ra 1: ignored.
        var router = hostA
        router.forwarding = true
        let r2 = NDisc.process(.routerAdvertisement(ra), source: llB, destination: .allNodes, interface: router,
                               lookup: lookupA, table: table, now: .zero, into: &work)
        #expect(r2.events.isEmpty)
    }
}
