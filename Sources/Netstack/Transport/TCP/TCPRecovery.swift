// TCP ACK processing and loss recovery.
// Kernel counterparts: tcp_ack(), tcp_clean_rtx_queue(), tcp_sacktag_write_queue(),
// tcp_ack_update_rtt(), tcp_rtt_estimator(), tcp_set_rto(),
// tcp_fastretrans_alert(), tcp_enter_recovery(), tcp_cwnd_reduction()
// (net/ipv4/tcp_input.c); tcp_rack_advance(), tcp_rack_detect_loss(),
// tcp_rack_reo_wnd() (net/ipv4/tcp_recovery.c).
//
// RFCs: 6298 (RTO with Linux's estimator: variance floored at TCP_RTO_MIN),
// 6675 (SACK scoreboard; the "IsLost" rule when RACK is off), 8985 (RACK:
// a segment is lost when one sent after it was delivered and it is older
// than RTT + reordering window), 6937 (PRR: in recovery, send in proportion
// to what is delivered so cwnd lands on ssthresh), 6582 (NewReno partial
// ACKs without SACK), 2883 (D-SACK received: a reordering hint).
//
// Also here: undo of spurious episodes (timestamps, RFC 3522 as
// tcp_packet_delayed; D-SACK, RFC 2883 as tcp_try_undo_dsack), F-RTO
// (RFC 5682 SACK-enhanced, tcp_process_loss) and TLP loss episodes
// (RFC 8985 §7.4, tcp_process_tlp_ack).
//
// Not done yet: RACK's adaptive reordering-window steps (reo_wnd_steps),
// Linux's reordering degree (tp->reordering; here a "reordering seen"
// flag), SACK reneging, undo of partial recoveries (tcp_try_undo_partial).
import NetWire

extension TCPConnection {
    // MARK: tcp_ack

    func processAck(_ seg: TCPSegment, options: TCPOptions, now: Instant) -> TCPReceiveResult {
        let ack = seg.acknowledgmentNumber
        let priorUna = sndUna
        var events: TCPEvents = []
        if ack < priorUna {
            // RFC 5961 §5.2: far below the window is an attack or a very
            // old duplicate; otherwise an old ACK we ignore (data goes on).
            if ack < priorUna - maxWindow {
                rateLimitedAck(now: now)
                return TCPReceiveResult(dropReason: .tcpTooOldAck)
            }
            return TCPReceiveResult()
        }
        if sndNxt < ack {
            rateLimitedAck(now: now)
            return TCPReceiveResult(dropReason: .tcpAckUnsentData)
        }

        // tcp_ack_update_window()
        let newWindow = Int(seg.windowSize) << sndWscale
        var windowChanged = false
        if priorUna < ack || sndWl1 < seg.sequenceNumber || (seg.sequenceNumber == sndWl1 && newWindow > sndWnd) {
            windowChanged = newWindow != sndWnd
            sndWnd = newWindow
            sndWl1 = seg.sequenceNumber
            if newWindow > maxWindow { maxWindow = newWindow }
        }
        sndWl2 = ack
        lastAckReceived = now

        let priorInFlight = packetsInFlight
        let priorPacketsOut = packetsOut
        let priorSacked = sackedOut
        priorFack = sackedOut > 0 ? highestSacked : nil
        let priorLost = lostOut
        dsackInThisAck = false
        originalDataDelivered = false
        frtoSendNew = false
        var delivered = 0
        var sackRttUs: Int64 = -1
        if sackPermitted && !options.sackBlocks.isEmpty {
            (delivered, sackRttUs) = processSack(options.sackBlocks, ack: ack, now: now)
        }
        let (ackedDelivered, seqRttUs) = cumulativeAck(ack, now: now, tsEcr: options.timestamps?.echoReply)
        delivered &+= ackedDelivered
        let advanced = priorUna < ack
        if let h = tlpHighSeq, !(ack < h) {
            processTLPAck(ack: ack, highSeq: h, advanced: advanced, delivered: delivered)
        }
        if advanced {
            events.insert(.writable)
            dupAcks = 0
        } else if !sackPermitted, seg.payload.count == 0, !seg.fin, !windowChanged, packetsOut > 0 {
            // RFC 5681 duplicate ACK (NewReno counts them as SACKs, tcp_add_reno_sack).
            dupAcks &+= 1
        }
        // Karn: only unretransmitted data gives a sample; else TSecr (RFC 7323 §4.1).
        var rttUs = seqRttUs >= 0 ? seqRttUs : sackRttUs
        if rttUs < 0, timestampsEnabled, let ts = options.timestamps, ts.echoReply != 0, advanced {
            let ms = Int32(bitPattern: tsValue(now) &- ts.echoReply)
            if ms >= 0 { rttUs = Int64(ms) * 1000 }
        }
        if rttUs >= 0 { rttEstimate(rttUs) }
        if delivered > 0 { deliveredTotal &+= delivered; deliveredStamp = now }
        rateGenerate(now: now)

        // Timers (tcp_rearm_rto(), tcp_ack_probe()) before loss detection,
        // which may replace them with the RACK reordering timer.
        if packetsOut == 0 {
            if retransmitKind != .probe0 { stopRetransmitTimer() }
            if retransmitKind == .probe0 && sndWnd > 0 { stopRetransmitTimer(); backoff = 0; probesOut = 0 }
        } else if advanced || retransmitKind == .none {
            armRetransmitTimer(now: now)
        }
        lossDetection(now: now, advanced: advanced, tsEcr: options.timestamps?.echoReply,
                      sacked: sackedOut > priorSacked, duplicate: !advanced && delivered == 0 && seg.payload.count == 0)
        ecnEcho(seg, delivered: delivered, priorPacketsOut: priorPacketsOut)
        // Congestion control (tcp_cong_control).
        let newlyLost = lostOut &- priorLost
        if congestionState == .recovery || congestionState == .cwr {
            prrReduction(delivered: delivered, newlyLost: max(newlyLost, 0), unaAdvanced: advanced)
        } else if advanced && delivered > 0 && cwndLimited(priorInFlight: priorInFlight) {
            // tcp_may_raise_cwnd(): grow on in-order delivery only (RFC 5681).

            cc.onAck(&window, acked: delivered, rttMicros: rttUs, ack: ack, sndNxt: sndNxt, now: now)
        }

        // FIN acknowledged: the closing states move on.
        if finSent, sndNxt == ack, sent.isEmpty {
            switch state {
            case .finWait1:
                state = .finWait2
                if isOrphaned { armLinger(configuration.finTimeout, now: now) }
            case .closing:
                events.formUnion(enterTimeWait(now: now))
                return TCPReceiveResult(events: events)
            case .lastAck:
                events.formUnion(enterClosed(now: now))
                return TCPReceiveResult(events: events)
            default: break
            }
        }
        return TCPReceiveResult(events: events)
    }

    /// tcp_process_tlp_ack() (RFC 8985 §7.4): did the probe repair a loss?
    func processTLPAck(ack: TCPSeqNumber, highSeq: TCPSeqNumber, advanced: Bool, delivered: Int) {
        if !tlpRetransmitted || dsackInThisAck {
            // New data probed, or both original and probe arrived: no loss.
            tlpHighSeq = nil
        } else if highSeq < ack {
            // The probe repaired a tail loss: one cwnd reduction (CWR, ended at once).
            priorCwnd = window.cwnd
            window.ssthresh = cc.ssthresh(cwnd: window.cwnd)
            window.cwnd = max(window.ssthresh, 1)
            tlpHighSeq = nil
            ecnQueueCWR()
            pendingCounters.bump(.lossProbeRecovery)
        } else if !advanced && delivered == 0 {
            // A pure duplicate ACK: the original and the probe both arrived.
            tlpHighSeq = nil
        }
    }

    /// tcp_is_cwnd_limited(): grow only a window the sender was using.
    func cwndLimited(priorInFlight: Int) -> Bool {
        if window.inSlowStart { return window.cwnd < 2 &* max(maxPacketsOut, priorInFlight) }
        return isCwndLimited || priorInFlight >= window.cwnd
    }

    /// tcp_clean_rtx_queue(): drops what `ack` covers; returns the segments
    /// newly delivered (not previously SACKed) and the RTT sample (µs, −1
    /// when every acked segment was retransmitted).
    @discardableResult
    func cumulativeAck(_ ack: TCPSeqNumber, now: Instant, tsEcr: UInt32?) -> (Int, Int64) {
        var delivered = 0
        var firstSentAt: Instant?
        var anyRetransmitted = false
        var reordered = false
        defer {
            // tcp_check_sack_reordering(): one event per ACK.
            if reordered { reorderingSeen = true; reorderSeenCount &+= 1 }
        }
        if let f = sent.first, f.start < ack, ack < f.end, f.payloadLength > 0 {
            // A partial ACK inside a segment (the peer's MSS, or a split).
            let cut = ack
            if f.payloadStart < cut { splitRecord(0, at: cut) }
        }
        while let f = sent.first, !(ack < f.end) {
            if f.flags.contains(.everRetransmitted) { anyRetransmitted = true }
            else if firstSentAt == nil { firstSentAt = f.sentAt }
            if !f.flags.contains(.sacked) {
                delivered &+= 1
                if !f.flags.contains(.everRetransmitted) { originalDataDelivered = true }
                rackAdvance(f, now: now, tsEcr: tsEcr)
                rateSkbDelivered(f)
                // A hole below data SACKed before this ACK, filled by
                // original data: reordering (tcp_clean_rtx_queue's
                // `before(reord, prior_fack)`).
                if !f.flags.contains(.everRetransmitted), let fack = priorFack, f.end < fack { reordered = true }
            } else {
                sackedOut &-= 1
            }
            if f.flags.contains(.lost) { lostOut &-= 1 }
            if f.flags.contains(.retransInFlight) { retransOut &-= 1 }
            packetsOut &-= 1
            sent.removeFirst()
            if retransmitHint > 0 { retransmitHint &-= 1 }
        }
        if sndUna < ack {
            // tcp_snd_una_update(); a passive open's child starts past its
            // SYN-ACK in Linux, so that byte is not counted.
            bytesAcked &+= UInt64(ack - sndUna) &- (!activeOpen && sndUna == iss ? 1 : 0)
            sndUna = ack
            // Free the acknowledged bytes.
            let dataEnd = sendRingSeq + sendRing.count
            let upTo = ack < dataEnd ? ack : dataEnd
            let consumed = upTo - sendRingSeq
            if consumed > 0 {
                sendRing.consume(consumed)
                sendRingSeq += consumed
            }
            if sendRing.count == 0 {
                sendRing.release(account: memory)
                sendRingSeq = sendRingSeq < sndNxt ? sndNxt : sendRingSeq
                if sent.isEmpty { chronoSet(.none, now: now) }
            }
            if chronoType == .sndbufLimited { chronoStop(.sndbufLimited, now: now) }
            if sent.isEmpty || !anyRetransmitted {
                backoff = 0
                retransmits = 0
            }
            probesOut = 0
        }
        let rtt: Int64 = firstSentAt.map { (now - $0).nanoseconds / 1000 } ?? -1
        return (delivered, rtt)
    }

    // MARK: SACK (tcp_sacktag_write_queue)

    /// Marks SACKed records; returns the segments newly delivered and a
    /// SACK RTT sample from the newest unretransmitted one.
    func processSack(_ blocks: TCPSackBlocks, ack: TCPSeqNumber, now: Instant) -> (Int, Int64) {
        var delivered = 0
        var rttUs: Int64 = -1
        // Reordering: original data SACKed below what was already SACKed
        // before this ACK (Linux sorts the blocks and compares with the
        // prior highest_sack; the blocks arrive newest first).
        let priorHighestSacked = highestSacked
        let hadSacked = sackedOut > 0
        var reordered = false
        defer { if reordered { reorderingSeen = true; reorderSeenCount &+= 1 } }
        for b in 0..<blocks.count {
            let block = blocks[b]
            guard block.left < block.right else { continue }
            // D-SACK (RFC 2883 §4): the first block below the ACK, or inside
            // the second. It reports a duplicate: a reordering hint only.
            if b == 0 {
                if block.left < ack {
                    reorderingSeen = true
                    pendingCounters.bump(.dsackRecv)
                    dsackDups &+= 1
                    dsackReceived(block, ack: ack)
                    dsackInThisAck = true
                    continue
                }
                if blocks.count > 1 {
                    let second = blocks[1]
                    if !(block.left < second.left) && !(second.right < block.right) {
                        reorderingSeen = true
                        pendingCounters.bump(.dsackRecv)
                    dsackDups &+= 1
                        dsackReceived(block, ack: ack)
                        dsackInThisAck = true
                        continue
                    }
                }
            }
            if !(sndUna < block.right) || sndNxt < block.left { continue }   // stale or bogus
            var i = firstRecord(endingAfter: block.left)
            while i < sent.count {
                var r = sent[i]
                if !(r.start < block.right) { break }
                if r.flags.contains(.sacked) { i &+= 1; continue }
                // Split partially covered data segments at the block edges.
                if r.start < block.left {
                    if r.payloadLength > 0 && r.payloadStart < block.left { splitRecord(i, at: block.left); i &+= 1; continue }
                    i &+= 1; continue
                }
                if block.right < r.end {
                    if r.payloadLength > 0 { splitRecord(i, at: block.right); r = sent[i] } else { break }
                }
                r.flags.insert(.sacked)
                if r.flags.contains(.lost) { r.flags.remove(.lost); lostOut &-= 1 }
                if r.flags.contains(.retransInFlight) { r.flags.remove(.retransInFlight); retransOut &-= 1 }
                sent[i] = r
                sackedOut &+= 1
                delivered &+= 1
                if !r.flags.contains(.everRetransmitted) {
                    originalDataDelivered = true
                    if hadSacked, r.end < priorHighestSacked { reordered = true }
                    rttUs = (now - r.sentAt).nanoseconds / 1000
                }
                if highestSacked < r.end || sackedOut == 1 { highestSacked = r.end }
                rackAdvance(r, now: now, tsEcr: nil)
                rateSkbDelivered(r)
                i &+= 1
            }
        }
        return (delivered, rttUs)
    }

    /// tcp_check_dsack(): a D-SACK for data after the undo marker proves
    /// that many retransmissions unnecessary.
    func dsackReceived(_ block: TCPSackBlock, ack: TCPSeqNumber) {
        guard let marker = undoMarker, undoRetrans > 0, marker < block.right, !(ack < block.right) else { return }
        let segments = max(((block.right - block.left) &+ mss &- 1) / max(mss, 1), 1)
        undoRetrans = max(undoRetrans &- segments, 0)
    }

    /// tcp_packet_delayed(): the ACK echoes a timestamp older than our first
    /// retransmission, so the original got through (Eifel, RFC 3522).
    func packetDelayed(tsEcr: UInt32?) -> Bool {
        guard let stamp = retransStamp else { return true }
        guard timestampsEnabled, let e = tsEcr, e != 0 else { return false }
        return Int32(bitPattern: e &- tsValue(stamp)) < 0
    }

    /// tcp_undo_cwnd_reduction(): the episode was spurious; restore the
    /// window, forget the loss marks.
    func undoReduction() {
        // tcp_undo_cwnd_reduction(): no window to restore without prior_ssthresh.
        if priorSsthresh > 0 { window.cwnd = max(window.cwnd, priorCwnd) }
        if priorSsthresh > window.ssthresh { window.ssthresh = priorSsthresh }
        for i in 0..<sent.count where sent[i].flags.contains(.lost) {
            var r = sent[i]
            r.flags.remove(.lost)
            sent[i] = r
        }
        lostOut = 0
        undoMarker = nil
        undoRetrans = 0
    }

    /// tcp_init_undo() at the start of a recovery or loss episode.
    func startUndoEpisode() {
        priorCwnd = window.cwnd
        // tcp_current_ssthresh(): at least three quarters of the window.
        priorSsthresh = max(window.ssthresh, (window.cwnd >> 1) + (window.cwnd >> 2))
        undoMarker = sndUna
        undoRetrans = -1        // none yet (Linux's −1)
    }

    /// The scoreboard counts match the records (for tests and debugging;
    /// O(records)).
    var scoreboardIsConsistent: Bool {
        var packets = 0, sacked = 0, lost = 0, retrans = 0
        var previousEnd: TCPSeqNumber?
        for i in 0..<sent.count {
            let r = sent[i]
            packets &+= 1
            if r.flags.contains(.sacked) { sacked &+= 1 }
            if r.flags.contains(.lost) { lost &+= 1 }
            if r.flags.contains(.retransInFlight) { retrans &+= 1 }
            if let p = previousEnd, p != r.start { return false }
            if !(r.start < r.end) { return false }
            previousEnd = r.end
        }
        if let f = sent.first, f.start != sndUna, !(f.start < sndUna) { return false }
        if let l = sent.last, l.end != sndNxt { return false }
        return packets == packetsOut && sacked == sackedOut && lost == lostOut && retrans == retransOut
    }

    /// tcp_fragment(): cuts record `i` at `seq`; both halves keep its marks,
    /// so the scoreboard counts grow with the record count.
    func splitRecord(_ i: Int, at seq: TCPSeqNumber) {
        let flags = sent[i].flags
        sent.split(i, at: seq)
        packetsOut &+= 1
        if flags.contains(.lost) { lostOut &+= 1 }
        if flags.contains(.sacked) { sackedOut &+= 1 }
        if flags.contains(.retransInFlight) { retransOut &+= 1 }
        if i &+ 1 < retransmitHint { retransmitHint &+= 1 }
    }

    /// The index of the first record whose end is after `seq` (binary search:
    /// records are in sequence order).
    func firstRecord(endingAfter seq: TCPSeqNumber) -> Int {
        var lo = 0
        var hi = sent.count
        while lo < hi {
            let mid = (lo &+ hi) >> 1
            if seq < sent[mid].end { hi = mid } else { lo = mid &+ 1 }
        }
        return lo
    }

    // MARK: RTT (tcp_rtt_estimator, tcp_set_rto)

    func rttEstimate(_ sampleUs: Int64) {
        var m = max(sampleUs, 1)
        if m < minRttUs { minRttUs = m }
        let rtoMinUs = configuration.minimumRTO.nanoseconds / 1000
        if srttUs != 0 {
            m -= srttUs >> 3
            srttUs &+= m
            if m < 0 {
                m = -m
                m -= mdevUs >> 2
                if m > 0 { m >>= 3 }
            } else {
                m -= mdevUs >> 2
            }
            mdevUs &+= m
            if mdevUs > mdevMaxUs {
                mdevMaxUs = mdevUs
                if mdevMaxUs > rttvarUs { rttvarUs = mdevMaxUs }
            }
            if rttSeq < sndUna {
                if mdevMaxUs < rttvarUs { rttvarUs -= (rttvarUs - mdevMaxUs) >> 2 }
                rttSeq = sndNxt
                mdevMaxUs = rtoMinUs
            }
        } else {
            srttUs = m << 3
            mdevUs = m << 1
            mdevMaxUs = max(mdevUs, rtoMinUs)
            rttvarUs = mdevMaxUs
            rttSeq = sndNxt
        }
        let rtoUs = (srttUs >> 3) &+ rttvarUs
        rto = min(TimeDelta.microseconds(rtoUs), configuration.maximumRTO)
    }

    /// Smoothed RTT (tcpi_rtt).
    public var smoothedRTT: TimeDelta { .microseconds(srttUs >> 3) }
    /// RTT variance as Linux reports it (tcpi_rttvar: mdev/4… in µs).
    public var rttVariance: TimeDelta { .microseconds(mdevUs >> 2) }

    // MARK: RACK (RFC 8985 §6)

    /// tcp_rack_advance(): remembers the most recently sent delivered segment.
    func rackAdvance(_ r: TCPSentSegment, now: Instant, tsEcr: UInt32?) {
        let rttUs = (now - r.sentAt).nanoseconds / 1000
        if r.flags.contains(.everRetransmitted) {
            // Ambiguous: the ACK may be for the original (RFC 8985 §6.2 step 2).
            if rttUs < minRttUs { return }
            if let e = tsEcr, timestampsEnabled, Int32(bitPattern: e &- tsValue(r.sentAt)) < 0 { return }
        }
        rackAdvanced = true
        rackRttUs = rttUs
        if r.sentAt > rackXmit || (r.sentAt == rackXmit && rackEndSeq < r.end) {
            rackXmit = r.sentAt
            rackEndSeq = r.end
        }
    }

    /// tcp_rack_reo_wnd().
    func rackReorderWindow() -> Int64 {
        if !reorderingSeen {
            if congestionState == .recovery || congestionState == .loss { return 0 }
            if sackedOut >= 3 { return 0 }
        }
        let base = minRttUs == .max ? 0 : minRttUs >> 2
        return min(base, srttUs >> 3)
    }

    /// tcp_rack_detect_loss(): marks segments older than the delivered one
    /// by more than RTT + reordering window; returns the wait until the
    /// next one would qualify (µs, 0 = none).
    func rackDetectLoss(now: Instant) -> Int64 {
        let reo = rackReorderWindow()
        var wait: Int64 = 0
        var i = 0
        while i < sent.count {
            let r = sent[i]
            if !r.flags.contains(.everRetransmitted) && !(r.start < rackEndSeq) { break }
            if r.flags.contains(.sacked) || (r.flags.contains(.lost) && !r.flags.contains(.retransInFlight)) {
                i &+= 1; continue
            }
            let sentBefore = r.sentAt < rackXmit || (r.sentAt == rackXmit && r.end < rackEndSeq)
            if sentBefore {
                let remaining = ((r.sentAt - now).nanoseconds / 1000) &+ rackRttUs &+ reo
                if remaining <= 0 {
                    markLost(i)
                } else if remaining > wait {
                    wait = remaining
                }
            }
            i &+= 1
        }
        return wait
    }

    func markLost(_ i: Int) {
        var r = sent[i]
        if r.flags.contains(.retransInFlight) { r.flags.remove(.retransInFlight); retransOut &-= 1 }
        if !r.flags.contains(.lost) { r.flags.insert(.lost); lostOut &+= 1 }
        sent[i] = r
        if i < retransmitHint { retransmitHint = i }
    }

    // MARK: recovery state machine (tcp_fastretrans_alert)

    func lossDetection(now: Instant, advanced: Bool, tsEcr: UInt32?, sacked: Bool = false, duplicate: Bool = false) {
        if congestionState == .loss && frto {
            // F-RTO (RFC 5682 §3, SACK-enhanced; tcp_process_loss).
            if originalDataDelivered && (advanced || sacked) {
                // Step 3b: never-retransmitted data arrived: the timeout was spurious.
                undoReduction()
                pendingCounters.bump(.lossUndo)
                congestionState = .open
                frto = false
            } else if highSeq < sndNxt {
                // Step 3a: new data went out and the peer still reports holes: real loss.
                if sacked || duplicate { frto = false }
            } else if advanced {
                // Step 2b: the retransmission was ACKed; try new data first.
                highSeq = sndNxt
                if unsentBytes > 0 && (sndUna + sndWnd) - sndNxt > 0 { frtoSendNew = true } else { frto = false }
            }
        }
        let mayUndo = undoMarker != nil && (undoRetrans == 0 || packetDelayed(tsEcr: tsEcr))
        if congestionState == .loss && advanced && mayUndo {
            // tcp_try_undo_loss(): the timeout was spurious.
            undoReduction()
            pendingCounters.bump(.lossUndo)
            congestionState = .open
        }
        // Leaving recovery once everything outstanding at its start is ACKed
        // (CWR: once something above it is, so that the CWR flag got there).
        if congestionState == .recovery || congestionState == .loss || congestionState == .cwr,
           !(sndUna < highSeq), congestionState != .cwr || sndUna != highSeq {
            if congestionState == .recovery && mayUndo {
                // tcp_try_undo_recovery()
                undoReduction()
                pendingCounters.bump(.fullUndo)
            } else if congestionState == .recovery || congestionState == .cwr {
                // tcp_end_cwnd_reduction(): land on ssthresh.
                if window.ssthresh < TCPCongestionWindow.infiniteSsthresh { window.cwnd = max(window.ssthresh, 1) }
            }
            congestionState = .open
        }
        if congestionState != .loss, undoMarker != nil, undoRetrans == 0 {
            // tcp_try_undo_dsack(): every retransmission was D-SACKed.
            undoReduction()
            pendingCounters.bump(.dsackUndo)
            if congestionState == .recovery { congestionState = .open }
        }
        if sackPermitted {
            if configuration.rack {
                if rackAdvanced {
                    rackAdvanced = false
                    let wait = rackDetectLoss(now: now)
                    if wait > 0 && lostOut == 0 && (retransmitKind == .retransmit || retransmitKind == .lossProbe || retransmitKind == .none) {
                        retransmitKind = .reorder
                        retransmitDeadline = now + .microseconds(wait)
                    }
                }
            } else {
                rfc6675MarkLost()
            }
            if congestionState == .open && sackedOut > 0 { congestionState = .disorder }
            if congestionState == .disorder && sackedOut == 0 && lostOut == 0 { congestionState = .open }
        } else {
            // NewReno (RFC 6582): three duplicate ACKs, then each partial ACK,
            // retransmit the first unacknowledged segment.
            if dupAcks >= 3 && congestionState != .recovery && congestionState != .loss {
                if !sent.isEmpty { markLost(0) }
            } else if advanced && congestionState == .recovery && !sent.isEmpty {
                if !sent[0].flags.contains(.lost) { markLost(0) }
            }
        }
        if lostOut > 0 && (congestionState == .open || congestionState == .disorder || congestionState == .cwr) {
            enterRecovery()
        }
        // tcp_try_to_open(): no retransmission left outstanding → forget when it began.
        if congestionState == .open || congestionState == .disorder,
           retransOut == 0, sent.first?.flags.contains(.everRetransmitted) != true {
            retransStamp = nil
        }
    }

    /// RFC 6675 IsLost(): DupThresh segments SACKed above a hole.
    func rfc6675MarkLost() {
        guard sackedOut >= 3 else { return }
        var sackedAbove = 0
        var i = sent.count &- 1
        while i >= 0 {
            let r = sent[i]
            if r.flags.contains(.sacked) { sackedAbove &+= 1 }
            else if sackedAbove >= 3 && !r.flags.contains(.lost) { markLost(i) }
            i &-= 1
        }
    }

    /// tcp_enter_recovery() + tcp_init_cwnd_reduction().
    func enterRecovery() {
        if congestionState == .cwr {
            // An ECN reduction is under way (tcp_in_cwnd_reduction): it
            // goes on as the recovery's, with the same ssthresh and
            // high_seq; an undo may unmark losses but not restore the
            // window (prior_ssthresh = 0).
            undoMarker = sndUna
            undoRetrans = -1
            priorSsthresh = 0
            congestionState = .recovery
            if sackPermitted { pendingCounters.bump(.sackRecovery) }
            return
        }
        startUndoEpisode()
        window.ssthresh = cc.ssthresh(cwnd: window.cwnd)
        prrDelivered = 0
        prrOut = 0
        highSeq = sndNxt
        congestionState = .recovery
        ecnQueueCWR()
        if sackPermitted { pendingCounters.bump(.sackRecovery) }
    }

    /// PRR (RFC 6937; tcp_cwnd_reduction): cwnd = in flight + what this ACK
    /// allows, so the window falls to ssthresh in proportion to delivery.
    func prrReduction(delivered: Int, newlyLost: Int, unaAdvanced: Bool) {
        guard delivered > 0 || newlyLost > 0, priorCwnd > 0 else { return }
        prrDelivered &+= delivered
        let inFlight = packetsInFlight
        let delta = window.ssthresh &- inFlight
        var sndcnt: Int
        if delta < 0 {
            let dividend = window.ssthresh &* prrDelivered &+ priorCwnd &- 1
            sndcnt = dividend / priorCwnd &- prrOut
        } else {
            sndcnt = max(prrDelivered &- prrOut, delivered)
            if unaAdvanced && newlyLost == 0 { sndcnt &+= 1 }
            sndcnt = min(delta, sndcnt)
        }
        // A fast retransmit goes out on entering recovery whatever the budget.
        if prrOut == 0 { sndcnt = max(sndcnt, 1) }
        window.cwnd = max(inFlight &+ max(sndcnt, 0), 1)
    }
}
