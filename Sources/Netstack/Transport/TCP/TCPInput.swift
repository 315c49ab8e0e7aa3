// TCP input: segment arrival (RFC 9293 §3.10.7).
// Kernel counterparts: tcp_rcv_state_process(), tcp_rcv_synsent_state_process(),
// tcp_validate_incoming() (PAWS, tcp_sequence, RST and SYN checks of RFC
// 5961), tcp_ack(), tcp_data_queue(), tcp_data_queue_ofo(), tcp_fin(),
// __tcp_ack_snd_check(), tcp_event_data_recv(), tcp_timewait_state_process()
// (net/ipv4/tcp_input.c, net/ipv4/tcp_minisocks.c).
import NetWire

extension TCPConnection {
    /// Feeds one segment addressed to this connection (the caller looked it
    /// up by 4-tuple and verified the checksum, as tcp_v4_rcv does).
    /// `gsoSize`: the MSS of a GRO packet of several segments (0: one).
    /// `ipECN`: the ECN field of the IP header it came in (RFC 3168; the
    /// low two bits of TOS / traffic class).
    public func receive(_ segment: TCPSegment, now: Instant, gsoSize: Int = 0, ipECN: UInt8 = 0) -> TCPReceiveResult {
        // tcp_segs_in: a GRO packet counts as the segments it was built of.
        let segs = gsoSize > 0 ? max(1, (segment.payload.count &+ gsoSize &- 1) / gsoSize) : 1
        segmentsIn &+= segs
        if segment.payload.count > 0 { dataSegmentsIn &+= segs }
        receivedGSOSize = gsoSize
        receivedECN = ipECN
        pendingCounters.bump(.inSegs)
        // tcp_parse_options(): Linux stops at a malformed option and uses
        // what it parsed; a wholly malformed list counts as none here.
        let options: TCPOptions
        do { options = try TCPOptions.parse(segment.options) } catch { options = TCPOptions() }
        var result: TCPReceiveResult
        switch state {
        case .closed:
            result = TCPReceiveResult(dropReason: .tcpClose)
        case .synSent:
            result = synSentReceive(segment, options: options, now: now)
        case .timeWait:
            result = timeWaitReceive(segment, options: options, now: now)
        default:
            result = synchronizedReceive(segment, options: options, now: now)
        }
        if wantsOutput { result.events.insert(.output) }
        return result
    }

    // MARK: SYN-SENT (RFC 9293 §3.10.7.3)

    func synSentReceive(_ seg: TCPSegment, options: TCPOptions, now: Instant) -> TCPReceiveResult {
        if seg.ack {
            let ack = seg.acknowledgmentNumber
            // The ACK must cover our SYN and nothing we did not send.
            if !(iss < ack) || sndNxt < ack {
                if !seg.rst { pendingReset = TCPResetSegment(sequence: ack, acknowledgment: nil) }
                return TCPReceiveResult(dropReason: seg.rst ? .tcpReset : .tcpAckUnsentData)
            }
            // PAWS for the SYN-ACK: TSecr must echo a TSval we sent.
            if configuration.timestamps, !seg.rst, let ts = options.timestamps, ts.echoReply != 0 {
                let firstSent = tsValue(synFirstSent ?? now)
                if Int32(bitPattern: ts.echoReply &- firstSent) < 0 || Int32(bitPattern: tsValue(now) &- ts.echoReply) < 0 {
                    pendingReset = TCPResetSegment(sequence: ack, acknowledgment: nil)
                    return TCPReceiveResult(dropReason: .tcpRFC7323Paws)
                }
            }
            if seg.rst {
                // RFC 9293: an RST with an acceptable ACK refuses the connection.
                return TCPReceiveResult(events: resetByPeer(now: now))
            }
            guard seg.syn else { return TCPReceiveResult(dropReason: .tcpFlags) }
            // SYN-ACK: the handshake completes on our side.
            acceptSyn(seg, options: options, now: now)
            ecnReceiveSynAck(seg)
            rcvWnd = min(rcvWnd, initialReceiveWindow(mss: Int(advertisedMSS)))
            var events: TCPEvents = .connected
            let synRetried = backoff > 0
            handshakeAck(ack, options: options, now: now)
            synDue = false
            state = .established
            establishedSetup(now: now, synRetried: synRetried)
            if seg.payload.count > 0 || seg.fin {
                events.formUnion(queueData(seg, now: now).events)
            }
            // Linux ACKs the SYN-ACK at once (no defer-accept, no pending write here).
            ackNow = true
            return TCPReceiveResult(events: events)
        }
        if seg.rst { return TCPReceiveResult(dropReason: .tcpReset) }
        if seg.syn {
            // Simultaneous open (§3.10.7.3, fifth check): SYN-RECEIVED, send SYN-ACK.
            acceptSyn(seg, options: options, now: now)
            ecnReceiveSyn(seg)
            rcvWnd = initialReceiveWindow(mss: Int(advertisedMSS) &- (timestampsEnabled ? 12 : 0))
            rcvSsthresh = rcvWnd
            state = .synReceived
            synDue = true
            return TCPReceiveResult()
        }
        return TCPReceiveResult(dropReason: .tcpFlags)
    }

    /// The ACK of our SYN: drop it from the queue and take the handshake's
    /// RTT sample (Karn: none from a retransmitted SYN unless TSecr gives one).
    func handshakeAck(_ ack: TCPSeqNumber, options: TCPOptions, now: Instant) {
        priorFack = nil
        var (delivered, rttUs) = cumulativeAck(ack, now: now, tsEcr: options.timestamps?.echoReply)
        lastAckReceived = now
        if delivered > 0 { deliveredTotal &+= delivered; deliveredStamp = now }
        // A passive open's SYN-ACK was the request socket's in Linux: no
        // rate sample from it.
        if !activeOpen { rateSampleSentAt = nil }
        if fromSynCookie { rateGenerate(now: now); return }
        if rttUs < 0, timestampsEnabled, let ts = options.timestamps, ts.echoReply != 0 {
            let delta = Int32(bitPattern: tsValue(now) &- ts.echoReply)
            if delta >= 0 { rttUs = Int64(delta) * 1000 }
        }
        if rttUs >= 0 { rttEstimate(rttUs) }
        rateGenerate(now: now)
    }

    /// When our first SYN went out (for PAWS on the SYN-ACK).
    var synFirstSent: Instant? { synFirstSentAt }

    /// tcp_finish_connect()/tcp_init_transfer(): timers and windows of a
    /// new ESTABLISHED connection.
    func establishedSetup(now: Instant, synRetried: Bool) {
        if srttUs == 0 && synRetried {
            // RFC 6298 §5.7: no sample and the SYN was retransmitted → 3 s.
            rto = .seconds(3)
        } else if srttUs == 0 {
            rto = configuration.initialRTO
        }
        backoff = 0
        retransmits = 0
        retransStamp = nil
        lastDataSent = now
        lastDataReceived = now
        lastAckReceived = now
        // tcp_init_buffer_space(): rcvq_space starts at ten segments at most.
        let advmss = Int(advertisedMSS) &- (timestampsEnabled ? 12 : 0)
        rcvSpace = min(rcvSsthresh, rcvWnd, 10 &* advmss)
        if packetsOut == 0 { stopRetransmitTimer() }
        if configuration.keepalive { keepaliveDeadline = now + configuration.keepaliveTime }
        sndWl2 = sndUna
    }

    // MARK: synchronized states (and SYN-RECEIVED)

    func synchronizedReceive(_ seg: TCPSegment, options: TCPOptions, now: Instant) -> TCPReceiveResult {
        let seq = seg.sequenceNumber
        let segLen = seg.segmentLength
        var events: TCPEvents = []

        // A retransmitted SYN while our SYN-ACK is outstanding: resend it
        // (the request-socket path of tcp_check_req).
        if state == .synReceived, seg.syn, !seg.ack, !seg.rst, seq == irs {
            synDue = true
            return TCPReceiveResult(dropReason: .tcpInvalidSyn)
        }

        // PAWS (RFC 7323 §5; tcp_paws_discard): an older TSval is a stale
        // duplicate. RSTs are exempt (tcp_validate_incoming checks them later).
        if timestampsEnabled, let ts = options.timestamps, !seg.rst {
            if Int32(bitPattern: ts.value &- tsRecent) < 0,
               now - tsRecentStamp <= .seconds(24 * 24 * 3600) {
                ackNow = true
                if state == .established { pendingCounters.bump(.pawsEstab) }
                return TCPReceiveResult(dropReason: .tcpRFC7323Paws)
            }
        }

        // Acceptability (tcp_sequence): RFC 9293 §3.10.7.4 with rcv_wup.
        let receiveWindow = max((rcvWup + rcvWnd) - rcvNxt, 0)
        if seq + segLen < rcvWup {
            if !seg.rst {
                if seg.syn { rateLimitedAck(now: now, challenge: false) } else {
                    dsackOld(seq: seq, length: seg.payload.count)
                    ackNow = true
                }
            }
            return TCPReceiveResult(dropReason: .tcpOldSequence)
        }
        if rcvNxt + receiveWindow < seq {
            if !seg.rst {
                if seg.syn || segLen == 0 { rateLimitedAck(now: now, challenge: false) } else { ackNow = true }
            }
            return TCPReceiveResult(dropReason: receiveWindow == 0 ? .tcpZerowindow : .tcpInvalidSequence)
        }

        // RST (RFC 5961 §3.2): exact match resets, in-window → challenge ACK.
        if seg.rst {
            if seq == rcvNxt || (sackPermitted && hasOutOfOrder && seq == outOfOrder[outOfOrder.count &- 1].right) {
                if state == .synReceived && !activeOpen {
                    // A reset request socket just goes away (tcp_check_req).
                    return TCPReceiveResult(events: enterClosed(now: now))
                }
                return TCPReceiveResult(events: resetByPeer(now: now))
            }
            rateLimitedAck(now: now)
            return TCPReceiveResult(dropReason: .tcpReset)
        }

        // RFC 7323 §4.3: remember the newest timestamp of in-window segments.
        if timestampsEnabled, let ts = options.timestamps, !(rcvWup < seq),
           Int32(bitPattern: ts.value &- tsRecent) >= 0 {
            tsRecent = ts.value
            tsRecentStamp = now
        }

        // SYN in a synchronized state (RFC 5961 §4): challenge ACK — except
        // the peer's SYN-ACK of a simultaneous open, which Linux lets pass
        // (tcp_validate_incoming step 4).
        let simultaneousSynAck = state == .synReceived && activeOpen && seg.ack && seg.payload.count == 0
            && seq + 1 == rcvNxt && seg.acknowledgmentNumber == sndNxt
        if seg.syn && !simultaneousSynAck {
            pendingCounters.bump(.synChallenge)
            rateLimitedAck(now: now)
            return TCPReceiveResult(dropReason: .tcpInvalidSyn)
        }

        guard seg.ack else { return TCPReceiveResult(dropReason: .tcpFlags) }

        lastReceived = now
        if configuration.keepalive && state.isSynchronized {
            probesOut = 0
            keepaliveDeadline = now + configuration.keepaliveTime
        }

        if state == .synReceived {
            let ack = seg.acknowledgmentNumber
            if !(sndUna < ack) || sndNxt < ack {
                pendingReset = TCPResetSegment(sequence: ack, acknowledgment: nil)
                return TCPReceiveResult(dropReason: .tcpAckUnsentData)
            }
            state = .established
            synDue = false
            sndWnd = Int(seg.windowSize) << sndWscale
            sndWl1 = seq
            maxWindow = max(maxWindow, sndWnd)
            events.insert(.connected)
            let synRetried = backoff > 0
            handshakeAck(ack, options: options, now: now)
            establishedSetup(now: now, synRetried: synRetried)
            if finQueued { state = .finWait1 }
        }

        let ackResult = processAck(seg, options: options, now: now)
        if let drop = ackResult.dropReason { return TCPReceiveResult(events: events.union(ackResult.events), dropReason: drop) }
        events.formUnion(ackResult.events)
        if state == .closed || state == .timeWait { return TCPReceiveResult(events: events) }

        // Data and FIN (§3.10.7.4, seventh and eighth checks).
        if seg.payload.count > 0 || seg.fin {
            switch state {
            case .established, .finWait1, .finWait2:
                if isOrphaned, seg.payload.count > 0, rcvNxt < seq + seg.payload.count {
                    // New data for a closed socket: abort (LINUX_MIB_TCPABORTONDATA).
                    pendingCounters.bump(.abortOnData)
                    pendingReset = TCPResetSegment(sequence: sndNxt, acknowledgment: rcvNxt)
                    return TCPReceiveResult(events: events.union(enterClosed(now: now)), dropReason: .tcpClose)
                }
                if seg.payload.count > 0, timestampsEnabled, let ts = options.timestamps {
                    rcvRttMeasure(tsEcr: ts.echoReply, length: seg.payload.count, now: now)
                }
                let r = queueData(seg, now: now)
                events.formUnion(r.events)
                if let d = r.dropReason { return TCPReceiveResult(events: events, dropReason: d) }
            default:
                // After the peer's FIN: retransmitted data or FIN, re-ACK it.
                if seq + segLen <= rcvNxt || seq < rcvNxt { ackNow = true }
            }
        }
        return TCPReceiveResult(events: events)
    }

    // MARK: TIME-WAIT (tcp_timewait_state_process)

    func timeWaitReceive(_ seg: TCPSegment, options: TCPOptions, now: Instant) -> TCPReceiveResult {
        if seg.rst {
            // tcp_rfc1337 = 0: an RST kills the TIME-WAIT ("assassination").
            if seg.sequenceNumber == rcvNxt { return TCPReceiveResult(events: enterClosed(now: now)) }
            return TCPReceiveResult(dropReason: .tcpReset)
        }
        if seg.fin, seg.sequenceNumber + seg.payload.count + 1 == rcvNxt {
            // The peer missed our ACK of its FIN: ACK again, restart 2MSL.
            ackNow = true
            armLinger(configuration.timeWaitLength, now: now)
            return TCPReceiveResult()
        }
        if seg.syn && !seg.ack {
            // A new connection attempt: see `timeWaitAcceptsSyn`.
            return TCPReceiveResult(dropReason: .tcpInvalidSyn)
        }
        if seg.segmentLength > 0 || seg.acknowledgmentNumber != sndNxt { rateLimitedAck(now: now, challenge: false) }
        return TCPReceiveResult(dropReason: .tcpClose)
    }

    /// tcp_timewait_state_process()'s TCP_TW_SYN: in TIME-WAIT, a SYN whose
    /// sequence number is past the old connection's (or whose timestamp is
    /// newer) may open a new incarnation of the same 4-tuple. The caller
    /// then frees this TCB and gives the SYN to the listener, with an ISN
    /// of `timeWaitSuccessorISN` so old duplicates cannot be mistaken.
    public func timeWaitAcceptsSyn(_ seg: TCPSegment) -> Bool {
        guard state == .timeWait, seg.syn, !seg.rst, !seg.ack else { return false }
        if rcvNxt < seg.sequenceNumber { return true }
        if timestampsEnabled, let ts = (try? TCPOptions.parse(seg.options))?.timestamps,
           Int32(bitPattern: ts.value &- tsRecent) > 0 {
            return true
        }
        return false
    }

    /// The ISN Linux gives the successor of a TIME-WAIT connection.
    public var timeWaitSuccessorISN: TCPSeqNumber { sndNxt + 65_535 + 2 }

    // MARK: data (tcp_data_queue)

    func queueData(_ seg: TCPSegment, now: Instant) -> TCPReceiveResult {
        var seq = seg.sequenceNumber
        if seg.syn { seq += 1 }
        var payload = seg.payload
        var fin = seg.fin
        var events: TCPEvents = []

        ecnAcceptCWR(seg)
        if payload.count > 0 { dataReceivedEvent(length: payload.count, now: now) }

        // Entirely old: D-SACK it and ACK at once (tcp_data_queue "out_of_window").
        let end = seq + payload.count
        if !(rcvNxt < end + (fin ? 1 : 0)) {
            if payload.count > 0 { setDsack(TCPSackBlock(left: seq, right: end)) }
            enterQuickAck()
            ackNow = true
            return TCPReceiveResult(dropReason: .tcpOldData)
        }
        // Partly old: report the duplicate part, keep the rest.
        if seq < rcvNxt {
            let dup = rcvNxt - seq
            setDsack(TCPSackBlock(left: seq, right: rcvNxt))
            payload = UnsafeRawBufferPointer(rebasing: payload[dup...])
            seq = rcvNxt
        }
        // In-order data into a closed window is dropped and ACKed (the
        // 1-byte window probes of BSD-derived stacks; tcp_data_queue's
        // TCP_ZEROWINDOW).
        let offset = seq - rcvNxt
        if offset == 0, payload.count > 0, (rcvWup + rcvWnd) - rcvNxt <= 0 {
            enterQuickAck()
            ackNow = true
            return TCPReceiveResult(dropReason: .tcpZerowindow)
        }
        // tcp_event_data_recv() / tcp_data_queue_ofo(): the CE check.
        if payload.count > 0 { ecnCheckCE() }
        // What the buffer can hold past rcv_nxt, or the window announced if
        // more (SO_RCVBUF may have shrunk the buffer since: then it prunes).
        let room = max(rcvBuf &- recvRing.count, (rcvWup + rcvWnd) - rcvNxt)
        if offset >= room || (payload.count == 0 && !fin) {
            enterQuickAck()
            ackNow = true
            return TCPReceiveResult(dropReason: room <= 0 ? .tcpZerowindow : .tcpOverwindow)
        }
        if offset &+ payload.count > room {
            payload = UnsafeRawBufferPointer(rebasing: payload[..<(room &- offset)])
            fin = false
        }
        if payload.count > 0 {
            // Memory (TCPMemory.swift): sk_rcvbuf and tcp_mem.
            if let reason = receiveSchedule(seq: seq, offset: offset, length: payload.count) {
                enterQuickAck()
                return TCPReceiveResult(dropReason: reason)
            }
            recvRing.write(payload, at: recvRing.count &+ offset)
        }
        if fin { peerFinSeq = seq + payload.count }

        if offset == 0 {
            let hadOutOfOrder = hasOutOfOrder
            advanceReceive(by: payload.count)
            if payload.count > 0 { events.insert(.readable) }
            growReceiveWindow(payload.count)
            if hadOutOfOrder {
                // Filling a hole: ACK at once (and at once again when it closes).
                ackNow = true
                pruneSacks()
            }
        } else {
            insertOutOfOrder(TCPSackBlock(left: seq, right: seq + payload.count))
            pendingCounters.bump(.ofoQueue)
            outOfOrderPackets &+= 1
            enterQuickAck()
            ackNow = true
        }
        if let f = peerFinSeq, f == rcvNxt, !peerFinReceived {
            events.formUnion(receiveFin(now: now))
        }
        releaseReassemblyIfDone()
        if !ackNow { scheduleAck(now: now) }
        return TCPReceiveResult(events: events)
    }

    /// Moves rcv_nxt over `n` in-order bytes and any out-of-order ranges
    /// that now join them.
    func advanceReceive(by n: Int) {
        let before = rcvNxt
        defer { bytesReceived &+= UInt64(rcvNxt - before) }
        rcvNxt += n
        recvRing.count &+= n
        guard reassembly != nil else { return }
        while let first = outOfOrder.first, !(rcvNxt < first.left) {
            if rcvNxt < first.right {
                let more = first.right - rcvNxt
                rcvNxt = first.right
                recvRing.count &+= more
            }
            outOfOrder.removeFirst()
        }
        if outOfOrder.isEmpty { outOfOrder = [] }
    }

    /// tcp_grow_window(): the announced window grows per in-order skb by
    /// two segments, or by twice the skb's length when that is more (a GRO
    /// skb of many segments), until it reaches the buffer.
    func growReceiveWindow(_ n: Int) {
        guard n > 0 else { return }
        // Not beyond window_clamp, nor under memory pressure.
        let clamp = windowClamp
        if rcvSsthresh < clamp && memory?.underPressure != true {
            rcvSsthresh = min(rcvSsthresh &+ max(2 &* rcvMss, 2 &* n), clamp)
        }
    }

    /// tcp_data_queue_ofo(): records a range and updates the SACK blocks
    /// (RFC 2018 §4: the block holding the newest segment comes first).
    func insertOutOfOrder(_ block: TCPSackBlock) {
        guard block.left < block.right else { return }
        if outOfOrder.isEmpty { outOfOrder.reserveCapacity(4) }
        var merged = block
        var i = 0
        var covered = false
        // Find the first range that ends at or after the new block's start.
        while i < outOfOrder.count, outOfOrder[i].right < merged.left { i &+= 1 }
        var j = i
        while j < outOfOrder.count, !(merged.right < outOfOrder[j].left) {
            let r = outOfOrder[j]
            if !(block.left < r.left) && !(r.right < block.right) { covered = true }
            if r.left < merged.left { merged.left = r.left }
            if merged.right < r.right { merged.right = r.right }
            j &+= 1
        }
        outOfOrder.replaceSubrange(i..<j, with: CollectionOfOne(merged))
        if covered { setDsack(block) }
        // The reported list: the merged block first, then the others that
        // it did not swallow, newest first.
        var next = TCPSackBlocks()
        next.append(merged)
        for k in 0..<recentSacks.count {
            let b = recentSacks[k]
            if !(b.left < merged.left) && !(merged.right < b.right) { continue }
            if !(b.right < merged.left) && !(merged.right < b.left) { continue }
            next.append(b)
        }
        recentSacks = next
    }

    /// tcp_sack_remove(): drops reported blocks rcv_nxt has passed.
    func pruneSacks() {
        var next = TCPSackBlocks()
        for k in 0..<recentSacks.count where rcvNxt < recentSacks[k].right {
            var b = recentSacks[k]
            if b.left < rcvNxt { b.left = rcvNxt }
            next.append(b)
        }
        recentSacks = next
    }

    func setDsack(_ block: TCPSackBlock) {
        guard configuration.dsack && sackPermitted else { return }
        dsack = block
        pendingCounters.bump(block.left < rcvNxt ? .dsackOldSent : .dsackOfoSent)
    }

    /// A wholly old segment that failed the sequence test still gets a D-SACK.
    func dsackOld(seq: TCPSeqNumber, length: Int) {
        if length > 0 { setDsack(TCPSackBlock(left: seq, right: seq + length)) }
    }

    /// tcp_fin(): the peer's FIN is in order.
    func receiveFin(now: Instant) -> TCPEvents {
        rcvNxt += 1
        bytesReceived &+= 1
        peerFinReceived = true
        peerFinSeq = nil
        var events: TCPEvents = [.peerClosed, .readable]
        switch state {
        case .synReceived, .established:
            state = .closeWait
            pingpong = true
            scheduleAck(now: now)
        case .finWait1:
            // Our FIN is not yet ACKed (else we would be in FIN-WAIT-2): CLOSING.
            state = .closing
            ackNow = true
        case .finWait2:
            ackNow = true
            events.formUnion(enterTimeWait(now: now))
        default:
            break
        }
        return events
    }

    // MARK: ACK scheduling (tcp_event_data_recv, __tcp_ack_snd_check)

    func dataReceivedEvent(length: Int, now: Instant) {
        lastDataReceived = now
        // tcp_measure_rcv_mss: a GRO packet's segment size, not its length.
        let segment = receivedGSOSize > 0 ? receivedGSOSize : length
        if segment > rcvMss { rcvMss = min(segment, Int(advertisedMSS)) }
        let minAto = configuration.delayedAckMinimum
        if ato == .zero {
            // The first data: start in quick-ACK mode (tcp_incr_quickack).
            quickAcks = min(max(rcvWnd / max(2 &* rcvMss, 1), 2), 16)
            ato = minAto
        } else {
            let m = now - lastReceived
            if m <= TimeDelta(nanoseconds: minAto.nanoseconds / 2) {
                ato = TimeDelta(nanoseconds: ato.nanoseconds / 2) + TimeDelta(nanoseconds: minAto.nanoseconds / 2)
            } else if m < ato {
                ato = min(TimeDelta(nanoseconds: ato.nanoseconds / 2) + m, rto)
            } else if m > rto {
                enterQuickAck()
            }
        }
        lastReceived = now
    }

    func enterQuickAck() {
        quickAcks = max(quickAcks, min(max(rcvWnd / max(2 &* rcvMss, 1), 2), 16))
        pingpong = false
    }

    /// __tcp_ack_snd_check(): ACK now after more than one full segment since
    /// the last window update or in quick-ACK mode; otherwise delay.
    func scheduleAck(now: Instant) {
        if (rcvNxt - rcvWup) > rcvMss && advertisableWindow() >= rcvWnd {
            ackNow = true
        } else if quickAcks > 0 && !pingpong {
            ackNow = true
        } else if hasOutOfOrder {
            ackNow = true
        } else if delackDeadline == .distantFuture {
            var maxAto = pingpong ? configuration.delayedAckMaximum : TimeDelta.milliseconds(500)
            if srttUs > 0 {
                let rtt = max(TimeDelta.microseconds(srttUs >> 3), configuration.delayedAckMinimum)
                if rtt < maxAto { maxAto = rtt }
            }
            let delay = min(max(ato, configuration.delayedAckMinimum), maxAto)
            delackDeadline = now + delay
        }
    }
}
