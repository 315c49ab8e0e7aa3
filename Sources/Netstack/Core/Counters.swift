// Per-shard counters with Linux's MIB names (DESIGN.md §6).
// Kernel counterpart: the SNMP MIBs of include/uapi/linux/snmp.h as
// /proc/net/snmp, /proc/net/snmp6 and /proc/net/netstat show them and as
// `nstat` names them (group + field: IpInReceives, TcpExtTCPTimeouts).
//
// Each shard owns one `Counters` and bumps it with plain adds — no atomics
// on the packet path; readers sum shards at the edge (`CounterSnapshot`).
// Drops are counted twice, as Linux does: under the MIB a layer bumps and
// under their drop reason.

/// A MIB counter. `group` and `field` are Linux's spelling.
public enum MIBCounter: Int, CaseIterable, Sendable {
    case ipInReceives
    case ipInHdrErrors
    case ipInAddrErrors
    case ipForwDatagrams
    case ipInUnknownProtos
    case ipInDiscards
    case ipInDelivers
    case ipOutRequests
    case ipOutDiscards
    case ipOutNoRoutes
    case ipReasmTimeout
    case ipReasmReqds
    case ipReasmOKs
    case ipReasmFails
    case ipFragOKs
    case ipFragFails
    case ipFragCreates
    case ipOutTransmits
    case icmpInMsgs
    case icmpInErrors
    case icmpInCsumErrors
    case icmpInDestUnreachs
    case icmpInTimeExcds
    case icmpInParmProbs
    case icmpInSrcQuenchs
    case icmpInRedirects
    case icmpInEchos
    case icmpInEchoReps
    case icmpInTimestamps
    case icmpInTimestampReps
    case icmpInAddrMasks
    case icmpInAddrMaskReps
    case icmpOutMsgs
    case icmpOutErrors
    case icmpOutRateLimitGlobal
    case icmpOutRateLimitHost
    case icmpOutDestUnreachs
    case icmpOutTimeExcds
    case icmpOutParmProbs
    case icmpOutSrcQuenchs
    case icmpOutRedirects
    case icmpOutEchos
    case icmpOutEchoReps
    case icmpOutTimestamps
    case icmpOutTimestampReps
    case icmpOutAddrMasks
    case icmpOutAddrMaskReps
    case tcpActiveOpens
    case tcpPassiveOpens
    case tcpAttemptFails
    case tcpEstabResets
    case tcpCurrEstab
    case tcpInSegs
    case tcpOutSegs
    case tcpRetransSegs
    case tcpInErrs
    case tcpOutRsts
    case tcpInCsumErrors
    case udpInDatagrams
    case udpNoPorts
    case udpInErrors
    case udpOutDatagrams
    case udpRcvbufErrors
    case udpSndbufErrors
    case udpInCsumErrors
    case udpIgnoredMulti
    case udpMemErrors
    case ip6InReceives
    case ip6InHdrErrors
    case ip6InTooBigErrors
    case ip6InNoRoutes
    case ip6InAddrErrors
    case ip6InUnknownProtos
    case ip6InTruncatedPkts
    case ip6InDiscards
    case ip6InDelivers
    case ip6OutForwDatagrams
    case ip6OutRequests
    case ip6OutDiscards
    case ip6OutNoRoutes
    case ip6ReasmTimeout
    case ip6ReasmReqds
    case ip6ReasmOKs
    case ip6ReasmFails
    case ip6FragOKs
    case ip6FragFails
    case ip6FragCreates
    case ip6InMcastPkts
    case ip6OutMcastPkts
    case ip6OutTransmits
    case icmp6InMsgs
    case icmp6InErrors
    case icmp6OutMsgs
    case icmp6OutErrors
    case icmp6InCsumErrors
    case icmp6OutRateLimitHost
    case icmp6InDestUnreachs
    case icmp6InPktTooBigs
    case icmp6InTimeExcds
    case icmp6InParmProblems
    case icmp6InEchos
    case icmp6InEchoReplies
    case icmp6InRouterSolicits
    case icmp6InRouterAdvertisements
    case icmp6InNeighborSolicits
    case icmp6InNeighborAdvertisements
    case icmp6InRedirects
    case icmp6OutDestUnreachs
    case icmp6OutPktTooBigs
    case icmp6OutTimeExcds
    case icmp6OutParmProblems
    case icmp6OutEchos
    case icmp6OutEchoReplies
    case icmp6OutRouterSolicits
    case icmp6OutRouterAdvertisements
    case icmp6OutNeighborSolicits
    case icmp6OutNeighborAdvertisements
    case icmp6OutRedirects
    case udp6InDatagrams
    case udp6NoPorts
    case udp6InErrors
    case udp6OutDatagrams
    case udp6RcvbufErrors
    case udp6SndbufErrors
    case udp6InCsumErrors
    case udp6IgnoredMulti
    case udp6MemErrors
    case tcpExtSyncookiesSent
    case tcpExtSyncookiesRecv
    case tcpExtSyncookiesFailed
    case tcpExtEmbryonicRsts
    case tcpExtPruneCalled
    case tcpExtRcvPruned
    case tcpExtOfoPruned
    case tcpExtTW
    case tcpExtTWRecycled
    case tcpExtTWKilled
    case tcpExtPAWSEstab
    case tcpExtDelayedACKs
    case tcpExtDelayedACKLocked
    case tcpExtDelayedACKLost
    case tcpExtListenOverflows
    case tcpExtListenDrops
    case tcpExtTCPHPHits
    case tcpExtTCPPureAcks
    case tcpExtTCPHPAcks
    case tcpExtTCPSackRecovery
    case tcpExtTCPSACKReneging
    case tcpExtTCPSACKReorder
    case tcpExtTCPTSReorder
    case tcpExtTCPFullUndo
    case tcpExtTCPPartialUndo
    case tcpExtTCPDSACKUndo
    case tcpExtTCPLossUndo
    case tcpExtTCPLostRetransmit
    case tcpExtTCPSackFailures
    case tcpExtTCPLossFailures
    case tcpExtTCPFastRetrans
    case tcpExtTCPSlowStartRetrans
    case tcpExtTCPTimeouts
    case tcpExtTCPLossProbes
    case tcpExtTCPLossProbeRecovery
    case tcpExtTCPRcvCollapsed
    case tcpExtTCPDSACKOldSent
    case tcpExtTCPDSACKOfoSent
    case tcpExtTCPDSACKRecv
    case tcpExtTCPDSACKOfoRecv
    case tcpExtTCPAbortOnData
    case tcpExtTCPAbortOnClose
    case tcpExtTCPAbortOnMemory
    case tcpExtTCPAbortOnTimeout
    case tcpExtTCPAbortOnLinger
    case tcpExtTCPMemoryPressures
    case tcpExtTCPMemoryPressuresChrono
    case tcpExtTCPSACKDiscard
    case tcpExtTCPDSACKIgnoredOld
    case tcpExtTCPDSACKIgnoredNoUndo
    case tcpExtTCPSpuriousRTOs
    case tcpExtTCPSackShifted
    case tcpExtTCPSackMerged
    case tcpExtTCPBacklogDrop
    case tcpExtTCPMinTTLDrop
    case tcpExtTCPReqQFullDoCookies
    case tcpExtTCPReqQFullDrop
    case tcpExtTCPRcvCoalesce
    case tcpExtTCPOFOQueue
    case tcpExtTCPOFODrop
    case tcpExtTCPOFOMerge
    case tcpExtTCPChallengeACK
    case tcpExtTCPSYNChallenge
    case tcpExtTCPSpuriousRtxHostQueues
    case tcpExtTCPAutoCorking
    case tcpExtTCPWantZeroWindowAdv
    case tcpExtTCPSynRetrans
    case tcpExtTCPOrigDataSent
    case tcpExtTCPACKSkippedSynRecv
    case tcpExtTCPACKSkippedPAWS
    case tcpExtTCPACKSkippedSeq
    case tcpExtTCPACKSkippedFinWait2
    case tcpExtTCPACKSkippedTimeWait
    case tcpExtTCPACKSkippedChallenge
    case tcpExtTCPWinProbe
    case tcpExtTCPKeepAlive
    case tcpExtTCPDelivered
    case tcpExtTCPDeliveredCE
    case tcpExtTCPAckCompressed
    case tcpExtTCPZeroWindowDrop
    case tcpExtTCPRcvQDrop
    case tcpExtTCPWqueueTooBig
    case tcpExtTCPTimeoutRehash
    case tcpExtTCPDuplicateDataRehash
    case tcpExtTCPDSACKRecvSegs
    case tcpExtTCPDSACKIgnoredDubious
    case tcpExtTCPMigrateReqSuccess
    case tcpExtTCPMigrateReqFailure
    case tcpExtTCPPLBRehash
    case ipExtInNoRoutes
    case ipExtInTruncatedPkts
    case ipExtInMcastPkts
    case ipExtOutMcastPkts
    case ipExtInBcastPkts
    case ipExtOutBcastPkts
    case ipExtInOctets
    case ipExtOutOctets
    case ipExtInMcastOctets
    case ipExtOutMcastOctets
    case ipExtInBcastOctets
    case ipExtOutBcastOctets
    case ipExtInCsumErrors
    case ipExtInNoECTPkts
    case ipExtInECT1Pkts
    case ipExtInECT0Pkts
    case ipExtInCEPkts
    case ipExtReasmOverlaps

    /// The MIB group as /proc/net/snmp heads it ("Ip", "Tcp", "TcpExt").
    public var group: String { Self.names[rawValue].group }
    /// The field name within the group ("InReceives").
    public var field: String { Self.names[rawValue].field }
    /// The name `nstat` prints: group + field.
    public var nstatName: String { group + field }

    static let names: [(group: String, field: String)] = [
        ("Ip", "InReceives"),
        ("Ip", "InHdrErrors"),
        ("Ip", "InAddrErrors"),
        ("Ip", "ForwDatagrams"),
        ("Ip", "InUnknownProtos"),
        ("Ip", "InDiscards"),
        ("Ip", "InDelivers"),
        ("Ip", "OutRequests"),
        ("Ip", "OutDiscards"),
        ("Ip", "OutNoRoutes"),
        ("Ip", "ReasmTimeout"),
        ("Ip", "ReasmReqds"),
        ("Ip", "ReasmOKs"),
        ("Ip", "ReasmFails"),
        ("Ip", "FragOKs"),
        ("Ip", "FragFails"),
        ("Ip", "FragCreates"),
        ("Ip", "OutTransmits"),
        ("Icmp", "InMsgs"),
        ("Icmp", "InErrors"),
        ("Icmp", "InCsumErrors"),
        ("Icmp", "InDestUnreachs"),
        ("Icmp", "InTimeExcds"),
        ("Icmp", "InParmProbs"),
        ("Icmp", "InSrcQuenchs"),
        ("Icmp", "InRedirects"),
        ("Icmp", "InEchos"),
        ("Icmp", "InEchoReps"),
        ("Icmp", "InTimestamps"),
        ("Icmp", "InTimestampReps"),
        ("Icmp", "InAddrMasks"),
        ("Icmp", "InAddrMaskReps"),
        ("Icmp", "OutMsgs"),
        ("Icmp", "OutErrors"),
        ("Icmp", "OutRateLimitGlobal"),
        ("Icmp", "OutRateLimitHost"),
        ("Icmp", "OutDestUnreachs"),
        ("Icmp", "OutTimeExcds"),
        ("Icmp", "OutParmProbs"),
        ("Icmp", "OutSrcQuenchs"),
        ("Icmp", "OutRedirects"),
        ("Icmp", "OutEchos"),
        ("Icmp", "OutEchoReps"),
        ("Icmp", "OutTimestamps"),
        ("Icmp", "OutTimestampReps"),
        ("Icmp", "OutAddrMasks"),
        ("Icmp", "OutAddrMaskReps"),
        ("Tcp", "ActiveOpens"),
        ("Tcp", "PassiveOpens"),
        ("Tcp", "AttemptFails"),
        ("Tcp", "EstabResets"),
        ("Tcp", "CurrEstab"),
        ("Tcp", "InSegs"),
        ("Tcp", "OutSegs"),
        ("Tcp", "RetransSegs"),
        ("Tcp", "InErrs"),
        ("Tcp", "OutRsts"),
        ("Tcp", "InCsumErrors"),
        ("Udp", "InDatagrams"),
        ("Udp", "NoPorts"),
        ("Udp", "InErrors"),
        ("Udp", "OutDatagrams"),
        ("Udp", "RcvbufErrors"),
        ("Udp", "SndbufErrors"),
        ("Udp", "InCsumErrors"),
        ("Udp", "IgnoredMulti"),
        ("Udp", "MemErrors"),
        ("Ip6", "InReceives"),
        ("Ip6", "InHdrErrors"),
        ("Ip6", "InTooBigErrors"),
        ("Ip6", "InNoRoutes"),
        ("Ip6", "InAddrErrors"),
        ("Ip6", "InUnknownProtos"),
        ("Ip6", "InTruncatedPkts"),
        ("Ip6", "InDiscards"),
        ("Ip6", "InDelivers"),
        ("Ip6", "OutForwDatagrams"),
        ("Ip6", "OutRequests"),
        ("Ip6", "OutDiscards"),
        ("Ip6", "OutNoRoutes"),
        ("Ip6", "ReasmTimeout"),
        ("Ip6", "ReasmReqds"),
        ("Ip6", "ReasmOKs"),
        ("Ip6", "ReasmFails"),
        ("Ip6", "FragOKs"),
        ("Ip6", "FragFails"),
        ("Ip6", "FragCreates"),
        ("Ip6", "InMcastPkts"),
        ("Ip6", "OutMcastPkts"),
        ("Ip6", "OutTransmits"),
        ("Icmp6", "InMsgs"),
        ("Icmp6", "InErrors"),
        ("Icmp6", "OutMsgs"),
        ("Icmp6", "OutErrors"),
        ("Icmp6", "InCsumErrors"),
        ("Icmp6", "OutRateLimitHost"),
        ("Icmp6", "InDestUnreachs"),
        ("Icmp6", "InPktTooBigs"),
        ("Icmp6", "InTimeExcds"),
        ("Icmp6", "InParmProblems"),
        ("Icmp6", "InEchos"),
        ("Icmp6", "InEchoReplies"),
        ("Icmp6", "InRouterSolicits"),
        ("Icmp6", "InRouterAdvertisements"),
        ("Icmp6", "InNeighborSolicits"),
        ("Icmp6", "InNeighborAdvertisements"),
        ("Icmp6", "InRedirects"),
        ("Icmp6", "OutDestUnreachs"),
        ("Icmp6", "OutPktTooBigs"),
        ("Icmp6", "OutTimeExcds"),
        ("Icmp6", "OutParmProblems"),
        ("Icmp6", "OutEchos"),
        ("Icmp6", "OutEchoReplies"),
        ("Icmp6", "OutRouterSolicits"),
        ("Icmp6", "OutRouterAdvertisements"),
        ("Icmp6", "OutNeighborSolicits"),
        ("Icmp6", "OutNeighborAdvertisements"),
        ("Icmp6", "OutRedirects"),
        ("Udp6", "InDatagrams"),
        ("Udp6", "NoPorts"),
        ("Udp6", "InErrors"),
        ("Udp6", "OutDatagrams"),
        ("Udp6", "RcvbufErrors"),
        ("Udp6", "SndbufErrors"),
        ("Udp6", "InCsumErrors"),
        ("Udp6", "IgnoredMulti"),
        ("Udp6", "MemErrors"),
        ("TcpExt", "SyncookiesSent"),
        ("TcpExt", "SyncookiesRecv"),
        ("TcpExt", "SyncookiesFailed"),
        ("TcpExt", "EmbryonicRsts"),
        ("TcpExt", "PruneCalled"),
        ("TcpExt", "RcvPruned"),
        ("TcpExt", "OfoPruned"),
        ("TcpExt", "TW"),
        ("TcpExt", "TWRecycled"),
        ("TcpExt", "TWKilled"),
        ("TcpExt", "PAWSEstab"),
        ("TcpExt", "DelayedACKs"),
        ("TcpExt", "DelayedACKLocked"),
        ("TcpExt", "DelayedACKLost"),
        ("TcpExt", "ListenOverflows"),
        ("TcpExt", "ListenDrops"),
        ("TcpExt", "TCPHPHits"),
        ("TcpExt", "TCPPureAcks"),
        ("TcpExt", "TCPHPAcks"),
        ("TcpExt", "TCPSackRecovery"),
        ("TcpExt", "TCPSACKReneging"),
        ("TcpExt", "TCPSACKReorder"),
        ("TcpExt", "TCPTSReorder"),
        ("TcpExt", "TCPFullUndo"),
        ("TcpExt", "TCPPartialUndo"),
        ("TcpExt", "TCPDSACKUndo"),
        ("TcpExt", "TCPLossUndo"),
        ("TcpExt", "TCPLostRetransmit"),
        ("TcpExt", "TCPSackFailures"),
        ("TcpExt", "TCPLossFailures"),
        ("TcpExt", "TCPFastRetrans"),
        ("TcpExt", "TCPSlowStartRetrans"),
        ("TcpExt", "TCPTimeouts"),
        ("TcpExt", "TCPLossProbes"),
        ("TcpExt", "TCPLossProbeRecovery"),
        ("TcpExt", "TCPRcvCollapsed"),
        ("TcpExt", "TCPDSACKOldSent"),
        ("TcpExt", "TCPDSACKOfoSent"),
        ("TcpExt", "TCPDSACKRecv"),
        ("TcpExt", "TCPDSACKOfoRecv"),
        ("TcpExt", "TCPAbortOnData"),
        ("TcpExt", "TCPAbortOnClose"),
        ("TcpExt", "TCPAbortOnMemory"),
        ("TcpExt", "TCPAbortOnTimeout"),
        ("TcpExt", "TCPAbortOnLinger"),
        ("TcpExt", "TCPMemoryPressures"),
        ("TcpExt", "TCPMemoryPressuresChrono"),
        ("TcpExt", "TCPSACKDiscard"),
        ("TcpExt", "TCPDSACKIgnoredOld"),
        ("TcpExt", "TCPDSACKIgnoredNoUndo"),
        ("TcpExt", "TCPSpuriousRTOs"),
        ("TcpExt", "TCPSackShifted"),
        ("TcpExt", "TCPSackMerged"),
        ("TcpExt", "TCPBacklogDrop"),
        ("TcpExt", "TCPMinTTLDrop"),
        ("TcpExt", "TCPReqQFullDoCookies"),
        ("TcpExt", "TCPReqQFullDrop"),
        ("TcpExt", "TCPRcvCoalesce"),
        ("TcpExt", "TCPOFOQueue"),
        ("TcpExt", "TCPOFODrop"),
        ("TcpExt", "TCPOFOMerge"),
        ("TcpExt", "TCPChallengeACK"),
        ("TcpExt", "TCPSYNChallenge"),
        ("TcpExt", "TCPSpuriousRtxHostQueues"),
        ("TcpExt", "TCPAutoCorking"),
        ("TcpExt", "TCPWantZeroWindowAdv"),
        ("TcpExt", "TCPSynRetrans"),
        ("TcpExt", "TCPOrigDataSent"),
        ("TcpExt", "TCPACKSkippedSynRecv"),
        ("TcpExt", "TCPACKSkippedPAWS"),
        ("TcpExt", "TCPACKSkippedSeq"),
        ("TcpExt", "TCPACKSkippedFinWait2"),
        ("TcpExt", "TCPACKSkippedTimeWait"),
        ("TcpExt", "TCPACKSkippedChallenge"),
        ("TcpExt", "TCPWinProbe"),
        ("TcpExt", "TCPKeepAlive"),
        ("TcpExt", "TCPDelivered"),
        ("TcpExt", "TCPDeliveredCE"),
        ("TcpExt", "TCPAckCompressed"),
        ("TcpExt", "TCPZeroWindowDrop"),
        ("TcpExt", "TCPRcvQDrop"),
        ("TcpExt", "TCPWqueueTooBig"),
        ("TcpExt", "TCPTimeoutRehash"),
        ("TcpExt", "TCPDuplicateDataRehash"),
        ("TcpExt", "TCPDSACKRecvSegs"),
        ("TcpExt", "TCPDSACKIgnoredDubious"),
        ("TcpExt", "TCPMigrateReqSuccess"),
        ("TcpExt", "TCPMigrateReqFailure"),
        ("TcpExt", "TCPPLBRehash"),
        ("IpExt", "InNoRoutes"),
        ("IpExt", "InTruncatedPkts"),
        ("IpExt", "InMcastPkts"),
        ("IpExt", "OutMcastPkts"),
        ("IpExt", "InBcastPkts"),
        ("IpExt", "OutBcastPkts"),
        ("IpExt", "InOctets"),
        ("IpExt", "OutOctets"),
        ("IpExt", "InMcastOctets"),
        ("IpExt", "OutMcastOctets"),
        ("IpExt", "InBcastOctets"),
        ("IpExt", "OutBcastOctets"),
        ("IpExt", "InCsumErrors"),
        ("IpExt", "InNoECTPkts"),
        ("IpExt", "InECT1Pkts"),
        ("IpExt", "InECT0Pkts"),
        ("IpExt", "InCEPkts"),
        ("IpExt", "ReasmOverlaps"),
    ]
}

/// A shard's counters: one flat array of 64-bit slots, MIBs then drop
/// reasons, allocated when the shard is made.
public struct Counters: ~Copyable {
    @usableFromInline static let mibCount = MIBCounter.allCases.count
    @usableFromInline static let slotCount = mibCount + DropReason.allCases.count
    @usableFromInline let slots: UnsafeMutablePointer<UInt64>

    public init() {
        slots = .allocate(capacity: Self.slotCount)
        slots.initialize(repeating: 0, count: Self.slotCount)
    }

    deinit { slots.deallocate() }

    @inlinable @inline(__always)
    public func increment(_ counter: MIBCounter) { slots[counter.rawValue] &+= 1 }

    @inlinable @inline(__always)
    public func add(_ counter: MIBCounter, _ n: UInt64) { slots[counter.rawValue] &+= n }

    /// CurrEstab-style gauges go down as well.
    @inlinable @inline(__always)
    public func decrement(_ counter: MIBCounter) { slots[counter.rawValue] &-= 1 }

    @inlinable @inline(__always)
    public func count(drop reason: DropReason) { slots[Self.mibCount &+ Int(reason.rawValue)] &+= 1 }

    @inlinable public subscript(counter: MIBCounter) -> UInt64 { slots[counter.rawValue] }
    @inlinable public subscript(drop reason: DropReason) -> UInt64 { slots[Self.mibCount &+ Int(reason.rawValue)] }

    /// Adds this shard's values into a snapshot (the read side's sum).
    public func accumulate(into snapshot: inout CounterSnapshot) {
        for i in 0..<Self.slotCount { snapshot.values[i] &+= slots[i] }
    }
}

/// Counters summed over shards at one moment: what `nstat`,
/// /proc/net/snmp and drop reports print.
public struct CounterSnapshot: Sendable, Equatable {
    @usableFromInline var values: [UInt64]

    public init() { values = Array(repeating: 0, count: Counters.slotCount) }

    public subscript(counter: MIBCounter) -> UInt64 { values[counter.rawValue] }
    public subscript(drop reason: DropReason) -> UInt64 { values[Counters.mibCount + Int(reason.rawValue)] }

    /// Non-zero MIB counters as `nstat -a` lists them: name and value.
    public var nonZeroMIBs: [(name: String, value: UInt64)] {
        MIBCounter.allCases.compactMap { c in values[c.rawValue] == 0 ? nil : (c.nstatName, values[c.rawValue]) }
    }

    /// Non-zero drop reasons, in the kernel's order.
    public var nonZeroDrops: [(reason: DropReason, count: UInt64)] {
        DropReason.allCases.compactMap { r in
            let v = values[Counters.mibCount + Int(r.rawValue)]
            return v == 0 ? nil : (r, v)
        }
    }
}
