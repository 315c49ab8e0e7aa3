// TCP: the values the protocol core shares — states, endpoints, the sysctls
// a connection reads, the events it reports, and the RFC 6528 ISN generator.
// Kernel counterparts: include/net/tcp_states.h (TCP_ESTABLISHED…), struct
// netns_ipv4's sysctl_tcp_* fields, include/net/tcp.h constants (TCP_RTO_MIN,
// TCP_TIMEWAIT_LEN, TCP_DELACK_MIN…), net/core/secure_seq.c.
//
// The core is sans-IO (DESIGN.md §4): a `TCPConnection` is fed segments and
// timer expiries with `now`, and hands back segments through
// `nextSegment(into:now:)`. Namespaces, demux and sockets sit above it.
import NetWire

/// RFC 9293 §3.3.2 connection states (Linux's TCP_* states, LISTEN apart:
/// see `TCPListener`).
public enum TCPState: UInt8, Sendable, CustomStringConvertible {
    case closed, synSent, synReceived, established, finWait1, finWait2, closing, timeWait, closeWait, lastAck

    /// The names `ss` prints.
    public var description: String {
        switch self {
        case .closed: "CLOSE"
        case .synSent: "SYN-SENT"
        case .synReceived: "SYN-RECV"
        case .established: "ESTAB"
        case .finWait1: "FIN-WAIT-1"
        case .finWait2: "FIN-WAIT-2"
        case .closing: "CLOSING"
        case .timeWait: "TIME-WAIT"
        case .closeWait: "CLOSE-WAIT"
        case .lastAck: "LAST-ACK"
        }
    }

    /// Synchronized states (RFC 9293 §3.5.3): every state past the handshake.
    @inlinable public var isSynchronized: Bool {
        switch self {
        case .closed, .synSent, .synReceived: false
        default: true
        }
    }
}

/// One end of a connection.
public struct TCPEndpoint: Hashable, Sendable, CustomStringConvertible {
    public var address: IPAddress
    public var port: UInt16
    public init(_ address: IPAddress, _ port: UInt16) {
        self.address = address
        self.port = port
    }
    public var description: String {
        switch address {
        case .v4: "\(address):\(port)"
        case .v6: "[\(address)]:\(port)"
        }
    }
}

/// The congestion control algorithm of one socket (TCP_CONGESTION).
public enum TCPCongestionAlgorithm: Sendable, Equatable {
    case reno, cubic
}

/// The sysctls (and socket options) a connection reads. Defaults are
/// Linux 6.x's (`sysctl net.ipv4.tcp_*`, include/net/tcp.h).
public struct TCPConfiguration: Sendable, Equatable {
    /// The values live in one shared immutable block: the namespace's
    /// defaults, every socket made from them and every connection of those
    /// sockets hold the same 8-byte reference, not ~200 bytes each (an
    /// idle endpoint would carry its configuration twice, in the socket
    /// and in the TCB). A setter that changes a value makes a new block
    /// (setsockopt and sysctl writes are rare); one that stores the value
    /// already there makes none. The block is immutable so that a read is
    /// two loads, with no exclusivity check and no uniqueness test.
    private var storage: Storage

    final class Storage: Sendable {
        let values: Values
        init(_ values: Values) { self.values = values }
        /// The defaults every `TCPConfiguration()` shares.
        static let defaults = Storage(Values())
    }

    /// The stored values (defaults: Linux 6.x's).
    struct Values: Equatable, Sendable {
        var sack: Bool = true
        var timestamps: Bool = true
        var windowScaling: Bool = true
        var dsack: Bool = true
        var advertisedMSS: UInt16 = 1460
        var receiveBufferInitial: Int = 131_072
        var receiveBufferMax: Int = 33_554_432
        var sendBufferInitial: Int = 16_384
        var sendBufferMax: Int = 4_194_304
        var initialCongestionWindow: Int = 10
        var congestionControl: TCPCongestionAlgorithm = .cubic
        var minimumRTO: TimeDelta = .milliseconds(200)
        var initialRTO: TimeDelta = .seconds(1)
        var maximumRTO: TimeDelta = .seconds(120)
        var synRetries: Int = 6
        var synAckRetries: Int = 5
        var retries2: Int = 15
        var finTimeout: TimeDelta = .seconds(60)
        var timeWaitLength: TimeDelta = .seconds(60)
        var keepalive: Bool = false
        var keepaliveTime: TimeDelta = .seconds(7200)
        var keepaliveInterval: TimeDelta = .seconds(75)
        var keepaliveProbes: Int = 9
        var noDelay: Bool = false
        var cork: Bool = false
        var delayedAckMinimum: TimeDelta = .milliseconds(40)
        var delayedAckMaximum: TimeDelta = .milliseconds(200)
        var invalidRateLimit: TimeDelta = .milliseconds(500)
        var rack: Bool = true
        var tailLossProbe: Bool = true
        var frto: Bool = true
        var ecn: Int = 2
        var ecnFallback: Bool = true
    }

    /// tcp_sack, tcp_timestamps (1 = with random per-connection offset),
    /// tcp_window_scaling.
    public var sack: Bool {
        @inline(__always) get { storage.values.sack }
        set { update(\.sack, newValue) }
    }
    public var timestamps: Bool {
        @inline(__always) get { storage.values.timestamps }
        set { update(\.timestamps, newValue) }
    }
    public var windowScaling: Bool {
        @inline(__always) get { storage.values.windowScaling }
        set { update(\.windowScaling, newValue) }
    }
    /// tcp_dsack.
    public var dsack: Bool {
        @inline(__always) get { storage.values.dsack }
        set { update(\.dsack, newValue) }
    }
    /// The MSS we advertise: the route's MTU minus IP and TCP headers
    /// (tcp_mss_clamp / advmss); 1460 for a 1500-byte IPv4 path.
    public var advertisedMSS: UInt16 {
        @inline(__always) get { storage.values.advertisedMSS }
        set { update(\.advertisedMSS, newValue) }
    }
    /// tcp_rmem[1] (initial receive space) and tcp_rmem[2] (the most the
    /// receive buffer grows to). The window scale is chosen so that the
    /// maximum fits, as tcp_select_initial_window() does: 32 MiB (the
    /// default since Linux 6.x, and the oracle kernel's) → 10; the older
    /// 6 MiB → 7.
    public var receiveBufferInitial: Int {
        @inline(__always) get { storage.values.receiveBufferInitial }
        set { update(\.receiveBufferInitial, newValue) }
    }
    public var receiveBufferMax: Int {
        @inline(__always) get { storage.values.receiveBufferMax }
        set { update(\.receiveBufferMax, newValue) }
    }
    /// tcp_wmem[1], tcp_wmem[2].
    public var sendBufferInitial: Int {
        @inline(__always) get { storage.values.sendBufferInitial }
        set { update(\.sendBufferInitial, newValue) }
    }
    public var sendBufferMax: Int {
        @inline(__always) get { storage.values.sendBufferMax }
        set { update(\.sendBufferMax, newValue) }
    }
    /// TCP_INIT_CWND.
    public var initialCongestionWindow: Int {
        @inline(__always) get { storage.values.initialCongestionWindow }
        set { update(\.initialCongestionWindow, newValue) }
    }
    public var congestionControl: TCPCongestionAlgorithm {
        @inline(__always) get { storage.values.congestionControl }
        set { update(\.congestionControl, newValue) }
    }
    /// TCP_RTO_MIN, TCP_TIMEOUT_INIT, TCP_RTO_MAX.
    public var minimumRTO: TimeDelta {
        @inline(__always) get { storage.values.minimumRTO }
        set { update(\.minimumRTO, newValue) }
    }
    public var initialRTO: TimeDelta {
        @inline(__always) get { storage.values.initialRTO }
        set { update(\.initialRTO, newValue) }
    }
    public var maximumRTO: TimeDelta {
        @inline(__always) get { storage.values.maximumRTO }
        set { update(\.maximumRTO, newValue) }
    }
    /// tcp_syn_retries, tcp_synack_retries, tcp_retries2.
    public var synRetries: Int {
        @inline(__always) get { storage.values.synRetries }
        set { update(\.synRetries, newValue) }
    }
    public var synAckRetries: Int {
        @inline(__always) get { storage.values.synAckRetries }
        set { update(\.synAckRetries, newValue) }
    }
    public var retries2: Int {
        @inline(__always) get { storage.values.retries2 }
        set { update(\.retries2, newValue) }
    }
    /// tcp_fin_timeout (FIN-WAIT-2 of an orphaned socket) and TCP_TIMEWAIT_LEN.
    public var finTimeout: TimeDelta {
        @inline(__always) get { storage.values.finTimeout }
        set { update(\.finTimeout, newValue) }
    }
    public var timeWaitLength: TimeDelta {
        @inline(__always) get { storage.values.timeWaitLength }
        set { update(\.timeWaitLength, newValue) }
    }
    /// SO_KEEPALIVE and tcp_keepalive_time/intvl/probes.
    public var keepalive: Bool {
        @inline(__always) get { storage.values.keepalive }
        set { update(\.keepalive, newValue) }
    }
    public var keepaliveTime: TimeDelta {
        @inline(__always) get { storage.values.keepaliveTime }
        set { update(\.keepaliveTime, newValue) }
    }
    public var keepaliveInterval: TimeDelta {
        @inline(__always) get { storage.values.keepaliveInterval }
        set { update(\.keepaliveInterval, newValue) }
    }
    public var keepaliveProbes: Int {
        @inline(__always) get { storage.values.keepaliveProbes }
        set { update(\.keepaliveProbes, newValue) }
    }
    /// TCP_NODELAY, TCP_CORK.
    public var noDelay: Bool {
        @inline(__always) get { storage.values.noDelay }
        set { update(\.noDelay, newValue) }
    }
    public var cork: Bool {
        @inline(__always) get { storage.values.cork }
        set { update(\.cork, newValue) }
    }
    /// TCP_DELACK_MIN, TCP_DELACK_MAX (TCP_ATO_MIN is the minimum too).
    public var delayedAckMinimum: TimeDelta {
        @inline(__always) get { storage.values.delayedAckMinimum }
        set { update(\.delayedAckMinimum, newValue) }
    }
    public var delayedAckMaximum: TimeDelta {
        @inline(__always) get { storage.values.delayedAckMaximum }
        set { update(\.delayedAckMaximum, newValue) }
    }
    /// tcp_invalid_ratelimit: the least time between two challenge ACKs or
    /// out-of-window duplicate ACKs of one connection (RFC 5961 §7).
    public var invalidRateLimit: TimeDelta {
        @inline(__always) get { storage.values.invalidRateLimit }
        set { update(\.invalidRateLimit, newValue) }
    }
    /// tcp_recovery & 1: RACK loss detection (RFC 8985); tcp_early_retrans
    /// ≥ 3: tail loss probes.
    public var rack: Bool {
        @inline(__always) get { storage.values.rack }
        set { update(\.rack, newValue) }
    }
    public var tailLossProbe: Bool {
        @inline(__always) get { storage.values.tailLossProbe }
        set { update(\.tailLossProbe, newValue) }
    }
    /// tcp_frto = 2: F-RTO, SACK-enhanced (RFC 5682 §3): after a timeout,
    /// send new data first; if never-retransmitted data is then ACKed, the
    /// timeout was spurious and is undone.
    public var frto: Bool {
        @inline(__always) get { storage.values.frto }
        set { update(\.frto, newValue) }
    }
    /// tcp_ecn (RFC 3168): 0 off; 1 request ECN on outgoing connections
    /// and accept it on incoming ones; 2 (Linux's default) accept only.
    /// tcp_ecn_fallback: a retransmitted SYN no longer asks for ECN.
    public var ecn: Int {
        @inline(__always) get { storage.values.ecn }
        set { update(\.ecn, newValue) }
    }
    public var ecnFallback: Bool {
        @inline(__always) get { storage.values.ecnFallback }
        set { update(\.ecnFallback, newValue) }
    }

    public init() { storage = .defaults }

    public static func == (a: TCPConfiguration, b: TCPConfiguration) -> Bool {
        a.storage === b.storage || a.storage.values == b.storage.values
    }

    /// Whether both share one block (no copy happened since one was made
    /// from the other).
    func sharesStorage(with other: TCPConfiguration) -> Bool { storage === other.storage }

    private mutating func update<T: Equatable>(_ field: WritableKeyPath<Values, T>, _ value: T) {
        guard storage.values[keyPath: field] != value else { return }
        var values = storage.values
        values[keyPath: field] = value
        storage = Storage(values)
    }

    /// The receive window scale tcp_select_initial_window() picks: the
    /// least shift for which 65535 << shift covers the largest buffer.
    public var receiveWindowScale: UInt8 {
        guard windowScaling else { return 0 }
        var shift: UInt8 = 0
        while shift < 14 && (65_535 << Int(shift)) < receiveBufferMax { shift &+= 1 }
        return shift
    }
}

/// A connection's ECN state (tp->ecn_flags, include/net/tcp.h).
public struct TCPECNFlags: OptionSet, Sendable, Hashable {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    /// TCP_ECN_OK: both ends agreed on ECN in the handshake (for an
    /// active open: asked for, until the SYN-ACK says otherwise).
    public static let ok = TCPECNFlags(rawValue: 1)
    /// TCP_ECN_QUEUE_CWR: the window was reduced; the next new data
    /// segment carries CWR.
    public static let queueCWR = TCPECNFlags(rawValue: 2)
    /// TCP_ECN_DEMAND_CWR: a CE mark arrived; ACKs carry ECE until the
    /// peer's CWR.
    public static let demandCWR = TCPECNFlags(rawValue: 4)
    /// TCP_ECN_SEEN: a segment arrived with ECT or CE.
    public static let seen = TCPECNFlags(rawValue: 8)
}

/// The IP header's ECN codepoints (RFC 3168 §5; INET_ECN_*).
public enum IPECN {
    public static let notECT: UInt8 = 0
    public static let ect1: UInt8 = 1
    public static let ect0: UInt8 = 2
    public static let ce: UInt8 = 3
}

/// What a call into a connection changed, for the socket layer to act on
/// (wake readers/writers, report errors, free the TCB).
public struct TCPEvents: OptionSet, Sendable, Hashable {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    /// The handshake completed (connect() returns; accept() can take it).
    public static let connected = TCPEvents(rawValue: 1 << 0)
    /// New in-order bytes can be read.
    public static let readable = TCPEvents(rawValue: 1 << 1)
    /// Send-buffer space was freed.
    public static let writable = TCPEvents(rawValue: 1 << 2)
    /// The peer's FIN arrived: reads return end of file once drained.
    public static let peerClosed = TCPEvents(rawValue: 1 << 3)
    /// The connection failed; `error` says why (ECONNRESET, ECONNREFUSED, ETIMEDOUT).
    public static let failed = TCPEvents(rawValue: 1 << 4)
    /// The connection reached CLOSED: the TCB can be unhashed and freed.
    public static let closed = TCPEvents(rawValue: 1 << 5)
    /// The connection entered TIME-WAIT.
    public static let timeWait = TCPEvents(rawValue: 1 << 6)
    /// There are segments to send: call `nextSegment(into:now:)`.
    public static let output = TCPEvents(rawValue: 1 << 7)
}

/// The outcome of feeding one segment to a connection.
public struct TCPReceiveResult: Sendable, Equatable {
    public var events: TCPEvents
    /// Why the segment was discarded, if it was (Linux SKB_DROP_REASON_*);
    /// nil when it was consumed.
    public var dropReason: DropReason?
    public init(events: TCPEvents = [], dropReason: DropReason? = nil) {
        self.events = events
        self.dropReason = dropReason
    }
}

/// RFC 6528 initial sequence numbers and RFC 7323 §7.1 timestamp offsets:
/// a keyed hash of the 4-tuple plus a clock, so ISNs are unpredictable to
/// off-path attackers yet increase for a given 4-tuple.
/// Kernel counterpart: secure_tcp_seq() and secure_tcp_ts_off()
/// (net/core/secure_seq.c): SipHash-2-4 over the addresses and ports, plus
/// the time in 64 ns units (ktime_get_real_ns() >> 6).
public struct TCPSecrets: Sendable, Equatable {
    public var k0: UInt64
    public var k1: UInt64
    public var tsK0: UInt64
    public var tsK1: UInt64

    public init(k0: UInt64, k1: UInt64, tsK0: UInt64, tsK1: UInt64) {
        self.k0 = k0; self.k1 = k1; self.tsK0 = tsK0; self.tsK1 = tsK1
    }

    /// Secrets drawn from the shard's generator (a lab seeds it; the host
    /// seeds it from the OS).
    public init(random: inout Random) {
        self.init(k0: random.next(), k1: random.next(), tsK0: random.next(), tsK1: random.next())
    }

    /// The ISN for a connection from `local` to `remote` opened at `now`.
    public func initialSequenceNumber(local: TCPEndpoint, remote: TCPEndpoint, now: Instant) -> TCPSeqNumber {
        var h = SipHasher(k0: k0, k1: k1)
        h.add(local.address)
        h.add(remote.address)
        h.add(UInt64(local.port) << 16 | UInt64(remote.port))
        let hash = UInt32(truncatingIfNeeded: h.finish())
        let clock = UInt32(truncatingIfNeeded: UInt64(bitPattern: now.nanoseconds) >> 6)
        return TCPSeqNumber(rawValue: hash &+ clock)
    }

    /// The per-connection offset added to the millisecond timestamp clock.
    public func timestampOffset(local: IPAddress, remote: IPAddress) -> UInt32 {
        var h = SipHasher(k0: tsK0, k1: tsK1)
        h.add(local)
        h.add(remote)
        return UInt32(truncatingIfNeeded: h.finish())
    }
}

/// SipHash-2-4 (Aumasson & Bernstein) over whole 64-bit words, enough for
/// hashing addresses and ports. Not a general-purpose byte hasher.
@usableFromInline
struct SipHasher {
    var v0: UInt64, v1: UInt64, v2: UInt64, v3: UInt64
    var words: UInt64 = 0

    init(k0: UInt64, k1: UInt64) {
        v0 = k0 ^ 0x736f_6d65_7073_6575
        v1 = k1 ^ 0x646f_7261_6e64_6f6d
        v2 = k0 ^ 0x6c79_6765_6e65_7261
        v3 = k1 ^ 0x7465_6462_7974_6573
    }

    @inline(__always)
    mutating func round() {
        v0 &+= v1; v1 = (v1 << 13) | (v1 >> 51); v1 ^= v0; v0 = (v0 << 32) | (v0 >> 32)
        v2 &+= v3; v3 = (v3 << 16) | (v3 >> 48); v3 ^= v2
        v0 &+= v3; v3 = (v3 << 21) | (v3 >> 43); v3 ^= v0
        v2 &+= v1; v1 = (v1 << 17) | (v1 >> 47); v1 ^= v2; v2 = (v2 << 32) | (v2 >> 32)
    }

    mutating func add(_ m: UInt64) {
        v3 ^= m; round(); round(); v0 ^= m
        words &+= 1
    }

    mutating func add(_ address: IPAddress) {
        switch address {
        case .v4(let a): add(UInt64(a.rawValue))
        case .v6(let a): add(a.high); add(a.low)
        }
    }

    mutating func finish() -> UInt64 {
        let b = (words &* 8) << 56
        v3 ^= b; round(); round(); v0 ^= b
        v2 ^= 0xff
        round(); round(); round(); round()
        return v0 ^ v1 ^ v2 ^ v3
    }
}
