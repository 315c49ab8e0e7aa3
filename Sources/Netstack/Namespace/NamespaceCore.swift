// The namespace's share of the shard's services: the one drop path, trace
// records, timers and the netdev notifier chain that keeps routes,
// neighbours and sockets in step with devices and addresses.
import NetWire

/// The five netfilter hook points (NF_INET_*), in the packet path even
/// while no rules exist, so traces show where a packet passed.
public enum NetfilterHook: UInt8, Sendable, Equatable, CaseIterable {
    case preRouting = 0, localIn = 1, forward = 2, localOut = 3, postRouting = 4
    /// The kernel's enum nf_inet_hooks name.
    public var linuxName: String {
        switch self {
        case .preRouting: "NF_INET_PRE_ROUTING"
        case .localIn: "NF_INET_LOCAL_IN"
        case .forward: "NF_INET_FORWARD"
        case .localOut: "NF_INET_LOCAL_OUT"
        case .postRouting: "NF_INET_POST_ROUTING"
        }
    }
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
        stack.shard.drop(packet, reason: reason, now: stack.now, namespace: Int32(truncatingIfNeeded: id))
    }

    @inline(__always)
    func trace(_ packet: borrowing PacketBuffer, _ event: TraceRecord.Event) {
        guard packet.metadata.traceID != 0 else { return }
        record(packet.metadata.traceID, device: packet.metadata.ingressDevice, event)
    }

    func record(_ traceID: UInt32, device: Int32, _ event: TraceRecord.Event) {
        stack.shard.record(TraceRecord(time: stack.now, traceID: traceID, namespace: Int32(truncatingIfNeeded: id),
                                       device: device, event: event))
    }

    /// fib_lookup's answer, with the matched route, for a traced packet.
    @inline(__always)
    func traceRoute(_ packet: borrowing PacketBuffer, _ decision: RouteDecision) {
        guard packet.metadata.traceID != 0 else { return }
        record(packet.metadata.traceID, device: packet.metadata.ingressDevice, .fibResult(TraceRoute(decision)))
    }

    // MARK: where traced packets enter (callers test `stack.isTracing` first)

    /// netif_receive_skb: a frame (at its Ethernet header) arriving on `dev`
    /// gets a trace id when it matches the filter; a traced one (from a veth
    /// peer or loopback) keeps its id. Records the receive with a snapshot.
    func traceReceive(_ p: inout PacketBuffer, on dev: NetDevice) {
        if p.metadata.traceID == 0 {
            guard let filter = stack.traceFilter,
                  p.withUnsafeReadableBytes({ filter.matches(frame: $0) }) else { return }
            p.metadata.traceID = stack.nextTraceID()
        }
        let snapshot = p.withUnsafeReadableBytes { TraceSnapshot(start: .ethernet, bytes: $0) }
        record(p.metadata.traceID, device: dev.ifindex,
               .receivedFrame(device: dev.ifindex, length: UInt32(truncatingIfNeeded: p.count), snapshot: snapshot))
    }

    /// A socket's datagram before the output route lookup (ping/udp
    /// sendmsg): matched on its flow key, since no IP header exists yet.
    func traceLocalSend(_ p: inout PacketBuffer, source: IPAddress?, destination: IPAddress, proto: UInt8,
                        sourcePort: UInt16, destinationPort: UInt16) {
        guard p.metadata.traceID == 0, let filter = stack.traceFilter,
              filter.matches(PacketFields(source: source, destination: destination, ipProtocol: proto,
                                          sourcePort: sourcePort, destinationPort: destinationPort)) else { return }
        p.metadata.traceID = stack.nextTraceID()
        let first = p.withUnsafeReadableBytes { $0.count > 0 ? $0.u8(0) : 0 }
        record(p.metadata.traceID, device: 0,
               .localSend(destination: destination, protocolNumber: proto, firstByte: first,
                          length: UInt32(truncatingIfNeeded: p.count)))
    }

    /// ip_local_out: the packet with its IP header. Untraced packets are
    /// matched again (the source address is known now); traced ones
    /// (including ICMP errors that inherited their cause's id) record the
    /// built header. A packet first matched here also records the output
    /// route it took (decided before it had an id).
    func traceLocalOut(_ p: inout PacketBuffer, etherType: EtherType, route: RouteDecision) {
        if p.metadata.traceID == 0 {
            guard let filter = stack.traceFilter,
                  p.withUnsafeReadableBytes({ filter.matches(network: $0, etherType: etherType) }) else { return }
            p.metadata.traceID = stack.nextTraceID()
            record(p.metadata.traceID, device: p.metadata.ingressDevice, .fibResult(TraceRoute(route)))
        }
        let snapshot = p.withUnsafeReadableBytes { TraceSnapshot(start: .network, bytes: $0) }
        record(p.metadata.traceID, device: p.metadata.ingressDevice,
               .localOut(length: UInt32(truncatingIfNeeded: p.count), snapshot: snapshot))
    }

    /// dev_queue_xmit: frames the stack built below IP (ARP, NDP) get
    /// their id here, the last point before the wire.
    func traceQueueTransmit(_ p: inout PacketBuffer, on dev: NetDevice) {
        if p.metadata.traceID == 0 {
            guard let filter = stack.traceFilter,
                  p.withUnsafeReadableBytes({ filter.matches(frame: $0) }) else { return }
            p.metadata.traceID = stack.nextTraceID()
            let snapshot = p.withUnsafeReadableBytes { TraceSnapshot(start: .ethernet, bytes: $0) }
            record(p.metadata.traceID, device: p.metadata.ingressDevice,
                   .queuedFrame(length: UInt32(truncatingIfNeeded: p.count), snapshot: snapshot))
        }
        record(p.metadata.traceID, device: p.metadata.ingressDevice,
               .queueTransmit(device: dev.ifindex, qdisc: dev.qdisc.kind))
        if dev.isUp && !dev.qdisc.bypassesQueue {
            record(p.metadata.traceID, device: p.metadata.ingressDevice,
                   .qdiscEnqueue(device: dev.ifindex, qdisc: dev.qdisc.kind))
        }
    }

    /// A frame the device receives or transmits, for `--pcap`.
    @inline(__always)
    func capture(_ p: borrowing PacketBuffer, on dev: NetDevice) {
        guard let c = stack.capture else { return }
        p.withUnsafeReadableBytes { c.record($0, namespace: self, device: dev, now: stack.now) }
    }

    /// NF_HOOK(): the hook point. No rules exist yet, so the verdict is
    /// NF_ACCEPT and the packet continues; the traversal is traced.
    @inline(__always)
    func netfilterHook(_ hook: NetfilterHook, _ packet: consuming PacketBuffer) -> PacketBuffer? {
        // The id test first: building the event (a large enum) for every
        // packet cost three copies even when nothing is traced.
        if packet.metadata.traceID != 0 { trace(packet, .hook(hook)) }
        return packet
    }

    @inline(__always) func count(_ c: MIBCounter) { stack.shard.counters.increment(c) }
}
