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

    /// A tcp_info snapshot (what `ss -ti` prints).
    public var info: TCPInfo {
        TCPInfo(state: state, congestionState: congestionState, retransmits: retransmits, probes: probesOut,
                backoff: backoff, timestamps: timestampsEnabled, sack: sackPermitted,
                sndWscale: windowScalingEnabled ? Int(sndWscale) : nil,
                rcvWscale: windowScalingEnabled ? Int(rcvWscale) : nil,
                rto: rto, ato: ato, sndMss: mss, rcvMss: rcvMss, advmss: Int(configuration.advertisedMSS),
                unacked: packetsOut, sacked: sackedOut, lost: lostOut, retrans: retransOut,
                rtt: smoothedRTT, rttvar: rttVariance,
                minRtt: minRttUs == .max ? nil : .microseconds(minRttUs),
                sndCwnd: window.cwnd,
                sndSsthresh: window.ssthresh == TCPCongestionWindow.infiniteSsthresh ? nil : window.ssthresh,
                totalRetrans: totalRetransmits, segsOut: segmentsOut, segsIn: segmentsIn,
                sndWnd: sndWnd, rcvWnd: rcvWnd, notsentBytes: unsentBytes,
                congestionAlgorithm: cc.algorithm)
    }
}

/// struct tcp_info, the fields `ss -ti` shows.
public struct TCPInfo: Sendable, Equatable {
    public var state: TCPState
    public var congestionState: TCPCongestionState
    public var retransmits: Int
    public var probes: Int
    public var backoff: Int
    public var timestamps: Bool
    public var sack: Bool
    public var sndWscale: Int?
    public var rcvWscale: Int?
    public var rto: TimeDelta
    public var ato: TimeDelta
    public var sndMss: Int
    public var rcvMss: Int
    public var advmss: Int
    public var unacked: Int
    public var sacked: Int
    public var lost: Int
    public var retrans: Int
    public var rtt: TimeDelta
    public var rttvar: TimeDelta
    public var minRtt: TimeDelta?
    public var sndCwnd: Int
    public var sndSsthresh: Int?
    public var totalRetrans: Int
    public var segsOut: Int
    public var segsIn: Int
    public var sndWnd: Int
    public var rcvWnd: Int
    public var notsentBytes: Int
    public var congestionAlgorithm: TCPCongestionAlgorithm
}
