// IPv6 receive, local delivery, forwarding and output.
// Kernel counterparts: net/ipv6/ip6_input.c (ipv6_rcv, ip6_rcv_core,
// ip6_rcv_finish, ip6_input_finish / ip6_protocol_deliver_rcu, ip6_mc_input),
// net/ipv6/exthdrs.c (ipv6_parse_hopopts, ipv6_destopt_rcv, ipv6_rthdr_rcv,
// ip6_tlvopt_unknown), net/ipv6/route.c (ip6_pkt_drop), net/ipv6/ip6_output.c
// (ip6_forward, ip6_output, ip6_finish_output, ip6_finish_output2,
// ip6_fragment), net/ipv6/output_core.c (ip6_local_out).
// RFC 8200 (the header, extension headers, §4.2 unknown options, §4.4
// routing header, §5 packet size), RFC 4291 §2.5.2/§2.7 (addresses not to
// be seen on the wire).
//
// Where Linux decides differently from the RFCs, Linux wins: forwarding is
// net.ipv6.conf.all.forwarding alone (ip6_forward); a host answers a packet
// it has no route for with Destination Unreachable (no route) whatever its
// forwarding setting (ip6_pkt_drop); non-first fragments are answered too.
import NetWire

/// The IPv6 header fields the receive path keeps after validation.
struct IPv6Header {
    var source: IPv6Address
    var destination: IPv6Address
    /// The fixed header's next header.
    var nextHeader: UInt8
    var hopLimit: UInt8
    var trafficClass: UInt8
    var payloadLength: Int
    var flowLabel: UInt32
}

enum IPv6ValidationFailure {
    case tooShort, badVersion, badAddress, truncated
}

/// What processing an options header (hop-by-hop or destination) decided.
enum IPv6OptionsVerdict: Equatable {
    case accept
    /// Discard silently (action 01, or a malformed header).
    case discard
    /// Discard and send Parameter Problem code 2 pointing at the option.
    case parameterProblem(pointer: Int)
    /// Code 2 unless the destination was multicast (action 11).
    case parameterProblemUnlessMulticast(pointer: Int)
    case malformed
}

/// ip6_parse_tlv(): the options of the header at `offset` (its length
/// already checked to lie within `end`). Pad1, PadN and Router Alert are
/// understood; unknown options act by their two high bits (RFC 8200 §4.2).
func ipv6ProcessOptions(_ b: UnsafeRawBufferPointer, offset: Int, end: Int) -> IPv6OptionsVerdict {
    guard offset &+ 2 <= end else { return .malformed }
    let length = (Int(b[offset &+ 1]) &+ 1) &* 8
    guard offset &+ length <= end else { return .malformed }
    var i = offset &+ 2
    let stop = offset &+ length
    var padding = 0
    while i < stop {
        let type = b[i]
        if type == IPv6OptionType.pad1 {
            padding &+= 1
            if padding > 7 { return .discard }
            i &+= 1
            continue
        }
        guard i &+ 2 <= stop else { return .malformed }
        let optionLength = Int(b[i &+ 1])
        guard i &+ 2 &+ optionLength <= stop else { return .malformed }
        switch type {
        case IPv6OptionType.padN:
            padding &+= optionLength &+ 2
            // RFC 4942: at most 7 bytes of padding, and only zeros (Linux).
            if padding > 7 { return .discard }
            for k in 0..<optionLength where b[i &+ 2 &+ k] != 0 { return .discard }
        case IPv6OptionType.routerAlert:
            padding = 0
        default:
            padding = 0
            switch IPv6UnknownOptionAction(optionType: type) {
            case .skip: break
            case .discard: return .discard
            case .discardSendParameterProblem: return .parameterProblem(pointer: i)
            case .discardSendParameterProblemUnlessMulticast: return .parameterProblemUnlessMulticast(pointer: i)
            }
        }
        i &+= 2 &+ optionLength
    }
    return .accept
}

extension NetworkNamespace {
    /// ip6_rcv_core(): validate, hop-by-hop options, then PREROUTING and the
    /// input route.
    func ipv6Receive(_ packet: consuming PacketBuffer, on dev: NetDevice) {
        var p = packet
        count(.ip6InReceives)
        if p.metadata.packetType == .otherHost {
            drop(p, .otherhost)
            return
        }
        if dev.ipv6.disableIPv6 != 0 {
            count(.ip6InDiscards)
            drop(p, .ipv6disabled)
            return
        }
        let onLoopback = dev.kind == .loopback || p.metadata.packetType == .loopback
        let parsed: (IPv6Header?, IPv6ValidationFailure?) = p.withUnsafeReadableBytes { b in
            guard b.count >= IPv6Packet.headerLength else { return (nil, .tooShort) }
            guard b.u8(0) >> 4 == 6 else { return (nil, .badVersion) }
            let h = IPv6Header(source: IPv6Address(reading: b, at: 8), destination: IPv6Address(reading: b, at: 24),
                               nextHeader: b.u8(6), hopLimit: b.u8(7),
                               trafficClass: UInt8(truncatingIfNeeded: b.be16(0) >> 4),
                               payloadLength: Int(b.be16(4)), flowLabel: b.be32(0) & 0xF_FFFF)
            // RFC 4291: loopback addresses never leave a node; a multicast
            // source, a v4-mapped source, scope-0 and (off loopback)
            // interface-local multicast destinations are invalid.
            if !onLoopback && (h.source.isLoopback || h.destination.isLoopback) { return (nil, .badAddress) }
            if h.source.isMulticast || h.source.isV4Mapped { return (nil, .badAddress) }
            if h.destination.isMulticast {
                let scope = (h.destination.high >> 48) & 0xF
                if scope == 0 || (scope == 1 && !onLoopback) { return (nil, .badAddress) }
            }
            if h.payloadLength != 0 || h.nextHeader != IPProtocol.hopByHop.rawValue {
                guard IPv6Packet.headerLength &+ h.payloadLength <= b.count else { return (nil, .truncated) }
            }
            return (h, nil)
        }
        guard let h = parsed.0 else {
            switch parsed.1 {
            case .truncated?:
                count(.ip6InTruncatedPkts)
                drop(p, .pktTooSmall)
            case .badVersion?:
                count(.ip6InHdrErrors)
                drop(p, .unhandledProto)
            default:
                count(.ip6InHdrErrors)
                drop(p, .ipInhdr)
            }
            return
        }
        if h.payloadLength == 0 && h.nextHeader == IPProtocol.hopByHop.rawValue {
            // A jumbogram (RFC 2675): not supported (no device carries one).
            count(.ip6InHdrErrors)
            drop(p, .ipInhdr)
            return
        }
        p.trim(to: IPv6Packet.headerLength &+ h.payloadLength)
        if h.nextHeader == IPProtocol.hopByHop.rawValue {
            // ipv6_parse_hopopts()
            let verdict = p.withUnsafeReadableBytes { b in ipv6ProcessOptions(b, offset: IPv6Packet.headerLength, end: b.count) }
            switch verdict {
            case .accept:
                break
            case .discard, .malformed:
                count(.ip6InHdrErrors)
                drop(p, .ipInhdr)
                return
            case .parameterProblem(let at), .parameterProblemUnlessMulticast(let at):
                count(.ip6InHdrErrors)
                if case .parameterProblem = verdict {
                    icmp6Send(p, type: ICMPv6Type.parameterProblem, code: ICMPv6Code.unrecognizedOption, info: UInt32(at), inbound: dev)
                } else if !h.destination.isMulticast {
                    icmp6Send(p, type: ICMPv6Type.parameterProblem, code: ICMPv6Code.unrecognizedOption, info: UInt32(at), inbound: dev)
                }
                drop(p, .ipInhdr)
                return
            }
        }
        guard let q = netfilterHook(.preRouting, p) else { return }
        ipv6ReceiveFinish(q, header: h, on: dev)
    }

    /// Whether the device listens to multicast group `group` (the groups
    /// every IPv6 interface joins: all-nodes, the solicited-node groups of
    /// its addresses, all-routers when forwarding).
    func ipv6JoinedGroup(_ group: IPv6Address, device dev: NetDevice) -> Bool {
        let scope = (group.high >> 48) & 0xF
        if group.low == 1 && group.high == (0xFF00 | scope) << 48 && (scope == 1 || scope == 2) { return true }
        if group.low == 2 && group.high == (0xFF00 | scope) << 48 && (scope == 1 || scope == 2 || scope == 5) {
            return ipv6All.forwarding != 0 || dev.ipv6.forwarding != 0
        }
        if group.high == 0xFF02 << 48 && group.low >> 24 == 0x1_FF {
            for a in dev.addresses {
                if case .v6(let x) = a.address, x.solicitedNodeMulticast == group { return true }
            }
        }
        return false
    }

    /// ip6_rcv_finish(): route the packet (ip6_route_input) and send it on
    /// its way: local delivery (ip6_input / ip6_mc_input), forwarding, or
    /// an error (ip6_pkt_drop).
    func ipv6ReceiveFinish(_ packet: consuming PacketBuffer, header h: IPv6Header, on dev: NetDevice) {
        if h.destination.isMulticast {
            count(.ip6InMcastPkts)
            guard ipv6JoinedGroup(h.destination, device: dev) || dev.kind == .loopback else {
                drop(packet, .notSpecified)
                return
            }
            ipv6LocalDeliver(packet, header: h, on: dev)
            return
        }
        // A packet looped back through lo carried its output route: ours.
        if dev.kind == .loopback && isLocal(.v6(h.destination)) {
            ipv6LocalDeliver(packet, header: h, on: dev)
            return
        }
        // Link-local destinations are scoped to the arrival device.
        if h.destination.isLinkLocal {
            guard dev.addresses.contains(where: { $0.address == .v6(h.destination) && !$0.flags.contains(.tentative) }) else {
                count(.ip6InAddrErrors)
                drop(packet, .ipInaddrerrors)
                return
            }
            ipv6LocalDeliver(packet, header: h, on: dev)
            return
        }
        let key = FlowKey(destination: .v6(h.destination), source: .v6(h.source), iif: dev.ifindex,
                          mark: packet.metadata.mark, ipproto: h.nextHeader, flowLabel: h.flowLabel)
        switch routeInput(key, device: dev) {
        case .failure(let error):
            trace(packet, .noRoute(error))
            ipv6RouteError(packet, header: h, error: error, on: dev)
        case .success(let decision):
            traceRoute(packet, decision)
            switch decision.type {
            case .local:
                ipv6LocalDeliver(packet, header: h, on: dev)
            case .unicast:
                ipv6Forward(packet, header: h, decision: decision, on: dev)
            case .blackhole:
                drop(packet, .notSpecified)
            case .prohibit:
                ipv6RouteError(packet, header: h, error: .prohibited, on: dev)
            case .unreachable, .throw:
                ipv6RouteError(packet, header: h, error: .networkUnreachable, on: dev)
            default:
                count(.ip6InAddrErrors)
                drop(packet, .ipInaddrerrors)
            }
        }
    }

    /// ip6_pkt_drop(): a failed input route answers Destination Unreachable
    /// (no route, or administratively prohibited) and counts InNoRoutes.
    func ipv6RouteError(_ packet: consuming PacketBuffer, header h: IPv6Header, error: RouteError, on dev: NetDevice) {
        switch error {
        case .blackhole:
            drop(packet, .notSpecified)
        case .prohibited:
            icmp6Send(packet, type: ICMPv6Type.destinationUnreachable, code: ICMPv6Code.administrativelyProhibited,
                      info: 0, inbound: dev)
            drop(packet, .notSpecified)
        default:
            if h.destination.isUnspecified {
                count(.ip6InAddrErrors)
                drop(packet, .ipInaddrerrors)
                return
            }
            count(.ip6InNoRoutes)
            icmp6Send(packet, type: ICMPv6Type.destinationUnreachable, code: ICMPv6Code.noRoute, info: 0, inbound: dev)
            drop(packet, .ipInnoroutes)
        }
    }

    /// ip6_input → LOCAL_IN → ip6_input_finish: the extension headers in
    /// order (reassembly at the fragment header restarts the walk on the
    /// whole datagram), then the upper-layer protocol.
    func ipv6LocalDeliver(_ packet: consuming PacketBuffer, header h: IPv6Header, on dev: NetDevice) {
        guard let q = netfilterHook(.localIn, packet) else { return }
        var p = q
        var h = h
        enum Step { case next(UInt8, Int, Int), deliver(UInt8, Int, Int), reassemble, problem(UInt8, Int), discard, unknown(Int) }
        var nh = h.nextHeader
        var offset = IPv6Packet.headerLength
        var field = 6
        var rounds = 0
        while rounds < 2 * IPv6ExtensionHeaders.defaultLimit {
            rounds += 1
            let current = nh, at = offset, nhField = field
            let step: Step = p.withUnsafeReadableBytes { b in
                switch current {
                case IPProtocol.hopByHop.rawValue:
                    // Only right after the fixed header (already processed).
                    guard at == IPv6Packet.headerLength else { return .unknown(nhField) }
                    guard at &+ 2 <= b.count else { return .discard }
                    return .next(b[at], at &+ (Int(b[at &+ 1]) &+ 1) &* 8, at)
                case IPProtocol.destinationOptions.rawValue:
                    switch ipv6ProcessOptions(b, offset: at, end: b.count) {
                    case .accept: return .next(b[at], at &+ (Int(b[at &+ 1]) &+ 1) &* 8, at)
                    case .discard, .malformed: return .discard
                    case .parameterProblem(let ptr): return .problem(ICMPv6Code.unrecognizedOption, ptr)
                    case .parameterProblemUnlessMulticast(let ptr):
                        return h.destination.isMulticast ? .discard : .problem(ICMPv6Code.unrecognizedOption, ptr)
                    }
                case IPProtocol.routing.rawValue:
                    guard at &+ 8 <= b.count else { return .discard }
                    let length = (Int(b[at &+ 1]) &+ 1) &* 8
                    guard at &+ length <= b.count else { return .discard }
                    // ipv6_rthdr_rcv: with segments left, an unsupported type
                    // (every type here) is a Parameter Problem at the type.
                    if b[at &+ 3] != 0 { return .problem(ICMPv6Code.erroneousHeaderField, at &+ 2) }
                    return .next(b[at], at &+ length, at)
                case IPProtocol.fragment.rawValue:
                    return .reassemble
                default:
                    return .deliver(current, at, nhField)
                }
            }
            switch step {
            case .next(let n, let o, let f):
                guard o <= p.count else {
                    count(.ip6InHdrErrors)
                    drop(p, .ipv6BadExthdr)
                    return
                }
                nh = n
                offset = o
                field = f
            case .discard:
                count(.ip6InHdrErrors)
                drop(p, .ipv6BadExthdr)
                return
            case .problem(let code, let pointer):
                count(.ip6InHdrErrors)
                icmp6Send(p, type: ICMPv6Type.parameterProblem, code: code, info: UInt32(pointer), inbound: dev)
                drop(p, .ipv6BadExthdr)
                return
            case .unknown(let f):
                count(.ip6InUnknownProtos)
                icmp6Send(p, type: ICMPv6Type.parameterProblem, code: ICMPv6Code.unrecognizedNextHeader,
                          info: UInt32(f), inbound: dev)
                drop(p, .ipNoproto)
                return
            case .reassemble:
                guard let whole = ipv6Reassemble(p, on: dev) else { return }
                p = whole
                // Start over on the whole datagram (its chain without the
                // fragment header).
                let (n, length) = p.withUnsafeReadableBytes { b in (b[6], Int(b.be16(4))) }
                h.payloadLength = length
                nh = n
                offset = IPv6Packet.headerLength
                field = 6
            case .deliver(let proto, let at, let f):
                ipv6ProtocolDeliver(p, proto: proto, offset: at, nextHeaderField: f, header: h, on: dev)
                return
            }
        }
        count(.ip6InHdrErrors)
        drop(p, .ipv6BadExthdr)
    }

    /// ip6_protocol_deliver_rcu(): the upper-layer handler, or Parameter
    /// Problem (unknown next header) pointing at the field that named it.
    func ipv6ProtocolDeliver(_ packet: consuming PacketBuffer, proto: UInt8, offset: Int, nextHeaderField: Int,
                             header h: IPv6Header, on dev: NetDevice) {
        var q = packet
        trace(q, .deliver(protocolNumber: proto))
        switch proto {
        case IPProtocol.icmpv6.rawValue:
            count(.ip6InDelivers)
            q.pull(offset)
            q.resetTransportHeader()
            icmp6Receive(q, header: h, on: dev)
        case IPProtocol.udp.rawValue:
            count(.ip6InDelivers)
            q.pull(offset)
            q.resetTransportHeader()
            udp6Receive(q, header: h, on: dev)
        case IPProtocol.tcp.rawValue:
            count(.ip6InDelivers)
            q.pull(offset)
            q.resetTransportHeader()
            tcpReceive(q, source: .v6(h.source), destination: .v6(h.destination), on: dev, ecn: h.trafficClass & 3)
        case IPProtocol.noNextHeader.rawValue:
            count(.ip6InDelivers)
            _ = consume q
        default:
            count(.ip6InUnknownProtos)
            icmp6Send(q, type: ICMPv6Type.parameterProblem, code: ICMPv6Code.unrecognizedNextHeader,
                      info: UInt32(nextHeaderField), inbound: dev)
            drop(q, .ipNoproto)
        }
    }

    /// ip6_forward(): forwarding switch, hop limit, source scope, MTU, the
    /// FORWARD hook, then output.
    func ipv6Forward(_ packet: consuming PacketBuffer, header h: IPv6Header, decision: RouteDecision, on dev: NetDevice) {
        guard ipv6All.forwarding != 0 else {
            count(.ip6InAddrErrors)
            drop(packet, .ipInaddrerrors)
            return
        }
        trace(packet, .forward)
        if packet.metadata.packetType != .host && packet.metadata.packetType != .loopback {
            drop(packet, .otherhost)
            return
        }
        if h.hopLimit <= 1 {
            icmp6Send(packet, type: ICMPv6Type.timeExceeded, code: ICMPv6Code.hopLimitExceeded, info: 0, inbound: dev)
            count(.ip6InHdrErrors)
            drop(packet, .ipInhdr)
            return
        }
        if h.source.isUnspecified || h.source.isMulticast || h.source.isLoopback {
            count(.ip6InAddrErrors)
            drop(packet, .ipInaddrerrors)
            return
        }
        if h.source.isLinkLocal || h.destination.isLinkLocal {
            // A link-local address may not leave its link (RFC 4291 §2.5.6).
            icmp6Send(packet, type: ICMPv6Type.destinationUnreachable, code: ICMPv6Code.beyondScope, info: 0, inbound: dev)
            count(.ip6InAddrErrors)
            drop(packet, .ipInaddrerrors)
            return
        }
        guard let out = device(index: decision.nextHop.device), out.isUp else {
            count(.ip6OutDiscards)
            drop(packet, .devReady)
            return
        }
        let mtu = max(1280, pathMTU(to: .v6(h.destination), decision: decision, device: out))
        if packet.count > mtu && !gsoSegmentsFit(packet, ipHeaderLength: IPv6Packet.headerLength, mtu: mtu) {
            icmp6Send(packet, type: ICMPv6Type.packetTooBig, code: 0, info: UInt32(mtu), inbound: dev)
            count(.ip6InTooBigErrors)
            count(.ip6FragFails)
            drop(packet, .pktTooBig)
            return
        }
        var p = packet
        guard p.unshare(from: stack.shard.pool) else {
            count(.ip6OutDiscards)
            drop(p, .nomem)
            return
        }
        p.withUnsafeMutableReadableBytes { b in b.setU8(7, h.hopLimit &- 1) }
        guard let q = netfilterHook(.forward, p) else { return }
        count(.ip6OutForwDatagrams)
        ipv6Output(q, destination: h.destination, decision: decision, device: out, mtu: mtu)
    }

    /// ip6_output → POSTROUTING → ip6_finish_output (fragment) →
    /// ip6_finish_output2 (neighbour).
    func ipv6Output(_ packet: consuming PacketBuffer, destination: IPv6Address, decision: RouteDecision,
                    device out: NetDevice, mtu: Int) {
        guard let p = netfilterHook(.postRouting, packet) else { return }
        let nextHop: IPAddress = decision.nextHop.gateway ?? .v6(destination)
        if destination.isMulticast { count(.ip6OutMcastPkts) }
        if p.count > mtu && !gsoSegmentsFit(p, ipHeaderLength: IPv6Packet.headerLength, mtu: mtu) {
            // ip6_finish_output_gso_slowpath_drop: a GSO packet whose
            // segments do not fit (ip6_forward answered Packet Too Big
            // already, so only a local one) is cut first; a segment that
            // fits goes unfragmented (no atomic fragment, RFC 8021).
            if p.metadata.gsoSize != 0,
               p.segmentGSO(pool: stack.shard.pool, emit: { s in
                   if s.count > mtu {
                       ipv6Fragment(s, mtu: mtu, device: out, nextHop: nextHop, route: decision.route,
                                    destination: destination)
                   } else {
                       count(.ip6OutTransmits)
                       neighbourOutput(s, device: out, nextHop: nextHop, route: decision.route)
                   }
               }) != nil {
                return
            }
            var p = p
            p.dropGSO()
            ipv6Fragment(p, mtu: mtu, device: out, nextHop: nextHop, route: decision.route, destination: destination)
            return
        }
        count(.ip6OutTransmits)
        neighbourOutput(p, device: out, nextHop: nextHop, route: decision.route)
    }

    /// Builds the IPv6 header in front of a transport payload and sends it
    /// (ip6_xmit / ip6_push_pending_frames for a datagram). `icmpChecksum`
    /// fills the ICMPv6 checksum once the source is known. Returns the errno
    /// a socket reports.
    @discardableResult
    func ipv6SendLocal(_ payload: consuming PacketBuffer, source: IPv6Address?, destination: IPv6Address,
                       proto: IPProtocol, hopLimit: UInt8? = nil, boundDevice: Int32 = 0,
                       icmpChecksum: Bool = false, dontFragment: Bool = false, mark: UInt32 = 0,
                       sourcePort: UInt16 = 0, destinationPort: UInt16 = 0, trafficClass: UInt8 = 0) -> Errno? {
        var p = payload
        if stack.isTracing {
            traceLocalSend(&p, source: source.map { .v6($0) }, destination: .v6(destination), proto: proto.rawValue,
                           sourcePort: sourcePort, destinationPort: destinationPort)
        }
        let key = FlowKey(destination: .v6(destination), source: source.map { .v6($0) }, oif: boundDevice, mark: mark,
                          ipproto: proto.rawValue, sourcePort: sourcePort, destinationPort: destinationPort)
        let decision: RouteDecision
        switch routeOutput(key) {
        case .failure(let e):
            count(.ip6OutNoRoutes)
            trace(p, .noRoute(e))
            drop(p, .ipOutnoroutes)
            return e.errno
        case .success(let d):
            decision = d
        }
        traceRoute(p, decision)
        switch decision.type {
        case .unicast, .local, .multicast:
            break
        case .prohibit:
            drop(p, .ipOutnoroutes)
            return .EACCES
        case .blackhole:
            drop(p, .ipOutnoroutes)
            return .EINVAL
        case .throw:
            count(.ip6OutNoRoutes)
            drop(p, .ipOutnoroutes)
            return .EAGAIN
        default:
            count(.ip6OutNoRoutes)
            drop(p, .ipOutnoroutes)
            return .EHOSTUNREACH
        }
        guard let out = device(index: decision.nextHop.device) else {
            drop(p, .devReady)
            return .ENETUNREACH
        }
        let src: IPv6Address
        if let s = source, !s.isUnspecified {
            src = s
        } else if case .v6(let s)? = decision.source, !s.isUnspecified {
            src = s
        } else {
            drop(p, .ipOutnoroutes)
            return .EADDRNOTAVAIL
        }
        let local = decision.type == .local || out.kind == .loopback
        let device = local ? loopback : out
        let mtu = local ? loopback.mtu : max(1280, pathMTU(to: .v6(destination), decision: decision, device: out))
        lastOutputTakesGSO = device.genericSegmentation && !device.qdisc.cutsGSO
        let total = p.count &+ IPv6Packet.headerLength
        if p.count > 65535 {
            drop(p, .pktTooBig)
            return .EMSGSIZE
        }
        let wire = p.metadata.gsoSize == 0 ? total
            : p.gsoSegmentLength(transportOffset: 0, ipHeaderLength: IPv6Packet.headerLength)
        if dontFragment && wire > mtu {
            drop(p, .pktTooBig)
            return .EMSGSIZE
        }
        guard p.headroom >= IPv6Packet.headerLength &+ 16 else {
            drop(p, .nomem)
            return .ENOBUFS
        }
        if icmpChecksum {
            p.withUnsafeMutableReadableBytes { b in
                guard b.count >= 4 else { return }
                b.setBE16(2, 0)
                var c = PseudoHeader.ipv6(source: src, destination: destination)
                    .seed(protocol: IPProtocol.icmpv6.rawValue, length: b.count)
                c.add(UnsafeRawBufferPointer(b))
                b.setBE16(2, c.value)
            }
        }
        let hops: UInt8 = hopLimit ?? (destination.isMulticast ? 1 : UInt8(truncatingIfNeeded: out.ipv6.hopLimit))
        let repr = IPv6Repr(source: src, destination: destination, nextHeader: proto, payloadLength: p.count,
                            hopLimit: hops, dscp: trafficClass >> 2, ecn: trafficClass & 3)
        let hdr = p.push(IPv6Packet.headerLength)
        try? repr.emit(into: hdr)
        p.resetNetworkHeader()
        p.metadata.mark = mark
        if stack.isTracing { traceLocalOut(&p, etherType: .ipv6, route: decision) }
        count(.ip6OutRequests)
        guard let q = netfilterHook(.localOut, p) else { return nil }
        ipv6Output(q, destination: destination, decision: decision, device: device, mtu: mtu)
        return nil
    }

    /// ipv6_select_ident: a per-destination counter (Linux hashes with a
    /// boot-time key; a counter keeps labs deterministic).
    func nextIPv6Identification(_ destination: IPv6Address) -> UInt32 {
        let seed = UInt32(truncatingIfNeeded: (destination.low ^ destination.high) &* 0x9E37_79B9_7F4A_7C15 >> 32)
        let v = ipv6State.idents[destination, default: seed | 1]
        ipv6State.idents[destination] = v &+ 1
        return v
    }
}
