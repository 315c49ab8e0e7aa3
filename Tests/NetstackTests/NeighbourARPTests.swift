// ARP processing (arp_process) against golden frames captured from Linux
// 6.18 on a veth pair (tcpdump -xx of `ping 10.0.0.2`), and arp_ignore /
// arp_accept / gratuitous ARP cases.
import Testing
import NetWire
@testable import Netstack

struct FakeLookup: NeighbourAddressLookup {
    var local: Set<IPAddress> = []
    var tentative: Set<IPv6Address> = []
    var broadcast: Set<IPAddress> = []
    func addressType(_ address: IPAddress, device: Int32) -> RouteType {
        if local.contains(address) { return .local }
        if broadcast.contains(address) { return .broadcast }
        return address.isMulticast ? .multicast : .unicast
    }
    func ipv6AddressState(_ address: IPv6Address, device: Int32) -> IPv6AddressState? {
        if tentative.contains(address) { return .tentative }
        return local.contains(.v6(address)) ? .preferred : nil
    }
}

@Suite struct NeighbourARPTests {
    let pool = PacketPool(slotSize: 256, count: 64)
    let macA = MACAddress(2, 0, 0, 0, 0, 1)
    let macB = MACAddress(2, 0, 0, 0, 0, 2)
    let ipA = IPv4Address(10, 0, 0, 1)
    let ipB = IPv4Address(10, 0, 0, 2)

    static let goldenRequest: [UInt8] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x01,
        0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x0a, 0x00, 0x00, 0x01,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0a, 0x00, 0x00, 0x02,
    ]
    static let goldenReply: [UInt8] = [
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x08, 0x06, 0x00, 0x01,
        0x08, 0x00, 0x06, 0x04, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x0a, 0x00, 0x00, 0x02,
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x0a, 0x00, 0x00, 0x01,
    ]

    /// Host B (10.0.0.2 on dev 3) receiving an ARP packet (Ethernet header pulled).
    func receive(_ frame: [UInt8], type: PacketType = .broadcast, interface: ARPInterface, lookup: FakeLookup,
                 table: NeighbourTable, now: Instant = .zero, _ work: inout NeighbourWork) -> NeighbourInputVerdict {
        var p = pool.allocate(copying: frame)!
        p.pull(14)
        p.metadata.packetType = type
        return ARP.receive(p, interface: interface, lookup: lookup, table: table, now: now, into: &work)
    }

    var hostB: ARPInterface {
        ARPInterface(device: 3, mac: macB, addresses: [IPv4InterfaceAddress(ipB, prefixLength: 24)])
    }
    var lookupB: FakeLookup { FakeLookup(local: [.v4(ipB), .v4(IPv4Address(192, 168, 9, 9))]) }

    @Test func requestIsAnsweredWithTheGoldenReplyAndTheAskerLearnedStale() {
        let table = NeighbourTable(family: .ipv4)
        var work = NeighbourWork()
        let v = receive(Self.goldenRequest, interface: hostB, lookup: lookupB, table: table, &work)
        #expect(v == .consumed)
        #expect(work.arp.count == 1)
        let (repr, device, destination) = work.arp[0]
        #expect(device == 3 && destination == macA)
        let bytes = ARP.frame(repr, source: macB, destination: destination, pool: pool)?.bytes
        #expect(bytes == Self.goldenReply)
        let e = table.lookup(device: 3, address: .v4(ipA))
        #expect(e?.state == .stale && e?.linkAddress == macA)
    }

    @Test func solicitationBuildsTheGoldenRequest() {
        let table = NeighbourTable(family: .ipv4)
        var work = NeighbourWork()
        let hostA = ARPInterface(device: 2, mac: macA, addresses: [IPv4InterfaceAddress(ipA, prefixLength: 24)])
        var ip = [UInt8](repeating: 0, count: 20)
        ip[0] = 0x45; ip[12] = 10; ip[15] = 1
        switch table.output(pool.allocate(copying: ip)!, device: 2, nextHop: .v4(ipB), now: .zero, into: &work) {
        case .queued: break
        case .transmit(let p, _): _ = consume p; Issue.record("transmit")
        case .drop(let p, _): _ = consume p; Issue.record("drop")
        }
        ARP.solicit(work.solicitations[0], interface: hostA, lookup: FakeLookup(local: [.v4(ipA)]), into: &work)
        let (repr, _, destination) = work.arp[0]
        #expect(destination == .broadcast)
        let bytes = ARP.frame(repr, source: macA, destination: destination, pool: pool)?.bytes
        #expect(bytes == Self.goldenRequest)
        // The golden reply, received as unicast: REACHABLE and the queue flushed.
        let v = receive(Self.goldenReply, type: .host, interface: hostA, lookup: FakeLookup(local: [.v4(ipA)]),
                        table: table, &work)
        #expect(v == .consumed)
        #expect(table.lookup(device: 2, address: .v4(ipB))?.state == .reachable)
        #expect(work.outcomes == [.transmit(device: 2, destination: macB)])
    }

    func request(sender: IPv4Address, target: IPv4Address) -> ARPRepr {
        ARPRepr(operation: .request, senderHardwareAddress: macA, senderProtocolAddress: sender,
                targetHardwareAddress: .zero, targetProtocolAddress: target)
    }

    func answered(_ arp: ARPRepr, interface: ARPInterface) -> Bool {
        let table = NeighbourTable(family: .ipv4)
        var work = NeighbourWork()
        _ = ARP.process(arp, packetType: .broadcast, interface: interface, lookup: lookupB, table: table,
                        now: .zero, into: &work)
        return !work.arp.isEmpty
    }

    @Test func arpIgnore() {
        var i = hostB
        // 192.168.9.9 is local on another device of the namespace.
        let other = request(sender: ipA, target: IPv4Address(192, 168, 9, 9))
        let own = request(sender: ipA, target: ipB)
        let offSubnet = request(sender: IPv4Address(172, 16, 0, 1), target: ipB)
        i.arpIgnore = 0
        #expect(answered(other, interface: i) && answered(own, interface: i) && answered(offSubnet, interface: i))
        i.arpIgnore = 1
        #expect(!answered(other, interface: i) && answered(own, interface: i) && answered(offSubnet, interface: i))
        i.arpIgnore = 2
        #expect(!answered(other, interface: i) && answered(own, interface: i) && !answered(offSubnet, interface: i))
        i.arpIgnore = 8
        #expect(!answered(own, interface: i))
        // Requests for non-local targets and from martian senders are not answered.
        i.arpIgnore = 0
        #expect(!answered(request(sender: ipA, target: IPv4Address(10, 0, 0, 77)), interface: i))
        #expect(!answered(request(sender: IPv4Address(127, 0, 0, 1), target: ipB), interface: i))
    }

    @Test func probeFromZeroIsAnsweredToZero() {
        let table = NeighbourTable(family: .ipv4)
        var work = NeighbourWork()
        _ = ARP.process(request(sender: .any, target: ipB), packetType: .broadcast, interface: hostB,
                        lookup: lookupB, table: table, now: .zero, into: &work)
        #expect(work.arp.map(\.0) == [ARPRepr(operation: .reply, senderHardwareAddress: macB, senderProtocolAddress: ipB,
                                              targetHardwareAddress: macA, targetProtocolAddress: .any)])
        #expect(table.count == 0)
    }

    @Test func gratuitousARPUpdatesButCreatesOnlyWithArpAccept() {
        let table = NeighbourTable(family: .ipv4)
        var work = NeighbourWork()
        let newMAC = MACAddress(2, 0, 0, 0, 0, 0x99)
        let garp = ARPRepr(operation: .request, senderHardwareAddress: newMAC, senderProtocolAddress: ipA,
                           targetHardwareAddress: .zero, targetProtocolAddress: ipA)
        var i = hostB
        _ = ARP.process(garp, packetType: .broadcast, interface: i, lookup: lookupB, table: table, now: .zero,
                        into: &work)
        #expect(table.count == 0)
        i.arpAccept = 1
        _ = ARP.process(garp, packetType: .broadcast, interface: i, lookup: lookupB, table: table, now: .zero,
                        into: &work)
        #expect(table.lookup(device: 3, address: .v4(ipA))?.linkAddress == newMAC)
        // An existing REACHABLE entry: a gratuitous ARP overrides even within locktime.
        i.arpAccept = 0
        table.update(device: 3, address: .v4(ipA), linkAddress: macA, state: .reachable, flags: [.override],
                     now: .zero, into: &work)
        _ = ARP.process(garp, packetType: .broadcast, interface: i, lookup: lookupB, table: table,
                        now: Instant(nanoseconds: 100_000_000), into: &work)
        let e = table.lookup(device: 3, address: .v4(ipA))
        #expect(e?.linkAddress == newMAC && e?.state == .stale)
        // A non-gratuitous reply with another address within locktime does not.
        let reply = ARPRepr(operation: .reply, senderHardwareAddress: macA, senderProtocolAddress: ipA,
                            targetHardwareAddress: macB, targetProtocolAddress: ipB)
        _ = ARP.process(reply, packetType: .host, interface: i, lookup: lookupB, table: table,
                        now: Instant(nanoseconds: 200_000_000), into: &work)
        #expect(table.lookup(device: 3, address: .v4(ipA))?.linkAddress == newMAC)
        _ = ARP.process(reply, packetType: .host, interface: i, lookup: lookupB, table: table,
                        now: Instant(nanoseconds: 2_000_000_000), into: &work)
        #expect(table.lookup(device: 3, address: .v4(ipA))?.linkAddress == macA)
        #expect(table.lookup(device: 3, address: .v4(ipA))?.state == .reachable)
    }

    @Test func dropsWithReasons() {
        let table = NeighbourTable(family: .ipv4)
        var work = NeighbourWork()
        #expect(receive(Array(Self.goldenRequest[0..<30]), interface: hostB, lookup: lookupB, table: table, &work)
            == .drop(.pktTooSmall))
        #expect(receive(Self.goldenRequest, type: .otherHost, interface: hostB, lookup: lookupB, table: table, &work)
            == .drop(.otherhost))
        var bad = Self.goldenRequest
        bad[19] = 16 // plen
        #expect(receive(bad, interface: hostB, lookup: lookupB, table: table, &work) == .drop(.notSpecified))
        var op = Self.goldenRequest
        op[21] = 9
        #expect(receive(op, interface: hostB, lookup: lookupB, table: table, &work) == .drop(.notSpecified))
        #expect(work.arp.isEmpty)
    }

    @Test func arpAnnounceChoosesTheSource() {
        var i = ARPInterface(device: 2, mac: macA, addresses: [IPv4InterfaceAddress(ipA, prefixLength: 24),
                                                              IPv4InterfaceAddress(IPv4Address(172, 16, 0, 1), prefixLength: 16)])
        let lookup = FakeLookup(local: [.v4(ipA), .v4(IPv4Address(172, 16, 0, 1))])
        let s = NeighbourSolicitation(device: 2, target: .v4(ipB), unicast: nil, sourceHint: .v4(IPv4Address(172, 16, 0, 1)))
        var work = NeighbourWork()
        for announce in 0...2 {
            i.arpAnnounce = announce
            ARP.solicit(s, interface: i, lookup: lookup, into: &work)
        }
        #expect(work.arp.map(\.0.senderProtocolAddress) == [IPv4Address(172, 16, 0, 1), ipA, ipA])
    }
}
