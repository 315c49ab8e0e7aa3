// TCP output: which segment goes next, and its bytes.
// Kernel counterparts: tcp_write_xmit(), tcp_xmit_retransmit_queue(),
// tcp_send_loss_probe(), tcp_send_ack(), tcp_xmit_probe_skb(),
// tcp_transmit_skb(), tcp_select_window(), tcp_nagle_test(),
// tcp_options_write() / tcp_syn_options() / tcp_synack_options()
// (net/ipv4/tcp_output.c).
//
// The caller supplies the buffer (the TCP header goes at its start, an IP
// header is the caller's business) and loops until nil. Order, as Linux
// reaches them: a pending RST; the SYN or SYN-ACK; retransmissions of
// segments marked lost; a tail loss probe; new data (cwnd, peer window,
// Nagle/cork); a lone FIN; a zero-window or keepalive probe; a pure ACK.
import NetWire

extension TCPConnection {
    /// Writes the next due segment (TCP header, options, payload, checksum
    /// over the pseudo-header) at the start of `buffer`; returns its length,
    /// or nil when nothing is due now. With `checksumOffload` the checksum
    /// field holds only the folded pseudo-header sum (CHECKSUM_PARTIAL,
    /// start 0, offset 16): the caller marks the packet partial.
    public func nextSegment(into buffer: UnsafeMutableRawBufferPointer, now: Instant) -> Int? {
        guard buffer.count >= TCPSegment.maximumHeaderLength &+ 1 else { return nil }
        if let r = pendingReset {
            pendingReset = nil
            return emitReset(r, into: buffer)
        }
        switch state {
        case .closed:
            return nil
        case .synSent, .synReceived:
            if synDue { return sendSyn(into: buffer, now: now) }
            if state == .synReceived && ackNow { return sendAck(into: buffer, now: now) }
            return nil
        case .timeWait:
            return ackNow ? sendAck(into: buffer, now: now) : nil
        default:
            break
        }
        if frtoSendNew {
            // F-RTO step 2b: new data instead of retransmissions this round.
            if let n = sendNewData(into: buffer, now: now) { return n }
            if !(highSeq < sndNxt) { frtoSendNew = false; frto = false }
        }
        if lostOut > 0, !frtoSendNew, let n = retransmitLost(into: buffer, now: now) { return n }
        if tlpDue {
            tlpDue = false
            if let n = sendLossProbe(into: buffer, now: now) {
                pendingCounters.bump(.lossProbes)
                return n
            }
        }
        if let n = sendNewData(into: buffer, now: now) { return n }
        if zeroWindowProbeDue || keepaliveProbeDue {
            pendingCounters.bump(zeroWindowProbeDue ? .winProbe : .keepAlive)
            zeroWindowProbeDue = false
            keepaliveProbeDue = false
            // tcp_xmit_probe_skb(): an old sequence number draws an ACK.
            return emitSegment(into: buffer, seq: sndUna - 1, flags: .ack, payloadOffset: 0, payloadLength: 0, now: now)
        }
        if ackNow { return sendAck(into: buffer, now: now) }
        return nil
    }

    /// Whether `nextSegment` may have something to send now.
    public var wantsOutput: Bool {
        if pendingReset != nil || synDue || ackNow || tlpDue || zeroWindowProbeDue || keepaliveProbeDue { return true }
        guard state.isSynchronized, state != .timeWait else { return false }
        return lostOut > retransOut || unsentBytes > 0 || (finQueued && !finSent)
    }

    /// tcp_tso_should_defer: whether new data should wait for the ACKs in
    /// flight so it leaves as one full GSO packet of `maxSegments` instead
    /// of the few segments the last ACK let out. Never when anything else
    /// is due, when nothing is in flight (no ACK would come to send it),
    /// when all that is queued fits, when the windows allow a full packet
    /// or a third of themselves (tcp_tso_win_divisor), or when the oldest
    /// segment in flight went out less than half an RTT ago (its ACK is
    /// not near).
    func tsoShouldDefer(maxSegments: Int, now: Instant) -> Bool {
        guard state == .established, pendingReset == nil, !ackNow, !tlpDue, !zeroWindowProbeDue,
              !keepaliveProbeDue, !frtoSendNew, !(lostOut > retransOut), !finQueued else { return false }
        let inFlight = packetsInFlight
        guard inFlight > 0, let head = sent.first else { return false }
        let m = max(mss, 1)
        let cwndRoom = max(window.cwnd &- inFlight, 0) &* m
        let room = min(cwndRoom, max((sndUna + sndWnd) - sndNxt, 0))
        if room >= maxSegments &* m || unsentBytes <= room { return false }
        if room >= min(sndWnd, window.cwnd &* m) / 3 { return false }
        let halfRTT = TimeDelta.microseconds(srttUs >> 4)
        return now - head.sentAt >= halfRTT
    }

    /// Queued bytes not yet sent once.
    var unsentBytes: Int {
        let sentBytes = sndNxt - sendRingSeq
        return max(sendRing.count &- max(sentBytes, 0), 0)
    }

    // MARK: segment kinds

    func sendAck(into out: UnsafeMutableRawBufferPointer, now: Instant) -> Int {
        emitSegment(into: out, seq: sndNxt, flags: .ack, payloadOffset: 0, payloadLength: 0, now: now)
    }

    /// The SYN (tcp_syn_options) or SYN-ACK (tcp_synack_options), first
    /// transmission or retransmission.
    func sendSyn(into out: UnsafeMutableRawBufferPointer, now: Instant) -> Int? {
        synDue = false
        guard var r = sent.first, r.flags.contains(.syn) else { return nil }
        if synFirstSentAt == nil { synFirstSentAt = now }
        let retry = synTransmissions > 0
        if synTransmissions > 0 {
            if retransStamp == nil { retransStamp = now }
            r.flags.insert(.everRetransmitted)
            totalRetransmits &+= 1
            pendingCounters.bump(.retransSegs)
            pendingCounters.bump(.synRetrans)
        }
        synTransmissions &+= 1
        r.sentAt = now
        sent[0] = r
        var o = TCPOptions()
        let c = configuration
        o.maximumSegmentSize = advertisedMSS
        var flags: TCPFlags = .syn
        if state == .synSent {
            o.sackPermitted = c.sack
            if c.timestamps { o.timestamps = TCPTimestamps(value: tsValue(now), echoReply: 0) }
            if c.windowScaling { o.windowScale = rcvWscale }
        } else {
            flags.insert(.ack)
            o.sackPermitted = sackPermitted
            if timestampsEnabled { o.timestamps = TCPTimestamps(value: tsValue(now), echoReply: tsRecent) }
            if windowScalingEnabled { o.windowScale = rcvWscale }
        }
        flags.formUnion(ecnSynFlags(synAck: state != .synSent, retransmission: retry))
        if retransmitKind != .retransmit { armRTO(now: now) }
        lastSent = now
        return write(into: out, seq: iss, flags: flags, window: UInt16(min(rcvWnd, 65_535)), options: o,
                     payloadOffset: 0, payloadLength: 0)
    }

    /// tcp_xmit_retransmit_queue(): resend segments marked lost, within cwnd.
    func retransmitLost(into out: UnsafeMutableRawBufferPointer, now: Instant) -> Int? {
        var i = min(retransmitHint, sent.count)
        while i < sent.count {
            let r = sent[i]
            if r.flags.contains(.lost) && !r.flags.contains(.retransInFlight) && !r.flags.contains(.sacked) {
                if packetsInFlight >= window.cwnd { retransmitHint = i; return nil }
                retransmitHint = i &+ 1
                return transmitRecord(i, into: out, now: now, retransmission: true)
            }
            i &+= 1
        }
        retransmitHint = sent.count
        return nil
    }

    /// Sends record `i` again (or for the first time through TLP), cutting
    /// it first if the current MSS no longer fits it.
    func transmitRecord(_ i: Int, into out: UnsafeMutableRawBufferPointer, now: Instant, retransmission: Bool) -> Int {
        var r = sent[i]
        let options = dataOptions(now: now)
        let limit = payloadLimit(options: options, buffer: out.count)
        if r.payloadLength > limit {
            splitRecord(i, at: r.payloadStart + limit)
            r = sent[i]
        }
        let isHead = i == 0
        if retransmission {
            // retrans_stamp: when the first retransmission went out.
            if retransStamp == nil { retransStamp = now }
            if undoMarker != nil { undoRetrans = max(undoRetrans, 0) &+ 1 }
            r.flags.insert(.everRetransmitted)
            if !r.flags.contains(.retransInFlight) {
                r.flags.insert(.retransInFlight)
                retransOut &+= 1
            }
            totalRetransmits &+= 1
            bytesRetransmitted &+= UInt64(r.payloadLength)
            pendingCounters.bump(.retransSegs)
            pendingCounters.bump(congestionState == .loss ? .slowStartRetrans : .fastRetrans)
            if congestionState == .recovery || congestionState == .cwr { prrOut &+= 1 }
        }
        r.sentAt = now
        rateSkbSent(&r)
        sent[i] = r
        if r.payloadLength > 0 { lastDataSent = now }
        var flags: TCPFlags = .ack
        if r.flags.contains(.fin) { flags.insert(.fin) }
        if r.payloadLength > 0 && r.end == sndNxt { flags.insert(.psh) }
        let offset = r.payloadStart - sendRingSeq
        if isHead && retransmitKind != .reorder { armRTO(now: now) }
        lastSent = now
        return write(into: out, seq: r.start, flags: flags, window: selectWindow(), options: options,
                     payloadOffset: offset, payloadLength: r.payloadLength, carriesAck: true)
    }

    /// tcp_send_loss_probe(): one new segment if the window allows, else
    /// the last one again.
    func sendLossProbe(into out: UnsafeMutableRawBufferPointer, now: Instant) -> Int? {
        if unsentBytes > 0, (sndUna + sndWnd) - sndNxt > 0 {
            let saved = window.cwnd
            window.cwnd = max(window.cwnd, packetsInFlight &+ 1)
            let n = sendNewData(into: out, now: now, force: true)
            window.cwnd = saved
            if n != nil { tlpHighSeq = sndNxt; tlpRetransmitted = false; armRTO(now: now); return n }
        }
        guard !sent.isEmpty else { return nil }
        let i = sent.count &- 1
        if sent[i].flags.contains(.sacked) { return nil }
        tlpHighSeq = sndNxt
        tlpRetransmitted = true
        let n = transmitRecord(i, into: out, now: now, retransmission: true)
        armRTO(now: now)
        return n
    }

    /// tcp_write_xmit(): new data within the congestion and peer windows,
    /// with Nagle (Minshall's variant) and TCP_CORK; the FIN rides on the
    /// last segment when it fits.
    func sendNewData(into out: UnsafeMutableRawBufferPointer, now: Instant, force: Bool = false) -> Int? {
        switch state {
        case .established, .closeWait, .finWait1, .lastAck, .closing: break
        default: return nil
        }
        if finSent { return nil }
        let unsent = unsentBytes
        guard unsent > 0 || finQueued else { return nil }
        if packetsInFlight >= window.cwnd && !force {
            isCwndLimited = true
            return nil
        }
        let windowRoom = (sndUna + sndWnd) - sndNxt
        let options = dataOptions(now: now)
        let limit = payloadLimit(options: options, buffer: out.count)
        var length = min(limit, unsent, max(windowRoom, 0))
        // tcp_write_xmit(): the peer's window, not cwnd or the data, cuts
        // this segment short or holds it: receive-window limited.
        if unsent > 0 && windowRoom < min(limit, unsent) {
            chronoStart(.rwndLimited, now: now)
        } else if chronoType == .rwndLimited {
            chronoStop(.rwndLimited, now: now)
        }
        var fin = false
        if unsent > 0 && length == 0 {
            // Zero window: the persist timer takes over (tcp_check_probe_timer).
            if packetsOut == 0 && retransmitKind != .probe0 {
                retransmitKind = .probe0
                retransmitDeadline = now + min(max(rto, configuration.minimumRTO), configuration.maximumRTO)
            }
            return nil
        }
        if finQueued && length == unsent && windowRoom >= length &+ 1 { fin = true }
        if unsent == 0 && !fin { return nil }      // a lone FIN waits for window
        if length > 0 && length < mss && !fin && !force {
            let minshall = sndUna < sndSml && !(sndNxt < sndSml)
            if configuration.cork || (!configuration.noDelay && packetsOut > 0 && minshall) { return nil }
        }
        if length < 0 { length = 0 }
        let start = sndNxt
        let end = start + length + (fin ? 1 : 0)
        if packetsOut == 0 { deliveredStamp = now }
        var record = TCPSentSegment(start: start, end: end, sentAt: now, flags: fin ? .fin : [])
        rateSkbSent(&record)
        sent.append(record)
        if length > 0 { lastDataSent = now }
        packetsOut &+= 1
        if packetsOut > maxPacketsOut { maxPacketsOut = packetsOut }
        if congestionState == .recovery || congestionState == .cwr { prrOut &+= 1 }
        sndNxt = end
        if length < mss { sndSml = end }
        if fin { finSent = true }
        isCwndLimited = packetsInFlight >= window.cwnd
        if retransmitKind == .none || retransmitKind == .lossProbe || retransmitKind == .probe0 {
            armRetransmitTimer(now: now)
        }
        lastSent = now
        var flags: TCPFlags = .ack
        if fin { flags.insert(.fin) }
        if length > 0 && length == unsent { flags.insert(.psh) }
        let offset = start - sendRingSeq
        return write(into: out, seq: start, flags: flags, window: selectWindow(), options: options,
                     payloadOffset: offset, payloadLength: length, carriesAck: true, newData: length > 0)
    }

    // MARK: building

    /// Options of a non-SYN segment: timestamps, then SACK blocks (a D-SACK
    /// first; three blocks fit beside timestamps, four without).
    func dataOptions(now: Instant) -> TCPOptions {
        var o = TCPOptions()
        if timestampsEnabled { o.timestamps = TCPTimestamps(value: tsValue(now), echoReply: tsRecent) }
        if sackPermitted && (dsack != nil || reassembly?.recentSacks.isEmpty == false) {
            let maxBlocks = timestampsEnabled ? 3 : 4
            var blocks = TCPSackBlocks()
            if let d = dsack { blocks.append(d) }
            let recent = recentSacks
            for k in 0..<recent.count where blocks.count < maxBlocks { blocks.append(recent[k]) }
            o.sackBlocks = blocks
        }
        return o
    }

    /// tcp_current_mss(): option bytes beyond the timestamps come out of the payload.
    func payloadLimit(options: TCPOptions, buffer: Int) -> Int {
        let extra = options.paddedLength &- (timestampsEnabled ? 12 : 0)
        return max(min(mss &- extra, buffer &- TCPSegment.minimumHeaderLength &- options.paddedLength), 1)
    }

    func emitSegment(into out: UnsafeMutableRawBufferPointer, seq: TCPSeqNumber, flags: TCPFlags,
                     payloadOffset: Int, payloadLength: Int, now: Instant) -> Int {
        let options = dataOptions(now: now)
        return write(into: out, seq: seq, flags: flags, window: selectWindow(), options: options,
                     payloadOffset: payloadOffset, payloadLength: payloadLength, carriesAck: true)
    }

    func emitReset(_ r: TCPResetSegment, into out: UnsafeMutableRawBufferPointer) -> Int {
        var flags: TCPFlags = .rst
        if r.acknowledgment != nil { flags.insert(.ack) }
        let repr = TCPRepr(sourcePort: local.port, destinationPort: remote.port, sequenceNumber: r.sequence,
                           acknowledgmentNumber: r.acknowledgment ?? TCPSeqNumber(0), flags: flags, windowSize: 0)
        do { try repr.emit(into: out, pseudoHeader: pseudoHeader) } catch { return 0 }
        outputECN = IPECN.notECT
        if checksumOffload { out.setBE16(16, pseudoHeader.seed(protocol: IPProtocol.tcp.rawValue, length: repr.headerLength).folded) }
        segmentsOut &+= 1
        pendingCounters.bump(.outSegs)
        pendingCounters.bump(.outRsts)
        return repr.headerLength
    }

    /// Lays out header, options and payload (copied from the send ring) and
    /// checksums them; an ACK-bearing segment settles the pending ACK.
    /// `newData`: the segment carries data never sent before (ECT(0) and a
    /// queued CWR on an ECN connection).
    func write(into out: UnsafeMutableRawBufferPointer, seq: TCPSeqNumber, flags: TCPFlags, window: UInt16,
               options: TCPOptions, payloadOffset: Int, payloadLength: Int, carriesAck: Bool = false,
               newData: Bool = false) -> Int {
        var flags = flags
        if flags.contains(.syn) { outputECN = IPECN.notECT } else { ecnSend(&flags, newData: newData) }
        let header = TCPSegment.minimumHeaderLength &+ options.paddedLength
        if payloadLength > 0 {
            sendRing.copy(into: UnsafeMutableRawBufferPointer(rebasing: out[header..<(header &+ payloadLength)]),
                          from: payloadOffset)
        }
        if checksumOffload {
            // tcp_v4_send_check() with CHECKSUM_PARTIAL: only the header is
            // written here (its checksum pass covers 20–60 bytes, not the
            // payload); the field then gets the folded pseudo-header sum
            // and whoever needs the real checksum completes it.
            let repr = TCPRepr(sourcePort: local.port, destinationPort: remote.port, sequenceNumber: seq,
                               acknowledgmentNumber: flags.contains(.ack) ? rcvNxt : TCPSeqNumber(0), flags: flags,
                               windowSize: window, options: options, payloadLength: 0)
            do { try repr.emit(into: UnsafeMutableRawBufferPointer(rebasing: out[0..<header]), pseudoHeader: pseudoHeader) }
            catch { return 0 }
            out.setBE16(16, pseudoHeader.seed(protocol: IPProtocol.tcp.rawValue, length: header &+ payloadLength).folded)
        } else {
            let repr = TCPRepr(sourcePort: local.port, destinationPort: remote.port, sequenceNumber: seq,
                               acknowledgmentNumber: flags.contains(.ack) ? rcvNxt : TCPSeqNumber(0), flags: flags,
                               windowSize: window, options: options, payloadLength: payloadLength)
            do { try repr.emit(into: out, pseudoHeader: pseudoHeader) } catch { return 0 }
        }
        segmentsOut &+= 1
        if payloadLength > 0 {
            dataSegmentsOut &+= 1
            bytesSent &+= UInt64(payloadLength)
        }
        pendingCounters.bump(.outSegs)
        if flags.contains(.ack) {
            ackNow = false
            delackDeadline = .distantFuture
            dsack = nil
            if quickAcks > 0 { quickAcks &-= 1 }
        }
        return header &+ payloadLength
    }

    /// tcp_select_window(): the window to announce, never shrinking what
    /// was offered (RFC 9293 §3.8.6.2.2), avoiding silly windows (RFC 1122
    /// §4.2.3.3: open by at least one MSS), scaled down by rcv_wscale.
    func selectWindow() -> UInt16 {
        let free = advertisableWindow()
        let mssR = max(rcvMss, 1)
        var window: Int
        if free < rcvBuf / 2 && free < mssR && free < rcvWnd {
            window = 0
        } else if rcvWscale > 0 {
            // ALIGN up, as Linux does, so the scaled value does not lose a
            // fraction of the space (the buffer limit still bounds data).
            let g = (1 << Int(rcvWscale)) &- 1
            window = (free &+ g) & ~g
        } else {
            window = rcvWnd
            if window <= free &- mssR || window > free { window = free / mssR &* mssR }
        }
        let current = max((rcvWup + rcvWnd) - rcvNxt, 0)
        if window < current {
            let g = (1 << Int(rcvWscale)) &- 1
            window = (current &+ g) & ~g
        }
        window = min(window, 65_535 << Int(rcvWscale))
        rcvWnd = window
        rcvWup = rcvNxt
        return UInt16(window >> Int(rcvWscale))
    }
}
