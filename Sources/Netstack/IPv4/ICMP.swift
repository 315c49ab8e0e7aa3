// ICMP for IPv4 (RFC 792; RFC 1122 §3.2.2; RFC 1812 §4.3 for routers).
// Kernel counterpart: net/ipv4/icmp.c (icmp_rcv, icmp_echo, icmp_unreach,
// __icmp_send with icmpv4_xrlim_allow / icmp_global_allow) and
// net/ipv4/ping.c for echo replies to ping sockets.
//
// Linux's choices kept here: errors quote the original datagram up to a
// 576-byte total; never about ICMP errors, non-first fragments, or
// broadcast/multicast packets; rate limited per destination by
// icmp_ratelimit for the types in icmp_ratemask (a token bucket of six
// periods, as inet_peer_xrlim_allow) and globally by icmp_msgs_per_sec /
// icmp_msgs_burst; echo replies are never limited.
import NetWire

/// A token bucket per destination (inet_peer rate_tokens) and the global one.
struct ICMPRateLimiter {
    var peers: [IPAddress: (tokens: Int64, last: Instant)] = [:]
    var globalCredit: Int64 = -1
    var globalStamp: Instant = .zero

    /// inet_peer_xrlim_allow(): `timeout` ms per message, burst of 6.
    mutating func allowPeer(_ peer: IPAddress, timeoutMs: Int, now: Instant) -> Bool {
        guard timeoutMs > 0 else { return true }
        let timeout = Int64(timeoutMs) * 1_000_000
        let burst = 6 * timeout
        var e = peers[peer] ?? (tokens: burst, last: now)
        e.tokens = min(burst, e.tokens + (now.nanoseconds - e.last.nanoseconds))
        e.last = now
        let ok = e.tokens >= timeout
        if ok { e.tokens -= timeout }
        if peers.count > 4096 { peers.removeAll(keepingCapacity: true) }
        peers[peer] = e
        return ok
    }

    /// icmp_global_allow(): `perSecond` credits refilled continuously, up to `burst`.
    mutating func allowGlobal(perSecond: Int, burst: Int, now: Instant) -> Bool {
        if globalCredit < 0 { globalCredit = Int64(burst); globalStamp = now }
        let elapsed = now.nanoseconds - globalStamp.nanoseconds
        if elapsed >= 20_000_000 {
            globalCredit = min(Int64(burst), globalCredit + elapsed * Int64(perSecond) / 1_000_000_000)
            globalStamp = now
        }
        guard globalCredit > 0 else { return false }
        globalCredit -= 1
        return true
    }
}

extension NetworkNamespace {
    /// icmp_rcv(): checksum, counters, then the per-type handler.
    func icmpReceive(_ packet: consuming PacketBuffer, header h: IPv4Header, on dev: NetDevice, broadcast: Bool) {
        let info: (ok: Bool, type: UInt8, code: UInt8, rest: UInt32)? = packet.withUnsafeReadableBytes { b in
            guard b.count >= 8 else { return nil }
            return (InternetChecksum.checksum(b) == 0, b.u8(0), b.u8(1), b.be32(4))
        }
        count(.icmpInMsgs)
        guard let m = info else {
            count(.icmpInErrors)
            drop(packet, .pktTooSmall)
            return
        }
        guard m.ok else {
            count(.icmpInCsumErrors)
            count(.icmpInErrors)
            drop(packet, .icmpCsum)
            return
        }
        switch m.type {
        case ICMPv4Type.echoRequest:
            count(.icmpInEchos)
            if broadcast && config.icmpEchoIgnoreBroadcasts != 0 {
                drop(packet, .invalidProto)
                return
            }
            if config.icmpEchoIgnoreAll != 0 { return }
            icmpEcho(packet, header: h, broadcast: broadcast)
        case ICMPv4Type.echoReply:
            count(.icmpInEchoReps)
            pingReceive(packet, header: h)
        case ICMPv4Type.destinationUnreachable:
            count(.icmpInDestUnreachs)
            icmpUnreach(packet, header: h, type: m.type, code: m.code, info: m.rest)
        case ICMPv4Type.timeExceeded:
            count(.icmpInTimeExcds)
            icmpUnreach(packet, header: h, type: m.type, code: m.code, info: m.rest)
        case ICMPv4Type.parameterProblem:
            count(.icmpInParmProbs)
            icmpUnreach(packet, header: h, type: m.type, code: m.code, info: m.rest)
        case ICMPv4Type.redirect:
            count(.icmpInRedirects)
            // Redirects are accepted only by hosts (not forwarding) with
            // accept_redirects; the route cache they would update is not
            // modelled yet, so they are consumed.
        case ICMPv4Type.timestampRequest:
            count(.icmpInTimestamps)
        default:
            break
        }
    }

    /// icmp_echo(): turn the request into the reply in place and send it
    /// from the address it was sent to. Replies and errors leave from
    /// icmp_sk (IP_PMTUDISC_DONT): no DF, the shared id generator.
    func icmpEcho(_ packet: consuming PacketBuffer, header h: IPv4Header, broadcast: Bool) {
        var p = packet
        guard p.unshare(from: stack.shard.pool) else { drop(p, .nomem); return }
        p.withUnsafeMutableReadableBytes { b in
            b.setU8(0, ICMPv4Type.echoReply)
            b.setBE16(2, 0)
            b.setBE16(2, InternetChecksum.checksum(UnsafeRawBufferPointer(b)))
        }
        p.metadata = PacketMetadata()
        count(.icmpOutMsgs)
        count(.icmpOutEchoReps)
        let source: IPv4Address? = broadcast ? nil : h.destination
        ipv4SendLocal(p, source: source, destination: h.source, proto: .icmp, sender: .icmp, tos: h.tos)
    }

    /// icmp_unreach(): hand the error to the socket of the quoted datagram,
    /// and learn a path MTU from "fragmentation needed".
    func icmpUnreach(_ packet: consuming PacketBuffer, header h: IPv4Header, type: UInt8, code: UInt8, info: UInt32) {
        let quoted: (dst: IPv4Address, src: IPv4Address, proto: UInt8, sport: UInt16, dport: UInt16, echoID: UInt16, echoSeq: UInt16)? =
            packet.withUnsafeReadableBytes { b in
                guard b.count >= 8 &+ 20 else { return nil }
                let q = UnsafeRawBufferPointer(rebasing: b[8...])
                let hl = Int(q.u8(0) & 0x0F) &* 4
                guard q.u8(0) >> 4 == 4, hl >= 20, q.count >= hl &+ 8 else { return nil }
                return (IPv4Address(rawValue: q.be32(16)), IPv4Address(rawValue: q.be32(12)), q.u8(9),
                        q.be16(hl), q.be16(hl &+ 2), q.be16(hl &+ 4), q.be16(hl &+ 6))
            }
        guard let q = quoted else {
            count(.icmpInErrors)
            drop(packet, .pktTooSmall)
            return
        }
        if type == ICMPv4Type.destinationUnreachable && code == ICMPv4UnreachableCode.fragmentationNeeded {
            let mtu = Int(info & 0xFFFF)
            if mtu >= 68 { pmtu.learn(.v4(q.dst), mtu: mtu, now: stack.now) }
        }
        let error = SocketError(type: type, code: code, from: .v4(h.source), info: info, quotedSequence: q.echoSeq)
        switch q.proto {
        case IPProtocol.udp.rawValue:
            udpError(error, local: .v4(q.src), localPort: q.sport, remote: .v4(q.dst), remotePort: q.dport)
        case IPProtocol.tcp.rawValue:
            tcpError(error, local: .v4(q.src), localPort: q.sport, remote: .v4(q.dst), remotePort: q.dport,
                     sequence: UInt32(q.echoID) << 16 | UInt32(q.echoSeq))
        case IPProtocol.icmp.rawValue:
            pingError(error, identifier: q.echoID, remote: .v4(q.dst))
        default:
            break
        }
    }

    /// The body of an ICMP or ICMPv6 error: type, code, checksum 0, the
    /// 32-bit info word, then the first `length` bytes of `original` from
    /// its network header. The packet keeps the original's trace id.
    func icmpErrorMessage(quoting original: borrowing PacketBuffer, length: Int, type: UInt8, code: UInt8,
                          info: UInt32) -> PacketBuffer? {
        guard var p = stack.shard.pool.allocate() else { return nil }
        let out = p.put(8 &+ length)
        _ = original.withHeaderBytes(at: .network) { b in
            out.baseAddress!.advanced(by: 8).copyMemory(from: b.baseAddress!, byteCount: length)
        }
        out.setU8(0, type)
        out.setU8(1, code)
        out.setBE16(2, 0)
        out.setBE32(4, info)
        p.metadata.traceID = original.metadata.traceID
        return p
    }

    /// __icmp_send(): an error about `original` (whose network header is
    /// recorded) to its sender, if Linux would send one.
    func icmpSend(_ original: borrowing PacketBuffer, type: UInt8, code: UInt8, info: UInt32, inbound: NetDevice?) {
        guard original.metadata.packetType == .host || original.metadata.packetType == .loopback
                || original.metadata.packetType == .outgoing else { return }
        guard let o = original.withHeaderBytes(at: .network, { b -> (src: IPv4Address, dst: IPv4Address, total: Int, tos: UInt8, ok: Bool)? in
            guard b.count >= 20 else { return nil }
            let hl = Int(b.u8(0) & 0x0F) &* 4
            let src = IPv4Address(rawValue: b.be32(12)), dst = IPv4Address(rawValue: b.be32(16))
            // Only the first fragment; never about an ICMP error.
            if b.be16(6) & 0x1FFF != 0 { return (src, dst, 0, 0, false) }
            if b.u8(9) == IPProtocol.icmp.rawValue, b.count >= hl &+ 1 {
                let t = b.u8(hl)
                let isError = t == 3 || t == 4 || t == 5 || t == 11 || t == 12 || t > 18
                if isError { return (src, dst, 0, 0, false) }
            }
            return (src, dst, min(b.count, Int(b.be16(2))), b.u8(1), true)
        }) ?? nil, o.ok else { return }
        if o.src.isUnspecified || o.src.isLimitedBroadcast || o.src.isMulticast || o.dst.isMulticast || o.dst.isLimitedBroadcast { return }
        // Rate limits (icmpv4_xrlim_allow): only the types in the mask.
        if type <= 31 && (config.icmpRatemask >> Int(type)) & 1 == 1 {
            if !icmpRate.allowGlobal(perSecond: config.icmpMsgsPerSec, burst: config.icmpMsgsBurst, now: stack.now) {
                count(.icmpOutRateLimitGlobal)
                return
            }
            if !icmpRate.allowPeer(.v4(o.src), timeoutMs: config.icmpRatelimit, now: stack.now) {
                count(.icmpOutRateLimitHost)
                return
            }
        }
        // As much of the original as fits in 576 bytes (RFC 1812 §4.3.2.3).
        guard var p = icmpErrorMessage(quoting: original, length: min(o.total, 576 - 20 - 8),
                                       type: type, code: code, info: info) else { return }
        p.withUnsafeMutableReadableBytes { out in
            out.setBE16(2, InternetChecksum.checksum(UnsafeRawBufferPointer(out)))
        }
        trace(p, .icmpError(type: type, code: code))
        count(.icmpOutMsgs)
        switch type {
        case ICMPv4Type.destinationUnreachable: count(.icmpOutDestUnreachs)
        case ICMPv4Type.timeExceeded: count(.icmpOutTimeExcds)
        case ICMPv4Type.parameterProblem: count(.icmpOutParmProbs)
        case ICMPv4Type.redirect: count(.icmpOutRedirects)
        default: break
        }
        // The source: the address the packet was sent to when it was ours,
        // else the route's preferred source towards the sender.
        let source: IPv4Address? = isLocal(.v4(o.dst)) ? o.dst : nil
        ipv4SendLocal(p, source: source, destination: o.src, proto: .icmp, sender: .icmp,
                      tos: (o.tos & 0x1E) | 0xC0)
    }

    /// ICMP redirect (host) to the sender of a packet that could have gone
    /// straight to `gateway`.
    func icmpSendRedirect(_ original: borrowing PacketBuffer, gateway: IPv4Address, inbound: NetDevice) {
        icmpSend(original, type: ICMPv4Type.redirect, code: 1, info: gateway.rawValue, inbound: inbound)
    }
}

/// An ICMP error as a socket sees it (sock_extended_err / IP_RECVERR).
public struct SocketError: Sendable, Equatable {
    public var type: UInt8
    public var code: UInt8
    /// The node that reported it.
    public var from: IPAddress
    /// The rest-of-header word (MTU for frag-needed / PTB).
    public var info: UInt32
    /// For echo requests quoted in the error: their sequence number.
    public var quotedSequence: UInt16
    public var isIPv6: Bool { from.isIPv6 }

    /// The errno icmp_err_convert gives (ECONNREFUSED for port unreachable…).
    public var errno: Errno {
        if isIPv6 {
            switch type {
            case 1: return code == 4 ? .ECONNREFUSED : (code == 1 ? .EACCES : .EHOSTUNREACH)
            case 2: return .EMSGSIZE
            case 3: return .EHOSTUNREACH
            default: return .EPROTO
            }
        }
        switch type {
        case 3:
            switch code {
            case 0: return .ENETUNREACH
            case 1: return .EHOSTUNREACH
            case 2: return .ENOPROTOOPT
            case 3: return .ECONNREFUSED
            case 4: return .EMSGSIZE
            case 9, 10, 13: return .EACCES
            default: return .EHOSTUNREACH
            }
        case 11: return .EHOSTUNREACH
        case 12: return .EPROTO
        default: return .EPROTO
        }
    }
}

/// Learned path MTUs (the route exceptions `ip route get` shows as
/// `cache expires …sec mtu N`), expiring after ip_rt_mtu_expires (600 s).
public struct PMTUCache: Sendable {
    public var entries: [IPAddress: (mtu: Int, expires: Instant)] = [:]
    public static let lifetime = TimeDelta.seconds(600)
    public init() {}

    public func mtu(for destination: IPAddress, now: Instant) -> Int? {
        guard !entries.isEmpty, let e = entries[destination], e.expires > now else { return nil }
        return e.mtu
    }
    mutating func learn(_ destination: IPAddress, mtu: Int, now: Instant) {
        let floor = destination.isIPv4 ? 552 : 1280  // ip_rt_min_pmtu, IPV6_MIN_MTU
        entries[destination] = (max(mtu, floor), now + PMTUCache.lifetime)
    }
}
