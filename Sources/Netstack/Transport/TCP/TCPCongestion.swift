// TCP congestion control: NewReno (RFC 5681, RFC 6582) and CUBIC (RFC 9438)
// with HyStart++ (RFC 9406) slow start, behind one enum (a closed set: no
// `any`, one switch per ACK).
// Kernel counterparts: net/ipv4/tcp_cong.c (tcp_slow_start,
// tcp_cong_avoid_ai, tcp_reno_ssthresh), net/ipv4/tcp_cubic.c
// (bictcp_update, bictcp_recalc_ssthresh, tcp friendliness).
//
// Like Linux, windows count segments (snd_cwnd is in packets), not bytes.
// Where Linux deviates from the RFCs, this follows Linux: CUBIC's β is
// 717/1024 and C is 0.4 (bic_scale 41); the first epoch caps growth at one
// segment per 20 ACKed (cnt ≥ 20 while no loss was seen); fast convergence
// and the Reno-friendly region are on. Linux's slow start exit in CUBIC is
// its own HyStart (ACK trains + delay); this uses HyStart++ as the issue
// asks, which is the delay half of the same idea, specified.
//
// CUBIC's cube root runs in Double: one cbrt per congestion epoch and a few
// multiplies per ACK, cheaper to read than Linux's fixed-point Newton steps
// and fast enough for the per-ACK path.
import NetWire

/// The window state every algorithm shares (tp->snd_cwnd, snd_ssthresh,
/// snd_cwnd_cnt).
public struct TCPCongestionWindow: Sendable, Equatable {
    public var cwnd: Int {
        @inline(__always) get { Int(_cwnd) }
        @inline(__always) set { _cwnd = Int32(truncatingIfNeeded: newValue) }
    }
    public var ssthresh: Int {
        @inline(__always) get { Int(_ssthresh) }
        @inline(__always) set { _ssthresh = Int32(truncatingIfNeeded: newValue) }
    }
    var cwndCount: Int {
        @inline(__always) get { Int(_cwndCount) }
        @inline(__always) set { _cwndCount = Int32(truncatingIfNeeded: newValue) }
    }
    /// Stored in 32 bits, as tp->snd_cwnd, snd_ssthresh and snd_cwnd_cnt
    /// are u32 (12 bytes in every TCB, not 24).
    @usableFromInline var _cwnd: Int32 = 0
    @usableFromInline var _ssthresh: Int32 = 0
    var _cwndCount: Int32 = 0
    /// TCP_INFINITE_SSTHRESH.
    public static let infiniteSsthresh = 0x7fff_ffff

    init(cwnd: Int) {
        self.cwnd = cwnd
        self.ssthresh = Self.infiniteSsthresh
    }

    var inSlowStart: Bool { cwnd < ssthresh }

    /// tcp_slow_start(): grows by the ACKed count up to ssthresh; returns
    /// what is left over for congestion avoidance.
    mutating func slowStart(_ acked: Int) -> Int {
        let grown = min(cwnd &+ acked, ssthresh)
        let left = acked &- (grown &- cwnd)
        cwnd = grown
        return max(left, 0)
    }

    /// tcp_cong_avoid_ai(): one segment per `w` ACKed.
    mutating func additiveIncrease(every w: Int, acked: Int) {
        let w = max(w, 1)
        if cwndCount >= w {
            cwndCount = 0
            cwnd &+= 1
        }
        cwndCount &+= acked
        if cwndCount >= w {
            let delta = cwndCount / w
            cwndCount &-= delta &* w
            cwnd &+= delta
        }
    }
}

/// HyStart++ (RFC 9406 §4): leave slow start when the round's minimum RTT
/// rises by more than η, through Conservative Slow Start.
struct HyStartPlusPlus: Sendable, Equatable {
    static let minRTTThresh: Int64 = 4_000        // µs
    static let maxRTTThresh: Int64 = 16_000
    static let minRTTDivisor: Int64 = 8
    static let nRTTSample = 8
    static let cssGrowthDivisor = 4
    static let cssRounds = 5
    static let none: Int64 = .max

    var windowEnd = TCPSeqNumber(0)
    var lastRoundMinRTT: Int64 {
        @inline(__always) get { _lastRoundMinRTT == .max ? Self.none : Int64(_lastRoundMinRTT) }
        @inline(__always) set { _lastRoundMinRTT = UInt32(clamping: newValue) }
    }
    var currentRoundMinRTT: Int64 {
        @inline(__always) get { _currentRoundMinRTT == .max ? Self.none : Int64(_currentRoundMinRTT) }
        @inline(__always) set { _currentRoundMinRTT = UInt32(clamping: newValue) }
    }
    var rttSampleCount: Int {
        @inline(__always) get { Int(_rttSampleCount) }
        @inline(__always) set { _rttSampleCount = Int32(truncatingIfNeeded: newValue) }
    }
    var cssBaselineMinRTT: Int64 {
        @inline(__always) get { _cssBaselineMinRTT == .max ? Self.none : Int64(_cssBaselineMinRTT) }
        @inline(__always) set { _cssBaselineMinRTT = UInt32(clamping: newValue) }
    }
    var cssRoundCount: Int {
        @inline(__always) get { Int(_cssRoundCount) }
        @inline(__always) set { _cssRoundCount = Int32(truncatingIfNeeded: newValue) }
    }
    var cssCredit: Int {
        @inline(__always) get { Int(_cssCredit) }
        @inline(__always) set { _cssCredit = Int32(truncatingIfNeeded: newValue) }
    }
    var roundStarted = false
    var inCSS = false
    var done = false
    /// The stored halves, in 32 bits (this sits in every CUBIC TCB): RTTs
    /// in µs as Linux's HyStart keeps them (u32), UInt32.max for `none`,
    /// larger values clamped to it (an RTT of 71 minutes).
    var _lastRoundMinRTT: UInt32 = .max
    var _currentRoundMinRTT: UInt32 = .max
    var _cssBaselineMinRTT: UInt32 = .max
    var _rttSampleCount: Int32 = 0
    var _cssRoundCount: Int32 = 0
    var _cssCredit: Int32 = 0

    /// Called per ACK during slow start; returns the segments slow start
    /// may add (all of `acked`, or a quarter of them in CSS), and may end
    /// slow start by setting ssthresh.
    mutating func onAck(acked: Int, rttMicros: Int64, ack: TCPSeqNumber, sndNxt: TCPSeqNumber,
                        window: inout TCPCongestionWindow) -> Int {
        if done { return acked }
        if !roundStarted || !(ack < windowEnd) {
            // A new round (§4.2): remember the last one.
            if roundStarted {
                lastRoundMinRTT = currentRoundMinRTT
                if inCSS {
                    cssRoundCount &+= 1
                    if cssRoundCount >= Self.cssRounds {
                        window.ssthresh = window.cwnd
                        done = true
                        return 0
                    }
                }
            }
            roundStarted = true
            windowEnd = sndNxt
            currentRoundMinRTT = Self.none
            rttSampleCount = 0
        }
        if rttMicros >= 0 {
            currentRoundMinRTT = min(currentRoundMinRTT, rttMicros)
            rttSampleCount &+= 1
        }
        if !inCSS {
            if rttSampleCount >= Self.nRTTSample && currentRoundMinRTT != Self.none && lastRoundMinRTT != Self.none {
                let eta = min(max(lastRoundMinRTT / Self.minRTTDivisor, Self.minRTTThresh), Self.maxRTTThresh)
                if currentRoundMinRTT >= lastRoundMinRTT &+ eta {
                    inCSS = true
                    cssBaselineMinRTT = currentRoundMinRTT
                    cssRoundCount = 0
                }
            }
            return acked
        }
        if rttSampleCount >= Self.nRTTSample && currentRoundMinRTT < cssBaselineMinRTT {
            // The RTT fell back: the increase was spurious (§4.2).
            inCSS = false
            cssBaselineMinRTT = Self.none
            return acked
        }
        cssCredit &+= acked
        let grant = cssCredit / Self.cssGrowthDivisor
        cssCredit &-= grant &* Self.cssGrowthDivisor
        return grant
    }

    /// After a loss or timeout slow start does not use HyStart++ again
    /// until the connection restarts (§4.3 leaves it to the implementation;
    /// Linux's HyStart also only runs below its low window after a loss).
    mutating func reset() { self = HyStartPlusPlus() }
}

/// CUBIC state (struct bictcp).
struct CubicState: Sendable, Equatable {
    static let beta = 717.0 / 1024.0
    static let c = 0.4
    var lastMaxCwnd: Int {
        @inline(__always) get { Int(_lastMaxCwnd) }
        @inline(__always) set { _lastMaxCwnd = Int32(truncatingIfNeeded: newValue) }
    }
    var lastCwnd: Int {
        @inline(__always) get { Int(_lastCwnd) }
        @inline(__always) set { _lastCwnd = Int32(truncatingIfNeeded: newValue) }
    }
    var lastTime = Instant.zero
    var originPoint: Int {
        @inline(__always) get { Int(_originPoint) }
        @inline(__always) set { _originPoint = Int32(truncatingIfNeeded: newValue) }
    }
    var k = 0.0                 // seconds
    var delayMinMicros: Int64 {
        @inline(__always) get { Int64(_delayMinMicros) }
        @inline(__always) set { _delayMinMicros = UInt32(clamping: newValue) }
    }
    var epochStart: Instant? {
        @inline(__always) get { _epochStart.nanoseconds == Int64.min ? nil : _epochStart }
        @inline(__always) set { _epochStart = newValue ?? Instant(nanoseconds: .min) }
    }
    var ackCount: Int {
        @inline(__always) get { Int(_ackCount) }
        @inline(__always) set { _ackCount = Int32(truncatingIfNeeded: newValue) }
    }
    var renoCwnd: Int {
        @inline(__always) get { Int(_renoCwnd) }
        @inline(__always) set { _renoCwnd = Int32(truncatingIfNeeded: newValue) }
    }
    var cnt: Int {
        @inline(__always) get { Int(_cnt) }
        @inline(__always) set { _cnt = Int32(truncatingIfNeeded: newValue) }
    }
    var hystart = HyStartPlusPlus()
    /// The stored halves: windows and counts in 32 bits as struct bictcp
    /// keeps them (u32), delay_min in µs (u32), the epoch's start with
    /// Int64.min for none (8 bytes, not an Optional's 16).
    var _lastMaxCwnd: Int32 = 0
    var _lastCwnd: Int32 = 0
    var _originPoint: Int32 = 0
    var _delayMinMicros: UInt32 = 0
    var _ackCount: Int32 = 0
    var _renoCwnd: Int32 = 0
    var _cnt: Int32 = 0
    var _epochStart = Instant(nanoseconds: .min)

    mutating func reset() {
        let delay = delayMinMicros
        self = CubicState()
        delayMinMicros = delay
    }

    /// bictcp_update(): how many ACKed segments earn one more segment.
    mutating func update(cwnd: Int, acked: Int, now: Instant) {
        ackCount &+= acked
        if lastCwnd == cwnd, now - lastTime <= .milliseconds(31) { return }
        lastCwnd = cwnd
        lastTime = now
        if epochStart == nil {
            epochStart = now
            ackCount = acked
            renoCwnd = cwnd
            if lastMaxCwnd <= cwnd {
                k = 0
                originPoint = cwnd
            } else {
                // K = ∛((W_max − cwnd)/C); cwnd is already β·W_max here.
                k = cubeRoot(Double(lastMaxCwnd &- cwnd) / Self.c)
                originPoint = lastMaxCwnd
            }
        }
        let t = Double((now - epochStart!).nanoseconds + delayMinMicros &* 1000) / 1e9
        let offs = t - k
        let target = Double(originPoint) + Self.c * offs * offs * offs
        let targetInt = Int(max(target, 1))
        if targetInt > cwnd {
            cnt = cwnd / (targetInt &- cwnd)
        } else {
            cnt = 100 &* cwnd
        }
        if lastMaxCwnd == 0 && cnt > 20 { cnt = 20 }
        // The Reno-friendly region (RFC 9438 §4.3; Linux's tcp_friendliness).
        let betaScale = 8 * (1024 + 717) / 3 / (1024 - 717)   // 15
        let delta = (cwnd &* betaScale) >> 3
        if delta > 0 {
            while ackCount > delta {
                ackCount &-= delta
                renoCwnd &+= 1
            }
        }
        if renoCwnd > cwnd {
            let maxCnt = cwnd / (renoCwnd &- cwnd)
            if cnt > maxCnt { cnt = maxCnt }
        }
        cnt = max(cnt, 2)
    }

    func cubeRoot(_ x: Double) -> Double {
        // Newton on y³ = x from a power-of-two first guess; x > 0.
        var y = x
        var e = 0
        while y > 8 { y /= 8; e &+= 1 }
        y = 1
        for _ in 0..<e { y *= 2 }
        for _ in 0..<40 {
            let next = (2 * y + x / (y * y)) / 3
            if abs(next - y) < 1e-9 * y { return next }
            y = next
        }
        return y
    }

    /// bictcp_recalc_ssthresh().
    mutating func ssthresh(cwnd: Int) -> Int {
        epochStart = nil
        if cwnd < lastMaxCwnd {
            lastMaxCwnd = cwnd &* (1024 + 717) / 2048
        } else {
            lastMaxCwnd = cwnd
        }
        return max(cwnd &* 717 / 1024, 2)
    }
}

/// The congestion control of one connection.
enum TCPCongestionControl: Sendable, Equatable {
    case reno
    case cubic(CubicState)

    init(_ algorithm: TCPCongestionAlgorithm) {
        switch algorithm {
        case .reno: self = .reno
        case .cubic: self = .cubic(CubicState())
        }
    }

    var algorithm: TCPCongestionAlgorithm {
        switch self {
        case .reno: .reno
        case .cubic: .cubic
        }
    }

    /// cong_avoid(): called per ACK that advanced snd_una outside recovery,
    /// when the flow was cwnd-limited.
    mutating func onAck(_ w: inout TCPCongestionWindow, acked: Int, rttMicros: Int64,
                        ack: TCPSeqNumber, sndNxt: TCPSeqNumber, now: Instant) {
        switch self {
        case .reno:
            var acked = acked
            if w.inSlowStart {
                acked = w.slowStart(acked)
                if acked == 0 { return }
            }
            w.additiveIncrease(every: w.cwnd, acked: acked)
        case .cubic(var s):
            if rttMicros > 0 && (s.delayMinMicros == 0 || rttMicros < s.delayMinMicros) {
                s.delayMinMicros = rttMicros
            }
            var acked = acked
            if w.inSlowStart {
                let grant = s.hystart.onAck(acked: acked, rttMicros: rttMicros, ack: ack, sndNxt: sndNxt, window: &w)
                if w.inSlowStart {
                    _ = w.slowStart(grant)
                    self = .cubic(s)
                    return
                }
                acked = 0
            }
            if acked > 0 {
                s.update(cwnd: w.cwnd, acked: acked, now: now)
                w.additiveIncrease(every: s.cnt, acked: acked)
            }
            self = .cubic(s)
        }
    }

    /// ssthresh(): the window after a congestion event.
    mutating func ssthresh(cwnd: Int) -> Int {
        switch self {
        case .reno:
            return max(cwnd >> 1, 2)
        case .cubic(var s):
            let r = s.ssthresh(cwnd: cwnd)
            self = .cubic(s)
            return r
        }
    }

    /// CA_EVENT_LOSS (an RTO): forget the epoch.
    mutating func onTimeout() {
        switch self {
        case .reno: break
        case .cubic(var s):
            s.epochStart = nil
            s.hystart.done = true
            self = .cubic(s)
        }
    }

    /// CA_EVENT_TX_START after idle: shift the epoch so idle time does not
    /// count as growth time (bictcp_cwnd_event).
    mutating func onRestartAfterIdle(idle: TimeDelta) {
        switch self {
        case .reno: break
        case .cubic(var s):
            if let e = s.epochStart { s.epochStart = e + idle }
            self = .cubic(s)
        }
    }
}
