// TCP ECN: Explicit Congestion Notification (RFC 3168 §6.1) as Linux does
// it in "classic" mode (no AccECN, no DCTCP).
// Kernel counterparts: tcp_ecn_send_syn(), tcp_ecn_clear_syn(),
// tcp_ecn_send_synack(), tcp_ecn_make_synack(), tcp_ecn_send()
// (net/ipv4/tcp_output.c); tcp_ecn_create_request(), tcp_ecn_rcv_synack(),
// tcp_ecn_rcv_syn(), tcp_ecn_accept_cwr(), __tcp_ecn_check_ce(),
// tcp_ecn_rcv_ecn_echo(), tcp_enter_cwr(), tcp_init_cwnd_reduction()
// (net/ipv4/tcp_input.c); tcp_ecn_openreq_child() (tcp_minisocks.c).
//
// The handshake: with tcp_ecn = 1 the SYN carries ECE|CWR (a retransmitted
// SYN drops them when tcp_ecn_fallback is on: a middlebox may discard
// ECN-setup SYNs); a listener with tcp_ecn 1 or 2 answers an ECN-setup SYN
// that arrived Not-ECT with ECE on its SYN-ACK; the connection uses ECN
// when both did (TCP_ECN_OK).
//
// Then: new data leaves ECT(0) (INET_ECN_xmit); pure ACKs, FIN-only and
// window probes, and retransmissions leave Not-ECT (INET_ECN_dontxmit).
// A CE-marked segment makes the receiver set ECE on every ACK until a
// segment with CWR arrives (TCP_ECN_DEMAND_CWR), with quick ACKs when the
// marking starts. An ACK with ECE makes the sender reduce its window once
// per window of data (the CWR state, PRR down to the congestion control's
// ssthresh, tcp_enter_cwr) and set CWR on its next new data segment.
//
// With SYN cookies the ECN bit rides in the SYN-ACK's TSval (TCPSynCookies).
//
// Not done: AccECN (tcp_ecn 3–5), per-route `features ecn`, congestion
// controls that need ECT on every segment (DCTCP).
import NetWire

extension TCPConnection {
    // MARK: handshake

    /// tcp_ecn_create_request() + tcp_ecn_openreq_child(): a passive open
    /// uses ECN when the SYN was an ECN-setup SYN (ECE and CWR), ECN is not
    /// off, and the SYN itself was Not-ECT (or has reserved bits set: a
    /// later ECN scheme).
    static func ecnAcceptsSyn(_ syn: TCPSegment, ipECN: UInt8, configuration: TCPConfiguration) -> Bool {
        guard syn.ece && syn.cwr, configuration.ecn != 0 else { return false }
        return ipECN & 3 == IPECN.notECT || syn.reservedBits != 0 || syn.ae
    }

    /// tcp_ecn_rcv_synack(): the peer did not agree (no ECE, or CWR set too).
    func ecnReceiveSynAck(_ seg: TCPSegment) {
        if ecnFlags.contains(.ok) && (!seg.ece || seg.cwr) { ecnFlags.remove(.ok) }
    }

    /// tcp_ecn_rcv_syn(): a simultaneous open's SYN must ask for ECN too.
    func ecnReceiveSyn(_ seg: TCPSegment) {
        if ecnFlags.contains(.ok) && (!seg.ece || !seg.cwr) { ecnFlags.remove(.ok) }
    }

    /// The ECN flags of our SYN or SYN-ACK: ECE|CWR on the first SYN that
    /// asks (tcp_ecn_send_syn; tcp_ecn_clear_syn on a retransmission when
    /// tcp_ecn_fallback is on), ECE on the SYN-ACK of an ECN connection
    /// (tcp_ecn_send_synack / tcp_ecn_make_synack, retransmissions too).
    func ecnSynFlags(synAck: Bool, retransmission: Bool) -> TCPFlags {
        guard ecnFlags.contains(.ok) else { return [] }
        if synAck { return .ece }
        if retransmission && configuration.ecnFallback { return [] }
        return [.ece, .cwr]
    }

    // MARK: receiving

    /// tcp_ecn_accept_cwr(): the peer reduced its window; stop echoing. A
    /// data segment with CWR is ACKed at once (the sender's window may be
    /// down to one segment).
    func ecnAcceptCWR(_ seg: TCPSegment) {
        guard seg.cwr else { return }
        ecnFlags.remove(.demandCWR)
        if seg.payload.count > 0 { ackNow = true }
    }

    /// __tcp_ecn_check_ce(): the received data segment's ECN field.
    func ecnCheckCE() {
        guard ecnFlags.contains(.ok) else { return }
        switch receivedECN & 3 {
        case IPECN.notECT:
            // ECT went away after it was seen: ACK quickly (a router that
            // stopped marking must not leave the sender waiting).
            if ecnFlags.contains(.seen) { ecnEnterQuickAck() }
        case IPECN.ce:
            if !ecnFlags.contains(.demandCWR) {
                // Better not delay ACKs: the sender may have a tiny window.
                ecnEnterQuickAck()
                ecnFlags.insert(.demandCWR)
            }
            ecnFlags.insert(.seen)
        default:
            ecnFlags.insert(.seen)
        }
    }

    /// tcp_enter_quickack_mode(sk, 2).
    func ecnEnterQuickAck() {
        quickAcks = max(quickAcks, min(max(rcvWnd / max(2 &* rcvMss, 1), 2), 2))
        pingpong = false
        ato = configuration.delayedAckMinimum
    }

    /// tcp_ecn_rcv_ecn_echo() in tcp_ack(): an ACK with ECE (not a SYN-ACK)
    /// on an ECN connection. Its delivered packets count as CE-delivered;
    /// if data was outstanding and no reduction is under way, the window is
    /// reduced once (tcp_try_to_open → tcp_enter_cwr). Called after loss
    /// detection, before the congestion control's per-ACK step, as
    /// tcp_fastretrans_alert runs before tcp_cong_control.
    func ecnEcho(_ seg: TCPSegment, delivered: Int, priorPacketsOut: Int) {
        guard seg.ece, !seg.syn, ecnFlags.contains(.ok) else { return }
        deliveredCE &+= delivered
        guard priorPacketsOut > 0 else { return }
        if congestionState == .open || congestionState == .disorder { enterCWR() }
    }

    /// tcp_enter_cwr() + tcp_init_cwnd_reduction(): the CWR state until
    /// everything sent so far is ACKed; ssthresh from the congestion
    /// control; PRR brings cwnd down to it; no undo.
    func enterCWR() {
        undoMarker = nil
        highSeq = sndNxt
        tlpHighSeq = nil
        window.cwndCount = 0
        priorCwnd = window.cwnd
        prrDelivered = 0
        prrOut = 0
        window.ssthresh = cc.ssthresh(cwnd: window.cwnd)
        congestionState = .cwr
        ecnQueueCWR()
    }

    /// tcp_ecn_queue_cwr(): every window reduction (CWR, recovery, loss)
    /// tells the receiver with CWR on the next new data.
    func ecnQueueCWR() {
        if ecnFlags.contains(.ok) { ecnFlags.insert(.queueCWR) }
    }

    // MARK: sending

    /// tcp_ecn_send(): the ECN marks of a non-SYN segment. New data (not a
    /// retransmission, not a bare FIN) goes ECT(0) and takes a queued CWR;
    /// every segment of an ECN connection echoes ECE while a CE mark waits
    /// for the peer's CWR. Sets `outputECN` for the IP header. TIME-WAIT's
    /// ACKs are the timewait socket's (tcp_v4_send_ack): no ECN marks.
    @inline(__always)
    func ecnSend(_ flags: inout TCPFlags, newData: Bool) {
        guard ecnFlags.contains(.ok), state != .timeWait else { outputECN = IPECN.notECT; return }
        if newData {
            outputECN = IPECN.ect0
            if ecnFlags.contains(.queueCWR) {
                ecnFlags.remove(.queueCWR)
                flags.insert(.cwr)
            }
        } else {
            outputECN = IPECN.notECT
        }
        if ecnFlags.contains(.demandCWR) { flags.insert(.ece) }
    }
}
