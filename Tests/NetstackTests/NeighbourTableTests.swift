// Transcripts of the NUD state machine in virtual time, checked against
// what net/core/neighbour.c does (timer steps of retrans_time 1 s,
// delay_first_probe_time 5 s, ucast/mcast_solicit 3).
import Testing
import NetWire
@testable import Netstack

@Suite struct NeighbourTableTests {
    let pool = PacketPool(slotSize: 256, count: 512)
    let dev: Int32 = 2
    let peer = IPAddress.v4(IPv4Address(10, 0, 0, 2))
    let mac = MACAddress(2, 0, 0, 0, 0, 2)

    func ipv4Packet(_ marker: UInt8 = 0) -> PacketBuffer {
        var b = [UInt8](repeating: 0, count: 20)
        b[0] = 0x45
        b[12] = 10; b[13] = 0; b[14] = 0; b[15] = 1
        b[19] = marker
        return pool.allocate(copying: b)!
    }

    func t(_ s: Double) -> Instant { Instant(nanoseconds: Int64(s * 1e9)) }

    func resolve(_ table: NeighbourTable, at now: Instant, _ work: inout NeighbourWork) -> String {
        switch table.output(ipv4Packet(), device: dev, nextHop: peer, now: now, into: &work) {
        case .transmit(let p, let m):
            _ = consume p
            return "transmit \(m)"
        case .queued: return "queued"
        case .drop(let p, let r):
            _ = consume p
            return "drop \(r)"
        }
    }

    @Test func incompleteToReachableFlushesQueue() {
        let table = NeighbourTable(family: .ipv4)
        var work = NeighbourWork()
        #expect(resolve(table, at: t(0), &work) == "queued")
        #expect(table.lookup(device: dev, address: peer)?.state == .incomplete)
        // One broadcast solicitation, with the packet's source as hint.
        #expect(work.solicitations == [NeighbourSolicitation(device: dev, target: peer, unicast: nil,
                                                             sourceHint: .v4(IPv4Address(10, 0, 0, 1)))])
        #expect(resolve(table, at: t(0.1), &work) == "queued")
        #expect(table.lookup(device: dev, address: peer)?.queuedPackets == 2)
        // An ARP reply arrives: solicited confirmation.
        let ok = table.update(device: dev, address: peer, linkAddress: mac, state: .reachable,
                              flags: [.override], now: t(0.2), into: &work)
        #expect(ok)
        #expect(work.outcomes == [.transmit(device: dev, destination: mac), .transmit(device: dev, destination: mac)])
        #expect(work.packets.count == 2)
        let e = table.lookup(device: dev, address: peer)!
        #expect(e.state == .reachable && e.queuedPackets == 0 && e.linkAddress == mac)
        #expect(resolve(table, at: t(0.3), &work) == "transmit 02:00:00:00:00:02")
    }

    @Test func incompleteFailsAfterThreeBroadcastsAndFailsQueue() {
        let table = NeighbourTable(family: .ipv4)
        var work = NeighbourWork()
        _ = resolve(table, at: t(0), &work)
        var now = t(0)
        var steps = 0
        while table.lookup(device: dev, address: peer)?.state == .incomplete && steps < 20 {
            now = table.nextDeadline
            table.expire(now: now, into: &work)
            steps += 1
        }
        #expect(now == t(3))
        #expect(work.solicitations.count == 3)
        #expect(work.solicitations.allSatisfy { $0.unicast == nil })
        #expect(table.lookup(device: dev, address: peer)?.state == .failed)
        #expect(work.outcomes == [.unreachable(device: dev, reason: .neighFailed)])
        // FAILED is re-resolved on the next use (__neigh_event_send).
        work.clear()
        #expect(resolve(table, at: t(10), &work) == "queued")
        #expect(table.lookup(device: dev, address: peer)?.state == .incomplete)
        #expect(work.solicitations.count == 1)
    }

    @Test func reachableStaleDelayProbeReachable() {
        let table = NeighbourTable(family: .ipv4)
        var work = NeighbourWork()
        _ = resolve(table, at: t(0), &work)
        table.update(device: dev, address: peer, linkAddress: mac, state: .reachable, flags: [.override],
                     now: t(0), into: &work)
        let reach = table.reachableTime(device: dev)
        #expect(reach >= .seconds(15) && reach < .seconds(45))
        // Not used since: REACHABLE → STALE once reachable_time has passed.
        table.expire(now: t(0) + reach + .milliseconds(1), into: &work)
        #expect(table.lookup(device: dev, address: peer)?.state == .stale)
        // Use while STALE: send at once, go to DELAY for 5 s.
        let use = t(100)
        #expect(resolve(table, at: use, &work) == "transmit 02:00:00:00:00:02")
        #expect(table.lookup(device: dev, address: peer)?.state == .delay)
        #expect(table.lookup(device: dev, address: peer)?.timer == use + .seconds(5))
        #expect(table.nextDeadline <= use + .seconds(5))
        work.clear()
        table.expire(now: use + .seconds(5), into: &work)
        #expect(table.lookup(device: dev, address: peer)?.state == .probe)
        // The first probe is unicast to the cached address.
        #expect(work.solicitations.map(\.unicast) == [mac])
        // A solicited confirmation brings it back.
        table.update(device: dev, address: peer, linkAddress: mac, state: .reachable, flags: [.override],
                     now: use + .milliseconds(5500), into: &work)
        #expect(table.lookup(device: dev, address: peer)?.state == .reachable)
    }

    /// neigh_add_timer moves `used` up to `confirmed`: with reachable_time
    /// shorter than delay_first_probe_time a confirmed entry never goes
    /// STALE but cycles REACHABLE → DELAY → PROBE → REACHABLE (as Linux
    /// with base_reachable_time_ms=2000 shows).
    @Test func shortReachableTimeCyclesThroughDelay() {
        let table = NeighbourTable(family: .ipv4)
        var work = NeighbourWork()
        #expect(table.setSysctl("base_reachable_time_ms", value: 2000, device: dev))
        let reach = table.reachableTime(device: dev)
        #expect(reach >= .seconds(1) && reach <= .seconds(3))
        _ = resolve(table, at: t(0), &work)
        table.update(device: dev, address: peer, linkAddress: mac, state: .reachable, flags: [.override],
                     now: t(0.001), into: &work)
        var now = t(0.001)
        for cycle in 0..<3 {
            let confirmed = now
            table.expire(now: confirmed + reach + .milliseconds(1), into: &work)
            #expect(table.lookup(device: dev, address: peer)?.state == .delay, "cycle \(cycle)")
            work.clear()
            table.expire(now: confirmed + reach + .milliseconds(1) + .seconds(5), into: &work)
            #expect(table.lookup(device: dev, address: peer)?.state == .probe)
            #expect(work.solicitations.map(\.unicast) == [mac])
            now = confirmed + reach + .seconds(5) + .milliseconds(2)
            table.update(device: dev, address: peer, linkAddress: mac, state: .reachable, flags: [.override],
                         now: now, into: &work)
            let e = table.lookup(device: dev, address: peer)!
            #expect(e.state == .reachable && e.used == now && e.confirmed == now)
        }
    }

    /// Output through a REACHABLE entry (the cached-header path) does not
    /// mark it used: it goes STALE on time even with steady traffic.
    @Test func trafficThroughReachableDoesNotKeepItReachable() {
        let table = NeighbourTable(family: .ipv4)
        var work = NeighbourWork()
        _ = resolve(table, at: t(0), &work)
        table.update(device: dev, address: peer, linkAddress: mac, state: .reachable, flags: [.override],
                     now: t(0), into: &work)
        let reach = table.reachableTime(device: dev)
        var now = t(1)
        while now < t(0) + reach {
            #expect(resolve(table, at: now, &work) == "transmit 02:00:00:00:00:02")
            table.expire(now: now, into: &work)
            now = now + .seconds(1)
        }
        #expect(table.lookup(device: dev, address: peer)?.used == t(0))
        table.expire(now: t(0) + reach + .milliseconds(1), into: &work)
        #expect(table.lookup(device: dev, address: peer)?.state == .stale)
    }

    /// neigh_proc_update / neigh_copy_dflt_parms: a `default` write reaches
    /// devices that did not set that leaf; only base_reachable_time writes
    /// draw reachable_time again.
    @Test func sysctlWritesFollowDataState() {
        let table = NeighbourTable(family: .ipv4)
        let other: Int32 = 3
        #expect(table.setSysctl("retrans_time_ms", value: 500, device: dev))
        #expect(table.setSysctl("ucast_solicit", value: 1, device: other))
        let before = table.reachableTime(device: dev)
        #expect(table.setSysctl("ucast_solicit", value: 7, device: dev))
        #expect(table.reachableTime(device: dev) == before)
        #expect(table.setSysctl("retrans_time", value: 300, device: nil))
        #expect(table.setSysctl("ucast_solicit", value: 5, device: nil))
        #expect(table.parameters(device: dev).retransTime == .milliseconds(500))
        #expect(table.parameters(device: dev).ucastSolicit == 7)
        #expect(table.parameters(device: other).retransTime == .seconds(3))
        #expect(table.parameters(device: other).ucastSolicit == 1)
        #expect(table.parameters(device: 9).ucastSolicit == 5)
        #expect(!table.setSysctl("no_such_leaf", value: 1, device: nil))
        #expect(table.setSysctl("base_reachable_time", value: 4, device: dev))
        let r = table.reachableTime(device: dev)
        #expect(r >= .seconds(2) && r <= .seconds(6))
    }

    /// nd_tbl differs from arp_tbl in locktime (0) and in counting its
    /// deprecated retrans_time in kernel jiffies (HZ 250), not USER_HZ.
    @Test func ndTableParameterDefaults() {
        let nd = NeighbourTable(family: .ipv6)
        let arp = NeighbourTable(family: .ipv4)
        #expect(nd.defaultParameters.locktime == .zero && arp.defaultParameters.locktime == .seconds(1))
        #expect(nd.defaultParameters.sysctlValue("retrans_time", family: .ipv6) == 250)
        #expect(arp.defaultParameters.sysctlValue("retrans_time", family: .ipv4) == 100)
        #expect(nd.setSysctl("retrans_time", value: 500, device: dev))
        #expect(nd.parameters(device: dev).retransTime == .seconds(2))
        #expect(arp.setSysctl("retrans_time", value: 50, device: dev))
        #expect(arp.parameters(device: dev).retransTime == .milliseconds(500))
    }

    /// neigh_ifdown takes every entry of the device and its proxy entries;
    /// neigh_carrier_down keeps PERMANENT and proxy ones. Queued packets
    /// are dropped as NEIGH_DEAD; other devices and the parameters stay.
    @Test func flushOnDownAndCarrierDown() {
        let table = NeighbourTable(family: .ipv4)
        var work = NeighbourWork()
        let other: Int32 = 3
        let perm = IPAddress.v4(IPv4Address(10, 0, 0, 9))
        #expect(table.setSysctl("ucast_solicit", value: 5, device: dev))
        _ = table.add(device: dev, address: perm, linkAddress: mac, state: .permanent, flags: [], create: true,
                      replace: false, exclusive: true, now: t(0), into: &work)
        _ = table.addProxy(device: dev, address: .v4(IPv4Address(10, 0, 0, 7)), exclusive: true)
        #expect(resolve(table, at: t(0), &work) == "queued")
        _ = table.output(ipv4Packet(), device: other, nextHop: peer, now: t(0), into: &work)
        work.clear()
        table.flush(device: dev, keepPermanent: true, into: &work)
        #expect(table.lookup(device: dev, address: peer) == nil)
        #expect(table.lookup(device: dev, address: perm)?.state == .permanent)
        #expect(table.proxies.count == 1)
        #expect(work.outcomes == [.drop(.neighDead)])
        table.flush(device: dev, keepPermanent: false, into: &work)
        #expect(table.lookup(device: dev, address: perm) == nil && table.proxies.isEmpty)
        #expect(table.lookup(device: other, address: peer)?.state == .incomplete)
        #expect(table.parameters(device: dev).ucastSolicit == 5)
    }

    @Test func delayBackToReachableOnUpperLayerConfirm() {
        let table = NeighbourTable(family: .ipv4)
        var work = NeighbourWork()
        _ = resolve(table, at: t(0), &work)
        table.update(device: dev, address: peer, linkAddress: mac, state: .stale, flags: [.override],
                     now: t(0), into: &work)
        _ = resolve(table, at: t(1), &work)
        #expect(table.lookup(device: dev, address: peer)?.state == .delay)
        table.confirm(device: dev, address: peer, now: t(3))
        table.expire(now: t(6), into: &work)
        #expect(table.lookup(device: dev, address: peer)?.state == .reachable)
    }

    @Test func probeFailsAfterUcastSolicitProbes() {
        let table = NeighbourTable(family: .ipv4)
        var work = NeighbourWork()
        _ = resolve(table, at: t(0), &work)
        table.update(device: dev, address: peer, linkAddress: mac, state: .stale, flags: [.override],
                     now: t(0), into: &work)
        _ = resolve(table, at: t(1), &work)
        work.clear()
        var steps = 0
        while table.lookup(device: dev, address: peer)?.state != .failed && steps < 20 {
            table.expire(now: table.nextDeadline, into: &work)
            steps += 1
        }
        #expect(work.solicitations.count == 3)
        #expect(work.solicitations.allSatisfy { $0.unicast == mac })
        let e = table.lookup(device: dev, address: peer)!
        #expect(e.state == .failed && e.probes == 3 && e.updated == t(9))
    }

    @Test func queueOverflowDropsOldest() {
        var p = NeighbourParameters()
        p.unresQueueBytes = 3 * NeighbourParameters.queuedPacketTruesize
        let table = NeighbourTable(family: .ipv4, parameters: p)
        var work = NeighbourWork()
        for i in 0..<5 {
            _ = table.output(ipv4Packet(UInt8(i)), device: dev, nextHop: peer, now: t(0), into: &work)
        }
        #expect(work.outcomes == [.drop(.neighQueuefull), .drop(.neighQueuefull)])
        var dropped: [UInt8] = []
        while let pkt = work.packets.popFirst() { dropped.append(pkt.bytes[19]) }
        #expect(dropped == [0, 1])
        work.clear()
        table.update(device: dev, address: peer, linkAddress: mac, state: .reachable, flags: [.override],
                     now: t(0.5), into: &work)
        var sent: [UInt8] = []
        while let pkt = work.packets.popFirst() { sent.append(pkt.bytes[19]) }
        #expect(sent == [2, 3, 4])
        #expect(NeighbourParameters().sysctlValue("unres_qlen") == 101)
    }

    @Test func updateRulesFollowNeighUpdate() {
        let table = NeighbourTable(family: .ipv4)
        var work = NeighbourWork()
        let other = MACAddress(2, 0, 0, 0, 0, 9)
        _ = table.lookupOrCreate(device: dev, address: peer, now: t(0), into: &work)
        // No address on a NONE entry: refused.
        #expect(!table.update(device: dev, address: peer, linkAddress: nil, state: .stale, flags: [.override],
                              now: t(0), into: &work))
        table.update(device: dev, address: peer, linkAddress: mac, state: .reachable, flags: [.override],
                     now: t(0), into: &work)
        // A different address without override is ignored…
        #expect(!table.update(device: dev, address: peer, linkAddress: other, state: .reachable, flags: [],
                              now: t(1), into: &work))
        #expect(table.lookup(device: dev, address: peer)?.linkAddress == mac)
        // …with weak override it only demotes a connected entry to STALE.
        table.update(device: dev, address: peer, linkAddress: other, state: .reachable, flags: [.weakOverride],
                     now: t(2), into: &work)
        var e = table.lookup(device: dev, address: peer)!
        #expect(e.state == .stale && e.linkAddress == mac)
        // Same address, STALE, not admin: state kept.
        table.update(device: dev, address: peer, linkAddress: mac, state: .reachable, flags: [.override],
                     now: t(3), into: &work)
        table.update(device: dev, address: peer, linkAddress: mac, state: .stale, flags: [.override],
                     now: t(4), into: &work)
        e = table.lookup(device: dev, address: peer)!
        #expect(e.state == .reachable)
        // Override with a new address: STALE and confirmed pushed back 2·base.
        table.update(device: dev, address: peer, linkAddress: other, state: .stale,
                     flags: [.override, .overrideIsRouter, .isRouter], now: t(5), into: &work)
        e = table.lookup(device: dev, address: peer)!
        #expect(e.state == .stale && e.linkAddress == other && e.flags.contains(.router))
        #expect(e.confirmed == t(5) - .seconds(60))
        // PERMANENT ignores non-admin updates.
        _ = table.add(device: dev, address: peer, linkAddress: mac, state: .permanent, flags: [], create: true,
                      replace: true, exclusive: false, now: t(6), into: &work)
        #expect(!table.update(device: dev, address: peer, linkAddress: other, state: .reachable, flags: [.override],
                              now: t(7), into: &work))
        #expect(table.lookup(device: dev, address: peer)?.linkAddress == mac)
    }

    @Test func adminAddErrors() {
        let table = NeighbourTable(family: .ipv4)
        var work = NeighbourWork()
        let r1 = table.add(device: dev, address: peer, linkAddress: nil, state: .reachable, flags: [],
                           create: true, replace: false, exclusive: true, now: t(0), into: &work)
        #expect(r1.failure == .invalid("No link layer address given."))
        let r2 = table.add(device: dev, address: peer, linkAddress: mac, state: .permanent, flags: [],
                           create: true, replace: false, exclusive: true, now: t(0), into: &work)
        #expect(r2.failure == nil)
        let r3 = table.add(device: dev, address: peer, linkAddress: mac, state: .permanent, flags: [],
                           create: true, replace: false, exclusive: true, now: t(0), into: &work)
        #expect(r3.failure == .exists)
        #expect(table.delete(device: dev, address: .v4(IPv4Address(10, 9, 9, 9)), into: &work).failure == .notFound)
        // Multicast next hops resolve statically (arp_constructor).
        let group = IPAddress.v4(IPv4Address(224, 0, 0, 251))
        switch table.output(ipv4Packet(), device: dev, nextHop: group, now: t(0), into: &work) {
        case .transmit(let p, let m):
            _ = consume p
            #expect(m == MACAddress(1, 0, 0x5E, 0, 0, 0xFB))
        case .queued: Issue.record("queued")
        case .drop(let p, _): _ = consume p; Issue.record("dropped")
        }
    }

    @Test func gcThresholds() {
        var gc = NeighbourGCParameters()
        gc.thresh1 = 2; gc.thresh2 = 4; gc.thresh3 = 6
        let table = NeighbourTable(family: .ipv4, gc: gc)
        var work = NeighbourWork()
        for i in 1...6 {
            let a = IPAddress.v4(IPv4Address(10, 0, 1, UInt8(i)))
            _ = table.add(device: dev, address: a, linkAddress: mac, state: .stale, flags: [], create: true,
                          replace: false, exclusive: true, now: t(0), into: &work)
        }
        #expect(table.count == 6)
        // At thresh3, entries updated < 5 s ago cannot be reclaimed: overflow.
        let r = table.lookupOrCreate(device: dev, address: .v4(IPv4Address(10, 0, 1, 7)), now: t(1), into: &work)
        #expect(r.failure == .tableOverflow)
        // Later they can: forced gc cleans down to thresh2.
        let r2 = table.lookupOrCreate(device: dev, address: .v4(IPv4Address(10, 0, 1, 7)), now: t(10), into: &work)
        #expect(r2.failure == nil)
        #expect(table.count == 5)
        // Periodic gc removes STALE entries unused for gc_stale_time (60 s).
        table.expire(now: t(100), into: &work)
        #expect(table.count == 0)
    }
}

extension Result {
    var failure: Failure? { if case .failure(let f) = self { f } else { nil } }
}
