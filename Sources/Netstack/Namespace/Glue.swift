// TEMPORARY seams, replaced as Route/, Neighbour/, Sched/ and the fragment
// code land: a connected-routes-only lookup, broadcast-MAC neighbour
// output, no ARP, no IPv6, no fragments.
import NetWire

extension NetworkNamespace {
    func routeOutput(_ key: FlowKey) -> Result<RouteDecision, RouteError> {
        for d in devices where d.isUp {
            for a in d.addresses where a.address == key.destination {
                let r = Route(table: RouteTableID.local, destination: IPPrefix(a.address, length: a.address.bitWidth),
                              type: .local, scope: .host, proto: .kernel, nextHops: [NextHop(device: loopback.ifindex)])
                return .success(RouteDecision(route: r, nextHop: r.nextHops[0], nextHopIndex: 0, table: RouteTableID.local,
                                              rulePriority: 0, source: a.address))
            }
        }
        for d in devices where d.isUp {
            for a in d.addresses where a.prefix.contains(key.destination) {
                let r = Route(destination: a.prefix.network, scope: .link, proto: .kernel, preferredSource: a.address,
                              nextHops: [NextHop(device: d.ifindex)])
                return .success(RouteDecision(route: r, nextHop: r.nextHops[0], nextHopIndex: 0, table: RouteTableID.main,
                                              rulePriority: 32766, source: a.address))
            }
        }
        return .failure(.networkUnreachable)
    }

    func routeInput(_ key: FlowKey, device: NetDevice) -> Result<RouteDecision, RouteError> {
        routeOutput(key)
    }

    func neighbourOutput(_ packet: consuming PacketBuffer, device: NetDevice, nextHop: IPAddress, route: Route) {
        let type: EtherType = nextHop.isIPv4 ? .ipv4 : .ipv6
        sendFrame(packet, on: device, destination: device.kind == .loopback ? .zero : .broadcast, type: type)
    }

    func arpReceive(_ packet: consuming PacketBuffer, on dev: NetDevice) { drop(packet, .unhandledProto) }
    func ipv6Receive(_ packet: consuming PacketBuffer, on dev: NetDevice) { drop(packet, .ipv6disabled) }

    func ipv6SendLocal(_ payload: consuming PacketBuffer, source: IPv6Address?, destination: IPv6Address,
                       proto: IPProtocol, hopLimit: UInt8? = nil, boundDevice: Int32 = 0,
                       icmpChecksum: Bool = false) -> Errno? {
        drop(payload, .ipv6disabled)
        return .ENETUNREACH
    }

    func ipv4Reassemble(_ packet: consuming PacketBuffer, header: IPv4Header) -> PacketBuffer? {
        drop(packet, .fragReasmTimeout)
        return nil
    }

    func ipv4Fragment(_ packet: consuming PacketBuffer, mtu: Int, device: NetDevice, nextHop: IPAddress) {
        count(.ipFragFails)
        drop(packet, .pktTooBig)
    }

    func runTimers(now: Instant) -> Bool { false }
    func runQdiscs(now: Instant) -> Bool { false }
    func nextDeadline(now: Instant) -> Instant? { nil }
    func deviceChanged(_ d: NetDevice) {}
    func deviceGone(_ d: NetDevice) {
        udpSockets.removeAll { $0.boundDevice == d.ifindex }
    }
    func addressAdded(_ a: InterfaceAddress, on d: NetDevice) {
        if let i = d.addresses.firstIndex(where: { $0.address == a.address }) {
            d.addresses[i].flags.remove(.tentative)
        }
    }
    func addressRemoved(_ a: InterfaceAddress, from d: NetDevice) {}
    func shutdown() {
        udpSockets.removeAll()
        pingSockets.removeAll()
    }
}
