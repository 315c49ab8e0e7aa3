// TCP MIB counters a connection bumps (Tcp* and TcpExt* of
// /proc/net/snmp and /proc/net/netstat, as `nstat` names them), held in
// the TCB until the shard collects them with `flushCounters(into:)`.
// Kernel counterparts: TCP_INC_STATS / NET_INC_STATS call sites in
// net/ipv4/tcp_input.c, tcp_output.c, tcp_timer.c.
//
// The connection counts what passes through it: InSegs for every segment
// given to `receive`, OutSegs for every segment `nextSegment` writes,
// RetransSegs, OutRsts. The demux counts segments that reach no
// connection (and the RSTs `TCPReset` writes for them).

/// The counters a connection keeps.
public enum TCPCounter: Int, CaseIterable, Sendable {
    case inSegs, outSegs, retransSegs, outRsts, estabResets, attemptFails
    case timeouts, lossProbes, fastRetrans, slowStartRetrans, sackRecovery
    case challengeAck, synChallenge, ackSkippedChallenge, ackSkippedSeq, pawsEstab
    case delayedAcks, dsackOldSent, dsackOfoSent, dsackRecv, ofoQueue
    case winProbe, keepAlive, synRetrans
    case abortOnData, abortOnClose, abortOnTimeout, abortOnLinger
    case fullUndo, lossUndo, dsackUndo, lossProbeRecovery
    // Receive memory (tcp_prune_queue, tcp_prune_ofo_queue, tcp_collapse,
    // tcp_try_rmem_schedule failures) and the sender's SACK reneging.
    case pruneCalled, rcvPruned, ofoPruned, rcvCollapsed, rcvQDrop, ofoDrop, sackReneging

    /// The shard MIB this counter feeds.
    public var mib: MIBCounter {
        switch self {
        case .inSegs: .tcpInSegs
        case .outSegs: .tcpOutSegs
        case .retransSegs: .tcpRetransSegs
        case .outRsts: .tcpOutRsts
        case .estabResets: .tcpEstabResets
        case .attemptFails: .tcpAttemptFails
        case .timeouts: .tcpExtTCPTimeouts
        case .lossProbes: .tcpExtTCPLossProbes
        case .fastRetrans: .tcpExtTCPFastRetrans
        case .slowStartRetrans: .tcpExtTCPSlowStartRetrans
        case .sackRecovery: .tcpExtTCPSackRecovery
        case .challengeAck: .tcpExtTCPChallengeACK
        case .synChallenge: .tcpExtTCPSYNChallenge
        case .ackSkippedChallenge: .tcpExtTCPACKSkippedChallenge
        case .ackSkippedSeq: .tcpExtTCPACKSkippedSeq
        case .pawsEstab: .tcpExtPAWSEstab
        case .delayedAcks: .tcpExtDelayedACKs
        case .dsackOldSent: .tcpExtTCPDSACKOldSent
        case .dsackOfoSent: .tcpExtTCPDSACKOfoSent
        case .dsackRecv: .tcpExtTCPDSACKRecv
        case .ofoQueue: .tcpExtTCPOFOQueue
        case .winProbe: .tcpExtTCPWinProbe
        case .keepAlive: .tcpExtTCPKeepAlive
        case .synRetrans: .tcpExtTCPSynRetrans
        case .abortOnData: .tcpExtTCPAbortOnData
        case .abortOnClose: .tcpExtTCPAbortOnClose
        case .abortOnTimeout: .tcpExtTCPAbortOnTimeout
        case .abortOnLinger: .tcpExtTCPAbortOnLinger
        case .fullUndo: .tcpExtTCPFullUndo
        case .lossUndo: .tcpExtTCPLossUndo
        case .dsackUndo: .tcpExtTCPDSACKUndo
        case .lossProbeRecovery: .tcpExtTCPLossProbeRecovery
        case .pruneCalled: .tcpExtPruneCalled
        case .rcvPruned: .tcpExtRcvPruned
        case .ofoPruned: .tcpExtOfoPruned
        case .rcvCollapsed: .tcpExtTCPRcvCollapsed
        case .rcvQDrop: .tcpExtTCPRcvQDrop
        case .ofoDrop: .tcpExtTCPOFODrop
        case .sackReneging: .tcpExtTCPSACKReneging
        }
    }
}

/// Pending counts, inline (no allocation): 40 × 2 bytes. The socket layer
/// flushes them after every event it hands the connection (a segment, a
/// timer, a call), and no event bumps one counter anywhere near 65,535
/// times (the most is OutSegs of one transmit round, bounded by the
/// congestion window and the device backlog), so 16 bits suffice and
/// keep 80 bytes out of every idle TCB. A connection driven without the
/// socket layer (the protocol tests) wraps them after 65,535 counts.
public struct TCPCounterSet: Sendable {
    @usableFromInline var slots = InlineArray<40, UInt16>(repeating: 0)
    /// Bit i: slot i was bumped since the last flush (a flush per event
    /// then visits only those, not all 40).
    @usableFromInline var touched: UInt64 = 0

    public init() {}

    @inlinable @inline(__always)
    mutating func bump(_ c: TCPCounter, _ n: UInt16 = 1) {
        slots[c.rawValue] &+= n
        touched |= 1 &<< UInt64(c.rawValue)
    }

    public subscript(c: TCPCounter) -> UInt32 { UInt32(slots[c.rawValue]) }
}

/// Pending counts in a box: one per stack, shared by its connections (a
/// stack runs on one shard, one event at a time, and every event's counts
/// are flushed before the next), so that no TCB carries the 88 bytes.
final class TCPPendingCounters {
    @exclusivity(unchecked) var counts = TCPCounterSet()
}

extension TCPConnection {
    /// The box counts go to: the stack's once `shareCounters` gave it,
    /// else the connection's own, allocated now.
    @inline(__always)
    func ownCounterBox() -> TCPPendingCounters {
        if let b = counterBox { return b }
        return makeCounterBox()
    }

    @inline(never) @discardableResult
    func makeCounterBox() -> TCPPendingCounters {
        let b = TCPPendingCounters()
        counterBox = b
        return b
    }

    /// Counts into the stack's shared box from now on (the socket layer
    /// calls it when it hashes the connection); counts gathered in an own
    /// box before then move over.
    func shareCounters(_ shared: TCPPendingCounters) {
        guard let own = counterBox else { counterBox = shared; return }
        guard own !== shared else { return }
        var bits = own.counts.touched
        while bits != 0 {
            let i = bits.trailingZeroBitCount
            bits &= bits &- 1
            if let c = TCPCounter(rawValue: i) { shared.counts.bump(c, own.counts.slots[i]) }
        }
        counterBox = shared
    }

    /// Adds the counts gathered since the last flush to the shard's MIBs
    /// and zeroes them.
    public func flushCounters(into counters: borrowing Counters) {
        guard let box = counterBox else { return }
        var bits = box.counts.touched
        guard bits != 0 else { return }
        while bits != 0 {
            let i = bits.trailingZeroBitCount
            bits &= bits &- 1
            let n = box.counts.slots[i]
            if n != 0, let c = TCPCounter(rawValue: i) { counters.add(c.mib, UInt64(n)) }
        }
        box.counts = TCPCounterSet()
    }
}
