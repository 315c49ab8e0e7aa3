// `--trace`: trace records rendered in kernel words, one line each, in the
// spirit of `perf trace` / ftrace over the kernel's receive and transmit
// path. Lines go to stderr so that a lab's stdout stays what Linux prints.
//
//   [   1.000123] #3 ns r: netif_receive_skb eth0 len 98 IP 10.1.0.2 > 10.2.0.2: ICMP echo request, id 1, seq 1, length 64
//   [   1.000123] #3 ns r: NF_INET_PRE_ROUTING accept
//   [   1.000123] #3 ns r: fib_lookup rule 32766 table main: 10.2.0.0/24 unicast dev eth1 scope link
//   [   1.000123] #3 ns r: ip_forward ttl 63
//   [   1.000123] #3 ns r: NF_INET_FORWARD accept
//   [   1.000123] #3 ns r: NF_INET_POST_ROUTING accept
//   [   1.000123] #3 ns r: neigh_resolve_output 10.2.0.2 dev eth1 NUD_REACHABLE
//   [   1.000123] #3 ns r: dev_queue_xmit eth1 qdisc noqueue
//   [   1.000123] #3 ns r: veth_xmit eth1
//
// `[seconds.micros]` is virtual time (dmesg's format); `#N` the packet's
// trace id (an ICMP error keeps the id of the packet that caused it);
// `ns NAME` the namespace (`init_net` for the initial one). Names are
// Linux's: function names from the kernel path, NF_INET_*, NUD_*, and the
// SKB_DROP_REASON_* suffix after `kfree_skb reason`.
import NetWire
import Netstack

public struct TraceRenderer {
    /// The TTL each traced IPv4 packet arrived with (for `ip_forward ttl N`).
    /// The TTL or hop limit each traced IP packet arrived with, and whether it was IPv6.
    private var arrivalTTL: [UInt32: (ttl: UInt8, v6: Bool)] = [:]

    public init() {}

    /// One line, newline-terminated.
    public mutating func render(_ r: TraceRecord, stack: Stack) -> String {
        let ns = r.namespace >= 0 ? stack.namespaces.first { $0.id == Int(r.namespace) } : nil
        var line = Self.timestamp(r.time) + " #\(r.traceID) "
        if let ns {
            line += "ns \(ns.name.isEmpty ? "init_net" : ns.name): "
        } else {
            line += "- "
        }
        line += text(r, ns)
        line += "\n"
        return line
    }

    /// `[SSSSS.uuuuuu]`, as dmesg prints kernel time.
    public static func timestamp(_ t: Instant) -> String {
        let ns = max(t.nanoseconds, 0)
        let seconds = String(ns / 1_000_000_000)
        let micros = String(ns % 1_000_000_000 / 1000)
        return "[" + String(repeating: " ", count: max(0, 5 - seconds.count)) + seconds + "."
            + String(repeating: "0", count: 6 - micros.count) + micros + "]"
    }

    mutating func text(_ r: TraceRecord, _ ns: NetworkNamespace?) -> String {
        func dev(_ i: Int32) -> String { ns?.device(index: i)?.name ?? "if\(i)" }
        switch r.event {
        case .drop(let reason):
            arrivalTTL[r.traceID] = nil
            return "kfree_skb reason \(Self.dropName(reason))"
        case .receive(let d):
            return "netif_receive_skb \(dev(d))"
        case .receivedFrame(let d, let length, let snapshot):
            rememberTTL(r.traceID, snapshot)
            return "netif_receive_skb \(dev(d)) len \(length) " + Self.summary(snapshot, length: Int(length))
        case .localSend(let destination, let proto, let first, let length):
            return "\(Self.sendFunction(proto, first, v6: destination.isIPv6)) len \(length) daddr \(destination)"
        case .localOut(let length, let snapshot):
            return "ip_local_out len \(length) " + Self.summary(snapshot, length: Int(length))
        case .queuedFrame(let length, let snapshot):
            let bytes = snapshot.bytes
            let isARP = bytes.count >= 14 && bytes[12] == 0x08 && bytes[13] == 0x06
            return "\(isARP ? "arp_xmit" : "dev_queue_xmit") len \(length) " + Self.summary(snapshot, length: Int(length))
        case .transmit(let d):
            return "dev_queue_xmit \(dev(d))"
        case .queueTransmit(let d, let qdisc):
            return "dev_queue_xmit \(dev(d)) qdisc \(qdisc.rawValue)"
        case .qdiscEnqueue(let d, let qdisc):
            return "qdisc_enqueue \(dev(d)) \(qdisc.rawValue)"
        case .qdiscDequeue(let d, let qdisc):
            return "qdisc_dequeue \(dev(d)) \(qdisc.rawValue)"
        case .driverTransmit(let d):
            let name: String
            switch ns?.device(index: d)?.kind {
            case .loopback?: name = "loopback_xmit"
            case .veth?: name = "veth_xmit"
            case .dummy?: name = "dummy_xmit"
            default: name = "ndo_start_xmit"
            }
            return "\(name) \(dev(d))"
        case .hook(let hook):
            return "\(hook.linuxName) accept"
        case .route(let rule, let table, let type, let out):
            return "fib_lookup rule \(rule) table \(RouteTableID.name(table)): \(type.name) dev \(dev(out))"
        case .fibResult(let route):
            var s = "fib_lookup rule \(route.rulePriority) table \(RouteTableID.name(route.table)): "
            s += route.destination.length == 0 ? "default" : route.destination.network.description
            s += " \(route.type.name)"
            if let gw = route.gateway { s += " via \(gw)" }
            if route.outputDevice != 0 { s += " dev \(dev(route.outputDevice))" }
            s += " scope \(route.scope.name)"
            return s
        case .noRoute(let error):
            return "fib_lookup failed: \(Self.errnoName(error))"
        case .deliver(let proto):
            return "ip_local_deliver proto \(IPProtocol(rawValue: proto))"
        case .forward:
            guard let a = arrivalTTL[r.traceID] else { return "ip_forward" }
            let fn = a.v6 ? "ip6_forward hlim" : "ip_forward ttl"
            return a.ttl > 1 ? "\(fn) \(a.ttl - 1)" : "\(fn) \(a.ttl) expired"
        case .icmpError(let type, let code):
            return "icmp_send \(Self.icmpName(type: type, code: code))"
        case .icmpv6Error(let type, let code):
            return "icmp6_send \(Self.icmpv6Name(type: type, code: code))"
        case .neighbour(let state):
            return "neigh \(Self.nudName(NUDState(rawValue: state)))"
        case .neighbourOutput(let nextHop, let d, let state):
            var s = "neigh_resolve_output \(nextHop) dev \(dev(d)) \(Self.nudName(state))"
            if state == .incomplete { s += " (queued)" }
            return s
        }
    }

    mutating func rememberTTL(_ id: UInt32, _ snapshot: TraceSnapshot) {
        let b = snapshot.bytes
        guard snapshot.start == .ethernet, b.count >= 14 + 20, b[12] == 0x08 || b[12] == 0x86 else { return }
        if arrivalTTL.count > 4096 { arrivalTTL.removeAll() }
        if b[12] == 0x08, b[13] == 0x00 { arrivalTTL[id] = (b[14 + 8], false) }
        if b[12] == 0x86, b[13] == 0xDD, b.count >= 14 + 8 { arrivalTTL[id] = (b[14 + 7], true) }
    }

    /// tcpdump's one-line summary of the snapshot (`IP a > b: ICMP echo request, …`).
    static func summary(_ snapshot: TraceSnapshot, length: Int) -> String {
        snapshot.bytes.withUnsafeBytes { b in
            snapshot.start == .ethernet
                ? FrameSummary.ethernet(b, wireLength: length)
                : FrameSummary.rawIP(b, wireLength: length)
        }
    }

    /// The socket call that starts a locally generated packet's path.
    /// For ICMP, `type` tells a ping socket's echo request from the
    /// stack's own messages (icmp_reply answers an echo, icmp_send the rest).
    static func sendFunction(_ proto: UInt8, _ type: UInt8, v6: Bool) -> String {
        switch proto {
        case IPProtocol.icmp.rawValue:
            type == ICMPv4Type.echoRequest ? "ping_v4_sendmsg" : type == ICMPv4Type.echoReply ? "icmp_reply" : "icmp_send"
        case IPProtocol.icmpv6.rawValue:
            type == 128 ? "ping_v6_sendmsg" : type == 129 ? "icmpv6_echo_reply" : "icmp6_send"
        case IPProtocol.udp.rawValue: v6 ? "udpv6_sendmsg" : "udp_sendmsg"
        case IPProtocol.tcp.rawValue: "tcp_sendmsg"
        default: v6 ? "rawv6_sendmsg" : "raw_sendmsg"
        }
    }

    /// SKB_DROP_REASON_X → X (what `perf script` shows for skb:kfree_skb).
    static func dropName(_ reason: DropReason) -> String {
        let name = reason.linuxName
        let prefix = "SKB_DROP_REASON_"
        return name.hasPrefix(prefix) ? String(name.dropFirst(prefix.count)) : name
    }

    static func nudName(_ state: NUDState) -> String {
        state.description.split(separator: ",").map { "NUD_\($0)" }.joined(separator: ",")
    }

    static func errnoName(_ e: RouteError) -> String {
        switch e {
        case .networkUnreachable: "ENETUNREACH"
        case .hostUnreachable: "EHOSTUNREACH"
        case .prohibited: "EACCES"
        case .blackhole, .invalid: "EINVAL"
        case .crossDevice: "EXDEV"
        }
    }

    /// include/uapi/linux/icmp.h names.
    /// The ICMPv6 error in the kernel's names (include/uapi/linux/icmpv6.h).
    static func icmpv6Name(type: UInt8, code: UInt8) -> String {
        func named(_ t: String, _ codes: [String]) -> String {
            t + " " + (Int(code) < codes.count ? codes[Int(code)] : "code \(code)")
        }
        switch type {
        case 1: return named("ICMPV6_DEST_UNREACH", ["ICMPV6_NOROUTE", "ICMPV6_ADM_PROHIBITED", "ICMPV6_NOT_NEIGHBOUR",
                                                     "ICMPV6_ADDR_UNREACH", "ICMPV6_PORT_UNREACH", "ICMPV6_POLICY_FAIL",
                                                     "ICMPV6_REJECT_ROUTE"])
        case 2: return "ICMPV6_PKT_TOOBIG"
        case 3: return named("ICMPV6_TIME_EXCEED", ["ICMPV6_EXC_HOPLIMIT", "ICMPV6_EXC_FRAGTIME"])
        case 4: return named("ICMPV6_PARAMPROB", ["ICMPV6_HDR_FIELD", "ICMPV6_UNK_NEXTHDR", "ICMPV6_UNK_OPTION"])
        default: return "type \(type) code \(code)"
        }
    }

    static func icmpName(type: UInt8, code: UInt8) -> String {
        switch type {
        case 3:
            let codes = ["ICMP_NET_UNREACH", "ICMP_HOST_UNREACH", "ICMP_PROT_UNREACH", "ICMP_PORT_UNREACH",
                         "ICMP_FRAG_NEEDED", "ICMP_SR_FAILED", "ICMP_NET_UNKNOWN", "ICMP_HOST_UNKNOWN",
                         "ICMP_HOST_ISOLATED", "ICMP_NET_ANO", "ICMP_HOST_ANO", "ICMP_NET_UNR_TOS",
                         "ICMP_HOST_UNR_TOS", "ICMP_PKT_FILTERED", "ICMP_PREC_VIOLATION", "ICMP_PREC_CUTOFF"]
            return "ICMP_DEST_UNREACH " + (Int(code) < codes.count ? codes[Int(code)] : "code \(code)")
        case 11:
            return "ICMP_TIME_EXCEEDED " + (code == 0 ? "ICMP_EXC_TTL" : code == 1 ? "ICMP_EXC_FRAGTIME" : "code \(code)")
        case 5:
            let codes = ["ICMP_REDIR_NET", "ICMP_REDIR_HOST", "ICMP_REDIR_NETTOS", "ICMP_REDIR_HOSTTOS"]
            return "ICMP_REDIRECT " + (Int(code) < codes.count ? codes[Int(code)] : "code \(code)")
        case 12:
            return "ICMP_PARAMETERPROB code \(code)"
        default:
            return "type \(type) code \(code)"
        }
    }
}
