// The namespace's share of the shard's services: the one drop path, trace
// records, timers and the netdev notifier chain that keeps routes,
// neighbours and sockets in step with devices and addresses.
import NetWire

/// The five netfilter hook points (NF_INET_*), in the packet path even
/// while no rules exist, so traces show where a packet passed.
public enum NetfilterHook: UInt8, Sendable, Equatable, CaseIterable {
    case preRouting = 0, localIn = 1, forward = 2, localOut = 3, postRouting = 4
    public var name: String {
        switch self {
        case .preRouting: "PREROUTING"
        case .localIn: "INPUT"
        case .forward: "FORWARD"
        case .localOut: "OUTPUT"
        case .postRouting: "POSTROUTING"
        }
    }
}

extension NetworkNamespace {
    /// kfree_skb_reason(): the one exit for discarded packets. Counted in the
    /// shard (nstat-style) and traced when the packet is traced.
    func drop(_ packet: consuming PacketBuffer, _ reason: DropReason) {
        stack.shard.drop(packet, reason: reason, now: stack.now)
    }

    @inline(__always)
    func trace(_ packet: borrowing PacketBuffer, _ event: TraceRecord.Event) {
        guard packet.metadata.traceID != 0 else { return }
        stack.shard.record(TraceRecord(time: stack.now, traceID: packet.metadata.traceID,
                                       device: packet.metadata.ingressDevice, event: event))
    }

    /// NF_HOOK(): the hook point. No rules exist yet, so the verdict is
    /// NF_ACCEPT and the packet continues; the traversal is traced.
    @inline(__always)
    func netfilterHook(_ hook: NetfilterHook, _ packet: consuming PacketBuffer) -> PacketBuffer? {
        trace(packet, .hook(hook))
        return packet
    }

    @inline(__always) func count(_ c: MIBCounter) { stack.shard.counters.increment(c) }
}
