// TCP and ICMP: path-MTU reductions and ICMP errors for a connection, and
// the tcp_info snapshot `ss -ti` prints.
// Kernel counterparts: tcp_v4_err() / tcp_v6_err(), tcp_v4_mtu_reduced(),
// tcp_simple_retransmit() (net/ipv4/tcp_ipv4.c, tcp_input.c), tcp_get_info()
// (net/ipv4/tcp.c).
import NetWire

extension TCPConnection {
    /// ICMP "fragmentation needed" / ICMPv6 "packet too big" (RFC 1191,
    /// 8201): the path MTU fell to `mtu`. Segments that no longer fit are
    /// resent at the new size with no congestion response, as
    /// tcp_simple_retransmit() does. `quotedSequence` is the sequence number
    /// in the ICMP quote; one outside [snd_una, snd_nxt] is ignored (RFC 5927).
    public func pathMTUChanged(_ mtu: Int, quotedSequence: TCPSeqNumber, now: Instant) -> TCPEvents {
        guard state != .closed, state != .timeWait else { return [] }
        guard !(quotedSequence < sndUna), !(sndNxt < quotedSequence) else { return [] }
        let ipHeader = local.address.isIPv6 ? 40 : 20
        let newMSS = max(mtu &- ipHeader &- 20 &- (timestampsEnabled ? 12 : 0), 48)   // tcp_min_snd_mss
        guard newMSS < mss else { return [] }
        mss = newMSS
        var marked = false
        for i in 0..<sent.count {
            let r = sent[i]
            if !r.flags.contains(.sacked) && r.payloadLength > mss {
                markLost(i)
                marked = true
            }
        }
        if marked && congestionState != .loss {
            highSeq = sndNxt
            window.ssthresh = max(window.ssthresh, (window.cwnd >> 1) + (window.cwnd >> 2))
            congestionState = .loss
        }
        return wantsOutput ? .output : []
    }

    /// Other ICMP errors (destination unreachable, time exceeded…), already
    /// mapped to an errno by the IP layer (icmp_err_convert). Before the
    /// handshake completes they abort the attempt; afterwards they are soft
    /// errors reported only if the connection times out (tcp_v4_err).
    public func receiveICMPError(_ icmpError: Errno, quotedSequence: TCPSeqNumber, now: Instant) -> TCPEvents {
        guard !(quotedSequence < sndUna), !(sndNxt < quotedSequence) else { return [] }
        switch state {
        case .synSent, .synReceived:
            error = icmpError
            return enterClosed(now: now).union(.failed)
        case .closed, .timeWait:
            return []
        default:
            softError = icmpError
            return []
        }
    }
}
