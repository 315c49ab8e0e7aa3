// Segment transcripts for TCP timers and loss recovery in virtual time:
// RTO values and backoff, SYN retries, fast retransmit with SACK (RACK at
// DupThresh) and without (NewReno), the RACK reordering timer, tail loss
// probe, zero-window probes, Nagle, delayed ACK.
import Testing
import NetWire
@testable import Netstack

@Suite struct TCPRecoveryTests {
    @Test func synRetransmissionBackoffAndTimeout() {
        let c = TCPConnection(connectFrom: tcpClient, to: tcpServer, iss: TCPSeqNumber(1), now: .zero)
        #expect(c.drain(now: .zero).count == 1)
        // Linux: 1 s initial, doubling; tcp_syn_retries = 6 gives up at 127 s.
        var times: [Int64] = []
        var now = Instant.zero
        for _ in 0..<10 {
            let d = c.nextDeadline
            guard d != .distantFuture else { break }
            now = d
            let e = c.timerFired(now: now)
            let out = c.drain(now: now)
            if e.contains(.failed) { break }
            #expect(out.count == 1 && out[0].flags == .syn && out[0].seq == TCPSeqNumber(1))
            times.append(now.nanoseconds / 1_000_000_000)
        }
        #expect(times == [1, 3, 7, 15, 31, 63])
        #expect(now == Instant.zero + .seconds(127))
        #expect(c.state == .closed && c.error == .ETIMEDOUT)
    }

    @Test func dataRTOBacksOffFromTheMeasuredRTT() {
        var cfg = TCPConfiguration()
        cfg.tailLossProbe = false
        let (c, _) = establishedPair(client: cfg)
        #expect(c.rto == .milliseconds(210))
        #expect(c.sendAll([UInt8](repeating: 1, count: 100), now: ms(100)) == 100)
        let first = c.drain(now: ms(100))
        #expect(first.count == 1)
        var fired: [Int64] = []
        for _ in 0..<5 {
            let d = c.nextDeadline
            _ = c.timerFired(now: d)
            let out = c.drain(now: d)
            #expect(out.count == 1 && out[0].seq == first[0].seq && out[0].payload.count == 100)
            fired.append(d.nanoseconds / 1_000_000)
        }
        // 210 ms, then doubling: +420, +840, +1680, +3360.
        #expect(fired == [310, 730, 1570, 3250, 6610])
        #expect(c.congestionState == .loss)
        #expect(c.window.cwnd == 1)
    }

    @Test func tailLossProbeComesBeforeTheRTO() {
        let (c, _) = establishedPair()
        #expect(c.sendAll([UInt8](repeating: 1, count: 100), now: ms(100)) == 100)
        _ = c.drain(now: ms(100))
        // One segment out: PTO = max(2·SRTT, 1.5·SRTT + 200 ms), capped by the RTO (210 ms).
        #expect(c.nextDeadline == ms(310))
        _ = c.timerFired(now: ms(310))
        let probe = c.drain(now: ms(310))
        #expect(probe.count == 1 && probe[0].payload.count == 100)
        #expect(c.congestionState == .open)         // a probe is not a loss event
        #expect(c.nextDeadline == ms(520))           // then the RTO
    }

    /// Client sends ten full segments; the server gets all but the first.
    func lossOfFirstSegment(client cfg: TCPConfiguration) -> (TCPConnection, [WireSegment], [WireSegment]) {
        let (c, s) = establishedPair(client: cfg, server: cfg)
        let mss = c.mss
        #expect(c.sendAll([UInt8](repeating: 7, count: 10 * mss), now: ms(100)) == 10 * mss)
        let flight = c.drain(now: ms(100))
        #expect(flight.count == 10)
        var acks: [WireSegment] = []
        for seg in flight.dropFirst() {
            s.feed(seg, now: ms(105))
            acks += s.drain(now: ms(105))
        }
        return (c, flight, acks)
    }

    @Test func fastRetransmitOnThirdSackedDupack() {
        let (c, flight, acks) = lossOfFirstSegment(client: TCPConfiguration())
        #expect(acks.count == 9)
        #expect(acks.allSatisfy { $0.ack == flight[0].seq && !$0.options.sackBlocks.isEmpty })
        // The newest block first (RFC 2018 §4).
        #expect(acks[2].options.sackBlocks[0] == TCPSackBlock(left: flight[1].seq, right: flight[4].seq))
        c.feed(acks[0], now: ms(110))
        #expect(c.drain(now: ms(110)).isEmpty)
        c.feed(acks[1], now: ms(110))
        #expect(c.drain(now: ms(110)).isEmpty)
        c.feed(acks[2], now: ms(110))
        let out = c.drain(now: ms(110))
        #expect(out.count >= 1)
        #expect(out[0].seq == flight[0].seq && out[0].payload.count == flight[0].payload.count)
        #expect(c.congestionState == .recovery)
        #expect(c.window.ssthresh == 7)              // CUBIC: 10 · 717/1024
    }

    @Test func rackReorderTimerMarksLossAfterOneDupack() {
        let (c, flight, acks) = lossOfFirstSegment(client: TCPConfiguration())
        c.feed(acks[0], now: ms(110))
        #expect(c.drain(now: ms(110)).isEmpty)
        // reo_wnd = min_rtt/4 = 2.5 ms after the SACK.
        #expect(c.nextDeadline == ms(110) + .microseconds(2500))
        _ = c.timerFired(now: c.nextDeadline)
        let out = c.drain(now: ms(113))
        #expect(out.first?.seq == flight[0].seq)
        #expect(c.congestionState == .recovery)
    }

    @Test func newRenoFastRetransmitWithoutSack() {
        var cfg = TCPConfiguration()
        cfg.sack = false
        cfg.congestionControl = .reno
        let (c, flight, acks) = lossOfFirstSegment(client: cfg)
        #expect(acks.allSatisfy { $0.options.sackBlocks.isEmpty })
        // The first ACK also updates the window (65160 → 65280 once scaled), so
        // it is not a duplicate (RFC 5681 §2); the next three are.
        #expect(acks[1].window == acks[2].window && acks[2].window == acks[3].window)
        c.feed(acks[0], now: ms(110))
        c.feed(acks[1], now: ms(110))
        c.feed(acks[2], now: ms(110))
        #expect(c.drain(now: ms(110)).isEmpty)
        c.feed(acks[3], now: ms(110))
        let out = c.drain(now: ms(110))
        #expect(out.first?.seq == flight[0].seq)
        #expect(c.congestionState == .recovery)
        #expect(c.window.ssthresh == 5)              // Reno halves
    }

    @Test func recoveryCompletesAndCwndLandsOnSsthresh() {
        let (c, flight, acks) = lossOfFirstSegment(client: TCPConfiguration())
        for a in acks { c.feed(a, now: ms(110)) }
        let retx = c.drain(now: ms(110))
        #expect(retx.first?.seq == flight[0].seq)
        // The server gets the retransmission and ACKs everything.
        let full = TCPRepr(sourcePort: 80, destinationPort: 40_000, sequenceNumber: c.rcvNxt,
                           acknowledgmentNumber: flight[9].seq + flight[9].payload.count, flags: .ack, windowSize: 1000)
        let r = c.feed(full, now: ms(120))
        #expect(r.dropReason == nil)
        #expect(c.congestionState == .open)
        #expect(c.window.cwnd == c.window.ssthresh)
        #expect(c.sendQueueBytes == 0)
    }

    @Test func zeroWindowProbesBackOff() {
        var cfg = TCPConfiguration()
        cfg.tailLossProbe = false
        let (c, _) = establishedPair(client: cfg)
        let closeWindow = TCPRepr(sourcePort: 80, destinationPort: 40_000, sequenceNumber: c.rcvNxt,
                                  acknowledgmentNumber: c.sndNxt, flags: .ack, windowSize: 0)
        c.feed(closeWindow, now: ms(50))
        #expect(c.sndWnd == 0)
        #expect(c.sendAll([1, 2, 3, 4], now: ms(100)) == 4)
        #expect(c.drain(now: ms(100)).isEmpty)
        #expect(c.nextDeadline == ms(310))           // persist timer: one RTO
        var probeTimes: [Int64] = []
        for _ in 0..<3 {
            let d = c.nextDeadline
            _ = c.timerFired(now: d)
            let out = c.drain(now: d)
            #expect(out.count == 1 && out[0].payload.isEmpty && out[0].seq == c.sndUna - 1)
            probeTimes.append(d.nanoseconds / 1_000_000)
        }
        #expect(probeTimes == [310, 730, 1570])
        // The window opens: the data goes.
        let open = TCPRepr(sourcePort: 80, destinationPort: 40_000, sequenceNumber: c.rcvNxt,
                           acknowledgmentNumber: c.sndNxt, flags: .ack, windowSize: 100)
        c.feed(open, now: ms(1600))
        let data = c.drain(now: ms(1600))
        #expect(data.count == 1 && data[0].payload == [1, 2, 3, 4])
    }

    @Test func nagleHoldsASecondSmallSegmentUntilTheAck() {
        let (c, s) = establishedPair()
        #expect(c.sendAll([1], now: ms(100)) == 1)
        let first = c.drain(now: ms(100))
        #expect(first.count == 1)
        #expect(c.sendAll([2], now: ms(101)) == 1)
        #expect(c.sendAll([3], now: ms(102)) == 1)
        #expect(c.drain(now: ms(102)).isEmpty)       // held: a small segment is unacknowledged
        s.feed(first[0], now: ms(105))
        let ack = s.drain(now: ms(105))              // quick-ACK mode at the start
        #expect(ack.count == 1)
        c.feed(ack[0], now: ms(110))
        let next = c.drain(now: ms(110))
        #expect(next.count == 1 && next[0].payload == [2, 3])

        var nodelay = TCPConfiguration()
        nodelay.noDelay = true
        let (c2, _) = establishedPair(client: nodelay)
        #expect(c2.sendAll([1], now: ms(100)) == 1)
        #expect(c2.drain(now: ms(100)).count == 1)
        #expect(c2.sendAll([2], now: ms(101)) == 1)
        #expect(c2.drain(now: ms(101)).count == 1)   // not held behind the unacknowledged [1]
    }

    @Test func delayedAckAfterQuickAcksRunOut() {
        let (c, s) = establishedPair()
        var now = ms(100)
        var immediate = 0
        for i in 0..<20 {
            #expect(c.sendAll([UInt8(i)], now: now) == 1)
            let seg = c.drain(now: now)
            #expect(seg.count == 1)
            s.feed(seg[0], now: now + .milliseconds(5))
            let acks = s.drain(now: now + .milliseconds(5))
            if acks.count == 1 {
                immediate += 1
                c.feed(acks[0], now: now + .milliseconds(10))
            } else {
                // Delayed: TCP_DELACK_MIN (40 ms) later.
                #expect(s.nextDeadline == now + .milliseconds(45))
                _ = s.timerFired(now: s.nextDeadline)
                let late = s.drain(now: s.nextDeadline)
                #expect(late.count == 1 && late[0].isPureAck)
                if let a = late.first { c.feed(a, now: now + .milliseconds(50)) }
            }
            now = now + .milliseconds(100)
        }
        // Linux starts in quick-ACK mode for up to 16 segments.
        #expect(immediate >= 2 && immediate <= 16)
        #expect(immediate < 20)
    }

    @Test func dataRetransmissionGivesUpAfterRetries2() {
        var cfg = TCPConfiguration()
        cfg.tailLossProbe = false
        let (c, _) = establishedPair(client: cfg)
        #expect(c.sendAll([1, 2, 3], now: ms(100)) == 3)
        _ = c.drain(now: ms(100))
        var intervals: [TimeDelta] = []
        var last = ms(100)
        var failedAt: Instant?
        for _ in 0..<40 {
            let d = c.nextDeadline
            guard d != .distantFuture else { break }
            let e = c.timerFired(now: d)
            if e.contains(.failed) { failedAt = d; break }
            #expect(c.drain(now: d).count == 1)
            intervals.append(d - last)
            last = d
        }
        // RTO doubles from 210 ms and is capped at TCP_RTO_MAX (120 s).
        #expect(intervals.prefix(3) == [.milliseconds(210), .milliseconds(420), .milliseconds(840)])
        #expect(intervals.max() == .seconds(120))
        // tcp_retries2 = 15: give up once 924.6 s have passed since the first transmission.
        #expect(c.error == .ETIMEDOUT && c.state == .closed)
        if let f = failedAt {
            #expect(f - ms(100) >= TimeDelta(seconds: 924.6))
            #expect(f - ms(100) < TimeDelta(seconds: 924.6) + .seconds(120))
        } else {
            Issue.record("never gave up")
        }
    }

    @Test func keepaliveProbesThenResets() {
        var cfg = TCPConfiguration()
        cfg.keepalive = true
        cfg.keepaliveTime = .seconds(10)
        cfg.keepaliveInterval = .seconds(2)
        cfg.keepaliveProbes = 3
        let (c, s) = establishedPair(client: cfg)
        // The client heard last from the server at 10 ms (the SYN-ACK).
        #expect(c.nextDeadline == ms(10) + .seconds(10))
        _ = c.timerFired(now: c.nextDeadline)
        let probe = c.drain(now: ms(10_010))
        #expect(probe.count == 1 && probe[0].isPureAck && probe[0].seq == c.sndUna - 1)
        // An answer resets the count and the idle clock.
        s.feed(probe[0], now: ms(10_015))
        let answer = s.drain(now: ms(10_015))
        #expect(answer.count == 1)
        c.feed(answer[0], now: ms(10_020))
        #expect(c.nextDeadline == ms(20_020))
        // Now silence: probes at +0, +2, +4 s, then a reset at +6 s.
        var times: [Instant] = []
        for _ in 0..<10 {
            let d = c.nextDeadline
            let e = c.timerFired(now: d)
            let out = c.drain(now: d)
            if e.contains(.failed) {
                #expect(out.count == 1 && out[0].flags == [.rst, .ack])
                times.append(d)
                break
            }
            #expect(out.count == 1 && out[0].payload.isEmpty)
            times.append(d)
        }
        #expect(times == [ms(20_020), ms(22_020), ms(24_020), ms(26_020)])
        #expect(c.error == .ETIMEDOUT)
    }

    /// The "lost" first segment was only delayed: the ACK it draws echoes a
    /// timestamp older than the retransmission (Eifel, RFC 3522), so the
    /// reduction is undone when recovery ends (tcp_try_undo_recovery).
    @Test func spuriousFastRetransmitIsUndoneByTimestamps() {
        let cfg = TCPConfiguration()
        let (c, s) = establishedPair(client: cfg, server: cfg)
        #expect(c.sendAll([UInt8](repeating: 7, count: 10 * c.mss), now: ms(100)) == 10 * c.mss)
        let flight = c.drain(now: ms(100))
        var acks: [WireSegment] = []
        for seg in flight.dropFirst() { s.feed(seg, now: ms(105)); acks += s.drain(now: ms(105)) }
        for a in acks.prefix(3) { c.feed(a, now: ms(110)) }
        let retx = c.drain(now: ms(110))
        #expect(retx.first?.seq == flight[0].seq && c.congestionState == .recovery)
        #expect(c.window.ssthresh == 7)
        // The original arrives late; the server ACKs everything.
        s.feed(flight[0], now: ms(112))
        let full = s.drain(now: ms(112))
        #expect(full.count == 1)
        c.feed(full[0], now: ms(117))
        #expect(c.congestionState == .open)
        #expect(c.window.cwnd >= 10)
        #expect(c.window.ssthresh == TCPCongestionWindow.infiniteSsthresh)
        #expect(c.pendingCounters[.fullUndo] == 1)
    }

    /// Without timestamps the proof is the D-SACK of the retransmission
    /// (RFC 2883; tcp_try_undo_dsack), even after recovery ended.
    @Test func spuriousFastRetransmitIsUndoneByDsack() {
        var cfg = TCPConfiguration()
        cfg.timestamps = false
        let (c, s) = establishedPair(client: cfg, server: cfg)
        #expect(c.sendAll([UInt8](repeating: 7, count: 10 * c.mss), now: ms(100)) == 10 * c.mss)
        let flight = c.drain(now: ms(100))
        var acks: [WireSegment] = []
        for seg in flight.dropFirst() { s.feed(seg, now: ms(105)); acks += s.drain(now: ms(105)) }
        for a in acks.prefix(3) { c.feed(a, now: ms(110)) }
        let retx = c.drain(now: ms(110))
        #expect(retx.first?.seq == flight[0].seq)
        s.feed(flight[0], now: ms(112))
        let full = s.drain(now: ms(112))
        c.feed(full[0], now: ms(117))
        // Recovery ends without proof: the window lands on ssthresh.
        #expect(c.congestionState == .open && c.window.cwnd == 7)
        // Then the retransmission reaches the server, which D-SACKs it.
        s.feed(retx[0], now: ms(115))
        let dsack = s.drain(now: ms(115))
        #expect(dsack.count == 1)
        #expect(dsack[0].options.sackBlocks.count == 1)
        #expect(dsack[0].options.sackBlocks[0] == TCPSackBlock(left: flight[0].seq, right: flight[1].seq))
        c.feed(dsack[0], now: ms(120))
        #expect(c.window.cwnd == 10)
        #expect(c.window.ssthresh == TCPCongestionWindow.infiniteSsthresh)
        #expect(c.pendingCounters[.dsackUndo] == 1)
    }

    /// RFC 8985 §7.4: the last segment is lost; the probe retransmits it and
    /// repairs the loss without an RTO; once an ACK covers data beyond the
    /// probe the episode costs one cwnd reduction (tcp_process_tlp_ack).
    @Test func tailLossProbeRepairsATailLossWithOneReduction() {
        let (c, s) = establishedPair()
        let mss = c.mss
        #expect(c.sendAll([UInt8](repeating: 1, count: 2 * mss), now: ms(100)) == 2 * mss)
        let flight = c.drain(now: ms(100))
        #expect(flight.count == 2)
        s.feed(flight[0], now: ms(105))                  // the second is lost
        for a in s.drain(now: ms(105)) { c.feed(a, now: ms(110)) }
        let pto = c.nextDeadline
        #expect(pto < ms(110) + c.rto)                   // a probe before the RTO
        _ = c.timerFired(now: pto)
        let probe = c.drain(now: pto)
        #expect(probe.count == 1 && probe[0].seq == flight[1].seq)
        s.feed(probe[0], now: pto + .milliseconds(5))
        let ack = s.drain(now: pto + .milliseconds(5))
        #expect(s.readAll(now: pto).count == 2 * mss)
        for a in ack { c.feed(a, now: pto + .milliseconds(10)) }
        #expect(c.window.cwnd == 10)                     // not yet: the ACK only reaches the probe
        // New data, ACKed beyond the probe: the loss is confirmed, one reduction.
        let t = pto + .milliseconds(20)
        #expect(c.sendAll([9], now: t) == 1)
        for seg in c.drain(now: t) { s.feed(seg, now: t + .milliseconds(5)) }
        for a in s.drain(now: t + .milliseconds(5)) { c.feed(a, now: t + .milliseconds(10)) }
        #expect(c.window.ssthresh == 7 && c.window.cwnd == 7)
        #expect(c.congestionState == .open)
        #expect(c.pendingCounters[.lossProbeRecovery] == 1)
        #expect(c.pendingCounters[.timeouts] == 0)
    }

    /// tcp_schedule_loss_probe(): the probe timeout is 2·SRTT plus 2 ms
    /// (TCP_TIMEOUT_MIN) with several packets out and plus TCP_RTO_MIN with
    /// one — added to 2·SRTT, not a floor under it.
    @Test func probeTimeoutIsTwiceSRTTPlusTheMinimum() {
        let (c, s) = establishedPair()
        let mss = c.mss
        #expect(c.sendAll([UInt8](repeating: 1, count: 3 * mss), now: ms(100)) == 3 * mss)
        let flight = c.drain(now: ms(100))
        #expect(flight.count == 3)
        s.feed(flight[0], now: ms(101))
        for a in s.drain(now: ms(101)) { c.feed(a, now: ms(102)) }
        let srtt = TimeDelta.microseconds(c.srttUs >> 3)
        #expect(srtt > .zero)
        // Two still out: 2·SRTT + 2 ms from the ACK.
        #expect(c.retransmitKind == .lossProbe)
        #expect(c.retransmitDeadline == ms(102) + srtt + srtt + .milliseconds(2))
        s.feed(flight[1], now: ms(103))
        for a in s.drain(now: ms(103)) { c.feed(a, now: ms(104)) }
        // One out: 2·SRTT + 200 ms, unless the RTO comes first.
        let srtt1 = TimeDelta.microseconds(c.srttUs >> 3)
        let expected = min(ms(104) + srtt1 + srtt1 + .milliseconds(200), ms(100) + c.rto)
        #expect(c.retransmitDeadline == expected)
    }

    /// F-RTO (RFC 5682 §3): the ACKs were only late. After the timeout the
    /// ACK of the retransmission lets new data go instead of more
    /// retransmissions; the next ACK covers data never retransmitted, so
    /// the timeout is undone (tcp_process_loss, tcp_try_undo_loss).
    @Test func frtoUndoesASpuriousTimeout() {
        var cfg = TCPConfiguration()
        cfg.timestamps = false                           // else Eifel undoes it first
        cfg.tailLossProbe = false
        let (c, s) = establishedPair(client: cfg, server: cfg)
        let mss = c.mss
        #expect(c.sendAll([UInt8](repeating: 4, count: 20 * mss), now: ms(100)) == 20 * mss)
        let flight = c.drain(now: ms(100))
        #expect(flight.count == 10)
        var lateAcks: [WireSegment] = []
        for seg in flight { s.feed(seg, now: ms(105)); lateAcks += s.drain(now: ms(105)) }
        #expect(lateAcks.count >= 2)
        // The ACKs are delayed past the RTO (210 ms).
        let rtoAt = c.nextDeadline
        #expect(rtoAt == ms(310))
        _ = c.timerFired(now: rtoAt)
        let retx = c.drain(now: rtoAt)
        #expect(retx.count == 1 && retx[0].seq == flight[0].seq)
        #expect(c.congestionState == .loss && c.window.cwnd == 1)
        // The first late ACK covers the (retransmitted) head: new data goes, not retransmissions.
        c.feed(lateAcks[0], now: ms(320))
        let fresh = c.drain(now: ms(320))
        #expect(!fresh.isEmpty)
        #expect(fresh.allSatisfy { !($0.seq < flight[9].seq + mss) })
        // The next covers never-retransmitted data: spurious, undone.
        c.feed(lateAcks[1], now: ms(321))
        #expect(c.congestionState == .open)
        #expect(c.window.cwnd >= 10)
        #expect(c.pendingCounters[.lossUndo] == 1)
        // Nothing of the first flight is retransmitted after the undo.
        let after = c.drain(now: ms(321))
        #expect(after.allSatisfy { !($0.seq < flight[9].seq + mss) })
    }
}
