// IPv4 receive, local delivery, forwarding and output.
// Kernel counterparts: net/ipv4/ip_input.c (ip_rcv, ip_rcv_core,
// ip_rcv_finish, ip_local_deliver), net/ipv4/route.c (ip_route_input_slow,
// ip_error), net/ipv4/ip_forward.c (ip_forward), net/ipv4/ip_output.c
// (ip_local_out, ip_output, ip_finish_output2).
// RFC 791, RFC 1122 §3.2.1 (what a host must check), RFC 1812 §5.3 (forwarding).
import NetWire

/// The IPv4 header fields the receive path keeps after validation.
struct IPv4Header {
    var source: IPv4Address
    var destination: IPv4Address
    var proto: UInt8
    var ttl: UInt8
    var tos: UInt8
    var headerLength: Int
    var totalLength: Int
    var dontFragment: Bool
    var isFragment: Bool
    var fragmentOffset: Int
}

enum IPv4ValidationFailure {
    case badHeader, truncated, badChecksum
}

extension NetworkNamespace {
    /// ip_rcv_core(): validate, then PREROUTING and the input route.
    func ipv4Receive(_ packet: consuming PacketBuffer, on dev: NetDevice) {
        var p = packet
        count(.ipInReceives)
        if p.metadata.packetType == .otherHost {
            drop(p, .otherhost)
            return
        }
        // The order of ip_rcv_core's checks decides which reason a packet
        // broken in several ways is dropped for: the fixed header and the
        // version/IHL, the whole header present, the header checksum, then
        // the total length against what arrived.
        let parsed: (IPv4Header?, IPv4ValidationFailure?) = p.withUnsafeReadableBytes { b in
            guard b.count >= IPv4Packet.minimumHeaderLength else { return (nil, .badHeader) }
            let vihl = b.u8(0)
            let hl = Int(vihl & 0x0F) &* 4
            guard vihl >> 4 == 4, hl >= 20, b.count >= hl else { return (nil, .badHeader) }
            if hl == 20 {
                guard NetworkNamespace.ipv4HeaderChecksumOK20(b) else { return (nil, .badChecksum) }
            } else {
                var c = InternetChecksum()
                c.add(UnsafeRawBufferPointer(rebasing: b[0..<hl]))
                guard c.value == 0 else { return (nil, .badChecksum) }
            }
            let total = Int(b.be16(2))
            guard total <= b.count else { return (nil, .truncated) }
            guard total >= hl else { return (nil, .badHeader) }
            let frag = b.be16(6)
            return (IPv4Header(source: IPv4Address(rawValue: b.be32(12)), destination: IPv4Address(rawValue: b.be32(16)),
                               proto: b.u8(9), ttl: b.u8(8), tos: b.u8(1), headerLength: hl, totalLength: total,
                               dontFragment: frag & 0x4000 != 0, isFragment: frag & 0x3FFF != 0,
                               fragmentOffset: Int(frag & 0x1FFF) &* 8), nil)
        }
        guard let h = parsed.0 else {
            switch parsed.1 {
            case .truncated?:
                // Not a header error in the MIB: IpExtInTruncatedPkts.
                count(.ipExtInTruncatedPkts); drop(p, .pktTooSmall)
            case .badChecksum?:
                count(.ipExtInCsumErrors); count(.ipInHdrErrors); drop(p, .ipCsum)
            default:
                count(.ipInHdrErrors); drop(p, .ipInhdr)
            }
            return
        }
        // IPSTATS_MIB_NOECTPKTS + the ECN field: IpExtIn{NoECT,ECT1,ECT0,CE}Pkts
        // (one per segment a GRO packet stands for, as gso_segs counts).
        let ecnCounter = MIBCounter(rawValue: MIBCounter.ipExtInNoECTPkts.rawValue &+ Int(h.tos & 3)) ?? .ipExtInNoECTPkts
        let gso = Int(p.metadata.gsoSize)
        if gso == 0 {
            count(ecnCounter)
        } else {
            let tcpHeader = p.withUnsafeReadableBytes { b in
                b.count > h.headerLength &+ 12 ? Int(b.u8(h.headerLength &+ 12) >> 4) &* 4 : 20
            }
            let payload = h.totalLength &- h.headerLength &- tcpHeader
            stack.shard.counters.add(ecnCounter, UInt64(max(1, (payload &+ gso &- 1) / gso)))
        }
        if h.headerLength > 20 {
            let ok = p.withUnsafeReadableBytes { b in
                (try? IPv4Repr.validateOptions(UnsafeRawBufferPointer(rebasing: b[20..<h.headerLength]))) != nil
            }
            if !ok {
                count(.ipInHdrErrors)
                drop(p, .ipInhdr)
                return
            }
        }
        p.trim(to: h.totalLength)
        guard let q = netfilterHook(.preRouting, p) else { return }
        ipv4ReceiveFinish(q, header: h, on: dev)
    }

    /// ip_fast_csum for the option-less header: five 32-bit words summed in
    /// native order and folded; a valid header sums to 0xFFFF (the check is
    /// byte-order independent). The general `InternetChecksum` costs ~150
    /// instructions per header here, this ~20.
    @inline(__always)
    static func ipv4HeaderChecksumOK20(_ b: UnsafeRawBufferPointer) -> Bool {
        var s = UInt64(b.loadUnaligned(fromByteOffset: 0, as: UInt32.self))
        s &+= UInt64(b.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
        s &+= UInt64(b.loadUnaligned(fromByteOffset: 8, as: UInt32.self))
        s &+= UInt64(b.loadUnaligned(fromByteOffset: 12, as: UInt32.self))
        s &+= UInt64(b.loadUnaligned(fromByteOffset: 16, as: UInt32.self))
        s = (s & 0xFFFF_FFFF) &+ (s >> 32)
        s = (s & 0xFFFF) &+ (s >> 16)
        s = (s & 0xFFFF) &+ (s >> 16)
        s = (s & 0xFFFF) &+ (s >> 16)
        return s == 0xFFFF
    }

    /// ip_rcv_finish(): route the packet (ip_route_input_noref) and send it
    /// on its way: local delivery, forwarding, or an error.
    func ipv4ReceiveFinish(_ packet: consuming PacketBuffer, header h: IPv4Header, on dev: NetDevice) {
        // Martians (ip_route_input_slow): a multicast or limited-broadcast
        // source, a zero-net source, loopback addresses off loopback.
        if h.source.isMulticast || h.source.isLimitedBroadcast || (h.source.isZeroNet && !h.destination.isLimitedBroadcast && h.source != .any) {
            drop(packet, .ipInvalidSource)
            return
        }
        if (h.source.isLoopback || h.destination.isLoopback) && dev.kind != .loopback && max(ipv4All.routeLocalnet, dev.ipv4.routeLocalnet) == 0 {
            drop(packet, h.source.isLoopback ? .ipInvalidSource : .ipInvalidDest)
            return
        }
        if h.destination.isLimitedBroadcast {
            ipv4LocalDeliver(packet, header: h, on: dev, broadcast: true)
            return
        }
        if h.destination.isMulticast {
            // No multicast routing or group membership yet: not for us.
            count(.ipInAddrErrors)
            drop(packet, .ipInaddrerrors)
            return
        }
        if h.destination.isZeroNet {
            drop(packet, .ipInvalidDest)
            return
        }
        // A packet looped back through lo already carried its output route
        // (skb_dst survives the loopback xmit): it is ours — an address of
        // a device, or one a `local` route covers (127.0.0.77, any address
        // of a prefix on lo), which the output route said was local.
        if dev.kind == .loopback && (isLocal(.v4(h.destination)) || coveredByLocalRoute(.v4(h.destination))) {
            ipv4LocalDeliver(packet, header: h, on: dev, broadcast: false)
            return
        }
        // The forwarding fast path: a route answered from the FIB leaf (no
        // Route copy, no ARC). Traced packets take the general lookup so the
        // trace shows the whole fib result.
        if packet.metadata.traceID == 0 {
            switch routeInputFast4(destination: h.destination, source: h.source, device: dev) {
            case .forward(let route):
                // rp_filter off (the default) decided here, without the call.
                if max(ipv4All.rpFilter, dev.ipv4.rpFilter) != 0 && !rpFilterPasses(h.source, on: dev) {
                    drop(packet, .ipRpfilter)
                    return
                }
                ipv4Forward(packet, header: h, route: route, on: dev)
                return
            case .noRoute:
                ipv4RouteError(packet, header: h, error: .networkUnreachable, on: dev)
                return
            case .general:
                break
            }
        }
        var key = FlowKey(destination: .v4(h.destination), source: .v4(h.source), iif: dev.ifindex,
                          mark: packet.metadata.mark, ipproto: h.proto, tos: h.tos & 0x1E)
        if h.proto == IPProtocol.udp.rawValue || h.proto == IPProtocol.tcp.rawValue {
            let ports: (UInt16, UInt16)? = packet.withUnsafeReadableBytes { b in
                b.count >= h.headerLength &+ 4 && !h.isFragment
                    ? (b.be16(h.headerLength), b.be16(h.headerLength &+ 2)) : nil
            }
            if let (s, d) = ports { key.sourcePort = s; key.destinationPort = d }
        }
        switch routeInput(key, device: dev) {
        case .failure(let error):
            trace(packet, .noRoute(error))
            ipv4RouteError(packet, header: h, error: error, on: dev)
        case .success(let decision):
            traceRoute(packet, decision)
            switch decision.type {
            case .local:
                ipv4LocalDeliver(packet, header: h, on: dev, broadcast: false)
            case .broadcast:
                ipv4LocalDeliver(packet, header: h, on: dev, broadcast: true)
            case .unicast:
                guard dev.ipv4.forwarding != 0 else {
                    count(.ipInAddrErrors)
                    drop(packet, .ipInaddrerrors)
                    return
                }
                if !rpFilterPasses(h.source, on: dev) {
                    drop(packet, .ipRpfilter)
                    return
                }
                ipv4Forward(packet, header: h, route: RouteDst(decision), on: dev)
            case .blackhole:
                drop(packet, .notSpecified)
            case .unreachable, .prohibit, .throw:
                ipv4RouteError(packet, header: h, error: decision.type == .prohibit ? .prohibited : .hostUnreachable, on: dev)
            default:
                count(.ipInAddrErrors)
                drop(packet, .ipInaddrerrors)
            }
        }
    }

    /// ip_error(): a failed input route. With forwarding on the device the
    /// sender learns why (rate-limited); without, the packet is just counted.
    func ipv4RouteError(_ packet: consuming PacketBuffer, header h: IPv4Header, error: RouteError, on dev: NetDevice) {
        guard dev.ipv4.forwarding != 0 else {
            count(.ipInAddrErrors)
            drop(packet, .ipInaddrerrors)
            return
        }
        let code: UInt8
        switch error {
        case .networkUnreachable:
            count(.ipOutNoRoutes)
            code = ICMPv4UnreachableCode.network
        case .prohibited:
            code = ICMPv4UnreachableCode.administrativelyProhibited
        case .blackhole:
            drop(packet, .notSpecified)
            return
        default:
            code = ICMPv4UnreachableCode.host
        }
        icmpSend(packet, type: ICMPv4Type.destinationUnreachable, code: code, info: 0, inbound: dev)
        drop(packet, error == .networkUnreachable ? .ipInnoroutes : .notSpecified)
    }

    /// fib_validate_source() for rp_filter 1 (strict) and 2 (loose).
    func rpFilterPasses(_ source: IPv4Address, on dev: NetDevice) -> Bool {
        let mode = max(ipv4All.rpFilter, dev.ipv4.rpFilter)
        guard mode != 0 else { return true }
        switch routeOutput(FlowKey(destination: .v4(source))) {
        case .failure: return false
        case .success(let r):
            return mode == 2 || r.nextHop.device == dev.ifindex
        }
    }

    /// ip_local_deliver(): reassemble, INPUT hook, then the protocol.
    func ipv4LocalDeliver(_ packet: consuming PacketBuffer, header h: IPv4Header, on dev: NetDevice, broadcast: Bool) {
        var p = packet
        var h = h
        if h.isFragment {
            guard let whole = ipv4Reassemble(p, header: h) else { return }
            p = whole
            // The reassembled header describes the whole datagram.
            let (total, frag) = p.withUnsafeReadableBytes { b in (Int(b.be16(2)), b.be16(6)) }
            h.totalLength = total
            h.isFragment = frag & 0x3FFF != 0
            h.fragmentOffset = 0
        }
        guard var q = netfilterHook(.localIn, p) else { return }
        if broadcast { q.metadata.packetType = .broadcast }
        trace(q, .deliver(protocolNumber: h.proto))
        q.pull(h.headerLength)
        q.resetTransportHeader()
        switch h.proto {
        case IPProtocol.icmp.rawValue:
            count(.ipInDelivers)
            icmpReceive(q, header: h, on: dev, broadcast: broadcast)
        case IPProtocol.udp.rawValue:
            count(.ipInDelivers)
            udpReceive(q, header: h, on: dev, broadcast: broadcast)
        case IPProtocol.tcp.rawValue:
            count(.ipInDelivers)
            tcpReceive(q, source: .v4(h.source), destination: .v4(h.destination), on: dev, ecn: h.tos & 3)
        default:
            // No raw sockets or TCP yet: protocol unreachable (icmp_send from
            // ip_protocol_deliver_rcu), except for broadcasts.
            count(.ipInUnknownProtos)
            if !broadcast {
                icmpSend(q, type: ICMPv4Type.destinationUnreachable,
                         code: ICMPv4UnreachableCode.protocol, info: 0, inbound: dev)
            }
            drop(q, .ipNoproto)
        }
    }

    /// ip_forward(): TTL, MTU, the FORWARD hook, then output.
    func ipv4Forward(_ packet: consuming PacketBuffer, header h: IPv4Header, route: RouteDst, on dev: NetDevice) {
        // The guard sits here, not only inside `trace`: building the event
        // argument (a large enum) costs a memcpy per packet even untraced.
        if packet.metadata.traceID != 0 { trace(packet, .forward) }
        if packet.metadata.packetType != .host && packet.metadata.packetType != .loopback {
            drop(packet, .otherhost)
            return
        }
        if h.ttl <= 1 {
            count(.ipInHdrErrors)
            icmpSend(packet, type: ICMPv4Type.timeExceeded, code: ICMPv4TimeExceededCode.ttlExceededInTransit, info: 0, inbound: dev)
            drop(packet, .ipInhdr)
            return
        }
        guard let out = device(index: route.device), out.isUp else {
            count(.ipOutDiscards)
            drop(packet, .devReady)
            return
        }
        let mtu = pathMTU4(to: h.destination, routeMTU: route.mtu, device: out)
        if h.totalLength > mtu && h.dontFragment && !gsoSegmentsFit(packet, ipHeaderLength: h.headerLength, mtu: mtu) {
            count(.ipFragFails)
            icmpSend(packet, type: ICMPv4Type.destinationUnreachable, code: ICMPv4UnreachableCode.fragmentationNeeded,
                     info: UInt32(mtu), inbound: dev)
            drop(packet, .pktTooBig)
            return
        }
        var p = packet
        // The pool is read only for a shared buffer: passing it to every
        // unshare cost a retain/release pair per forwarded packet.
        guard !p.isShared || p.unshare(from: stack.shard.pool) else {
            drop(p, .nomem)
            return
        }
        // ip_decrease_ttl with the RFC 1624 incremental checksum update.
        p.withUnsafeMutableReadableBytes { b in
            let r = UnsafeRawBufferPointer(b)
            let oldWord = r.be16(8)
            b.setU8(8, h.ttl &- 1)
            let newWord = r.be16(8)
            b.setBE16(10, InternetChecksum.update(r.be16(10), old: oldWord, new: newWord))
        }
        guard let q = netfilterHook(.forward, p) else { return }
        // ICMP redirect (ip_rt_send_redirect) when the packet leaves on the
        // interface it came in and the next hop is on that link.
        if out === dev && dev.ipv4.sendRedirects != 0 && ipv4All.sendRedirects != 0,
           let gw = route.gateway, case .v4(let g) = gw, sourceIsOnLink(h.source, device: dev) {
            icmpSendRedirect(q, gateway: g, inbound: dev)
        }
        count(.ipForwDatagrams)
        ipv4Output(q, totalLength: h.totalLength, destination: h.destination, route: route, device: out, mtu: mtu)
    }

    func sourceIsOnLink(_ a: IPv4Address, device: NetDevice) -> Bool {
        device.addresses.contains { $0.prefix.contains(.v4(a)) }
    }

    /// ip_output → POSTROUTING → ip_finish_output (fragment) → ip_finish_output2.
    /// A GSO packet whose segments do not all fit `mtu` takes
    /// ip_finish_output_gso's slow path: cut into its segments
    /// (skb_gso_segment), then each fragmented if still too big
    /// (ip_fragment), so the receiver gets one datagram per segment.
    func ipv4Output(_ packet: consuming PacketBuffer, totalLength: Int, destination: IPv4Address,
                    route: RouteDst, device out: NetDevice, mtu: Int) {
        guard let p = netfilterHook(.postRouting, packet) else { return }
        let nextHop: IPAddress = route.gateway ?? .v4(destination)
        if totalLength > mtu && !gsoSegmentsFit(p, ipHeaderLength: 20, mtu: mtu) {
            // ipv4Fragment hands the route to neighbourOutput, which reads its type.
            let host = Route(destination: IPPrefix(.v4(destination), length: 32), type: route.type)
            if p.metadata.gsoSize != 0,
               p.segmentGSO(pool: stack.shard.pool, emit: { s in
                   ipv4Fragment(s, mtu: mtu, device: out, nextHop: nextHop, route: host)
               }) != nil {
                return
            }
            // Not GSO, or a segment too large for a pool buffer: the
            // packet is fragmented whole.
            var p = p
            p.dropGSO()
            ipv4Fragment(p, mtu: mtu, device: out, nextHop: nextHop, route: host)
            return
        }
        count(.ipOutTransmits)
        neighbourOutput(p, device: out, nextHop: nextHop, broadcast: route.type == .broadcast)
    }

    /// Whether the local table has a `local` route for `address`
    /// (inet_addr_type == RTN_LOCAL beyond the devices' own addresses).
    /// While the IPv4 local and main tables are merged (no custom rule yet)
    /// the longest prefix of either decides, as in Linux's single trie.
    func coveredByLocalRoute(_ address: IPAddress) -> Bool {
        let r: FIBLookupResult
        if address.isIPv4 {
            r = routing.lookupLocalTable4(address)
        } else {
            r = routing.tables.lookup(table: RouteTableID.local, FIBLookupKey(destination: address)) ?? .noMatch
        }
        if case .found(let m) = r { return m.route.type == .local }
        return false
    }

    /// ip_finish_output_gso / skb_gso_validate_network_len: a GSO packet
    /// (network header at its front's recorded offset) whose segments each
    /// fit `mtu` is sent as it is and cut later, not fragmented.
    func gsoSegmentsFit(_ p: borrowing PacketBuffer, ipHeaderLength: Int, mtu: Int) -> Bool {
        guard p.metadata.gsoSize != 0 else { return false }
        let t = (p.networkHeaderOffset ?? 0) &+ ipHeaderLength
        return p.gsoSegmentLength(transportOffset: t, ipHeaderLength: ipHeaderLength) <= mtu
    }

    /// The MTU for a destination: a learned PMTU, else the route's `mtu`,
    /// else the device's (ip_dst_mtu_maybe_forward).
    func pathMTU(to destination: IPAddress, decision: RouteDecision, device: NetDevice) -> Int {
        var mtu = device.mtu
        if let m = decision.route.mtu, m > 0 { mtu = min(mtu, Int(m)) }
        if !pmtu.entries.isEmpty, let learned = pmtu.mtu(for: destination, now: stack.now) { mtu = min(mtu, learned) }
        return mtu
    }

    /// `pathMTU` for IPv4 with the route's `mtu` metric (0: unset). The
    /// PMTU cache is probed only when it holds something.
    @inline(__always)
    func pathMTU4(to destination: IPv4Address, routeMTU: UInt32, device: NetDevice) -> Int {
        var mtu = device.mtu
        if routeMTU > 0 { mtu = min(mtu, Int(routeMTU)) }
        if !pmtu.entries.isEmpty, let learned = pmtu.mtu(for: .v4(destination), now: stack.now) { mtu = min(mtu, learned) }
        return mtu
    }

    /// Builds the IPv4 header in front of a transport payload and sends it
    /// (ip_queue_xmit, ip_build_and_send_pkt, ip_push_pending_frames for a
    /// datagram: `sender` says which, and so how DF and the identification
    /// are chosen). Returns the errno a socket reports.
    @discardableResult
    func ipv4SendLocal(_ payload: consuming PacketBuffer, source: IPv4Address?, destination: IPv4Address,
                       proto: IPProtocol, sender: IPv4Sender, ttl: UInt8? = nil, tos: UInt8 = 0,
                       boundDevice: Int32 = 0, mark: UInt32 = 0, sourcePort: UInt16 = 0,
                       destinationPort: UInt16 = 0, allowBroadcast: Bool = true) -> Errno? {
        var p = payload
        if stack.isTracing {
            traceLocalSend(&p, source: source.map { .v4($0) }, destination: .v4(destination), proto: proto.rawValue,
                           sourcePort: sourcePort, destinationPort: destinationPort)
        }
        let key = FlowKey(destination: .v4(destination), source: source.map { .v4($0) }, oif: boundDevice, mark: mark,
                          ipproto: proto.rawValue, sourcePort: sourcePort, destinationPort: destinationPort, tos: tos & 0x1E)
        let decision: RouteDecision
        switch routeOutput(key) {
        case .failure(let e):
            count(.ipOutNoRoutes)
            trace(p, .noRoute(e))
            drop(p, .ipOutnoroutes)
            return e.errno
        case .success(let d): decision = d
        }
        traceRoute(p, decision)
        switch decision.type {
        case .unicast, .local, .broadcast: break
        case .blackhole: drop(p, .notSpecified); return nil
        case .prohibit: drop(p, .ipOutnoroutes); return .EACCES
        default: drop(p, .ipOutnoroutes); return .ENETUNREACH
        }
        if decision.type == .broadcast && !allowBroadcast {
            drop(p, .notSpecified)
            return .EACCES
        }
        guard let out = device(index: decision.nextHop.device) else {
            drop(p, .devReady)
            return .ENETUNREACH
        }
        let src: IPv4Address
        if let s = source, !s.isUnspecified {
            src = s
        } else if case .v4(let s)? = decision.source {
            src = s
        } else {
            drop(p, .ipOutnoroutes)
            return .EINVAL
        }
        let mtu = pathMTU4(to: destination, routeMTU: decision.route.mtu ?? 0, device: out)
        lastOutputTakesGSO = out.genericSegmentation && !out.qdisc.cutsGSO
        let total = p.count &+ 20
        if total > 65535 {
            drop(p, .pktTooBig)
            return .EMSGSIZE
        }
        let isLoopback = decision.type == .local || out.kind == .loopback
        // dst_mtu of the route the packet takes (the loopback's for a local
        // destination); a socket probing or ignoring the path MTU sees the
        // device's (ip_skb_dst_mtu).
        let dstMTU = isLoopback ? loopback.mtu : (sender.usesPathMTU ? mtu : out.mtu)
        let (dontFragment, refuseOversize) = sender.dontFragment(length: total, mtu: dstMTU,
                                                                 mtuLocked: decision.route.mtuLocked)
        // A GSO packet goes out as segments: each must fit, not the whole.
        let wire = p.metadata.gsoSize == 0 ? total : p.gsoSegmentLength(transportOffset: 0, ipHeaderLength: 20)
        if refuseOversize && wire > dstMTU {
            drop(p, .pktTooBig)
            return .EMSGSIZE
        }
        guard p.headroom >= 20 &+ 16 else {
            drop(p, .nomem)
            return .ENOBUFS
        }
        let ident = ipv4SelectIdent(sender, dontFragment: dontFragment, source: src, destination: destination,
                                    proto: proto.rawValue)
        let repr = IPv4Repr(source: src, destination: destination, protocol: proto, payloadLength: p.count,
                            ttl: ttl ?? UInt8(truncatingIfNeeded: config.ipDefaultTTL), dscp: tos >> 2, ecn: tos & 3,
                            identification: ident, dontFragment: dontFragment)
        let hdr = p.push(20)
        try? repr.emit(into: hdr)
        p.resetNetworkHeader()
        p.metadata.mark = mark
        if stack.isTracing { traceLocalOut(&p, etherType: .ipv4, route: decision) }
        count(.ipOutRequests)
        guard let q = netfilterHook(.localOut, p) else { return nil }
        if isLoopback {
            // Local traffic goes out through the loopback device.
            ipv4Output(q, totalLength: total, destination: destination, route: RouteDst(decision), device: loopback, mtu: loopback.mtu)
        } else {
            ipv4Output(q, totalLength: total, destination: destination, route: RouteDst(decision), device: out, mtu: mtu)
        }
        return nil
    }

    /// ip_select_ident_segs() for the header `sender` builds: a
    /// connected socket's own counter (inet_id, which the caller advanced);
    /// without one, 0 when DF is set and fragmenting is not allowed
    /// (!skb->ignore_df), else the shared generator (__ip_select_ident).
    @inline(__always)
    func ipv4SelectIdent(_ sender: IPv4Sender, dontFragment: Bool, source: IPv4Address, destination: IPv4Address,
                         proto: UInt8) -> UInt16 {
        switch sender {
        case .connection(let id, _):
            return id
        case .datagram(let pmtu, let connectedID):
            if let id = connectedID { return id }
            if dontFragment && !pmtu.ignoresDF { return 0 }
            return nextIPv4Identification(destination, source: source, proto: proto)
        case .synAck:
            // ip_build_and_send_pkt: DF goes with 0; a SYN-ACK sent
            // without DF takes a random id, not the shared generator.
            return dontFragment ? 0 : UInt16(truncatingIfNeeded: stack.nextRandom())
        }
    }

    /// __ip_select_ident / ip_idents_reserve: a counter per bucket of
    /// (destination, source, protocol), as Linux hashes those three into
    /// its ip_idents table (seeded per namespace at first use). Linux also
    /// adds a random jump up to the jiffies since the bucket was last used;
    /// here it counts by one, so the lab stays deterministic.
    func nextIPv4Identification(_ destination: IPv4Address, source: IPv4Address, proto: UInt8) -> UInt16 {
        // The bucket, kept as an address-sized key: a multiplicative mix
        // of the three, so two sources or protocols towards one
        // destination count apart, as Linux's buckets do.
        var h = destination.rawValue &* 0x9E37_79B1
        h = (h ^ source.rawValue) &* 0x85EB_CA6B
        h = (h ^ UInt32(proto)) &* 0xC2B2_AE35
        let bucket = IPv4Address(rawValue: h ^ (h >> 16))
        let v = ipIdents[bucket, default: UInt16(truncatingIfNeeded: h >> 16)]
        ipIdents[bucket] = v &+ 1
        return v
    }
}

/// IP_MTU_DISCOVER (inet->pmtudisc): whether a socket's packets carry DF
/// and may be fragmented here. A socket starts with `want`, or `dont`
/// when net.ipv4.ip_no_pmtu_disc is set (inet_create).
public enum IPPMTUDiscovery: UInt8, Sendable {
    /// IP_PMTUDISC_DONT: never DF.
    case dont = 0
    /// IP_PMTUDISC_WANT: DF when the packet fits the path and the route's
    /// MTU is not locked; larger datagrams are fragmented.
    case want = 1
    /// IP_PMTUDISC_DO: always DF; a datagram larger than the path is EMSGSIZE.
    case `do` = 2
    /// IP_PMTUDISC_PROBE: always DF, the device's MTU, not the path's.
    case probe = 3
    /// IP_PMTUDISC_INTERFACE: no DF, the device's MTU, never fragmented here.
    case interface = 4
    /// IP_PMTUDISC_OMIT: no DF, the device's MTU, fragmented here.
    case omit = 5

    /// The default for a new socket in a namespace (inet_create).
    public static func socketDefault(noPMTUDisc: Int) -> IPPMTUDiscovery { noPMTUDisc != 0 ? .dont : .want }

    /// ip_sk_ignore_df(): packets may be fragmented locally despite DF.
    var ignoresDF: Bool { rawValue < IPPMTUDiscovery.do.rawValue || self == .omit }

    /// ip_dont_fragment(): DF for a packet of this socket on a route.
    func dontFragment(mtuLocked: Bool) -> Bool { self == .do || (self == .want && !mtuLocked) }
}

/// Who builds a locally generated IPv4 header, which decides its DF bit
/// and identification as the kernel's three builders do.
enum IPv4Sender {
    /// ip_queue_xmit: a TCP connection. `id` is its inet_id, which the
    /// caller advances by the packet's segment count.
    case connection(id: UInt16, pmtu: IPPMTUDiscovery)
    /// __ip_make_skb (ip_push_pending_frames, ip_make_skb): a datagram
    /// socket (UDP, ping) or a kernel control socket. `connectedID`: the
    /// inet_id of a connected socket (the caller advanced it), nil for an
    /// unconnected one.
    case datagram(pmtu: IPPMTUDiscovery, connectedID: UInt16?)
    /// ip_build_and_send_pkt: a listener's SYN-ACK.
    case synAck(pmtu: IPPMTUDiscovery)

    /// icmp_sk: echo replies and errors (IP_PMTUDISC_DONT: no DF, the
    /// shared generator).
    static let icmp = IPv4Sender.datagram(pmtu: .dont, connectedID: nil)
    /// ipv4_tcp_sk, ip_send_unicast_reply's socket: RSTs for no
    /// connection and the ACKs of SYN-RECV and TIME-WAIT
    /// (IP_PMTUDISC_DO: DF and id 0).
    static let tcpControl = IPv4Sender.datagram(pmtu: .do, connectedID: nil)

    var usesPathMTU: Bool {
        switch self {
        case .connection(_, let m), .datagram(let m, _), .synAck(let m): m.rawValue < IPPMTUDiscovery.probe.rawValue
        }
    }

    /// DF for a packet of `length` bytes (whole, GSO included) on a route
    /// of `mtu`, and whether a packet that would not fit as sent is refused
    /// with EMSGSIZE instead of fragmented.
    func dontFragment(length: Int, mtu: Int, mtuLocked: Bool) -> (df: Bool, refuse: Bool) {
        switch self {
        case .connection(_, let m):
            return (m.dontFragment(mtuLocked: mtuLocked), m.dontFragment(mtuLocked: mtuLocked))
        case .datagram(let m, _):
            // DF is set when we want to see it on the wire: always for DO
            // and PROBE, for WANT only when the datagram fits.
            let df = m == .do || m == .probe || (length <= mtu && m.dontFragment(mtuLocked: mtuLocked))
            // ip_append_data's maxnonfragsize: EMSGSIZE unless ignore_df.
            return (df, !m.ignoresDF)
        case .synAck(let m):
            // IPV4_MIN_MTU: a small SYN-ACK always goes with DF.
            let df = length <= 576 || m.dontFragment(mtuLocked: mtuLocked)
            return (df, df)
        }
    }
}
