// TCPConnection: one connection's transmission control block and its
// RFC 9293 state machine, sans-IO.
// Kernel counterparts: struct tcp_sock (include/linux/tcp.h);
// tcp_rcv_state_process(), tcp_rcv_synsent_state_process(),
// tcp_validate_incoming(), tcp_ack(), tcp_data_queue() (net/ipv4/tcp_input.c);
// tcp_close(), tcp_shutdown() (net/ipv4/tcp.c).
//
// RFCs: 9293 (state machine, §3.10 event processing), 5961 (challenge ACKs
// for in-window RST/SYN and out-of-range ACKs, rate-limited as Linux's
// tcp_invalid_ratelimit), 7323 (window scale, timestamps, PAWS), 2018 + 2883
// (SACK, D-SACK), 6298 (RTO), 6675/8985/6937 (SACK recovery, RACK-TLP, PRR;
// see TCPRecovery.swift), 1122 §4.2.3 (delayed ACK, SWS avoidance, Nagle).
//
// Where Linux differs from the RFCs this follows Linux: the acceptability
// test's left edge is rcv_wup (the window last advertised), not rcv_nxt; an
// RST in TIME-WAIT ends it (tcp_rfc1337 = 0); the RTO floor applies to the
// variance term (RTO ≥ SRTT + 200 ms), not to the RTO; a FIN arriving in
// ESTABLISHED is ACKed with the delayed-ACK timer (pingpong), expecting the
// application's own FIN to carry the ACK.
//
// Why a final class: a connection is shared by identity — the demux hash
// table, the socket, the accept queue and the timer wheel all refer to the
// same TCB — and it owns unsafe ring storage that must be freed exactly once
// (deinit). The cost is one retain per segment dispatched to it; all work
// inside is on stored properties of that one object. Its stored state is
// under 1 KiB (tested when idle, rings freed): the configuration is a
// shared reference (TCPConfiguration), counts and RTTs that fit 32 bits
// are stored in 32 bits (as tcp_sock keeps them), optional instants use a
// sentinel, fields under 8 bytes are gathered so that none pads, and the
// out-of-order state lives in a box only while there is some.
//
// Ownership (DESIGN.md §8.5): a connection belongs to one shard and is only
// touched from that shard's run-to-completion loop, never concurrently and
// never re-entrantly (no method holds an inout access to a property across
// a call that touches the same property), so its mutable stored properties
// are `@exclusivity(unchecked)`: the runtime checks would cost more than the
// protocol work on the per-segment path. Every access is short (read,
// compute, write back); keep it so when editing.
import NetWire

/// Linux's congestion-avoidance states (enum tcp_ca_state).
public enum TCPCongestionState: UInt8, Sendable {
    case open, disorder, cwr, recovery, loss
}

/// What the retransmit timer is armed for (icsk_pending).
enum TCPRetransmitTimer: UInt8 {
    case none, retransmit, probe0, lossProbe, reorder
}

public final class TCPConnection {
    // MARK: identity and configuration
    public let local: TCPEndpoint
    /// The initial sequence numbers, ours and the peer's (each beside an
    /// endpoint, in the 4 bytes its alignment would leave empty).
    @exclusivity(unchecked) public internal(set) var iss: TCPSeqNumber
    public let remote: TCPEndpoint
    @exclusivity(unchecked) public internal(set) var irs = TCPSeqNumber(0)
    /// The sysctls and socket options this connection reads: usually the
    /// very block its socket and namespace share (TCPConfiguration is
    /// copy-on-write), so nothing per connection may be stored in it.
    @exclusivity(unchecked) public var configuration: TCPConfiguration

    // MARK: send sequence space (RFC 9293 §3.3.1)
    @exclusivity(unchecked) public internal(set) var sndUna: TCPSeqNumber
    /// The highest sequence sent (Linux never rewinds snd_nxt; retransmissions
    /// go through the loss marks of the retransmission queue).
    @exclusivity(unchecked) public internal(set) var sndNxt: TCPSeqNumber
    /// The peer's window in bytes, scaled.
    public internal(set) var sndWnd: Int {
        @inline(__always) get { Int(_sndWnd) }
        @inline(__always) set { _sndWnd = Int32(truncatingIfNeeded: newValue) }
    }
    @exclusivity(unchecked) var sndWl1 = TCPSeqNumber(0)
    @exclusivity(unchecked) var sndWl2 = TCPSeqNumber(0)
    var maxWindow: Int {
        @inline(__always) get { Int(_maxWindow) }
        @inline(__always) set { _maxWindow = Int32(truncatingIfNeeded: newValue) }
    }
    /// Nagle's "last small segment sent" (snd_sml, Minshall's variant).
    @exclusivity(unchecked) var sndSml: TCPSeqNumber
    /// Payload bytes per segment we send (mss_cache).
    public internal(set) var mss: Int {
        @inline(__always) get { Int(_mss) }
        @inline(__always) set { _mss = Int32(truncatingIfNeeded: newValue) }
    }

    // MARK: receive sequence space
    @exclusivity(unchecked) public internal(set) var rcvNxt = TCPSeqNumber(0)
    /// rcv_wup and rcv_wnd: the window last advertised starts at rcv_wup.
    @exclusivity(unchecked) var rcvWup = TCPSeqNumber(0)
    var rcvWnd: Int {
        @inline(__always) get { Int(_rcvWnd) }
        @inline(__always) set { _rcvWnd = Int32(truncatingIfNeeded: newValue) }
    }
    /// The window grows towards the buffer as data arrives (rcv_ssthresh).
    var rcvSsthresh: Int {
        @inline(__always) get { Int(_rcvSsthresh) }
        @inline(__always) set { _rcvSsthresh = Int32(truncatingIfNeeded: newValue) }
    }
    /// The peer's segment size as seen (icsk_ack.rcv_mss).
    var rcvMss: Int {
        @inline(__always) get { Int(_rcvMss) }
        @inline(__always) set { _rcvMss = Int32(truncatingIfNeeded: newValue) }
    }
    /// gso_size of the packet being received (0: a single segment).
    var receivedGSOSize: Int {
        @inline(__always) get { Int(_receivedGSOSize) }
        @inline(__always) set { _receivedGSOSize = Int32(truncatingIfNeeded: newValue) }
    }

    // MARK: negotiated options
    @exclusivity(unchecked) var tsRecent: UInt32 = 0
    @exclusivity(unchecked) var tsRecentStamp = Instant.zero

    // MARK: ECN (RFC 3168; TCPCongestion.swift)
    /// Packets delivered by ACKs carrying ECE (tcpi_delivered_ce).
    var deliveredCE: Int {
        @inline(__always) get { Int(_deliveredCE) }
        @inline(__always) set { _deliveredCE = UInt32(truncatingIfNeeded: newValue) }
    }
    /// When TIME-WAIT began (tw_entry_stamp; tcp_tw_reuse waits from it).
    @exclusivity(unchecked) public internal(set) var timeWaitEnteredAt = Instant.zero

    // MARK: RTT and RTO (tcp_rtt_estimator; all µs; srtt scaled by 8, mdev by 4)
    var srttUs: Int64 {
        @inline(__always) get { Int64(_srttUs) }
        @inline(__always) set { _srttUs = UInt32(truncatingIfNeeded: newValue) }
    }
    var mdevUs: Int64 {
        @inline(__always) get { Int64(_mdevUs) }
        @inline(__always) set { _mdevUs = UInt32(truncatingIfNeeded: newValue) }
    }
    var mdevMaxUs: Int64 {
        @inline(__always) get { Int64(_mdevMaxUs) }
        @inline(__always) set { _mdevMaxUs = UInt32(truncatingIfNeeded: newValue) }
    }
    var rttvarUs: Int64 {
        @inline(__always) get { Int64(_rttvarUs) }
        @inline(__always) set { _rttvarUs = UInt32(truncatingIfNeeded: newValue) }
    }
    /// The lowest RTT seen (tp->rtt_min), .max until the first sample.
    var minRttUs: Int64 {
        @inline(__always) get { _minRttUs == .max ? .max : Int64(_minRttUs) }
        @inline(__always) set { _minRttUs = UInt32(clamping: newValue) }
    }
    @exclusivity(unchecked) public internal(set) var rto: TimeDelta
    /// icsk_backoff, icsk_retransmits.
    public internal(set) var backoff: Int {
        @inline(__always) get { Int(_backoff) }
        @inline(__always) set { _backoff = Int32(truncatingIfNeeded: newValue) }
    }
    var retransmits: Int {
        @inline(__always) get { Int(_retransmits) }
        @inline(__always) set { _retransmits = Int32(truncatingIfNeeded: newValue) }
    }
    /// retrans_stamp: when the oldest unacknowledged retransmitted data was
    /// first sent; the give-up clock of tcp_retries2 starts there.
    var retransStamp: Instant? {
        @inline(__always) get { _retransStamp.nanoseconds == Int64.min ? nil : _retransStamp }
        @inline(__always) set { _retransStamp = newValue ?? Instant(nanoseconds: .min) }
    }
    @exclusivity(unchecked) var _retransStamp = Instant(nanoseconds: .min)
    /// When the first SYN went out (PAWS check of the SYN-ACK).
    var synFirstSentAt: Instant? {
        @inline(__always) get { _synFirstSentAt.nanoseconds == Int64.min ? nil : _synFirstSentAt }
        @inline(__always) set { _synFirstSentAt = newValue ?? Instant(nanoseconds: .min) }
    }
    @exclusivity(unchecked) var _synFirstSentAt = Instant(nanoseconds: .min)
    /// The state of congestion episodes (undo, PRR, F-RTO) lives in a box
    /// allocated at the first episode (`TCPEpisodeState`) and kept: a
    /// connection that never reduced its window carries 8 bytes of it,
    /// not 32. Read without it, every field is its initial value.
    @exclusivity(unchecked) var episode: TCPEpisodeState?
    /// Undo state (tcp_init_undo): the episode's start, its retransmissions
    /// not yet proven spurious by a D-SACK, the window before it
    /// (`priorSsthresh`, `priorCwnd`).
    var undoMarker: TCPSeqNumber? {
        @inline(__always) get {
            guard let e = episode else { return nil }
            return e.undoMarker
        }
        @inline(__always) set {
            if let e = episode { e.undoMarker = newValue } else if newValue != nil { makeEpisode().undoMarker = newValue }
        }
    }
    var undoRetrans: Int {
        @inline(__always) get {
            guard let e = episode else { return 0 }
            return Int(e.undoRetrans)
        }
        @inline(__always) set {
            let v = Int32(truncatingIfNeeded: newValue)
            if let e = episode { e.undoRetrans = v } else if v != 0 { makeEpisode().undoRetrans = v }
        }
    }
    /// F-RTO in progress (tp->frto), and "send new data, not retransmissions,
    /// this round" (REXMIT_NEW).
    var frto: Bool {
        @inline(__always) get {
            guard let e = episode else { return false }
            return e.frto
        }
        @inline(__always) set {
            if let e = episode { e.frto = newValue } else if newValue { makeEpisode().frto = newValue }
        }
    }
    var frtoSendNew: Bool {
        @inline(__always) get {
            guard let e = episode else { return false }
            return e.frtoSendNew
        }
        @inline(__always) set {
            if let e = episode { e.frtoSendNew = newValue } else if newValue { makeEpisode().frtoSendNew = newValue }
        }
    }
    var priorSsthresh: Int {
        @inline(__always) get {
            guard let e = episode else { return 0 }
            return Int(e.priorSsthresh)
        }
        @inline(__always) set {
            let v = Int32(truncatingIfNeeded: newValue)
            if let e = episode { e.priorSsthresh = v } else if v != 0 { makeEpisode().priorSsthresh = v }
        }
    }

    // MARK: congestion control and loss recovery
    @exclusivity(unchecked) public internal(set) var window: TCPCongestionWindow
    @exclusivity(unchecked) var highSeq = TCPSeqNumber(0)
    @exclusivity(unchecked) var cc: TCPCongestionControl
    var priorCwnd: Int {
        @inline(__always) get {
            guard let e = episode else { return 0 }
            return Int(e.priorCwnd)
        }
        @inline(__always) set {
            let v = Int32(truncatingIfNeeded: newValue)
            if let e = episode { e.priorCwnd = v } else if v != 0 { makeEpisode().priorCwnd = v }
        }
    }
    var prrDelivered: Int {
        @inline(__always) get {
            guard let e = episode else { return 0 }
            return Int(e.prrDelivered)
        }
        @inline(__always) set {
            let v = Int32(truncatingIfNeeded: newValue)
            if let e = episode { e.prrDelivered = v } else if v != 0 { makeEpisode().prrDelivered = v }
        }
    }
    var prrOut: Int {
        @inline(__always) get {
            guard let e = episode else { return 0 }
            return Int(e.prrOut)
        }
        @inline(__always) set {
            let v = Int32(truncatingIfNeeded: newValue)
            if let e = episode { e.prrOut = v } else if v != 0 { makeEpisode().prrOut = v }
        }
    }
    var dupAcks: Int {
        @inline(__always) get { Int(_dupAcks) }
        @inline(__always) set { _dupAcks = Int32(truncatingIfNeeded: newValue) }
    }
    var maxPacketsOut: Int {
        @inline(__always) get { Int(_maxPacketsOut) }
        @inline(__always) set { _maxPacketsOut = Int32(truncatingIfNeeded: newValue) }
    }
    var packetsOut: Int {
        @inline(__always) get { Int(_packetsOut) }
        @inline(__always) set { _packetsOut = Int32(truncatingIfNeeded: newValue) }
    }
    var sackedOut: Int {
        @inline(__always) get { Int(_sackedOut) }
        @inline(__always) set { _sackedOut = Int32(truncatingIfNeeded: newValue) }
    }
    var lostOut: Int {
        @inline(__always) get { Int(_lostOut) }
        @inline(__always) set { _lostOut = Int32(truncatingIfNeeded: newValue) }
    }
    var retransOut: Int {
        @inline(__always) get { Int(_retransOut) }
        @inline(__always) set { _retransOut = Int32(truncatingIfNeeded: newValue) }
    }
    /// The highest SACKed sequence (for reordering detection).
    @exclusivity(unchecked) var highestSacked = TCPSeqNumber(0)
    /// RACK (RFC 8985 §6): the end of the most recently sent delivered segment,
    /// and (rackXmit) when it was sent.
    @exclusivity(unchecked) var rackEndSeq = TCPSeqNumber(0)
    @exclusivity(unchecked) var rackXmit = Instant.zero
    var rackRttUs: Int64 {
        @inline(__always) get { Int64(_rackRttUs) }
        @inline(__always) set { _rackRttUs = UInt32(truncatingIfNeeded: newValue) }
    }
    /// Retransmit-queue index hint for the next lost record to resend.
    var retransmitHint: Int {
        @inline(__always) get { Int(_retransmitHint) }
        @inline(__always) set { _retransmitHint = Int32(truncatingIfNeeded: newValue) }
    }
    /// Lifetime statistics (tcp_info).
    public internal(set) var totalRetransmits: Int {
        @inline(__always) get { Int(_totalRetransmits) }
        @inline(__always) set { _totalRetransmits = UInt32(truncatingIfNeeded: newValue) }
    }
    public internal(set) var segmentsOut: Int {
        @inline(__always) get { Int(_segmentsOut) }
        @inline(__always) set { _segmentsOut = UInt32(truncatingIfNeeded: newValue) }
    }
    public internal(set) var segmentsIn: Int {
        @inline(__always) get { Int(_segmentsIn) }
        @inline(__always) set { _segmentsIn = UInt32(truncatingIfNeeded: newValue) }
    }
    /// More lifetime statistics for tcp_info (TCPInfo.swift), each one add
    /// or one store where its event happens: tp->bytes_acked,
    /// bytes_received, bytes_sent, bytes_retrans, data_segs_in/out,
    /// delivered, dsack_dups, reord_seen, rcv_ooopack.
    @exclusivity(unchecked) var bytesAcked: UInt64 = 0
    @exclusivity(unchecked) var bytesReceived: UInt64 = 0
    @exclusivity(unchecked) var bytesSent: UInt64 = 0
    @exclusivity(unchecked) var bytesRetransmitted: UInt64 = 0
    var dataSegmentsIn: Int {
        @inline(__always) get { Int(_dataSegmentsIn) }
        @inline(__always) set { _dataSegmentsIn = UInt32(truncatingIfNeeded: newValue) }
    }
    var dataSegmentsOut: Int {
        @inline(__always) get { Int(_dataSegmentsOut) }
        @inline(__always) set { _dataSegmentsOut = UInt32(truncatingIfNeeded: newValue) }
    }
    var deliveredTotal: Int {
        @inline(__always) get { Int(_deliveredTotal) }
        @inline(__always) set { _deliveredTotal = UInt32(truncatingIfNeeded: newValue) }
    }
    var dsackDups: Int {
        @inline(__always) get { Int(_dsackDups) }
        @inline(__always) set { _dsackDups = UInt32(truncatingIfNeeded: newValue) }
    }
    var reorderSeenCount: Int {
        @inline(__always) get { Int(_reorderSeenCount) }
        @inline(__always) set { _reorderSeenCount = UInt32(truncatingIfNeeded: newValue) }
    }
    var outOfOrderPackets: Int {
        @inline(__always) get { Int(_outOfOrderPackets) }
        @inline(__always) set { _outOfOrderPackets = UInt32(truncatingIfNeeded: newValue) }
    }
    /// tp->lsndtime, icsk_ack.lrcvtime, tp->rcv_tstamp: the last data
    /// sent, the last data received, the last ACK taken.
    @exclusivity(unchecked) var lastDataSent = Instant.zero
    @exclusivity(unchecked) var lastDataReceived = Instant.zero
    @exclusivity(unchecked) var lastAckReceived = Instant.zero
    /// tp->rcv_rtt_est (µs × 8) and the TSecr it last used.
    var rcvRttUs: Int64 {
        @inline(__always) get { Int64(_rcvRttUs) }
        @inline(__always) set { _rcvRttUs = UInt32(truncatingIfNeeded: newValue) }
    }
    @exclusivity(unchecked) var rcvRttLastTsecr: UInt32 = 0
    /// tp->rcvq_space: bytes the application copied in the last measured
    /// RTT (space), and where (seq) and when (time) that measure started;
    /// `rcvqTime` nil until the first read (TCPMemory.swift).
    var rcvSpace: Int {
        @inline(__always) get { Int(_rcvSpace) }
        @inline(__always) set { _rcvSpace = Int32(truncatingIfNeeded: newValue) }
    }
    @exclusivity(unchecked) var rcvqSeq = TCPSeqNumber(0)
    var rcvqTime: Instant? {
        @inline(__always) get { _rcvqTime.nanoseconds == Int64.min ? nil : _rcvqTime }
        @inline(__always) set { _rcvqTime = newValue ?? Instant(nanoseconds: .min) }
    }
    @exclusivity(unchecked) var _rcvqTime = Instant(nanoseconds: .min)
    /// sk_rcvbuf and tp->window_clamp (bytes; payload bytes stand for skb
    /// truesize, so the window may use the whole buffer): tcp_rmem[1] at
    /// first, grown by autotuning up to tcp_rmem[2]; SO_RCVBUF sets and
    /// locks it (SOCK_RCVBUF_LOCK).
    public internal(set) var rcvBuf: Int {
        @inline(__always) get { Int(_rcvBuf) }
        @inline(__always) set { _rcvBuf = Int32(truncatingIfNeeded: newValue) }
    }
    var windowClamp: Int {
        @inline(__always) get { Int(_windowClamp) }
        @inline(__always) set { _windowClamp = Int32(truncatingIfNeeded: newValue) }
    }
    /// sk_sndbuf when SO_SNDBUF locked it (SOCK_SNDBUF_LOCK); 0: not locked,
    /// the send buffer follows the congestion window (tcp_sndbuf_expand).
    public internal(set) var sndBufLocked: Int {
        @inline(__always) get { Int(_sndBufLocked) }
        @inline(__always) set { _sndBufLocked = Int32(truncatingIfNeeded: newValue) }
    }
    /// The largest send buffer reached (sk_sndbuf only grows, except under
    /// memory pressure, which holds it).
    var sndBufGrown: Int {
        @inline(__always) get { Int(_sndBufGrown) }
        @inline(__always) set { _sndBufGrown = Int32(truncatingIfNeeded: newValue) }
    }
    /// Delivery-rate sampling (net/ipv4/tcp_rate.c): tp->delivered_mstamp,
    /// tp->app_limited, and the kept sample (rate_delivered,
    /// rate_interval_us, rate_app_limited).
    @exclusivity(unchecked) var deliveredStamp = Instant.zero
    @exclusivity(unchecked) var appLimitedUntil: UInt32 = .max
    @exclusivity(unchecked) var rateSamplePriorDelivered: UInt32 = 0
    var rateDelivered: Int {
        @inline(__always) get { Int(_rateDelivered) }
        @inline(__always) set { _rateDelivered = Int32(truncatingIfNeeded: newValue) }
    }
    var rateIntervalUs: Int64 {
        @inline(__always) get { Int64(_rateIntervalUs) }
        @inline(__always) set { _rateIntervalUs = UInt32(truncatingIfNeeded: newValue) }
    }
    /// The newest segment delivered by the ACK being processed (the rate
    /// sample's P: its delivered count and stamp when sent), or nil.
    var rateSampleSentAt: Instant? {
        @inline(__always) get { _rateSampleSentAt.nanoseconds == Int64.min ? nil : _rateSampleSentAt }
        @inline(__always) set { _rateSampleSentAt = newValue ?? Instant(nanoseconds: .min) }
    }
    @exclusivity(unchecked) var _rateSampleSentAt = Instant(nanoseconds: .min)
    @exclusivity(unchecked) var rateSamplePriorStamp = Instant.zero
    /// The chronograph (tcp_chrono_start/stop/set; its state `chronoType`
    /// is with the small fields): since when, and the time in each state.
    @exclusivity(unchecked) var chronoSince = Instant.zero
    @exclusivity(unchecked) var chronoBusy = TimeDelta.zero
    @exclusivity(unchecked) var chronoRwndLimited = TimeDelta.zero
    @exclusivity(unchecked) var chronoSndbufLimited = TimeDelta.zero
    /// MIB counts not yet flushed to the shard.
    /// Where they gather: the stack's one `TCPPendingCounters` (shared by
    /// all its connections, since each event's counts are flushed before
    /// the next event runs), or the connection's own, allocated at the
    /// first count, when it runs without a stack (nil until then).
    @exclusivity(unchecked) var counterBox: TCPPendingCounters?
    /// The account both rings charge their capacity to (the stack's
    /// tcp_mem; nil: none, a connection outside a stack), passed to the
    /// rings' growing and freeing calls rather than kept in each.
    @exclusivity(unchecked) var memory: TCPMemory?
    public internal(set) var pendingCounters: TCPCounterSet {
        @inline(__always) get { counterBox?.counts ?? TCPCounterSet() }
        set { ownCounterBox().counts = newValue }
        _modify {
            if counterBox == nil { makeCounterBox() }
            yield &counterBox.unsafelyUnwrapped.counts
        }
    }

    // MARK: reassembly and SACK generation
    /// The out-of-order ranges and the SACK blocks reporting them, in a box
    /// that exists only while there are some (`TCPReassembly`): nil in a
    /// connection receiving in order, as almost all are almost always.
    @exclusivity(unchecked) var reassembly: TCPReassembly?
    /// Out-of-order ranges held in the receive ring, sorted, disjoint, all
    /// after rcv_nxt (Linux's out_of_order_queue, ranges only).
    var outOfOrder: [TCPSackBlock] {
        @inline(__always) get { reassembly?.outOfOrder ?? [] }
        set {
            if let r = reassembly { r.outOfOrder = newValue }
            else if newValue.capacity > 0 { reassembly = TCPReassembly(outOfOrder: newValue) }
        }
        _modify {
            if let r = reassembly {
                yield &r.outOfOrder
            } else {
                var ranges: [TCPSackBlock] = []
                yield &ranges
                if ranges.capacity > 0 { reassembly = TCPReassembly(outOfOrder: ranges) }
            }
        }
    }
    /// Some range is held out of order (the box's nil check first: no
    /// reference is taken in the usual, in-order case).
    var hasOutOfOrder: Bool {
        @inline(__always) get {
            guard let r = reassembly else { return false }
            return !r.outOfOrder.isEmpty
        }
    }
    /// The SACK blocks to report, most recent first (tp->selective_acks).
    var recentSacks: TCPSackBlocks {
        @inline(__always) get { reassembly?.recentSacks ?? TCPSackBlocks() }
        set {
            if let r = reassembly { r.recentSacks = newValue }
            else if !newValue.isEmpty { reassembly = TCPReassembly(recentSacks: newValue) }
        }
    }

    /// Frees the reassembly box once nothing is out of order and no block
    /// is left to report (after each segment's data and each prune).
    @inline(__always)
    func releaseReassemblyIfDone() {
        if let r = reassembly, r.outOfOrder.capacity == 0, r.recentSacks.isEmpty { reassembly = nil }
    }

    // MARK: ACK scheduling (icsk_ack)
    var quickAcks: Int {
        @inline(__always) get { Int(_quickAcks) }
        @inline(__always) set { _quickAcks = Int32(truncatingIfNeeded: newValue) }
    }
    @exclusivity(unchecked) var ato = TimeDelta.zero
    @exclusivity(unchecked) var lastReceived = Instant.zero
    var lastOutOfWindowAck: Instant? {
        @inline(__always) get { _lastOutOfWindowAck.nanoseconds == Int64.min ? nil : _lastOutOfWindowAck }
        @inline(__always) set { _lastOutOfWindowAck = newValue ?? Instant(nanoseconds: .min) }
    }
    @exclusivity(unchecked) var _lastOutOfWindowAck = Instant(nanoseconds: .min)

    // MARK: timers (Instant.distantFuture = not armed)
    @exclusivity(unchecked) var retransmitDeadline = Instant.distantFuture
    @exclusivity(unchecked) var delackDeadline = Instant.distantFuture
    @exclusivity(unchecked) var keepaliveDeadline = Instant.distantFuture
    /// TIME-WAIT or FIN-WAIT-2 (orphaned) expiry.
    @exclusivity(unchecked) var lingerDeadline = Instant.distantFuture
    var probesOut: Int {
        @inline(__always) get { Int(_probesOut) }
        @inline(__always) set { _probesOut = Int32(truncatingIfNeeded: newValue) }
    }

    // MARK: control flags
    @exclusivity(unchecked) var lastSent = Instant.zero


    // MARK: buffers
    @exclusivity(unchecked) var sendRing = TCPByteRing()
    @exclusivity(unchecked) var recvRing = TCPByteRing()
    @exclusivity(unchecked) var sent = TCPSentQueue()
    /// The sequence number of the send ring's first byte.
    @exclusivity(unchecked) var sendRingSeq: TCPSeqNumber

    // The optional instants above (retransStamp, synFirstSentAt, rcvqTime,
    // rateSampleSentAt, lastOutOfWindowAck) are stored as plain instants
    // with Int64.min, a time no clock reads, for nil: 8 bytes each
    // instead of an Optional's 9 padded to 16.

    // MARK: 32-bit storage
    /// The stored halves of the Int properties above that never leave 32
    /// bits: windows, buffer sizes and segment counts (tcp_sock keeps them
    /// as u32 too: snd_wnd, packets_out, segs_out…), and the tcp_info
    /// counters Linux reports as u32 (wrapping there as here). Each is
    /// read and written as Int through its property; stored here, side by
    /// side, they take 4 bytes each instead of 8 with no padding between.
    /// The timestamp offset (tsoffset) and the snd_nxt that ends the RTT
    /// estimator's current round (rtt_seq), kept with the 32-bit fields.
    @exclusivity(unchecked) var tsOffset: UInt32
    @exclusivity(unchecked) var rttSeq = TCPSeqNumber(0)
    @exclusivity(unchecked) var _sndWnd: Int32 = 0
    @exclusivity(unchecked) var _maxWindow: Int32 = 0
    @exclusivity(unchecked) var _mss: Int32 = 536
    @exclusivity(unchecked) var _rcvWnd: Int32 = 0
    @exclusivity(unchecked) var _rcvSsthresh: Int32 = 0
    @exclusivity(unchecked) var _rcvMss: Int32 = 536
    @exclusivity(unchecked) var _receivedGSOSize: Int32 = 0
    @exclusivity(unchecked) var _backoff: Int32 = 0
    @exclusivity(unchecked) var _retransmits: Int32 = 0
    @exclusivity(unchecked) var _dupAcks: Int32 = 0
    @exclusivity(unchecked) var _maxPacketsOut: Int32 = 0
    @exclusivity(unchecked) var _packetsOut: Int32 = 0
    @exclusivity(unchecked) var _sackedOut: Int32 = 0
    @exclusivity(unchecked) var _lostOut: Int32 = 0
    @exclusivity(unchecked) var _retransOut: Int32 = 0
    @exclusivity(unchecked) var _retransmitHint: Int32 = 0
    @exclusivity(unchecked) var _rcvSpace: Int32 = 0
    @exclusivity(unchecked) var _rcvBuf: Int32 = 0
    @exclusivity(unchecked) var _windowClamp: Int32 = 0
    @exclusivity(unchecked) var _sndBufLocked: Int32 = 0
    @exclusivity(unchecked) var _sndBufGrown: Int32 = 0
    @exclusivity(unchecked) var _rateDelivered: Int32 = 0
    @exclusivity(unchecked) var _quickAcks: Int32 = 0
    @exclusivity(unchecked) var _probesOut: Int32 = 0
    @exclusivity(unchecked) var _deliveredCE: UInt32 = 0
    @exclusivity(unchecked) var _totalRetransmits: UInt32 = 0
    @exclusivity(unchecked) var _segmentsOut: UInt32 = 0
    @exclusivity(unchecked) var _segmentsIn: UInt32 = 0
    @exclusivity(unchecked) var _dataSegmentsIn: UInt32 = 0
    @exclusivity(unchecked) var _dataSegmentsOut: UInt32 = 0
    @exclusivity(unchecked) var _deliveredTotal: UInt32 = 0
    @exclusivity(unchecked) var _dsackDups: UInt32 = 0
    @exclusivity(unchecked) var _reorderSeenCount: UInt32 = 0
    @exclusivity(unchecked) var _outOfOrderPackets: UInt32 = 0
    /// The RTT estimator's state in µs, u32 as in tcp_sock (srtt_us,
    /// mdev_us, mdev_max_us, rttvar_us, rtt_min, rack.rtt_us,
    /// rcv_rtt_est.rtt_us, rate_interval_us): an RTT above 536 s (srtt is
    /// scaled by 8) wraps there as in Linux; the minimum saturates.
    @exclusivity(unchecked) var _srttUs: UInt32 = 0
    @exclusivity(unchecked) var _mdevUs: UInt32 = 0
    @exclusivity(unchecked) var _mdevMaxUs: UInt32 = 0
    @exclusivity(unchecked) var _rttvarUs: UInt32 = 0
    @exclusivity(unchecked) var _minRttUs: UInt32 = .max
    @exclusivity(unchecked) var _rackRttUs: UInt32 = 0
    @exclusivity(unchecked) var _rcvRttUs: UInt32 = 0
    @exclusivity(unchecked) var _rateIntervalUs: UInt32 = 0

    // MARK: small fields
    // Fields under 8 bytes that are not 32-bit numbers, gathered here so
    // that none pads the 8-byte fields above (a class lays its fields out
    // in declaration order, each at its alignment: a Bool between two
    // instants cost 8 bytes). Optionals of 4-byte values (5 or 9 bytes)
    // each take the one-byte fields after them into their tail.
    /// sk_err: why the connection failed (ECONNRESET, ECONNREFUSED, ETIMEDOUT).
    @exclusivity(unchecked) public internal(set) var error: Errno?
    @exclusivity(unchecked) public internal(set) var state: TCPState
    /// close() was called: no application holds the socket any more.
    @exclusivity(unchecked) public internal(set) var isOrphaned = false
    @exclusivity(unchecked) public internal(set) var sndWscale: UInt8 = 0
    /// sk_err_soft: the last ICMP error seen while synchronized; a timeout
    /// reports it instead of ETIMEDOUT.
    @exclusivity(unchecked) public internal(set) var softError: Errno?
    @exclusivity(unchecked) public internal(set) var rcvWscale: UInt8 = 0
    @exclusivity(unchecked) public internal(set) var sackPermitted = false
    @exclusivity(unchecked) public internal(set) var timestampsEnabled = false
    @exclusivity(unchecked) public internal(set) var windowScalingEnabled = false
    /// tp->ecn_flags.
    @exclusivity(unchecked) public internal(set) var ecnFlags: TCPECNFlags = []
    /// The ECN field of the IP header of the segment being received.
    @exclusivity(unchecked) var receivedECN: UInt8 = 0
    /// The highest SACKed sequence before the ACK being processed, if any
    /// record was SACKed then (prior_fack).
    @exclusivity(unchecked) var priorFack: TCPSeqNumber?
    /// The ECN field the IP header of the segment `nextSegment` last wrote
    /// carries: ECT(0) for new data of an ECN connection, else Not-ECT.
    @exclusivity(unchecked) public internal(set) var outputECN: UInt8 = 0
    /// TLP: the probe outstanding ends here (tlp_high_seq).
    @exclusivity(unchecked) var tlpHighSeq: TCPSeqNumber?
    /// The ACK being processed delivered data never retransmitted (FLAG_ORIG_SACK_ACKED).
    @exclusivity(unchecked) var originalDataDelivered = false
    @exclusivity(unchecked) public internal(set) var congestionState: TCPCongestionState = .open
    @exclusivity(unchecked) var isCwndLimited = false
    /// A D-SACK to report once (tp->duplicate_sack).
    @exclusivity(unchecked) var dsack: TCPSackBlock?
    @exclusivity(unchecked) var rackAdvanced = false
    @exclusivity(unchecked) var reorderingSeen = false
    /// TLP (RFC 8985 §7): a probe is due.
    @exclusivity(unchecked) var tlpDue = false
    /// The peer's FIN, when it arrived ahead of data still missing.
    @exclusivity(unchecked) var peerFinSeq: TCPSeqNumber?
    /// The probe was a retransmission (tlp_retrans), not new data.
    @exclusivity(unchecked) var tlpRetransmitted = false
    /// The ACK being processed carried a D-SACK.
    @exclusivity(unchecked) var dsackInThisAck = false
    @exclusivity(unchecked) public internal(set) var rcvBufLocked = false
    @exclusivity(unchecked) var pendingReset: TCPResetSegment?
    /// net.ipv4.tcp_moderate_rcvbuf of the namespace (set by the socket layer).
    @exclusivity(unchecked) var moderateRcvbuf = true
    @exclusivity(unchecked) var rateAppLimited = true
    /// The MSS we advertise (advmss): the route's MTU less the headers,
    /// chosen per connection at connect(); kept here, not in
    /// `configuration`, so that the configuration stays shared.
    public let advertisedMSS: UInt16
    /// inet_id: the IPv4 identification of this connection's next packet,
    /// random at connect() (tcp_v4_connect) and for an accepted child
    /// (tcp_v4_syn_recv_sock), advanced by each packet's segment count
    /// (ip_select_ident_segs with gso_segs). Set and advanced by the
    /// socket layer; beside `advertisedMSS`, in what was padding.
    @exclusivity(unchecked) public internal(set) var inetID: UInt16 = 0
    @exclusivity(unchecked) var rateSampleAppLimited = false
    /// The chronograph's state: what limits the sender now.
    @exclusivity(unchecked) var chronoType = TCPChrono.none
    @exclusivity(unchecked) public internal(set) var peerFinReceived = false
    @exclusivity(unchecked) var ackNow = false
    @exclusivity(unchecked) var pingpong = false
    @exclusivity(unchecked) var retransmitKind = TCPRetransmitTimer.none
    @exclusivity(unchecked) var zeroWindowProbeDue = false
    @exclusivity(unchecked) var keepaliveProbeDue = false
    /// The SYN (SYN-SENT) or SYN-ACK (SYN-RECEIVED) must be (re)sent.
    @exclusivity(unchecked) var synDue = false
    @exclusivity(unchecked) var synTransmissions: UInt8 = 0
    /// Rebuilt from a SYN cookie: the handshake gives no RTT sample.
    @exclusivity(unchecked) var fromSynCookie = false
    /// shutdown(SHUT_WR) or close() asked for a FIN; `finSent` once sent.
    @exclusivity(unchecked) public internal(set) var finQueued = false
    @exclusivity(unchecked) var finSent = false
    let activeOpen: Bool
    /// Segments leave with CHECKSUM_PARTIAL (see `nextSegment`): the socket
    /// layer sets it, as Linux's TCP always leaves the checksum partial
    /// and the device path completes it where the device cannot.
    @exclusivity(unchecked) public var checksumOffload = false
    /// The connection answered as a TIME-WAIT sock when it last sent or
    /// took a segment (TIME-WAIT, or an orphan's FIN-WAIT-2, which Linux
    /// turns into a tw sock): what it sends now leaves from the kernel's
    /// control socket (tcp_v4_timewait_ack), DF and id 0. Kept by the
    /// socket layer (TCPSockets.swift).
    @exclusivity(unchecked) var repliesAsTimeWait = false

    deinit {
        sendRing.release(account: memory)
        recvRing.release(account: memory)
    }

    // MARK: opening

    /// What both opens share: the connection with its own SYN (or SYN-ACK)
    /// outstanding and due, in `state`.
    private init(opening state: TCPState, local: TCPEndpoint, remote: TCPEndpoint, iss: TCPSeqNumber,
                 timestampOffset: UInt32, configuration: TCPConfiguration, advertisedMSS: UInt16? = nil,
                 now: Instant) {
        self.local = local
        self.advertisedMSS = advertisedMSS ?? configuration.advertisedMSS
        self.remote = remote
        self.configuration = configuration
        self.state = state
        self.iss = iss
        self.sndUna = iss
        self.sndNxt = iss + 1
        self.sndSml = iss
        self.sendRingSeq = iss + 1
        self.tsOffset = timestampOffset
        self.rto = configuration.initialRTO
        self.window = TCPCongestionWindow(cwnd: configuration.initialCongestionWindow)
        self.cc = TCPCongestionControl(configuration.congestionControl)
        self.activeOpen = state == .synSent
        rcvBuf = min(configuration.receiveBufferInitial, configuration.receiveBufferMax)
        windowClamp = rcvBuf
        sndBufGrown = configuration.sendBufferInitial
        sent.append(TCPSentSegment(start: iss, end: iss + 1, sentAt: now, flags: [.syn, .appLimited],
                                   deliveredStampAtSend: now))
        deliveredStamp = now
        packetsOut = 1
        synDue = true
        lastReceived = now
    }

    /// An active open (connect(2)): the connection starts in SYN-SENT with
    /// its SYN due. `iss` and `timestampOffset` come from `TCPSecrets`.
    public convenience init(connectFrom local: TCPEndpoint, to remote: TCPEndpoint, iss: TCPSeqNumber,
                            timestampOffset: UInt32 = 0, configuration: TCPConfiguration = TCPConfiguration(),
                            advertisedMSS: UInt16? = nil, now: Instant) {
        precondition(local.address.isIPv6 == remote.address.isIPv6, "TCPConnection: mixed address families")
        self.init(opening: .synSent, local: local, remote: remote, iss: iss, timestampOffset: timestampOffset,
                  configuration: configuration, advertisedMSS: advertisedMSS, now: now)
        // tcp_ecn_send_syn(): tcp_ecn = 1 asks for ECN.
        if configuration.ecn == 1 { ecnFlags = .ok }
        rcvWscale = configuration.receiveWindowScale
        rcvWnd = initialReceiveWindow(mss: Int(self.advertisedMSS))
        rcvSsthresh = rcvWnd
    }

    /// An active open with the ISN and timestamp offset drawn from `secrets`
    /// (RFC 6528; secure_tcp_seq / secure_tcp_ts_off).
    public convenience init(connectFrom local: TCPEndpoint, to remote: TCPEndpoint, secrets: TCPSecrets,
                            configuration: TCPConfiguration = TCPConfiguration(), advertisedMSS: UInt16? = nil,
                            now: Instant) {
        let iss = secrets.initialSequenceNumber(local: local, remote: remote, now: now)
        let offset = configuration.timestamps ? secrets.timestampOffset(local: local.address, remote: remote.address) : 0
        self.init(connectFrom: local, to: remote, iss: iss, timestampOffset: offset, configuration: configuration,
                  advertisedMSS: advertisedMSS, now: now)
    }

    /// TCP_QUICKACK: ACK every segment at once for a while (tcp_enter_quickack_mode).
    public func enterQuickAckMode() {
        enterQuickAck()
        if delackDeadline != .distantFuture { ackNow = true }
    }

    /// A passive open: the connection a listener creates for an acceptable
    /// SYN (`TCPListener.receive`), in SYN-RECEIVED with its SYN-ACK due.
    convenience init(acceptFrom syn: TCPSegment, options: TCPOptions, local: TCPEndpoint, remote: TCPEndpoint,
                     iss: TCPSeqNumber, timestampOffset: UInt32, configuration: TCPConfiguration, now: Instant) {
        self.init(acceptSynSequence: syn.sequenceNumber, window: syn.windowSize, options: options, local: local,
                  remote: remote, iss: iss, timestampOffset: timestampOffset, configuration: configuration, now: now)
    }

    /// The passive open from the SYN's values (also rebuilt from a SYN cookie).
    convenience init(acceptSynSequence synSeq: TCPSeqNumber, window synWindow: UInt16, options: TCPOptions,
                     local: TCPEndpoint, remote: TCPEndpoint, iss: TCPSeqNumber, timestampOffset: UInt32,
                     configuration: TCPConfiguration, now: Instant) {
        self.init(opening: .synReceived, local: local, remote: remote, iss: iss, timestampOffset: timestampOffset,
                  configuration: configuration, now: now)
        acceptSyn(sequence: synSeq, window: synWindow, options: options, now: now)
    }

    /// Records the peer's SYN: its ISN, window and options (the SYN's half
    /// of option negotiation; tcp_openreq_init / tcp_rcv_synsent_state_process).
    func acceptSyn(_ syn: TCPSegment, options: TCPOptions, now: Instant) {
        acceptSyn(sequence: syn.sequenceNumber, window: syn.windowSize, options: options, now: now)
    }

    func acceptSyn(sequence: TCPSeqNumber, window synWindow: UInt16, options: TCPOptions, now: Instant) {
        irs = sequence
        rcvNxt = irs + 1
        rcvWup = rcvNxt
        sndWnd = Int(synWindow)                // never scaled in a SYN
        sndWl1 = sequence
        maxWindow = sndWnd
        let c = configuration
        if c.windowScaling, let ws = options.windowScale {
            sndWscale = min(ws, 14)
            rcvWscale = c.receiveWindowScale
            windowScalingEnabled = true
        } else {
            windowScalingEnabled = false
            sndWscale = 0
            rcvWscale = 0
        }
        sackPermitted = c.sack && options.sackPermitted
        if c.timestamps, let ts = options.timestamps {
            timestampsEnabled = true
            tsRecent = ts.value
            tsRecentStamp = now
        } else {
            timestampsEnabled = false
        }
        var peerMSS = Int(options.maximumSegmentSize ?? 0)
        if peerMSS == 0 { peerMSS = local.address.isIPv6 ? 1220 : 536 }   // RFC 9293 §3.7.1 defaults
        let ourMSS = Int(advertisedMSS)
        mss = max(min(peerMSS, ourMSS) &- (timestampsEnabled ? 12 : 0), 48)
        rcvMss = min(ourMSS, 536)
        if state == .synReceived || !activeOpen {
            rcvWnd = initialReceiveWindow(mss: ourMSS &- (timestampsEnabled ? 12 : 0))
            rcvSsthresh = rcvWnd
        }
    }

    /// tcp_select_initial_window(): about half of tcp_rmem[1] (Linux's
    /// default scaling ratio), in whole segments: 64240 for MSS 1460, 65160
    /// for 1448.
    func initialReceiveWindow(mss: Int) -> Int {
        let space = min(configuration.receiveBufferInitial / 2, 65_535, configuration.receiveBufferMax)
        let m = max(mss, 1)
        return max(space / m * m, m)
    }

    // MARK: application calls

    /// Bytes the application may still queue (sk_stream_wspace). Above
    /// tcp_mem[2] only the capacity the send ring already holds (or the
    /// tcp_wmem[0] step an empty one is always granted) counts.
    public var sendSpace: Int {
        let space = max(sendLimit &- sendRing.count, 0)
        guard let m = memory, m.overLimit else { return space }
        let held = sendRing.isAllocated ? sendRing.capacity : TCPByteRing.minimumCapacity
        return min(space, max(held &- sendRing.count, 0))
    }

    /// Unacknowledged plus unsent bytes held (SIOCOUTQ).
    public var sendQueueBytes: Int { sendRing.count }
    /// Bytes ready to read (SIOCINQ).
    public var readableBytes: Int { recvRing.count }

    /// The send buffer grows with the congestion window, as
    /// tcp_sndbuf_expand() does (about twice the window, in payload terms),
    /// up to tcp_wmem[2]; not while TCP is under memory pressure
    /// (tcp_should_expand_sndbuf), and not at all once SO_SNDBUF set it.
    var sendLimit: Int {
        if sndBufLocked > 0 { return sndBufLocked }
        let c = configuration
        let wanted = min(max(c.sendBufferInitial, 3 &* window.cwnd &* mss), c.sendBufferMax)
        if wanted > sndBufGrown {
            if memory?.underPressure == true { return sndBufGrown }
            sndBufGrown = wanted
        }
        return wanted
    }

    /// send(2): queues what fits of `bytes`; returns how many were taken
    /// (0 when the buffer is full: EAGAIN for a non-blocking socket).
    public func send(_ bytes: UnsafeRawBufferPointer, now: Instant) throws(Errno) -> Int {
        if let error { throw error }
        switch state {
        case .established, .closeWait, .synSent, .synReceived:
            if finQueued { throw .EPIPE }
        default:
            throw .EPIPE
        }
        // Under memory pressure the ring gives back what it does not need.
        if sendRing.isAllocated, memory?.underPressure == true { sendRing.shrink(keep: sendRing.count, account: memory) }
        var n = min(bytes.count, sendSpace)
        // The send buffer fills: the sender is limited by it (tcp_sendmsg's
        // wait_for_space), until ACKs make room.
        if n < bytes.count { chronoStart(.sndbufLimited, now: now) }
        guard n > 0 else { return 0 }
        rateCheckAppLimited()
        chronoStart(.busy, now: now)
        if !sendRing.reserve(sendRing.count &+ n, keep: sendRing.count, account: memory) {
            // Above tcp_mem[2]: the buffer shrinks to half of what is
            // queued (sk_stream_moderate_sndbuf), so that memory flows back
            // as ACKs drain it; what the ring holds may still be used, and
            // with nothing queued one forced step keeps the socket going
            // (tcp_wmem_schedule's tcp_wmem[0] guarantee).
            sndBufGrown = max(min(sndBufGrown, sendRing.count >> 1), Self.minimumSocketBuffer)
            n = min(n, max(sendRing.capacity &- sendRing.count, 0))
            if n == 0 && sendRing.count == 0 {
                n = min(bytes.count, TCPByteRing.minimumCapacity)
                _ = sendRing.reserve(n, keep: 0, force: true, account: memory)
            }
            if n == 0 { return 0 }
        }
        if packetsOut == 0 && sendRing.count == 0 && state == .established && now - lastSent > rto {
            // tcp_cwnd_restart() (tcp_slow_start_after_idle = 1): halve the
            // window per RTO of idleness, down to the initial window.
            let idle = now - lastSent
            cc.onRestartAfterIdle(idle: idle)
            let restart = min(window.cwnd, configuration.initialCongestionWindow)
            var delta = idle - rto
            while delta > .zero && window.cwnd > restart {
                window.cwnd >>= 1
                delta = delta - rto
            }
            window.cwnd = max(window.cwnd, restart)
        }
        sendRing.write(UnsafeRawBufferPointer(rebasing: bytes[0..<n]), at: sendRing.count)
        sendRing.count &+= n
        return n
    }

    /// recv(2): copies in-order bytes out. Returns 0 at end of stream (the
    /// peer's FIN, all read); throws EAGAIN when nothing is there yet, and
    /// the connection's error after a reset. A read that opens the window
    /// enough schedules a window update (check `wantsOutput`). `now` times
    /// receive-buffer autotuning (tcp_rcv_space_adjust).
    public func read(into buffer: UnsafeMutableRawBufferPointer, now: Instant) throws(Errno) -> Int {
        let n = min(buffer.count, recvRing.count)
        if n == 0 {
            if peerFinReceived { return 0 }
            if let error { throw error }
            if state == .closed { return 0 }
            throw .EAGAIN
        }
        let before = advertisableWindow()
        recvRing.copy(into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<n]), from: 0)
        recvRing.consume(n)
        if recvRing.count == 0 && !hasOutOfOrder {
            recvRing.release(account: memory)
        } else if memory?.underPressure == true {
            // Under memory pressure a drained ring gives back what it no
            // longer needs (sk_mem_reclaim after the copy).
            _ = recvRing.shrink(keep: receiveExtent, account: memory)
        }
        rcvSpaceAdjust(now: now)
        // tcp_cleanup_rbuf(): the once-per-two-segments ACK the receive
        // path held back (the window it could offer then was below the one
        // announced, as it always is once that window is the whole buffer)
        // goes now; otherwise announce a window that at least doubled.
        if delackDeadline != .distantFuture, (rcvNxt - rcvWup) > rcvMss {
            ackNow = true
        } else if state.isSynchronized, !peerFinReceived {
            let remaining = max((rcvWup + rcvWnd) - rcvNxt, 0)
            let after = advertisableWindow()
            if after > before, after >= 2 &* remaining, after >= rcvMss { ackNow = true }
        }
        return n
    }

    /// shutdown(SHUT_WR): a FIN follows the queued data.
    public func shutdownWrite() {
        switch state {
        case .established:
            finQueued = true
            state = .finWait1
        case .closeWait:
            finQueued = true
            state = .lastAck
        case .synSent, .synReceived:
            finQueued = true
        default:
            break
        }
    }

    /// close(2): FIN after the queued data, or RST when unread data would be
    /// lost (tcp_close's data_was_unread, RFC 2525 §2.17).
    @discardableResult
    public func close(now: Instant) -> TCPEvents {
        isOrphaned = true
        switch state {
        case .closed, .timeWait:
            return []
        case .synSent:
            return enterClosed(now: now)
        case .synReceived, .established, .closeWait:
            if recvRing.count > 0 || hasOutOfOrder {
                pendingCounters.bump(.abortOnClose)
                pendingReset = TCPResetSegment(sequence: sndNxt, acknowledgment: rcvNxt)
                return enterClosed(now: now).union(.output)
            }
            shutdownWrite()
            if state == .synReceived { state = .finWait1 }
            return .output
        case .finWait2:
            armLinger(configuration.finTimeout, now: now)
            return []
        default:
            return []
        }
    }

    /// SO_LINGER with zero timeout / tcp_disconnect(): RST if synchronized.
    @discardableResult
    public func abort(now: Instant) -> TCPEvents {
        switch state {
        case .synReceived, .established, .finWait1, .finWait2, .closeWait:
            pendingCounters.bump(.abortOnLinger)
            pendingReset = TCPResetSegment(sequence: sndNxt, acknowledgment: rcvNxt)
            return enterClosed(now: now).union(.output)
        case .closed:
            return []
        default:
            return enterClosed(now: now)
        }
    }

    /// Moves to CLOSED and frees what the TCB holds.
    func enterClosed(now: Instant) -> TCPEvents {
        switch state {
        case .established, .closeWait: pendingCounters.bump(.estabResets)
        case .synSent, .synReceived: pendingCounters.bump(.attemptFails)
        default: break
        }
        state = .closed
        chronoSet(.none, now: now)
        sendRing.release(account: memory)
        if isOrphaned || error != nil { recvRing.release(account: memory); outOfOrder = [] }
        sent.removeAll()
        packetsOut = 0; sackedOut = 0; lostOut = 0; retransOut = 0
        retransmitDeadline = .distantFuture
        retransmitKind = .none
        delackDeadline = .distantFuture
        keepaliveDeadline = .distantFuture
        lingerDeadline = .distantFuture
        ackNow = false
        synDue = false
        return .closed
    }

    /// tcp_reset(): the peer reset the connection.
    func resetByPeer(now: Instant) -> TCPEvents {
        switch state {
        case .synSent: error = .ECONNREFUSED
        case .closeWait: error = .EPIPE
        case .closed, .timeWait: break
        default: error = .ECONNRESET
        }
        return enterClosed(now: now).union(.failed)
    }

    // MARK: helpers

    @inline(__always) var packetsInFlight: Int { packetsOut &- sackedOut &- lostOut &+ retransOut }

    func tsValue(_ now: Instant) -> UInt32 {
        UInt32(truncatingIfNeeded: now.nanoseconds / 1_000_000) &+ tsOffset
    }

    var pseudoHeader: PseudoHeader {
        switch (local.address, remote.address) {
        case let (.v4(s), .v4(d)): .ipv4(source: s, destination: d)
        case let (.v6(s), .v6(d)): .ipv6(source: s, destination: d)
        default: preconditionFailure("TCPConnection: mixed address families")
        }
    }

    /// Free receive space past rcv_nxt the window could announce
    /// (tcp_space() bounded by rcv_ssthresh and window_clamp).
    func advertisableWindow() -> Int {
        min(max(rcvBuf &- recvRing.count, 0), rcvSsthresh, windowClamp)
    }

    /// tcp_send_challenge_ack() / tcp_send_dupack() behind
    /// tcp_oow_rate_limited(): at most one per tcp_invalid_ratelimit.
    func rateLimitedAck(now: Instant, challenge: Bool = true) {
        if let last = lastOutOfWindowAck, now - last < configuration.invalidRateLimit, now >= last {
            pendingCounters.bump(challenge ? .ackSkippedChallenge : .ackSkippedSeq)
            return
        }
        lastOutOfWindowAck = now
        if challenge { pendingCounters.bump(.challengeAck) }
        ackNow = true
    }

    /// Enters TIME-WAIT (tcp_time_wait): buffers go, the 2MSL timer starts.
    func enterTimeWait(now: Instant) -> TCPEvents {
        state = .timeWait
        timeWaitEnteredAt = now
        chronoSet(.none, now: now)
        sendRing.release(account: memory)
        sent.removeAll()
        packetsOut = 0; sackedOut = 0; lostOut = 0; retransOut = 0
        retransmitDeadline = .distantFuture
        retransmitKind = .none
        keepaliveDeadline = .distantFuture
        armLinger(configuration.timeWaitLength, now: now)
        return .timeWait
    }

    func armLinger(_ d: TimeDelta, now: Instant) { lingerDeadline = now + d }
}

/// A reset the connection owes (sent by `nextSegment`): RST|ACK for an
/// abort, or a bare RST answering an unacceptable ACK.
struct TCPResetSegment {
    var sequence: TCPSeqNumber
    var acknowledgment: TCPSeqNumber?
}

/// A connection's out-of-order state while it has any (tp->out_of_order_queue
/// as ranges, tp->selective_acks): allocated by the first segment that
/// arrives beyond a hole, freed when the holes are filled and the SACK
/// blocks pruned — one allocation per reordering episode, none in order.
final class TCPReassembly {
    @exclusivity(unchecked) var outOfOrder: [TCPSackBlock]
    @exclusivity(unchecked) var recentSacks: TCPSackBlocks

    init(outOfOrder: [TCPSackBlock] = [], recentSacks: TCPSackBlocks = TCPSackBlocks()) {
        self.outOfOrder = outOfOrder
        self.recentSacks = recentSacks
    }
}

/// A connection's congestion-episode state (tcp_sock's undo_marker,
/// undo_retrans, prior_ssthresh, prior_cwnd, prr_delivered, prr_out,
/// frto): allocated by the first write of a value other than the initial
/// one (a CWR, a recovery, a timeout), once per connection.
final class TCPEpisodeState {
    @exclusivity(unchecked) var undoMarker: TCPSeqNumber?
    @exclusivity(unchecked) var undoRetrans: Int32 = 0
    @exclusivity(unchecked) var priorSsthresh: Int32 = 0
    @exclusivity(unchecked) var priorCwnd: Int32 = 0
    @exclusivity(unchecked) var prrDelivered: Int32 = 0
    @exclusivity(unchecked) var prrOut: Int32 = 0
    @exclusivity(unchecked) var frto = false
    @exclusivity(unchecked) var frtoSendNew = false
}

extension TCPConnection {
    @inline(never)
    func makeEpisode() -> TCPEpisodeState {
        let e = TCPEpisodeState()
        episode = e
        return e
    }
}
