// ICMPv6 (RFC 4443) receive and send.
// Kernel counterpart: net/ipv6/icmp.c (icmpv6_rcv, icmpv6_echo_reply,
// icmpv6_notify, icmp6_send with is_ineligible, icmpv6_xrlim_allow and
// icmpv6_mask_allow), net/ipv6/ping.c (echo replies to ping sockets).
//
// Linux's choices kept here: errors quote the offending packet so that the
// error fits in the minimum MTU (1280); never about an ICMPv6 error; about
// a multicast (or not-for-us) packet only Packet Too Big and Parameter
// Problem code 2 for an option whose action asks for it; per-destination
// rate limit net.ipv6.icmp.ratelimit (1000 ms) scaled down by the route's
// prefix length (tmo >> ((128 − plen) >> 5)), not applied to Packet Too
// Big or informational messages (icmpv6_ratemask 0-1,3-127), nor towards
// loopback; the global icmp_msgs_per_sec/burst bucket as IPv4.
import NetWire

extension NetworkNamespace {
    /// icmpv6_rcv(): checksum, counters, then the per-type handler. The
    /// packet starts at the ICMPv6 header.
    func icmp6Receive(_ packet: consuming PacketBuffer, header h: IPv6Header, on dev: NetDevice) {
        let info: (ok: Bool, type: UInt8, code: UInt8, rest: UInt32)? = packet.withUnsafeReadableBytes { b in
            guard b.count >= 8 else { return nil }
            var c = PseudoHeader.ipv6(source: h.source, destination: h.destination)
                .seed(protocol: IPProtocol.icmpv6.rawValue, length: b.count)
            c.add(b)
            return (c.verifies, b.u8(0), b.u8(1), b.be32(4))
        }
        count(.icmp6InMsgs)
        guard let m = info else {
            count(.icmp6InErrors)
            drop(packet, .pktTooSmall)
            return
        }
        guard m.ok || packet.metadata.checksum == .unnecessary else {
            count(.icmp6InCsumErrors)
            count(.icmp6InErrors)
            drop(packet, .icmpCsum)
            return
        }
        switch m.type {
        case ICMPv6Type.echoRequest:
            count(.icmp6InEchos)
            // icmpv6_rcv consumes an ignored echo (consume_skb), as icmp_echo
            // does for IPv4: not a drop.
            if config.ipv6IcmpEchoIgnoreAll != 0 { return }
            icmp6Echo(packet, header: h, on: dev)
        case ICMPv6Type.echoReply:
            count(.icmp6InEchoReplies)
            pingReceive6(packet, source: h.source, hopLimit: h.hopLimit)
        case ICMPv6Type.destinationUnreachable:
            count(.icmp6InDestUnreachs)
            icmp6Notify(packet, header: h, type: m.type, code: m.code, info: m.rest)
        case ICMPv6Type.packetTooBig:
            count(.icmp6InPktTooBigs)
            icmp6Notify(packet, header: h, type: m.type, code: m.code, info: m.rest)
        case ICMPv6Type.timeExceeded:
            count(.icmp6InTimeExcds)
            icmp6Notify(packet, header: h, type: m.type, code: m.code, info: m.rest)
        case ICMPv6Type.parameterProblem:
            count(.icmp6InParmProblems)
            icmp6Notify(packet, header: h, type: m.type, code: m.code, info: m.rest)
        case ICMPv6Type.routerSolicitation, ICMPv6Type.routerAdvertisement, ICMPv6Type.neighborSolicitation,
             ICMPv6Type.neighborAdvertisement, ICMPv6Type.redirect:
            switch m.type {
            case ICMPv6Type.routerSolicitation: count(.icmp6InRouterSolicits)
            case ICMPv6Type.routerAdvertisement: count(.icmp6InRouterAdvertisements)
            case ICMPv6Type.neighborSolicitation: count(.icmp6InNeighborSolicits)
            case ICMPv6Type.neighborAdvertisement: count(.icmp6InNeighborAdvertisements)
            default: count(.icmp6InRedirects)
            }
            ndiscReceive(packet, header: h, on: dev)
        default:
            // Informational messages nobody handles are consumed; unknown
            // errors go to the sockets as any error would (icmpv6_notify).
            if ICMPv6Type.isError(m.type) {
                icmp6Notify(packet, header: h, type: m.type, code: m.code, info: m.rest)
            }
        }
    }

    /// icmpv6_echo_reply(): the request turned into the reply, from the
    /// address it was sent to (unless multicast: then the route's source).
    func icmp6Echo(_ packet: consuming PacketBuffer, header h: IPv6Header, on dev: NetDevice) {
        var p = packet
        guard p.unshare(from: stack.shard.pool) else { drop(p, .nomem); return }
        p.withUnsafeMutableReadableBytes { b in
            b.setU8(0, ICMPv6Type.echoReply)
            b.setBE16(2, 0)
        }
        p.metadata = PacketMetadata()
        count(.icmp6OutMsgs)
        count(.icmp6OutEchoReplies)
        let source: IPv6Address? = h.destination.isMulticast ? nil : h.destination
        let oif: Int32 = h.source.isLinkLocal ? dev.ifindex : 0
        ipv6SendLocal(p, source: source, destination: h.source, proto: .icmpv6, boundDevice: oif, icmpChecksum: true)
    }

    /// icmpv6_notify(): hand the error to the socket of the quoted packet
    /// (UDP or ping), and learn a path MTU from Packet Too Big.
    func icmp6Notify(_ packet: consuming PacketBuffer, header h: IPv6Header, type: UInt8, code: UInt8, info: UInt32) {
        let quoted: (dst: IPv6Address, src: IPv6Address, proto: UInt8, w0: UInt16, w1: UInt16, w2: UInt16, w3: UInt16)? =
            packet.withUnsafeReadableBytes { b in
                guard b.count >= 8 &+ IPv6Packet.headerLength else { return nil }
                let q = UnsafeRawBufferPointer(rebasing: b[8...])
                guard q.u8(0) >> 4 == 6 else { return nil }
                // ipv6_skip_exthdr over the quoted chain.
                var nh = q.u8(6)
                var at = IPv6Packet.headerLength
                var n = 0
                while n < IPv6ExtensionHeaders.defaultLimit {
                    n += 1
                    switch nh {
                    case IPProtocol.hopByHop.rawValue, IPProtocol.routing.rawValue, IPProtocol.destinationOptions.rawValue:
                        guard at &+ 2 <= q.count else { return nil }
                        nh = q.u8(at)
                        at &+= (Int(q.u8(at &+ 1)) &+ 1) &* 8
                        continue
                    case IPProtocol.fragment.rawValue:
                        guard at &+ 8 <= q.count else { return nil }
                        if q.be16(at &+ 2) & 0xFFF8 != 0 { return nil }
                        nh = q.u8(at)
                        at &+= 8
                        continue
                    default:
                        break
                    }
                    break
                }
                guard at &+ 8 <= q.count else { return nil }
                return (IPv6Address(reading: q, at: 24), IPv6Address(reading: q, at: 8), nh,
                        q.be16(at), q.be16(at &+ 2), q.be16(at &+ 4), q.be16(at &+ 6))
            }
        guard let q = quoted else {
            count(.icmp6InErrors)
            drop(packet, .pktTooSmall)
            return
        }
        if type == ICMPv6Type.packetTooBig {
            pmtu.learn(.v6(q.dst), mtu: Int(info), now: stack.now)
        }
        let seq = q.proto == IPProtocol.icmpv6.rawValue ? q.w3 : 0
        let error = SocketError(type: type, code: code, from: .v6(h.source), info: info, quotedSequence: seq)
        switch q.proto {
        case IPProtocol.udp.rawValue:
            udpError(error, local: .v6(q.src), localPort: q.w0, remote: .v6(q.dst), remotePort: q.w1)
        case IPProtocol.tcp.rawValue:
            tcpError(error, local: .v6(q.src), localPort: q.w0, remote: .v6(q.dst), remotePort: q.w1,
                     sequence: UInt32(q.w2) << 16 | UInt32(q.w3))
        case IPProtocol.icmpv6.rawValue:
            // Only about our echo requests (type 128 in the quote's first word).
            if q.w0 >> 8 == UInt16(ICMPv6Type.echoRequest) {
                pingError(error, identifier: q.w2, remote: .v6(q.dst))
            }
        default:
            break
        }
    }

    /// icmp6_send(): an error about `original` (whose network header is
    /// recorded) to its sender, if Linux would send one.
    func icmp6Send(_ original: borrowing PacketBuffer, type: UInt8, code: UInt8, info: UInt32, inbound: NetDevice?) {
        guard let o = original.withHeaderBytes(at: .network, { b -> (src: IPv6Address, dst: IPv6Address, total: Int, eligible: Bool)? in
            guard b.count >= IPv6Packet.headerLength, b.u8(0) >> 4 == 6 else { return nil }
            let src = IPv6Address(reading: b, at: 8), dst = IPv6Address(reading: b, at: 24)
            let total = min(b.count, IPv6Packet.headerLength &+ Int(b.be16(4)))
            // is_ineligible(): never about an ICMPv6 error (or a truncated one).
            var nh = b.u8(6)
            var at = IPv6Packet.headerLength
            var n = 0
            while n < IPv6ExtensionHeaders.defaultLimit {
                n += 1
                if nh == IPProtocol.hopByHop.rawValue || nh == IPProtocol.routing.rawValue
                    || nh == IPProtocol.destinationOptions.rawValue {
                    guard at &+ 2 <= total else { return (src, dst, total, true) }
                    nh = b.u8(at)
                    at &+= (Int(b.u8(at &+ 1)) &+ 1) &* 8
                } else if nh == IPProtocol.fragment.rawValue {
                    guard at &+ 8 <= total else { return (src, dst, total, true) }
                    if b.be16(at &+ 2) & 0xFFF8 != 0 { return (src, dst, total, true) }
                    nh = b.u8(at)
                    at &+= 8
                } else {
                    break
                }
            }
            if nh == IPProtocol.icmpv6.rawValue {
                guard at < total else { return (src, dst, total, false) }
                if b.u8(at) & 0x80 == 0 { return (src, dst, total, false) }
            }
            return (src, dst, total, true)
        }) ?? nil, o.eligible else { return }
        let notForUs = original.metadata.packetType != .host && original.metadata.packetType != .loopback
            && original.metadata.packetType != .outgoing
        if o.dst.isMulticast || notForUs {
            let optionProblem = type == ICMPv6Type.parameterProblem && code == ICMPv6Code.unrecognizedOption
            guard type == ICMPv6Type.packetTooBig || optionProblem else { return }
        }
        if o.src.isUnspecified || o.src.isMulticast { return }
        // The source: the address the packet was sent to when it is ours,
        // else the route's choice towards the sender.
        let source: IPv6Address? = !o.dst.isMulticast && isLocal(.v6(o.dst)) ? o.dst : nil
        let oif: Int32 = o.src.isLinkLocal ? (inbound?.ifindex ?? original.metadata.ingressDevice) : 0
        let decision: RouteDecision
        switch routeOutput(FlowKey(destination: .v6(o.src), source: source.map { .v6($0) }, oif: oif,
                                   ipproto: IPProtocol.icmpv6.rawValue)) {
        case .failure:
            count(.icmp6OutErrors)
            return
        case .success(let d):
            decision = d
        }
        // icmpv6_xrlim_allow(): errors but Packet Too Big (ratemask), not
        // towards loopback; the interval shrinks for wider routes.
        if type < 128 && type != ICMPv6Type.packetTooBig {
            let toLoopback = decision.type == .local || device(index: decision.nextHop.device)?.kind == .loopback
            if !toLoopback {
                if !icmp6Rate.allowGlobal(perSecond: config.icmpMsgsPerSec, burst: config.icmpMsgsBurst, now: stack.now) {
                    count(.icmpOutRateLimitGlobal)
                    return
                }
                var timeout = config.ipv6IcmpRatelimit
                let plen = decision.route.destination.length
                if plen < 128 { timeout >>= (128 - plen) >> 5 }
                if !icmp6Rate.allowPeer(.v6(o.src), timeoutMs: timeout, now: stack.now) {
                    count(.icmp6OutRateLimitHost)
                    return
                }
            }
        }
        // As much of the original as fits in the minimum MTU (RFC 4443 §2.4 (c)).
        guard let p = icmpErrorMessage(quoting: original, length: min(o.total, 1280 - IPv6Packet.headerLength - 8),
                                       type: type, code: code, info: info) else { return }
        trace(p, .icmpv6Error(type: type, code: code))
        count(.icmp6OutMsgs)
        switch type {
        case ICMPv6Type.destinationUnreachable: count(.icmp6OutDestUnreachs)
        case ICMPv6Type.packetTooBig: count(.icmp6OutPktTooBigs)
        case ICMPv6Type.timeExceeded: count(.icmp6OutTimeExcds)
        case ICMPv6Type.parameterProblem: count(.icmp6OutParmProblems)
        default: break
        }
        ipv6SendLocal(p, source: source, destination: o.src, proto: .icmpv6, boundDevice: oif, icmpChecksum: true)
    }
}
