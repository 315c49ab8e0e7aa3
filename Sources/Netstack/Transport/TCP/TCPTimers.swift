// TCP timers: retransmission (RTO with exponential backoff), tail loss
// probe, RACK reordering, persist (zero-window probe), delayed ACK,
// keepalive, FIN-WAIT-2 and TIME-WAIT.
// Kernel counterparts: tcp_retransmit_timer(), tcp_write_timeout(),
// retransmits_timed_out(), tcp_model_timeout(), tcp_probe_timer(),
// tcp_delack_timer_handler(), tcp_keepalive_timer() (net/ipv4/tcp_timer.c),
// tcp_schedule_loss_probe(), tcp_rearm_rto() (tcp_output.c, tcp_input.c),
// tcp_rack_reo_timeout() (tcp_recovery.c), inet_twsk (TIME-WAIT).
//
// Linux multiplexes RTO, TLP, RACK and the persist timer on one timer
// (icsk_retransmit_timer with icsk_pending saying which); so does this.
// RFC 6298 with Linux's values: initial RTO 1 s, RTO = SRTT + max(4·RTTVAR,
// 200 ms), doubled per expiry up to 120 s; a connection gives up when the
// time since the first retransmission exceeds what tcp_retries2 (15)
// doublings from 200 ms would take, capped at 120 s each (≈ 924.6 s); a
// SYN after tcp_syn_retries (6) retransmissions, 127 s after the first.
import NetWire

extension TCPConnection {
    /// The earliest time `timerFired` has work; `Instant.distantFuture` when none.
    public var nextDeadline: Instant {
        min(min(retransmitDeadline, delackDeadline), min(keepaliveDeadline, lingerDeadline))
    }

    /// Runs every timer that expired by `now`.
    public func timerFired(now: Instant) -> TCPEvents {
        var events: TCPEvents = []
        if lingerDeadline <= now {
            lingerDeadline = .distantFuture
            if state == .timeWait || state == .finWait2 { return enterClosed(now: now) }
        }
        if delackDeadline <= now {
            delackDeadline = .distantFuture
            if state != .closed {
                // tcp_delack_timer_handler(): a missed delayed ACK inflates ATO,
                // or ends pingpong mode.
                if pingpong {
                    pingpong = false
                    ato = configuration.delayedAckMinimum
                } else {
                    ato = min(ato + ato, rto)
                }
                if ackNow == false { pendingCounters.bump(.delayedAcks) }
                ackNow = true
            }
        }
        if retransmitDeadline <= now {
            let kind = retransmitKind
            retransmitDeadline = .distantFuture
            retransmitKind = .none
            switch kind {
            case .retransmit: events.formUnion(retransmitTimeout(now: now))
            case .probe0: events.formUnion(probeTimeout(now: now))
            case .lossProbe:
                if packetsOut > 0 {
                    tlpDue = true
                    armRTO(now: now)
                }
            case .reorder:
                // tcp_rack_reo_timeout()
                let wait = rackDetectLoss(now: now)
                if lostOut > 0 && congestionState != .recovery && congestionState != .loss {
                    enterRecovery()
                    prrReduction(delivered: 1, newlyLost: 0, unaAdvanced: false)
                }
                if wait > 0 {
                    retransmitKind = .reorder
                    retransmitDeadline = now + .microseconds(wait)
                } else {
                    armRTO(now: now)
                }
            case .none: break
            }
        }
        if keepaliveDeadline <= now {
            keepaliveDeadline = .distantFuture
            events.formUnion(keepaliveTimeout(now: now))
        }
        if wantsOutput { events.insert(.output) }
        return events
    }

    // MARK: arming

    func stopRetransmitTimer() {
        retransmitDeadline = .distantFuture
        retransmitKind = .none
    }

    /// Arms the RTO (ICSK_TIME_RETRANS) for `now + rto`.
    func armRTO(now: Instant) {
        retransmitKind = .retransmit
        retransmitDeadline = now + rto
    }

    /// tcp_set_xmit_timer(): a tail loss probe when one is allowed (RFC 8985
    /// §7.2), else the RTO.
    func armRetransmitTimer(now: Instant) {
        guard packetsOut > 0 else { stopRetransmitTimer(); return }
        if configuration.tailLossProbe, sackPermitted, tlpHighSeq == nil, state.isSynchronized,
           congestionState == .open || congestionState == .cwr {
            var pto: TimeDelta
            if srttUs > 0 {
                // tcp_schedule_loss_probe() (Linux ≥ 5.x): 2·SRTT plus
                // TCP_RTO_MIN when one packet is out (its ACK may be
                // delayed), else plus TCP_TIMEOUT_MIN (2 jiffies, 2 ms at
                // HZ = 1000) — added, not a floor: with a sub-millisecond
                // SRTT a floor fired probes a scheduling hiccup away.
                let srtt = TimeDelta.microseconds(srttUs >> 3)
                pto = srtt + srtt + (packetsOut == 1 ? .milliseconds(200) : .milliseconds(2))
            } else {
                pto = configuration.initialRTO
            }
            // Not later than the RTO would fire for the head.
            if let head = sent.first {
                let rtoLeft = (head.sentAt + rto) - now
                if rtoLeft > .zero && rtoLeft < pto { pto = rtoLeft }
            }
            retransmitKind = .lossProbe
            retransmitDeadline = now + pto
            return
        }
        armRTO(now: now)
    }

    /// tcp_model_timeout(): how long `boundary` retransmissions take from
    /// `base`, doubling, each at most TCP_RTO_MAX.
    func modelTimeout(boundary: Int, base: TimeDelta) -> TimeDelta {
        let maxRTO = configuration.maximumRTO
        var thresh = 0
        while base * Int64(2 << thresh) <= maxRTO && thresh < 30 { thresh &+= 1 }
        // ilog2(TCP_RTO_MAX / base): the last doubling below the cap.
        thresh = max(thresh, 0)
        if boundary <= thresh { return base * Int64((2 << boundary) - 1) }
        return base * Int64((2 << thresh) - 1) + maxRTO * Int64(boundary - thresh)
    }

    // MARK: expiries

    /// tcp_retransmit_timer().
    func retransmitTimeout(now: Instant) -> TCPEvents {
        guard packetsOut > 0 else { return [] }
        pendingCounters.bump(.timeouts)
        switch state {
        case .synSent, .synReceived:
            let limit = state == .synSent ? configuration.synRetries : configuration.synAckRetries
            if retransmits >= limit {
                if state == .synSent || activeOpen { error = softError ?? .ETIMEDOUT }
                return enterClosed(now: now).union(error == nil ? [] : .failed)
            }
            retransmits &+= 1
            backoff &+= 1
            rto = min(rto + rto, configuration.maximumRTO)
            synDue = true
            return []
        case .closed, .timeWait:
            return []
        default:
            break
        }
        if let start = retransStamp,
           now - start >= modelTimeout(boundary: configuration.retries2, base: configuration.minimumRTO) {
            error = softError ?? .ETIMEDOUT
            pendingCounters.bump(.abortOnTimeout)
            return enterClosed(now: now).union(.failed)
        }
        // tcp_enter_loss(): F-RTO unless the timeout interrupts fast recovery.
        frto = configuration.frto && (congestionState != .recovery || retransmits > 0)
        frtoSendNew = false
        // A fresh episode lowers ssthresh once.
        if congestionState != .loss || retransmits == 0 {
            startUndoEpisode()
            window.ssthresh = cc.ssthresh(cwnd: window.cwnd)
            cc.onTimeout()
        }
        // tcp_timeout_mark_lost(): a SACKed record at the head means the
        // receiver reneged (it pruned out-of-order data it had SACKed): the
        // SACK marks go and everything is resent.
        if let head = sent.first, head.flags.contains(.sacked) {
            pendingCounters.bump(.sackReneging)
            for i in 0..<sent.count where sent[i].flags.contains(.sacked) { sent[i].flags.remove(.sacked) }
            sackedOut = 0
        }
        for i in 0..<sent.count {
            var r = sent[i]
            if r.flags.contains(.sacked) { continue }
            if r.flags.contains(.retransInFlight) { r.flags.remove(.retransInFlight); retransOut &-= 1 }
            if !r.flags.contains(.lost) { r.flags.insert(.lost); lostOut &+= 1 }
            sent[i] = r
        }
        retransmitHint = 0
        window.cwnd = packetsInFlight &+ 1
        window.cwndCount = 0
        congestionState = .loss
        ecnQueueCWR()
        highSeq = sndNxt
        dupAcks = 0
        tlpHighSeq = nil
        retransmits &+= 1
        backoff &+= 1
        rto = min(rto + rto, configuration.maximumRTO)
        retransmitKind = .retransmit
        retransmitDeadline = now + rto
        return []
    }

    /// tcp_probe_timer(): a persist probe while the peer's window is zero.
    func probeTimeout(now: Instant) -> TCPEvents {
        guard state.isSynchronized, packetsOut == 0, unsentBytes > 0 || (finQueued && !finSent) else {
            probesOut = 0
            return []
        }
        if probesOut >= configuration.retries2 {
            error = softError ?? .ETIMEDOUT
            pendingCounters.bump(.abortOnTimeout)
            return enterClosed(now: now).union(.failed)
        }
        zeroWindowProbeDue = true
        probesOut &+= 1
        if backoff < configuration.retries2 { backoff &+= 1 }
        let base = max(rto, configuration.minimumRTO)
        retransmitKind = .probe0
        retransmitDeadline = now + min(base * Int64(1 << min(backoff, 20)), configuration.maximumRTO)
        return []
    }

    /// tcp_keepalive_timer().
    func keepaliveTimeout(now: Instant) -> TCPEvents {
        let c = configuration
        guard c.keepalive, state.isSynchronized, state != .timeWait else { return [] }
        if packetsOut > 0 || unsentBytes > 0 {
            keepaliveDeadline = now + c.keepaliveTime
            return []
        }
        let idle = now - lastReceived
        if idle >= c.keepaliveTime {
            if probesOut >= c.keepaliveProbes {
                pendingReset = TCPResetSegment(sequence: sndNxt, acknowledgment: rcvNxt)
                error = softError ?? .ETIMEDOUT
                pendingCounters.bump(.abortOnTimeout)
                return enterClosed(now: now).union([.failed, .output])
            }
            keepaliveProbeDue = true
            probesOut &+= 1
            keepaliveDeadline = now + c.keepaliveInterval
        } else {
            keepaliveDeadline = lastReceived + c.keepaliveTime
        }
        return []
    }
}
