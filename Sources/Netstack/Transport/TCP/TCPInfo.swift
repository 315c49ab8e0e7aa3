// TCP_INFO: a connection's state and statistics as struct tcp_info holds
// them, with Linux's field meanings and units, and the bookkeeping behind
// the fields the core did not already keep (delivery-rate samples, the
// busy chrono, the receiver's RTT estimate).
// Kernel counterparts: tcp_get_info() (net/ipv4/tcp.c), struct tcp_info
// (include/uapi/linux/tcp.h), tcp_rate_skb_sent() / tcp_rate_skb_delivered()
// / tcp_rate_gen() / tcp_rate_check_app_limited() (net/ipv4/tcp_rate.c),
// tcp_rcv_rtt_measure_ts() (net/ipv4/tcp_input.c), tcp_update_pacing_rate().
//
// `TCPInfo` holds the fields as Swift values (durations as TimeDelta,
// counts as Int, byte counters and rates in bytes per second as UInt64);
// `linuxBytes` lays them out as the kernel's struct in its units:
// microseconds for rto, ato, rtt, rttvar, rcv_rtt, min_rtt and the chrono
// times, milliseconds for the last_* ages, bytes per second for the rates,
// segments for cwnd, ssthresh and the scoreboard counts.
//
// Where this differs from Linux:
// - Linux keeps times in jiffies; here they are exact. Fields Linux
//   reports in whole jiffies (rto, ato, the chrono times) are rounded to
//   whole milliseconds (HZ = 1000): rto up, as usecs_to_jiffies() does,
//   the chrono times down.
// - The delivery-rate sample's interval is the ACK-side elapsed time only
//   (Linux takes the larger of it and the send-side one).
// - There is no receive-buffer autotuning: rcv_space keeps its initial
//   value and the receive buffer its tcp_rmem[1].
// - advmss keeps the MSS option's value (1460); Linux's tcpi_advmss
//   (1448 with timestamps) is `linuxAdvmss`.
// - A passive open's TCB exists from the SYN here (Linux's from the final
//   ACK): segs_in counts the SYN and segs_out leaves the SYN-ACKs out, and
//   the SYN-ACK's ACK adds nothing to bytes_acked and gives no rate sample,
//   so the numbers read as Linux's child socket's.
// - reordering is always 3 (no reordering degree, only "reordering seen").
// - The receive-window chrono starts when the peer's window, not cwnd or
//   the data, holds back a full segment (Linux: when the next skb does not
//   fit the window); the send-buffer one when send() could not queue all.
// - Fast Open, PLB rehash: not kept (0).
import NetWire

/// struct tcp_info: what getsockopt(TCP_INFO) returns and `ss -i` prints,
/// field for field, as Swift values: durations as `TimeDelta`, counts as
/// `Int`, byte counters and rates (bytes per second) as `UInt64`.
/// `linuxBytes` lays it out exactly as the kernel's struct, in its units.
public struct TCPInfo: Sendable, Equatable {
    /// tcpi_state (a listener has no TCPState: see `isListener`).
    public var state: TCPState
    public var isListener = false
    /// tcpi_ca_state.
    public var congestionState: TCPCongestionState
    /// tcpi_retransmits (icsk_retransmits), tcpi_probes, tcpi_backoff.
    public var retransmits: Int
    public var probes: Int
    public var backoff: Int
    /// tcpi_options: TCPI_OPT_TIMESTAMPS, _SACK, _ECN, _ECN_SEEN, _SYN_DATA;
    /// TCPI_OPT_WSCALE is the scales being non-nil.
    public var timestamps: Bool
    public var sack: Bool
    public var ecn = false
    public var ecnSeen = false
    public var synData = false
    public var sndWscale: Int?
    public var rcvWscale: Int?
    public var deliveryRateAppLimited = false
    /// tcpi_rto, tcpi_ato (exact; `linuxBytes` rounds to jiffies).
    public var rto: TimeDelta
    public var ato: TimeDelta
    public var sndMss: Int
    public var rcvMss: Int
    /// The MSS the connection advertised in its SYN (the route's MTU less
    /// headers). Linux's tcpi_advmss leaves the timestamp option's 12
    /// bytes out: see `linuxAdvmss`.
    public var advmss: Int
    /// Segments: packets_out, sacked_out, lost_out, retrans_out; for a
    /// listener unacked is the accept queue and sacked the backlog.
    public var unacked: Int
    public var sacked: Int
    public var lost: Int
    public var retrans: Int
    /// Ages: tcpi_last_data_sent, tcpi_last_data_recv, tcpi_last_ack_recv.
    public var lastDataSent = TimeDelta.zero
    public var lastDataRecv = TimeDelta.zero
    public var lastAckRecv = TimeDelta.zero
    public var pmtu = 0
    public var rcvSsthresh = 0
    public var rtt: TimeDelta
    public var rttvar: TimeDelta
    public var minRtt: TimeDelta?
    public var sndCwnd: Int
    /// nil while infinite (TCP_INFINITE_SSTHRESH).
    public var sndSsthresh: Int?
    public var reordering = 3
    public var rcvRtt = TimeDelta.zero
    public var rcvSpace = 0
    public var totalRetrans: Int
    /// sk_pacing_rate and sk_max_pacing_rate in bytes per second; nil when
    /// unset/unlimited (Linux's ~0).
    public var pacingRate: UInt64?
    public var maxPacingRate: UInt64?
    public var bytesAcked: UInt64 = 0
    public var bytesReceived: UInt64 = 0
    public var segsOut: Int
    public var segsIn: Int
    public var dataSegsIn = 0
    public var dataSegsOut = 0
    public var notsentBytes: Int
    /// Bytes per second, from the last kept rate sample (0 = none).
    public var deliveryRate: UInt64 = 0
    /// The chrono times: busy (data queued or in flight), limited by the
    /// peer's window, limited by the send buffer.
    public var busyTime = TimeDelta.zero
    public var rwndLimited = TimeDelta.zero
    public var sndbufLimited = TimeDelta.zero
    public var delivered = 0
    public var deliveredCE = 0
    public var bytesSent: UInt64 = 0
    public var bytesRetrans: UInt64 = 0
    public var dsackDups = 0
    public var reordSeen = 0
    public var rcvOoopack = 0
    public var sndWnd: Int
    public var rcvWnd: Int
    /// Not in struct tcp_info: the INET_DIAG_CONG name ss prints beside it.
    public var congestionAlgorithm: TCPCongestionAlgorithm

    /// A listener's tcp_info (tcp_get_info() stops early for LISTEN):
    /// cwnd, reordering, the accept queue as `unacked`, the backlog as
    /// `sacked`; no pacing rate yet.
    public init(listenerWith configuration: TCPConfiguration, acceptQueue: Int, backlog: Int) {
        state = .closed
        isListener = true
        congestionState = .open
        retransmits = 0; probes = 0; backoff = 0
        timestamps = false; sack = false
        rto = .zero; ato = .zero
        sndMss = 0; rcvMss = 0; advmss = 0
        unacked = acceptQueue; sacked = backlog; lost = 0; retrans = 0
        rtt = .zero; rttvar = .zero
        sndCwnd = configuration.initialCongestionWindow
        totalRetrans = 0; segsOut = 0; segsIn = 0
        pacingRate = 0
        notsentBytes = 0; sndWnd = 0; rcvWnd = 0
        congestionAlgorithm = configuration.congestionControl
    }

    init(state: TCPState, congestionState: TCPCongestionState, retransmits: Int, probes: Int, backoff: Int,
         timestamps: Bool, sack: Bool, rto: TimeDelta, ato: TimeDelta, sndMss: Int, rcvMss: Int, advmss: Int,
         rtt: TimeDelta, rttvar: TimeDelta, sndCwnd: Int, congestionAlgorithm: TCPCongestionAlgorithm) {
        self.state = state
        self.congestionState = congestionState
        self.retransmits = retransmits; self.probes = probes; self.backoff = backoff
        self.timestamps = timestamps; self.sack = sack
        self.rto = rto; self.ato = ato
        self.sndMss = sndMss; self.rcvMss = rcvMss; self.advmss = advmss
        unacked = 0; sacked = 0; lost = 0; retrans = 0
        self.rtt = rtt; self.rttvar = rttvar
        self.sndCwnd = sndCwnd
        totalRetrans = 0; segsOut = 0; segsIn = 0; notsentBytes = 0; sndWnd = 0; rcvWnd = 0
        self.congestionAlgorithm = congestionAlgorithm
    }

    /// tcpi_state: Linux's number for the state (include/net/tcp_states.h).
    public var linuxState: UInt8 { isListener ? 10 : state.linuxNumber }
    /// tcpi_advmss: the advertised MSS less the timestamp option.
    public var linuxAdvmss: Int { isListener ? 0 : advmss - (timestamps ? 12 : 0) }
    /// tcpi_options.
    public var linuxOptions: UInt8 {
        var o: UInt8 = 0
        if timestamps { o |= 1 }
        if sack { o |= 2 }
        if sndWscale != nil { o |= 4 }
        if ecn { o |= 8 }
        if ecnSeen { o |= 16 }
        if synData { o |= 32 }
        return o
    }

    /// struct tcp_info as getsockopt(SOL_TCP, TCP_INFO) fills it (Linux
    /// 6.2's 240 bytes, through tcpi_rehash), little-endian, in the
    /// kernel's units: µs for rto/ato/rtt/rttvar/rcv_rtt/min_rtt and the
    /// chronos (rto, ato and chronos in whole jiffies of 1 ms), ms for the
    /// last_* ages, bytes per second for the rates.
    public var linuxBytes: [UInt8] {
        var b = [UInt8](repeating: 0, count: 240)
        func u32(_ off: Int, _ v: Int) {
            let x = UInt32(clamping: max(v, 0))
            for k in 0..<4 { b[off + k] = UInt8(truncatingIfNeeded: x >> (8 * UInt32(k))) }
        }
        func u64(_ off: Int, _ x: UInt64) {
            for k in 0..<8 { b[off + k] = UInt8(truncatingIfNeeded: x >> (8 * UInt64(k))) }
        }
        func us(_ d: TimeDelta) -> Int { Int(d.nanoseconds / 1000) }
        func ms(_ d: TimeDelta) -> Int { Int(d.nanoseconds / 1_000_000) }
        b[0] = linuxState
        b[1] = congestionState.rawValue
        b[2] = UInt8(clamping: retransmits)
        b[3] = UInt8(clamping: probes)
        b[4] = UInt8(clamping: backoff)
        b[5] = linuxOptions
        b[6] = UInt8(clamping: (sndWscale ?? 0) & 15) | UInt8(clamping: (rcvWscale ?? 0) & 15) << 4
        b[7] = deliveryRateAppLimited ? 1 : 0
        u32(8, linuxRTO)
        u32(12, ms(ato) * 1000)
        u32(16, sndMss); u32(20, rcvMss)
        u32(24, unacked); u32(28, sacked); u32(32, lost); u32(36, retrans); u32(40, 0)
        u32(44, ms(lastDataSent)); u32(48, 0); u32(52, ms(lastDataRecv)); u32(56, ms(lastAckRecv))
        u32(60, pmtu); u32(64, rcvSsthresh); u32(68, us(rtt)); u32(72, us(rttvar))
        // A listener's struct stops after cwnd and reordering (zeros after).
        u32(76, isListener ? 0 : sndSsthresh ?? Int(UInt32.max >> 1)); u32(80, sndCwnd); u32(84, linuxAdvmss); u32(88, reordering)
        u32(92, us(rcvRtt)); u32(96, rcvSpace); u32(100, totalRetrans)
        u64(104, pacingRate ?? .max); u64(112, maxPacingRate ?? .max)
        u64(120, bytesAcked); u64(128, bytesReceived)
        u32(136, segsOut); u32(140, segsIn)
        u32(144, notsentBytes)
        if let m = minRtt { u32(148, us(m)) } else if !isListener { u32(148, Int(UInt32.max)) }
        u32(152, dataSegsIn); u32(156, dataSegsOut)
        u64(160, deliveryRate)
        u64(168, UInt64(ms(busyTime) * 1000)); u64(176, UInt64(ms(rwndLimited) * 1000))
        u64(184, UInt64(ms(sndbufLimited) * 1000))
        u32(192, delivered); u32(196, deliveredCE)
        u64(200, bytesSent); u64(208, bytesRetrans)
        u32(216, dsackDups); u32(220, reordSeen); u32(224, rcvOoopack)
        u32(228, sndWnd); u32(232, rcvWnd); u32(236, 0)
        return b
    }

    /// tcpi_rto in µs: whole jiffies (1 ms), rounded up as usecs_to_jiffies() does.
    public var linuxRTO: Int { Int((rto.nanoseconds + 999_999) / 1_000_000 * 1000) }
}

extension TCPState {
    /// Linux's number for the state (tcpi_state, idiag_state).
    public var linuxNumber: UInt8 {
        switch self {
        case .established: 1
        case .synSent: 2
        case .synReceived: 3
        case .finWait1: 4
        case .finWait2: 5
        case .timeWait: 6
        case .closed: 7
        case .closeWait: 8
        case .lastAck: 9
        case .closing: 11
        }
    }
}

/// The chronograph's states, by priority (enum tcp_chrono).
enum TCPChrono: UInt8 {
    case none, busy, rwndLimited, sndbufLimited
}

extension TCPConnection {
    /// tcp_get_info(): the connection's tcp_info at `now`.
    public func info(now: Instant) -> TCPInfo {
        var i = TCPInfo(state: state, congestionState: congestionState, retransmits: retransmits,
                        probes: probesOut, backoff: backoff, timestamps: timestampsEnabled, sack: sackPermitted,
                        rto: rto, ato: min(ato, configuration.delayedAckMaximum), sndMss: mss, rcvMss: rcvMss,
                        advmss: Int(advertisedMSS), rtt: smoothedRTT, rttvar: rttVariance,
                        sndCwnd: window.cwnd, congestionAlgorithm: cc.algorithm)
        if windowScalingEnabled {
            i.sndWscale = Int(sndWscale)
            i.rcvWscale = Int(rcvWscale)
        }
        i.deliveryRateAppLimited = rateAppLimited
        // TCPI_OPT_ECN / TCPI_OPT_ECN_SEEN; tcpi_delivered_ce.
        i.ecn = ecnFlags.contains(.ok)
        i.ecnSeen = ecnFlags.contains(.seen)
        i.deliveredCE = deliveredCE
        i.unacked = packetsOut
        i.sacked = sackedOut
        i.lost = lostOut
        i.retrans = retransOut
        func age(_ t: Instant) -> TimeDelta { t < now ? now - t : .zero }
        i.lastDataSent = age(lastDataSent)
        i.lastDataRecv = age(lastDataReceived)
        i.lastAckRecv = age(lastAckReceived)
        // icsk_pmtu_cookie: the MTU the advertised MSS came from.
        i.pmtu = Int(advertisedMSS) &+ (local.address.isIPv6 ? 60 : 40)
        i.rcvSsthresh = rcvSsthresh
        i.minRtt = minRttUs == .max ? nil : .microseconds(minRttUs)
        i.sndSsthresh = window.ssthresh == TCPCongestionWindow.infiniteSsthresh ? nil : window.ssthresh
        i.rcvRtt = .microseconds(rcvRttUs >> 3)
        i.rcvSpace = rcvSpace
        i.totalRetrans = totalRetransmits
        i.pacingRate = pacingRate
        i.bytesAcked = bytesAcked
        i.bytesReceived = bytesReceived
        // A passive open's child in Linux is born from the handshake: its
        // SYN counts as one segment in, its SYN-ACKs were the request
        // socket's.
        i.segsOut = segmentsOut &- (activeOpen ? 0 : Int(synTransmissions))
        i.segsIn = segmentsIn &+ (activeOpen ? 0 : 1)
        i.dataSegsIn = dataSegmentsIn
        i.dataSegsOut = dataSegmentsOut
        i.notsentBytes = unsentBytes
        if rateIntervalUs > 0 {
            i.deliveryRate = UInt64(rateDelivered) &* UInt64(mss) &* 1_000_000 / UInt64(rateIntervalUs)
        }
        // tcp_get_info_chrono_stats(): each state in whole jiffies (1 ms);
        // busy_time is their sum.
        var busy = chronoBusy, rwnd = chronoRwndLimited, sndbuf = chronoSndbufLimited
        if chronoSince < now {
            switch chronoType {
            case .busy: busy = busy + (now - chronoSince)
            case .rwndLimited: rwnd = rwnd + (now - chronoSince)
            case .sndbufLimited: sndbuf = sndbuf + (now - chronoSince)
            case .none: break
            }
        }
        func jiffies(_ d: TimeDelta) -> TimeDelta { .milliseconds(d.nanoseconds / 1_000_000) }
        i.rwndLimited = jiffies(rwnd)
        i.sndbufLimited = jiffies(sndbuf)
        i.busyTime = jiffies(busy) + i.rwndLimited + i.sndbufLimited
        i.delivered = deliveredTotal
        i.bytesSent = bytesSent
        i.bytesRetrans = bytesRetransmitted
        i.dsackDups = dsackDups
        i.reordSeen = reorderSeenCount
        i.rcvOoopack = outOfOrderPackets
        i.sndWnd = sndWnd
        i.rcvWnd = rcvWnd
        return i
    }

    /// The tcp_info as of the connection's latest event (sent or
    /// received), for callers without a clock; `info(now:)` ages the
    /// last_* fields and the busy time to a given instant.
    public var info: TCPInfo {
        info(now: max(max(lastSent, lastReceived), max(lastDataReceived, lastAckReceived)))
    }

    /// sk_pacing_rate as tcp_update_pacing_rate() sets it after each ACK:
    /// cwnd × mss / srtt, ×2 in slow start (below half of ssthresh),
    /// ×1.2 after; unset (all ones) before the first RTT sample.
    var pacingRate: UInt64? {
        guard srttUs > 0, state != .synSent else { return nil }
        var rate = UInt64(mss) &* (10_000 << 3)
        rate &*= window.cwnd < window.ssthresh / 2 ? 200 : 120
        rate &*= UInt64(max(window.cwnd, packetsOut))
        return rate / UInt64(srttUs)
    }

    // MARK: delivery-rate sampling (net/ipv4/tcp_rate.c)

    /// tcp_rate_skb_sent(): stamps a (re)transmitted record with what had
    /// been delivered so far and whether the application limited us.
    @inline(__always)
    func rateSkbSent(_ r: inout TCPSentSegment) {
        r.deliveredAtSend = UInt32(truncatingIfNeeded: deliveredTotal)
        r.deliveredStampAtSend = deliveredStamp
        if appLimitedUntil != 0 { r.flags.insert(.appLimited) } else { r.flags.remove(.appLimited) }
    }

    /// tcp_rate_skb_delivered(): the sample follows the most recently
    /// sent of the records this ACK delivers.
    @inline(__always)
    func rateSkbDelivered(_ r: TCPSentSegment) {
        if let s = rateSampleSentAt, !(r.sentAt > s) { return }
        rateSampleSentAt = r.sentAt
        rateSamplePriorDelivered = r.deliveredAtSend
        rateSamplePriorStamp = r.deliveredStampAtSend
        rateSampleAppLimited = r.flags.contains(.appLimited)
    }

    /// tcp_rate_gen(), once per ACK: turns the sample into a rate, kept
    /// unless it is application-limited and slower than the one kept.
    func rateGenerate(now: Instant) {
        let deliveredNow = UInt32(truncatingIfNeeded: deliveredTotal)
        if appLimitedUntil != 0, Int32(bitPattern: appLimitedUntil &- deliveredNow) < 0 { appLimitedUntil = 0 }
        guard rateSampleSentAt != nil else { return }
        rateSampleSentAt = nil
        let delivered = Int(deliveredNow &- rateSamplePriorDelivered)
        let intervalUs = (now - rateSamplePriorStamp).nanoseconds / 1000
        guard delivered > 0, intervalUs > 0, minRttUs == .max || intervalUs >= minRttUs else { return }
        if !rateSampleAppLimited || Int64(delivered) &* rateIntervalUs >= Int64(rateDelivered) &* intervalUs {
            rateDelivered = delivered
            rateIntervalUs = intervalUs
            rateAppLimited = rateSampleAppLimited
        }
    }

    /// tcp_rate_check_app_limited(), on each send(): with less than a
    /// segment unsent and room in the window, the flight is the
    /// application's doing until what is now in flight is delivered.
    func rateCheckAppLimited() {
        let inFlight = packetsInFlight
        guard unsentBytes < mss, inFlight < window.cwnd, lostOut == 0 else { return }
        let mark = UInt32(truncatingIfNeeded: deliveredTotal &+ inFlight)
        appLimitedUntil = mark == 0 ? 1 : mark
    }

    // MARK: chrono, receiver RTT

    /// tcp_chrono_set(): closes the current state's interval, opens `t`'s.
    func chronoSet(_ t: TCPChrono, now: Instant) {
        if chronoSince < now {
            let d = now - chronoSince
            switch chronoType {
            case .busy: chronoBusy = chronoBusy + d
            case .rwndLimited: chronoRwndLimited = chronoRwndLimited + d
            case .sndbufLimited: chronoSndbufLimited = chronoSndbufLimited + d
            case .none: break
            }
        }
        chronoSince = now
        chronoType = t
    }

    /// tcp_chrono_start(): the more interesting state wins.
    @inline(__always)
    func chronoStart(_ t: TCPChrono, now: Instant) {
        if t.rawValue > chronoType.rawValue { chronoSet(t, now: now) }
    }

    /// tcp_chrono_stop(): back to busy while data is queued or in flight.
    func chronoStop(_ t: TCPChrono, now: Instant) {
        if sendRing.count == 0 && sent.isEmpty {
            chronoSet(.none, now: now)
        } else if t == chronoType {
            chronoSet(.busy, now: now)
        }
    }

    /// tcp_rcv_rtt_measure_ts(): a full-sized data segment echoing a new
    /// TSval of ours gives the receiver an RTT sample (tcp_rcv_rtt_update,
    /// not window-dependent: an EWMA with gain 1/8, scaled by 8).
    func rcvRttMeasure(tsEcr: UInt32, length: Int, now: Instant) {
        guard tsEcr != 0, tsEcr != rcvRttLastTsecr else { return }
        rcvRttLastTsecr = tsEcr
        guard length >= rcvMss else { return }
        let ms = Int32(bitPattern: tsValue(now) &- tsEcr)
        guard ms >= 0 else { return }
        let sample = max(Int64(ms) * 1000, 1)
        // tcp_rcv_rtt_update(): a smaller sample replaces the estimate at
        // once (autotuning measures per RTT, and the first samples of a
        // connection often echo a handshake-time TSval).
        if rcvRttUs != 0 && sample << 3 >= rcvRttUs {
            rcvRttUs &+= sample &- (rcvRttUs >> 3)
        } else {
            rcvRttUs = sample << 3
        }
    }
}

/// The timer inet_diag reports for a socket (idiag_timer, idiag_expires,
/// idiag_retrans), which `ss -o`/`-e` prints as `timer:(on,200ms,0)`.
public struct TCPDiagTimer: Sendable, Equatable {
    /// idiag_timer: 1 retransmit (also loss probe and RACK reordering),
    /// 2 keepalive, 3 TIME-WAIT, 4 zero-window probe.
    public enum Kind: UInt8, Sendable {
        case on = 1, keepalive = 2, timeWait = 3, persist = 4
    }
    public var kind: Kind
    /// Time left (not negative).
    public var expires: TimeDelta
    /// icsk_retransmits for `on`, probes out for the others.
    public var retransmits: Int

    public init(kind: Kind, expires: TimeDelta, retransmits: Int) {
        self.kind = kind
        self.expires = expires
        self.retransmits = retransmits
    }
}

extension TCPConnection {
    /// The pending timer as inet_sk_diag_fill() / inet_twsk_diag_fill() /
    /// inet_req_diag_fill() report it; nil when none is (the delayed-ACK
    /// timer is never reported).
    public func diagTimer(now: Instant) -> TCPDiagTimer? {
        func left(_ d: Instant) -> TimeDelta { d > now ? d - now : .zero }
        if state == .timeWait || (state == .finWait2 && isOrphaned && lingerDeadline != .distantFuture) {
            return TCPDiagTimer(kind: .timeWait, expires: left(lingerDeadline), retransmits: 0)
        }
        if retransmitDeadline != .distantFuture {
            switch retransmitKind {
            case .retransmit, .lossProbe, .reorder:
                let n = state == .synReceived && !activeOpen ? max(Int(synTransmissions) &- 1, 0) : retransmits
                return TCPDiagTimer(kind: .on, expires: left(retransmitDeadline), retransmits: n)
            case .probe0:
                return TCPDiagTimer(kind: .persist, expires: left(retransmitDeadline), retransmits: probesOut)
            case .none:
                break
            }
        }
        if keepaliveDeadline != .distantFuture {
            return TCPDiagTimer(kind: .keepalive, expires: left(keepaliveDeadline), retransmits: probesOut)
        }
        if lingerDeadline != .distantFuture {
            return TCPDiagTimer(kind: .keepalive, expires: left(lingerDeadline), retransmits: probesOut)
        }
        return nil
    }

    /// Payload bytes in the receive ring (in order and out of order): what
    /// sk_rmem_alloc counts, less skb overhead.
    public var receiveMemory: Int { recvRing.count &+ (outOfOrder.last.map { $0.right - rcvNxt } ?? 0) }
    /// The send buffer's current limit (sk_sndbuf after tcp_sndbuf_expand()).
    public var sendBufferLimit: Int { sendLimit }
    /// Whether it was opened by connect() (else by a listener).
    public var isActiveOpen: Bool { activeOpen }
}
