// DropReason: why a packet left the stack without being delivered or sent.
// Kernel counterpart: enum skb_drop_reason (include/net/dropreason-core.h),
// passed to kfree_skb_reason() and visible in the skb:kfree_skb tracepoint.
// The cases and their order follow the kernel's list (v6.8, then the reasons
// added through v6.13 at the end); `linuxName` is the SKB_DROP_REASON_*
// suffix, so traces and counters read in the kernel's words.
//
// Every early return that discards a packet goes through `Shard.drop(_:reason:)`.

public enum DropReason: UInt16, CaseIterable, Sendable, CustomStringConvertible {
    case notSpecified
    case noSocket
    case pktTooSmall
    case tcpCsum
    case socketFilter
    case udpCsum
    case netfilterDrop
    case otherhost
    case ipCsum
    case ipInhdr
    case ipRpfilter
    case unicastInL2Multicast
    case xfrmPolicy
    case ipNoproto
    case socketRcvbuff
    case protoMem
    case tcpAuthHdr
    case tcpMd5notfound
    case tcpMd5unexpected
    case tcpMd5failure
    case tcpAonotfound
    case tcpAounexpected
    case tcpAokeynotfound
    case tcpAofailure
    case socketBacklog
    case tcpFlags
    case tcpZerowindow
    case tcpOldData
    case tcpOverwindow
    case tcpOfomerge
    case tcpRFC7323Paws
    case tcpOldSequence
    case tcpInvalidSequence
    case tcpReset
    case tcpInvalidSyn
    case tcpClose
    case tcpFastopen
    case tcpOldAck
    case tcpTooOldAck
    case tcpAckUnsentData
    case tcpOFOQueuePrune
    case tcpOFODrop
    case ipOutnoroutes
    case bpfCgroupEgress
    case ipv6disabled
    case neighCreatefail
    case neighFailed
    case neighQueuefull
    case neighDead
    case tcEgress
    case qdiscDrop
    case cpuBacklog
    case xdp
    case tcIngress
    case unhandledProto
    case skbCsum
    case skbGSOSeg
    case skbUcopyFault
    case devHdr
    case devReady
    case fullRing
    case nomem
    case hdrTrunc
    case tapFilter
    case tapTxfilter
    case icmpCsum
    case invalidProto
    case ipInaddrerrors
    case ipInnoroutes
    case pktTooBig
    case dupFrag
    case fragReasmTimeout
    case fragTooFar
    case tcpMinttl
    case ipv6BadExthdr
    case ipv6NdiscFrag
    case ipv6NdiscHopLimit
    case ipv6NdiscBadCode
    case ipv6NdiscBadOptions
    case ipv6NdiscNsOtherhost
    case queuePurge
    case tcCookieError
    case packetSockError
    case tcChainNotfound
    case tcReclassifyLoop
    case ipLocalSource
    case ipInvalidSource
    case ipInvalidDest
    case vxlanInvalidHdr
    case vxlanVNINotFound
    case vxlanEntryExists
    case macInvalidSource
    case ipTunnelECN
    case tunnelTxinfo
    case localMAC
    case arpPvlanDisable
    case macIEEEMACControl
    case bridgeIngressSTPState

    /// The kernel's name without the SKB_DROP_REASON_ prefix.
    public var linuxName: String { Self.linuxNames[Int(rawValue)] }

    public var description: String { linuxName }

    public init?(linuxName: String) {
        guard let index = Self.linuxNames.firstIndex(of: linuxName) else { return nil }
        self.init(rawValue: UInt16(index))
    }

    static let linuxNames: [String] = [
        "NOT_SPECIFIED",
        "NO_SOCKET",
        "PKT_TOO_SMALL",
        "TCP_CSUM",
        "SOCKET_FILTER",
        "UDP_CSUM",
        "NETFILTER_DROP",
        "OTHERHOST",
        "IP_CSUM",
        "IP_INHDR",
        "IP_RPFILTER",
        "UNICAST_IN_L2_MULTICAST",
        "XFRM_POLICY",
        "IP_NOPROTO",
        "SOCKET_RCVBUFF",
        "PROTO_MEM",
        "TCP_AUTH_HDR",
        "TCP_MD5NOTFOUND",
        "TCP_MD5UNEXPECTED",
        "TCP_MD5FAILURE",
        "TCP_AONOTFOUND",
        "TCP_AOUNEXPECTED",
        "TCP_AOKEYNOTFOUND",
        "TCP_AOFAILURE",
        "SOCKET_BACKLOG",
        "TCP_FLAGS",
        "TCP_ZEROWINDOW",
        "TCP_OLD_DATA",
        "TCP_OVERWINDOW",
        "TCP_OFOMERGE",
        "TCP_RFC7323_PAWS",
        "TCP_OLD_SEQUENCE",
        "TCP_INVALID_SEQUENCE",
        "TCP_RESET",
        "TCP_INVALID_SYN",
        "TCP_CLOSE",
        "TCP_FASTOPEN",
        "TCP_OLD_ACK",
        "TCP_TOO_OLD_ACK",
        "TCP_ACK_UNSENT_DATA",
        "TCP_OFO_QUEUE_PRUNE",
        "TCP_OFO_DROP",
        "IP_OUTNOROUTES",
        "BPF_CGROUP_EGRESS",
        "IPV6DISABLED",
        "NEIGH_CREATEFAIL",
        "NEIGH_FAILED",
        "NEIGH_QUEUEFULL",
        "NEIGH_DEAD",
        "TC_EGRESS",
        "QDISC_DROP",
        "CPU_BACKLOG",
        "XDP",
        "TC_INGRESS",
        "UNHANDLED_PROTO",
        "SKB_CSUM",
        "SKB_GSO_SEG",
        "SKB_UCOPY_FAULT",
        "DEV_HDR",
        "DEV_READY",
        "FULL_RING",
        "NOMEM",
        "HDR_TRUNC",
        "TAP_FILTER",
        "TAP_TXFILTER",
        "ICMP_CSUM",
        "INVALID_PROTO",
        "IP_INADDRERRORS",
        "IP_INNOROUTES",
        "PKT_TOO_BIG",
        "DUP_FRAG",
        "FRAG_REASM_TIMEOUT",
        "FRAG_TOO_FAR",
        "TCP_MINTTL",
        "IPV6_BAD_EXTHDR",
        "IPV6_NDISC_FRAG",
        "IPV6_NDISC_HOP_LIMIT",
        "IPV6_NDISC_BAD_CODE",
        "IPV6_NDISC_BAD_OPTIONS",
        "IPV6_NDISC_NS_OTHERHOST",
        "QUEUE_PURGE",
        "TC_COOKIE_ERROR",
        "PACKET_SOCK_ERROR",
        "TC_CHAIN_NOTFOUND",
        "TC_RECLASSIFY_LOOP",
        "IP_LOCAL_SOURCE",
        "IP_INVALID_SOURCE",
        "IP_INVALID_DEST",
        "VXLAN_INVALID_HDR",
        "VXLAN_VNI_NOT_FOUND",
        "VXLAN_ENTRY_EXISTS",
        "MAC_INVALID_SOURCE",
        "IP_TUNNEL_ECN",
        "TUNNEL_TXINFO",
        "LOCAL_MAC",
        "ARP_PVLAN_DISABLE",
        "MAC_IEEE_MAC_CONTROL",
        "BRIDGE_INGRESS_STP_STATE",
    ]
}
